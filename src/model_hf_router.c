/* The router and RoPE settings of a Hugging Face config, kept for --emit
 * (the cost model prices every router alike: scores, top-k, the balancing
 * loss).  Only keys the config gives are read; an absent one stays unset,
 * noted with what is done instead (no config class's default is assumed).
 *
 * Sources (transformers):
 *  - router_aux_loss_coef: MixtralConfig, Qwen2MoeConfig, Qwen3MoeConfig,
 *    OlmoeConfig, PhimoeConfig, Llama4TextConfig, GptOssConfig (the
 *    coefficient of the load-balancing loss, load_balancing_loss_func);
 *  - norm_topk_prob (Qwen-MoE, OLMoE, DeepSeek): false keeps the top k of
 *    the softmax over all experts unrenormalised (Megatron-LM
 *    --moe-router-pre-softmax), true renormalises them (Megatron's
 *    default, softmax over the top k logits);
 *  - DeepSeek (modeling_deepseek.py, MoEGate): aux_loss_alpha and seq_aux
 *    (the loss per sequence), scoring_func softmax or sigmoid, topk_method
 *    greedy, group_limited_greedy or noaux_tc (the aux-loss-free bias
 *    e_score_correction_bias), n_group and topk_group, routed_scaling_factor;
 *  - Glm4MoeTopkRouter (modeling_glm4_moe.py): sigmoid scores and
 *    e_score_correction_bias always, n_group / topk_group /
 *    routed_scaling_factor as DeepSeek's. */
#include <stdio.h>
#include <string.h>

#include "model_internal.h"

/* A key the config does not give, and what is done instead (explain's
 * notes: nothing here is a guessed class default). */
static void note_absent(mp_model *m, const char *where, const char *key, const char *what)
{
    char t[160];
    snprintf(t, sizeof t, "%s%s absent: %s", where, key, what);
    mp_model_add_note(m, t);
}

mp_status mp_hf_read_router(mp_model *m, const mp_doc *d, const mp_node *map, const char *where, const char *type,
                            mp_error *err)
{
    mp_getter g = {d, map, err};
    mp_status st;
    double x;
    /* rope_theta: at the top, in transformers 5's rope_parameters, or in
     * DBRX's attn_config. */
    const mp_node *rmap = map;
    static const char *const nests[] = {"rope_parameters", "attn_config"};
    for (int i = 0; i < 2 && !mp_node_given(rmap, "rope_theta"); i++) {
        const mp_node *n = mp_node_get(map, nests[i], NULL);
        if (n && n->kind == MP_NODE_MAP && mp_node_given(n, "rope_theta"))
            rmap = n;
    }
    if (mp_node_given(rmap, "rope_theta")) {
        mp_getter rg = {d, rmap, err};
        if ((st = mp_get_double(&rg, "rope_theta", true, 1, 1e12, &x, NULL)))
            return st;
        m->rope_theta = x;
    } else if (m->learned_positions <= 0) {
        note_absent(m, where, "rope_theta", "--emit megatron leaves --rotary-base at Megatron-LM's 10000");
    }
    /* RoPE scaling (YaRN, linear, dynamic, Llama 3's): priced alike, but
     * --emit megatron writes plain RoPE; said, not dropped silently. */
    const mp_node *rs = mp_node_get(map, "rope_scaling", NULL);
    if (rs && rs->kind == MP_NODE_MAP) {
        const mp_node *ty = mp_node_get(rs, "type", NULL);
        if (!ty)
            ty = mp_node_get(rs, "rope_type", NULL);
        char t[160];
        snprintf(t, sizeof t, "%srope_scaling (%s) is not emitted: --emit megatron writes plain RoPE", where,
                 ty && ty->kind == MP_NODE_SCALAR ? ty->text : "a mapping");
        mp_model_add_note(m, t);
    }
    if (m->num_experts <= 0)
        return MP_OK;
    bool deepseek = !strcmp(type, "deepseek_v2") || !strcmp(type, "deepseek_v3") || !strcmp(type, "kimi_k2");
    bool glm = !strcmp(type, "glm4_moe");
    const char *aux = deepseek ? "aux_loss_alpha" : "router_aux_loss_coef";
    if (mp_node_given(map, aux)) {
        if ((st = mp_get_double(&g, aux, true, 0, 1e3, &x, NULL)))
            return st;
        m->router_aux_coef = x;
        m->router_aux_given = true;
    } else {
        note_absent(m, where, aux, "--emit megatron writes 1e-2, Megatron-LM's suggested start, not the config "
                                   "class's default");
    }
    /* The families whose routers read norm_topk_prob (the others always
     * renormalise, or, like Mixtral's, have no such choice). */
    bool has_norm = deepseek || glm || !strcmp(type, "qwen2_moe") || !strcmp(type, "qwen3_moe") ||
                    !strcmp(type, "olmoe");
    if (mp_node_given(map, "norm_topk_prob")) {
        bool b;
        if ((st = mp_get_bool(&g, "norm_topk_prob", true, &b, NULL)))
            return st;
        m->router_pre_softmax = !b;
    } else if (has_norm) {
        note_absent(m, where, "norm_topk_prob", "read as true (the top k renormalised)");
    }
    if (!deepseek && !glm)
        return MP_OK;
    if (deepseek && !mp_node_given(map, "scoring_func"))
        note_absent(m, where, "scoring_func", "read as softmax");
    if (deepseek && !mp_node_given(map, "topk_method"))
        note_absent(m, where, "topk_method", "read as greedy (no expert bias, no groups)");
    bool limited = false; /* topk_method group_limited_greedy */
    if (deepseek && mp_node_given(map, "seq_aux") && (st = mp_get_bool(&g, "seq_aux", true, &m->router_seq_aux, NULL)))
        return st;
    if (deepseek && mp_node_given(map, "scoring_func")) {
        static const char *const scoring[] = {"softmax", "sigmoid", NULL};
        int i;
        if ((st = mp_get_enum(&g, "scoring_func", true, scoring, &i, NULL)))
            return st;
        m->router_sigmoid = i == 1;
    }
    if (deepseek && mp_node_given(map, "topk_method")) {
        static const char *const methods[] = {"greedy", "group_limited_greedy", "noaux_tc", NULL};
        int i;
        if ((st = mp_get_enum(&g, "topk_method", true, methods, &i, NULL)))
            return st;
        m->router_expert_bias = i == 2;
        limited = i == 1;
    }
    if (glm) {
        m->router_sigmoid = true;
        m->router_expert_bias = true;
    }
    long n = 0, k = 0;
    if (mp_node_given(map, "n_group") && (st = mp_get_int(&g, "n_group", true, 1, m->num_experts, &n, NULL)))
        return st;
    if (n > 1 && m->num_experts % n)
        return mp_doc_error(d, mp_node_given(map, "n_group"), err,
                            "'%sn_group' (%ld) must divide the %lld routed expert%s into equal groups", where, n,
                            (long long)m->num_experts, mp_plural(m->num_experts));
    if (mp_node_given(map, "topk_group") && (st = mp_get_int(&g, "topk_group", true, 1, n > 0 ? n : 1, &k, NULL)))
        return st;
    /* Groups route only where topk_method limits by group (DeepSeek-V2's
     * group_limited_greedy, V3's noaux_tc, GLM's router); greedy ignores
     * n_group. */
    bool greedy = deepseek && !m->router_expert_bias && !limited;
    if (n > 1 && !greedy) {
        m->router_groups = n;
        m->router_group_topk = k > 0 ? k : n;
    }
    if (mp_node_given(map, "routed_scaling_factor")) {
        if ((st = mp_get_double(&g, "routed_scaling_factor", true, 0, 1e6, &x, NULL)))
            return st;
        if (!(x > 0))
            return mp_doc_error(d, mp_node_given(map, "routed_scaling_factor"), err,
                                "'%srouted_scaling_factor' must be above 0 (it multiplies the routed experts' "
                                "weights), got %g", where, x);
        m->router_topk_scale = x;
        /* DeepSeek-V2's MoEGate scales the weights only when it does not
         * renormalise them (top_k > 1 and norm_topk_prob: normalised,
         * unscaled); V3's always scales. */
        if (!strcmp(type, "deepseek_v2") && m->top_k > 1 && !m->router_pre_softmax && x != 1) {
            m->router_topk_scale = 0;
            mp_model_add_note(m, "router: routed_scaling_factor is not applied (DeepSeek-V2 scales only weights it "
                                 "does not renormalise)");
        }
    }
    if (m->router_groups > 1 && deepseek && !m->router_expert_bias)
        mp_model_add_note(m, "router: group_limited_greedy ranks groups by their best expert; Megatron-LM's "
                             "--moe-router-num-groups ranks them by the sum of their top scores");
    return MP_OK;
}
