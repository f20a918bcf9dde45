/* Reading a Hugging Face config.json as published.
 *
 * One table (families[] below) maps each model_type moeplan reads to a reader
 * and to the defaults of that type's Hugging Face config class.  A config
 * whose model_type is absent, null, empty or not in the table is refused:
 * reading an MoE config as a dense Llama gives parameter counts 7 to 40 times
 * too small, and nothing would tell the user.
 *
 * Sizes that every published config carries (hidden_size, layer count, heads,
 * vocab_size, widths, expert counts) are required: a file without them is
 * not one that transformers wrote.  Options a config may leave out take the
 * default of the config class (transformers' configuration_<type>.py, cited
 * at each family), and each such choice becomes a note that explain prints.
 * Keys moeplan does not use are ignored; keys it uses are type- and
 * range-checked, with the file:line:col of the value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "moeplan/doc.h"
#include "moeplan/model.h"

#define TRY(x) do { mp_status st_ = (x); if (st_) return st_; } while (0)
#define BIG 100000000L /* 1e8: larger than any real width, small enough that products fit */

struct hf_family;

typedef struct {
    mp_model *m;
    const mp_doc *d;
    const mp_node *map;            /* the config read (the root, or its text_config) */
    const char *where;             /* "" or "text_config." for messages and notes */
    const struct hf_family *fam;
    mp_error *err;
} hf_ctx;

typedef mp_status (*hf_reader)(hf_ctx *c);

typedef struct hf_family {
    const char *type;              /* model_type */
    const char *cls;               /* transformers config class */
    hf_reader read;
    long kv_heads;                 /* class default of num_key_value_heads; 0: = num_attention_heads */
    bool tied;                     /* class default of tie_word_embeddings */
    bool attn_bias;                /* class default of attention_bias */
    long head_dim;                 /* class default of head_dim; 0: hidden_size // num_attention_heads */
} hf_family;

/* ------------------------------------------------------------------ helpers */

static const mp_node *val(const hf_ctx *c, const char *key) { return mp_node_given(c->map, key); }

static void note_default(hf_ctx *c, const char *key, const char *value)
{
    char t[160];
    snprintf(t, sizeof t, "%s%s absent: %s default %s", c->where, key, c->fam->cls, value);
    mp_model_add_note(c->m, t);
}

static mp_getter getter(hf_ctx *c)
{
    mp_getter g = {c->d, c->map, c->err};
    return g;
}

/* A size the config must give. */
static mp_status req_int(hf_ctx *c, const char *key, long min, long max, long *out)
{
    mp_getter g = getter(c);
    return mp_get_int(&g, key, true, min, max, out, NULL);
}

/* An integer option: absent or null takes the class default `dflt`, noted. */
static mp_status opt_int(hf_ctx *c, const char *key, long dflt, long min, long max, long *out)
{
    if (!val(c, key)) {
        char s[32];
        snprintf(s, sizeof s, "%ld", dflt);
        note_default(c, key, s);
        *out = dflt;
        return MP_OK;
    }
    mp_getter g = getter(c);
    return mp_get_int(&g, key, true, min, max, out, NULL);
}

static mp_status opt_bool(hf_ctx *c, const char *key, bool dflt, bool *out)
{
    if (!val(c, key)) {
        note_default(c, key, dflt ? "true" : "false");
        *out = dflt;
        return MP_OK;
    }
    mp_getter g = getter(c);
    return mp_get_bool(&g, key, true, out, NULL);
}

/* A dropout probability; > 0 means dropout layers (and their masks). */
static mp_status opt_dropout(hf_ctx *c, const char *key, double dflt, bool *on)
{
    double p = dflt;
    if (!val(c, key)) {
        char s[48];
        snprintf(s, sizeof s, "%g (dropout %s)", dflt, dflt > 0 ? "on" : "off");
        note_default(c, key, s);
    } else {
        mp_getter g = getter(c);
        TRY(mp_get_double(&g, key, true, 0, 1, &p, NULL));
    }
    *on = *on || p > 0;
    return MP_OK;
}

/* An MLP activation named `key` (transformers' ACT2FN names, activations.py):
 * one of the GELUs (tanh or erf forms, their fast variants), silu/swish,
 * relu, or one of a few others priced alike but named by no framework flag;
 * any other name is refused at its value with the list (and "did you
 * mean"), not guessed.  *kind: 'g' a GELU, 's' SiLU, 'r' ReLU, 'o' other;
 * absent: dflt's. */
static mp_status read_act(hf_ctx *c, const char *key, const char *dflt, char *kind)
{
    static const char *const names[] = {"gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "gelu_accurate",
                                        "gelu_python", "silu", "swish", "relu", "quick_gelu", "relu2", "relu6",
                                        "leaky_relu", "mish", "tanh", "sigmoid", "linear", NULL};
    static const char kinds[] = "ggggggssroooooooo"; /* one per name */
    int i = 0;
    while (names[i] && strcmp(names[i], dflt))
        i++;
    if (val(c, key)) {
        mp_getter g = getter(c);
        TRY(mp_get_enum(&g, key, true, names, &i, NULL));
        /* Not the class's activation: said in explain's assumptions (the
         * model line shows the MLP's shape, not its function). */
        if (strcmp(names[i], dflt)) {
            char t[160];
            snprintf(t, sizeof t, "%s%s %s: the MLP's activation, not %s's default %s (the same matrices and FLOPs)",
                     c->where, key, names[i], c->fam->cls, dflt);
            mp_model_add_note(c->m, t);
        }
    }
    *kind = kinds[i];
    return MP_OK;
}

/* A gated MLP's activation from `key`: SiLU-gated is SwiGLU, GELU-gated
 * GeGLU, anything else OTHER (the same cost; --emit megatron refuses what
 * it cannot name).  Absent: the families' default, silu. */
static mp_status read_gated_act(hf_ctx *c, const char *key)
{
    char kind;
    TRY(read_act(c, key, "silu", &kind));
    c->m->ffn_act = kind == 's' ? MP_ACT_SWIGLU : kind == 'g' ? MP_ACT_GEGLU : MP_ACT_OTHER;
    return MP_OK;
}

/* ------------------------------------------------- the common decoder part */

/* hidden_size, layers, heads, kv heads, head_dim, vocab, tying, attention
 * bias and dropout under the Llama-style names, which every family below
 * but GPT-2 and DBRX uses.  RMSNorm and a gated MLP unless the family says
 * otherwise. */
static mp_status read_deepseek(hf_ctx *c);

static mp_status read_common(hf_ctx *c)
{
    mp_model *m = c->m;
    long v;
    TRY(req_int(c, "hidden_size", 1, BIG, &v));
    m->hidden = v;
    TRY(req_int(c, "num_hidden_layers", 1, MP_MAX_LAYERS, &v));
    m->num_layers = (int)v;
    TRY(req_int(c, "num_attention_heads", 1, 65536, &v));
    m->num_heads = v;
    if (val(c, "num_key_value_heads")) {
        TRY(req_int(c, "num_key_value_heads", 1, m->num_heads, &v));
        m->num_kv_heads = v;
    } else if (c->fam->kv_heads > 0 && c->fam->kv_heads <= m->num_heads) {
        char s[32];
        snprintf(s, sizeof s, "%ld", c->fam->kv_heads);
        note_default(c, "num_key_value_heads", s);
        m->num_kv_heads = c->fam->kv_heads;
    } else {
        note_default(c, "num_key_value_heads", "None (= num_attention_heads)");
        m->num_kv_heads = m->num_heads;
    }
    if (m->num_heads % m->num_kv_heads)
        return mp_doc_error(c->d, val(c, "num_key_value_heads") ? val(c, "num_key_value_heads") : c->map, c->err,
                            "'num_attention_heads' (%lld) must be a multiple of 'num_key_value_heads' (%lld)",
                            (long long)m->num_heads, (long long)m->num_kv_heads);
    if (val(c, "head_dim")) {
        TRY(req_int(c, "head_dim", 1, 65536, &v));
        m->head_dim = v;
    } else if (c->fam->head_dim > 0) {
        char s[32];
        snprintf(s, sizeof s, "%ld", c->fam->head_dim);
        note_default(c, "head_dim", s);
        m->head_dim = c->fam->head_dim;
    } else {
        /* The other classes: head_dim = hidden_size // num_attention_heads.
         * A remainder would silently drop columns: refuse, as native YAML does. */
        if (m->hidden % m->num_heads)
            return mp_doc_error(c->d, val(c, "num_attention_heads"), c->err,
                                "'num_attention_heads' (%lld) does not divide 'hidden_size' (%lld); give 'head_dim' "
                                "explicitly",
                                (long long)m->num_heads, (long long)m->hidden);
        m->head_dim = m->hidden / m->num_heads;
        /* Noted, except for DeepSeek's configs: their attention is MLA,
         * sized by the qk/v head dims, and head_dim is unused. */
        bool mla = c->fam->read == read_deepseek;
        char s[64];
        snprintf(s, sizeof s, "hidden_size / num_attention_heads = %lld", (long long)m->head_dim);
        if (!mla)
            note_default(c, "head_dim", s);
    }
    TRY(req_int(c, "vocab_size", 1, BIG, &v));
    m->vocab = v;
    TRY(opt_bool(c, "tie_word_embeddings", c->fam->tied, &m->tied_embeddings));
    /* Qwen2Attention fixes bias=True on q, k, v and none on o whatever
     * attention_bias says (modeling_qwen2.py): not read there. */
    if (strncmp(c->fam->type, "qwen2", 5) != 0) {
        bool ab;
        TRY(opt_bool(c, "attention_bias", c->fam->attn_bias, &ab));
        m->qkv_bias = m->out_bias = ab;
    }
    TRY(opt_dropout(c, "attention_dropout", 0.0, &m->dropout));
    m->norm = MP_NORM_RMS;
    m->gated_mlp = true; /* gate/up/down (LlamaMLP and its descendants), whatever hidden_act is */
    TRY(read_gated_act(c, "hidden_act"));
    return MP_OK;
}

static mp_status read_ffn(hf_ctx *c, const char *key)
{
    long v;
    TRY(req_int(c, key, 1, BIG, &v));
    c->m->ffn_hidden = v;
    return MP_OK;
}

/* Experts: counts and width under the given keys. */
static mp_status read_experts(hf_ctx *c, const char *n_key, const char *k_key, long k_default, const char *w_key)
{
    mp_model *m = c->m;
    long v;
    TRY(req_int(c, n_key, 1, 1000000, &v));
    m->num_experts = v;
    if (k_default > 0)
        TRY(opt_int(c, k_key, k_default, 1, m->num_experts, &v));
    else
        TRY(req_int(c, k_key, 1, m->num_experts, &v));
    m->top_k = v;
    if (w_key) {
        TRY(req_int(c, w_key, 1, BIG, &v));
        m->expert_hidden = v;
    }
    return MP_OK;
}

static void all_moe(mp_model *m)
{
    for (int i = 0; i < m->num_layers; i++)
        m->is_moe[i] = true;
}

/* A list of layer indices at `key` (mlp_only_layers, moe_layers); calls
 * set(m, i) for each. */
static mp_status read_layer_list(hf_ctx *c, const char *key, const mp_node *x, bool value, bool *dst)
{
    if (x->kind != MP_NODE_SEQ)
        return mp_doc_error(c->d, x, c->err, "'%s' must be a list of layer indices", key);
    bool seen[MP_MAX_LAYERS] = {false}; /* num_layers <= MP_MAX_LAYERS (mp_model_validate's bound, checked first) */
    for (size_t i = 0; i < x->n; i++) {
        const mp_node *e = x->vals[i];
        char *end;
        long li = -1;
        if (e->kind == MP_NODE_SCALAR) {
            li = strtol(e->text, &end, 10);
            if (end == e->text || *end || e->quoted)
                li = -1;
        }
        if (li < 0 || li >= c->m->num_layers || li >= MP_MAX_LAYERS)
            return mp_doc_error(c->d, e, c->err, "'%s' entries must be layer indices from 0 to %d", key,
                                c->m->num_layers - 1);
        /* A layer listed twice is a slip in the file (a wrong index, or
         * the same one copied), not a setting: refused, not merged. */
        if (seen[li])
            return mp_doc_error(c->d, e, c->err, "'%s' lists layer %ld twice", key, li);
        seen[li] = true;
        dst[li] = value;
    }
    return MP_OK;
}

/* Sliding window on every layer (Mistral, Phi-3.5-MoE): `sliding_window`
 * null or absent means none. */
static mp_status read_window_all(hf_ctx *c)
{
    mp_model *m = c->m;
    if (!val(c, "sliding_window"))
        return MP_OK;
    long w;
    TRY(req_int(c, "sliding_window", 1, 1L << 40, &w));
    m->window_kind = MP_WINDOW_SLIDING;
    m->window = w;
    for (int i = 0; i < m->num_layers; i++)
        m->attn_local[i] = true;
    return MP_OK;
}

/* ------------------------------------------------------------------ GPT-2 */

/* GPT-2 (Radford et al. 2019; modeling_gpt2.py): LayerNorm with bias, biases
 * on every linear, learned positions, GELU MLP of n_inner, tied embeddings.
 * GPT2Config defaults (configuration_gpt2.py): n_inner None (= 4 n_embd),
 * resid_pdrop = embd_pdrop = attn_pdrop = 0.1, tie_word_embeddings True. */
static mp_status read_gpt2(hf_ctx *c)
{
    mp_model *m = c->m;
    long v;
    TRY(req_int(c, "n_embd", 1, BIG, &v));
    m->hidden = v;
    TRY(req_int(c, "n_layer", 1, MP_MAX_LAYERS, &v));
    m->num_layers = (int)v;
    TRY(req_int(c, "n_head", 1, 65536, &v));
    m->num_heads = m->num_kv_heads = v;
    if (m->hidden % m->num_heads)
        return mp_doc_error(c->d, val(c, "n_head"), c->err, "'n_head' (%lld) does not divide 'n_embd' (%lld)",
                            (long long)m->num_heads, (long long)m->hidden);
    m->head_dim = m->hidden / m->num_heads;
    if (val(c, "n_inner")) {
        TRY(req_int(c, "n_inner", 1, BIG, &v));
        m->ffn_hidden = v;
    } else {
        m->ffn_hidden = 4 * m->hidden;
        note_default(c, "n_inner", "None (= 4 * n_embd)");
    }
    TRY(req_int(c, "n_positions", 1, BIG, &v));
    m->learned_positions = v;
    TRY(req_int(c, "vocab_size", 1, BIG, &v));
    m->vocab = v;
    TRY(opt_bool(c, "tie_word_embeddings", c->fam->tied, &m->tied_embeddings));
    m->norm = MP_NORM_LAYER;
    m->qkv_bias = m->out_bias = m->mlp_bias = true;
    m->gated_mlp = false;
    /* GPT2Config.activation_function, default "gelu_new" (a GELU). */
    char kind;
    TRY(read_act(c, "activation_function", "gelu_new", &kind));
    m->ffn_act = kind == 'g' ? MP_ACT_GELU : kind == 'r' ? MP_ACT_RELU : MP_ACT_OTHER;
    TRY(opt_dropout(c, "resid_pdrop", 0.1, &m->dropout));
    TRY(opt_dropout(c, "attn_pdrop", 0.1, &m->dropout));
    return MP_OK;
}

/* ------------------------------------------------------ Llama and Mistral */

/* LlamaConfig (configuration_llama.py): num_key_value_heads None (= heads),
 * attention_bias False, mlp_bias False, tie False, attention_dropout 0. */
static mp_status read_llama(hf_ctx *c)
{
    TRY(read_common(c));
    TRY(read_ffn(c, "intermediate_size"));
    TRY(opt_bool(c, "mlp_bias", false, &c->m->mlp_bias));
    return MP_OK;
}

/* MistralConfig (configuration_mistral.py): num_key_value_heads 8,
 * sliding_window 4096 (the published Mistral-7B-v0.1 gives 4096; v0.2 and
 * later null).  MistralAttention applies the window on every layer. */
static mp_status read_mistral(hf_ctx *c)
{
    TRY(read_common(c));
    TRY(read_ffn(c, "intermediate_size"));
    if (!mp_node_get(c->map, "sliding_window", NULL)) {
        note_default(c, "sliding_window", "4096 (every layer)");
        c->m->window_kind = MP_WINDOW_SLIDING;
        c->m->window = 4096;
        for (int i = 0; i < c->m->num_layers; i++)
            c->m->attn_local[i] = true;
        return MP_OK;
    }
    return read_window_all(c);
}

/* MixtralConfig (configuration_mixtral.py): num_key_value_heads 8,
 * num_experts_per_tok 2, sliding_window None; the experts use
 * intermediate_size (MixtralBlockSparseTop2MLP). */
static mp_status read_mixtral(hf_ctx *c)
{
    TRY(read_common(c));
    TRY(read_ffn(c, "intermediate_size"));
    TRY(read_experts(c, "num_local_experts", "num_experts_per_tok", 2, NULL));
    c->m->expert_hidden = c->m->ffn_hidden;
    all_moe(c->m);
    return read_window_all(c);
}

/* An explicit `layer_types` list (transformers' per-layer attention kinds):
 * one "sliding_attention" or "full_attention" per layer, into attn_local. */
static mp_status read_layer_types(hf_ctx *c, const mp_node *lt)
{
    mp_model *m = c->m;
    if (lt->kind != MP_NODE_SEQ || (int)lt->n != m->num_layers)
        return mp_doc_error(c->d, lt, c->err, "'layer_types' must be a list of %d entr%s (one per layer)",
                            m->num_layers, m->num_layers == 1 ? "y" : "ies");
    for (int i = 0; i < m->num_layers; i++) {
        const mp_node *e = lt->vals[i];
        if (e->kind == MP_NODE_SCALAR && strcmp(e->text, "sliding_attention") == 0)
            m->attn_local[i] = true;
        else if (e->kind == MP_NODE_SCALAR && strcmp(e->text, "full_attention") == 0)
            m->attn_local[i] = false;
        else
            return mp_doc_error(c->d, e, c->err,
                                "'layer_types' entries must be \"sliding_attention\" or \"full_attention\"");
    }
    return MP_OK;
}

/* ------------------------------------------------------------------- Qwen */

/* Qwen2 sliding window (modeling_qwen2.py, Qwen2Attention):
 *   sliding_window = config.sliding_window if config.layer_types[i] ==
 *   "sliding_attention"; configuration_qwen2.py sets config.sliding_window
 *   to None unless use_sliding_window, and, when layer_types is None, builds
 *   it as "sliding_attention" if sliding_window and i >= max_window_layers.
 * So without use_sliding_window no layer has a window, whatever
 * layer_types says (said in a note); with it an explicit layer_types list
 * decides, else max_window_layers.  Qwen2Config defaults:
 * use_sliding_window False, max_window_layers 28. */
static mp_status read_qwen_window(hf_ctx *c, long max_window_default)
{
    mp_model *m = c->m;
    bool use = false;
    if (val(c, "use_sliding_window")) {
        mp_getter g = getter(c);
        TRY(mp_get_bool(&g, "use_sliding_window", true, &use, NULL));
    }
    const mp_node *lt = val(c, "layer_types");
    if (!use) {
        if (lt) {
            char t[200];
            snprintf(t, sizeof t, "%slayer_types given but use_sliding_window is false: %s sets sliding_window to "
                     "None, so every layer attends to all keys", c->where, c->fam->cls);
            mp_model_add_note(m, t);
        }
        return MP_OK;
    }
    long w, first;
    TRY(req_int(c, "sliding_window", 1, 1L << 40, &w));
    m->window_kind = MP_WINDOW_SLIDING;
    m->window = w;
    if (lt)
        return read_layer_types(c, lt);
    TRY(opt_int(c, "max_window_layers", max_window_default, 0, MP_MAX_LAYERS, &first));
    for (int i = 0; i < m->num_layers; i++)
        m->attn_local[i] = i >= first;
    return MP_OK;
}

/* Qwen2Config: num_key_value_heads 32, tie False; Qwen2Attention has a bias
 * on q, k, v and none on o (modeling_qwen2.py). */
static mp_status read_qwen2(hf_ctx *c)
{
    TRY(read_common(c));
    TRY(read_ffn(c, "intermediate_size"));
    c->m->qkv_bias = true;
    c->m->out_bias = false;
    return read_qwen_window(c, 28);
}

/* Qwen3Config: num_key_value_heads 8, attention_bias False; Qwen3Attention
 * has q_norm and k_norm = RMSNorm(head_dim) (modeling_qwen3.py). */
static mp_status read_qwen3(hf_ctx *c)
{
    TRY(read_common(c));
    TRY(read_ffn(c, "intermediate_size"));
    c->m->qk_norm = true;
    return read_qwen_window(c, 28);
}

/* Qwen2-MoE / Qwen3-MoE (modeling_qwen2_moe.py, modeling_qwen3_moe.py): MoE
 * when layer_idx not in mlp_only_layers and (layer_idx + 1) %
 * decoder_sparse_step == 0.  Qwen2MoeConfig: num_experts_per_tok 4,
 * decoder_sparse_step 1, shared_expert_intermediate_size 5632 (one shared
 * expert with a sigmoid gate Linear(h, 1)).  Qwen3MoeConfig:
 * num_experts_per_tok 8, decoder_sparse_step 1, no shared expert. */
static mp_status read_qwen_moe(hf_ctx *c)
{
    mp_model *m = c->m;
    bool q3 = strcmp(c->fam->type, "qwen3_moe") == 0;
    TRY(read_common(c));
    if (q3) {
        m->qk_norm = true;
    } else {
        m->qkv_bias = true;
        m->out_bias = false;
    }
    long v;
    if (val(c, "intermediate_size")) {
        TRY(read_ffn(c, "intermediate_size"));
    }
    TRY(read_experts(c, "num_experts", "num_experts_per_tok", q3 ? 8 : 4, "moe_intermediate_size"));
    if (!q3) {
        TRY(opt_int(c, "shared_expert_intermediate_size", 5632, 0, BIG, &v));
        if (v > 0) {
            m->num_shared_experts = 1;
            m->shared_expert_hidden = v;
            m->shared_expert_gate = true;
        }
    }
    long step;
    TRY(opt_int(c, "decoder_sparse_step", 1, 1, m->num_layers, &step));
    for (int i = 0; i < m->num_layers; i++)
        m->is_moe[i] = (i + 1) % step == 0;
    const mp_node *only = val(c, "mlp_only_layers");
    if (only)
        TRY(read_layer_list(c, "mlp_only_layers", only, false, m->is_moe));
    return read_qwen_window(c, 28);
}

/* --------------------------------------------------------------- DeepSeek */

/* DeepSeek-V2/V3, and Kimi-K2, which is DeepseekV3 with its own sizes
 * (its config's auto_map names configuration_deepseek.DeepseekV3Config).
 * modeling_deepseek.py: MoE when layer_idx >= first_k_dense_replace and
 * layer_idx % moe_layer_freq == 0.  DeepseekV3Config defaults
 * (configuration_deepseek_v3.py): n_shared_experts 1, first_k_dense_replace
 * 3, moe_layer_freq 1, num_nextn_predict_layers 1 (not counted);
 * DeepseekV2Config: n_shared_experts None, first_k_dense_replace 0. */
static mp_status read_deepseek(hf_ctx *c)
{
    mp_model *m = c->m;
    bool v3 = strcmp(c->fam->type, "deepseek_v2") != 0;
    TRY(read_common(c));
    TRY(read_ffn(c, "intermediate_size"));
    long v;
    /* Attention is always MLA (modeling_deepseek.py has no other); the
     * class defaults (DeepseekV2Config and DeepseekV3Config alike):
     * kv_lora_rank 512, q_lora_rank 1536 (null: Q projected directly),
     * qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128. */
    const mp_node *kvr = mp_node_get(c->map, "kv_lora_rank", NULL);
    if (kvr && mp_node_is_null(kvr))
        return mp_doc_error(c->d, kvr, c->err,
                            "'%skv_lora_rank' is null: %s attention is always multi-head latent attention, so it "
                            "needs the latent rank (an integer; the class default is 512)",
                            c->where, c->fam->type);
    m->attn = MP_ATTN_MLA;
    const mp_node *qr = mp_node_get(c->map, "q_lora_rank", NULL);
    if (qr && mp_node_is_null(qr))
        m->q_lora_rank = 0;
    else {
        TRY(opt_int(c, "q_lora_rank", 1536, 1, BIG, &v));
        m->q_lora_rank = v;
    }
    TRY(opt_int(c, "kv_lora_rank", 512, 1, BIG, &v));
    m->kv_lora_rank = v;
    TRY(opt_int(c, "qk_nope_head_dim", 128, 1, 65536, &v));
    m->qk_nope_head_dim = v;
    TRY(opt_int(c, "qk_rope_head_dim", 64, 0, 65536, &v));
    m->qk_rope_head_dim = v;
    TRY(opt_int(c, "v_head_dim", 128, 1, 65536, &v));
    m->v_head_dim = v;
    m->num_kv_heads = m->num_heads;
    if (!val(c, "n_routed_experts"))
        return mp_doc_error(c->d, c->map, c->err, "missing required key '%sn_routed_experts' (a %s config is MoE)",
                            c->where, c->fam->type);
    TRY(read_experts(c, "n_routed_experts", "num_experts_per_tok", 0, "moe_intermediate_size"));
    TRY(opt_int(c, "n_shared_experts", v3 ? 1 : 0, 0, 1024, &v));
    m->num_shared_experts = v;
    m->shared_expert_hidden = m->expert_hidden;
    long first, freq;
    TRY(opt_int(c, "first_k_dense_replace", v3 ? 3 : 0, 0, m->num_layers, &first));
    TRY(opt_int(c, "moe_layer_freq", 1, 1, m->num_layers, &freq));
    for (int i = 0; i < m->num_layers; i++)
        m->is_moe[i] = i >= first && i % freq == 0;
    long mtp = 0;
    if (val(c, "num_nextn_predict_layers"))
        TRY(req_int(c, "num_nextn_predict_layers", 0, 64, &mtp));
    if (mtp > 0)
        mp_model_add_note(m, "multi-token-prediction modules (num_nextn_predict_layers) are not counted");
    return MP_OK;
}

/* ------------------------------------------------------------------ OLMoE */

/* OlmoeConfig (configuration_olmoe.py): num_key_value_heads None (= heads),
 * num_experts_per_tok 8, attention_bias False, tie False.  OlmoeAttention
 * (modeling_olmoe.py): q_norm = RMSNorm(hidden_size) and k_norm =
 * RMSNorm((hidden_size // heads) * kv_heads), i.e. over the whole q and k
 * width, not per head.  Every layer is MoE, experts of intermediate_size,
 * router Linear(h, E, bias=False). */
static mp_status read_olmoe(hf_ctx *c)
{
    TRY(read_common(c));
    TRY(read_experts(c, "num_experts", "num_experts_per_tok", 8, "intermediate_size"));
    c->m->qk_norm = c->m->qk_norm_full = true;
    all_moe(c->m);
    return MP_OK;
}

/* ------------------------------------------------------------ Phi-3.5-MoE */

/* PhimoeConfig (configuration_phimoe.py): num_key_value_heads 8,
 * num_experts_per_tok 2, attention_bias False, lm_head_bias False,
 * sliding_window None, tie False.  modeling_phimoe.py: PhimoeAttention is
 * LlamaAttention (bias on q, k, v and o = attention_bias), LayerNorm with
 * bias (nn.LayerNorm, elementwise_affine) for the input, post-attention and
 * final norms, experts of intermediate_size without bias, router
 * Linear(h, E, bias=False), lm_head bias = lm_head_bias, and the sliding
 * window of config.sliding_window on every layer. */
static mp_status read_phimoe(hf_ctx *c)
{
    mp_model *m = c->m;
    TRY(read_common(c));
    TRY(read_ffn(c, "intermediate_size"));
    TRY(read_experts(c, "num_local_experts", "num_experts_per_tok", 2, NULL));
    m->expert_hidden = m->ffn_hidden;
    m->norm = MP_NORM_LAYER;
    TRY(opt_bool(c, "lm_head_bias", false, &m->lm_head_bias));
    all_moe(m);
    return read_window_all(c);
}

/* ------------------------------------------------------------------- DBRX */

/* DbrxConfig (configuration_dbrx.py): d_model, n_heads, n_layers,
 * vocab_size, tie False, resid_pdrop 0.0; DbrxAttentionConfig: kv_n_heads 1,
 * attn_pdrop 0.0, clip_qkv None; DbrxFFNConfig: ffn_hidden_size 3584,
 * moe_num_experts 4, moe_top_k 1.  modeling_dbrx.py: Wqkv and out_proj
 * without bias, LayerNorm(bias=False) for norm_1, norm_2 and norm_f, a GLU
 * expert of w1, v1, w2 (3 matrices of d x ffn_hidden_size), router
 * Linear(d, E, bias=False), every layer MoE, untied lm_head. */
static mp_status read_dbrx(hf_ctx *c)
{
    mp_model *m = c->m;
    long v;
    TRY(req_int(c, "d_model", 1, BIG, &v));
    m->hidden = v;
    TRY(req_int(c, "n_layers", 1, MP_MAX_LAYERS, &v));
    m->num_layers = (int)v;
    TRY(req_int(c, "n_heads", 1, 65536, &v));
    m->num_heads = v;
    if (m->hidden % m->num_heads)
        return mp_doc_error(c->d, val(c, "n_heads"), c->err, "'n_heads' (%lld) does not divide 'd_model' (%lld)",
                            (long long)m->num_heads, (long long)m->hidden);
    m->head_dim = m->hidden / m->num_heads;
    TRY(req_int(c, "vocab_size", 1, BIG, &v));
    m->vocab = v;
    TRY(opt_bool(c, "tie_word_embeddings", false, &m->tied_embeddings));
    TRY(opt_dropout(c, "resid_pdrop", 0.0, &m->dropout));
    const mp_node *attn = val(c, "attn_config"), *ffn = val(c, "ffn_config");
    if (!attn || attn->kind != MP_NODE_MAP)
        return mp_doc_error(c->d, attn ? attn : c->map, c->err, "'attn_config' must be a mapping (kv_n_heads, ...)");
    if (!ffn || ffn->kind != MP_NODE_MAP)
        return mp_doc_error(c->d, ffn ? ffn : c->map, c->err,
                            "'ffn_config' must be a mapping (moe_num_experts, moe_top_k, ffn_hidden_size)");
    hf_ctx a = *c;
    a.map = attn;
    a.where = "attn_config.";
    a.fam = &(hf_family){"dbrx", "DbrxAttentionConfig", NULL, 1, false, false, 0};
    TRY(opt_int(&a, "kv_n_heads", 1, 1, m->num_heads, &v));
    m->num_kv_heads = v;
    if (m->num_heads % m->num_kv_heads)
        return mp_doc_error(c->d, val(&a, "kv_n_heads"), c->err,
                            "'n_heads' (%lld) must be a multiple of 'kv_n_heads' (%lld)", (long long)m->num_heads,
                            (long long)m->num_kv_heads);
    TRY(opt_dropout(&a, "attn_pdrop", 0.0, &m->dropout));
    hf_ctx f = *c;
    f.map = ffn;
    f.where = "ffn_config.";
    f.fam = &(hf_family){"dbrx", "DbrxFFNConfig", NULL, 0, false, false, 0};
    TRY(opt_int(&f, "ffn_hidden_size", 3584, 1, BIG, &v));
    m->expert_hidden = v;
    TRY(opt_int(&f, "moe_num_experts", 4, 1, 1000000, &v));
    m->num_experts = v;
    TRY(opt_int(&f, "moe_top_k", 1, 1, m->num_experts, &v));
    m->top_k = v;
    m->norm = MP_NORM_LAYER;
    m->norm_no_bias = true;
    m->gated_mlp = true;
    all_moe(m);
    return MP_OK;
}

/* ---------------------------------------------------------------- gpt-oss */

/* GptOssConfig (configuration_gpt_oss.py): num_key_value_heads 8, head_dim
 * 64, num_experts_per_tok 4, sliding_window 128, attention_bias True, tie
 * False, layer_types None -> "sliding_attention" on even layers (i + 1 odd),
 * "full_attention" on odd ones.  modeling_gpt_oss.py: q, k, v, o with bias
 * (attention_bias), sinks of num_attention_heads per layer, router
 * Linear(h, E) with bias, experts gate_up_proj (h x 2f) + bias 2f and
 * down_proj (f x h) + bias h, RMSNorm.  The published config also writes
 * `experts_per_token` (OpenAI's name), which must agree with
 * num_experts_per_tok when both are given. */
static mp_status read_gpt_oss(hf_ctx *c)
{
    mp_model *m = c->m;
    TRY(read_common(c));
    TRY(read_experts(c, "num_local_experts", "num_experts_per_tok", val(c, "experts_per_token") ? 0 : 4,
                     "intermediate_size"));
    if (val(c, "experts_per_token")) {
        long k;
        TRY(req_int(c, "experts_per_token", 1, m->num_experts, &k));
        if (k != m->top_k)
            return mp_doc_error(c->d, val(c, "experts_per_token"), c->err,
                                "'experts_per_token' (%ld) disagrees with 'num_experts_per_tok' (%lld)", k,
                                (long long)m->top_k);
    }
    m->mlp_bias = true;
    m->attn_sinks = true;
    /* GptOssMLP: a clamped SwiGLU, (up + 1) * gate * sigmoid(1.702 gate)
     * with gate and up clipped at swiglu_limit: priced as SwiGLU, but not
     * the framework's --swiglu. */
    m->ffn_act = MP_ACT_OTHER;
    m->router_bias = true;
    all_moe(m);
    long w;
    TRY(opt_int(c, "sliding_window", 128, 1, 1L << 40, &w));
    m->window_kind = MP_WINDOW_SLIDING;
    m->window = w;
    const mp_node *lt = val(c, "layer_types");
    if (!lt) {
        note_default(c, "layer_types", "sliding on even layers, full on odd");
        for (int i = 0; i < m->num_layers; i++)
            m->attn_local[i] = (i + 1) % 2 != 0;
        return MP_OK;
    }
    return read_layer_types(c, lt);
}

/* ----------------------------------------------------------------- Grok-1 */

/* Grok-1 as converted by hpcai-tech/grok-1 (configuration_grok1.py,
 * modeling_grok1.py; model_type "grok-1", trust_remote_code).  Grok1Config
 * defaults: num_key_value_heads 32, num_experts_per_tok 2, num_experts 8,
 * tie_word_embeddings True.  DecoderLayer: RMSNorm before and after
 * attention and before and after the MoE block; q, k, v, o without bias;
 * MoeMLP linear, linear_v (h x f) and linear_1 (f x h) without bias; router
 * Linear(h, E, bias=False); every layer MoE; the output layer is the token
 * embedding (tied). */
static mp_status read_grok1(hf_ctx *c)
{
    mp_model *m = c->m;
    TRY(read_common(c));
    TRY(read_experts(c, "num_experts", "num_experts_per_tok", 2, "intermediate_size"));
    m->post_norms = true;
    /* MoeMLP: act_fn(linear(x)) * linear_v(x) with a GELU (xai-org/grok-1
     * model.py: jax.nn.gelu on the first projection): gelu-gated; the
     * config has no hidden_act to say so. */
    m->ffn_act = MP_ACT_GEGLU;
    all_moe(m);
    return MP_OK;
}

/* ---------------------------------------------------------------- Llama 4 */

/* Llama4TextConfig (configuration_llama4.py): num_key_value_heads 8,
 * head_dim 128, num_experts_per_tok 1, interleave_moe_layer_step 1,
 * moe_layers None -> range(step - 1, L, step), no_rope_layers None or empty
 * -> [int((i + 1) % no_rope_layer_interval != 0)] with interval 4 (1 = the
 * layer uses RoPE), layer_types "chunked_attention" where no_rope_layers[i]
 * (RoPE layers) else "full_attention", attention_chunk_size 8192,
 * attention_bias False, tie False.  modeling_llama4.py: Llama4TextMoe has
 * experts of intermediate_size, one shared expert Llama4TextMLP of
 * intermediate_size (no gate), router Linear(h, E, bias=False); dense layers
 * use intermediate_size_mlp; Llama4TextL2Norm (the qk norm) has no weight.
 * The text model only is counted: the vision encoder and projector are not
 * planned by moeplan (see SOURCES.md for what that leaves out). */
static mp_status read_llama4(hf_ctx *c)
{
    mp_model *m = c->m;
    TRY(read_common(c));
    TRY(read_experts(c, "num_local_experts", "num_experts_per_tok", 1, "intermediate_size"));
    m->num_shared_experts = 1;
    m->shared_expert_hidden = m->expert_hidden;
    long v;
    TRY(req_int(c, "intermediate_size_mlp", 1, BIG, &v));
    m->ffn_hidden = v;
    const mp_node *ml = val(c, "moe_layers");
    if (ml) {
        TRY(read_layer_list(c, "moe_layers", ml, true, m->is_moe));
    } else {
        long step;
        TRY(opt_int(c, "interleave_moe_layer_step", 1, 1, m->num_layers, &step));
        for (int i = 0; i < m->num_layers; i++)
            m->is_moe[i] = (i + 1) % step == 0; /* i in range(step - 1, L, step) */
    }
    /* RoPE layers: no_rope_layers[i] == 1. */
    bool rope[MP_MAX_LAYERS];
    const mp_node *nr = val(c, "no_rope_layers");
    if (nr && nr->kind == MP_NODE_SEQ && nr->n > 0) {
        if ((int)nr->n < m->num_layers)
            return mp_doc_error(c->d, nr, c->err, "'no_rope_layers' must have an entry (0 or 1) for each of the %d "
                                "layers", m->num_layers);
        for (int i = 0; i < m->num_layers; i++) {
            const mp_node *e = nr->vals[i];
            if (e->kind != MP_NODE_SCALAR || e->quoted || (strcmp(e->text, "0") && strcmp(e->text, "1")))
                return mp_doc_error(c->d, e, c->err, "'no_rope_layers' entries must be 0 (NoPE) or 1 (RoPE)");
            rope[i] = e->text[0] == '1';
        }
    } else if (nr && nr->kind != MP_NODE_SEQ) {
        return mp_doc_error(c->d, nr, c->err, "'no_rope_layers' must be a list of 0/1 entries");
    } else {
        long every;
        TRY(opt_int(c, "no_rope_layer_interval", 4, 1, m->num_layers, &every));
        for (int i = 0; i < m->num_layers; i++)
            rope[i] = (i + 1) % every != 0;
    }
    long chunk;
    TRY(opt_int(c, "attention_chunk_size", 8192, 1, 1L << 40, &chunk));
    m->window_kind = MP_WINDOW_CHUNKED;
    m->window = chunk;
    for (int i = 0; i < m->num_layers; i++)
        m->attn_local[i] = rope[i];
    return MP_OK;
}

/* ---------------------------------------------------------------- GLM-4.5 */

/* Glm4MoeConfig (configuration_glm4_moe.py, transformers 4.54+):
 * num_key_value_heads 8, num_experts_per_tok 8, n_shared_experts 1,
 * first_k_dense_replace 1, use_qk_norm False, attention_bias False, tie
 * False, partial_rotary_factor 0.5 (rotary on half of each head: no
 * parameters).  modeling_glm4_moe.py: q, k, v with bias = attention_bias, o
 * without; q_norm/k_norm = RMSNorm(head_dim) when use_qk_norm; MoE when
 * layer_idx >= first_k_dense_replace; router weight E x h (its
 * e_score_correction_bias is a buffer, not a parameter); dense layers of
 * intermediate_size; MTP layers (num_nextn_predict_layers) not counted. */
static mp_status read_glm4_moe(hf_ctx *c)
{
    mp_model *m = c->m;
    TRY(read_common(c));
    m->out_bias = false;
    TRY(read_ffn(c, "intermediate_size"));
    TRY(read_experts(c, "n_routed_experts", "num_experts_per_tok", 8, "moe_intermediate_size"));
    long v;
    TRY(opt_int(c, "n_shared_experts", 1, 0, 1024, &v));
    m->num_shared_experts = v;
    m->shared_expert_hidden = m->expert_hidden;
    TRY(opt_bool(c, "use_qk_norm", false, &m->qk_norm));
    long first;
    TRY(opt_int(c, "first_k_dense_replace", 1, 0, m->num_layers, &first));
    for (int i = 0; i < m->num_layers; i++)
        m->is_moe[i] = i >= first;
    long mtp = 0;
    if (val(c, "num_nextn_predict_layers"))
        TRY(req_int(c, "num_nextn_predict_layers", 0, 64, &mtp));
    if (mtp > 0)
        mp_model_add_note(m, "multi-token-prediction layers (num_nextn_predict_layers) are not counted");
    return MP_OK;
}

/* ------------------------------------------------------------------ table */

/* kv_heads / tied / attn_bias / head_dim: the class defaults of
 * num_key_value_heads (0 = None, i.e. num_attention_heads),
 * tie_word_embeddings, attention_bias and head_dim (0 = hidden_size //
 * num_attention_heads), from each configuration_<type>.py. */
static const hf_family families[] = {
    {"gpt2", "GPT2Config", read_gpt2, 0, true, true, 0},
    {"llama", "LlamaConfig", read_llama, 0, false, false, 0},
    {"mistral", "MistralConfig", read_mistral, 8, false, false, 0},
    {"mixtral", "MixtralConfig", read_mixtral, 8, false, false, 0},
    {"qwen2", "Qwen2Config", read_qwen2, 32, false, false, 0},
    {"qwen3", "Qwen3Config", read_qwen3, 32, false, false, 128},
    {"qwen2_moe", "Qwen2MoeConfig", read_qwen_moe, 16, false, false, 0},
    {"qwen3_moe", "Qwen3MoeConfig", read_qwen_moe, 4, false, false, 0},
    {"deepseek_v2", "DeepseekV2Config", read_deepseek, 0, false, false, 0},
    {"deepseek_v3", "DeepseekV3Config", read_deepseek, 128, false, false, 0},
    {"kimi_k2", "DeepseekV3Config", read_deepseek, 128, false, false, 0},
    {"olmoe", "OlmoeConfig", read_olmoe, 0, false, false, 0},
    {"phimoe", "PhimoeConfig", read_phimoe, 8, false, false, 0},
    {"dbrx", "DbrxConfig", read_dbrx, 0, false, false, 0},
    {"gpt_oss", "GptOssConfig", read_gpt_oss, 8, false, true, 64},
    {"grok-1", "Grok1Config", read_grok1, 32, true, false, 0},
    {"llama4_text", "Llama4TextConfig", read_llama4, 8, false, false, 128},
    {"glm4_moe", "Glm4MoeConfig", read_glm4_moe, 8, false, false, 0},
};
#define NFAM (sizeof families / sizeof families[0])

/* Multimodal wrappers whose language model is their text_config. */
static const char *const wrappers[] = {"llama4", NULL};

static const hf_family *find_family(const char *type)
{
    for (size_t i = 0; i < NFAM; i++)
        if (strcmp(families[i].type, type) == 0)
            return &families[i];
    return NULL;
}

static void supported_list(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < NFAM && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", families[i].type);
    for (size_t i = 0; wrappers[i] && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, ", %s (its text_config)", wrappers[i]);
}

/* The model_type at `map`: refused when absent, null, empty, not a string,
 * or unknown. */
static mp_status family_of(const mp_doc *d, const mp_node *map, const char *where, const char **type_out,
                           const mp_node **node_out, mp_error *err)
{
    char list[600];
    supported_list(list, sizeof list);
    const mp_node *t = mp_node_get(map, "model_type", NULL);
    *node_out = t;
    if (!t)
        return mp_doc_error(d, map, err, "no '%smodel_type': moeplan reads only the model types it knows (%s)", where,
                            list);
    if (mp_node_is_null(t) || t->kind != MP_NODE_SCALAR || !t->text[0])
        return mp_doc_error(d, t, err, "'%smodel_type' is %s; expected one of: %s", where,
                            t->kind != MP_NODE_SCALAR ? "not a string" : mp_node_is_null(t) ? "null" : "empty", list);
    *type_out = t->text;
    return MP_OK;
}

static mp_status unknown_type(const mp_doc *d, const mp_node *t, const char *where, mp_error *err)
{
    const char *names[NFAM + 4];
    size_t n = 0;
    for (size_t i = 0; i < NFAM; i++)
        names[n++] = families[i].type;
    for (size_t i = 0; wrappers[i]; i++)
        names[n++] = wrappers[i];
    const char *dym = mp_did_you_mean(t->text, names, n);
    char list[600];
    supported_list(list, sizeof list);
    if (dym)
        return mp_doc_error(d, t, err, "unknown %smodel_type '%s' (did you mean '%s'?); moeplan reads: %s", where,
                            t->text, dym, list);
    return mp_doc_error(d, t, err, "unknown %smodel_type '%s'; moeplan reads: %s", where, t->text, list);
}

mp_status mp_model_load_hf(mp_model *m, const mp_doc *d, mp_error *err)
{
    const mp_node *map = d->root, *tnode;
    const char *type, *where = "";
    TRY(family_of(d, map, "", &type, &tnode, err));
    const hf_family *fam = find_family(type);
    if (!fam) {
        bool wrapper = false;
        for (size_t i = 0; wrappers[i]; i++)
            wrapper |= strcmp(wrappers[i], type) == 0;
        if (!wrapper)
            return unknown_type(d, tnode, "", err);
        /* Llama4Config: the language model is text_config (Llama4TextConfig). */
        const mp_node *tc = mp_node_get(map, "text_config", NULL);
        if (!tc || tc->kind != MP_NODE_MAP)
            return mp_doc_error(d, tc ? tc : map, err, "a '%s' config must have a 'text_config' mapping", type);
        map = tc;
        where = "text_config.";
        TRY(family_of(d, map, where, &type, &tnode, err));
        fam = find_family(type);
        if (!fam)
            return unknown_type(d, tnode, where, err);
        mp_model_add_note(m, "multimodal config: text_config read; the vision encoder is not counted");
    }
    snprintf(m->name, sizeof m->name, "%s", type);
    const mp_node *nm = mp_node_get(d->root, "_name_or_path", NULL);
    if (nm && nm->kind == MP_NODE_SCALAR && nm->text[0])
        snprintf(m->name, sizeof m->name, "%s", nm->text);
    hf_ctx c = {m, d, map, where, fam, err};
    TRY(fam->read(&c));
    return mp_hf_read_router(m, d, map, where, fam->type, err);
}
