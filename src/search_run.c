/* The search run (include/moeplan/search.h): the GPU counts of the range
 * in chunks over the worker threads (search.c searches each count), and
 * the workers' results merged as one worker's over the whole range, so the
 * result is the same, byte for byte, for every --jobs. */
#include "moeplan/search.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"


#define MP_PARETO_CAP 4096

static void *worker_main(void *arg)
{
    search_t *s = arg;
    for (;;) {
        long N = atomic_fetch_add(s->next, 1);
        if (N > s->last || s->oom)
            break;
        s->slot = &s->slots[N - s->base];
        s->last_dom = 0;
        mp_search_n(s, N);
    }
    return NULL;
}

/* One GPU count's slot, merged in GPU order: its fastest layout joins the
 * GPUs vs tokens/s front when it beats every layout on fewer GPUs (the last
 * entry is the one to beat); its front's layouts join the Pareto front
 * unless a layout on fewer GPUs dominates them (none of the front's can be
 * dominated by them).  The front stops at MP_PARETO_CAP layouts. */
static bool merge_slot(mp_search_result *r, gpu_slot *g, size_t *front_cap, size_t *pareto_cap, size_t *last_dom)
{
    if (g->have_at_n && (r->n_front == 0 || g->at_n.tokens_per_s > r->front[r->n_front - 1].tokens_per_s)) {
        if (r->n_front == *front_cap) {
            size_t cap = *front_cap ? 2 * *front_cap : 64;
            mp_candidate *n = realloc(r->front, cap * sizeof *n);
            if (!n)
                return false;
            r->front = n;
            *front_cap = cap;
        }
        r->front[r->n_front++] = g->at_n;
    }
    for (size_t k = 0; k < g->n_front; k++) {
        const mp_candidate *c = &g->front[k];
        bool dom = *last_dom < r->n_pareto && dominates(&r->pareto[*last_dom], c);
        for (size_t i = 0; i < r->n_pareto && !dom; i++)
            if (dominates(&r->pareto[i], c)) {
                dom = true;
                *last_dom = i;
            }
        if (dom || r->n_pareto >= MP_PARETO_CAP)
            continue;
        if (r->n_pareto == *pareto_cap) {
            size_t cap = *pareto_cap ? 2 * *pareto_cap : 64;
            mp_candidate *n = realloc(r->pareto, cap * sizeof *n);
            if (!n)
                return false;
            r->pareto = n;
            *pareto_cap = cap;
        }
        r->pareto[r->n_pareto++] = *c;
    }
    return true;
}

/* The first K of two lists sorted by `sort`; on a tie a's comes first (ties
 * are between layouts of one GPU count, so of one worker's list). */
static mp_candidate *merge_two(mp_sort sort, const mp_candidate *a, size_t na, const mp_candidate *b, size_t nb,
                               size_t K, size_t *n_out)
{
    size_t n = na + nb < K ? na + nb : K, i = 0, j = 0;
    mp_candidate *out = malloc((n ? n : 1) * sizeof *out);
    if (!out)
        return NULL;
    for (size_t k = 0; k < n; k++)
        out[k] = j < nb && (i == na || better(sort, &b[j], &a[i])) ? b[j++] : a[i++];
    *n_out = n;
    return out;
}

/* Merge the workers' sorted lists (at offsets list_off and n_off of
 * mp_search_result) into one of at most K, pairwise. */
static bool merge_lists(search_t *ws, int nw, mp_sort sort, size_t K, bool per_gpu, mp_candidate **out, size_t *n_out)
{
    mp_candidate **lists = calloc((size_t)nw, sizeof *lists);
    size_t *ns = calloc((size_t)nw, sizeof *ns);
    bool ok = lists && ns;
    for (int t = 0; ok && t < nw; t++) {
        mp_search_result *p = &ws[t].part;
        lists[t] = per_gpu ? p->per_gpu : p->best;
        ns[t] = per_gpu ? p->n_per_gpu : p->n_best;
        if (per_gpu)
            p->per_gpu = NULL;
        else
            p->best = NULL;
    }
    for (int step = 1; ok && step < nw; step *= 2)
        for (int t = 0; ok && t + step < nw; t += 2 * step) {
            size_t n;
            mp_candidate *m = merge_two(sort, lists[t], ns[t], lists[t + step], ns[t + step], K, &n);
            if (!m) {
                ok = false;
                break;
            }
            free(lists[t]);
            free(lists[t + step]);
            lists[t] = m;
            ns[t] = n;
            lists[t + step] = NULL;
            ns[t + step] = 0;
        }
    if (ok) {
        *out = lists[0];
        *n_out = ns[0];
        lists[0] = NULL;
    }
    for (int t = 0; lists && t < nw; t++)
        free(lists[t]);
    free(lists);
    free(ns);
    return ok;
}

typedef struct {
    int gpus;
    size_t seq;
    const mp_rejection *x;
} sample_ref;

static int sample_cmp(const void *pa, const void *pb)
{
    const sample_ref *a = pa, *b = pb;
    if (a->gpus != b->gpus)
        return a->gpus < b->gpus ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The samples as one worker over the whole range keeps them: in search
 * order (GPU count, then the order found, which one worker saw), the first
 * why_not_samples of each rule.  Each worker kept its first of each rule,
 * which include every one of those in its GPU counts. */
static bool merge_samples(search_t *ws, int nw, size_t per_rule, mp_search_result *r)
{
    size_t total = 0;
    for (int t = 0; t < nw; t++)
        total += ws[t].part.n_samples;
    if (total == 0)
        return true;
    sample_ref *refs = malloc(total * sizeof *refs);
    r->samples = malloc(total * sizeof *r->samples);
    if (!refs || !r->samples) {
        free(refs);
        return false;
    }
    size_t k = 0;
    for (int t = 0; t < nw; t++)
        for (size_t i = 0; i < ws[t].part.n_samples; i++, k++)
            refs[k] = (sample_ref){ws[t].part.samples[i].lay.gpus, k, &ws[t].part.samples[i]};
    qsort(refs, total, sizeof *refs, sample_cmp);
    size_t count[MP_RULE_COUNT] = {0};
    for (size_t i = 0; i < total; i++) {
        mp_rule rule = refs[i].x->rule;
        if (count[rule] >= per_rule)
            continue;
        count[rule]++;
        r->samples[r->n_samples++] = *refs[i].x;
    }
    free(refs);
    return true;
}

mp_status mp_search_run(const mp_model *m, const mp_hardware *hw, const mp_workload *w, const mp_search_opts *o,
                        mp_progress_fn progress, void *user, mp_search_result *r, mp_error *err)
{
    memset(r, 0, sizeof *r);
    long range = o->gpus_max >= o->gpus_min ? o->gpus_max - o->gpus_min + 1 : 0;
    int nw = o->jobs > 1 ? o->jobs : 1;
    if (nw > MP_SEARCH_MAX_JOBS)
        nw = MP_SEARCH_MAX_JOBS;
    if (range < nw)
        nw = range > 0 ? (int)range : 1;
    long chunk = range < MP_CHUNK ? (range > 0 ? range : 1) : MP_CHUNK;
    search_t *ws = calloc((size_t)nw, sizeof *ws);
    gpu_slot *slots = calloc((size_t)chunk, sizeof *slots);
    pthread_t *tids = calloc((size_t)nw, sizeof *tids);
    bool ok = ws && slots && tids;
    bool any_moe = false, any_dense = false;
    for (int i = 0; i < m->num_layers; i++) {
        any_moe |= m->is_moe[i];
        any_dense |= !m->is_moe[i];
    }
    r->experts = any_moe;
    atomic_long next;
    atomic_init(&next, 0);
    if (ok) {
        mp_layout l0;
        mp_layout_defaults(&l0);
        mp_cost_ctx_init(&ws[0].ctx, m, hw, w, &l0, w->seq_max);
        for (int t = 0; t < nw; t++) {
            search_t *s = &ws[t];
            if (t > 0)
                s->ctx = ws[0].ctx;
            /* Each worker its own states table (a cache: cost.h). */
            s->ctx.states = calloc(1, sizeof *s->ctx.states);
            ok &= s->ctx.states != NULL;
            s->m = m;
            s->hw = hw;
            s->w = w;
            s->o = o;
            s->r = &s->part;
            s->any_moe = any_moe;
            s->any_dense = any_dense;
            s->next = &next;
            s->slots = slots;
            s->blocks_max = (size_t)(BLOCKS_BUDGET_BYTES / nw / sizeof(struct blocks_entry));
        }
    }
    size_t front_cap = 0, pareto_cap = 0, last_dom = 0;
    for (long lo = o->gpus_min; ok && lo <= o->gpus_max; lo += chunk) {
        long hi = o->gpus_max - lo + 1 < chunk ? o->gpus_max : lo + chunk - 1;
        atomic_store(&next, lo);
        for (int t = 0; t < nw; t++) {
            ws[t].base = lo;
            ws[t].last = hi;
        }
        /* Worker 0 is this thread; a thread that cannot be started leaves
         * its GPU counts to the others. */
        bool started[MP_SEARCH_MAX_JOBS] = {false};
        for (int t = 1; t < nw && hi > lo; t++)
            started[t] = pthread_create(&tids[t], NULL, worker_main, &ws[t]) == 0;
        worker_main(&ws[0]);
        for (int t = 1; t < nw; t++)
            if (started[t])
                pthread_join(tids[t], NULL);
        for (int t = 0; t < nw; t++)
            ok &= !ws[t].oom;
        for (long N = lo; N <= hi; N++) {
            gpu_slot *g = &slots[N - lo];
            ok = ok && merge_slot(r, g, &front_cap, &pareto_cap, &last_dom);
            free(g->front);
            memset(g, 0, sizeof *g);
        }
        if (ok && progress)
            progress(user, hi - o->gpus_min + 1, range);
    }
    /* Counts are sums; the best lists, the samples and the fewest GPUs are
     * merged as if one worker had searched the whole range in order. */
    for (int t = 0; ok && t < nw; t++) {
        const mp_search_result *p = &ws[t].part;
        r->considered += p->considered;
        r->scored += p->scored;
        r->kept += p->kept;
        r->dominated += p->dominated;
        for (int i = 0; i < MP_RULE_COUNT; i++)
            r->rejected[i] += p->rejected[i];
        if (p->fewest_gpus && (r->fewest_gpus == 0 || p->fewest_gpus < r->fewest_gpus)) {
            r->fewest_gpus = p->fewest_gpus;
            r->fewest = p->fewest;
        }
    }
    ok = ok && merge_lists(ws, nw, o->sort, o->keep, false, &r->best, &r->n_best);
    ok = ok && merge_lists(ws, nw, MP_SORT_TOKENS_PER_GPU, o->keep_per_gpu, true, &r->per_gpu, &r->n_per_gpu);
    ok = ok && merge_samples(ws, nw, o->why_not_samples, r);
    for (int t = 0; ws && t < nw; t++) {
        mp_search_blocks_free(ws[t].blocks);
        free(ws[t].ctx.states);
        free(ws[t].part.best);
        free(ws[t].part.per_gpu);
        free(ws[t].part.samples);
    }
    free(ws);
    free(slots);
    free(tids);
    if (!ok) {
        mp_search_free(r);
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
    }
    /* The front, ordered by GPUs then tokens/s, for stable output. */
    for (size_t i = 1; i < r->n_pareto; i++) {
        mp_candidate x = r->pareto[i];
        size_t j = i;
        while (j > 0 && (r->pareto[j - 1].lay.gpus > x.lay.gpus ||
                         (r->pareto[j - 1].lay.gpus == x.lay.gpus && r->pareto[j - 1].tokens_per_s < x.tokens_per_s))) {
            r->pareto[j] = r->pareto[j - 1];
            j--;
        }
        r->pareto[j] = x;
    }
    return MP_OK;
}

void mp_search_free(mp_search_result *r)
{
    free(r->best);
    free(r->pareto);
    free(r->per_gpu);
    free(r->front);
    free(r->samples);
    r->best = r->pareto = r->per_gpu = r->front = NULL;
    r->samples = NULL;
    r->n_best = r->n_pareto = r->n_per_gpu = r->n_front = r->n_samples = 0;
}
