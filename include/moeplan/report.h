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
/* Layout object, shared by every JSON output. */
json_t *mp_report_layout_json(const mp_layout *l);
/* One-line layout summary such as "tp4 cp1 dp16 pp2 | etp4 ep16 edp1 | vpp1 mb1 rc:none sp do". */
void mp_report_layout_line(const mp_layout *l, char *buf, size_t len);
#define MP_MAX_ASSUMPTIONS 16
/* The assumptions behind a figure, one sentence each; returns the count. */
int mp_report_assumptions(const mp_cost_ctx *c, const mp_sources *src, char lines[][320]);
/* Emit JSON with sorted keys and 2-space indent, then a newline. */
void mp_report_json_write(FILE *f, json_t *j);

#endif
