/* moeplan: SVG charts drawn by moeplan itself (no plotting library). */
#ifndef MOEPLAN_SVG_H
#define MOEPLAN_SVG_H

#include <stdio.h>

#include "moeplan/search.h"
#include "moeplan/simulate.h"

/* The Pareto front (GPUs vs tokens/s, memory as colour) and the memory
 * breakdown of the best layouts, as one standalone SVG document. */
void mp_svg_plan(FILE *f, const mp_search_result *r, const char *title, double capacity_bytes);

/* The simulator's timeline of one step (r->events), one row per pipeline
 * rank. */
void mp_svg_timeline(FILE *f, const mp_sim_result *r, const char *title);

#endif
