/* moeplan: the command line.  Parses flags, runs a subcommand into a memory
 * buffer, and only then writes it to stdout; errors go to stderr as
 * `moeplan: file:line:col: error: ...`.  The only place that exits. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "moeplan/units.h"

enum {
    EXIT_OK = 0,
    EXIT_CHECK_FAILED = 1,
    EXIT_BAD_INPUT = 2,
    EXIT_INTERNAL = 3
};

enum {
    OPT_MODEL = 256, OPT_HARDWARE, OPT_WORKLOAD, OPT_PLAN, OPT_GPUS, OPT_TP, OPT_PP, OPT_DP, OPT_CP, OPT_EP, OPT_ETP,
    OPT_VPP, OPT_MB, OPT_GB, OPT_SEQ, OPT_RECOMPUTE, OPT_SP, OPT_NO_SP, OPT_DOPT, OPT_NO_DOPT, OPT_FORMAT, OPT_OPS,
    OPT_SORT, OPT_HEADROOM, OPT_TARGET_TOK, OPT_TARGET_STEP, OPT_WHY_NOT, OPT_FEWEST, OPT_EMIT, OPT_PLOT,
    OPT_PARETO, OPT_REPS, OPT_PP_FIRST, OPT_PP_LAST, OPT_UNEVEN, OPT_TOP, OPT_LAST = OPT_TOP
};

/* Which commands take which options: an option a command would ignore is
 * an error, not silence. */
enum { C_PLAN = 1, C_EXPLAIN = 2, C_CHECK = 4, C_AUDIT = 8, C_BENCH = 16, C_ALL = 31 };
static int option_commands(int opt)
{
    switch (opt) {
    case OPT_OPS: return C_EXPLAIN;
    case OPT_EMIT: return C_PLAN | C_EXPLAIN;
    case OPT_SORT: case OPT_TOP: case OPT_WHY_NOT: case OPT_FEWEST: case OPT_PARETO: case OPT_PLOT: return C_PLAN;
    case OPT_UNEVEN: return C_PLAN | C_BENCH;
    case OPT_TARGET_TOK: case OPT_TARGET_STEP: return C_PLAN | C_BENCH;
    case OPT_HEADROOM: return C_PLAN | C_BENCH | C_CHECK;
    case OPT_REPS: return C_BENCH;
    case OPT_PLAN: return C_PLAN | C_EXPLAIN | C_CHECK | C_BENCH;
    default: return C_ALL;
    }
}
static int command_bit(const char *cmd)
{
    return !strcmp(cmd, "plan") ? C_PLAN : !strcmp(cmd, "explain") ? C_EXPLAIN : !strcmp(cmd, "check") ? C_CHECK
           : !strcmp(cmd, "audit") ? C_AUDIT : C_BENCH;
}

static const struct option long_opts[] = {
    {"model", required_argument, 0, OPT_MODEL},
    {"hardware", required_argument, 0, OPT_HARDWARE},
    {"workload", required_argument, 0, OPT_WORKLOAD},
    {"plan", required_argument, 0, OPT_PLAN},
    {"gpus", required_argument, 0, OPT_GPUS},
    {"tp", required_argument, 0, OPT_TP},
    {"pp", required_argument, 0, OPT_PP},
    {"dp", required_argument, 0, OPT_DP},
    {"cp", required_argument, 0, OPT_CP},
    {"ep", required_argument, 0, OPT_EP},
    {"etp", required_argument, 0, OPT_ETP},
    {"vpp", required_argument, 0, OPT_VPP},
    {"micro-batch", required_argument, 0, OPT_MB},
    {"pp-first-layers", required_argument, 0, OPT_PP_FIRST},
    {"pp-last-layers", required_argument, 0, OPT_PP_LAST},
    {"global-batch", required_argument, 0, OPT_GB},
    {"seq-len", required_argument, 0, OPT_SEQ},
    {"recompute", required_argument, 0, OPT_RECOMPUTE},
    {"sequence-parallel", optional_argument, 0, OPT_SP},
    {"no-sequence-parallel", no_argument, 0, OPT_NO_SP},
    {"distributed-optimizer", optional_argument, 0, OPT_DOPT},
    {"no-distributed-optimizer", no_argument, 0, OPT_NO_DOPT},
    {"format", required_argument, 0, OPT_FORMAT},
    {"ops", no_argument, 0, OPT_OPS},
    {"sort", required_argument, 0, OPT_SORT},
    {"headroom", required_argument, 0, OPT_HEADROOM},
    {"target-tokens-per-s", required_argument, 0, OPT_TARGET_TOK},
    {"target-step-time", required_argument, 0, OPT_TARGET_STEP},
    {"why-not", no_argument, 0, OPT_WHY_NOT},
    {"fewest-gpus", no_argument, 0, OPT_FEWEST},
    {"pareto", no_argument, 0, OPT_PARETO},
    {"uneven-pipeline", no_argument, 0, OPT_UNEVEN},
    {"emit", required_argument, 0, OPT_EMIT},
    {"plot", required_argument, 0, OPT_PLOT},
    {"reps", required_argument, 0, OPT_REPS},
    {"top", required_argument, 0, 'n'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0}};

static void usage(FILE *f)
{
    fputs("usage: moeplan [COMMAND] [OPTIONS]\n"
          "\n"
          "Plan Mixture-of-Experts training layouts before any job runs.\n"
          "\n"
          "commands:\n"
          "  plan      search every valid layout, rank them (the default command)\n"
          "  explain   one layout in depth: memory per GPU, time per step, assumptions\n"
          "  check     CI gate: exit 1 when a plan file's requirements do not hold\n"
          "  audit     check a proposal's claims and show better layouts\n"
          "  bench     time the layout search (layouts scored per second)\n"
          "\n"
          "inputs (default: the seed files shipped in plans/):\n"
          "  --model FILE        native YAML or Hugging Face config.json\n"
          "  --hardware FILE     --workload FILE     --plan FILE\n"
          "layout:\n"
          "  --gpus N|A-B  --tp N --pp N --dp N --cp N --ep N --etp N --vpp N\n"
          "  --micro-batch N  --global-batch N  --seq-len N|A-B\n"
          "  --pp-first-layers N --pp-last-layers N (uneven pipeline, vpp 1)\n"
          "  --recompute none|selective|full  --[no-]sequence-parallel  --[no-]distributed-optimizer\n"
          "output:\n"
          "  --format text|json|csv   --ops (explain: every op of every block)\n"
          "plan:\n"
          "  --sort tokens|step|tokens-per-gpu|headroom  -n/--top N  --headroom FRACTION\n"
          "  --target-tokens-per-s X  --target-step-time T  --fewest-gpus  --pareto  --why-not\n"
          "  --uneven-pipeline (also uneven first/last ranks when pp does not divide the layers)\n"
          "  --emit megatron  --plot FILE.svg\n"
          "bench:\n"
          "  --reps N (and the plan options above)\n"
          "  -h, --help   -V, --version\n"
          "\n"
          "exit status: 0 success, 1 a check failed, 2 bad input or usage, 3 internal error.\n"
          "See moeplan(1) and moeplan(5).\n",
          f);
}

static int fail(const mp_error *e)
{
    char buf[2048];
    mp_error_format(e, buf, sizeof buf);
    fprintf(stderr, "moeplan: %s\n", buf);
    if (e->status == MP_ERR_NOMEM || e->status == MP_ERR_INTERNAL)
        return EXIT_INTERNAL;
    return EXIT_BAD_INPUT;
}

static int flag_error(const char *flag, const char *fmt, const char *arg) MP_PRINTF(2, 0);
static int flag_error(const char *flag, const char *fmt, const char *arg)
{
    fprintf(stderr, "moeplan: error: --%s: ", flag);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    fprintf(stderr, fmt, arg);
#pragma GCC diagnostic pop
    fputc('\n', stderr);
    return EXIT_BAD_INPUT;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_onoff(const char *s, bool *out)
{
    if (!s || !strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0")) {
        *out = false;
        return true;
    }
    return false;
}

static const char *const commands[] = {"plan", "explain", "check", "audit", "bench", NULL};

int main(int argc, char **argv)
{
    cli_opts o;
    memset(&o, 0, sizeof o);
    mp_layout_defaults(&o.layout);
    o.top_n = 10;
    o.sort = "tokens";
    o.bench_reps = 3;
    const char *cmd = "plan";
    int argi = 1;
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        bool known = false;
        for (int i = 0; commands[i]; i++)
            known |= strcmp(cmd, commands[i]) == 0;
        if (!known) {
            const char *dym = mp_did_you_mean(cmd, commands, 5);
            fprintf(stderr, "moeplan: error: unknown command '%s'%s%s%s; see moeplan --help\n", cmd,
                    dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
            return EXIT_BAD_INPUT;
        }
        argi = 2;
    }
    opterr = 0;
    optind = argi;
    int ch;
    long v;
    bool seen[OPT_LAST + 1];
    memset(seen, 0, sizeof seen);
    while ((ch = getopt_long(argc, argv, ":hVn:", long_opts, NULL)) != -1) {
        const char *name = NULL;
        if (ch == 'n')
            seen[OPT_TOP] = true;
        else if (ch >= OPT_MODEL && ch <= OPT_LAST)
            seen[ch] = true;
        for (const struct option *lo = long_opts; lo->name; lo++)
            if (lo->val == ch)
                name = lo->name;
        switch (ch) {
        case 'h': usage(stdout); return EXIT_OK;
        case 'V':
            printf("moeplan %s (%s)\n", MP_VERSION,
                   MP_HAVE_CUDA ? "CUDA toolkit found at build time: nvcc, cuBLAS, NCCL"
                                : "built without CUDA: running plans on GPUs needs nvcc, cuBLAS and NCCL at build time");
            return EXIT_OK;
        case OPT_MODEL: o.model_path = optarg; break;
        case OPT_HARDWARE: o.hardware_path = optarg; break;
        case OPT_WORKLOAD: o.workload_path = optarg; break;
        case OPT_PLAN: o.plan_path = optarg; break;
        case OPT_GPUS: o.gpus_text = optarg; o.set.gpus = true; break;
#define LAYOUT_INT(OPT, field, max)                                                          \
        case OPT:                                                                             \
            if (!parse_long(optarg, 1, max, &v))                                              \
                return flag_error(name, "expected a whole number from 1 to " #max ", got '%s'", optarg); \
            o.layout.field = (int)v;                                                          \
            o.set.field = true;                                                       \
            break;
        LAYOUT_INT(OPT_TP, tp, 65536)
        LAYOUT_INT(OPT_PP, pp, 65536)
        LAYOUT_INT(OPT_DP, dp, 16777216)
        LAYOUT_INT(OPT_CP, cp, 65536)
        LAYOUT_INT(OPT_EP, ep, 1000000)
        LAYOUT_INT(OPT_ETP, etp, 65536)
        LAYOUT_INT(OPT_VPP, vpp, 1024)
        LAYOUT_INT(OPT_MB, micro_batch, 1000000)
        LAYOUT_INT(OPT_PP_FIRST, pp_first, 1024)
        LAYOUT_INT(OPT_PP_LAST, pp_last, 1024)
#undef LAYOUT_INT
        case OPT_GB:
            if (!parse_long(optarg, 1, 100000000L, &o.global_batch))
                return flag_error(name, "expected a whole number of sequences from 1 to 100000000, got '%s'", optarg);
            break;
        case OPT_SEQ: {
            long a, b;
            if (!mp_parse_seq_range(optarg, &a, &b))
                return flag_error(name, "expected tokens such as 4096 or a range such as 128-10240, got '%s'", optarg);
            o.seq_text = optarg;
            break;
        }
        case OPT_RECOMPUTE:
            if (!strcmp(optarg, "none")) o.layout.recompute = MP_RECOMPUTE_NONE;
            else if (!strcmp(optarg, "selective")) o.layout.recompute = MP_RECOMPUTE_SELECTIVE;
            else if (!strcmp(optarg, "full")) o.layout.recompute = MP_RECOMPUTE_FULL;
            else return flag_error(name, "expected none, selective or full, got '%s'", optarg);
            o.set.recompute = true;
            break;
        case OPT_SP:
        case OPT_NO_SP:
            if (ch == OPT_NO_SP) o.layout.sequence_parallel = false;
            else if (!parse_onoff(optarg, &o.layout.sequence_parallel))
                return flag_error(name, "expected on or off, got '%s'", optarg);
            o.set.sequence_parallel = true;
            break;
        case OPT_DOPT:
        case OPT_NO_DOPT:
            if (ch == OPT_NO_DOPT) o.layout.distributed_optimizer = false;
            else if (!parse_onoff(optarg, &o.layout.distributed_optimizer))
                return flag_error(name, "expected on or off, got '%s'", optarg);
            o.set.distributed_optimizer = true;
            break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "text")) o.format = FMT_TEXT;
            else if (!strcmp(optarg, "json")) o.format = FMT_JSON;
            else if (!strcmp(optarg, "csv")) o.format = FMT_CSV;
            else return flag_error(name, "expected text, json or csv, got '%s'", optarg);
            break;
        case OPT_OPS: o.ops = true; break;
        case OPT_SORT:
            if (strcmp(optarg, "tokens") && strcmp(optarg, "step") && strcmp(optarg, "tokens-per-gpu") &&
                strcmp(optarg, "headroom"))
                return flag_error(name, "expected tokens, step, tokens-per-gpu or headroom, got '%s'", optarg);
            o.sort = optarg;
            break;
        case 'n':
            if (!parse_long(optarg, 1, 1000000, &o.top_n))
                return flag_error("top", "expected a whole number from 1 to 1000000, got '%s'", optarg);
            break;
        case OPT_HEADROOM: {
            char why[256];
            if (!mp_parse_quantity(optarg, MP_UNIT_FRACTION, &o.headroom, why, sizeof why) || o.headroom < 0 ||
                o.headroom >= 1)
                return flag_error(name, "expected a fraction of capacity in [0, 1) such as 0.1 or 10%%, got '%s'",
                                  optarg);
            o.has_headroom = true;
            break;
        }
        case OPT_TARGET_TOK: {
            char *end;
            o.target_tokens_per_s = strtod(optarg, &end);
            if (end == optarg || *end || !(o.target_tokens_per_s > 0) || o.target_tokens_per_s > 1e15)
                return flag_error(name, "expected a positive number of tokens per second, got '%s'", optarg);
            break;
        }
        case OPT_TARGET_STEP: {
            char why[256];
            if (!mp_parse_quantity(optarg, MP_UNIT_SECONDS, &o.target_step_time_s, why, sizeof why) ||
                !(o.target_step_time_s > 0))
                return flag_error(name, "expected a duration with a unit such as 2s or 500ms, got '%s'", optarg);
            break;
        }
        case OPT_WHY_NOT: o.why_not = true; break;
        case OPT_FEWEST: o.fewest = true; break;
        case OPT_PARETO: o.pareto = true; break;
        case OPT_UNEVEN: o.uneven_pipeline = true; break;
        case OPT_EMIT:
            if (strcmp(optarg, "megatron"))
                return flag_error(name, "expected megatron, got '%s'", optarg);
            o.emit = optarg;
            break;
        case OPT_PLOT: o.plot_path = optarg; break;
        case OPT_REPS:
            if (!parse_long(optarg, 1, 1000, &o.bench_reps))
                return flag_error(name, "expected a whole number from 1 to 1000, got '%s'", optarg);
            break;
        case ':':
            fprintf(stderr, "moeplan: error: %s needs a value; see moeplan --help\n", argv[optind - 1]);
            return EXIT_BAD_INPUT;
        default: {
            const char *bad = argv[optind - 1];
            const char *names[64];
            size_t n = 0;
            for (const struct option *lo = long_opts; lo->name && n < 64; lo++)
                names[n++] = lo->name;
            const char *word = bad;
            while (*word == '-')
                word++;
            char w[64];
            snprintf(w, sizeof w, "%s", word);
            char *eq = strchr(w, '=');
            if (eq)
                *eq = 0;
            const char *dym = mp_did_you_mean(w, names, n);
            if (dym)
                fprintf(stderr, "moeplan: error: unknown option '%s' (did you mean '--%s'?)\n", bad, dym);
            else
                fprintf(stderr, "moeplan: error: unknown option '%s'; see moeplan --help\n", bad);
            return EXIT_BAD_INPUT;
        }
        }
    }
    for (int opt = OPT_MODEL; opt <= OPT_LAST; opt++) {
        if (!seen[opt] || (option_commands(opt) & command_bit(cmd)))
            continue;
        const char *oname = "top";
        for (const struct option *lo = long_opts; lo->name; lo++)
            if (lo->val == opt)
                oname = lo->name;
        fprintf(stderr, "moeplan: error: --%s is not an option of '%s'; see moeplan --help\n", oname, cmd);
        return EXIT_BAD_INPUT;
    }
    if (o.format == FMT_CSV && strcmp(cmd, "plan")) {
        fprintf(stderr, "moeplan: error: --format csv is for 'plan'; '%s' writes text or json\n", cmd);
        return EXIT_BAD_INPUT;
    }
    if (optind < argc) {
        if (!strcmp(cmd, "audit") && !o.proposal_path && optind == argc - 1) {
            o.proposal_path = argv[optind];
        } else if (!strcmp(cmd, "check") && !o.plan_path && optind == argc - 1) {
            o.plan_path = argv[optind];
        } else {
            /* Name the first argument that has no place. */
            int extra = optind;
            if ((!strcmp(cmd, "audit") || !strcmp(cmd, "check")) && optind < argc - 1 &&
                !(!strcmp(cmd, "audit") ? o.proposal_path : o.plan_path))
                extra = optind + 1;
            fprintf(stderr, "moeplan: error: unexpected argument '%s'\n", argv[extra]);
            return EXIT_BAD_INPUT;
        }
    }

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        fprintf(stderr, "moeplan: error: out of memory\n");
        return EXIT_INTERNAL;
    }
    mp_error err;
    memset(&err, 0, sizeof err);
    mp_status st;
    int failed = 0;
    if (!strcmp(cmd, "explain"))
        st = cmd_explain(&o, out, &err);
    else if (!strcmp(cmd, "plan"))
        st = cmd_plan(&o, out, &err);
    else if (!strcmp(cmd, "check"))
        st = cmd_check(&o, out, &failed, &err);
    else if (!strcmp(cmd, "audit"))
        st = cmd_audit(&o, out, &err);
    else
        st = cmd_bench(&o, out, &err);
    fclose(out);
    if (st) {
        free(buf);
        return fail(&err);
    }
    fwrite(buf, 1, len, stdout);
    free(buf);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "moeplan: error: writing the output failed: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    return failed ? EXIT_CHECK_FAILED : EXIT_OK;
}
