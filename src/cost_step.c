/* The cost model's once-per-step ops (split from cost.c): the gradient
 * reduction, the gradient norm and clipping, the optimizer step, listed
 * for explain or only timed for mp_cost_assemble, with their memo.  See
 * include/moeplan/cost.h for the conventions and cost.c for the sources
 * ([N21], [R20]). */
#include <math.h>
#include <string.h>

#include "cost_internal.h"
#include "moeplan/efficiency.h"

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
    /* A group of one sends nothing and an empty buffer (a model without
     * experts has no expert gradients) has nothing to send: 0 s, and not
     * listed (explain --ops showed edp rows of 0 B on dense models). */
    if (n <= 1 || bytes <= 0)
        return 0; /* mp_cost_collective_s's own answer, without the call */
    if (!b->ops)
        return mp_cost_collective_s(b->c->hw, coll, n, mp_cost_members_per_node(b->c->hw, stride, n), bytes);
    mp_op *x = mp_cost_comm(b, name, g, n, stride, coll, bytes, MP_COLL_NONE, 0);
    x->overlapped = ov;
    return x->fwd_s;
}
/* The time of one collective over n ranks `stride` apart (0 when n is 1). */
static double step_coll_s(const mp_cost_ctx *c, mp_coll coll, int n, int stride, double bytes)
{
    return n <= 1 ? 0 : mp_cost_collective_s(c->hw, coll, n, mp_cost_members_per_node(c->hw, stride, n), bytes);
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
    return mp_cost_memop(b, name, bytes, 0, 0)->fwd_s;
}

/* Bytes of the tied embeddings' gradient all-reduce (mp_cost_step_ops):
 * this TP rank's V/tp x h slice of the gradient, or, with ZeRO-2/3
 * (Megatron-FSDP), the local shard of it, 1/sd (finalize_model_grads.py
 * takes main_grad._local_tensor under use_megatron_fsdp, at d98e8a64ddf3). */
static double embedding_sync_bytes(const mp_cost_ctx *c)
{
    const mp_layout *l = &c->lay;
    int sd, se;
    mp_cost_shard_degrees(l, &sd, &se);
    double b = (double)c->model->vocab / l->tp * c->model->hidden * c->wl->grad_bytes;
    return l->zero >= 2 && sd > 1 ? b / sd : b;
}

void mp_cost_step_ops(opbuf *b, double dense, double expert, double unit, step_cost *sc)
{
    const mp_cost_ctx *c = b->c;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    int ndp = l->dp * l->cp;
    int es = l->etp * l->ep;
    int sd, se;
    mp_cost_shard_degrees(l, &sd, &se);
    int rd = ndp / sd, re = l->edp / se; /* replicas of each shard (HSDP) */
    bool ov = w->overlap_grad_reduce;
    memset(sc, 0, sizeof *sc);
    /* Megatron-Core's default bucket: max(40,000,000, 1,000,000 x dp)
     * parameters (distributed/distributed_data_parallel.py,
     * DistributedDataParallel.__init__ at d98e8a64ddf3), for the dense and
     * the expert buffer alike; only pipeline rank 0 buckets (pp_rank > 0
     * sets bucket_size None: one bucket), and without overlap_grad_reduce
     * there is one bucket too (so no bucket time is needed).  The last
     * bucket of each buffer holds the first layers' gradients, ready when
     * the backward ends.  ZeRO-2/3 reduce layer by layer (FSDP's units,
     * cost_shard.c): their bucket is the rank's largest unit. */
    double bucket = l->zero >= 2 ? unit : 1e6 * l->dp > 40e6 ? 1e6 * l->dp : 40e6;
    double bd = bucket < dense ? bucket : dense, be = bucket < expert ? bucket : expert;
    if (l->zero == 0) {
        sc->rs += step_coll(b, "dp-grad-all-reduce", MP_GROUP_DP, ndp, l->tp, MP_COLL_ALLREDUCE,
                            dense * w->grad_bytes, ov);
        sc->rs += step_coll(b, "edp-grad-all-reduce", MP_GROUP_EDP, l->edp, es, MP_COLL_ALLREDUCE,
                            expert * w->grad_bytes, ov);
        if (ov)
            sc->rs_bucket = step_coll_s(c, MP_COLL_ALLREDUCE, ndp, l->tp, bd * w->grad_bytes) +
                            step_coll_s(c, MP_COLL_ALLREDUCE, l->edp, es, be * w->grad_bytes);
    } else {
        /* The gradients' reduce-scatter over the sharding group: here with
         * ZeRO-1, and with ZeRO-2/3 under pipeline parallelism (gradients
         * accumulated over the step); otherwise each micro-batch's, priced
         * in its backward (mp_cost_shard_micro_batch).  Then, with HSDP,
         * the all-reduce of each shard across its replicas (Megatron's
         * --num-distributed-optimizer-instances, FSDP's replicate dim). */
        bool step_rs = l->zero == 1 || l->pp > 1;
        if (step_rs) {
            sc->rs += step_coll(b, "dp-grad-reduce", MP_GROUP_DP, sd, l->tp, MP_COLL_REDUCESCATTER,
                                dense * w->grad_bytes, ov);
            sc->rs += step_coll(b, "edp-grad-reduce", MP_GROUP_EDP, se, es, MP_COLL_REDUCESCATTER,
                                expert * w->grad_bytes, ov);
        }
        sc->rs += step_coll(b, "dp-replica-all-reduce", MP_GROUP_DP, rd, l->tp * sd, MP_COLL_ALLREDUCE,
                            dense / sd * w->grad_bytes, ov);
        sc->rs += step_coll(b, "edp-replica-all-reduce", MP_GROUP_EDP, re, es * se, MP_COLL_ALLREDUCE,
                            expert / se * w->grad_bytes, ov);
        /* The updated 16-bit weights gathered back after the optimizer:
         * ZeRO-1 and 2 keep whole weights; ZeRO-3 keeps them sharded and
         * gathers each layer before its forward -- every micro-batch, or,
         * under pipeline parallelism (kept gathered), once per step, here. */
        bool step_ag = l->zero <= 2 || l->pp > 1;
        if (step_ag) {
            sc->ag += step_coll(b, "dp-param-gather", MP_GROUP_DP, sd, l->tp, MP_COLL_ALLGATHER,
                                dense * w->weight_bytes, ov);
            sc->ag += step_coll(b, "edp-param-gather", MP_GROUP_EDP, se, es, MP_COLL_ALLGATHER,
                                expert * w->weight_bytes, ov);
        }
        if (ov) {
            if (step_rs)
                sc->rs_bucket = step_coll_s(c, MP_COLL_REDUCESCATTER, sd, l->tp, bd * w->grad_bytes) +
                                step_coll_s(c, MP_COLL_REDUCESCATTER, se, es, be * w->grad_bytes);
            sc->rs_bucket += step_coll_s(c, MP_COLL_ALLREDUCE, rd, l->tp * sd, bd / sd * w->grad_bytes) +
                             step_coll_s(c, MP_COLL_ALLREDUCE, re, es * se, be / se * w->grad_bytes);
            if (step_ag)
                sc->ag_bucket = step_coll_s(c, MP_COLL_ALLGATHER, sd, l->tp, bd * w->weight_bytes) +
                                step_coll_s(c, MP_COLL_ALLGATHER, se, es, be * w->weight_bytes);
        }
    }
    /* Tied embeddings under pipeline parallelism: the first rank's word
     * embedding and the last rank's output layer are one parameter held
     * twice, so after the data-parallel sync their main gradients (V/tp x h
     * in grad bytes, each TP rank its slice) are all-reduced over the
     * embedding group, the first and the last pipeline rank, (pp - 1) x
     * tp cp dp ranks apart, exposed before the norm (Megatron-Core
     * distributed/finalize_model_grads.py, finalize_model_grads ->
     * _allreduce_word_embedding_grads at d98e8a64ddf3).  Listed on rank 0;
     * timed by mp_cost_embedding_sync_s, the same formula. */
    if (b->ops && mp_cost_embedding_sync_s(c) > 0)
        step_coll(b, "embedding-grad-all-reduce", MP_GROUP_PP, 2, l->tp * l->cp * l->dp * (l->pp - 1),
                  MP_COLL_ALLREDUCE, embedding_sync_bytes(c), false);
    double updated = dense / sd + expert / se;
    /* The optimizer's gradients: the main gradients, or, with 16-bit
     * model gradients and no main-gradient buffer (grad_accum_autograd:
     * Megatron-LM of 2021 with --fp16 alone, optimizer/optimizer.py
     * _copy_model_grads_to_main_grads and _unscale_main_grads_and_check_for_nan
     * at de7dc40), fp32 copies made here: each 16-bit gradient read and
     * written in fp32, then unscaled in place (read and write), read by
     * the norm, the clip and Adam as below; no zero_grad memset (the
     * gradients are set to None). */
    bool fresh = w->grad_accum_autograd;
    double G = fresh ? w->master_bytes : w->grad_bytes; /* the copies are in the master weights' fp32 */
    if (fresh) {
        sc->opt += step_mem(b, "grad-to-fp32", updated * (w->grad_bytes + G));
        sc->opt += step_mem(b, "grad-unscale", updated * 2 * G);
    }
    /* Gradient norm (optimizer/clip_grads.py, get_grad_norm_fp32:
     * multi_tensor_l2norm reads the fp32 gradients of this GPU's shard once),
     * then the squared norm is all-reduced over the grad-stats group: every
     * GPU with the distributed optimizer, the model-parallel tp x pp group
     * without it (optimizer.py, get_grad_stats_parallel_group; the dense and
     * expert optimizers share it, ChainedOptimizer.get_grad_norm: one
     * all-reduce).  The same on every rank. */
    sc->opt += step_mem(b, "grad-norm", updated * G);
    if (b->ops || b->want_norm)
        sc->norm_ar = step_coll(b, "grad-norm-all-reduce", MP_GROUP_WORLD,
                                l->zero >= 1 ? l->gpus : l->tp * l->pp, 1, MP_COLL_ALLREDUCE, 4, false);
    /* Clipping (clip_grad_by_total_norm_fp32, multi_tensor_scale: reads and
     * writes the shard's gradients), priced as applied every step: --clip-grad
     * defaults to 1.0 (megatron/training/arguments.py). */
    sc->opt += step_mem(b, "grad-clip", 2 * updated * G);
    /* Adam, memory-bound: per parameter updated, read the fp32 gradient,
     * master weight and states, write master and states back and the 16-bit
     * weight. */
    sc->opt += step_mem(b, "optimizer-step",
                        updated * (G + 2 * w->master_bytes + 2 * w->optim_state_bytes + w->weight_bytes));
    /* The copy of the updated master weights into the 16-bit weights is a
     * kernel of its own (optimizer.py, _copy_main_params_to_model_params /
     * _copy_main_params_to_param_buffer): it reads the master weights again
     * (the 16-bit write is counted above). */
    sc->opt += step_mem(b, "master-to-16bit", updated * w->master_bytes);
    /* zero_grad_buffer (distributed/param_and_grad_buffer.py): a memset of
     * the GPU's whole fp32 gradient buffer, every parameter it holds; with
     * ZeRO-2/3 the buffer is the shard. */
    if (!fresh)
        sc->opt += step_mem(b, "zero-grad", (l->zero >= 2 ? updated : dense + expert) * w->grad_bytes);
}

double mp_cost_embedding_sync_s(const mp_cost_ctx *c)
{
    const mp_layout *l = &c->lay;
    if (!c->model->tied_embeddings || l->pp <= 1)
        return 0;
    /* The embedding group's all-reduce (mp_cost_step_ops above). */
    return step_coll_s(c, MP_COLL_ALLREDUCE, 2, l->tp * l->cp * l->dp * (l->pp - 1), embedding_sync_bytes(c));
}

void mp_cost_step_costs(const mp_cost_ctx *c, const mp_memory *mem, double unit, bool norm, step_cost *sc)
{
    /* Cached by the caller (mp_cost_assemble: the frame memo and the
     * search's states table), not here. */
    opbuf b = {c, NULL, 0, 0, 0, norm, 0, 0};
    mp_cost_step_ops(&b, mem->params_dense, mem->params_expert, unit, sc);
    sc->opt = mp_eff_memory_s(c->hw, b.mem_bytes, b.mem_kernels);
}

