/* moeplan: quantities with units, parsed strictly.
 *
 * Decimal (SI) prefixes are powers of 1000 and binary (IEC) prefixes powers of
 * 1024: "64 GB" is 64e9 bytes, "64 GiB" is 64 * 2^30 bytes.  Bandwidths in
 * bits ("400 Gb/s", "400 Gbit/s") are divided by 8.  A bare number is refused
 * for a quantity that has a unit, so "64" never silently means 64 bytes.
 */
#ifndef MOEPLAN_UNITS_H
#define MOEPLAN_UNITS_H

#include <stddef.h>
#include <stdbool.h>

typedef enum {
    MP_UNIT_BYTES,        /* B kB KB MB GB TB PB KiB MiB GiB TiB */
    MP_UNIT_FLOP_RATE,    /* FLOPS GFLOPS TFLOPS PFLOPS, also FLOP/s forms */
    MP_UNIT_BYTE_RATE,    /* B/s MB/s GB/s TB/s GiB/s ..., Gb/s Gbit/s (bits) */
    MP_UNIT_SECONDS,      /* s ms us ns; µs with U+00B5 or U+03BC */
    MP_UNIT_FRACTION      /* 0.6 or 60% */
} mp_unit_kind;

/* Parse `text` as a quantity of `kind`.  On failure returns false and writes a
 * sentence for the user into why (e.g. "unknown unit 'GBs'; expected one of
 * B, kB, MB, GB, TB, KiB, MiB, GiB, TiB"). */
bool mp_parse_quantity(const char *text, mp_unit_kind kind, double *out, char *why, size_t why_len);

/* The plain decimal number at the start of text: an optional sign, digits
 * with an optional fraction (or a fraction alone: .5), an optional exponent.
 * Refused, though strtod takes them: hexadecimal (0x190), a leading zero
 * (0400, octal in YAML 1.1), inf, nan, and values that overflow a double.
 * Returns the number's length and sets *out, or returns 0 and points
 * *why_not (may be NULL) at a phrase for the user ("is hexadecimal; ..."). */
size_t mp_parse_decimal(const char *text, double *out, const char **why_not);

/* The units accepted for a kind, for messages and the man page. */
const char *mp_unit_examples(mp_unit_kind kind);

/* Human formatting used by reports: SI for rates and counts, both for bytes.
 * Beyond the largest prefix, or below a unit's smallest step, three
 * significant digits of the base unit ("1e+308 B"), so widths stay bounded. */
void mp_fmt_bytes(double bytes, char *buf, size_t len);     /* "27.31 GB" (SI) */
void mp_fmt_gib(double bytes, char *buf, size_t len);       /* "25.43 GiB" */
void mp_fmt_count(double n, char *buf, size_t len);         /* "46.70 B", "124.4 M" */
/* "s" for a count other than 1, "" for 1: "1 GPU", "2 GPUs". */
const char *mp_plural(long long n);
void mp_fmt_seconds(double s, char *buf, size_t len);       /* "1.234 s", "12.3 ms" */
void mp_fmt_flops(double f, char *buf, size_t len);         /* "3.21 PFLOP" */

#endif
