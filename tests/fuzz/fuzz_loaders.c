/* libFuzzer harness for moeplan's input loaders.
 *
 * Each input is parsed directly with mp_doc_load_string, then written to a
 * temporary file -- once named *.yaml, once named *.json (the .json path turns
 * raw tabs into spaces first) -- and given to every file loader:
 * mp_model_load, mp_hardware_load, mp_workload_load, mp_plan_load and
 * mp_proposal_load.  The loaders must never crash, leak or trip a sanitizer;
 * on failure they must return MP_ERR_INPUT or MP_ERR_IO (never NOMEM/INTERNAL
 * for an input of at most a few kB) with a message and, for MP_ERR_INPUT, a
 * position inside the file.
 *
 * Past the loaders, what a loaded file feeds is exercised too, the way the
 * command line uses it: a loaded model, hardware or workload file is paired
 * with the seed files from plans/ and a one-GPU layout, a plan's or
 * proposal's layout with the seed model; a layout that passes
 * mp_layout_check is costed with mp_cost_evaluate, and a proposal's claims
 * are audited.
 *
 * Not part of the meson build; see README.md in this directory.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "moeplan/audit.h"
#include "moeplan/cost.h"
#include "moeplan/doc.h"
#include "moeplan/hardware.h"
#include "moeplan/layout.h"
#include "moeplan/model.h"
#include "moeplan/plan.h"
#include "moeplan/workload.h"

static char dir[64];
static mp_model seed_model;
static mp_hardware seed_hw;
static mp_workload seed_wl;
static bool have_seeds;

/* Check the layout the way `moeplan explain` does and cost it when valid. */
static void evaluate(const mp_model *m, const mp_hardware *hw, const mp_workload *w, mp_layout *l,
                     const mp_proposal *prop)
{
    char why[512];
    if (mp_layout_check(l, m, w, why, sizeof why) != MP_RULE_OK)
        return;
    static mp_cost_ctx c;
    static mp_cost r;
    mp_cost_ctx_init(&c, m, hw, w, l, w->seq_max);
    mp_cost_evaluate(&c, &r);
    for (int i = 0; prop && i < prop->num_claims; i++) {
        mp_claim_result res;
        mp_audit_claim(&c, &r, &prop->claims[i], &res);
    }
}

/* A layout from a file: unset fields as the command line fills them. */
static void layout_from(mp_layout *l, const mp_layout *p, const mp_layout_set *s, const mp_model *m)
{
    mp_layout_defaults(l);
#define TAKE(f) if (s->f) l->f = p->f;
    TAKE(gpus) TAKE(tp) TAKE(pp) TAKE(dp) TAKE(cp) TAKE(ep) TAKE(etp) TAKE(vpp) TAKE(micro_batch)
    TAKE(recompute) TAKE(sequence_parallel) TAKE(distributed_optimizer)
#undef TAKE
    if (!s->etp)
        l->etp = m->num_experts > 0 ? l->tp : 1;
    if (!s->sequence_parallel)
        l->sequence_parallel = l->tp > 1;
    long long rest = (long long)l->tp * l->cp * l->pp;
    if (s->gpus && !s->dp && l->gpus % rest == 0)
        l->dp = (int)(l->gpus / rest);
    else if (!s->gpus && rest <= 16777216 / l->dp)
        l->gpus = (int)(rest * l->dp);
}

static void check_err(const char *what, mp_status st, const mp_error *e)
{
    if (st == MP_OK)
        return;
    /* An error must be a user-facing one: bad input or I/O. */
    if (st != MP_ERR_INPUT && st != MP_ERR_IO) {
        fprintf(stderr, "%s: unexpected status %d: %s:%d:%d: %s\n", what, (int)st, e->file, e->line, e->col, e->msg);
        abort();
    }
    if (e->status != st || !e->msg[0]) {
        fprintf(stderr, "%s: status %d but error record not filled (status %d, msg '%s')\n", what, (int)st,
                (int)e->status, e->msg);
        abort();
    }
    /* Line/col must be sane (never negative). */
    if (e->line < 0 || e->col < 0) {
        fprintf(stderr, "%s: bad position %d:%d: %s\n", what, e->line, e->col, e->msg);
        abort();
    }
}

static void run_file(const char *path)
{
    mp_error e;
    mp_status st;

    static mp_model m;           /* large (is_moe[1024]); keep off the stack */
    memset(&e, 0, sizeof e);
    st = mp_model_load(&m, path, &e);
    check_err("mp_model_load", st, &e);
    if (st == MP_OK) {
        mp_params p;
        mp_model_params(&m, &p);
        (void)mp_model_q_width(&m);
        (void)mp_model_k_width(&m);
        (void)mp_model_v_width(&m);
        /* The model on one GPU with the seed hardware and workload. */
        if (have_seeds) {
            mp_layout l;
            mp_layout_defaults(&l);
            evaluate(&m, &seed_hw, &seed_wl, &l, NULL);
        }
    }

    static mp_hardware hw;
    memset(&e, 0, sizeof e);
    st = mp_hardware_load(&hw, path, &e);
    check_err("mp_hardware_load", st, &e);
    if (st == MP_OK && have_seeds) {
        mp_layout l;
        mp_layout_defaults(&l);
        evaluate(&seed_model, &hw, &seed_wl, &l, NULL);
    }

    static mp_workload wl;
    memset(&e, 0, sizeof e);
    st = mp_workload_load(&wl, path, &e);
    check_err("mp_workload_load", st, &e);
    if (st == MP_OK && have_seeds) {
        mp_layout l;
        mp_layout_defaults(&l);
        evaluate(&seed_model, &seed_hw, &wl, &l, NULL);
    }

    static mp_plan plan;
    memset(&e, 0, sizeof e);
    st = mp_plan_load(&plan, path, &e);
    check_err("mp_plan_load", st, &e);
    if (st == MP_OK && have_seeds) {
        /* The plan's layout with the seed model, hardware and workload. */
        mp_layout l;
        layout_from(&l, &plan.layout, &plan.set, &seed_model);
        evaluate(&seed_model, &seed_hw, &seed_wl, &l, NULL);
    }

    static mp_proposal prop;
    memset(&e, 0, sizeof e);
    st = mp_proposal_load(&prop, path, &e);
    check_err("mp_proposal_load", st, &e);
    if (st == MP_OK && have_seeds) {
        mp_layout l;
        layout_from(&l, &prop.layout, &prop.set, &seed_model);
        evaluate(&seed_model, &seed_hw, &seed_wl, &l, &prop);
    }
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size) {
        perror(path);
        abort();
    }
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/moeplan-fuzz-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    /* The seed files; MOEPLAN_PLANS overrides the source tree's plans/. */
    const char *plans = getenv("MOEPLAN_PLANS");
    if (!plans || !plans[0])
        plans = MP_SOURCE_PLANS;
    char p1[1024], p2[1024], p3[1024];
    snprintf(p1, sizeof p1, "%s/seed-model.yaml", plans);
    snprintf(p2, sizeof p2, "%s/seed-hardware.yaml", plans);
    snprintf(p3, sizeof p3, "%s/seed-workload.yaml", plans);
    mp_error e;
    have_seeds = mp_model_load(&seed_model, p1, &e) == MP_OK && mp_hardware_load(&seed_hw, p2, &e) == MP_OK &&
                 mp_workload_load(&seed_wl, p3, &e) == MP_OK;
    if (!have_seeds)
        fprintf(stderr, "fuzz_loaders: seed files not loaded from %s; loaders only\n", plans);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. The parser alone, on an exactly sized heap copy (no terminating NUL,
     *    so an over-read is an ASan report). */
    {
        char *copy = malloc(size ? size : 1);
        if (size)
            memcpy(copy, data, size);
        mp_doc d;
        mp_error e;
        memset(&e, 0, sizeof e);
        mp_status st = mp_doc_load_string(&d, "fuzz.yaml", copy, size, &e);
        check_err("mp_doc_load_string", st, &e);
        if (st == MP_OK) {
            if (!d.root || d.root->kind != MP_NODE_MAP) {
                fprintf(stderr, "mp_doc_load_string: OK but root is not a map\n");
                abort();
            }
            mp_doc_free(&d);
        }
        free(copy);
    }

    /* 2. Every file loader, with a .yaml and a .json name. */
    char path[128];
    snprintf(path, sizeof path, "%s/input.yaml", dir);
    write_file(path, data, size);
    run_file(path);
    unlink(path);

    snprintf(path, sizeof path, "%s/input.json", dir);
    write_file(path, data, size);
    run_file(path);
    unlink(path);
    return 0;
}
