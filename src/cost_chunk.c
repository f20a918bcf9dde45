/* The cost model asked per pipeline rank, per model chunk and per layer,
 * for the simulator (src/simulate.c): the same block sums and the same
 * rank time that mp_cost_assemble uses, split by the chunks a schedule
 * runs one at a time.  Pure functions, no I/O. */
#include <string.h>

#include "cost_internal.h"
#include "moeplan/cost.h"

void mp_cost_rank_time(const mp_cost_ctx *c, const mp_cost_blocks *b, int r, mp_stage_time *st)
{
    mp_rank_frame f;
    double hwf;
    mp_cost_rank_frame(c, r, b->b, &f);
    mp_cost_rank_time_of(c, b, &f, mp_cost_p2p_s(c), st, &hwf);
}

/* One chunk's layers, embedding and output layer, before the rank-level
 * terms (pipeline sends, ZeRO-2/3 collectives). */
static void chunk_raw(const mp_cost_ctx *c, const mp_cost_blocks *b, int r, int k, mp_chunk_time *o)
{
    const mp_layout *l = &c->lay;
    const mp_layer_time *lt = b->layer[l->recompute];
    int first, count, n[MP_LAYER_CLASSES];
    mp_layout_chunk(l, c->model->num_layers, r, k, &first, &count);
    mp_cost_count_layers(c, first, count, n);
    memset(o, 0, sizeof *o);
    for (int q = 0; q < MP_LAYER_CLASSES; q++) {
        if (!n[q])
            continue;
        o->fwd_s += n[q] * lt[q].fwd_s;
        o->bwd_s += n[q] * lt[q].bwd_s;
        o->wgrad_s += n[q] * lt[q].wgrad_s;
        o->hw_flops += n[q] * lt[q].hw_flops;
        o->saved_bytes += n[q] * mp_cost_layer_saved_bytes(c, b->b, q);
        o->wgrad_saved_bytes += n[q] * (b->b[(q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN].wgrad_saved +
                                        b->b[(q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP].wgrad_saved);
    }
    const mp_layer_time *ends[2] = {(r == 0 && k == 0) ? &b->embed : NULL,
                                    (r == l->pp - 1 && k == l->vpp - 1) ? &b->head : NULL};
    const mp_block_sum *end_sums[2] = {&b->b[MP_BLOCK_EMBED], &b->b[MP_BLOCK_HEAD]};
    for (int i = 0; i < 2; i++) {
        if (!ends[i])
            continue;
        o->fwd_s += ends[i]->fwd_s;
        o->bwd_s += ends[i]->bwd_s;
        o->wgrad_s += ends[i]->wgrad_s;
        o->hw_flops += ends[i]->hw_flops;
        o->saved_bytes += end_sums[i]->saved;
        o->wgrad_saved_bytes += end_sums[i]->wgrad_saved;
    }
}

/* The rank-level terms (mp_cost_rank_time less the chunks' own sums) are
 * shared among the chunks in proportion to their time: with one chunk
 * (1F1B) it gets them all, the pipeline sends among them. */
void mp_cost_chunk_time(const mp_cost_ctx *c, const mp_cost_blocks *b, int r, int k, mp_chunk_time *out)
{
    const mp_layout *l = &c->lay;
    mp_stage_time st;
    mp_cost_rank_time(c, b, r, &st);
    double raw_f = 0, raw_b = 0;
    for (int j = 0; j < l->vpp; j++) {
        mp_chunk_time t;
        chunk_raw(c, b, r, j, &t);
        raw_f += t.fwd_s;
        raw_b += t.bwd_s;
        if (j == k)
            *out = t;
    }
    double share = raw_f + raw_b > 0 ? (out->fwd_s + out->bwd_s) / (raw_f + raw_b) : 1.0 / l->vpp;
    out->fwd_s += (st.fwd_s - raw_f) * share;
    out->bwd_s += (st.bwd_s - raw_b) * share;
    out->comm_fraction = st.fwd_s + st.bwd_s > 0 ? st.cat_s[MP_CAT_COMM] / (st.fwd_s + st.bwd_s) : 0;
    /* A blocking send is inside the sender's pass (p2p_s, as in 1F1B); an
     * overlapped one on the link after it (send_s), not both. */
    bool blocking = l->pp > 1 && (l->vpp == 1 || c->wl->pp_blocking_sends);
    out->send_s = blocking && l->vpp > 1 ? 0 : mp_cost_p2p_s(c);
    out->p2p_s = blocking ? mp_cost_p2p_s(c) : 0;
}

void mp_cost_layer_time(const mp_cost_ctx *c, mp_layer_class q, mp_layer_time *out)
{
    mp_block_sum at, ml;
    mp_cost_sum_block(c, (q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN, &at);
    mp_cost_sum_block(c, (q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP, &ml);
    mp_cost_layer_time_of(out, &at, &ml, c->lay.recompute);
}

/* Megatron-Core's MoELayer alone (moe_layer.py: router, token dispatch,
 * experts, combine, and the shared experts where the model has them), as
 * a benchmark that calls the layer directly times it
 * (tests/functional_tests/test_cases/common/moe_perf/__main__.py,
 * _benchmark_moe_layer): the MoE block without what TransformerLayer runs
 * around it, the pre-MLP norm (the block's first op) and the residual add
 * (its last). */
void mp_cost_moe_layer_time(const mp_cost_ctx *c, mp_layer_time *out)
{
    memset(out, 0, sizeof *out);
    if (!mp_cost_block_present(c, MP_BLOCK_MOE_MLP))
        return;
    mp_op ops[MP_MAX_OPS];
    size_t n = mp_cost_block_ops(c, MP_BLOCK_MOE_MLP, ops);
    /* The residual is the last op but for the unfused accumulation's
     * main-grad-add after it (cost_ops.c block_grad_add), which the layer
     * runs: it is kept, moved over the residual. */
    size_t res = n > 0 && ops[n - 1].weight_grad ? n - 2 : n - 1;
    if (n < 2 || res < 1 || strcmp(ops[0].name, "pre-mlp-norm") || strcmp(ops[res].name, "mlp-residual"))
        return; /* not a MoE block (cost_ops.c block_moe builds it so) */
    if (res != n - 1)
        ops[res] = ops[n - 1];
    mp_block_sum ml;
    mp_cost_sum_ops(c, ops + 1, n - 2, &ml);
    mp_cost_layer_time_of(out, NULL, &ml, c->lay.recompute);
}
