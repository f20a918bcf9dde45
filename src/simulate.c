/* The simulator: a step of training played out pass by pass on every
 * pipeline rank (include/moeplan/simulate.h).
 *
 * The schedules themselves are in schedule.c (its sources there); the
 * random draws (the generator, the lengths, the top-k shares) in sim_draw.c.
 *
 * Sources:
 *  [L25] Liu et al., arXiv:2504.14960 (MoE parallel folding): an
 *        expert-parallel group of ep x etp GPUs spans ep*etp/(tp*cp)
 *        data-parallel replicas, whose MoE layers wait for each other at
 *        every all-to-all.
 */
#include "moeplan/simulate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

void mp_sim_options_defaults(mp_sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->schedule = MP_SCHED_1F1B;
    o->steps = 1;
    o->seed = 1;
    o->lengths = MP_LEN_RANGE;
    o->routing = MP_ROUTE_ZIPF;
    o->zipf_s = 0;
}

void mp_sim_result_free(mp_sim_result *r)
{
    free(r->step_s);
    free(r->busy_fraction);
    free(r->peak_bytes);
    free(r->explain_peak_bytes);
    free(r->events);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ costs, memoised */

typedef struct {
    long seq_len;
    double keys[2];
} len_key;

typedef struct {
    len_key key;
    mp_chunk_time *chunk;        /* [p * v], at the context's base expert load */
    mp_layer_time base[MP_LAYER_CLASSES];
} len_entry;

typedef struct {
    len_key key;
    int cls;
    long load_q;                 /* expert load in thousandths */
    mp_layer_time t;
} layer_entry;

typedef struct {
    mp_cost_ctx *cx;             /* a private copy: seq_len, keys and expert_load vary */
    double base_load;
    int p, v;
    len_entry *len;
    size_t n_len, cap_len;
    layer_entry *lay;
    size_t n_lay, cap_lay;
    /* open-addressing indexes into len and lay */
    size_t *len_ix, *lay_ix;
    size_t len_ix_n, lay_ix_n;
} cost_memo;

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
static uint64_t hash_len(const len_key *k)
{
    return hash_bytes(k, sizeof *k, 0xcbf29ce484222325ULL);
}
static bool same_len(const len_key *a, const len_key *b)
{
    return a->seq_len == b->seq_len && a->keys[0] == b->keys[0] && a->keys[1] == b->keys[1];
}

static void set_len(cost_memo *m, const len_key *k, double load)
{
    m->cx->seq_len = k->seq_len;
    m->cx->keys_per_query[0] = k->keys[0];
    m->cx->keys_per_query[1] = k->keys[1];
    m->cx->expert_load = load;
}

/* Rebuild an index of n_ix slots over `n` entries. */
static bool reindex(size_t **ix, size_t *n_ix, size_t want, size_t n, uint64_t (*h)(const void *, size_t),
                    const void *base, size_t stride)
{
    size_t sz = 64;
    while (sz < 2 * want)
        sz *= 2;
    size_t *t = malloc(sz * sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < sz; i++)
        t[i] = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t s = (size_t)h((const char *)base + i * stride, i) & (sz - 1);
        while (t[s] != (size_t)-1)
            s = (s + 1) & (sz - 1);
        t[s] = i;
    }
    free(*ix);
    *ix = t;
    *n_ix = sz;
    return true;
}
static uint64_t h_len_entry(const void *e, size_t i)
{
    (void)i;
    return hash_len(&((const len_entry *)e)->key);
}
static uint64_t h_lay_key(const len_key *k, int cls, long q)
{
    uint64_t h = hash_len(k);
    h = hash_bytes(&cls, sizeof cls, h);
    return hash_bytes(&q, sizeof q, h);
}
static uint64_t h_lay_entry(const void *e, size_t i)
{
    (void)i;
    const layer_entry *x = e;
    return h_lay_key(&x->key, x->cls, x->load_q);
}

/* Entry n-1 was appended: put it in the index, rebuilt twice as large
 * when it would be more than half full. */
static bool index_add(size_t **ix, size_t *n_ix, size_t n, size_t hash, uint64_t (*h)(const void *, size_t),
                      const void *base, size_t stride)
{
    if (2 * n > *n_ix)
        return reindex(ix, n_ix, n, n, h, base, stride);
    size_t s = hash & (*n_ix - 1);
    while ((*ix)[s] != (size_t)-1)
        s = (s + 1) & (*n_ix - 1);
    (*ix)[s] = n - 1;
    return true;
}

/* Bounds on the memo: a run of many steps with continuous lengths (packed
 * documents) would otherwise grow it every step; past them it starts
 * afresh (the values are the cost model's, so the results do not change). */
enum { MEMO_LEN_MAX = 4096, MEMO_LAYER_MAX = 65536 };

static void memo_clear_index(size_t *ix, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ix[i] = (size_t)-1;
}

static const len_entry *memo_len(cost_memo *m, const len_key *k)
{
    if (m->len_ix_n) {
        size_t s = (size_t)hash_len(k) & (m->len_ix_n - 1);
        for (; m->len_ix[s] != (size_t)-1; s = (s + 1) & (m->len_ix_n - 1))
            if (same_len(&m->len[m->len_ix[s]].key, k))
                return &m->len[m->len_ix[s]];
    }
    if (m->n_len >= MEMO_LEN_MAX) {
        for (size_t i = 0; i < m->n_len; i++)
            free(m->len[i].chunk);
        m->n_len = 0;
        memo_clear_index(m->len_ix, m->len_ix_n);
    }
    if (!mp_sim_room((void **)&m->len, &m->cap_len, m->n_len, sizeof *m->len))
        return NULL;
    len_entry *e = &m->len[m->n_len];
    memset(e, 0, sizeof *e);
    e->key = *k;
    e->chunk = malloc((size_t)m->p * m->v * sizeof *e->chunk);
    if (!e->chunk)
        return NULL;
    set_len(m, k, m->base_load);
    mp_cost_blocks blocks;
    mp_cost_blocks_compute(m->cx, &blocks);
    for (int r = 0; r < m->p; r++)
        for (int q = 0; q < m->v; q++)
            mp_cost_chunk_time(m->cx, &blocks, r, q, &e->chunk[r * m->v + q]);
    for (int q = 0; q < MP_LAYER_CLASSES; q++)
        e->base[q] = blocks.layer[m->cx->lay.recompute][q];
    m->n_len++;
    if (!index_add(&m->len_ix, &m->len_ix_n, m->n_len, (size_t)hash_len(k), h_len_entry, m->len, sizeof *m->len))
        return NULL;
    return e;
}

/* One MoE layer of class cls at expert load `load`, the cost model asked at
 * the load rounded to a thousandth. */
static const mp_layer_time *memo_layer(cost_memo *m, const len_key *k, int cls, double load)
{
    long q = lround(load * 1000.0);
    if (m->lay_ix_n) {
        size_t s = (size_t)h_lay_key(k, cls, q) & (m->lay_ix_n - 1);
        for (; m->lay_ix[s] != (size_t)-1; s = (s + 1) & (m->lay_ix_n - 1)) {
            const layer_entry *e = &m->lay[m->lay_ix[s]];
            if (e->cls == cls && e->load_q == q && same_len(&e->key, k))
                return &e->t;
        }
    }
    if (m->n_lay >= MEMO_LAYER_MAX) {
        m->n_lay = 0;
        memo_clear_index(m->lay_ix, m->lay_ix_n);
    }
    if (!mp_sim_room((void **)&m->lay, &m->cap_lay, m->n_lay, sizeof *m->lay))
        return NULL;
    layer_entry *e = &m->lay[m->n_lay++];
    e->key = *k;
    e->cls = cls;
    e->load_q = q;
    set_len(m, k, (double)q / 1000.0);
    mp_cost_layer_time(m->cx, (mp_layer_class)cls, &e->t);
    if (!index_add(&m->lay_ix, &m->lay_ix_n, m->n_lay, (size_t)h_lay_key(k, cls, q), h_lay_entry, m->lay,
                   sizeof *m->lay))
        return NULL;
    return &e->t;
}

static void memo_free(cost_memo *m)
{
    for (size_t i = 0; i < m->n_len; i++)
        free(m->len[i].chunk);
    free(m->len);
    free(m->lay);
    free(m->len_ix);
    free(m->lay_ix);
    free(m->cx);
}

/* ------------------------------------------------------------ the step */

/* A sequence slot of the global batch: tokens and, packed, its documents'
 * attention (sum over documents of length x mean keys, per class). */
typedef struct {
    long tokens;
    double key_sum[2];
    long docs;
} slot;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile of n sorted values. */
static double percentile(const double *s, int n, double q)
{
    int i = (int)ceil(q * n) - 1;
    return s[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* The blocks of chunk k of rank r in the order a forward runs them: the
 * embedding on the model's first chunk, each layer's attention and MLP,
 * the output layer on the last; layer -1 for the two ends. */
typedef struct {
    mp_block blk;
    int layer;
} block_ref;
static int chunk_blocks(const mp_cost_ctx *c, int r, int k, block_ref *out, int max)
{
    const mp_layout *l = &c->lay;
    const mp_model *md = c->model;
    int first, count, n = 0;
    mp_layout_chunk(l, md->num_layers, r, k, &first, &count);
    if (r == 0 && k == 0 && n < max)
        out[n++] = (block_ref){MP_BLOCK_EMBED, -1};
    for (int L = first; L < first + count && n + 2 <= max; L++) {
        bool local = md->window_kind != MP_WINDOW_NONE && md->attn_local[L];
        out[n++] = (block_ref){local ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN, L};
        out[n++] = (block_ref){md->is_moe[L] ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP, L};
    }
    if (r == l->pp - 1 && k == l->vpp - 1 && n < max)
        out[n++] = (block_ref){MP_BLOCK_HEAD, -1};
    return n;
}

/* Fill each forward, backward and weight-gradient pass of the kept
 * timeline with its ops, in order (a backward in reverse), each op's time from the cost model at
 * the pass's micro-batch length (keys[micro-batch]), scaled so that they
 * fill the pass (which also holds the exposed sends, ZeRO's collectives,
 * recomputation and the expert load's deviation; under 1F1B the blocking
 * send, p2p_s[micro-batch], ends it and is left to its own event): the op shares, not a
 * second timing.  Not beyond `limit` ops. */
/* An op's part of a pass: forward, the whole backward, or, split (ZB-H1),
 * the backward less a matrix product's weight gradient (half its
 * backward, as cost.c's wgrad_s) or that weight gradient alone. */
static double op_part(const mp_op *o, mp_event_kind k, bool split)
{
    double w = o->kind == MP_OP_MATMUL ? 0.5 * o->bwd_s : o->weight_grad ? o->bwd_s : 0;
    if (k == MP_EV_FWD)
        return o->fwd_s;
    if (k == MP_EV_WGRAD)
        return w;
    return split ? o->bwd_s - w : o->bwd_s;
}

static bool add_op_events(cost_memo *cm, const len_key *keys, const double *p2p_s, bool split, pipe_out *po,
                          size_t limit, bool *added)
{
    const mp_cost_ctx *c = cm->cx;
    size_t n0 = po->n_ev, want = 0;
    enum { MAXB = 2 * MP_MAX_LAYERS + 2 };
    block_ref *br = malloc(MAXB * sizeof *br);
    mp_op *ops = malloc((size_t)MAXB * MP_MAX_OPS * sizeof *ops);
    int *blk_of = malloc((size_t)MAXB * MP_MAX_OPS * sizeof *blk_of);
    size_t *order = malloc((size_t)MAXB * MP_MAX_OPS * sizeof *order);
    bool ok = br && ops && blk_of && order;
    *added = false;
    for (size_t i = 0; ok && i < n0; i++) {
        const mp_sim_event *e = &po->ev[i];
        if (e->kind == MP_EV_FWD || e->kind == MP_EV_BWD || e->kind == MP_EV_WGRAD) {
            int nb = chunk_blocks(c, e->rank, e->chunk, br, MAXB);
            want += (size_t)nb * 24; /* about the ops of a block */
        }
    }
    if (!ok || want > limit)
        goto out;
    for (size_t i = 0; i < n0; i++) {
        mp_sim_event e = po->ev[i]; /* a copy: add_event may move the array */
        if (e.kind != MP_EV_FWD && e.kind != MP_EV_BWD && e.kind != MP_EV_WGRAD)
            continue;
        bool bwd = e.kind != MP_EV_FWD;
        set_len(cm, &keys[e.micro_batch], cm->base_load);
        int nb = chunk_blocks(c, e.rank, e.chunk, br, MAXB);
        size_t n = 0;
        double sum = 0;
        for (int b = 0; b < nb; b++) {
            size_t k = mp_cost_block_ops(c, br[b].blk, ops + n);
            for (size_t q = 0; q < k; q++) {
                blk_of[n + q] = b;
                sum += op_part(&ops[n + q], e.kind, split);
            }
            n += k;
        }
        if (sum <= 0)
            continue;
        double blocking = e.kind == MP_EV_WGRAD ? 0 : p2p_s[e.micro_batch]; /* a W pass sends nothing */
        double scale = (e.end_s - e.start_s - blocking) / sum, t = e.start_s;
        if (scale <= 0)
            continue;
        /* Backward runs the ops in reverse, block by block, each block's
         * weight-gradient-only ops (main-grad-add, listed last) after the
         * rest of its backward. */
        size_t no = 0;
        if (!bwd)
            for (size_t q = 0; q < n; q++)
                order[no++] = q;
        for (size_t hi = n; bwd && hi > 0;) {
            size_t lo = hi;
            while (lo > 0 && blk_of[lo - 1] == blk_of[hi - 1])
                lo--;
            for (size_t q = hi; q-- > lo;)
                if (!ops[q].weight_grad)
                    order[no++] = q;
            for (size_t q = lo; q < hi; q++)
                if (ops[q].weight_grad)
                    order[no++] = q;
            hi = lo;
        }
        for (size_t q = 0; q < n; q++) {
            size_t x = order[q];
            double d = op_part(&ops[x], e.kind, split) * scale;
            if (d <= 0)
                continue;
            if (!mp_sim_add_event(po, MP_EV_OP, e.rank, e.chunk, e.micro_batch, t, t + d, e.tokens)) {
                ok = false;
                goto out;
            }
            mp_sim_event *oe = &po->ev[po->n_ev - 1];
            oe->name = ops[x].name;
            oe->block = br[blk_of[x]].blk;
            oe->layer = br[blk_of[x]].layer;
            oe->comm = ops[x].kind == MP_OP_COMM;
            t += d;
        }
        /* 1F1B's blocking pipeline exchange, p2p_s in every forward and
         * backward pass (cost.c: two sends a micro-batch on every rank,
         * explain's pp term), is an event of its own at the pass's end on
         * the communication track, at the block the pass ends with: the
         * pass's wait on its send or receive (the last rank's forward and
         * the first rank's backward send nothing but are priced the same).
         * Not drawn for the interleaved schedule's blocking sends
         * (pp_blocking_sends), whose passes hold a share of them. */
        if (blocking > 0 && n > 0 && c->lay.vpp == 1) {
            size_t x = order[n - 1];
            if (!mp_sim_add_event(po, MP_EV_OP, e.rank, e.chunk, e.micro_batch, t, t + blocking, e.tokens)) {
                ok = false;
                goto out;
            }
            mp_sim_event *oe = &po->ev[po->n_ev - 1];
            oe->name = "pp-send-recv";
            oe->block = br[blk_of[x]].blk;
            oe->layer = br[blk_of[x]].layer;
            oe->comm = true;
        }
    }
    *added = true;
out:
    free(br);
    free(ops);
    free(blk_of);
    free(order);
    return ok;
}

mp_status mp_simulate(const mp_cost_ctx *c, const mp_sim_options *o, mp_sim_result *res, mp_error *err)
{
    memset(res, 0, sizeof *res);
    const mp_layout *l = &c->lay;
    const mp_model *md = c->model;
    const mp_workload *w = c->wl;
    int p = l->pp, v = l->vpp, m = l->num_micro_batches, mbs = l->micro_batch, dp = l->dp;
    /* The schedule must suit the layout. */
    if (o->schedule == MP_SCHED_INTERLEAVED && v <= 1)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--schedule interleaved: the layout has vpp 1; give it vpp > 1 (virtual stages)");
    if (o->schedule != MP_SCHED_INTERLEAVED && v > 1)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--schedule %s: the layout has vpp %d, which only the interleaved schedule runs",
                            mp_schedule_name(o->schedule), v);
    if (o->steps < 1)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--steps: at least 1");
    if (o->schedule == MP_SCHED_DUALPIPE && (p % 2 || m % 2 || m < 2 * p))
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--schedule dualpipe: needs an even pp and an even number of micro-batches, at least 2 x "
                            "pp; the layout has pp %d and %d micro-batch%s (DualPipe's step asserts both)",
                            p, m, m == 1 ? "" : "es");
    if (v > 1 && m % p)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "the interleaved schedule needs micro-batches (%d) in whole groups of pp (%d)", m, p);
    if (o->pack_tokens > 0 && !w->flash_attention)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--pack: packed documents need a variable-length flash kernel (workload "
                            "flash_attention: true)");
    bool moe = c->moe_prefix[md->num_layers] > 0;
    if (moe && (l->ep < 1 || md->num_experts % l->ep))
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "ep %d does not divide the %lld expert%s", l->ep,
                            (long long)md->num_experts, mp_plural(md->num_experts));
    if (o->routing == MP_ROUTE_WEIGHTS && moe && o->n_expert_weights != md->num_experts)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "routing weights: %d given, the model has %lld expert%s", o->n_expert_weights,
                            (long long)md->num_experts, mp_plural(md->num_experts));

    mp_status st = MP_OK;
    cost_memo cm;
    memset(&cm, 0, sizeof cm);
    cm.cx = malloc(sizeof *cm.cx);
    if (!cm.cx)
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
    *cm.cx = *c;
    cm.cx->keys_per_query[0] = cm.cx->keys_per_query[1] = 0;
    cm.base_load = c->expert_load;
    cm.p = p;
    cm.v = v;

    /* Explain's step and memory at seq_max: the reference, the tail after
     * the flush (the exposed DP reduction and the optimizer: mp_cost's
     * t_dp_s less ZeRO-2/3's per-micro-batch part, plus t_optimizer_s),
     * and each rank's memory with its activations taken out. */
    mp_cost ref;
    mp_cost_blocks rb;
    mp_cost_blocks_compute(c, &rb);
    mp_cost_assemble(c, &rb, &ref);
    res->explain_step_s = ref.t_total_s;
    res->tail_s = (ref.t_dp_s - m * ref.slow.dp_s) + ref.t_optimizer_s;
    res->capacity_bytes = ref.mem.capacity_bytes;
    res->steps = o->steps;
    res->ranks = p;
    res->schedule = o->schedule;
    size_t n_pass = (size_t)p * v * m;
    /* EP lockstep groups of data-parallel replicas [L25]. */
    /* An EP group is ep x etp consecutive GPUs of a stage, a replica tp x
     * cp of them: the groups chain replicas in runs of
     * lcm(tp cp, ep etp) / (tp cp), all of whose members wait for each
     * other (a group straddling two replicas ties them). */
    int g = 1;
    if (moe) {
        long a = (long)l->tp * l->cp, bb = (long)l->ep * l->etp, x = a, y = bb;
        while (y) {
            long t = x % y;
            x = y;
            y = t;
        }
        long lcm = a / x * bb;
        g = (int)(lcm / a > dp ? dp : lcm / a);
    }
    int groups = (dp + g - 1) / g;
    res->groups = groups;
    res->group_replicas = g;
    double frac_tokens = moe ? fmin(1.0, (double)l->ep * l->etp / ((double)l->tp * l->cp)) : 1;

    int E = (int)md->num_experts, ep = l->ep, k_top = (int)md->top_k;
    int n_moe = c->moe_prefix[md->num_layers];
    double *pe = NULL;           /* [n_moe][E] routing probabilities */
    double *gf = NULL, *gb = NULL, *gw = NULL, *gs = NULL, *gws = NULL, *gtok = NULL, *gphi = NULL, *slow_phi = NULL;
    len_key *gkey = NULL, *slow_key = NULL;
    double *slow_f = NULL, *slow_b = NULL, *slow_w = NULL, *slow_s = NULL, *slow_ws = NULL, *slow_tok = NULL;
    double *rank_load = NULL, *cap_bytes = NULL, *step_busy = NULL, *busy_acc = NULL;
    double *extra_states = NULL;
    slot *slots = NULL;
    long *mb_len = NULL;
    len_key *mb_key = NULL;
    pipe_out po;
    memset(&po, 0, sizeof po);
    res->step_s = calloc((size_t)o->steps, sizeof *res->step_s);
    res->busy_fraction = calloc((size_t)p, sizeof(double));
    res->peak_bytes = calloc((size_t)p, sizeof(double));
    res->explain_peak_bytes = calloc((size_t)p, sizeof(double));
    pe = moe ? malloc((size_t)n_moe * E * sizeof *pe) : NULL;
    gf = malloc(n_pass * sizeof *gf);
    gphi = malloc(n_pass * sizeof *gphi);
    gkey = malloc((size_t)m * sizeof *gkey);
    slow_key = malloc((size_t)m * sizeof *slow_key);
    slow_phi = malloc(n_pass * sizeof *slow_phi);
    gb = malloc(n_pass * sizeof *gb);
    gw = malloc(n_pass * sizeof *gw);
    gs = malloc(n_pass * sizeof *gs);
    gws = malloc(n_pass * sizeof *gws);
    gtok = malloc(3 * (size_t)m * sizeof *gtok); /* tokens, blocking send, asynchronous send per micro-batch */
    slow_f = malloc(n_pass * sizeof *slow_f);
    slow_b = malloc(n_pass * sizeof *slow_b);
    slow_w = malloc(n_pass * sizeof *slow_w);
    slow_s = malloc(n_pass * sizeof *slow_s);
    slow_ws = malloc(n_pass * sizeof *slow_ws);
    slow_tok = malloc(3 * (size_t)m * sizeof *slow_tok);
    rank_load = moe ? malloc((size_t)ep * sizeof *rank_load) : NULL;
    cap_bytes = malloc((size_t)p * sizeof *cap_bytes);
    extra_states = calloc((size_t)p, sizeof *extra_states);
    step_busy = malloc((size_t)p * sizeof *step_busy);
    slots = malloc((size_t)w->global_batch * sizeof *slots);
    mb_len = malloc((size_t)dp * m * sizeof *mb_len);
    mb_key = malloc((size_t)dp * m * sizeof *mb_key);
    po.busy_s = malloc((size_t)p * sizeof(double));
    po.peak_bytes = malloc((size_t)p * sizeof(double));
    if (!res->step_s || !res->busy_fraction || !res->peak_bytes || !res->explain_peak_bytes || (moe && !pe) ||
        !gf || !gphi || !slow_phi || !gkey || !slow_key || !gb || !gw || !gs || !gws || !gtok || !slow_f || !slow_b || !slow_w || !slow_s || !slow_ws ||
        !slow_tok || (moe && !rank_load) || !cap_bytes || !extra_states || !step_busy || !slots || !mb_len ||
        !mb_key || !po.busy_s || !po.peak_bytes) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        goto done;
    }

    /* Explain's activations per rank at seq_max (the chunks in flight at
     * its peak, mp_cost_chunks_in_flight, times their saved bytes), which
     * the simulated peak replaces: peak = explain's total + (1 + the
     * fragmentation allowance) x (simulated - explain's activations). */
    double frag = c->hw->fragmentation;
    {
        len_key k0 = {c->seq_len, {0, 0}};
        const len_entry *e0 = memo_len(&cm, &k0);
        if (!e0) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        double *inst = malloc((size_t)v * sizeof *inst);
        if (!inst) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        for (int r = 0; r < p; r++) {
            mp_cost_chunks_in_flight(l, r, inst);
            double a = 0;
            for (int q = 0; q < v; q++)
                a += inst[q] * e0->chunk[r * v + q].saved_bytes;
            cap_bytes[r] = a;
            mp_memory mem;
            mp_cost_stage_memory(c, &rb, r, &mem);
            res->explain_peak_bytes[r] = mem.total_bytes;
            /* DualPipe holds a second stage, p-1-r's, with its weights,
             * gradients and optimizer states (the report's Table 2: 2x). */
            if (o->schedule == MP_SCHED_DUALPIPE) {
                mp_memory other;
                mp_cost_stage_memory(c, &rb, p - 1 - r, &other);
                extra_states[r] = other.weights_bytes + other.gradients_bytes + other.optimizer_bytes +
                                  other.shard_buffer_bytes;
            }
        }
        free(inst);
    }

    /* Two streams from the one seed: sequence lengths, and routing (the
     * experts' order and the tokens' draws).  Runs that differ only in
     * routing or capacity then see the same lengths at the same seed, so a
     * comparison of them is paired; with one stream each routing draw
     * shifted every later length. */
    rng len_rng, route_rng;
    mp_sim_rng_seed(&len_rng, o->seed);
    mp_sim_rng_seed(&route_rng, o->seed ^ 0x5851f42d4c957f2dull); /* any constant: a second, unrelated state */
    /* Expert popularity: per MoE layer, the Zipf ranks (or the weights)
     * given to a random order of the experts, fixed for the run; as the
     * copies' shares of distinct top-k experts (mp_sim_topk_shares: once, the
     * layers' being permutations of one vector). */
    if (moe) {
        int *perm = malloc((size_t)E * sizeof *perm);
        double *base = malloc((size_t)E * sizeof *base);
        double sum = 0;
        for (int e = 0; base && e < E; e++) {
            base[e] = o->routing == MP_ROUTE_WEIGHTS ? o->expert_weights[e] : mp_sim_zipf_weight(e, o->zipf_s);
            sum += base[e];
        }
        for (int e = 0; base && e < E; e++)
            base[e] /= sum;
        if (!perm || !base || !mp_sim_topk_shares(base, E, k_top)) {
            free(perm);
            free(base);
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        for (int i = 0; i < n_moe; i++) {
            for (int e = 0; e < E; e++)
                perm[e] = e;
            for (int e = E - 1; e > 0; e--) {
                int j = (int)mp_sim_rng_int(&route_rng, 0, e), t = perm[e];
                perm[e] = perm[j];
                perm[j] = t;
            }
            for (int e = 0; e < E; e++)
                pe[(size_t)i * E + perm[e]] = base[e];
        }
        free(perm);
        free(base);
    }
    double wsum = 0;
    for (int i = 0; i < o->n_bins; i++)
        wsum += o->bins[i].weight;

    double tok_real = 0, tok_comp = 0, routed = 0, dropped = 0, load_sum = 0, load_n = 0, load_max = 0;
    double pipe_sum = 0, bubble_sum = 0;
    busy_acc = calloc((size_t)p, sizeof *busy_acc);
    if (!busy_acc) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        goto done;
    }
    /* Leftover document carried into the next sequence when packing. */
    long carry = 0;
    for (int step = 0; step < o->steps; step++) {
        /* The global batch: one document per sequence, or documents packed
         * next-fit into sequences of pack_tokens. */
        for (long i = 0; i < w->global_batch; i++) {
            slot *s = &slots[i];
            memset(s, 0, sizeof *s);
            if (o->pack_tokens <= 0) {
                s->tokens = mp_sim_draw_length(&len_rng, o, w, wsum);
                s->docs = 1;
                continue;
            }
            for (;;) {
                long d = carry ? carry : mp_sim_draw_length(&len_rng, o, w, wsum);
                carry = 0;
                if (d > o->pack_tokens)
                    d = o->pack_tokens; /* a document longer than a sequence is cut, its tail dropped */
                if (s->tokens + d > o->pack_tokens) {
                    carry = d;
                    break;
                }
                s->tokens += d;
                s->docs++;
                for (int q = 0; q < 2; q++)
                    s->key_sum[q] += (double)d * mp_cost_mean_keys(md, q == 1, (double)d);
                if (s->tokens == o->pack_tokens)
                    break;
            }
        }
        /* Micro-batch j of replica d: its mb sequences, priced at the
         * longest (padding) and, packed, at the largest mean keys. */
        for (int d = 0; d < dp; d++)
            for (int j = 0; j < m; j++) {
                long len = 0;
                double keys[2] = {0, 0};
                for (int s = 0; s < mbs; s++) {
                    const slot *x = &slots[((long)d * m + j) * mbs + s];
                    tok_real += (double)x->tokens;
                    if (x->tokens > len)
                        len = x->tokens;
                    for (int q = 0; q < 2; q++)
                        if (o->pack_tokens > 0 && x->tokens > 0 && x->key_sum[q] / x->tokens > keys[q])
                            keys[q] = x->key_sum[q] / x->tokens;
                }
                if (len < 1)
                    len = 1;
                /* Padded to what the layout can split (mp_layout_check's
                 * seq%cp and seq%tp rules): with context parallelism 2 cp
                 * chunks, with sequence parallelism tp slices of each
                 * (Megatron-Core pads variable-length batches to a multiple
                 * of tp x cp x 2).  The padding is computed, not real. */
                long unit = (l->cp > 1 ? 2L * l->cp : 1) * (l->sequence_parallel ? l->tp : 1);
                len = (len + unit - 1) / unit * unit;
                mb_len[d * m + j] = len;
                mb_key[d * m + j] = (len_key){len, {keys[0], keys[1]}};
                tok_comp += (double)len * mbs;
            }
        double step_span = -1;
        for (int G = 0; G < groups; G++) {
            int d0 = G * g, d1 = d0 + g > dp ? dp : d0 + g;
            for (int j = 0; j < m; j++) {
                /* The group's micro-batch j: its replicas' MoE layers wait
                 * for each other, so the slot runs at the longest, with
                 * the experts' work scaled to the replicas' mean tokens. */
                len_key key = mb_key[d0 * m + j];
                double tok_sum = 0;
                for (int d = d0; d < d1; d++) {
                    const len_key *x = &mb_key[d * m + j];
                    tok_sum += (double)x->seq_len * mbs;
                    if (x->seq_len > key.seq_len)
                        key.seq_len = x->seq_len;
                    for (int q = 0; q < 2; q++)
                        if (x->keys[q] > key.keys[q])
                            key.keys[q] = x->keys[q];
                }
                double scale = tok_sum / ((double)(d1 - d0) * mbs * key.seq_len);
                const len_entry *e = memo_len(&cm, &key);
                if (!e) {
                    st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
                    goto done;
                }
                gtok[j] = (double)key.seq_len * mbs;
                gtok[m + j] = e->chunk[0].p2p_s; /* the sends at this micro-batch's length */
                gtok[2 * m + j] = e->chunk[0].send_s;
                gkey[j] = key;
                for (int r = 0; r < p; r++)
                    for (int q = 0; q < v; q++) {
                        const mp_chunk_time *ct = &e->chunk[r * v + q];
                        size_t ix = ((size_t)r * v + q) * m + j;
                        gf[ix] = ct->fwd_s;
                        gb[ix] = ct->bwd_s;
                        gw[ix] = ct->wgrad_s;
                        gs[ix] = ct->saved_bytes;
                        gws[ix] = ct->wgrad_saved_bytes;
                        gphi[ix] = ct->comm_fraction;
                    }
                if (!moe)
                    continue;
                /* Each MoE layer's routing: each replica's token copies
                 * drawn over the experts (multinomial, by conditional
                 * binomials, over the copies' shares of distinct top-k
                 * experts, mp_sim_topk_shares), those
                 * above each expert's capacity on that replica dropped
                 * (capacity factor x its copies / E; Megatron drops per
                 * source rank), summed per EP rank (experts E/ep apiece,
                 * in order): the load is the busiest rank's routed tokens
                 * over the mean. */
                for (int L = 0, im = 0; L < md->num_layers; L++) {
                    if (!md->is_moe[L])
                        continue;
                    double load;
                    if (o->routing == MP_ROUTE_BALANCED) {
                        load = c->expert_load;
                    } else {
                        for (int x = 0; x < ep; x++)
                            rank_load[x] = 0;
                        double all = 0;
                        /* Dropless, only the group's totals matter: the sum
                         * of the replicas' multinomials over the same
                         * probabilities is one multinomial of their total,
                         * drawn once (d1 - d0 times fewer draws). */
                        bool pooled = w->capacity_factor <= 0;
                        double pool = 0;
                        if (pooled)
                            for (int d = d0; d < d1; d++)
                                pool += floor((double)k_top * frac_tokens * mb_len[d * m + j] * mbs);
                        for (int d = d0; d < (pooled ? d0 + 1 : d1); d++) {
                            double copies =
                                pooled ? pool : floor((double)k_top * frac_tokens * mb_len[d * m + j] * mbs);
                            double cap = w->capacity_factor > 0 ? ceil(w->capacity_factor * copies / E) : INFINITY;
                            double rem = copies, prem = 1;
                            for (int ex = 0; ex < E; ex++) {
                                double pr = pe[(size_t)im * E + ex];
                                double nx = ex == E - 1 ? rem
                                                        : mp_sim_rng_binomial(&route_rng, rem, prem > 0 ? pr / prem : 0);
                                rem -= nx;
                                prem -= pr;
                                dropped += nx - fmin(nx, cap);
                                rank_load[ex / (E / ep)] += nx; /* routed, before any drop */
                            }
                            routed += copies;
                            all += copies;
                        }
                        double mx = 0;
                        for (int x = 0; x < ep; x++)
                            if (rank_load[x] > mx)
                                mx = rank_load[x];
                        double lam = all > 0 ? mx / (all / ep) : 1;
                        load_sum += lam;
                        load_n += 1;
                        if (lam > load_max)
                            load_max = lam;
                        /* Padded to capacity, the expert work is the
                         * factor's whatever the routing (the tokens above
                         * it dropped); dropless, the busiest rank's. */
                        load = w->capacity_factor > 0 ? w->capacity_factor : lam;
                    }
                    load *= scale;
                    int cls = (md->window_kind != MP_WINDOW_NONE && md->attn_local[L] ? 2 : 0) | 1;
                    double dl = fabs(load - cm.base_load);
                    if (dl > 5e-4) {
                        const mp_layer_time *lt = memo_layer(&cm, &key, cls, load);
                        if (!lt) {
                            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
                            goto done;
                        }
                        const mp_layer_time *b0 = &e->base[cls];
                        /* The layer's pipeline rank and chunk. */
                        for (int r = 0; r < p; r++)
                            for (int q = 0; q < v; q++) {
                                int first, count;
                                mp_layout_chunk(l, md->num_layers, r, q, &first, &count);
                                if (L < first || L >= first + count)
                                    continue;
                                size_t ix = ((size_t)r * v + q) * m + j;
                                gf[ix] += lt->fwd_s - b0->fwd_s;
                                gb[ix] += lt->bwd_s - b0->bwd_s;
                                gw[ix] += lt->wgrad_s - b0->wgrad_s;
                            }
                    }
                    im++;
                }
            }
            if (!mp_sim_run_group(o->schedule, p, v, m, gf, gb, gw, gs, gws, gphi, gtok, cap_bytes, &po)) {
                st = mp_error_set(err, MP_ERR_INTERNAL, "", 0, 0, "simulate: the %s schedule stalled",
                                  mp_schedule_name(o->schedule));
                goto done;
            }
            for (int r = 0; r < p; r++)
                if (po.peak_bytes[r] > 0) {
                    double tot = res->explain_peak_bytes[r] +
                                 (1 + frag) * (po.peak_bytes[r] - cap_bytes[r] + extra_states[r]);
                    if (tot > res->peak_bytes[r])
                        res->peak_bytes[r] = tot;
                }
            if (po.span_s > step_span) {
                step_span = po.span_s;
                memcpy(step_busy, po.busy_s, (size_t)p * sizeof *step_busy);
                if (step == 0 && o->keep_events) {
                    memcpy(slow_f, gf, n_pass * sizeof *gf);
                    memcpy(slow_phi, gphi, n_pass * sizeof *gphi);
                    memcpy(slow_b, gb, n_pass * sizeof *gb);
                    memcpy(slow_w, gw, n_pass * sizeof *gw);
                    memcpy(slow_s, gs, n_pass * sizeof *gs);
                    memcpy(slow_ws, gws, n_pass * sizeof *gws);
                    memcpy(slow_tok, gtok, 3 * (size_t)m * sizeof *gtok);
                    memcpy(slow_key, gkey, (size_t)m * sizeof *gkey);
                }
            }
        }
        res->step_s[step] = step_span + res->tail_s;
        pipe_sum += step_span;
        double busiest = 0;
        for (int r = 0; r < p; r++) {
            busy_acc[r] += step_busy[r] / step_span;
            if (step_busy[r] > busiest)
                busiest = step_busy[r];
        }
        bubble_sum += 1 - busiest / step_span;
    }
    /* The timeline of the first step's slowest group, re-run with its
     * events, then the tail: the DP reduction and the optimizer. */
    if (o->keep_events) {
        po.want_ev = true;
        if (!mp_sim_run_group(o->schedule, p, v, m, slow_f, slow_b, slow_w, slow_s, slow_ws, slow_phi, slow_tok,
                              cap_bytes, &po)) {
            st = mp_error_set(err, MP_ERR_INTERNAL, "", 0, 0, "simulate: the schedule stalled");
            goto done;
        }
        if (o->schedule != MP_SCHED_DUALPIPE && !add_op_events(&cm, slow_key, slow_tok + m, o->schedule == MP_SCHED_ZB_H1, &po, 200000,
                                                          &res->op_events)) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        double dp_s = ref.t_dp_s - m * ref.slow.dp_s;
        for (int r = 0; r < p; r++)
            if (!mp_sim_add_event(&po, MP_EV_DP, r, 0, -1, po.span_s, po.span_s + dp_s, 0) ||
                !mp_sim_add_event(&po, MP_EV_OPT, r, 0, -1, po.span_s + dp_s, po.span_s + res->tail_s, 0)) {
                st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
                goto done;
            }
        res->events = po.ev;
        res->n_events = po.n_ev;
        res->events_span_s = po.span_s + res->tail_s;
        po.ev = NULL;
    }
    {
        double *sorted = malloc((size_t)o->steps * sizeof *sorted);
        if (!sorted) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        memcpy(sorted, res->step_s, (size_t)o->steps * sizeof *sorted);
        qsort(sorted, (size_t)o->steps, sizeof *sorted, cmp_double);
        double sum = 0;
        for (int i = 0; i < o->steps; i++)
            sum += sorted[i];
        res->step_mean_s = sum / o->steps;
        res->step_min_s = sorted[0];
        res->step_max_s = sorted[o->steps - 1];
        res->step_p50_s = percentile(sorted, o->steps, 0.50);
        res->step_p99_s = percentile(sorted, o->steps, 0.99);
        free(sorted);
    }
    res->pipeline_mean_s = pipe_sum / o->steps;
    res->bubble_fraction = bubble_sum / o->steps;
    for (int r = 0; r < p; r++)
        res->busy_fraction[r] = busy_acc[r] / o->steps;
    res->tokens_mean = tok_real / o->steps;
    res->padding_fraction = tok_comp > 0 ? 1 - tok_real / tok_comp : 0;
    res->dropped_fraction = routed > 0 ? dropped / routed : 0;
    /* Balanced routing draws nothing: the workload's imbalance throughout. */
    double stated = moe ? fmax(1.0, w->routing_imbalance) : 0;
    res->expert_load_mean = load_n > 0 ? load_sum / load_n : stated;
    res->expert_load_max = load_n > 0 ? load_max : stated;
    res->tokens_per_s = res->tokens_mean / res->step_mean_s;
done:
    free(busy_acc);
    free(pe);
    free(gf);
    free(gphi);
    free(slow_phi);
    free(gkey);
    free(slow_key);
    free(gb);
    free(gw);
    free(gs);
    free(gws);
    free(gtok);
    free(slow_f);
    free(slow_b);
    free(slow_w);
    free(slow_s);
    free(slow_ws);
    free(slow_tok);
    free(rank_load);
    free(cap_bytes);
    free(extra_states);
    free(step_busy);
    free(slots);
    free(mb_len);
    free(mb_key);
    free(po.busy_s);
    free(po.peak_bytes);
    free(po.ev);
    memo_free(&cm);
    if (st)
        mp_sim_result_free(res);
    return st;
}
