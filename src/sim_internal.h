/* moeplan: what the simulator's parts share (not installed):
 * schedule.c plays one group's pipeline out, simulate.c prices its passes
 * and plays the steps, sim_draw.c draws the lengths and the routing. */
#ifndef MOEPLAN_SIM_INTERNAL_H
#define MOEPLAN_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moeplan/simulate.h"

/* One group's pipeline: the durations of each pass, per rank r, chunk k
 * and micro-batch j at index (r * v + k) * m + j (DualPipe: v = 2
 * directions, m micro-batches each). */
typedef struct {
    int p, v, m;
    mp_schedule sched;
    const double *f, *b, *w;     /* w: the W part of b (zero-bubble), else unused */
    const double *saved, *wsaved;
    const double *fc, *bc;       /* DualPipe: the communication inside f and b, which an overlapped pair hides */
    /* Per micro-batch, at index k * mb_stride + j (the layout's micro-batch:
     * mb_stride 0, or DualPipe's m, the reverse direction's after the
     * forward's): its tokens, the blocking send inside each of its passes
     * (1F1B) and its asynchronous send (interleaved, DualPipe). */
    const double *tokens, *p2p_s, *send_s;
    int mb_stride;
    const double *cap_bytes;     /* [p] ZB-H1: the rank's 1F1B activation peak */
} pipe_in;

typedef struct {
    double span_s;
    double *busy_s;              /* [p] */
    double *peak_bytes;          /* [p] activations */
    mp_sim_event *ev;            /* optional */
    size_t n_ev, cap_ev;
    bool want_ev;
} pipe_out;

/* The random number generator (sim_draw.c): xoshiro256** seeded by
 * splitmix64 [V18 there]. */
typedef struct {
    uint64_t s[4];
    double spare;                /* rng_normal's second draw */
    bool have_spare;
} rng;
void mp_sim_rng_seed(rng *g, uint64_t seed);
/* Uniform over lo..hi, inclusive. */
long mp_sim_rng_int(rng *g, long lo, long hi);
/* Binomial(n, p). */
double mp_sim_rng_binomial(rng *g, double n, double p);
/* One sequence's length under o->lengths (wsum: the histogram's weights
 * summed). */
long mp_sim_draw_length(rng *g, const mp_sim_options *o, const mp_workload *w, double wsum);

/* Room in *a (capacity *cap, n used) for one more element of `elem`
 * bytes, doubling it when full. */
bool mp_sim_room(void **a, size_t *cap, size_t n, size_t elem);
/* An event into o (when it keeps them). */
bool mp_sim_add_event(pipe_out *o, mp_event_kind k, int r, int chunk, int mb, double s, double e, double tokens);
/* One group's passes (index (r v + k) m + j, the layout's chunks) through
 * schedule `sched`; mbs[3 m]: each micro-batch's tokens, then its blocking
 * and its asynchronous send.  False when out of memory or when no rank
 * can move. */
bool mp_sim_run_group(mp_schedule sched, int p, int v, int m, const double *f, const double *b, const double *w,
                      const double *sv, const double *ws, const double *phi, const double *mbs, const double *cap,
                      pipe_out *po);

#endif
