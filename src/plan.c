#include "moeplan/plan.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "moeplan/doc.h"
#include "moeplan/units.h"

static const char *const plan_keys[] = {"name", "model", "hardware", "workload", "layout", "requirements", NULL};
static const char *const layout_keys[] = {"gpus", "tp", "pp", "dp", "cp", "ep", "etp", "vpp", "micro_batch",
                                          "pp_first_layers", "pp_last_layers",
                                          "recompute", "sequence_parallel", "distributed_optimizer", "zero",
                                          "shard_group", NULL};
static const char *const req_keys[] = {"min_headroom", "max_step_time", "min_tokens_per_s", "max_gpus", "min_mfu",
                                       NULL};


static mp_status get_path(mp_getter *g, const char *key, const char *base, char *out, size_t len, int *line,
                          int *col)
{
    char rel[480];
    bool found = false;
    mp_status st = mp_get_string(g, key, false, rel, sizeof rel, &found);
    if (st || !found)
        return st;
    mp_path_resolve(out, len, base, rel);
    const mp_node *v = mp_node_get(g->map, key, NULL);
    *line = v ? v->line : 0;
    *col = v ? v->col : 0;
    return MP_OK;
}

#define TRY(x) do { if ((st = (x))) goto out; } while (0)

mp_layout_key mp_rule_key(mp_rule r)
{
    switch (r) {
    case MP_RULE_GPU_PRODUCT: return MP_LK_GPUS;
    case MP_RULE_FOLDING: return MP_LK_ETP;
    case MP_RULE_HEADS_TP: return MP_LK_TP;
    case MP_RULE_FFN_TP: return MP_LK_TP;
    case MP_RULE_EXPERTS_EP: return MP_LK_EP;
    case MP_RULE_LAYERS_PP: return MP_LK_PP;
    case MP_RULE_BATCH: return MP_LK_MB;
    case MP_RULE_INTERLEAVE: return MP_LK_VPP;
    case MP_RULE_SEQ_CP: return MP_LK_CP;
    case MP_RULE_SEQ_TP: return MP_LK_SP;
    case MP_RULE_MOE_SP: return MP_LK_SP;
    default: return MP_LK_LAYOUT;
    }
}

mp_status mp_layout_read(const mp_doc *d, const mp_node *lay, mp_layout *l, mp_layout_set *set, mp_layout_pos *pos,
                         mp_error *err)
{
    mp_status st;
    mp_getter gl = {d, lay, err};
    static const char *const lk_names[MP_LK_COUNT - 1] = {
        "gpus", "tp", "pp", "dp", "cp", "ep", "etp", "vpp", "micro_batch", "recompute", "sequence_parallel",
        "distributed_optimizer", "pp_first_layers", "pp_last_layers", "zero", "shard_group"};
    memset(pos, 0, sizeof *pos);
    pos->line[MP_LK_LAYOUT] = lay->line;
    pos->col[MP_LK_LAYOUT] = lay->col;
    for (int k = 0; k < MP_LK_COUNT - 1; k++) {
        const mp_node *v = mp_node_get(lay, lk_names[k], NULL);
        if (v) {
            pos->line[k] = v->line;
            pos->col[k] = v->col;
        }
    }
    if ((st = mp_doc_check_keys(d, lay, layout_keys, "'layout'", err)))
        return st;
    static const struct {
        const char *name;
        size_t off_val, off_set;
        long max;
    } ints[] = {
#define F(name, field, max) {name, offsetof(mp_layout, field), offsetof(mp_layout_set, field), max}
        F("gpus", gpus, 16777216), F("tp", tp, 65536),     F("pp", pp, 65536),  F("dp", dp, 16777216),
        F("cp", cp, 65536),        F("ep", ep, 1000000),   F("etp", etp, 65536), F("vpp", vpp, 1024),
        F("micro_batch", micro_batch, 1000000),
        F("pp_first_layers", pp_first, 1024), F("pp_last_layers", pp_last, 1024),
        F("shard_group", shard_group, 16777216),
#undef F
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        long v;
        bool *was_set = (bool *)((char *)set + ints[i].off_set);
        if ((st = mp_get_int(&gl, ints[i].name, false, 1, ints[i].max, &v, was_set)))
            return st;
        if (*was_set)
            *(int *)((char *)l + ints[i].off_val) = (int)v;
    }
    /* recompute: none | selective | full, or a list of Megatron-Core's
     * --recompute-modules (selective recomputation of those). */
    const mp_node *rcn = mp_node_get(lay, "recompute", NULL);
    if (rcn && rcn->kind == MP_NODE_SEQ) {
        unsigned mods = 0;
        for (size_t i = 0; i < rcn->n; i++) {
            const mp_node *x = rcn->vals[i];
            unsigned bit;
            char bad[64];
            if (x->kind == MP_NODE_SCALAR && strpbrk(x->text, ", "))
                return mp_doc_error(d, x, err,
                                    "'recompute' list item '%s' holds more than one word; write one module per "
                                    "item ([moe_act, layernorm]) or one string (moe_act,layernorm)", x->text);
            if (x->kind != MP_NODE_SCALAR || !mp_recompute_modules_parse(x->text, &bit, bad, sizeof bad, NULL)) {
                const char *near = x->kind == MP_NODE_SCALAR ? mp_recompute_suggest(x->text, false) : NULL;
                if (near)
                    return mp_doc_error(d, x, err, "unknown 'recompute' module '%s' (did you mean '%s'?)", x->text,
                                        near);
                return mp_doc_error(d, x, err,
                                    "'recompute' modules are core_attn, moe_act, layernorm, mla_up_proj, mlp, moe, "
                                    "shared_experts; got '%s'", x->kind == MP_NODE_SCALAR ? x->text : "a list or map");
            }
            if (mods & bit)
                return mp_doc_error(d, x, err, "'recompute' module '%s' is given twice", x->text);
            mods |= bit;
        }
        if (!mods)
            return mp_doc_error(d, rcn, err, "'recompute' is an empty list; expected modules or none/selective/full");
        l->recompute = MP_RECOMPUTE_SELECTIVE;
        l->recompute_modules = mods;
        set->recompute = true;
    } else if (rcn && rcn->kind == MP_NODE_SCALAR && !rcn->quoted && strcmp(rcn->text, "none") &&
               strcmp(rcn->text, "selective") && strcmp(rcn->text, "full") &&
               mp_recompute_modules_parse(rcn->text, &l->recompute_modules, (char[64]){0}, 64, NULL)) {
        /* One module, or "moe_act,layernorm": the command line's form. */
        l->recompute = MP_RECOMPUTE_SELECTIVE;
        set->recompute = true;
    } else if (rcn && rcn->kind == MP_NODE_SCALAR && !rcn->quoted && !strpbrk(rcn->text, ", ") &&
               strcmp(rcn->text, "none") && strcmp(rcn->text, "selective") && strcmp(rcn->text, "full")) {
        /* One word that is neither a mode nor a module. */
        const char *near = mp_recompute_suggest(rcn->text, true);
        if (near)
            return mp_doc_error(d, rcn, err,
                                "'recompute' is '%s'; expected none, selective, full or modules (did you mean '%s'?)",
                                rcn->text, near);
        return mp_doc_error(d, rcn, err,
                            "'recompute' is '%s'; expected none, selective, full or modules (core_attn, moe_act, "
                            "layernorm, mla_up_proj, mlp, moe, shared_experts)",
                            rcn->text);
    } else if (rcn && rcn->kind == MP_NODE_SCALAR && !rcn->quoted && strpbrk(rcn->text, ", ")) {
        /* A list in one string with a word that is no module. */
        char bad[64] = "";
        unsigned mods;
        bool dup;
        mp_recompute_modules_parse(rcn->text, &mods, bad, sizeof bad, &dup);
        if (dup)
            return mp_doc_error(d, rcn, err, "'recompute': module '%s' is given twice in '%s'", bad, rcn->text);
        const char *near = bad[0] ? mp_recompute_suggest(bad, false) : NULL;
        if (near)
            return mp_doc_error(d, rcn, err, "'recompute': unknown module '%s' in '%s' (did you mean '%s'?)", bad,
                                rcn->text, near);
        return mp_doc_error(d, rcn, err,
                            "'recompute': '%s' is not a list of modules (core_attn, moe_act, layernorm, mla_up_proj, "
                            "mlp, moe, shared_experts; none, selective and full stand alone)",
                            rcn->text);
    } else {
        static const char *const rc[] = {"none", "selective", "full", NULL};
        int r = 0;
        if ((st = mp_get_enum(&gl, "recompute", false, rc, &r, &set->recompute)))
            return st;
        if (set->recompute) {
            l->recompute = (mp_recompute)r;
            l->recompute_modules = 0;
        }
    }
    if ((st = mp_get_bool(&gl, "sequence_parallel", false, &l->sequence_parallel, &set->sequence_parallel)))
        return st;
    /* zero: 0-3 (ZeRO's stages); distributed_optimizer: true|false, the
     * older spelling of zero 1 and 0. */
    long z;
    bool zset = false, dopt = false, dset = false;
    if ((st = mp_get_int(&gl, "zero", false, 0, 3, &z, &zset)))
        return st;
    if ((st = mp_get_bool(&gl, "distributed_optimizer", false, &dopt, &dset)))
        return st;
    if (zset && dset && (dopt ? 1 : 0) != z) /* as --zero with --[no-]distributed-optimizer */
        return mp_doc_error(d, mp_node_get(lay, "distributed_optimizer", NULL), err,
                            "'distributed_optimizer': %s contradicts 'zero: %ld' (the distributed optimizer is "
                            "ZeRO stage 1; stages 2 and 3 shard more); give one of the two",
                            dopt ? "true" : "false", z);
    if (zset || dset) {
        l->zero = zset ? (int)z : dopt ? 1 : 0;
        set->zero = true;
    }
    return MP_OK;
}

void mp_path_resolve(char *out, size_t len, const char *base, const char *rel)
{
    const char *slash = strrchr(base, '/');
    if (rel[0] == '/' || !slash)
        snprintf(out, len, "%s", rel);
    else
        snprintf(out, len, "%.*s/%s", (int)(slash - base > 480 ? 480 : slash - base), base, rel);
}

mp_status mp_plan_load(mp_plan *p, const char *path, mp_error *err)
{
    memset(p, 0, sizeof *p);
    mp_layout_defaults(&p->layout);
    snprintf(p->source, sizeof p->source, "%s", path);
    mp_doc d;
    mp_status st = mp_doc_load_file(&d, path, err);
    if (st)
        return st;
    mp_getter g = {&d, d.root, err};
    const mp_node *lay = NULL, *req = NULL;
    TRY(mp_doc_check_keys(&d, d.root, plan_keys, "a plan file", err));
    TRY(get_path(&g, "model", path, p->model_path, sizeof p->model_path, &p->path_line[0], &p->path_col[0]));
    TRY(get_path(&g, "hardware", path, p->hardware_path, sizeof p->hardware_path, &p->path_line[1], &p->path_col[1]));
    TRY(get_path(&g, "workload", path, p->workload_path, sizeof p->workload_path, &p->path_line[2], &p->path_col[2]));
    TRY(mp_get_map(&g, "layout", false, &lay));
    if (lay)
        TRY(mp_layout_read(&d, lay, &p->layout, &p->set, &p->pos, err));
    TRY(mp_get_map(&g, "requirements", false, &req));
    if (req) {
        p->has_requirements = true;
        mp_getter gr = {&d, req, err};
        mp_requirements *q = &p->req;
        TRY(mp_doc_check_keys(&d, req, req_keys, "'requirements'", err));
        TRY(mp_get_quantity(&gr, "min_headroom", false, MP_UNIT_FRACTION, 0, 0.99, &q->min_headroom,
                            &q->has_headroom));
        TRY(mp_get_quantity(&gr, "max_step_time", false, MP_UNIT_SECONDS, 1e-9, 1e7, &q->max_step_time_s,
                            &q->has_step_time));
        TRY(mp_get_double(&gr, "min_tokens_per_s", false, 1e-9, 1e15, &q->min_tokens_per_s, &q->has_tokens));
        TRY(mp_get_int(&gr, "max_gpus", false, 1, 16777216, &q->max_gpus, &q->has_gpus));
        TRY(mp_get_quantity(&gr, "min_mfu", false, MP_UNIT_FRACTION, 0, 1, &q->min_mfu, &q->has_mfu));
    }
out:
    mp_doc_free(&d);
    return st;
}
