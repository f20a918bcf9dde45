/* moeplan: the simulator's timeline as a Chrome trace (src/trace.c): the
 * trace-event format's complete events ("ph": "X", microseconds), one
 * process per pipeline rank, a compute, a collectives and a pipeline-send
 * thread each;
 * it opens in Perfetto (ui.perfetto.dev) and chrome://tracing. */
#ifndef MOEPLAN_TRACE_H
#define MOEPLAN_TRACE_H

#include <jansson.h>

#include "moeplan/simulate.h"

/* A new JSON object (caller json_decref's), or NULL when out of memory. */
json_t *mp_sim_trace(const mp_sim_result *r, const char *title);

#endif
