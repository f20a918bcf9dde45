/* Unit tests for the plan chart (src/svg.c): a hand-made search result. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/report.h"
#include "moeplan/svg.h"

#include "check_main.h"

#define CAP 64e9

static mp_candidate cand(int gpus, int tp, int cp, int dp, int pp, int ep, double tokens, double weights, double act)
{
    mp_candidate c;
    memset(&c, 0, sizeof c);
    mp_layout_defaults(&c.lay);
    c.lay.gpus = gpus;
    c.lay.tp = tp;
    c.lay.cp = cp;
    c.lay.dp = dp;
    c.lay.pp = pp;
    c.lay.ep = ep;
    c.lay.etp = 1;
    c.lay.edp = tp * cp * dp / ep;
    c.lay.sequence_parallel = tp > 1;
    c.tokens_per_s = tokens;
    c.step_s = 1310720.0 / tokens;
    c.mem_weights_bytes = weights;
    c.mem_grads_bytes = weights / 2;
    c.mem_optim_bytes = weights * 1.5;
    c.mem_act_bytes = act;
    c.mem_other_bytes = 3e9;
    c.mem_total_bytes = weights * 3 + act + 3e9;
    c.headroom_bytes = CAP - c.mem_total_bytes;
    c.fits = c.headroom_bytes >= 0;
    c.meets_targets = true;
    return c;
}

/* The chart as a string (caller frees). */
static char *draw(const mp_search_result *r, const char *title, double cap, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_ptr_nonnull(f);
    mp_svg_plan(f, r, title, cap);
    ck_assert_int_eq(fclose(f), 0);
    if (len)
        *len = n;
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        k++;
    return k;
}

static void check_document(const char *s, size_t n)
{
    ck_assert(!strncmp(s, "<?xml", 5) || !strncmp(s, "<svg", 4));
    ck_assert_uint_ge(n, 7);
    ck_assert_str_eq(s + n - 7, "</svg>\n");
    ck_assert_uint_eq(count(s, "<svg"), 1);
    ck_assert_uint_eq(count(s, "<text"), count(s, "</text>"));
    ck_assert_uint_eq(count(s, "<title>"), count(s, "</title>"));
    ck_assert_uint_eq(count(s, "<g"), count(s, "</g>"));
    ck_assert_ptr_null(strstr(s, "<script"));
    ck_assert_ptr_null(strstr(s, "nan"));
    ck_assert_ptr_null(strstr(s, "inf\""));
}

/* Four layouts: three on the front (one a second point at 8 GPUs), the
 * best list ranked by tokens/s. */
static mp_candidate front[3], best[4];
static mp_search_result result;

static void setup(void)
{
    front[0] = cand(256, 4, 1, 64, 1, 64, 12.4e6, 0.5e9, 2.5e9);
    front[1] = cand(64, 2, 1, 32, 1, 32, 3.6e6, 1e9, 6e9);
    front[2] = cand(8, 1, 1, 8, 1, 8, 6.1e5, 3e9, 20e9);
    best[0] = front[0];
    best[1] = cand(256, 4, 2, 32, 1, 64, 12.3e6, 0.5e9, 2.7e9);
    best[2] = front[1];
    best[3] = front[2];
    memset(&result, 0, sizeof result);
    result.considered = 1720236;
    result.scored = 306303;
    result.kept = 298695;
    result.pareto = front;
    result.n_pareto = 3;
    result.best = best;
    result.n_best = 4;
    result.experts = true;
}

START_TEST(test_document)
{
    size_t n;
    char *s = draw(&result, "seed-moe & friends <draft> \"x\" 'y'", CAP, &n);
    check_document(s, n);
    ck_assert_ptr_nonnull(strstr(s, "seed-moe &amp; friends &lt;draft&gt; &quot;x&quot; &apos;y&apos;"));
    ck_assert_ptr_null(strstr(s, "<draft>"));
    ck_assert_uint_eq(count(s, "<circle class=\"pt\""), 3);
    char lay[256], want[300];
    mp_report_layout_line(&best[0].lay, true, lay, sizeof lay);
    snprintf(want, sizeof want, "<title>%s\n", lay);
    ck_assert_ptr_nonnull(strstr(s, want));
    ck_assert_ptr_nonnull(strstr(s, "class=\"rank1\""));
    ck_assert_ptr_nonnull(strstr(s, "1,720,236"));
    ck_assert_ptr_nonnull(strstr(s, "298,695"));
    /* Four bars of five parts each, and the capacity line. */
    ck_assert_uint_eq(count(s, "height=\"14\" fill=\"#0072b2\""), 4);
    ck_assert_uint_eq(count(s, "height=\"14\" fill=\"#999999\""), 4);
    ck_assert_ptr_nonnull(strstr(s, "capacity 64.00 GB"));
    ck_assert_ptr_nonnull(strstr(s, ">10M<"));
    ck_assert_ptr_nonnull(strstr(s, ">256<"));
    free(s);
}
END_TEST

START_TEST(test_deterministic)
{
    size_t n1, n2;
    char *a = draw(&result, "same & same", CAP, &n1);
    char *b = draw(&result, "same & same", CAP, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(!memcmp(a, b, n1));
    free(a);
    free(b);
}
END_TEST

START_TEST(test_empty)
{
    mp_search_result none;
    memset(&none, 0, sizeof none);
    none.considered = 774;
    size_t n;
    char *s = draw(&none, "nothing <fits>", CAP, &n);
    check_document(s, n);
    ck_assert_ptr_nonnull(strstr(s, "nothing &lt;fits&gt;"));
    ck_assert_uint_eq(count(s, "no layout fits"), 2);
    ck_assert_uint_eq(count(s, "class=\"pt\""), 0);
    ck_assert_ptr_null(strstr(s, "class=\"rank1\""));
    free(s);
    /* A null result and title, no capacity. */
    s = draw(NULL, NULL, 0, &n);
    check_document(s, n);
    free(s);
}
END_TEST

START_TEST(test_single_and_identical)
{
    result.n_pareto = 1;
    result.n_best = 1;
    size_t n;
    char *s = draw(&result, "one", CAP, &n);
    check_document(s, n);
    ck_assert_uint_eq(count(s, "<circle class=\"pt\""), 1);
    ck_assert_ptr_null(strstr(s, "<polyline fill=\"none\" stroke=\"#333333\" stroke-width=\"1.4\" stroke-linejoin"));
    free(s);
    /* Identical points: no division by zero in the scales. */
    front[1] = front[2] = front[0];
    result.n_pareto = 3;
    s = draw(&result, "same", CAP, &n);
    check_document(s, n);
    ck_assert_uint_eq(count(s, "<circle class=\"pt\""), 3);
    free(s);
}
END_TEST

START_TEST(test_extreme_values)
{
    front[0].tokens_per_s = 1e30;
    front[0].mem_total_bytes = 1e25;
    front[0].mem_act_bytes = 1e25;
    front[1].tokens_per_s = NAN;
    front[2].tokens_per_s = 0;
    front[2].mem_weights_bytes = -5;
    best[0] = front[0];
    best[1].mem_optim_bytes = INFINITY;
    best[2].lay.gpus = 1 << 30;
    best[2].tokens_per_s = 1e-9;
    best[3].mem_other_bytes = NAN;
    size_t n;
    char *s = draw(&result, "huge \x01 bad \xff utf-8 \xe2\x82\xac", NAN, &n);
    check_document(s, n);
    ck_assert_uint_eq(count(s, "<circle class=\"pt\""), 1);
    ck_assert_ptr_nonnull(strstr(s, "2 layouts with no throughput not drawn"));
    ck_assert_ptr_nonnull(strstr(s, "&#65533; bad &#65533; utf-8 \xe2\x82\xac"));
    free(s);
    /* Throughput at the top of the double range. */
    setup();
    result.n_pareto = 1;
    front[0].tokens_per_s = 1.7e308;
    best[0] = front[0];
    s = draw(&result, "top", CAP, &n);
    check_document(s, n);
    free(s);
    /* Over capacity. */
    setup();
    best[0].mem_act_bytes = 90e9;
    s = draw(&result, "over", CAP, &n);
    check_document(s, n);
    ck_assert_ptr_nonnull(strstr(s, "over capacity"));
    free(s);
}
END_TEST

static Suite *svg_suite(void)
{
    Suite *s = suite_create("svg");
    TCase *tc = tcase_create("plan");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_document);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_single_and_identical);
    tcase_add_test(tc, test_extreme_values);
    suite_add_tcase(s, tc);
    return s;
}

MP_CHECK_MAIN(svg_suite)
