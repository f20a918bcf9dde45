#include "moeplan/search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"

/* The block sums of a layout (mp_cost_blocks_compute) depend on the layout
 * only through tp, cp, ep, etp, the micro-batch, sequence parallelism and
 * the recompute modules (cost_ops.c reads no other layout field for the
 * layer, embedding and output blocks; the step's ops are priced apart), so
 * the GPU counts of a search share them: each worker keeps the sums of the
 * shapes it has met in an open-addressed table (2.6 kB a shape; the seed's
 * 1-1024 search meets 14,248).  The sums are a pure function of the
 * key, so a hit gives the same figures as computing them again: the output
 * is the same whatever the table holds, and for any --jobs.  The tables
 * of all workers together hold at most BLOCKS_BUDGET_BYTES (256 MiB, about
 * 103,000 shapes: DeepSeek-V3 over 1-16384 GPUs meets 76,428); past
 * a worker's share the sums are computed into a scratch entry instead. */
typedef struct blocks_table {
    int *slot;                   /* index into entry, -1 empty; cap slots, a power of two */
    int *dslot;                  /* the same by dense_key: the first entry of each (cap slots) */
    size_t cap;
    blocks_entry *entry;
    size_t n, n_cap;
    blocks_entry scratch;
} blocks_table;

static unsigned blocks_hash(const int key[7])
{
    unsigned h = 2166136261u; /* FNV-1a over the key's values */
    for (int i = 0; i < 7; i++)
        h = (h ^ (unsigned)key[i]) * 16777619u;
    return h;
}

/* The key less ep and etp: the fields the blocks other than the MoE MLP
 * read (mp_cost_blocks_recompute_experts). */
static unsigned dense_hash(const int key[7])
{
    const int d[5] = {key[0], key[1], key[4], key[5], key[6]};
    unsigned h = 2166136261u;
    for (int i = 0; i < 5; i++)
        h = (h ^ (unsigned)d[i]) * 16777619u;
    return h;
}
static bool dense_eq(const int a[7], const int b[7])
{
    return a[0] == b[0] && a[1] == b[1] && a[4] == b[4] && a[5] == b[5] && a[6] == b[6];
}

/* The entry in t whose key equals key but for ep and etp, or -1; *at is
 * set to the empty slot where such an entry would go. */
static int dense_find(const blocks_table *t, const int key[7], size_t *at)
{
    size_t i = dense_hash(key) & (t->cap - 1);
    for (; t->dslot[i] >= 0; i = (i + 1) & (t->cap - 1))
        if (dense_eq(t->entry[t->dslot[i]].key, key))
            return t->dslot[i];
    *at = i;
    return -1;
}

static bool blocks_grow(blocks_table *t)
{
    size_t cap = t->cap ? 2 * t->cap : 4096;
    int *slot = malloc(cap * sizeof *slot), *dslot = malloc(cap * sizeof *dslot);
    if (!slot || !dslot) {
        free(slot);
        free(dslot);
        return false;
    }
    for (size_t i = 0; i < cap; i++)
        slot[i] = dslot[i] = -1;
    free(t->slot);
    free(t->dslot);
    t->slot = slot;
    t->dslot = dslot;
    t->cap = cap;
    for (size_t k = 0; k < t->n; k++) {
        size_t i = blocks_hash(t->entry[k].key) & (cap - 1);
        while (slot[i] >= 0)
            i = (i + 1) & (cap - 1);
        slot[i] = (int)k;
        size_t at;
        if (dense_find(t, t->entry[k].key, &at) < 0)
            dslot[at] = (int)k;
    }
    return true;
}

static const mp_cost_blocks *blocks_for(search_t *s, const mp_layout *l)
{
    blocks_table *t = s->blocks;
    if (!t && !(t = s->blocks = calloc(1, sizeof *t)))
        return NULL;
    int key[7] = {l->tp, l->cp, l->ep, l->etp, l->micro_batch, l->sequence_parallel, (int)l->recompute_modules};
    if (2 * (t->n + 1) > t->cap && t->n < s->blocks_max && !blocks_grow(t))
        return NULL;
    if (t->cap == 0) { /* no share of the budget: computed every time */
        mp_cost_blocks_compute(&s->ctx, &t->scratch.b);
        return &t->scratch.b;
    }
    size_t i = blocks_hash(key) & (t->cap - 1);
    for (; t->slot[i] >= 0; i = (i + 1) & (t->cap - 1))
        if (!memcmp(t->entry[t->slot[i]].key, key, sizeof key))
            return &t->entry[t->slot[i]].b;
    blocks_entry *e = &t->scratch;
    size_t dat = 0;
    int sib = dense_find(t, key, &dat);
    if (t->n < s->blocks_max) {
        if (t->n == t->n_cap) {
            size_t nc = t->n_cap ? 2 * t->n_cap : 256;
            if (nc > s->blocks_max)
                nc = s->blocks_max; /* the budget, not a doubling past it */
            blocks_entry *ne = realloc(t->entry, nc * sizeof *ne);
            if (!ne)
                return NULL;
            t->entry = ne;
            t->n_cap = nc;
        }
        e = &t->entry[t->n];
        if (sib < 0)
            t->dslot[dat] = (int)t->n;
        t->slot[i] = (int)t->n++;
    }
    /* A shape met before with other ep and etp: its blocks but the MoE
     * MLP's are this shape's (cost.h). */
    if (sib >= 0) {
        if (e != &t->entry[sib])
            e->b = t->entry[sib].b;
        mp_cost_blocks_recompute_experts(&s->ctx, &e->b);
    } else {
        mp_cost_blocks_compute(&s->ctx, &e->b);
    }
    memcpy(e->key, key, sizeof key);
    return &e->b;
}

void mp_search_blocks_free(blocks_table *t)
{
    if (t) {
        free(t->slot);
        free(t->dslot);
        free(t->entry);
        free(t);
    }
}

/* Divisors of n in increasing order (trial division up to sqrt(n)). */
static int divisors(long n, long *out, int cap)
{
    long hi[1024];
    int k = 0, nh = 0;
    for (long d = 1; d * d <= n; d++) {
        if (n % d)
            continue;
        if (k < cap)
            out[k++] = d;
        if (d != n / d && nh < 1024)
            hi[nh++] = n / d;
    }
    while (nh > 0 && k < cap)
        out[k++] = hi[--nh];
    return k;
}

/* Keep a sample of a pruned candidate with its reason (up to the rule's
 * share of why_not_samples; counted by the caller). */
static void reject_sample(search_t *s, mp_rule rule, const mp_layout *l, const char *fmt, ...) MP_PRINTF(4, 5);
#include <stdarg.h>
static void reject_sample(search_t *s, mp_rule rule, const mp_layout *l, const char *fmt, ...)
{
    mp_search_result *r = s->r;
    if (s->samples_per_rule[rule] >= s->o->why_not_samples || s->oom)
        return;
    if (r->n_samples >= s->samples_cap) {
        size_t cap = s->samples_cap ? s->samples_cap * 2 : 64;
        mp_rejection *n = realloc(r->samples, cap * sizeof *n);
        if (!n) {
            s->oom = true;
            return;
        }
        r->samples = n;
        s->samples_cap = cap;
    }
    mp_rejection *x = &r->samples[r->n_samples++];
    x->lay = *l;
    x->rule = rule;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->why, sizeof x->why, fmt, ap);
    va_end(ap);
    s->samples_per_rule[rule]++;
}

/* Count a pruned candidate; true while its rule still wants samples. */
static inline bool reject_count(search_t *s, mp_rule rule)
{
    s->r->considered++;
    s->r->rejected[rule]++;
    return s->samples_per_rule[rule] < s->o->why_not_samples && !s->oom;
}
/* Record a pruned candidate: counted, and sampled with its reason while
 * wanted (the reason is formatted only then: the search's hot path). */
#define reject(s, rule, l, ...)                                                                                        \
    do {                                                                                                               \
        if (reject_count((s), (rule)))                                                                                 \
            reject_sample((s), (rule), (l), __VA_ARGS__);                                                              \
    } while (0)


void mp_search_score(const mp_cost_ctx *c, const mp_cost *k, const mp_search_opts *o, mp_candidate *x)
{
    x->lay = c->lay; /* every field assigned: no memset (the search's hot path) */
    x->tokens_per_s = k->tokens_per_s;
    x->step_s = k->t_total_s;
    x->mfu = k->mfu;
    x->mem_total_bytes = k->mem.total_bytes;
    x->headroom_bytes = k->headroom_bytes;
    x->mem_weights_bytes = k->mem.weights_bytes;
    x->mem_grads_bytes = k->mem.gradients_bytes;
    x->mem_optim_bytes = k->mem.optimizer_bytes;
    x->mem_act_bytes = k->mem.activations_bytes;
    x->mem_other_bytes = k->mem.other_bytes;
    x->fits = k->headroom_bytes >= o->headroom * k->mem.capacity_bytes;
    x->meets_targets = (o->target_tokens_per_s <= 0 || k->tokens_per_s >= o->target_tokens_per_s) &&
                       (o->target_step_s <= 0 || k->t_total_s <= o->target_step_s);
    x->rejected_by = !x->fits ? MP_RULE_MEMORY : !x->meets_targets ? MP_RULE_TARGET : MP_RULE_OK;
}

/* Insert c into list (*n of at most K, sorted by sort) if it belongs; the
 * list grows (*cap) as needed up to K.  Equal candidates stay in the order
 * they came: the list is the first K of a stable sort. */
static void keep_sorted(search_t *s, mp_sort sort, mp_candidate **listp, size_t *n_io, size_t *cap, size_t K,
                        const mp_candidate *c)
{
    if (K == 0)
        return;
    size_t n = *n_io;
    mp_candidate *list = *listp;
    if (n == K && !better(sort, c, &list[n - 1]))
        return;
    if (n < K && n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        if (nc > K)
            nc = K;
        mp_candidate *g = realloc(list, nc * sizeof *g);
        if (!g) {
            s->oom = true;
            return;
        }
        *listp = list = g;
        *cap = nc;
    }
    size_t i = n < K ? n : K - 1;
    while (i > 0 && better(sort, c, &list[i - 1])) {
        list[i] = list[i - 1];
        i--;
    }
    list[i] = *c;
    if (n < K)
        (*n_io)++;
}


/* The front of the GPU count being searched (all its layouts have the same
 * GPUs): a layout equal to one there in tokens/s and memory is not added
 * (the first found stays). */
static void keep_pareto(search_t *s, const mp_candidate *c)
{
    gpu_slot *g = s->slot;
    /* Neighbouring candidates are usually dominated by the same layout:
     * try it first. */
    if (s->last_dom < g->n_front && dominates(&g->front[s->last_dom], c))
        return;
    for (size_t i = 0; i < g->n_front; i++)
        if ((s->last_dom = i, dominates(&g->front[i], c) || (g->front[i].tokens_per_s == c->tokens_per_s &&
                                                             g->front[i].mem_total_bytes == c->mem_total_bytes)))
            return;
    size_t j = 0;
    for (size_t i = 0; i < g->n_front; i++)
        if (!dominates(c, &g->front[i]))
            g->front[j++] = g->front[i];
    g->n_front = j;
    if (g->n_front >= g->front_cap) {
        size_t cap = g->front_cap ? 2 * g->front_cap : 16;
        mp_candidate *n = realloc(g->front, cap * sizeof *n);
        if (!n) {
            s->oom = true;
            return;
        }
        g->front = n;
        g->front_cap = cap;
    }
    g->front[g->n_front++] = *c;
}

static void consider_scored(search_t *s, const mp_candidate *c)
{
    mp_search_result *r = s->r;
    r->considered++;
    r->scored++;
    if (c->rejected_by != MP_RULE_OK) {
        r->rejected[c->rejected_by]++;
        if (s->samples_per_rule[c->rejected_by] < s->o->why_not_samples) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%.2f", c->mem_total_bytes / 1e9);
            snprintf(b, sizeof b, "%.2f", (c->mem_total_bytes + c->headroom_bytes) / 1e9);
            if (c->rejected_by == MP_RULE_MEMORY)
                reject_sample(s, MP_RULE_MEMORY, &c->lay,
                       "needs %s GB of %s GB (weights %.2f, grads %.2f, optimizer %.2f, activations %.2f, other %.2f GB)",
                       a, b, c->mem_weights_bytes / 1e9, c->mem_grads_bytes / 1e9, c->mem_optim_bytes / 1e9,
                       c->mem_act_bytes / 1e9, c->mem_other_bytes / 1e9);
            else
                reject_sample(s, MP_RULE_TARGET, &c->lay, "%.0f tokens/s, step %.3f s", c->tokens_per_s, c->step_s);
        }
        return;
    }
    r->kept++;
    keep_sorted(s, s->o->sort, &r->best, &r->n_best, &s->best_cap, s->o->keep, c);
    keep_sorted(s, MP_SORT_TOKENS_PER_GPU, &r->per_gpu, &r->n_per_gpu, &s->per_gpu_cap, s->o->keep_per_gpu, c);
    keep_pareto(s, c);
    gpu_slot *g = s->slot;
    if (!g->have_at_n || better(MP_SORT_TOKENS, c, &g->at_n)) {
        g->at_n = *c;
        g->have_at_n = true;
    }
    /* This worker's counts come in increasing order: its fewest GPUs are
     * those of its first kept layout. */
    if (r->fewest_gpus == 0) {
        r->fewest_gpus = c->lay.gpus;
        r->fewest = *c;
    } else if (c->lay.gpus == r->fewest_gpus && better(s->o->sort, c, &r->fewest)) {
        r->fewest = *c;
    }
}

#define PIN(field) (s->o->fixed_set.field)

/* The ways the planner splits the layers over pp ranks: evenly when pp
 * divides them (0, 0); otherwise with the first and last ranks taking what
 * is left after q = floor or ceil(L/pp) layers on each middle rank, halved
 * both ways (Megatron-LM's --decoder-first/last-pipeline-num-layers), when
 * the search asks for uneven pipelines.  A split pinned by the user is the
 * only one.  Returns the count (<= 4). */
static int pp_splits(const search_t *s, int pp, int out[4][2])
{
    int L = s->m->num_layers, n = 0;
    if (s->o->fixed_set.pp_first || s->o->fixed_set.pp_last) {
        mp_layout t;
        memset(&t, 0, sizeof t);
        t.pp = pp;
        t.vpp = 1;
        t.pp_first = s->o->fixed.pp_first;
        t.pp_last = s->o->fixed.pp_last;
        int f = t.pp_first, z = t.pp_last;
        bool ok = pp >= 2 && f >= 1 && z >= 1 &&
                  (pp == 2 ? f + z == L : (L - f - z >= pp - 2 && (L - f - z) % (pp - 2) == 0));
        if (ok) {
            out[0][0] = f;
            out[0][1] = z;
            n = 1;
        }
        return n;
    }
    if (L % pp == 0) {
        out[0][0] = out[0][1] = 0;
        return 1;
    }
    if (pp < 2 || !s->o->uneven_pipeline)
        return 0;
    for (int qi = 0; qi < 2; qi++) {
        int q = L / pp + qi;
        int R = L - (pp - 2) * q;
        if (q < 1 || R < 2)
            continue;
        int cand[2][2] = {{R / 2, R - R / 2}, {R - R / 2, R / 2}};
        for (int c = 0; c < 2; c++) {
            bool dup = false;
            for (int i = 0; i < n; i++)
                dup |= out[i][0] == cand[c][0] && out[i][1] == cand[c][1];
            if (!dup && n < 4) {
                out[n][0] = cand[c][0];
                out[n][1] = cand[c][1];
                n++;
            }
        }
    }
    return n;
}
#define PINNED_OUT(field, v) (PIN(field) && s->o->fixed.field != (v))

/* The fields the innermost loops choose (recomputation, ZeRO stage), set
 * to the first value they will try -- the pinned one, or none and ZeRO-1 --
 * so that a layout rejected before them is reported without a stale value
 * from the previous candidate. */
static inline void reset_inner(const search_t *s, mp_layout *l)
{
    l->recompute = PIN(recompute) ? s->o->fixed.recompute : MP_RECOMPUTE_NONE;
    l->zero = PIN(zero) ? s->o->fixed.zero : 1;
}

void mp_search_n(search_t *s, long N)
{
    const mp_model *m = s->m;
    const mp_workload *w = s->w;
    const mp_hardware *hw = s->hw;
    /* Divisor lists: GPU counts up to 2^20 and expert counts up to 10^6
     * have at most 240 divisors, batches up to 10^8 at most 768. */
    long dv_tp[256], dv_cp[256], dv_pp[256], dv_ep[256], dv_etp[64], dv_mb[1024], dv_vpp[64];
    int ntp = divisors(N, dv_tp, 256);
    int nep = s->any_moe ? divisors(m->num_experts, dv_ep, 256) : (dv_ep[0] = 1, 1);
    int netp = 0;
    for (long x = 1; x <= hw->gpus_per_node && netp < 64; x *= 2)
        dv_etp[netp++] = x;
    if (!s->any_moe)
        netp = 1;
    /* A pinned value outside the grid is tried as given, so that the rule
     * it breaks is the one reported. */
    if (PIN(ep))
        dv_ep[0] = s->o->fixed.ep, nep = 1;
    if (PIN(etp))
        dv_etp[0] = s->o->fixed.etp, netp = 1;
    int nmb = divisors(w->global_batch, dv_mb, 1024);
    mp_layout l;
    mp_layout_defaults(&l);
    l.gpus = (int)N;
    /* --recompute MODULES pins selective recomputation of those modules;
     * the blocks are summed with the context's layout, so every layout of
     * the search carries them. */
    l.recompute_modules = PIN(recompute) ? s->o->fixed.recompute_modules : 0;
    /* --shard-group pins HSDP's group for every layout (the search does
     * not choose one); mp_layout_check_zero refuses the dp it does not
     * divide. */
    l.shard_group = PIN(shard_group) ? s->o->fixed.shard_group : 0;
    /* Fields not chosen yet are 0 ("*" in reports), so that a layout
     * rejected early is shown as the partial layout it is. */
    for (int a = 0; a < ntp; a++) {
        l.tp = (int)dv_tp[a];
        l.cp = l.pp = l.dp = l.ep = l.etp = l.edp = l.vpp = l.micro_batch = l.num_micro_batches = 0;
        l.sequence_parallel = false;
        reset_inner(s, &l);
        if (PINNED_OUT(tp, l.tp))
            continue;
        if (m->num_heads % l.tp || (m->attn == MP_ATTN_GQA && m->num_kv_heads % l.tp)) {
            reject(s, MP_RULE_HEADS_TP, &l, "heads (%lld, kv %lld) not divisible by tp %d", (long long)m->num_heads,
                   (long long)m->num_kv_heads, l.tp);
            continue;
        }
        if ((s->any_dense && m->ffn_hidden % l.tp) ||
            (s->any_moe && m->num_shared_experts && m->shared_expert_hidden % l.tp)) {
            reject(s, MP_RULE_FFN_TP, &l, "MLP width not divisible by tp %d", l.tp);
            continue;
        }
        int ncp = divisors(N / l.tp, dv_cp, 256);
        for (int b = 0; b < ncp; b++) {
            l.cp = (int)dv_cp[b];
            l.pp = l.dp = l.ep = l.etp = l.edp = l.vpp = l.micro_batch = l.num_micro_batches = 0;
            l.sequence_parallel = false;
            reset_inner(s, &l);
            if (PINNED_OUT(cp, l.cp))
                continue;
            if (l.cp > 1 && !w->flash_attention) { /* the cause said as explain says it (layout.c) */
                reject(s, MP_RULE_SEQ_CP, &l, "cp (%d) > 1 needs flash attention (flash_attention: true)", l.cp);
                continue;
            }
            if (l.cp > 1 && w->seq_max % (2L * l.cp)) {
                reject(s, MP_RULE_SEQ_CP, &l, "cp %d: sequence %ld not divisible by %d", l.cp, w->seq_max, 2 * l.cp);
                continue;
            }
            int npp = divisors(N / l.tp / l.cp, dv_pp, 256);
            for (int e = 0; e < nep; e++) {
                l.ep = (int)dv_ep[e];
                l.pp = l.dp = l.etp = l.edp = l.vpp = l.micro_batch = l.num_micro_batches = 0;
                l.sequence_parallel = false;
                reset_inner(s, &l);
                if (PINNED_OUT(ep, l.ep))
                    continue;
                if (s->any_moe ? m->num_experts % l.ep != 0 : l.ep != 1) {
                    reject(s, MP_RULE_EXPERTS_EP, &l, "experts (%lld) not divisible by ep %d",
                           (long long)m->num_experts, l.ep);
                    continue;
                }
                for (int f = 0; f < netp; f++) {
                    l.etp = (int)dv_etp[f];
                    l.pp = l.dp = l.edp = l.vpp = l.micro_batch = l.num_micro_batches = 0;
                    l.sequence_parallel = false;
                    reset_inner(s, &l);
                    if (PIN(etp) ? s->o->fixed.etp != l.etp : false)
                        continue;
                    if (!s->any_moe && l.etp != 1) {
                        reject(s, MP_RULE_EXPERTS_EP, &l, "the model has no experts, so etp must be 1");
                        continue;
                    }
                    if (s->any_moe && m->expert_hidden % l.etp) {
                        reject(s, MP_RULE_FFN_TP, &l, "expert width %lld not divisible by etp %d",
                               (long long)m->expert_hidden, l.etp);
                        continue;
                    }
                    /* Pipeline sizes that pass the rules not depending on
                     * sequence parallelism or the micro-batch: pruned once. */
                    long ok_pp[256];
                    int nok = 0;
                    for (int p = 0; p < npp; p++) {
                        l.pp = (int)dv_pp[p];
                        l.dp = (int)(N / l.tp / l.cp / l.pp);
                        l.vpp = 1;
                        if (PINNED_OUT(pp, l.pp) || PINNED_OUT(dp, l.dp))
                            continue;
                        long attn = (long)l.tp * l.cp * l.dp;
                        if (attn % ((long)l.ep * l.etp)) {
                            reject(s, MP_RULE_FOLDING, &l, "etp %d * ep %d does not divide tp*cp*dp = %ld", l.etp,
                                   l.ep, attn);
                            continue;
                        }
                        int splits[4][2];
                        if (pp_splits(s, l.pp, splits) == 0) {
                            /* Say what was tried: uneven first and last
                             * ranks only with --uneven-pipeline, or the
                             * pinned first/last counts. */
                            if (s->o->fixed_set.pp_first || s->o->fixed_set.pp_last)
                                reject(s, MP_RULE_LAYERS_PP, &l, "layers %d do not split over pp %d as %d on the "
                                       "first rank, %d on the last and the rest evenly over the others",
                                       m->num_layers, l.pp, s->o->fixed.pp_first, s->o->fixed.pp_last);
                            else if (s->o->uneven_pipeline)
                                reject(s, MP_RULE_LAYERS_PP, &l, "layers %d split over pp %d neither evenly nor "
                                       "with uneven first and last ranks", m->num_layers, l.pp);
                            else
                                reject(s, MP_RULE_LAYERS_PP, &l, "layers %d not divisible by pp %d (--uneven-pipeline "
                                       "also tries uneven first and last ranks)", m->num_layers, l.pp);
                            continue;
                        }
                        ok_pp[nok++] = l.pp;
                    }
                    if (nok == 0)
                        continue;
                    l.pp = l.dp = l.edp = 0;
                    for (int spi = 0; spi < 2; spi++) {
                        l.sequence_parallel = spi == 1;
                        if (l.sequence_parallel && l.tp == 1)
                            continue; /* SP is a no-op without TP: not a distinct layout */
                        if (PINNED_OUT(sequence_parallel, l.sequence_parallel))
                            continue;
                        if (s->any_moe && l.tp > 1 && !l.sequence_parallel) {
                            reject(s, MP_RULE_MOE_SP, &l, "MoE with tp %d needs sequence parallelism", l.tp);
                            continue;
                        }
                        if (l.sequence_parallel && (w->seq_max / l.cp) % l.tp) {
                            reject(s, MP_RULE_SEQ_TP, &l, "sequence per CP rank %ld not divisible by tp %d",
                                   w->seq_max / l.cp, l.tp);
                            continue;
                        }
                        for (int g = 0; g < nmb; g++) {
                            l.micro_batch = (int)dv_mb[g];
                            reset_inner(s, &l);
                            if (s->o->max_micro_batch && l.micro_batch > s->o->max_micro_batch)
                                break;
                            if (PINNED_OUT(micro_batch, l.micro_batch))
                                continue;
                            const mp_cost_blocks *blocks = NULL;
                            mp_cost_ctx *ctx = &s->ctx;
                            for (int p = 0; p < nok; p++) {
                                l.pp = (int)ok_pp[p];
                                l.dp = (int)(N / l.tp / l.cp / l.pp);
                                l.vpp = 1;
                                l.edp = (int)((long)l.tp * l.cp * l.dp / ((long)l.ep * l.etp));
                                reset_inner(s, &l);
                                if (w->global_batch % ((long)l.dp * l.micro_batch)) {
                                    reject(s, MP_RULE_BATCH, &l, "global batch %ld not divisible by dp %d * mb %d",
                                           w->global_batch, l.dp, l.micro_batch);
                                    continue;
                                }
                                l.num_micro_batches = (int)(w->global_batch / ((long)l.dp * l.micro_batch));
                                int splits[4][2];
                                int nsplit = pp_splits(s, l.pp, splits);
                                for (int sp_i = 0; sp_i < nsplit; sp_i++) {
                                l.pp_first = splits[sp_i][0];
                                l.pp_last = splits[sp_i][1];
                                int nv = l.pp > 1 && !mp_layout_uneven(&l) ? divisors(m->num_layers / l.pp, dv_vpp, 64)
                                                                           : (dv_vpp[0] = 1, 1);
                                for (int v = 0; v < nv; v++) {
                                    l.vpp = (int)dv_vpp[v];
                                    reset_inner(s, &l);
                                    if (PINNED_OUT(vpp, l.vpp))
                                        continue;
                                    if (l.vpp > 1 && l.num_micro_batches % l.pp) {
                                        reject(s, MP_RULE_INTERLEAVE, &l,
                                               "interleaved: %d micro-batch%s not divisible by pp %d",
                                               l.num_micro_batches, l.num_micro_batches == 1 ? "" : "es", l.pp);
                                        continue;
                                    }
                                    for (int rc = 0; rc < 3; rc++) {
                                        l.recompute = (mp_recompute)rc;
                                        if (PINNED_OUT(recompute, l.recompute))
                                            continue;
                                        for (int z = 0; z <= 3; z++) {
                                            l.zero = z;
                                            if (PINNED_OUT(zero, l.zero))
                                                continue;
                                            /* Without the distributed optimizer a layout
                                             * holds more optimizer state (12P vs 12P/dp)
                                             * and reduces gradients no faster (all-reduce
                                             * of 4P bytes moves 8P(n-1)/n, reduce-scatter
                                             * 4P + all-gather 2P moves 6P(n-1)/n): it is
                                             * dominated, so scored only when pinned.
                                             * ZeRO-2 and 3 are searched when asked for
                                             * (--zero any). */
                                            if (z == 0 && !PIN(zero)) {
                                                s->r->dominated++;
                                                s->r->considered++;
                                                continue;
                                            }
                                            if (z >= 2 && !PIN(zero) && !s->o->zero_any)
                                                break; /* stages 2 and 3 only when asked for */
                                            /* With --zero any, HSDP too: shards within the
                                             * data-parallel ranks one node holds (gpus per
                                             * node / tp of them, the usual choice: the
                                             * gathers stay on NVLink), replicated across
                                             * nodes; pinned by --shard-group otherwise. */
                                            int shards[2] = {l.shard_group, -1};
                                            if (s->o->zero_any && !PIN(shard_group) && z >= 1) {
                                                int node_dp = s->hw->gpus_per_node / l.tp, ndp = l.dp * l.cp;
                                                if (node_dp >= 2 && node_dp < ndp && ndp % node_dp == 0 &&
                                                    ((long)node_dp * l.edp) % ndp == 0)
                                                    shards[1] = node_dp;
                                            }
                                            for (int sg = 0; sg < 2; sg++) {
                                            if (shards[sg] < 0)
                                                continue;
                                            l.shard_group = shards[sg];
                                            char zwhy[200];
                                            mp_rule zr = mp_layout_check_zero(&l, zwhy, sizeof zwhy);
                                            if (zr != MP_RULE_OK) {
                                                reject(s, zr, &l, "%s", zwhy);
                                                continue;
                                            }
                                            /* Only the layout changes between candidates;
                                             * block sums only with tp, cp, ep, etp, sp and
                                             * the micro-batch (this loop's invariants). */
                                            mp_cost_ctx_set_layout(ctx, &l);
                                            if (!blocks && !(blocks = blocks_for(s, &l))) {
                                                s->oom = true;
                                                return;
                                            }
                                            mp_cost k;
                                            mp_cost_assemble(ctx, blocks, &k);
                                            mp_candidate c;
                                            mp_search_score(ctx, &k, s->o, &c);
                                            consider_scored(s, &c);
                                            }
                                            l.shard_group = shards[0];
                                        }
                                    }
                                }
                                }
                                l.pp_first = l.pp_last = 0;
                            }
                        }
                    }
                }
            }
        }
    }
}
