#include "moeplan/report.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/emit.h"
#include "moeplan/units.h"

/* ------------------------------------------------------------ escaping */

/* Length of the well-formed UTF-8 sequence at p (1-4), 0 when it is not
 * one (stray continuation byte, overlong form, surrogate, > U+10FFFF, cut
 * short). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || c > 0xF4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] > 0x8F))
        return 0;
    return n;
}

/* Bytes at p to escape (each as \xNN), 0 when the character at p prints
 * as itself: C0 controls, DEL, the backslash (so that an escape cannot be
 * forged), C1 controls (U+0080-U+009F, which some terminals obey) and
 * invalid bytes. */
static size_t escaped_bytes(const unsigned char *p, size_t *n)
{
    *n = utf8_len(p);
    if (*n == 0) {
        *n = 1;
        return 1;
    }
    if (*n == 1 && (p[0] < 0x20 || p[0] == 0x7F || p[0] == '\\'))
        return 1;
    if (*n == 2 && p[0] == 0xC2 && p[1] < 0xA0)
        return 2;
    return 0;
}

const char *mp_report_escape_cols(const char *s, size_t max_chars, char *buf, size_t len, size_t *chars)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    /* Columns of the whole text, to know whether it must be cut. */
    size_t total = 0;
    for (const unsigned char *q = p; *q;) {
        size_t n, e = escaped_bytes(q, &n);
        total += e ? 4 * e : 1;
        q += n;
    }
    bool cut = max_chars && total > max_chars;
    size_t room = cut ? max_chars - 1 : (size_t)-1; /* columns before the ellipsis */
    size_t used = 0, k = 0;
    while (*p) {
        size_t n, e = escaped_bytes(p, &n);
        size_t cols = e ? 4 * e : 1, bytes = e ? 4 * e : n;
        if (used + cols > room || k + bytes + 4 > len) { /* 4: an ellipsis or "..." and the NUL */
            cut = true;
            break;
        }
        if (e) {
            for (size_t i = 0; i < e; i++)
                k += (size_t)snprintf(buf + k, len - k, "\\x%02x", p[i]);
        } else {
            memcpy(buf + k, p, n);
            k += n;
        }
        used += cols;
        p += n;
    }
    if (cut && max_chars) {
        memcpy(buf + k, "\xE2\x80\xA6", 3); /* U+2026 */
        k += 3;
        used++;
    } else if (cut) {
        memcpy(buf + k, "...", 3);
        k += 3;
        used += 3;
    }
    if (len)
        buf[k < len ? k : len - 1] = 0;
    if (chars)
        *chars = used;
    return buf;
}

const char *mp_report_escape(const char *s, char *buf, size_t len)
{
    return mp_report_escape_cols(s, 0, buf, len, NULL);
}

json_t *mp_json_text(const char *s)
{
    s = s ? s : "";
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not valid UTF-8: each invalid byte becomes U+FFFD (3 bytes). */
    size_t n = strlen(s);
    char *t = malloc(3 * n + 1);
    if (!t)
        return NULL;
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t m = utf8_len(p);
        if (m == 0) {
            memcpy(t + k, "\xEF\xBF\xBD", 3);
            k += 3;
            p++;
        } else {
            memcpy(t + k, p, m);
            k += m;
            p += m;
        }
    }
    t[k] = 0;
    j = json_string(t);
    free(t);
    return j;
}

json_t *mp_json_count(double v)
{
    /* 2^63 is exactly representable; anything below it rounds into int64. */
    if (isfinite(v) && fabs(v) < 9223372036854775808.0)
        return json_integer((json_int_t)llround(v));
    return json_real(v);
}

/* 0 marks a value the planner had not chosen when it rejected a layout. */
static const char *num_or_star(int v, char *buf, size_t len)
{
    if (v > 0)
        snprintf(buf, len, "%d", v);
    else
        snprintf(buf, len, "*");
    return buf;
}

void mp_report_layout_line(const mp_layout *l, bool experts, char *buf, size_t len)
{
    char a[9][16];
    char ppbuf[48], ex[64] = "";
    snprintf(ppbuf, sizeof ppbuf, "%s", num_or_star(l->pp, a[3], 16));
    if (mp_layout_uneven(l)) /* first/middle.../last layers, e.g. pp16(3+..+4) */
        snprintf(ppbuf, sizeof ppbuf, "%d(%d+..+%d)", l->pp, l->pp_first, l->pp_last);
    if (experts)
        snprintf(ex, sizeof ex, " | etp%s ep%s edp%s", num_or_star(l->etp, a[4], 16), num_or_star(l->ep, a[5], 16),
                 num_or_star(l->edp, a[6], 16));
    char z[32] = "";
    if (l->zero >= 1) /* ZeRO stage, and the HSDP sharding group */
        snprintf(z, sizeof z, l->shard_group ? " zero%d/%d" : " zero%d", l->zero, l->shard_group);
    snprintf(buf, len, "tp%s cp%s dp%s pp%s%s | vpp%s mb%s rc:%s%s%s", num_or_star(l->tp, a[0], 16),
             num_or_star(l->cp, a[1], 16), num_or_star(l->dp, a[2], 16), ppbuf, ex, num_or_star(l->vpp, a[7], 16),
             num_or_star(l->micro_batch, a[8], 16), mp_recompute_name(l->recompute),
             l->sequence_parallel ? " sp" : "", z);
}

json_t *mp_report_layout_json(const mp_layout *l, bool experts)
{
    json_t *j = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:b,s:b,s:i,s:i}", "gpus", l->gpus, "tp", l->tp,
                          "pp", l->pp, "dp", l->dp, "cp", l->cp, "ep", l->ep, "etp", l->etp, "edp", l->edp, "vpp",
                          l->vpp, "micro_batch", l->micro_batch, "num_micro_batches", l->num_micro_batches,
                          "recompute", mp_recompute_name(l->recompute), "sequence_parallel", l->sequence_parallel,
                          "distributed_optimizer", l->zero >= 1, "zero", l->zero, "shard_group", l->shard_group);
    if (l->recompute == MP_RECOMPUTE_SELECTIVE) {
        json_t *mods = json_array();
        unsigned mm = l->recompute_modules ? l->recompute_modules : (unsigned)MP_RC_CORE_ATTN;
        for (unsigned i = 0; i < 7; i++)
            if (mm & (1u << i))
                json_array_append_new(mods, json_string(mp_recompute_module_name(1u << i)));
        json_object_set_new(j, "recompute_modules", mods);
    }
    if (!experts) { /* no experts, no expert layout; the keys stay for a stable schema */
        json_object_set_new(j, "ep", json_null());
        json_object_set_new(j, "etp", json_null());
        json_object_set_new(j, "edp", json_null());
    }
    if (mp_layout_uneven(l)) {
        json_object_set_new(j, "pp_first_layers", json_integer(l->pp_first));
        json_object_set_new(j, "pp_last_layers", json_integer(l->pp_last));
    }
    return j;
}

/* The fewest significant digits (1-17) that read back as v: 0.1 stays
 * "0.1" where %.17g would write 0.10000000000000001.  A real keeps a point
 * or an exponent, so that it is not read back as an integer. */
static void shortest_real(double v, char *buf, size_t len)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strncat(buf, ".0", len - strlen(buf) - 1);
}

void mp_report_json_write(FILE *f, json_t *j)
{
    /* jansson writes reals with a fixed number of digits (17 here, which
     * always round-trips); each real token of its output is then rewritten
     * with the fewest digits that give the same double.  Integers and
     * strings are copied as they are. */
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (!s)
        return;
    bool in_str = false;
    for (const char *p = s; *p;) {
        if (in_str) {
            if (*p == '\\' && p[1]) {
                fputc(*p++, f);
            } else if (*p == '"') {
                in_str = false;
            }
            fputc(*p++, f);
            continue;
        }
        if (*p == '"') {
            in_str = true;
            fputc(*p++, f);
            continue;
        }
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            size_t n = strspn(p, "0123456789+-.eE");
            char tok[64];
            if (n < sizeof tok && strcspn(p, ".eE") < n) {
                memcpy(tok, p, n);
                tok[n] = 0;
                char out[40];
                shortest_real(strtod(tok, NULL), out, sizeof out);
                fputs(out, f);
            } else {
                fwrite(p, 1, n, f);
            }
            p += n;
            continue;
        }
        fputc(*p++, f);
    }
    fputc('\n', f);
    free(s);
}

/* A model without dense (or MoE) layers has no such block to list. */
static bool block_present(const mp_cost_ctx *c, mp_block b)
{
    return mp_cost_block_present(c, b);
}

/* Bytes and GEMM sizes are counts (integers); FLOPs and seconds reals. */
static json_t *op_json(const mp_op *o)
{
    json_t *j = json_pack("{s:s,s:s,s:f,s:f,s:o,s:o,s:f,s:f,s:o,s:o}", "name", o->name, "kind",
                          o->kind == MP_OP_MATMUL      ? "matmul"
                          : o->kind == MP_OP_ATTENTION ? "attention"
                          : o->kind == MP_OP_MEMORY    ? "memory"
                                                       : "collective",
                          "fwd_flops", o->fwd_flops, "bwd_flops", o->bwd_flops, "fwd_hbm_bytes",
                          mp_json_count(o->fwd_hbm_bytes), "bwd_hbm_bytes", mp_json_count(o->bwd_hbm_bytes), "fwd_s",
                          o->fwd_s, "bwd_s", o->bwd_s, "saved_bytes", mp_json_count(o->saved_bytes),
                          "transient_bytes", mp_json_count(o->transient_bytes));
    if (o->kind == MP_OP_MATMUL)
        json_object_set_new(j, "gemm", json_pack("{s:o,s:o,s:o,s:i}", "m", mp_json_count(o->m), "n",
                                                 mp_json_count(o->n), "k", mp_json_count(o->k), "batch", o->batch));
    if (o->kind == MP_OP_COMM)
        json_object_set_new(j, "collective",
                            json_pack("{s:s,s:s,s:s,s:i,s:b,s:b,s:o,s:o}", "fwd", mp_coll_name(o->coll), "bwd",
                                      mp_coll_name(o->bwd_coll), "group", mp_group_name(o->group), "group_size",
                                      o->group_size, "inter_node", o->inter_node, "overlapped", o->overlapped,
                                      "fwd_bytes", mp_json_count(o->fwd_comm_bytes), "bwd_bytes",
                                      mp_json_count(o->bwd_comm_bytes)));
    return j;
}

static json_t *mem_json(const mp_memory *m)
{
    /* other = comm_buffers + fp8_weights + reserved + fragmentation (cost.c, stage_memory) */
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "weights", mp_json_count(m->weights_bytes),
                     "gradients", mp_json_count(m->gradients_bytes), "optimizer", mp_json_count(m->optimizer_bytes),
                     "activations", mp_json_count(m->activations_bytes), "other", mp_json_count(m->other_bytes),
                     "comm_buffers", mp_json_count(m->comm_buffer_bytes), "fp8_weights",
                     mp_json_count(m->fp8_weight_bytes), "reserved", mp_json_count(m->reserved_bytes),
                     "fragmentation", mp_json_count(m->fragmentation_bytes), "total", mp_json_count(m->total_bytes),
                     "capacity", mp_json_count(m->capacity_bytes));
}

json_t *mp_report_explain_json(const mp_cost_ctx *c, const mp_cost *r, bool ops)
{
    json_t *j = json_object();
    json_object_set_new(j, "model", mp_json_text(c->model->name));
    json_object_set_new(j, "hardware", mp_json_text(c->hw->name));
    json_object_set_new(j, "params_total", mp_json_count(r->params.total));
    json_object_set_new(j, "params_active_per_token", mp_json_count(r->params.active_per_token));
    json_object_set_new(j, "params_per_gpu", mp_json_count(r->mem.params));
    json_object_set_new(j, "layout", mp_report_layout_json(&c->lay, r->params.moe_layers > 0));
    json_object_set_new(j, "seq_len", json_integer(r->seq_len));
    json_object_set_new(j, "memory_per_gpu_bytes", mem_json(&r->mem));
    json_object_set_new(j, "memory_stage", json_integer(r->worst_mem_stage));
    json_object_set_new(j, "fits", json_boolean(r->fits));
    json_object_set_new(j, "headroom_bytes", mp_json_count(r->headroom_bytes));
    json_object_set_new(j, "flops_per_step", json_real(r->model_flops_per_step));
    json_object_set_new(j, "hardware_flops_per_step", json_real(r->hw_flops_per_step));
    json_object_set_new(j, "time_per_step_s",
                        json_pack("{s:f,s:f,s:f,s:f,s:f}", "compute", r->t_compute_s, "memory_bound", r->t_memory_s,
                                  "communication", r->t_comm_s, "bubble", r->t_bubble_s, "total", r->t_total_s));
    json_object_set_new(j, "communication_s",
                        json_pack("{s:f,s:f,s:f,s:f,s:f}", "tp", r->t_tp_s, "ep", r->t_ep_s, "cp", r->t_cp_s, "pp",
                                  r->t_pp_s, "dp", r->t_dp_s));
    json_object_set_new(j, "tokens_per_s", json_real(r->tokens_per_s));
    json_object_set_new(j, "sequences_per_s", json_real(r->sequences_per_s));
    json_object_set_new(j, "mfu", json_real(r->mfu));
    {
        char lines[MP_MAX_ASSUMPTIONS][MP_ASSUMPTION_LEN];
        int n = mp_report_assumptions(c, NULL, lines);
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(a, mp_json_text(lines[i]));
        json_object_set_new(j, "assumptions", a);
    }
    if (ops) {
        json_t *blocks = json_object();
        for (int b = 0; b < MP_BLOCK_COUNT; b++) {
            if (!block_present(c, (mp_block)b))
                continue;
            mp_op o[MP_MAX_OPS];
            size_t n = mp_cost_block_ops(c, (mp_block)b, o);
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, op_json(&o[i]));
            json_object_set_new(blocks, mp_block_name((mp_block)b), a);
        }
        json_object_set_new(j, "ops_per_micro_batch", blocks);
        mp_op so[4 * MP_LAYER_CLASSES + 4];
        int cnt[4 * MP_LAYER_CLASSES + 4];
        size_t ns = mp_cost_shard_ops(c, so, cnt, sizeof so / sizeof so[0]);
        json_t *sh = json_array();
        for (size_t i = 0; i < ns; i++) {
            json_t *o = op_json(&so[i]);
            json_object_set_new(o, "units", json_integer(cnt[i]));
            json_array_append_new(sh, o);
        }
        json_object_set_new(j, "sharding_per_micro_batch", sh);
    }
    return j;
}

/* v at `decimals` decimals, or, where that would print 0 for a value that
 * is not (0.11 TFLOP/s, 0.497 tokens/s), at 3 significant digits: every
 * printed figure stays derivable.  Into one of 8 rotating buffers, so a
 * printf may take several. */
static const char *fixed(double v, int decimals)
{
    static char bufs[8][48];
    static unsigned k; /* wraps, never overflows */
    char *b = bufs[k++ & 7];
    if (v != 0 && fabs(v) < 0.5 * pow(10, -decimals))
        snprintf(b, 48, "%.3g", v);
    else
        snprintf(b, 48, "%.*f", decimals, v);
    return b;
}

int mp_report_assumptions(const mp_cost_ctx *c, const mp_sources *src, char lines[][MP_ASSUMPTION_LEN])
{
    const mp_model *m = c->model;
    const mp_workload *w = c->wl;
    const mp_hardware *hw = c->hw;
    int n = 0;
#define LINE(...) do { if (n < MP_MAX_ASSUMPTIONS) snprintf(lines[n++], MP_ASSUMPTION_LEN, __VA_ARGS__); } while (0)
    if (hw->sm_count > 0) /* the efficiency model (efficiency.h): mfu is not used */
    {
        LINE("hardware %s: %s TFLOP/s, matrix products at up to %.3f of it by tile and wave (%d SMs), "
             "attention %.2f / %.2f (fwd / bwd); HBM %s TB/s x %.2f by size",
             hw->name, fixed(hw->peak_flops / 1e12, 0), hw->gemm_efficiency, hw->sm_count, hw->attention_fwd_efficiency,
             hw->attention_bwd_efficiency, fixed(hw->memory_bw_bytes_per_s / 1e12, 2), hw->bw_utilization);
        LINE("%d GPU%s/node; collectives at up to %.3f of %s GB/s intra, %.3f of %s GB/s inter per GPU",
             hw->gpus_per_node, mp_plural(hw->gpus_per_node), hw->intra_efficiency,
             fixed(hw->intra_bw_bytes_per_s / 1e9, 0), hw->inter_efficiency,
             fixed(hw->inter_bw_bytes_per_s / 1e9, 0));
        if (w->fp8 != MP_FP8_NONE && hw->peak_flops_fp8 > 0)
            LINE("FP8 matrix products at up to %.3f of %.0f TFLOP/s (the FP8 peak)", hw->gemm_efficiency_fp8,
                 hw->peak_flops_fp8 / 1e12);
    }
    else
        LINE("hardware %s: %s TFLOP/s x mfu %.2f; HBM %s TB/s x %.2f; %d GPU%s/node; %s GB/s intra, %s GB/s "
             "inter per GPU",
             hw->name, fixed(hw->peak_flops / 1e12, 0), hw->mfu, fixed(hw->memory_bw_bytes_per_s / 1e12, 2),
             hw->bw_utilization, hw->gpus_per_node, mp_plural(hw->gpus_per_node), fixed(hw->intra_bw_bytes_per_s / 1e9, 0),
             fixed(hw->inter_bw_bytes_per_s / 1e9, 0));
    /* A dense model has no expert groups and no all-to-all to speak of. */
    bool experts = c->params.moe_layers > 0;
    LINE("rank order tp < cp < dp < pp%s (Megatron-LM); a ring spanning nodes moves min(NVLink, members per node x "
         "NIC) per GPU%s",
         experts ? " and etp < ep < edp" : "", experts ? "; all-to-all traffic off the node goes through each GPU's NIC" : "");
    const mp_layout *lay = &c->lay;
    bool tpo = w->tp_comm_overlap && lay->sequence_parallel && lay->tp > 1; /* cost_ops.c's condition */
    if (tpo)
        LINE("overlap: tp_comm_overlap hides TP collectives forward and backward behind the GEMMs they feed (only "
             "the excess counts); %s1F1B pipeline transfers exposed; interleaved pipeline transfers and the CP K/V "
             "ring overlapped", experts ? "EP and " : "");
    else
        LINE("Megatron-LM defaults for overlap: TP backward collectives hidden behind the GEMMs they feed (only the "
             "excess counts); TP forward, %s1F1B pipeline transfers exposed; interleaved pipeline transfers and "
             "the CP K/V ring overlapped", experts ? "EP and " : "");
    /* Workload keys that do nothing for this layout are said, not dropped. */
    if (w->tp_comm_overlap && !tpo)
        LINE("tp_comm_overlap has no effect here: it needs tensor parallelism with sequence parallelism (tp %d, "
             "sequence parallel %s)", lay->tp, lay->sequence_parallel ? "on" : "off");
    if (m->num_experts > 0 && w->capacity_factor > 0 && w->routing_imbalance > 1)
        LINE("routing_imbalance %.2f has no effect: with a capacity factor the experts' buffers are padded to "
             "capacity (%.2f)", w->routing_imbalance, w->capacity_factor);
    if (w->fsdp_reshard != MP_RESHARD_DEFAULT && lay->zero < 3)
        LINE("fsdp_reshard_after_forward has no effect: it applies to ZeRO-3 / FSDP (the layout is ZeRO %d)",
             lay->zero);
    if (mp_cost_shard_blocking(w, lay))
        LINE("zero3_blocking_fetch: ZeRO-3 as DeepSpeed 0.3-0.4 ran it, one gather and reduce-scatter per tensor "
             "(4 matrices a layer gathered, smaller tensors kept), all on the critical path (none prefetched); "
             "16-bit gradients reduced; each collective list-form (n slice copies through a flat buffer)%s",
             lay->recompute == MP_RECOMPUTE_FULL ? "; full recompute gathers each layer a third time (its forward hooks "
                                                   "fire again)" : "");
    else if (w->zero3_blocking_fetch)
        LINE("zero3_blocking_fetch has no effect: it applies to ZeRO-3 (the layout is ZeRO %d)", lay->zero);
    if (w->grad_accum_unfused && w->grad_accum_autograd)
        LINE("gradient accumulation unfused, no main gradient: each micro-batch's weight gradient after the first summed "
             "into the 16-bit gradient by its own kernel (main-grad-add); fp32 copies made at the step "
             "(Megatron-LM of 2021 with --fp16 alone)");
    else if (w->grad_accum_unfused)
        LINE("gradient accumulation unfused: each weight gradient written in the weights' dtype, then added into the main "
             "gradient by one kernel per parameter every micro-batch (main-grad-add; Megatron-LM's "
             "--no-gradient-accumulation-fusion, and its code before 2022-02)");
    if (hw->sm_count <= 0 && hw->attention_efficiency != hw->mfu)
        LINE("attention kernels at %.2f of peak, other matrix products at %.2f", hw->attention_efficiency, hw->mfu);
    LINE("sequences packed to %ld token%s; causal attention (each query sees S/2 keys on average)%s", c->seq_len,
         mp_plural(c->seq_len),
         w->flash_attention ? "; flash attention" : "; attention scores materialised");
    if (c->local_layers > 0)
        LINE("%d of %d layer%s attend%s %s %lld tokens: %.0f keys per query on average at %ld tokens (flash kernels "
             "skip the rest; unfused %s)",
             c->local_layers, m->num_layers, mp_plural(m->num_layers), c->local_layers == 1 ? "s" : "",
             m->window_kind == MP_WINDOW_SLIDING ? "within a sliding window of" : "within chunks of",
             (long long)m->window, mp_cost_mean_keys(m, true, (double)c->seq_len), c->seq_len,
             m->window_kind == MP_WINDOW_CHUNKED ? "chunks keep C scores per query" : "scores stay S per query");
    if (m->num_experts > 0 && w->capacity_factor > 0)
        LINE("expert load at the busiest rank: %.2f x mean (capacity factor, padded to capacity)", c->expert_load);
    else if (m->num_experts > 0) {
        bool given;
        double coef = mp_emit_aux_loss_coeff(m, &given);
        char auxd[96];
        if (coef == 0)
            snprintf(auxd, sizeof auxd, "no aux loss (the model's coefficient is 0)");
        else
            snprintf(auxd, sizeof auxd, "the aux loss emitted at %g, %s", coef,
                     given ? "the model's" : "not in the model: Megatron's suggested start");
        LINE("expert load at the busiest rank: %.2f x mean (dropless: the workload's routing_imbalance, an "
             "assumption, not a measurement%s; %s; every dropless layer waits for its busiest expert rank)",
             c->expert_load, c->expert_load <= 1.0 ? " -- 1.00 is perfect balance, a lower bound on the step" : "",
             auxd);
    }
    LINE("memory allowance: %.2f GiB reserved (CUDA context, NCCL, framework) + %.4g%% fragmentation",
         hw->reserved_bytes / 1073741824.0, 100 * hw->fragmentation);
    for (int i = 0; i < m->num_notes; i++)
        LINE("model: %s", m->notes[i]);
    if (src)
        LINE("files: model %s, hardware %s, workload %s", src->model_path ? src->model_path : "(built-in)",
             src->hardware_path ? src->hardware_path : "(built-in)",
             src->workload_path ? src->workload_path : "(built-in)");
#undef LINE
    return n;
}

static void row_bytes(FILE *f, const char *label, double bytes, const char *note)
{
    char a[32], b[32];
    mp_fmt_bytes(bytes, a, sizeof a);
    mp_fmt_gib(bytes, b, sizeof b);
    fprintf(f, "  %-16s %12s %12s  %s\n", label, a, b, note);
}

static void row_time(FILE *f, const char *label, double s, double total, const char *note)
{
    char a[32];
    mp_fmt_seconds(s, a, sizeof a);
    fprintf(f, "  %-16s %12s %6.1f%%  %s\n", label, a, total > 0 ? 100.0 * s / total : 0.0, note);
}

static void print_ops(FILE *f, const mp_cost_ctx *c)
{
    fprintf(f, "\nOps per micro-batch on one GPU (forward / backward; FLOPs per GPU)\n");
    for (int b = 0; b < MP_BLOCK_COUNT; b++) {
        if (!block_present(c, (mp_block)b))
            continue;
        mp_op o[MP_MAX_OPS];
        size_t n = mp_cost_block_ops(c, (mp_block)b, o);
        fprintf(f, "  [%s]\n", mp_block_name((mp_block)b));
        fprintf(f, "    %-20s %-28s %12s %12s %10s %10s %10s\n", "op", "shape / collective", "fwd FLOP", "HBM fwd",
                "fwd", "bwd", "saved");
        for (size_t i = 0; i < n; i++) {
            char shape[64], fl[32], hb[32], tf[32], tb[32], sv[32];
            if (o[i].kind == MP_OP_MATMUL)
                snprintf(shape, sizeof shape, "%s%.0fx%.0fx%.0f", o[i].batch > 1 ? "grouped " : "", o[i].m, o[i].k,
                         o[i].n);
            else if (o[i].kind == MP_OP_COMM)
                snprintf(shape, sizeof shape, "%s %s%d%s", mp_coll_name(o[i].coll != MP_COLL_NONE ? o[i].coll
                                                                                            : o[i].bwd_coll),
                         mp_group_name(o[i].group), o[i].group_size, o[i].inter_node ? " inter" : "");
            else
                snprintf(shape, sizeof shape, "%s", o[i].kind == MP_OP_ATTENTION ? "attention" : "memory-bound");
            mp_fmt_flops(o[i].fwd_flops, fl, sizeof fl);
            mp_fmt_bytes(o[i].kind == MP_OP_COMM ? o[i].fwd_comm_bytes : o[i].fwd_hbm_bytes, hb, sizeof hb);
            mp_fmt_seconds(o[i].fwd_s, tf, sizeof tf);
            mp_fmt_seconds(o[i].bwd_s, tb, sizeof tb);
            mp_fmt_bytes(o[i].saved_bytes, sv, sizeof sv);
            fprintf(f, "    %-20s %-28s %12s %12s %10s %10s %10s\n", o[i].name, shape, fl, hb, tf, tb, sv);
        }
    }
    /* Sharded data parallelism's collectives of each micro-batch (pp 1;
     * under pipeline parallelism they are the step block's). */
    mp_op so[4 * MP_LAYER_CLASSES + 4];
    int cnt[4 * MP_LAYER_CLASSES + 4];
    size_t ns = mp_cost_shard_ops(c, so, cnt, sizeof so / sizeof so[0]);
    if (ns) {
        fprintf(f, "  [sharding] ZeRO %d: per micro-batch, each row's fwd and bwd for one unit%s\n", c->lay.zero,
                mp_cost_shard_blocking(c->wl, &c->lay) ? " (none overlapped)" : " (all but the first gather and last "
                                                                     "reduce-scatter hidden where compute allows)");
        fprintf(f, "    %-26s %5s %-28s %12s %10s %10s %10s\n", "op", "units", "collective", "bytes", "fwd", "bwd",
                "all units");
        for (size_t i = 0; i < ns; i++) {
            char shape[64], by[32], tf[32], tb[32], tt[32];
            snprintf(shape, sizeof shape, "%s %s%d%s",
                     mp_coll_name(so[i].coll != MP_COLL_NONE ? so[i].coll : so[i].bwd_coll),
                     mp_group_name(so[i].group), so[i].group_size, so[i].inter_node ? " inter" : "");
            mp_fmt_bytes(so[i].transient_bytes, by, sizeof by);
            mp_fmt_seconds(so[i].fwd_s, tf, sizeof tf);
            mp_fmt_seconds(so[i].bwd_s, tb, sizeof tb);
            mp_fmt_seconds(cnt[i] * (so[i].fwd_s + so[i].bwd_s), tt, sizeof tt);
            fprintf(f, "    %-26s %5d %-28s %12s %10s %10s %10s\n", so[i].name, cnt[i], shape, by, tf, tb, tt);
        }
    }
}

void mp_report_explain_text(FILE *f, const mp_cost_ctx *c, const mp_cost *r, const mp_sources *src, bool ops)
{
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    const mp_hardware *hw = c->hw;
    char a[32], b[32], d[32], mname[600], hname[600];
    bool experts = r->params.moe_layers > 0;
    fprintf(f, "moeplan explain: %s on %d x %s\n\n", mp_report_escape(m->name, mname, sizeof mname), l->gpus,
            mp_report_escape(hw->name, hname, sizeof hname));
    fprintf(f, "model     %d layer%s (%d MoE, %d dense), hidden %lld, %lld head%s x %lld (kv %lld)%s, vocab %lld%s\n",
            m->num_layers, mp_plural(m->num_layers), r->params.moe_layers, r->params.dense_layers,
            (long long)m->hidden, (long long)m->num_heads, mp_plural(m->num_heads), (long long)mp_model_qk_head_dim(m),
            (long long)(m->attn == MP_ATTN_MLA ? m->num_heads : m->num_kv_heads), m->attn == MP_ATTN_MLA ? " MLA" : "",
            (long long)m->vocab, m->tied_embeddings ? " (tied)" : "");
    if (m->num_experts > 0)
        fprintf(f, "          %lld expert%s, top-%lld, expert width %lld (%s)%s\n", (long long)m->num_experts,
                mp_plural(m->num_experts), (long long)m->top_k, (long long)m->expert_hidden,
                m->gated_mlp ? "gated, 3 matrices" : "2 matrices",
                m->num_shared_experts ? ", with shared experts" : "");
    mp_fmt_count(r->params.total, a, sizeof a);
    mp_fmt_count(r->params.active_per_token, b, sizeof b);
    mp_fmt_count(r->mem.params, d, sizeof d);
    fprintf(f, "params    %s total, %s active per token, %s on the most loaded GPU\n", a, b, d);
    /* One length is one number ("range 4096-4096" read as a range). */
    if (w->seq_min == w->seq_max && r->seq_len == w->seq_max)
        fprintf(f, "workload  %ld sequence%s x %ld token%s per step (fixed length, sequences packed)\n",
                w->global_batch, mp_plural(w->global_batch), r->seq_len, mp_plural(r->seq_len));
    else
        fprintf(f, "workload  %ld sequence%s x %ld token%s per step (range %ld-%ld: memory and time at %ld, sequences "
                "packed)\n", w->global_batch, mp_plural(w->global_batch), r->seq_len, mp_plural(r->seq_len), w->seq_min,
                w->seq_max, r->seq_len);
    double bpp = w->weight_bytes + w->grad_bytes + w->master_bytes + w->optim_state_bytes;
    static const char *const fp8_names[] = {"", ", FP8 linear layers (delayed scaling)",
                                            ", FP8 linear layers (current scaling)",
                                            ", FP8 linear layers (blockwise scaling)", ", MXFP8 linear layers"};
    fprintf(f, "          %s, %s: %g B/param = %g weight + %g gradient + %g master + %g optimizer states%s%s\n",
            w->precision, w->optimizer, bpp, w->weight_bytes, w->grad_bytes, w->master_bytes, w->optim_state_bytes,
            w->flash_attention ? ", flash attention" : "",
            fp8_names[w->fp8]);
    /* A dense model has no expert layout to show (ep 1, edp = tp*cp*dp
     * would read as if it had experts). */
    if (experts)
        fprintf(f, "layout    %d GPU%s = tp %d x cp %d x dp %d x pp %d; experts: etp %d x ep %d x edp %d per stage\n",
                l->gpus, mp_plural(l->gpus), l->tp, l->cp, l->dp, l->pp, l->etp, l->ep, l->edp);
    else
        fprintf(f, "layout    %d GPU%s = tp %d x cp %d x dp %d x pp %d; no experts\n", l->gpus, mp_plural(l->gpus), l->tp,
                l->cp, l->dp, l->pp);
    if (mp_layout_uneven(l) && l->pp > 2)
        fprintf(f, "          uneven pipeline: %d layer%s on the first rank, %d on the last, %d on each other\n",
                l->pp_first, mp_plural(l->pp_first), l->pp_last,
                (m->num_layers - l->pp_first - l->pp_last) / (l->pp - 2));
    else if (mp_layout_uneven(l)) /* pp 2: no other rank */
        fprintf(f, "          uneven pipeline: %d layer%s on the first rank, %d on the last\n", l->pp_first,
                mp_plural(l->pp_first), l->pp_last);
    char rcd[160];
    mp_recompute_describe(l, rcd, sizeof rcd);
    static const char *const zname[] = {"off (replicated)", "1 (optimizer states sharded: the distributed optimizer)",
                                        "2 (optimizer states and gradients sharded)",
                                        "3 (optimizer states, gradients and parameters sharded: FSDP)"};
    fprintf(f, "          vpp %d, micro-batch %d -> %d micro-batch%s, recompute %s, sequence parallel %s\n", l->vpp,
            l->micro_batch, l->num_micro_batches, l->num_micro_batches == 1 ? "" : "es", rcd, l->sequence_parallel ? "on" : "off");
    int sd, se;
    mp_cost_shard_degrees(l, &sd, &se);
    fprintf(f, "          ZeRO %s", zname[l->zero < 0 || l->zero > 3 ? 0 : l->zero]);
    if (l->zero >= 1)
        fprintf(f, ", over %d rank%s", sd, sd == 1 ? "" : "s");
    if (l->zero >= 1 && experts)
        fprintf(f, " (experts: %d)", se);
    if (l->shard_group && l->zero >= 1)
        fprintf(f, ", replicated %d times (HSDP)", l->dp * l->cp / sd);
    fprintf(f, "\n");

    const mp_memory *mm = &r->mem;
    fprintf(f, "\nMemory per GPU: pipeline rank %d of %d (the most loaded)   SI (kB, MB, GB, TB)  IEC (GiB)\n",
            r->worst_mem_stage, l->pp);
    char note[160];
    mp_fmt_count(mm->params, a, sizeof a);
    snprintf(note, sizeof note, "%s params x %g B", a, w->weight_bytes);
    if (l->zero >= 3 && experts && se != sd)
        snprintf(note + strlen(note), sizeof note - strlen(note), ", sharded over %d (dense) and %d (experts)", sd, se);
    else if (l->zero >= 3)
        snprintf(note + strlen(note), sizeof note - strlen(note), ", sharded over %d", sd);
    row_bytes(f, "weights", mm->weights_bytes, note);
    /* What the workload's gradient bytes mean: Megatron's fp32 main
     * gradients (4, the default), 16-bit gradients (2), or just the figure. */
    const char *gkind = w->grad_bytes == 4 ? " (fp32 main gradients)" : w->grad_bytes == 2 ? " (16-bit gradients)" : "";
    snprintf(note, sizeof note, "x %g B%s%s", w->grad_bytes, gkind, l->zero >= 2 ? ", sharded" : "");
    row_bytes(f, "gradients", mm->gradients_bytes, note);
    if (l->zero >= 1 && experts)
        snprintf(note, sizeof note, "%g B/param, sharded over %d (dense) and %d (experts)",
                 w->master_bytes + w->optim_state_bytes, sd, se);
    else if (l->zero >= 1)
        snprintf(note, sizeof note, "%g B/param, sharded over %d", w->master_bytes + w->optim_state_bytes, sd);
    else
        snprintf(note, sizeof note, "%g B/param, not sharded", w->master_bytes + w->optim_state_bytes);
    row_bytes(f, "optimizer", mm->optimizer_bytes, note);
    snprintf(note, sizeof note, "%g micro-batch chunk%s in flight%s", mm->inflight_units,
             mm->inflight_units == 1 ? "" : "s", l->recompute == MP_RECOMPUTE_FULL ? " + one layer recomputed" : "");
    row_bytes(f, "activations", mm->activations_bytes, note);
    row_bytes(f, "comm buffers", mm->comm_buffer_bytes,
              experts ? "largest collective / permutation / logits buffer" : "largest collective / logits buffer");
    if (mm->shard_buffer_bytes > 0)
        row_bytes(f, "shard buffers", mm->shard_buffer_bytes,
                  l->zero >= 3 ? "gathered layer parameters + unsharded gradients in flight"
                               : "unsharded gradients in flight");
    if (mm->fp8_weight_bytes > 0)
        row_bytes(f, "fp8 weights", mm->fp8_weight_bytes, "FP8 copies of the linear weights (rowwise + columnwise)");
    row_bytes(f, "reserved", mm->reserved_bytes, "CUDA context, NCCL, framework (hardware file)");
    snprintf(note, sizeof note, "%.4g%% of allocations", 100 * hw->fragmentation);
    row_bytes(f, "fragmentation", mm->fragmentation_bytes, note);
    row_bytes(f, "total", mm->total_bytes, "");
    row_bytes(f, "capacity", mm->capacity_bytes, "");
    /* Said in words, used and free: "fits (92.0% of capacity)" read as
     * 92% used when 92% was free. */
    mp_fmt_bytes(mm->total_bytes, a, sizeof a);
    mp_fmt_bytes(mm->capacity_bytes, b, sizeof b);
    if (r->fits)
        snprintf(note, sizeof note, "fits: %s of %s used, %.1f%% free", a, b,
                 100.0 * r->headroom_bytes / mm->capacity_bytes);
    else
        snprintf(note, sizeof note, "DOES NOT FIT: %s needed, %s available, %.1f%% over", a, b,
                 -100.0 * r->headroom_bytes / mm->capacity_bytes);
    row_bytes(f, "headroom", r->headroom_bytes, note);
    if (l->pp > 1) {
        mp_fmt_bytes(r->mem_first.total_bytes, a, sizeof a);
        mp_fmt_bytes(r->mem_last.total_bytes, b, sizeof b);
        fprintf(f, "  (first pipeline rank %s with the embedding, last rank %s with the output layer)\n", a, b);
    }
    mp_fmt_bytes(r->act_layer_moe_bytes, a, sizeof a);
    mp_fmt_bytes(r->act_layer_dense_bytes, b, sizeof b);
    if (r->params.moe_layers && r->params.dense_layers)
        fprintf(f, "  (activations per layer per micro-batch: MoE %s, dense %s)\n", a, b);
    else
        fprintf(f, "  (activations per layer per micro-batch: %s)\n", r->params.moe_layers ? a : b);

    double tot = r->t_total_s;
    fprintf(f, "\nTime per step: slowest pipeline rank %d, %d micro-batch%s\n", r->slowest_stage, l->num_micro_batches,
            l->num_micro_batches == 1 ? "" : "es");
    row_time(f, "compute", r->t_compute_s, tot,
             c->hw->sm_count > 0 ? "matmuls and attention by the efficiency model (tiles, waves, kernel gaps)"
                                 : "matmuls and attention at peak x mfu (roofline)");
    row_time(f, "memory-bound", r->t_memory_s, tot,
             experts ? "norms, activations, permutation, optimizer step" : "norms, activations, optimizer step");
    snprintf(note, sizeof note, "the exposed part: overlap as in the assumptions (DP %s)",
             w->overlap_grad_reduce ? "overlapped" : "exposed");
    row_time(f, "communication", r->t_comm_s, tot, note);
    /* A group of one has nothing to send: its row says so, not a bare 0 s. */
    row_time(f, "  tp", r->t_tp_s, tot,
             l->tp > 1 ? "" : r->t_tp_s == 0 ? "tp 1: no tensor-parallel collectives"
                                             : "tp 1: the collectives of the tp x cp group (--ops: tp-cp-*)");
    if (experts)
        row_time(f, "  ep (+etp)", r->t_ep_s, tot,
                 l->ep * l->etp == 1 && r->t_ep_s > 0 ? "ep 1: the dropless dispatcher's host sync per layer" : "");
    if (l->cp > 1)
        row_time(f, "  cp", r->t_cp_s, tot, "exposed part of the K/V ring");
    if (l->pp > 1)
        row_time(f, "  pp", r->t_pp_s, tot, "");
    row_time(f, "  dp", r->t_dp_s, tot,
             l->dp * l->cp == 1 && (!experts || l->edp == 1) && r->t_dp_s == 0 ? "dp 1: no gradient reduction"
             : l->zero >= 2 && l->pp == 1
                 ? "each layer's gathers and reduce-scatters per micro-batch (exposed part), step's reduction"
                 : "gradient reduction once per step");
    if (l->pp == 1)
        snprintf(note, sizeof note, "pp 1: no pipeline");
    else
        snprintf(note, sizeof note, "fill and drain: (sum of ranks - slowest) / v, ~(p-1)/v = %g micro-batch time%s",
                 (double)(l->pp - 1) / l->vpp, (l->pp - 1) == l->vpp ? "" : "s");
    row_time(f, "pipeline bubble", r->t_bubble_s, tot, note);
    row_time(f, "total", tot, tot, "");

    mp_fmt_flops(r->model_flops_per_step, a, sizeof a);
    mp_fmt_flops(r->hw_flops_per_step, b, sizeof b);
    fprintf(f, "\nThroughput  %s tokens/s, %s sequences/s, %s tokens/s per GPU\n", fixed(r->tokens_per_s, 0),
            fixed(r->sequences_per_s, 3), fixed(r->tokens_per_s / l->gpus, 0));
    fprintf(f, "FLOPs       %s model, %s hardware per step; MFU %.1f%% (model FLOPs / (step time x GPUs x peak))\n", a,
            b, 100 * r->mfu);
    if (ops)
        print_ops(f, c);

    char lines[MP_MAX_ASSUMPTIONS][MP_ASSUMPTION_LEN];
    int n = mp_report_assumptions(c, src, lines);
    fprintf(f, "\nAssumptions\n");
    /* The lines quote names, notes and paths from the input files. */
    for (int i = 0; i < n; i++) {
        char e[1400];
        fprintf(f, "  - %s\n", mp_report_escape(lines[i], e, sizeof e));
    }
}
