/* moeplan: proposals and their audit.
 *
 * A proposal records a layout and the claims made for it, each with the
 * metric it speaks of, its relation (about, at most, at least, exactly) and
 * the claimed value, and the claim's text verbatim.  mp_audit_claim computes
 * the metric with the cost model and gives a verdict. */
#ifndef MOEPLAN_AUDIT_H
#define MOEPLAN_AUDIT_H

#include "moeplan/cost.h"
#include "moeplan/plan.h"

typedef enum {
    MP_MET_PARAMS_TOTAL, MP_MET_PARAMS_ACTIVE, MP_MET_GPUS, MP_MET_EXPERTS_PER_GPU, MP_MET_LAYERS_PER_STAGE,
    MP_MET_ATTN_WEIGHTS, MP_MET_MLP_WEIGHTS, MP_MET_EXPERT_WEIGHTS, MP_MET_ACTIVATIONS, MP_MET_MEMORY_TOTAL,
    MP_MET_FWD_MB, MP_MET_BWD_MB, MP_MET_STEP, MP_MET_TOKENS_S, MP_MET_SEQS_S, MP_MET_MFU, MP_MET_GPU_UTIL,
    MP_MET_A2A_BW, MP_MET_RECOVERY, MP_MET_COUNT
} mp_metric;

typedef enum { MP_REL_ABOUT, MP_REL_AT_MOST, MP_REL_AT_LEAST, MP_REL_EXACTLY } mp_relation;
typedef enum { MP_VERDICT_HOLDS, MP_VERDICT_WRONG, MP_VERDICT_UNVERIFIABLE } mp_verdict;

#define MP_MAX_CLAIMS 64

typedef struct {
    char text[512];              /* verbatim from the proposal */
    mp_metric metric;
    mp_relation rel;
    double value;                /* in base units (bytes, seconds, tokens/s, ...) */
    char value_text[64];         /* as written */
    int line;
    bool has_arithmetic;         /* the proposal's own working, e.g. "16 x 64 x 1024 / 4 x 2" */
    char arithmetic[256];
    double arithmetic_value;     /* what that working evaluates to (base units) */
} mp_claim;

typedef struct {
    char source[512];
    char name[128];
    char model_path[1024], hardware_path[1024], workload_path[1024];
    mp_layout layout;
    mp_layout_set set;
    mp_layout_pos pos;
    bool has_capacity_factor;
    double capacity_factor;
    mp_claim claims[MP_MAX_CLAIMS];
    int num_claims;
} mp_proposal;

typedef struct {
    bool verifiable;
    double computed;
    double ratio;                /* computed / claimed */
    mp_verdict verdict;
    char why[320];
} mp_claim_result;

const char *mp_metric_name(mp_metric m);
const char *mp_relation_symbol(mp_relation r);   /* "~", "<=", ">=", "=" */
/* Evaluate a product of decimal numbers with x, *, × and /, ÷ left to
 * right.  The _why form writes the reason for a refusal (a division by zero
 * names the expression; a syntax error says what is accepted). */
bool mp_audit_arithmetic(const char *text, double *out);
bool mp_audit_arithmetic_why(const char *text, double *out, char *why, size_t why_len);
/* Format a metric's value in its natural unit ("8.00 GB", "1.234 s"), in
 * at most MP_METRIC_WIDTH characters: values outside the unit's range are
 * written with %g ("1e+308 B"). */
#define MP_METRIC_WIDTH 12
void mp_metric_format(mp_metric m, double v, char *buf, size_t len);

mp_status mp_proposal_load(mp_proposal *p, const char *path, mp_error *err);
void mp_audit_claim(const mp_cost_ctx *c, const mp_cost *r, const mp_claim *claim, mp_claim_result *out);

#endif
