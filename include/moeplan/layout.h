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

/* Megatron-Core's --recompute-modules, the parts of a layer that selective
 * recomputation drops and recomputes (transformer_config.py
 * recompute_modules; the default is core_attn alone). */
enum {
    MP_RC_CORE_ATTN = 1,      /* the attention core: scores, softmax, dropout [K22 section 5] */
    MP_RC_MOE_ACT = 2,        /* the experts' activation function: its output (fc2's input) */
    MP_RC_LAYERNORM = 4,      /* the input and pre-MLP norms: their outputs (the next GEMM's input) */
    MP_RC_MLA_UP_PROJ = 8,    /* MLA's up-projections: the per-head Q, K, V rebuilt from the latents */
    MP_RC_MLP = 16,           /* the dense MLP, but for its input */
    MP_RC_MOE = 32,           /* the whole MoE layer, but for its input (all-to-alls included) */
    MP_RC_SHARED_EXPERTS = 64 /* the shared experts */
};
#define MP_RC_ALL 127
/* The module's Megatron-Core name ("core_attn", ...) for one bit. */
const char *mp_recompute_module_name(unsigned bit);
/* "core_attn,moe_act" (commas or spaces) -> bits; false with the first
 * unknown word in `bad`, or the first word given twice (then *dup is true;
 * dup may be NULL). */
bool mp_recompute_modules_parse(const char *text, unsigned *out, char *bad, size_t bad_len, bool *dup);
/* The module (or, with `modes`, also none/selective/full) nearest to a
 * misspelt `word`, or NULL (mp_did_you_mean's rule). */
const char *mp_recompute_suggest(const char *word, bool modes);

typedef struct {
    int gpus, tp, pp, dp, cp, ep, etp, edp, vpp;
    int micro_batch, num_micro_batches;
    /* Uneven pipeline (Megatron-LM --decoder-first/last-pipeline-num-layers):
     * layers on the first and the last pipeline rank, the others sharing the
     * rest evenly; 0 and 0 = an even split.  Only with vpp = 1. */
    int pp_first, pp_last;
    mp_recompute recompute;
    unsigned recompute_modules;  /* MP_RC_* with recompute selective; 0 = core_attn (Megatron's default) */
    bool sequence_parallel;
    /* Sharded data parallelism, ZeRO's stages [R20]: 0 replicates
     * everything; 1 shards the optimizer state (Megatron-LM's distributed
     * optimizer); 2 also the gradients; 3 also the parameters (FSDP).  Over
     * shard_group ranks of the data-parallel group (experts: of expert-DP),
     * replicated across the groups (HSDP); 0 = the whole group. */
    int zero;
    int shard_group;
} mp_layout;
/* Whether every module of `mods` has something to recompute in model m
 * (mla_up_proj needs MLA, moe_act and moe experts, shared_experts shared
 * experts, mlp a dense layer); false with the reason in why. */
bool mp_recompute_modules_apply(unsigned mods, const mp_model *m, char *why, size_t len);
/* "none", "full", "selective" or "selective (core_attn, moe_act)". */
void mp_recompute_describe(const mp_layout *l, char *buf, size_t len);

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
    MP_RULE_SHARD,         /* ZeRO stage 0-3, a sharding group that divides dp*cp, what frameworks run */
    MP_RULE_MEMORY,        /* does not fit (set by the planner, not here) */
    MP_RULE_TARGET,        /* misses a target (set by the planner) */
    MP_RULE_COUNT
} mp_rule;

/* The ZeRO stage and sharding group (after dp, cp and edp are set): the
 * planner's fast path for the distributed optimizer over the whole group,
 * else mp_layout_check_zero_full. */
mp_rule mp_layout_check_zero_full(const mp_layout *l, char *why, size_t why_len);
static inline mp_rule mp_layout_check_zero(const mp_layout *l, char *why, size_t why_len)
{
    if (l->zero == 1 && l->shard_group == 0)
        return MP_RULE_OK;
    return mp_layout_check_zero_full(l, why, why_len);
}

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
