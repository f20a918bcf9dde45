/* moeplan: what a backend's hardware really reaches, measured (calibrate
 * --measure): matrix-product rates over a sweep of shapes (and the shapes a
 * plan's ops use), memory-bound bandwidth by kernel size, attention, into a
 * hardware file's measured tables (hardware.h), which the efficiency model
 * then uses in place of its shape model. */
#ifndef MOEPLAN_MEASURE_H
#define MOEPLAN_MEASURE_H

#include "moeplan/backend.h"
#include "moeplan/cost.h"
#include "moeplan/error.h"
#include "moeplan/hardware.h"

typedef struct {
    int gemm_shapes, gemm_from_plan, memory_sizes;
    double peak_flops, copy_bw_bytes_per_s;   /* the 1024^3 GEMM and the 64 MiB copy */
    double attention_rate;                    /* the plan's attention forward, model FLOP/s (0: none) */
} mp_measure_summary;

/* One matrix product's rate (FLOP/s) and one device copy's bandwidth
 * (bytes read + written per second) on backend b: one warm-up, then the
 * median of `reps` (at most 16) runs.  0, or -1 (b->err says). */
int mp_measure_gemm_rate(mp_backend *b, int m, int n, int k, int reps, double *flops_per_s);
int mp_measure_copy_bw(mp_backend *b, size_t elems, int reps, double *bytes_per_s);

/* The backend's hardware in brief: the GEMM rate of a 1024^3 product and
 * the bandwidth of a 64 MiB copy (the flat model: every product at that
 * rate, every memory-bound kernel at that bandwidth); the other fields
 * from base.  What `run` predicts with on the cpu backend by default. */
mp_status mp_measure_host(mp_backend *b, const mp_hardware *base, mp_hardware *out, mp_error *err);

/* Measure on backend b into *out (base's other fields kept).  plan, when
 * not NULL, adds its ops' matrix-product shapes (forward, data and weight
 * gradient) to the sweep and measures its attention. */
mp_status mp_measure_hardware(mp_backend *b, const mp_hardware *base, const mp_cost_ctx *plan, mp_hardware *out,
                              mp_measure_summary *sum, mp_error *err);

#endif
