/* Input loading and layout assembly shared by the subcommands. */
#include "cli.h"
#include "moeplan/distribution.h"
#include "moeplan/simulate.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <unistd.h>

#include "config.h"
#include "moeplan/search.h"

mp_status cli_find_default(const char *name, char *out, size_t len, mp_error *err)
{
    const char *dirs[3] = {getenv("MOEPLAN_PLANS"), MP_SOURCE_PLANS, MP_INSTALL_PLANS};
    for (int i = 0; i < 3; i++) {
        if (!dirs[i] || !dirs[i][0])
            continue;
        snprintf(out, len, "%s/%s", dirs[i], name);
        if (access(out, R_OK) == 0)
            return MP_OK;
    }
    return mp_error_set(err, MP_ERR_IO, name, 0, 0,
                        "default file not found in $MOEPLAN_PLANS, %s or %s; pass the file explicitly",
                        MP_SOURCE_PLANS, MP_INSTALL_PLANS);
}

mp_status cli_load_inputs(const cli_opts *o, cli_inputs *in, bool want_default_plan, mp_error *err)
{
    memset(in, 0, sizeof *in);
    mp_status st;
    char planbuf[1024];
    const char *plan = o->plan_path;
    bool any_layout_flag = o->set.gpus || o->set.tp || o->set.pp || o->set.dp || o->set.cp || o->set.ep ||
                           o->set.etp || o->set.vpp || o->set.micro_batch || o->set.pp_first || o->set.pp_last;
    if (!plan && want_default_plan && !any_layout_flag && !o->model_path) {
        if ((st = cli_find_default("seed-plan.yaml", planbuf, sizeof planbuf, err)))
            return st;
        plan = planbuf;
    }
    if (plan) {
        if ((st = mp_plan_load(&in->plan, plan, err)))
            return st;
        in->have_plan = true;
    }
    const char *mp = o->model_path, *hp = o->hardware_path, *wp = o->workload_path;
    if (!mp && in->have_plan && in->plan.model_path[0])
        mp = in->plan.model_path;
    if (!hp && in->have_plan && in->plan.hardware_path[0])
        hp = in->plan.hardware_path;
    if (!wp && in->have_plan && in->plan.workload_path[0])
        wp = in->plan.workload_path;
    if (!mp) {
        if ((st = cli_find_default("seed-model.yaml", in->model_path, sizeof in->model_path, err)))
            return st;
    } else {
        snprintf(in->model_path, sizeof in->model_path, "%s", mp);
    }
    if (!hp) {
        if ((st = cli_find_default("seed-hardware.yaml", in->hw_path, sizeof in->hw_path, err)))
            return st;
    } else {
        snprintf(in->hw_path, sizeof in->hw_path, "%s", hp);
    }
    if (!wp) {
        if ((st = cli_find_default("seed-workload.yaml", in->wl_path, sizeof in->wl_path, err)))
            return st;
    } else {
        snprintf(in->wl_path, sizeof in->wl_path, "%s", wp);
    }
    if ((st = mp_model_load(&in->model, in->model_path, err)) || (st = mp_hardware_load(&in->hw, in->hw_path, err)) ||
        (st = mp_workload_load(&in->wl, in->wl_path, err))) {
        /* A file the plan names that cannot be opened: said at the plan's
         * key, which is what the user has to fix. */
        static const char *const keys[3] = {"model", "hardware", "workload"};
        const char *paths[3] = {in->model_path, in->hw_path, in->wl_path};
        const char *given[3] = {o->model_path, o->hardware_path, o->workload_path};
        for (int i = 0; i < 3 && st == MP_ERR_IO && in->have_plan; i++)
            if (!given[i] && in->plan.path_line[i] && !strcmp(err->file, paths[i]) && !err->line) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "%s", err->msg);
                return mp_error_set(err, MP_ERR_IO, in->plan.source, in->plan.path_line[i], in->plan.path_col[i],
                                    "'%s': %s: %s", keys[i], paths[i], msg);
            }
        return st;
    }
    if (o->global_batch > 0)
        in->wl.global_batch = o->global_batch;
    if (o->seq_text)
        mp_parse_seq_range(o->seq_text, &in->wl.seq_min, &in->wl.seq_max);
    /* A learned absolute position table holds one row per position: a
     * longer sequence has no embedding for its later tokens (Megatron-LM's
     * validate_args asserts max_position_embeddings >= seq_length). */
    if (in->model.learned_positions > 0 && in->wl.seq_max > in->model.learned_positions)
        return mp_error_set(err, MP_ERR_INPUT, o->seq_text ? "" : in->wl_path, o->seq_text ? 0 : in->wl.seq_line,
                            o->seq_text ? 0 : in->wl.seq_col,
                            "%s%ld tokens per sequence, and the model %s has a learned position table of %lld "
                            "position%s: it cannot embed the tokens past them (give a sequence length of at most "
                            "%lld)", o->seq_text ? "--seq-len: " : "seq_len: ", in->wl.seq_max, in->model_path,
                            (long long)in->model.learned_positions, mp_plural(in->model.learned_positions),
                            (long long)in->model.learned_positions);
    /* FP8 on a GPU without an FP8 rate is refused, not priced in 16 bits. */
    if (in->wl.fp8 != MP_FP8_NONE && in->hw.peak_flops_fp8 <= 0)
        return mp_error_set(err, MP_ERR_INPUT, in->wl_path, in->wl.fp8_line, in->wl.fp8_col,
                            "the workload asks for FP8 linear layers, and the hardware file %s gives no FP8 rate "
                            "(peak_flops_fp8)", in->hw_path);
    if (in->wl.fp8 == MP_FP8_MXFP8 && !in->hw.mxfp8)
        return mp_error_set(err, MP_ERR_INPUT, in->wl_path, in->wl.fp8_line, in->wl.fp8_col,
                            "the workload asks for MXFP8, and the hardware file %s has no MX block scaling (mxfp8: true)",
                            in->hw_path);
    return MP_OK;
}

mp_status cli_layout(const cli_opts *o, cli_inputs *in, mp_layout *l, mp_error *err)
{
    mp_layout_defaults(l);
    mp_layout_set set;
    memset(&set, 0, sizeof set);
    const char *where = "";
    bool from_plan = false;
    if (in->have_plan) {
        const mp_layout *p = &in->plan.layout;
        const mp_layout_set *s = &in->plan.set;
        where = in->plan.source;
        from_plan = true;
#define TAKE(f) if (s->f) { l->f = p->f; set.f = true; }
        TAKE(gpus) TAKE(tp) TAKE(pp) TAKE(dp) TAKE(cp) TAKE(ep) TAKE(etp) TAKE(vpp) TAKE(micro_batch)
        TAKE(recompute) TAKE(sequence_parallel) TAKE(zero) TAKE(shard_group) TAKE(pp_first) TAKE(pp_last)
#undef TAKE
        if (s->recompute)
            l->recompute_modules = p->recompute_modules;
    }
    if (o->set.gpus) {
        long g;
        if (!cli_parse_long(o->gpus_text, 1, 16777216, &g))
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                                "--gpus: this command takes one GPU count from 1 to 16777216, got '%s'",
                                o->gpus_text);
        l->gpus = (int)g;
        set.gpus = true;
        where = "";
        from_plan = false;
    }
#define FLAG(f) if (o->set.f) { l->f = o->layout.f; set.f = true; where = ""; from_plan = false; }
    FLAG(tp) FLAG(pp) FLAG(dp) FLAG(cp) FLAG(ep) FLAG(etp) FLAG(vpp) FLAG(micro_batch) FLAG(recompute)
    FLAG(sequence_parallel) FLAG(zero) FLAG(shard_group) FLAG(pp_first) FLAG(pp_last)
#undef FLAG
    if (o->set.recompute)
        l->recompute_modules = o->layout.recompute_modules;
    bool any_moe = in->model.num_experts > 0;
    if (!set.etp)
        l->etp = any_moe ? l->tp : 1; /* Megatron-LM: --expert-tensor-parallel-size defaults to tp */
    if (!set.sequence_parallel)
        l->sequence_parallel = l->tp > 1;
    /* dp follows the GPU count unless --dp is given: also when the plan
     * has a dp but the command line changed the GPUs, tp, cp or pp (the
     * plan's dp was for its own sizes; moeplan(1), --gpus). */
    bool cli_sized = o->set.gpus || o->set.tp || o->set.cp || o->set.pp;
    if (set.gpus && (!set.dp || (cli_sized && !o->set.dp))) {
        long rest = (long)l->tp * l->cp * l->pp;
        if (l->gpus % rest)
            return mp_error_set(err, MP_ERR_INPUT, where, from_plan ? in->plan.pos.line[MP_LK_GPUS] : 0,
                                from_plan ? in->plan.pos.col[MP_LK_GPUS] : 0,
                                "layout: gpus (%d) not divisible by tp (%d) * cp (%d) * pp (%d) = %ld, so dp is not whole",
                                l->gpus, l->tp, l->cp, l->pp, rest);
        l->dp = (int)(l->gpus / rest);
    } else if (!set.gpus) {
        /* Sizes are each at most 2^24, so the product fits in 64 bits only
         * after a check at every step. */
        long long g = 1;
        const int f[4] = {l->tp, l->cp, l->dp, l->pp};
        for (int i = 0; i < 4; i++) {
            g *= f[i];
            if (g > 16777216)
                return mp_error_set(err, MP_ERR_INPUT, where, from_plan ? in->plan.pos.line[MP_LK_LAYOUT] : 0,
                                    from_plan ? in->plan.pos.col[MP_LK_LAYOUT] : 0,
                                    "layout: tp * cp * dp * pp is more than 16777216 GPUs");
        }
        l->gpus = (int)g;
    }
    char why[512];
    if (l->recompute == MP_RECOMPUTE_SELECTIVE && l->recompute_modules &&
        !mp_recompute_modules_apply(l->recompute_modules, &in->model, why, sizeof why))
        return mp_error_set(err, MP_ERR_INPUT, where, from_plan ? in->plan.pos.line[MP_LK_RECOMPUTE] : 0,
                            from_plan ? in->plan.pos.col[MP_LK_RECOMPUTE] : 0, "recompute: %s", why);
    mp_rule r = mp_layout_check(l, &in->model, &in->wl, why, sizeof why);
    if (r != MP_RULE_OK) {
        int line = 0, col = 0;
        if (from_plan) {
            /* Point at the value the rule is about, else at `layout:`. */
            mp_layout_key k = mp_rule_key(r);
            line = in->plan.pos.line[k];
            col = in->plan.pos.col[k];
            if (!line) {
                line = in->plan.pos.line[MP_LK_LAYOUT];
                col = in->plan.pos.col[MP_LK_LAYOUT];
            }
        }
        /* A rule about the sequence or the batch that the command line set
         * says so: the plan's line alone would not show the cause. */
        char cause[96] = "";
        if ((r == MP_RULE_SEQ_TP || (r == MP_RULE_SEQ_CP && !strstr(why, "flash"))) && o->seq_text)
            snprintf(cause, sizeof cause, " (the sequence length from --seq-len %s)", o->seq_text);
        else if ((r == MP_RULE_BATCH || r == MP_RULE_INTERLEAVE) && o->global_batch > 0)
            snprintf(cause, sizeof cause, " (the global batch from --global-batch %ld)", o->global_batch);
        return mp_error_set(err, MP_ERR_INPUT, where, line, col, "layout breaks rule '%s': %s%s", mp_rule_name(r), why,
                            cause);
    }
    return MP_OK;
}

mp_status cli_evaluate(const cli_opts *o, bool want_default_plan, cli_inputs **inp, mp_layout *l, mp_cost_ctx *c,
                       mp_cost *r, mp_error *err)
{
    cli_inputs *in = calloc(1, sizeof *in);
    *inp = NULL;
    if (!in)
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
    mp_status st = cli_load_inputs(o, in, want_default_plan, err);
    if (!st)
        st = cli_layout(o, in, l, err);
    if (st) {
        free(in);
        return st;
    }
    mp_cost_ctx_init(c, &in->model, &in->hw, &in->wl, l, in->wl.seq_max);
    mp_cost_evaluate(c, r);
    *inp = in;
    return MP_OK;
}

mp_status cmd_explain(const cli_opts *o, FILE *out, mp_error *err)
{
    cli_inputs *in;
    mp_layout l;
    mp_cost_ctx c;
    mp_cost r;
    mp_status st = cli_evaluate(o, true, &in, &l, &c, &r, err);
    if (st)
        return st;
    /* The emitted configuration is made first: a layout the framework does
     * not run is an error before anything is printed. */
    static char emitted[MP_EMIT_MAX_BYTES];
    if (o->emit) {
        char why[512];
        if (o->format != FMT_TEXT)
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--emit %s writes text; drop --format json",
                              mp_emit_name(o->emit_kind));
        else if (!mp_emit(o->emit_kind, &in->model, &in->wl, &l, emitted, sizeof emitted, why, sizeof why))
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--emit %s: %s", mp_emit_name(o->emit_kind), why);
        if (st) {
            free(in);
            return st;
        }
    }
    if (o->format == FMT_JSON) {
        json_t *j = mp_report_explain_json(&c, &r, o->ops);
        json_object_set_new(j, "files", json_pack("{s:s,s:s,s:s}", "model", in->model_path, "hardware", in->hw_path,
                                                  "workload", in->wl_path));
        mp_report_json_write(out, j);
        json_decref(j);
    } else if (o->format == FMT_CSV) {
        st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--format: explain writes text or json; csv is for plan");
    } else {
        mp_sources src = {in->model_path, in->hw_path, in->wl_path};
        mp_report_explain_text(out, &c, &r, &src, o->ops);
    }
    if (!st && o->emit)
        fprintf(out, "\n%s:\n%s", mp_emit_title(o->emit_kind), emitted);
    free(in);
    return st;
}

/* An on/off word as one spelling, so that --X=true and --X agree. */
static const char *onoff_word(const char *v)
{
    static const char *const on[] = {"on", "true", "yes"}, *const off[] = {"off", "false", "no"};
    for (int i = 0; i < 3; i++) {
        if (!strcmp(v, on[i]))
            return "on";
        if (!strcmp(v, off[i]))
            return "off";
    }
    return v;
}

mp_status cli_seen_add(cli_seen *seen, size_t *n, const char *name, bool negates, const char *value, mp_error *err)
{
    if (!value) /* the value is missing: getopt_long says so */
        return MP_OK;
    const char *key = negates ? name + 3 : name; /* --no-X is X off */
    value = negates ? "off" : onoff_word(value);
    for (size_t k = 0; k < *n; k++) {
        if (strcmp(seen[k].key, key))
            continue;
        if (!strcmp(seen[k].value, value))
            return MP_OK;
        if (strcmp(seen[k].spelled, name))
            return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--%s and --%s are both given; give one",
                                seen[k].spelled, name);
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--%s is given twice, '%s' then '%s'; give it once", name,
                            seen[k].value, value);
    }
    if (*n < CLI_MAX_SEEN)
        seen[(*n)++] = (cli_seen){key, name, value};
    return MP_OK;
}

/* Long options of a command that parses its own (cmd_validate.c, ...),
 * resolved before getopt_long sees them, with the rules main.c applies to
 * the others: an exact name or a unique prefix; an ambiguous prefix names
 * its candidates; an unknown option gets a "did you mean"; a value is
 * skipped as getopt_long skips it. */
mp_status cli_check_long_options(int argc, char *const *argv, int argi, const struct option *opts, const char *cmd,
                                 const char *const *others, size_t n_others, mp_error *err)
{
    cli_seen seen[CLI_MAX_SEEN];
    size_t n_seen = 0;
    for (int i = argi; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            return MP_OK;
        if (a[0] != '-' || a[1] != '-')
            continue;
        const char *word = a + 2;
        size_t wl = strcspn(word, "=");
        const struct option *exact = NULL, *match[64];
        size_t nm = 0;
        for (const struct option *o = opts; o->name && wl; o++) {
            if (strncmp(o->name, word, wl))
                continue;
            if (strlen(o->name) == wl)
                exact = o;
            if (nm < 64)
                match[nm++] = o;
        }
        /* An exact name wins over a prefix: its own, then another command's. */
        for (size_t k = 0; !exact && k < n_others; k++)
            if (strlen(others[k]) == wl && !strncmp(others[k], word, wl))
                return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--%s is not an option of '%s'; see moeplan %s --help",
                                    others[k], cmd, cmd);
        const struct option *o = exact ? exact : nm == 1 ? match[0] : NULL;
        char w[64];
        snprintf(w, sizeof w, "%.*s", (int)(wl < 63 ? wl : 63), word);
        if (!o && nm > 1) {
            char list[512] = "";
            for (size_t k = 0; k < nm; k++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s--%s", k ? ", " : "", match[k]->name);
            }
            return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "option '--%s' is ambiguous: %s", w, list);
        }
        if (!o) {
            const char *names[64];
            size_t n = 0;
            for (const struct option *q = opts; q->name && n < 64; q++)
                names[n++] = q->name;
            const char *dym = mp_did_you_mean(w, names, n);
            if (dym)
                return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "unknown option '--%s' (did you mean '--%s'?)", w,
                                    dym);
            return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "unknown option '--%s'; see moeplan %s --help", w, cmd);
        }
        if (o->has_arg == no_argument && word[wl] == '=')
            return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "--%s takes no value, got '%s'", o->name, a);
        const char *value = word[wl] == '=' ? word + wl + 1
                            : o->has_arg == required_argument ? (i + 1 < argc ? argv[i + 1] : NULL) : "on";
        bool negates = false;
        for (const struct option *q = opts; q->name && !strncmp(o->name, "no-", 3); q++)
            negates = negates || !strcmp(q->name, o->name + 3);
        mp_status st = cli_seen_add(seen, &n_seen, o->name, negates, value, err);
        if (st)
            return st;
        if (o->has_arg == required_argument && word[wl] != '=')
            i++;
    }
    return MP_OK;
}

void cli_command_help(FILE *f, const cli_command *c)
{
    const char *colon = strchr(c->usage, ':');
    fprintf(f, "usage: moeplan %.*s\n\n%s\n\noptions of '%s':\n", (int)(colon - c->usage), c->usage, colon + 2,
            c->name);
    for (size_t i = 0; c->options[i].name; i++) {
        /* "ARG: text", split at the first ": " (an argument may hold a
         * colon: zipf:S). */
        const char *h = c->option_help[i], *sep = strstr(h, ": ");
        int arg_len = sep ? (int)(sep - h) : 0;
        char head[96];
        /* An optional argument ("[=on|off]") is joined to the option, as
         * it must be given: --sequence-parallel=off, not "... off". */
        snprintf(head, sizeof head, "--%s%s%.*s", c->options[i].name, arg_len && h[0] != '[' ? " " : "", arg_len, h);
        fprintf(f, "  %-44s %s\n", head, sep ? sep + 2 : h);
    }
    fprintf(f, "\nexit status: 0 success, 1 a check failed, 2 bad input or usage, 3 internal error%s.\n"
            "See moeplan(1) and moeplan(5).\n",
            c == &cmd_run_def ? ", 4 across ranks: a collective did not complete within 60 s" : "");
}

mp_status cli_expected_one_of(const char *opt, const char *word, const char *expected, const char *const *names,
                               size_t n, mp_error *err)
{
    const char *near = mp_did_you_mean(word, names, n);
    return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--%s: expected %s, got '%s'%s%s%s", opt, expected, word,
                        near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
}

mp_status cli_format_text_json(const char *arg, out_format *out, mp_error *err)
{
    static const char *const names[] = {"text", "json"};
    if (!strcmp(arg, "text"))
        *out = FMT_TEXT;
    else if (!strcmp(arg, "json"))
        *out = FMT_JSON;
    else
        return cli_expected_one_of("format", arg, "text or json", names, 2, err);
    return MP_OK;
}

mp_status cli_getopt_error(int ch, char *const *argv, const char *cmd, mp_error *err)
{
    if (ch == ':')
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "option '%s' needs a value", argv[optind - 1]);
    return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "unknown option '%s'; see moeplan %s --help",
                        argv[optind - 1], cmd);
}

bool cli_is_file(const char *word)
{
    static const char *const ext[] = {".yaml", ".yml", ".json"};
    size_t n = strlen(word);
    for (size_t i = 0; i < 3; i++) {
        size_t e = strlen(ext[i]);
        if (n >= e && !strcmp(word + n - e, ext[i]))
            return true;
    }
    return false;
}

mp_status cli_not_one_of(const char *opt, const char *word, const char *expected, const char *const *names,
                         size_t n, mp_error *err)
{
    const char *near = mp_did_you_mean(word, names, n);
    return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--%s: '%s' is not %s%s%s%s", opt, word, expected,
                        near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
}

mp_status cli_routing_parse(const char *word, bool uniform_ok, long experts, cli_routing *out, mp_error *err)
{
    memset(out, 0, sizeof *out);
    if (!strcmp(word, "balanced"))
        return MP_OK;
    if (uniform_ok && !strcmp(word, "uniform")) {
        out->kind = CLI_ROUTE_UNIFORM;
        return MP_OK;
    }
    if (!strncmp(word, "zipf:", 5)) {
        double z = 0;
        if (!cli_parse_decimal(word + 5, &z) || !(z >= 0 && z <= 10))
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--routing zipf:S: expected a skew S from 0 to 10, got "
                                "'%s'", word + 5);
        if (experts <= 0)
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--routing %s: the model has no experts", word);
        out->kind = CLI_ROUTE_ZIPF;
        out->skew = z;
        out->weights = malloc((size_t)experts * sizeof *out->weights);
        if (!out->weights)
            return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        for (long e = 0; e < experts; e++)
            out->weights[e] = mp_sim_zipf_weight((int)e, z);
        out->n = (int)experts;
        return MP_OK;
    }
    if (cli_is_file(word)) {
        if (experts <= 0)
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--routing %s: the model has no experts", word);
        out->kind = CLI_ROUTE_FILE;
        return mp_expert_weights_load(word, experts, &out->weights, &out->n, err);
    }
    static const char *const names[] = {"balanced", "uniform"};
    return cli_not_one_of("routing", word,
                          uniform_ok ? "balanced, uniform, zipf:S or a .yaml histogram file"
                                     : "balanced, zipf:S or a .yaml histogram file",
                          names, uniform_ok ? 2 : 1, err);
}

bool cli_parse_long(const char *s, long min, long max, long *out)
{
    /* Digits only, with an optional minus: strtol alone also takes
     * leading blanks and a plus sign (' 4', '+4'). */
    const char *d = s[0] == '-' ? s + 1 : s;
    if (!isdigit((unsigned char)d[0]))
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_parse_decimal(const char *s, double *out)
{
    /* mp_parse_decimal's grammar, as in the files: strtod alone also takes
     * 0x2, inf, nan, a leading blank and 02. */
    double x;
    size_t n = mp_parse_decimal(s, &x, NULL);
    if (!n || s[n])
        return false;
    *out = x;
    return true;
}

bool cli_parse_onoff(const char *s, bool *out)
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

/* --recompute: none, selective, full, or Megatron-Core's
 * --recompute-modules (selective recomputation of those). */
static mp_status recompute_option(const char *arg, mp_layout *l, mp_error *err)
{
    l->recompute_modules = 0;
    if (!strcmp(arg, "none")) {
        l->recompute = MP_RECOMPUTE_NONE;
        return MP_OK;
    }
    if (!strcmp(arg, "selective")) {
        l->recompute = MP_RECOMPUTE_SELECTIVE;
        return MP_OK;
    }
    if (!strcmp(arg, "full")) {
        l->recompute = MP_RECOMPUTE_FULL;
        return MP_OK;
    }
    char word[64];
    bool dup;
    if (mp_recompute_modules_parse(arg, &l->recompute_modules, word, sizeof word, &dup)) {
        l->recompute = MP_RECOMPUTE_SELECTIVE;
        return MP_OK;
    }
    if (dup)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--recompute: module '%s' is given twice in '%.200s'", word,
                            arg);
    /* a lone word may be a misspelt none/selective/full, a word in a list
     * only a module */
    bool lone = !strpbrk(arg, ", ");
    if (!strcmp(word, "none") || !strcmp(word, "selective") || !strcmp(word, "full"))
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--recompute: '%s' cannot be combined with modules (a list of modules is selective "
                            "recomputation of those)", word);
    const char *near = word[0] ? mp_recompute_suggest(word, lone) : NULL;
    if (near && lone)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--recompute: unknown '%s' (did you mean '%s'?); expected none, selective, full or "
                            "modules from core_attn, moe_act, layernorm, mla_up_proj, mlp, moe, shared_experts",
                            word, near);
    if (near)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--recompute: unknown module '%s' in '%.200s' (did you mean '%s'?); modules are "
                            "core_attn, moe_act, layernorm, mla_up_proj, mlp, moe, shared_experts",
                            word, arg, near);
    return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                        "--recompute: expected none, selective, full or modules from core_attn, moe_act, layernorm, "
                        "mla_up_proj, mlp, moe, shared_experts, got '%s'", arg);
}

/* Set the ZeRO stage from option `what` (as the user wrote it); two options
 * that set different stages (--fsdp and --zero 1, --zero 2 and
 * --distributed-optimizer) are refused, not settled by their order. */
static mp_status set_zero(cli_opts *o, mp_layout *l, int stage, const char *what, mp_error *err)
{
    /* --zero any searches the stages; one pinned beside it would silently
     * narrow the search to that stage. */
    if (o->zero_any)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "%s (ZeRO %d) conflicts with --zero any (the stages searched); give one", what, stage);
    if (o->set.zero && o->zero_option[0] && l->zero != stage)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s (ZeRO %d) conflicts with %s (ZeRO %d); give one", what,
                            stage, o->zero_option, l->zero);
    l->zero = stage;
    o->set.zero = true;
    snprintf(o->zero_option, sizeof o->zero_option, "%s", what);
    return MP_OK;
}

mp_status cli_layout_option(const char *name, const char *arg, const char *cmd, bool zero_any_ok, cli_opts *o,
                            bool *known, mp_error *err)
{
    static const struct {
        const char *name;
        size_t field; /* offsetof in mp_layout */
        size_t set;   /* offsetof in mp_layout_set */
        long max;
    } ints[] = {
        {"tp", offsetof(mp_layout, tp), offsetof(mp_layout_set, tp), 65536},
        {"pp", offsetof(mp_layout, pp), offsetof(mp_layout_set, pp), 65536},
        {"dp", offsetof(mp_layout, dp), offsetof(mp_layout_set, dp), 16777216},
        {"cp", offsetof(mp_layout, cp), offsetof(mp_layout_set, cp), 65536},
        {"ep", offsetof(mp_layout, ep), offsetof(mp_layout_set, ep), 1000000},
        {"etp", offsetof(mp_layout, etp), offsetof(mp_layout_set, etp), 65536},
        {"vpp", offsetof(mp_layout, vpp), offsetof(mp_layout_set, vpp), 1024},
        {"micro-batch", offsetof(mp_layout, micro_batch), offsetof(mp_layout_set, micro_batch), 1000000},
        {"pp-first-layers", offsetof(mp_layout, pp_first), offsetof(mp_layout_set, pp_first), 1024},
        {"pp-last-layers", offsetof(mp_layout, pp_last), offsetof(mp_layout_set, pp_last), 1024},
        {"shard-group", offsetof(mp_layout, shard_group), offsetof(mp_layout_set, shard_group), 16777216},
    };
    mp_layout *l = &o->layout;
    *known = true;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcmp(name, ints[i].name))
            continue;
        long v;
        if (!cli_parse_long(arg, 1, ints[i].max, &v))
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--%s: expected a whole number from 1 to %ld, got '%s'",
                                name, ints[i].max, arg);
        *(int *)((char *)l + ints[i].field) = (int)v;
        *(bool *)((char *)&o->set + ints[i].set) = true;
        return MP_OK;
    }
    if (!strcmp(name, "zero")) {
        if (!strcmp(arg, "any")) {
            if (!zero_any_ok)
                return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                                    "--zero: 'any' searches the stages (plan, audit, bench); %s takes one: 0, 1, 2 "
                                    "or 3", cmd);
            if (o->set.zero && o->zero_option[0])
                return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                                    "--zero any (the stages searched) conflicts with %s (ZeRO %d); give one",
                                    o->zero_option, l->zero);
            o->zero_any = true;
            return MP_OK;
        }
        long v;
        if (!cli_parse_long(arg, 0, 3, &v))
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--zero: expected a ZeRO stage 0, 1, 2 or 3%s, got '%s'",
                                zero_any_ok ? " (or any)" : "", arg);
        char what[48];
        snprintf(what, sizeof what, "--zero %ld", v);
        return set_zero(o, l, (int)v, what, err);
    }
    if (!strcmp(name, "fsdp"))
        return set_zero(o, l, 3, "--fsdp", err);
    /* The workload's sizes (explain and simulate alike; plan too). */
    if (!strcmp(name, "global-batch")) {
        if (!cli_parse_long(arg, 1, 100000000L, &o->global_batch))
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                                "--global-batch: expected a whole number of sequences from 1 to 100000000, got '%s'",
                                arg);
        return MP_OK;
    }
    if (!strcmp(name, "seq-len")) {
        long a, b;
        if (!mp_parse_seq_range(arg, &a, &b))
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                                "--seq-len: expected tokens such as 4096 or a range such as 128-10240, got '%s'", arg);
        o->seq_text = arg;
        return MP_OK;
    }
    /* One GPU count: checked with the layout (cli_layout), so that every
     * command taking one says the same; plan and bench take a range and
     * parse it themselves. */
    if (!strcmp(name, "gpus")) {
        o->gpus_text = arg;
        o->set.gpus = true;
        return MP_OK;
    }
    if (!strcmp(name, "recompute")) {
        mp_status st = recompute_option(arg, l, err);
        o->set.recompute = st == MP_OK;
        return st;
    }
    bool sp = !strcmp(name, "sequence-parallel"), dopt = !strcmp(name, "distributed-optimizer");
    if (sp || dopt || !strcmp(name, "no-sequence-parallel") || !strcmp(name, "no-distributed-optimizer")) {
        bool on = false; /* the no- forms take no argument */
        if ((sp || dopt) && !cli_parse_onoff(arg, &on))
            return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--%s: expected on or off, got '%s'", name, arg);
        if (sp || !strcmp(name, "no-sequence-parallel")) {
            l->sequence_parallel = on;
            o->set.sequence_parallel = true;
        } else {
            return set_zero(o, l, on ? 1 : 0,
                            !dopt ? "--no-distributed-optimizer" : on ? "--distributed-optimizer" : "--distributed-optimizer=off",
                            err);
        }
        return MP_OK;
    }
    *known = false;
    return MP_OK;
}
