/* Unit tests: FP8 linear layers (workload fp8; cost.c matmul_fp8), by hand.
 *
 * Llama-3.1-8B widths (tests/data/llama-3.1-8b.yaml), one GPU, micro-batch
 * 1, S = 4096, on the shipped H100 file (132 SMs, FP8 peak 1979 TFLOP/s at
 * gemm_efficiency_fp8 0.75; HBM 3.35 TB/s at 0.9; 4 us per kernel; 1 MB to
 * half bandwidth). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "moeplan/cost.h"
#include "moeplan/report.h"

#include "check_main.h"

#ifndef TEST_DATA
#error "TEST_DATA must point at tests/data"
#endif
#ifndef PLANS_DIR
#error "PLANS_DIR must point at plans/"
#endif

typedef struct {
    mp_model m;
    mp_hardware hw;
    mp_workload w;
    mp_layout l;
    mp_cost_ctx c;
    mp_cost r;
} world;

static world *make_model(const char *model, mp_fp8_recipe fp8)
{
    world *x = calloc(1, sizeof *x);
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert(mp_model_load(&x->m, model, &e) == MP_OK);
    ck_assert_msg(mp_hardware_load(&x->hw, PLANS_DIR "/hardware/h100-sxm.yaml", &e) == MP_OK, "%s", e.msg);
    mp_workload_defaults(&x->w);
    snprintf(x->w.precision, sizeof x->w.precision, "bf16");
    x->w.fp8 = fp8;
    x->w.global_batch = 8;
    x->w.seq_min = x->w.seq_max = 4096;
    mp_layout_defaults(&x->l);
    x->l.gpus = 1;
    x->l.micro_batch = 1;
    char why[256];
    ck_assert_msg(mp_layout_check(&x->l, &x->m, &x->w, why, sizeof why) == MP_RULE_OK, "%s", why);
    mp_cost_ctx_init(&x->c, &x->m, &x->hw, &x->w, &x->l, 4096);
    mp_cost_evaluate(&x->c, &x->r);
    return x;
}

static world *make(mp_fp8_recipe fp8)
{
    return make_model(TEST_DATA "/llama-3.1-8b.yaml", fp8);
}

static const mp_op *op(const world *x, mp_block b, const char *name, mp_op *buf)
{
    size_t n = mp_cost_block_ops(&x->c, b, buf);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(buf[i].name, name))
            return &buf[i];
    ck_abort_msg("no op %s", name);
    return NULL;
}

/* fc1 (gate and up): M = 4096 tokens, K = 4096, N = 2 x 14336 = 28672.
 *  FLOPs 2 M K N = 962,072,674,304.
 *  GEMM: 256 x 128 tiles, 16 x 224 = 3584 of them in 28 waves of 132 (3696
 *  slots), k factor 4096 / (4096 + 32): 962,072,674,304 / (1979e12 * 0.75 *
 *  3584/3696 * 4096/4128) + 4 us.  Operand bytes (1 each) x 16,777,216 + w
 *  117,440,512 + output y 117,440,512 x 2: 369 MB, 122 us at 3.015 TB/s:
 *  compute-bound.
 *  Cast of X: 16,777,216 x (2 + 1) = 50,331,648 B, (50,331,648 + 1e6) /
 *  3.015e12 + 4 us.
 *  Saved: the quantized input, 16,777,216 B (1 byte per element, not 2). */
START_TEST(test_fc1_fp8)
{
    world *x = make(MP_FP8_DELAYED);
    mp_op buf[MP_MAX_OPS];
    const mp_op *o = op(x, MP_BLOCK_DENSE_MLP, "fc1", buf);
    ck_assert_double_eq(o->fwd_flops, 962072674304.0);
    double gemm = 962072674304.0 / (1979e12 * 0.75 * (3584.0 / 3696) * (4096.0 / 4128)) + 4e-6;
    double cast = (50331648.0 + 1e6) / (3.35e12 * 0.9) + 4e-6;
    ck_assert_msg(fabs(o->fwd_s - (gemm + cast)) < 1e-12, "fwd %.9g s, expected %.9g", o->fwd_s, gemm + cast);
    ck_assert_double_eq(o->saved_bytes, 16777216.0);
    /* The router-free dense model: only the output layer stays in 16 bits;
     * its time is the same with and without FP8. */
    world *b = make(MP_FP8_NONE);
    mp_op buf2[MP_MAX_OPS];
    ck_assert_double_eq(op(x, MP_BLOCK_HEAD, "lm-head", buf)->fwd_s, op(b, MP_BLOCK_HEAD, "lm-head", buf2)->fwd_s);
    /* The bf16 fc1 saves 2 bytes per element. */
    ck_assert_double_eq(op(b, MP_BLOCK_DENSE_MLP, "fc1", buf2)->saved_bytes, 2 * 16777216.0);
    free(x);
    free(b);
}
END_TEST

/* The FP8 weight copies: 2 bytes per parameter of the attention and MLP
 * matrices, their norms left in 16 bits: per layer 4096^2 x 2 + 4096 x
 * 1024 x 2 = 41,943,040 and 3 x 4096 x 14336 = 176,160,768; 32 layers:
 * 6,979,321,856 parameters, 13,958,643,712 B. */
START_TEST(test_fp8_weight_copies)
{
    world *x = make(MP_FP8_DELAYED);
    ck_assert_double_eq(x->r.mem.fp8_weight_bytes, 13958643712.0);
    /* explain --format json names them, and "other" is the sum of the four
     * terms it groups. */
    json_t *j = mp_report_explain_json(&x->c, &x->r, false);
    json_t *m = json_object_get(j, "memory_per_gpu_bytes");
    ck_assert_int_eq(json_integer_value(json_object_get(m, "fp8_weights")), 13958643712);
    json_int_t parts = json_integer_value(json_object_get(m, "comm_buffers")) +
                       json_integer_value(json_object_get(m, "fp8_weights")) +
                       json_integer_value(json_object_get(m, "reserved")) +
                       json_integer_value(json_object_get(m, "fragmentation"));
    /* each is rounded to a whole byte: the sum within 2 bytes */
    ck_assert(llabs((long long)(json_integer_value(json_object_get(m, "other")) - parts)) <= 2);
    json_decref(j);
    world *b = make(MP_FP8_NONE);
    ck_assert_double_eq(b->r.mem.fp8_weight_bytes, 0);
    /* FP8 makes the step faster, the FLOPs are the same. */
    ck_assert(x->r.t_total_s < b->r.t_total_s);
    ck_assert_double_eq(x->r.model_flops_per_step, b->r.model_flops_per_step);
    free(x);
    free(b);
}
END_TEST

/* The MoE router stays in 16 bits too (tests/data/model-moe-small.yaml,
 * its counts in test_model.c): FP8 copies of the attention matrices
 * 64 x 128 + 2 x 64 x 32 + 128 x 64 = 20,480 on each of 6 layers, the
 * dense SwiGLU's 3 x 64 x 256 = 49,152 on layers 0, 2, 4, the experts'
 * 4 x 3 x 64 x 32 = 24,576 and the shared expert's 3 x 64 x 48 = 9,216 on
 * layers 1, 3, 5; not the norms (64 each) nor the routers (64 x 4):
 * 122,880 + 147,456 + 101,376 = 371,712 parameters, 743,424 B. */
START_TEST(test_fp8_moe_router_16bit)
{
    world *x = make_model(TEST_DATA "/model-moe-small.yaml", MP_FP8_DELAYED);
    ck_assert_double_eq(x->r.mem.fp8_weight_bytes, 743424.0);
    free(x);
}
END_TEST

/* MXFP8 (Blackwell) quantizes both ways at the cast and needs no
 * transposes: the backward casts are y (A + 2) instead of y (A + 1) +
 * 2 (x + y).  fc1 backward bytes differ by 2x + y: 2 x 16,777,216 +
 * 117,440,512 = 150,994,944 fewer for MXFP8 (the recipe only; the H100
 * file does not run it in practice). */
START_TEST(test_mxfp8_casts)
{
    world *x = make(MP_FP8_DELAYED), *m = make(MP_FP8_MXFP8);
    mp_op a[MP_MAX_OPS], c[MP_MAX_OPS];
    double d = op(x, MP_BLOCK_DENSE_MLP, "fc1", a)->bwd_hbm_bytes - op(m, MP_BLOCK_DENSE_MLP, "fc1", c)->bwd_hbm_bytes;
    ck_assert_double_eq(d, 150994944.0);
    free(x);
    free(m);
}
END_TEST

static Suite *fp8_suite(void)
{
    Suite *s = suite_create("fp8");
    TCase *t = tcase_create("linear");
    tcase_add_test(t, test_fc1_fp8);
    tcase_add_test(t, test_fp8_weight_copies);
    tcase_add_test(t, test_fp8_moe_router_16bit);
    tcase_add_test(t, test_mxfp8_casts);
    suite_add_tcase(s, t);
    return s;
}

MP_CHECK_MAIN(fp8_suite)
