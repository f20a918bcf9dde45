/* `moeplan plan` and `moeplan bench`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "moeplan/search.h"
#include "moeplan/simulate.h"
#include "moeplan/svg.h"
#include "moeplan/units.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    double start;
    bool shown;
} progress_t;

static void progress(void *user, long done, long total)
{
    progress_t *p = user;
    double t = now_s() - p->start;
    if (t < 1.0 || !isatty(2))
        return;
    fprintf(stderr, "\rmoeplan: searching: %ld of %ld GPU counts, %.1f s", done, total, t);
    p->shown = true;
}

static mp_status parse_gpus(const char *text, long *a, long *b, mp_error *err)
{
    if (!text) {
        *a = 1;
        *b = 1024;
        return MP_OK;
    }
    long lo, hi;
    if (!mp_parse_seq_range(text, &lo, &hi) || hi > 1048576)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--gpus: expected a GPU count such as 128 or a range such as 8-1024 (at most 1048576), got '%s'", text);
    *a = lo;
    *b = hi;
    return MP_OK;
}

/* The layout as explain's flags; no --ep or --etp for a model without
 * experts. */
/* "8 GPUs", "1 GPU" or "1-64 GPUs": one count is one number ("128-128
 * GPUs" read as a range). */
static const char *gpu_range(long lo, long hi, char *buf, size_t len)
{
    if (lo == hi)
        snprintf(buf, len, "%ld GPU%s", lo, mp_plural(lo));
    else
        snprintf(buf, len, "%ld-%ld GPUs", lo, hi);
    return buf;
}

static void layout_flags(const mp_layout *l, bool experts, char *buf, size_t len)
{
    char ex[48] = "";
    if (experts)
        snprintf(ex, sizeof ex, " --ep %d --etp %d", l->ep, l->etp);
    /* Selective with modules: the modules are the option's value. */
    char rc[160];
    snprintf(rc, sizeof rc, "%s", mp_recompute_name(l->recompute));
    if (l->recompute == MP_RECOMPUTE_SELECTIVE && l->recompute_modules) {
        rc[0] = 0;
        for (unsigned i = 0; i < 7; i++)
            if (l->recompute_modules & (1u << i)) {
                size_t k = strlen(rc);
                snprintf(rc + k, sizeof rc - k, "%s%s", k ? "," : "", mp_recompute_module_name(1u << i));
            }
    }
    int n = snprintf(buf, len,
                     "--gpus %d --tp %d --cp %d --dp %d --pp %d%s --vpp %d --micro-batch %d --recompute %s%s --zero %d",
                     l->gpus, l->tp, l->cp, l->dp, l->pp, ex, l->vpp, l->micro_batch, rc,
                     l->sequence_parallel ? " --sequence-parallel" : (l->tp > 1 ? " --no-sequence-parallel" : ""),
                     l->zero);
    if (l->shard_group && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " --shard-group %d", l->shard_group);
    if (mp_layout_uneven(l) && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " --pp-first-layers %d --pp-last-layers %d", l->pp_first, l->pp_last);
}

/* A path as one shell word, for the command lines the report suggests:
 * as it is when it has only safe characters, else in single quotes, or in
 * bash's $'...' with \xNN escapes when it holds control characters. */
static const char *shell_word(const char *s, char *buf, size_t len)
{
    if (s[0] && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-+=:,@%") == strlen(s)) {
        snprintf(buf, len, "%s", s);
        return buf;
    }
    bool ctl = false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        ctl |= *p < 0x20 || *p == 0x7F;
    size_t k = 0;
#define PUT(...) do { if (k < len) k += (size_t)snprintf(buf + k, len - k, __VA_ARGS__); } while (0)
    PUT(ctl ? "$'" : "'");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (ctl && (*p < 0x20 || *p == 0x7F || *p == '\\' || *p == '\''))
            PUT("\\x%02x", *p);
        else if (!ctl && *p == '\'')
            PUT("'\\''");
        else
            PUT("%c", *p);
    }
    PUT("'");
#undef PUT
    return buf;
}

/* In words, for the report's headers: what --sort ranks by. */
static const char *sort_words(const char *sort)
{
    return !strcmp(sort, "step")             ? "step time, shortest first"
           : !strcmp(sort, "tokens-per-gpu") ? "tokens/s per GPU"
           : !strcmp(sort, "headroom")       ? "free memory, most first"
                                             : "tokens/s";
}

static json_t *cand_json(const mp_candidate *c, bool experts)
{
    json_t *j = json_pack("{s:o,s:f,s:f,s:f,s:f,s:o,s:o,s:b}", "layout", mp_report_layout_json(&c->lay, experts),
                          "tokens_per_s", c->tokens_per_s, "tokens_per_s_per_gpu", c->tokens_per_s / c->lay.gpus,
                          "step_time_s", c->step_s, "mfu", c->mfu, "memory_per_gpu_bytes",
                          mp_json_count(c->mem_total_bytes), "headroom_bytes", mp_json_count(c->headroom_bytes),
                          "fits", c->fits);
    json_object_set_new(j, "memory_breakdown_bytes",
                        json_pack("{s:o,s:o,s:o,s:o,s:o}", "weights", mp_json_count(c->mem_weights_bytes),
                                  "gradients", mp_json_count(c->mem_grads_bytes), "optimizer",
                                  mp_json_count(c->mem_optim_bytes), "activations", mp_json_count(c->mem_act_bytes),
                                  "other", mp_json_count(c->mem_other_bytes)));
    return j;
}

static json_t *cand_list_json(const mp_candidate *c, size_t n, bool experts)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, cand_json(&c[i], experts));
    return a;
}

/* The pp column: pp, with the first and last ranks' layers for an uneven
 * pipeline ("16(3,2)"). */
static void pp_text(const mp_layout *l, char *buf, size_t n)
{
    if (mp_layout_uneven(l))
        snprintf(buf, n, "%d(%d,%d)", l->pp, l->pp_first, l->pp_last);
    else
        snprintf(buf, n, "%d", l->pp);
}

/* One width of the pp column for every table of a report: 3, or the widest
 * uneven pipeline's text among the n rows. */
static int pp_width(int w, const mp_candidate *c, size_t n)
{
    char buf[32];
    for (size_t i = 0; i < n; i++) {
        pp_text(&c[i].lay, buf, sizeof buf);
        if ((int)strlen(buf) > w)
            w = (int)strlen(buf);
    }
    return w;
}

static void row_header(FILE *f, int ppw)
{
    fprintf(f, "%4s %5s %4s %3s %4s %*s | %3s %4s %4s | %3s %3s %-4s %-2s %-4s | %11s %9s %9s %6s %8s %8s\n", "rank",
            "gpus", "tp", "cp", "dp", ppw, "pp", "etp", "ep", "edp", "vpp", "mb", "rc", "sp", "zero", "tokens/s",
            "tok/s/GPU", "step", "MFU", "mem GB", "free GB");
}

/* plan --simulate K: the best K layouts played out by the simulator with
 * its defaults (10 steps, seed 1, lengths uniform over the workload's
 * range, each token's experts drawn uniformly, the layout's schedule), in
 * order of simulated p50 step time (ties: the search's order). */
typedef struct {
    size_t rank;
    double p50_s, p99_s, mean_s, explain_s;
} sim_row;

static int sim_row_cmp(const void *a, const void *b)
{
    const sim_row *x = a, *y = b;
    if (x->p50_s != y->p50_s)
        return x->p50_s < y->p50_s ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static mp_status simulate_best(const cli_inputs *in, const mp_candidate *best, size_t n, sim_row *rows,
                               mp_error *err)
{
    mp_cost_ctx *c = malloc(sizeof *c);
    if (!c)
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
    mp_status st = MP_OK;
    for (size_t i = 0; i < n && !st; i++) {
        mp_cost_ctx_init(c, &in->model, &in->hw, &in->wl, &best[i].lay, in->wl.seq_max);
        mp_sim_options so;
        mp_sim_options_defaults(&so);
        so.steps = 10;
        so.schedule = mp_schedule_default(&best[i].lay);
        mp_sim_result r;
        if ((st = mp_simulate(c, &so, &r, err)))
            break;
        rows[i] = (sim_row){i, r.step_p50_s, r.step_p99_s, r.step_mean_s, r.explain_step_s};
        mp_sim_result_free(&r);
    }
    free(c);
    if (!st)
        qsort(rows, n, sizeof *rows, sim_row_cmp);
    return st;
}

/* A model without experts shows "-" for etp, ep and edp. */
static void row(FILE *f, long rank, const mp_candidate *c, bool experts, int ppw)
{
    const mp_layout *l = &c->lay;
    char st[32];
    mp_fmt_seconds(c->step_s, st, sizeof st);
    const char *rc = l->recompute == MP_RECOMPUTE_FULL ? "full" : l->recompute == MP_RECOMPUTE_SELECTIVE ? "sel" : "none";
    char z[24];
    if (l->shard_group) /* ZeRO stage : sharding group (HSDP) */
        snprintf(z, sizeof z, "%d:%d", l->zero, l->shard_group);
    else
        snprintf(z, sizeof z, "%d", l->zero);
    char pp[32];
    pp_text(l, pp, sizeof pp);
    char ex[3][16];
    snprintf(ex[0], 16, "%d", l->etp);
    snprintf(ex[1], 16, "%d", l->ep);
    snprintf(ex[2], 16, "%d", l->edp);
    if (!experts)
        for (int i = 0; i < 3; i++)
            snprintf(ex[i], 16, "-");
    fprintf(f, "%4ld %5d %4d %3d %4d %*s | %3s %4s %4s | %3d %3d %-4s %-2s %-4s | %11.0f %9.0f %9s %5.1f%% %8.2f %8.2f\n",
            rank, l->gpus, l->tp, l->cp, l->dp, ppw, pp, ex[0], ex[1], ex[2], l->vpp, l->micro_batch, rc,
            l->sequence_parallel ? "on" : "-", z, c->tokens_per_s,
            c->tokens_per_s / l->gpus, st, 100 * c->mfu, c->mem_total_bytes / 1e9, c->headroom_bytes / 1e9);
}

/* Rows of the report's "most tokens/s per GPU" section. */
#define PER_GPU_ROWS 3

static mp_status setup_search(const cli_opts *o, cli_inputs *in, mp_search_opts *so, mp_error *err)
{
    memset(so, 0, sizeof *so);
    mp_status st = parse_gpus(o->gpus_text, &so->gpus_min, &so->gpus_max, err);
    if (st)
        return st;
    so->headroom = o->has_headroom ? o->headroom : 0;
    if (!o->has_headroom && in->have_plan && in->plan.req.has_headroom)
        so->headroom = in->plan.req.min_headroom;
    so->target_tokens_per_s = o->target_tokens_per_s;
    so->target_step_s = o->target_step_time_s;
    so->sort = !strcmp(o->sort, "step")             ? MP_SORT_STEP
               : !strcmp(o->sort, "tokens-per-gpu") ? MP_SORT_TOKENS_PER_GPU
               : !strcmp(o->sort, "headroom")       ? MP_SORT_HEADROOM
                                                    : MP_SORT_TOKENS;
    so->keep = (size_t)o->top_n;
    so->keep_per_gpu = PER_GPU_ROWS;
    /* Samples are always kept: they are printed with --why-not, or when no
     * layout survives (a layout pinned by flags that breaks a rule). */
    so->why_not_samples = 5;
    so->uneven_pipeline = o->uneven_pipeline;
    so->zero_any = o->zero_any;
    so->fixed = o->layout;
    so->fixed_set = o->set;
    so->fixed_set.gpus = false;
    so->jobs = (int)o->jobs;
    /* Megatron-LM takes the first and last ranks' layers together: one
     * pinned alone would reject every pp as splitting over "0 on the last". */
    if (o->set.pp_first != o->set.pp_last)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--%s needs --%s too: an uneven pipeline names the layers of "
                            "both the first and the last rank",
                            o->set.pp_first ? "pp-first-layers" : "pp-last-layers",
                            o->set.pp_first ? "pp-last-layers" : "pp-first-layers");
    return MP_OK;
}

/* Inputs and search options for plan and bench; *in allocated on success. */
static mp_status prepare(const cli_opts *o, cli_inputs **inp, mp_search_opts *so, mp_error *err)
{
    cli_inputs *in = calloc(1, sizeof *in);
    *inp = NULL;
    if (!in)
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
    mp_status st = cli_load_inputs(o, in, false, err);
    if (!st)
        st = setup_search(o, in, so, err);
    char why[256];
    if (!st && o->set.recompute && o->layout.recompute_modules &&
        !mp_recompute_modules_apply(o->layout.recompute_modules, &in->model, why, sizeof why))
        st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--recompute: %s", why);
    if (st) {
        free(in);
        return st;
    }
    *inp = in;
    return MP_OK;
}

mp_status cmd_plan(const cli_opts *o, FILE *out, mp_error *err)
{
    char gr[48]; /* gpu_range's text */
    cli_inputs *in;
    mp_search_opts so;
    mp_status st = prepare(o, &in, &so, err);
    if (st)
        return st;
    mp_search_result r;
    sim_row *sim = NULL;
    progress_t pg = {now_s(), false};
    st = mp_search_run(&in->model, &in->hw, &in->wl, &so, progress, &pg, &r, err);
    double secs = now_s() - pg.start;
    if (pg.shown)
        fprintf(stderr, "\r\033[K");
    if (st) {
        free(in);
        return st;
    }
    if (r.scored == 0) {
        /* Not one layout passes the rules: with pinned values that is a
         * bad layout, reported like explain's; without, the range is. */
        if (r.n_samples > 0) {
            char line[256];
            mp_report_layout_line(&r.samples[0].lay, r.experts, line, sizeof line);
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                              "no layout on %s passes the rules; first broken: '%s': %s (%s)",
                              gpu_range(so.gpus_min, so.gpus_max, gr, sizeof gr), mp_rule_name(r.samples[0].rule), r.samples[0].why, line);
        } else {
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                              "no layout on %s matches the pinned values: the GPU count must be a multiple "
                              "of tp * cp * pp and cover ep * etp",
                              gpu_range(so.gpus_min, so.gpus_max, gr, sizeof gr));
        }
        goto done;
    }
    long fewest_n = 0;
    if (o->fewest && r.fewest_gpus) {
        /* --fewest-gpus: rank the layouts on the smallest GPU count that
         * fits and meets the targets, instead of over the whole range. */
        mp_search_opts s2 = so;
        s2.gpus_min = s2.gpus_max = r.fewest_gpus;
        mp_search_result r2;
        if ((st = mp_search_run(&in->model, &in->hw, &in->wl, &s2, NULL, NULL, &r2, err)))
            goto done;
        free(r.best);
        r.best = r2.best;
        r.n_best = r2.n_best;
        r2.best = NULL;
        r2.n_best = 0;
        mp_search_free(&r2);
        fewest_n = r.fewest_gpus;
    }
    const mp_candidate *best = r.n_best ? &r.best[0] : NULL;
    if (o->plot_path) {
        FILE *pf = fopen(o->plot_path, "w");
        if (!pf) {
            st = mp_error_set(err, MP_ERR_IO, o->plot_path, 0, 0, "cannot write the plot");
            goto done;
        }
        char title[400];
        snprintf(title, sizeof title, "%s on %s, %s", in->model.name, in->hw.name,
                 gpu_range(so.gpus_min, so.gpus_max, gr, sizeof gr));
        mp_svg_plan(pf, &r, title, in->hw.memory_bytes);
        if (fclose(pf) != 0) {
            st = mp_error_set(err, MP_ERR_IO, o->plot_path, 0, 0, "cannot write the plot");
            goto done;
        }
    }
    bool experts = r.experts;
    bool targets = so.target_tokens_per_s > 0 || so.target_step_s > 0;
    size_t n_sim = o->simulate_k > 0 ? (size_t)o->simulate_k : 0;
    if (n_sim > r.n_best)
        n_sim = r.n_best;
    if (o->simulate_k > 0 && o->format == FMT_CSV) {
        st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--simulate: with --format text or json, not csv");
        goto done;
    }
    if (o->emit && o->format == FMT_CSV) { /* csv has no place for it: refused, not dropped */
        st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--emit %s: with --format text or json, not csv",
                          mp_emit_name(o->emit_kind));
        goto done;
    }
    if (n_sim) {
        sim = calloc(n_sim, sizeof *sim);
        if (!sim) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        if ((st = simulate_best(in, r.best, n_sim, sim, err)))
            goto done;
    }
    if (o->format == FMT_JSON) {
        json_t *j = json_object();
        json_t *rej = json_object();
        for (int i = 1; i < MP_RULE_COUNT; i++)
            if (r.rejected[i])
                json_object_set_new(rej, mp_rule_name((mp_rule)i), json_integer((json_int_t)r.rejected[i]));
        json_object_set_new(j, "search", json_pack("{s:o,s:o,s:i,s:i,s:I,s:I,s:I,s:I,s:o,s:f,s:s}", "model",
                                                   mp_json_text(in->model.name), "hardware",
                                                   mp_json_text(in->hw.name), "gpus_min", (int)so.gpus_min,
                                                   "gpus_max", (int)so.gpus_max, "considered",
                                                   (json_int_t)r.considered, "scored", (json_int_t)r.scored,
                                                   "dominated", (json_int_t)r.dominated, "kept", (json_int_t)r.kept,
                                                   "rejected", rej, "headroom", so.headroom, "sort", o->sort));
        json_object_set_new(j, "best", cand_list_json(r.best, r.n_best, experts));
        json_object_set_new(j, "best_tokens_per_gpu", cand_list_json(r.per_gpu, r.n_per_gpu, experts));
        json_object_set_new(j, "pareto", cand_list_json(r.pareto, r.n_pareto, experts));
        json_object_set_new(j, "pareto_gpus_tokens", cand_list_json(r.front, r.n_front, experts));
        json_object_set_new(j, "fewest_gpus", r.fewest_gpus ? cand_json(&r.fewest, experts) : json_null());
        if (n_sim) {
            json_t *sj = json_array();
            for (size_t i = 0; i < n_sim; i++) {
                json_t *cj = cand_json(&r.best[sim[i].rank], experts);
                json_object_set_new(cj, "best_rank", json_integer((json_int_t)sim[i].rank + 1));
                json_object_set_new(cj, "simulated_p50_s", json_real(sim[i].p50_s));
                json_object_set_new(cj, "simulated_p99_s", json_real(sim[i].p99_s));
                json_object_set_new(cj, "simulated_mean_s", json_real(sim[i].mean_s));
                json_array_append_new(sj, cj);
            }
            json_object_set_new(j, "simulated", sj);
        }
        if (o->emit && best) {
            static char text[MP_EMIT_MAX_BYTES];
            char why[512];
            bool ok = mp_emit(o->emit_kind, &in->model, &in->wl, &best->lay, text, sizeof text, why, sizeof why);
            if (ok && o->emit_kind == MP_EMIT_MEGATRON)
                json_object_set_new(j, "megatron_args", json_string(text));
            json_object_set_new(j, "emit",
                                json_pack("{s:s,s:s,s:o,s:o}", "kind", mp_emit_name(o->emit_kind), "title",
                                          mp_emit_title(o->emit_kind), "text", ok ? json_string(text) : json_null(),
                                          "refused", ok ? json_null() : json_string(why)));
        }
        if (o->why_not || !best) {
            json_t *w = json_array();
            for (size_t i = 0; i < r.n_samples; i++)
            {
                /* Sizes not chosen when the layout was rejected are null
                 * (the ZeRO stage and the sharding group are never unset:
                 * their 0 is a value, as in every other layout object). */
                json_t *lj = mp_report_layout_json(&r.samples[i].lay, experts);
                const char *k;
                json_t *v;
                json_object_foreach(lj, k, v) {
                    if (json_is_integer(v) && json_integer_value(v) == 0 && strcmp(k, "zero") && strcmp(k, "shard_group"))
                        json_object_set_new(lj, k, json_null());
                }
                json_array_append_new(w, json_pack("{s:s,s:o,s:s}", "rule", mp_rule_name(r.samples[i].rule), "layout",
                                                   lj, "why", r.samples[i].why));
            }
            json_object_set_new(j, "why_not", w);
        }
        mp_report_json_write(out, j);
        json_decref(j);
        goto done;
    }
    if (o->format == FMT_CSV) {
        /* The columns are listed in moeplan(1), "plan --format csv"; a test
         * compares that list with this header.  A model without experts
         * leaves etp, ep and edp empty. */
        fprintf(out, "rank,gpus,tp,cp,dp,pp,etp,ep,edp,vpp,micro_batch,num_micro_batches,recompute,sequence_parallel,"
                     "distributed_optimizer,tokens_per_s,tokens_per_s_per_gpu,step_time_s,mfu,memory_per_gpu_bytes,"
                     "headroom_bytes,pareto,pp_first_layers,pp_last_layers,zero,shard_group\n");
        for (size_t i = 0; i < r.n_best; i++) {
            const mp_candidate *c = &r.best[i];
            const mp_layout *l = &c->lay;
            bool on_front = false;
            for (size_t k = 0; k < r.n_pareto && !on_front; k++)
                on_front = !memcmp(&r.pareto[k].lay, l, sizeof *l);
            char ex[48] = ",,";
            if (experts)
                snprintf(ex, sizeof ex, "%d,%d,%d", l->etp, l->ep, l->edp);
            /* Byte counts rounded as the JSON's are (mp_json_count: half
             * away from zero; printf's %.0f rounds half to even, a byte
             * apart on an exact .5). */
            fprintf(out, "%zu,%d,%d,%d,%d,%d,%s,%d,%d,%d,%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%lld,%lld,%d,%d,%d,%d,%d\n", i + 1,
                    l->gpus, l->tp, l->cp, l->dp, l->pp, ex, l->vpp, l->micro_batch, l->num_micro_batches,
                    mp_recompute_name(l->recompute), l->sequence_parallel, l->zero >= 1, c->tokens_per_s,
                    c->tokens_per_s / l->gpus, c->step_s, c->mfu, (long long)llround(c->mem_total_bytes),
                    (long long)llround(c->headroom_bytes), on_front, l->pp_first, l->pp_last, l->zero, l->shard_group);
        }
        goto done;
    }
    {
        char mname[600], hname[600];
        fprintf(out, "moeplan plan: %s on %s, %s, batch %ld x %ld tokens (memory at %ld)\n",
                mp_report_escape(in->model.name, mname, sizeof mname), mp_report_escape(in->hw.name, hname, sizeof hname),
                gpu_range(so.gpus_min, so.gpus_max, gr, sizeof gr), in->wl.global_batch, in->wl.seq_max, in->wl.seq_max);
    }
    /* %.4g: --headroom 0.5% printed "fit with 0% headroom" (%.0f), 12.5% as 12%. */
    fprintf(out, "layouts: %zu considered, %zu scored by the cost model, %zu kept (fit with %.4g%% headroom%s)\n",
            r.considered, r.scored, r.kept, 100 * so.headroom, targets ? " and meet the targets" : "");
    fprintf(out, "rejected:");
    bool anyrej = false;
    for (int i = 1; i < MP_RULE_COUNT; i++)
        if (r.rejected[i]) {
            fprintf(out, "%s %s %zu", anyrej ? "," : "", mp_rule_name((mp_rule)i), r.rejected[i]);
            anyrej = true;
        }
    fprintf(out, "%s\n", anyrej ? "" : " none");
    if (r.dominated)
        fprintf(out, "dominated, not scored: %zu (distributed optimizer off: more memory, no faster)\n", r.dominated);
    if (!best) {
        fprintf(out, "\nNo layout fits%s. Try more GPUs, --recompute full, or --why-not.\n",
                targets ? " and meets the targets" : "");
    } else {
        /* What a user with GPUs to spare asks first: how few GPUs will do,
         * which layouts use each GPU best, and what more GPUs buy (the
         * front).  The full ranking by --sort comes after. */
        const char *kept_words = targets ? "fit and meet the targets" : "fit";
        int ppw = pp_width(3, &r.fewest, r.fewest_gpus ? 1 : 0);
        ppw = pp_width(ppw, r.per_gpu, r.n_per_gpu);
        ppw = pp_width(ppw, r.front, r.n_front);
        ppw = pp_width(ppw, r.best, r.n_best);
        if (r.fewest_gpus && !fewest_n) {
            fprintf(out, "\nFewest GPUs that %s: %ld (the best layout there by %s)\n", kept_words, r.fewest_gpus,
                    sort_words(o->sort));
            row_header(out, ppw);
            row(out, 1, &r.fewest, experts, ppw);
        }
        if (r.n_per_gpu && strcmp(o->sort, "tokens-per-gpu")) {
            fprintf(out, "\nMost tokens/s per GPU: the best %zu on %s (ties: fewer GPUs, then less memory)\n",
                    r.n_per_gpu, gpu_range(so.gpus_min, so.gpus_max, gr, sizeof gr));
            row_header(out, ppw);
            for (size_t i = 0; i < r.n_per_gpu; i++)
                row(out, (long)i + 1, &r.per_gpu[i], experts, ppw);
        }
        if (r.n_front) {
            /* By default one row per doubling of GPUs (the first at or
             * above twice the last shown) and the last row, so that the
             * section stays short over a wide range. */
            bool all = o->pareto || r.n_front <= 12;
            if (all)
                fprintf(out, "\nPareto front, GPUs vs tokens/s: %zu layout%s, each the fastest on its GPU count and "
                             "faster than any on fewer GPUs\n", r.n_front, mp_plural((long long)r.n_front));
            else
                fprintf(out, "\nPareto front, GPUs vs tokens/s: %zu layouts, each the fastest on its GPU count and "
                             "faster than any on fewer GPUs;\nshown: one per doubling of GPUs and the last "
                             "(--pareto lists all %zu)\n", r.n_front, r.n_front);
            row_header(out, ppw);
            long next = 0;
            for (size_t i = 0; i < r.n_front; i++) {
                const mp_candidate *c = &r.front[i];
                if (!all && i + 1 < r.n_front && c->lay.gpus < next)
                    continue;
                next = 2L * c->lay.gpus;
                row(out, (long)i + 1, c, experts, ppw);
            }
        }
        if (fewest_n)
            fprintf(out, "\nBest %zu by %s (--sort %s) on the fewest GPUs that %s (%ld):\n", r.n_best,
                    sort_words(o->sort), o->sort, kept_words, fewest_n);
        else
            fprintf(out, "\nBest %zu of %zu by %s (--sort %s; ties: fewer GPUs, then less memory):\n", r.n_best,
                    r.kept, sort_words(o->sort), o->sort);
        row_header(out, ppw);
        for (size_t i = 0; i < r.n_best; i++)
            row(out, (long)i + 1, &r.best[i], experts, ppw);
        if (o->pareto) {
            fprintf(out, "\nPareto front over GPUs, tokens/s and memory: %zu layout%s (JSON key pareto)\n", r.n_pareto,
                    mp_plural((long long)r.n_pareto));
        }
        if (n_sim) {
            fprintf(out, "\nThe best %zu re-ranked by simulated p50 step (moeplan simulate: 10 steps, seed 1, lengths "
                         "uniform over %ld-%ld tokens, experts drawn uniformly):\n",
                    n_sim, in->wl.seq_min, in->wl.seq_max);
            fprintf(out, "%4s %4s %5s %4s %3s %4s %*s | %3s %4s %4s | %3s %3s | %10s %10s %10s %8s\n", "sim", "rank",
                    "gpus", "tp", "cp", "dp", ppw, "pp", "etp", "ep", "edp", "vpp", "mb", "explain", "sim p50", "sim p99",
                    "p50/expl");
            for (size_t i = 0; i < n_sim; i++) {
                const mp_layout *l = &r.best[sim[i].rank].lay;
                char a[32], b[32], c[32];
                mp_fmt_seconds(sim[i].explain_s, a, sizeof a);
                mp_fmt_seconds(sim[i].p50_s, b, sizeof b);
                mp_fmt_seconds(sim[i].p99_s, c, sizeof c);
                char pp[32];
                pp_text(l, pp, sizeof pp);
                if (experts)
                    fprintf(out, "%4zu %4zu %5d %4d %3d %4d %*s | %3d %4d %4d | %3d %3d | %10s %10s %10s %8.3f\n",
                            i + 1, sim[i].rank + 1, l->gpus, l->tp, l->cp, l->dp, ppw, pp, l->etp, l->ep, l->edp,
                            l->vpp, l->micro_batch, a, b, c, sim[i].p50_s / sim[i].explain_s);
                else
                    fprintf(out, "%4zu %4zu %5d %4d %3d %4d %*s | %3s %4s %4s | %3d %3d | %10s %10s %10s %8.3f\n",
                            i + 1, sim[i].rank + 1, l->gpus, l->tp, l->cp, l->dp, ppw, pp, "-", "-", "-", l->vpp,
                            l->micro_batch, a, b, c, sim[i].p50_s / sim[i].explain_s);
            }
        }
        char flags[512], q[3000];
        layout_flags(&best->lay, experts, flags, sizeof flags);
        fprintf(out, "\nExplain the best by %s: moeplan explain", sort_words(o->sort));
        if (o->plan_path)
            fprintf(out, " --plan %s", shell_word(o->plan_path, q, sizeof q));
        if (o->model_path)
            fprintf(out, " --model %s", shell_word(o->model_path, q, sizeof q));
        if (o->hardware_path)
            fprintf(out, " --hardware %s", shell_word(o->hardware_path, q, sizeof q));
        if (o->workload_path)
            fprintf(out, " --workload %s", shell_word(o->workload_path, q, sizeof q));
        if (o->global_batch > 0)
            fprintf(out, " --global-batch %ld", o->global_batch);
        if (o->seq_text)
            fprintf(out, " --seq-len %s", shell_word(o->seq_text, q, sizeof q));
        fprintf(out, " %s\n", flags);
        if (o->emit) {
            static char text[MP_EMIT_MAX_BYTES];
            char why[512];
            if (mp_emit(o->emit_kind, &in->model, &in->wl, &best->lay, text, sizeof text, why, sizeof why))
                fprintf(out, "\n%s for rank 1:\n%s", mp_emit_title(o->emit_kind), text);
            else
                fprintf(out, "\n%s: rank 1 is not a layout %s runs: %s\n", mp_emit_title(o->emit_kind),
                        mp_emit_name(o->emit_kind), why);
        }
    }
    if (o->why_not || !best) {
        fprintf(out, "\nWhy not (up to 5 examples per rule):\n");
        for (size_t i = 0; i < r.n_samples; i++) {
            char line[256];
            mp_report_layout_line(&r.samples[i].lay, experts, line, sizeof line);
            fprintf(out, "  %-20s gpus %-5d %s: %s\n", mp_rule_name(r.samples[i].rule), r.samples[i].lay.gpus, line,
                    r.samples[i].why);
        }
    }
done:
    free(sim);
    if (!st)
        fprintf(stderr, "moeplan: searched %zu layout%s in %.3f s (%.0f scored per second)\n", r.considered,
                mp_plural((long long)r.considered), secs, secs > 0 ? r.scored / secs : 0.0);
    mp_search_free(&r);
    free(in);
    return st;
}

mp_status cmd_bench(const cli_opts *o, FILE *out, mp_error *err)
{
    cli_inputs *in;
    mp_search_opts so;
    mp_status st = prepare(o, &in, &so, err);
    if (st)
        return st;
    double best = 1e30, total = 0;
    size_t scored = 0, considered = 0;
    for (long i = 0; i < o->bench_reps; i++) {
        mp_search_result r;
        double t0 = now_s();
        st = mp_search_run(&in->model, &in->hw, &in->wl, &so, NULL, NULL, &r, err);
        double t = now_s() - t0;
        if (st)
            break;
        scored = r.scored;
        considered = r.considered;
        mp_search_free(&r);
        if (t < best)
            best = t;
        total += t;
    }
    if (!st && o->format == FMT_JSON) {
        json_t *j = json_pack("{s:o,s:o,s:i,s:i,s:i,s:i,s:I,s:I,s:f,s:f,s:f,s:f}", "model", mp_json_text(in->model.name),
                              "hardware", mp_json_text(in->hw.name), "gpus_min", (int)so.gpus_min, "gpus_max", (int)so.gpus_max,
                              "jobs", so.jobs, "repetitions", (int)o->bench_reps, "considered", (json_int_t)considered, "scored", (json_int_t)scored,
                              "best_s", best, "mean_s", total / o->bench_reps, "scored_per_s", scored / best,
                              "considered_per_s", considered / best);
        mp_report_json_write(out, j);
        json_decref(j);
    } else if (!st) {
        char mname[600], hname[600];
        fprintf(out, "bench: %s on %s, GPUs %ld-%ld, %d job%s, %ld repetition%s\n",
                mp_report_escape(in->model.name, mname, sizeof mname), mp_report_escape(in->hw.name, hname, sizeof hname),
                so.gpus_min, so.gpus_max, so.jobs, so.jobs == 1 ? "" : "s", o->bench_reps,
                o->bench_reps == 1 ? "" : "s");
        fprintf(out, "  layouts considered   %zu\n  layouts scored       %zu\n", considered, scored);
        fprintf(out, "  wall time            best %.4f s, mean %.4f s\n", best, total / o->bench_reps);
        fprintf(out, "  scored per second    %.0f (best run)\n  considered per sec   %.0f (best run)\n",
                scored / best, considered / best);
    }
    free(in);
    return st;
}
