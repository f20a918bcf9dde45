/* moeplan: exhaustive layout search.  Pure computation: no I/O except an
 * optional progress callback.
 *
 * The grid, for every GPU count N in [gpus_min, gpus_max]:
 *   tp, cp, pp: every ordered factorisation N = tp * cp * pp * dp;
 *   ep: divisors of the expert count; etp: divisors of tp * cp * dp / ep
 *       that divide the expert width, up to gpus_per_node;
 *   vpp: divisors of layers / pp (vpp = 1 when pp = 1);
 *   micro-batch: divisors of global_batch / dp, up to max_micro_batch;
 *   recompute none/selective/full; sequence parallel on/off (tp > 1);
 *   distributed optimizer on/off.
 * Candidates are pruned as soon as a rule is broken (counted by rule);
 * the rest are scored with the cost model and filtered by memory (with a
 * headroom fraction) and targets.
 *
 * With jobs > 1 the GPU counts are shared out among that many threads, each
 * with its own cost context and results, merged in a fixed order: the
 * result is the same, byte for byte, for every jobs.
 */
#ifndef MOEPLAN_SEARCH_H
#define MOEPLAN_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/cost.h"
#include "moeplan/plan.h"

typedef enum { MP_SORT_TOKENS, MP_SORT_STEP, MP_SORT_TOKENS_PER_GPU, MP_SORT_HEADROOM } mp_sort;

typedef struct {
    long gpus_min, gpus_max;
    double headroom;             /* fraction of capacity that must stay free */
    double target_tokens_per_s;  /* 0 = none */
    double target_step_s;        /* 0 = none */
    mp_sort sort;
    size_t keep;                 /* best layouts kept (all kept are sorted) */
    size_t keep_per_gpu;         /* best layouts by tokens/s per GPU also kept (0 = none) */
    int max_micro_batch;         /* 0 = no cap */
    size_t why_not_samples;      /* rejected examples kept per rule */
    bool uneven_pipeline;        /* also try uneven first/last ranks when pp does not divide the layers */
    bool zero_any;               /* also try ZeRO-2 and 3 (--zero any); else the distributed optimizer (ZeRO-1) */
    mp_layout fixed;             /* values the user pinned (flags or plan) ... */
    mp_layout_set fixed_set;     /* ... and which ones */
    int jobs;                    /* threads searching (<= 1: the calling thread only; at most MP_SEARCH_MAX_JOBS) */
} mp_search_opts;

#define MP_SEARCH_MAX_JOBS 1024

/* What the planner keeps of each scored layout. */
typedef struct {
    mp_layout lay;
    double tokens_per_s, step_s, mem_total_bytes, headroom_bytes, mfu;
    double mem_weights_bytes, mem_grads_bytes, mem_optim_bytes, mem_act_bytes, mem_other_bytes;
    bool fits, meets_targets;
    mp_rule rejected_by;         /* MP_RULE_OK when kept */
} mp_candidate;

typedef struct {
    mp_layout lay;
    mp_rule rule;
    char why[200];
} mp_rejection;

typedef struct {
    size_t considered;           /* every candidate generated, pruned or scored */
    size_t scored;               /* candidates that passed every rule and were costed */
    size_t kept;                 /* fit (with headroom) and meet the targets */
    size_t dominated;            /* skipped unscored: provably no better (distributed optimizer off) */
    size_t rejected[MP_RULE_COUNT];
    mp_candidate *best;          /* the `keep` best, sorted */
    size_t n_best;
    mp_candidate *pareto;        /* GPUs vs tokens/s vs memory: none better in all three; at most
                                  * 4096, the GPU counts' in increasing order until it is full */
    size_t n_pareto;
    mp_candidate *per_gpu;       /* the keep_per_gpu best by tokens/s per GPU (ties: fewer GPUs, ...) */
    size_t n_per_gpu;
    /* GPUs vs tokens/s: for each GPU count, its fastest kept layout when it
     * is faster than every layout on fewer GPUs; by GPU count, so tokens/s
     * rises along it.  Its first entry is on fewest_gpus. */
    mp_candidate *front;
    size_t n_front;
    bool experts;                /* the model has expert layers (else ep, etp, edp mean nothing) */
    mp_rejection *samples;       /* up to why_not_samples per rule */
    size_t n_samples;
    long fewest_gpus;            /* smallest N with a kept layout; 0 when none */
    mp_candidate fewest;         /* best layout at fewest_gpus */
    double seconds;              /* wall time of the search (filled by the caller) */
} mp_search_result;

typedef void (*mp_progress_fn)(void *user, long gpus_done, long gpus_total);

mp_status mp_search_run(const mp_model *m, const mp_hardware *hw, const mp_workload *w, const mp_search_opts *o,
                        mp_progress_fn progress, void *user, mp_search_result *r, mp_error *err);
void mp_search_free(mp_search_result *r);

/* Score one layout (already checked) the way the search does. */
void mp_search_score(const mp_cost_ctx *c, const mp_cost *cost, const mp_search_opts *o, mp_candidate *out);


#endif
