/* moeplan: published, measured training runs (the schema of
 * shared/validation/README.md), read into what moeplan evaluates: a model,
 * a workload, a layout and the hardware file for the run's GPU, beside the
 * measured step time and memory.
 *
 * A record that moeplan cannot evaluate faithfully is kept with the reason
 * (`skip`), never guessed: an unknown GPU, FP8, sharded data parallelism,
 * MLA without its ranks, a kind of record that has no step time.  Where a
 * record leaves a field null and Megatron-LM's default is unambiguous
 * (kv_heads = heads, ffn = 4h for a GeLU MLP, micro-batch 1), the default
 * is taken and written into `assumptions`. */
#ifndef MOEPLAN_RUNS_H
#define MOEPLAN_RUNS_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/cost.h"
#include "moeplan/error.h"
#include "moeplan/hardware.h"
#include "moeplan/layout.h"
#include "moeplan/model.h"
#include "moeplan/workload.h"

#define MP_RUN_MAX_ASSUMPTIONS 16

/* How the measured step time is known: given; from tokens/s; from the
 * source's TFLOP/s and its own FLOP formula (exact); from model TFLOP/s or
 * MFU with moeplan's model FLOPs (exact when the source counts the same). */
typedef enum {
    MP_MEASURED_NONE, MP_MEASURED_TIME, MP_MEASURED_TOKENS, MP_MEASURED_TFLOPS_EQ, MP_MEASURED_TFLOPS, MP_MEASURED_MFU,
    MP_MEASURED_LAYER /* a training_layer_microbench: one layer's forward and backward */
} mp_measured_basis;

typedef struct {
    char id[128];
    char kind[48];
    int line;                         /* of the record in its file */
    bool moe;
    char gpu[128];                    /* as the record names it */
    char hardware_file[1024];         /* the shipped file picked for it */
    mp_model model;
    mp_hardware hw;
    mp_workload wl;
    mp_layout lay;
    long seq_len;
    /* What was measured.  measured_step_s is the step time the record
     * gives or implies (basis says how); measured_peak_flops is the peak
     * the source used for TFLOP/s or MFU (per GPU). */
    mp_measured_basis basis;
    double measured_step_s;
    double measured_value;            /* the published number the step was derived from */
    double measured_peak_flops;
    /* The source's model FLOPs count attention over all S keys (Megatron-LM
     * through core_r0.11.0; the record's tflops_basis says "all S keys"),
     * not moeplan's causal S/2: an MFU or TFLOP/s figure is read with it. */
    bool flops_all_keys;
    /* A training_layer_microbench record (measured.other's forward_ms and
     * backward_ms): one transformer layer's forward and backward of one
     * micro-batch, compared with the cost model's time of that layer
     * (mp_cost_layer_time); measured_step_s is their sum. */
    bool layer_bench;
    /* A layer benchmark of Megatron-Core's MoELayer alone (the record's
     * attention says "none"): router to combine, no attention, norm or
     * residual (mp_cost_moe_layer_time). */
    bool moe_layer_only;
    double measured_fwd_s, measured_bwd_s;
    double measured_memory_bytes;     /* 0 = not measured */
    bool memory_last_rank;            /* measured on the last pipeline rank (Megatron's logging rank) */
    char skip[240];                   /* non-empty: not evaluated, and why */
    char assumptions[MP_RUN_MAX_ASSUMPTIONS][160];
    int n_assumptions;
} mp_run;

/* Read every record of a runs file (a YAML list of records); hardware files
 * are looked up in hw_dir by GPU name.  *runs is malloc'd (caller frees);
 * records moeplan cannot evaluate come back with `skip` set. */
mp_status mp_runs_load(const char *path, const char *hw_dir, mp_run **runs, size_t *n, mp_error *err);

/* One evaluated run. */
typedef struct {
    double measured_step_s;           /* from the record; for an MFU or TFLOP/s record, the model FLOPs
                                         per step (moeplan's, with the source's attention count) over
                                         the measured rate */
    double predicted_step_s;
    double error;                     /* predicted / measured - 1 (negative: predicted too fast) */
    double predicted_memory_bytes;
    double memory_error;              /* 0 when memory was not measured */
    /* A layer benchmark: the layer's predicted forward and backward (its
     * recomputation included) and their errors; the step fields above
     * hold their sums. */
    double predicted_fwd_s, predicted_bwd_s, fwd_error, bwd_error;
    const char *dominant;             /* the largest term of the predicted step */
    double dominant_fraction;
} mp_run_result;

/* A layer benchmark's predicted layer (one source for validate and the
 * reader's peak check): the MoE layer alone (moe_layer_only) or the one
 * layer of the record's class, under the layout's recompute mode. */
void mp_run_layer_time(const mp_run *run, const mp_cost_ctx *c, mp_layer_time *lt);
/* Evaluate one (not skipped) run with the cost model; pure. */
void mp_run_evaluate(const mp_run *run, mp_run_result *res);
/* The same with another hardware description in place of the run's. */
void mp_run_evaluate_with(const mp_run *run, const mp_hardware *hw, mp_run_result *res);

/* Error statistics of a set: |error| median, mean, max and the median of
 * the signed error. */
typedef struct {
    int n;
    double median_abs, mean_abs, max_abs, median_signed;
} mp_error_stats;
void mp_error_stats_of(const double *errors, int n, mp_error_stats *out);
/* The median of v[0..n), n > 0 (sorts v in place). */
double mp_median(double *v, int n);

#endif
