/* moeplan: what the search's two halves share (not installed):
 * search.c enumerates one GPU count's layouts, prunes them rule by rule
 * and scores the rest; search_run.c runs the GPU counts over the workers
 * and merges their results. */
#ifndef MOEPLAN_SEARCH_INTERNAL_H
#define MOEPLAN_SEARCH_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "moeplan/search.h"


/* The GPU counts of a range are searched in chunks of this many: each
 * chunk's per-count results (below) are held until the chunk is merged. */
#define MP_CHUNK 1024

/* What one GPU count contributes to results that are built in GPU order:
 * its fastest kept layout (the GPUs vs tokens/s front) and the Pareto front
 * of its own kept layouts (a layout is dominated only by layouts on as many
 * GPUs or fewer, so the whole front is these, filtered in GPU order).
 * Written by the one worker that searches the count. */
typedef struct {
    bool have_at_n;
    mp_candidate at_n;           /* ties: the first found */
    mp_candidate *front;
    size_t n_front, front_cap;
} gpu_slot;

/* One worker of the search: its own cost context (a copy: only the layout
 * changes), its own counts, best lists and samples.  A worker searches its
 * GPU counts in increasing order, and each GPU count is searched by one
 * worker only, so that merging the workers' results gives the same as one
 * worker over the whole range. */
typedef struct {
    const mp_model *m;
    const mp_hardware *hw;
    const mp_workload *w;
    const mp_search_opts *o;
    mp_search_result *r;         /* this worker's part: counts, best, per_gpu, samples, fewest */
    bool any_moe, any_dense;
    size_t samples_per_rule[MP_RULE_COUNT];
    size_t samples_cap;
    size_t best_cap, per_gpu_cap;
    gpu_slot *slot;              /* the GPU count being searched */
    size_t last_dom;             /* slot front index that dominated the previous candidate */
    bool oom;
    mp_cost_ctx ctx;             /* initialised once; only its layout changes */
    /* The chunk being searched: GPU counts are taken in increasing order
     * from *next (shared by the workers) up to last. */
    atomic_long *next;
    long last, base;
    gpu_slot *slots;             /* slots[N - base] */
    mp_search_result part;       /* storage for *r */
    struct blocks_table *blocks; /* block sums by shape (blocks_for); NULL until first used */
    size_t blocks_max;           /* shapes it may hold: its share of BLOCKS_BUDGET_BYTES */
} search_t;

/* The block-sums table: all workers' tables together hold at most this
 * (search.c, blocks_for, says what they keep); mp_search_run gives each
 * worker its share in entries. */
#define BLOCKS_BUDGET_BYTES (256.0 * 1048576)
typedef struct blocks_entry {
    int key[7];
    mp_cost_blocks b;
} blocks_entry;

static inline double sort_key(mp_sort sort, const mp_candidate *c)
{
    switch (sort) {
    case MP_SORT_STEP: return -c->step_s;
    case MP_SORT_TOKENS_PER_GPU: return c->tokens_per_s / c->lay.gpus;
    case MP_SORT_HEADROOM: return c->headroom_bytes;
    case MP_SORT_TOKENS: break;
    }
    return c->tokens_per_s;
}

/* Total order so that output is deterministic: key, then fewer GPUs, then
 * less memory, then the layout tuple. */
static inline int better(mp_sort sort, const mp_candidate *a, const mp_candidate *b)
{
    double ka = sort_key(sort, a), kb = sort_key(sort, b);
    if (ka != kb)
        return ka > kb;
    if (a->lay.gpus != b->lay.gpus)
        return a->lay.gpus < b->lay.gpus;
    if (a->mem_total_bytes != b->mem_total_bytes)
        return a->mem_total_bytes < b->mem_total_bytes;
    const int x[] = {a->lay.tp, a->lay.cp, a->lay.dp, a->lay.pp, a->lay.etp, a->lay.ep, a->lay.vpp, a->lay.micro_batch};
    const int y[] = {b->lay.tp, b->lay.cp, b->lay.dp, b->lay.pp, b->lay.etp, b->lay.ep, b->lay.vpp, b->lay.micro_batch};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        if (x[i] != y[i])
            return x[i] < y[i];
    if (a->lay.recompute != b->lay.recompute)
        return a->lay.recompute < b->lay.recompute;
    if (a->lay.sequence_parallel != b->lay.sequence_parallel)
        return a->lay.sequence_parallel;
    return a->lay.zero > b->lay.zero;
}

/* Pareto front over (fewer GPUs, more tokens/s, less memory). */
static inline bool dominates(const mp_candidate *a, const mp_candidate *b)
{
    bool ge = a->lay.gpus <= b->lay.gpus && a->tokens_per_s >= b->tokens_per_s &&
              a->mem_total_bytes <= b->mem_total_bytes;
    bool gt = a->lay.gpus < b->lay.gpus || a->tokens_per_s > b->tokens_per_s ||
              a->mem_total_bytes < b->mem_total_bytes;
    return ge && gt;
}

/* Search GPU count N (search.c): its counts, best lists and samples into
 * s->r, its fastest layout and Pareto front into s->slot. */
void mp_search_n(search_t *s, long N);
/* Free a worker's block-sums table (NULL: none). */
void mp_search_blocks_free(struct blocks_table *t);

#endif
