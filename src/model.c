#include "moeplan/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/doc.h"

int64_t mp_model_qk_head_dim(const mp_model *m)
{
    return m->attn == MP_ATTN_MLA ? m->qk_nope_head_dim + m->qk_rope_head_dim : m->head_dim;
}
int64_t mp_model_q_width(const mp_model *m) { return m->num_heads * mp_model_qk_head_dim(m); }
int64_t mp_model_k_width(const mp_model *m)
{
    /* MLA materialises per-head K of nope+rope width after the up-projection. */
    return m->attn == MP_ATTN_MLA ? m->num_heads * mp_model_qk_head_dim(m) : m->num_kv_heads * m->head_dim;
}
int64_t mp_model_v_width(const mp_model *m)
{
    return m->attn == MP_ATTN_MLA ? m->num_heads * m->v_head_dim : m->num_kv_heads * m->head_dim;
}

static double norm_params(const mp_model *m, double width)
{
    /* RMSNorm has a scale; LayerNorm a scale and a bias. */
    return (m->norm == MP_NORM_LAYER ? 2.0 : 1.0) * width;
}

static double mlp_params(const mp_model *m, double width)
{
    /* Gated (SwiGLU): gate and up h x f, down f x h -> 3hf.  Plain: 2hf.
     * Biases: f per input projection, h on the output projection. */
    double h = (double)m->hidden;
    double mats = m->gated_mlp ? 3.0 : 2.0;
    double p = mats * h * width;
    if (m->mlp_bias)
        p += (m->gated_mlp ? 2.0 : 1.0) * width + h;
    return p;
}

void mp_model_params(const mp_model *m, mp_params *p)
{
    memset(p, 0, sizeof *p);
    double h = (double)m->hidden, a = (double)m->num_heads;
    double att;
    if (m->attn == MP_ATTN_MLA) {
        /* DeepSeek-V2 (arXiv:2405.04434) section 2.1.2: Q down/up projections
         * through q_lora_rank (with an RMSNorm), joint KV down-projection to
         * kv_lora_rank plus the shared RoPE key, KV up-projection to per-head
         * nope-K and V, output projection from heads * v_head_dim. */
        double qk = (double)(m->qk_nope_head_dim + m->qk_rope_head_dim);
        if (m->q_lora_rank > 0)
            att = h * m->q_lora_rank + m->q_lora_rank + (double)m->q_lora_rank * a * qk;
        else
            att = h * a * qk;
        att += h * (double)(m->kv_lora_rank + m->qk_rope_head_dim) + (double)m->kv_lora_rank;
        att += (double)m->kv_lora_rank * a * (double)(m->qk_nope_head_dim + m->v_head_dim);
        att += a * (double)m->v_head_dim * h;
    } else {
        /* Q: h x (a*d); K, V: h x (g*d) each; O: (a*d) x h. */
        double q = a * m->head_dim, kv = (double)m->num_kv_heads * m->head_dim;
        att = h * q + 2.0 * h * kv + q * h;
        if (m->qkv_bias)
            att += q + 2.0 * kv;
        if (m->out_bias)
            att += h;
        if (m->qk_norm)
            att += 2.0 * (double)m->head_dim;
    }
    p->attention = att + norm_params(m, h);
    p->dense_mlp = m->ffn_hidden > 0 ? mlp_params(m, (double)m->ffn_hidden) + norm_params(m, h) : 0;
    if (m->num_experts > 0) {
        p->moe_expert_one = mlp_params(m, (double)m->expert_hidden);
        p->moe_experts = (double)m->num_experts * p->moe_expert_one;
        p->moe_shared = (double)m->num_shared_experts * mlp_params(m, (double)m->shared_expert_hidden);
        if (m->shared_expert_gate && m->num_shared_experts > 0)
            p->moe_shared += h;
        p->moe_router = h * (double)m->num_experts; /* gate: Linear(h, E), no bias */
        p->moe_norm = norm_params(m, h);
    }
    p->embedding = (double)m->vocab * h + (double)m->learned_positions * h;
    p->lm_head = m->tied_embeddings ? 0 : (double)m->vocab * h;
    p->final_norm = norm_params(m, h);
    double total = p->embedding + p->lm_head + p->final_norm;
    double active = total;
    for (int i = 0; i < m->num_layers; i++) {
        total += p->attention;
        active += p->attention;
        if (m->is_moe[i]) {
            p->moe_layers++;
            double common = p->moe_router + p->moe_shared + p->moe_norm;
            total += common + p->moe_experts;
            active += common + (double)m->top_k * p->moe_expert_one;
        } else {
            p->dense_layers++;
            total += p->dense_mlp;
            active += p->dense_mlp;
        }
    }
    p->total = total;
    p->active_per_token = active;
}

static void add_note(mp_model *m, const char *text)
{
    if (m->num_notes < (int)(sizeof m->notes / sizeof m->notes[0])) {
        snprintf(m->notes[m->num_notes], sizeof m->notes[0], "%s", text);
        m->num_notes++;
    }
}

/* Whole-model checks after loading; the loaders have already checked what
 * sits at one key, so these are about the file as a whole (line 1). */
mp_status mp_model_validate(const mp_model *m, mp_error *err)
{
    const char *f = m->source;
    if (m->attn == MP_ATTN_GQA) {
        if (m->num_heads % m->num_kv_heads)
            return mp_error_set(err, MP_ERR_INPUT, f, 1, 1,
                                "heads (%lld) must be a multiple of kv_heads (%lld) for grouped-query attention",
                                (long long)m->num_heads, (long long)m->num_kv_heads);
    }
    if (m->num_experts > 0 && m->top_k > m->num_experts)
        return mp_error_set(err, MP_ERR_INPUT, f, 1, 1, "top_k (%lld) is larger than the number of experts (%lld)",
                            (long long)m->top_k, (long long)m->num_experts);
    bool any_dense = false, any_moe = false;
    for (int i = 0; i < m->num_layers; i++) {
        any_dense |= !m->is_moe[i];
        any_moe |= m->is_moe[i];
    }
    if (any_dense && m->ffn_hidden <= 0)
        return mp_error_set(err, MP_ERR_INPUT, f, 1, 1,
                            "the model has dense layers but no dense MLP width (ffn_hidden / intermediate_size)");
    if (any_moe && (m->expert_hidden <= 0 || m->top_k <= 0))
        return mp_error_set(err, MP_ERR_INPUT, f, 1, 1, "the model has MoE layers but no expert width or top-k");
    return MP_OK;
}

/* ---------------------------------------------------------------- native YAML */

static const char *const model_keys[] = {
    "name", "layers", "hidden", "heads", "kv_heads", "head_dim", "attention", "mla", "ffn", "ffn_hidden",
    "experts", "top_k", "expert_hidden", "shared_experts", "shared_expert_hidden", "shared_expert_gate",
    "first_dense_layers", "moe_every", "vocab", "tied_embeddings", "norm", "qkv_bias", "out_bias", "mlp_bias",
    "qk_norm", "dropout", "position_embedding", "max_positions", "notes", NULL};
static const char *const mla_keys[] = {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                                       "v_head_dim", NULL};

#define TRY(x) do { mp_status st_ = (x); if (st_) return st_; } while (0)
#define BIG 100000000L   /* 1e8: larger than any real width, small enough that products fit */

static mp_status load_native(mp_model *m, const mp_doc *d, mp_error *err)
{
    mp_getter g = {d, d->root, err};
    TRY(mp_doc_check_keys(d, d->root, model_keys, "a model file", err));
    long v;
    bool found;
    TRY(mp_get_string(&g, "name", false, m->name, sizeof m->name, NULL));
    TRY(mp_get_int(&g, "layers", true, 1, MP_MAX_LAYERS, &v, NULL));
    m->num_layers = (int)v;
    TRY(mp_get_int(&g, "hidden", true, 1, BIG, &v, NULL));
    m->hidden = v;
    TRY(mp_get_int(&g, "heads", true, 1, 65536, &v, NULL));
    m->num_heads = v;
    m->num_kv_heads = m->num_heads;
    TRY(mp_get_int(&g, "kv_heads", false, 1, m->num_heads, &v, &found));
    if (found)
        m->num_kv_heads = v;
    if (m->num_heads % m->num_kv_heads)
        return mp_doc_error(d, mp_node_get(d->root, "kv_heads", NULL), err,
                            "'heads' (%lld) must be a multiple of 'kv_heads' (%lld) for grouped-query attention",
                            (long long)m->num_heads, (long long)m->num_kv_heads);
    m->head_dim = m->hidden / m->num_heads;
    TRY(mp_get_int(&g, "head_dim", false, 1, 65536, &v, &found));
    if (found)
        m->head_dim = v;
    else if (m->hidden % m->num_heads)
        return mp_doc_error(d, mp_node_get(d->root, "heads", NULL), err,
                            "'heads' (%lld) does not divide 'hidden' (%lld); give 'head_dim' explicitly",
                            (long long)m->num_heads, (long long)m->hidden);
    static const char *const attn_kinds[] = {"gqa", "mla", NULL};
    int ak = 0;
    TRY(mp_get_enum(&g, "attention", false, attn_kinds, &ak, NULL));
    m->attn = ak ? MP_ATTN_MLA : MP_ATTN_GQA;
    if (m->attn == MP_ATTN_MLA) {
        const mp_node *mla;
        TRY(mp_get_map(&g, "mla", true, &mla));
        TRY(mp_doc_check_keys(d, mla, mla_keys, "'mla'", err));
        mp_getter gm = {d, mla, err};
        TRY(mp_get_int(&gm, "q_lora_rank", false, 0, BIG, &v, &found));
        m->q_lora_rank = found ? v : 0;
        TRY(mp_get_int(&gm, "kv_lora_rank", true, 1, BIG, &v, NULL));
        m->kv_lora_rank = v;
        TRY(mp_get_int(&gm, "qk_nope_head_dim", true, 1, 65536, &v, NULL));
        m->qk_nope_head_dim = v;
        TRY(mp_get_int(&gm, "qk_rope_head_dim", true, 0, 65536, &v, NULL));
        m->qk_rope_head_dim = v;
        TRY(mp_get_int(&gm, "v_head_dim", true, 1, 65536, &v, NULL));
        m->v_head_dim = v;
    } else if (mp_node_get(d->root, "mla", NULL)) {
        return mp_doc_error(d, mp_node_get(d->root, "mla", NULL), err, "'mla' is given but 'attention' is not 'mla'");
    }
    static const char *const ffn_kinds[] = {"gelu", "swiglu", "relu", "geglu", NULL};
    int fk = 1;
    TRY(mp_get_enum(&g, "ffn", true, ffn_kinds, &fk, NULL));
    m->gated_mlp = fk == 1 || fk == 3;
    TRY(mp_get_int(&g, "ffn_hidden", false, 1, BIG, &v, &found));
    m->ffn_hidden = found ? v : 0;
    TRY(mp_get_int(&g, "experts", false, 0, 1000000, &v, &found));
    m->num_experts = found ? v : 0;
    if (m->num_experts > 0) {
        TRY(mp_get_int(&g, "top_k", true, 1, m->num_experts, &v, NULL));
        m->top_k = v;
        TRY(mp_get_int(&g, "expert_hidden", true, 1, BIG, &v, NULL));
        m->expert_hidden = v;
        TRY(mp_get_int(&g, "shared_experts", false, 0, 1024, &v, &found));
        m->num_shared_experts = found ? v : 0;
        m->shared_expert_hidden = m->expert_hidden;
        TRY(mp_get_int(&g, "shared_expert_hidden", false, 1, BIG, &v, &found));
        if (found)
            m->shared_expert_hidden = v;
        TRY(mp_get_bool(&g, "shared_expert_gate", false, &m->shared_expert_gate, NULL));
        long first = 0, every = 1;
        TRY(mp_get_int(&g, "first_dense_layers", false, 0, m->num_layers, &first, NULL));
        TRY(mp_get_int(&g, "moe_every", false, 1, m->num_layers, &every, NULL));
        /* Layer i (0-based) is MoE when i >= first_dense_layers and
         * (i + 1) % moe_every == 0: Qwen-MoE's decoder_sparse_step rule. */
        for (int i = 0; i < m->num_layers; i++)
            m->is_moe[i] = i >= first && (i + 1) % every == 0;
    } else {
        static const char *const moe_only[] = {"top_k", "expert_hidden", "shared_experts", "shared_expert_hidden",
                                               "first_dense_layers", "moe_every", NULL};
        for (int i = 0; moe_only[i]; i++) {
            const mp_node *x = mp_node_get(d->root, moe_only[i], NULL);
            if (x)
                return mp_doc_error(d, x, err, "'%s' is given but 'experts' is 0 or absent", moe_only[i]);
        }
    }
    TRY(mp_get_int(&g, "vocab", true, 1, BIG, &v, NULL));
    m->vocab = v;
    TRY(mp_get_bool(&g, "tied_embeddings", false, &m->tied_embeddings, NULL));
    static const char *const norms[] = {"rmsnorm", "layernorm", NULL};
    int nk = 0;
    TRY(mp_get_enum(&g, "norm", false, norms, &nk, NULL));
    m->norm = nk ? MP_NORM_LAYER : MP_NORM_RMS;
    TRY(mp_get_bool(&g, "qkv_bias", false, &m->qkv_bias, NULL));
    TRY(mp_get_bool(&g, "out_bias", false, &m->out_bias, NULL));
    TRY(mp_get_bool(&g, "mlp_bias", false, &m->mlp_bias, NULL));
    TRY(mp_get_bool(&g, "qk_norm", false, &m->qk_norm, NULL));
    TRY(mp_get_bool(&g, "dropout", false, &m->dropout, NULL));
    static const char *const pos[] = {"rope", "learned", "none", NULL};
    int pk = 0;
    TRY(mp_get_enum(&g, "position_embedding", false, pos, &pk, NULL));
    if (pk == 1) {
        TRY(mp_get_int(&g, "max_positions", true, 1, BIG, &v, NULL));
        m->learned_positions = v;
    }
    const mp_node *notes = mp_node_get(d->root, "notes", NULL);
    if (notes) {
        if (notes->kind != MP_NODE_SEQ)
            return mp_doc_error(d, notes, err, "'notes' must be a list of strings");
        for (size_t i = 0; i < notes->n; i++) {
            if (notes->vals[i]->kind != MP_NODE_SCALAR)
                return mp_doc_error(d, notes->vals[i], err, "each note must be a string");
            add_note(m, notes->vals[i]->text);
        }
    }
    return MP_OK;
}

/* ------------------------------------------------------- Hugging Face config */

/* Read a HF config.json as published: keys we do not use are ignored (those
 * files carry dozens), but keys we do use are type- and range-checked. */
static mp_status load_hf(mp_model *m, const mp_doc *d, mp_error *err)
{
    mp_getter g = {d, d->root, err};
    char type[64] = "";
    TRY(mp_get_string(&g, "model_type", false, type, sizeof type, NULL));
    long v;
    bool found;
    bool gpt2 = strcmp(type, "gpt2") == 0;
    bool deepseek = strncmp(type, "deepseek", 8) == 0;
    bool qwen_moe = strcmp(type, "qwen2_moe") == 0 || strcmp(type, "qwen3_moe") == 0;
    snprintf(m->name, sizeof m->name, "%s", type[0] ? type : "hf-model");
    const mp_node *nm = mp_node_get(d->root, "_name_or_path", NULL);
    if (nm && nm->kind == MP_NODE_SCALAR && nm->text[0])
        snprintf(m->name, sizeof m->name, "%s", nm->text);

    if (gpt2) {
        /* GPT-2 (Radford et al. 2019): LayerNorm with bias, biases on every
         * linear, learned positions, GELU MLP of n_inner (default 4 n_embd),
         * tied embeddings. */
        TRY(mp_get_int(&g, "n_embd", true, 1, BIG, &v, NULL));
        m->hidden = v;
        TRY(mp_get_int(&g, "n_layer", true, 1, MP_MAX_LAYERS, &v, NULL));
        m->num_layers = (int)v;
        TRY(mp_get_int(&g, "n_head", true, 1, 65536, &v, NULL));
        m->num_heads = m->num_kv_heads = v;
        if (m->hidden % m->num_heads)
            return mp_doc_error(d, mp_node_get(d->root, "n_head", NULL), err, "'n_head' must divide 'n_embd'");
        m->head_dim = m->hidden / m->num_heads;
        m->ffn_hidden = 4 * m->hidden;
        TRY(mp_get_int(&g, "n_inner", false, 1, BIG, &v, &found));
        if (found)
            m->ffn_hidden = v;
        TRY(mp_get_int(&g, "n_positions", true, 1, BIG, &v, NULL));
        m->learned_positions = v;
        TRY(mp_get_int(&g, "vocab_size", true, 1, BIG, &v, NULL));
        m->vocab = v;
        m->tied_embeddings = true;
        TRY(mp_get_bool(&g, "tie_word_embeddings", false, &m->tied_embeddings, NULL));
        m->norm = MP_NORM_LAYER;
        m->qkv_bias = m->out_bias = m->mlp_bias = true;
        m->gated_mlp = false;
        double pd = 0;
        TRY(mp_get_double(&g, "resid_pdrop", false, 0, 1, &pd, NULL));
        m->dropout = pd > 0;
        return MP_OK;
    }

    TRY(mp_get_int(&g, "hidden_size", true, 1, BIG, &v, NULL));
    m->hidden = v;
    TRY(mp_get_int(&g, "num_hidden_layers", true, 1, MP_MAX_LAYERS, &v, NULL));
    m->num_layers = (int)v;
    TRY(mp_get_int(&g, "num_attention_heads", true, 1, 65536, &v, NULL));
    m->num_heads = v;
    m->num_kv_heads = v;
    TRY(mp_get_int(&g, "num_key_value_heads", false, 1, m->num_heads, &v, &found));
    if (found)
        m->num_kv_heads = v;
    m->head_dim = m->hidden / m->num_heads;
    TRY(mp_get_int(&g, "head_dim", false, 1, 65536, &v, &found));
    if (found)
        m->head_dim = v;
    else if (m->head_dim < 1)
        return mp_doc_error(d, mp_node_get(d->root, "num_attention_heads", NULL), err,
                            "'num_attention_heads' (%lld) is larger than 'hidden_size' (%lld); give 'head_dim'",
                            (long long)m->num_heads, (long long)m->hidden);
    if (m->num_heads % m->num_kv_heads)
        return mp_doc_error(d, mp_node_get(d->root, "num_key_value_heads", NULL), err,
                            "'num_attention_heads' (%lld) must be a multiple of 'num_key_value_heads' (%lld)",
                            (long long)m->num_heads, (long long)m->num_kv_heads);
    TRY(mp_get_int(&g, "vocab_size", true, 1, BIG, &v, NULL));
    m->vocab = v;
    /* Llama, Mistral, Mixtral, Qwen and DeepSeek configs default to untied. */
    m->tied_embeddings = false;
    TRY(mp_get_bool(&g, "tie_word_embeddings", false, &m->tied_embeddings, NULL));
    m->norm = MP_NORM_RMS;
    m->gated_mlp = true; /* LlamaMLP-style gate/up/down, whatever hidden_act is */
    bool ab = false;
    TRY(mp_get_bool(&g, "attention_bias", false, &ab, NULL));
    m->qkv_bias = m->out_bias = ab;
    TRY(mp_get_bool(&g, "mlp_bias", false, &m->mlp_bias, NULL));
    if (strcmp(type, "qwen2") == 0 || strcmp(type, "qwen2_moe") == 0) {
        m->qkv_bias = true; /* Qwen2 attention: bias on q, k, v; none on o */
        m->out_bias = false;
    }
    if (strcmp(type, "qwen3") == 0 || strcmp(type, "qwen3_moe") == 0)
        m->qk_norm = true;
    TRY(mp_get_int(&g, "intermediate_size", false, 1, BIG, &v, &found));
    m->ffn_hidden = found ? v : 0;
    double dp = 0;
    TRY(mp_get_double(&g, "attention_dropout", false, 0, 1, &dp, NULL));
    m->dropout = dp > 0;

    if (deepseek) {
        long qlr = 0;
        const mp_node *q = mp_node_get(d->root, "q_lora_rank", NULL);
        if (q && !mp_node_is_null(q))
            TRY(mp_get_int(&g, "q_lora_rank", false, 1, BIG, &qlr, NULL));
        long kvr = 0;
        TRY(mp_get_int(&g, "kv_lora_rank", false, 1, BIG, &kvr, &found));
        if (found) {
            m->attn = MP_ATTN_MLA;
            m->q_lora_rank = qlr;
            m->kv_lora_rank = kvr;
            TRY(mp_get_int(&g, "qk_nope_head_dim", true, 1, 65536, &v, NULL));
            m->qk_nope_head_dim = v;
            TRY(mp_get_int(&g, "qk_rope_head_dim", true, 0, 65536, &v, NULL));
            m->qk_rope_head_dim = v;
            TRY(mp_get_int(&g, "v_head_dim", true, 1, 65536, &v, NULL));
            m->v_head_dim = v;
            m->num_kv_heads = m->num_heads;
        }
        long ne = 0, nsh = 0, first = 0, freq = 1;
        TRY(mp_get_int(&g, "n_routed_experts", false, 1, 1000000, &ne, NULL));
        if (ne > 0) {
            m->num_experts = ne;
            TRY(mp_get_int(&g, "num_experts_per_tok", true, 1, ne, &v, NULL));
            m->top_k = v;
            TRY(mp_get_int(&g, "moe_intermediate_size", true, 1, BIG, &v, NULL));
            m->expert_hidden = v;
            TRY(mp_get_int(&g, "n_shared_experts", false, 0, 1024, &nsh, NULL));
            m->num_shared_experts = nsh;
            m->shared_expert_hidden = m->expert_hidden;
            TRY(mp_get_int(&g, "first_k_dense_replace", false, 0, m->num_layers, &first, NULL));
            TRY(mp_get_int(&g, "moe_layer_freq", false, 1, m->num_layers, &freq, NULL));
            /* modeling_deepseek.py: MoE when layer_idx >= first_k_dense_replace
             * and layer_idx % moe_layer_freq == 0. */
            for (int i = 0; i < m->num_layers; i++)
                m->is_moe[i] = i >= first && i % freq == 0;
        }
        long mtp = 0;
        TRY(mp_get_int(&g, "num_nextn_predict_layers", false, 0, 64, &mtp, NULL));
        if (mtp > 0)
            add_note(m, "multi-token-prediction modules (num_nextn_predict_layers) are not counted");
        return MP_OK;
    }
    if (strcmp(type, "mixtral") == 0) {
        TRY(mp_get_int(&g, "num_local_experts", true, 1, 1000000, &v, NULL));
        m->num_experts = v;
        TRY(mp_get_int(&g, "num_experts_per_tok", true, 1, m->num_experts, &v, NULL));
        m->top_k = v;
        m->expert_hidden = m->ffn_hidden; /* Mixtral's experts use intermediate_size */
        for (int i = 0; i < m->num_layers; i++)
            m->is_moe[i] = true;
        return MP_OK;
    }
    if (qwen_moe) {
        TRY(mp_get_int(&g, "num_experts", true, 1, 1000000, &v, NULL));
        m->num_experts = v;
        TRY(mp_get_int(&g, "num_experts_per_tok", true, 1, m->num_experts, &v, NULL));
        m->top_k = v;
        TRY(mp_get_int(&g, "moe_intermediate_size", true, 1, BIG, &v, NULL));
        m->expert_hidden = v;
        long sh = 0;
        TRY(mp_get_int(&g, "shared_expert_intermediate_size", false, 0, BIG, &sh, NULL));
        if (sh > 0) {
            /* Qwen2-MoE: one shared expert of that width with a sigmoid gate. */
            m->num_shared_experts = 1;
            m->shared_expert_hidden = sh;
            m->shared_expert_gate = true;
        }
        long step = 1;
        TRY(mp_get_int(&g, "decoder_sparse_step", false, 1, m->num_layers, &step, NULL));
        /* modeling_qwen2_moe.py: MoE when layer_idx not in mlp_only_layers and
         * (layer_idx + 1) % decoder_sparse_step == 0. */
        for (int i = 0; i < m->num_layers; i++)
            m->is_moe[i] = (i + 1) % step == 0;
        const mp_node *only = mp_node_get(d->root, "mlp_only_layers", NULL);
        if (only && !mp_node_is_null(only)) {
            if (only->kind != MP_NODE_SEQ)
                return mp_doc_error(d, only, err, "'mlp_only_layers' must be a list of layer indices");
            for (size_t i = 0; i < only->n; i++) {
                const mp_node *x = only->vals[i];
                char *end;
                long li = -1;
                if (x->kind == MP_NODE_SCALAR) {
                    li = strtol(x->text, &end, 10);
                    if (end == x->text || *end || x->quoted)
                        li = -1;
                }
                if (li < 0 || li >= m->num_layers)
                    return mp_doc_error(d, x, err, "'mlp_only_layers' entries must be layer indices from 0 to %d",
                                        m->num_layers - 1);
                m->is_moe[li] = false;
            }
        }
        return MP_OK;
    }
    if (type[0] && strcmp(type, "llama") && strcmp(type, "mistral") && strcmp(type, "qwen2") &&
        strcmp(type, "qwen3"))
    {
        char note[160];
        snprintf(note, sizeof note, "model_type '%s' read as a Llama-style decoder (gated MLP, RMSNorm)", type);
        add_note(m, note);
    }
    return MP_OK;
}

mp_status mp_model_load(mp_model *m, const char *path, mp_error *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->source, sizeof m->source, "%s", path);
    mp_doc d;
    TRY(mp_doc_load_file(&d, path, err));
    bool hf = mp_node_get(d.root, "model_type", NULL) || mp_node_get(d.root, "architectures", NULL);
    mp_status st = hf ? load_hf(m, &d, err) : load_native(m, &d, err);
    mp_doc_free(&d);
    if (st)
        return st;
    if (!m->name[0]) {
        const char *b = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", b ? b + 1 : path);
    }
    return mp_model_validate(m, err);
}
