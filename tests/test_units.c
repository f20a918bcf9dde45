/* Unit tests: quantities with units (mp_parse_quantity), "did you mean"
 * (mp_did_you_mean) and the error formatter (mp_error_format).
 *
 * Expected values are the definitions of the units themselves:
 *  - SI prefixes are powers of 1000, IEC prefixes powers of 1024
 *    (IEC 80000-13; BIPM SI Brochure, 9th ed., section 3): 1 GB = 1e9 B,
 *    1 GiB = 2^30 B = 1,073,741,824 B, 1 TiB = 2^40 B = 1,099,511,627,776 B.
 *  - 1 byte = 8 bits, so 400 Gb/s = 400e9 / 8 = 50e9 B/s.
 *  - 1 ms = 1e-3 s, 1 us = 1e-6 s, 1 ns = 1e-9 s; 60% = 60/100 = 0.6.
 *  - The micro prefix has two code points with one meaning: U+00B5 MICRO
 *    SIGN and U+03BC GREEK SMALL LETTER MU (Unicode keeps both; NFKC maps
 *    the first to the second); both are accepted.
 *
 * Tolerance: every expected value is written as a decimal literal; the
 * parser computes it as (decimal mantissa) * (scale), two correctly rounded
 * operations, so it can differ from the literal by at most about 2 ulp
 * (~4.4e-16 relative).  We allow 1e-15 relative.  Where both factors are
 * exact in binary (64 * 2^30) the comparison is exact.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/error.h"
#include "moeplan/units.h"

#include "check_main.h"

#define REL_TOL 1e-15

/* ---------------------------------------------------------------- accepted */

typedef struct {
    const char *text;
    mp_unit_kind kind;
    double expected;
    const char *why; /* the arithmetic behind `expected` */
} ok_case;

static const ok_case ok_cases[] = {
    /* Bytes: SI (x1000) vs IEC (x1024). */
    {"64 GB", MP_UNIT_BYTES, 64e9, "64 * 10^9"},
    {"64 GiB", MP_UNIT_BYTES, 68719476736.0, "64 * 2^30 = 64 * 1,073,741,824 = 68,719,476,736"},
    {"1 GiB", MP_UNIT_BYTES, 1073741824.0, "2^30"},
    {"2 GiB", MP_UNIT_BYTES, 2147483648.0, "2 * 2^30"},
    {"1.5 kB", MP_UNIT_BYTES, 1500.0, "1.5 * 1000"},
    {"3 KiB", MP_UNIT_BYTES, 3072.0, "3 * 1024"},
    {"10 MiB", MP_UNIT_BYTES, 10485760.0, "10 * 2^20 = 10 * 1,048,576"},
    {"2 TiB", MP_UNIT_BYTES, 2199023255552.0, "2 * 2^40 = 2 * 1,099,511,627,776"},
    {"80 GB", MP_UNIT_BYTES, 80e9, "80 * 10^9"},
    {"1 TB", MP_UNIT_BYTES, 1e12, "10^12"},
    {"0.5 PB", MP_UNIT_BYTES, 5e14, "0.5 * 10^15"},
    {"512 B", MP_UNIT_BYTES, 512.0, "512 * 1"},
    {"  64GB  ", MP_UNIT_BYTES, 64e9, "surrounding blanks ignored, no space needed before the unit"},
    /* FLOP rates. */
    {"400 TFLOPS", MP_UNIT_FLOP_RATE, 400e12, "400 * 10^12"},
    {"989.5 TFLOPS", MP_UNIT_FLOP_RATE, 989.5e12, "989.5 * 10^12"},
    {"400 TFLOP/s", MP_UNIT_FLOP_RATE, 400e12, "FLOP/s spelling"},
    {"1.2 PFLOPS", MP_UNIT_FLOP_RATE, 1.2e15, "1.2 * 10^15"},
    {"500 GFLOPS", MP_UNIT_FLOP_RATE, 500e9, "500 * 10^9"},
    {"7 FLOPS", MP_UNIT_FLOP_RATE, 7.0, "7 * 1"},
    /* Decimal spellings strtod shares with the docs' "decimal" stay. */
    {".5 PFLOPS", MP_UNIT_FLOP_RATE, 0.5e15, "a fraction alone: 0.5 * 10^15"},
    {"400. TFLOPS", MP_UNIT_FLOP_RATE, 400e12, "a trailing point"},
    {"+400 TFLOPS", MP_UNIT_FLOP_RATE, 400e12, "an explicit sign"},
    {"4e2 TFLOPS", MP_UNIT_FLOP_RATE, 400e12, "4 * 10^2 * 10^12"},
    {"0.25 TB", MP_UNIT_BYTES, 0.25e12, "one zero before the point is not a leading zero"},
    /* Byte rates, and bit rates divided by 8. */
    {"1.8 TB/s", MP_UNIT_BYTE_RATE, 1.8e12, "1.8 * 10^12"},
    {"3.35 TB/s", MP_UNIT_BYTE_RATE, 3.35e12, "3.35 * 10^12"},
    {"400 GB/s", MP_UNIT_BYTE_RATE, 400e9, "400 * 10^9"},
    {"1 GiB/s", MP_UNIT_BYTE_RATE, 1073741824.0, "2^30"},
    {"400 Gb/s", MP_UNIT_BYTE_RATE, 50e9, "400e9 bits / 8 = 50e9 bytes"},
    {"400 Gbit/s", MP_UNIT_BYTE_RATE, 50e9, "400e9 bits / 8"},
    {"200 Gb/s", MP_UNIT_BYTE_RATE, 25e9, "200e9 / 8"},
    {"100 Mb/s", MP_UNIT_BYTE_RATE, 12.5e6, "100e6 / 8"},
    {"1.6 Tb/s", MP_UNIT_BYTE_RATE, 0.2e12, "1.6e12 / 8 = 2e11"},
    /* Seconds. */
    {"2 s", MP_UNIT_SECONDS, 2.0, "2 * 1"},
    {"10 ms", MP_UNIT_SECONDS, 0.01, "10 * 10^-3"},
    {"1500 ms", MP_UNIT_SECONDS, 1.5, "1500 * 10^-3"},
    {"3 us", MP_UNIT_SECONDS, 3e-6, "3 * 10^-6"},
    {"3 \xC2\xB5s", MP_UNIT_SECONDS, 3e-6, "micro sign (U+00B5, UTF-8 C2 B5) also accepted"},
    {"3 \xCE\xBCs", MP_UNIT_SECONDS, 3e-6, "Greek small mu (U+03BC, UTF-8 CE BC), as moeplan(5) printed it"},
    {"10 \xCE\xBCs", MP_UNIT_SECONDS, 10e-6, "10 * 10^-6, Greek mu"},
    {"5 ns", MP_UNIT_SECONDS, 5e-9, "5 * 10^-9"},
    /* Fractions and percentages. */
    {"60%", MP_UNIT_FRACTION, 0.6, "60 / 100"},
    {"10 %", MP_UNIT_FRACTION, 0.1, "10 / 100, blank before % allowed"},
    {"5%", MP_UNIT_FRACTION, 0.05, "5 / 100"},
    {"100%", MP_UNIT_FRACTION, 1.0, "100 / 100"},
    {"0.6", MP_UNIT_FRACTION, 0.6, "a bare number is already a fraction"},
    {"0.85", MP_UNIT_FRACTION, 0.85, "bare fraction"},
};

START_TEST(test_parse_ok)
{
    const ok_case *c = &ok_cases[_i];
    double v = -1;
    char why[256] = "";
    bool ok = mp_parse_quantity(c->text, c->kind, &v, why, sizeof why);
    ck_assert_msg(ok, "'%s' rejected: %s", c->text, why);
    ck_assert_msg(fabs(v - c->expected) <= REL_TOL * fabs(c->expected),
                  "'%s' -> %.17g, expected %.17g (%s)", c->text, v, c->expected, c->why);
}
END_TEST

/* GB and GiB differ by the ratio 2^30 / 10^9 = 1.073741824 exactly. */
START_TEST(test_gb_vs_gib)
{
    double gb = 0, gib = 0;
    char why[256];
    ck_assert(mp_parse_quantity("1 GB", MP_UNIT_BYTES, &gb, why, sizeof why));
    ck_assert(mp_parse_quantity("1 GiB", MP_UNIT_BYTES, &gib, why, sizeof why));
    ck_assert_double_eq(gb, 1e9);
    ck_assert_double_eq(gib, 1073741824.0); /* 2^30, exact in binary */
    ck_assert_rel(gib / gb, 1.073741824, REL_TOL);
}
END_TEST

/* A bit rate is an eighth of the byte rate with the same prefix. */
START_TEST(test_bits_are_eighth)
{
    double bits = 0, bytes = 0;
    char why[256];
    ck_assert(mp_parse_quantity("800 Gb/s", MP_UNIT_BYTE_RATE, &bits, why, sizeof why));
    ck_assert(mp_parse_quantity("800 GB/s", MP_UNIT_BYTE_RATE, &bytes, why, sizeof why));
    ck_assert_double_eq(bytes, 800e9);
    ck_assert_double_eq(bits, 100e9);   /* 800e9 / 8, exact: 100e9 < 2^53 */
    ck_assert_double_eq(bytes / bits, 8.0);
}
END_TEST

/* ---------------------------------------------------------------- rejected */

typedef struct {
    const char *text;
    mp_unit_kind kind;
    const char *why_contains; /* a fragment the message must carry; NULL = any */
} bad_case;

static const bad_case bad_cases[] = {
    /* A bare number is refused for a quantity that has a unit (units.h). */
    {"64", MP_UNIT_BYTES, "no unit"},
    {"400", MP_UNIT_FLOP_RATE, "no unit"},
    {"1.8", MP_UNIT_BYTE_RATE, "no unit"},
    {"2", MP_UNIT_SECONDS, "no unit"},
    /* Unknown units; the message names the unit as written. */
    {"64 GBs", MP_UNIT_BYTES, "unknown unit 'GBs'"},
    {"64 gb", MP_UNIT_BYTES, "unknown unit 'gb'"},     /* case matters: Mb (bits) != MB (bytes) */
    {"400 TB/s", MP_UNIT_FLOP_RATE, "unknown unit 'TB/s'"}, /* right unit, wrong kind */
    {"64 GB", MP_UNIT_BYTE_RATE, "unknown unit 'GB'"},  /* bytes where a rate is wanted */
    {"2 hours", MP_UNIT_SECONDS, "unknown unit 'hours'"},
    {"60 percent", MP_UNIT_FRACTION, NULL},
    /* Garbage and non-finite numbers. */
    {"GB", MP_UNIT_BYTES, "not a number"},
    {"abc", MP_UNIT_BYTES, "not a number"},
    {"many TFLOPS", MP_UNIT_FLOP_RATE, "not a number"},
    {"inf GB", MP_UNIT_BYTES, NULL},
    {"-inf GB", MP_UNIT_BYTES, NULL},
    {"infinity TFLOPS", MP_UNIT_FLOP_RATE, NULL},
    {"nan GB", MP_UNIT_BYTES, NULL},
    {"NaN %", MP_UNIT_FRACTION, NULL},
    {"1e999 GB", MP_UNIT_BYTES, "'1e999 GB' is out of range"}, /* overflows a double: ERANGE */
    /* Not decimal, though strtod reads them (0x190 = 400, 0x1p8 = 256) and
     * YAML 1.1 reads 0400 as octal 256: refused with the reason. */
    {"0x190 TFLOPS", MP_UNIT_FLOP_RATE,
     "'0x190 TFLOPS' is hexadecimal; expected a decimal number followed by a unit (FLOPS, GFLOPS, TFLOPS, PFLOPS, "
     "or the same as FLOP/s)"},
    {"0X190 TFLOPS", MP_UNIT_FLOP_RATE, "is hexadecimal"},
    {"0x1p8 TFLOPS", MP_UNIT_FLOP_RATE, "is hexadecimal"},
    {"-0x10 GB", MP_UNIT_BYTES, "is hexadecimal"},
    {"0400 TFLOPS", MP_UNIT_FLOP_RATE, "'0400 TFLOPS' has a leading zero (octal in some readers)"},
    {"00.5 TB", MP_UNIT_BYTES, "has a leading zero"},
    {"0x10%", MP_UNIT_FRACTION, "'0x10%' is hexadecimal; expected a fraction such as 0.6, or a percentage such as 60%"},
    {"inf TFLOPS", MP_UNIT_FLOP_RATE, "'inf TFLOPS' is not a finite number"},
    {"NAN TFLOPS", MP_UNIT_FLOP_RATE, "is not a finite number"},
    /* "us" spelt with other look-alikes is still unknown. */
    {"3 \xC2\xB5S", MP_UNIT_SECONDS, "unknown unit"},
    /* Empty and blank. */
    {"", MP_UNIT_BYTES, "not a number"},
    {"   ", MP_UNIT_SECONDS, "not a number"},
    {"", MP_UNIT_FRACTION, NULL},
};

START_TEST(test_parse_bad)
{
    const bad_case *c = &bad_cases[_i];
    double v = 12345.0;
    char why[512] = "";
    bool ok = mp_parse_quantity(c->text, c->kind, &v, why, sizeof why);
    ck_assert_msg(!ok, "'%s' accepted as %.17g", c->text, v);
    ck_assert_msg(why[0] != 0, "'%s' rejected without a reason", c->text);
    if (c->why_contains)
        ck_assert_msg(strstr(why, c->why_contains), "'%s': message '%s' lacks '%s'", c->text, why, c->why_contains);
    ck_assert_double_eq(v, 12345.0); /* *out untouched on failure */
}
END_TEST

/* The unknown-unit message lists what is accepted, so the user can fix it. */
START_TEST(test_unknown_unit_lists_choices)
{
    double v;
    char why[512];
    ck_assert(!mp_parse_quantity("64 GBs", MP_UNIT_BYTES, &v, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "GiB"));
    ck_assert_ptr_nonnull(strstr(why, "GB"));
    ck_assert(!mp_parse_quantity("3 fortnights", MP_UNIT_SECONDS, &v, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "ms"));
}
END_TEST

/* A near miss is named, never taken: "Gbps" (the usual spelling of
 * gigabits) is Gb/s, a unit that differs only in case is suggested; none
 * where the case decides between two (gb/s: GB/s or Gb/s, kb: kB or KB),
 * nor bytes for bits (64 Gb is 8 GB, not 64). */
START_TEST(test_unknown_unit_near_miss)
{
    static const struct {
        const char *text;
        mp_unit_kind kind;
        const char *hint; /* NULL: no "did you mean" */
    } cases[] = {
        {"400 Gbps", MP_UNIT_BYTE_RATE, "(did you mean 'Gb/s'?)"},
        {"100 Mbps", MP_UNIT_BYTE_RATE, "(did you mean 'Mb/s'?)"},
        {"64 gb", MP_UNIT_BYTES, "(did you mean 'GB'?)"},
        {"64 gib", MP_UNIT_BYTES, "(did you mean 'GiB'?)"},
        {"400 TFLOPs", MP_UNIT_FLOP_RATE, "(did you mean 'TFLOPS'?)"},
        {"3 US", MP_UNIT_SECONDS, "(did you mean 'us'?)"},
        {"400 gb/s", MP_UNIT_BYTE_RATE, NULL},
        {"64 kb", MP_UNIT_BYTES, NULL},
        {"64 Gb", MP_UNIT_BYTES, NULL},
        {"64 GBs", MP_UNIT_BYTES, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = 1;
        char why[512];
        ck_assert(!mp_parse_quantity(cases[i].text, cases[i].kind, &v, why, sizeof why));
        ck_assert_double_eq(v, 1);
        if (cases[i].hint)
            ck_assert_msg(strstr(why, cases[i].hint), "'%s': '%s' lacks '%s'", cases[i].text, why, cases[i].hint);
        else
            ck_assert_msg(!strstr(why, "did you mean"), "'%s': '%s' guesses", cases[i].text, why);
    }
}
END_TEST

/* mp_parse_decimal: the length of the number at the start, and its value. */
START_TEST(test_parse_decimal)
{
    double v = -1;
    const char *why = NULL;
    ck_assert_uint_eq(mp_parse_decimal("12abc", &v, &why), 2); /* "12", then not a number */
    ck_assert_double_eq(v, 12);
    ck_assert_uint_eq(mp_parse_decimal("-0.5 s", &v, &why), 4);
    ck_assert_double_eq(v, -0.5);
    ck_assert_uint_eq(mp_parse_decimal("0", &v, &why), 1);
    ck_assert_double_eq(v, 0);
    ck_assert_uint_eq(mp_parse_decimal("1e3x", &v, &why), 3);
    ck_assert_double_eq(v, 1000);
    ck_assert_uint_eq(mp_parse_decimal("2e", &v, &why), 1); /* an exponent needs digits: "2", then "e" */
    ck_assert_double_eq(v, 2);
    v = -1;
    ck_assert_uint_eq(mp_parse_decimal("00", &v, &why), 0);
    ck_assert_str_eq(why, "has a leading zero (octal in some readers)");
    ck_assert_uint_eq(mp_parse_decimal(".", &v, &why), 0);
    ck_assert_str_eq(why, "is not a number");
    ck_assert_uint_eq(mp_parse_decimal("e5", &v, &why), 0);
    ck_assert_uint_eq(mp_parse_decimal("0x10", &v, NULL), 0); /* why_not may be NULL */
    ck_assert_uint_eq(mp_parse_decimal("-Infinity", &v, &why), 0);
    ck_assert_str_eq(why, "is not a finite number");
    ck_assert_double_eq(v, -1); /* untouched on failure */
}
END_TEST

/* Report formatters stay bounded: past the largest prefix, or below the
 * smallest step, three significant digits of the base unit. */
typedef struct {
    void (*fmt)(double, char *, size_t);
    double v;
    const char *want;
} fmt_case;

static const fmt_case fmt_cases[] = {
    {mp_fmt_bytes, 64e9, "64.00 GB"},         /* unchanged inside the prefixes */
    {mp_fmt_bytes, 1.5e15, "1500.00 TB"},     /* TB up to 10^18 */
    {mp_fmt_bytes, 1e308, "1e+308 B"},        /* was 296 digits and " TB" */
    {mp_fmt_bytes, 1e-300, "1e-300 B"},       /* was "0 B" */
    {mp_fmt_bytes, 512, "512 B"},
    {mp_fmt_count, 4.429e9, "4.429 B"},
    {mp_fmt_count, 999e12, "999.000 T"},
    {mp_fmt_count, 1e15, "1e+15"},
    {mp_fmt_count, 1e308, "1e+308"},
    {mp_fmt_seconds, 12.5e-3, "12.50 ms"},
    {mp_fmt_seconds, 5e-9, "5.00 ns"},
    /* 10 ns less 0.005 ns is where 2 decimals would round to "10.00": from
     * there the whole-ns form (up(1e-8, 0) = 9.995 ns). */
    {mp_fmt_seconds, 9.996e-9, "10 ns"},
    {mp_fmt_seconds, 9.994e-9, "9.99 ns"},
    {mp_fmt_seconds, 6.14e-10, "0.61 ns"},    /* was "1 ns" */
    {mp_fmt_seconds, 2e-10, "0.20 ns"},
    {mp_fmt_seconds, 2e-12, "2e-12 s"},       /* was "0 ns" at 2e-10 */
    {mp_fmt_seconds, 999999, "999999.000 s"},
    {mp_fmt_seconds, 1e300, "1e+300 s"},
    {mp_fmt_flops, 3.21e15, "3.210 PFLOP"},
    {mp_fmt_flops, 1e300, "1e+300 FLOP"},
    /* A value that would round up to 1000 in the smaller unit is shown in
     * the larger one: 0.9999996 s at 2 decimals of ms is 1000.00 ms. */
    {mp_fmt_seconds, 0.9999996, "1.000 s"},
    {mp_fmt_seconds, 0.99999, "999.99 ms"},
    {mp_fmt_seconds, 0.9999996e-3, "1.00 ms"},
    {mp_fmt_seconds, 0.9996e-6, "1.00 us"},
    {mp_fmt_bytes, 999.996e9, "1.00 TB"},
    {mp_fmt_bytes, 999.99e9, "999.99 GB"},
    {mp_fmt_bytes, 999.6, "1.00 kB"},
    {mp_fmt_count, 999.9996e6, "1.000 B"},
    {mp_fmt_flops, 999.9996e12, "1.000 PFLOP"},
    /* The GFLOP threshold has the same guard: below 1e9 the count is
     * printed whole ("%.0f FLOP"), so 999,999,999.7 would round to
     * "1000000000 FLOP"; from 1e9 - 0.5 it is 1.000 GFLOP, below it whole. */
    {mp_fmt_flops, 999999999.7, "1.000 GFLOP"},
    {mp_fmt_flops, 999999999.2, "999999999 FLOP"},
    {mp_fmt_flops, 999.9996e9, "1.000 TFLOP"},
    {mp_fmt_flops, 999.9994e9, "999.999 GFLOP"},
};

START_TEST(test_fmt_bounded)
{
    char buf[64];
    fmt_cases[_i].fmt(fmt_cases[_i].v, buf, sizeof buf);
    ck_assert_str_eq(buf, fmt_cases[_i].want);
}
END_TEST

/* ------------------------------------------------------------ did you mean */

typedef struct {
    const char *word;
    const char *expected; /* NULL: no suggestion */
    const char *why;
} dym_case;

static const char *const dym_words[] = {"hidden", "heads", "kv_heads", "layers", "micro_batch", "sequence_parallel",
                                        "tp", "pp", "dp", "expert_hidden"};
/* The rule (error.h): the closest candidate by edit distance, when that
 * distance is at most max(1, len(word)/3). */
static const dym_case dym_cases[] = {
    {"hiden", "hidden", "1 insertion; limit max(1, 5/3=1) = 1"},
    {"hidden", "hidden", "exact match, distance 0"},
    {"layer", "layers", "1 insertion; limit 1"},
    {"kv_head", "kv_heads", "1 insertion (vs 'heads' at 4); limit 7/3 = 2"},
    {"micro_bach", "micro_batch", "1 insertion; limit 10/3 = 3"},
    {"microbatch", "micro_batch", "1 insertion ('_'); limit 3"},
    {"sequence_paralel", "sequence_parallel", "1 insertion; limit >= 1"},
    {"expert_hiden", "expert_hidden", "1 insertion (vs 'hidden' at 8); limit 12/3 = 4"},
    {"tq", "tp", "1 substitution ('pp', 'dp' are 2 away); limit max(1, 2/3 = 0) = 1"},
    {"xyz", NULL, "nearest ('tp', 'pp', 'dp') are 3 edits away; limit max(1, 3/3) = 1"},
    {"vocabulary", NULL, "nearest is 'layers' at 8 edits; limit 10/3 = 3"},
    {"hd", NULL, "'dp','tp','pp' are 2 edits away (sub + sub); limit max(1, 0) = 1"},
};

START_TEST(test_did_you_mean)
{
    const dym_case *c = &dym_cases[_i];
    const char *got = mp_did_you_mean(c->word, dym_words, sizeof dym_words / sizeof dym_words[0]);
    if (c->expected)
        ck_assert_msg(got && strcmp(got, c->expected) == 0, "'%s' -> '%s', expected '%s' (%s)", c->word,
                      got ? got : "(null)", c->expected, c->why);
    else
        ck_assert_msg(got == NULL, "'%s' -> '%s', expected no suggestion (%s)", c->word, got, c->why);
}
END_TEST

START_TEST(test_did_you_mean_empty_list)
{
    ck_assert_ptr_null(mp_did_you_mean("hidden", dym_words, 0));
}
END_TEST

/* Ties go to the first candidate at the smallest distance: "tpp" is one
 * deletion from both "tp" and "pp"; "tp" comes first in the list. */
START_TEST(test_did_you_mean_tie_first)
{
    static const char *const c[] = {"tp", "pp", "dp"};
    const char *got = mp_did_you_mean("tpp", c, 3);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, "tp");
}
END_TEST

/* ---------------------------------------------------------- error format */

START_TEST(test_error_format)
{
    mp_error e;
    char buf[256];
    ck_assert_int_eq(mp_error_set(&e, MP_ERR_INPUT, "m.yaml", 3, 5, "bad %s", "thing"), MP_ERR_INPUT);
    ck_assert_int_eq(e.status, MP_ERR_INPUT);
    mp_error_format(&e, buf, sizeof buf);
    ck_assert_str_eq(buf, "m.yaml:3:5: error: bad thing");
    mp_error_set(&e, MP_ERR_IO, "m.yaml", 0, 0, "cannot open");
    mp_error_format(&e, buf, sizeof buf);
    ck_assert_str_eq(buf, "m.yaml: error: cannot open");
    mp_error_set(&e, MP_ERR_INPUT, "", 0, 0, "--tp must be positive");
    mp_error_format(&e, buf, sizeof buf);
    ck_assert_str_eq(buf, "error: --tp must be positive");
    /* A NULL record is allowed and only the status comes back. */
    ck_assert_int_eq(mp_error_set(NULL, MP_ERR_NOMEM, "x", 1, 1, "y"), MP_ERR_NOMEM);
}
END_TEST

static Suite *units_suite(void)
{
    Suite *s = suite_create("units");
    TCase *tc = tcase_create("quantity");
    tcase_add_loop_test(tc, test_parse_ok, 0, (int)(sizeof ok_cases / sizeof ok_cases[0]));
    tcase_add_test(tc, test_gb_vs_gib);
    tcase_add_test(tc, test_bits_are_eighth);
    tcase_add_loop_test(tc, test_parse_bad, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_unknown_unit_lists_choices);
    tcase_add_test(tc, test_unknown_unit_near_miss);
    tcase_add_test(tc, test_parse_decimal);
    tcase_add_loop_test(tc, test_fmt_bounded, 0, (int)(sizeof fmt_cases / sizeof fmt_cases[0]));
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("did_you_mean");
    tcase_add_loop_test(td, test_did_you_mean, 0, (int)(sizeof dym_cases / sizeof dym_cases[0]));
    tcase_add_test(td, test_did_you_mean_empty_list);
    tcase_add_test(td, test_did_you_mean_tie_first);
    tcase_add_test(td, test_error_format);
    suite_add_tcase(s, td);
    return s;
}

MP_CHECK_MAIN(units_suite)
