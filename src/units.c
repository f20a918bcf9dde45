#include "moeplan/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    double scale;
} unit_t;

static const unit_t bytes_units[] = {
    {"B", 1}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15},
    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
    {NULL, 0}};
static const unit_t flop_units[] = {
    {"FLOPS", 1}, {"GFLOPS", 1e9}, {"TFLOPS", 1e12}, {"PFLOPS", 1e15},
    {"FLOP/s", 1}, {"GFLOP/s", 1e9}, {"TFLOP/s", 1e12}, {"PFLOP/s", 1e15}, {NULL, 0}};
static const unit_t rate_units[] = {
    {"B/s", 1}, {"kB/s", 1e3}, {"KB/s", 1e3}, {"MB/s", 1e6}, {"GB/s", 1e9}, {"TB/s", 1e12},
    {"MiB/s", 1048576.0}, {"GiB/s", 1073741824.0}, {"TiB/s", 1099511627776.0},
    {"Mb/s", 1e6 / 8}, {"Gb/s", 1e9 / 8}, {"Tb/s", 1e12 / 8},
    {"Mbit/s", 1e6 / 8}, {"Gbit/s", 1e9 / 8}, {"Tbit/s", 1e12 / 8},
    {"GBps", 1e9}, {"TBps", 1e12}, {NULL, 0}};
static const unit_t time_units[] = {
    /* Microseconds: "us", or with the micro sign (U+00B5) or the Greek small
     * mu (U+03BC).  Unicode keeps both for the same prefix and keyboards and
     * roff (\(*m) produce either, so refusing one would refuse a value the
     * user cannot tell from the accepted one. */
    {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"\xC2\xB5s", 1e-6}, {"\xCE\xBCs", 1e-6}, {"ns", 1e-9}, {NULL, 0}};

static const unit_t *table_for(mp_unit_kind k)
{
    switch (k) {
    case MP_UNIT_BYTES: return bytes_units;
    case MP_UNIT_FLOP_RATE: return flop_units;
    case MP_UNIT_BYTE_RATE: return rate_units;
    case MP_UNIT_SECONDS: return time_units;
    case MP_UNIT_FRACTION: return NULL;
    }
    return NULL;
}

const char *mp_unit_examples(mp_unit_kind k)
{
    switch (k) {
    case MP_UNIT_BYTES: return "B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)";
    case MP_UNIT_FLOP_RATE: return "FLOPS, GFLOPS, TFLOPS, PFLOPS, or the same as FLOP/s";
    case MP_UNIT_BYTE_RATE: return "B/s, MB/s, GB/s, TB/s, GiB/s, or bits as Gb/s, Gbit/s";
    case MP_UNIT_SECONDS: return "s, ms, us (or \xC2\xB5s), ns";
    case MP_UNIT_FRACTION: return "a fraction such as 0.6, or a percentage such as 60%";
    }
    return "";
}

size_t mp_parse_decimal(const char *text, double *out, const char **why_not)
{
    const char *s = text;
    const char *dummy;
    if (!why_not)
        why_not = &dummy;
    *why_not = "is not a number";
    size_t i = (s[0] == '+' || s[0] == '-');
    if (s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        *why_not = "is hexadecimal";
        return 0;
    }
    if (!strncasecmp(s + i, "inf", 3) || !strncasecmp(s + i, "nan", 3)) {
        *why_not = "is not a finite number";
        return 0;
    }
    size_t int_start = i;
    while (isdigit((unsigned char)s[i]))
        i++;
    size_t nint = i - int_start, nfrac = 0;
    if (nint > 1 && s[int_start] == '0') {
        /* YAML 1.1 and C read 0400 as octal (256): say so rather than guess. */
        *why_not = "has a leading zero (octal in some readers)";
        return 0;
    }
    if (s[i] == '.') {
        size_t j = i + 1;
        while (isdigit((unsigned char)s[j]))
            j++;
        nfrac = j - i - 1;
        if (nint || nfrac)
            i = j;
    }
    if (!nint && !nfrac)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1 + (s[i + 1] == '+' || s[i + 1] == '-'), k = j;
        while (isdigit((unsigned char)s[k]))
            k++;
        if (k > j)
            i = k;
    }
    /* strtod reads exactly this span: the grammar above is its decimal
     * grammar less the forms refused. */
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if ((size_t)(end - text) != i || errno == ERANGE || !isfinite(v)) {
        *why_not = "is out of range";
        return 0;
    }
    *out = v;
    return i;
}

bool mp_parse_quantity(const char *text, mp_unit_kind kind, double *out, char *why, size_t why_len)
{
    while (isspace((unsigned char)*text))
        text++;
    double v;
    const char *why_not;
    size_t nl = mp_parse_decimal(text, &v, &why_not);
    if (!nl) {
        if (kind == MP_UNIT_FRACTION)
            snprintf(why, why_len, "'%s' %s; expected %s", text, why_not, mp_unit_examples(kind));
        else
            snprintf(why, why_len, "'%s' %s; expected a decimal number followed by a unit (%s)", text, why_not,
                     mp_unit_examples(kind));
        return false;
    }
    const char *end = text + nl;
    while (isspace((unsigned char)*end))
        end++;
    char unit[32];
    size_t n = strlen(end);
    while (n > 0 && isspace((unsigned char)end[n - 1]))
        n--;
    if (n >= sizeof unit) {
        snprintf(why, why_len, "unit '%s' is not one of %s", end, mp_unit_examples(kind));
        return false;
    }
    memcpy(unit, end, n);
    unit[n] = 0;
    if (kind == MP_UNIT_FRACTION) {
        if (strcmp(unit, "%") == 0)
            v /= 100.0;
        else if (unit[0]) {
            snprintf(why, why_len, "'%s' is not %s", text, mp_unit_examples(kind));
            return false;
        }
        *out = v;
        return true;
    }
    if (!unit[0]) {
        snprintf(why, why_len, "'%s' has no unit; write it with one of %s", text, mp_unit_examples(kind));
        return false;
    }
    for (const unit_t *u = table_for(kind); u->name; u++) {
        if (strcmp(u->name, unit) == 0) {
            if (!isfinite(v * u->scale)) {
                snprintf(why, why_len, "'%s' is out of range (more than a double holds)", text);
                return false;
            }
            *out = v * u->scale;
            return true;
        }
    }
    /* A near miss, said rather than taken: case carries meaning (Gb is
     * bits, GB bytes), and "Gbps" is the usual spelling of gigabits. */
    const char *hint = NULL;
    static const char *const bps[][2] = {{"Mbps", "Mb/s"}, {"Gbps", "Gb/s"}, {"Tbps", "Tb/s"}};
    for (size_t i = 0; kind == MP_UNIT_BYTE_RATE && i < sizeof bps / sizeof bps[0]; i++)
        if (!strcmp(unit, bps[i][0]))
            hint = bps[i][1];
    /* Otherwise the one unit that differs only in case; none where two do
     * (gb/s: GB/s or Gb/s), nor for bits where bytes are asked (Gb). */
    bool bits = kind == MP_UNIT_BYTES && strlen(unit) == 2 && isupper((unsigned char)unit[0]) && unit[1] == 'b';
    int same = 0;
    const char *only = NULL;
    for (const unit_t *u = table_for(kind); !hint && !bits && u->name; u++)
        if (!strcasecmp(u->name, unit)) {
            same++;
            only = u->name;
        }
    if (!hint && same == 1)
        hint = only;
    if (hint)
        snprintf(why, why_len, "unknown unit '%s' (did you mean '%s'?); expected %s", unit, hint,
                 mp_unit_examples(kind));
    else
        snprintf(why, why_len, "unknown unit '%s'; expected %s", unit, mp_unit_examples(kind));
    return false;
}

/* Past the largest prefix (or below the smallest), each formatter falls
 * back to three significant digits of the base unit, so a value of 1e308
 * prints as "1e+308 B", not as 300 digits that break a report's columns. */
/* The least value shown in `unit` rather than in the unit 1000 times
 * smaller, printed there with `d` decimals: where that would round up to
 * "1000.00" (999.996 ms), the larger unit ("1.000 s") is taken. */
static double up(double unit, int d)
{
    return unit * (1.0 - 0.5e-3 * pow(10.0, -d));
}

void mp_fmt_bytes(double b, char *buf, size_t len)
{
    double a = fabs(b);
    if (a >= up(1e18, 2)) snprintf(buf, len, "%.3g B", b);
    else if (a >= up(1e12, 2)) snprintf(buf, len, "%.2f TB", b / 1e12);
    else if (a >= up(1e9, 2)) snprintf(buf, len, "%.2f GB", b / 1e9);
    else if (a >= up(1e6, 2)) snprintf(buf, len, "%.2f MB", b / 1e6);
    else if (a >= up(1e3, 0)) snprintf(buf, len, "%.2f kB", b / 1e3);
    else if (a > 0 && a < 0.5) snprintf(buf, len, "%.3g B", b);
    else snprintf(buf, len, "%.0f B", b);
}

void mp_fmt_gib(double b, char *buf, size_t len)
{
    snprintf(buf, len, "%.2f GiB", b / 1073741824.0);
}

void mp_fmt_count(double n, char *buf, size_t len)
{
    double a = fabs(n);
    if (a >= up(1e15, 3)) snprintf(buf, len, "%.3g", n);
    else if (a >= up(1e12, 3)) snprintf(buf, len, "%.3f T", n / 1e12);
    else if (a >= up(1e9, 3)) snprintf(buf, len, "%.3f B", n / 1e9);
    else if (a >= up(1e6, 3)) snprintf(buf, len, "%.3f M", n / 1e6);
    else if (a >= up(1e3, 0)) snprintf(buf, len, "%.3f k", n / 1e3);
    else if (a > 0 && a < 0.5) snprintf(buf, len, "%.3g", n);
    else snprintf(buf, len, "%.0f", n);
}

const char *mp_plural(long long n) { return n == 1 ? "" : "s"; }

void mp_fmt_seconds(double s, char *buf, size_t len)
{
    double a = fabs(s);
    if (a >= 1e6) snprintf(buf, len, "%.3g s", s);
    else if (a >= up(1.0, 2)) snprintf(buf, len, "%.3f s", s);
    else if (a >= up(1e-3, 2)) snprintf(buf, len, "%.2f ms", s * 1e3);
    else if (a >= up(1e-6, 0)) snprintf(buf, len, "%.2f us", s * 1e6);
    else if (a == 0) snprintf(buf, len, "0 s");
    else if (a < 0.5e-11) snprintf(buf, len, "%.3g s", s);
    else if (a >= up(1e-8, 0)) snprintf(buf, len, "%.0f ns", s * 1e9); /* 9.996 ns: "10 ns", not "10.00 ns" */
    else snprintf(buf, len, "%.2f ns", s * 1e9); /* under 10 ns, 2 decimals: 0.614 ns was "1 ns" */
}

void mp_fmt_flops(double f, char *buf, size_t len)
{
    double a = fabs(f);
    if (a >= up(1e21, 3)) snprintf(buf, len, "%.3g FLOP", f);
    else if (a >= up(1e18, 3)) snprintf(buf, len, "%.3f EFLOP", f / 1e18);
    else if (a >= up(1e15, 3)) snprintf(buf, len, "%.3f PFLOP", f / 1e15);
    else if (a >= up(1e12, 3)) snprintf(buf, len, "%.3f TFLOP", f / 1e12);
    /* Below a GFLOP the count is printed whole, in FLOP, so it rounds up
     * to "1000000000 FLOP" from 1e9 - 0.5: up()'s d counts decimals of the
     * unit 1000 times smaller (MFLOP), and half a FLOP is its sixth. */
    else if (a >= up(1e9, 6)) snprintf(buf, len, "%.3f GFLOP", f / 1e9);
    else snprintf(buf, len, "%.0f FLOP", f);
}
