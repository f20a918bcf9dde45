/* The pipeline schedules of the simulator (src/schedule.c): each rank's
 * order of passes and the event loop that plays them out.
 *
 * Sources:
 *  [N21] Narayanan et al., SC21, section 2.2: GPipe, 1F1B and interleaved
 *        1F1B, the bubble (p-1)/(m+p-1) of the step, divided by v when
 *        interleaved; Megatron-LM core/pipeline_parallel/schedules.py
 *        (forward_backward_pipelining_without_interleaving: min(p-r-1, m)
 *        warm-up forwards; ..._with_interleaving: (p-r-1)*2 + (v-1)*p
 *        warm-up chunk forwards, forward pass j on chunk (j mod pv)/p).
 *  [Q24] Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024, section
 *        2-3: the backward split into B (input gradient) and W (weight
 *        gradient); ZB-H1 keeps 1F1B's memory and defers W into the
 *        bubbles, (p-1)(T_F + T_B - T_W) of bubble against 1F1B's
 *        (p-1)(T_F + T_B + T_W).
 *  [DS3] DeepSeek-AI, "DeepSeek-V3 Technical Report", arXiv:2412.19437,
 *        section 3.2.1 and Table 2 (DualPipe); deepseek-ai/DualPipe.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/simulate.h"
#include "sim_internal.h"

/* ------------------------------------------------------------ names */

const char *mp_schedule_name(mp_schedule s)
{
    static const char *const n[] = {"gpipe", "1f1b", "interleaved", "zb-h1", "dualpipe"};
    return s <= MP_SCHED_DUALPIPE ? n[s] : "?";
}
bool mp_schedule_parse(const char *s, mp_schedule *out)
{
    for (int i = 0; i <= MP_SCHED_DUALPIPE; i++)
        if (!strcmp(s, mp_schedule_name((mp_schedule)i))) {
            *out = (mp_schedule)i;
            return true;
        }
    return false;
}
mp_schedule mp_schedule_default(const mp_layout *l) { return l->vpp > 1 ? MP_SCHED_INTERLEAVED : MP_SCHED_1F1B; }


/* Room in the array *a (capacity *cap, n used) for one more element of
 * `elem` bytes, doubling it when full. */
bool mp_sim_room(void **a, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? 2 * *cap : 64;
    void *t = realloc(*a, nc * elem);
    if (!t)
        return false;
    *a = t;
    *cap = nc;
    return true;
}


/* One micro-batch slot's cost inputs: the length it is priced at (its
 * longest sequence, padding included) and, for packed documents, the mean
 * keys per query of its attention. */
/* ------------------------------------------------------------ schedules */

typedef enum { OP_F, OP_B, OP_W, OP_FB } op_kind;
/* A pass of a rank's order: forward, backward (zb: its weight gradient
 * deferred), a deferred weight gradient (the oldest), or DualPipe's
 * overlapped forward of (chunk, mb) and backward of (chunk2, mb2). */
typedef struct {
    unsigned char kind, zb;
    int chunk, mb, chunk2, mb2;
} sched_op;

/* DualPipe (DeepSeek-V3 report section 3.2.1; deepseek-ai/DualPipe,
 * dualpipe/dualpipe.py DualPipe.step at 3da1bbe): micro-batches enter
 * from both ends, half each way; rank r holds stage r of the forward
 * direction (chunk 0 here) and stage p-1-r of the reverse one (chunk 1).
 * The eight steps of its order, with h = min(r, p-1-r); "phase" 0/1 is
 * the direction for the first half of the ranks and the other for the
 * second half.  `n` is the micro-batches per direction. */
static int dualpipe_order(int p, int n, int r, sched_op *ops)
{
    int half = p / 2, h = r < p - 1 - r ? r : p - 1 - r, second = r >= half, k = 0;
    int fc[2] = {0, 0}, bc[2] = {0, 0};
    bool middle = h == half - 1;
#define DF(ph) (ops[k++] = (sched_op){OP_F, 0, (ph) ^ second, fc[(ph) ^ second]++, 0, 0})
#define DB(ph, z) (ops[k++] = (sched_op){OP_B, (z), (ph) ^ second, bc[(ph) ^ second]++, 0, 0})
#define DW() (ops[k++] = (sched_op){OP_W, 0, 0, 0, 0, 0})
#define DFB(f, b)                                                                                     \
    do {                                                                                              \
        int cf_ = (f) ^ second, cb_ = (b) ^ second;                                                   \
        ops[k++] = (sched_op){OP_FB, 0, cf_, fc[cf_]++, cb_, bc[cb_]++};                              \
    } while (0)
    for (int i = 0; i < (half - h - 1) * 2; i++) /* 1: nF0 */
        DF(0);
    for (int i = 0; i < h + 1; i++) { /* 2: nF0F1 */
        DF(0);
        DF(1);
    }
    for (int i = 0; i < half - h - 1; i++) { /* 3: nB1W1F1, zero bubble */
        DB(1, 1);
        DW();
        DF(1);
    }
    for (int i = 0; i < n - p + h + 1; i++) { /* 4: nF0B1F1B0 */
        if (i == 0 && middle) { /* not overlapped, to shorten the bubble */
            DF(0);
            DB(1, 0);
        } else {
            DFB(0, 1);
        }
        DFB(1, 0);
    }
    for (int i = 0; i < half - h - 1; i++) { /* 5: nB1F1B0 */
        DB(1, 0);
        DFB(1, 0);
    }
    bool zb = false;
    for (int i = 0; i < h + 1; i++) { /* 6: nB1B0, the second half zero-bubble */
        if (i == (h + 1) / 2 && h % 2 == 1)
            zb = true;
        DB(1, zb);
        if (i == (h + 1) / 2 && h % 2 == 0)
            zb = true;
        DB(0, zb);
    }
    for (int i = 0; i < half - h - 1; i++) { /* 7: nWB0 */
        DW();
        DB(0, 1);
    }
    for (int i = 0; i < h + 1; i++) /* 8: nW */
        DW();
#undef DF
#undef DB
#undef DW
#undef DFB
    return k;
}

/* The forward and backward passes of rank r in the schedule's order
 * (W passes of ZB-H1 are placed as the rank runs).  Returns the count. */
static int build_order(mp_schedule s, int p, int v, int m, int r, sched_op *ops)
{
    int n = 0;
    switch (s) {
    case MP_SCHED_GPIPE:
        for (int j = 0; j < m; j++)
            ops[n++] = (sched_op){OP_F, 0, 0, j, 0, 0};
        for (int j = 0; j < m; j++)
            ops[n++] = (sched_op){OP_B, 0, 0, j, 0, 0};
        break;
    case MP_SCHED_1F1B:
    case MP_SCHED_ZB_H1: {
        int warm = p - r - 1 < m ? p - r - 1 : m;
        for (int j = 0; j < warm; j++)
            ops[n++] = (sched_op){OP_F, 0, 0, j, 0, 0};
        for (int i = 0; i < m - warm; i++) {
            ops[n++] = (sched_op){OP_F, 0, 0, warm + i, 0, 0};
            ops[n++] = (sched_op){OP_B, 0, 0, i, 0, 0};
        }
        for (int i = m - warm; i < m; i++)
            ops[n++] = (sched_op){OP_B, 0, 0, i, 0, 0};
        break;
    }
    case MP_SCHED_INTERLEAVED: {
        /* Virtual micro-batch j: micro-batch groups of p (Megatron's
         * microbatch_group_size_per_vp_stage = p). */
        int total = m * v, pv = p * v;
        int warm = (p - r - 1) * 2 + (v - 1) * p;
        if (warm > total)
            warm = total;
#define VF(j) ((sched_op){OP_F, 0, ((j) % pv) / p, ((j) / pv) * p + (j) % p, 0, 0})
#define VB(j) ((sched_op){OP_B, 0, v - 1 - ((j) % pv) / p, ((j) / pv) * p + (j) % p, 0, 0})
        for (int j = 0; j < warm; j++)
            ops[n++] = VF(j);
        for (int i = 0; i < total - warm; i++) {
            ops[n++] = VF(warm + i);
            ops[n++] = VB(i);
        }
        for (int i = total - warm; i < total; i++)
            ops[n++] = VB(i);
#undef VF
#undef VB
        break;
    }
    case MP_SCHED_DUALPIPE: n = dualpipe_order(p, m, r, ops); break;
    }
    return n;
}



bool mp_sim_add_event(pipe_out *o, mp_event_kind k, int r, int chunk, int mb, double s, double e, double tokens)
{
    if (!o->want_ev)
        return true;
    if (!mp_sim_room((void **)&o->ev, &o->cap_ev, o->n_ev, sizeof *o->ev))
        return false;
    o->ev[o->n_ev++] = (mp_sim_event){k, r, chunk, mb, s, e, tokens, NULL, MP_BLOCK_EMBED, -1, false, 0, -1};
    return true;
}

#define IX(r, k, j) (((size_t)(r) * pi->v + (k)) * pi->m + (j))

/* When pass (kind, r, k, j)'s input is ready, or -1 while the pass it
 * depends on has not run.  The forward of chunk k on rank r follows the
 * same micro-batch's forward on the rank before it in its direction (or,
 * interleaved, the previous chunk's on the last rank), the backward the
 * next rank's; DualPipe's chunk 1 runs from the last rank to the first. */
static double ready_at(const pipe_in *pi, const double *endF, const double *endB, op_kind kind, int r, int k, int j)
{
    int p = pi->p, v = pi->v;
    /* 1F1B: the send is inside the sender's pass; else on the link after. */
    double link = v > 1 ? pi->send_s[k * pi->mb_stride + j] : 0;
    double t;
    if (pi->sched == MP_SCHED_DUALPIPE) {
        int up = k == 0 ? r - 1 : r + 1, down = k == 0 ? r + 1 : r - 1;
        if (kind == OP_F) {
            if (up < 0 || up >= p)
                return 0;
            t = endF[IX(up, k, j)];
        } else if (down < 0 || down >= p) {
            return endF[IX(r, k, j)]; /* its direction's last stage: its own forward */
        } else {
            t = endB[IX(down, k, j)];
        }
        return t < 0 ? -1 : t + link;
    }
    if (kind == OP_F) {
        if (r > 0)
            t = endF[IX(r - 1, k, j)];
        else if (k > 0)
            t = endF[IX(p - 1, k - 1, j)];
        else
            return 0;
        return t < 0 ? -1 : t + link;
    }
    if (r < p - 1)
        t = endB[IX(r + 1, k, j)];
    else if (k < v - 1)
        t = endB[IX(0, k + 1, j)];
    else
        return endF[IX(r, k, j)]; /* the last chunk: its own forward */
    return t < 0 ? -1 : t + link;
}

/* When op o of rank r can start, -1 when not yet known. */
static double op_ready(const pipe_in *pi, const double *endF, const double *endB, const sched_op *o, int r)
{
    if (o->kind == OP_W)
        return 0;
    double a = ready_at(pi, endF, endB, o->kind == OP_FB ? OP_F : (op_kind)o->kind, r, o->chunk, o->mb);
    if (o->kind != OP_FB || a < 0)
        return a;
    double b = ready_at(pi, endF, endB, OP_B, r, o->chunk2, o->mb2);
    return b < 0 ? -1 : fmax(a, b);
}

static bool run_pipe(const pipe_in *pi, pipe_out *po)
{
    int p = pi->p, v = pi->v, m = pi->m;
    size_t n = (size_t)p * v * m, per = (size_t)3 * v * m;
    bool zb_h1 = pi->sched == MP_SCHED_ZB_H1;
    double *endF = malloc(n * sizeof *endF), *endB = malloc(n * sizeof *endB);
    double *fr = calloc((size_t)p, sizeof *fr), *act = calloc((size_t)p, sizeof *act);
    int *pos = calloc((size_t)p, sizeof *pos), *cnt = calloc((size_t)p, sizeof *cnt);
    sched_op *ops = malloc((size_t)p * per * sizeof *ops);
    /* The deferred W passes of each rank: a FIFO of (chunk, mb). */
    int *wq = malloc((size_t)p * v * m * sizeof *wq), *wh = calloc((size_t)p, sizeof *wh),
        *wt = calloc((size_t)p, sizeof *wt);
    bool ok = endF && endB && fr && act && pos && cnt && ops && wq && wh && wt;
    if (!ok)
        goto out;
    for (size_t i = 0; i < n; i++)
        endF[i] = endB[i] = -1;
    for (int r = 0; r < p; r++) {
        cnt[r] = build_order(pi->sched, p, v, m, r, ops + (size_t)r * per);
        po->busy_s[r] = 0;
        po->peak_bytes[r] = 0;
    }
    double span = 0;
    for (;;) {
        /* The rank free soonest that can decide moves first: its next
         * pass if its input is ready, else (ZB-H1) a deferred W into the
         * wait; a rank whose input has not been produced waits. */
        int best = -1;
        bool all_done = true;
        for (int r = 0; r < p; r++) {
            bool has_w = zb_h1 && wh[r] != wt[r];
            if (pos[r] == cnt[r] && !has_w)
                continue;
            all_done = false;
            bool can = has_w;
            if (pos[r] < cnt[r])
                can = can || op_ready(pi, endF, endB, &ops[(size_t)r * per + pos[r]], r) >= 0;
            if (can && (best < 0 || fr[r] < fr[best]))
                best = r;
        }
        if (all_done)
            break;
        if (best < 0) {
            ok = false; /* no rank can move: a schedule bug */
            break;
        }
        int r = best;
        bool has_w = zb_h1 && wh[r] != wt[r];
        const sched_op *o = pos[r] < cnt[r] ? &ops[(size_t)r * per + pos[r]] : NULL;
        double rd = o ? op_ready(pi, endF, endB, o, r) : -1;
        bool run_w = false;
        if (has_w) {
            if (!o || rd < 0 || rd > fr[r])
                run_w = true; /* the rank would wait: fill it */
            else if (o->kind == OP_F &&
                     act[r] + pi->saved[IX(r, o->chunk, o->mb)] > pi->cap_bytes[r] * (1 + 1e-9))
                run_w = true; /* the next forward needs the memory a W frees */
        }
        if (run_w || (o && o->kind == OP_W)) {
            if (wh[r] == wt[r]) {
                ok = false; /* a W with nothing deferred: a schedule bug */
                break;
            }
            int code = wq[(size_t)r * v * m + (size_t)(wh[r]++ % (v * m))];
            int k = code / m, j = code % m;
            double d = pi->w[IX(r, k, j)], s = fr[r];
            fr[r] = s + d;
            po->busy_s[r] += d;
            act[r] -= pi->wsaved[IX(r, k, j)];
            if (!mp_sim_add_event(po, MP_EV_WGRAD, r, k, k * pi->mb_stride + j, s, fr[r],
                                  pi->tokens[k * pi->mb_stride + j]))
                ok = false;
            if (fr[r] > span)
                span = fr[r];
            if (!run_w)
                pos[r]++;
            continue;
        }
        int k = o->chunk, j = o->mb;
        double s = fmax(fr[r], rd);
        size_t ix = IX(r, k, j);
        double d;
        bool defer = zb_h1 || o->zb;
        if (o->kind == OP_F) {
            d = pi->f[ix];
            act[r] += pi->saved[ix];
            if (act[r] > po->peak_bytes[r])
                po->peak_bytes[r] = act[r];
            endF[ix] = s + d;
        } else if (o->kind == OP_B) {
            d = defer ? pi->b[ix] - pi->w[ix] : pi->b[ix];
            endB[ix] = s + d;
            if (defer) {
                act[r] -= pi->saved[ix] - pi->wsaved[ix];
                wq[(size_t)r * v * m + (size_t)(wt[r]++ % (v * m))] = k * m + j;
            } else {
                act[r] -= pi->saved[ix];
            }
        } else {
            /* DualPipe's pair: one micro-batch's forward beside another's
             * backward, each one's communication under the other's
             * compute (the report's Figure 4): the longer of the two
             * computations together and the two communications together. */
            size_t ib = IX(r, o->chunk2, o->mb2);
            d = fmax(pi->f[ix] - pi->fc[ix] + pi->b[ib] - pi->bc[ib], pi->fc[ix] + pi->bc[ib]);
            act[r] += pi->saved[ix];
            if (act[r] > po->peak_bytes[r])
                po->peak_bytes[r] = act[r];
            act[r] -= pi->saved[ib];
            endF[ix] = endB[ib] = s + d;
        }
        fr[r] = s + d;
        po->busy_s[r] += d;
        mp_event_kind ek = o->kind == OP_F ? MP_EV_FWD : o->kind == OP_B ? MP_EV_BWD : MP_EV_FWD_BWD;
        int mb = k * pi->mb_stride + j; /* the layout's micro-batch */
        if (!mp_sim_add_event(po, ek, r, k, mb, s, fr[r], pi->tokens[mb]))
            ok = false;
        else if (o->kind == OP_FB && po->want_ev) {
            po->ev[po->n_ev - 1].chunk2 = o->chunk2;
            po->ev[po->n_ev - 1].micro_batch2 = o->chunk2 * pi->mb_stride + o->mb2;
        }
        /* The send to the neighbour: inside the pass under 1F1B (blocking),
         * after it on the link when interleaved and in DualPipe. */
        bool sends = pi->sched == MP_SCHED_DUALPIPE
                         ? true
                         : (o->kind == OP_F ? !(r == p - 1 && k == v - 1) : !(r == 0 && k == 0));
        if (sends && p > 1) {
            if (pi->p2p_s[mb] > 0) /* blocking: inside the pass */
                ok = ok && mp_sim_add_event(po, MP_EV_SEND, r, k, mb, fr[r] - pi->p2p_s[mb], fr[r], pi->tokens[mb]);
            else if (v > 1 && pi->send_s[mb] > 0)
                ok = ok && mp_sim_add_event(po, MP_EV_SEND, r, k, mb, fr[r], fr[r] + pi->send_s[mb], pi->tokens[mb]);
        }
        pos[r]++;
        if (fr[r] > span)
            span = fr[r];
    }
    po->span_s = span;
out:
    free(endF);
    free(endB);
    free(fr);
    free(act);
    free(pos);
    free(cnt);
    free(ops);
    free(wq);
    free(wh);
    free(wt);
    return ok;
}
#undef IX

int mp_schedule_order(mp_schedule s, int p, int v, int m, int r, mp_sched_pass *out)
{
    if (s != MP_SCHED_GPIPE && s != MP_SCHED_1F1B && s != MP_SCHED_INTERLEAVED)
        return -1;
    sched_op *ops = malloc((size_t)2 * v * m * sizeof *ops);
    if (!ops)
        return -1;
    int n = build_order(s, p, v, m, r, ops);
    for (int i = 0; i < n; i++)
        out[i] = (mp_sched_pass){ops[i].kind == OP_F ? 'F' : 'B', ops[i].chunk, ops[i].mb};
    free(ops);
    return n;
}

/* One group's passes (index (r v + k) m + j, the layout's chunks) through
 * its schedule.  DualPipe first lays them out by direction: rank r's
 * forward direction runs its own stage on micro-batches 0..m/2-1, its
 * reverse direction stage p-1-r's on m/2..m-1; phi is each pass's
 * communication share, which an overlapped pair hides (the report's
 * premise, Figure 4: the all-to-alls and the pipeline sends of one
 * micro-batch under the other's compute, taken as complete here). */
bool mp_sim_run_group(mp_schedule sched, int p, int v, int m, const double *f, const double *b, const double *w,
                      const double *sv, const double *ws, const double *phi, const double *mbs, const double *cap,
                      pipe_out *po)
{
    const double *tok = mbs, *p2p = mbs + m, *send = mbs + 2 * m;
    if (sched != MP_SCHED_DUALPIPE) {
        pipe_in pi = {p, v, m, sched, f, b, w, sv, ws, NULL, NULL, tok, p2p, send, 0, cap};
        return run_pipe(&pi, po);
    }
    int h = m / 2;
    size_t n = (size_t)p * m;
    double *a = malloc(7 * n * sizeof *a);
    if (!a)
        return false;
    for (int r = 0; r < p; r++)
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < h; j++) {
                int jj = k ? h + j : j; /* the layout's micro-batch */
                size_t to = ((size_t)r * 2 + k) * h + j, from = (size_t)(k ? p - 1 - r : r) * m + jj;
                /* The layout's passes carry 1F1B's blocking send
                 * (p2p each); DualPipe's sends are asynchronous. */
                a[to] = f[from] - p2p[jj];
                a[n + to] = b[from] - p2p[jj];
                a[2 * n + to] = w[from];
                a[3 * n + to] = sv[from];
                a[4 * n + to] = ws[from];
                a[5 * n + to] = fmax(0, f[from] * phi[from] - p2p[jj]);
                a[6 * n + to] = fmax(0, b[from] * phi[from] - p2p[jj]);
            }
    pipe_in pi = {p, 2, h, sched, a, a + n, a + 2 * n, a + 3 * n, a + 4 * n, a + 5 * n, a + 6 * n, tok, p2p, send, h,
                  cap};
    bool ok = run_pipe(&pi, po);
    free(a);
    return ok;
}

mp_status mp_sim_schedule(mp_schedule s, int p, int v, int m, double f_s, double b_s, double w_s, double w_saved,
                          double fb_s, mp_sched_result *out, mp_error *err)
{
    memset(out, 0, sizeof *out);
    bool dual = s == MP_SCHED_DUALPIPE;
    if (p < 1 || v < 1 || m < 1 || (s == MP_SCHED_INTERLEAVED) != (v > 1) || (v > 1 && m % p) ||
        (dual && (p % 2 || m % 2 || m < 2 * p)) || (fb_s > 0 && fb_s < (f_s + b_s) / 2) || w_s > b_s || f_s < 0 ||
        w_s < 0)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "schedule %s with p %d, v %d, m %d", mp_schedule_name(s), p,
                            v, m);
    int vv = dual ? 2 : v, mm = dual ? m / 2 : m; /* DualPipe: two directions of m/2 */
    size_t n = (size_t)p * vv * mm;
    /* The overlapped pair's time fb_s = max(f + b - c, c) with each
     * pass's communication c/2 (fb_s 0: no overlap, f + b). */
    double comm = fb_s > 0 ? (f_s + b_s - fb_s) / 2 : 0;
    double *a = malloc(7 * n * sizeof *a), *tok = calloc(3 * (size_t)m, sizeof *tok),
           *cap = malloc((size_t)p * sizeof *cap); /* tokens, sends: none */
    double *busy = malloc((size_t)p * sizeof *busy), *peak = malloc((size_t)p * sizeof *peak);
    mp_status st = MP_OK;
    if (!a || !tok || !cap || !busy || !peak) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = f_s;
        a[n + i] = b_s;
        a[2 * n + i] = w_s;
        a[3 * n + i] = 1;
        a[4 * n + i] = w_saved;
        a[5 * n + i] = a[6 * n + i] = comm;
    }
    mp_layout l;
    memset(&l, 0, sizeof l);
    l.pp = p;
    l.vpp = v;
    l.num_micro_batches = m;
    l.vpp = dual ? 1 : v;
    double *inst = malloc((size_t)v * sizeof *inst);
    if (!inst) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        goto out;
    }
    for (int r = 0; r < p; r++)
        cap[r] = mp_cost_chunks_in_flight(&l, r, inst);
    free(inst);
    pipe_in pi = {p, vv, mm, s, a, a + n, a + 2 * n, a + 3 * n, a + 4 * n, a + 5 * n, a + 6 * n, tok, tok + m,
                  tok + 2 * m, dual ? mm : 0, cap};
    pipe_out po;
    memset(&po, 0, sizeof po);
    po.busy_s = busy;
    po.peak_bytes = peak;
    if (!run_pipe(&pi, &po)) {
        st = mp_error_set(err, MP_ERR_INTERNAL, "", 0, 0, "the %s schedule stalled", mp_schedule_name(s));
        goto out;
    }
    out->span_s = po.span_s;
    double busiest = 0, idlest = INFINITY;
    for (int r = 0; r < p; r++) {
        busiest = fmax(busiest, busy[r]);
        idlest = fmin(idlest, busy[r]);
        out->peak_units[0] = fmax(out->peak_units[0], peak[r]);
    }
    out->idle_s[0] = po.span_s - busiest;
    out->idle_s[1] = po.span_s - idlest;
    out->peak_units[1] = peak[0];
    out->bubble_fraction = po.span_s > 0 ? 1 - busiest / po.span_s : 0;
out:
    free(a);
    free(tok);
    free(cap);
    free(busy);
    free(peak);
    return st;
}
