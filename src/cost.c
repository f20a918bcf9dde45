/* The cost model: the ops of src/cost_ops.c summed into the memory and the
 * time of each pipeline rank, and the step.  See include/moeplan/cost.h for
 * the conventions.  What a rank holds whatever its recompute mode (its
 * layers, parameters, model states and memory frame) is in cost_memory.c.
 *
 * Sources:
 *  [K22] Korthikanti et al., "Reducing Activation Recomputation in Large
 *        Transformer Models", arXiv:2205.05198, sections 4.1-4.3, Table 2.
 *  [N21] Narayanan et al., "Efficient Large-Scale Language Model Training on
 *        GPU Clusters Using Megatron-LM", SC21, sections 2.2 and 3 (1F1B and
 *        interleaved bubble (p-1)/(v m)), appendix (FLOPs).
 *  [D22] Dao et al., "FlashAttention", NeurIPS 2022 (no S x S matrices
 *        saved); Dao, "FlashAttention-2", arXiv:2307.08691 (backward 2.5x).
 *  [L25] Liu et al., "MoE Parallel Folding", arXiv:2504.14960.
 *  [NC]  NVIDIA nccl-tests, doc/PERFORMANCE.md (bus-bandwidth factors).
 *  [NT]  NVIDIA nccl, src/graph/tuning.cc (ncclTopoTuneModel, at 01afd20a):
 *        a ring's latency (nsteps - nInterSteps) intraLat + nInterSteps
 *        interLat, nInterSteps = 2(nNodes - 1) for all-reduce, nNodes - 1
 *        for all-gather and reduce-scatter; the all-reduce tree's
 *        2((nRanks/nNodes - 1) intraLat + log2i(nNodes) interLat), its bus
 *        bandwidth x 0.9 and algorithm bandwidth half of it; each call the
 *        algorithm of least time.
 *  [P22] Chowdhery et al., "PaLM", appendix B (model FLOPs utilization).
 */
#include "moeplan/cost.h"

#include <math.h>
#include <string.h>

#include "cost_internal.h"
#include "moeplan/efficiency.h"

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
    c->model_fwd_flops_per_token = mp_cost_model_fwd_flops_per_token(m, &c->params, (double)seq_len, false);
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

/* ------------------------------------------------------------ aggregation */



static mp_cat cat_of(const mp_op *o)
{
    return o->kind == MP_OP_COMM ? MP_CAT_COMM : o->kind == MP_OP_MEMORY ? MP_CAT_MEMORY : MP_CAT_COMPUTE;
}

void mp_cost_sum_block(const mp_cost_ctx *c, mp_block blk, mp_block_sum *s)
{
    mp_op ops[MP_MAX_OPS];
    size_t n = mp_cost_block_ops(c, blk, ops);
    mp_cost_sum_ops(c, ops, n, s);
}

void mp_cost_sum_ops(const mp_cost_ctx *c, const mp_op *ops, size_t n, mp_block_sum *s)
{
    memset(s, 0, sizeof *s);
    unsigned rc_mods = c->lay.recompute_modules ? c->lay.recompute_modules : (unsigned)MP_RC_CORE_ATTN;
    for (size_t i = 0; i < n; i++) {
        const mp_op *o = &ops[i];
        mp_cat k = cat_of(o);
        /* An expert op is priced for the most loaded GPU, expert_load times
         * the mean tokens.  The model FLOPs are the mean GPU's (over lam).
         * So are the hardware FLOPs when dropless (the other GPUs do less);
         * padded to capacity every expert computes its capacity_factor
         * times the mean, padding included, so they stay as priced. */
        double lam = o->expert ? c->expert_load : 1.0;
        double hw_lam = c->wl->capacity_factor > 0 ? 1.0 : lam;
        s->fwd_s += o->fwd_s;
        s->bwd_s += o->bwd_s;
        s->cat_fwd[k] += o->fwd_s;
        s->cat_bwd[k] += o->bwd_s;
        /* A matrix product's backward is its data gradient and its weight
         * gradient, two products of the forward's size [N21 appendix: 2x
         * the forward's FLOPs]: half of it is the weight gradient, the pass
         * a zero-bubble schedule defers (Qi et al. 2024, section 2). */
        if (o->kind == MP_OP_MATMUL) {
            s->wgrad_s += 0.5 * o->bwd_s;
            s->wgrad_saved += o->saved_bytes; /* its input, which the weight gradient reads */
        } else if (o->weight_grad) {
            s->wgrad_s += o->bwd_s; /* the unfused accumulation of those gradients */
        }
        /* Selective recomputation of the layout's modules (default the
         * attention core, Megatron-Core's default recompute_modules). */
        if (o->rc_rerun & rc_mods) {
            s->recompute_sel_s += o->fwd_s;
            s->cat_fwd_sel[k] += o->fwd_s;
            s->sel_hw_flops += o->fwd_flops / hw_lam;
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
        s->fwd_model_flops += o->fwd_flops / lam;
        s->bwd_model_flops += o->bwd_model_flops / lam;
        s->fwd_hw_flops += o->fwd_flops / hw_lam;
        s->bwd_hw_flops += o->bwd_flops / hw_lam;
    }
    s->recompute_full_s = s->fwd_s;
}

void mp_cost_count_layers(const mp_cost_ctx *c, int first, int count, int n[MP_LAYER_CLASSES])
{
    count_layers(c, first, count, n);
}

mp_layer_class mp_cost_layer_class(const mp_cost_ctx *c, int layer)
{
    int n[MP_LAYER_CLASSES];
    count_layers(c, layer, 1, n);
    for (int q = 0; q < MP_LAYER_CLASSES; q++)
        if (n[q])
            return (mp_layer_class)q;
    return MP_LAYER_DENSE; /* no such layer */
}

/* Saved bytes of one layer of class q for one micro-batch under the
 * layout's recompute mode: full recompute keeps only each layer's input
 * ([K22] Table 2: 2sbh, /t with SP; the layer being recomputed is counted
 * apart, mp_cost_rank_frame_of's layer_full_bytes). */
static inline double layer_saved_bytes(const mp_cost_ctx *c, const mp_block_sum *bs, int q)
{
    const mp_layout *l = &c->lay;
    const mp_block_sum *at = &bs[(q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN];
    const mp_block_sum *ml = &bs[(q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP];
    switch (l->recompute) {
    case MP_RECOMPUTE_FULL: return mp_cost_tokens_sp(c) * (double)c->model->hidden * c->wl->act_bytes;
    case MP_RECOMPUTE_SELECTIVE: return at->saved_sel + ml->saved_sel;
    default: return at->saved + ml->saved;
    }
}
double mp_cost_layer_saved_bytes(const mp_cost_ctx *c, const mp_block_sum *bs, int q)
{
    return layer_saved_bytes(c, bs, q);
}

/* The memory of the rank of frame f under the layout's recompute mode. */
static void memory_of(const mp_cost_ctx *c, const mp_rank_frame *f, const mp_block_sum *bs, mp_memory *mem)
{
    const mp_layout *l = &c->lay;
    const mp_hardware *hw = c->hw;
    /* Every field of *mem is assigned below (no memset: the search's hot path). */
    mem->params_dense = f->params_dense;
    mem->params_expert = f->params_expert;
    mem->params = mem->params_dense + mem->params_expert;
    mem->weights_bytes = f->weights_bytes; /* the model states (mp_cost_rank_frame_of) */
    mem->gradients_bytes = f->gradients_bytes;
    mem->optimizer_bytes = f->optimizer_bytes;
    mem->shard_buffer_bytes = f->shard_buffer_bytes;
    double acts = f->act_extra_bytes;
    if (c->single_class >= 0) /* the search's common case: one kind of layer */
        acts += f->act_weight[c->single_class] * layer_saved_bytes(c, bs, c->single_class);
    else
        for (int q = 0; q < MP_LAYER_CLASSES; q++)
            if (f->act_weight[q] != 0)
                acts += f->act_weight[q] * layer_saved_bytes(c, bs, q);
    mem->inflight_units = f->units;
    mem->activations_bytes = acts + (l->recompute == MP_RECOMPUTE_FULL ? f->layer_full_bytes : 0);
    mem->comm_buffer_bytes = f->transient_bytes;
    mem->reserved_bytes = hw->reserved_bytes;
    mem->fp8_weight_bytes = f->fp8_weight_bytes;
    double allocated = mem->weights_bytes + mem->gradients_bytes + mem->optimizer_bytes + mem->activations_bytes +
                       mem->comm_buffer_bytes + mem->fp8_weight_bytes + mem->shard_buffer_bytes;
    mem->fragmentation_bytes = hw->fragmentation * allocated;
    mem->other_bytes = mem->comm_buffer_bytes + mem->fp8_weight_bytes + mem->shard_buffer_bytes +
                       mem->reserved_bytes + mem->fragmentation_bytes;
    mem->total_bytes = allocated + mem->reserved_bytes + mem->fragmentation_bytes;
    mem->capacity_bytes = hw->memory_bytes;
}

static void stage_memory(const mp_cost_ctx *c, int r, const mp_block_sum *bs, mp_memory *mem)
{
    mp_rank_frame f;
    mp_cost_rank_frame_of(c, mp_cost_states_entry(c), r, bs, &f);
    memory_of(c, &f, bs, mem);
}

_Static_assert(sizeof(step_cost) == sizeof(((mp_frame_memo *)0)->step[0]), "step_cost fits the frame memo");

/* The context's frame memo for its layout and these block sums: reset when
 * any layout field but the recompute setting differs. */
static mp_frame_memo *frame_memo(const mp_cost_ctx *c, const mp_block_sum *bs)
{
    const mp_layout *l = &c->lay;
    mp_frame_memo *fm = (mp_frame_memo *)&c->frame; /* a cache in the caller's context */
    int key[16] = {l->gpus, l->tp, l->pp, l->dp, l->cp, l->ep, l->etp, l->edp, l->vpp, l->micro_batch,
                   l->num_micro_batches, l->pp_first, l->pp_last, l->sequence_parallel, l->zero, l->shard_group};
    if (fm->valid && fm->blocks == (const void *)bs && fm->table == c->states && !memcmp(fm->key, key, sizeof key)) {
        /* Its states entry, unless another layout has taken the slot since
         * (mp_cost_rank_frame or mp_cost_stage_memory asked for one that
         * shares it): then taken again, for this layout. */
        if (fm->states && fm->states->gen != fm->states_gen) {
            fm->states = mp_cost_states_entry(c);
            fm->states_gen = fm->states->gen;
        }
        return fm;
    }
    memcpy(fm->key, key, sizeof key);
    fm->blocks = bs;
    fm->table = c->states;
    fm->states = mp_cost_states_entry(c);
    fm->states_gen = fm->states ? fm->states->gen : 0;
    fm->valid = false; /* until mp_cost_assemble fills uniform and p2p */
    fm->have_step = false;
    fm->n = 0;
    return fm;
}

/* Rank r's frame, from the memo or computed (into *tmp when the memo is full). */
static const mp_rank_frame *frame_rank(const mp_cost_ctx *c, mp_frame_memo *fm, int r, const mp_block_sum *bs,
                                       mp_rank_frame *tmp)
{
    for (int i = 0; i < fm->n; i++)
        if (fm->rank[i].r == r)
            return &fm->rank[i];
    mp_rank_frame *f = fm->n < MP_FRAME_RANKS ? &fm->rank[fm->n++] : tmp;
    mp_cost_rank_frame_of(c, fm->states, r, bs, f);
    return f;
}

/* Model FLOPs per token, forward: matrix products of the active
 * parameters, 2 FLOPs per multiply-add ([P22] appendix B), plus the
 * attention scores.  With all_keys false, causal masking: S/2 keys per query
 * on average (mp_cost_mean_keys) -- Megatron-LM's num_floating_point_operations
 * from core_r0.12.0 on (commit 8873b55, 2025-03-06: "Only half of the
 * attention matrix is non-zero"), moeplan's own MFU.  With all_keys true,
 * every query against all S keys in every layer: the same function through
 * core_r0.11.0, and Narayanan et al. 2021 eq. (3) and Korthikanti et al. 2022
 * eq. (7), whose s/6h term is 12 B s^2 h per layer over 72 B s h^2: the count
 * of sources of that time (validate reads their MFU with it).  PaLM counts
 * all keys too; on the seed that reads about 1.4x moeplan's MFU. */
double mp_cost_model_fwd_flops_per_token(const mp_model *m, const mp_params *p, double S, bool all_keys)
{
    double h = (double)m->hidden;
    double nrm = (m->norm == MP_NORM_LAYER ? 2.0 : 1.0) * h;
    double dqk = (double)mp_model_qk_head_dim(m);
    double dv = m->attn == MP_ATTN_MLA ? (double)m->v_head_dim : (double)m->head_dim;
    double per_key = 2.0 * (double)m->num_heads * (dqk + dv);
    double core = per_key * (all_keys ? S : mp_cost_mean_keys(m, false, S));
    double core_local = per_key * (all_keys ? S : mp_cost_mean_keys(m, true, S));
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

void mp_cost_layer_time_of(mp_layer_time *t, const mp_block_sum *a, const mp_block_sum *b, mp_recompute rc)
{
    memset(t, 0, sizeof *t);
    const mp_block_sum *parts[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const mp_block_sum *s = parts[i];
        if (!s)
            continue;
        t->fwd_s += s->fwd_s;
        t->bwd_s += s->bwd_s;
        t->wgrad_s += s->wgrad_s;
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

/* Pipeline point-to-point: one activation forward, one gradient backward
 * per chunk boundary.  With SP each TP rank holds and sends its shard, T/t
 * tokens; without it each sends the whole T x h activation (Megatron-Core),
 * or, with the workload's pp_scatter_gather (Megatron-LM 2021-02 to
 * 2023-03), its 1/t of it, the receiving TP group all-gathering the whole
 * again over its own links (NVLink within a node: [N21] section 4.1;
 * split_tensor_into_1d_equal_chunks and gather_split_1d_tensor in
 * megatron/p2p_communication.py of that time). */
double mp_cost_p2p_s(const mp_cost_ctx *c)
{
    const mp_layout *l = &c->lay;
    if (l->pp <= 1)
        return 0;
    bool pp_inter = l->tp * l->cp * l->dp >= c->hw->gpus_per_node;
    double bytes = mp_cost_tokens_sp(c) * (double)c->model->hidden * c->wl->act_bytes, gather_s = 0;
    if (c->wl->pp_scatter_gather && !l->sequence_parallel && l->tp > 1) {
        gather_s = mp_cost_collective_s(c->hw, MP_COLL_ALLGATHER, l->tp, mp_cost_members_per_node(c->hw, 1, l->tp),
                                        bytes);
        bytes /= l->tp;
    }
    return mp_cost_collective_s(c->hw, MP_COLL_SENDRECV, 2, pp_inter ? 1 : 2, bytes) + gather_s;
}

/* Forward and backward of one micro-batch on the pipeline rank of frame fr,
 * with p2p the time of one pipeline send (mp_cost_p2p_s). */
static inline void rank_time_of(const mp_cost_ctx *c, const mp_cost_blocks *blocks, const mp_rank_frame *fr,
                                double p2p, mp_stage_time *st, double *hw_flops)
{
    const mp_layout *l = &c->lay;
    int p = l->pp, v = l->vpp, r = fr->r;
    const mp_layer_time *lt = blocks->layer[l->recompute];
    memset(st, 0, sizeof *st);
    double hwf = 0;
    /* Time is linear in the layers a rank holds, whatever chunk they sit
     * in: count them, then scale the per-layer sums. */
    const int *nr = fr->layers;
    st->layers_moe = count_moe(nr);
    st->layers_dense = count_all(nr) - st->layers_moe;
    if (c->single_class >= 0)
        layer_add(st, &hwf, &lt[c->single_class], nr[c->single_class]);
    else
        for (int q = 0; q < MP_LAYER_CLASSES; q++)
            layer_add(st, &hwf, &lt[q], nr[q]);
    if (r == 0)
        layer_add(st, &hwf, &blocks->embed, 1);
    if (r == p - 1)
        layer_add(st, &hwf, &blocks->head, 1);
    if (p > 1 && (v == 1 || c->wl->pp_blocking_sends)) {
        /* 1F1B: each micro-batch receives an activation and sends a
         * gradient on the critical path (Megatron-LM's non-interleaved
         * schedule waits on its batched send/recv).  The interleaved
         * schedule overlaps them with compute by default
         * (overlap_p2p_comm), so none is exposed there.  With the
         * workload's pp_blocking_sends (Megatron-LM before 2023-05) the
         * interleaved steady state waits on one batched exchange per
         * forward-backward pair of chunks (schedules.py of 2022:
         * send_forward_backward_recv_forward_backward, its activation and
         * its gradient in flight together): v per micro-batch, against
         * 1F1B's two (send_forward_recv_backward, then
         * send_backward_recv_forward). */
        double n = v == 1 ? 2.0 : (double)v;
        st->pp_s = n * p2p;
        st->fwd_s += 0.5 * n * p2p;
        st->bwd_s += 0.5 * n * p2p;
        st->cat_s[MP_CAT_COMM] += st->pp_s;
    }
    if (l->zero >= 2) {
        /* ZeRO-2/3's collectives of each micro-batch (cost_shard.c), hidden
         * behind the rank's compute and memory-bound work but not behind its
         * TP, EP and CP collectives, which share the links: the window of
         * each pass is its time less its share of the communication (the
         * rank's communication split between forward and backward in
         * proportion to their times). */
        mp_shard_mb sm;
        mp_cost_shard_micro_batch(c, &fr->split, nr, &sm);
        double tot0 = st->fwd_s + st->bwd_s, busy = tot0 > 0 ? 1 - st->cat_s[MP_CAT_COMM] / tot0 : 1;
        double ef, eb;
        if (mp_cost_shard_blocking(c->wl, l)) {
            /* DeepSpeed 0.3-0.4: every fetch synchronizes the device and is
             * waited for before its module runs; nothing overlaps. */
            ef = sm.fwd_ag_s;
            eb = sm.bwd_ag_s + sm.bwd_rs_s;
        } else
            mp_cost_shard_exposed(&sm, st->fwd_s * busy, st->bwd_s * busy, &ef, &eb);
        st->dp_s = ef + eb;
        st->fwd_s += ef;
        st->bwd_s += eb;
        st->cat_s[MP_CAT_COMM] += st->dp_s;
    }
    *hw_flops = hwf;
}

/* The same for cost_chunk.c (the search's hot path keeps it inline). */
void mp_cost_rank_time_of(const mp_cost_ctx *c, const mp_cost_blocks *blocks, const mp_rank_frame *fr, double p2p,
                          mp_stage_time *st, double *hw_flops)
{
    rank_time_of(c, blocks, fr, p2p, st, hw_flops);
}

/* The per-layer times of each recompute mode and layer class, and of the
 * embedding and the output layer, from the block sums. */
static void blocks_layers(const mp_cost_ctx *c, mp_cost_blocks *blocks)
{
    const mp_block_sum *bs = blocks->b;
    for (int rc = 0; rc < 3; rc++)
        for (int q = 0; q < MP_LAYER_CLASSES; q++) {
            if (c->cls_prefix[q][c->model->num_layers] == 0) {
                memset(&blocks->layer[rc][q], 0, sizeof blocks->layer[rc][q]); /* no such layer */
                continue;
            }
            mp_cost_layer_time_of(&blocks->layer[rc][q], &bs[(q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN],
                          &bs[(q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP], (mp_recompute)rc);
        }
    mp_cost_layer_time_of(&blocks->embed, &bs[MP_BLOCK_EMBED], NULL, MP_RECOMPUTE_NONE);
    mp_cost_layer_time_of(&blocks->head, &bs[MP_BLOCK_HEAD], NULL, MP_RECOMPUTE_NONE);
}

void mp_cost_blocks_compute(const mp_cost_ctx *c, mp_cost_blocks *blocks)
{
    mp_block_sum *bs = blocks->b;
    for (int i = 0; i < MP_BLOCK_COUNT; i++) {
        if (i != MP_BLOCK_STEP && mp_cost_block_present(c, (mp_block)i))
            mp_cost_sum_block(c, (mp_block)i, &bs[i]); /* the step's ops are priced by mp_cost_assemble */
        else
            memset(&bs[i], 0, sizeof bs[i]); /* no layer of the model uses it */
    }
    blocks_layers(c, blocks);
}

void mp_cost_blocks_recompute_experts(const mp_cost_ctx *c, mp_cost_blocks *blocks)
{
    if (mp_cost_block_present(c, MP_BLOCK_MOE_MLP))
        mp_cost_sum_block(c, MP_BLOCK_MOE_MLP, &blocks->b[MP_BLOCK_MOE_MLP]);
    blocks_layers(c, blocks);
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
    /* No memset: every field of *out is assigned below (the search's hot
     * path; tests/test_cost.c, test_assemble_sets_every_field). */
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
    mp_frame_memo *fm = frame_memo(c, bs);
    bool fresh = !fm->valid;
    bool uniform = fresh ? true : fm->uniform;
    if (!fresh)
        ; /* known for this layout */
    else if (!even) {
        /* Uneven: the middle ranks hold equal layer counts; they are alike
         * when they hold the same layers of each class. */
        int n1[MP_LAYER_CLASSES];
        if (l->pp > 3)
            mp_cost_rank_layers(c, 1, n1);
        for (int r = 2; r < l->pp - 1 && uniform; r++) {
            int n[MP_LAYER_CLASSES];
            mp_cost_rank_layers(c, r, n);
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
    fm->uniform = uniform;
#define NEXT_RANK(r) ((uniform && (r) == 1 && l->pp > 3) ? l->pp - 1 : (r) + 1)
#define RANK_WEIGHT(r) ((uniform && (r) == 1 && l->pp > 3) ? (double)(l->pp - 2) : 1.0)

    /* Per pipeline rank, in one pass: its memory (keep the most loaded)
     * and its time per micro-batch.
     * Memory: with uniform, even chunks, ranks 1..p-2 hold no more than
     * rank 0; with an uneven split rank 1 (the most in flight of the alike
     * middle ranks) stands for them. */
    int p = l->pp, v = l->vpp;
    if (fresh)
        fm->p2p_s = mp_cost_p2p_s(c);
    fm->valid = true;
    double p2p = fm->p2p_s;
    double worst = -1;
    double hw_flops_mb_total = 0; /* summed over ranks, per micro-batch, one GPU each */
    double slow_total = -1, sum_ranks = 0, sum_fwd = 0, sum_bwd = 0;
    double first_fwd = 0, first_bwd = 0, last_fwd = 0, last_bwd = 0; /* ranks 0 and p-1 */
    bool mem_middle = !(uniform && even && p > 2);
    for (int r = 0; r < p; r = NEXT_RANK(r)) {
        mp_rank_frame tmp;
        const mp_rank_frame *fr = frame_rank(c, fm, r, bs, &tmp);
        if (mem_middle || r == 0 || r == p - 1) {
            mp_memory mem;
            memory_of(c, fr, bs, &mem);
            if (r == 0)
                out->mem_first = mem;
            if (r == p - 1)
                out->mem_last = mem;
            if (r == 0 || mem.total_bytes > worst) { /* r == 0: assigned even were a total NaN */
                worst = mem.total_bytes;
                out->mem = mem;
                out->worst_mem_stage = r;
            }
        }
        mp_stage_time st;
        double hwf;
        rank_time_of(c, blocks, fr, p2p, &st, &hwf);
        hw_flops_mb_total += hwf * RANK_WEIGHT(r);
        double tot = st.fwd_s + st.bwd_s;
        sum_ranks += tot * RANK_WEIGHT(r);
        sum_fwd += st.fwd_s * RANK_WEIGHT(r);
        sum_bwd += st.bwd_s * RANK_WEIGHT(r);
        if (r == 0)
            first_fwd = st.fwd_s, first_bwd = st.bwd_s;
        if (r == p - 1)
            last_fwd = st.fwd_s, last_bwd = st.bwd_s;
        if (r == 0 || tot > slow_total) {
            slow_total = tot;
            out->slow = st;
            out->slowest_stage = r;
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
        out->act_layer_dense_bytes = out->act_layer_moe_bytes = layer_saved_bytes(c, bs, 0); /* each layer's input */
        break;
    case MP_RECOMPUTE_SELECTIVE:
        out->act_layer_dense_bytes = att->saved_sel + bs[MP_BLOCK_DENSE_MLP].saved_sel;
        out->act_layer_moe_bytes = att->saved_sel + bs[MP_BLOCK_MOE_MLP].saved_sel;
        break;
    default:
        out->act_layer_dense_bytes = att->saved + bs[MP_BLOCK_DENSE_MLP].saved;
        out->act_layer_moe_bytes = att->saved + bs[MP_BLOCK_MOE_MLP].saved;
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
    if (v > 1) {
        /* Interleaved, two terms that (sum - slowest) / v leaves out, both
         * reproduced pass by pass by the simulator (src/simulate.c; tests/
         * test_simulate.c, test_equals_explain):
         *  - the embedding's chunk (rank 0, chunk 0) and the output layer's
         *    (the last rank, chunk v-1) are not split v ways: the first
         *    group of p micro-batches goes through the embedding's chunk
         *    one after another before any rank has other work (Megatron's
         *    micro-batch groups of p), and the last group's backwards come
         *    back through it one after another, so on a slowest rank that
         *    does not hold it the fill and drain wait p times its time, of
         *    which the 1/v above counted one v-th: + (p - 1/v) x it;
         *  - the sends, overlapped in the steady state (overlap_p2p_comm),
         *    are on the critical path of the fill and the drain: the first
         *    micro-batch's forward crosses p-1 ranks, the last's backward
         *    as many, and each wrap of a micro-batch group from the last
         *    rank back to the first after the first chunk waits for its p
         *    sends each way: 2 (p - 1 + p (v - 2)) sends. */
        double e_s = blocks->embed.fwd_s + blocks->embed.bwd_s, h_s = blocks->head.fwd_s + blocks->head.bwd_s;
        double ends = (out->slowest_stage != 0 ? e_s : 0) + (out->slowest_stage != p - 1 ? h_s : 0);
        /* (Blocking sends are inside each pass already: none added.) */
        out->t_bubble_s += ends * (p - 1.0 / v) + (w->pp_blocking_sends ? 0 : 2.0 * (p - 1 + p * (v - 2.0)) * p2p);
    }
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
    mp_states_entry *se = fm->states;
    if (fm->have_step) { /* the same parameters and groups: the same step */
        memcpy(&s0, fm->step[0], sizeof s0);
        memcpy(&sl, fm->step[1], sizeof sl);
    } else if (se && se->have_step) { /* the states' layout, whatever its micro-batch */
        memcpy(&s0, se->step[0], sizeof s0);
        memcpy(&sl, se->step[1], sizeof sl);
        memcpy(fm->step[0], &s0, sizeof s0);
        memcpy(fm->step[1], &sl, sizeof sl);
        fm->have_step = true;
    } else {
        mp_rank_frame t0, tl;
        mp_cost_step_costs(c, &out->mem_first, frame_rank(c, fm, 0, bs, &t0)->split.largest_unit, true, &s0);
        if (l->pp > 1)
            mp_cost_step_costs(c, &out->mem_last, frame_rank(c, fm, l->pp - 1, bs, &tl)->split.largest_unit, false, &sl);
        else
            sl = s0;
        memcpy(fm->step[0], &s0, sizeof s0);
        memcpy(fm->step[1], &sl, sizeof sl);
        fm->have_step = true;
        if (se) {
            memcpy(se->step[0], &s0, sizeof s0);
            memcpy(se->step[1], &sl, sizeof sl);
            se->have_step = true;
        }
    }
    double exp0, expl;
    if (!w->overlap_grad_reduce) {
        exp0 = s0.rs + s0.ag;
        expl = sl.rs + sl.ag;
    } else {
        exp0 = fmax(s0.rs - first_bwd, s0.rs_bucket) +
               (l->zero >= 1 ? fmax(s0.ag - first_fwd, s0.ag_bucket) : 0);
        expl = exp0;
        if (l->pp > 1) {
            double drain = (sum_bwd - last_bwd) / v, fill = (sum_fwd - last_fwd) / v;
            expl = fmax(0, sl.rs - drain) + fmax(0, sl.ag - fill);
        }
    }
    out->t_optimizer_s = fmax(s0.opt, sl.opt);
    out->t_memory_s = mbs * out->slow.cat_s[MP_CAT_MEMORY] + out->t_optimizer_s;
    double dp_step = fmax(exp0, expl) + mp_cost_embedding_sync_s(c) + s0.norm_ar;
    out->t_dp_s = dp_step + mbs * out->slow.dp_s; /* ZeRO-2/3's per-micro-batch part is in the rank's comm */
    out->t_tp_s = mbs * out->slow.tp_s;
    out->t_ep_s = mbs * out->slow.ep_s;
    out->t_cp_s = mbs * out->slow.cp_s;
    out->t_pp_s = mbs * out->slow.pp_s;
    out->t_comm_s = mbs * out->slow.cat_s[MP_CAT_COMM] + dp_step;
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
