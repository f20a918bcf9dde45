/* moeplan: a plan file -- the model, hardware and workload files it uses, a
 * layout, and the requirements `moeplan check` enforces. */
#ifndef MOEPLAN_PLAN_H
#define MOEPLAN_PLAN_H

#include <stdbool.h>

#include "moeplan/error.h"
#include "moeplan/layout.h"

typedef struct {
    bool gpus, tp, pp, dp, cp, ep, etp, vpp, micro_batch, recompute, sequence_parallel, distributed_optimizer;
} mp_layout_set;

typedef struct {
    bool has_headroom, has_step_time, has_tokens, has_gpus, has_mfu;
    double min_headroom;          /* fraction of capacity left free */
    double max_step_time_s;
    double min_tokens_per_s;
    long max_gpus;
    double min_mfu;
} mp_requirements;

typedef struct {
    char source[512];
    char model_path[1024], hardware_path[1024], workload_path[1024]; /* "" = default */
    mp_layout layout;
    mp_layout_set set;
    mp_requirements req;
    bool has_requirements;
} mp_plan;

/* Paths in the plan are relative to the plan file's directory. */
mp_status mp_plan_load(mp_plan *p, const char *path, mp_error *err);

/* Read a `layout:` mapping (shared with proposals). */
#endif
