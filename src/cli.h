/* moeplan: command-line plumbing shared by the subcommands (private to the
 * executable).  Only main.c prints errors and exits. */
#ifndef MOEPLAN_CLI_H
#define MOEPLAN_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "moeplan/cost.h"
#include "moeplan/emit.h"
#include "moeplan/plan.h"
#include "moeplan/report.h"

typedef enum { FMT_TEXT, FMT_JSON, FMT_CSV } out_format;

typedef struct {
    const char *model_path, *hardware_path, *workload_path, *plan_path, *proposal_path;
    mp_layout layout;
    mp_layout_set set;
    const char *gpus_text;       /* "128" or "8-1024" */
    long global_batch;
    const char *seq_text;
    out_format format;
    bool ops;
    /* plan */
    const char *sort;
    long top_n;
    double headroom;
    bool has_headroom;
    double target_tokens_per_s, target_step_time_s;
    bool why_not, fewest, pareto, uneven_pipeline, zero_any;
    char zero_option[48];        /* the option that set the ZeRO stage ("--fsdp"), for conflicts */
    const char *emit, *plot_path;
    mp_emit_kind emit_kind;       /* with emit */
    long bench_reps;
    long jobs;                   /* --jobs: threads for the search (plan, audit, bench) */
    long simulate_k;             /* plan --simulate K: re-rank the best K by simulated p50 step */
} cli_opts;

/* Loaded inputs, with default files resolved. */
typedef struct {
    mp_model model;
    mp_hardware hw;
    mp_workload wl;
    mp_plan plan;
    bool have_plan;
    char model_path[1024], hw_path[1024], wl_path[1024];
} cli_inputs;

mp_status cli_load_inputs(const cli_opts *o, cli_inputs *in, bool want_default_plan, mp_error *err);
/* Layout from plan + flags, checked against the rules. */
mp_status cli_layout(const cli_opts *o, cli_inputs *in, mp_layout *out, mp_error *err);
/* Load inputs, assemble and check the layout, evaluate it; *in is
 * allocated on success (caller frees). */
mp_status cli_evaluate(const cli_opts *o, bool want_default_plan, cli_inputs **in, mp_layout *l, mp_cost_ctx *c,
                       mp_cost *r, mp_error *err);
mp_status cli_find_default(const char *name, char *out, size_t len, mp_error *err);

/* A whole number in [min, max], all of s (digits, an optional leading
 * minus; no blanks or plus sign); on/off (also true/false,
 * yes/no, 1/0; NULL, an option given without its optional argument, is
 * on). */
bool cli_parse_long(const char *s, long min, long max, long *out);
bool cli_parse_onoff(const char *s, bool *out);
/* A decimal number, all of s, under mp_parse_decimal's rules (the files'):
 * no hexadecimal, leading zero, inf, nan or blank. */
bool cli_parse_decimal(const char *s, double *out);
/* One of explain's layout options into o: --NAME (without its dashes) with
 * its argument arg (NULL when it has none): tp, pp, dp, cp, ep, etp, vpp,
 * micro-batch, pp-first-layers, pp-last-layers, shard-group, gpus (its
 * text, checked by cli_layout: one count), global-batch, seq-len, zero
 * ('any' only where zero_any_ok: plan, audit, bench), fsdp, recompute
 * (none, selective, full or modules), [no-]sequence-parallel and
 * [no-]distributed-optimizer.  Every command that takes a layout parses
 * them here, with the same values and messages ("--NAME: expected ...";
 * cmd names the command in them).  *known is false for any other NAME
 * (nothing is done). */
mp_status cli_layout_option(const char *name, const char *arg, const char *cmd, bool zero_any_ok, cli_opts *o,
                            bool *known, mp_error *err);

mp_status cmd_explain(const cli_opts *o, FILE *out, mp_error *err);
mp_status cmd_plan(const cli_opts *o, FILE *out, mp_error *err);
mp_status cmd_check(const cli_opts *o, FILE *out, int *failed, mp_error *err);
mp_status cmd_audit(const cli_opts *o, FILE *out, mp_error *err);
mp_status cmd_bench(const cli_opts *o, FILE *out, mp_error *err);

/* Commands with their own options, each in its cmd_*.c: its option table
 * (for main's checks and the other commands' "not an option of"), its
 * usage line and its entry point (argv[0] is the command's name).  main.c
 * checks the long options with cli_check_long_options before calling it;
 * `others` are the options of the other commands. */
struct option;
typedef struct {
    const char *name;
    const struct option *options;    /* getopt_long table, ending in a zero entry */
    const char *const *option_help;  /* "ARG: text" per option, in the table's order */
    const char *usage;               /* "validate --runs FILE [OPTIONS]: description" */
    mp_status (*run)(int argc, char **argv, FILE *out, mp_error *err, int *failed); /* *failed: exit 1 */
} cli_command;
/* An option given twice.  `name` is the option's name, `negates` whether
 * it is --no-X for an option --X (then it is X off), `value` its argument
 * as written ("on" for a flag; an on/off word reads as on or off; NULL
 * when missing, left to getopt_long).  The
 * same option with the same value again is harmless; with another value
 * the later one would silently win (--gpus 8 --gpus 16, --exclude a
 * --exclude b, --sequence-parallel --no-sequence-parallel): refused. */
typedef struct {
    const char *key, *spelled, *value;
} cli_seen;
#define CLI_MAX_SEEN 128
mp_status cli_seen_add(cli_seen *seen, size_t *n, const char *name, bool negates, const char *value, mp_error *err);
mp_status cli_check_long_options(int argc, char *const *argv, int argi, const struct option *opts, const char *cmd,
                                 const char *const *others, size_t n_others, mp_error *err);
/* `moeplan COMMAND --help` for such a command, in the format of the others. */
void cli_command_help(FILE *f, const cli_command *c);
/* Such a command's --format: text or json. */
mp_status cli_format_text_json(const char *arg, out_format *out, mp_error *err);
/* The error for what getopt_long returned that is no option of the
 * command: ':' (a value missing) or anything else (unknown). */
mp_status cli_getopt_error(int ch, char *const *argv, const char *cmd, mp_error *err);
/* Whether a word names a file: it ends in .yaml, .yml or .json (simulate's
 * --lengths and --routing, run's --routing). */
bool cli_is_file(const char *word);
/* "--opt: expected EXPECTED, got 'word'" with a "did you mean" among the
 * names, for the options whose message reads so (--format, --sort). */
mp_status cli_expected_one_of(const char *opt, const char *word, const char *expected, const char *const *names,
                               size_t n, mp_error *err);
/* The error for a word of --opt that is none of `names` (nor a file):
 * "'word' is not EXPECTED", with a "did you mean" among the names. */
mp_status cli_not_one_of(const char *opt, const char *word, const char *expected, const char *const *names,
                         size_t n, mp_error *err);
/* --routing's word, for simulate (uniform_ok) and run: balanced, uniform,
 * zipf:S (S from 0 to 10), or a histogram file of the model's `experts`
 * weights.  Zipf and a file fill `weights` (allocated, caller frees) in
 * expert order; zipf and a file are refused for a model without experts
 * ("--routing zipf:1: the model has no experts"). */
typedef enum { CLI_ROUTE_BALANCED, CLI_ROUTE_UNIFORM, CLI_ROUTE_ZIPF, CLI_ROUTE_FILE } cli_route_kind;
typedef struct {
    cli_route_kind kind;
    double skew;                 /* zipf */
    double *weights;             /* zipf (with experts > 0) and file: one per expert */
    int n;
} cli_routing;
mp_status cli_routing_parse(const char *word, bool uniform_ok, long experts, cli_routing *out, mp_error *err);
extern const cli_command cmd_validate_def, cmd_calibrate_def, cmd_run_def, cmd_simulate_def;

#endif
