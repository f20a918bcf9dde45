/* Unit tests: published runs read and compared (runs.h).
 *
 * tests/data/runs-small.yaml holds one record per path of the reader; the
 * expected figures below are worked out by hand from those records. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/runs.h"

#include "check_main.h"

#ifndef TEST_DATA
#error "TEST_DATA must point at tests/data"
#endif
#ifndef PLANS_DIR
#error "PLANS_DIR must point at plans/"
#endif

static mp_run *runs;
static size_t n_runs;

static void load(void)
{
    mp_error e;
    memset(&e, 0, sizeof e);
    mp_status st = mp_runs_load(TEST_DATA "/runs-small.yaml", PLANS_DIR "/hardware", &runs, &n_runs, &e);
    ck_assert_msg(st == MP_OK, "%s:%d:%d: %s", e.file, e.line, e.col, e.msg);
}

static void unload(void)
{
    free(runs);
    runs = NULL;
}

static const mp_run *find(const char *id)
{
    for (size_t i = 0; i < n_runs; i++)
        if (!strcmp(runs[i].id, id))
            return &runs[i];
    ck_abort_msg("no run %s", id);
    return NULL;
}

static bool assumed(const mp_run *r, const char *text)
{
    for (int i = 0; i < r->n_assumptions; i++)
        if (strstr(r->assumptions[i], text))
            return true;
    return false;
}

/* The run evaluated as validate does (res) and, for comparison, the cost
 * model asked directly for the same inputs (c, k). */
static void evaluate_both(const mp_run *r, mp_run_result *res, mp_cost_ctx *c, mp_cost *k)
{
    mp_run_evaluate(r, res);
    mp_cost_ctx_init(c, &r->model, &r->hw, &r->wl, &r->lay, r->seq_len);
    mp_cost_evaluate(c, k);
}

/* A layer benchmark evaluated as validate does (res), and the context its
 * layer is priced in (c), for asking the cost model the same layer. */
static void evaluate_layer(const mp_run *r, mp_run_result *res, mp_cost_ctx *c)
{
    mp_run_evaluate(r, res);
    mp_cost_ctx_init(c, &r->model, &r->hw, &r->wl, &r->lay, r->seq_len);
}

/* GPT small, unfused attention, iteration time given: Megatron's defaults
 * fill kv_heads = heads = 16 and ffn = 4h = 4096; the GPT block has
 * LayerNorm, biases, tied embeddings and dropout. */
START_TEST(test_read_gpt)
{
    const mp_run *r = find("gpt-time");
    ck_assert_str_eq(r->skip, "");
    ck_assert_int_eq(r->basis, MP_MEASURED_TIME);
    ck_assert_double_eq(r->measured_step_s, 0.5);
    ck_assert_int_eq(r->model.num_kv_heads, 16);
    ck_assert_int_eq(r->model.head_dim, 64);
    ck_assert_int_eq(r->model.ffn_hidden, 4096);
    ck_assert(!r->model.gated_mlp && r->model.dropout && r->model.tied_embeddings);
    ck_assert(r->model.norm == MP_NORM_LAYER);
    ck_assert(!r->wl.flash_attention);
    ck_assert_int_eq(r->lay.tp, 8);
    ck_assert_int_eq(r->lay.dp, 1);
    ck_assert(r->lay.recompute == MP_RECOMPUTE_FULL);
    ck_assert_int_eq(r->lay.num_micro_batches, 1);
    ck_assert(assumed(r, "ffn_hidden not given: 4h = 4096"));
    ck_assert(assumed(r, "kv_heads not given: 16"));
    ck_assert(strstr(r->hardware_file, "a100-sxm-80gb.yaml"));
}
END_TEST

/* Narayanan et al. eq. (3) with B 64, s 2048, l 4, h 1024, V 51200:
 * 96 B s l h^2 = 52,776,558,133,248; (1 + s/6h + V/16lh) = 1 + 1/3 + 25/32
 * = 203/96; F = 549,755,813,888 * 203 = 111,600,430,219,264 FLOPs; at 100
 * TFLOP/s on 8 GPUs: 0.13950053777408 s.  pp comes from GPUs / (tp dp). */
START_TEST(test_read_eq3)
{
    const mp_run *r = find("gpt-eq3");
    ck_assert_str_eq(r->skip, "");
    ck_assert_int_eq(r->basis, MP_MEASURED_TFLOPS_EQ);
    ck_assert(fabs(r->measured_step_s - 0.13950053777408) < 1e-12);
    ck_assert_int_eq(r->lay.pp, 1);
    ck_assert(assumed(r, "pp not given: 1"));
}
END_TEST

/* 32 sequences x 4096 tokens at 65536 tokens/s: 2.0 s.  dp = 16 / (2 x 2)
 * = 4; micro-batch 1 and sequence parallelism (tp 2) are assumed; memory
 * 40 GB measured on the last rank. */
START_TEST(test_read_tokens)
{
    const mp_run *r = find("llama-tokens");
    ck_assert_str_eq(r->skip, "");
    ck_assert_int_eq(r->basis, MP_MEASURED_TOKENS);
    ck_assert_double_eq(r->measured_step_s, 2.0);
    ck_assert_int_eq(r->lay.dp, 4);
    ck_assert_int_eq(r->lay.micro_batch, 1);
    ck_assert(r->lay.sequence_parallel);
    ck_assert(assumed(r, "micro_batch not given: 1"));
    ck_assert(assumed(r, "sequence_parallel not given: on"));
    ck_assert(r->model.gated_mlp && !r->model.dropout && !r->model.tied_embeddings);
    ck_assert_double_eq(r->measured_memory_bytes, 40e9);
    ck_assert(r->memory_last_rank);
    ck_assert(strstr(r->hardware_file, "h100-sxm.yaml"));
}
END_TEST

/* MFU 0.25 of 989.5 TFLOP/s on 16 GPUs: the measured step is moeplan's
 * model FLOPs per step / (0.25 * 989.5e12 * 16), and the prediction is the
 * cost model's step for the same inputs. */
START_TEST(test_evaluate_mfu)
{
    const mp_run *r = find("moe-mfu");
    ck_assert_str_eq(r->skip, "");
    ck_assert(r->moe);
    ck_assert_int_eq(r->basis, MP_MEASURED_MFU);
    ck_assert_int_eq(r->lay.edp, 1); /* 8 dp x 1 tp / (8 ep x 1 etp) */
    mp_run_result res;
    mp_cost_ctx c;
    mp_cost k;
    evaluate_both(r, &res, &c, &k);
    ck_assert_double_eq(res.predicted_step_s, k.t_total_s);
    ck_assert(fabs(res.measured_step_s - k.model_flops_per_step / (0.25 * 989.5e12 * 16)) < 1e-12 * res.measured_step_s);
    ck_assert(fabs(res.error - (res.predicted_step_s / res.measured_step_s - 1)) < 1e-12);
    ck_assert(res.dominant != NULL && res.dominant_fraction > 0 && res.dominant_fraction <= 1);
}
END_TEST

/* An MFU whose source counted attention over all S keys (Megatron-LM
 * through core_r0.11.0) is read with that count.  4 layers, 16 heads x 64,
 * S = 2048: each query's scores and weighted values cost 2 x 16 x (64 + 64)
 * = 4096 FLOPs per key; all keys instead of the causal mean S/2 = 1024 adds
 * 4096 x 1024 x 4 layers = 16,777,216 forward FLOPs per token, 50,331,648
 * with the backward (x 3) -- Megatron's own difference, 12 L h^2 (s/h) / 2
 * = 6 x 4 x 1024 x 2048 = 50,331,648.  64 x 2048 tokens, MFU 0.4 of the
 * H100 file's 989 TFLOP/s on 8 GPUs. */
START_TEST(test_evaluate_mfu_all_keys)
{
    const mp_run *r = find("gpt-mfu-all-keys");
    ck_assert_str_eq(r->skip, "");
    ck_assert(r->flops_all_keys);
    ck_assert(assumed(r, "all S keys"));
    ck_assert(!find("moe-mfu")->flops_all_keys);
    mp_run_result res;
    mp_cost_ctx c;
    mp_cost k;
    evaluate_both(r, &res, &c, &k);
    double tokens = 64.0 * 2048.0;
    ck_assert_double_eq(k.tokens_per_step, tokens);
    double want = (k.model_flops_per_step + 50331648.0 * tokens) / (0.4 * 989e12 * 8);
    ck_assert_msg(fabs(res.measured_step_s - want) < 1e-9 * want, "measured %.9g s, by hand %.9g s", res.measured_step_s,
                  want);
    double causal = mp_cost_model_fwd_flops_per_token(&r->model, &c.params, 2048.0, false);
    double all = mp_cost_model_fwd_flops_per_token(&r->model, &c.params, 2048.0, true);
    ck_assert_double_eq(all - causal, 16777216.0);
    ck_assert_double_eq(3.0 * causal * tokens, k.model_flops_per_step);
}
END_TEST

/* A training_layer_microbench record: one layer's forward and backward of
 * one micro-batch against the cost model's own time of that layer
 * (mp_cost_layer_time, what the step sums per layer), its full
 * recomputation in the backward.  The layout: tp 8 over the 8 GPUs, pp 1
 * (one layer), dp 1, so one micro-batch of 4 (global batch 4 x 1).  The
 * measured step is 7.7 + 19.5 = 27.2 ms; the error of each pass is its
 * predicted / measured - 1.  Full recomputation re-runs the forward in
 * the backward, so the predicted backward exceeds the forward by at least
 * the forward itself; and the same layer without recomputation is faster
 * backward by that forward exactly (the TP collectives of the forward
 * included: mp_cost_layer_time_of adds recompute_full_s, the sum of the
 * forward's ops). */
START_TEST(test_evaluate_layer)
{
    const mp_run *r = find("layer-22b");
    ck_assert_str_eq(r->skip, "");
    ck_assert(r->layer_bench);
    ck_assert_int_eq(r->basis, MP_MEASURED_LAYER);
    ck_assert(assumed(r, "vocab not given"));
    ck_assert_int_eq(r->lay.tp, 8);
    ck_assert_int_eq(r->lay.pp, 1);
    ck_assert_int_eq(r->lay.dp, 1);
    ck_assert_int_eq(r->wl.global_batch, 4);
    ck_assert_int_eq(r->lay.recompute, MP_RECOMPUTE_FULL);
    ck_assert(!r->wl.flash_attention);
    ck_assert_rel(r->measured_fwd_s, 7.7e-3, 1e-12);
    ck_assert_rel(r->measured_bwd_s, 19.5e-3, 1e-12);
    mp_run_result res;
    mp_cost_ctx c;
    evaluate_layer(r, &res, &c);
    ck_assert_rel(res.measured_step_s, 27.2e-3, 1e-12);
    mp_layer_time lt;
    mp_cost_layer_time(&c, MP_LAYER_DENSE, &lt);
    ck_assert_double_eq(res.predicted_fwd_s, lt.fwd_s);
    ck_assert_double_eq(res.predicted_bwd_s, lt.bwd_s);
    ck_assert_rel(res.fwd_error, lt.fwd_s / 7.7e-3 - 1, 1e-12);
    ck_assert_rel(res.bwd_error, lt.bwd_s / 19.5e-3 - 1, 1e-12);
    ck_assert_rel(res.error, (lt.fwd_s + lt.bwd_s) / 27.2e-3 - 1, 1e-12);
    mp_layout none = r->lay;
    none.recompute = MP_RECOMPUTE_NONE;
    mp_cost_ctx c0;
    mp_cost_ctx_init(&c0, &r->model, &r->hw, &r->wl, &none, r->seq_len);
    mp_layer_time l0;
    mp_cost_layer_time(&c0, MP_LAYER_DENSE, &l0);
    ck_assert_rel(lt.bwd_s - l0.bwd_s, lt.fwd_s, 1e-9);
    ck_assert_double_eq(l0.fwd_s, lt.fwd_s);
}
END_TEST

/* A layer benchmark of an MoE model is priced as an MoE layer: its
 * attention and its experts (mp_cost_layer_class), not the dense MLP the
 * validate of before read for every layer benchmark.  layer-moe: one layer,
 * hidden 1024, 8 experts of width 2048 (SwiGLU), top-2, on 8 H100s at
 * ep 8, dp 8, one micro-batch of 2048 tokens.  The [moe-mlp] block's
 * forward FLOPs per GPU, by hand: the router 2 x 2048 x 1024 x 8 =
 * 33,554,432; each rank's experts take 2048 x 2 copies (8 ranks' tokens,
 * two each, over 8 ranks), fc1 (gate and up) 2 x 4096 x 1024 x 4096 =
 * 34,359,738,368, fc2 2 x 4096 x 2048 x 1024 = 17,179,869,184: in all
 * 51,573,161,984.  The predicted forward is the sum of the [attention]
 * and [moe-mlp] ops' forward times; validate's statistics count the
 * record as MoE. */
START_TEST(test_evaluate_layer_moe)
{
    const mp_run *r = find("layer-moe");
    ck_assert_str_eq(r->skip, "");
    ck_assert(r->layer_bench && r->moe);
    ck_assert_int_eq(r->lay.ep, 8);
    ck_assert_int_eq(r->lay.dp, 8);
    mp_run_result res;
    mp_cost_ctx c;
    evaluate_layer(r, &res, &c);
    ck_assert_int_eq(mp_cost_layer_class(&c, 0), MP_LAYER_MOE);
    mp_layer_time moe, dense;
    mp_cost_layer_time(&c, MP_LAYER_MOE, &moe);
    mp_cost_layer_time(&c, MP_LAYER_DENSE, &dense);
    ck_assert_double_eq(res.predicted_fwd_s, moe.fwd_s);
    ck_assert_double_eq(res.predicted_bwd_s, moe.bwd_s);
    ck_assert(res.predicted_fwd_s != dense.fwd_s);
    ck_assert(moe.ep_s > 0 && dense.ep_s == 0); /* the dispatch and combine are the MoE layer's */
    mp_op o[MP_MAX_OPS];
    double flops = 0, fwd = 0;
    size_t n = mp_cost_block_ops(&c, MP_BLOCK_MOE_MLP, o);
    for (size_t i = 0; i < n; i++) {
        flops += o[i].fwd_flops;
        fwd += o[i].fwd_s;
    }
    ck_assert_double_eq(flops, 51573161984.0);
    n = mp_cost_block_ops(&c, MP_BLOCK_ATTN, o);
    for (size_t i = 0; i < n; i++)
        fwd += o[i].fwd_s;
    ck_assert_rel(res.predicted_fwd_s, fwd, 1e-12);
}
END_TEST

/* Megatron-Core's MoELayer timed alone (attention 'none'): the Mixtral
 * proxy of Megatron-LM's moe_perf test, EP 8 over 8 H100, 4096 tokens per
 * rank, top-2 of 8 experts, balanced: each rank's one expert gets 4096 x 2
 * = 8192 tokens.  FLOPs of the layer's forward: the router 2 x 4096 x 4096
 * x 8 = 268,435,456, fc1 and fc2 (GeLU, not gated) 2 x 8192 x 4096 x 14336
 * = 962,072,674,304 each: 1,924,413,784,064; the backward twice that
 * (data and weight gradients; the input asks for its gradient), so the
 * layer's 5,773,241,352,192.  add_bias_linear=False: no biases.  Its time
 * is the MoE layer's ops without the pre-MLP norm and the residual: the
 * MoE layer class's time less the attention block and those two ops. */
START_TEST(test_evaluate_moe_layer)
{
    const mp_run *r = find("layer-moe-alone");
    ck_assert_str_eq(r->skip, "");
    ck_assert(r->layer_bench && r->moe_layer_only);
    ck_assert(!r->model.mlp_bias && !r->model.qkv_bias && !r->model.out_bias);
    ck_assert(assumed(r, "the MoE layer alone"));
    ck_assert(assumed(r, "GeLU experts, no biases"));
    /* An fp32 router is said not to be priced; what the layer does not
     * have (attention, positions, a block's dropout) is not assumed. */
    ck_assert(assumed(r, "router dtype fp32"));
    ck_assert(!assumed(r, "flash attention") && !assumed(r, "kv_heads") && !assumed(r, "positions") &&
              !assumed(r, "dropout"));
    ck_assert_int_eq(r->lay.ep, 8);
    mp_run_result res;
    mp_cost_ctx c;
    evaluate_layer(r, &res, &c);
    mp_layer_time moe, whole;
    mp_cost_moe_layer_time(&c, &moe);
    ck_assert_double_eq(moe.hw_flops, 5773241352192.0);
    ck_assert_double_eq(res.predicted_fwd_s, moe.fwd_s);
    ck_assert_double_eq(res.predicted_bwd_s, moe.bwd_s);
    ck_assert_rel(res.fwd_error, moe.fwd_s / 4.327e-3 - 1, 1e-12);
    mp_cost_layer_time(&c, MP_LAYER_MOE, &whole);
    mp_op ops[MP_MAX_OPS];
    size_t na = mp_cost_block_ops(&c, MP_BLOCK_ATTN, ops);
    double attn_f = 0, attn_b = 0;
    for (size_t i = 0; i < na; i++)
        attn_f += ops[i].fwd_s, attn_b += ops[i].bwd_s;
    size_t nm = mp_cost_block_ops(&c, MP_BLOCK_MOE_MLP, ops);
    ck_assert_str_eq(ops[0].name, "pre-mlp-norm");
    ck_assert_str_eq(ops[nm - 1].name, "mlp-residual");
    ck_assert_rel(moe.fwd_s, whole.fwd_s - attn_f - ops[0].fwd_s - ops[nm - 1].fwd_s, 1e-12);
    ck_assert_rel(moe.bwd_s, whole.bwd_s - attn_b - ops[0].bwd_s - ops[nm - 1].bwd_s, 1e-12);
    /* A dense model has no MoE layer to time: all zero. */
    const mp_run *d = find("layer-22b");
    mp_cost_ctx cd;
    mp_cost_ctx_init(&cd, &d->model, &d->hw, &d->wl, &d->lay, d->seq_len);
    mp_cost_moe_layer_time(&cd, &moe);
    ck_assert_double_eq(moe.fwd_s + moe.bwd_s + moe.hw_flops, 0);
}
END_TEST

/* Positions (runs.c): a GPT record gets Megatron-LM's default learned
 * absolute table (--position-embedding-type learned_absolute,
 * arguments.py), one row per token of the sequence (2048) unless the run's
 * own --max-position-embeddings says 4096; a Llama-style (SwiGLU) record or
 * one whose flags say rope has none (RoPE).  The table's rows x hidden are
 * parameters: 4096 x 1024 - 2048 x 1024 = 2,097,152 more. */
START_TEST(test_read_positions)
{
    const mp_run *g = find("gpt-untied-by-count"), *mx = find("gpt-max-positions"), *rp = find("gpt-rope"),
                 *ll = find("llama-tokens");
    ck_assert_str_eq(mx->skip, "");
    ck_assert_str_eq(rp->skip, "");
    ck_assert_int_eq(g->model.learned_positions, 2048);
    ck_assert(assumed(g, "learned absolute positions"));
    ck_assert(assumed(g, "2048 rows: the sequence length"));
    ck_assert_int_eq(mx->model.learned_positions, 4096);
    ck_assert(assumed(mx, "4096 rows (--max-position-embeddings)"));
    ck_assert_int_eq(rp->model.learned_positions, 0);
    ck_assert(!assumed(rp, "learned absolute"));
    ck_assert_int_eq(ll->model.learned_positions, 0);
    mp_params a, b;
    mp_model m = mx->model;
    mp_model_params(&m, &a);
    m.learned_positions = 2048;
    mp_model_params(&m, &b);
    ck_assert_double_eq(a.total - b.total, 2097152.0);
}
END_TEST

/* What test_read_positions_eq and _separated assert of a variant of the
 * max-positions record (mxv) and of the rope record (rpv): read as their
 * plain forms gpt-max-positions and gpt-rope, 4096 rows against the
 * sequence's 2048 (2,097,152 parameters more) and no table. */
static void assert_positions_read(const mp_run *mxv, const mp_run *rpv)
{
    const mp_run *mx = find("gpt-max-positions"), *rp = find("gpt-rope");
    ck_assert_str_eq(mxv->skip, "");
    ck_assert_str_eq(rpv->skip, "");
    ck_assert_int_eq(mxv->model.learned_positions, 4096);
    ck_assert(assumed(mxv, "4096 rows (--max-position-embeddings)"));
    ck_assert_int_eq(rpv->model.learned_positions, 0);
    ck_assert(!assumed(rpv, "learned absolute"));
    mp_params a, b;
    mp_model_params(&mxv->model, &a);
    mp_model_params(&mx->model, &b);
    ck_assert_double_eq(a.total, b.total);
    mp_model m = mxv->model;
    m.learned_positions = 2048;
    mp_model_params(&m, &b);
    ck_assert_double_eq(a.total - b.total, 2097152.0);
    mp_model_params(&rpv->model, &a);
    mp_model_params(&rp->model, &b);
    ck_assert_double_eq(a.total, b.total);
}

/* The position flags as Megatron-LM's argparse also takes them,
 * --flag=value: --max-position-embeddings=4096 is 4096 rows, as
 * '--max-position-embeddings 4096' (before, strtol read "=4096" as 0 and
 * the table fell back to the sequence's 2048 rows while the assumption
 * named the flag), 4096 x 1024 - 2048 x 1024 = 2,097,152 parameters more
 * than the sequence-length table; --position-embedding-type=rope has no
 * table (it was read as learned absolute, 2048 rows, 2,097,152
 * parameters). */
START_TEST(test_read_positions_eq)
{
    const mp_run *rpe = find("gpt-rope-eq");
    assert_positions_read(find("gpt-max-positions-eq"), rpe);
    mp_params r, b;
    mp_model_params(&rpe->model, &r);
    mp_model m = rpe->model;
    m.learned_positions = 2048; /* as it was read */
    mp_model_params(&m, &b);
    ck_assert_double_eq(b.total - r.total, 2097152.0);
}
END_TEST

/* The position flags followed by the ';' or ',' that separates a record's
 * other items: '--max-position-embeddings 4096; --overlap-grad-reduce' is
 * 4096 rows (the value was "4096;", not a number, so the table fell back
 * to the sequence's 2048 rows: 4096 x 1024 - 2048 x 1024 = 2,097,152
 * parameters too few), and '--position-embedding-type=rope, ...' has no
 * table (the value was "rope,", not rope: a learned 2048-row table,
 * 2048 x 1024 = 2,097,152 parameters too many). */
START_TEST(test_read_positions_separated)
{
    assert_positions_read(find("gpt-max-positions-semi"), find("gpt-rope-semi"));
}
END_TEST

/* A stated parameter count picks tied or untied embeddings where exactly
 * one of the two rounds to the figure as written: they differ by the
 * vocabulary's 32000 x 1024 = 32,768,000 parameters.  4 layers of
 * 12 h^2 + 13 h = 12,596,224, the learned positions' 2048 x 1024 =
 * 2,097,152 (a GPT record's default) and the final norm's 2048: untied
 * 118,020,096 (about 0.118 B), tied 85,252,096 (0.085 B).  "0.118" (to 1 M)
 * is untied's alone; "0.1" (to 100 M) is what both round to, so the GPT
 * default, tied, stays. */
START_TEST(test_read_params_b_ties)
{
    const mp_run *u = find("gpt-untied-by-count"), *t = find("gpt-count-too-coarse");
    ck_assert_str_eq(u->skip, "");
    ck_assert_str_eq(t->skip, "");
    ck_assert(!u->model.tied_embeddings);
    ck_assert(assumed(u, "untied embeddings: params_b 0.118 B"));
    ck_assert(t->model.tied_embeddings);
    ck_assert(!assumed(t, "params_b"));
    mp_model m = u->model;
    mp_params pu, pt;
    mp_model_params(&m, &pu);
    m.tied_embeddings = true;
    mp_model_params(&m, &pt);
    ck_assert_double_eq(pu.total - pt.total, 32768000.0);
    ck_assert_double_eq(pu.total, 118020096.0);
    ck_assert_int_eq(u->model.learned_positions, 2048);
}
END_TEST

/* Memory against torch's max allocated: weights, gradients, optimizer,
 * activations and buffers of the last rank, nothing reserved. */
START_TEST(test_evaluate_memory)
{
    const mp_run *r = find("llama-tokens");
    mp_run_result res;
    mp_cost_ctx c;
    mp_cost k;
    evaluate_both(r, &res, &c, &k);
    const mp_memory *m = &k.mem_last;
    double want = m->weights_bytes + m->gradients_bytes + m->optimizer_bytes + m->activations_bytes +
                  m->comm_buffer_bytes;
    ck_assert_double_eq(res.predicted_memory_bytes, want);
    ck_assert(fabs(res.memory_error - (want / 40e9 - 1)) < 1e-12);
}
END_TEST

static const struct {
    const char *id, *reason;
} skips[] = {
    {"skip-fp8", "FP8 run, and a100-sxm-80gb.yaml gives no FP8 rate (peak_flops_fp8)"},
    {"skip-gpu", "no shipped hardware file for GPU 'AMD MI300X'"},
    {"skip-zero", "zero_stage 5 is not a ZeRO stage (0-3)"},
    {"skip-layer", "a layer benchmark without its micro-batch"},
    {"skip-flex-dispatcher", "the flex token dispatcher (DeepEP or HybridEP): moeplan prices the alltoall dispatcher only"},
    {"skip-attention-none", "attention 'none' is read only for a MoE layer benchmark (the MoE layer timed alone)"},
    {"skip-attention-nonexistent", "attention 'nonexistent' not understood (MHA, GQA or MQA over every earlier token)"},
    {"skip-layer-times", "a layer benchmark without measured.other's forward_ms and backward_ms"},
    {"skip-layer-count", "a layer benchmark of 2 layers over pp 1: one layer on one pipeline stage is what is timed"},
    {"skip-vocab", "the record does not give the vocabulary size"},
    /* 64 x 4096 = 262144 tokens at 200000 tokens/s: a 1.311 s step, 31%
     * away from the 1 s iteration time */
    {"skip-contradict", "iteration_time_s 1 (a 1 s step) and tokens_per_s 200000 (a 1.311 s step) disagree by "
                        "31%: the record contradicts itself"},
    {"skip-dense-experts", "type dense but num_experts 8: the record contradicts itself"},
    {"skip-fp32", "precision 'FP32': moeplan prices 16-bit and FP8 training only"},
    /* MFU 0.9 of the source's 2000 TFLOP/s is 1800, above the H100's 989 */
    {"skip-mfu-above-peak", "the measured MFU implies 1800 TFLOP/s of model FLOPs per GPU, above the GPU's peak 989 "
                            "(h100-sxm.yaml): the record, or its model as read, is wrong"},
    {"skip-pcie", "GPU 'H100 PCIe' is a PCIe card; the shipped files are SXM parts"},
    {"skip-nvl", "GPU 'H100 NVL 94GB' is an NVL card (PCIe, NVLink bridge); the shipped files are SXM parts"},
    {"skip-a100-40gb", "GPU 'A100-SXM4-40GB' is a 40 GB part; a100-sxm-80gb.yaml is the 80 GB SXM"},
    {"skip-gh200", "GPU 'GH200' is Grace Hopper, not the H200 SXM of h200-sxm.yaml"},
    {"skip-linear-attention", "attention 'Linear' not understood (MHA, GQA or MQA over every earlier token)"},
    {"skip-gqa-window",
     "attention 'GQA with a sliding window' not understood (MHA, GQA or MQA over every earlier token)"},
    {"skip-topk", "top_k 9 is more than num_experts 8: the record contradicts itself"},
    /* 81559 MiB = 85.52 GB */
    {"skip-memory", "memory_gb 90 is more than the GPU's 85.52 GB (h100-sxm.yaml): the record contradicts its GPU"},
};

START_TEST(test_skip_reasons)
{
    const mp_run *r = find(skips[_i].id);
    ck_assert_str_eq(r->skip, skips[_i].reason);
}
END_TEST

/* A 1 ms step of a 4-layer, h 1024 model over 262144 tokens: its model
 * FLOPs per step are at least 6 x 4 x 12 h^2 x 262144 = 7.9e13 (the layers'
 * weights alone), 7.9e13 / (0.001 s x 8) = 9.9e15 FLOP/s per GPU, ten times
 * the H100's 989 TFLOP/s peak. */
START_TEST(test_skip_step_above_peak)
{
    const mp_run *r = find("skip-step-above-peak");
    ck_assert_msg(!strncmp(r->skip, "the measured step implies ", 26), "%s", r->skip);
    ck_assert_msg(strstr(r->skip, "above the GPU's peak 989 (h100-sxm.yaml)"), "%s", r->skip);
    double tf = atof(r->skip + 26);
    ck_assert_msg(tf > 9.9e3 && tf < 2e4, "%g", tf);
}
END_TEST

/* "NVLink4" in an SXM H100's description is not an NVL card. */
START_TEST(test_nvlink_is_sxm)
{
    const mp_run *r = find("nvlink-is-sxm");
    ck_assert_str_eq(r->skip, "");
    ck_assert(strstr(r->hardware_file, "/h100-sxm.yaml"));
}
END_TEST

/* No precision in the record: bf16, said. */
START_TEST(test_precision_unstated)
{
    const mp_run *r = find("precision-unstated");
    ck_assert_str_eq(r->skip, "");
    ck_assert_str_eq(r->wl.precision, "bf16");
    ck_assert(assumed(r, "precision not given: bf16"));
}
END_TEST

/* "fsdp: yes (ZeRO-3 style)" is read as ZeRO stage 3, and said so. */
START_TEST(test_read_fsdp)
{
    const mp_run *r = find("fsdp-h100");
    ck_assert_str_eq(r->skip, "");
    ck_assert_int_eq(r->lay.zero, 3);
    bool said = false;
    for (int i = 0; i < r->n_assumptions; i++)
        said |= strstr(r->assumptions[i], "read as ZeRO-3") != NULL;
    ck_assert(said);
}
END_TEST

/* FP8 on an H100: the recipe from the record's words. */
START_TEST(test_read_fp8)
{
    const mp_run *r = find("fp8-h100");
    ck_assert_str_eq(r->skip, "");
    ck_assert_int_eq(r->wl.fp8, MP_FP8_BLOCKWISE);
    ck_assert(r->hw.peak_flops_fp8 == 1979e12);
}
END_TEST

/* Recompute modules in words: "RMSNorm and MLA up-projection recomputed"
 * (DeepSeek-V3's report) is selective of layernorm and mla_up_proj. */
START_TEST(test_read_modules)
{
    const mp_run *r = find("modules-h100");
    ck_assert_str_eq(r->skip, "");
    ck_assert(r->lay.recompute == MP_RECOMPUTE_SELECTIVE);
    ck_assert_uint_eq(r->lay.recompute_modules, MP_RC_LAYERNORM | MP_RC_MLA_UP_PROJ);
}
END_TEST

/* Errors {-0.1, 0.2, -0.3, 0.05}: |e| sorted 0.05 0.1 0.2 0.3, median 0.15,
 * mean 0.1625, max 0.3; signed sorted -0.3 -0.1 0.05 0.2, median -0.025. */
START_TEST(test_error_stats)
{
    const double e[] = {-0.1, 0.2, -0.3, 0.05};
    mp_error_stats s;
    mp_error_stats_of(e, 4, &s);
    ck_assert_int_eq(s.n, 4);
    ck_assert(fabs(s.median_abs - 0.15) < 1e-15);
    ck_assert(fabs(s.mean_abs - 0.1625) < 1e-15);
    ck_assert(fabs(s.max_abs - 0.3) < 1e-15);
    ck_assert(fabs(s.median_signed + 0.025) < 1e-15);
    mp_error_stats_of(e, 3, &s); /* odd count: the middle one, 0.1 and -0.1 */
    ck_assert(fabs(s.median_abs - 0.2) < 1e-15 && fabs(s.median_signed + 0.1) < 1e-15);
}
END_TEST

/* A file that is not a list of records is refused with its position. */
START_TEST(test_not_a_list)
{
    mp_run *x;
    size_t n;
    mp_error e;
    memset(&e, 0, sizeof e);
    mp_status st = mp_runs_load(PLANS_DIR "/seed-model.yaml", PLANS_DIR "/hardware", &x, &n, &e);
    ck_assert_int_eq(st, MP_ERR_INPUT);
    ck_assert(strstr(e.msg, "expected a list of run records"));
}
END_TEST

static Suite *runs_suite(void)
{
    Suite *s = suite_create("runs");
    TCase *t = tcase_create("read");
    tcase_add_checked_fixture(t, load, unload);
    tcase_add_test(t, test_read_gpt);
    tcase_add_test(t, test_read_positions);
    tcase_add_test(t, test_read_positions_eq);
    tcase_add_test(t, test_read_positions_separated);
    tcase_add_test(t, test_evaluate_layer);
    tcase_add_test(t, test_evaluate_layer_moe);
    tcase_add_test(t, test_evaluate_moe_layer);
    tcase_add_test(t, test_read_eq3);
    tcase_add_test(t, test_read_tokens);
    tcase_add_test(t, test_evaluate_mfu);
    tcase_add_test(t, test_evaluate_mfu_all_keys);
    tcase_add_test(t, test_read_params_b_ties);
    tcase_add_test(t, test_evaluate_memory);
    tcase_add_test(t, test_read_fp8);
    tcase_add_test(t, test_read_fsdp);
    tcase_add_test(t, test_read_modules);
    tcase_add_loop_test(t, test_skip_reasons, 0, (int)(sizeof skips / sizeof skips[0]));
    tcase_add_test(t, test_skip_step_above_peak);
    tcase_add_test(t, test_precision_unstated);
    tcase_add_test(t, test_nvlink_is_sxm);
    suite_add_tcase(s, t);
    TCase *u = tcase_create("stats");
    tcase_add_test(u, test_error_stats);
    tcase_add_test(u, test_not_a_list);
    suite_add_tcase(s, u);
    return s;
}

MP_CHECK_MAIN(runs_suite)
