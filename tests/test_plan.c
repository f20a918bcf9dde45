/* Unit tests: plan files (mp_plan_load, plan.h).
 *
 * The seed plan's expected values are read off plans/seed-plan.yaml by eye
 * (the file is quoted in the test).  Error positions are counted by hand
 * from the documents written beside each test (1-based line:col).
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moeplan/audit.h"
#include "moeplan/plan.h"
#include "moeplan/report.h"
#include "moeplan/search.h"

#include "check_main.h"

#ifndef PLANS_DIR
#error "PLANS_DIR must point at plans/"
#endif

static char tmpdir[256];
static char written[8][512];
static int nwritten;

static void tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/moeplan-test-plan-XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
    nwritten = 0;
}

static void tmp_teardown(void)
{
    for (int i = 0; i < nwritten; i++)
        unlink(written[i]);
    rmdir(tmpdir);
}

/* Write a plan file into the temporary directory; returns its path. */
static const char *write_plan(const char *name, const char *text)
{
    ck_assert_int_lt(nwritten, 8);
    char *p = written[nwritten++];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

/* plans/seed-plan.yaml:
 *   model: seed-model.yaml, hardware: seed-hardware.yaml,
 *   workload: seed-workload.yaml
 *   layout: gpus 128, tp 4, pp 2, dp 16, cp 1, ep 16, etp 4, vpp 1,
 *           micro_batch 1, recompute none, sequence_parallel true,
 *           distributed_optimizer true
 *   requirements: min_headroom 10%, max_step_time 2 s,
 *                 min_tokens_per_s 500000, max_gpus 128
 * Paths are relative to the plan file's directory (plan.h). */
START_TEST(test_seed_plan)
{
    mp_plan p;
    mp_error e;
    memset(&e, 0, sizeof e);
    mp_status st = mp_plan_load(&p, PLANS_DIR "/seed-plan.yaml", &e);
    ck_assert_msg(st == MP_OK, "%s:%d:%d: %s", e.file, e.line, e.col, e.msg);
    ck_assert_str_eq(p.source, PLANS_DIR "/seed-plan.yaml");
    ck_assert_str_eq(p.model_path, PLANS_DIR "/seed-model.yaml");
    ck_assert_str_eq(p.hardware_path, PLANS_DIR "/seed-hardware.yaml");
    ck_assert_str_eq(p.workload_path, PLANS_DIR "/seed-workload.yaml");
    const mp_layout *l = &p.layout;
    ck_assert_int_eq(l->gpus, 128);
    ck_assert_int_eq(l->tp, 4);
    ck_assert_int_eq(l->pp, 2);
    ck_assert_int_eq(l->dp, 16);
    ck_assert_int_eq(l->cp, 1);
    ck_assert_int_eq(l->ep, 16);
    ck_assert_int_eq(l->etp, 4);
    ck_assert_int_eq(l->vpp, 1);
    ck_assert_int_eq(l->micro_batch, 1);
    ck_assert_int_eq(l->recompute, MP_RECOMPUTE_NONE);
    ck_assert(l->sequence_parallel);
    ck_assert_int_eq(l->zero, 1);
    const mp_layout_set *s = &p.set;
    ck_assert(s->gpus && s->tp && s->pp && s->dp && s->cp && s->ep && s->etp && s->vpp && s->micro_batch &&
              s->recompute && s->sequence_parallel && s->zero);
    ck_assert(p.has_requirements);
    ck_assert(p.req.has_headroom);
    ck_assert_double_eq_tol(p.req.min_headroom, 0.10, 1e-15); /* 10 / 100, one rounding */
    ck_assert(p.req.has_step_time);
    ck_assert_double_eq(p.req.max_step_time_s, 2.0);          /* 2 * 1 s, exact */
    ck_assert(p.req.has_tokens);
    ck_assert_double_eq(p.req.min_tokens_per_s, 500000.0);
    ck_assert(p.req.has_gpus);
    ck_assert_int_eq(p.req.max_gpus, 128);
    ck_assert(!p.req.has_mfu);
    /* The layout it names is a valid seed layout (4 * 1 * 16 * 2 = 128). */
    ck_assert_int_eq(l->tp * l->cp * l->dp * l->pp, l->gpus);
}
END_TEST

/* Paths: relative to the plan's directory; absolute ones kept; absent
 * ones empty (the default is used). */
START_TEST(test_paths)
{
    const char *p = write_plan("paths.yaml", "model: sub/m.yaml\nhardware: /abs/h.yaml\n");
    mp_plan plan;
    mp_error e;
    ck_assert_int_eq(mp_plan_load(&plan, p, &e), MP_OK);
    char want[600];
    snprintf(want, sizeof want, "%s/sub/m.yaml", tmpdir);
    ck_assert_str_eq(plan.model_path, want);
    ck_assert_str_eq(plan.hardware_path, "/abs/h.yaml");
    ck_assert_str_eq(plan.workload_path, "");
    ck_assert(!plan.has_requirements);
}
END_TEST

/* A plan named without a directory: paths stay as written (relative to
 * the working directory, which is the plan's). */
START_TEST(test_paths_no_dir)
{
    write_plan("plan.yaml", "model: m.yaml\n");
    ck_assert_int_eq(chdir(tmpdir), 0); /* CK_FORK: only this test's process moves */
    mp_plan plan;
    mp_error e;
    ck_assert_int_eq(mp_plan_load(&plan, "plan.yaml", &e), MP_OK);
    ck_assert_str_eq(plan.model_path, "m.yaml");
}
END_TEST

/* Only the keys given are marked as set; the rest keep mp_layout_defaults
 * (all sizes 1, recompute none, distributed optimizer on). */
START_TEST(test_layout_partial)
{
    const char *p = write_plan("partial.yaml", "layout:\n  tp: 8\n  recompute: selective\n");
    mp_plan plan;
    mp_error e;
    ck_assert_int_eq(mp_plan_load(&plan, p, &e), MP_OK);
    ck_assert(plan.set.tp);
    ck_assert(plan.set.recompute);
    ck_assert(!plan.set.pp && !plan.set.dp && !plan.set.gpus && !plan.set.sequence_parallel);
    ck_assert_int_eq(plan.layout.tp, 8);
    ck_assert_int_eq(plan.layout.pp, 1);
    ck_assert_int_eq(plan.layout.recompute, MP_RECOMPUTE_SELECTIVE);
    ck_assert_int_eq(plan.layout.zero, 1);
}
END_TEST

/* Requirements with units: 1500 ms = 1.5 s; 5% = 0.05; a bare fraction
 * 0.4 for MFU; 1e6 tokens/s. */
START_TEST(test_requirements_units)
{
    const char *p = write_plan("req.yaml", "requirements:\n"
                                           "  max_step_time: 1500 ms\n"
                                           "  min_headroom: 5%\n"
                                           "  min_mfu: 0.4\n"
                                           "  min_tokens_per_s: 1e6\n"
                                           "  max_gpus: 64\n");
    mp_plan plan;
    mp_error e;
    memset(&e, 0, sizeof e);
    mp_status st = mp_plan_load(&plan, p, &e);
    ck_assert_msg(st == MP_OK, "%d:%d: %s", e.line, e.col, e.msg);
    ck_assert(plan.has_requirements);
    ck_assert_double_eq_tol(plan.req.max_step_time_s, 1.5, 1e-15);
    ck_assert_double_eq_tol(plan.req.min_headroom, 0.05, 1e-16);
    ck_assert(plan.req.has_mfu);
    ck_assert_double_eq(plan.req.min_mfu, 0.4);
    ck_assert_double_eq(plan.req.min_tokens_per_s, 1e6);
    ck_assert_int_eq(plan.req.max_gpus, 64);
}
END_TEST

typedef struct {
    const char *text;
    int line, col;
    const char *msg;
    const char *why;
} plan_err;

static const plan_err plan_errs[] = {
    {"model: m.yaml\nlayout:\n  tp: 2\n  micro_bach: 1\n", 4, 3,
     "unknown key 'micro_bach' in 'layout' (did you mean 'micro_batch'?)", "indented 2 on line 4"},
    {"model: m.yaml\nhardwre: h.yaml\n", 2, 1, "unknown key 'hardwre' in a plan file (did you mean 'hardware'?)",
     "line 2"},
    {"layout:\n  recompute: partial\n", 2, 14, "'recompute' is 'partial'; expected none, selective, full or modules (core_attn, moe_act",
     "'  recompute: ' is 13 chars"},
    {"layout:\n  recompute: selectiv\n", 2, 14,
     "'recompute' is 'selectiv'; expected none, selective, full or modules (did you mean 'selective'?)",
     "one letter short of 'selective'"},
    {"layout:\n  tp: 0\n", 2, 7, "'tp' is 0; expected a whole number from 1 to 65536", "'  tp: ' is 6 chars"},
    {"layout:\n  sequence_parallel: maybe\n", 2, 22, "'sequence_parallel' must be true or false, got 'maybe'",
     "2 + 17 + 2 = 21 chars before the value"},
    {"layout: 4\n", 1, 9, "'layout' must be a mapping of keys to values, not a scalar", "'layout: ' is 8 chars"},
    {"requirements:\n  max_step_time: 2\n", 2, 18, "'max_step_time': '2' has no unit",
     "'  max_step_time: ' is 17 chars"},
    {"requirements:\n  max_step_time: 2 hours\n", 2, 18, "'max_step_time': unknown unit 'hours'",
     "same column"},
    {"requirements:\n  min_headroom: 150%\n", 2, 17, "'min_headroom' is '150%'; expected",
     "150% = 1.5 > 0.99; '  min_headroom: ' is 16 chars"},
    {"requirements:\n  max_gpu: 8\n", 2, 3, "unknown key 'max_gpu' in 'requirements' (did you mean 'max_gpus'?)",
     "indented 2"},
    {"model: [a, b]\n", 1, 8, "'model' must be a string, not a list", "'model: ' is 7 chars"},
};

START_TEST(test_plan_errors)
{
    const plan_err *c = &plan_errs[_i];
    const char *p = write_plan("bad.yaml", c->text);
    mp_plan plan;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(mp_plan_load(&plan, p, &e), MP_ERR_INPUT);
    ck_assert_str_eq(e.file, p);
    ck_assert_msg(e.line == c->line && e.col == c->col, "case %d: error at %d:%d, expected %d:%d (%s); msg: %s", _i,
                  e.line, e.col, c->line, c->col, c->why, e.msg);
    ck_assert_msg(strstr(e.msg, c->msg) != NULL, "case %d: message '%s' lacks '%s'", _i, e.msg, c->msg);
}
END_TEST

START_TEST(test_plan_missing)
{
    mp_plan plan;
    mp_error e;
    char p[600];
    snprintf(p, sizeof p, "%s/none.yaml", tmpdir);
    ck_assert_int_eq(mp_plan_load(&plan, p, &e), MP_ERR_IO);
    ck_assert_str_eq(e.file, p);
}
END_TEST

/* A proposal's own working (mp_audit_arithmetic), left to right:
 *   "16 × 64 × 1024 × 8 ÷ 4 ÷ 2 × 2" = 16*64*1024*8/4/2*2 = 2,097,152
 *   "64 ÷ 16" = 4;  "1.8e12 x 0.8" = 1.44e12;  "10 / 4 * 2" = 5 (not 1.25)
 * and rejections: a trailing operator, a word, division by zero, empty, and
 * workings that come to 0 or below (every metric is positive). */
static const struct {
    const char *text;
    bool ok;
    double value;
} arith[] = {
    {"16 \xC3\x97 64 \xC3\x97 1024 \xC3\x97 8 \xC3\xB7 4 \xC3\xB7 2 \xC3\x97 2", true, 2097152},
    {"64 \xC3\xB7 16", true, 4},
    {"1.8e12 x 0.8", true, 1.44e12},
    {"10 / 4 * 2", true, 5},
    {"128", true, 128},
    {"16 x", false, 0},
    {"16 x GPUs", false, 0},
    {"1 / 0", false, 0},
    {"", false, 0},
    {"0 x 5", false, 0},
    {"-64 x 2", false, 0},
};

START_TEST(test_arithmetic)
{
    double v = -1;
    bool ok = mp_audit_arithmetic(arith[_i].text, &v);
    ck_assert_msg(ok == arith[_i].ok, "'%s': ok %d, expected %d", arith[_i].text, ok, arith[_i].ok);
    if (ok)
        ck_assert_msg(fabs(v - arith[_i].value) <= 1e-12 * arith[_i].value, "'%s' = %.17g, expected %.17g",
                      arith[_i].text, v, arith[_i].value);
}
END_TEST

/* ------------------------------------------------ report output (issue 6) */

/* Text from files, escaped for a terminal; each expected string is the
 * input with every control byte, invalid byte and backslash written as
 * \xNN by hand. */
static const struct {
    const char *in, *want;
} esc[] = {
    {"seed-moe", "seed-moe"},
    {"a\x1b[2Jb", "a\\x1b[2Jb"},                 /* ESC: would clear the screen */
    {"two\nlines\ttab", "two\\x0alines\\x09tab"},
    {"back\\slash", "back\\x5cslash"},          /* so that "\x1b" in a name cannot pass for an escape */
    {"del\x7f", "del\\x7f"},
    {"c1 \xc2\x9b" "31m", "c1 \\xc2\\x9b31m"},  /* U+009B, CSI in some terminals */
    {"bad \xff\xc3", "bad \\xff\\xc3"},         /* invalid byte, cut sequence */
    {"\xc3\xb7 \xc3\xbc \xe2\x80\xa6", "\xc3\xb7 \xc3\xbc \xe2\x80\xa6"}, /* ÷ ü …: printable UTF-8 stays */
};

START_TEST(test_escape)
{
    char buf[128];
    ck_assert_str_eq(mp_report_escape(esc[_i].in, buf, sizeof buf), esc[_i].want);
}
END_TEST

START_TEST(test_escape_cols)
{
    char buf[64];
    size_t n;
    /* Fits in 6 columns: as it is. */
    ck_assert_str_eq(mp_report_escape_cols("abcdef", 6, buf, sizeof buf, &n), "abcdef");
    ck_assert_uint_eq(n, 6);
    /* 6 into 4: three characters and the ellipsis. */
    ck_assert_str_eq(mp_report_escape_cols("abcdef", 4, buf, sizeof buf, &n), "abc\xe2\x80\xa6");
    ck_assert_uint_eq(n, 4);
    /* "a" + ESC is 1 + 4 = 5 columns; into 4 the escape is not split:
     * "a" and the ellipsis. */
    ck_assert_str_eq(mp_report_escape_cols("a\x1b", 4, buf, sizeof buf, &n), "a\xe2\x80\xa6");
    ck_assert_uint_eq(n, 2);
    /* Multi-byte characters count one column each: 3 in "÷÷÷". */
    mp_report_escape_cols("\xc3\xb7\xc3\xb7\xc3\xb7", 3, buf, sizeof buf, &n);
    ck_assert_uint_eq(n, 3);
    /* A buffer of 8 bytes for 10 characters: 4, "..." and the NUL. */
    char small[8];
    ck_assert_str_eq(mp_report_escape("abcdefghij", small, sizeof small), "abcd...");
}
END_TEST

START_TEST(test_layout_line)
{
    mp_layout l;
    mp_layout_defaults(&l);
    l.gpus = 128, l.tp = 4, l.cp = 1, l.dp = 16, l.pp = 2, l.ep = 16, l.etp = 4, l.edp = 1, l.vpp = 1,
    l.micro_batch = 1, l.sequence_parallel = true, l.zero = 1;
    l.recompute = MP_RECOMPUTE_NONE;
    char buf[256];
    mp_report_layout_line(&l, true, buf, sizeof buf);
    ck_assert_str_eq(buf, "tp4 cp1 dp16 pp2 | etp4 ep16 edp1 | vpp1 mb1 rc:none sp zero1");
    /* Without experts there is no expert layout to print. */
    mp_report_layout_line(&l, false, buf, sizeof buf);
    ck_assert_str_eq(buf, "tp4 cp1 dp16 pp2 | vpp1 mb1 rc:none sp zero1");
    json_t *j = mp_report_layout_json(&l, false);
    ck_assert(json_is_null(json_object_get(j, "ep")) && json_is_null(json_object_get(j, "etp")) &&
              json_is_null(json_object_get(j, "edp")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "tp")), 4);
    json_decref(j);
}
END_TEST

/* mp_report_json_write's output for a document, in a malloc'd string. */
static char *json_text(json_t *j)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    mp_report_json_write(f, j);
    fclose(f);
    json_decref(j);
    return buf;
}

START_TEST(test_json_numbers)
{
    /* DeepSeek-V3's 671,026,404,352 parameters, as an integer; 5% of
     * 2,375,972,595 bytes rounds to a whole byte; 0.1 and 1/3 as reals with
     * the fewest digits that read back (0.1 is not 0.10000000000000001,
     * 1/3 needs all 16); 7e9 as a real keeps an exponent; 2^70 does not
     * fit in int64 and stays a real. */
    json_t *j = json_pack("{s:o,s:o,s:f,s:f,s:f,s:o}", "params", mp_json_count(671026404352.0), "bytes",
                          mp_json_count(118798629.75), "tenth", 0.1, "third", 1.0 / 3.0, "seven", 7e9, "huge",
                          mp_json_count(1180591620717411303424.0));
    char *s = json_text(j);
    ck_assert_ptr_nonnull(strstr(s, "\"params\": 671026404352,"));
    ck_assert_ptr_nonnull(strstr(s, "\"bytes\": 118798630,"));
    ck_assert_ptr_nonnull(strstr(s, "\"tenth\": 0.1,"));
    ck_assert_ptr_nonnull(strstr(s, "\"third\": 0.3333333333333333\n"));
    ck_assert_ptr_nonnull(strstr(s, "\"seven\": 7e+09,"));
    ck_assert_ptr_nonnull(strstr(s, "\"huge\": 1.1805916207174113e+21,"));
    /* Read back: the same doubles. */
    json_t *back = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(back);
    ck_assert(json_is_integer(json_object_get(back, "params")));
    ck_assert(json_real_value(json_object_get(back, "third")) == 1.0 / 3.0);
    ck_assert(json_real_value(json_object_get(back, "tenth")) == 0.1);
    json_decref(back);
    free(s);
    /* Numbers inside strings are left alone; a name cut inside a UTF-8
     * sequence is kept (with U+FFFD), not dropped. */
    j = json_pack("{s:s,s:o}", "why", "needs 1.50000 GB", "model", mp_json_text("caf\xc3"));
    s = json_text(j);
    ck_assert_ptr_nonnull(strstr(s, "\"why\": \"needs 1.50000 GB\""));
    ck_assert_ptr_nonnull(strstr(s, "\"model\": \"caf\xef\xbf\xbd\""));
    free(s);
}
END_TEST


/* The search on several threads: everything in the result -- counts, the
 * kept layouts and their order, both fronts, the fewest GPUs, the rejected
 * samples -- is the same, field for field, as on one thread (the threads'
 * GPU counts and the chunks they are merged in vary with jobs). */
static void same_result(const mp_search_result *a, const mp_search_result *b, int jobs)
{
    ck_assert_msg(a->considered == b->considered && a->scored == b->scored && a->kept == b->kept &&
                      a->dominated == b->dominated,
                  "jobs %d: counts differ", jobs);
    ck_assert_msg(!memcmp(a->rejected, b->rejected, sizeof a->rejected), "jobs %d: rejections differ", jobs);
    ck_assert_int_eq(a->n_best, b->n_best);
    ck_assert_int_eq(a->n_pareto, b->n_pareto);
    ck_assert_int_eq(a->n_per_gpu, b->n_per_gpu);
    ck_assert_int_eq(a->n_front, b->n_front);
    ck_assert_int_eq(a->n_samples, b->n_samples);
    ck_assert_int_eq(a->fewest_gpus, b->fewest_gpus);
    /* Candidates are memset before they are filled: padding compares too. */
    ck_assert_msg(!a->n_best || !memcmp(a->best, b->best, a->n_best * sizeof *a->best), "jobs %d: best", jobs);
    ck_assert_msg(!a->n_pareto || !memcmp(a->pareto, b->pareto, a->n_pareto * sizeof *a->pareto), "jobs %d: pareto",
                  jobs);
    ck_assert_msg(!a->n_per_gpu || !memcmp(a->per_gpu, b->per_gpu, a->n_per_gpu * sizeof *a->per_gpu),
                  "jobs %d: per_gpu", jobs);
    ck_assert_msg(!a->n_front || !memcmp(a->front, b->front, a->n_front * sizeof *a->front), "jobs %d: front", jobs);
    ck_assert_msg(!a->fewest_gpus || !memcmp(&a->fewest, &b->fewest, sizeof a->fewest), "jobs %d: fewest", jobs);
    for (size_t i = 0; i < a->n_samples; i++) {
        ck_assert_msg(a->samples[i].rule == b->samples[i].rule && !strcmp(a->samples[i].why, b->samples[i].why) &&
                          !memcmp(&a->samples[i].lay, &b->samples[i].lay, sizeof a->samples[i].lay),
                      "jobs %d: sample %zu", jobs, i);
    }
}

START_TEST(test_search_jobs)
{
    static mp_model m;
    static mp_hardware hw;
    static mp_workload w;
    mp_plan p;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_msg(mp_plan_load(&p, PLANS_DIR "/seed-plan.yaml", &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_model_load(&m, p.model_path, &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_hardware_load(&hw, p.hardware_path, &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_workload_load(&w, p.workload_path, &e) == MP_OK, "%s", e.msg);
    mp_search_opts o;
    memset(&o, 0, sizeof o);
    o.gpus_min = 1;
    o.gpus_max = 80;
    o.sort = MP_SORT_STEP;
    o.keep = 50;
    o.keep_per_gpu = 3;
    o.why_not_samples = 5;
    o.headroom = 0.4;   /* memory rejections among the samples */
    o.uneven_pipeline = true;
    o.jobs = 1;
    mp_search_result one;
    ck_assert_int_eq(mp_search_run(&m, &hw, &w, &o, NULL, NULL, &one, &e), MP_OK);
    ck_assert(one.kept > 0 && one.n_best == 50 && one.n_pareto > 1 && one.n_front > 1 && one.n_samples > 5);
    static const int jobs[] = {2, 3, 7, 80, 1024};
    for (size_t k = 0; k < sizeof jobs / sizeof jobs[0]; k++) {
        o.jobs = jobs[k];
        mp_search_result r;
        ck_assert_int_eq(mp_search_run(&m, &hw, &w, &o, NULL, NULL, &r, &e), MP_OK);
        same_result(&one, &r, jobs[k]);
        mp_search_free(&r);
    }
    mp_search_free(&one);
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *ta = tcase_create("arithmetic");
    tcase_add_loop_test(ta, test_arithmetic, 0, (int)(sizeof arith / sizeof arith[0]));
    suite_add_tcase(s, ta);
    TCase *tc = tcase_create("plan");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_seed_plan);
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_paths_no_dir);
    tcase_add_test(tc, test_layout_partial);
    tcase_add_test(tc, test_requirements_units);
    tcase_add_loop_test(tc, test_plan_errors, 0, (int)(sizeof plan_errs / sizeof plan_errs[0]));
    tcase_add_test(tc, test_plan_missing);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("report");
    tcase_add_loop_test(tr, test_escape, 0, (int)(sizeof esc / sizeof esc[0]));
    tcase_add_test(tr, test_escape_cols);
    tcase_add_test(tr, test_layout_line);
    tcase_add_test(tr, test_json_numbers);
    suite_add_tcase(s, tr);
    TCase *tj = tcase_create("search");
    tcase_set_timeout(tj, 120);
    tcase_add_test(tj, test_search_jobs);
    suite_add_tcase(s, tj);
    return s;
}

MP_CHECK_MAIN(plan_suite)
