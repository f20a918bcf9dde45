/* The memory of a pipeline rank, the part the micro-batch's recompute mode
 * leaves alone: its layers, its parameters by component, the model states
 * ZeRO's stage gives them (kept in the search's states table), the
 * micro-batches of each chunk in flight at the activation peak, and the
 * frame of its memory (mp_rank_frame) that cost.c's memory_of completes
 * with the activations of the recompute mode.  See include/moeplan/cost.h
 * for the conventions.
 *
 * Sources:
 *  [K22] Korthikanti et al., "Reducing Activation Recomputation in Large
 *        Transformer Models", arXiv:2205.05198, sections 4.1-4.3, Table 2.
 *  [N21] Narayanan et al., "Efficient Large-Scale Language Model Training on
 *        GPU Clusters Using Megatron-LM", SC21, sections 2.2 and 3 (1F1B and
 *        interleaved bubble (p-1)/(v m)), appendix (FLOPs).
 *  [R20] Rajbhandari et al., "ZeRO", SC20 (16-bit weights, fp32 master and
 *        Adam states: 2 + 2 + 12 bytes; Megatron keeps fp32 grads: 18).
 */
#include "moeplan/cost.h"

#include <math.h>
#include <string.h>

#include "cost_internal.h"


/* Parameters held by a GPU of pipeline rank `r` (all its chunks).  Sharding
 * follows Megatron-Core: attention and dense/shared MLP matrices split by tp,
 * routed experts by ep (whole experts) and etp (within an expert), norms,
 * router and MLA down-projections replicated; embedding split by tp on the
 * first stage, the output layer on the last (tied weights keep a copy there
 * when pp > 1). */
/* Layers of each class held by pipeline rank r over its vpp chunks
 * (chunk k*pp + r of pp*vpp equal chunks). */
void mp_cost_rank_layers(const mp_cost_ctx *c, int r, int n[MP_LAYER_CLASSES])
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
    mp_cost_rank_layers(c, r, n);
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
    sp->layer_attention = att;
    sp->layer_dense_mlp = dmlp;
    sp->layer_moe_common = moe_common;
    sp->layer_experts = moe_exp;
    sp->largest_unit = fmax(sp->embedding, sp->head);
    if (nd)
        sp->largest_unit = fmax(sp->largest_unit, att + dmlp);
    if (nm)
        sp->largest_unit = fmax(sp->largest_unit, att + moe_common + moe_exp);
}

void mp_cost_stage_dense_expert(const mp_cost_ctx *c, int r, double *dense, double *expert)
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

/* Pipeline rank r's layers, parameters and model states (mp_rank_states):
 * what its frame holds whatever the micro-batch, sequence parallelism and
 * recomputation. */
static void rank_states(const mp_cost_ctx *c, int r, mp_rank_states *st)
{
    const mp_workload *w = c->wl;
    const mp_hardware *hw = c->hw;
    memset(st, 0, sizeof *st);
    st->r = r;
    mp_cost_rank_layers(c, r, st->layers);
    mp_param_split sp;
    mp_cost_stage_params(c, r, &sp);
    st->params_dense = sp.attention + sp.dense_mlp + sp.moe_common + sp.embedding + sp.head;
    st->params_expert = sp.experts;
    st->split = sp;
    /* FP8: Transformer Engine keeps each linear layer's weight cast to FP8
     * for the micro-batches of a step, rowwise for the forward and
     * columnwise for the data gradient: 2 bytes per parameter of the
     * attention, MLP and expert matrices (the embedding, output layer,
     * router and norms stay in 16 bits: two blocks' norms and, in a MoE
     * layer, the router come off the layers' parameters).  Biases, QK and
     * MLA latent norms stay counted with their matrices: a vector each,
     * under 0.1% of them. */
    if (w->fp8 != MP_FP8_NONE && hw->peak_flops_fp8 > 0) {
        int nm = count_moe(st->layers), nl = count_all(st->layers);
        double kept16 = nl * 2.0 * c->params.block_norm + nm * c->params.moe_router;
        st->fp8_weight_bytes = 2.0 * fmax(0, sp.attention + sp.dense_mlp + sp.moe_common + sp.experts - kept16);
    }
    /* [R20]/Megatron: 16-bit weights, fp32 main gradients, fp32 master
     * weights and Adam moments, sharded by ZeRO's stage over the
     * data-parallel group (dp*cp ranks hold replicas of the dense weights)
     * and, for experts, over expert-DP (cost_shard.c). */
    mp_memory ms;
    memset(&ms, 0, sizeof ms);
    ms.params_dense = st->params_dense;
    ms.params_expert = st->params_expert;
    mp_cost_model_states(c, &sp, &ms);
    st->weights_bytes = ms.weights_bytes;
    st->gradients_bytes = ms.gradients_bytes;
    st->optimizer_bytes = ms.optimizer_bytes;
    st->shard_buffer_bytes = ms.shard_buffer_bytes;
}

/* The context's states entry for its layout, or NULL without a table.
 * The key is every layout field rank_states and the per-step costs read
 * (mp_cost_stage_params, mp_cost_model_states, mp_cost_step_costs): the
 * layers' split, the groups, ZeRO's stage and shard group; not the
 * micro-batch, sequence parallelism or recomputation. */
mp_states_entry *mp_cost_states_entry(const mp_cost_ctx *c)
{
    if (!c->states)
        return NULL;
    const mp_layout *l = &c->lay;
    int key[13] = {l->gpus, l->tp, l->cp, l->dp, l->pp, l->ep, l->etp, l->edp, l->vpp, l->pp_first, l->pp_last,
                   l->zero, l->shard_group};
    unsigned h = 2166136261u; /* FNV-1a over the key's values */
    for (int i = 0; i < 13; i++)
        h = (h ^ (unsigned)key[i]) * 16777619u;
    mp_states_entry *e = &c->states->e[h % MP_STATES_SLOTS];
    if (!e->valid || memcmp(e->key, key, sizeof key)) {
        memcpy(e->key, key, sizeof key);
        e->gen++;
        e->valid = true;
        e->have_step = false;
        e->n = 0;
    }
    return e;
}

/* Rank r's states: from the table's entry e for the context's layout
 * (mp_cost_states_entry), or computed into *tmp. */
static const mp_rank_states *states_rank(const mp_cost_ctx *c, mp_states_entry *e, int r, mp_rank_states *tmp)
{
    if (e)
        for (int i = 0; i < e->n; i++)
            if (e->rank[i].r == r)
                return &e->rank[i];
    mp_rank_states *st = e && e->n < MP_FRAME_RANKS ? &e->rank[e->n++] : tmp;
    rank_states(c, r, st);
    return st;
}

/* Pipeline rank r's memory, the parts recomputation leaves alone
 * (mp_rank_frame; cost.c's memory_of adds the activations of the recompute
 * mode). */
void mp_cost_rank_frame_of(const mp_cost_ctx *c, mp_states_entry *se, int r, const mp_block_sum *bs,
                           mp_rank_frame *f)
{
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    memset(f, 0, sizeof *f);
    mp_rank_states tmp;
    const mp_rank_states *st = states_rank(c, se, r, &tmp);
    f->r = r;
    memcpy(f->layers, st->layers, sizeof f->layers);
    f->params_dense = st->params_dense;
    f->params_expert = st->params_expert;
    f->split = st->split;
    f->fp8_weight_bytes = st->fp8_weight_bytes;
    f->weights_bytes = st->weights_bytes;
    f->gradients_bytes = st->gradients_bytes;
    f->optimizer_bytes = st->optimizer_bytes;
    f->shard_buffer_bytes = st->shard_buffer_bytes;

    /* Activations held at peak by this pipeline rank: the saved
     * activations of each of its model chunks times the micro-batches of
     * that chunk in flight at the peak (mp_cost_chunks_in_flight).  The
     * embedding's and the output layer's activations belong to the first
     * and the last model chunk and are counted as often as those chunks are
     * in flight -- the output layer's once, since the last chunk's backward
     * follows its forward at once.  Here each class's layers are weighted
     * by their chunk's count in flight; memory_of multiplies by the saved
     * bytes of a layer under the recompute mode. */
    int p = l->pp, v = l->vpp;
    double inst[MP_MAX_LAYERS];
    f->units = mp_cost_chunks_in_flight(l, r, inst);
    int present[MP_LAYER_CLASSES] = {0};
    for (int k = 0; k < v; k++) {
        int chunk = k * p + r;
        int first, count, n[MP_LAYER_CLASSES];
        mp_layout_chunk(l, m->num_layers, r, k, &first, &count);
        if (c->single_class >= 0) { /* the search's common case: one kind of layer */
            f->act_weight[c->single_class] += inst[k] * count;
            present[c->single_class] += count;
        } else {
            count_layers(c, first, count, n);
            for (int q = 0; q < MP_LAYER_CLASSES; q++) {
                f->act_weight[q] += inst[k] * n[q];
                present[q] += n[q];
            }
        }
        if (chunk == 0)
            f->act_extra_bytes += inst[k] * bs[MP_BLOCK_EMBED].saved;
        if (chunk == p * v - 1)
            f->act_extra_bytes += inst[k] * bs[MP_BLOCK_HEAD].saved;
    }
    /* The largest whole layer the rank holds: under full recompute the
     * layer being recomputed is live once ([K22] Table 2). */
    for (int q = 0; q < MP_LAYER_CLASSES; q++) {
        if (!present[q])
            continue;
        double full = bs[(q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN].saved +
                      bs[(q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP].saved;
        if (full > f->layer_full_bytes)
            f->layer_full_bytes = full;
    }
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
    if (l->pp > 1) {
        transient += 2 * mp_cost_tokens_sp(c) * (double)m->hidden * w->act_bytes;
    }
    f->transient_bytes = transient;
}
void mp_cost_rank_frame(const mp_cost_ctx *c, int r, const mp_block_sum *bs, mp_rank_frame *f)
{
    mp_cost_rank_frame_of(c, mp_cost_states_entry(c), r, bs, f);
}
