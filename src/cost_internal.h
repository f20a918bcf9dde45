/* moeplan: what the two halves of the cost model share (not installed).
 *
 * cost_ops.c builds the op list of each block (GEMMs, memory-bound kernels,
 * collectives, each priced by the efficiency model); cost.c sums them into
 * a pipeline rank's memory and time and the step, with what the rank holds
 * whatever its recompute mode from cost_memory.c.  An opbuf collects ops
 * (ops != NULL) or, for the per-step costs in the search, only their time. */
#ifndef MOEPLAN_COST_INTERNAL_H
#define MOEPLAN_COST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/cost.h"

typedef struct {
    const mp_cost_ctx *c;
    mp_op *ops;
    size_t n;
    double mem_bytes;            /* mp_cost_step_ops timing only (ops NULL) */
    int mem_kernels;
    bool want_norm;              /* mp_cost_step_ops timing: the norm's all-reduce too (the same on every rank) */
    double grad_add_bytes;       /* unfused gradient accumulation: the block's main_grad.add_ bytes */
    int grad_add_tensors;        /* and its weight tensors, one kernel each */
} opbuf;

/* Per-step sums of one GPU (mp_cost_step_ops). */
typedef struct {
    double rs, ag;               /* gradient reduce-scatter (or all-reduce) and parameter all-gather */
    double rs_bucket, ag_bucket; /* their last bucket (rank 0's bucketed buffers) */
    double norm_ar;              /* the gradient norm's all-reduce */
    double opt;                  /* memory-bound: norm, clip, Adam, master copy, zero_grad */
} step_cost;

/* GPUs of a group of n ranks `stride` apart that share a node. */
int mp_cost_members_per_node(const mp_hardware *hw, int stride, int n);
/* A memory-bound op of fwd_bytes / bwd_bytes moved, `saved` bytes kept. */
mp_op *mp_cost_memop(opbuf *b, const char *name, double fwd_bytes, double bwd_bytes, double saved);
/* A collective over group g (n ranks, `stride` apart) forward and backward. */
mp_op *mp_cost_comm(opbuf *b, const char *name, mp_group g, int n, int stride, mp_coll fwd, double fwd_bytes,
                    mp_coll bwd, double bwd_bytes);
/* The per-step ops (gradient reduction, norm, optimizer) of a rank holding
 * `dense` and `expert` parameters, `unit` the largest layer's (cost.c). */
void mp_cost_step_ops(opbuf *b, double dense, double expert, double unit, step_cost *sc);
/* Sharded data parallelism (cost_shard.c). */
/* Weights, gradients, optimizer states and shard buffers of a GPU holding
 * mem->params_dense and mem->params_expert (split as in sp). */
void mp_cost_model_states(const mp_cost_ctx *c, const mp_param_split *sp, mp_memory *mem);
/* The collectives ZeRO-2/3 add to every micro-batch of a pipeline rank
 * holding nr layers of each class (split sp): all-gathers before the
 * forward and the backward, reduce-scatters after the backward. */
typedef struct {
    double fwd_ag_s, bwd_ag_s, bwd_rs_s; /* sums over the rank's units */
    double first_ag_s, last_rs_s;        /* the units that no compute hides */
} mp_shard_mb;
void mp_cost_shard_micro_batch(const mp_cost_ctx *c, const mp_param_split *sp, const int nr[MP_LAYER_CLASSES],
                               mp_shard_mb *out);
/* Their exposed part with the forward and backward compute that hides them. */
void mp_cost_shard_exposed(const mp_shard_mb *s, double fwd_window_s, double bwd_window_s, double *fwd_s,
                           double *bwd_s);
/* Pipeline rank r's dense and expert parameters (cost.c). */
void mp_cost_stage_dense_expert(const mp_cost_ctx *c, int r, double *dense, double *expert);

/* Tied embeddings with pp > 1: the embedding group's gradient all-reduce
 * once per step, the same on the first and the last rank (0 otherwise). */
double mp_cost_embedding_sync_s(const mp_cost_ctx *c);
/* The per-step sums of a GPU of memory `mem` (cost_step.c); mp_cost_assemble
 * keeps them in its frame memo and the search's states table. */
void mp_cost_step_costs(const mp_cost_ctx *c, const mp_memory *mem, double unit, bool norm, step_cost *sc);

/* Layers [first, first+count) counted by class. */
static inline void count_layers(const mp_cost_ctx *c, int first, int count, int n[MP_LAYER_CLASSES])
{
    int end = first + count;
    if (end > c->model->num_layers)
        end = c->model->num_layers;
    for (int k = 0; k < MP_LAYER_CLASSES; k++)
        n[k] = c->cls_prefix[k][end] - c->cls_prefix[k][first];
}
static inline int count_moe(const int n[MP_LAYER_CLASSES]) { return n[MP_LAYER_MOE] + n[MP_LAYER_LOCAL_MOE]; }
static inline int count_all(const int n[MP_LAYER_CLASSES]) { return n[0] + n[1] + n[2] + n[3]; }

/* What a pipeline rank holds whatever its recompute mode (cost_memory.c):
 * the layers of each class over its chunks; the context's states entry for
 * its layout (NULL without a table); its memory frame, its states from
 * entry se (NULL: computed), and the same from the context's entry. */
void mp_cost_rank_layers(const mp_cost_ctx *c, int r, int n[MP_LAYER_CLASSES]);
mp_states_entry *mp_cost_states_entry(const mp_cost_ctx *c);
void mp_cost_rank_frame_of(const mp_cost_ctx *c, mp_states_entry *se, int r, const mp_block_sum *bs,
                           mp_rank_frame *f);
void mp_cost_rank_frame(const mp_cost_ctx *c, int r, const mp_block_sum *bs, mp_rank_frame *f);

/* Shared by cost.c and cost_chunk.c (the cost model asked per chunk for
 * the simulator). */
void mp_cost_sum_block(const mp_cost_ctx *c, mp_block blk, mp_block_sum *s);
/* The same sum over a list of ops (a part of a block). */
void mp_cost_sum_ops(const mp_cost_ctx *c, const mp_op *ops, size_t n, mp_block_sum *s);
void mp_cost_layer_time_of(mp_layer_time *t, const mp_block_sum *a, const mp_block_sum *b, mp_recompute rc);
void mp_cost_count_layers(const mp_cost_ctx *c, int first, int count, int n[MP_LAYER_CLASSES]);
double mp_cost_layer_saved_bytes(const mp_cost_ctx *c, const mp_block_sum *bs, int q);
void mp_cost_rank_time_of(const mp_cost_ctx *c, const mp_cost_blocks *blocks, const mp_rank_frame *fr, double p2p,
                          mp_stage_time *st, double *hw_flops);

#endif
