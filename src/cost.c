/* The cost model.  See include/moeplan/cost.h for the conventions.
 *
 * Sources:
 *  [K22] Korthikanti et al., "Reducing Activation Recomputation in Large
 *        Transformer Models", arXiv:2205.05198, sections 4.1-4.3, Table 2.
 *  [N21] Narayanan et al., "Efficient Large-Scale Language Model Training on
 *        GPU Clusters Using Megatron-LM", SC21, sections 2.2 and 3 (1F1B and
 *        interleaved bubble (p-1)/(v m)), appendix (FLOPs).
 *  [R20] Rajbhandari et al., "ZeRO", SC20 (16-bit weights, fp32 master and
 *        Adam states: 2 + 2 + 12 bytes; Megatron keeps fp32 grads: 18).
 *  [D22] Dao et al., "FlashAttention", NeurIPS 2022 (no S x S matrices
 *        saved); Dao, "FlashAttention-2", arXiv:2307.08691 (backward 2.5x).
 *  [L25] Liu et al., "MoE Parallel Folding", arXiv:2504.14960.
 *  [NC]  NVIDIA nccl-tests, doc/PERFORMANCE.md (bus-bandwidth factors).
 *  [P22] Chowdhery et al., "PaLM", appendix B (model FLOPs utilization).
 */
#include "moeplan/cost.h"

#include <math.h>

#include "moeplan/efficiency.h"
#include <string.h>

const char *mp_coll_name(mp_coll c)
{
    static const char *const n[] = {"-", "all-reduce", "all-gather", "reduce-scatter", "all-to-all", "send/recv"};
    return c <= MP_COLL_SENDRECV ? n[c] : "?";
}
const char *mp_group_name(mp_group g)
{
    static const char *const n[] = {"-", "tp", "cp", "dp", "pp", "ep", "etp", "edp", "tp-cp", "etp-ep", "world"};
    return g <= MP_GROUP_WORLD ? n[g] : "?";
}
const char *mp_block_name(mp_block b)
{
    static const char *const n[] = {"embedding", "attention", "dense-mlp", "moe-mlp", "lm-head", "attention-local",
                                    "step"};
    return b < MP_BLOCK_COUNT ? n[b] : "?";
}

static double model_fwd_flops_per_token(const mp_cost_ctx *c);

void mp_cost_ctx_init(mp_cost_ctx *c, const mp_model *m, const mp_hardware *hw, const mp_workload *w,
                      const mp_layout *l, long seq_len)
{
    memset(c, 0, sizeof *c);
    c->model = m;
    c->hw = hw;
    c->wl = w;
    c->lay = *l;
    c->seq_len = seq_len;
    mp_model_params(m, &c->params);
    c->moe_prefix[0] = 0;
    for (int k = 0; k < MP_LAYER_CLASSES; k++)
        c->cls_prefix[k][0] = 0;
    for (int i = 0; i < m->num_layers; i++) {
        c->moe_prefix[i + 1] = c->moe_prefix[i] + (m->is_moe[i] ? 1 : 0);
        bool local = m->window_kind != MP_WINDOW_NONE && m->attn_local[i];
        int cls = (local ? 2 : 0) | (m->is_moe[i] ? 1 : 0);
        for (int k = 0; k < MP_LAYER_CLASSES; k++)
            c->cls_prefix[k][i + 1] = c->cls_prefix[k][i] + (k == cls ? 1 : 0);
        c->local_layers += local;
    }
    c->single_class = -1;
    for (int k = 0; k < MP_LAYER_CLASSES; k++)
        if (c->cls_prefix[k][m->num_layers] == m->num_layers)
            c->single_class = k;
    c->model_fwd_flops_per_token = model_fwd_flops_per_token(c);
    /* Busiest expert rank, relative to the mean.  With a capacity factor the
     * expert buffers are padded to capacity (Megatron's
     * --moe-pad-expert-input-to-capacity), so memory and time follow the
     * factor; dropless routing follows the stated imbalance. */
    c->expert_load = w->capacity_factor > 0 ? w->capacity_factor : w->routing_imbalance;
    if (c->expert_load < 1)
        c->expert_load = 1;
}

void mp_cost_ctx_set_layout(mp_cost_ctx *c, const mp_layout *l)
{
    c->lay = *l;
}

/* ------------------------------------------------------------ primitives */


double mp_cost_collective_s(const mp_hardware *hw, mp_coll coll, int n, int mpn, double bytes)
{
    if (n <= 1 || bytes <= 0)
        return 0;
    if (mpn < 1)
        mpn = 1;
    if (mpn > n)
        mpn = n;
    bool spans = mpn < n;
    /* A ring that crosses nodes runs one NCCL channel per NIC: the mpn
     * members of the group on a node cross through their own mpn NICs, so
     * the ring moves min(NVLink, mpn x NIC) per GPU (nccl-tests' multi-node
     * bus bandwidth on 8-NIC nodes is close to 8 x the NIC rate, e.g.
     * NVIDIA/nccl issue #495). */
    /* Achieved link rates (efficiency.h): each tier's ceiling and its ramp
     * with the message -- the buffer for a ring or a send, the share for
     * each peer in an all-to-all. */
    double msg = coll == MP_COLL_ALLTOALL ? bytes / n : bytes;
    double intra = mp_eff_link_bw(hw, hw->intra_bw_bytes_per_s, false, msg);
    /* (The NIC rate only where it is used: the planner's hot path.) */
    double nic = spans || coll == MP_COLL_ALLTOALL ? mp_eff_link_bw(hw, hw->inter_bw_bytes_per_s, true, msg) : 0;
    double bw = spans && mpn * nic < intra ? mpn * nic : intra;
    if (coll == MP_COLL_SENDRECV && spans)
        bw = nic; /* one pair, one NIC */
    double lat = spans ? hw->inter_latency_s : hw->intra_latency_s;
    double f = (double)(n - 1) / n;
    switch (coll) {
    case MP_COLL_ALLREDUCE:
        /* Ring: reduce-scatter then all-gather, 2(n-1) steps, each GPU sends
         * 2(n-1)/n of the buffer [NC].  Across nodes the ring is limited by
         * the per-GPU network bandwidth. */
        return 2.0 * (n - 1) * lat + 2.0 * f * bytes / bw;
    case MP_COLL_ALLGATHER:
    case MP_COLL_REDUCESCATTER:
        /* (n-1) steps, (n-1)/n of the (gathered) buffer [NC]. */
        return (n - 1) * lat + f * bytes / bw;
    case MP_COLL_ALLTOALL: {
        /* Each GPU sends 1/n of its buffer to every peer: (mpn-1)/n of it
         * stays on NVLink, (n-mpn)/n crosses the network; both links run
         * concurrently, so the slower share sets the time. */
        double t_intra = (double)(mpn - 1) / n * bytes / intra;
        double t_inter = (double)(n - mpn) / n * bytes / nic;
        /* NCCL issues the n-1 sends of an all-to-all concurrently, so one
         * latency of the slowest tier is paid, not n-1. */
        return (mpn < n ? hw->inter_latency_s : hw->intra_latency_s) + (t_intra > t_inter ? t_intra : t_inter);
    }
    case MP_COLL_SENDRECV:
        return lat + bytes / bw;
    case MP_COLL_NONE:
        break;
    }
    return 0;
}

/* GPUs of a group that share a node, for Megatron's rank order
 * tp < cp < dp < pp (attention) and etp < ep < edp (experts): a group whose
 * ranks are `stride` apart has gpus_per_node / stride members per node. */
static int members_per_node(const mp_hardware *hw, int stride, int n)
{
    int mpn = stride >= hw->gpus_per_node ? 1 : hw->gpus_per_node / stride;
    return mpn > n ? n : (mpn < 1 ? 1 : mpn);
}

typedef struct {
    const mp_cost_ctx *c;
    mp_op *ops;
    size_t n;
    double mem_bytes;            /* block_step timing only (ops NULL) */
    int mem_kernels;
    bool want_norm;              /* block_step timing: the norm's all-reduce too (the same on every rank) */
} opbuf;

/* Per-step sums of one GPU (block_step). */
typedef struct {
    double rs, ag;               /* gradient reduce-scatter (or all-reduce) and parameter all-gather */
    double rs_bucket, ag_bucket; /* their last bucket (rank 0's bucketed buffers) */
    double norm_ar;              /* the gradient norm's all-reduce */
    double opt;                  /* memory-bound: norm, clip, Adam, master copy, zero_grad */
} step_cost;
static void block_step(opbuf *b, double dense, double expert, step_cost *sc);
static void stage_params(const mp_cost_ctx *c, int r, double *dense, double *expert);

static mp_op *push(opbuf *b, const char *name, mp_op_kind k)
{
    if (b->n >= MP_MAX_OPS)
        return &b->ops[MP_MAX_OPS - 1]; /* NEVER: blocks have fewer ops */
    mp_op *o = &b->ops[b->n++];
    memset(o, 0, sizeof *o);
    o->name = name;
    o->kind = k;
    o->batch = 1;
    return o;
}

/* Selective recomputation by module (layout.h MP_RC_*, Megatron-Core's
 * --recompute-modules): mark ops [from, b->n) as re-run in backward when a
 * module in `rerun` is recomputed, and as freeing their saved bytes when one
 * in `drop` is.  The op that keeps a recomputed region's input -- its
 * checkpoint's input -- is left out of `drop` by the caller. */
static void rc_tag(opbuf *b, size_t from, unsigned rerun, unsigned drop)
{
    if (!b->ops)
        return;
    for (size_t i = from; i < b->n; i++) {
        b->ops[i].rc_rerun |= rerun;
        b->ops[i].rc_drop |= drop;
    }
}

/* The first matmul at or after op `from` (the GEMM that keeps a norm's
 * output as its input), or NULL. */
static mp_op *first_matmul(opbuf *b, size_t from)
{
    for (size_t i = from; b->ops && i < b->n; i++)
        if (b->ops[i].kind == MP_OP_MATMUL)
            return &b->ops[i];
    return NULL;
}

/* A matmul out[M,N] = in[M,K] w[K,N] in 16-bit.  Forward 2MKN FLOPs;
 * backward computes the input gradient and the weight gradient, 4MKN [N21].
 * Time is the roofline max of matrix-unit time at peak*mfu and HBM time. */
/* FP8 (workload fp8, Transformer Engine): the linear layers' GEMMs take
 * FP8 operands; the router's GEMM (a plain torch Linear in Megatron-Core's
 * TopKRouter) and the output layer (tensor_parallel.ColumnParallelLinear,
 * not a TE module) stay in 16 bits. */
static mp_op *matmul_fp8(opbuf *b, const char *name, double M, double K, double N, int batch, double saved);

static bool fp8_gemm(const mp_cost_ctx *c, const char *name)
{
    return c->wl->fp8 != MP_FP8_NONE && c->hw->peak_flops_fp8 > 0 && strcmp(name, "router") != 0 &&
           strcmp(name, "lm-head") != 0;
}

static mp_op *matmul(opbuf *b, const char *name, double M, double K, double N, int batch, double saved)
{
    const mp_cost_ctx *c = b->c;
    double A = c->wl->act_bytes, W = c->wl->weight_bytes;
    if (fp8_gemm(c, name))
        return matmul_fp8(b, name, M, K, N, batch, saved);
    mp_op *o = push(b, name, MP_OP_MATMUL);
    o->m = M;
    o->k = K;
    o->n = N;
    o->batch = batch;
    o->fwd_flops = 2.0 * M * K * N * batch;
    o->bwd_flops = o->bwd_model_flops = 2.0 * o->fwd_flops;
    o->fwd_hbm_bytes = (M * K * A + K * N * W + M * N * A) * batch;
    /* dgrad reads dY and W, writes dX; wgrad reads X and dY and accumulates
     * the fp32 main gradient (read + write). */
    o->bwd_hbm_bytes = (M * N * A + K * N * W + M * K * A + M * K * A + M * N * A +
                        2.0 * K * N * c->wl->grad_bytes) * batch;
    /* Durations from the efficiency model: forward out[M x N] over K;
     * backward the data gradient (M x K over N) and the weight gradient
     * (K x N over the M tokens), each shape quantized on its own. */
    o->fwd_s = mp_eff_matmul_s(c->hw, M, N, K, batch, o->fwd_hbm_bytes);
    o->bwd_s = mp_eff_matmul_bwd_s(c->hw, M, N, K, batch, o->bwd_hbm_bytes);
    o->saved_bytes = saved;
    return o;
}

/* An FP8 linear layer as Transformer Engine runs it.
 *  - GEMMs at the FP8 peak and gemm_efficiency_fp8, operands 1 byte.
 *  - Casts, memory-bound: forward, the input X is quantized (read A, write
 *    1 byte per element); backward, the output gradient dY likewise; on
 *    Hopper the weight-gradient GEMM needs X and dY transposed in FP8 (TE's
 *    columnwise copies: read 1, write 1 byte each), which Blackwell's MXFP8
 *    avoids by quantizing both ways at the cast (write 2 bytes).  Weights
 *    are cast once per step and cached across the micro-batches (TE's
 *    is_first_microbatch), so that cast is not counted per micro-batch.
 *    Blockwise (DeepSeek-V3's 1x128 and 128x128) and current scaling add
 *    their scales, under 1% of the bytes, and current scaling one amax
 *    pass over the tensor before the cast (read A).
 *  - Saved for the weight gradient: the quantized input, 1 byte per
 *    element instead of A. */
static mp_op *matmul_fp8(opbuf *b, const char *name, double M, double K, double N, int batch, double saved)
{
    const mp_cost_ctx *c = b->c;
    const mp_hardware *hw = c->hw;
    double A = c->wl->act_bytes;
    mp_hardware h8 = *hw;
    h8.peak_flops = hw->peak_flops_fp8;
    h8.gemm_efficiency = h8.mfu = hw->gemm_efficiency_fp8;
    mp_op *o = push(b, name, MP_OP_MATMUL);
    o->m = M;
    o->k = K;
    o->n = N;
    o->batch = batch;
    o->fwd_flops = 2.0 * M * K * N * batch;
    o->bwd_flops = o->bwd_model_flops = 2.0 * o->fwd_flops;
    bool mx = c->wl->fp8 == MP_FP8_MXFP8, cur = c->wl->fp8 == MP_FP8_CURRENT;
    double x = M * K * batch, y = M * N * batch, w = K * N * batch;
    double cast_fwd = x * (A + (mx ? 2 : 1)) + (cur ? x * A : 0);
    double cast_bwd = y * (A + (mx ? 2 : 1)) + (cur ? y * A : 0) + (mx ? 0 : 2.0 * (x + y));
    o->fwd_hbm_bytes = x + w + y * A + cast_fwd;
    o->bwd_hbm_bytes = y + w + x * A + x + y + 2.0 * w * c->wl->grad_bytes + cast_bwd;
    o->fwd_s = mp_eff_matmul_s(&h8, M, N, K, batch, x + w + y * A) + mp_eff_memory_s(hw, cast_fwd, 1);
    o->bwd_s = mp_eff_matmul_bwd_s(&h8, M, N, K, batch, y + w + x * A + x + y + 2.0 * w * c->wl->grad_bytes) +
               mp_eff_memory_s(hw, cast_bwd, mx ? 1 : 3);
    o->saved_bytes = A > 0 ? saved / A : saved;
    return o;
}

/* A memory-bound op (norm, activation function, permutation, residual). */
static mp_op *memop(opbuf *b, const char *name, double fwd_bytes, double bwd_bytes, double saved)
{
    mp_op *o = push(b, name, MP_OP_MEMORY);
    o->fwd_hbm_bytes = fwd_bytes;
    o->bwd_hbm_bytes = bwd_bytes;
    o->fwd_s = mp_eff_memory_s(b->c->hw, fwd_bytes, 1);
    o->bwd_s = mp_eff_memory_s(b->c->hw, bwd_bytes, 1);
    o->saved_bytes = saved;
    return o;
}

/* A memory-bound op that runs as `kf` kernels forward and `kb` backward
 * (unfused passes): the same bytes, each kernel's launch and ramp priced by
 * the efficiency model (mp_eff_memory_s; nothing changes under the flat
 * model). */
static mp_op *memop_k(opbuf *b, const char *name, double fwd_bytes, double bwd_bytes, double saved, int kf, int kb)
{
    mp_op *o = memop(b, name, fwd_bytes, bwd_bytes, saved);
    o->fwd_s = mp_eff_memory_s(b->c->hw, fwd_bytes, kf);
    o->bwd_s = mp_eff_memory_s(b->c->hw, bwd_bytes, kb);
    return o;
}

static mp_op *comm(opbuf *b, const char *name, mp_group g, int n, int stride, mp_coll fwd, double fwd_bytes,
                   mp_coll bwd, double bwd_bytes)
{
    const mp_hardware *hw = b->c->hw;
    mp_op *o = push(b, name, MP_OP_COMM);
    int mpn = members_per_node(hw, stride, n);
    o->coll = fwd;
    o->bwd_coll = bwd;
    o->group = g;
    o->group_size = n;
    o->inter_node = mpn < n;
    o->fwd_comm_bytes = fwd == MP_COLL_NONE ? 0 : fwd_bytes;
    o->bwd_comm_bytes = bwd == MP_COLL_NONE ? 0 : bwd_bytes;
    o->fwd_s = mp_cost_collective_s(hw, fwd, n, mpn, o->fwd_comm_bytes);
    o->bwd_s = mp_cost_collective_s(hw, bwd, n, mpn, o->bwd_comm_bytes);
    o->comm_overlap = g == MP_GROUP_TP && b->c->wl->tp_comm_overlap && b->c->lay.sequence_parallel;
    o->transient_bytes = fmax(o->fwd_comm_bytes, o->bwd_comm_bytes);
    return o;
}

/* Tensor-parallel entry and exit of a block [K22 section 4.2.2]: with
 * sequence parallelism, all-gather in (reduce-scatter of the gradient in
 * backward) and reduce-scatter out (all-gather in backward); without it, the
 * `f` operator (identity forward, all-reduce backward) and the `g` operator
 * (all-reduce forward, identity backward). */
static mp_op *tp_enter(opbuf *b, const char *name, double bytes)
{
    const mp_layout *l = &b->c->lay;
    if (l->tp <= 1)
        return NULL;
    if (l->sequence_parallel) {
        mp_op *o = comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_ALLGATHER, bytes, MP_COLL_REDUCESCATTER, bytes);
        /* With SP the layer keeps only its shard of the input; backward
         * all-gathers it again for the weight gradient [K22 4.2.2]. */
        comm(b, "tp-regather", MP_GROUP_TP, l->tp, 1, MP_COLL_NONE, 0, MP_COLL_ALLGATHER, bytes);
        return o;
    }
    return comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_NONE, 0, MP_COLL_ALLREDUCE, bytes);
}

/* Megatron-LM's column-parallel linear launches its backward collectives
 * asynchronously: the input re-gather runs under the data-gradient GEMM and
 * the gradient reduce-scatter (all-reduce without SP) under the
 * weight-gradient GEMM (LinearWithGradAccumulationAndAsyncCommunication).
 * Each GEMM is half of the matmul's backward; only the excess is exposed. */
static void tp_enter_overlap(mp_op *enter, const mp_op *mm)
{
    if (!enter)
        return;
    double half = mm->bwd_s / 2;
    enter->bwd_s = fmax(0, enter->bwd_s - half);
    enter->overlapped = true;
    /* --tp-comm-overlap: TE splits the GEMM into chunks and all-gathers the
     * next chunk of the input while multiplying the current one, so the
     * forward all-gather is exposed only where it outlasts the GEMM. */
    if (enter->comm_overlap)
        enter->fwd_s = fmax(0, enter->fwd_s - mm->fwd_s);
    if (enter[1].kind == MP_OP_COMM && enter[1].bwd_coll == MP_COLL_ALLGATHER && enter[1].coll == MP_COLL_NONE) {
        enter[1].bwd_s = fmax(0, enter[1].bwd_s - half);
        enter[1].overlapped = true;
    }
}

static void tp_exit(opbuf *b, const char *name, double bytes)
{
    const mp_layout *l = &b->c->lay;
    if (l->tp <= 1)
        return;
    mp_op *mm = b->n > 0 && b->ops[b->n - 1].kind == MP_OP_MATMUL ? &b->ops[b->n - 1] : NULL;
    mp_op *o;
    if (l->sequence_parallel)
        o = comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_REDUCESCATTER, bytes, MP_COLL_ALLGATHER, bytes);
    else
        o = comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, bytes, MP_COLL_NONE, 0);
    /* --tp-comm-overlap: the reduce-scatter of a row-parallel GEMM's output
     * runs chunk by chunk behind the GEMM that produces it, and in backward
     * the all-gather of the gradient behind its data-gradient GEMM (half the
     * matmul's backward). */
    if (o->comm_overlap && mm) {
        o->fwd_s = fmax(0, o->fwd_s - mm->fwd_s);
        o->bwd_s = fmax(0, o->bwd_s - mm->bwd_s / 2);
        o->overlapped = true;
    }
}

/* A norm: reads x, writes y; backward reads x and dy, writes dx.  Keeps its
 * input [K22: "LayerNorm input 2sbh"]. */
static void norm(opbuf *b, const char *name, double tokens)
{
    double h = (double)b->c->model->hidden, A = b->c->wl->act_bytes;
    memop(b, name, 2 * tokens * h * A, 3 * tokens * h * A, tokens * h * A);
}

/* A norm over `width` elements per token (MLA's latent RMSNorms). */
static void norm_width(opbuf *b, const char *name, double tokens, double width)
{
    double A = b->c->wl->act_bytes;
    memop(b, name, 2 * tokens * width * A, 3 * tokens * width * A, tokens * width * A);
}

/* Residual add, with dropout when the model has it (1-byte mask [K22]). */
static void residual(opbuf *b, const char *name, double tokens)
{
    double h = (double)b->c->model->hidden, A = b->c->wl->act_bytes;
    bool drop = b->c->model->dropout;
    memop(b, name, 3 * tokens * h * A + (drop ? tokens * h : 0), 2 * tokens * h * A, drop ? tokens * h : 0);
}

/* A dense MLP (also shared experts): fc1 (gated: gate and up, 2f wide),
 * activation, fc2, TP-sharded by columns then rows [K22 4.2.2].  Saved:
 * fc1 input (unless shared with the router), activation input, fc2 input. */
static void mlp(opbuf *b, const char *prefix_fc1, const char *act, const char *fc2, double width, bool save_input)
{
    const mp_cost_ctx *c = b->c;
    const mp_layout *l = &c->lay;
    double h = (double)c->model->hidden, A = c->wl->act_bytes, t = l->tp;
    double T = (double)l->micro_batch * c->seq_len / l->cp;
    double Tsp = l->sequence_parallel ? T / t : T;
    double g = c->model->gated_mlp ? 2.0 : 1.0;
    double fl = width / t;
    mp_op *enter = tp_enter(b, "tp-gather-mlp", T * h * A);
    tp_enter_overlap(enter, matmul(b, prefix_fc1, T, h, g * fl, 1, save_input ? Tsp * h * A : 0));
    memop(b, act, T * (g + 1) * fl * A, T * (g + g + 1) * fl * A, T * g * fl * A);
    matmul(b, fc2, T, fl, h, 1, T * fl * A);
    tp_exit(b, "tp-scatter-mlp", T * h * A);
}

/* Keys per query, averaged over the S queries of a packed causal sequence,
 * in the continuum convention that gives S/2 for full causal attention
 * (Megatron-LM's num_floating_point_operations counts S/2; PaLM's appendix B
 * would count S):
 *  - full:    (1/S) * sum_i i = S/2;
 *  - sliding window W (Mistral 7B, arXiv:2310.06825 section 2; gpt-oss):
 *             query i sees min(i, W) keys; for S > W,
 *             (1/S) * (W^2/2 + (S - W) W) = W - W^2 / (2S);
 *  - chunks of C (Llama 4's chunked attention, HF modeling_llama4
 *             attention_chunk_size): causal inside each chunk; S = qC + r,
 *             (1/S) * (q C^2/2 + r^2/2).
 * Both local forms equal S/2 when S <= W. */
double mp_cost_mean_keys(const mp_model *m, bool local, double S)
{
    double W = (double)m->window;
    if (!local || m->window_kind == MP_WINDOW_NONE || W <= 0 || S <= W)
        return S / 2.0;
    if (m->window_kind == MP_WINDOW_SLIDING)
        return W - W * W / (2.0 * S);
    double q = floor(S / W), r = S - q * W;
    return (q * W * W / 2.0 + r * r / 2.0) / S;
}

static void block_attention(opbuf *b, bool local)
{
    const mp_cost_ctx *c = b->c;
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    double h = (double)m->hidden, A = c->wl->act_bytes, t = l->tp;
    double S = (double)c->seq_len;
    double T = (double)l->micro_batch * S / l->cp;
    double Tsp = l->sequence_parallel ? T / t : T;
    double a = (double)m->num_heads / t;           /* heads on this GPU */
    double dqk = (double)mp_model_qk_head_dim(m);
    double dv = m->attn == MP_ATTN_MLA ? (double)m->v_head_dim : (double)m->head_dim;
    double qw = (double)mp_model_q_width(m) / t, kw = (double)mp_model_k_width(m) / t;
    double vw = (double)mp_model_v_width(m) / t;
    double qkv_in_saved = Tsp * h * A;              /* [K22] QKV input 2sbh, /t with SP */

    norm(b, "input-norm", Tsp);
    /* layernorm recompute: the norm's output, the first GEMM's saved input,
     * is dropped and the norm re-run (CheckpointWithoutOutput). */
    size_t after_norm = b->n;
    rc_tag(b, after_norm - 1, MP_RC_LAYERNORM, 0);
    if (m->attn == MP_ATTN_MLA && m->q_lora_rank > 0) {
        /* MLA [DeepSeek-V2 eq. 9-13] as Megatron-Core runs it: the
         * down-projections (replicated weights) and their RMSNorms work on
         * this rank's tokens -- the sequence shard with SP -- and only the
         * compressed latents are gathered over TP for the column-parallel
         * up-projections, whose inputs are kept as shards. */
        double ql = (double)m->q_lora_rank, kvl = (double)m->kv_lora_rank, rope = (double)m->qk_rope_head_dim;
        double Tin = l->sequence_parallel ? Tsp : T;
        mp_op *f = NULL;
        if (l->tp > 1 && !l->sequence_parallel) /* replicated input: the `f` operator */
            f = comm(b, "tp-input-grad", MP_GROUP_TP, l->tp, 1, MP_COLL_NONE, 0, MP_COLL_ALLREDUCE, T * h * A);
        matmul(b, "q-down", Tin, h, ql, 1, Tin * h * A);
        mp_op *kd = matmul(b, "kv-down", Tin, h, kvl + rope, 1, 0); /* same input as q-down */
        tp_enter_overlap(f, kd);
        norm_width(b, "latent-norms", Tin, ql + kvl);
        if (l->tp > 1 && l->sequence_parallel)
            comm(b, "tp-gather-latents", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLGATHER, T * (ql + kvl + rope) * A,
                 MP_COLL_REDUCESCATTER, T * (ql + kvl + rope) * A);
        size_t up = b->n;
        matmul(b, "q-up", T, ql, qw, 1, Tin * ql * A);
        matmul(b, "kv-up", T, kvl, a * ((double)m->qk_nope_head_dim + dv), 1, Tin * kvl * A);
        rc_tag(b, up, MP_RC_MLA_UP_PROJ, 0); /* re-run from the kept latents */
    } else if (m->attn == MP_ATTN_MLA) {
        /* MLA without a Q compression (DeepSeek-V2-Lite): Q is projected
         * from the full hidden state, so that is gathered as for GQA. */
        double kvl = (double)m->kv_lora_rank, rope = (double)m->qk_rope_head_dim;
        mp_op *enter = tp_enter(b, "tp-gather-attn", T * h * A);
        tp_enter_overlap(enter, matmul(b, "q-proj", T, h, qw, 1, qkv_in_saved));
        matmul(b, "kv-down", T, h, kvl + rope, 1, 0); /* same input as q-proj */
        norm_width(b, "latent-norms", T, kvl);
        size_t up = b->n;
        matmul(b, "kv-up", T, kvl, a * ((double)m->qk_nope_head_dim + dv), 1, T * kvl * A);
        rc_tag(b, up, MP_RC_MLA_UP_PROJ, 0);
    } else {
        mp_op *enter = tp_enter(b, "tp-gather-attn", T * h * A);
        tp_enter_overlap(enter, matmul(b, "qkv-proj", T, h, qw + kw + vw, 1, qkv_in_saved));
    }
    mp_op *after = first_matmul(b, after_norm);
    if (after)
        after->rc_drop |= MP_RC_LAYERNORM;
    /* RoPE on Q and K (Megatron-Core transformer/attention.py,
     * Attention.forward, apply_rotary_pos_emb on query and key; MLA:
     * multi_latent_attention.py on the rope parts, q_pos_emb of
     * heads x qk_rope_head_dim and the one shared k_pos_emb of
     * qk_rope_head_dim; at d98e8a64ddf3).  Fused by default (--no-rope-fusion
     * turns it off, megatron/training/arguments.py): one kernel each for Q
     * and K, each reading and writing its tensor, and the same on the
     * gradients backward; it saves only the frequencies.  Bytes: forward
     * 2 T (q + k) A, backward the same.  Every model without learned
     * positions is taken to use RoPE (model.h keeps no flag apart for
     * `position_embedding: none`). */
    if (m->learned_positions == 0) {
        double rw = m->attn == MP_ATTN_MLA ? (a + 1) * (double)m->qk_rope_head_dim : qw + kw;
        memop_k(b, "rope", 2 * T * rw * A, 2 * T * rw * A, 0, 2, 2);
    }
    /* Attention core.  Causal: each query attends on average to S/2 keys
     * (mp_cost_mean_keys; fewer in a local layer); with load-balanced
     * context parallelism each CP rank's T queries still see that many keys
     * on average [Megatron-Core CP].  FLOPs: QK^T and PV,
     * 2 * T * a * (dqk + dv) * keys; flash kernels skip the tiles outside
     * the window or chunk (FlashAttention-2's window_size), so the kernel
     * does the same work.  Saved: Q, K, V [K22 "4sbh + 2sbh"]; a flash
     * kernel saves nothing that grows with the window. */
    mp_op *o = push(b, "attention-core", MP_OP_ATTENTION);
    double keys = mp_cost_mean_keys(m, local, S);
    double unfused_fwd_s = 0, unfused_bwd_s = 0;
    o->fwd_flops = 2.0 * T * a * (dqk + dv) * keys;
    o->bwd_model_flops = 2.0 * o->fwd_flops;
    o->saved_bytes = T * (qw + kw + vw) * A;
    double io = T * (qw + kw + vw + a * dv) * A;
    if (c->wl->flash_attention) {
        /* FlashAttention-2 (Dao 2023, section 3.1): backward recomputes the
         * scores, 2.5x the forward FLOPs; saves only the fp32 log-sum-exp
         * per head and token [D22]. */
        o->bwd_flops = 2.5 * o->fwd_flops;
        o->fwd_hbm_bytes = io;
        o->bwd_hbm_bytes = 2 * io;
        o->sel_dropped_bytes = T * a * 4;
    } else {
        /* Unfused: scores written, softmax read/written, probabilities read
         * by PV.  Saved [K22]: softmax output 2 a s^2 b, and with dropout
         * its mask a s^2 b and output 2 a s^2 b -- 5 a s^2 b in all.  The
         * unfused path materialises every query's full row of S scores and
         * masks it, so a sliding window saves nothing there; chunked
         * attention runs as a batch of S/C sequences of C tokens (the
         * sequence reshaped into chunks), so each query has C scores. */
        double row = S;
        if (local && m->window_kind == MP_WINDOW_CHUNKED && m->window > 0 && (double)m->window < S)
            row = (double)m->window;
        double sq = (double)l->micro_batch * a * (S / l->cp) * row;
        o->fwd_hbm_bytes = io + 4 * sq * A;
        o->bwd_hbm_bytes = 2 * io + 6 * sq * A;
        o->sel_dropped_bytes = sq * A + (m->dropout ? sq * (1 + A) : 0);
        /* As it runs (Megatron's CoreAttention): QK^T and PV are batched
         * GEMMs over this GPU's b a/t heads that compute every score of the
         * row -- the causal mask is applied afterwards, so the hardware does
         * `row` keys per query, twice the causal S/2 of the model FLOPs --
         * and the scale, mask, softmax and dropout are memory-bound passes
         * over the scores, kernels of their own: the time is the sum, not a
         * roofline maximum.  Backward: both GEMMs' data and weight
         * gradients, and the softmax/dropout backward passes. */
        double nb = (double)l->micro_batch * a, qn = S / l->cp;
        o->fwd_flops = 2.0 * nb * qn * row * (dqk + dv);
        o->bwd_flops = 2.0 * o->fwd_flops;
        int heads = (int)nb > 0 ? (int)nb : 1;
        unfused_fwd_s = mp_eff_matmul_s(c->hw, qn, row, dqk, heads, 0) + mp_eff_matmul_s(c->hw, qn, dv, row, heads, 0) +
                        mp_eff_memory_s(c->hw, o->fwd_hbm_bytes, 3);
        unfused_bwd_s = mp_eff_matmul_bwd_s(c->hw, qn, row, dqk, heads, 0) +
                        mp_eff_matmul_bwd_s(c->hw, qn, dv, row, heads, 0) + mp_eff_memory_s(c->hw, o->bwd_hbm_bytes, 3);
    }
    /* Selective recompute [K22 section 5] re-runs the core from Q, K, V,
     * which stay saved; only the core's own tensors are dropped. */
    o->saved_bytes += o->sel_dropped_bytes;
    o->selective = true;
    o->rc_rerun |= MP_RC_CORE_ATTN;
    o->rc_part_mask[0] = MP_RC_CORE_ATTN;
    o->rc_part_bytes[0] = o->sel_dropped_bytes;
    if (m->attn == MP_ATTN_MLA) {
        /* mla_up_proj: the per-head Q, K, V (the up-projections' outputs)
         * are dropped and rebuilt from the latents in backward. */
        o->rc_part_mask[1] = MP_RC_MLA_UP_PROJ;
        o->rc_part_bytes[1] = T * (qw + kw + vw) * A;
    }
    /* Fused attention kernels reach their own fraction of peak (FlashAttention-2
     * reports 50-73% on A100, less for head_dim 64): hardware key
     * attention_efficiency, by default the GEMM mfu. */
    if (c->wl->flash_attention) {
        o->fwd_s = mp_eff_attention_s(c->hw, o->fwd_flops, dqk, false, o->fwd_hbm_bytes);
        o->bwd_s = mp_eff_attention_s(c->hw, o->bwd_flops, dqk, true, o->bwd_hbm_bytes);
    } else {
        o->fwd_s = unfused_fwd_s;
        o->bwd_s = unfused_bwd_s;
    }
    double core_fwd = o->fwd_s, core_bwd = o->bwd_s;
    if (l->cp > 1) {
        /* Ring attention: each rank passes its K, V chunk around the CP ring,
         * cp-1 hops; backward sends K, V and their gradients.  Overlapped
         * with the attention kernels (Megatron-Core/TE), so only the excess
         * over the kernel time is exposed.  A local layer is priced with the
         * whole ring too: TE's ring does not skip the hops a window makes
         * unnecessary, so this errs on the slow side for windows < S/cp. */
        double kv = T * (kw + vw) * A;
        mp_op *x = comm(b, "cp-ring-kv", MP_GROUP_CP, l->cp, l->tp, MP_COLL_SENDRECV, (l->cp - 1) * kv,
                        MP_COLL_SENDRECV, 2.0 * (l->cp - 1) * kv);
        x->overlapped = true;
        x->transient_bytes = 2 * kv;
        x->fwd_s = fmax(0, x->fwd_s - core_fwd);
        x->bwd_s = fmax(0, x->bwd_s - core_bwd);
    }
    matmul(b, "out-proj", T, a * dv, h, 1, T * a * dv * A);
    tp_exit(b, "tp-scatter-attn", T * h * A);
    residual(b, "attn-residual", Tsp);
}

static void block_moe(opbuf *b)
{
    const mp_cost_ctx *c = b->c;
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    double h = (double)m->hidden, A = w->act_bytes, t = l->tp;
    double T = (double)l->micro_batch * c->seq_len / l->cp;
    double Tsp = l->sequence_parallel ? T / t : T;
    double E = (double)m->num_experts, k = (double)m->top_k;
    double lam = c->expert_load;
    double g = m->gated_mlp ? 2.0 : 1.0;
    double fe = (double)m->expert_hidden / l->etp;
    bool dropless = w->capacity_factor <= 0; /* else padded to capacity (--moe-pad-expert-input-to-capacity) */
    /* Routing probabilities are in the router logits' dtype: the gating
     * runs in the input dtype unless --moe-router-dtype says otherwise
     * (router.py, Router.gating), and the top-k probabilities are cast back
     * to it (moe_utils.py, topk_routing_with_score_function:
     * probs.type_as(logits)); moeplan emits no --moe-router-dtype. */
    double pb = A;

    norm(b, "pre-mlp-norm", Tsp);
    rc_tag(b, b->n - 1, MP_RC_LAYERNORM, 0);
    /* moe recompute: the whole layer from the router on is re-run in
     * backward (its all-to-alls too), keeping only its input, the router's. */
    size_t moe_from = b->n;
    /* Router: logits Tsp x E, replicated weights; softmax in fp32, whose
     * output is kept for the backward of the gate [Megatron-Core router]. */
    mp_op *router = matmul(b, "router", Tsp, h, E, 1, Tsp * h * A);
    router->rc_drop |= MP_RC_LAYERNORM;
    memop(b, "router-softmax-topk", Tsp * E * 8, Tsp * E * 12, Tsp * E * 4 + Tsp * k * 12);
    /* The load-balancing loss moeplan emits (--moe-router-load-balancing-type
     * aux_loss --moe-aux-loss-coeff 1e-2; router.py, TopKRouter.routing and
     * _apply_aux_loss at d98e8a64ddf3): compute_routing_scores_for_aux_loss
     * takes a second softmax of the logits in fp32 (read A, write the scores
     * 4 and the top-k routing map 1 per element), the Switch loss
     * (switch_load_balancing_loss_func) reads the scores again (4): forward
     * Tsp E (A + 9); the scores are saved for its backward (Tsp E 4).
     * Backward: the loss gradient is written (4), the softmax backward reads
     * it and the scores and writes the logits' gradient (4 + 4 + A), and
     * autograd adds that to the gate's own logits gradient (2A read, A
     * written): Tsp E (12 + 4A). */
    memop(b, "router-aux-loss", Tsp * E * (A + 9), Tsp * E * (12 + 4 * A), Tsp * E * 4);
    /* The loss needs the global tokens per expert: an all-reduce of the E
     * int64 counts over the tp x cp group
     * (moe_utils.py, get_tokens_per_expert_and_token_count:
     * reduce_from_tensor_model_parallel_region(..., tp_cp_group)), forward
     * only (integers, no gradient).  TP x CP ranks are adjacent (tp < cp). */
    if (l->tp * l->cp > 1)
        comm(b, "tp-cp-aux-counts", MP_GROUP_TP_CP, l->tp * l->cp, 1, MP_COLL_ALLREDUCE, E * 8, MP_COLL_NONE, 0);
    /* Dispatch [L25]: each token is copied top_k times, sent over EP, then
     * gathered over ETP; the busiest GPU holds lam * Tsp * k * etp copies
     * for its E/ep experts.  With balanced routing this equals
     * b*S*k*etp/(tp*cp): the expert FLOPs per GPU are the total / GPUs. */
    double sent = Tsp * k * h * A;
    double Ne = lam * Tsp * k * l->etp;
    int local = (int)(E / l->ep);
    int ep_stride = l->etp; /* EP ranks are etp apart (etp < ep < edp) */
    /* Dropless, the alltoall dispatcher's preprocess (token_dispatcher.py,
     * MoEAlltoAllTokenDispatcher.preprocess at d98e8a64ddf3) all-gathers
     * each rank's E int64 token counts over the tp_ep group (etp x ep
     * adjacent ranks): gather_from_sequence_parallel_region, a gathered
     * buffer of etp ep E 8 bytes, forward only (integers).  Padded to
     * capacity the counts are fixed and the gather is skipped. */
    if (dropless && l->etp * l->ep > 1)
        comm(b, "ep-count-gather", MP_GROUP_ETP_EP, l->etp * l->ep, 1, MP_COLL_ALLGATHER,
             (double)l->etp * l->ep * E * 8, MP_COLL_NONE, 0);
    /* ... then copies the counts to the host and waits for them before the
     * EP all-to-all (or before the experts when ep = etp = 1):
     * _maybe_dtoh_and_synchronize, d2h_event.synchronize(), forward only
     * (the backward reuses the host splits); skipped when padded to
     * capacity.  The GPU's queue drains: a stall of the hardware file's
     * moe_host_sync (hardware.c cites its default), counted with EP. */
    if (dropless) {
        mp_op *x = comm(b, "ep-host-sync", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_NONE, 0, MP_COLL_NONE, 0);
        x->fwd_s = c->hw->moe_host_sync_s;
    }
    memop(b, "permute", Tsp * h * A + sent, Tsp * h * A + sent, 0)->transient_bytes = sent;
    if (l->ep > 1) {
        mp_op *x = comm(b, "ep-dispatch", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_ALLTOALL, lam * sent,
                        MP_COLL_ALLTOALL, lam * sent);
        x->expert = true;
        x->transient_bytes = 2 * lam * sent;
        /* The probabilities travel in a second all-to-all with the same
         * splits (token_dispatcher.py, token_dispatch: all_to_all of
         * permuted_probs), Tsp k pb bytes; backward their gradient. */
        x = comm(b, "ep-dispatch-probs", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_ALLTOALL, lam * Tsp * k * pb,
                 MP_COLL_ALLTOALL, lam * Tsp * k * pb);
        x->expert = true;
    }
    if (l->etp > 1) {
        mp_op *x = comm(b, "etp-gather", MP_GROUP_ETP, l->etp, 1, MP_COLL_ALLGATHER, Ne * h * A,
                        MP_COLL_REDUCESCATTER, Ne * h * A);
        x->expert = true;
        /* dispatch_postprocess gathers the probabilities over ETP too. */
        x = comm(b, "etp-gather-probs", MP_GROUP_ETP, l->etp, 1, MP_COLL_ALLGATHER, Ne * pb, MP_COLL_REDUCESCATTER,
                 Ne * pb);
        x->expert = true;
    }
    /* Permutation 2 (token_dispatcher.py, dispatch_postprocess and
     * combine_preprocess): with more than one local expert the received
     * tokens arrive grouped by source rank and are sorted by local expert
     * (sort_chunks_by_idxs, tokens and probabilities; padded to capacity a
     * .transpose().contiguous(), also a copy), and sorted back before the
     * combine.  Each reads and writes its tensor, forward, and the
     * inverse copy of the gradient backward: 2 Ne h A (+ 2 Ne pb for the
     * probabilities); the sorted copy is a transient of Ne h A. */
    if (local > 1) {
        mp_op *x = memop(b, "sort-chunks", 2 * Ne * (h * A + pb), 2 * Ne * (h * A + pb), 0);
        x->expert = true;
        x->transient_bytes = Ne * h * A;
    }
    mp_op *o = matmul(b, "expert-fc1", Ne / local, h, g * fe, local, Ne * h * A);
    o->expert = true;
    /* The experts' backward holds at once the gradient arriving at fc2's
     * output, Ne h A, the gradient of fc1's output, Ne g fe A, and fc1's
     * data gradient, Ne h A (the 2026-12-01 review, N12: dropless shapes
     * vary per step, so the caching allocator rarely reuses the first
     * before the last is allocated): 2 Ne h A + Ne g fe A. */
    o->transient_bytes = 2 * Ne * h * A + Ne * g * fe * A;
    if (m->gated_mlp) {
        /* Gated experts: the fused weighted SwiGLU (experts.py, TEGroupedMLP,
         * weighted_bias_swiglu_impl; fusions/fused_bias_swiglu.py) applies
         * the probabilities inside the activation, which keeps its input and
         * the probability per copy. */
        o = memop(b, "expert-act", Ne * (g + 1) * fe * A, Ne * (2 * g + 1) * fe * A, Ne * g * fe * A + Ne * pb);
        o->expert = true;
        o->rc_rerun |= MP_RC_MOE_ACT;
    } else {
        /* Non-gated (GELU) experts: bias_gelu_fusion is off without a bias
         * (megatron/training/arguments.py), so TEGroupedMLP (experts.py,
         * bias_act_func at d98e8a64ddf3) runs gelu(x), then x * probs, then
         * .to(dtype) (a no-op: probabilities in the activation dtype), as
         * separate autograd ops.  GELU keeps its input (Ne fe A); the product
         * keeps the GELU output (Ne fe A) and the probabilities (Ne pb).
         * Product: forward reads the GELU output and the probabilities,
         * writes the product, 2 Ne fe A + Ne pb; backward reads the incoming
         * gradient twice (for each operand), the GELU output and the
         * probabilities, writes both gradients: 4 Ne fe A + 2 Ne pb. */
        o = memop(b, "expert-act", 2 * Ne * fe * A, 3 * Ne * fe * A, Ne * fe * A);
        o->expert = true;
        o->rc_rerun |= MP_RC_MOE_ACT;
        o = memop(b, "expert-probs-mul", 2 * Ne * fe * A + Ne * pb, 4 * Ne * fe * A + 2 * Ne * pb,
                  Ne * fe * A + Ne * pb);
        o->expert = true;
        /* moe_act: the product is re-run and its saved GELU output freed
         * (recomputed from the GELU's kept input). */
        o->rc_rerun |= MP_RC_MOE_ACT;
        o->rc_drop |= MP_RC_MOE_ACT;
    }
    o = matmul(b, "expert-fc2", Ne / local, fe, h, local, Ne * fe * A);
    o->expert = true;
    /* moe_act: the activation's output, fc2's saved input, is dropped and
     * the activation re-run from its kept input (fc1's output). */
    o->rc_drop |= MP_RC_MOE_ACT;
    if (local > 1) {
        mp_op *x = memop(b, "unsort-chunks", 2 * Ne * h * A, 2 * Ne * h * A, 0);
        x->expert = true;
        x->transient_bytes = Ne * h * A;
    }
    if (l->etp > 1) {
        mp_op *x = comm(b, "etp-scatter", MP_GROUP_ETP, l->etp, 1, MP_COLL_REDUCESCATTER, Ne * h * A,
                        MP_COLL_ALLGATHER, Ne * h * A);
        x->expert = true;
    }
    if (l->ep > 1) {
        mp_op *x = comm(b, "ep-combine", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_ALLTOALL, lam * sent,
                        MP_COLL_ALLTOALL, lam * sent);
        x->expert = true;
        x->transient_bytes = 2 * lam * sent;
    }
    /* Combine: the outputs, already weighted, are scatter-added back to
     * their tokens; only the int32 row map is kept (older Megatron-Core
     * weighted here and kept the k expert outputs instead). */
    memop(b, "unpermute", sent + Tsp * h * A, 2 * sent + Tsp * h * A, Tsp * k * 4);
    if (m->num_shared_experts > 0) {
        size_t sh = b->n;
        mlp(b, "shared-fc1", "shared-act", "shared-fc2", (double)m->num_shared_experts * m->shared_expert_hidden,
            false);
        rc_tag(b, sh, MP_RC_SHARED_EXPERTS, MP_RC_SHARED_EXPERTS); /* its input is the router's, kept */
    }
    rc_tag(b, moe_from, MP_RC_MOE, MP_RC_MOE);
    if (b->ops)
        router->rc_drop &= ~(unsigned)MP_RC_MOE; /* the checkpoint's input */
    residual(b, "mlp-residual", Tsp);
}

static void block_dense(opbuf *b)
{
    const mp_layout *l = &b->c->lay;
    double T = (double)l->micro_batch * b->c->seq_len / l->cp;
    double Tsp = l->sequence_parallel ? T / l->tp : T;
    norm(b, "pre-mlp-norm", Tsp);
    rc_tag(b, b->n - 1, MP_RC_LAYERNORM, 0);
    size_t from = b->n;
    mlp(b, "fc1", "activation", "fc2", (double)b->c->model->ffn_hidden, true);
    /* mlp recompute: the MLP re-run in backward from its input, which fc1
     * keeps (the checkpoint's input); layernorm recompute drops that. */
    rc_tag(b, from, MP_RC_MLP, MP_RC_MLP);
    mp_op *fc1 = first_matmul(b, from);
    if (fc1) {
        fc1->rc_drop &= ~(unsigned)MP_RC_MLP;
        fc1->rc_drop |= MP_RC_LAYERNORM;
    }
    residual(b, "mlp-residual", Tsp);
}

static void block_embed(opbuf *b)
{
    const mp_cost_ctx *c = b->c;
    const mp_layout *l = &c->lay;
    double h = (double)c->model->hidden, A = c->wl->act_bytes;
    double T = (double)l->micro_batch * c->seq_len / l->cp;
    double Tsp = l->sequence_parallel ? T / l->tp : T;
    /* Vocab-parallel lookup: each TP rank fills the rows it owns and the
     * partial results are summed (all-reduce, or reduce-scatter with SP).
     * Saved: the int64 token ids (Megatron's "8sbp" term) and, with
     * dropout, a 1-byte mask. */
    memop(b, "embedding-lookup", T * h * (A + c->wl->weight_bytes), T * h * A + T * 8,
          T * 8 + (c->model->dropout ? Tsp * h : 0));
    /* The reduction's backward (tensor_parallel/mappings.py): with SP,
     * reduce_scatter_to_sequence_parallel_region's backward is an
     * all-gather of the T h gradient; without SP,
     * reduce_from_tensor_model_parallel_region's is the identity. */
    if (l->tp > 1) {
        if (l->sequence_parallel)
            comm(b, "tp-embedding", MP_GROUP_TP, l->tp, 1, MP_COLL_REDUCESCATTER, T * h * A, MP_COLL_ALLGATHER,
                 T * h * A);
        else
            comm(b, "tp-embedding", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * h * A, MP_COLL_NONE, 0);
    }
    /* The weight gradient (tensor_parallel/layers.py, VocabParallelEmbedding:
     * F.embedding's backward, embedding_dense_backward): a dense V/t x h
     * gradient in the weight dtype, zero-filled (write W) and scattered into
     * (the T rows are counted above), then accumulated by the parameter's
     * hook into the fp32 main gradient (distributed/
     * distributed_data_parallel.py, _make_backward_post_hook: main_grad.add_
     * -- read W, read and write the gradient bytes):
     * backward V/t h (2 W + 2 grad_bytes) in 2 kernels. */
    double Vt = (double)c->model->vocab / l->tp, W = c->wl->weight_bytes;
    memop_k(b, "embedding-grad", 0, Vt * h * (2 * W + 2 * c->wl->grad_bytes), 0, 1, 2);
}

static void block_head(opbuf *b)
{
    const mp_cost_ctx *c = b->c;
    const mp_layout *l = &c->lay;
    double h = (double)c->model->hidden, A = c->wl->act_bytes;
    double T = (double)l->micro_batch * c->seq_len / l->cp;
    double Tsp = l->sequence_parallel ? T / l->tp : T;
    double V = (double)c->model->vocab / l->tp;
    norm(b, "final-norm", Tsp);
    mp_op *enter = tp_enter(b, "tp-gather-head", T * h * A);
    tp_enter_overlap(enter, matmul(b, "lm-head", T, h, V, 1, Tsp * h * A));
    /* Vocab-parallel cross-entropy as Megatron-Core runs it, unfused
     * (tensor_parallel/cross_entropy.py, _VocabParallelCrossEntropy) or with
     * --cross-entropy-loss-fusion's native impl (fusions/
     * fused_cross_entropy.py), which run the same steps:
     *  - forward: `logits.float()` makes an fp32 copy (4 B/element) of the
     *    16-bit logits (A B); max, exp and the division by the sum work in
     *    place on that copy, which becomes the softmax saved for backward
     *    (ctx.save_for_backward(exp_logits, ...): Megatron's 4sbV/t term).
     *    Nothing else holds the 16-bit logits -- the output layer saves its
     *    input, and .float() saves nothing -- so they die when the forward
     *    returns;
     *  - backward: the gradient is written in place into the saved softmax,
     *    then cast to 16 bits (fused: .to(bfloat16); unfused: autograd's
     *    cast backward): a new A-byte tensor beside the 4-byte one.
     * So the peak is 4 + A bytes per element in both passes, of which the 4
     * are the saved softmax, already counted in activations: the transient
     * beyond it is the A-byte logits (or their gradient), not A + 4.
     * (Transformer Engine's parallel_cross_entropy, --cross-entropy-fusion-
     * impl te, saves the 16-bit logits and writes the gradient into them: A
     * bytes saved and no transient; not modelled.) */
    /* HBM passes, unfused (VocabParallelCrossEntropy at d98e8a64ddf3; the
     * fused path is not emitted: see search.c), per element of the T V/t
     * logits:
     *  forward   calculate_logits_max: .float() reads A, writes 4;
     *            torch.max reads 4;
     *            calculate_predicted_logits: in-place subtract of the max
     *            reads and writes 4 (8); torch.exp(out=) reads and writes 4
     *            (8); .sum reads 4;
     *            calculate_cross_entropy_loss: div_ reads and writes 4 (8)
     *            -> A + 36 bytes in 6 kernels;
     *  backward  calculate_gradients: grad_input.mul_ reads and writes 4 (8)
     *            (the target-column update touches T elements only);
     *            .float()'s backward casts to 16 bits: reads 4, writes A
     *            -> 12 + A bytes in 2 kernels. */
    memop_k(b, "cross-entropy", T * V * (A + 36), T * V * (12 + A), T * V * 4, 6, 2)->transient_bytes = T * V * A;
    /* Three all-reduces over TP, T fp32 each (the unfused forward, separate
     * calls): the max (ReduceOp.MAX), the predicted logits and the sum of
     * the exponentials. */
    if (l->tp > 1) {
        comm(b, "tp-loss-max", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * 4, MP_COLL_NONE, 0);
        comm(b, "tp-loss-target", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * 4, MP_COLL_NONE, 0);
        comm(b, "tp-loss-sum", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * 4, MP_COLL_NONE, 0);
    }
}

size_t mp_cost_block_ops(const mp_cost_ctx *c, mp_block blk, mp_op *ops)
{
    opbuf b = {c, ops, 0, 0, 0, true};
    switch (blk) {
    case MP_BLOCK_EMBED: block_embed(&b); break;
    case MP_BLOCK_ATTN: block_attention(&b, false); break;
    case MP_BLOCK_ATTN_LOCAL: block_attention(&b, true); break;
    case MP_BLOCK_DENSE_MLP: block_dense(&b); break;
    case MP_BLOCK_MOE_MLP: block_moe(&b); break;
    case MP_BLOCK_HEAD: block_head(&b); break;
    case MP_BLOCK_STEP: {
        double d, e;
        step_cost sc;
        stage_params(c, 0, &d, &e);
        block_step(&b, d, e, &sc);
        break;
    }
    case MP_BLOCK_COUNT: break;
    }
    return b.n;
}

bool mp_cost_block_present(const mp_cost_ctx *c, mp_block b)
{
    int L = c->model->num_layers;
    switch (b) {
    case MP_BLOCK_ATTN: return c->local_layers < L;
    case MP_BLOCK_ATTN_LOCAL: return c->local_layers > 0;
    case MP_BLOCK_DENSE_MLP: return c->moe_prefix[L] < L;
    case MP_BLOCK_MOE_MLP: return c->moe_prefix[L] > 0;
    case MP_BLOCK_EMBED:
    case MP_BLOCK_HEAD:
    case MP_BLOCK_STEP: return true;
    case MP_BLOCK_COUNT: break;
    }
    return false;
}

/* ------------------------------------------------------------ aggregation */



static mp_cat cat_of(const mp_op *o)
{
    return o->kind == MP_OP_COMM ? MP_CAT_COMM : o->kind == MP_OP_MEMORY ? MP_CAT_MEMORY : MP_CAT_COMPUTE;
}

static void sum_block(const mp_cost_ctx *c, mp_block blk, mp_block_sum *s)
{
    mp_op ops[MP_MAX_OPS];
    size_t n = mp_cost_block_ops(c, blk, ops);
    memset(s, 0, sizeof *s);
    unsigned rc_mods = c->lay.recompute_modules ? c->lay.recompute_modules : (unsigned)MP_RC_CORE_ATTN;
    for (size_t i = 0; i < n; i++) {
        const mp_op *o = &ops[i];
        mp_cat k = cat_of(o);
        s->fwd_s += o->fwd_s;
        s->bwd_s += o->bwd_s;
        s->cat_fwd[k] += o->fwd_s;
        s->cat_bwd[k] += o->bwd_s;
        /* Selective recomputation of the layout's modules (default the
         * attention core, Megatron-Core's default recompute_modules). */
        if (o->rc_rerun & rc_mods) {
            s->recompute_sel_s += o->fwd_s;
            s->cat_fwd_sel[k] += o->fwd_s;
            s->sel_hw_flops += o->fwd_flops;
        }
        double drop = (o->rc_drop & rc_mods) ? o->saved_bytes
                                             : ((o->rc_part_mask[0] & rc_mods) ? o->rc_part_bytes[0] : 0) +
                                                   ((o->rc_part_mask[1] & rc_mods) ? o->rc_part_bytes[1] : 0);
        s->saved_sel += o->saved_bytes - fmin(drop, o->saved_bytes);
        s->saved += o->saved_bytes;
        if (o->transient_bytes > s->transient)
            s->transient = o->transient_bytes;
        if (o->group == MP_GROUP_TP || o->group == MP_GROUP_TP_CP) {
            s->tp_s += o->fwd_s + o->bwd_s;
            s->tp_fwd_s += o->fwd_s;
        }
        if (o->group == MP_GROUP_EP || o->group == MP_GROUP_ETP || o->group == MP_GROUP_ETP_EP) {
            s->ep_s += o->fwd_s + o->bwd_s;
            s->ep_fwd_s += o->fwd_s;
        }
        if (o->group == MP_GROUP_CP) {
            s->cp_s += o->fwd_s + o->bwd_s;
            s->cp_fwd_s += o->fwd_s;
        }
        double lam = o->expert ? c->expert_load : 1.0;
        s->fwd_model_flops += o->fwd_flops / lam;
        s->bwd_model_flops += o->bwd_model_flops / lam;
        s->fwd_hw_flops += o->fwd_flops / lam;
        s->bwd_hw_flops += o->bwd_flops / lam;
    }
    s->recompute_full_s = s->fwd_s;
}

/* Layers [first, first+count) counted by class. */
static void count_layers(const mp_cost_ctx *c, int first, int count, int n[MP_LAYER_CLASSES])
{
    int end = first + count;
    if (end > c->model->num_layers)
        end = c->model->num_layers;
    for (int k = 0; k < MP_LAYER_CLASSES; k++)
        n[k] = c->cls_prefix[k][end] - c->cls_prefix[k][first];
}

static int count_moe(const int n[MP_LAYER_CLASSES]) { return n[MP_LAYER_MOE] + n[MP_LAYER_LOCAL_MOE]; }
static int count_all(const int n[MP_LAYER_CLASSES]) { return n[0] + n[1] + n[2] + n[3]; }

/* Parameters held by a GPU of pipeline rank `r` (all its chunks).  Sharding
 * follows Megatron-Core: attention and dense/shared MLP matrices split by tp,
 * routed experts by ep (whole experts) and etp (within an expert), norms,
 * router and MLA down-projections replicated; embedding split by tp on the
 * first stage, the output layer on the last (tied weights keep a copy there
 * when pp > 1). */
/* Layers of each class held by pipeline rank r over its vpp chunks
 * (chunk k*pp + r of pp*vpp equal chunks). */
static void rank_layers(const mp_cost_ctx *c, int r, int n[MP_LAYER_CLASSES])
{
    const mp_layout *l = &c->lay;
    int L = c->model->num_layers, n_moe = c->moe_prefix[L];
    if (!mp_layout_uneven(l) && c->local_layers == 0 && (n_moe == 0 || n_moe == L)) { /* one kind, even split */
        int per_rank = L / (l->pp * l->vpp) * l->vpp;
        memset(n, 0, MP_LAYER_CLASSES * sizeof n[0]);
        n[n_moe ? MP_LAYER_MOE : MP_LAYER_DENSE] = per_rank;
        return;
    }
    memset(n, 0, MP_LAYER_CLASSES * sizeof n[0]);
    for (int k = 0; k < l->vpp; k++) {
        int first, count, nk[MP_LAYER_CLASSES];
        mp_layout_chunk(l, L, r, k, &first, &count);
        count_layers(c, first, count, nk);
        for (int q = 0; q < MP_LAYER_CLASSES; q++)
            n[q] += nk[q];
    }
}

void mp_cost_stage_params(const mp_cost_ctx *c, int r, mp_param_split *sp)
{
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    const mp_params *p = &c->params;
    double t = l->tp, h = (double)m->hidden;
    double nrm = (m->norm == MP_NORM_LAYER ? 2.0 : 1.0) * h;
    double att_repl = nrm;
    if (m->attn == MP_ATTN_MLA) {
        att_repl += h * (double)(m->kv_lora_rank + m->qk_rope_head_dim) + (double)m->kv_lora_rank;
        if (m->q_lora_rank > 0)
            att_repl += h * (double)m->q_lora_rank + (double)m->q_lora_rank;
    }
    if (m->out_bias)
        att_repl += h;
    double att = (p->attention - att_repl) / t + att_repl;
    double dmlp = (p->dense_mlp - nrm) / t + nrm;
    double moe_shared = (m->shared_expert_gate && m->num_shared_experts) ? (p->moe_shared - h) / t + h
                                                                        : p->moe_shared / t;
    double moe_common = moe_shared + p->moe_router + p->moe_norm;
    double moe_exp = p->moe_experts / ((double)l->ep * l->etp);
    int n[MP_LAYER_CLASSES];
    rank_layers(c, r, n);
    int nm = count_moe(n), nd = count_all(n) - nm;
    memset(sp, 0, sizeof *sp);
    sp->attention = (nd + nm) * att;
    sp->dense_mlp = nd * dmlp;
    sp->moe_common = nm * moe_common;
    sp->experts = nm * moe_exp;
    if (r == 0)
        sp->embedding = (double)m->vocab * h / t + (double)m->learned_positions * h;
    if (r == l->pp - 1) {
        sp->head = p->final_norm;
        if (!m->tied_embeddings || l->pp > 1)
            sp->head += (double)m->vocab * h / t;
    }
}

static void stage_params(const mp_cost_ctx *c, int r, double *dense, double *expert)
{
    mp_param_split sp;
    mp_cost_stage_params(c, r, &sp);
    *dense = sp.attention + sp.dense_mlp + sp.moe_common + sp.embedding + sp.head;
    *expert = sp.experts;
}

/* Micro-batches of each model chunk in flight on pipeline rank r at its
 * activation peak.
 *  - 1F1B [N21 section 2.2]: rank r runs min(p - r, m) forward passes before
 *    its first backward, and holds them all.
 *  - Interleaved 1F1B, as Megatron-LM schedules it (core/pipeline_parallel/
 *    schedules.py, forward_backward_pipelining_with_interleaving): rank r
 *    runs (p - r - 1) * 2 + (v - 1) * p warm-up chunk forwards (micro-batch
 *    groups of p, the default microbatch_group_size_per_vp_stage), then one
 *    more forward before its first backward, so N = (p-r-1)*2 + (v-1)*p + 1
 *    chunk forwards are held, at most the m*v of the whole step.  Forward
 *    pass j runs model chunk (j mod pv) / p, so of the N passes chunk k gets
 *    floor(N / pv) * p + clamp(N mod pv - k p, 0, p).
 * For r = 0 the N chunks of L/(pv) layers come to L (1 + (p-1)/(pv)) layers,
 * the interleaving penalty of [K22 section 4.2.3] and Megatron-LM's
 * theoretical memory; for the last rank the last chunk (the output layer's)
 * is in flight once.  The count is taken at the end of the warm-up; in the
 * steady state the mix of chunks shifts, not their number. */
double mp_cost_chunks_in_flight(const mp_layout *l, int r, double *inst)
{
    int p = l->pp, v = l->vpp;
    long mb = l->num_micro_batches;
    if (v <= 1) {
        inst[0] = fmin((double)(p - r), (double)mb);
        return inst[0];
    }
    long n = (long)(p - r - 1) * 2 + (long)(v - 1) * p + 1;
    if (n > mb * (long)v)
        n = mb * (long)v;
    long pv = (long)p * v, full = n / pv, rem = n % pv;
    for (int k = 0; k < v; k++) {
        long part = rem - (long)k * p;
        inst[k] = (double)(full * p + (part < 0 ? 0 : part > p ? p : part));
    }
    return (double)n;
}

static void stage_memory(const mp_cost_ctx *c, int r, const mp_block_sum *bs, mp_memory *mem)
{
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    const mp_hardware *hw = c->hw;
    memset(mem, 0, sizeof *mem);
    stage_params(c, r, &mem->params_dense, &mem->params_expert);
    mem->params = mem->params_dense + mem->params_expert;
    /* [R20]/Megatron: 16-bit weights, fp32 main gradients, fp32 master
     * weights and Adam moments; the distributed optimizer shards master and
     * moments over the data-parallel group (dp*cp ranks hold replicas of the
     * dense weights) and, for experts, over expert-DP. */
    mem->weights_bytes = mem->params * w->weight_bytes;
    mem->gradients_bytes = mem->params * w->grad_bytes;
    double ob = w->master_bytes + w->optim_state_bytes;
    double dshard = l->distributed_optimizer ? (double)l->dp * l->cp : 1.0;
    double eshard = l->distributed_optimizer ? (double)l->edp : 1.0;
    mem->optimizer_bytes = mem->params_dense * ob / dshard + mem->params_expert * ob / eshard;

    /* Activations held at peak by this pipeline rank: the saved
     * activations of each of its model chunks times the micro-batches of
     * that chunk in flight at the peak (mp_cost_chunks_in_flight).  The
     * embedding's and the output layer's activations belong to the first
     * and the last model chunk and are counted as often as those chunks are
     * in flight -- the output layer's once, since the last chunk's backward
     * follows its forward at once. */
    int p = l->pp, v = l->vpp;
    double inst[MP_MAX_LAYERS];
    double units = mp_cost_chunks_in_flight(l, r, inst);
    double h = (double)m->hidden, A = w->act_bytes;
    double T = (double)l->micro_batch * c->seq_len / l->cp;
    double Tsp = l->sequence_parallel ? T / l->tp : T;
    /* Saved bytes of one layer of each class, and the whole layer when it is
     * recomputed (full recompute keeps only each layer's input, [K22]
     * Table 2: 2sbh, /t with SP; the layer being recomputed is live once). */
    double layer_act[MP_LAYER_CLASSES], layer_full[MP_LAYER_CLASSES];
    for (int q = 0; q < MP_LAYER_CLASSES; q++) {
        if (c->cls_prefix[q][m->num_layers] == 0) {
            layer_act[q] = layer_full[q] = 0; /* no layer of this class */
            continue;
        }
        const mp_block_sum *at = &bs[(q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN];
        const mp_block_sum *ml = &bs[(q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP];
        layer_full[q] = at->saved + ml->saved;
        switch (l->recompute) {
        case MP_RECOMPUTE_FULL: layer_act[q] = Tsp * h * A; break;
        case MP_RECOMPUTE_SELECTIVE: layer_act[q] = at->saved_sel + ml->saved_sel; break;
        default: layer_act[q] = layer_full[q];
        }
    }
    double acts = 0, worst_layer_full = 0;
    int present[MP_LAYER_CLASSES] = {0};
    for (int k = 0; k < v; k++) {
        int chunk = k * p + r;
        int first, count, n[MP_LAYER_CLASSES];
        mp_layout_chunk(l, m->num_layers, r, k, &first, &count);
        double a = 0;
        if (c->single_class >= 0) { /* the search's common case: one kind of layer */
            int q = c->single_class;
            a = count * layer_act[q];
            present[q] += count;
            if (count && l->recompute == MP_RECOMPUTE_FULL)
                worst_layer_full = layer_full[q];
        } else {
            count_layers(c, first, count, n);
            for (int q = 0; q < MP_LAYER_CLASSES; q++) {
                a += n[q] * layer_act[q];
                present[q] += n[q];
                if (n[q] && l->recompute == MP_RECOMPUTE_FULL && layer_full[q] > worst_layer_full)
                    worst_layer_full = layer_full[q];
            }
        }
        if (chunk == 0)
            a += bs[MP_BLOCK_EMBED].saved;
        if (chunk == p * v - 1)
            a += bs[MP_BLOCK_HEAD].saved;
        acts += inst[k] * a;
    }
    mem->inflight_units = units;
    mem->activations_bytes = acts + worst_layer_full;
    bool any_dense = present[MP_LAYER_DENSE] + present[MP_LAYER_LOCAL_DENSE] > 0;
    bool any_moe = present[MP_LAYER_MOE] + present[MP_LAYER_LOCAL_MOE] > 0;
    bool any_global = present[MP_LAYER_DENSE] + present[MP_LAYER_MOE] > 0;
    bool any_local = present[MP_LAYER_LOCAL_DENSE] + present[MP_LAYER_LOCAL_MOE] > 0;

    double transient = 0;
    for (int i = 0; i < MP_BLOCK_STEP; i++) { /* the step's ops hold no activations */
        if ((i == MP_BLOCK_EMBED && r != 0) || (i == MP_BLOCK_HEAD && r != p - 1))
            continue; /* those blocks live on the first and last ranks */
        if ((i == MP_BLOCK_DENSE_MLP && !any_dense) || (i == MP_BLOCK_MOE_MLP && !any_moe) ||
            (i == MP_BLOCK_ATTN && !any_global) || (i == MP_BLOCK_ATTN_LOCAL && !any_local))
            continue;
        if (bs[i].transient > transient)
            transient = bs[i].transient;
    }
    /* Pipeline send and receive buffers: one activation each way. */
    if (l->pp > 1)
        transient += 2 * Tsp * h * A;
    mem->comm_buffer_bytes = transient;
    mem->reserved_bytes = hw->reserved_bytes;
    /* FP8: Transformer Engine keeps each linear layer's weight cast to FP8
     * for the micro-batches of a step, rowwise for the forward and
     * columnwise for the data gradient: 2 bytes per parameter of the
     * attention, MLP and expert matrices (the embedding, output layer and
     * router stay in 16 bits). */
    if (c->wl->fp8 != MP_FP8_NONE && hw->peak_flops_fp8 > 0) {
        mp_param_split sp;
        mp_cost_stage_params(c, r, &sp);
        mem->fp8_weight_bytes = 2.0 * (sp.attention + sp.dense_mlp + sp.moe_common + sp.experts);
    }
    double allocated = mem->weights_bytes + mem->gradients_bytes + mem->optimizer_bytes + mem->activations_bytes +
                       mem->comm_buffer_bytes + mem->fp8_weight_bytes;
    mem->fragmentation_bytes = hw->fragmentation * allocated;
    mem->other_bytes = mem->comm_buffer_bytes + mem->fp8_weight_bytes + mem->reserved_bytes + mem->fragmentation_bytes;
    mem->total_bytes = allocated + mem->reserved_bytes + mem->fragmentation_bytes;
    mem->capacity_bytes = hw->memory_bytes;
}

/* Once per optimizer step, on one GPU of a pipeline rank holding `dense`
 * and `expert` parameters: the gradient reduction [N21 section 3.2] (dense
 * gradients over the dp*cp replicas, expert gradients over expert-DP; with
 * the distributed optimizer a reduce-scatter of the fp32 gradients, then an
 * all-gather of the updated 16-bit weights; otherwise one all-reduce), the
 * gradient norm and clipping, the optimizer step and its tails.  The ops
 * are listed by explain (block "step", rank 0); `sc` gets the sums that
 * mp_cost_assemble prices (the overlap windows are applied there). */
/* block_step's ops: listed when the buffer has room for them (explain), or
 * only timed (b->ops NULL: mp_cost_assemble's hot path, the same
 * formulas without building ops). */
static double step_coll(opbuf *b, const char *name, mp_group g, int n, int stride, mp_coll coll, double bytes,
                        bool ov)
{
    if (!b->ops) {
        if (n <= 1)
            return 0; /* mp_cost_collective_s's own answer, without the call */
        return mp_cost_collective_s(b->c->hw, coll, n, members_per_node(b->c->hw, stride, n), bytes);
    }
    mp_op *x = comm(b, name, g, n, stride, coll, bytes, MP_COLL_NONE, 0);
    x->overlapped = ov;
    return x->fwd_s;
}
static double step_mem(opbuf *b, const char *name, double bytes)
{
    if (!b->ops) {
        /* Timed in one call: the efficiency model's memory time is linear
         * in bytes and kernels, (bytes + kernels b0) / bw + kernels x
         * launch, so the sum of the kernels' times is that of their sum. */
        b->mem_bytes += bytes;
        b->mem_kernels++;
        return 0;
    }
    return memop(b, name, bytes, 0, 0)->fwd_s;
}

static void block_step(opbuf *b, double dense, double expert, step_cost *sc)
{
    const mp_cost_ctx *c = b->c;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    const mp_hardware *hw = c->hw;
    int ndp = l->dp * l->cp;
    int mpn_d = members_per_node(hw, l->tp, ndp);
    int mpn_e = members_per_node(hw, l->etp * l->ep, l->edp);
    int es = l->etp * l->ep;
    bool ov = w->overlap_grad_reduce;
    memset(sc, 0, sizeof *sc);
    /* Megatron-Core's default bucket: max(40,000,000, 1,000,000 x dp)
     * parameters (distributed/distributed_data_parallel.py,
     * DistributedDataParallel.__init__ at d98e8a64ddf3), for the dense and
     * the expert buffer alike; only pipeline rank 0 buckets (pp_rank > 0
     * sets bucket_size None: one bucket), and without overlap_grad_reduce
     * there is one bucket too (so no bucket time is needed).  The last
     * bucket of each buffer holds the first layers' gradients, ready when
     * the backward ends. */
    double bucket = 1e6 * l->dp > 40e6 ? 1e6 * l->dp : 40e6;
    double bd = bucket < dense ? bucket : dense, be = bucket < expert ? bucket : expert;
    if (l->distributed_optimizer) {
        sc->rs += step_coll(b, "dp-grad-reduce", MP_GROUP_DP, ndp, l->tp, MP_COLL_REDUCESCATTER,
                            dense * w->grad_bytes, ov);
        sc->ag += step_coll(b, "dp-param-gather", MP_GROUP_DP, ndp, l->tp, MP_COLL_ALLGATHER, dense * w->weight_bytes,
                            ov);
        sc->rs += step_coll(b, "edp-grad-reduce", MP_GROUP_EDP, l->edp, es, MP_COLL_REDUCESCATTER,
                            expert * w->grad_bytes, ov);
        sc->ag += step_coll(b, "edp-param-gather", MP_GROUP_EDP, l->edp, es, MP_COLL_ALLGATHER,
                            expert * w->weight_bytes, ov);
        if (ov) {
            sc->rs_bucket = mp_cost_collective_s(hw, MP_COLL_REDUCESCATTER, ndp, mpn_d, bd * w->grad_bytes) +
                            mp_cost_collective_s(hw, MP_COLL_REDUCESCATTER, l->edp, mpn_e, be * w->grad_bytes);
            sc->ag_bucket = mp_cost_collective_s(hw, MP_COLL_ALLGATHER, ndp, mpn_d, bd * w->weight_bytes) +
                            mp_cost_collective_s(hw, MP_COLL_ALLGATHER, l->edp, mpn_e, be * w->weight_bytes);
        }
    } else {
        sc->rs += step_coll(b, "dp-grad-all-reduce", MP_GROUP_DP, ndp, l->tp, MP_COLL_ALLREDUCE,
                            dense * w->grad_bytes, ov);
        sc->rs += step_coll(b, "edp-grad-all-reduce", MP_GROUP_EDP, l->edp, es, MP_COLL_ALLREDUCE,
                            expert * w->grad_bytes, ov);
        if (ov)
            sc->rs_bucket = mp_cost_collective_s(hw, MP_COLL_ALLREDUCE, ndp, mpn_d, bd * w->grad_bytes) +
                            mp_cost_collective_s(hw, MP_COLL_ALLREDUCE, l->edp, mpn_e, be * w->grad_bytes);
    }
    double dshard = l->distributed_optimizer ? (double)ndp : 1.0;
    double eshard = l->distributed_optimizer ? (double)l->edp : 1.0;
    double updated = dense / dshard + expert / eshard;
    /* Gradient norm (optimizer/clip_grads.py, get_grad_norm_fp32:
     * multi_tensor_l2norm reads the fp32 gradients of this GPU's shard once),
     * then the squared norm is all-reduced over the grad-stats group: every
     * GPU with the distributed optimizer, the model-parallel tp x pp group
     * without it (optimizer.py, get_grad_stats_parallel_group; the dense and
     * expert optimizers share it, ChainedOptimizer.get_grad_norm: one
     * all-reduce).  The same on every rank. */
    sc->opt += step_mem(b, "grad-norm", updated * w->grad_bytes);
    if (b->ops || b->want_norm)
        sc->norm_ar = step_coll(b, "grad-norm-all-reduce", MP_GROUP_WORLD,
                                l->distributed_optimizer ? l->gpus : l->tp * l->pp, 1, MP_COLL_ALLREDUCE, 4, false);
    /* Clipping (clip_grad_by_total_norm_fp32, multi_tensor_scale: reads and
     * writes the shard's gradients), priced as applied every step: --clip-grad
     * defaults to 1.0 (megatron/training/arguments.py). */
    sc->opt += step_mem(b, "grad-clip", 2 * updated * w->grad_bytes);
    /* Adam, memory-bound: per parameter updated, read the fp32 gradient,
     * master weight and states, write master and states back and the 16-bit
     * weight. */
    sc->opt += step_mem(b, "optimizer-step",
                        updated * (w->grad_bytes + 2 * w->master_bytes + 2 * w->optim_state_bytes + w->weight_bytes));
    /* The copy of the updated master weights into the 16-bit weights is a
     * kernel of its own (optimizer.py, _copy_main_params_to_model_params /
     * _copy_main_params_to_param_buffer): it reads the master weights again
     * (the 16-bit write is counted above). */
    sc->opt += step_mem(b, "master-to-16bit", updated * w->master_bytes);
    /* zero_grad_buffer (distributed/param_and_grad_buffer.py): a memset of
     * the GPU's whole fp32 gradient buffer, every parameter it holds. */
    sc->opt += step_mem(b, "zero-grad", (dense + expert) * w->grad_bytes);
}

static void step_costs(const mp_cost_ctx *c, const mp_memory *mem, bool norm, step_cost *sc)
{
    const mp_layout *l = &c->lay;
    double key[12] = {mem->params_dense, mem->params_expert, l->dp, l->cp, l->tp, l->ep, l->etp, l->edp, l->gpus,
                      l->pp, l->distributed_optimizer, norm};
    /* The memo lives in the context the caller owns (each search thread
     * has its own copy); assembling writes it, as a cache, not a result. */
    mp_step_memo *memo = (mp_step_memo *)&c->step_memo[norm ? 0 : 1];
    if (memo->valid && !memcmp(memo->key, key, sizeof key)) {
        sc->rs = memo->val[0];
        sc->ag = memo->val[1];
        sc->rs_bucket = memo->val[2];
        sc->ag_bucket = memo->val[3];
        sc->norm_ar = memo->val[4];
        sc->opt = memo->val[5];
        return;
    }
    opbuf b = {c, NULL, 0, 0, 0, norm};
    block_step(&b, mem->params_dense, mem->params_expert, sc);
    sc->opt = mp_eff_memory_s(c->hw, b.mem_bytes, b.mem_kernels);
    memcpy(memo->key, key, sizeof key);
    memo->val[0] = sc->rs;
    memo->val[1] = sc->ag;
    memo->val[2] = sc->rs_bucket;
    memo->val[3] = sc->ag_bucket;
    memo->val[4] = sc->norm_ar;
    memo->val[5] = sc->opt;
    memo->valid = true;
}

/* Model FLOPs per token, forward: matrix products of the active
 * parameters, 2 FLOPs per multiply-add ([P22] appendix B), plus the
 * attention scores with causal masking, S/2 keys per query on average --
 * Megatron-LM's convention (num_floating_point_operations); PaLM counts
 * the full S x S, which would read about 1.4x higher MFU on the seed. */
static double model_fwd_flops_per_token(const mp_cost_ctx *c)
{
    const mp_model *m = c->model;
    const mp_params *p = &c->params;
    double h = (double)m->hidden, S = (double)c->seq_len;
    double nrm = (m->norm == MP_NORM_LAYER ? 2.0 : 1.0) * h;
    double dqk = (double)mp_model_qk_head_dim(m);
    double dv = m->attn == MP_ATTN_MLA ? (double)m->v_head_dim : (double)m->head_dim;
    double core = 2.0 * (double)m->num_heads * (dqk + dv) * mp_cost_mean_keys(m, false, S);
    double core_local = 2.0 * (double)m->num_heads * (dqk + dv) * mp_cost_mean_keys(m, true, S);
    double f = 0;
    for (int i = 0; i < m->num_layers; i++) {
        bool local = m->window_kind != MP_WINDOW_NONE && m->attn_local[i];
        f += 2.0 * (p->attention - nrm) + (local ? core_local : core);
        if (m->is_moe[i])
            f += 2.0 * (p->moe_router + p->moe_shared + (double)m->top_k * p->moe_expert_one);
        else
            f += 2.0 * (p->dense_mlp - nrm);
    }
    f += 2.0 * (double)m->vocab * h; /* LM head */
    return f;
}

/* Forward+backward time of one layer (or the embedding / output block) for
 * one micro-batch, by category, recomputation included: recomputation runs
 * in the backward pass, and a recomputed forward repeats its collectives. */

static void layer_time_of(mp_layer_time *t, const mp_block_sum *a, const mp_block_sum *b, mp_recompute rc)
{
    memset(t, 0, sizeof *t);
    const mp_block_sum *parts[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const mp_block_sum *s = parts[i];
        if (!s)
            continue;
        t->fwd_s += s->fwd_s;
        t->bwd_s += s->bwd_s;
        for (int q = 0; q < MP_CAT_COUNT; q++)
            t->cat_s[q] += s->cat_fwd[q] + s->cat_bwd[q];
        t->tp_s += s->tp_s;
        t->ep_s += s->ep_s;
        t->cp_s += s->cp_s;
        t->hw_flops += s->fwd_hw_flops + s->bwd_hw_flops;
        if (rc == MP_RECOMPUTE_FULL) {
            t->bwd_s += s->recompute_full_s;
            for (int q = 0; q < MP_CAT_COUNT; q++)
                t->cat_s[q] += s->cat_fwd[q];
            t->tp_s += s->tp_fwd_s;
            t->ep_s += s->ep_fwd_s;
            t->cp_s += s->cp_fwd_s;
            t->hw_flops += s->fwd_hw_flops;
        } else if (rc == MP_RECOMPUTE_SELECTIVE) {
            t->bwd_s += s->recompute_sel_s;
            for (int q = 0; q < MP_CAT_COUNT; q++)
                t->cat_s[q] += s->cat_fwd_sel[q];
            t->hw_flops += s->sel_hw_flops;
        }
    }
}

static void layer_add(mp_stage_time *st, double *hwf, const mp_layer_time *t, double n)
{
    if (n == 0)
        return;
    st->fwd_s += n * t->fwd_s;
    st->bwd_s += n * t->bwd_s;
    for (int q = 0; q < MP_CAT_COUNT; q++)
        st->cat_s[q] += n * t->cat_s[q];
    st->tp_s += n * t->tp_s;
    st->ep_s += n * t->ep_s;
    st->cp_s += n * t->cp_s;
    *hwf += n * t->hw_flops;
}

void mp_cost_blocks_compute(const mp_cost_ctx *c, mp_cost_blocks *blocks)
{
    mp_block_sum *bs = blocks->b;
    for (int i = 0; i < MP_BLOCK_COUNT; i++) {
        if (i != MP_BLOCK_STEP && mp_cost_block_present(c, (mp_block)i))
            sum_block(c, (mp_block)i, &bs[i]); /* the step's ops are priced by mp_cost_assemble */
        else
            memset(&bs[i], 0, sizeof bs[i]); /* no layer of the model uses it */
    }
    for (int rc = 0; rc < 3; rc++)
        for (int q = 0; q < MP_LAYER_CLASSES; q++) {
            if (c->cls_prefix[q][c->model->num_layers] == 0) {
                memset(&blocks->layer[rc][q], 0, sizeof blocks->layer[rc][q]); /* no such layer */
                continue;
            }
            layer_time_of(&blocks->layer[rc][q], &bs[(q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN],
                          &bs[(q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP], (mp_recompute)rc);
        }
    layer_time_of(&blocks->embed, &bs[MP_BLOCK_EMBED], NULL, MP_RECOMPUTE_NONE);
    layer_time_of(&blocks->head, &bs[MP_BLOCK_HEAD], NULL, MP_RECOMPUTE_NONE);
}

void mp_cost_stage_memory(const mp_cost_ctx *c, const mp_cost_blocks *blocks, int r, mp_memory *mem)
{
    stage_memory(c, r, blocks->b, mem);
}

void mp_cost_evaluate(const mp_cost_ctx *c, mp_cost *out)
{
    mp_cost_blocks blocks;
    mp_cost_blocks_compute(c, &blocks);
    mp_cost_assemble(c, &blocks, out);
}

void mp_cost_assemble(const mp_cost_ctx *c, const mp_cost_blocks *blocks, mp_cost *out)
{
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    const mp_block_sum *bs = blocks->b;
    memset(out, 0, sizeof *out);
    out->params = c->params;
    out->seq_len = c->seq_len;
    out->stages = l->pp;

    /* When every chunk holds the same mix of dense and MoE layers, the
     * pipeline ranks between the first (embedding) and the last (output
     * layer) are identical, and none of them holds more memory than rank 0
     * (fewer micro-batches in flight, no embedding) nor takes longer than
     * rank 0 (no embedding): evaluate ranks 0, 1 and p-1 only, and count
     * rank 1's FLOPs p-2 times.  An exact shortcut, not an approximation. */
    int n_moe = c->moe_prefix[m->num_layers];
    bool even = !mp_layout_uneven(l);
    bool uniform = true;
    if (!even) {
        /* Uneven: the middle ranks hold equal layer counts; they are alike
         * when they hold the same layers of each class. */
        int n1[MP_LAYER_CLASSES];
        if (l->pp > 3)
            rank_layers(c, 1, n1);
        for (int r = 2; r < l->pp - 1 && uniform; r++) {
            int n[MP_LAYER_CLASSES];
            rank_layers(c, r, n);
            uniform = memcmp(n, n1, sizeof n) == 0;
        }
    } else if ((n_moe != 0 && n_moe != m->num_layers) || c->local_layers != 0) {
        int per_chunk0 = m->num_layers / (l->pp * l->vpp);
        int n0[MP_LAYER_CLASSES];
        count_layers(c, 0, per_chunk0, n0);
        for (int k = 1; k < l->pp * l->vpp && uniform; k++) {
            int n[MP_LAYER_CLASSES];
            count_layers(c, k * per_chunk0, per_chunk0, n);
            uniform = memcmp(n, n0, sizeof n) == 0;
        }
    }
#define NEXT_RANK(r) ((uniform && (r) == 1 && l->pp > 3) ? l->pp - 1 : (r) + 1)
#define RANK_WEIGHT(r) ((uniform && (r) == 1 && l->pp > 3) ? (double)(l->pp - 2) : 1.0)

    /* Memory: every stage, keep the most loaded. */
    double worst = -1;
    /* Memory: with uniform, even chunks, ranks 1..p-2 hold no more than
     * rank 0; with an uneven split rank 1 (the most in flight of the alike
     * middle ranks) stands for them. */
    for (int r = 0; r < l->pp; r = (uniform && even && r == 0 && l->pp > 2) ? l->pp - 1 : NEXT_RANK(r)) {
        mp_memory mem;
        stage_memory(c, r, bs, &mem);
        if (r == 0)
            out->mem_first = mem;
        if (r == l->pp - 1)
            out->mem_last = mem;
        if (mem.total_bytes > worst) {
            worst = mem.total_bytes;
            out->mem = mem;
            out->worst_mem_stage = r;
        }
    }
    out->headroom_bytes = out->mem.capacity_bytes - out->mem.total_bytes;
    out->fits = out->headroom_bytes >= 0;
    /* Per-layer figures are those of the global-attention layers (the
     * larger where a model has both kinds; a model of local layers only
     * reports those). */
    const mp_block_sum *att = &bs[mp_cost_block_present(c, MP_BLOCK_ATTN) ? MP_BLOCK_ATTN : MP_BLOCK_ATTN_LOCAL];
    switch (l->recompute) {
    case MP_RECOMPUTE_FULL:
        out->act_layer_dense_bytes = out->act_layer_moe_bytes =
            w->act_bytes * (double)m->hidden * l->micro_batch * c->seq_len / l->cp /
            (l->sequence_parallel ? l->tp : 1);
        break;
    case MP_RECOMPUTE_SELECTIVE:
        out->act_layer_dense_bytes = att->saved_sel + bs[MP_BLOCK_DENSE_MLP].saved_sel;
        out->act_layer_moe_bytes = att->saved_sel + bs[MP_BLOCK_MOE_MLP].saved_sel;
        break;
    default:
        out->act_layer_dense_bytes = att->saved + bs[MP_BLOCK_DENSE_MLP].saved;
        out->act_layer_moe_bytes = att->saved + bs[MP_BLOCK_MOE_MLP].saved;
    }

    /* Time per micro-batch of each pipeline rank. */
    int p = l->pp, v = l->vpp;
    double h = (double)m->hidden, A = w->act_bytes;
    double T = (double)l->micro_batch * c->seq_len / l->cp;
    double Tsp = l->sequence_parallel ? T / l->tp : T;
    /* Pipeline point-to-point: one activation forward, one gradient
     * backward per chunk boundary; with SP each TP rank sends its shard
     * (Megatron's scatter-gather optimisation [N21 4.1]). */
    int pp_stride = l->tp * l->cp * l->dp;
    bool pp_inter = pp_stride >= c->hw->gpus_per_node;
    double p2p = p > 1 ? mp_cost_collective_s(c->hw, MP_COLL_SENDRECV, 2, pp_inter ? 1 : 2, Tsp * h * A) : 0;
    double hw_flops_mb_total = 0; /* summed over ranks, per micro-batch, one GPU each */
    const mp_layer_time *lt = blocks->layer[l->recompute];
    const mp_layer_time *lay_embed = &blocks->embed, *lay_head = &blocks->head;
    double slow_total = -1, sum_ranks = 0, sum_fwd = 0, sum_bwd = 0;
    mp_stage_time first_st, last_st;
    memset(&first_st, 0, sizeof first_st);
    memset(&last_st, 0, sizeof last_st);
    for (int r = 0; r < p; r = NEXT_RANK(r)) {
        mp_stage_time st;
        memset(&st, 0, sizeof st);
        double hwf = 0;
        /* Time is linear in the layers a rank holds, whatever chunk they
         * sit in: count them, then scale the per-layer sums. */
        int nr[MP_LAYER_CLASSES];
        rank_layers(c, r, nr);
        st.layers_moe = count_moe(nr);
        st.layers_dense = count_all(nr) - st.layers_moe;
        for (int q = 0; q < MP_LAYER_CLASSES; q++)
            layer_add(&st, &hwf, &lt[q], nr[q]);
        if (r == 0)
            layer_add(&st, &hwf, lay_embed, 1);
        if (r == p - 1)
            layer_add(&st, &hwf, lay_head, 1);
        if (p > 1 && v == 1) {
            /* 1F1B: each micro-batch receives an activation and sends a
             * gradient on the critical path (Megatron-LM's non-interleaved
             * schedule waits on its batched send/recv).  The interleaved
             * schedule overlaps them with compute by default
             * (overlap_p2p_comm), so none is exposed there. */
            st.pp_s = 2.0 * p2p;
            st.fwd_s += p2p;
            st.bwd_s += p2p;
            st.cat_s[MP_CAT_COMM] += st.pp_s;
        }
        hw_flops_mb_total += hwf * RANK_WEIGHT(r);
        double tot = st.fwd_s + st.bwd_s;
        sum_ranks += tot * RANK_WEIGHT(r);
        sum_fwd += st.fwd_s * RANK_WEIGHT(r);
        sum_bwd += st.bwd_s * RANK_WEIGHT(r);
        if (r == 0)
            first_st = st;
        if (r == p - 1)
            last_st = st;
        if (tot > slow_total) {
            slow_total = tot;
            out->slow = st;
            out->slowest_stage = r;
        }
    }

    /* Step [N21 eq. (1)-(2)]: m micro-batches through the slowest rank plus
     * the pipeline's fill and drain.  With equal ranks the bubble is
     * (p-1)/v micro-batch times; with unequal ones (embedding on the first,
     * output layer on the last) the fill and drain pass once through every
     * other rank: (sum over ranks - slowest) / v, which is the same when
     * they are equal. */
    double mbs = l->num_micro_batches;
    double t_mb = out->slow.fwd_s + out->slow.bwd_s;
    out->sum_ranks_s = sum_ranks;
    out->t_bubble_s = (sum_ranks - t_mb) / v;
    if (out->t_bubble_s < 0)
        out->t_bubble_s = 0;
    out->t_compute_s = mbs * out->slow.cat_s[MP_CAT_COMPUTE];
    /* Gradient reduction and the optimizer step run on every rank after the
     * flush (block_step); the step ends with the slowest rank.
     * Without overlap_grad_reduce they are all exposed.  With it
     * (distributed/param_and_grad_buffer.py at d98e8a64ddf3):
     *  - rank 0 buckets its buffers: each bucket's reduce-scatter
     *    (all-reduce without the distributed optimizer) starts while the
     *    last micro-batch's backward goes on (start_grad_sync per bucket),
     *    so the part above that backward is exposed, and at least the last
     *    bucket, ready only when the backward ends; the parameter all-gather
     *    (--overlap-param-gather, emitted with the distributed optimizer)
     *    runs bucket by bucket under the next step's first forward, the first
     *    bucket exposed (its layers wait for it): max(rs - bwd, one bucket)
     *    + max(ag - fwd, one bucket);
     *  - the last pipeline rank (one bucket: pp_rank > 0 does not bucket)
     *    finishes its last backward while the drain still runs on the ranks
     *    before it, (sum of their backwards) / v, and its all-gather, issued
     *    at zero_grad, overlaps the next step's fill, (sum of their
     *    forwards) / v: max(0, rs - drain) + max(0, ag - fill).
     * Then the gradient norm's all-reduce over every GPU, and the optimizer
     * (the slower of the two ranks). */
    step_cost s0, sl;
    step_costs(c, &out->mem_first, true, &s0);
    if (l->pp > 1)
        step_costs(c, &out->mem_last, false, &sl);
    else
        sl = s0;
    double exp0, expl;
    if (!w->overlap_grad_reduce) {
        exp0 = s0.rs + s0.ag;
        expl = sl.rs + sl.ag;
    } else {
        exp0 = fmax(s0.rs - first_st.bwd_s, s0.rs_bucket) +
               (l->distributed_optimizer ? fmax(s0.ag - first_st.fwd_s, s0.ag_bucket) : 0);
        expl = exp0;
        if (l->pp > 1) {
            double drain = (sum_bwd - last_st.bwd_s) / v, fill = (sum_fwd - last_st.fwd_s) / v;
            expl = fmax(0, sl.rs - drain) + fmax(0, sl.ag - fill);
        }
    }
    out->t_optimizer_s = fmax(s0.opt, sl.opt);
    out->t_memory_s = mbs * out->slow.cat_s[MP_CAT_MEMORY] + out->t_optimizer_s;
    out->t_dp_s = fmax(exp0, expl) + s0.norm_ar;
    out->t_tp_s = mbs * out->slow.tp_s;
    out->t_ep_s = mbs * out->slow.ep_s;
    out->t_cp_s = mbs * out->slow.cp_s;
    out->t_pp_s = mbs * out->slow.pp_s;
    out->t_comm_s = mbs * out->slow.cat_s[MP_CAT_COMM] + out->t_dp_s;
    out->t_total_s = out->t_compute_s + out->t_memory_s + out->t_comm_s + out->t_bubble_s;

    out->tokens_per_step = (double)w->global_batch * c->seq_len;
    out->model_flops_per_step = 3.0 * c->model_fwd_flops_per_token * out->tokens_per_step;
    /* Hardware FLOPs: what the GPUs execute, recomputation included:
     * per-GPU FLOPs per micro-batch, summed over pipeline ranks, times the
     * GPUs of a stage and the micro-batches. */
    out->hw_flops_per_step = hw_flops_mb_total * mbs * (double)l->tp * l->cp * l->dp;
    out->tokens_per_s = out->tokens_per_step / out->t_total_s;
    out->sequences_per_s = (double)w->global_batch / out->t_total_s;
    out->mfu = out->model_flops_per_step / (out->t_total_s * l->gpus * c->hw->peak_flops);
}
