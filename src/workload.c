#include "moeplan/workload.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/doc.h"

#define MP_MAX_SEQ 16777216L /* 16M tokens: beyond any context length in use */

void mp_workload_defaults(mp_workload *w)
{
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "seed-workload");
    w->global_batch = 128;
    w->seq_min = 128;
    w->seq_max = 10240;
    snprintf(w->precision, sizeof w->precision, "fp16");
    w->act_bytes = 2;
    w->weight_bytes = 2;
    w->grad_bytes = 4;
    w->master_bytes = 4;
    w->optim_state_bytes = 8;
    snprintf(w->optimizer, sizeof w->optimizer, "adamw");
    w->flash_attention = true;
    w->capacity_factor = 0;
    w->routing_imbalance = 1.0;
}

bool mp_parse_seq_range(const char *text, long *min, long *max)
{
    /* Each bound starts with a digit: strtol alone would also take a
     * leading blank or sign (' 8', '+8', '8--16'). */
    if (!isdigit((unsigned char)text[0]))
        return false;
    char *end;
    errno = 0;
    long a = strtol(text, &end, 10);
    if (end == text || errno)
        return false;
    long b = a;
    const char *dash = end; /* blanks only around the dash: "128 - 10240", not "4096 " */
    while (*dash == ' ')
        dash++;
    if (*dash == '-') {
        end = (char *)dash;
        const char *s = end + 1;
        while (*s == ' ')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        b = strtol(s, &end, 10);
        if (end == s || errno)
            return false;
    }
    if (*end || a < 1 || b < a || b > MP_MAX_SEQ)
        return false;
    *min = a;
    *max = b;
    return true;
}

mp_status mp_get_capacity_factor(mp_getter *g, double *out, bool *found)
{
    double cf = 0;
    bool got = false;
    mp_status st = mp_get_double(g, "capacity_factor", false, -HUGE_VAL, HUGE_VAL, &cf, &got);
    if (st)
        return st;
    /* Below 1 the expert buffers hold fewer tokens than the mean load, so
     * most tokens would be dropped: no training run means that.  One
     * message states the whole rule. */
    if (got && cf != 0 && !(cf >= 1 && cf <= 64))
        return mp_doc_error(g->doc, mp_node_get(g->map, "capacity_factor", NULL), g->err,
                            "'capacity_factor' is %g; expected 0 (dropless) or a number from 1 to 64", cf);
    if (got)
        *out = cf;
    if (found)
        *found = got;
    return MP_OK;
}

static const char *const wl_keys[] = {
    "name", "global_batch", "seq_len", "precision", "optimizer", "bytes_per_param", "flash_attention",
    "capacity_factor", "routing_imbalance", "overlap_grad_reduce", "tp_comm_overlap", "pp_scatter_gather",
    "pp_blocking_sends", "zero3_blocking_fetch", "gradient_accumulation_fusion", "fp8", "fsdp_reshard_after_forward",
    NULL};
static const char *const bpp_keys[] = {"weight", "gradient", "master", "optimizer_states", NULL};

mp_status mp_workload_load(mp_workload *w, const char *path, mp_error *err)
{
    mp_workload_defaults(w);
    snprintf(w->source, sizeof w->source, "%s", path);
    mp_doc d;
    mp_status st = mp_doc_load_file(&d, path, err);
    if (st)
        return st;
    mp_getter g = {&d, d.root, err};
    static const char *const precisions[] = {"fp16", "bf16", NULL};
    /* Megatron-LM's --fp8-recipe names: delayed, tensorwise (current
     * scaling), blockwise, mxfp8. */
    static const char *const fp8_recipes[] = {"none", "delayed", "current", "blockwise", "mxfp8", NULL};
    int f8 = 0;
    /* TorchTitan's [parallelism] fsdp_reshard_after_forward values. */
    static const char *const reshard[] = {"default", "always", "never", NULL};
    int rs = 0;
    static const char *const optimizers[] = {"adamw", "adam", "sgd", NULL};
    int pk = 0, ok = 0;
    bool found, gaf = true;
    const mp_node *bpp = NULL, *seq;
    if ((st = mp_doc_check_keys(&d, d.root, wl_keys, "a workload file", err)) ||
        (st = mp_get_string(&g, "name", false, w->name, sizeof w->name, NULL)) ||
        (st = mp_get_int(&g, "global_batch", true, 1, 100000000L, &w->global_batch, NULL)) ||
        (st = mp_get_enum(&g, "precision", false, precisions, &pk, NULL)) ||
        (st = mp_get_enum(&g, "optimizer", false, optimizers, &ok, &found)) ||
        (st = mp_get_bool(&g, "flash_attention", false, &w->flash_attention, NULL)) ||
        (st = mp_get_capacity_factor(&g, &w->capacity_factor, NULL)) ||
        (st = mp_get_double(&g, "routing_imbalance", false, 1, 1e6, &w->routing_imbalance, NULL)) ||
        (st = mp_get_bool(&g, "overlap_grad_reduce", false, &w->overlap_grad_reduce, NULL)) ||
        (st = mp_get_bool(&g, "tp_comm_overlap", false, &w->tp_comm_overlap, NULL)) ||
        (st = mp_get_bool(&g, "pp_scatter_gather", false, &w->pp_scatter_gather, NULL)) ||
        (st = mp_get_bool(&g, "pp_blocking_sends", false, &w->pp_blocking_sends, NULL)) ||
        (st = mp_get_bool(&g, "zero3_blocking_fetch", false, &w->zero3_blocking_fetch, NULL)) ||
        (st = mp_get_bool(&g, "gradient_accumulation_fusion", false, &gaf, NULL)) ||
        (st = mp_get_enum(&g, "fp8", false, fp8_recipes, &f8, NULL)) ||
        (st = mp_get_enum(&g, "fsdp_reshard_after_forward", false, reshard, &rs, NULL)) ||
        (st = mp_get_map(&g, "bytes_per_param", false, &bpp)))
        goto out;
    snprintf(w->precision, sizeof w->precision, "%s", precisions[pk]);
    w->grad_accum_unfused = !gaf;
    w->fp8 = (mp_fp8_recipe)f8;
    w->fsdp_reshard = (mp_reshard)rs;
    if (w->fp8 != MP_FP8_NONE && pk != 1) {
        st = mp_doc_error(&d, mp_node_get(d.root, "fp8", NULL), err,
                          "'fp8' needs 'precision: bf16' (FP8 linear layers inside bf16 mixed precision, "
                          "as Megatron-LM's --bf16 --fp8-format hybrid)");
        goto out;
    }
    snprintf(w->optimizer, sizeof w->optimizer, "%s", optimizers[ok]);
    if (ok == 2) { /* SGD with momentum: one fp32 state */
        w->optim_state_bytes = 4;
    }
    const mp_node *f8n = mp_node_get(d.root, "fp8", NULL);
    if (f8n) {
        w->fp8_line = f8n->line;
        w->fp8_col = f8n->col;
    }
    seq = mp_node_get(d.root, "seq_len", NULL);
    if (!seq) {
        st = mp_doc_error(&d, d.root, err, "missing required key 'seq_len' (tokens, e.g. 4096 or 128-10240)");
        goto out;
    }
    w->seq_line = seq->line;
    w->seq_col = seq->col;
    /* The rules of every whole number in a file: unquoted, plain decimal
     * (0400 is octal in YAML 1.1; strtol read it as 400). */
    if ((st = mp_node_whole_spelling(&d, seq, "'seq_len'", "a token count such as 4096 or a range such as 128-10240",
                                     err)))
        goto out;
    if (seq->kind != MP_NODE_SCALAR || !mp_parse_seq_range(seq->text, &w->seq_min, &w->seq_max)) {
        st = mp_doc_error(&d, seq, err,
                          "'seq_len' must be a token count such as 4096 or a range such as 128-10240 "
                          "(min <= max, at most %ld)", MP_MAX_SEQ);
        goto out;
    }
    if (bpp) {
        mp_getter gb = {&d, bpp, err};
        if ((st = mp_doc_check_keys(&d, bpp, bpp_keys, "'bytes_per_param'", err)) ||
            (st = mp_get_double(&gb, "weight", false, 0.5, 8, &w->weight_bytes, NULL)) ||
            (st = mp_get_double(&gb, "gradient", false, 0, 8, &w->grad_bytes, NULL)) ||
            (st = mp_get_double(&gb, "master", false, 0, 8, &w->master_bytes, NULL)) ||
            (st = mp_get_double(&gb, "optimizer_states", false, 0, 32, &w->optim_state_bytes, NULL)))
            goto out;
    }
out:
    mp_doc_free(&d);
    return st;
}
