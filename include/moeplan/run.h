/* moeplan: one GPU's share of a plan, executed op by op with moeplan's own
 * kernels (a backend, backend.h) and timed beside the cost model's
 * prediction for the same op and shape (mp_cost_block_ops: one source of
 * truth for both). */
#ifndef MOEPLAN_RUN_H
#define MOEPLAN_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/backend.h"
#include "moeplan/cost.h"
#include "moeplan/error.h"

/* How an op was run. */
typedef enum {
    MP_RUN_KERNEL,               /* its own kernel (gemm, rmsnorm, router, ...) */
    MP_RUN_STANDIN,              /* a device copy moving the op's predicted bytes (no kernel of its own yet) */
    MP_RUN_NOT_MEASURED,         /* communication: one rank has no peers */
    MP_RUN_COLLECTIVE            /* communication, measured across ranks (mp_run_opts.comm) */
} mp_run_how;

typedef struct {
    char name[40];
    mp_block block;
    mp_op_kind kind;
    mp_run_how how;
    char kernel[40];             /* what ran: "gemm", "grouped gemm x4", "rmsnorm", "copy 10.49 MB" */
    char shape[64];
    int per_micro_batch;         /* times the rank runs it per micro-batch (its block's layers) */
    double pred_fwd_s, pred_bwd_s;
    double meas_fwd_s, meas_bwd_s; /* median of the repeats; 0 when not measured */
    double fwd_flops, fwd_bytes;
} mp_run_op;

typedef struct {
    mp_run_op *ops;
    size_t n;
    int rank, layers_rank, layers_run; /* the rank's layers; the first layers_run of them were run */
    /* One micro-batch forward + backward of the layers run (and the
     * rank's embedding, output layer and step), by category. */
    double pred_compute_s, meas_compute_s;
    double pred_memory_s, meas_memory_s;
    double pred_comm_s;          /* the collectives' predicted time */
    double meas_comm_s;          /* and measured, across ranks (0 on one rank) */
    double pred_s, meas_s;       /* compute + memory-bound: the measured part */
    size_t high_water_bytes;     /* the backend's allocation high-water mark */
} mp_run_report;

/* Runs op o's collective (forward, or backward when bwd) and times it:
 * 0, or -1 with the reason; `kernel` says what ran. */
typedef int (*mp_run_comm_fn)(void *ctx, const mp_op *o, bool bwd, double *seconds, char *kernel, size_t klen,
                              char *why, size_t why_len);

typedef struct {
    int rank;                    /* pipeline rank (0 .. pp-1) */
    int layers;                  /* 0 = all of the rank's layers */
    int repeats;                 /* timed runs per op after one warm-up (median) */
    bool optimizer;              /* also the step's ops (norm, clip, AdamW) */
    mp_run_comm_fn comm;         /* NULL: collectives not measured (one rank) */
    void *comm_ctx;
    /* Routing (run --routing): each expert's share of the routed token
     * copies, NULL = balanced.  The local experts run are EP rank
     * ep_rank's (the busiest), fed their expected counts; the permutation
     * sends this GPU's copies to the experts in those shares. */
    const double *expert_p;
    int ep_rank;
} mp_run_opts;

/* Run rank opts->rank's work under context c on backend b.  The report's
 * ops are allocated (mp_run_report_free). */
mp_status mp_run_rank(const mp_cost_ctx *c, mp_backend *b, const mp_run_opts *o, mp_run_report *out, mp_error *err);
void mp_run_report_free(mp_run_report *r);

/* A training step's pipeline: the stage's micro-batches under 1F1B
 * (Megatron-LM's non-interleaved schedule: min(p - r - 1, m) warm-up
 * forwards, then one forward and one backward each, then the remaining
 * backwards) or, with vpp > 1, interleaved 1F1B (the order of
 * mp_schedule_order, which the simulator plays), each forward and
 * backward every op of the chunk's layers in order with its collectives,
 * the activation sent to the next stage and the gradient to the previous
 * one (a ring: the last stage's chunk k feeds the first's chunk k+1).
 * p2p moves them between ranks. */
typedef struct {
    int (*send)(void *ctx, bool to_next, const float *buf, size_t n, char *why, size_t why_len); /* may return early */
    int (*recv)(void *ctx, bool from_prev, float *buf, size_t n, char *why, size_t why_len);
    int (*flush)(void *ctx, char *why, size_t why_len);  /* wait for the sends */
    int (*barrier)(void *ctx);
    void *ctx;
} mp_run_p2p;

typedef struct {
    int micro_batches;
    double measured_s;           /* this rank: the step from a common start to its last backward's end */
    double recv_wait_s;          /* of it, blocked receiving: the bubble and the exposed sends */
    double p2p_floats;           /* one activation or gradient sent between stages */
} mp_run_step_report;

mp_status mp_run_step(const mp_cost_ctx *c, mp_backend *b, const mp_run_opts *o, const mp_run_p2p *p2p,
                      mp_run_step_report *out, mp_error *err);

/* n floats in [-0.5, 0.5) from a xorshift generator seeded by seed: the
 * inputs of run's ops and of the kernel tests, the same on every run. */
void mp_run_fill(float *v, size_t n, unsigned seed);

/* What a backend's kernels compute in: both keep activations and weights
 * in fp32, so runs are priced with them at 4 bytes and no FP8 (w changed
 * in place); the same for run and calibrate --measure. */
void mp_run_backend_workload(const mp_backend *b, mp_workload *w);


#endif
