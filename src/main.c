/* moeplan: the command line.  Parses flags, runs a subcommand into a memory
 * buffer, and only then writes it to stdout; errors go to stderr as
 * `moeplan: file:line:col: error: ...`.  The only place that exits. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    OPT_PARETO, OPT_REPS, OPT_PP_FIRST, OPT_PP_LAST, OPT_UNEVEN, OPT_JOBS, OPT_ZERO, OPT_FSDP, OPT_SHARD,
    OPT_SIMULATE
};

/* Which commands take which options: an option a command would ignore is
 * an error, not silence. */
enum { C_PLAN = 1, C_EXPLAIN = 2, C_CHECK = 4, C_AUDIT = 8, C_BENCH = 16, C_ALL = 31 };

/* The one option table: getopt_long's table for each command, `moeplan
 * COMMAND --help` and the checks on the command line all come from it;
 * tests/docs_options.py holds moeplan(1) and `moeplan --help` to it. */
typedef struct {
    const char *name;
    int has_arg, val, cmds;
    const char *arg, *help; /* for `moeplan COMMAND --help` */
} opt_spec;

static const opt_spec specs[] = {
    {"model", required_argument, OPT_MODEL, C_ALL, "FILE", "native YAML or Hugging Face config.json"},
    {"hardware", required_argument, OPT_HARDWARE, C_ALL, "FILE", "the GPU and network"},
    {"workload", required_argument, OPT_WORKLOAD, C_ALL, "FILE", "batch, sequence lengths, precision, optimizer"},
    {"plan", required_argument, OPT_PLAN, C_PLAN | C_EXPLAIN | C_CHECK | C_BENCH, "FILE",
     "a plan file: input files, layout, requirements"},
    {"gpus", required_argument, OPT_GPUS, C_ALL, "N|A-B", "GPU count (plan, bench: or a range)"},
    {"tp", required_argument, OPT_TP, C_ALL, "N", "tensor-parallel size"},
    {"pp", required_argument, OPT_PP, C_ALL, "N", "pipeline-parallel size"},
    {"dp", required_argument, OPT_DP, C_ALL, "N", "data-parallel size"},
    {"cp", required_argument, OPT_CP, C_ALL, "N", "context-parallel size"},
    {"ep", required_argument, OPT_EP, C_ALL, "N", "expert-parallel size"},
    {"etp", required_argument, OPT_ETP, C_ALL, "N", "expert-tensor-parallel size"},
    {"vpp", required_argument, OPT_VPP, C_ALL, "N", "virtual pipeline stages per rank"},
    {"micro-batch", required_argument, OPT_MB, C_ALL, "N", "sequences per micro-batch"},
    {"pp-first-layers", required_argument, OPT_PP_FIRST, C_ALL, "N", "layers on the first pipeline rank"},
    {"pp-last-layers", required_argument, OPT_PP_LAST, C_ALL, "N", "layers on the last pipeline rank"},
    {"global-batch", required_argument, OPT_GB, C_ALL, "N", "sequences per step"},
    {"seq-len", required_argument, OPT_SEQ, C_ALL, "N|A-B", "tokens per sequence, or a range"},
    {"recompute", required_argument, OPT_RECOMPUTE, C_ALL, "none|selective|full|MODULES",
     "activation recomputation; MODULES: selective, of core_attn,moe_act,layernorm,mla_up_proj,mlp,moe,shared_experts"},
    {"sequence-parallel", optional_argument, OPT_SP, C_ALL, "[=on|off]", "Megatron sequence parallelism"},
    {"no-sequence-parallel", no_argument, OPT_NO_SP, C_ALL, "", "sequence parallelism off"},
    {"distributed-optimizer", optional_argument, OPT_DOPT, C_ALL, "[=on|off]", "shard optimizer state over dp"},
    {"no-distributed-optimizer", no_argument, OPT_NO_DOPT, C_ALL, "", "distributed optimizer off"},
    {"zero", required_argument, OPT_ZERO, C_ALL, "0|1|2|3|any",
     "ZeRO stage: 1 shards optimizer states, 2 also gradients, 3 also parameters; any: search them (plan, audit, "
     "bench)"},
    {"fsdp", no_argument, OPT_FSDP, C_ALL, "", "fully sharded data parallel: --zero 3"},
    {"shard-group", required_argument, OPT_SHARD, C_ALL, "N", "HSDP: shard over groups of N data-parallel ranks"},
    {"format", required_argument, OPT_FORMAT, C_ALL, "text|json|csv", "report format (csv: plan only)"},
    {"ops", no_argument, OPT_OPS, C_EXPLAIN, "", "every op of every block"},
    {"sort", required_argument, OPT_SORT, C_PLAN, "tokens|step|tokens-per-gpu|headroom", "order of the best layouts"},
    {"top", required_argument, 'n', C_PLAN, "N", "how many best layouts (also -n N)"},
    {"headroom", required_argument, OPT_HEADROOM, C_PLAN | C_CHECK | C_BENCH, "FRACTION",
     "memory to leave free, 0.1 or 10%"},
    {"target-tokens-per-s", required_argument, OPT_TARGET_TOK, C_PLAN | C_BENCH, "X", "keep layouts this fast"},
    {"target-step-time", required_argument, OPT_TARGET_STEP, C_PLAN | C_BENCH, "T",
     "keep layouts with steps this short (2s, 500ms)"},
    {"why-not", no_argument, OPT_WHY_NOT, C_PLAN, "", "examples of rejected layouts, per rule"},
    {"fewest-gpus", no_argument, OPT_FEWEST, C_PLAN, "", "rank on the fewest GPUs that have a kept layout"},
    {"pareto", no_argument, OPT_PARETO, C_PLAN, "", "list the whole Pareto front"},
    {"simulate", required_argument, OPT_SIMULATE, C_PLAN, "K",
     "re-rank the best K layouts (1-100) by simulated p50 step time (moeplan simulate's defaults)"},
    {"uneven-pipeline", no_argument, OPT_UNEVEN, C_PLAN | C_BENCH, "", "also search uneven first/last ranks"},
    {"emit", required_argument, OPT_EMIT, C_PLAN | C_EXPLAIN, "megatron|torchtitan|deepspeed",
     "the chosen layout as Megatron-LM arguments, a TorchTitan TOML or a DeepSpeed JSON config"},
    {"plot", required_argument, OPT_PLOT, C_PLAN, "FILE.svg", "write an SVG image of the search"},
    {"reps", required_argument, OPT_REPS, C_BENCH, "N", "repetitions of the search"},
    {"jobs", required_argument, OPT_JOBS, C_PLAN | C_AUDIT | C_BENCH, "N",
     "threads for the search, 1-1024 (default: the online CPUs)"},
    {"help", no_argument, 'h', C_ALL, "", "this help (also -h)"},
    {"version", no_argument, 'V', C_ALL, "", "version and CUDA toolkit (also -V)"},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static const char *const commands[] = {"plan", "explain", "check", "audit", "bench", NULL};

/* The commands that parse their own options, each in its cmd_*.c (cli.h);
 * the five above share the option table `specs`. */
static const cli_command *const own_commands[] = {&cmd_validate_def, &cmd_calibrate_def, &cmd_run_def, &cmd_simulate_def};
#define N_OWN (sizeof own_commands / sizeof own_commands[0])
/* "synopsis: description", per command, in the order of commands[]. */
static const char *const command_usage[] = {
    "plan [OPTIONS]: search every valid layout, rank them (the default command)",
    "explain [OPTIONS]: one layout in depth: memory per GPU, time per step, assumptions",
    "check PLAN.yaml [OPTIONS]: CI gate: exit 1 when a plan file's requirements do not hold",
    "audit PROPOSAL.yaml [OPTIONS]: check a proposal's claims and show better layouts",
    "bench [OPTIONS]: time the layout search (layouts scored per second)",
};

static int command_index(const char *cmd)
{
    for (int i = 0; commands[i]; i++)
        if (!strcmp(cmd, commands[i]))
            return i;
    return -1;
}

/* `moeplan COMMAND --help`: the options that COMMAND takes, from specs. */
static void command_help(FILE *f, int ci)
{
    const char *u = command_usage[ci], *colon = strchr(u, ':');
    fprintf(f, "usage: moeplan %.*s\n\n%s\n\noptions of '%s':\n", (int)(colon - u), u, colon + 2, commands[ci]);
    for (size_t i = 0; i < N_SPECS; i++) {
        if (!(specs[i].cmds & (1 << ci)))
            continue;
        char head[96];
        const char *a = specs[i].arg;
        snprintf(head, sizeof head, "--%s%s%s", specs[i].name, a[0] && a[0] != '[' ? " " : "", a);
        fprintf(f, "  %-44s %s\n", head, specs[i].help);
    }
    fputs("\nexit status: 0 success, 1 a check failed, 2 bad input or usage, 3 internal error.\n"
          "See moeplan(1) and moeplan(5).\n",
          f);
}

/* Long options are resolved here before getopt_long sees them, because C
 * libraries differ on an ambiguous prefix: glibc with opterr = 0 returns '?'
 * exactly as for an unknown option (so `--pl` came out as "unknown option
 * '--pl' (did you mean '--pp'?)"), and others take the first match.  A
 * prefix is resolved among the options of the command, so `explain --pl` is
 * --plan (explain has no --plot) while `plan --pl` is ambiguous.  Values are
 * skipped as getopt_long skips them, so in `--plot --pl` the second word is
 * a file name.  Returns 0, or EXIT_BAD_INPUT after printing the error for
 * the first bad option. */
static int scan_options(int argc, char *const *argv, int argi, const char *cmd, int bit)
{
    cli_seen seen[CLI_MAX_SEEN];
    size_t n_seen = 0;
    for (int i = argi; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            return 0;
        if (a[0] != '-' || !a[1])
            continue;
        if (a[1] != '-') {
            /* A cluster of short options; -n takes the rest or the next. */
            const char *n = strchr(a + 1, 'n');
            if (n && !n[1])
                i++;
            continue;
        }
        const char *word = a + 2;
        size_t wl = strcspn(word, "=");
        const opt_spec *mine[N_SPECS], *any[N_SPECS];
        size_t nm = 0, na = 0;
        const opt_spec *exact = NULL;
        for (size_t k = 0; k < N_SPECS && wl; k++) {
            if (strncmp(specs[k].name, word, wl))
                continue;
            if (strlen(specs[k].name) == wl)
                exact = &specs[k];
            any[na++] = &specs[k];
            if (specs[k].cmds & bit)
                mine[nm++] = &specs[k];
        }
        const opt_spec *o = exact ? exact : nm == 1 ? mine[0] : nm == 0 && na == 1 ? any[0] : NULL;
        if (!o && nm > 1) {
            fprintf(stderr, "moeplan: error: option '--%.*s' is ambiguous: ", (int)wl, word);
            for (size_t k = 0; k < nm; k++)
                fprintf(stderr, "%s--%s", k ? ", " : "", mine[k]->name);
            fputc('\n', stderr);
            return EXIT_BAD_INPUT;
        }
        if (!o && na > 1) {
            fprintf(stderr, "moeplan: error: option '--%.*s' could be ", (int)wl, word);
            for (size_t k = 0; k < na; k++)
                fprintf(stderr, "%s--%s", k ? (k + 1 < na ? ", " : " or ") : "", any[k]->name);
            fprintf(stderr, ", none of them an option of '%s'; see moeplan %s --help\n", cmd, cmd);
            return EXIT_BAD_INPUT;
        }
        for (size_t k = 0; !o && k < N_OWN; k++)
            for (size_t q = 0; own_commands[k]->options[q].name; q++)
                if (strlen(own_commands[k]->options[q].name) == wl &&
                    !strncmp(own_commands[k]->options[q].name, word, wl)) {
                    fprintf(stderr, "moeplan: error: --%s is not an option of '%s'; see moeplan %s --help\n",
                            own_commands[k]->options[q].name, cmd, cmd);
                    return EXIT_BAD_INPUT;
                }
        if (!o) {
            const char *names[N_SPECS];
            size_t n = 0;
            for (size_t k = 0; k < N_SPECS; k++)
                if (specs[k].cmds & bit)
                    names[n++] = specs[k].name;
            char w[64];
            snprintf(w, sizeof w, "%.*s", (int)(wl < 63 ? wl : 63), word);
            const char *dym = mp_did_you_mean(w, names, n);
            if (dym)
                fprintf(stderr, "moeplan: error: unknown option '--%s' (did you mean '--%s'?)\n", w, dym);
            else
                fprintf(stderr, "moeplan: error: unknown option '--%s'; see moeplan %s --help\n", w, cmd);
            return EXIT_BAD_INPUT;
        }
        if (!(o->cmds & bit)) {
            fprintf(stderr, "moeplan: error: --%s is not an option of '%s'; see moeplan %s --help\n", o->name, cmd,
                    cmd);
            return EXIT_BAD_INPUT;
        }
        if (o->has_arg == no_argument && word[wl] == '=') {
            fprintf(stderr, "moeplan: error: --%s takes no value, got '%s'\n", o->name, a);
            return EXIT_BAD_INPUT;
        }
        const char *value = word[wl] == '=' ? word + wl + 1
                            : o->has_arg == required_argument ? (i + 1 < argc ? argv[i + 1] : NULL) : "on";
        bool negates = false;
        for (size_t k = 0; k < N_SPECS && !strncmp(o->name, "no-", 3); k++)
            negates = negates || !strcmp(specs[k].name, o->name + 3);
        mp_error err;
        if (cli_seen_add(seen, &n_seen, o->name, negates, value, &err)) {
            char msg[600];
            mp_error_format(&err, msg, sizeof msg);
            fprintf(stderr, "moeplan: %s\n", msg);
            return EXIT_BAD_INPUT;
        }
        if (o->has_arg == required_argument && word[wl] != '=')
            i++;
    }
    return 0;
}

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
          "  validate  predicted against measured on published runs (moeplan validate --help)\n"
          "  calibrate  fit a hardware file's efficiency model to measured runs (moeplan calibrate --help)\n"
          "  run       one GPU's share of a plan on moeplan's kernels, predicted vs measured (moeplan run --help)\n"
          "  simulate  a step played out pass by pass: schedules, lengths, routing, a timeline (moeplan simulate --help)\n"
          "\n"
          "inputs (default: the seed files shipped in plans/):\n"
          "  --model FILE        native YAML or Hugging Face config.json\n"
          "  --hardware FILE     --workload FILE     --plan FILE\n"
          "layout:\n"
          "  --gpus N|A-B  --tp N --pp N --dp N --cp N --ep N --etp N --vpp N\n"
          "  --micro-batch N  --global-batch N  --seq-len N|A-B\n"
          "  --pp-first-layers N --pp-last-layers N (uneven pipeline, vpp 1)\n"
          "  --recompute none|selective|full|MODULES  --[no-]sequence-parallel  --[no-]distributed-optimizer\n"
          "  --zero 0|1|2|3|any  --fsdp (= --zero 3)  --shard-group N (HSDP)\n"
          "output:\n"
          "  --format text|json|csv   --ops (explain: every op of every block)\n"
          "plan:\n"
          "  --sort tokens|step|tokens-per-gpu|headroom  -n/--top N  --headroom FRACTION\n"
          "  --target-tokens-per-s X  --target-step-time T  --fewest-gpus  --pareto  --why-not\n"
          "  --uneven-pipeline (also uneven first/last ranks when pp does not divide the layers)\n"
          "  --emit megatron|torchtitan|deepspeed  --plot FILE.svg  --simulate K (re-rank the best K simulated)\n"
          "  --jobs N (plan, audit, bench: threads for the search; default the online CPUs)\n"
          "bench:\n"
          "  --reps N (and the plan options above)\n"
          "validate:\n"
          "  --runs FILE.yaml  --hardware-dir DIR  --format text|json  --explain ID [--ops] (one record, explained)\n"
          "calibrate:\n"
          "  --runs FILE.yaml  --hardware BASE.yaml  -o/--output OUT.yaml  --fit KEY,...  --folds K  --exclude ID,...\n"
          "  --megatron-log LOG --plan PLAN.yaml (your own run)\n"
          "  --measure [--backend cpu|cuda] [--plan PLAN.yaml] -o HW.yaml (measure the hardware's tables)\n"
          "run:\n"
          "  --plan PLAN.yaml  --rank R  --layers K  --backend cpu|cuda  --repeats N  --hardware HW.yaml\n"
          "  --optimizer  --tolerance X%  --step (a 1F1B step over the PP ranks)  --routing balanced|zipf:S|FILE.yaml\n"
          "  --format text|json\n"
          "simulate:\n"
          "  --plan PLAN.yaml (or explain's layout options)  --schedule gpipe|1f1b|interleaved|zb-h1|dualpipe  --steps N\n"
          "  --seed N  --lengths range|fixed|FILE.yaml  --pack TOKENS  --routing balanced|uniform|zipf:S|FILE.yaml\n"
          "  --capacity-factor X|dropless  --trace FILE.json  --svg FILE.svg  --format text|json\n"
          "  -h, --help (after a command: the options of that command)   -V, --version\n"
          "\n"
          "exit status: 0 success, 1 a check failed, 2 bad input or usage, 3 internal error, 4 run across ranks: a\n"
          "collective did not complete within 60 s.\n"
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

/* Write a command's output only once it has succeeded: never partial
 * output on stdout. */
/* After text printed straight to stdout (help, version): exit 3 when it
 * could not be written, as for every other output. */
static int stdout_done(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "moeplan: error: writing the output failed: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

static int finish(mp_status st, const mp_error *err, char *buf, size_t len, int failed)
{
    if (st) {
        free(buf);
        return fail(err);
    }
    /* A write that fails past stdio's buffer (an output over its size goes
     * straight to write(2)) shows in fwrite's count and ferror, not in
     * fflush, which then has nothing left to flush. */
    bool short_write = fwrite(buf, 1, len, stdout) != len;
    free(buf);
    if (fflush(stdout) != 0 || short_write || ferror(stdout)) {
        fprintf(stderr, "moeplan: error: writing the output failed: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    return failed ? EXIT_CHECK_FAILED : EXIT_OK;
}

/* The commands that parse their own options, each in its cmd_*.c; the
 * five above share the option table `specs`. */
static int run_own(const cli_command *c, int argc, char **argv)
{
    /* Every option name of the other commands, for "--X is not an option
     * of 'validate'". */
    const char *others[N_SPECS + 64];
    size_t no = 0;
    for (size_t i = 0; i < N_SPECS; i++)
        others[no++] = specs[i].name;
    for (size_t k = 0; k < N_OWN; k++)
        for (size_t i = 0; own_commands[k] != c && own_commands[k]->options[i].name && no < N_SPECS + 64; i++)
            others[no++] = own_commands[k]->options[i].name;
    mp_error err;
    memset(&err, 0, sizeof err);
    mp_status st = cli_check_long_options(argc, argv, 1, c->options, c->name, others, no, &err);
    if (st)
        return fail(&err);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        fprintf(stderr, "moeplan: error: out of memory\n");
        return EXIT_INTERNAL;
    }
    int failed = 0;
    st = c->run(argc, argv, out, &err, &failed);
    fclose(out);
    return finish(st, &err, buf, len, failed);
}

int main(int argc, char **argv)
{
    cli_opts o;
    memset(&o, 0, sizeof o);
    mp_layout_defaults(&o.layout);
    o.top_n = 10;
    o.sort = "tokens";
    o.bench_reps = 3;
    {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o.jobs = cpus < 1 ? 1 : cpus > 1024 ? 1024 : cpus;
    }
    const char *cmd = "plan";
    int argi = 1;
    bool cmd_given = argc > 1 && argv[1][0] != '-';
    if (cmd_given) {
        cmd = argv[1];
        for (size_t i = 0; i < N_OWN; i++)
            if (!strcmp(cmd, own_commands[i]->name))
                return run_own(own_commands[i], argc - 1, argv + 1);
        if (command_index(cmd) < 0) {
            const char *names[16];
            size_t nn = 0;
            for (int i = 0; commands[i]; i++)
                names[nn++] = commands[i];
            for (size_t i = 0; i < N_OWN; i++)
                names[nn++] = own_commands[i]->name;
            const char *dym = mp_did_you_mean(cmd, names, nn);
            fprintf(stderr, "moeplan: error: unknown command '%s'%s%s%s; see moeplan --help\n", cmd,
                    dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
            return EXIT_BAD_INPUT;
        }
        argi = 2;
    }
    int ci = command_index(cmd), bit = 1 << ci;
    int bad = scan_options(argc, argv, argi, cmd, bit);
    if (bad)
        return bad;
    /* getopt_long gets the command's own options only: every long option
     * has been checked above, so it resolves each to the same one. */
    struct option long_opts[N_SPECS + 1];
    size_t nlo = 0;
    for (size_t i = 0; i < N_SPECS; i++)
        if (specs[i].cmds & bit)
            long_opts[nlo++] = (struct option){specs[i].name, specs[i].has_arg, NULL, specs[i].val};
    long_opts[nlo] = (struct option){NULL, 0, NULL, 0};
    opterr = 0;
    optind = argi;
    int ch;
    while ((ch = getopt_long(argc, argv, ":hVn:", long_opts, NULL)) != -1) {
        const char *name = NULL;
        for (size_t i = 0; i < N_SPECS; i++)
            if (specs[i].val == ch)
                name = specs[i].name;
        switch (ch) {
        case 'h':
            if (cmd_given)
                command_help(stdout, ci);
            else
                usage(stdout);
            return stdout_done();
        case 'V':
            printf("moeplan %s (%s)\n", MP_VERSION,
                   MP_HAVE_CUDA ? "CUDA toolkit found at build time: nvcc, cuBLAS, NCCL"
                                : "built without CUDA: running plans on GPUs needs nvcc, cuBLAS and NCCL at build time");
            return stdout_done();
        case OPT_MODEL: o.model_path = optarg; break;
        case OPT_HARDWARE: o.hardware_path = optarg; break;
        case OPT_WORKLOAD: o.workload_path = optarg; break;
        case OPT_PLAN: o.plan_path = optarg; break;
        case OPT_GPUS:
        case OPT_GB:
        case OPT_SEQ:
        case OPT_TP:
        case OPT_PP:
        case OPT_DP:
        case OPT_CP:
        case OPT_EP:
        case OPT_ETP:
        case OPT_VPP:
        case OPT_MB:
        case OPT_PP_FIRST:
        case OPT_PP_LAST:
        case OPT_SHARD:
        case OPT_ZERO:
        case OPT_FSDP:
        case OPT_RECOMPUTE:
        case OPT_SP:
        case OPT_NO_SP:
        case OPT_DOPT:
        case OPT_NO_DOPT: {
            /* The layout's options: one parser for every command (cli.c). */
            mp_error err;
            memset(&err, 0, sizeof err);
            bool known;
            mp_status st = cli_layout_option(name, optarg, cmd, (bit & (C_PLAN | C_AUDIT | C_BENCH)) != 0, &o,
                                             &known, &err);
            if (st)
                return fail(&err);
            break;
        }
        case OPT_FORMAT: {
            static const char *const formats[] = {"text", "json", "csv"};
            if (!strcmp(optarg, "text")) o.format = FMT_TEXT;
            else if (!strcmp(optarg, "json")) o.format = FMT_JSON;
            else if (!strcmp(optarg, "csv")) o.format = FMT_CSV;
            else {
                mp_error err;
                cli_expected_one_of("format", optarg, "text, json or csv", formats, 3, &err);
                return fail(&err);
            }
            break;
        }
        case OPT_OPS: o.ops = true; break;
        case OPT_SORT: {
            static const char *const sorts[] = {"tokens", "step", "tokens-per-gpu", "headroom"};
            if (strcmp(optarg, "tokens") && strcmp(optarg, "step") && strcmp(optarg, "tokens-per-gpu") &&
                strcmp(optarg, "headroom")) {
                mp_error err;
                cli_expected_one_of("sort", optarg, "tokens, step, tokens-per-gpu or headroom", sorts, 4, &err);
                return fail(&err);
            }
            o.sort = optarg;
            break;
        }
        case 'n':
            if (!(bit & C_PLAN)) { /* long options were checked in scan_options, -n is checked here */
                fprintf(stderr, "moeplan: error: -n is not an option of '%s'; see moeplan %s --help\n", cmd, cmd);
                return EXIT_BAD_INPUT;
            }
            if (!cli_parse_long(optarg, 1, 1000000, &o.top_n))
                return flag_error("top", "expected a whole number from 1 to 1000000, got '%s'", optarg);
            break;
        case OPT_HEADROOM: {
            char why[256];
            if (!mp_parse_quantity(optarg, MP_UNIT_FRACTION, &o.headroom, why, sizeof why) || o.headroom < 0 ||
                o.headroom > 0.99) /* the range of a plan file's min_headroom */
                return flag_error(name, "expected a fraction of capacity from 0 to 0.99 such as 0.1 or 10%%, got '%s'",
                                  optarg);
            o.has_headroom = true;
            break;
        }
        case OPT_TARGET_TOK: {
            size_t nl = mp_parse_decimal(optarg, &o.target_tokens_per_s, NULL);
            if (!nl || optarg[nl] || !(o.target_tokens_per_s > 0) || o.target_tokens_per_s > 1e15)
                return flag_error(name, "expected a positive decimal number of tokens per second, got '%s'", optarg);
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
        case OPT_EMIT: {
            mp_emit_kind k;
            if (!mp_emit_parse(optarg, &k)) {
                static const char *const kinds[] = {"megatron", "torchtitan", "deepspeed"};
                const char *near = mp_did_you_mean(optarg, kinds, 3);
                char what[160];
                snprintf(what, sizeof what, "%.80s'%s%s%s", optarg, near ? " (did you mean '" : "", near ? near : "",
                         near ? "'?)" : "");
                return flag_error(name, "expected megatron, torchtitan or deepspeed, got '%s", what);
            }
            o.emit = optarg;
            o.emit_kind = k;
            break;
        }
        case OPT_PLOT: o.plot_path = optarg; break;
        case OPT_REPS:
            if (!cli_parse_long(optarg, 1, 1000, &o.bench_reps))
                return flag_error(name, "expected a whole number from 1 to 1000, got '%s'", optarg);
            break;
        case OPT_SIMULATE:
            if (!cli_parse_long(optarg, 1, 100, &o.simulate_k))
                return flag_error(name, "expected a whole number of layouts from 1 to 100, got '%s'", optarg);
            break;
        case OPT_JOBS:
            if (!cli_parse_long(optarg, 1, 1024, &o.jobs))
                return flag_error(name, "expected a whole number of threads from 1 to 1024, got '%s'", optarg);
            break;
        case ':': {
            /* Name the option in full: `--hard` is --hardware. */
            const char *missing = NULL;
            for (size_t i = 0; i < N_SPECS; i++)
                if (specs[i].val == optopt)
                    missing = specs[i].name;
            if (missing && optopt != 'n')
                fprintf(stderr, "moeplan: error: --%s needs a value; see moeplan %s --help\n", missing, cmd);
            else
                fprintf(stderr, "moeplan: error: %s needs a value; see moeplan %s --help\n", argv[optind - 1], cmd);
            return EXIT_BAD_INPUT;
        }
        default:
            /* Long options were all vetted by scan_options; what is left is a
             * short option that does not exist. */
            if (optopt && optopt != '-')
                fprintf(stderr, "moeplan: error: unknown option '-%c'; see moeplan %s --help\n", optopt, cmd);
            else
                fprintf(stderr, "moeplan: error: unknown option '%s'; see moeplan %s --help\n", argv[optind - 1], cmd);
            return EXIT_BAD_INPUT;
        }
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
        } else if (!strcmp(cmd, "check") && o.plan_path && optind == argc - 1) {
            /* The plan given both ways: say so rather than call it stray. */
            fprintf(stderr, "moeplan: error: check takes one plan: '%s' and --plan '%s' are both given; give one\n",
                    argv[optind], o.plan_path);
            return EXIT_BAD_INPUT;
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
    return finish(st, &err, buf, len, failed);
}
