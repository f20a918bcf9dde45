/* The cost model, op by op: the ops of each block of a layer (attention,
 * dense MLP, MoE, embedding, output layer, step) with their FLOPs, bytes,
 * collectives and time.  See include/moeplan/cost.h for the conventions and
 * src/cost.c for the sources cited as [K22], [N21], [R20], [D22], [L25],
 * [NC] and [P22]; cost.c sums these ops into memory and step time. */
#include <math.h>
#include <string.h>

#include "cost_internal.h"
#include "moeplan/efficiency.h"

/* ------------------------------------------------------------ primitives */


/* A measured collective (calibrate --measure across ranks): the bus
 * bandwidth of the same collective on the same tier, log-log interpolated
 * in the buffer size (the rate of the largest held beyond it; below the
 * smallest, its time: latency does not shrink with the message); time =
 * S f / busbw with
 * nccl-tests' factor f: 2(n-1)/n for all-reduce, (n-1)/n for all-gather,
 * reduce-scatter and all-to-all, 1 for send/recv.  < 0: no row. */
static double measured_coll_s(const mp_hardware *hw, mp_coll coll, int n, bool spans, double bytes)
{
    int lo = -1, hi = -1;
    for (int i = 0; i < hw->n_coll_measured; i++) {
        const double *r = hw->coll_measured[i];
        if ((int)r[0] != (int)coll || (r[1] != 0) != spans)
            continue;
        if (r[2] <= bytes && (lo < 0 || r[2] > hw->coll_measured[lo][2]))
            lo = i;
        if (r[2] >= bytes && (hi < 0 || r[2] < hw->coll_measured[hi][2]))
            hi = i;
    }
    if (lo < 0 && hi < 0)
        return -1;
    double bw;
    if (lo < 0)
        bw = hw->coll_measured[hi][3];
    else if (hi < 0 || hw->coll_measured[hi][2] == hw->coll_measured[lo][2])
        bw = hw->coll_measured[lo][3];
    else {
        const double *a = hw->coll_measured[lo], *b = hw->coll_measured[hi];
        double f = (log(bytes) - log(a[2])) / (log(b[2]) - log(a[2]));
        bw = exp(log(a[3]) + f * (log(b[3]) - log(a[3])));
    }
    double factor = mp_coll_bus_factor(coll, n);
    if (lo < 0)
        bytes = hw->coll_measured[hi][2]; /* below the smallest size measured: its time */
    return factor * bytes / bw;
}

double mp_cost_collective_s(const mp_hardware *hw, mp_coll coll, int n, int mpn, double bytes)
{
    if (n <= 1 || bytes <= 0)
        return 0;
    if (mpn < 1)
        mpn = 1;
    if (mpn > n)
        mpn = n;
    bool spans = mpn < n;
    if (hw->n_coll_measured) {
        double t = measured_coll_s(hw, coll, n, spans, bytes);
        if (t >= 0)
            return t;
    }
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
    /* A ring across nodes pays the network's latency at every step, as
     * the alpha-beta model has it.  NCCL's tuning model [NT] charges it
     * only on the steps that cross between nodes (2(N - 1) of an
     * all-reduce's) and NVLink's on the rest; tried (2026-12-02), that made
     * the H100 development runs' held-out error worse (median 7.4% to
     * 9.1%), so the ring stays as it was until a measurement decides. */
    switch (coll) {
    case MP_COLL_ALLREDUCE: {
        /* Ring: reduce-scatter then all-gather, 2(n-1) steps, each GPU sends
         * 2(n-1)/n of the buffer [NC].  Across nodes the ring is limited by
         * the per-GPU network bandwidth. */
        double ring = 2.0 * (n - 1) * lat + 2.0 * f * bytes / bw;
        if (!spans)
            return ring;
        /* Across nodes NCCL also runs all-reduce as a double binary tree
         * and takes the faster [NT]: latency 2 ((mpn - 1) a_intra +
         * floor(log2 N) a_inter), the chain inside each node and the tree's
         * depth across them; every byte goes up and down, at 0.9 of the
         * ring's bus bandwidth (busBw * .9, algorithm bandwidth half of it). */
        double nodes = ceil((double)n / mpn);
        double tree = 2.0 * ((mpn - 1) * hw->intra_latency_s + floor(log2(nodes)) * hw->inter_latency_s) +
                      2.0 * bytes / (0.9 * bw);
        return tree < ring ? tree : ring;
    }
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
int mp_cost_members_per_node(const mp_hardware *hw, int stride, int n)
{
    int mpn = stride >= hw->gpus_per_node ? 1 : hw->gpus_per_node / stride;
    return mpn > n ? n : (mpn < 1 ? 1 : mpn);
}


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

/* HBM bytes of the weight-gradient GEMM's output for `elems` weight
 * elements in `tensors` parameters.
 *  - Fused (the default; Megatron-LM's gradient_accumulation_fusion, TE's
 *    fuse_wgrad_accumulation): the GEMM accumulates into the fp32 main
 *    gradient, reading and writing it, 2 x grad bytes per element.
 *  - Unfused (workload grad_accum_unfused): the GEMM writes param.grad in
 *    the weight dtype (W per element), then the DDP hook's
 *    param.main_grad.add_(param.grad) reads it and reads and writes the
 *    main gradient (W + 2 grad bytes per element), one kernel per
 *    parameter (Megatron-LM megatron/model/distributed.py, _make_param_hook,
 *    at a8d172b of 2021-04; core/distributed/distributed_data_parallel.py
 *    today).  That kernel is the block's main-grad-add op (block_grad_add).
 *    With 16-bit gradients and no main gradient (grad_accum_autograd:
 *    Megatron-LM of 2021 with --fp16 alone, autograd's in-place
 *    param.grad += new) the same bytes with G = W, for m - 1 of the m
 *    micro-batches (the first is stored: zero_grad set it to None). */
static double wgrad_out_bytes(opbuf *b, double elems, int tensors)
{
    const mp_workload *w = b->c->wl;
    if (!w->grad_accum_unfused)
        return 2.0 * elems * w->grad_bytes;
    /* Autograd's sum adds m - 1 of the m micro-batches' gradients (the
     * first is stored): priced per micro-batch as that share. */
    double m = b->c->lay.num_micro_batches > 1 ? (double)b->c->lay.num_micro_batches : 1;
    double share = w->grad_accum_autograd ? (m - 1) / m : 1;
    b->grad_add_bytes += share * elems * (w->weight_bytes + 2.0 * w->grad_bytes);
    if (share > 0)
        b->grad_add_tensors += tensors;
    return elems * w->weight_bytes;
}

/* The op of a GEMM out[M,N] = in[M,K] w[K,N], `batch` of them: its shape
 * and FLOPs, forward 2MKN and backward 4MKN [N21]; its bytes and times are
 * the caller's (16-bit or FP8). */
static mp_op *gemm_op(opbuf *b, const char *name, double M, double K, double N, int batch)
{
    mp_op *o = push(b, name, MP_OP_MATMUL);
    o->m = M;
    o->k = K;
    o->n = N;
    o->batch = batch;
    o->fwd_flops = 2.0 * M * K * N * batch;
    o->bwd_flops = o->bwd_model_flops = 2.0 * o->fwd_flops;
    return o;
}

static mp_op *matmul(opbuf *b, const char *name, double M, double K, double N, int batch, double saved)
{
    const mp_cost_ctx *c = b->c;
    double A = c->wl->act_bytes, W = c->wl->weight_bytes;
    if (fp8_gemm(c, name))
        return matmul_fp8(b, name, M, K, N, batch, saved);
    mp_op *o = gemm_op(b, name, M, K, N, batch);
    o->fwd_hbm_bytes = (M * K * A + K * N * W + M * N * A) * batch;
    /* dgrad reads dY and W, writes dX; wgrad reads X and dY and writes the
     * weight gradient (wgrad_out_bytes). */
    o->bwd_hbm_bytes = (M * N * A + K * N * W + M * K * A + M * K * A + M * N * A) * batch +
                       wgrad_out_bytes(b, K * N * batch, batch);
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
    mp_op *o = gemm_op(b, name, M, K, N, batch);
    bool mx = c->wl->fp8 == MP_FP8_MXFP8, cur = c->wl->fp8 == MP_FP8_CURRENT;
    double x = M * K * batch, y = M * N * batch, w = K * N * batch;
    double cast_fwd = x * (A + (mx ? 2 : 1)) + (cur ? x * A : 0);
    double cast_bwd = y * (A + (mx ? 2 : 1)) + (cur ? y * A : 0) + (mx ? 0 : 2.0 * (x + y));
    o->fwd_hbm_bytes = x + w + y * A + cast_fwd;
    double wg = wgrad_out_bytes(b, w, batch);
    o->bwd_hbm_bytes = y + w + x * A + x + y + wg + cast_bwd;
    o->fwd_s = mp_eff_matmul_s(&h8, M, N, K, batch, x + w + y * A) + mp_eff_memory_s(hw, cast_fwd, 1);
    o->bwd_s = mp_eff_matmul_bwd_s(&h8, M, N, K, batch, y + w + x * A + x + y + wg) +
               mp_eff_memory_s(hw, cast_bwd, mx ? 1 : 3);
    o->saved_bytes = A > 0 ? saved / A : saved;
    return o;
}

/* A memory-bound op (norm, activation function, permutation, residual). */
mp_op *mp_cost_memop(opbuf *b, const char *name, double fwd_bytes, double bwd_bytes, double saved)
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
    mp_op *o = mp_cost_memop(b, name, fwd_bytes, bwd_bytes, saved);
    o->fwd_s = mp_eff_memory_s(b->c->hw, fwd_bytes, kf);
    o->bwd_s = mp_eff_memory_s(b->c->hw, bwd_bytes, kb);
    return o;
}

mp_op *mp_cost_comm(opbuf *b, const char *name, mp_group g, int n, int stride, mp_coll fwd, double fwd_bytes,
                   mp_coll bwd, double bwd_bytes)
{
    const mp_hardware *hw = b->c->hw;
    mp_op *o = push(b, name, MP_OP_COMM);
    int mpn = mp_cost_members_per_node(hw, stride, n);
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
        mp_op *o = mp_cost_comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_ALLGATHER, bytes, MP_COLL_REDUCESCATTER, bytes);
        /* With SP the layer keeps only its shard of the input; backward
         * all-gathers it again for the weight gradient [K22 4.2.2]. */
        mp_cost_comm(b, "tp-regather", MP_GROUP_TP, l->tp, 1, MP_COLL_NONE, 0, MP_COLL_ALLGATHER, bytes);
        return o;
    }
    return mp_cost_comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_NONE, 0, MP_COLL_ALLREDUCE, bytes);
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
        o = mp_cost_comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_REDUCESCATTER, bytes, MP_COLL_ALLGATHER, bytes);
    else
        o = mp_cost_comm(b, name, MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, bytes, MP_COLL_NONE, 0);
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
    mp_cost_memop(b, name, 2 * tokens * h * A, 3 * tokens * h * A, tokens * h * A);
}

/* A norm over `width` elements per token (MLA's latent RMSNorms). */
static void norm_width(opbuf *b, const char *name, double tokens, double width)
{
    double A = b->c->wl->act_bytes;
    mp_cost_memop(b, name, 2 * tokens * width * A, 3 * tokens * width * A, tokens * width * A);
}

/* Residual add, with dropout when the model has it (1-byte mask [K22]). */
static void residual(opbuf *b, const char *name, double tokens)
{
    double h = (double)b->c->model->hidden, A = b->c->wl->act_bytes;
    bool drop = b->c->model->dropout;
    mp_cost_memop(b, name, 3 * tokens * h * A + (drop ? tokens * h : 0), 2 * tokens * h * A, drop ? tokens * h : 0);
}

/* A dense MLP (also shared experts): fc1 (gated: gate and up, 2f wide),
 * activation, fc2, TP-sharded by columns then rows [K22 4.2.2].  Saved:
 * fc1 input (unless shared with the router), activation input, fc2 input. */
static void mlp(opbuf *b, const char *prefix_fc1, const char *act, const char *fc2, double width, bool save_input)
{
    const mp_cost_ctx *c = b->c;
    const mp_layout *l = &c->lay;
    double h = (double)c->model->hidden, A = c->wl->act_bytes, t = l->tp;
    double T = mp_cost_tokens(c), Tsp = mp_cost_tokens_sp(c);
    double g = c->model->gated_mlp ? 2.0 : 1.0;
    double fl = width / t;
    mp_op *enter = tp_enter(b, "tp-gather-mlp", T * h * A);
    tp_enter_overlap(enter, matmul(b, prefix_fc1, T, h, g * fl, 1, save_input ? Tsp * h * A : 0));
    mp_cost_memop(b, act, T * (g + 1) * fl * A, T * (g + g + 1) * fl * A, T * g * fl * A);
    matmul(b, fc2, T, fl, h, 1, T * fl * A);
    tp_exit(b, "tp-scatter-mlp", T * h * A);
}

/* Keys per query, averaged over the S queries of a packed causal sequence,
 * in the continuum convention that gives S/2 for full causal attention
 * (Megatron-LM's num_floating_point_operations counts S/2 from core_r0.12.0,
 * S through core_r0.11.0; PaLM's appendix B counts S):
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
    double T = mp_cost_tokens(c), Tsp = mp_cost_tokens_sp(c);
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
            f = mp_cost_comm(b, "tp-input-grad", MP_GROUP_TP, l->tp, 1, MP_COLL_NONE, 0, MP_COLL_ALLREDUCE, T * h * A);
        matmul(b, "q-down", Tin, h, ql, 1, Tin * h * A);
        mp_op *kd = matmul(b, "kv-down", Tin, h, kvl + rope, 1, 0); /* same input as q-down */
        tp_enter_overlap(f, kd);
        norm_width(b, "latent-norms", Tin, ql + kvl);
        if (l->tp > 1 && l->sequence_parallel)
            mp_cost_comm(b, "tp-gather-latents", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLGATHER, T * (ql + kvl + rope) * A,
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
    double keys = c->keys_per_query[local] > 0 ? c->keys_per_query[local] : mp_cost_mean_keys(m, local, S);
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
        /* Bytes per score (Megatron-LM's CoreAttention: baddbmm, the fused
         * scale-mask-softmax, torch dropout, bmm):
         *  - forward: QK^T writes it (A), the softmax reads and writes it
         *    (2 A), PV reads it (A): 4 A; dropout reads the probabilities
         *    and writes them and a 1-byte mask: 2 A + 1 more;
         *  - backward: dV = P^T dO reads P (A), dP = dO V^T writes dP (A),
         *    the softmax backward reads P and dP and writes dS (3 A), dQ =
         *    dS K and dK = dS^T Q each read dS (2 A): 7 A; dropout's
         *    backward reads its gradient and the mask and writes the
         *    gradient of its input: 2 A + 1 more. */
        double drop_b = m->dropout ? 2 * A + 1 : 0;
        o->fwd_hbm_bytes = io + sq * (4 * A + drop_b);
        o->bwd_hbm_bytes = 2 * io + sq * (7 * A + drop_b);
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
        int kern = m->dropout ? 4 : 3; /* with the dropout pass its own kernel */
        unfused_fwd_s = mp_eff_matmul_s(c->hw, qn, row, dqk, heads, 0) + mp_eff_matmul_s(c->hw, qn, dv, row, heads, 0) +
                        mp_eff_memory_s(c->hw, o->fwd_hbm_bytes, kern);
        unfused_bwd_s = mp_eff_matmul_bwd_s(c->hw, qn, row, dqk, heads, 0) +
                        mp_eff_matmul_bwd_s(c->hw, qn, dv, row, heads, 0) + mp_eff_memory_s(c->hw, o->bwd_hbm_bytes, kern);
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
        mp_op *x = mp_cost_comm(b, "cp-ring-kv", MP_GROUP_CP, l->cp, l->tp, MP_COLL_SENDRECV, (l->cp - 1) * kv,
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
    double h = (double)m->hidden, A = w->act_bytes;
    double Tsp = mp_cost_tokens_sp(c);
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
    mp_cost_memop(b, "router-softmax-topk", Tsp * E * 8, Tsp * E * 12, Tsp * E * 4 + Tsp * k * 12);
    /* The load-balancing loss moeplan emits (--moe-router-load-balancing-type
     * aux_loss or seq_aux_loss at mp_model_aux_loss_coeff; none at 0, and
     * then neither op below; router.py, TopKRouter.routing and
     * _apply_aux_loss at d98e8a64ddf3): compute_routing_scores_for_aux_loss
     * takes a second softmax of the logits in fp32 (read A, write the scores
     * 4 and the top-k routing map 1 per element), the Switch loss
     * (switch_load_balancing_loss_func) reads the scores again (4): forward
     * Tsp E (A + 9); the scores are saved for its backward (Tsp E 4).
     * Backward: the loss gradient is written (4), the softmax backward reads
     * it and the scores and writes the logits' gradient (4 + 4 + A), and
     * autograd adds that to the gate's own logits gradient (2A read, A
     * written): Tsp E (12 + 4A). */
    bool aux = mp_model_aux_loss_coeff(b->c->model, NULL) > 0;
    if (aux)
        mp_cost_memop(b, "router-aux-loss", Tsp * E * (A + 9), Tsp * E * (12 + 4 * A), Tsp * E * 4);
    /* The loss needs the global tokens per expert: an all-reduce of the E
     * int64 counts over the tp x cp group
     * (moe_utils.py, get_tokens_per_expert_and_token_count:
     * reduce_from_tensor_model_parallel_region(..., tp_cp_group)), forward
     * only (integers, no gradient).  TP x CP ranks are adjacent (tp < cp). */
    if (aux && l->tp * l->cp > 1)
        mp_cost_comm(b, "tp-cp-aux-counts", MP_GROUP_TP_CP, l->tp * l->cp, 1, MP_COLL_ALLREDUCE, E * 8, MP_COLL_NONE, 0);
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
        mp_cost_comm(b, "ep-count-gather", MP_GROUP_ETP_EP, l->etp * l->ep, 1, MP_COLL_ALLGATHER,
             (double)l->etp * l->ep * E * 8, MP_COLL_NONE, 0);
    /* ... then copies the counts to the host and waits for them before the
     * EP all-to-all (or before the experts when ep = etp = 1):
     * _maybe_dtoh_and_synchronize, d2h_event.synchronize(), forward only
     * (the backward reuses the host splits); skipped when padded to
     * capacity.  The GPU's queue drains: a stall of the hardware file's
     * moe_host_sync (hardware.c cites its default), counted with EP. */
    if (dropless) {
        mp_op *x = mp_cost_comm(b, "ep-host-sync", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_NONE, 0, MP_COLL_NONE, 0);
        x->fwd_s = c->hw->moe_host_sync_s;
    }
    mp_cost_memop(b, "permute", Tsp * h * A + sent, Tsp * h * A + sent, 0)->transient_bytes = sent;
    if (l->ep > 1) {
        mp_op *x = mp_cost_comm(b, "ep-dispatch", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_ALLTOALL, lam * sent,
                        MP_COLL_ALLTOALL, lam * sent);
        x->expert = true;
        x->transient_bytes = 2 * lam * sent;
        /* The probabilities travel in a second all-to-all with the same
         * splits (token_dispatcher.py, token_dispatch: all_to_all of
         * permuted_probs), Tsp k pb bytes; backward their gradient. */
        x = mp_cost_comm(b, "ep-dispatch-probs", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_ALLTOALL, lam * Tsp * k * pb,
                 MP_COLL_ALLTOALL, lam * Tsp * k * pb);
        x->expert = true;
    }
    if (l->etp > 1) {
        mp_op *x = mp_cost_comm(b, "etp-gather", MP_GROUP_ETP, l->etp, 1, MP_COLL_ALLGATHER, Ne * h * A,
                        MP_COLL_REDUCESCATTER, Ne * h * A);
        x->expert = true;
        /* dispatch_postprocess gathers the probabilities over ETP too. */
        x = mp_cost_comm(b, "etp-gather-probs", MP_GROUP_ETP, l->etp, 1, MP_COLL_ALLGATHER, Ne * pb, MP_COLL_REDUCESCATTER,
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
        mp_op *x = mp_cost_memop(b, "sort-chunks", 2 * Ne * (h * A + pb), 2 * Ne * (h * A + pb), 0);
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
        o = mp_cost_memop(b, "expert-act", Ne * (g + 1) * fe * A, Ne * (2 * g + 1) * fe * A, Ne * g * fe * A + Ne * pb);
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
         * writes the product, 2 Ne fe A + Ne pb.  Backward (PyTorch's
         * MulBackward0, then autograd's sum_to for the broadcast operand):
         * the GELU output's gradient reads the incoming gradient and the
         * probabilities and writes, 2 Ne fe A + Ne pb; the probabilities'
         * gradient is the full-size product of the incoming gradient and
         * the GELU output, written (3 Ne fe A) and then summed over fe to
         * one per copy (Ne fe A read, Ne pb written): 6 Ne fe A + 2 Ne pb. */
        o = mp_cost_memop(b, "expert-act", 2 * Ne * fe * A, 3 * Ne * fe * A, Ne * fe * A);
        o->expert = true;
        o->rc_rerun |= MP_RC_MOE_ACT;
        o = mp_cost_memop(b, "expert-probs-mul", 2 * Ne * fe * A + Ne * pb, 6 * Ne * fe * A + 2 * Ne * pb,
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
        mp_op *x = mp_cost_memop(b, "unsort-chunks", 2 * Ne * h * A, 2 * Ne * h * A, 0);
        x->expert = true;
        x->transient_bytes = Ne * h * A;
    }
    if (l->etp > 1) {
        mp_op *x = mp_cost_comm(b, "etp-scatter", MP_GROUP_ETP, l->etp, 1, MP_COLL_REDUCESCATTER, Ne * h * A,
                        MP_COLL_ALLGATHER, Ne * h * A);
        x->expert = true;
    }
    if (l->ep > 1) {
        mp_op *x = mp_cost_comm(b, "ep-combine", MP_GROUP_EP, l->ep, ep_stride, MP_COLL_ALLTOALL, lam * sent,
                        MP_COLL_ALLTOALL, lam * sent);
        x->expert = true;
        x->transient_bytes = 2 * lam * sent;
    }
    /* Combine: the outputs, already weighted, are scatter-added back to
     * their tokens; only the int32 row map is kept (older Megatron-Core
     * weighted here and kept the k expert outputs instead). */
    mp_cost_memop(b, "unpermute", sent + Tsp * h * A, 2 * sent + Tsp * h * A, Tsp * k * 4);
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
    norm(b, "pre-mlp-norm", mp_cost_tokens_sp(b->c));
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
    residual(b, "mlp-residual", mp_cost_tokens_sp(b->c));
}

static void block_embed(opbuf *b)
{
    const mp_cost_ctx *c = b->c;
    const mp_layout *l = &c->lay;
    double h = (double)c->model->hidden, A = c->wl->act_bytes;
    double T = mp_cost_tokens(c), Tsp = mp_cost_tokens_sp(c);
    /* Vocab-parallel lookup: each TP rank fills the rows it owns and the
     * partial results are summed (all-reduce, or reduce-scatter with SP).
     * Saved: the int64 token ids (Megatron's "8sbp" term) and, with
     * dropout, a 1-byte mask. */
    mp_cost_memop(b, "embedding-lookup", T * h * (A + c->wl->weight_bytes), T * h * A + T * 8,
          T * 8 + (c->model->dropout ? Tsp * h : 0));
    /* The reduction's backward (tensor_parallel/mappings.py): with SP,
     * reduce_scatter_to_sequence_parallel_region's backward is an
     * all-gather of the T h gradient; without SP,
     * reduce_from_tensor_model_parallel_region's is the identity. */
    if (l->tp > 1) {
        if (l->sequence_parallel)
            mp_cost_comm(b, "tp-embedding", MP_GROUP_TP, l->tp, 1, MP_COLL_REDUCESCATTER, T * h * A, MP_COLL_ALLGATHER,
                 T * h * A);
        else
            mp_cost_comm(b, "tp-embedding", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * h * A, MP_COLL_NONE, 0);
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
    double T = mp_cost_tokens(c), Tsp = mp_cost_tokens_sp(c);
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
        mp_cost_comm(b, "tp-loss-max", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * 4, MP_COLL_NONE, 0);
        mp_cost_comm(b, "tp-loss-target", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * 4, MP_COLL_NONE, 0);
        mp_cost_comm(b, "tp-loss-sum", MP_GROUP_TP, l->tp, 1, MP_COLL_ALLREDUCE, T * 4, MP_COLL_NONE, 0);
    }
}

/* The unfused accumulation's add kernels of the block's weights
 * (wgrad_out_bytes): backward only, each after its weight gradient (the
 * hook fires as autograd finishes the parameter), so of the weight-gradient
 * pass (weight_grad: cost.c's wgrad_s, simulate's W pass and its op order,
 * which puts it after the block's other backward ops). */
static void block_grad_add(opbuf *b)
{
    if (b->grad_add_bytes > 0)
        memop_k(b, "main-grad-add", 0, b->grad_add_bytes, 0, 0, b->grad_add_tensors)->weight_grad = true;
}

size_t mp_cost_block_ops(const mp_cost_ctx *c, mp_block blk, mp_op *ops)
{
    opbuf b = {c, ops, 0, 0, 0, true, 0, 0};
    switch (blk) {
    case MP_BLOCK_EMBED: block_embed(&b); break;
    case MP_BLOCK_ATTN: block_attention(&b, false); break;
    case MP_BLOCK_ATTN_LOCAL: block_attention(&b, true); break;
    case MP_BLOCK_DENSE_MLP: block_dense(&b); break;
    case MP_BLOCK_MOE_MLP: block_moe(&b); break;
    case MP_BLOCK_HEAD: block_head(&b); break;
    case MP_BLOCK_STEP: {
        mp_param_split sp;
        step_cost sc;
        mp_cost_stage_params(c, 0, &sp);
        mp_cost_step_ops(&b, sp.attention + sp.dense_mlp + sp.moe_common + sp.embedding + sp.head, sp.experts,
                         sp.largest_unit, &sc);
        break;
    }
    case MP_BLOCK_COUNT: break;
    }
    block_grad_add(&b);
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
