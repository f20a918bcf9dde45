/* moeplan: reports.  Writers take a FILE* that main points at a memory
 * buffer, so nothing reaches stdout unless the whole command succeeds. */
#ifndef MOEPLAN_REPORT_H
#define MOEPLAN_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "moeplan/cost.h"

typedef struct {
    const char *model_path, *hardware_path, *workload_path; /* as resolved, for the assumptions */
} mp_sources;

void mp_report_explain_text(FILE *f, const mp_cost_ctx *c, const mp_cost *r, const mp_sources *src, bool ops);
/* The issue-2 JSON schema (see moeplan(1)); caller owns the result. */
json_t *mp_report_explain_json(const mp_cost_ctx *c, const mp_cost *r, bool ops);
/* Layout object, shared by every JSON output.  A model without experts
 * has no expert layout: ep, etp and edp are null there (the keys stay, so
 * the schema is the same for every model). */
json_t *mp_report_layout_json(const mp_layout *l, bool experts);
/* One-line layout summary such as "tp4 cp1 dp16 pp2 | etp4 ep16 edp1 | vpp1 mb1 rc:none sp dopt";
 * without experts the middle part is left out: "tp1 cp8 dp8 pp1 | vpp1 mb1 rc:none dopt". */
void mp_report_layout_line(const mp_layout *l, bool experts, char *buf, size_t len);

/* JSON numbers.  A count (parameters, bytes) is a JSON integer, rounded to
 * the nearest whole number (a byte count such as 5% of an allocation may
 * come out fractional), so 671026404352 is printed as such and not as
 * 6.710264044e11; beyond int64 (or not finite) it stays a real.
 * mp_report_json_write prints every real with the fewest digits that read
 * back as the same double. */
json_t *mp_json_count(double v);
/* A JSON string for text read from a file, which may have been cut inside
 * a UTF-8 sequence: invalid bytes become U+FFFD rather than the key being
 * dropped (json_string refuses invalid UTF-8).  Never NULL unless out of
 * memory. */
json_t *mp_json_text(const char *s);

/* Text read from files (model and hardware names, _name_or_path, notes,
 * claims, paths) made safe to print on a terminal: control characters
 * (C0, DEL, C1), invalid UTF-8 and the backslash itself are written as
 * \xNN, so "a\x1b[2Jb" shows what the file holds instead of clearing the
 * screen.  Cut (with "...") when buf is too small.  Returns buf. */
const char *mp_report_escape(const char *s, char *buf, size_t len);
/* The same for a text column: at most max_chars characters (an escape is
 * four, never split), the last being U+2026 when cut; *chars gets the
 * count. */
const char *mp_report_escape_cols(const char *s, size_t max_chars, char *buf, size_t len, size_t *chars);
#define MP_MAX_ASSUMPTIONS 24
#define MP_ASSUMPTION_LEN 400 /* bytes of one assumption line, with its NUL */
/* The assumptions behind a figure, one sentence each; returns the count. */
int mp_report_assumptions(const mp_cost_ctx *c, const mp_sources *src, char lines[][MP_ASSUMPTION_LEN]);
/* Emit JSON with sorted keys and 2-space indent, then a newline. */
void mp_report_json_write(FILE *f, json_t *j);

#endif
