/* The router and RoPE settings of a Hugging Face config, kept for --emit
 * (the cost model prices every router alike: scores, top-k, the balancing
 * loss).  Only keys the config gives are read; an absent one stays unset
 * and emit says what it used instead.
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
#include <string.h>

#include "model_internal.h"

/* The key's node when present and not null. */
static const mp_node *given(const mp_node *map, const char *key)
{
    const mp_node *v = mp_node_get(map, key, NULL);
    return v && !mp_node_is_null(v) ? v : NULL;
}

mp_status mp_hf_read_router(mp_model *m, const mp_doc *d, const mp_node *map, const char *where, const char *type,
                            mp_error *err)
{
    (void)where;
    mp_getter g = {d, map, err};
    mp_status st;
    double x;
    if (given(map, "rope_theta")) {
        if ((st = mp_get_double(&g, "rope_theta", true, 1, 1e12, &x, NULL)))
            return st;
        m->rope_theta = x;
    }
    if (m->num_experts <= 0)
        return MP_OK;
    bool deepseek = !strcmp(type, "deepseek_v2") || !strcmp(type, "deepseek_v3") || !strcmp(type, "kimi_k2");
    bool glm = !strcmp(type, "glm4_moe");
    const char *aux = deepseek ? "aux_loss_alpha" : "router_aux_loss_coef";
    if (given(map, aux)) {
        if ((st = mp_get_double(&g, aux, true, 0, 1e3, &x, NULL)))
            return st;
        m->router_aux_coef = x;
        m->router_aux_given = true;
    }
    if (given(map, "norm_topk_prob")) {
        bool b;
        if ((st = mp_get_bool(&g, "norm_topk_prob", true, &b, NULL)))
            return st;
        m->router_pre_softmax = !b;
    }
    if (!deepseek && !glm)
        return MP_OK;
    if (deepseek && given(map, "seq_aux") && (st = mp_get_bool(&g, "seq_aux", true, &m->router_seq_aux, NULL)))
        return st;
    if (deepseek && given(map, "scoring_func")) {
        static const char *const scoring[] = {"softmax", "sigmoid", NULL};
        int i;
        if ((st = mp_get_enum(&g, "scoring_func", true, scoring, &i, NULL)))
            return st;
        m->router_sigmoid = i == 1;
    }
    if (deepseek && given(map, "topk_method")) {
        static const char *const methods[] = {"greedy", "group_limited_greedy", "noaux_tc", NULL};
        int i;
        if ((st = mp_get_enum(&g, "topk_method", true, methods, &i, NULL)))
            return st;
        m->router_expert_bias = i == 2;
    }
    if (glm) {
        m->router_sigmoid = true;
        m->router_expert_bias = true;
    }
    long n = 0, k = 0;
    if (given(map, "n_group") && (st = mp_get_int(&g, "n_group", true, 1, m->num_experts, &n, NULL)))
        return st;
    if (given(map, "topk_group") && (st = mp_get_int(&g, "topk_group", true, 1, n > 0 ? n : 1, &k, NULL)))
        return st;
    if (n > 1) {
        m->router_groups = n;
        m->router_group_topk = k > 0 ? k : n;
    }
    if (given(map, "routed_scaling_factor")) {
        if ((st = mp_get_double(&g, "routed_scaling_factor", true, 0, 1e6, &x, NULL)))
            return st;
        m->router_topk_scale = x;
    }
    return MP_OK;
}
