/* moeplan simulate: a plan's training step played out pass by pass on
 * every pipeline rank (src/simulate.c), with each micro-batch's own
 * sequence length and each layer's own expert routing.
 *
 *   moeplan simulate [--plan PLAN.yaml] [--schedule S] [--steps N] [--seed N]
 *                    [--lengths range|fixed|FILE.yaml] [--pack TOKENS]
 *                    [--routing balanced|uniform|zipf:S|FILE.yaml]
 *                    [--capacity-factor X|dropless] [--trace FILE.json]
 *                    [--svg FILE.svg] [--format text|json]
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "moeplan/distribution.h"
#include "moeplan/simulate.h"
#include "moeplan/svg.h"
#include "moeplan/trace.h"
#include "moeplan/units.h"

enum {
    O_PLAN = 256, O_SCHEDULE, O_STEPS, O_SEED, O_LENGTHS, O_PACK, O_ROUTING, O_CF, O_TRACE, O_SVG, O_FORMAT, O_MODEL,
    O_HARDWARE, O_WORKLOAD, O_GB, O_SEQ, O_GPUS,
    /* the layout's options, parsed as explain's (cli_layout_option) */
    O_RECOMPUTE, O_SP, O_NO_SP, O_ZERO, O_FSDP, O_SHARD, O_DOPT, O_NO_DOPT, O_TP, O_PP, O_DP, O_CP, O_EP, O_ETP, O_VPP,
    O_MB, O_PP_FIRST, O_PP_LAST
};
static const struct option sim_options[] = {
    {"plan", required_argument, 0, O_PLAN},
    {"model", required_argument, 0, O_MODEL},
    {"hardware", required_argument, 0, O_HARDWARE},
    {"workload", required_argument, 0, O_WORKLOAD},
    {"gpus", required_argument, 0, O_GPUS},
    {"tp", required_argument, 0, O_TP},
    {"pp", required_argument, 0, O_PP},
    {"dp", required_argument, 0, O_DP},
    {"cp", required_argument, 0, O_CP},
    {"ep", required_argument, 0, O_EP},
    {"etp", required_argument, 0, O_ETP},
    {"vpp", required_argument, 0, O_VPP},
    {"micro-batch", required_argument, 0, O_MB},
    {"pp-first-layers", required_argument, 0, O_PP_FIRST},
    {"pp-last-layers", required_argument, 0, O_PP_LAST},
    {"global-batch", required_argument, 0, O_GB},
    {"seq-len", required_argument, 0, O_SEQ},
    {"recompute", required_argument, 0, O_RECOMPUTE},
    {"sequence-parallel", optional_argument, 0, O_SP},
    {"no-sequence-parallel", no_argument, 0, O_NO_SP},
    {"zero", required_argument, 0, O_ZERO},
    {"fsdp", no_argument, 0, O_FSDP},
    {"shard-group", required_argument, 0, O_SHARD},
    {"distributed-optimizer", optional_argument, 0, O_DOPT},
    {"no-distributed-optimizer", no_argument, 0, O_NO_DOPT},
    {"schedule", required_argument, 0, O_SCHEDULE},
    {"steps", required_argument, 0, O_STEPS},
    {"seed", required_argument, 0, O_SEED},
    {"lengths", required_argument, 0, O_LENGTHS},
    {"pack", required_argument, 0, O_PACK},
    {"routing", required_argument, 0, O_ROUTING},
    {"capacity-factor", required_argument, 0, O_CF},
    {"trace", required_argument, 0, O_TRACE},
    {"svg", required_argument, 0, O_SVG},
    {"format", required_argument, 0, O_FORMAT},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};
static const char *const sim_help[] = {
    "PLAN.yaml: the plan (model, hardware, workload, layout) to simulate (default: the seed's plan, unless a "
    "model or a layout size is given)",
    "FILE: the model, native YAML or Hugging Face config.json (as explain)",
    "FILE: the GPU and network (as explain)",
    "FILE: batch, sequence lengths, precision, optimizer (as explain)",
    "N: GPU count (as explain)",
    "N: tensor-parallel size",
    "N: pipeline-parallel size",
    "N: data-parallel size",
    "N: context-parallel size",
    "N: expert-parallel size",
    "N: expert-tensor-parallel size",
    "N: virtual pipeline stages per rank",
    "N: sequences per micro-batch",
    "N: layers on the first pipeline rank (an uneven pipeline, vpp 1)",
    "N: layers on the last pipeline rank",
    "N: sequences per step",
    "N|A-B: tokens per sequence, or a range",
    "none|selective|full|MODULES: activation recomputation; MODULES: selective, of core_attn,moe_act,layernorm,"
    "mla_up_proj,mlp,moe,shared_experts (as explain)",
    "[=on|off]: Megatron sequence parallelism",
    ": sequence parallelism off",
    "0|1|2|3: ZeRO stage: 1 shards optimizer states, 2 also gradients, 3 also parameters",
    ": fully sharded data parallel: --zero 3",
    "N: HSDP: shard over groups of N data-parallel ranks",
    "[=on|off]: shard optimizer state over dp (--zero 1, or 0 when off)",
    ": distributed optimizer off",
    "gpipe|1f1b|interleaved|zb-h1|dualpipe: the pipeline schedule (default: interleaved with vpp > 1, else 1f1b)",
    "N: steps to simulate, each with new lengths and routing, 1-10000 (default 10)",
    "N: the random seed, 0 or more (default 1)",
    "range|fixed|FILE.yaml: sequence lengths: uniform over the workload's range, all its longest, or a histogram "
    "file (default range)",
    "TOKENS: pack documents into sequences of at most TOKENS (default: one document per sequence)",
    "balanced|uniform|zipf:S|FILE.yaml: expert routing: the workload's imbalance on every layer, tokens drawn "
    "uniformly, Zipf with skew S, or a per-expert histogram file (default uniform)",
    "X|dropless: the expert capacity factor (default: the workload's)",
    "FILE.json: write the first step's timeline as a Chrome trace (Perfetto)",
    "FILE.svg: write the first step's timeline as an SVG image",
    "text|json: report format",
    ": this help (also -h)",
};

static mp_status cmd_simulate(int argc, char **argv, FILE *out, mp_error *err, int *failed);

const cli_command cmd_simulate_def = {
    "simulate", sim_options, sim_help,
    "simulate [--plan PLAN.yaml] [OPTIONS]: play a plan's training steps out pass by pass on every pipeline rank, "
    "with each micro-batch's own sequence length and each layer's own expert routing; print the step time's "
    "mean, p50 and p99, the bubble, each rank's busy time and peak memory, and the tokens dropped",
    cmd_simulate,
};

/* The trace and the image appear whole or not at all.  Both are opened
 * before either is written, so a path that cannot be written (a missing
 * folder, a directory) fails the command before anything changes.  A
 * regular file (or an absent path) is written to a temporary beside it
 * (PATH and mkstemp's random suffix, in the same directory so that rename
 * is atomic) that takes the old file's mode (a new one: 0666 less the
 * umask) and is renamed over it only
 * once both outputs are written; a symbolic link is followed, its target
 * replaced so the link stays; anything else (/dev/stdout, a pipe) is
 * written in place, as fopen would. */
typedef struct {
    char tmp[4096];             /* the temporary; "" when none (or written in place) */
    char dest[4096];            /* what the temporary is renamed to */
    FILE *f;
} out_file;

/* The temporaries an interrupt would leave behind: removed by the handler
 * (unlink is async-signal-safe), which then restores the signal's default
 * and raises it again.  A handler, not a blocked mask: the process has
 * other threads (OpenBLAS's), and a signal blocked in this one would be
 * delivered to them.  Between a rename and clearing tmp the handler may
 * unlink a name already gone, which does nothing. */
static out_file *volatile temps[2];
static struct sigaction temps_before[4];
static const int temps_signals[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static volatile sig_atomic_t temps_on;

static void temps_handler(int sig)
{
    for (int i = 0; i < 2; i++) {
        out_file *o = temps[i];
        if (o && o->tmp[0])
            unlink(o->tmp);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void temps_guard(bool on)
{
    if (on == (bool)temps_on)
        return;
    if (on) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = temps_handler;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < 4; i++)
            sigaddset(&sa.sa_mask, temps_signals[i]);
        for (int i = 0; i < 4; i++)
            sigaction(temps_signals[i], &sa, &temps_before[i]);
        temps_on = 1;
    } else {
        for (int i = 0; i < 4; i++)
            sigaction(temps_signals[i], &temps_before[i], NULL);
        temps[0] = temps[1] = NULL;
        temps_on = 0;
    }
}

static void temps_add(out_file *o)
{
    for (int i = 0; i < 2; i++)
        if (!temps[i] || temps[i] == o) {
            temps[i] = o;
            return;
        }
}

static mp_status out_open(out_file *o, const char *path, const char *what, mp_error *err)
{
    o->f = NULL;
    o->tmp[0] = o->dest[0] = 0;
    struct stat sb;
    const char *dest = path;
    char real[4096];
    mode_t mode;
    bool have = lstat(path, &sb) == 0;
    if (have && S_ISLNK(sb.st_mode)) {
        /* The link's target, when it resolves (a dangling link: in place). */
        if (realpath(path, real) && stat(real, &sb) == 0) {
            dest = real;
        } else {
            have = true;
            sb.st_mode = S_IFCHR; /* written in place, below */
        }
    }
    if (have && S_ISDIR(sb.st_mode))
        return mp_error_set(err, MP_ERR_IO, path, 0, 0, "could not write the %s: %s", what, strerror(EISDIR));
    if (have && !S_ISREG(sb.st_mode)) {
        if (!(o->f = fopen(path, "w")))
            return mp_error_set(err, MP_ERR_IO, path, 0, 0, "could not write the %s: %s", what, strerror(errno));
        return MP_OK;
    }
    if (have) {
        mode = sb.st_mode & 07777;
    } else {
        mode_t mask = umask(0); /* mkstemp makes it 0600; a new file is 0666 less the umask */
        umask(mask);
        mode = 0666 & ~mask;
    }
    if (snprintf(o->dest, sizeof o->dest, "%s", dest) >= (int)sizeof o->dest ||
        snprintf(o->tmp, sizeof o->tmp, "%s.XXXXXX", dest) >= (int)sizeof o->tmp) {
        o->tmp[0] = o->dest[0] = 0;
        return mp_error_set(err, MP_ERR_IO, path, 0, 0, "could not write the %s: the path is too long", what);
    }
    temps_add(o);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        o->tmp[0] = 0;
        return mp_error_set(err, MP_ERR_IO, path, 0, 0, "could not write the %s: %s", what, strerror(errno));
    }
    if (fchmod(fd, mode) != 0 || !(o->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = 0;
        return mp_error_set(err, MP_ERR_IO, path, 0, 0, "could not write the %s: %s", what, strerror(e));
    }
    return MP_OK;
}

/* Close, checking the write (the temporary, if any, stays for out_commit). */
static mp_status out_close(out_file *o, const char *path, const char *what, mp_error *err)
{
    int bad = o->f && fclose(o->f);
    o->f = NULL;
    if (bad)
        return mp_error_set(err, MP_ERR_IO, path, 0, 0, "could not write the %s: %s", what, strerror(errno));
    return MP_OK;
}

/* The temporary into place. */
static mp_status out_commit(out_file *o, const char *path, const char *what, mp_error *err)
{
    if (o->tmp[0] && rename(o->tmp, o->dest))
        return mp_error_set(err, MP_ERR_IO, path, 0, 0, "could not write the %s: %s", what, strerror(errno));
    o->tmp[0] = 0;
    return MP_OK;
}

static void out_discard(out_file *o)
{
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0])
        unlink(o->tmp);
    o->tmp[0] = 0;
}

static mp_status whole(const char *opt, const char *arg, long lo, long hi, long *out, mp_error *err)
{
    long v;
    if (!cli_parse_long(arg, lo, hi, &v))
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--%s: expected a whole number from %ld to %ld, got '%s'",
                            opt, lo, hi, arg);
    *out = v;
    return MP_OK;
}

/* The plan file's name, or the model's without one. */
static const char *label(const cli_inputs *in)
{
    if (!in->have_plan || !in->plan.source[0])
        return in->model.name;
    const char *s = strrchr(in->plan.source, '/');
    return s ? s + 1 : in->plan.source;
}

/* A rank's memory for the fit: the larger of its simulated peak and
 * explain's, which sizes memory at the workload's longest sequence (a
 * step of shorter ones peaks lower, but the layout must hold the longest). */
static double fit_bytes(const mp_sim_result *r, int p)
{
    return r->peak_bytes[p] > r->explain_peak_bytes[p] ? r->peak_bytes[p] : r->explain_peak_bytes[p];
}
static bool rank_fits(const mp_sim_result *r, int p) { return fit_bytes(r, p) <= r->capacity_bytes; }

/* The pipeline rank that needs the most (the first of equals). */
static int worst_rank(const mp_sim_result *r)
{
    int w = 0;
    for (int p = 1; p < r->ranks; p++)
        if (fit_bytes(r, p) > fit_bytes(r, w))
            w = p;
    return w;
}

static void report_text(FILE *f, const cli_inputs *in, const mp_layout *l, const mp_sim_options *so,
                        const mp_sim_result *r, const char *len_desc, const char *route_desc)
{
    char a[32], b[32], c[32], d[32], e[32];
    /* A model without experts has no etp, ep or edp (explain: "no
     * experts"; plan: "-"), no routing and no EP lockstep. */
    bool experts = in->model.num_experts > 0;
    char ex[64] = "";
    if (experts)
        snprintf(ex, sizeof ex, " | etp %d ep %d edp %d", l->etp, l->ep, l->edp);
    fprintf(f, "moeplan simulate: %s, %d GPU%s (tp %d cp %d dp %d pp %d%s | vpp %d mb %d, %d micro-batch%s), schedule "
               "%s\n",
            label(in), l->gpus, mp_plural(l->gpus), l->tp, l->cp, l->dp, l->pp, ex, l->vpp, l->micro_batch,
            l->num_micro_batches, l->num_micro_batches == 1 ? "" : "es", mp_schedule_name(so->schedule));
    fprintf(f, "%d step%s, seed %llu; lengths: %s; routing: %s\n\n", r->steps, r->steps == 1 ? "" : "s",
            (unsigned long long)so->seed, len_desc, route_desc);
    mp_fmt_seconds(r->step_mean_s, a, sizeof a);
    mp_fmt_seconds(r->step_p50_s, b, sizeof b);
    mp_fmt_seconds(r->step_p99_s, c, sizeof c);
    mp_fmt_seconds(r->step_min_s, d, sizeof d);
    mp_fmt_seconds(r->step_max_s, e, sizeof e);
    fprintf(f, "%-12s %12s %12s %12s %12s %12s\n", "", "mean", "p50", "p99", "min", "max");
    fprintf(f, "%-12s %12s %12s %12s %12s %12s\n", "step time", a, b, c, d, e);
    mp_fmt_seconds(r->explain_step_s, a, sizeof a);
    fprintf(f, "explain      %12s   (every sequence %ld token%s%s); simulated p50 / explain = %.3f\n", a,
            in->wl.seq_max, mp_plural(in->wl.seq_max), experts ? ", routing at the workload's imbalance" : "",
            r->explain_step_s > 0 ? r->step_p50_s / r->explain_step_s : 0);
    mp_fmt_seconds(r->pipeline_mean_s, a, sizeof a);
    mp_fmt_seconds(r->tail_s, b, sizeof b);
    fprintf(f, "pipeline     %12s   mean, first forward to last backward; bubble %.1f%% of it on the busiest rank\n",
            a, 100 * r->bubble_fraction);
    fprintf(f, "after flush  %12s   exposed DP reduction, gradient norm and optimizer (explain's)\n", b);
    mp_fmt_count(r->tokens_mean, a, sizeof a);
    mp_fmt_count(r->tokens_per_s, b, sizeof b);
    fprintf(f, "tokens       %12s   per step (real), %.1f%% of the computed tokens padding; %s tokens/s\n", a,
            100 * r->padding_fraction, b);
    if (r->expert_load_max > 0)
        fprintf(f, "experts      %11.3fx   busiest EP rank / mean, mean over MoE layers and micro-batches (max %.3fx); "
                   "%.2f%% of routed tokens dropped\n",
                r->expert_load_mean, r->expert_load_max, 100 * r->dropped_fraction);
    if (experts)
        fprintf(f, "EP lockstep  %12d   data-parallel replica%s per expert-parallel group, %d group%s\n",
                r->group_replicas, mp_plural(r->group_replicas), r->groups, mp_plural(r->groups));
    /* A layout that does not fit is still simulated (its time is asked
     * for), but said so, as explain says it. */
    int worst = worst_rank(r);
    if (!rank_fits(r, worst)) {
        mp_fmt_bytes(fit_bytes(r, worst), a, sizeof a);
        mp_fmt_bytes(r->capacity_bytes, b, sizeof b);
        fprintf(f, "memory       DOES NOT FIT: pipeline rank %d needs %s, %s available (moeplan explain: the "
                   "breakdown)\n", worst, a, b);
    }
    fputc('\n', f);
    fprintf(f, "%4s %8s %14s %14s %10s\n", "rank", "busy", "peak memory", "explain", "capacity");
    mp_fmt_bytes(r->capacity_bytes, c, sizeof c);
    for (int p = 0; p < r->ranks; p++) {
        mp_fmt_bytes(r->peak_bytes[p], a, sizeof a);
        mp_fmt_bytes(r->explain_peak_bytes[p], b, sizeof b);
        fprintf(f, "%4d %7.1f%% %14s %14s %10s\n", p, 100 * r->busy_fraction[p], a, b, c);
    }
    fputs("\nbusy: the rank's forward, backward and weight-gradient passes over the pipeline time (slowest group); "
          "peak memory: explain's, with the activations of the micro-batches actually in flight\n",
          f);
}

static json_t *report_json(const cli_inputs *in, const mp_layout *l, const mp_sim_options *so,
                           const mp_sim_result *r, const char *len_desc, const char *route_desc)
{
    json_t *ranks = json_array(), *steps = json_array();
    for (int p = 0; p < r->ranks; p++)
        /* Byte counts are JSON integers, as in every other output. */
        json_array_append_new(ranks, json_pack("{s:i,s:f,s:o,s:o,s:b}", "rank", p, "busy_fraction",
                                               r->busy_fraction[p], "peak_bytes", mp_json_count(r->peak_bytes[p]),
                                               "explain_peak_bytes", mp_json_count(r->explain_peak_bytes[p]), "fits",
                                               rank_fits(r, p)));
    for (int i = 0; i < r->steps; i++)
        json_array_append_new(steps, json_real(r->step_s[i]));
    /* The layout object of every JSON output (mp_report_layout_json). */
    return json_pack("{s:s,s:o,s:s,s:i,s:I,s:s,s:s,s:f,s:f,s:f,s:f,s:f,"
                     "s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i,s:i,s:o,s:b,s:o,s:o}",
                     "plan", label(in), "layout", mp_report_layout_json(l, in->model.num_experts > 0), "schedule",
                     mp_schedule_name(so->schedule), "steps", r->steps, "seed", (json_int_t)so->seed, "lengths",
                     len_desc, "routing", route_desc, "step_mean_s", r->step_mean_s, "step_p50_s", r->step_p50_s,
                     "step_p99_s", r->step_p99_s, "step_min_s", r->step_min_s, "step_max_s", r->step_max_s,
                     "explain_step_s", r->explain_step_s, "pipeline_mean_s", r->pipeline_mean_s, "tail_s", r->tail_s,
                     "bubble_fraction", r->bubble_fraction, "tokens_per_step", r->tokens_mean, "tokens_per_s",
                     r->tokens_per_s, "padding_fraction", r->padding_fraction, "dropped_fraction",
                     r->dropped_fraction, "expert_load_mean", r->expert_load_mean, "expert_load_max",
                     r->expert_load_max, "groups", r->groups, "group_replicas", r->group_replicas, "capacity_bytes",
                     mp_json_count(r->capacity_bytes), "fits", rank_fits(r, worst_rank(r)), "ranks", ranks,
                     "step_s", steps);
}

/* Whether two output paths name one file: the same file (device and inode)
 * when both exist, else the same name in the same folder (a path not yet
 * there: its folder resolved, so x.json and ./x.json are one). */
static bool same_output(const char *a, const char *b)
{
    if (!strcmp(a, b))
        return true;
    struct stat sa, sb;
    bool ha = stat(a, &sa) == 0, hb = stat(b, &sb) == 0;
    if (ha && hb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ha != hb)
        return false;
    char ra[2 * PATH_MAX], rb[2 * PATH_MAX];
    const char *paths[2] = {a, b};
    char *res[2] = {ra, rb};
    for (int i = 0; i < 2; i++) {
        const char *slash = strrchr(paths[i], '/');
        char dir[PATH_MAX];
        const char *base = slash ? slash + 1 : paths[i];
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else if (slash == paths[i])
            snprintf(dir, sizeof dir, "/");
        else
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - paths[i]), paths[i]);
        char rdir[PATH_MAX];
        if (!realpath(dir, rdir))
            return false;
        snprintf(res[i], 2 * PATH_MAX, "%s/%s", rdir, base);
    }
    return !strcmp(ra, rb);
}

static mp_status cmd_simulate(int argc, char **argv, FILE *out, mp_error *err, int *failed)
{
    (void)failed;
    out_file trace_out = {"", "", NULL}, svg_out = {"", "", NULL};
    const char *plan = NULL, *lengths = "range", *routing = "uniform", *trace = NULL, *svg = NULL, *cf_text = NULL;
    const char *sched_text = NULL;
    long steps = 10, seed = 1, pack = 0;
    out_format fmt = FMT_TEXT;
    opterr = 0;
    optind = 1;
    int ch, longi;
    mp_status st;
    cli_opts o;
    memset(&o, 0, sizeof o);
    mp_layout_defaults(&o.layout);
    while ((ch = getopt_long(argc, argv, ":h", sim_options, &longi)) != -1) {
        switch (ch) {
        case O_PLAN: plan = optarg; break;
        case O_MODEL: o.model_path = optarg; break;
        case O_HARDWARE: o.hardware_path = optarg; break;
        case O_WORKLOAD: o.workload_path = optarg; break;
        case O_GPUS:
        case O_GB:
        case O_SEQ:
        case O_RECOMPUTE:
        case O_SP:
        case O_NO_SP:
        case O_ZERO:
        case O_FSDP:
        case O_SHARD:
        case O_DOPT:
        case O_NO_DOPT:
        case O_TP:
        case O_PP:
        case O_DP:
        case O_CP:
        case O_EP:
        case O_ETP:
        case O_VPP:
        case O_MB:
        case O_PP_FIRST:
        case O_PP_LAST: {
            bool known;
            if ((st = cli_layout_option(sim_options[longi].name, optarg, "simulate", false, &o, &known, err)))
                return st;
            break;
        }
        case O_SCHEDULE: sched_text = optarg; break;
        case O_STEPS:
            if ((st = whole("steps", optarg, 1, 10000, &steps, err)))
                return st;
            break;
        case O_SEED:
            if ((st = whole("seed", optarg, 0, 2147483647L, &seed, err)))
                return st;
            break;
        case O_PACK:
            if ((st = whole("pack", optarg, 1, 100000000L, &pack, err)))
                return st;
            break;
        case O_LENGTHS: lengths = optarg; break;
        case O_ROUTING: routing = optarg; break;
        case O_CF: cf_text = optarg; break;
        case O_TRACE: trace = optarg; break;
        case O_SVG: svg = optarg; break;
        case O_FORMAT:
            if ((st = cli_format_text_json(optarg, &fmt, err)))
                return st;
            break;
        case 'h': cli_command_help(out, &cmd_simulate_def); return MP_OK;
        default: return cli_getopt_error(ch, argv, "simulate", err);
        }
    }
    if (optind < argc)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "unexpected argument '%s'; see moeplan simulate --help",
                            argv[optind]);

    /* One file for both: the image would be renamed over the trace. */
    if (trace && svg && same_output(trace, svg))
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--svg: '%s' names the same file as --trace '%s'; give the image a path of its own "
                            "(it would replace the trace)",
                            svg, trace);

    o.plan_path = plan;
    cli_inputs *in;
    mp_layout l;
    mp_cost_ctx *c = malloc(sizeof *c);
    if (!c)
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
    mp_cost k;
    if ((st = cli_evaluate(&o, true, &in, &l, c, &k, err))) {
        free(c);
        return st;
    }
    mp_len_bin *bins = NULL;
    double *weights = NULL;
    mp_sim_result r;
    memset(&r, 0, sizeof r);
    mp_sim_options so;
    mp_sim_options_defaults(&so);
    so.steps = (int)steps;
    so.seed = (uint64_t)seed;
    so.pack_tokens = pack;
    so.schedule = mp_schedule_default(&l);
    so.keep_events = trace || svg;
    char len_desc[1200], route_desc[1200];
    if (sched_text && !mp_schedule_parse(sched_text, &so.schedule)) {
        static const char *const names[] = {"gpipe", "1f1b", "interleaved", "zb-h1", "dualpipe"};
        st = cli_not_one_of("schedule", sched_text, "gpipe, 1f1b, interleaved, zb-h1 or dualpipe", names, 5, err);
        goto done;
    }
    /* The capacity factor, into the workload the cost model reads. */
    mp_workload wl = in->wl;
    if (cf_text) {
        double x = 0;
        if (!strcmp(cf_text, "dropless"))
            wl.capacity_factor = 0;
        else if (!cli_parse_decimal(cf_text, &x) || !(x >= 1 && x <= 64)) {
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                              "--capacity-factor: expected a factor from 1 to 64 or 'dropless', got '%s'", cf_text);
            goto done;
        } else {
            wl.capacity_factor = x;
        }
    }
    /* Lengths. */
    if (!strcmp(lengths, "range")) {
        so.lengths = MP_LEN_RANGE;
        if (wl.seq_min == wl.seq_max) /* a fixed seq_len: the range is one length */
            snprintf(len_desc, sizeof len_desc, "every sequence %ld token%s (the workload's fixed length)", wl.seq_max,
                     mp_plural(wl.seq_max));
        else
            snprintf(len_desc, sizeof len_desc, "uniform over %ld-%ld tokens", wl.seq_min, wl.seq_max);
    } else if (!strcmp(lengths, "fixed")) {
        so.lengths = MP_LEN_FIXED;
        snprintf(len_desc, sizeof len_desc, "every sequence %ld token%s", wl.seq_max, mp_plural(wl.seq_max));
    } else if (cli_is_file(lengths)) {
        int n;
        if ((st = mp_lengths_load(lengths, wl.seq_max, &bins, &n, err)))
            goto done;
        so.lengths = MP_LEN_HISTOGRAM;
        so.bins = bins;
        so.n_bins = n;
        snprintf(len_desc, sizeof len_desc, "histogram %s (%d bin%s)", lengths, n, mp_plural(n));
    } else {
        static const char *const names[] = {"range", "fixed"};
        st = cli_not_one_of("lengths", lengths, "range, fixed or a .yaml histogram file", names, 2, err);
        goto done;
    }
    if (pack > 0) {
        size_t u = strlen(len_desc);
        snprintf(len_desc + u, sizeof len_desc - u, ", packed into sequences of %ld token%s", pack, mp_plural(pack));
        if (pack > wl.seq_max) {
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                              "--pack: %ld tokens is longer than the workload's sequences (%ld), which size memory",
                              pack, wl.seq_max);
            goto done;
        }
    }
    /* Routing. */
    cli_routing rt;
    /* A dense model has no routing: a --routing other than the default
     * (uniform) would be ignored, so balanced is refused here, zipf:S and
     * a file by cli_routing_parse. */
    if (in->model.num_experts <= 0 && !strcmp(routing, "balanced")) {
        st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--routing %s: the model has no experts", routing);
        goto done;
    }
    if ((st = cli_routing_parse(routing, true, in->model.num_experts, &rt, err)))
        goto done;
    weights = rt.weights;
    switch (rt.kind) {
    case CLI_ROUTE_BALANCED:
        so.routing = MP_ROUTE_BALANCED;
        snprintf(route_desc, sizeof route_desc, "balanced (busiest EP rank at the workload's imbalance %.3gx)",
                 wl.routing_imbalance);
        break;
    case CLI_ROUTE_UNIFORM:
        so.routing = MP_ROUTE_ZIPF;
        snprintf(route_desc, sizeof route_desc, "uniform (each token's experts drawn at random)");
        break;
    case CLI_ROUTE_ZIPF: /* the simulator puts the ranks on a random order of the experts */
        so.routing = MP_ROUTE_ZIPF;
        so.zipf_s = rt.skew;
        snprintf(route_desc, sizeof route_desc, "Zipf, skew %g", rt.skew);
        break;
    case CLI_ROUTE_FILE:
        so.routing = MP_ROUTE_WEIGHTS;
        so.expert_weights = weights;
        so.n_expert_weights = rt.n;
        snprintf(route_desc, sizeof route_desc, "per-expert histogram %s", routing);
        break;
    }
    {
        size_t u = strlen(route_desc);
        if (in->model.num_experts <= 0)
            snprintf(route_desc, sizeof route_desc, "none (a dense model)");
        else if (wl.capacity_factor > 0)
            snprintf(route_desc + u, sizeof route_desc - u, ", capacity factor %g (padded to capacity)",
                     wl.capacity_factor);
        else
            snprintf(route_desc + u, sizeof route_desc - u, ", dropless");
    }
    mp_cost_ctx_init(c, &in->model, &in->hw, &wl, &l, wl.seq_max);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((st = mp_simulate(c, &so, &r, err)))
        goto done;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    char title[1024];
    snprintf(title, sizeof title, "moeplan simulate: %s, %d GPU%s, %s",
             label(in), l.gpus, mp_plural(l.gpus),
             mp_schedule_name(so.schedule));
    /* Both opened first: a path that cannot be written fails the command
     * before either file changes.  While a temporary exists, an interrupt,
     * termination or hang-up removes it before the signal takes its
     * course, so the outputs are left as they were and nothing beside them. */
    if (trace || svg)
        temps_guard(true);
    if ((trace && (st = out_open(&trace_out, trace, "trace", err))) ||
        (svg && (st = out_open(&svg_out, svg, "image", err))))
        goto done;
    if (trace) {
        json_t *t = mp_sim_trace(&r, title);
        if (!t) {
            st = mp_error_set(err, MP_ERR_NOMEM, trace, 0, 0, "could not write the trace: out of memory");
            goto done;
        }
        if (json_dumpf(t, trace_out.f, JSON_COMPACT))
            st = mp_error_set(err, MP_ERR_IO, trace, 0, 0, "could not write the trace: %s", strerror(errno));
        json_decref(t);
        if (st || (st = out_close(&trace_out, trace, "trace", err)))
            goto done;
    }
    if (svg) {
        mp_svg_timeline(svg_out.f, &r, title);
        if ((st = out_close(&svg_out, svg, "image", err)))
            goto done;
    }
    /* Both written: into place, one rename after the other. */
    if ((trace && (st = out_commit(&trace_out, trace, "trace", err))) ||
        (svg && (st = out_commit(&svg_out, svg, "image", err))))
        goto done;
    temps_guard(false);
    if (fmt == FMT_JSON) {
        json_t *j = report_json(in, &l, &so, &r, len_desc, route_desc);
        if (!j) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        /* Sorted keys and the shortest reals, as every JSON moeplan writes. */
        mp_report_json_write(out, j);
        json_decref(j);
    } else {
        report_text(out, in, &l, &so, &r, len_desc, route_desc);
    }
    /* How long the simulation took, for `meson test --benchmark` (stderr:
     * stdout stays deterministic). */
    fprintf(stderr, "moeplan: simulated %d step%s in %.3f s\n", r.steps, r.steps == 1 ? "" : "s", secs);
done:
    out_discard(&trace_out);
    out_discard(&svg_out);
    temps_guard(false);
    mp_sim_result_free(&r);
    free(bins);
    free(weights);
    free(in);
    free(c);
    return st;
}
