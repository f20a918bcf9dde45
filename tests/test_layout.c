/* Unit tests: layout rules (mp_layout_check, layout.h).
 *
 * Each rule of mp_rule is broken by one case and kept by a neighbouring
 * one; the rules and their order are those of layout.h (Megatron-LM's
 * constraints: gpus = tp*cp*dp*pp; MoE parallel folding tp*cp*dp =
 * etp*ep*edp, Liu et al. 2025 arXiv:2504.14960; heads and widths divisible
 * by their TP degree; layers by pp*vpp; etc.).  The arithmetic showing why
 * each case breaks (or keeps) its rule is in its `why` column.
 *
 * Models are built in memory:
 *   D: dense, 8 layers, h=1024, 16 heads, 4 KV heads, MLP 4096
 *   M: MoE, 8 layers (layer 0 dense, MLP 4096), 16 heads, 4 KV heads,
 *      8 experts of width 1536, one shared expert of width 2048
 * Workload: mp_workload_defaults (global batch 128, sequences up to
 * 10240, flash attention on) unless a case overrides it.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "moeplan/layout.h"

#include "check_main.h"

typedef struct {
    bool moe;
    int kv_heads;          /* 0 = 4 */
    long ffn;              /* 0 = 4096 */
    long expert_hidden;    /* 0 = 1536 */
    long shared_hidden;    /* 0 = 2048 */
} model_spec;

static void build_model(mp_model *m, const model_spec *s)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", s->moe ? "M" : "D");
    m->num_layers = 8;
    m->hidden = 1024;
    m->num_heads = 16;
    m->num_kv_heads = s->kv_heads ? s->kv_heads : 4;
    m->head_dim = 64;
    m->gated_mlp = true;
    m->ffn_hidden = s->ffn ? s->ffn : 4096;
    m->vocab = 32000;
    if (s->moe) {
        m->num_experts = 8;
        m->top_k = 2;
        m->expert_hidden = s->expert_hidden ? s->expert_hidden : 1536;
        m->num_shared_experts = 1;
        m->shared_expert_hidden = s->shared_hidden ? s->shared_hidden : 2048;
        for (int i = 1; i < 8; i++)
            m->is_moe[i] = true;
    }
}

typedef struct {
    const char *name;
    model_spec model;
    int gpus, tp, pp, dp, cp, ep, etp, vpp, mb;
    bool sp;
    long global_batch, seq_max; /* 0 = workload default (128, 10240) */
    int no_flash;
    mp_rule expected;
    const char *why;
} layout_case;

#define D_ {false, 0, 0, 0, 0}
#define M_ {true, 0, 0, 0, 0}

static const layout_case cases[] = {
    /* gpus = tp * cp * dp * pp */
    {"gpu product broken", D_, 16, 2, 2, 2, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_GPU_PRODUCT,
     "2*1*2*2 = 8 != 16"},
    {"gpu product kept", D_, 8, 2, 2, 2, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_OK, "2*1*2*2 = 8"},
    {"zero size", D_, 0, 0, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_GPU_PRODUCT, "tp = 0 < 1"},
    {"zero micro-batch", D_, 1, 1, 1, 1, 1, 1, 1, 1, 0, false, 0, 0, 0, MP_RULE_GPU_PRODUCT, "mb = 0 < 1"},
    /* folding: etp * ep divides tp * cp * dp */
    {"folding broken", M_, 8, 2, 1, 4, 1, 4, 4, 1, 1, true, 0, 0, 0, MP_RULE_FOLDING,
     "tp*cp*dp = 2*1*4 = 8; etp*ep = 4*4 = 16 does not divide 8"},
    {"folding broken, 6 vs 4", M_, 6, 2, 1, 3, 1, 4, 1, 1, 1, true, 384, 0, 0, MP_RULE_FOLDING,
     "tp*cp*dp = 6, etp*ep = 4; 6 % 4 = 2"},
    {"folding kept", M_, 8, 2, 1, 4, 1, 4, 2, 1, 1, true, 0, 0, 0, MP_RULE_OK, "etp*ep = 8 = tp*cp*dp: edp 1"},
    /* heads % tp, kv_heads % tp */
    {"heads % tp broken", D_, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_HEADS_TP, "16 % 3 = 1"},
    {"kv_heads % tp broken", D_, 8, 8, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_HEADS_TP,
     "16 % 8 = 0 but kv 4 % 8 = 4"},
    {"heads % tp kept", D_, 4, 4, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_OK, "16 % 4 = 4 % 4 = 0"},
    /* MLP widths % tp, expert width % etp */
    {"dense width % tp broken", {false, 8, 4100, 0, 0}, 8, 8, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0,
     MP_RULE_FFN_TP, "heads 16 and kv 8 divide by 8; 4100 % 8 = 4"},
    {"dense width % tp kept", {false, 8, 4096, 0, 0}, 8, 8, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_OK,
     "4096 % 8 = 0"},
    {"shared width % tp broken", {true, 0, 0, 0, 2050}, 4, 4, 1, 1, 1, 1, 1, 1, 1, true, 0, 0, 0, MP_RULE_FFN_TP,
     "2050 % 4 = 2"},
    {"expert width % etp broken", M_, 10, 1, 1, 10, 1, 2, 5, 1, 1, false, 640, 0, 0, MP_RULE_FFN_TP,
     "etp*ep = 10 folds into dp 10; 1536 % 5 = 1"},
    {"expert width % etp kept", M_, 8, 1, 1, 8, 1, 2, 4, 1, 1, false, 0, 0, 0, MP_RULE_OK,
     "1536 % 4 = 0; etp*ep = 8 = dp"},
    /* experts % ep; dense models need ep = etp = 1 */
    {"experts % ep broken", M_, 16, 1, 1, 16, 1, 16, 1, 1, 1, false, 0, 0, 0, MP_RULE_EXPERTS_EP,
     "8 experts % ep 16 = 8"},
    {"experts % ep kept", M_, 16, 1, 1, 16, 1, 8, 1, 1, 1, false, 0, 0, 0, MP_RULE_OK, "8 % 8 = 0, edp 2"},
    {"dense model with ep 2", D_, 2, 1, 1, 2, 1, 2, 1, 1, 1, false, 0, 0, 0, MP_RULE_EXPERTS_EP,
     "no MoE layer, ep must be 1"},
    {"dense model with etp 2", D_, 2, 2, 1, 1, 1, 1, 2, 1, 1, false, 0, 0, 0, MP_RULE_EXPERTS_EP,
     "no MoE layer, etp must be 1"},
    /* layers % (pp * vpp); vpp > 1 needs pp > 1 */
    {"layers % pp broken", D_, 3, 1, 3, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_LAYERS_PP, "8 % 3 = 2"},
    {"layers % (pp*vpp) broken", D_, 2, 1, 2, 1, 1, 1, 1, 3, 1, false, 0, 0, 0, MP_RULE_LAYERS_PP,
     "8 % (2*3) = 2"},
    {"layers % (pp*vpp) kept", D_, 2, 1, 2, 1, 1, 1, 1, 2, 1, false, 0, 0, 0, MP_RULE_OK,
     "8 % 4 = 0; 128 micro-batches % 2 = 0"},
    {"vpp without pp", D_, 1, 1, 1, 1, 1, 1, 1, 2, 1, false, 0, 0, 0, MP_RULE_LAYERS_PP, "vpp 2 with pp 1"},
    /* global batch % (dp * mb) */
    {"batch % dp broken", D_, 3, 1, 1, 3, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_BATCH, "128 % 3 = 2"},
    {"batch % (dp*mb) broken", D_, 4, 1, 1, 4, 1, 1, 1, 1, 3, false, 0, 0, 0, MP_RULE_BATCH, "128 % 12 = 8"},
    {"batch % (dp*mb) kept", D_, 4, 1, 1, 4, 1, 1, 1, 1, 4, false, 0, 0, 0, MP_RULE_OK, "128 % 16 = 0"},
    /* interleaved: micro-batches % pp */
    {"interleave broken", D_, 4, 1, 4, 1, 1, 1, 1, 2, 1, false, 6, 0, 0, MP_RULE_INTERLEAVE,
     "8 % (4*2) = 0; 6 micro-batches % pp 4 = 2"},
    {"interleave kept", D_, 4, 1, 4, 1, 1, 1, 1, 2, 1, false, 8, 0, 0, MP_RULE_OK, "8 % 4 = 0"},
    {"no interleave, no rule", D_, 4, 1, 4, 1, 1, 1, 1, 1, 1, false, 6, 0, 0, MP_RULE_OK,
     "vpp 1: 6 micro-batches on 4 stages is allowed"},
    /* context parallelism */
    {"cp without flash", D_, 2, 1, 1, 1, 2, 1, 1, 1, 1, false, 0, 0, 1, MP_RULE_SEQ_CP,
     "cp 2 needs flash attention"},
    {"seq % (2 cp) broken", D_, 2, 1, 1, 1, 2, 1, 1, 1, 1, false, 0, 10242, 0, MP_RULE_SEQ_CP,
     "10242 % 4 = 2"},
    {"seq % (2 cp) kept", D_, 2, 1, 1, 1, 2, 1, 1, 1, 1, false, 0, 10240, 0, MP_RULE_OK, "10240 % 4 = 0"},
    /* sequence parallelism: (seq / cp) % tp */
    {"sp seq % tp broken", D_, 4, 4, 1, 1, 1, 1, 1, 1, 1, true, 0, 10242, 0, MP_RULE_SEQ_TP, "10242 % 4 = 2"},
    {"sp seq/cp % tp broken", D_, 8, 4, 1, 1, 2, 1, 1, 1, 1, true, 0, 10244, 0, MP_RULE_SEQ_TP,
     "10244 % 4 = 0 (cp ok), 10244/2 = 5122, 5122 % 4 = 2"},
    {"sp seq % tp kept", D_, 4, 4, 1, 1, 1, 1, 1, 1, 1, true, 0, 10240, 0, MP_RULE_OK, "10240 % 4 = 0"},
    {"no sp, no rule", D_, 4, 4, 1, 1, 1, 1, 1, 1, 1, false, 0, 10242, 0, MP_RULE_OK,
     "without SP the sequence is not split"},
    /* MoE with tp > 1 needs SP */
    {"moe tp2 without sp", M_, 2, 2, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_MOE_SP, "MoE, tp 2, no SP"},
    {"moe tp2 with sp", M_, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, 0, 0, 0, MP_RULE_OK, "SP on"},
    {"dense tp2 without sp", D_, 2, 2, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_OK, "dense: no MoE rule"},
    {"moe tp1 without sp", M_, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_OK, "tp 1: no TP to pair"},
};

static mp_rule run_case(const layout_case *c, mp_layout *l, char *why, size_t len)
{
    mp_model m;
    mp_workload w;
    build_model(&m, &c->model);
    mp_workload_defaults(&w);
    if (c->global_batch)
        w.global_batch = c->global_batch;
    if (c->seq_max)
        w.seq_max = c->seq_max;
    if (c->no_flash)
        w.flash_attention = false;
    mp_layout_defaults(l);
    l->gpus = c->gpus;
    l->tp = c->tp;
    l->pp = c->pp;
    l->dp = c->dp;
    l->cp = c->cp;
    l->ep = c->ep;
    l->etp = c->etp;
    l->vpp = c->vpp;
    l->micro_batch = c->mb;
    l->sequence_parallel = c->sp;
    return mp_layout_check(l, &m, &w, why, len);
}

static const layout_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    ck_abort_msg("no case '%s'", name);
    return NULL;
}

START_TEST(test_rules)
{
    const layout_case *c = &cases[_i];
    mp_layout l;
    char why[256] = "untouched";
    mp_rule r = run_case(c, &l, why, sizeof why);
    ck_assert_msg(r == c->expected, "%s: got rule %s (%s), expected %s (%s)", c->name, mp_rule_name(r), why,
                  mp_rule_name(c->expected), c->why);
    if (r == MP_RULE_OK)
        ck_assert_msg(why[0] == 0, "%s: valid layout but why = '%s'", c->name, why);
    else
        ck_assert_msg(why[0] != 0 && strcmp(why, "untouched") != 0, "%s: rule broken without a reason", c->name);
}
END_TEST

/* The sentence names the numbers: gpus 16 vs 2*1*2*2 = 8. */
START_TEST(test_why_text)
{
    mp_layout l;
    char why[256];
    ck_assert_int_eq(run_case(find_case("gpu product broken"), &l, why, sizeof why), MP_RULE_GPU_PRODUCT);
    ck_assert_str_eq(why, "gpus (16) != tp (2) * cp (1) * dp (2) * pp (2) = 8");
    ck_assert_int_eq(run_case(find_case("heads % tp broken"), &l, why, sizeof why), MP_RULE_HEADS_TP);
    ck_assert_str_eq(why, "heads (16) not divisible by tp (3)");
}
END_TEST

/* Derived sizes.  64 GPUs as tp 2, cp 1, dp 8, pp 4; experts etp 1, ep 4:
 * edp = tp*cp*dp / (etp*ep) = 16 / 4 = 4; micro-batch 2: 128 / (8*2) = 8
 * micro-batches. */
START_TEST(test_derived)
{
    layout_case c = {"derived", M_, 64, 2, 4, 8, 1, 4, 1, 1, 2, true, 0, 0, 0, MP_RULE_OK, ""};
    mp_layout l;
    char why[256];
    ck_assert_int_eq(run_case(&c, &l, why, sizeof why), MP_RULE_OK);
    ck_assert_int_eq(l.edp, 4);
    ck_assert_int_eq(l.num_micro_batches, 8);
    /* tp 2, cp 2, dp 4, pp 2 = 32 GPUs; etp 2 * ep 8 = 16 = tp*cp*dp: edp 1;
     * 128 / (4 * 1) = 32 micro-batches. */
    layout_case c2 = {"derived2", M_, 32, 2, 2, 4, 2, 8, 2, 1, 1, true, 0, 0, 0, MP_RULE_OK, ""};
    ck_assert_int_eq(run_case(&c2, &l, why, sizeof why), MP_RULE_OK);
    ck_assert_int_eq(l.edp, 1);
    ck_assert_int_eq(l.num_micro_batches, 32);
    /* Dense, 8 GPUs as dp 8: edp = 8 / (1*1) = 8; 128 / 8 = 16. */
    layout_case c3 = {"derived3", D_, 8, 1, 1, 8, 1, 1, 1, 1, 1, false, 0, 0, 0, MP_RULE_OK, ""};
    ck_assert_int_eq(run_case(&c3, &l, why, sizeof why), MP_RULE_OK);
    ck_assert_int_eq(l.edp, 8);
    ck_assert_int_eq(l.num_micro_batches, 16);
}
END_TEST

/* As Megatron-LM's validate_args: with tp 1, sequence parallelism is
 * switched off ("Disabling sequence parallelism because tensor model
 * parallelism is disabled"). */
START_TEST(test_sp_off_without_tp)
{
    layout_case c = {"sp tp1", D_, 2, 1, 1, 2, 1, 1, 1, 1, 1, true, 0, 0, 0, MP_RULE_OK, ""};
    mp_layout l;
    char why[256];
    ck_assert_int_eq(run_case(&c, &l, why, sizeof why), MP_RULE_OK);
    ck_assert(!l.sequence_parallel);
    c.tp = 2;
    c.dp = 1;
    ck_assert_int_eq(run_case(&c, &l, why, sizeof why), MP_RULE_OK);
    ck_assert(l.sequence_parallel);
}
END_TEST

START_TEST(test_defaults_and_names)
{
    mp_layout l;
    mp_layout_defaults(&l);
    ck_assert_int_eq(l.gpus, 1);
    ck_assert_int_eq(l.tp * l.pp * l.dp * l.cp * l.ep * l.etp * l.edp * l.vpp * l.micro_batch, 1);
    ck_assert_int_eq(l.recompute, MP_RECOMPUTE_NONE);
    /* Names documented in layout.h. */
    ck_assert_str_eq(mp_rule_name(MP_RULE_HEADS_TP), "heads%tp");
    ck_assert_str_eq(mp_recompute_name(MP_RECOMPUTE_SELECTIVE), "selective");
    ck_assert_str_eq(mp_recompute_name(MP_RECOMPUTE_FULL), "full");
    ck_assert_str_eq(mp_recompute_name(MP_RECOMPUTE_NONE), "none");
    for (int r = 0; r < MP_RULE_COUNT; r++) {
        ck_assert_str_ne(mp_rule_name((mp_rule)r), "?");
        ck_assert_str_ne(mp_rule_text((mp_rule)r), "?");
    }
    ck_assert_str_eq(mp_rule_name(MP_RULE_COUNT), "?");
}
END_TEST

static Suite *layout_suite(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_rules, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_why_text);
    tcase_add_test(tc, test_derived);
    tcase_add_test(tc, test_sp_off_without_tp);
    tcase_add_test(tc, test_defaults_and_names);
    suite_add_tcase(s, tc);
    return s;
}

MP_CHECK_MAIN(layout_suite)
