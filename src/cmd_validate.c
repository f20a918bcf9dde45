/* moeplan validate: every published, measured run of a runs file (the
 * schema of validate/runs/README.md) predicted by the cost model and
 * compared, with the error statistics dense and MoE apart.
 *
 *   moeplan validate --runs FILE [--hardware-dir DIR] [--format text|json]
 *   moeplan validate --runs FILE --explain ID [--ops]: one record, with
 *     explain's report of what moeplan priced for it (why is it off?)
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "moeplan/cost.h"
#include "moeplan/error.h"
#include "moeplan/report.h"
#include "moeplan/runs.h"
#include "moeplan/units.h"

static const char *basis_name(mp_measured_basis b)
{
    switch (b) {
    case MP_MEASURED_TIME: return "iteration time";
    case MP_MEASURED_TOKENS: return "tokens/s";
    case MP_MEASURED_TFLOPS_EQ: return "TFLOP/s, eq. 3"; /* Narayanan et al. 2021, eq. (3) */
    case MP_MEASURED_TFLOPS: return "model TFLOP/s";
    case MP_MEASURED_MFU: return "MFU";
    case MP_MEASURED_LAYER: return "one layer";
    case MP_MEASURED_NONE: break;
    }
    return "-";
}

typedef struct {
    double *err[3];     /* [dense, moe, all] step-time errors */
    int n[3];
    double *mem[3];
    int nm[3];
    double *layer[3];   /* layer benchmarks [dense, moe, all]: forward and backward errors, apart */
    int nl[3];
} stats_acc;

static void acc_add(double **v, int *n, double x)
{
    (*v)[(*n)++] = x;
}

static json_t *stats_json(const double *e, int n)
{
    mp_error_stats s;
    if (n == 0) /* no statistic of nothing: null, not a 0% error */
        return json_pack("{s:i,s:n,s:n,s:n,s:n}", "n", 0, "median_abs", "mean_abs", "max_abs", "median_signed");
    mp_error_stats_of(e, n, &s);
    return json_pack("{s:i,s:f,s:f,s:f,s:f}", "n", n, "median_abs", s.median_abs, "mean_abs", s.mean_abs,
                     "max_abs", s.max_abs, "median_signed", s.median_signed);
}

static void stats_line(FILE *f, const char *label, const double *e, int n)
{
    mp_error_stats s;
    mp_error_stats_of(e, n, &s);
    if (n == 0) {
        fprintf(f, "  %-22s %4d\n", label, 0);
        return;
    }
    fprintf(f, "  %-22s %4d %10.1f%% %10.1f%% %10.1f%% %+13.1f%%\n", label, n, 100 * s.median_abs, 100 * s.mean_abs,
            100 * s.max_abs, 100 * s.median_signed);
}

static const char *const set_names[3] = {"dense", "moe", "all"};

/* The id column of a text table: 52 characters, or the longest id it
 * lists where that is longer (a layer benchmark's id runs to 59), so the
 * columns after it stay aligned.  Which records: 0 the evaluated step
 * times (and the memory rows, a subset), 1 the layer benchmarks, 2 the
 * skipped. */
enum { ID_WIDTH_MIN = 52 };
static int id_width(const mp_run *runs, size_t n, int which)
{
    size_t w = ID_WIDTH_MIN;
    for (size_t i = 0; i < n; i++) {
        const mp_run *r = &runs[i];
        int k = r->skip[0] ? 2 : r->layer_bench ? 1 : 0;
        if (k == which && strlen(r->id) > w)
            w = strlen(r->id);
    }
    return (int)w;
}

enum { O_RUNS = 256, O_HWDIR, O_FORMAT, O_EXPLAIN, O_OPS };
static const struct option validate_options[] = {
    {"runs", required_argument, 0, O_RUNS},
    {"hardware-dir", required_argument, 0, O_HWDIR},
    {"format", required_argument, 0, O_FORMAT},
    {"explain", required_argument, 0, O_EXPLAIN},
    {"ops", no_argument, 0, O_OPS},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};
static const char *const validate_help[] = {
    "FILE.yaml: measured runs (the schema of validate/runs/README.md)",
    "DIR: hardware files, one per GPU (default: the shipped plans/hardware)",
    "text|json: report format",
    "ID: one record only: its measured and predicted step, its assumptions and explain's report of what was priced",
    ": with --explain, every op of every block (as explain --ops)",
    ": this help (also -h)",
};

static mp_status cmd_validate(int argc, char **argv, FILE *out, mp_error *err, int *failed);

const cli_command cmd_validate_def = {
    "validate", validate_options, validate_help,
    "validate --runs FILE.yaml [OPTIONS]: predict every measured run of FILE and compare: id, measured, predicted, "
    "error, dominant term; then median, mean and max |error| and the median signed error, dense and MoE apart; "
    "records that cannot be evaluated are listed with the reason",
    cmd_validate,
};

/* A record's fields in JSON, shared by the table and --explain: id, type,
 * GPU, hardware file, the measured and predicted step, the error and the
 * assumptions. */
static json_t *record_json(const mp_run *r, const mp_run_result *res)
{
    json_t *a = json_array();
    for (int k = 0; k < r->n_assumptions; k++)
        json_array_append_new(a, json_string(r->assumptions[k]));
    if (r->layer_bench)
        return json_pack("{s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:o}", "id", r->id, "type",
                         r->moe ? "moe" : "dense", "gpu", r->gpu, "hardware_file", r->hardware_file, "measured_fwd_s",
                         r->measured_fwd_s, "measured_bwd_s", r->measured_bwd_s, "predicted_fwd_s",
                         res->predicted_fwd_s, "predicted_bwd_s", res->predicted_bwd_s, "fwd_error", res->fwd_error,
                         "bwd_error", res->bwd_error, "measured_s", res->measured_step_s, "predicted_s",
                         res->predicted_step_s, "error", res->error, "assumptions", a);
    return json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:f,s:f,s:o}", "id", r->id, "type", r->moe ? "moe" : "dense", "gpu",
                     r->gpu, "hardware_file", r->hardware_file, "measured_step_s", res->measured_step_s,
                     "measured_basis", basis_name(r->basis), "predicted_step_s", res->predicted_step_s, "error",
                     res->error, "assumptions", a);
}

/* --explain ID: the record's measured and predicted step and its
 * assumptions, then explain's report of the model, layout and hardware it
 * was priced with (the same cost model call as mp_run_evaluate). */
static mp_status explain_one(FILE *out, const char *runs_path, const mp_run *runs, size_t n, const char *id,
                             out_format fmt, bool ops, mp_error *err)
{
    const mp_run *r = NULL;
    for (size_t i = 0; i < n && !r; i++)
        if (!strcmp(runs[i].id, id))
            r = &runs[i];
    if (!r) {
        const char **ids = malloc((n + 1) * sizeof *ids);
        if (!ids)
            return mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        for (size_t i = 0; i < n; i++)
            ids[i] = runs[i].id;
        const char *near = mp_did_you_mean(id, ids, n);
        mp_status st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--explain: no record '%s' in %s%s%s%s", id,
                                    runs_path, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        free(ids);
        return st;
    }
    if (r->skip[0])
        return mp_error_set(err, MP_ERR_INPUT, runs_path, r->line, 1, "--explain: record '%s' is not evaluated: %s", id,
                            r->skip);
    mp_run_result res;
    mp_run_evaluate(r, &res);
    mp_cost_ctx c;
    mp_cost cost;
    mp_cost_ctx_init(&c, &r->model, &r->hw, &r->wl, &r->lay, r->seq_len);
    mp_cost_evaluate(&c, &cost);
    if (fmt == FMT_JSON) {
        json_t *j = record_json(r, &res);
        if (!j)
            return mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        json_object_set_new(j, "line", json_integer(r->line));
        json_object_set_new(j, "explain", mp_report_explain_json(&c, &cost, ops));
        mp_report_json_write(out, j);
        json_decref(j);
        return MP_OK;
    }
    char m[32], p[32];
    mp_fmt_seconds(res.measured_step_s, m, sizeof m);
    mp_fmt_seconds(res.predicted_step_s, p, sizeof p);
    fprintf(out, "moeplan validate: %s (%s:%d), %s\n", r->id, runs_path, r->line, r->gpu);
    if (r->layer_bench) {
        char mf[32], mb[32], pf[32], pb[32];
        mp_fmt_seconds(r->measured_fwd_s, mf, sizeof mf);
        mp_fmt_seconds(r->measured_bwd_s, mb, sizeof mb);
        mp_fmt_seconds(res.predicted_fwd_s, pf, sizeof pf);
        mp_fmt_seconds(res.predicted_bwd_s, pb, sizeof pb);
        fprintf(out, "one layer, one micro-batch: forward measured %s, predicted %s, error %+.1f%%; backward "
                     "measured %s, predicted %s, error %+.1f%% (predicted / measured - 1)\n",
                mf, pf, 100 * res.fwd_error, mb, pb, 100 * res.bwd_error);
        if (r->moe_layer_only)
            fprintf(out, "(the report below prices the whole one-layer model: the layer's ops are its [moe-mlp] block "
                         "without pre-mlp-norm and mlp-residual; nothing else was timed)\n");
        else {
            mp_layer_class q = mp_cost_layer_class(&c, 0);
            fprintf(out, "(the report below prices the whole one-layer model: the layer's ops are its [%s] and [%s] "
                         "blocks; the embedding and output layer were not timed)\n",
                    mp_block_name((q & 2) ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN),
                    mp_block_name((q & 1) ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP));
        }
    } else {
        fprintf(out, "measured %s (%s), predicted %s, error %+.1f%% (predicted / measured - 1)\n", m,
                basis_name(r->basis), p, 100 * res.error);
    }
    if (r->n_assumptions) {
        fprintf(out, "what the record did not say, and what validate took\n");
        for (int k = 0; k < r->n_assumptions; k++)
            fprintf(out, "  - %s\n", r->assumptions[k]);
    }
    fprintf(out, "\n");
    char what[300];
    snprintf(what, sizeof what, "%s (record %s)", runs_path, r->id);
    mp_sources src = {what, r->hardware_file, what};
    mp_report_explain_text(out, &c, &cost, &src, ops);
    return MP_OK;
}

static mp_status cmd_validate(int argc, char **argv, FILE *out, mp_error *err, int *failed)
{
    const char *runs_path = NULL, *hw_dir = NULL, *explain_id = NULL;
    bool ops = false;
    out_format fmt = FMT_TEXT;
    opterr = 0;
    optind = 1;
    int ch, longi;
    while ((ch = getopt_long(argc, argv, ":h", validate_options, &longi)) != -1) {
        switch (ch) {
        case O_RUNS: runs_path = optarg; break;
        case O_HWDIR: hw_dir = optarg; break;
        case O_EXPLAIN: explain_id = optarg; break;
        case O_OPS: ops = true; break;
        case O_FORMAT: {
            mp_status fs = cli_format_text_json(optarg, &fmt, err);
            if (fs)
                return fs;
            break;
        }
        case 'h':
            cli_command_help(out, &cmd_validate_def);
            return MP_OK;
        default:
            return cli_getopt_error(ch, argv, "validate", err);
        }
    }
    if (optind < argc)
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "unexpected argument '%s'; see moeplan validate --help",
                            argv[optind]);
    if (!runs_path)
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "validate needs --runs FILE.yaml; see moeplan validate --help");
    char hwbuf[1024];
    if (!hw_dir) {
        mp_status st = cli_find_default("hardware", hwbuf, sizeof hwbuf, err);
        if (st)
            return st;
        hw_dir = hwbuf;
    }
    mp_run *runs;
    size_t n;
    if (ops && !explain_id)
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--ops goes with --explain ID (one record's ops)");
    mp_status st = mp_runs_load(runs_path, hw_dir, &runs, &n, err);
    if (st)
        return st;
    if (explain_id) {
        st = explain_one(out, runs_path, runs, n, explain_id, fmt, ops, err);
        free(runs);
        return st;
    }
    stats_acc acc;
    memset(&acc, 0, sizeof acc);
    for (int i = 0; i < 3; i++) {
        acc.err[i] = calloc(n + 1, sizeof(double));
        acc.mem[i] = calloc(n + 1, sizeof(double));
        if (!acc.err[i] || !acc.mem[i]) {
            st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            goto done;
        }
    }
    for (int i = 0; i < 3; i++)
        acc.layer[i] = calloc(2 * n + 1, sizeof(double));
    mp_run_result *res = calloc(n + 1, sizeof *res);
    if (!res || !acc.layer[0] || !acc.layer[1] || !acc.layer[2]) {
        st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    int evaluated = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (runs[i].skip[0]) {
            skipped++;
            continue;
        }
        mp_run_evaluate(&runs[i], &res[i]);
        evaluated++;
        int set = runs[i].moe ? 1 : 0;
        if (runs[i].layer_bench) {
            int sets[2] = {set, 2}; /* its class, and all */
            for (int k = 0; k < 2; k++) {
                acc_add(&acc.layer[sets[k]], &acc.nl[sets[k]], res[i].fwd_error);
                acc_add(&acc.layer[sets[k]], &acc.nl[sets[k]], res[i].bwd_error);
            }
            continue;
        }
        acc_add(&acc.err[set], &acc.n[set], res[i].error);
        acc_add(&acc.err[2], &acc.n[2], res[i].error);
        if (runs[i].measured_memory_bytes > 0) {
            acc_add(&acc.mem[set], &acc.nm[set], res[i].memory_error);
            acc_add(&acc.mem[2], &acc.nm[2], res[i].memory_error);
        }
    }
    if (fmt == FMT_JSON) {
        json_t *j = json_object(), *arr = json_array(), *sk = json_array(), *lay = json_array();
        json_object_set_new(j, "runs_file", json_string(runs_path));
        json_object_set_new(j, "hardware_dir", json_string(hw_dir));
        for (size_t i = 0; i < n; i++) {
            const mp_run *r = &runs[i];
            if (r->skip[0]) {
                json_array_append_new(sk, json_pack("{s:s,s:i,s:s}", "id", r->id, "line", r->line, "reason", r->skip));
                continue;
            }
            json_t *o = record_json(r, &res[i]);
            if (r->layer_bench) {
                json_array_append_new(lay, o);
                continue;
            }
            json_object_set_new(o, "dominant", json_string(res[i].dominant));
            json_object_set_new(o, "dominant_fraction", json_real(res[i].dominant_fraction));
            if (r->measured_memory_bytes > 0) {
                json_object_set_new(o, "measured_memory_bytes", mp_json_count(r->measured_memory_bytes));
                json_object_set_new(o, "predicted_memory_bytes", mp_json_count(res[i].predicted_memory_bytes));
                json_object_set_new(o, "memory_error", json_real(res[i].memory_error));
            }
            json_array_append_new(arr, o);
        }
        json_object_set_new(j, "evaluated", arr);
        json_object_set_new(j, "layer_benchmarks", lay);
        json_t *lsum = json_object(); /* as the text's dense, moe, all rows */
        for (int s = 0; s < 3; s++)
            json_object_set_new(lsum, set_names[s], stats_json(acc.layer[s], acc.nl[s]));
        json_object_set_new(j, "layer_time_error", lsum);
        json_object_set_new(j, "skipped", sk);
        json_t *sum = json_object(), *msum = json_object();
        for (int s = 0; s < 3; s++) {
            json_object_set_new(sum, set_names[s], stats_json(acc.err[s], acc.n[s]));
            json_object_set_new(msum, set_names[s], stats_json(acc.mem[s], acc.nm[s]));
        }
        json_object_set_new(j, "step_time_error", sum);
        json_object_set_new(j, "memory_error", msum);
        char *txt = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        json_decref(j);
        if (!txt) {
            st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        } else {
            fprintf(out, "%s\n", txt);
            free(txt);
        }
    } else {
        fprintf(out, "moeplan validate: %zu records in %s (hardware files from %s): %d evaluated, %d skipped\n\n",
                n, runs_path, hw_dir, evaluated, skipped);
        int wid = id_width(runs, n, 0);
        fprintf(out, "%-*s %-5s %12s %-14s %12s %8s  %s\n", wid, "id", "type", "measured", "(basis)", "predicted",
                "error", "dominant term");
        for (size_t i = 0; i < n; i++) {
            const mp_run *r = &runs[i];
            if (r->skip[0] || r->layer_bench)
                continue;
            char m[32], p[32];
            mp_fmt_seconds(res[i].measured_step_s, m, sizeof m);
            mp_fmt_seconds(res[i].predicted_step_s, p, sizeof p);
            fprintf(out, "%-*s %-5s %12s %-14s %12s %+7.1f%%  %s %.0f%%\n", wid, r->id, r->moe ? "moe" : "dense", m,
                    basis_name(r->basis), p, 100 * res[i].error, res[i].dominant, 100 * res[i].dominant_fraction);
        }
        bool any_mem = acc.nm[2] > 0;
        if (any_mem) {
            fprintf(out, "\nMemory per GPU (torch max allocated against weights + gradients + optimizer + "
                         "activations + buffers)\n");
            for (size_t i = 0; i < n; i++) {
                const mp_run *r = &runs[i];
                if (r->skip[0] || r->measured_memory_bytes <= 0)
                    continue;
                char m[32], p[32];
                mp_fmt_bytes(r->measured_memory_bytes, m, sizeof m);
                mp_fmt_bytes(res[i].predicted_memory_bytes, p, sizeof p);
                fprintf(out, "%-*s %-5s %12s %-14s %12s %+7.1f%%\n", wid, r->id, r->moe ? "moe" : "dense", m,
                        r->memory_last_rank ? "(last rank)" : "(max)", p, 100 * res[i].memory_error);
            }
        }
        if (acc.nl[2]) {
            fprintf(out, "\nOne layer, one micro-batch (training_layer_microbench: forward and backward against the "
                         "cost model's time of that layer)\n");
            int lw = id_width(runs, n, 1);
            fprintf(out, "%-*s %-5s %10s %10s %8s %10s %10s %8s\n", lw, "id", "type", "fwd meas.", "predicted", "error",
                    "bwd meas.", "predicted", "error");
            for (size_t i = 0; i < n; i++) {
                const mp_run *r = &runs[i];
                if (r->skip[0] || !r->layer_bench)
                    continue;
                char mf[32], pf[32], mb[32], pb[32];
                mp_fmt_seconds(r->measured_fwd_s, mf, sizeof mf);
                mp_fmt_seconds(res[i].predicted_fwd_s, pf, sizeof pf);
                mp_fmt_seconds(r->measured_bwd_s, mb, sizeof mb);
                mp_fmt_seconds(res[i].predicted_bwd_s, pb, sizeof pb);
                fprintf(out, "%-*s %-5s %10s %10s %+7.1f%% %10s %10s %+7.1f%%\n", lw, r->id, r->moe ? "moe" : "dense",
                        mf, pf, 100 * res[i].fwd_error, mb, pb, 100 * res[i].bwd_error);
            }
        }
        if (skipped) {
            fprintf(out, "\nSkipped (%d): not evaluated, and why\n", skipped);
            for (size_t i = 0; i < n; i++)
                if (runs[i].skip[0])
                    fprintf(out, "  %-*s %s\n", id_width(runs, n, 2), runs[i].id, runs[i].skip);
        }
        fprintf(out, "\nStep time: error = predicted / measured - 1 (negative: predicted too fast)\n");
        fprintf(out, "  %-22s %4s %11s %11s %11s %14s\n", "", "n", "median|e|", "mean|e|", "max|e|", "median signed");
        for (int s = 0; s < 3; s++)
            stats_line(out, set_names[s], acc.err[s], acc.n[s]);
        if (any_mem) {
            fprintf(out, "Memory per GPU\n");
            for (int s = 0; s < 3; s++)
                stats_line(out, set_names[s], acc.mem[s], acc.nm[s]);
        }
        if (acc.nl[2]) {
            fprintf(out, "One layer (forward and backward, each an entry)\n");
            for (int s = 0; s < 3; s++)
                stats_line(out, set_names[s], acc.layer[s], acc.nl[s]);
        }
    }
    free(res);
done:
    for (int i = 0; i < 3; i++) {
        free(acc.err[i]);
        free(acc.mem[i]);
    }
    for (int i = 0; i < 3; i++)
        free(acc.layer[i]);
    free(runs);
    return st;
}
