/* Reading published, measured training runs (include/moeplan/runs.h).
 *
 * The schema is validate/runs/README.md's (a copy of the development
 * set's).  Records are written by people from papers, so the reader is
 * strict about what it uses and says why it will not evaluate a record
 * rather than guessing: every default it
 * takes for a null field is Megatron-LM's own default for that setting and
 * is written into the run's assumptions. */
#include "moeplan/runs.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/doc.h"

#define TRY(x) do { mp_status st_ = (x); if (st_) return st_; } while (0)

/* ------------------------------------------------------------ node helpers */

static const mp_node *at(const mp_node *map, const char *key)
{
    if (!map || map->kind != MP_NODE_MAP)
        return NULL;
    const mp_node *v = mp_node_get(map, key, NULL);
    return v && !mp_node_is_null(v) ? v : NULL;
}

/* The document being read and the first malformed value found: a value
 * that is present but not of the key's type is an error with its position,
 * never read as "not given".  (Set by mp_runs_load; one file at a time.) */
static struct {
    const mp_doc *doc;
    mp_error *err;
    mp_status st;
} rd;

static void bad_value(const mp_node *v, const char *key, const char *expected)
{
    if (!rd.st && rd.doc)
        rd.st = mp_doc_error(rd.doc, v, rd.err, "'%s' is '%.60s'; expected %s", key,
                             v->kind == MP_NODE_SCALAR ? v->text : "a list or map", expected);
}

/* A plain (unquoted) decimal number, or absent / null (false). */
static bool num(const mp_node *map, const char *key, double *out)
{
    const mp_node *v = at(map, key);
    if (!v)
        return false;
    char *end = NULL;
    double d = v->kind == MP_NODE_SCALAR && !v->quoted && v->text[0] ? strtod(v->text, &end) : NAN;
    if (!end || *end || !isfinite(d)) {
        bad_value(v, key, "a number");
        return false;
    }
    *out = d;
    return true;
}

/* A number within [lo, hi], else an error at the value. */
static bool num_in(const mp_node *map, const char *key, double lo, double hi, double *out)
{
    double d;
    if (!num(map, key, &d))
        return false;
    if (d < lo || d > hi) {
        char exp[96];
        snprintf(exp, sizeof exp, "a number from %g to %g", lo, hi);
        bad_value(at(map, key), key, exp);
        return false;
    }
    *out = d;
    return true;
}

static bool whole(const mp_node *map, const char *key, long *out)
{
    double d;
    if (!num(map, key, &d))
        return false;
    if (d != floor(d) || d < 0 || d > 1e9) {
        bad_value(at(map, key), key, "a whole number from 0 to 10^9");
        return false;
    }
    *out = (long)d;
    return true;
}

/* A text field: its scalar, absent / null (NULL); a list or a map where
 * a text goes is refused at its position. */
static const char *text(const mp_node *map, const char *key)
{
    const mp_node *v = at(map, key);
    if (v && v->kind != MP_NODE_SCALAR)
        bad_value(v, key, "a text");
    return v && v->kind == MP_NODE_SCALAR ? v->text : NULL;
}

static bool flag(const mp_node *map, const char *key, bool *out)
{
    const char *t = text(map, key);
    if (!t)
        return false;
    if (!strcmp(t, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(t, "false")) {
        *out = false;
        return true;
    }
    bad_value(at(map, key), key, "true, false or null");
    return false;
}

/* Case-insensitive substring. */
static bool has(const char *hay, const char *needle)
{
    if (!hay)
        return false;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return true;
    return false;
}

static void assume(mp_run *r, const char *fmt, ...) MP_PRINTF(2, 3);
static void assume(mp_run *r, const char *fmt, ...)
{
    if (r->n_assumptions >= MP_RUN_MAX_ASSUMPTIONS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->assumptions[r->n_assumptions++], sizeof r->assumptions[0], fmt, ap);
    va_end(ap);
}

static void skip(mp_run *r, const char *fmt, ...) MP_PRINTF(2, 3);
static void skip(mp_run *r, const char *fmt, ...)
{
    if (r->skip[0])
        return; /* the first reason stands */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->skip, sizeof r->skip, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- hardware */

/* `word` in `hay` (case-insensitive) with no letter or digit either side. */
static bool has_word(const char *hay, const char *word)
{
    if (!hay)
        return false;
    size_t n = strlen(word);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, word, n) == 0 && (p == hay || !isalnum((unsigned char)p[-1])) &&
            !isalnum((unsigned char)p[n]))
            return true;
    return false;
}

/* The value of a command-line flag among a record's other arguments, as
 * Megatron-LM's argparse takes it: `--flag value` or `--flag=value`.  The
 * flag must stand whole (not the head of a longer flag); the value runs to
 * the next blank, or to the ';' or ',' that separates the record's other
 * items ("--position-embedding-type rope; dropless").  False when the flag
 * is absent or has no value. */
static bool flag_value(const char *args, const char *flag, char *out, size_t out_len)
{
    if (!args)
        return false;
    size_t n = strlen(flag);
    for (const char *p = args; (p = strstr(p, flag)) != NULL; p += n) {
        if (p != args && !isspace((unsigned char)p[-1]))
            continue;
        const char *v = p + n;
        if (*v == '=')
            v++;
        else if (isspace((unsigned char)*v))
            while (isspace((unsigned char)*v))
                v++;
        else
            continue; /* --flag-longer, or the flag at the very end */
        size_t len = strcspn(v, " \t\n\r\f\v;,");
        if (len == 0 || len >= out_len || !strncmp(v, "--", 2))
            return false;
        memcpy(out, v, len);
        out[len] = 0;
        return true;
    }
    return false;
}

/* The shipped hardware file for a GPU as records name it ("A100-SXM4-80GB
 * (Selene)", "H100 80GB (Eos ...)").  Only GPUs with a file are evaluated;
 * the order matters ("GB200" before "B200", "H800" apart from "H100"). */
static const char *hardware_file_for(const char *gpu, mp_run *r)
{
    /* Parts a shipped file's name would match but that are other GPUs:
     * PCIe and NVL cards (lower clocks and power, no NVSwitch), the 40 GB
     * A100, Grace Hopper.  Skipped, not priced on the SXM file. */
    static const struct { const char *word, *why; } other[] = {
        {"PCIe", "a PCIe card; the shipped files are SXM parts"},
        {"GH200", "Grace Hopper, not the H200 SXM of h200-sxm.yaml"},
        {"40GB", "a 40 GB part; a100-sxm-80gb.yaml is the 80 GB SXM"},
        {"40 GB", "a 40 GB part; a100-sxm-80gb.yaml is the 80 GB SXM"},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (has(gpu, other[i].word)) {
            skip(r, "GPU '%.80s' is %s", gpu, other[i].why);
            return NULL;
        }
    if (has_word(gpu, "NVL")) { /* the card, not NVLink or a rack's NVL72 */
        skip(r, "GPU '%.80s' is an NVL card (PCIe, NVLink bridge); the shipped files are SXM parts", gpu);
        return NULL;
    }
    static const struct { const char *match, *file; } table[] = {
        {"GB200", "gb200-nvl72.yaml"}, {"B200", "b200.yaml"}, {"H800", "h800-sxm.yaml"}, {"H200", "h200-sxm.yaml"},
        {"H100", "h100-sxm.yaml"}, {"A100", "a100-sxm-80gb.yaml"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (has(gpu, table[i].match))
            return table[i].file;
    return NULL;
}

/* ------------------------------------------------------------------- model */

static void read_model(mp_run *r, const mp_node *md, const char *other)
{
    mp_model *m = &r->model;
    memset(m, 0, sizeof *m);
    const char *name = text(md, "name");
    snprintf(m->name, sizeof m->name, "%s", name ? name : r->id);
    snprintf(m->source, sizeof m->source, "%s", r->id);
    long L = 0, h = 0, a = 0, kv = 0, hd = 0, f = 0, V = 0, E = 0, k = 0, fe = 0, fs = 0, freq = 1;
    if (!whole(md, "layers", &L) || !whole(md, "hidden", &h) || !whole(md, "heads", &a) || L < 1 ||
        L > MP_MAX_LAYERS || h < 1 || a < 1) {
        skip(r, "the record does not give layers, hidden and heads");
        return;
    }
    if (!whole(md, "vocab", &V) || V < 1) {
        if (!r->layer_bench) {
            skip(r, "the record does not give the vocabulary size");
            return;
        }
        /* One layer's time does not read the vocabulary (the embedding and
         * the output layer are not timed); the model still needs one. */
        V = 51200;
        assume(r, "vocab not given: 51200 (GPT-2's 50257 padded to a multiple of 1024), a placeholder: one "
                  "layer's time does not read it");
    }
    const char *attn = text(md, "attention"), *mlp = text(md, "mlp"), *type = text(md, "type");
    /* "none": a benchmark of the MoE layer alone, no attention block;
     * read only for a MoE layer benchmark, which prices it so. */
    bool no_attention = attn && !strncasecmp(attn, "none", 4) && !isalnum((unsigned char)attn[4]);
    if (no_attention) {
        if (!r->layer_bench || !(type && !strcmp(type, "moe"))) {
            skip(r, "attention 'none' is read only for a MoE layer benchmark (the MoE layer timed alone)");
            return;
        }
        r->moe_layer_only = true;
        attn = NULL;
    }
    if (has(attn, "MLA")) {
        skip(r, "MLA attention: the schema has no field for its ranks");
        return;
    }
    /* Softmax attention over every earlier token, with kv_heads groups:
     * what the record's words must say (or nothing: Megatron's default).
     * Another kind is refused, not priced as full attention. */
    if (attn && ((strncasecmp(attn, "MHA", 3) && strncasecmp(attn, "GQA", 3) && strncasecmp(attn, "MQA", 3)) ||
                 has(attn, "linear") || has(attn, "sliding") || has(attn, "window") || has(attn, "local") ||
                 has(attn, "sparse") || has(attn, "chunk"))) {
        skip(r, "attention '%.60s' not understood (MHA, GQA or MQA over every earlier token)", attn);
        return;
    }
    r->moe = type && !strcmp(type, "moe");
    if (type && strcmp(type, "moe") && strcmp(type, "dense")) {
        bad_value(at(md, "type"), "type", "dense or moe");
        return;
    }
    if (!r->moe && whole(md, "num_experts", &E) && E > 1) {
        skip(r, "type %s but num_experts %ld: the record contradicts itself", type ? type : "not given (dense)", E);
        return;
    }
    if (L > MP_MAX_LAYERS || h > 100000000L || a > 65536 || V > 100000000L) {
        skip(r, "layers, hidden, heads or vocab beyond what moeplan models");
        return;
    }
    if (!whole(md, "kv_heads", &kv)) {
        kv = a;
        if (!r->moe_layer_only) /* no attention to group */
            assume(r, "kv_heads not given: %ld (multi-head attention, Megatron's default num_query_groups)", a);
    }
    if (!whole(md, "head_dim", &hd)) {
        if (h % a) {
            skip(r, "no head_dim, and heads (%ld) do not divide hidden (%ld)", a, h);
            return;
        }
        hd = h / a;
    }
    bool gated = has(mlp, "swiglu");
    if (!gated && !has(mlp, "gelu") && mlp) {
        skip(r, "MLP '%s' not understood", mlp);
        return;
    }
    if (!mlp) {
        if (r->moe) {
            skip(r, "an MoE record without its MLP type");
            return;
        }
        assume(r, "mlp not given: GeLU, Megatron's default (no --swiglu)");
    }
    bool has_f = whole(md, "ffn_hidden", &f);
    if (!has_f && !r->moe) {
        if (gated) {
            skip(r, "a SwiGLU MLP without its width");
            return;
        }
        f = 4 * h;
        assume(r, "ffn_hidden not given: 4h = %ld, Megatron's default", f);
    }
    m->num_layers = (int)L;
    m->hidden = h;
    m->num_heads = a;
    m->num_kv_heads = kv;
    m->head_dim = hd;
    m->attn = MP_ATTN_GQA;
    m->gated_mlp = gated;
    m->ffn_hidden = has_f || !r->moe ? f : 0;
    m->vocab = V;
    /* GPT as Megatron-LM trains it (GeLU): LayerNorm, biases on every linear
     * layer, tied embeddings, dropout 0.1; Llama-style (SwiGLU): RMSNorm,
     * --disable-bias-linear, untied, no dropout. */
    m->norm = gated ? MP_NORM_RMS : MP_NORM_LAYER;
    m->qkv_bias = m->out_bias = m->mlp_bias = !gated;
    /* The run's own switch: --disable-bias-linear, or add_bias_linear=False
     * as a TransformerConfig built in Python spells it. */
    bool no_bias = has(other, "--disable-bias-linear") || has(other, "add_bias_linear=False");
    if (no_bias)
        m->qkv_bias = m->out_bias = m->mlp_bias = false;
    if (has(attn, "qkv bias"))
        m->qkv_bias = true;
    m->tied_embeddings = !gated;
    m->dropout = !gated;
    /* Positions: a GPT block as Megatron-LM trains it has a learned
     * absolute table (--position-embedding-type's default
     * 'learned_absolute', megatron/training/arguments.py; Narayanan et al.
     * 2021 eq. 2 counts its s h parameters) of --max-position-embeddings
     * rows: the run's own flag where the record gives it, else the
     * sequence length.  A Llama-style block, or a record whose words say
     * RoPE, rotates Q and K instead. */
    char pe_type[32], mpe_text[32];
    bool rope = gated || has(attn, "rope") ||
                (flag_value(other, "--position-embedding-type", pe_type, sizeof pe_type) &&
                 !strcasecmp(pe_type, "rope"));
    bool mpe_flag = false;
    if (!rope) {
        long seq = 0, mpe = 0;
        if (flag_value(other, "--max-position-embeddings", mpe_text, sizeof mpe_text)) {
            char *end = NULL;
            long v = strtol(mpe_text, &end, 10);
            if (end && !*end && v >= 1) {
                mpe = v;
                mpe_flag = true;
            }
        }
        if (mpe < 1 && whole(md, "seq_len", &seq))
            mpe = seq;
        if (mpe >= 1 && mpe <= 1000000000L)
            m->learned_positions = mpe;
        else
            mpe_flag = false;
    }
    if (r->moe) {
        if (!whole(md, "num_experts", &E) || !whole(md, "top_k", &k) || E < 1 || k < 1) {
            skip(r, "an MoE record without num_experts and top_k");
            return;
        }
        if (k > E) {
            skip(r, "top_k %ld is more than num_experts %ld: the record contradicts itself", k, E);
            return;
        }
        if (!whole(md, "moe_ffn_hidden", &fe)) {
            if (!has_f) {
                skip(r, "an MoE record without the expert width");
                return;
            }
            fe = f;
        }
        m->num_experts = E;
        m->top_k = k;
        m->expert_hidden = fe;
        if (whole(md, "shared_expert_ffn", &fs) && fs > 0) {
            m->num_shared_experts = 1;
            m->shared_expert_hidden = fs;
        }
        /* moe_layer_freq: a number, or a pattern in words the reader does
         * not parse ("first 3 layers dense, 58 MoE"): refused as a skip. */
        const mp_node *fq = at(md, "moe_layer_freq");
        if (fq) {
            char *e = NULL;
            double d = fq->kind == MP_NODE_SCALAR ? strtod(fq->text, &e) : NAN;
            if (!e || *e || d != floor(d) || d < 1 || d > m->num_layers) {
                skip(r, "moe_layer_freq '%.40s' is not a number moeplan reads", fq->kind == MP_NODE_SCALAR ? fq->text : "");
                return;
            }
            freq = (long)d;
        }
        /* Megatron's --moe-layer-freq N: layer i is MoE when i % N == 0. */
        for (int i = 0; i < m->num_layers; i++)
            m->is_moe[i] = i % freq == 0;
        bool any_dense = freq > 1;
        if (any_dense && !has_f) {
            skip(r, "dense layers without their MLP width");
            return;
        }
    }
    mp_error e;
    memset(&e, 0, sizeof e);
    if (mp_model_validate(m, &e)) {
        skip(r, "model: %s", e.msg);
        return;
    }
    /* A stated parameter count decides tied against untied embeddings where
     * it tells them apart: the vocabulary's V h parameters counted once or
     * twice.  (Megatron-LM's README weak-scaling models, "1.7B" to "462B",
     * are untied: 1.75 B untied against 1.48 B tied for the first.) */
    double pb = 0;
    mp_params pt = {0}, pu = {0}; /* the model's counts tied and untied */
    /* A count of billions: above 0, below 10^6 B (a thousand times any
     * model trained). */
    if (num_in(md, "params_b", 1e-9, 1e6, &pb)) {
        m->tied_embeddings = true;
        mp_model_params(m, &pt);
        m->tied_embeddings = false;
        mp_model_params(m, &pu);
        /* Decided only where the figure as written tells them apart:
         * exactly one of the two counts rounds to it at its last digit
         * ("16" is 16.11 B untied, not 15.30 B tied; "57" is both 56.9 B
         * and 57.4 B, "32" neither 31.5 B nor 30.5 B: the default stays).
         * A figure in exponent form is not read for its digits. */
        const char *pt_text = text(md, "params_b"), *dot = pt_text ? strchr(pt_text, '.') : NULL;
        double unit = 1e9;
        if (dot)
            for (const char *q = dot + 1; isdigit((unsigned char)*q); q++)
                unit /= 10;
        double want = pb * 1e9;
        bool exp_form = pt_text && strpbrk(pt_text, "eE");
        bool t_ok = fabs(pt.total - want) <= 0.5 * unit, u_ok = fabs(pu.total - want) <= 0.5 * unit;
        if (!exp_form && t_ok != u_ok)
            m->tied_embeddings = t_ok;
        else
            m->tied_embeddings = !gated;
    }
    /* The run's own flag decides where the record gives it (its other
     * arguments, as Megatron-LM spells them). */
    bool untie_flag = has(other, "--untie-embeddings-and-output-weights");
    if (untie_flag)
        m->tied_embeddings = false;
    bool tied = m->tied_embeddings;
    /* The MoE layer alone has no norm, attention, residual (its dropout)
     * or embedding: only what its experts are is said. */
    if (r->moe_layer_only)
        assume(r, "the MoE layer alone (attention 'none'): router, dispatch, experts, combine; no norm, "
                  "attention or residual; %s experts, %s", gated ? "SwiGLU" : "GeLU",
               no_bias ? "no biases (add_bias_linear off)" : "biases");
    else if (gated)
        assume(r, "Llama-style block: RMSNorm, no biases, %s embeddings, no dropout", tied ? "tied" : "untied");
    else
        assume(r, "GPT block as Megatron trains it: LayerNorm, %s, %s embeddings, dropout 0.1",
               no_bias ? "no biases (add_bias_linear off)" : "biases", tied ? "tied" : "untied");
    if (m->learned_positions > 0 && !r->moe_layer_only)
        assume(r, "learned absolute positions (Megatron-LM's default --position-embedding-type), %lld rows%s",
               (long long)m->learned_positions, mpe_flag ? " (--max-position-embeddings)" : ": the sequence length");
    if (untie_flag && !gated)
        assume(r, "untied embeddings: --untie-embeddings-and-output-weights");
    else if (tied == gated) /* the count overrode the block's default */
        assume(r, "%s embeddings: params_b %.4g B is %.4g B with them, %.4g B %s", tied ? "tied" : "untied", pb,
               (tied ? pt : pu).total / 1e9, (tied ? pu : pt).total / 1e9, tied ? "untied" : "tied");
}

/* Every numeric and boolean field of the schema is type-checked up front,
 * whether or not this record gets far enough to use it. */
static void check_types(const mp_node *rec)
{
    static const struct { const char *sec, *keys[16]; } nums[] = {
        {"model", {"layers", "hidden", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab", "seq_len",
                   "num_experts", "top_k", "moe_ffn_hidden", "shared_expert_ffn", "params_b", "active_params_b"}},
        {"hardware", {"count", "nodes", "gpus_per_node", "peak_tflops_used"}},
        {"parallel", {"tp", "pp", "dp", "ep", "etp", "cp", "vp", "micro_batch", "global_batch", "grad_accum",
                      "zero_stage"}},
        {"measured", {"tflops_per_gpu", "mfu", "hfu", "tokens_per_s_per_gpu", "tokens_per_s", "iteration_time_s",
                      "memory_gb", "aggregate_pflops"}},
    };
    double d;
    long w;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        const mp_node *m = at(rec, nums[i].sec);
        for (int k = 0; m && k < 16 && nums[i].keys[k]; k++) {
            const char *key = nums[i].keys[k];
            /* Sizes and counts are whole numbers; rates and times reals. */
            bool integer = !strcmp(nums[i].sec, "parallel") ||
                           (!strcmp(nums[i].sec, "model") && strcmp(key, "params_b") && strcmp(key, "active_params_b")) ||
                           (!strcmp(nums[i].sec, "hardware") && strcmp(key, "peak_tflops_used"));
            if (integer)
                whole(m, key, &w);
            else
                num(m, key, &d);
        }
    }
    bool b;
    const mp_node *par = at(rec, "parallel");
    flag(par, "sequence_parallel", &b);
    flag(par, "distributed_optimizer", &b);
    /* The text fields the reader takes: a scalar each (text() refuses a
     * list or a map). */
    static const struct { const char *sec, *keys[5]; } texts[] = {
        {NULL, {"id", "kind", "precision"}},
        {"model", {"name", "type", "attention", "mlp"}},
        {"hardware", {"gpu"}},
        {"parallel", {"other", "recompute", "fsdp"}},
        {"measured", {"tflops_basis", "memory_basis"}},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const mp_node *m = texts[i].sec ? at(rec, texts[i].sec) : rec;
        for (int k = 0; m && k < 5 && texts[i].keys[k]; k++)
            text(m, texts[i].keys[k]);
    }
}

/* ------------------------------------------------------------ one record */

static void read_record(mp_run *r, const mp_node *rec, const char *hw_dir, mp_status *hard, mp_error *err)
{
    check_types(rec);
    if (rd.st)
        return;
    const char *id = text(rec, "id"), *kind = text(rec, "kind");
    snprintf(r->id, sizeof r->id, "%s", id ? id : "(no id)");
    snprintf(r->kind, sizeof r->kind, "%s", kind ? kind : "");
    r->line = rec->line;
    const mp_node *md = at(rec, "model"), *hw = at(rec, "hardware"), *par = at(rec, "parallel"),
                  *ms = at(rec, "measured");
    const char *gpu = text(hw, "gpu");
    snprintf(r->gpu, sizeof r->gpu, "%s", gpu ? gpu : "");
    const char *type = text(md, "type");
    r->moe = type && !strcmp(type, "moe");
    r->layer_bench = kind && !strcmp(kind, "training_layer_microbench");
    if (!kind || (strcmp(kind, "training_throughput") && strcmp(kind, "training_memory_and_time") &&
                  !r->layer_bench)) {
        skip(r, "a %s record: no step time to compare", kind ? kind : "kind-less");
        return;
    }
    read_model(r, md, text(par, "other"));
    if (r->skip[0])
        return;

    /* Hardware. */
    const char *file = hardware_file_for(gpu, r);
    if (!file) {
        skip(r, "no shipped hardware file for GPU '%s'", gpu ? gpu : "(none)"); /* unless said above */
        return;
    }
    snprintf(r->hardware_file, sizeof r->hardware_file, "%s/%s", hw_dir, file);
    mp_status st = mp_hardware_load(&r->hw, r->hardware_file, err);
    if (st) {
        *hard = st; /* a shipped file that does not load is our bug, not the record's */
        return;
    }
    long count = 0, gpn = 0;
    if (!whole(hw, "count", &count) || count < 1) {
        skip(r, "the record does not give the GPU count");
        return;
    }
    if (count > 16777216) {
        bad_value(at(hw, "count"), "count", "a whole number of GPUs from 1 to 16777216");
        return;
    }
    if (whole(hw, "gpus_per_node", &gpn) && gpn >= 1 && gpn <= 1024)
        r->hw.gpus_per_node = (int)gpn;
    double peak_tf = 0;
    r->measured_peak_flops = num(hw, "peak_tflops_used", &peak_tf) && peak_tf > 0 ? peak_tf * 1e12 : r->hw.peak_flops;

    /* Precision. */
    const char *prec = text(rec, "precision");
    /* FP8: the recipe from the record's words (TE's delayed scaling is
     * Megatron's default recipe). */
    mp_fp8_recipe fp8 = MP_FP8_NONE;
    if (has(prec, "fp8")) {
        fp8 = has(prec, "mxfp8") ? MP_FP8_MXFP8
              : has(prec, "blockwise") || has(prec, "1x128") ? MP_FP8_BLOCKWISE
              : has(prec, "current") || has(prec, "tensorwise") ? MP_FP8_CURRENT
              : MP_FP8_DELAYED;
        if (!has(prec, "delayed") && fp8 == MP_FP8_DELAYED)
            assume(r, "FP8 recipe not given: delayed scaling (Megatron's default --fp8-recipe)");
    }
    if (fp8 != MP_FP8_NONE && r->hw.peak_flops_fp8 <= 0) {
        skip(r, "FP8 run, and %s gives no FP8 rate (peak_flops_fp8)", file);
        return;
    }
    if (fp8 == MP_FP8_MXFP8 && !r->hw.mxfp8) {
        skip(r, "MXFP8 run on a GPU without MX block scaling (%s)", file);
        return;
    }

    /* Workload. */
    mp_workload *w = &r->wl;
    mp_workload_defaults(w);
    long seq = 0, gb = 0;
    bool has_gb = whole(par, "global_batch", &gb) && gb >= 1;
    if (!whole(md, "seq_len", &seq) || seq < 1 || (!has_gb && !r->layer_bench)) {
        skip(r, "the record does not give the sequence length and global batch");
        return;
    }
    if (!has_gb)
        gb = 1; /* a layer benchmark: one micro-batch per data-parallel rank, set with the layout */
    r->seq_len = seq;
    w->global_batch = gb;
    w->seq_min = w->seq_max = seq;
    /* 16-bit or FP8 training is what moeplan prices; a 32-bit run (fp32,
     * tf32) is not, and a precision it cannot read is said, not guessed. */
    if (has(prec, "fp32") || has(prec, "tf32") || has(prec, "32-bit")) {
        skip(r, "precision '%.60s': moeplan prices 16-bit and FP8 training only", prec);
        return;
    }
    snprintf(w->precision, sizeof w->precision, "%s", has(prec, "fp16") ? "fp16" : "bf16");
    if (!prec)
        assume(r, "precision not given: bf16");
    else if (!has(prec, "fp16") && !has(prec, "bf16") && !has(prec, "16-bit") && !has(prec, "mixed precision") &&
             fp8 == MP_FP8_NONE)
        assume(r, "precision '%.60s' read as bf16", prec);
    const char *attn = text(md, "attention");
    w->flash_attention = !has(attn, "unfused");
    if (w->flash_attention && !r->moe_layer_only)
        assume(r, "flash attention (the record does not say the softmax was unfused)");
    w->capacity_factor = 0;
    w->routing_imbalance = 1.0;
    const char *other = text(par, "other");
    w->overlap_grad_reduce = has(other, "overlap-grad-reduce");
    w->tp_comm_overlap = has(other, "tp-comm-overlap");
    w->pp_scatter_gather = has(other, "scatter/gather");
    w->pp_blocking_sends = has(other, "blocking pipeline sends");
    /* Megatron-LM's --no-gradient-accumulation-fusion, and the records of
     * Megatron-LM before the fusion existed (83b1e42, 2022-02-13), whose
     * fill says "unfused gradient accumulation". */
    w->grad_accum_unfused = has(other, "no-gradient-accumulation-fusion") || has(other, "unfused gradient accumulation");
    /* Megatron-LM of 2021 with --fp16 and without
     * --accumulate-allreduce-grads-in-fp32 kept no fp32 main gradient:
     * autograd summed the micro-batches' gradients in the 16-bit param.grad
     * (no contiguous buffer, no hook: model/distributed.py at de7dc40) and
     * the data-parallel all-reduce moved 16 bits (the fill says "16-bit
     * gradients, unfused gradient accumulation").  Its unfused sum reads the new and the old gradient and
     * writes the old, the hook's W + 2 G bytes with G = W. */
    if (has(other, "16-bit gradients, unfused gradient accumulation")) {
        w->grad_bytes = 2;
        w->grad_accum_autograd = true;
    }
    /* The token dispatcher moeplan prices is Megatron-Core's alltoall one
     * (permute, all-to-all, sort: cost_ops.c block_moe); the flex
     * dispatcher's fused DeepEP and HybridEP kernels move tokens another
     * way and are refused, not priced as an all-to-all. */
    if (has(other, "deepep") || has(other, "hybridep") || has(other, "dispatcher=flex") ||
        has(other, "dispatcher flex")) {
        skip(r, "the flex token dispatcher (DeepEP or HybridEP): moeplan prices the alltoall dispatcher only");
        return;
    }
    /* An fp32 router (Megatron-Core's --moe-router-dtype fp32) makes the
     * routing probabilities fp32, and with them the GELU experts' product
     * and its cast (experts.py bias_act_func): moeplan prices them in the
     * activation dtype (cost_ops.c block_moe), and says so. */
    if (has(other, "moe_router_dtype=fp32") || has(other, "--moe-router-dtype fp32"))
        assume(r, "router dtype fp32 (the record's moe_router_dtype): not priced; the routing probabilities are "
                  "priced in the activation dtype");
    /* DeepSpeed's ZeRO-3 of 2021 (Narayanan et al. SC21 Table 2 used the
     * DeepSpeed library of early 2021: 0.3.x). */
    w->zero3_blocking_fetch = has(other, "ZeRO-3 via DeepSpeed");
    if (w->zero3_blocking_fetch)
        assume(r, "'ZeRO-3 via DeepSpeed' of its time: zero3_blocking_fetch (one collective per tensor, none "
                  "overlapped)");
    w->fp8 = fp8;

    /* Layout. */
    mp_layout *l = &r->lay;
    mp_layout_defaults(l);
    long tp = 0, pp = 0, dp = 0, cp = 1, ep = 1, etp = 0, vp = 1, mb = 0, zero = 0;
    whole(par, "zero_stage", &zero);
    /* fsdp is true/false or a phrase ("yes (ZeRO-3 style)"). */
    const char *fs = text(par, "fsdp");
    bool fsdp = fs && strcmp(fs, "false") && strncasecmp(fs, "no", 2);
    if (zero < 0 || zero > 3) {
        skip(r, "zero_stage %ld is not a ZeRO stage (0-3)", zero);
        return;
    }
    if (fsdp && zero == 0) {
        zero = 3;
        assume(r, "fsdp '%.40s' read as ZeRO-3 (parameters, gradients and optimizer states sharded)", fs);
    }
    whole(par, "cp", &cp);
    whole(par, "ep", &ep);
    bool has_vp = whole(par, "vp", &vp);
    bool has_tp = whole(par, "tp", &tp) && tp >= 1, has_pp = whole(par, "pp", &pp) && pp >= 1;
    bool has_dp = whole(par, "dp", &dp) && dp >= 1;
    if (r->layer_bench && !has_pp && r->model.num_layers == 1) {
        pp = 1; /* one layer is not pipelined */
        has_pp = true;
    }
    if (cp < 1 || ep < 1 || vp < 1) {
        skip(r, "a parallel size below 1");
        return;
    }
    /* One of tp and pp missing, the other and dp given: the GPUs fix it
     * (the schema's dp is GPUs / (tp cp pp) where the source omits it). */
    if (has_tp != has_pp && has_dp) {
        long known = has_tp ? tp : pp, rest = known * cp * dp;
        if (rest > 0 && count % rest == 0) {
            if (has_tp)
                pp = count / rest;
            else
                tp = count / rest;
            assume(r, "%s not given: %ld = GPUs / (%s x cp x dp)", has_tp ? "pp" : "tp", count / rest,
                   has_tp ? "tp" : "pp");
            has_tp = has_pp = true;
        }
    }
    if (!has_tp || !has_pp) {
        skip(r, "the record does not give tp and pp");
        return;
    }
    if (count % (tp * pp * cp)) {
        skip(r, "tp x pp x cp does not divide the GPU count");
        return;
    }
    if (!has_dp)
        dp = count / (tp * pp * cp);
    if (!whole(par, "etp", &etp) || etp < 1) {
        etp = r->moe ? tp : 1;
        if (r->moe && tp > 1)
            assume(r, "etp not given: %ld, Megatron's default (--expert-tensor-parallel-size = tp)", etp);
    }
    /* Without interleaving given, the 1F1B schedule (Megatron-LM's
     * default: no --num-layers-per-virtual-pipeline-stage): said, since
     * the bubble is (p - 1) micro-batch times where v chunks make it
     * (p - 1) / v. */
    if (!has_vp && pp > 1)
        assume(r, "vp not given: 1 (no interleaving, Megatron-LM's default)");
    if (!whole(par, "micro_batch", &mb) || mb < 1) {
        if (r->layer_bench) {
            /* A layer's time scales with its micro-batch: not guessed. */
            skip(r, "a layer benchmark without its micro-batch");
            return;
        }
        mb = 1;
        assume(r, "micro_batch not given: 1");
    }
    if (r->layer_bench && !has_gb) {
        /* One micro-batch through the layer on each data-parallel rank. */
        gb = mb * dp;
        w->global_batch = gb;
    }
    l->gpus = (int)count;
    l->tp = (int)tp;
    l->pp = (int)pp;
    l->dp = (int)dp;
    l->cp = (int)cp;
    l->ep = (int)ep;
    l->etp = (int)etp;
    l->vpp = (int)vp;
    l->micro_batch = (int)mb;
    /* PyTorch's DDP (Megatron-LM --DDP-impl torch) all-reduces bucket by
     * bucket during the last micro-batch's backward, the others under
     * no_sync -- without pipelining only (schedules.py at de7dc40:
     * forward_backward_no_pipelining takes model.no_sync, the pipelined
     * schedules do not, so they all-reduce after every micro-batch, which
     * moeplan does not price: refused). */
    if (has(other, "DDP impl=torch")) {
        if (pp > 1) {
            skip(r, "PyTorch DDP under pipeline parallelism (an all-reduce after every micro-batch): not priced");
            return;
        }
        w->overlap_grad_reduce = true;
    }
    bool b;
    if (flag(par, "sequence_parallel", &b)) {
        l->sequence_parallel = b;
    } else {
        l->sequence_parallel = tp > 1;
        if (tp > 1)
            assume(r, "sequence_parallel not given: on (Megatron-Core runs with tp > 1 use it; MoE requires it)");
    }
    /* "full", "full (--checkpoint-activations / uniform)", "selective",
     * "none", or Megatron-Core's recompute modules in words ("selective: mlp
     * + moe_act", "RMSNorm and MLA up-projection recomputed"). */
    const char *rc = text(par, "recompute");
    unsigned mods = 0;
    if (rc) {
        if (has(rc, "moe_act"))
            mods |= MP_RC_MOE_ACT;
        if (has(rc, "mla up") || has(rc, "mla_up"))
            mods |= MP_RC_MLA_UP_PROJ;
        if (has(rc, "rmsnorm") || has(rc, "layernorm"))
            mods |= MP_RC_LAYERNORM;
        if (has(rc, "shared_expert"))
            mods |= MP_RC_SHARED_EXPERTS;
        if (has(rc, "core_attn"))
            mods |= MP_RC_CORE_ATTN;
        if (has(rc, ": mlp") || has(rc, " mlp ") || has(rc, "+ mlp"))
            mods |= MP_RC_MLP;
    }
    if (rc && !strncmp(rc, "full", 4)) {
        l->recompute = MP_RECOMPUTE_FULL;
    } else if (rc && (!strcmp(rc, "selective") || !strncmp(rc, "selective (attention core", 25))) {
        l->recompute = MP_RECOMPUTE_SELECTIVE;
    } else if (mods) {
        l->recompute = MP_RECOMPUTE_SELECTIVE;
        l->recompute_modules = mods;
        char d[160];
        mp_recompute_describe(l, d, sizeof d);
        assume(r, "recompute '%.60s' read as %s", rc, d);
    } else if (rc && strcmp(rc, "none")) {
        skip(r, "recompute '%s' is not one moeplan prices (none, selective, full)", rc);
        return;
    } else {
        l->recompute = MP_RECOMPUTE_NONE;
    }
    bool do_given = true;
    if (zero >= 2) {
        l->zero = (int)zero;
    } else if (flag(par, "distributed_optimizer", &b)) {
        l->zero = b ? 1 : 0;
    } else if (has(other, "overlap-param-gather")) {
        /* Megatron-LM accepts --overlap-param-gather only with
         * --use-distributed-optimizer (arguments.py's check). */
        l->zero = 1;
        assume(r, "distributed_optimizer not given: on (--overlap-param-gather needs it)");
    } else {
        l->zero = zero == 1 ? 1 : 0;
        do_given = zero == 1;
    }
    char why[256];
    mp_rule rule = mp_layout_check(l, &r->model, w, why, sizeof why);
    if (rule != MP_RULE_OK) {
        skip(r, "layout: %s", why);
        return;
    }
    if (!rc || !do_given) {
        /* Not stated: Megatron's defaults are no recomputation and no
         * distributed optimizer, but a run that was made did fit in memory.
         * So take the cheapest settings with which the layout fits, in
         * order of the time they cost: the stated ones (or the defaults);
         * then the distributed optimizer, which costs no time; then
         * selective, then full recomputation -- and say which. */
        struct { bool dopt; mp_recompute rc; } order[4];
        int n = 0;
        mp_recompute given_rc = l->recompute;
        bool given_do = l->zero >= 1;
        int given_zero = given_do ? l->zero : 1;
        order[n].dopt = given_do, order[n++].rc = rc ? given_rc : MP_RECOMPUTE_NONE;
        if (!do_given && !given_do)
            order[n].dopt = true, order[n++].rc = rc ? given_rc : MP_RECOMPUTE_NONE;
        if (!rc) {
            order[n].dopt = do_given ? given_do : true, order[n++].rc = MP_RECOMPUTE_SELECTIVE;
            order[n].dopt = do_given ? given_do : true, order[n++].rc = MP_RECOMPUTE_FULL;
        }
        int pick = n - 1;
        for (int i = 0; i < n; i++) {
            l->zero = order[i].dopt ? given_zero : 0;
            l->recompute = order[i].rc;
            mp_cost_ctx c;
            mp_cost k;
            mp_cost_ctx_init(&c, &r->model, &r->hw, w, l, seq);
            mp_cost_evaluate(&c, &k);
            if (k.fits) {
                pick = i;
                break;
            }
        }
        l->zero = order[pick].dopt ? given_zero : 0;
        l->recompute = order[pick].rc;
        static const char *const names[] = {"none", "selective", "full"};
        if (!do_given)
            assume(r, "distributed_optimizer not given: %s%s", l->zero >= 1 ? "on" : "off",
                   l->zero >= 1 ? ", needed to fit" : " (Megatron's default)");
        if (!rc)
            assume(r, "recompute not given: %s, the least with which the layout fits in %.0f GB",
                   names[l->recompute], r->hw.memory_bytes / 1e9);
    }

    /* What was measured, in order of directness.  The measures that give a
     * step time without the cost model (a time, a token rate, Narayanan's
     * eq. (3) TFLOP/s) are all read, the first is the basis, and a record
     * whose measures disagree by more than 5% contradicts itself: it is
     * skipped, not priced on whichever came first.  (The dev set's records
     * with two such measures agree to 0.3%: mtnlg530b_*, 60.1 s against
     * 126 TFLOP/s by eq. (3), 59.97 s.) */
    double v = 0;
    if (r->layer_bench) {
        /* measured.other: forward_ms and backward_ms of one layer and one
         * micro-batch (Korthikanti et al. 2022 Table 4's columns). */
        const mp_node *mo = at(ms, "other");
        double fwd = 0, bwd = 0;
        if (!mo || mo->kind != MP_NODE_MAP || !num_in(mo, "forward_ms", 1e-6, 1e9, &fwd) ||
            !num_in(mo, "backward_ms", 1e-6, 1e9, &bwd)) {
            skip(r, "a layer benchmark without measured.other's forward_ms and backward_ms");
            return;
        }
        r->basis = MP_MEASURED_LAYER;
        r->measured_fwd_s = fwd / 1e3;
        r->measured_bwd_s = bwd / 1e3;
        r->measured_step_s = r->measured_fwd_s + r->measured_bwd_s;
        r->measured_value = r->measured_step_s;
        if (r->model.num_layers != 1 || l->pp != 1) {
            skip(r, "a layer benchmark of %d layer%s over pp %d: one layer on one pipeline stage is what is timed",
                 r->model.num_layers, mp_plural(r->model.num_layers), l->pp);
            return;
        }
        /* As below: a time implying more than the peak could not happen. */
        mp_cost_ctx c;
        mp_cost_ctx_init(&c, &r->model, &r->hw, w, l, seq);
        mp_layer_time lt;
        mp_run_layer_time(r, &c, &lt);
        double peak = w->fp8 != MP_FP8_NONE ? r->hw.peak_flops_fp8 : r->hw.peak_flops;
        if (lt.hw_flops / r->measured_step_s > peak)
            skip(r, "the measured layer time implies %.4g TFLOP/s per GPU, above the GPU's peak %.4g (%s)",
                 lt.hw_flops / r->measured_step_s / 1e12, peak / 1e12, file);
        return;
    }
    double tokens = (double)gb * seq;
    struct { const char *key; double value, step_s; } direct[4];
    int n_direct = 0;
    if (num_in(ms, "iteration_time_s", 1e-6, 1e7, &v))
        direct[n_direct].key = "iteration_time_s", direct[n_direct].value = v, direct[n_direct++].step_s = v;
    if (num(ms, "tokens_per_s", &v) && v > 0)
        direct[n_direct].key = "tokens_per_s", direct[n_direct].value = v, direct[n_direct++].step_s = tokens / v;
    if (num(ms, "tokens_per_s_per_gpu", &v) && v > 0)
        direct[n_direct].key = "tokens_per_s_per_gpu", direct[n_direct].value = v,
        direct[n_direct++].step_s = tokens / (v * count);
    if (num(ms, "tflops_per_gpu", &v) && v > 0 && has(text(ms, "tflops_basis"), "Eq.(3)")) {
        /* Narayanan et al. SC21, eq. (3): the FLOPs per step they divide by,
         * with full recompute counted, F = 96 B s l h^2 (1 + s/6h + V/16lh).
         * The source's own formula, so the step time it implies is exact. */
        double B = (double)gb, s = (double)seq, ll = (double)r->model.num_layers, h = (double)r->model.hidden;
        double Vv = (double)r->model.vocab;
        double F = 96.0 * B * s * ll * h * h * (1.0 + s / (6.0 * h) + Vv / (16.0 * ll * h));
        direct[n_direct].key = "tflops_per_gpu", direct[n_direct].value = v,
        direct[n_direct++].step_s = F / (v * 1e12 * count);
    }
    for (int i = 1; i < n_direct; i++) {
        double gap = direct[i].step_s / direct[0].step_s - 1;
        if (fabs(gap) > 0.05) {
            skip(r, "%s %.6g (a %.4g s step) and %s %.6g (a %.4g s step) disagree by %.0f%%: the record "
                    "contradicts itself",
                 direct[0].key, direct[0].value, direct[0].step_s, direct[i].key, direct[i].value, direct[i].step_s,
                 100 * fabs(gap));
            return;
        }
    }
    if (n_direct > 0) {
        v = direct[0].value;
        r->basis = !strcmp(direct[0].key, "iteration_time_s") ? MP_MEASURED_TIME
                   : !strcmp(direct[0].key, "tflops_per_gpu") ? MP_MEASURED_TFLOPS_EQ
                                                              : MP_MEASURED_TOKENS;
        r->measured_step_s = direct[0].step_s;
    } else if (num_in(ms, "mfu", 1e-6, 1.0, &v)) {
        r->basis = MP_MEASURED_MFU;
    } else if (num(ms, "tflops_per_gpu", &v) && v > 0 && has(text(ms, "tflops_basis"), "model")) {
        r->basis = MP_MEASURED_TFLOPS;
    } else {
        skip(r, "no step time, throughput or model-FLOPs utilisation measured");
        return;
    }
    r->measured_value = v;
    if (r->basis == MP_MEASURED_MFU || r->basis == MP_MEASURED_TFLOPS) {
        r->flops_all_keys = has(text(ms, "tflops_basis"), "all S keys");
        assume(r, "%s read with model FLOPs %s", r->basis == MP_MEASURED_MFU ? "MFU" : "TFLOP/s",
               r->flops_all_keys ? "counting attention over all S keys, as the source's formula did"
                                 : "counting causal attention over S/2 keys");
    }
    double mem = 0;
    if (num_in(ms, "memory_gb", 0, 1e5, &mem) && mem > 0) {
        if (mem * 1e9 > r->hw.memory_bytes) {
            skip(r, "memory_gb %.4g is more than the GPU's %.4g GB (%s): the record contradicts its GPU", mem,
                 r->hw.memory_bytes / 1e9, file);
            return;
        }
        r->measured_memory_bytes = mem * 1e9;
        r->memory_last_rank = has(text(ms, "memory_basis"), "last rank");
    }
    /* A measure implying more model FLOPs a second than the GPUs' peak (the
     * hardware file's; its FP8 peak for an FP8 run) is not a run that could
     * have happened: MFU above 1.  The record, or moeplan's reading of its
     * model, is wrong, and the comparison would mean nothing. */
    mp_cost_ctx c;
    mp_cost k;
    mp_cost_ctx_init(&c, &r->model, &r->hw, w, l, seq);
    mp_cost_evaluate(&c, &k);
    double peak = w->fp8 != MP_FP8_NONE ? r->hw.peak_flops_fp8 : r->hw.peak_flops;
    double rate = r->basis == MP_MEASURED_MFU      ? v * r->measured_peak_flops
                  : r->basis == MP_MEASURED_TFLOPS ? v * 1e12
                                                   : k.model_flops_per_step / (r->measured_step_s * (double)count);
    if (rate > peak)
        skip(r, "the measured %s implies %.4g TFLOP/s of model FLOPs per GPU, above the GPU's peak %.4g (%s): "
                "the record, or its model as read, is wrong",
             r->basis == MP_MEASURED_MFU ? "MFU" : r->basis == MP_MEASURED_TFLOPS ? "TFLOP/s" : "step", rate / 1e12,
             peak / 1e12, file);
}

/* -------------------------------------------------------------- the file */

mp_status mp_runs_load(const char *path, const char *hw_dir, mp_run **runs, size_t *n, mp_error *err)
{
    *runs = NULL;
    *n = 0;
    mp_doc d;
    TRY(mp_doc_load_list_file(&d, path, err));
    const mp_node *list = d.root;
    if (list->kind == MP_NODE_MAP)
        list = mp_node_get(d.root, "runs", NULL);
    if (!list || list->kind != MP_NODE_SEQ) {
        mp_status st = mp_doc_error(&d, d.root, err, "expected a list of run records (or a map with 'runs:')");
        mp_doc_free(&d);
        return st;
    }
    mp_run *out = calloc(list->n ? list->n : 1, sizeof *out);
    if (!out) {
        mp_doc_free(&d);
        return mp_error_set(err, MP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    mp_status st = MP_OK;
    size_t count = list->n; /* list belongs to the document, freed below */
    if (count == 0)
        st = mp_doc_error(&d, list, err, "no run records in the file");
    rd.doc = &d;
    rd.err = err;
    rd.st = MP_OK;
    for (size_t i = 0; i < count && !st; i++) {
        const mp_node *rec = list->vals[i];
        if (rec->kind != MP_NODE_MAP || !at(rec, "id")) {
            st = mp_doc_error(&d, rec, err, "each run record must be a mapping with an 'id'");
            break;
        }
        read_record(&out[i], rec, hw_dir, &st, err);
        if (!st && rd.st)
            st = rd.st;
        for (size_t j = 0; j < i && !st; j++)
            if (!strcmp(out[j].id, out[i].id))
                st = mp_doc_error(&d, at(rec, "id"), err, "run id '%s' appears twice (first at line %d)", out[i].id,
                                  out[j].line);
    }
    rd.doc = NULL;
    mp_doc_free(&d);
    if (st) {
        free(out);
        return st;
    }
    *runs = out;
    *n = count;
    return MP_OK;
}
