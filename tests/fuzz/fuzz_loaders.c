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
 * Not part of the meson build; see README.md in this directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moeplan/audit.h"
#include "moeplan/doc.h"
#include "moeplan/hardware.h"
#include "moeplan/layout.h"
#include "moeplan/model.h"
#include "moeplan/plan.h"
#include "moeplan/workload.h"

static char dir[64];

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
        /* A loaded model with default workload and a layout of all ones. */
        mp_workload w;
        mp_workload_defaults(&w);
        mp_layout l;
        mp_layout_defaults(&l);
        char why[256];
        (void)mp_layout_check(&l, &m, &w, why, sizeof why);
    }

    static mp_hardware hw;
    memset(&e, 0, sizeof e);
    st = mp_hardware_load(&hw, path, &e);
    check_err("mp_hardware_load", st, &e);

    static mp_workload wl;
    memset(&e, 0, sizeof e);
    st = mp_workload_load(&wl, path, &e);
    check_err("mp_workload_load", st, &e);

    static mp_plan plan;
    memset(&e, 0, sizeof e);
    st = mp_plan_load(&plan, path, &e);
    check_err("mp_plan_load", st, &e);
    if (st == MP_OK) {
        /* Layout values from the file against a small dense model. */
        mp_model dm;
        memset(&dm, 0, sizeof dm);
        dm.num_layers = 4;
        dm.hidden = 64;
        dm.num_heads = dm.num_kv_heads = 4;
        dm.head_dim = 16;
        dm.ffn_hidden = 256;
        dm.vocab = 100;
        mp_workload w;
        mp_workload_defaults(&w);
        char why[256];
        (void)mp_layout_check(&plan.layout, &dm, &w, why, sizeof why);
    }

    static mp_proposal prop;
    memset(&e, 0, sizeof e);
    st = mp_proposal_load(&prop, path, &e);
    check_err("mp_proposal_load", st, &e);
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
