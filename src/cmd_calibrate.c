/* moeplan calibrate: fit named, bounded parameters of a hardware file's
 * efficiency model to measured runs on that hardware, write the fitted
 * file, and report the in-sample and the k-fold cross-validated errors.
 *
 *   moeplan calibrate --runs FILE --hardware BASE.yaml [-o OUT.yaml]
 *                     [--fit KEY,KEY,...] [--folds K] [--format text|json]
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "moeplan/calibrate.h"
#include "moeplan/megatron_log.h"
#include "moeplan/runs.h"
#include "moeplan/measure.h"
#include "moeplan/run.h"
#include "moeplan/units.h"
#include "moeplan/world.h"

enum { O_RUNS = 256, O_HW, O_OUT, O_FIT, O_FOLDS, O_FORMAT, O_HWDIR, O_EXCLUDE, O_MLOG, O_PLAN, O_MEASURE, O_BACKEND };
static const struct option calibrate_options[] = {
    {"runs", required_argument, 0, O_RUNS},
    {"hardware", required_argument, 0, O_HW},
    {"output", required_argument, 0, O_OUT},
    {"fit", required_argument, 0, O_FIT},
    {"folds", required_argument, 0, O_FOLDS},
    {"hardware-dir", required_argument, 0, O_HWDIR},
    {"exclude", required_argument, 0, O_EXCLUDE},
    {"megatron-log", required_argument, 0, O_MLOG},
    {"plan", required_argument, 0, O_PLAN},
    {"measure", no_argument, 0, O_MEASURE},
    {"backend", required_argument, 0, O_BACKEND},
    {"format", required_argument, 0, O_FORMAT},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};
static const char *const calibrate_help[] = {
    "FILE.yaml: measured runs (the schema of validate/runs/README.md)",
    "BASE.yaml: the hardware file to start from; runs on its GPU are used",
    "OUT.yaml: where to write the fitted hardware file (also -o)",
    "KEY,...: parameters to fit (default gemm_efficiency,attention_fwd_efficiency,intra_node_efficiency)",
    "K: cross-validation folds, 2-20 (default 5)",
    "DIR: hardware files for reading the runs (default: the shipped plans/hardware)",
    "ID,...: runs left out of the fit (ids or prefixes ending in *); still reported",
    "LOG: a Megatron-LM training log of your own run (with --plan: its model, layout and workload)",
    "PLAN.yaml: the plan file of the run the --megatron-log comes from (--measure: whose shapes to add)",
    ": measure the backend's GEMM rates, memory bandwidth and attention into the file's tables",
    "cpu|cuda: the backend --measure runs on (default cpu)",
    "text|json: report format",
    ": this help (also -h)",
};

static mp_status cmd_calibrate(int argc, char **argv, FILE *out, mp_error *err, int *failed);

const cli_command cmd_calibrate_def = {
    "calibrate", calibrate_options, calibrate_help,
    "calibrate --runs FILE.yaml --hardware BASE.yaml [OPTIONS]: fit the efficiency model of BASE to the runs "
    "measured on its GPU (least squares on log step time), write the fitted hardware file, and print the in-sample "
    "and the cross-validated errors",
    cmd_calibrate,
};

static const char *default_fit[] = {"gemm_efficiency", "attention_fwd_efficiency", "intra_node_efficiency"};

/* run's total error on the plan's rank 0 with hardware hw (calibrate
 * --measure's before and after). */
static mp_status plan_run_error(mp_backend *b, const cli_inputs *in, const mp_layout *l, const mp_hardware *hw,
                                double *error, mp_error *err)
{
    mp_workload wl = in->wl;
    mp_run_backend_workload(b, &wl);
    mp_cost_ctx c;
    mp_cost_ctx_init(&c, &in->model, hw, &wl, l, in->wl.seq_max);
    mp_run_opts ro = {0, 0, 3, false, NULL, NULL, NULL, 0};
    mp_run_report r;
    mp_status st = mp_run_rank(&c, b, &ro, &r, err);
    if (st)
        return st;
    *error = r.meas_s > 0 ? r.pred_s / r.meas_s - 1 : 0;
    mp_run_report_free(&r);
    return MP_OK;
}

/* calibrate --measure [--plan PLAN] [--hardware BASE] [-o OUT]: the
 * backend's hardware measured into a hardware file (measure.c). */
/* Across ranks: each collective over the whole world at 1 KiB .. 16 MiB
 * (x4), its bus bandwidth S f / t (nccl-tests' busbw, f as in
 * mp_cost_collective_s), on the tier the world spans. */
static mp_status measure_collectives(mp_world *w, mp_hardware *hw, mp_error *err)
{
    static const mp_coll colls[4] = {MP_COLL_ALLREDUCE, MP_COLL_ALLGATHER, MP_COLL_REDUCESCATTER, MP_COLL_ALLTOALL};
    int tier = mp_world_node_size(w) < w->size ? 1 : 0, n = w->size;
    hw->n_coll_measured = 0;
    for (int ci = 0; ci < 4; ci++)
        for (double s = 1024; s <= 16777216 && hw->n_coll_measured < MP_HW_TABLE; s *= 4) {
            double t;
            char why[512];
            if (mp_world_collective(w, "calibrate", MP_GROUP_WORLD, n, colls[ci], s, 5, 60.0, &t, why, sizeof why))
                return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s", why);
            double f = mp_coll_bus_factor(colls[ci], n);
            double *r = hw->coll_measured[hw->n_coll_measured++];
            r[0] = colls[ci], r[1] = tier, r[2] = s, r[3] = t > 0 ? f * s / t : 1;
        }
    return MP_OK;
}

static mp_status measure_cmd(const char *backend, const char *plan_path, const char *hw_path, const char *out_path,
                             bool json, FILE *out, mp_error *err)
{
    json_t *j = NULL; /* the JSON report, built as it goes */
    mp_backend b;
    char why[512];
    mp_world world;
    if (!mp_world_init(&world, why, sizeof why))
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s", why);
    if (!mp_backend_open(backend, &b, why, sizeof why)) {
        mp_world_finalize(&world);
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--backend %s: %s", backend, why);
    }
    /* Across ranks the cuda backend measures NCCL's collectives. */
    if (world.size > 1 && !mp_world_use_backend(&world, &b, why, sizeof why)) {
        mp_backend_close(&b);
        mp_world_finalize(&world);
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s", why);
    }
    mp_hardware base;
    mp_status st = MP_OK;
    cli_inputs *in = NULL;
    mp_layout l;
    mp_cost_ctx c;
    mp_cost k;
    mp_workload wl;
    if (plan_path) {
        cli_opts o;
        memset(&o, 0, sizeof o);
        mp_layout_defaults(&o.layout);
        o.plan_path = plan_path;
        o.hardware_path = hw_path;
        if ((st = cli_evaluate(&o, false, &in, &l, &c, &k, err)))
            goto done;
        base = in->hw;
        wl = in->wl;
        mp_run_backend_workload(&b, &wl);
        mp_cost_ctx_init(&c, &in->model, &base, &wl, &l, in->wl.seq_max);
    } else if (hw_path) {
        if ((st = mp_hardware_load(&base, hw_path, err)))
            goto done;
    } else {
        mp_hardware_defaults(&base);
    }
    mp_hardware hw;
    mp_measure_summary sum;
    if ((st = mp_measure_hardware(&b, &base, plan_path ? &c : NULL, &hw, &sum, err)))
        goto done;
    if (world.size > 1 && (st = measure_collectives(&world, &hw, err)))
        goto done;
    if (world.rank != 0) /* world rank 0 writes and reports */
        goto done;
    char a[32], bb[32];
    mp_fmt_flops(sum.peak_flops, a, sizeof a);
    mp_fmt_bytes(sum.copy_bw_bytes_per_s, bb, sizeof bb);
    char comment[1024], from_plan[600] = "";
    if (plan_path)
        snprintf(from_plan, sizeof from_plan, " (%d from %s)", sum.gemm_from_plan, plan_path);
    snprintf(comment, sizeof comment,
             "Measured by moeplan calibrate --measure on the %s backend: %d GEMM shapes%s, %d copy sizes; "
             "a 1024^3 GEMM at %s/s, a 64 MiB copy at %s/s. The measured_gemm and measured_memory tables take "
             "precedence over the efficiency model; the capacity, network and the rest are the base file's (%s).",
             b.ops->name, hw.n_gemm_measured, from_plan, hw.n_memory_measured, a, bb,
             plan_path ? "the plan's hardware" : hw_path ? hw_path : "defaults");
    /* The report: text as it goes, or one JSON object at the end (the run
     * errors, when a plan is given, come last). */
    j = json ? json_object() : NULL;
    if (j) {
        json_object_set_new(j, "backend", json_string(b.ops->name));
        json_object_set_new(j, "plan", plan_path ? json_string(plan_path) : json_null());
        json_object_set_new(j, "gemm_shapes", json_integer(hw.n_gemm_measured));
        json_object_set_new(j, "gemm_shapes_from_plan", json_integer(sum.gemm_from_plan));
        json_object_set_new(j, "gemm_1024_flops_per_s", json_real(sum.peak_flops));
        json_object_set_new(j, "copy_sizes", json_integer(hw.n_memory_measured));
        json_object_set_new(j, "copy_64mib_bytes_per_s", json_real(sum.copy_bw_bytes_per_s));
        json_object_set_new(j, "collectives", json_integer(hw.n_coll_measured));
        json_object_set_new(j, "ranks", json_integer(world.size));
        json_object_set_new(j, "allreduce_16mib_bus_bytes_per_s",
                            hw.n_coll_measured ? json_real(hw.coll_measured[7][3]) : json_null());
        json_object_set_new(j, "attention_flops_per_s",
                            sum.attention_rate > 0 ? json_real(sum.attention_rate) : json_null());
        json_object_set_new(j, "attention_efficiency",
                            sum.attention_rate > 0 ? json_real(hw.attention_efficiency) : json_null());
        json_object_set_new(j, "wrote", out_path ? json_string(out_path) : json_null());
    } else {
        fprintf(out, "moeplan calibrate --measure: %s backend\n", b.ops->name);
        if (plan_path)
            fprintf(out, "  matrix products  %d shapes (%d of them the plan's), 1024^3 at %s/s\n", hw.n_gemm_measured,
                    sum.gemm_from_plan, a);
        else
            fprintf(out, "  matrix products  %d shapes, 1024^3 at %s/s\n", hw.n_gemm_measured, a);
        fprintf(out, "  memory-bound     %d copy sizes, 64 MiB at %s/s\n", hw.n_memory_measured, bb);
        if (hw.n_coll_measured) {
            mp_fmt_bytes(hw.coll_measured[7][3], a, sizeof a);
            fprintf(out,
                    "  collectives      %d (4 collectives x 8 sizes over %d ranks, %s); all-reduce of 16 MiB at %s/s "
                    "bus bandwidth\n",
                    hw.n_coll_measured, world.size, hw.coll_measured[0][1] ? "across nodes" : "one node", a);
        }
        if (sum.attention_rate > 0) {
            mp_fmt_flops(sum.attention_rate, a, sizeof a);
            fprintf(out, "  attention        the plan's forward at %s/s (causal model FLOPs): efficiency %.3f\n", a,
                    hw.attention_efficiency);
        }
    }
    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f) {
            st = mp_error_set(err, MP_ERR_IO, out_path, 0, 0, "cannot write: %s", strerror(errno));
            goto done;
        }
        mp_hardware_write(f, &hw, comment);
        if (fclose(f) != 0) {
            st = mp_error_set(err, MP_ERR_IO, out_path, 0, 0, "writing failed: %s", strerror(errno));
            goto done;
        }
        if (!j)
            fprintf(out, "wrote %s\n", out_path);
    }
    if (plan_path && world.size == 1) {
        mp_hardware flat;
        double before, after;
        if ((st = mp_measure_host(&b, &base, &flat, err)) ||
            (st = plan_run_error(&b, in, &l, &flat, &before, err)) ||
            (st = plan_run_error(&b, in, &l, &hw, &after, err)))
            goto done;
        if (j) {
            json_object_set_new(j, "run_error_before", json_real(before));
            json_object_set_new(j, "run_error_after", json_real(after));
        } else
            fprintf(out, "run on %s, rank 0: total error %+.1f%% with the 1024^3 rate and 64 MiB bandwidth alone, "
                         "%+.1f%% with the measured tables\n", plan_path, 100 * before, 100 * after);
    } else if (j) {
        json_object_set_new(j, "run_error_before", json_null());
        json_object_set_new(j, "run_error_after", json_null());
    }
    if (j) /* sorted keys and the shortest reals, as every JSON moeplan writes */
        mp_report_json_write(out, j);
done:
    if (j)
        json_decref(j);
    free(in);
    mp_backend_close(&b);
    mp_world_finalize(&world);
    return st;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void stats_text(FILE *f, const char *label, const double *e, int n)
{
    mp_error_stats s;
    mp_error_stats_of(e, n, &s);
    fprintf(f, "  %-28s %4d %10.1f%% %10.1f%% %10.1f%% %+13.1f%%\n", label, n, 100 * s.median_abs, 100 * s.mean_abs,
            100 * s.max_abs, 100 * s.median_signed);
}

static json_t *stats_json(const double *e, int n)
{
    mp_error_stats s;
    mp_error_stats_of(e, n, &s);
    return json_pack("{s:i,s:f,s:f,s:f,s:f}", "n", n, "median_abs", s.median_abs, "mean_abs", s.mean_abs, "max_abs",
                     s.max_abs, "median_signed", s.median_signed);
}

/* A fitted value that the fit moved onto a bound of its range: the runs
 * pull it further, so it is a limit of the model, not a measured
 * efficiency.  A value that starts on a bound and does not move (the runs
 * do not depend on it) is not flagged. */
static bool at_bound(const char *key, double v, double base)
{
    const mp_fit_param *q = mp_fit_param_find(key);
    return q && fabs(v - base) > 1e-6 * q->hi && (fabs(v - q->lo) <= 1e-6 * q->hi || fabs(v - q->hi) <= 1e-6 * q->hi);
}

static mp_status load_log_run(mp_run *r, const char *log_path, const char *plan_path, const mp_hardware *base,
                              mp_error *err)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(log_path, "rb");
    if (!f)
        return mp_error_set(err, MP_ERR_IO, log_path, 0, 0, "cannot open the Megatron-LM log");
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? 2 * cap : (size_t)1 << 20;
            if (cap > ((size_t)1 << 30)) {
                fclose(f);
                free(text);
                return mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0, "the log is larger than 1 GiB");
            }
            char *t = realloc(text, cap);
            if (!t) {
                fclose(f);
                free(text);
                return mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    mp_megatron_log lg;
    int it = mp_megatron_log_parse(text ? text : "", len, &lg);
    free(text);
    if (lg.n_bad_values)
        return mp_error_set(err, MP_ERR_INPUT, log_path, lg.first_bad_line, lg.first_bad_col,
                            "'%s' is '%s', not a number from 0 to %g (%d such value%s)", lg.first_bad_key,
                            lg.first_bad_text, lg.first_bad_max, lg.n_bad_values, lg.n_bad_values == 1 ? "" : "s");
    if (it == 0 && lg.n_zero_times)
        return mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                            "every 'elapsed time per iteration (ms):' is 0 (%d line%s): no iteration was timed",
                            lg.n_zero_times, mp_plural(lg.n_zero_times));
    if (it == 0)
        return mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                            "no 'elapsed time per iteration (ms):' line: not a Megatron-LM training log");
    if (!lg.world_size)
        return mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                            "no 'using world size: N' line (Megatron-LM prints it at start-up): moeplan cannot tell "
                            "that the log is of the plan's run; log from the start");
    if (it == 1)
        return mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                            "only one iteration line (%.3f s), the start-up interval: log at least two "
                            "(--log-interval below --train-iters)",
                            lg.first_step_s);
    if (lg.global_batch_varies)
        return mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                            "the 'global batch size:' changes between iteration lines (batch-size ramp-up): "
                            "the median time is of no one batch; log a run at a fixed batch");
    cli_opts o;
    memset(&o, 0, sizeof o);
    mp_layout_defaults(&o.layout);
    o.plan_path = plan_path;
    cli_inputs *in;
    mp_layout l;
    mp_cost_ctx c;
    mp_cost k;
    mp_status st = cli_evaluate(&o, false, &in, &l, &c, &k, err);
    if (st)
        return st;
    /* The log and the plan must describe the same run. */
    if (lg.world_size && lg.world_size != l.gpus) {
        st = mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                          "the log's 'using world size: %ld' is not the plan's %d GPU%s (%s)", lg.world_size, l.gpus,
                          mp_plural(l.gpus), plan_path);
        free(in);
        return st;
    }
    const long logged[4] = {lg.tp, lg.pp, lg.cp, lg.dp};
    const int planned[4] = {l.tp, l.pp, l.cp, l.dp};
    static const char *names[4] = {"tensor-model-parallel", "pipeline-model-parallel", "context-parallel",
                                   "data-parallel"},
                      *opts[4] = {"tp", "pp", "cp", "dp"};
    for (int i = 0; i < 4; i++)
        if (logged[i] && logged[i] != planned[i]) {
            st = mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                              "the log's '%s size: %ld' is not the plan's %s %d (%s): the log must be of the plan's "
                              "run",
                              names[i], logged[i], opts[i], planned[i], plan_path);
            free(in);
            return st;
        }
    if (lg.global_batch && lg.global_batch != in->wl.global_batch) {
        st = mp_error_set(err, MP_ERR_INPUT, log_path, 0, 0,
                          "the log's 'global batch size: %ld' is not the plan workload's global_batch %ld (%s)",
                          lg.global_batch, (long)in->wl.global_batch, plan_path);
        free(in);
        return st;
    }
    snprintf(r->id, sizeof r->id, "%s", base_name(log_path));
    snprintf(r->kind, sizeof r->kind, "training_throughput");
    snprintf(r->gpu, sizeof r->gpu, "%s", base->name);
    snprintf(r->hardware_file, sizeof r->hardware_file, "%s", in->hw_path);
    r->moe = in->model.num_experts > 0;
    r->model = in->model;
    r->hw = *base; /* the base file's name: the run is on this GPU */
    r->hw.gpus_per_node = in->hw.gpus_per_node;
    r->wl = in->wl;
    r->lay = l;
    r->seq_len = in->wl.seq_max;
    r->basis = MP_MEASURED_TIME;
    r->measured_step_s = lg.step_s;
    r->measured_value = lg.step_s;
    r->measured_peak_flops = base->peak_flops;
    r->measured_memory_bytes = lg.max_allocated_bytes;
    snprintf(r->assumptions[r->n_assumptions++], sizeof r->assumptions[0],
             "median of %d logged iteration times, the first (%.3f s, start-up) left out", lg.n_iterations - 1,
             lg.first_step_s);
    free(in);
    return MP_OK;
}

static mp_status cmd_calibrate(int argc, char **argv, FILE *out, mp_error *err, int *failed)
{
    const char *runs_path = NULL, *hw_path = NULL, *out_path = NULL, *hw_dir = NULL, *log_path = NULL,
               *plan_path = NULL;
    char exclbuf[2048] = "";
    const char *excl[64];
    int n_excl = 0;
    char fitbuf[1024] = "";
    const char *keys[16];
    int n_keys = 0;
    long folds = 5;
    bool measure = false;
    const char *backend = NULL;
    const char *fit_only = NULL; /* the first option of the fit given (--fit, --folds, --exclude, --hardware-dir) */
    out_format fmt = FMT_TEXT;
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":ho:", calibrate_options, NULL)) != -1) {
        switch (ch) {
        case O_RUNS: runs_path = optarg; break;
        case O_HW: hw_path = optarg; break;
        case 'o':
        case O_OUT: out_path = optarg; break;
        case O_HWDIR:
            hw_dir = optarg;
            fit_only = fit_only ? fit_only : "--hardware-dir";
            break;
        case O_MLOG: log_path = optarg; break;
        case O_PLAN: plan_path = optarg; break;
        case O_MEASURE: measure = true; break;
        case O_BACKEND: backend = optarg; break;
        case O_EXCLUDE:
            fit_only = fit_only ? fit_only : "--exclude";
            snprintf(exclbuf, sizeof exclbuf, "%s", optarg);
            n_excl = 0;
            for (char *save = NULL, *k = strtok_r(exclbuf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
                if (n_excl == 64)
                    return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--exclude: at most 64 ids");
                excl[n_excl++] = k;
            }
            break;
        case O_FIT: {
            fit_only = fit_only ? fit_only : "--fit";
            snprintf(fitbuf, sizeof fitbuf, "%s", optarg);
            n_keys = 0;
            for (char *save = NULL, *k = strtok_r(fitbuf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
                if (!mp_fit_param_find(k)) {
                    size_t np;
                    const mp_fit_param *p = mp_fit_params(&np);
                    const char *names[32];
                    for (size_t i = 0; i < np && i < 32; i++)
                        names[i] = p[i].key;
                    const char *dym = mp_did_you_mean(k, names, np);
                    return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0,
                                        "--fit: '%s' is not a parameter moeplan fits%s%s%s; see moeplan calibrate --help",
                                        k, dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
                }
                for (int i = 0; i < n_keys; i++)
                    if (!strcmp(keys[i], k))
                        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--fit: '%s' is named twice", k);
                if (n_keys == 16)
                    return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--fit: at most 16 parameters");
                keys[n_keys++] = k;
            }
            if (!n_keys)
                return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--fit: expected KEY[,KEY...], got '%s'", optarg);
            break;
        }
        case O_FOLDS: {
            fit_only = fit_only ? fit_only : "--folds";
            if (!cli_parse_long(optarg, 2, 20, &folds))
                return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--folds: expected a whole number from 2 to 20, got '%s'",
                                    optarg);
            break;
        }
        case O_FORMAT: {
            mp_status fs = cli_format_text_json(optarg, &fmt, err);
            if (fs)
                return fs;
            break;
        }
        case 'h':
            cli_command_help(out, &cmd_calibrate_def);
            return MP_OK;
        default:
            return cli_getopt_error(ch, argv, "calibrate", err);
        }
    }
    if (optind < argc)
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "unexpected argument '%s'; see moeplan calibrate --help",
                            argv[optind]);
    if (backend && !measure)
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--backend goes with --measure");
    if (measure) {
        if (runs_path || log_path)
            return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0,
                                "--measure measures a backend; --runs and --megatron-log fit to runs: one at a time");
        /* The fit's options have nothing to act on: refused, not ignored. */
        if (fit_only)
            return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0,
                                "%s goes with a fit (--runs or --megatron-log), not --measure", fit_only);
        return measure_cmd(backend ? backend : "cpu", plan_path, hw_path, out_path, fmt == FMT_JSON, out, err);
    }
    if ((!runs_path && !log_path) || !hw_path)
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0,
                            "calibrate needs --hardware BASE.yaml and --runs FILE.yaml or --megatron-log LOG with --plan "
                            "PLAN.yaml; see moeplan calibrate --help");
    if (!log_path != !plan_path)
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0,
                            "--megatron-log and --plan go together (the log's numbers, the plan's model and layout)");
    if (!n_keys)
        for (size_t i = 0; i < sizeof default_fit / sizeof default_fit[0]; i++)
            keys[n_keys++] = default_fit[i];
    mp_hardware base;
    mp_status st = mp_hardware_load(&base, hw_path, err);
    if (st)
        return st;
    if (base.sm_count <= 0)
        return mp_error_set(err, MP_ERR_INPUT, hw_path, 0, 0,
                            "the hardware file has no 'sm_count': the efficiency model (and so the fit) is off without it");
    char hwbuf[1024];
    if (!hw_dir) {
        if ((st = cli_find_default("hardware", hwbuf, sizeof hwbuf, err)))
            return st;
        hw_dir = hwbuf;
    }
    mp_run *runs = NULL;
    size_t n = 0;
    if (runs_path && (st = mp_runs_load(runs_path, hw_dir, &runs, &n, err)))
        return st;
    if (log_path) {
        /* The user's own run: the plan file's model, workload and layout on
         * the base hardware, the log's median iteration time and peak
         * memory. */
        mp_run *more = realloc(runs, (n + 1) * sizeof *runs);
        if (!more) {
            free(runs);
            return mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        }
        runs = more;
        st = load_log_run(&runs[n], log_path, plan_path, &base, err);
        if (st) {
            free(runs);
            return st;
        }
        n++;
    }
    char srcbuf[2100];
    if (runs_path && log_path)
        snprintf(srcbuf, sizeof srcbuf, "%s and %s", runs_path, log_path);
    else
        snprintf(srcbuf, sizeof srcbuf, "%s", runs_path ? runs_path : log_path);
    const char *src_label = srcbuf;
    if (!runs_path)
        runs_path = log_path;
    /* The runs measured on the base file's GPU (the shipped file picked for
     * each record has the same name), with the base file in place of it:
     * each keeps its own GPUs per node from the record. */
    unsigned char *use = calloc(n + 1, 1);
    double *fit_e = calloc(n + 1, sizeof(double)), *cv_e = calloc(n + 1, sizeof(double)),
           *before_e = calloc(n + 1, sizeof(double));
    int *fold = calloc(n + 1, sizeof(int));
    double *a = calloc(3 * (n + 1), sizeof(double));
    if (!use || !fit_e || !cv_e || !before_e || !fold || !a) {
        st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    int used = 0;
    unsigned char *left_out = calloc(n + 1, 1);
    if (!left_out) {
        st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (int k = 0; k < n_excl; k++) {
        size_t len = strlen(excl[k]);
        bool prefix = len > 0 && excl[k][len - 1] == '*';
        bool any = false;
        for (size_t i = 0; i < n; i++)
            if (prefix ? !strncmp(runs[i].id, excl[k], len - 1) : !strcmp(runs[i].id, excl[k])) {
                left_out[i] = 1;
                any = true;
            }
        if (!any) {
            free(left_out);
            st = mp_error_set(err, MP_ERR_INPUT, runs_path, 0, 0, "--exclude: no run '%s' in the file", excl[k]);
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (runs[i].skip[0] || strcmp(runs[i].hw.name, base.name))
            continue;
        int gpn = runs[i].hw.gpus_per_node;
        runs[i].hw = base;
        runs[i].hw.gpus_per_node = gpn;
        /* A layer benchmark is reported beside the fit, not fitted: the fit
         * is to step times, and the layer's own check stays independent. */
        if (left_out[i] || runs[i].layer_bench) {
            use[i] = 2; /* reported, not fitted */
            continue;
        }
        use[i] = 1;
        fold[i] = used % (int)folds; /* in file order: deterministic */
        used++;
    }
    free(left_out);
    if (used == 0) {
        st = mp_error_set(err, MP_ERR_INPUT, runs_path, 0, 0, "no evaluable run on '%s' (%s)", base.name,
                          base_name(hw_path));
        goto done;
    }
    if (used < n_keys) {
        st = mp_error_set(err, MP_ERR_INPUT, runs_path, 0, 0,
                          "%d run%s on '%s' cannot fix %d parameter%s; fit fewer (--fit)", used, mp_plural(used),
                          base.name, n_keys, mp_plural(n_keys));
        goto done;
    }
    /* Fewer runs than folds: one fold per run (leave-one-out); one run:
     * nothing to hold out. */
    if (used < folds) {
        folds = used;
        for (size_t i = 0, k = 0; i < n; i++)
            if (use[i] == 1)
                fold[i] = (int)(k++);
    }
    mp_calibrate_errors(&base, runs, n, use, before_e);
    unsigned char *fitmask = calloc(n + 1, 1);
    if (!fitmask) {
        st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        fitmask[i] = use[i] == 1;
    mp_hardware fitted = base;
    mp_fit_result fr;
    mp_calibrate_fit(&fitted, keys, n_keys, runs, n, fitmask, &fr);
    free(fitmask);
    mp_calibrate_errors(&fitted, runs, n, use, fit_e);
    for (size_t i = 0; i < n; i++)
        if (use[i] == 2)
            cv_e[i] = fit_e[i]; /* left out of every fit: its error is already out of sample */
    /* k-fold: refit on the other folds from the base, predict this one. */
    unsigned char *train = calloc(n + 1, 1);
    if (!train) {
        st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (int k = 0; k < folds && folds > 1; k++) {
        for (size_t i = 0; i < n; i++)
            train[i] = use[i] == 1 && fold[i] != k;
        mp_hardware h = base;
        mp_fit_result r;
        mp_calibrate_fit(&h, keys, n_keys, runs, n, train, &r);
        double *tmp = calloc(n + 1, sizeof(double));
        if (!tmp) {
            free(train);
            st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            train[i] = use[i] == 1 && fold[i] == k;
        mp_calibrate_errors(&h, runs, n, train, tmp);
        for (size_t i = 0; i < n; i++)
            if (train[i])
                cv_e[i] = tmp[i];
        free(tmp);
    }
    free(train);
    if (folds <= 1)
        for (size_t i = 0; i < n; i++)
            cv_e[i] = NAN; /* one run: nothing held out */
    /* Pack the used runs' errors for the statistics. */
    double *eb = a, *ef = a + (n + 1), *ec = a + 2 * (n + 1);
    int m = 0;
    for (size_t i = 0; i < n; i++)
        if (use[i] == 1) {
            eb[m] = before_e[i];
            ef[m] = fit_e[i];
            ec[m] = cv_e[i];
            m++;
        }
    /* The fitted file: what was fitted, from which runs, and how well. */
    if (out_path) {
        char *note = NULL;
        size_t nlen = 0;
        FILE *nf = open_memstream(&note, &nlen);
        if (!nf) {
            st = mp_error_set(err, MP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            goto done;
        }
        mp_error_stats s, c;
        mp_error_stats_of(ef, m, &s);
        mp_error_stats_of(ec, m, &c);
        if (log_path && runs_path != log_path)
            fprintf(nf, "Written by moeplan calibrate from %s and %s (base: %s).\n", base_name(runs_path),
                    base_name(log_path), base_name(hw_path));
        else
            fprintf(nf, "Written by moeplan calibrate from %s (base: %s).\n", base_name(runs_path),
                    base_name(hw_path));
        fprintf(nf, "Fitted (least squares on log step time):");
        for (int i = 0; i < n_keys; i++)
            fprintf(nf, " %s %.4g (was %.4g%s);", keys[i], mp_fit_get(&fitted, keys[i]), mp_fit_get(&base, keys[i]),
                    at_bound(keys[i], mp_fit_get(&fitted, keys[i]), mp_fit_get(&base, keys[i])) ? "; at its bound: a limit, not a measurement"
                                                                     : "");
        fprintf(nf, "\nRuns (%d):", m);
        int col = 0;
        for (size_t i = 0; i < n; i++)
            if (use[i] == 1) {
                fprintf(nf, "%s %s", col % 3 == 0 ? "\n " : ",", runs[i].id);
                col++;
            }
        if (folds > 1)
            fprintf(nf, "\nIn-sample median |error| %.1f%%, mean %.1f%%; %ld-fold cross-validated median %.1f%%, mean "
                        "%.1f%%.",
                    100 * s.median_abs, 100 * s.mean_abs, folds, 100 * c.median_abs, 100 * c.mean_abs);
        else
            fprintf(nf, "\nIn-sample |error| %.1f%% (one run).", 100 * s.median_abs);
        fclose(nf);
        FILE *of = fopen(out_path, "w");
        if (!of) {
            free(note);
            st = mp_error_set(err, MP_ERR_IO, out_path, 0, 0, "cannot write the fitted hardware file");
            goto done;
        }
        mp_hardware_write(of, &fitted, note);
        free(note);
        if (fclose(of) != 0) {
            st = mp_error_set(err, MP_ERR_IO, out_path, 0, 0, "writing the fitted hardware file failed");
            goto done;
        }
    }
    if (fmt == FMT_JSON) {
        json_t *j = json_object(), *p = json_object(), *rs = json_array();
        json_object_set_new(j, "hardware", json_string(hw_path));
        json_object_set_new(j, "runs_file", runs_path == log_path ? json_null() : json_string(runs_path));
        json_object_set_new(j, "megatron_log", log_path ? json_string(log_path) : json_null());
        for (int i = 0; i < n_keys; i++)
            json_object_set_new(p, keys[i],
                                json_pack("{s:f,s:f,s:b}", "base", mp_fit_get(&base, keys[i]), "fitted",
                                          mp_fit_get(&fitted, keys[i]), "at_bound",
                                          at_bound(keys[i], mp_fit_get(&fitted, keys[i]), mp_fit_get(&base, keys[i]))));
        json_object_set_new(j, "parameters", p);
        for (size_t i = 0; i < n; i++)
            if (use[i])
                json_array_append_new(rs, json_pack("{s:s,s:i,s:b,s:f,s:f,s:o}", "id", runs[i].id, "fold", fold[i],
                                                    "fitted", use[i] == 1, "error_base", before_e[i], "error_fitted",
                                                    fit_e[i], "error_cv",
                                                    isnan(cv_e[i]) ? json_null() : json_real(cv_e[i])));
        json_object_set_new(j, "runs", rs);
        json_object_set_new(j, "base", stats_json(eb, m));
        json_object_set_new(j, "in_sample", stats_json(ef, m));
        json_object_set_new(j, "cross_validated", folds > 1 ? stats_json(ec, m) : json_null());
        json_object_set_new(j, "folds", json_integer(folds));
        mp_report_json_write(out, j); /* sorted keys, the shortest reals, as every JSON moeplan writes */
        json_decref(j);
    } else {
        char foldtxt[32];
        if (folds > 1)
            snprintf(foldtxt, sizeof foldtxt, "%ld folds", folds);
        else
            snprintf(foldtxt, sizeof foldtxt, "nothing held out");
        fprintf(out, "moeplan calibrate: %s from %d run%s on it in %s (%s)%s\n\n", base.name, m, m == 1 ? "" : "s",
                src_label, foldtxt, n_excl ? "; --exclude'd runs are listed but not fitted nor counted below" : "");
        fprintf(out, "%-28s %12s %12s  %s\n", "parameter", "base", "fitted", "bounds");
        for (int i = 0; i < n_keys; i++) {
            const mp_fit_param *q = mp_fit_param_find(keys[i]);
            fprintf(out, "%-28s %12.4g %12.4g  [%g, %g] %s\n", keys[i], mp_fit_get(&base, keys[i]),
                    mp_fit_get(&fitted, keys[i]), q->lo, q->hi, q->why);
        }
        for (int i = 0; i < n_keys; i++)
            if (at_bound(keys[i], mp_fit_get(&fitted, keys[i]), mp_fit_get(&base, keys[i])))
                fprintf(out, "  %s ended at its bound: the runs pull it further, so read it as a limit of the "
                             "model, not a measured efficiency\n",
                        keys[i]);
        /* The id column: 52 characters, or the longest id listed (a layer
         * benchmark's runs to 59), so the columns after it stay aligned. */
        int wid = 52;
        for (size_t i = 0; i < n; i++)
            if (use[i] && (int)strlen(runs[i].id) > wid)
                wid = (int)strlen(runs[i].id);
        fprintf(out, "\n%-*s %9s %9s %9s\n", wid, "run", "base", "fitted", "held out");
        for (size_t i = 0; i < n; i++) {
            if (!use[i])
                continue;
            if (isnan(cv_e[i]))
                fprintf(out, "%-*s %+8.1f%% %+8.1f%% %9s\n", wid, runs[i].id, 100 * before_e[i], 100 * fit_e[i],
                        "-");
            else
                fprintf(out, "%-*s %+8.1f%% %+8.1f%% %+8.1f%%%s\n", wid, runs[i].id, 100 * before_e[i], 100 * fit_e[i],
                        100 * cv_e[i],
                        use[i] != 2            ? ""
                        : runs[i].layer_bench ? "  (one layer's forward + backward: reported, not fitted)"
                                              : "  (left out of the fit)");
        }
        fprintf(out, "\nStep time: error = predicted / measured - 1\n");
        fprintf(out, "  %-28s %4s %11s %11s %11s %14s\n", "", "n", "median|e|", "mean|e|", "max|e|", "median signed");
        stats_text(out, "base file", eb, m);
        stats_text(out, "fitted, in sample", ef, m);
        char lab[64];
        snprintf(lab, sizeof lab, "fitted, %ld-fold held out", folds);
        if (folds > 1)
            stats_text(out, lab, ec, m);
        else
            fprintf(out, "  (one run: nothing to hold out)\n");
        if (log_path && runs[n - 1].measured_memory_bytes > 0) {
            /* The log's peak memory against the plan's prediction (the same
             * cost model; memory does not depend on the fitted values). */
            mp_run_result rr;
            mp_run_evaluate_with(&runs[n - 1], &fitted, &rr);
            char mb[32], pb[32];
            mp_fmt_bytes(runs[n - 1].measured_memory_bytes, mb, sizeof mb);
            mp_fmt_bytes(rr.predicted_memory_bytes, pb, sizeof pb);
            fprintf(out, "\nMemory per GPU, %s: max allocated %s (largest over the logged ranks), predicted %s "
                         "(%+.1f%%)\n",
                    runs[n - 1].id, mb, pb, 100 * rr.memory_error);
        }
        if (out_path)
            fprintf(out, "\nwrote %s\n", out_path);
    }
done:
    free(use);
    free(fit_e);
    free(cv_e);
    free(before_e);
    free(fold);
    free(a);
    free(runs);
    return st;
}
