/* moeplan: a training step played out event by event (src/simulate.c).
 *
 * Every pipeline rank runs its schedule's forward, backward (and, for a
 * zero-bubble schedule, weight-gradient) passes of each micro-batch through
 * each of its model chunks; each pass waits for the pass it depends on on
 * the neighbouring rank.  Durations come from the cost model, chunk by
 * chunk (mp_cost_chunk_time) and layer by layer (mp_cost_layer_time), at
 * each micro-batch's own sequence length and each layer's own expert load,
 * so with fixed lengths and explain's routing the simulated step is
 * explain's.  Pure: no I/O; deterministic for a given seed.
 */
#ifndef MOEPLAN_SIMULATE_H
#define MOEPLAN_SIMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moeplan/cost.h"
#include "moeplan/error.h"

typedef enum { MP_SCHED_GPIPE, MP_SCHED_1F1B, MP_SCHED_INTERLEAVED, MP_SCHED_ZB_H1, MP_SCHED_DUALPIPE } mp_schedule;
/* balanced: every layer at the workload's routing_imbalance (explain's
 * assumption); zipf: each token's experts drawn with probabilities
 * proportional to 1/rank^s (s = 0: uniform), the ranks a random order of
 * the experts fixed per layer; weights: proportional to given per-expert
 * weights (a measured histogram). */
typedef enum { MP_ROUTE_BALANCED, MP_ROUTE_ZIPF, MP_ROUTE_WEIGHTS } mp_routing_kind;
/* range: uniform over the workload's seq_min..seq_max; fixed: every
 * sequence seq_max long; histogram: bins of given weights, uniform inside. */
typedef enum { MP_LEN_RANGE, MP_LEN_FIXED, MP_LEN_HISTOGRAM } mp_length_kind;

typedef struct {
    long lo, hi;                 /* tokens, inclusive */
    double weight;
} mp_len_bin;

typedef struct {
    mp_schedule schedule;
    int steps;                   /* 1.. */
    uint64_t seed;
    mp_length_kind lengths;
    const mp_len_bin *bins;      /* MP_LEN_HISTOGRAM */
    int n_bins;
    /* Pack documents of the drawn lengths into sequences of at most this
     * many tokens (next-fit, a longer document cut), attention within each
     * document (a variable-length flash kernel); 0 = one document per
     * sequence, a micro-batch padded to its longest. */
    long pack_tokens;
    mp_routing_kind routing;
    double zipf_s;
    const double *expert_weights; /* MP_ROUTE_WEIGHTS: one per expert */
    int n_expert_weights;
    bool keep_events;            /* the timeline of the slowest group of the first step */
} mp_sim_options;

void mp_sim_options_defaults(mp_sim_options *o);
/* The Zipf weight of the expert of popularity rank `rank` (0 the most
 * popular): (rank + 1)^-s, s = 0 uniform. */
double mp_sim_zipf_weight(int rank, double s);
/* Per-token expert preferences p[0..E) (summing to 1) turned, in place,
 * into the shares of the routed copies when a token's k experts are
 * distinct (drawn one after another from those not yet drawn): simulate's
 * and run's one rule (sim_draw.c).  false: out of memory. */
bool mp_sim_topk_shares(double *p, int E, int k);

/* FWD_BWD: DualPipe's overlapped forward of (chunk, micro_batch) and a
 * backward of another micro-batch.  OP: one op of a forward or backward
 * pass (cost.h mp_op), inside it. */
typedef enum {
    MP_EV_FWD, MP_EV_BWD, MP_EV_WGRAD, MP_EV_SEND, MP_EV_DP, MP_EV_OPT, MP_EV_FWD_BWD, MP_EV_OP
} mp_event_kind;
typedef struct {
    mp_event_kind kind;
    int rank, chunk, micro_batch;
    double start_s, end_s;
    double tokens;               /* the micro-batch's tokens (padding included) */
    const char *name;            /* MP_EV_OP: the op's name (a string of the cost model) */
    mp_block block;              /* MP_EV_OP: its block */
    int layer;                   /* MP_EV_OP: its layer, -1 for the embedding and output layer */
    bool comm;                   /* MP_EV_OP: a collective (the communication track) */
    int chunk2, micro_batch2;    /* MP_EV_FWD_BWD: the backward's */
} mp_sim_event;

typedef struct {
    int steps, ranks, groups, group_replicas;
    mp_schedule schedule;
    double *step_s;              /* [steps] */
    double step_mean_s, step_p50_s, step_p99_s, step_min_s, step_max_s;
    double explain_step_s;       /* mp_cost_assemble's step at seq_max */
    double pipeline_mean_s;      /* first forward to last backward, the slowest group */
    double tail_s;               /* after the flush: exposed DP reduction, gradient norm, optimizer */
    double bubble_fraction;      /* of the pipeline time, its busiest rank idle; mean over steps */
    double *busy_fraction;       /* [ranks] of the pipeline time, mean over steps, slowest group */
    double *peak_bytes;          /* [ranks] max over steps and groups */
    double *explain_peak_bytes;  /* [ranks] explain's */
    double capacity_bytes;
    double tokens_mean;          /* real tokens per step */
    double padding_fraction;     /* computed tokens that are padding */
    double dropped_fraction;     /* routed token copies dropped at capacity */
    double expert_load_mean, expert_load_max; /* busiest EP rank / mean, over MoE layers and micro-batches */
    double tokens_per_s;         /* real tokens / mean step */
    mp_sim_event *events;        /* keep_events */
    size_t n_events;
    bool op_events;              /* the passes are filled with their ops (not beyond 200,000 of them, nor DualPipe) */
    double events_span_s;
} mp_sim_result;

/* Simulate o->steps steps of the layout of c (whose workload gives the
 * batch, the lengths' range and the capacity factor).  MP_ERR_INPUT when the
 * schedule does not suit the layout (the reason in err). */
mp_status mp_simulate(const mp_cost_ctx *c, const mp_sim_options *o, mp_sim_result *r, mp_error *err);
void mp_sim_result_free(mp_sim_result *r);

/* A schedule alone, every pass of every rank alike: forward f_s, backward
 * b_s per model chunk (b_s includes w_s, the weight-gradient part that
 * ZB-H1 defers), each micro-batch's activations 1 unit per chunk of which
 * w_saved stay for its W pass; sends free; fb_s DualPipe's overlapped
 * forward-and-backward pair (0: f_s + b_s, no overlap).  For the published
 * facts: the 1F1B bubble (p-1)/(m+p-1), interleaving's division by v,
 * ZB-H1's (p-1)(F+B-W), DualPipe's (p/2-1)(F&B+B-3W) and the activations
 * in flight.  DualPipe takes v 1 (each rank's two chunks are its stage of
 * each direction), p and m even, m >= 2p. */
typedef struct {
    double span_s;               /* first forward to last pass */
    double bubble_fraction;      /* 1 - the busiest rank's work / span */
    double idle_s[2];            /* span - work: of the busiest rank, and the most of any rank */
    double peak_units[2];        /* the largest activation peak of any rank; [1]: of rank 0 */
} mp_sched_result;
mp_status mp_sim_schedule(mp_schedule s, int p, int v, int m, double f_s, double b_s, double w_s, double w_saved,
                          double fb_s, mp_sched_result *out, mp_error *err);

/* One pass of a rank's order: a forward ('F') or backward ('B') of one
 * micro-batch through one model chunk. */
typedef struct {
    char pass;
    int chunk, micro_batch;
} mp_sched_pass;
/* Rank r's passes under GPipe, 1F1B or interleaved 1F1B (the orders the
 * simulator plays, schedule.c), into out (room for 2 v m); returns the
 * count, or -1 for a schedule with other passes (ZB-H1's deferred W,
 * DualPipe's pairs). */
int mp_schedule_order(mp_schedule s, int p, int v, int m, int r, mp_sched_pass *out);

const char *mp_schedule_name(mp_schedule s);
bool mp_schedule_parse(const char *s, mp_schedule *out);
/* The schedule a layout runs by default: interleaved with vpp > 1, else 1F1B. */
mp_schedule mp_schedule_default(const mp_layout *l);

#endif
