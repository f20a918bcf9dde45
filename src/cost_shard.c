/* Sharded data parallelism: ZeRO's stages 1-3 [R20], FSDP and HSDP.
 *
 * What a GPU holds of the model states, and the collectives that sharding
 * adds: with ZeRO-3 each layer's parameters are all-gathered before its
 * forward and again before its backward, and with ZeRO-2 and 3 each
 * layer's gradients are reduce-scattered as the backward produces them.
 *
 * Sources:
 *  [R20] Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training
 *        Trillion Parameter Models", SC20, arXiv:1910.02054: section 5
 *        (P_os, P_os+g, P_os+g+p: (2 + 2 + K) Psi / Nd), section 7.2
 *        (ZeRO-3 moves 1.5x the baseline: parameters gathered in the forward
 *        and in the backward, gradients reduce-scattered).
 *  [F2]  PyTorch FSDP2, torch.distributed.fsdp.fully_shard: one
 *        all-gather per module before its forward (the next module's
 *        prefetched), again before its backward when reshard_after_forward,
 *        a reduce-scatter of its gradients after its backward.
 *  [TT]  TorchTitan, models/llama3/infra/parallelize.py apply_fsdp: every
 *        transformer block its own FSDP unit, the embedding and the output
 *        layer (with the final norm) too; reshard_after_forward "default" is
 *        off when pipeline parallelism is on.
 */
#include <math.h>
#include <string.h>

#include "cost_internal.h"
#include "moeplan/efficiency.h"

void mp_cost_shard_degrees(const mp_layout *l, int *dense, int *expert)
{
    if (l->zero < 1) {
        *dense = *expert = 1;
        return;
    }
    int ndp = l->dp * l->cp;
    if (l->shard_group <= 0 || l->shard_group >= ndp) {
        *dense = ndp;
        *expert = l->edp;
        return;
    }
    /* HSDP: shard within groups of shard_group of the dp*cp ranks.  The
     * expert-DP group (edp = tp*cp*dp / (etp*ep) ranks) is cut in the same
     * proportion: shard_group * edp / (dp*cp) of its ranks share a shard
     * (mp_layout_check makes that whole). */
    *dense = l->shard_group;
    *expert = (int)((long)l->shard_group * l->edp / ndp);
    if (*expert < 1)
        *expert = 1;
}

/* Whether the parameters stay gathered from a layer's forward to its
 * backward: always with ZeRO-2 (they are never sharded), with ZeRO-3 as
 * the workload says, by default (TorchTitan's "default") only under
 * pipeline parallelism. */
bool mp_cost_keeps_gathered(const mp_workload *w, const mp_layout *l)
{
    if (l->zero < 3)
        return true;
    switch (w->fsdp_reshard) {
    case MP_RESHARD_ALWAYS: return false;
    case MP_RESHARD_NEVER: return true;
    default: return l->pp > 1;
    }
}

static bool keep_gathered(const mp_cost_ctx *c) { return mp_cost_keeps_gathered(c->wl, &c->lay); }

/* Whether the step is priced as DeepSpeed 0.3-0.4's ZeRO-3 (workload
 * zero3_blocking_fetch): every gather and reduce-scatter waited for, one
 * per tensor, 16-bit gradients, list-form slice copies.  Only at ZeRO-3:
 * the key describes how that DeepSpeed fetched sharded parameters, and
 * ZeRO-2 shards none (its reduce-scatters are priced as prefetching
 * ZeRO's, overlapped).  The one test for pricing (here and cost.c) and for
 * what explain says (report.c), so the two cannot disagree. */
bool mp_cost_shard_blocking(const mp_workload *w, const mp_layout *l)
{
    return w->zero3_blocking_fetch && l->zero >= 3;
}

double mp_coll_bus_factor(mp_coll coll, int n)
{
    if (n <= 1)
        return 0;
    return coll == MP_COLL_ALLREDUCE ? 2.0 * (n - 1) / n : coll == MP_COLL_SENDRECV ? 1.0 : (double)(n - 1) / n;
}

/* Whether gradients are reduce-scattered after every micro-batch's
 * backward (ZeRO-2 and 3 hold only their shard: DeepSpeed stage 2 reduces
 * each micro-batch; FSDP2 by default) or accumulated unsharded and reduced
 * once at the end of the step: under pipeline parallelism, where
 * torch.distributed.pipelining syncs gradients on the last backward only
 * (set_requires_gradient_sync), as Megatron's distributed optimizer does. */
static bool reduce_each_micro_batch(const mp_cost_ctx *c)
{
    return c->lay.zero >= 2 && c->lay.pp == 1;
}

void mp_cost_model_states(const mp_cost_ctx *c, const mp_param_split *sp, mp_memory *mem)
{
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    int sd, se;
    mp_cost_shard_degrees(l, &sd, &se);
    double dense = mem->params_dense, expert = mem->params_expert;
    /* [R20] section 5.1: optimizer states (K Psi: fp32 master weights and
     * Adam's two moments, 12 bytes) divided by Nd from stage 1, gradients
     * from stage 2, parameters at stage 3. */
    double ob = w->master_bytes + w->optim_state_bytes;
    mem->optimizer_bytes = dense * ob / sd + expert * ob / se;
    double gs_d = l->zero >= 2 ? sd : 1, gs_e = l->zero >= 2 ? se : 1;
    double ps_d = l->zero >= 3 ? sd : 1, ps_e = l->zero >= 3 ? se : 1;
    mem->gradients_bytes = (dense / gs_d + expert / gs_e) * w->grad_bytes;
    mem->weights_bytes = (dense / ps_d + expert / ps_e) * w->weight_bytes;
    mem->shard_buffer_bytes = 0;
    if (l->zero < 2)
        return;
    /* The unsharded buffers sharding needs on top ([F2]):
     *  - ZeRO-3: the gathered 16-bit parameters of the layer running and
     *    of the next, prefetched (two units); when they stay gathered from
     *    forward to backward, every unit of the rank;
     *  - ZeRO-2 and 3: the unsharded gradients of the layer being
     *    reduce-scattered; accumulated over the step (pipeline
     *    parallelism), those of every unit. */
    double unit = sp->largest_unit;
    double all = dense + expert;
    if (l->zero >= 3)
        mem->shard_buffer_bytes += (keep_gathered(c) ? all : fmin(2 * unit, all)) * w->weight_bytes;
    mem->shard_buffer_bytes += (reduce_each_micro_batch(c) ? unit : all) * w->grad_bytes;
}

/* One collective over a sharding group: n ranks `stride` apart. */
static double coll_s(const mp_cost_ctx *c, mp_coll k, int n, int stride, double bytes)
{
    if (n <= 1 || bytes <= 0)
        return 0;
    return mp_cost_collective_s(c->hw, k, n, mp_cost_members_per_node(c->hw, stride, n), bytes);
}

/* Time of one unit's collective: the dense part over the dense sharding
 * group (dp*cp ranks, stride tp; HSDP: its first shard_group), the experts
 * over the expert sharding group (stride etp*ep). */
static double unit_s(const mp_cost_ctx *c, mp_coll k, double dense, double expert, double bytes_per_param)
{
    const mp_layout *l = &c->lay;
    int sd, se;
    mp_cost_shard_degrees(l, &sd, &se);
    return coll_s(c, k, sd, l->tp, dense * bytes_per_param) +
           coll_s(c, k, se, l->etp * l->ep, expert * bytes_per_param);
}

/* What one micro-batch of a pipeline rank runs, unit by unit: the
 * settings, one layer's dense and expert parameters of each class, and the
 * extra collectives per unit of DeepSpeed's per-tensor ZeRO-3.  Shared by
 * the priced sums (mp_cost_shard_micro_batch) and the listing
 * (mp_cost_shard_ops), so the two cannot differ. */
typedef struct {
    bool per_mb_ag, bwd_ag, rc_ag, per_mb_rs;
    double units[MP_LAYER_CLASSES][2]; /* dense, expert parameters of one layer of each class */
    double extra_ag, extra_rs;         /* latency-only collectives added per layer (blocking fetch) */
    double rs_bytes;                   /* bytes per parameter reduce-scattered */
    int tensors_ag, tensors_rs;        /* blocking fetch: collectives per layer (gathered matrices, reduced tensors) */
    int ring;                          /* blocking fetch: ranks of the dense sharding group; 0 otherwise */
} shard_plan;

/* DeepSpeed 0.3-0.4 issued list-form collectives (torch.distributed's
 * all_gather and reduce_scatter over one tensor per rank), and PyTorch's
 * NCCL process group of that time ran those through a flat buffer of its
 * own: ProcessGroupNCCL::allgather copies each of the n output slices out
 * of it after the NCCL call (outputTensors[i][j].copy_(outputFlattened[i][j])),
 * reduce_scatter copies each of the n input slices into it before
 * (flatten_for_scatter_gather).  So each such collective adds n device
 * copies, a kernel each, moving the whole buffer once (read and write):
 * `tensors` collectives of `params` in all at `bpp` bytes. */
static double slices_s(const mp_cost_ctx *c, const shard_plan *p, double params, double bpp, int tensors)
{
    if (p->ring <= 1 || params <= 0)
        return 0;
    return mp_eff_memory_s(c->hw, 2.0 * params * bpp, tensors * p->ring);
}

static bool shard_plan_of(const mp_cost_ctx *c, const mp_param_split *sp, shard_plan *p)
{
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    memset(p, 0, sizeof *p);
    if (l->zero < 2)
        return false;
    bool gather = l->zero >= 3;
    /* Once per step under pipeline parallelism (parameters kept gathered,
     * gradients accumulated): the per-step part is priced by
     * mp_cost_step_ops; here only what recurs every micro-batch. */
    p->per_mb_rs = reduce_each_micro_batch(c);
    p->per_mb_ag = gather && l->pp == 1;
    p->bwd_ag = p->per_mb_ag && !keep_gathered(c);
    /* DeepSpeed 0.3-0.4 (zero3_blocking_fetch) fetches on every
     * submodule's forward pre-hook and releases on its post-hook
     * (stage3.py at v0.3.16: pre_sub_module_forward_function ->
     * fetch_sub_module, post_sub_module_forward_function ->
     * release_sub_module).  Full recomputation re-runs each layer's forward
     * inside its backward, so those hooks fire again: the layer's
     * parameters are gathered a third time per micro-batch, before the
     * backward's own fetch (pre_sub_module_backward_function).  FSDP units
     * wrap the recomputed block and stay unsharded through it: no extra
     * gather there. */
    p->rc_ag = p->bwd_ag && mp_cost_shard_blocking(w, l) && l->recompute == MP_RECOMPUTE_FULL;
    /* The gradients reduce-scattered: the workload's gradient bytes
     * (Megatron-LM reduces its fp32 main gradients), but DeepSpeed 0.3-0.4's
     * ZeRO-3 reduce-scatters each 16-bit parameter's own .grad, in the
     * parameter's dtype (partition_parameters.py at v0.3.16,
     * _reduce_scatter_gradient: torch.distributed.reduce_scatter over
     * param.grad slices), before copying its shard into fp32. */
    bool blocking = mp_cost_shard_blocking(w, l);
    p->rs_bytes = blocking ? w->weight_bytes : w->grad_bytes;
    for (int q = 0; q < MP_LAYER_CLASSES; q++) {
        bool moe = q & 1;
        p->units[q][0] = sp->layer_attention + (moe ? sp->layer_moe_common : sp->layer_dense_mlp);
        p->units[q][1] = moe ? sp->layer_experts : 0;
    }
    /* DeepSpeed 0.3-0.4 (workload zero3_blocking_fetch): one collective
     * per tensor, not per layer: the layer's matrices gathered (smaller
     * tensors persist), every tensor's gradient reduce-scattered; each
     * extra collective adds its ring's latency. */
    if (blocking) {
        const mp_model *m = c->model;
        int mats = 4; /* QKV, output projection, FC1 (gate and up fused), FC2 */
        int small = (m->qkv_bias ? 1 : 0) + (m->out_bias ? 1 : 0) + (m->mlp_bias ? 2 : 0) +
                    2 * (m->norm == MP_NORM_LAYER ? 2 : 1);
        p->extra_ag = (mats - 1) * unit_s(c, MP_COLL_ALLGATHER, 1, 0, w->weight_bytes);
        p->tensors_ag = mats;
        p->tensors_rs = mats + small;
        int sd, se;
        mp_cost_shard_degrees(l, &sd, &se);
        p->ring = sd;
        p->extra_rs = (mats + small - 1) * unit_s(c, MP_COLL_REDUCESCATTER, 1, 0, w->weight_bytes);
    }
    return true;
}

void mp_cost_shard_micro_batch(const mp_cost_ctx *c, const mp_param_split *sp, const int nr[MP_LAYER_CLASSES],
                               mp_shard_mb *out)
{
    const mp_workload *w = c->wl;
    memset(out, 0, sizeof *out);
    shard_plan p;
    if (!shard_plan_of(c, sp, &p))
        return;
    double first_ag = 0, last_rs = 0;
    for (int q = 0; q < MP_LAYER_CLASSES; q++) {
        if (!nr[q])
            continue;
        double up = p.units[q][0] + p.units[q][1];
        double ag = unit_s(c, MP_COLL_ALLGATHER, p.units[q][0], p.units[q][1], w->weight_bytes) + p.extra_ag +
                    slices_s(c, &p, up, w->weight_bytes, p.tensors_ag);
        double rs = unit_s(c, MP_COLL_REDUCESCATTER, p.units[q][0], p.units[q][1], p.rs_bytes) + p.extra_rs +
                    slices_s(c, &p, up, p.rs_bytes, p.tensors_rs);
        if (p.per_mb_ag) {
            out->fwd_ag_s += nr[q] * ag;
            first_ag = fmax(first_ag, ag);
        }
        if (p.bwd_ag)
            out->bwd_ag_s += nr[q] * ag * (p.rc_ag ? 2 : 1);
        if (p.per_mb_rs) {
            out->bwd_rs_s += nr[q] * rs;
            last_rs = fmax(last_rs, rs);
        }
    }
    /* The embedding and the output layer are units of their own ([TT]). */
    double extra[2] = {sp->embedding, sp->head};
    for (int i = 0; i < 2; i++) {
        if (extra[i] <= 0)
            continue;
        double ag = unit_s(c, MP_COLL_ALLGATHER, extra[i], 0, w->weight_bytes) +
                    slices_s(c, &p, extra[i], w->weight_bytes, 1);
        if (p.per_mb_ag)
            out->fwd_ag_s += ag;
        if (p.bwd_ag)
            out->bwd_ag_s += ag;
        if (p.per_mb_rs)
            out->bwd_rs_s += unit_s(c, MP_COLL_REDUCESCATTER, extra[i], 0, p.rs_bytes) +
                             slices_s(c, &p, extra[i], p.rs_bytes, 1);
    }
    /* Exposed: the first unit's gather (nothing runs before it) and the
     * last unit's reduce-scatter (nothing runs after it) are waited for;
     * the rest overlaps the units' compute (prefetch), so only what exceeds
     * it shows.  mp_cost_shard_exposed applies the windows. */
    out->first_ag_s = first_ag;
    out->last_rs_s = last_rs;
}

/* One listed collective of a unit: the group's op with the time the sums
 * above use (dense over the dense sharding group, experts over theirs). */
static void shard_op(const mp_cost_ctx *c, mp_op *o, const char *name, mp_coll k, bool expert, double params,
                     double bytes_per_param, double extra_s, double fwd_times, double bwd_times, int count,
                     int *counts, size_t *n)
{
    const mp_layout *l = &c->lay;
    int sd, se;
    mp_cost_shard_degrees(l, &sd, &se);
    int g = expert ? se : sd, stride = expert ? l->etp * l->ep : l->tp;
    if (g <= 1 || params <= 0 || (fwd_times <= 0 && bwd_times <= 0))
        return;
    mp_op *x = &o[*n];
    memset(x, 0, sizeof *x);
    x->name = name;
    x->kind = MP_OP_COMM;
    x->coll = fwd_times > 0 ? k : MP_COLL_NONE;
    x->bwd_coll = bwd_times > 0 ? k : MP_COLL_NONE;
    x->group = expert ? MP_GROUP_EDP : MP_GROUP_DP;
    x->group_size = g;
    x->inter_node = mp_cost_members_per_node(c->hw, stride, g) < g;
    double bytes = params * bytes_per_param;
    double t = coll_s(c, k, g, stride, bytes) + extra_s;
    x->fwd_comm_bytes = fwd_times > 0 ? bytes : 0;
    x->bwd_comm_bytes = bwd_times > 0 ? bytes : 0;
    x->fwd_s = fwd_times * t;
    x->bwd_s = bwd_times * t;
    x->transient_bytes = bytes;
    counts[*n] = count;
    (*n)++;
}

size_t mp_cost_shard_ops(const mp_cost_ctx *c, mp_op *ops, int *counts, size_t max)
{
    const mp_workload *w = c->wl;
    if (c->lay.pp != 1 || max < 4 * MP_LAYER_CLASSES + 4)
        return 0;
    mp_param_split sp;
    mp_cost_stage_params(c, 0, &sp);
    shard_plan p;
    if (!shard_plan_of(c, &sp, &p))
        return 0;
    int nr[MP_LAYER_CLASSES];
    mp_cost_count_layers(c, 0, c->model->num_layers, nr);
    static const char *const ag_name[MP_LAYER_CLASSES][2] = {
        {"layer-gather", "layer-expert-gather"},
        {"moe-layer-gather", "moe-layer-expert-gather"},
        {"local-layer-gather", "local-layer-expert-gather"},
        {"local-moe-gather", "local-moe-expert-gather"}};
    static const char *const rs_name[MP_LAYER_CLASSES][2] = {
        {"layer-grad-rs", "layer-expert-grad-rs"},
        {"moe-layer-grad-rs", "moe-layer-expert-grad-rs"},
        {"local-layer-grad-rs", "local-layer-expert-grad-rs"},
        {"local-moe-grad-rs", "local-moe-expert-grad-rs"}};
    size_t n = 0;
    double fa = p.per_mb_ag ? 1 : 0, ba = p.bwd_ag ? (p.rc_ag ? 2 : 1) : 0, br = p.per_mb_rs ? 1 : 0;
    for (int q = 0; q < MP_LAYER_CLASSES; q++) {
        if (!nr[q])
            continue;
        for (int e = 0; e < 2; e++) {
            /* The per-tensor extras (blocking fetch) on the dense row. */
            double up = p.units[q][0] + p.units[q][1];
            shard_op(c, ops, ag_name[q][e], MP_COLL_ALLGATHER, e, p.units[q][e], w->weight_bytes,
                     e ? 0 : p.extra_ag + slices_s(c, &p, up, w->weight_bytes, p.tensors_ag), fa, ba, nr[q], counts,
                     &n);
            shard_op(c, ops, rs_name[q][e], MP_COLL_REDUCESCATTER, e, p.units[q][e], p.rs_bytes,
                     e ? 0 : p.extra_rs + slices_s(c, &p, up, p.rs_bytes, p.tensors_rs), 0, br, nr[q], counts, &n);
        }
    }
    if (sp.embedding > 0) {
        shard_op(c, ops, "embedding-gather", MP_COLL_ALLGATHER, false, sp.embedding, w->weight_bytes,
                 slices_s(c, &p, sp.embedding, w->weight_bytes, 1), fa,
                 p.bwd_ag ? 1 : 0, 1, counts, &n);
        shard_op(c, ops, "embedding-grad-rs", MP_COLL_REDUCESCATTER, false, sp.embedding, p.rs_bytes,
                 slices_s(c, &p, sp.embedding, p.rs_bytes, 1), 0, br, 1,
                 counts, &n);
    }
    if (sp.head > 0) {
        shard_op(c, ops, "head-gather", MP_COLL_ALLGATHER, false, sp.head, w->weight_bytes,
                 slices_s(c, &p, sp.head, w->weight_bytes, 1), fa,
                 p.bwd_ag ? 1 : 0, 1, counts, &n);
        shard_op(c, ops, "head-grad-rs", MP_COLL_REDUCESCATTER, false, sp.head, p.rs_bytes,
                 slices_s(c, &p, sp.head, p.rs_bytes, 1), 0, br, 1, counts,
                 &n);
    }
    return n;
}

void mp_cost_shard_exposed(const mp_shard_mb *s, double fwd_window_s, double bwd_window_s, double *fwd_s,
                           double *bwd_s)
{
    *fwd_s = s->fwd_ag_s > 0 ? s->first_ag_s + fmax(0, s->fwd_ag_s - s->first_ag_s - fwd_window_s) : 0;
    double b = s->bwd_ag_s + s->bwd_rs_s;
    *bwd_s = b > 0 ? s->last_rs_s + fmax(0, b - s->last_rs_s - bwd_window_s) : 0;
}
