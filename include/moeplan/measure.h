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

/* Measure on backend b into *out (base's other fields kept).  plan, when
 * not NULL, adds its ops' matrix-product shapes (forward, data and weight
 * gradient) to the sweep and measures its attention. */
mp_status mp_measure_hardware(mp_backend *b, const mp_hardware *base, const mp_cost_ctx *plan, mp_hardware *out,
                              mp_measure_summary *sum, mp_error *err);

#endif
