/* `moeplan check` (CI gate) and `moeplan audit` (claims of a proposal). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "moeplan/audit.h"
#include "moeplan/search.h"
#include "moeplan/units.h"

typedef struct {
    const char *name;
    char computed[48], required[48];
    double computed_v, required_v;
    const char *op;
    bool pass;
    bool count; /* bytes or GPUs: JSON integers (moeplan(1) OUTPUT) */
    const char *unit; /* JSON "unit": what computed and required are in */
} check_row;

static void add_row(check_row *rows, int *n, const char *name, const char *unit, double cv, double rv, const char *op,
                    bool pass, const char *cfmt, const char *rfmt)
{
    check_row *r = &rows[(*n)++];
    r->name = name;
    r->unit = unit;
    r->computed_v = cv;
    r->required_v = rv;
    r->op = op;
    r->pass = pass;
    r->count = false;
    snprintf(r->computed, sizeof r->computed, "%s", cfmt);
    snprintf(r->required, sizeof r->required, "%s", rfmt);
    /* Two different values that print the same ("FAIL step time 346.43 ms
     * <= 346.43 ms") get more decimals, in the unit shown, until they
     * differ: the display scale is the power of ten between the printed
     * number and the value (ms: 1e3, %: 100, GB: 1e-9), the suffix what
     * follows the number. */
    if (strcmp(r->computed, r->required) || cv == rv || !(cv > 0) || !(rv > 0))
        return;
    char *end;
    double shown = strtod(cfmt, &end);
    if (end == cfmt || !(shown > 0))
        return;
    double scale = pow(10, round(log10(shown / cv)));
    const char *dot = strchr(cfmt, '.');
    int dec = dot && dot < end ? (int)(end - dot - 1) : 0;
    for (int d = dec + 1; d <= 9 && !strcmp(r->computed, r->required); d++) {
        snprintf(r->computed, sizeof r->computed, "%.*f%s", d, cv * scale, end);
        snprintf(r->required, sizeof r->required, "%.*f%s", d, rv * scale, end);
    }
}

mp_status cmd_check(const cli_opts *o, FILE *out, int *failed, mp_error *err)
{
    if (!o->plan_path)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "check needs a plan file: moeplan check PLAN.yaml (see plans/seed-plan.yaml)");
    cli_inputs *in;
    mp_layout l;
    mp_cost_ctx c;
    mp_cost r;
    mp_status st = cli_evaluate(o, false, &in, &l, &c, &r, err);
    if (st)
        return st;
    mp_requirements req = in->plan.req;
    if (o->has_headroom) { /* --headroom overrides the plan's min_headroom */
        req.has_headroom = true;
        req.min_headroom = o->headroom;
    }
    const mp_requirements *q = &req;
    check_row rows[8];
    int n = 0;
    char a[48], b[48];
    double free_frac = r.headroom_bytes / r.mem.capacity_bytes;
    bool experts = r.params.moe_layers > 0;
    mp_fmt_bytes(r.mem.total_bytes, a, sizeof a);
    mp_fmt_bytes(r.mem.capacity_bytes, b, sizeof b);
    add_row(rows, &n, "memory per GPU", "bytes", r.mem.total_bytes, r.mem.capacity_bytes, "<=", r.fits, a, b);
    rows[n - 1].count = true;
    if (q->has_headroom) {
        /* "free", so that 92% is not read as 92% used. */
        snprintf(a, sizeof a, "%.1f%% free", 100 * free_frac);
        snprintf(b, sizeof b, "%.1f%% free", 100 * q->min_headroom);
        add_row(rows, &n, "memory headroom", "fraction", free_frac, q->min_headroom, ">=", free_frac >= q->min_headroom, a, b);
    }
    if (q->has_step_time) {
        mp_fmt_seconds(r.t_total_s, a, sizeof a);
        mp_fmt_seconds(q->max_step_time_s, b, sizeof b);
        add_row(rows, &n, "step time", "s", r.t_total_s, q->max_step_time_s, "<=", r.t_total_s <= q->max_step_time_s, a, b);
    }
    if (q->has_tokens) {
        snprintf(a, sizeof a, "%.0f", r.tokens_per_s);
        snprintf(b, sizeof b, "%.0f", q->min_tokens_per_s);
        add_row(rows, &n, "tokens/s", "tokens/s", r.tokens_per_s, q->min_tokens_per_s, ">=", r.tokens_per_s >= q->min_tokens_per_s,
                a, b);
    }
    if (q->has_gpus) {
        snprintf(a, sizeof a, "%d", l.gpus);
        snprintf(b, sizeof b, "%ld", q->max_gpus);
        add_row(rows, &n, "GPUs", "GPUs", l.gpus, (double)q->max_gpus, "<=", l.gpus <= q->max_gpus, a, b);
        rows[n - 1].count = true;
    }
    if (q->has_mfu) {
        snprintf(a, sizeof a, "%.1f%%", 100 * r.mfu);
        snprintf(b, sizeof b, "%.1f%%", 100 * q->min_mfu);
        add_row(rows, &n, "MFU", "fraction", r.mfu, q->min_mfu, ">=", r.mfu >= q->min_mfu, a, b);
    }
    int nfail = 0;
    for (int i = 0; i < n; i++)
        nfail += !rows[i].pass;
    *failed = nfail;
    if (o->format == FMT_JSON) {
        json_t *j = json_object();
        json_object_set_new(j, "plan", mp_json_text(o->plan_path));
        json_object_set_new(j, "layout", mp_report_layout_json(&l, experts));
        json_object_set_new(j, "fits", json_boolean(r.fits));
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:o,s:o,s:s,s:b,s:s}", "requirement", rows[i].name, "computed",
                               rows[i].count ? mp_json_count(rows[i].computed_v) : json_real(rows[i].computed_v),
                               "required",
                               rows[i].count ? mp_json_count(rows[i].required_v) : json_real(rows[i].required_v), "op",
                               rows[i].op, "pass", rows[i].pass, "unit", rows[i].unit));
        json_object_set_new(j, "checks", arr);
        json_object_set_new(j, "pass", json_boolean(nfail == 0));
        json_object_set_new(j, "failed", json_integer(nfail));
        mp_report_json_write(out, j);
        json_decref(j);
    } else {
        char line[256], pname[4200], mname[600], hname[600];
        mp_report_layout_line(&l, experts, line, sizeof line);
        fprintf(out, "moeplan check %s: %s on %d x %s, %s\n", mp_report_escape(o->plan_path, pname, sizeof pname),
                mp_report_escape(in->model.name, mname, sizeof mname), l.gpus,
                mp_report_escape(in->hw.name, hname, sizeof hname), line);
        for (int i = 0; i < n; i++)
            fprintf(out, "%s  %-16s %14s %s %-14s\n", rows[i].pass ? "PASS" : "FAIL", rows[i].name, rows[i].computed,
                    rows[i].op, rows[i].required);
        fprintf(out, "%d of %d requirement%s hold%s%s\n", n - nfail, n, mp_plural(n), n - nfail == 1 ? "s" : "",
                nfail ? "" : ": ok");
    }
    free(in);
    return MP_OK;
}

/* Metrics that count something whole (parameters, bytes, GPUs, layers,
 * experts): computed values are JSON integers. */
static bool metric_is_count(mp_metric m)
{
    switch (m) {
    case MP_MET_PARAMS_TOTAL: case MP_MET_PARAMS_ACTIVE: case MP_MET_GPUS: case MP_MET_EXPERTS_PER_GPU:
    case MP_MET_LAYERS_PER_STAGE: case MP_MET_ATTN_WEIGHTS: case MP_MET_MLP_WEIGHTS: case MP_MET_EXPERT_WEIGHTS:
    case MP_MET_ACTIVATIONS: case MP_MET_MEMORY_TOTAL:
        return true;
    default:
        return false;
    }
}

static const char *verdict_word(mp_verdict v)
{
    return v == MP_VERDICT_HOLDS ? "holds" : v == MP_VERDICT_WRONG ? "WRONG" : "unverifiable";
}

mp_status cmd_audit(const cli_opts *o, FILE *out, mp_error *err)
{
    if (!o->proposal_path)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "audit needs a proposal file: moeplan audit plans/proposals/seed-ep16-tp4-pp2.yaml");
    mp_proposal *p = calloc(1, sizeof *p);
    cli_inputs *in = calloc(1, sizeof *in);
    if (!p || !in) {
        free(p);
        free(in);
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
    }
    mp_status st = mp_proposal_load(p, o->proposal_path, err);
    if (st)
        goto done;
    cli_opts o2 = *o;
    if (!o2.model_path && p->model_path[0])
        o2.model_path = p->model_path;
    if (!o2.hardware_path && p->hardware_path[0])
        o2.hardware_path = p->hardware_path;
    if (!o2.workload_path && p->workload_path[0])
        o2.workload_path = p->workload_path;
    if ((st = cli_load_inputs(&o2, in, false, err)))
        goto done;
    if (p->has_capacity_factor)
        in->wl.capacity_factor = p->capacity_factor;
    in->have_plan = true;
    snprintf(in->plan.source, sizeof in->plan.source, "%s", p->source);
    in->plan.layout = p->layout;
    in->plan.set = p->set;
    in->plan.pos = p->pos;
    mp_layout l;
    if ((st = cli_layout(o, in, &l, err)))
        goto done;
    mp_cost_ctx c;
    mp_cost r;
    mp_cost_ctx_init(&c, &in->model, &in->hw, &in->wl, &l, in->wl.seq_max);
    mp_cost_evaluate(&c, &r);
    mp_claim_result res[MP_MAX_CLAIMS];
    int nh = 0, nw = 0, nu = 0;
    double tgt_tok = 0, tgt_step = 0;
    for (int i = 0; i < p->num_claims; i++) {
        mp_audit_claim(&c, &r, &p->claims[i], &res[i]);
        nh += res[i].verdict == MP_VERDICT_HOLDS;
        nw += res[i].verdict == MP_VERDICT_WRONG;
        nu += res[i].verdict == MP_VERDICT_UNVERIFIABLE;
        if (p->claims[i].metric == MP_MET_TOKENS_S && p->claims[i].rel == MP_REL_AT_LEAST)
            tgt_tok = p->claims[i].value;
        if (p->claims[i].metric == MP_MET_STEP && p->claims[i].rel == MP_REL_AT_MOST)
            tgt_step = p->claims[i].value;
    }
    /* Better layouts on the same GPUs, and the fewest GPUs that meet the
     * proposal's own throughput and step-time targets. */
    mp_search_opts so;
    memset(&so, 0, sizeof so);
    so.gpus_min = so.gpus_max = l.gpus;
    so.keep = 5;
    so.sort = MP_SORT_TOKENS;
    so.jobs = (int)o->jobs;
    so.zero_any = o->zero_any; /* --zero any: ZeRO-2 and 3 (and HSDP) searched too, as plan does */
    mp_search_result same, fewest;
    if ((st = mp_search_run(&in->model, &in->hw, &in->wl, &so, NULL, NULL, &same, err)))
        goto done;
    so.gpus_min = 1;
    so.gpus_max = l.gpus;
    so.keep = 1;
    so.target_tokens_per_s = tgt_tok;
    so.target_step_s = tgt_step;
    if ((st = mp_search_run(&in->model, &in->hw, &in->wl, &so, NULL, NULL, &fewest, err))) {
        mp_search_free(&same);
        goto done;
    }
    /* "Better" is better: the search's best on these GPUs that beat the
     * proposal's tokens/s (the proposal itself and slower layouts are not
     * listed); every layout kept fits, so each beats a proposal that does
     * not.  same.best is sorted by tokens/s, fastest first. */
    size_t n_better = 0;
    while (n_better < same.n_best &&
           (!r.fits || same.best[n_better].tokens_per_s > r.tokens_per_s * (1 + 1e-9)))
        n_better++;
    if (o->format == FMT_JSON) {
        json_t *j = json_object();
        bool experts = r.params.moe_layers > 0;
        json_object_set_new(j, "proposal", mp_json_text(p->name));
        json_object_set_new(j, "layout", mp_report_layout_json(&l, experts));
        json_object_set_new(j, "fits", json_boolean(r.fits));
        json_t *arr = json_array();
        for (int i = 0; i < p->num_claims; i++) {
            json_t *x = json_pack("{s:o,s:s,s:s,s:f,s:s,s:s}", "claim", mp_json_text(p->claims[i].text), "metric",
                                  mp_metric_name(p->claims[i].metric), "relation",
                                  mp_relation_symbol(p->claims[i].rel), "claimed", p->claims[i].value, "verdict",
                                  verdict_word(res[i].verdict), "why", res[i].why);
            if (res[i].verifiable) {
                json_object_set_new(x, "computed", metric_is_count(p->claims[i].metric)
                                                       ? mp_json_count(res[i].computed)
                                                       : json_real(res[i].computed));
                json_object_set_new(x, "ratio", json_real(res[i].ratio));
            }
            if (p->claims[i].has_arithmetic) {
                json_object_set_new(x, "arithmetic", mp_json_text(p->claims[i].arithmetic));
                json_object_set_new(x, "arithmetic_value", json_real(p->claims[i].arithmetic_value));
            }
            json_array_append_new(arr, x);
        }
        json_object_set_new(j, "claims", arr);
        json_object_set_new(j, "summary", json_pack("{s:i,s:i,s:i}", "holds", nh, "wrong", nw, "unverifiable", nu));
        json_t *b = json_array();
        for (size_t i = 0; i < n_better; i++)
            json_array_append_new(b, json_pack("{s:o,s:f,s:f,s:o}", "layout",
                                               mp_report_layout_json(&same.best[i].lay, experts), "tokens_per_s",
                                               same.best[i].tokens_per_s, "step_time_s", same.best[i].step_s,
                                               "memory_per_gpu_bytes", mp_json_count(same.best[i].mem_total_bytes)));
        json_object_set_new(j, "better_layouts_same_gpus", b);
        json_object_set_new(j, "fewest_gpus_meeting_targets",
                            fewest.fewest_gpus ? json_pack("{s:i,s:o,s:f,s:f}", "gpus", (int)fewest.fewest_gpus,
                                                           "layout", mp_report_layout_json(&fewest.fewest.lay, experts),
                                                           "tokens_per_s", fewest.fewest.tokens_per_s, "step_time_s",
                                                           fewest.fewest.step_s)
                                               : json_null());
        mp_report_json_write(out, j);
        json_decref(j);
    } else {
        bool experts = r.params.moe_layers > 0;
        char line[256], pname[600], mname[600], hname[600];
        mp_report_layout_line(&l, experts, line, sizeof line);
        /* Routing as explain names it: a capacity factor, dropless (0),
         * nothing for a model without experts. */
        char cf[48] = "";
        if (experts && in->wl.capacity_factor > 0)
            snprintf(cf, sizeof cf, ", capacity factor %g", in->wl.capacity_factor);
        else if (experts)
            snprintf(cf, sizeof cf, ", dropless");
        fprintf(out, "moeplan audit: %s\n  %s on %d x %s, %s%s\n", mp_report_escape(p->name, pname, sizeof pname),
                mp_report_escape(in->model.name, mname, sizeof mname), l.gpus,
                mp_report_escape(in->hw.name, hname, sizeof hname), line, cf);
        fprintf(out, "  memory at %ld token%s, time for %ld sequence%s of %ld token%s\n", in->wl.seq_max,
                mp_plural(in->wl.seq_max), in->wl.global_batch, mp_plural(in->wl.global_batch), in->wl.seq_max,
                mp_plural(in->wl.seq_max));
        /* A layout that cannot hold its step is the first thing a reviewer
         * says, whether or not the proposal claims its memory: its time
         * claims are of a step that cannot run (explain's test, r.fits). */
        if (!r.fits) {
            char need[32], have[32];
            mp_fmt_bytes(r.mem.total_bytes, need, sizeof need);
            mp_fmt_bytes(r.mem.capacity_bytes, have, sizeof have);
            fprintf(out, "  DOES NOT FIT: pipeline rank %d needs %s per GPU, %s available (moeplan explain: the "
                         "breakdown)\n", r.worst_mem_stage, need, have);
        }
        fputc('\n', out);
        fprintf(out, "%-3s %-45s %-2s %12s %12s %9s  %s\n", "#", "claim (as written)", "", "claimed", "computed", "ratio",
                "verdict");
        for (int i = 0; i < p->num_claims; i++) {
            char cl[32], cp[32], ratio[16] = "-";
            mp_metric_format(p->claims[i].metric, p->claims[i].value, cl, sizeof cl);
            if (res[i].verifiable) {
                mp_metric_format(p->claims[i].metric, res[i].computed, cp, sizeof cp);
                snprintf(ratio, sizeof ratio, "%.3g", res[i].ratio);
            } else {
                snprintf(cp, sizeof cp, "-");
            }
            /* Claims are often UTF-8 (x, ÷): cut and pad by characters,
             * not bytes, with control characters escaped. */
            char txt[256];
            size_t chars;
            mp_report_escape_cols(p->claims[i].text, 45, txt, sizeof txt, &chars);
            fprintf(out, "%-3d %s%*s %-2s %12s %12s %9s  %s: %s\n", i + 1, txt, (int)(45 - chars), "",
                    mp_relation_symbol(p->claims[i].rel), cl, cp, ratio, verdict_word(res[i].verdict), res[i].why);
        }
        fprintf(out, "\n%d claim%s: %d hold%s, %d wrong, %d unverifiable\n", p->num_claims, mp_plural(p->num_claims),
                nh, nh == 1 ? "s" : "", nw, nu);
        fprintf(out, "\nBetter layouts on the same %d GPU%s (by tokens/s):\n", l.gpus, mp_plural(l.gpus));
        if (same.n_best == 0)
            fprintf(out, "  none: no layout on %d GPU%s fits\n", l.gpus, mp_plural(l.gpus));
        else if (n_better == 0)
            fprintf(out, "  none: the proposal's layout is the fastest on %d GPU%s\n", l.gpus, mp_plural(l.gpus));
        for (size_t i = 0; i < n_better; i++) {
            mp_report_layout_line(&same.best[i].lay, experts, line, sizeof line);
            char st_s[32];
            mp_fmt_seconds(same.best[i].step_s, st_s, sizeof st_s);
            fprintf(out, "  %zu. %-58s %11.0f tokens/s  step %9s  %6.2f GB/GPU  (%.2fx the proposal)\n", i + 1, line,
                    same.best[i].tokens_per_s, st_s, same.best[i].mem_total_bytes / 1e9,
                    same.best[i].tokens_per_s / r.tokens_per_s);
        }
        if (fewest.fewest_gpus) {
            mp_report_layout_line(&fewest.fewest.lay, experts, line, sizeof line);
            char st_s[32];
            mp_fmt_seconds(fewest.fewest.step_s, st_s, sizeof st_s);
            /* Only the targets the proposal states (0: none stated). */
            char tg[160] = "";
            size_t at = 0;
            if (tgt_tok > 0)
                at += (size_t)snprintf(tg + at, sizeof tg - at, tgt_tok >= 1 ? ">= %.0f tokens/s, " : ">= %g tokens/s, ", tgt_tok);
            if (tgt_step > 0)
                at += (size_t)snprintf(tg + at, sizeof tg - at, "step <= %g s, ", tgt_step);
            snprintf(tg + at, sizeof tg - at, "fits");
            fprintf(out, "\nFewest GPUs that meet the proposal's own targets (%s): %ld\n", tg, fewest.fewest_gpus);
            fprintf(out, "  %-58s %11.0f tokens/s  step %9s  %6.2f GB/GPU\n", line, fewest.fewest.tokens_per_s, st_s,
                    fewest.fewest.mem_total_bytes / 1e9);
        } else {
            fprintf(out, "\nNo layout on at most %d GPU%s meets the proposal's own targets.\n", l.gpus, mp_plural(l.gpus));
        }
    }
    mp_search_free(&same);
    mp_search_free(&fewest);
done:
    free(p);
    free(in);
    return st;
}
