/* moeplan: the cost model.  Pure functions, no I/O.
 *
 * One source of truth for every figure moeplan prints.  The planner, the
 * explainer, the (later) simulator and GPU runner all ask it, either for
 * totals (mp_cost_evaluate) or op by op (mp_cost_block_ops): each op of each
 * block of a layer, for one micro-batch on one GPU, with its FLOPs, HBM bytes,
 * collective, group and duration, forward and backward.
 *
 * Conventions: S = sequence length, b = micro-batch, t = tp, c = cp,
 * T = b*S/c tokens per GPU per micro-batch, T_sp = T/t when sequence
 * parallelism is on (else T), A = bytes per activation element, h = hidden.
 * Sources are cited beside each formula in cost.c.
 */
#ifndef MOEPLAN_COST_H
#define MOEPLAN_COST_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/hardware.h"
#include "moeplan/layout.h"
#include "moeplan/model.h"
#include "moeplan/workload.h"

typedef enum { MP_OP_MATMUL, MP_OP_ATTENTION, MP_OP_MEMORY, MP_OP_COMM } mp_op_kind;
typedef enum {
    MP_COLL_NONE, MP_COLL_ALLREDUCE, MP_COLL_ALLGATHER, MP_COLL_REDUCESCATTER, MP_COLL_ALLTOALL, MP_COLL_SENDRECV
} mp_coll;
typedef enum {
    MP_GROUP_NONE, MP_GROUP_TP, MP_GROUP_CP, MP_GROUP_DP, MP_GROUP_PP, MP_GROUP_EP, MP_GROUP_ETP, MP_GROUP_EDP,
    MP_GROUP_TP_CP,  /* tp x cp: the router's aux-loss token counts (Megatron's tp_cp group) */
    MP_GROUP_ETP_EP, /* etp x ep: the dispatcher's token-count all-gather (Megatron's tp_ep group) */
    MP_GROUP_WORLD   /* every GPU: the gradient norm with the distributed optimizer */
} mp_group;
/* ATTN_LOCAL is the attention block of the layers with local attention
 * (model.h: attn_local, a sliding window or chunks); ATTN that of the others.
 * STEP is not a block of a micro-batch: its ops run once per optimizer step
 * on the first pipeline rank's GPU (gradient reduction, gradient norm and
 * clipping, optimizer), listed for explain; mp_cost_assemble prices them
 * for the first and the last rank. */
typedef enum {
    MP_BLOCK_EMBED, MP_BLOCK_ATTN, MP_BLOCK_DENSE_MLP, MP_BLOCK_MOE_MLP, MP_BLOCK_HEAD, MP_BLOCK_ATTN_LOCAL,
    MP_BLOCK_STEP, MP_BLOCK_COUNT
} mp_block;

/* Layer classes: attention global or local, MLP dense or MoE. */
typedef enum { MP_LAYER_DENSE, MP_LAYER_MOE, MP_LAYER_LOCAL_DENSE, MP_LAYER_LOCAL_MOE, MP_LAYER_CLASSES } mp_layer_class;

/* Time categories of the step breakdown. */
typedef enum { MP_CAT_COMPUTE, MP_CAT_MEMORY, MP_CAT_COMM, MP_CAT_COUNT } mp_cat;

typedef struct {
    const char *name;
    mp_op_kind kind;
    mp_coll coll;                /* for MP_OP_COMM: the forward collective */
    mp_coll bwd_coll;            /* the backward collective (often the dual) */
    mp_group group;
    int group_size;
    bool inter_node;             /* the group spans nodes */
    bool overlapped;             /* hidden behind compute (only the excess counts) */
    bool comm_overlap;           /* a TP collective pipelined with its GEMM (workload tp_comm_overlap) */
    /* Selective recomputation by module (layout.h MP_RC_*): the modules
     * whose recompute re-runs this op's forward in backward, the modules
     * that free all its saved bytes, and two that free a part of them. */
    unsigned rc_rerun, rc_drop;
    unsigned rc_part_mask[2];
    double rc_part_bytes[2];
    bool expert;                 /* scales with routing imbalance */
    bool weight_grad;            /* backward only, part of the weight-gradient pass (main-grad-add) */
    bool selective;              /* dropped and recomputed by selective recompute */
    /* Matmul shape per GPU: out[m x n] = in[m x k] * w[k x n]; `batch`
     * independent products (grouped GEMM: one per local expert). */
    double m, n, k;
    int batch;
    double fwd_flops, bwd_flops, bwd_model_flops; /* bwd_flops counts recomputation inside kernels */
    double fwd_hbm_bytes, bwd_hbm_bytes;
    double fwd_comm_bytes, bwd_comm_bytes;        /* collective buffer size S of the alpha-beta model */
    double fwd_s, bwd_s;
    double saved_bytes;          /* activations kept for backward when nothing is recomputed */
    double sel_dropped_bytes;    /* part of saved_bytes that selective recompute frees */
    double transient_bytes;      /* largest short-lived buffer (communication, permutation) */
} mp_op;

#define MP_MAX_OPS 48


/* Parameters held by one GPU of pipeline rank r, by component. */
typedef struct {
    double attention;            /* attention matrices / tp + replicated norms (and MLA down-projections) */
    double dense_mlp;            /* dense layers' MLP / tp + norm */
    double moe_common;           /* router, pre-MLP norm, shared experts / tp */
    double experts;              /* routed experts / (ep * etp) */
    double embedding;            /* rank 0: embedding / tp (+ learned positions) */
    double head;                 /* last rank: output layer / tp (tied: a copy when pp > 1) + final norm */
    /* One layer's share of each (the unit sharded data parallelism gathers
     * and reduces), and the largest unit the rank holds: a layer, the
     * embedding or the output layer. */
    double layer_attention, layer_dense_mlp, layer_moe_common, layer_experts;
    double largest_unit;
} mp_param_split;

/* The part of one pipeline rank's memory that recomputation leaves alone
 * (cost_memory.c, mp_cost_rank_frame_of): the search scores the three recompute modes of a
 * layout in a row, and they share it. */
typedef struct {
    int r;
    int layers[MP_LAYER_CLASSES];        /* layers of each class over the rank's chunks */
    double params_dense, params_expert;
    mp_param_split split;
    double units;                        /* chunk-micro-batches in flight at the peak */
    double act_weight[MP_LAYER_CLASSES]; /* layers of each class, times their chunk's micro-batches in flight */
    double act_extra_bytes;              /* the embedding's and output layer's activations, likewise */
    double layer_full_bytes;             /* the largest whole layer it holds (live while recomputed) */
    double transient_bytes;              /* communication buffers */
    double fp8_weight_bytes;
    /* The model states by ZeRO's stage (cost_shard.c, mp_cost_model_states). */
    double weights_bytes, gradients_bytes, optimizer_bytes, shard_buffer_bytes;
} mp_rank_frame;

#define MP_FRAME_RANKS 4

/* What of a pipeline rank's memory and per-step costs the micro-batch,
 * sequence parallelism and recomputation leave alone: its layers, its
 * parameters and the model states ZeRO's stage gives them (cost_memory.c,
 * rank_states).  The search meets each such layout once for every
 * micro-batch size and both SP settings, so it keeps them in a table
 * (mp_states_memo) that it hands the context; keyed by every layout field
 * they read. */
typedef struct {
    int r;
    int layers[MP_LAYER_CLASSES];
    double params_dense, params_expert;
    mp_param_split split;
    double fp8_weight_bytes;
    double weights_bytes, gradients_bytes, optimizer_bytes, shard_buffer_bytes;
} mp_rank_states;

#define MP_STATES_SLOTS 512
typedef struct mp_states_entry {
    int key[13];
    unsigned gen;                        /* bumped each time the entry is given to another key */
    bool valid, have_step;
    int n;
    mp_rank_states rank[MP_FRAME_RANKS];
    double step[2][6];                   /* step_cost of the first and last rank */
} mp_states_entry;
/* A direct-mapped table of them (an entry another key needs is replaced:
 * a cache, so that what it holds never changes a result). */
typedef struct mp_states_memo {
    mp_states_entry e[MP_STATES_SLOTS];
} mp_states_memo;
/* A memo of those parts for the ranks of one layout less its recompute
 * setting, and the per-step costs and the pipeline send of that layout;
 * written by mp_cost_assemble as a cache, keyed by every layout field and
 * the block sums it reads. */
typedef struct {
    int key[16];
    const void *blocks;
    bool valid, uniform, have_step;
    int n;
    mp_rank_frame rank[MP_FRAME_RANKS];
    double step[2][6];                   /* step_cost of the first and last rank */
    double p2p_s;
    const struct mp_states_memo *table; /* the context's states table when written */
    struct mp_states_entry *states;      /* its entry for this layout (NULL without a table) */
    unsigned states_gen;                 /* the entry's gen when taken: another key since, and it is taken again */
} mp_frame_memo;

/* Everything the cost model needs for one layout at one sequence length. */
typedef struct {
    const mp_model *model;
    const mp_hardware *hw;
    const mp_workload *wl;
    mp_layout lay;
    long seq_len;
    mp_params params;
    double expert_load;          /* tokens at the busiest expert rank / mean (capacity or imbalance) */
    /* Mean keys a query attends to in the global and the local layers; 0 =
     * causal attention over one sequence of seq_len (mp_cost_mean_keys).
     * The simulator sets them for a micro-batch of packed sequences. */
    double keys_per_query[2];
    int moe_prefix[MP_MAX_LAYERS + 1]; /* MoE layers among the first i */
    int cls_prefix[MP_LAYER_CLASSES][MP_MAX_LAYERS + 1]; /* layers of each class among the first i */
    int local_layers;                  /* layers with local attention */
    int single_class;                  /* the layer class of every layer, or -1 when they differ */
    double model_fwd_flops_per_token;  /* layout-independent, cached */
    mp_frame_memo frame;               /* written by mp_cost_assemble, as a cache */
    mp_states_memo *states;            /* NULL, or the caller's table (the search's), written as a cache */
} mp_cost_ctx;

void mp_cost_ctx_init(mp_cost_ctx *c, const mp_model *m, const mp_hardware *hw, const mp_workload *w,
                      const mp_layout *l, long seq_len);

/* Tokens of one micro-batch on one GPU, T = b*S/c (the conventions at the
 * top), and T_sp = T/t, what each TP rank holds between the TP regions
 * under sequence parallelism (T without it): the one place both are
 * computed, for the cost model, the simulator and the runner. */
static inline double mp_cost_tokens(const mp_cost_ctx *c)
{
    return (double)c->lay.micro_batch * (double)c->seq_len / c->lay.cp;
}
static inline double mp_cost_tokens_sp(const mp_cost_ctx *c)
{
    double T = mp_cost_tokens(c);
    return c->lay.sequence_parallel ? T / c->lay.tp : T;
}

/* Change only the layout of an initialised context (the planner's fast path:
 * the model's parameter counts are not recomputed). */
void mp_cost_ctx_set_layout(mp_cost_ctx *c, const mp_layout *l);

/* The ops of one block for one micro-batch on one GPU (a layer is ATTN plus
 * DENSE_MLP or MOE_MLP).  Returns the count (<= MP_MAX_OPS). */
size_t mp_cost_block_ops(const mp_cost_ctx *c, mp_block b, mp_op *ops);

/* Whether the model has the block at all (no MoE block for a dense model,
 * no local-attention block without local layers). */
bool mp_cost_block_present(const mp_cost_ctx *c, mp_block b);

/* Time of one pipeline send between adjacent stages (an activation forward,
 * or its gradient backward) for one micro-batch; 0 without pipeline
 * parallelism (cost.c says how the bytes go). */
double mp_cost_p2p_s(const mp_cost_ctx *c);

/* Model FLOPs per token of a sequence of S tokens, forward (3x for a
 * training step): the active parameters' matrix products and the attention
 * scores, causal (S/2 keys per query, moeplan's MFU) or, all_keys, over all
 * S keys (the convention of Megatron-LM through core_r0.11.0; cost.c). */
double mp_cost_model_fwd_flops_per_token(const mp_model *m, const mp_params *p, double S, bool all_keys);

/* Keys each query attends to, averaged over a causal sequence of S tokens,
 * for a layer with global (local false) or the model's local attention. */
double mp_cost_mean_keys(const mp_model *m, bool local, double S);

/* Chunk-micro-batches of each model chunk (0..vpp-1) that pipeline rank r
 * holds at its activation peak under Megatron-LM's schedule; returns their
 * sum.  `inst` has vpp entries. */
double mp_cost_chunks_in_flight(const mp_layout *l, int r, double *inst);

void mp_cost_stage_params(const mp_cost_ctx *c, int r, mp_param_split *out);
/* The collectives sharded data parallelism (ZeRO-2/3, FSDP) adds to each
 * micro-batch, for explain --ops (cost_shard.c): one op per unit kind (a
 * layer of each class, dense and expert parameters apart; the embedding;
 * the output layer), its fwd_s and bwd_s those of one unit (a backward
 * gather counted twice where full recomputation gathers again), counts[i]
 * the units of that kind a micro-batch runs.  The priced per-micro-batch
 * sums are sum(counts[i] x (fwd_s + bwd_s)).  Only with pp 1: under
 * pipeline parallelism they run once per step (mp_cost_block_ops' step
 * block).  max >= 4 x MP_LAYER_CLASSES + 4; returns the number of ops. */
size_t mp_cost_shard_ops(const mp_cost_ctx *c, mp_op *ops, int *counts, size_t max);

/* The sharding degrees of the dense and the expert parameters' states
 * (cost_shard.c): dp*cp and edp, or those of the HSDP group; 1 and 1
 * without ZeRO. */
void mp_cost_shard_degrees(const mp_layout *l, int *dense, int *expert);
/* Whether a layer's parameters stay gathered from its forward to its
 * backward: always below ZeRO-3; at ZeRO-3 as the workload's
 * fsdp_reshard_after_forward says, by default (TorchTitan's) only under
 * pipeline parallelism (cost_shard.c). */
bool mp_cost_keeps_gathered(const mp_workload *w, const mp_layout *l);
/* Whether sharding is priced as DeepSpeed 0.3-0.4's blocking ZeRO-3 (the
 * workload's zero3_blocking_fetch at ZeRO-3; no effect below it): nothing
 * overlapped, one collective per tensor (cost_shard.c).  The pricing and
 * explain's report both ask it. */
bool mp_cost_shard_blocking(const mp_workload *w, const mp_layout *l);
/* nccl-tests' bus-bandwidth factor of a collective over n ranks: busbw =
 * algbw x f, f = 2(n-1)/n for all-reduce, (n-1)/n for all-gather,
 * reduce-scatter and all-to-all, 1 for send/recv (doc/PERFORMANCE.md). */
double mp_coll_bus_factor(mp_coll coll, int n);

/* Alpha-beta time of a collective (nccl-tests conventions: all-reduce moves
 * 2(n-1)/n of the buffer, all-gather/reduce-scatter/all-to-all (n-1)/n). */
double mp_cost_collective_s(const mp_hardware *hw, mp_coll coll, int n, int members_per_node, double bytes);

typedef struct {
    double weights_bytes, gradients_bytes, optimizer_bytes, activations_bytes;
    double comm_buffer_bytes, reserved_bytes, fragmentation_bytes;
    double fp8_weight_bytes;     /* FP8 copies of the linear layers' weights (workload fp8) */
    double shard_buffer_bytes;   /* ZeRO-2/3: gathered parameters and unsharded gradients in flight */
    double other_bytes;          /* comm buffers + FP8 weight copies + shard buffers + reserved + fragmentation */
    double total_bytes, capacity_bytes;
    double params;               /* parameters held by this GPU */
    double params_dense, params_expert;
    double inflight_units;       /* micro-batch chunk activations held at peak */
} mp_memory;

typedef struct {
    double fwd_s, bwd_s;         /* per micro-batch, including recomputation */
    double cat_s[MP_CAT_COUNT];  /* fwd+bwd per micro-batch by category */
    double tp_s, ep_s, cp_s, pp_s;
    double dp_s;                 /* ZeRO-2/3: the exposed per-micro-batch gathers and reduce-scatters */
    double layers_dense, layers_moe;
} mp_stage_time;

#define MP_MAX_STAGES 512

typedef struct {
    mp_params params;
    int stages;                  /* = pp */
    int worst_mem_stage, slowest_stage;
    mp_memory mem;               /* the most loaded GPU (stage worst_mem_stage) */
    mp_memory mem_first, mem_last;
    bool fits;
    double headroom_bytes;       /* capacity - total (negative when it does not fit) */
    double act_layer_dense_bytes, act_layer_moe_bytes; /* saved per layer per micro-batch, after recompute */
    mp_stage_time slow;          /* the slowest stage */
    double sum_ranks_s;          /* forward+backward of one micro-batch, summed over pipeline ranks */
    /* Step */
    double model_flops_per_step, hw_flops_per_step;
    double t_compute_s, t_memory_s, t_comm_s, t_bubble_s, t_total_s;
    double t_tp_s, t_ep_s, t_cp_s, t_pp_s, t_dp_s, t_optimizer_s;
    double tokens_per_step, tokens_per_s, sequences_per_s, mfu;
    long seq_len;
} mp_cost;

/* Evaluate everything for the context; `out` is fully written. */
void mp_cost_evaluate(const mp_cost_ctx *c, mp_cost *out);

/* The same in two phases, for the planner: per-block sums depend only on
 * tp, cp, ep, etp, micro-batch, sequence parallelism and the sequence
 * length; mp_cost_assemble adds pp, vpp, dp, recompute and the optimizer.
 * mp_cost_evaluate(c) == mp_cost_assemble(c, mp_cost_blocks_compute(c)). */
typedef struct {
    double fwd_s, bwd_s, recompute_full_s, recompute_sel_s;
    double wgrad_s;                      /* the weight-gradient half of the matrix products' backward */
    double wgrad_saved;                  /* the matrix products' saved inputs, which the weight gradients read */
    double cat_fwd[MP_CAT_COUNT], cat_bwd[MP_CAT_COUNT], cat_fwd_sel[MP_CAT_COUNT];
    double tp_s, ep_s, cp_s;             /* fwd + bwd */
    double tp_fwd_s, ep_fwd_s, cp_fwd_s; /* forward only (repeated by full recompute) */
    double saved, saved_sel;             /* bytes kept: no recompute / selective */
    double transient;
    double fwd_model_flops, bwd_model_flops, fwd_hw_flops, bwd_hw_flops, sel_hw_flops;
    double expert_hw_flops;
} mp_block_sum;
/* Forward+backward time of one layer (or the embedding / output block) for
 * one micro-batch, by category, recomputation included. */
typedef struct {
    double fwd_s, bwd_s, cat_s[MP_CAT_COUNT], tp_s, ep_s, cp_s, hw_flops;
    double wgrad_s;              /* part of bwd_s that computes weight gradients */
} mp_layer_time;
typedef struct {
    mp_block_sum b[MP_BLOCK_COUNT];
    mp_layer_time layer[3][MP_LAYER_CLASSES]; /* [recompute][layer class] */
    mp_layer_time embed, head;
} mp_cost_blocks;
void mp_cost_blocks_compute(const mp_cost_ctx *c, mp_cost_blocks *blocks);
/* Of those sums, only the MoE MLP's read ep and etp (cost_ops.c block_moe;
 * the attention, dense MLP, embedding and output blocks read tp, cp, the
 * micro-batch and sequence parallelism): given the sums of a layout that
 * differs from the context's in ep and etp only, recompute the MoE block
 * and the per-layer times.  The result equals mp_cost_blocks_compute's
 * (tests/test_cost.c, test_blocks_recompute_experts). */
void mp_cost_blocks_recompute_experts(const mp_cost_ctx *c, mp_cost_blocks *blocks);
/* Memory of one GPU of pipeline rank r (0..pp-1), from the block sums. */
void mp_cost_stage_memory(const mp_cost_ctx *c, const mp_cost_blocks *blocks, int r, mp_memory *mem);
void mp_cost_assemble(const mp_cost_ctx *c, const mp_cost_blocks *blocks, mp_cost *out);

/* The cost model asked per pipeline rank and per model chunk, for the
 * simulator (cost_chunk.c); the same sums mp_cost_assemble makes. */
/* Forward and backward of one micro-batch on pipeline rank r, as the step
 * of mp_cost_assemble counts them (exposed pipeline sends and ZeRO-2/3
 * collectives included). */
void mp_cost_rank_time(const mp_cost_ctx *c, const mp_cost_blocks *b, int r, mp_stage_time *st);
typedef struct {
    double fwd_s, bwd_s;         /* one micro-batch through the chunk, recomputation included */
    double wgrad_s;              /* the weight-gradient part of bwd_s (a zero-bubble schedule's W) */
    double p2p_s;                /* the blocking pipeline send inside fwd_s and bwd_s each (1F1B), else 0 */
    double send_s;               /* one pipeline send on the link (interleaved: asynchronous) */
    double saved_bytes;          /* activations kept from its forward to its backward */
    double wgrad_saved_bytes;    /* the part of them the weight gradients still read after the input gradient */
    double comm_fraction;        /* the rank's communication share of its forward and backward time */
    double hw_flops;
} mp_chunk_time;
/* Chunk k (0..vpp-1) of pipeline rank r: its layers' share of the rank's
 * time (mp_cost_rank_time), the embedding on the first chunk of the first
 * rank, the output layer on the last chunk of the last.  The chunks of a
 * rank sum to mp_cost_rank_time's fwd_s and bwd_s. */
void mp_cost_chunk_time(const mp_cost_ctx *c, const mp_cost_blocks *b, int r, int k, mp_chunk_time *out);
/* One layer of class q under the layout's recompute mode at the context's
 * sequence length and expert load (mp_cost_ctx.expert_load): the
 * simulator's per-layer routing. */
void mp_cost_layer_time(const mp_cost_ctx *c, mp_layer_class q, mp_layer_time *out);
/* Megatron-Core's MoELayer alone, as a benchmark calling it times it: the
 * MoE block from the router to the combine (and shared experts), without
 * the pre-MLP norm and the residual add around it.  All zero for a model
 * without MoE layers. */
void mp_cost_moe_layer_time(const mp_cost_ctx *c, mp_layer_time *out);
/* The class of layer `layer` (0-based) of the context's model: MoE or
 * dense, global or local attention (first_dense_layers, moe_every and the
 * local-attention pattern, as the step counts them); MP_LAYER_DENSE past
 * the last layer. */
mp_layer_class mp_cost_layer_class(const mp_cost_ctx *c, int layer);

const char *mp_coll_name(mp_coll c);
const char *mp_group_name(mp_group g);
const char *mp_block_name(mp_block b);

#endif
