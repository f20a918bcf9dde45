/* moeplan: a plan file -- the model, hardware and workload files it uses, a
 * layout, and the requirements `moeplan check` enforces. */
#ifndef MOEPLAN_PLAN_H
#define MOEPLAN_PLAN_H

#include <stdbool.h>

#include "moeplan/doc.h"
#include "moeplan/error.h"
#include "moeplan/layout.h"

typedef struct {
    bool gpus, tp, pp, dp, cp, ep, etp, vpp, micro_batch, recompute, sequence_parallel, zero, shard_group;
    bool pp_first, pp_last;
} mp_layout_set;

typedef struct {
    bool has_headroom, has_step_time, has_tokens, has_gpus, has_mfu;
    double min_headroom;          /* fraction of capacity left free */
    double max_step_time_s;
    double min_tokens_per_s;
    long max_gpus;
    double min_mfu;
} mp_requirements;

/* Where each layout value sits in its file, for error messages. */
typedef enum {
    MP_LK_GPUS, MP_LK_TP, MP_LK_PP, MP_LK_DP, MP_LK_CP, MP_LK_EP, MP_LK_ETP, MP_LK_VPP, MP_LK_MB, MP_LK_RECOMPUTE,
    MP_LK_SP, MP_LK_DOPT, MP_LK_PP_FIRST, MP_LK_PP_LAST, MP_LK_ZERO, MP_LK_SHARD, MP_LK_LAYOUT, MP_LK_COUNT
} mp_layout_key;
typedef struct {
    int line[MP_LK_COUNT], col[MP_LK_COUNT]; /* 0 when absent */
} mp_layout_pos;


typedef struct {
    char source[512];
    char model_path[1024], hardware_path[1024], workload_path[1024]; /* "" = default */
    int path_line[3], path_col[3]; /* where model, hardware and workload are named (0: not given) */
    mp_layout layout;
    mp_layout_set set;
    mp_layout_pos pos;
    mp_requirements req;
    bool has_requirements;
} mp_plan;

/* Read a `layout:` mapping (plan files and proposals share it): values,
 * which were given, and where. */
mp_status mp_layout_read(const mp_doc *d, const mp_node *lay, mp_layout *l, mp_layout_set *set, mp_layout_pos *pos,
                         mp_error *err);
/* `rel` relative to the directory of the file `base` (absolute stays). */
void mp_path_resolve(char *out, size_t len, const char *base, const char *rel);

/* The layout key a broken rule is about (for the error's position). */
mp_layout_key mp_rule_key(mp_rule r);

/* Paths in the plan are relative to the plan file's directory. */
mp_status mp_plan_load(mp_plan *p, const char *path, mp_error *err);

/* Read a `layout:` mapping (shared with proposals). */
#endif
