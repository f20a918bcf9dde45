/* moeplan: a parallel layout and the rules that make it valid.
 *
 * MoE parallel folding (Megatron-Core, Liu et al. 2025, arXiv:2504.14960):
 * attention layers are laid out as TP x CP x DP x PP, expert layers as
 * ETP x EP x EDP x PP over the same GPUs, so per pipeline stage
 * TP * CP * DP = ETP * EP * EDP.
 */
#ifndef MOEPLAN_LAYOUT_H
#define MOEPLAN_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/model.h"
#include "moeplan/workload.h"

typedef enum { MP_RECOMPUTE_NONE, MP_RECOMPUTE_SELECTIVE, MP_RECOMPUTE_FULL } mp_recompute;

typedef struct {
    int gpus, tp, pp, dp, cp, ep, etp, edp, vpp;
    int micro_batch, num_micro_batches;
    /* Uneven pipeline (Megatron-LM --decoder-first/last-pipeline-num-layers):
     * layers on the first and the last pipeline rank, the others sharing the
     * rest evenly; 0 and 0 = an even split.  Only with vpp = 1. */
    int pp_first, pp_last;
    mp_recompute recompute;
    bool sequence_parallel, distributed_optimizer;
} mp_layout;

/* Every rule a layout can break; the planner counts rejections by rule. */
typedef enum {
    MP_RULE_OK = 0,
    MP_RULE_GPU_PRODUCT,   /* gpus = tp * cp * dp * pp */
    MP_RULE_FOLDING,       /* tp * cp * dp = etp * ep * edp */
    MP_RULE_HEADS_TP,      /* heads % tp, kv_heads % tp */
    MP_RULE_FFN_TP,        /* dense / shared widths % tp, expert width % etp */
    MP_RULE_EXPERTS_EP,    /* experts % ep; dense models need ep = etp = 1 */
    MP_RULE_LAYERS_PP,     /* layers % (pp * vpp), vpp needs pp > 1 */
    MP_RULE_BATCH,         /* global batch % (dp * micro_batch) */
    MP_RULE_INTERLEAVE,    /* interleaved schedule: micro-batches % pp */
    MP_RULE_SEQ_CP,        /* seq % (2 cp); cp > 1 needs flash attention */
    MP_RULE_SEQ_TP,        /* sequence parallel: seq / cp % tp */
    MP_RULE_MOE_SP,        /* MoE with tp > 1 needs sequence parallel */
    MP_RULE_MEMORY,        /* does not fit (set by the planner, not here) */
    MP_RULE_TARGET,        /* misses a target (set by the planner) */
    MP_RULE_COUNT
} mp_rule;

const char *mp_rule_name(mp_rule r);   /* short id, e.g. "heads%tp" */
const char *mp_rule_text(mp_rule r);   /* the rule in words */

static inline bool mp_layout_uneven(const mp_layout *l)
{
    return l->pp_first > 0 || l->pp_last > 0;
}

/* First layer and count of chunk k (0..vpp-1) of pipeline rank r: chunk
 * k*pp + r of pp*vpp equal chunks, or, for an uneven pipeline (vpp 1),
 * pp_first layers on rank 0, pp_last on the last, the rest shared evenly. */
static inline void mp_layout_chunk(const mp_layout *l, int L, int r, int k, int *first, int *count)
{
    if (!mp_layout_uneven(l)) {
        int per = L / (l->pp * l->vpp);
        *first = (k * l->pp + r) * per;
        *count = per;
        return;
    }
    int q = l->pp > 2 ? (L - l->pp_first - l->pp_last) / (l->pp - 2) : 0;
    if (r == 0) {
        *first = 0;
        *count = l->pp_first;
    } else if (r == l->pp - 1) {
        *first = L - l->pp_last;
        *count = l->pp_last;
    } else {
        *first = l->pp_first + (r - 1) * q;
        *count = q;
    }
}

/* Fill derived fields: edp from folding, num_micro_batches from the batch;
 * returns MP_RULE_OK or the first rule broken, with a sentence in why. */
mp_rule mp_layout_check(mp_layout *l, const mp_model *m, const mp_workload *w, char *why, size_t why_len);

void mp_layout_defaults(mp_layout *l);
const char *mp_recompute_name(mp_recompute r);

#endif
