#include "moeplan/model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "moeplan/doc.h"
#include "model_internal.h"

mp_ffn_act mp_model_activation(const mp_model *m)
{
    if (m->ffn_act != MP_ACT_UNSTATED)
        return m->ffn_act;
    return m->gated_mlp ? MP_ACT_SWIGLU : MP_ACT_GELU;
}

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
    /* RMSNorm has a scale; LayerNorm a scale and a bias, except DBRX's
     * nn.LayerNorm(bias=False) (modeling_dbrx.py, DbrxBlock). */
    return (m->norm == MP_NORM_LAYER && !m->norm_no_bias ? 2.0 : 1.0) * width;
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
        if (m->qk_norm && m->qk_norm_full)
            att += norm_params(m, q) + norm_params(m, kv); /* OLMoE: q_norm(a*d), k_norm(g*d) */
        else if (m->qk_norm)
            att += 2.0 * norm_params(m, (double)m->head_dim); /* Qwen3/GLM: one norm of head_dim each */
    }
    /* gpt-oss (modeling_gpt_oss.py, GptOssAttention.sinks): one learned
     * logit per head, added to the softmax's denominator. */
    if (m->attn_sinks)
        att += a;
    /* Grok-1 (modeling_grok1.py, DecoderLayer): a norm before and after
     * attention and before and after the MoE block. */
    p->attention = att + norm_params(m, h) * (m->post_norms ? 2.0 : 1.0);
    double mlp_norms = norm_params(m, h) * (m->post_norms ? 2.0 : 1.0);
    p->block_norm = mlp_norms;
    p->dense_mlp = m->ffn_hidden > 0 ? mlp_params(m, (double)m->ffn_hidden) + mlp_norms : 0;
    if (m->num_experts > 0) {
        p->moe_expert_one = mlp_params(m, (double)m->expert_hidden);
        p->moe_experts = (double)m->num_experts * p->moe_expert_one;
        p->moe_shared = (double)m->num_shared_experts * mlp_params(m, (double)m->shared_expert_hidden);
        if (m->shared_expert_gate && m->num_shared_experts > 0)
            p->moe_shared += h;
        /* gate: Linear(h, E); gpt-oss's router has a bias of E
         * (modeling_gpt_oss.py, GptOssTopKRouter.bias). */
        p->moe_router = h * (double)m->num_experts + (m->router_bias ? (double)m->num_experts : 0);
        p->moe_norm = mlp_norms;
    }
    p->embedding = (double)m->vocab * h + (double)m->learned_positions * h;
    p->lm_head = m->tied_embeddings ? 0 : (double)m->vocab * h;
    if (m->lm_head_bias) /* Phi-3.5-MoE: lm_head = Linear(h, V, bias=True) */
        p->lm_head += (double)m->vocab;
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

void mp_model_add_note(mp_model *m, const char *text)
{
    if (m->num_notes < (int)(sizeof m->notes / sizeof m->notes[0])) {
        snprintf(m->notes[m->num_notes], sizeof m->notes[0], "%s", text);
        m->num_notes++;
    }
}

/* Whole-model checks after loading; the loaders have already checked what
 * sits at one key, so these are about the file as a whole (line 1). */
double mp_model_aux_loss_coeff(const mp_model *m, bool *from_model)
{
    if (from_model)
        *from_model = m->router_aux_given;
    return m->router_aux_given ? m->router_aux_coef : 1e-2;
}

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
    /* Every count moeplan prints is exact up to 2^53 (a double's integers):
     * a model of more parameters than that (9.0e15, 13,000 times
     * DeepSeek-V3; each size within its key's range can still multiply to
     * 3e25) is refused rather than printed in rounded, overflowing columns. */
    mp_params p;
    mp_model_params(m, &p);
    if (!(p.total <= 9007199254740992.0))
        return mp_error_set(err, MP_ERR_INPUT, f, 1, 1,
                            "the model has %.4g parameters; moeplan plans models of up to 2^53 (about 9.007e15), "
                            "where every count it prints is exact",
                            p.total);
    return MP_OK;
}

/* ---------------------------------------------------------------- native YAML */

static const char *const model_keys[] = {
    "name", "layers", "hidden", "heads", "kv_heads", "head_dim", "attention", "mla", "ffn", "ffn_hidden",
    "experts", "top_k", "expert_hidden", "shared_experts", "shared_expert_hidden", "shared_expert_gate",
    "first_dense_layers", "moe_every", "vocab", "tied_embeddings", "norm", "qkv_bias", "out_bias", "mlp_bias",
    "qk_norm", "dropout", "position_embedding", "max_positions", "notes", "window", "attention_sinks",
    "router_bias", "lm_head_bias", "post_norms", NULL};
static const char *const window_keys[] = {"kind", "size", "global_every", "layers", NULL};
static const char *const mla_keys[] = {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                                       "v_head_dim", NULL};

#define TRY(x) do { mp_status st_ = (x); if (st_) return st_; } while (0)
#define BIG 100000000L   /* 1e8: larger than any real width, small enough that products fit */

/* window: {kind: sliding|chunked, size: N, global_every: K | layers: [i...]}.
 * Local layers: all by default; with global_every K, all but those with
 * (i + 1) % K == 0 (gpt-oss: K 2; Llama 4: K 4); with layers, those listed. */
static mp_status load_window(mp_model *m, const mp_doc *d, const mp_node *win, mp_error *err)
{
    TRY(mp_doc_check_keys(d, win, window_keys, "'window'", err));
    mp_getter g = {d, win, err};
    static const char *const kinds[] = {"sliding", "chunked", NULL};
    int k = 0;
    TRY(mp_get_enum(&g, "kind", true, kinds, &k, NULL));
    m->window_kind = k ? MP_WINDOW_CHUNKED : MP_WINDOW_SLIDING;
    long v;
    TRY(mp_get_int(&g, "size", true, 1, 1L << 40, &v, NULL));
    m->window = v;
    const mp_node *every = mp_node_get(win, "global_every", NULL), *layers = mp_node_get(win, "layers", NULL);
    if (every && layers)
        return mp_doc_error(d, layers, err, "give 'global_every' or 'layers' in 'window', not both");
    long ge = 0;
    TRY(mp_get_int(&g, "global_every", false, 1, m->num_layers, &ge, NULL));
    for (int i = 0; i < m->num_layers; i++)
        m->attn_local[i] = ge > 0 ? (i + 1) % ge != 0 : layers == NULL;
    if (layers) {
        if (layers->kind != MP_NODE_SEQ || layers->n == 0)
            return mp_doc_error(d, layers, err, "'layers' in 'window' must be a non-empty list of layer indices");
        for (size_t i = 0; i < layers->n; i++) {
            const mp_node *x = layers->vals[i];
            long li = -1;
            /* A whole number like any other (01 and "1" are refused, as
             * for every key), then a layer's index. */
            if (x->kind == MP_NODE_SCALAR)
                TRY(mp_node_int(d, x, "a 'layers' entry of 'window'", LONG_MIN, LONG_MAX, &li, err));
            if (li < 0 || li >= m->num_layers)
                return mp_doc_error(d, x, err, "'layers' entries must be layer indices from 0 to %d",
                                    m->num_layers - 1);
            /* Each starts false with a list given (above): one already set
             * was listed before, a slip refused as the HF reader does. */
            if (m->attn_local[li])
                return mp_doc_error(d, x, err, "'layers' lists layer %ld twice", li);
            m->attn_local[li] = true;
        }
    }
    return MP_OK;
}

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
    static const mp_ffn_act acts[] = {MP_ACT_GELU, MP_ACT_SWIGLU, MP_ACT_RELU, MP_ACT_GEGLU};
    m->ffn_act = acts[fk];
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
        /* A gate on no shared expert gates nothing: refused, not ignored. */
        if (m->shared_expert_gate && m->num_shared_experts == 0)
            return mp_doc_error(d, mp_node_get(d->root, "shared_expert_gate", NULL), err,
                                "'shared_expert_gate' is true but 'shared_experts' is 0 or absent: there is no "
                                "shared expert to gate");
        long first = 0, every = 1;
        TRY(mp_get_int(&g, "first_dense_layers", false, 0, m->num_layers, &first, NULL));
        TRY(mp_get_int(&g, "moe_every", false, 1, m->num_layers, &every, NULL));
        /* Layer i (0-based) is MoE when i >= first_dense_layers and
         * (i + 1) % moe_every == 0: Qwen-MoE's decoder_sparse_step rule. */
        for (int i = 0; i < m->num_layers; i++)
            m->is_moe[i] = i >= first && (i + 1) % every == 0;
    } else {
        static const char *const moe_only[] = {"top_k", "expert_hidden", "shared_experts", "shared_expert_hidden",
                                               "shared_expert_gate", "first_dense_layers", "moe_every",
                                               "router_bias", NULL};
        for (int i = 0; moe_only[i]; i++) {
            const mp_node *x = mp_node_get(d->root, moe_only[i], NULL);
            if (x)
                return mp_doc_error(d, x, err, "'%s' is given but 'experts' is 0 or absent", moe_only[i]);
        }
    }
    TRY(mp_get_int(&g, "vocab", true, 1, BIG, &v, NULL));
    m->vocab = v;
    TRY(mp_get_bool(&g, "tied_embeddings", false, &m->tied_embeddings, NULL));
    static const char *const norms[] = {"rmsnorm", "layernorm", "layernorm_nobias", NULL};
    int nk = 0;
    TRY(mp_get_enum(&g, "norm", false, norms, &nk, NULL));
    m->norm = nk ? MP_NORM_LAYER : MP_NORM_RMS;
    m->norm_no_bias = nk == 2;
    TRY(mp_get_bool(&g, "qkv_bias", false, &m->qkv_bias, NULL));
    TRY(mp_get_bool(&g, "out_bias", false, &m->out_bias, NULL));
    TRY(mp_get_bool(&g, "mlp_bias", false, &m->mlp_bias, NULL));
    /* qk_norm: true (one norm of head_dim on q and on k, Qwen3) or "full"
     * (over the whole q and k width, OLMoE). */
    const mp_node *qkn = mp_node_get(d->root, "qk_norm", NULL);
    if (qkn && qkn->kind == MP_NODE_SCALAR && strcmp(qkn->text, "full") == 0)
        m->qk_norm = m->qk_norm_full = true;
    else if (qkn && mp_get_bool(&g, "qk_norm", false, &m->qk_norm, NULL))
        return mp_doc_error(d, qkn, err, "'qk_norm' must be true, false or full");
    TRY(mp_get_bool(&g, "attention_sinks", false, &m->attn_sinks, NULL));
    TRY(mp_get_bool(&g, "lm_head_bias", false, &m->lm_head_bias, NULL));
    TRY(mp_get_bool(&g, "post_norms", false, &m->post_norms, NULL));
    if (m->num_experts > 0)
        TRY(mp_get_bool(&g, "router_bias", false, &m->router_bias, NULL));
    const mp_node *win;
    TRY(mp_get_map(&g, "window", false, &win));
    if (win)
        TRY(load_window(m, d, win, err));
    TRY(mp_get_bool(&g, "dropout", false, &m->dropout, NULL));
    static const char *const pos[] = {"rope", "learned", "none", NULL};
    int pk = 0;
    TRY(mp_get_enum(&g, "position_embedding", false, pos, &pk, NULL));
    if (pk == 1) {
        TRY(mp_get_int(&g, "max_positions", true, 1, BIG, &v, NULL));
        m->learned_positions = v;
    }
    m->no_positions = pk == 2;
    const mp_node *notes = mp_node_get(d->root, "notes", NULL);
    if (notes) {
        if (notes->kind != MP_NODE_SEQ)
            return mp_doc_error(d, notes, err, "'notes' must be a list of strings");
        for (size_t i = 0; i < notes->n; i++) {
            if (notes->vals[i]->kind != MP_NODE_SCALAR)
                return mp_doc_error(d, notes->vals[i], err, "each note must be a string");
            mp_model_add_note(m, notes->vals[i]->text);
        }
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
    /* The YAML reader takes JSON as flow syntax, and more than JSON (a
     * trailing comma, NaN): a .json file is also held to JSON itself,
     * jansson's parser, as Hugging Face's loader (Python's json) would. */
    size_t pl = strlen(path);
    if (hf && pl > 5 && !strcmp(path + pl - 5, ".json")) {
        json_error_t je;
        json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!j) {
            mp_doc_free(&d);
            return mp_error_set(err, MP_ERR_INPUT, path, je.line > 0 ? je.line : 0, je.column > 0 ? je.column : 0,
                                "not valid JSON: %s", je.text);
        }
        json_decref(j);
    }
    mp_status st = hf ? mp_model_load_hf(m, &d, err) : load_native(m, &d, err);
    mp_doc_free(&d);
    if (st)
        return st;
    if (!m->name[0]) {
        const char *b = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", b ? b + 1 : path);
    }
    return mp_model_validate(m, err);
}
