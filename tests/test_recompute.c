/* Unit tests: selective recomputation by module (Megatron-Core's
 * --recompute-modules; layout.h MP_RC_*), on the seed layout
 * (plans/seed-plan.yaml: tp 4 with SP, ep 16, etp 4, micro-batch 1, S =
 * 10240), by hand:
 *   tokens per GPU T = 10240, sequence shard Tsp = 2560, h = 1024, A = 2;
 *   expert copies on a GPU Ne = Tsp x k x etp = 2560 x 2 x 4 = 20480, expert
 *   width fe = 2048 / 4 = 512, probabilities pb = 2 bytes, E = 64, k = 2.
 * Saved per MoE layer (cost.c, block_moe): pre-MLP norm and router input
 * Tsp h A = 5,242,880 each; softmax Tsp E 4 + Tsp k 12 = 716,800; aux-loss
 * softmax Tsp E 4 = 655,360; expert-fc1 input Ne h A = 41,943,040; GELU
 * input Ne fe A = 20,971,520; product Ne fe A + Ne pb = 21,012,480; fc2
 * input 20,971,520; combine map Tsp k 4 = 20,480. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/cost.h"
#include "moeplan/plan.h"

#include "check_main.h"

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

static world *seed(mp_recompute rc, unsigned mods)
{
    world *x = calloc(1, sizeof *x);
    mp_plan p;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert(mp_plan_load(&p, PLANS_DIR "/seed-plan.yaml", &e) == MP_OK);
    ck_assert(mp_model_load(&x->m, p.model_path, &e) == MP_OK);
    ck_assert(mp_hardware_load(&x->hw, p.hardware_path, &e) == MP_OK);
    ck_assert(mp_workload_load(&x->w, p.workload_path, &e) == MP_OK);
    x->l = p.layout;
    x->l.recompute = rc;
    x->l.recompute_modules = mods;
    char why[256];
    ck_assert_msg(mp_layout_check(&x->l, &x->m, &x->w, why, sizeof why) == MP_RULE_OK, "%s", why);
    mp_cost_ctx_init(&x->c, &x->m, &x->hw, &x->w, &x->l, x->w.seq_max);
    mp_cost_evaluate(&x->c, &x->r);
    return x;
}

/* The default module set is core_attn: the same as no list. */
START_TEST(test_default_is_core_attn)
{
    world *a = seed(MP_RECOMPUTE_SELECTIVE, 0), *b = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN);
    ck_assert_double_eq(a->r.act_layer_moe_bytes, b->r.act_layer_moe_bytes);
    ck_assert_double_eq(a->r.t_total_s, b->r.t_total_s);
    free(a);
    free(b);
}
END_TEST

/* moe_act: the product's saved GELU output and probabilities (21,012,480)
 * and fc2's input (20,971,520) are freed: 41,984,000 bytes per MoE layer
 * fewer than core_attn alone; the activation and product forwards re-run. */
START_TEST(test_moe_act)
{
    world *a = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN),
          *b = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN | MP_RC_MOE_ACT);
    ck_assert_double_eq(a->r.act_layer_moe_bytes - b->r.act_layer_moe_bytes, 41984000.0);
    ck_assert(b->r.t_total_s > a->r.t_total_s);
    free(a);
    free(b);
}
END_TEST

/* layernorm: the outputs of the input norm and the pre-MLP norm, which the
 * QKV projection and the router keep, are freed: 2 x 5,242,880. */
START_TEST(test_layernorm)
{
    world *a = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN),
          *b = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN | MP_RC_LAYERNORM);
    ck_assert_double_eq(a->r.act_layer_moe_bytes - b->r.act_layer_moe_bytes, 10485760.0);
    free(a);
    free(b);
}
END_TEST

/* moe: everything the MoE layer keeps but its input (the router's):
 * 716,800 + 655,360 + 41,943,040 + 20,971,520 + 21,012,480 + 20,971,520 +
 * 20,480 = 106,291,200 freed; the layer's forward -- all-to-alls included
 * -- re-runs, so the step grows by more than moe_act's. */
START_TEST(test_moe)
{
    world *a = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN),
          *b = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN | MP_RC_MOE),
          *c = seed(MP_RECOMPUTE_SELECTIVE, MP_RC_CORE_ATTN | MP_RC_MOE_ACT);
    ck_assert_double_eq(a->r.act_layer_moe_bytes - b->r.act_layer_moe_bytes, 106291200.0);
    ck_assert(b->r.t_total_s > c->r.t_total_s);
    ck_assert(b->r.t_ep_s > a->r.t_ep_s * 0.999 || b->r.t_comm_s > a->r.t_comm_s);
    free(a);
    free(b);
    free(c);
}
END_TEST

/* Names: parse, describe, refuse. */
START_TEST(test_names)
{
    unsigned m;
    char bad[64];
    bool dup;
    ck_assert(mp_recompute_modules_parse("core_attn,moe_act layernorm", &m, bad, sizeof bad, &dup));
    ck_assert_uint_eq(m, MP_RC_CORE_ATTN | MP_RC_MOE_ACT | MP_RC_LAYERNORM);
    ck_assert(!mp_recompute_modules_parse("moe_act,moe_actt", &m, bad, sizeof bad, &dup));
    ck_assert_str_eq(bad, "moe_actt");
    ck_assert(!dup);
    ck_assert(!mp_recompute_modules_parse(", ,", &m, bad, sizeof bad, NULL));
    /* a module given twice is refused, named, as a duplicate */
    ck_assert(!mp_recompute_modules_parse("moe_act,layernorm moe_act", &m, bad, sizeof bad, &dup));
    ck_assert_str_eq(bad, "moe_act");
    ck_assert(dup);
    mp_layout l;
    mp_layout_defaults(&l);
    l.recompute = MP_RECOMPUTE_SELECTIVE;
    l.recompute_modules = MP_RC_MLA_UP_PROJ | MP_RC_LAYERNORM;
    char d[160];
    mp_recompute_describe(&l, d, sizeof d);
    ck_assert_str_eq(d, "selective (layernorm, mla_up_proj)");
    l.recompute_modules = 0;
    mp_recompute_describe(&l, d, sizeof d);
    ck_assert_str_eq(d, "selective");
    ck_assert_str_eq(mp_recompute_module_name(MP_RC_SHARED_EXPERTS), "shared_experts");
}
END_TEST

static Suite *recompute_suite(void)
{
    Suite *s = suite_create("recompute");
    TCase *t = tcase_create("modules");
    tcase_add_test(t, test_default_is_core_attn);
    tcase_add_test(t, test_moe_act);
    tcase_add_test(t, test_layernorm);
    tcase_add_test(t, test_moe);
    tcase_add_test(t, test_names);
    suite_add_tcase(s, t);
    return s;
}

MP_CHECK_MAIN(recompute_suite)
