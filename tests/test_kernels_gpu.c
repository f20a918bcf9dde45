/* The CUDA backend's kernels against the CPU backend's (themselves checked
 * against double-precision references in test_kernels.c), on odd shapes;
 * integer paths (router indices, permutation slots, counts) exact.
 * Without a GPU, or in a build without CUDA, it says why and exits 77
 * (meson: skipped).
 *
 * Inputs.  The CUDA backend keeps activations and weights in bf16 (8
 * significant bits), so every input here is first rounded to bf16 on the
 * host and the same values go to both backends: the two start from equal
 * inputs, and what differs is the CUDA side's one rounding of each result
 * to bf16, its intermediates, its summation order and __expf.
 *
 * Tolerances, as a fraction of max(|cpu value|, 1) (same()):
 *  - BF = 2^-8: bf16 has 8 significant bits (7 stored), so one
 *    round-to-nearest is within half an ulp, 2^-8, of the value; fp32 arithmetic on top (summation order, __expf's
 *    2 ulp, cosf/sinf) is below 1e-5 at these sizes, so BF + 1e-5 for a
 *    result rounded once (gemm: both accumulate the same bf16 products in
 *    fp32; the norms, activations, RoPE, add, unpermute, dlogits);
 *  - fp32 results (rstd, dw, the router's probabilities, lse, the loss,
 *    AdamW): 1e-5, or 1e-4 where __expf or a long sum enters (lse, loss);
 *  - attention: P is stored in bf16 (each P_ij within 2^-8), so
 *    |dO| <= 2^-8 sum_j P_ij |v_j| <= 2^-8 max|v| = 2^-9 (inputs in
 *    [-0.5, 0.5)), plus o's own rounding: 2 BF.  Backward: dV = P^T dO sums
 *    P_ij over the rows i >= j, at most H(S) = 1 + 1/2 + ... + 1/S = 3.7
 *    for S = 23 (P_ij <= 1/(i+1) for random scores near 0), so the
 *    rounding of P gives 2^-8 * 3.7 * 0.5; dQ = dS K / sqrt(D) and dK =
 *    dS^T Q / sqrt(D) carry dS's rounding, |dS_ij| <= P_ij (|dP_ij| + |D_i|)
 *    <= P_ij * 2 * D * 0.25 = 4.5 P_ij at D = 9, summed the same way:
 *    2^-8 * 3.7 * 4.5 * 0.5 / 3 = 2.8 * 2^-8; with the result's own rounding
 *    4 BF covers the three.
 *  - embedding forward and the permutation's rows: exact (copies). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_ref.h"
#include "moeplan/backend.h"
#include "moeplan/run.h"

static mp_backend C, G;
static int failed, checked;


#define BF (1.0 / 256) /* 2^-8: one rounding to bf16 */

/* x rounded to the nearest bf16 (ties to even), as a float: the top 16
 * bits of its fp32 pattern after adding half an ulp of bf16. */
static float to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* A buffer on each backend with the same contents, bf16-exact: of the
 * backend's element type (mk), or fp32 (mk32, the [f32] arguments). */
typedef struct {
    void *c, *g;
    size_t n;
} pair;

static pair mk_kind(size_t n, unsigned seed, bool f32)
{
    pair p = {f32 ? C.ops->alloc_f32(&C, n) : C.ops->alloc(&C, n), f32 ? G.ops->alloc_f32(&G, n) : G.ops->alloc(&G, n),
              n};
    if (!p.c || !p.g) {
        fprintf(stderr, "out of memory: %s %s\n", C.err, G.err);
        exit(1);
    }
    float *h = calloc(n, sizeof *h);
    if (seed)
        mp_run_fill(h, n, seed);
    for (size_t i = 0; i < n; i++)
        h[i] = to_bf16(h[i]);
    C.ops->upload(&C, p.c, h, n);
    G.ops->upload(&G, p.g, h, n);
    free(h);
    return p;
}

static pair mk(size_t n, unsigned seed) { return mk_kind(n, seed, false); }
static pair mk32(size_t n, unsigned seed) { return mk_kind(n, seed, true); }

static void same(const char *what, pair p, double tol)
{
    float *a = malloc(p.n * sizeof *a), *b = malloc(p.n * sizeof *b);
    if (C.ops->download(&C, a, p.c, p.n) || G.ops->download(&G, b, p.g, p.n)) {
        checked++;
        failed++;
        printf("not ok - %s: download failed: %s %s\n", what, C.err, G.err);
        free(a);
        free(b);
        return;
    }
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < p.n; i++) {
        double s = fabs(a[i]) > 1 ? fabs(a[i]) : 1;
        if (!(fabs(a[i] - b[i]) <= tol * s) && !bad++)
            first = i;
    }
    checked++;
    if (bad) {
        failed++;
        printf("not ok - %s: %zu of %zu off, first [%zu] cpu %.9g cuda %.9g (tol %g)\n", what, bad, p.n, first,
               a[first], b[first], tol);
    } else {
        printf("ok - %s (%zu values within %g)\n", what, p.n, tol);
    }
    free(a);
    free(b);
}

static void same_int(const char *what, const int *c, const void *g, size_t n)
{
    int *b = malloc(n * sizeof *b);
    checked++;
    if (G.ops->download_int(&G, b, g, n) || memcmp(c, b, n * sizeof *b)) {
        failed++;
        printf("not ok - %s: differs\n", what);
    } else {
        printf("ok - %s (exact)\n", what);
    }
    free(b);
}

/* The host's copy of mk(n, seed)'s values. */
static float *host_values(size_t n, unsigned seed)
{
    float *h = calloc(n, sizeof *h);
    if (!h) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    mp_run_fill(h, n, seed);
    for (size_t i = 0; i < n; i++)
        h[i] = to_bf16(h[i]);
    return h;
}

static float *fetch(pair p)
{
    float *h = calloc(p.n, sizeof *h);
    if (!h || G.ops->download(&G, h, p.g, p.n)) {
        printf("not ok - download failed: %s\n", G.err);
        failed++;
        free(h);
        return NULL;
    }
    return h;
}

static void within(const char *what, int heads, int seq, int dim, pair p, const double *ref, const double *tol)
{
    float *got = fetch(p);
    checked++;
    if (!got) {
        failed++;
        return;
    }
    double worst;
    size_t at, bad = attn_ref_outside(p.n, got, ref, tol, &worst, &at);
    if (bad) {
        failed++;
        printf("not ok - %s, %d x %d x %d: %zu of %zu outside the bound; worst [%zu] %.7g, want %.7g +- %.3g\n", what,
               heads, seq, dim, bad, p.n, at, got[at], ref[at], tol[at]);
    } else
        printf("ok - %s, %d x %d x %d (worst %.2f of its bound)\n", what, heads, seq, dim, worst);
    free(got);
}

/* Flash attention (head dims 64 and 128) against the double-precision
 * reference, each value within its own bound (attn_ref.h derives them:
 * the roundings of P, dS and the result, and fp32 sums of at most 160
 * terms). */
static void flash_case(int heads, int seq, int dim)
{
    size_t n = (size_t)heads * seq * dim;
    pair q = mk(n, 21), k = mk(n, 22), v = mk(n, 23), g = mk(n, 24), o = mk(n, 0), lse = mk32((size_t)heads * seq, 0),
         dq = mk(n, 0), dk = mk(n, 0), dv = mk(n, 0);
    float *qh = host_values(n, 21), *kh = host_values(n, 22), *vh = host_values(n, 23), *gh = host_values(n, 24);
    if (G.ops->attention_fwd(&G, heads, seq, dim, q.g, k.g, v.g, o.g, lse.g) || G.ops->sync(&G)) {
        printf("not ok - flash attention forward %d x %d x %d: %s\n", heads, seq, dim, G.err);
        failed++, checked++;
        goto out;
    }
    float *oh = fetch(o);
    attn_ref r = {0};
    if (!oh || attn_ref_compute(&r, heads, seq, dim, qh, kh, vh, oh, gh)) {
        printf("not ok - flash attention reference %d x %d x %d\n", heads, seq, dim);
        failed++, checked++;
        free(oh);
        attn_ref_free(&r);
        goto out;
    }
    within("flash attention O", heads, seq, dim, o, r.o, r.o_tol);
    within("flash attention log-sum-exp (fp32)", heads, seq, dim, lse, r.lse, r.lse_tol);
    if (G.ops->attention_bwd(&G, heads, seq, dim, q.g, k.g, v.g, o.g, lse.g, g.g, dq.g, dk.g, dv.g) ||
        G.ops->sync(&G)) {
        printf("not ok - flash attention backward %d x %d x %d: %s\n", heads, seq, dim, G.err);
        failed++, checked++;
    } else {
        within("flash attention dQ", heads, seq, dim, dq, r.dq, r.dq_tol);
        within("flash attention dK", heads, seq, dim, dk, r.dk, r.dk_tol);
        within("flash attention dV", heads, seq, dim, dv, r.dv, r.dv_tol);
    }
    free(oh);
    attn_ref_free(&r);
out:
    free(qh), free(kh), free(vh), free(gh);
}

#define RUN(call_c, call_g)                                                                          \
    do {                                                                                             \
        if ((call_c) || (call_g)) {                                                                  \
            printf("not ok - %s: %s %s\n", #call_g, C.err, G.err);                                  \
            failed++;                                                                                \
        }                                                                                            \
        if (G.ops->sync(&G)) {                                                                       \
            printf("not ok - %s: the stream reported: %s\n", #call_g, G.err);                       \
            failed++;                                                                                \
        }                                                                                            \
    } while (0)

int main(void)
{
    char why[512];
    if (!mp_backend_open("cuda", &G, why, sizeof why)) {
        printf("skipped: the CUDA backend: %s\n", why);
        return 77;
    }
    mp_backend_open("cpu", &C, why, sizeof why);
    int m = 37, n = 29, k = 41;
    pair A = mk((size_t)m * k, 1), B = mk((size_t)k * n, 2), O = mk((size_t)m * n, 0);
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        RUN(C.ops->gemm(&C, ta, tb, m, n, k, A.c, B.c, O.c, 0), G.ops->gemm(&G, ta, tb, m, n, k, A.g, B.g, O.g, 0));
        char what[64];
        snprintf(what, sizeof what, "gemm 37x29x41 ta %d tb %d", ta, tb);
        same(what, O, BF + 1e-5);
    }
    int mg[3] = {5, 0, 11};
    pair GA = mk((size_t)16 * k, 3), GW = mk((size_t)3 * k * n, 4), GO = mk((size_t)16 * n, 0);
    RUN(C.ops->gemm_grouped(&C, 3, mg, n, k, GA.c, GW.c, GO.c), G.ops->gemm_grouped(&G, 3, mg, n, k, GA.g, GW.g, GO.g));
    same("grouped gemm 5, 0 (empty), 11 rows", GO, BF + 1e-5);
    int r = 7, c = 33;
    pair x = mk((size_t)r * c, 5), w = mk((size_t)c, 6), y = mk((size_t)r * c, 0), rs = mk32((size_t)r, 0),
         dy = mk((size_t)r * c, 7), dx = mk((size_t)r * c, 0), dw = mk32((size_t)c, 0);
    RUN(C.ops->rmsnorm_fwd(&C, r, c, x.c, w.c, y.c, rs.c), G.ops->rmsnorm_fwd(&G, r, c, x.g, w.g, y.g, rs.g));
    same("rmsnorm forward", y, BF + 1e-5);
    same("rmsnorm 1/rms (fp32)", rs, 1e-5);
    RUN(C.ops->rmsnorm_bwd(&C, r, c, x.c, w.c, rs.c, dy.c, dx.c, dw.c),
        G.ops->rmsnorm_bwd(&G, r, c, x.g, w.g, rs.g, dy.g, dx.g, dw.g));
    same("rmsnorm dx", dx, BF + 1e-5);
    same("rmsnorm dw (fp32)", dw, 1e-5);
    pair si = mk((size_t)2 * r * c, 8), so = mk((size_t)r * c, 0), sd = mk((size_t)2 * r * c, 0);
    RUN(C.ops->swiglu_fwd(&C, r, c, si.c, so.c), G.ops->swiglu_fwd(&G, r, c, si.g, so.g));
    same("swiglu forward", so, BF + 1e-5);
    RUN(C.ops->swiglu_bwd(&C, r, c, si.c, dy.c, sd.c), G.ops->swiglu_bwd(&G, r, c, si.g, dy.g, sd.g));
    same("swiglu backward", sd, BF + 1e-5);
    pair gi = mk((size_t)r * c, 21), go2 = mk((size_t)r * c, 0), gd = mk((size_t)r * c, 0);
    RUN(C.ops->gelu_fwd(&C, (size_t)r * c, gi.c, go2.c), G.ops->gelu_fwd(&G, (size_t)r * c, gi.g, go2.g));
    same("gelu forward", go2, BF + 1e-5);
    RUN(C.ops->gelu_bwd(&C, (size_t)r * c, gi.c, dy.c, gd.c), G.ops->gelu_bwd(&G, (size_t)r * c, gi.g, dy.g, gd.g));
    same("gelu backward", gd, BF + 1e-5);
    int ids[4] = {7, 0, 7, 10};
    int *idc = C.ops->alloc_int(&C, 4);
    void *idg = G.ops->alloc_int(&G, 4);
    C.ops->upload_int(&C, idc, ids, 4);
    G.ops->upload_int(&G, idg, ids, 4);
    pair tab = mk((size_t)11 * c, 22), eo = mk((size_t)4 * c, 0), edt = mk32((size_t)11 * c, 0);
    RUN(C.ops->embed_fwd(&C, 4, c, idc, tab.c, eo.c), G.ops->embed_fwd(&G, 4, c, idg, tab.g, eo.g));
    same("embedding forward", eo, 0);
    RUN(C.ops->embed_bwd(&C, 4, c, idc, eo.c, edt.c), G.ops->embed_bwd(&G, 4, c, idg, eo.g, edt.g));
    same("embedding backward (a repeated id; fp32)", edt, 1e-6);
    pair rp = mk((size_t)5 * 3 * 8, 23);
    RUN(C.ops->rope(&C, 5, 3, 8, 4, rp.c, false), G.ops->rope(&G, 5, 3, 8, 4, rp.g, false));
    same("rope", rp, BF + 1e-5);
    pair ad = mk((size_t)r * c, 0);
    RUN(C.ops->add(&C, (size_t)r * c, x.c, dy.c, ad.c), G.ops->add(&G, (size_t)r * c, x.g, dy.g, ad.g));
    same("add", ad, BF + 1e-6);
    /* Router: 19 tokens over 7 experts, top-2; ties in the first token. */
    int T = 19, E = 7, K = 2;
    pair lg = mk((size_t)T * E, 9), pr = mk32((size_t)T * K, 0);
    float tie[7] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
    C.ops->upload(&C, lg.c, tie, 7);
    G.ops->upload(&G, lg.g, tie, 7);
    int *ic = C.ops->alloc_int(&C, (size_t)T * K);
    void *ig = G.ops->alloc_int(&G, (size_t)T * K);
    RUN(C.ops->router_topk(&C, T, E, K, lg.c, pr.c, ic), G.ops->router_topk(&G, T, E, K, lg.g, pr.g, ig));
    same("router probabilities (fp32)", pr, 1e-5);
    same_int("router indices (ties to the lower expert)", ic, ig, (size_t)T * K);
    /* Permutation with those indices, dropless and at capacity 4. */
    int H = 5;
    pair px = mk((size_t)T * H, 10), po = mk((size_t)T * K * H, 0), uy = mk((size_t)T * H, 0);
    int *cnt_c = C.ops->alloc_int(&C, (size_t)E), *slot_c = C.ops->alloc_int(&C, (size_t)T * K);
    void *cnt_g = G.ops->alloc_int(&G, (size_t)E), *slot_g = G.ops->alloc_int(&G, (size_t)T * K);
    for (int cap = 0; cap <= 4; cap += 4) {
        RUN(C.ops->permute(&C, T, H, K, E, cap, ic, px.c, po.c, cnt_c, slot_c),
            G.ops->permute(&G, T, H, K, E, cap, ig, px.g, po.g, cnt_g, slot_g));
        same_int(cap ? "permute counts, capacity 4" : "permute counts, dropless", cnt_c, cnt_g, (size_t)E);
        same_int(cap ? "permute slots, capacity 4 (dropped: -1)" : "permute slots, dropless", slot_c, slot_g,
                 (size_t)T * K);
        same(cap ? "permuted rows, capacity 4" : "permuted rows, dropless", po, 0);
        RUN(C.ops->unpermute(&C, T, H, K, slot_c, pr.c, po.c, uy.c),
            G.ops->unpermute(&G, T, H, K, slot_g, pr.g, po.g, uy.g));
        same(cap ? "unpermute, capacity 4" : "unpermute, dropless", uy, BF + 1e-5);
    }
    /* Attention: 3 heads x 23 x 9. */
    int AH = 3, S = 23, D = 9;
    size_t an = (size_t)AH * S * D;
    pair q = mk(an, 11), kk = mk(an, 12), v = mk(an, 13), o = mk(an, 0), lse = mk32((size_t)AH * S, 0),
         go = mk(an, 14), dq = mk(an, 0), dk = mk(an, 0), dv = mk(an, 0);
    RUN(C.ops->attention_fwd(&C, AH, S, D, q.c, kk.c, v.c, o.c, lse.c),
        G.ops->attention_fwd(&G, AH, S, D, q.g, kk.g, v.g, o.g, lse.g));
    same("attention forward", o, 2 * BF);
    same("attention log-sum-exp (fp32)", lse, 1e-4);
    RUN(C.ops->attention_bwd(&C, AH, S, D, q.c, kk.c, v.c, o.c, lse.c, go.c, dq.c, dk.c, dv.c),
        G.ops->attention_bwd(&G, AH, S, D, q.g, kk.g, v.g, o.g, lse.g, go.g, dq.g, dk.g, dv.g));
    same("attention dq", dq, 4 * BF);
    same("attention dk", dk, 4 * BF);
    same("attention dv", dv, 4 * BF);
    /* Flash attention (dims 64, 128; D = 9 above is the materialised
     * path): tails on the 64-row tiles, and on the 32-row query tiles of
     * the backward at 128. */
    flash_case(2, 77, 64);
    flash_case(1, 130, 64);
    flash_case(2, 100, 128);
    /* Cross entropy 6 x 31, AdamW on 1001. */
    int R = 6, V = 31, tg[6] = {0, 30, 7, 7, 15, 29};
    pair l = mk((size_t)R * V, 15), loss = mk32((size_t)R, 0), dl = mk((size_t)R * V, 0);
    int *tc = C.ops->alloc_int(&C, 6);
    void *tgg = G.ops->alloc_int(&G, 6);
    C.ops->upload_int(&C, tc, tg, 6);
    G.ops->upload_int(&G, tgg, tg, 6);
    RUN(C.ops->cross_entropy(&C, R, V, l.c, tc, loss.c, dl.c), G.ops->cross_entropy(&G, R, V, l.g, tgg, loss.g, dl.g));
    same("cross-entropy loss (fp32)", loss, 1e-4);
    same("cross-entropy dlogits", dl, BF + 1e-5);
    size_t na = 1001;
    pair p = mk32(na, 16), g = mk32(na, 17), mm = mk32(na, 0), vv = mk32(na, 0);
    RUN(C.ops->adamw(&C, na, p.c, g.c, mm.c, vv.c, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1),
        G.ops->adamw(&G, na, p.g, g.g, mm.g, vv.g, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1));
    same("adamw parameters (fp32 master weights)", p, 1e-5);
    same("adamw first moment", mm, 1e-6);
    same("adamw second moment", vv, 1e-6);
    /* Larger shapes: grids of many blocks, rows wider than a block, and
     * both access paths of the elementwise kernels (16-byte vectors where
     * the count or width is a multiple of 8, with a tail, else one element
     * a thread).  100003 = 8 * 12500 + 3: the vector path and a 3-element
     * tail; 1024 and 1030 columns: vectors and scalars. */
    size_t big = 100003;
    pair bx = mk(big, 31), br = mk(big, 32), by = mk(big, 0);
    RUN(C.ops->add(&C, big, bx.c, br.c, by.c), G.ops->add(&G, big, bx.g, br.g, by.g));
    same("add, 100003 (vectors and a tail)", by, BF + 1e-6);
    RUN(C.ops->gelu_fwd(&C, big, bx.c, by.c), G.ops->gelu_fwd(&G, big, bx.g, by.g));
    same("gelu forward, 100003", by, BF + 1e-5);
    RUN(C.ops->gelu_bwd(&C, big, bx.c, br.c, by.c), G.ops->gelu_bwd(&G, big, bx.g, br.g, by.g));
    same("gelu backward, 100003", by, BF + 1e-5);
    for (int wc = 1024; wc <= 1030; wc += 6) {
        int wr = 37;
        pair sin2 = mk((size_t)2 * wr * wc, 33), sout = mk((size_t)wr * wc, 0), sdo = mk((size_t)wr * wc, 34),
             sdi = mk((size_t)2 * wr * wc, 0);
        char what[64];
        RUN(C.ops->swiglu_fwd(&C, wr, wc, sin2.c, sout.c), G.ops->swiglu_fwd(&G, wr, wc, sin2.g, sout.g));
        snprintf(what, sizeof what, "swiglu forward, 37 x %d", wc);
        same(what, sout, BF + 1e-5);
        RUN(C.ops->swiglu_bwd(&C, wr, wc, sin2.c, sdo.c, sdi.c), G.ops->swiglu_bwd(&G, wr, wc, sin2.g, sdo.g, sdi.g));
        snprintf(what, sizeof what, "swiglu backward, 37 x %d", wc);
        same(what, sdi, BF + 1e-5);
    }
    /* RMSNorm 600 x 1024 (600 rows: two rows a block in the backward) and
     * 3 x 4100 (wider than 16 x 256 columns: 512 threads a row). */
    for (int qq = 0; qq < 2; qq++) {
        int nr = qq ? 3 : 600, nc = qq ? 4100 : 1024;
        size_t ne = (size_t)nr * nc;
        pair nx = mk(ne, 35), nw = mk((size_t)nc, 36), ny = mk(ne, 0), nrs = mk32((size_t)nr, 0), ndy = mk(ne, 37),
             ndx = mk(ne, 0), ndw = mk32((size_t)nc, 0);
        char what[64];
        RUN(C.ops->rmsnorm_fwd(&C, nr, nc, nx.c, nw.c, ny.c, nrs.c),
            G.ops->rmsnorm_fwd(&G, nr, nc, nx.g, nw.g, ny.g, nrs.g));
        snprintf(what, sizeof what, "rmsnorm forward, %d x %d", nr, nc);
        same(what, ny, BF + 1e-5);
        RUN(C.ops->rmsnorm_bwd(&C, nr, nc, nx.c, nw.c, nrs.c, ndy.c, ndx.c, ndw.c),
            G.ops->rmsnorm_bwd(&G, nr, nc, nx.g, nw.g, nrs.g, ndy.g, ndx.g, ndw.g));
        snprintf(what, sizeof what, "rmsnorm dx, %d x %d", nr, nc);
        same(what, ndx, BF + 1e-5);
        /* dw sums nr fp32 terms x dy / rms, each below 0.5 * 0.5 * 3.5 = 0.87
         * (rms of uniform [-0.5, 0.5) values about 0.29), in another order
         * (blocks of two rows, atomics in any order).  Over 600 rows the
         * terms' magnitudes sum to about 130; a random walk of 600 roundings
         * of 2^-24 of that is sqrt(600) * 6e-8 * 130 = 1.9e-4 absolute,
         * against |dw| of about sqrt(600) * 0.3 = 7: 3e-5 relative, so 1e-4.
         * Over 3 rows, 1e-5. */
        snprintf(what, sizeof what, "rmsnorm dw (fp32), %d x %d", nr, nc);
        same(what, ndw, nr > 3 ? 1e-4 : 1e-5);
    }
    /* Routing 300 tokens of 1024 over 64 experts, top-2, from the router on
     * bf16-exact logits (the same indices on both), dropless and at
     * capacity 8 (overflowing: 600 copies over 64 experts). */
    int RT = 300, RH = 1024, RE = 64;
    pair rl = mk((size_t)RT * RE, 38), rpr = mk32((size_t)RT * 2, 0);
    int *ric = C.ops->alloc_int(&C, (size_t)RT * 2);
    void *rig = G.ops->alloc_int(&G, (size_t)RT * 2);
    RUN(C.ops->router_topk(&C, RT, RE, 2, rl.c, rpr.c, ric), G.ops->router_topk(&G, RT, RE, 2, rl.g, rpr.g, rig));
    same_int("router indices, 300 tokens over 64 experts", ric, rig, (size_t)RT * 2);
    pair rx = mk((size_t)RT * RH, 39), ro = mk((size_t)RT * 2 * RH, 0), ry = mk((size_t)RT * RH, 0);
    int *rcc = C.ops->alloc_int(&C, (size_t)RE), *rsc = C.ops->alloc_int(&C, (size_t)RT * 2);
    void *rcg = G.ops->alloc_int(&G, (size_t)RE), *rsg = G.ops->alloc_int(&G, (size_t)RT * 2);
    for (int cap = 0; cap <= 8; cap += 8) {
        RUN(C.ops->permute(&C, RT, RH, 2, RE, cap, ric, rx.c, ro.c, rcc, rsc),
            G.ops->permute(&G, RT, RH, 2, RE, cap, rig, rx.g, ro.g, rcg, rsg));
        same_int(cap ? "permute counts, 64 experts, capacity 8" : "permute counts, 64 experts", rcc, rcg, (size_t)RE);
        same_int(cap ? "permute slots, 64 experts, capacity 8" : "permute slots, 64 experts", rsc, rsg,
                 (size_t)RT * 2);
        same(cap ? "permuted rows of 1024, capacity 8" : "permuted rows of 1024", ro, 0);
        RUN(C.ops->unpermute(&C, RT, RH, 2, rsc, rpr.c, ro.c, ry.c),
            G.ops->unpermute(&G, RT, RH, 2, rsg, rpr.g, ro.g, ry.g));
        same(cap ? "unpermute, rows of 1024, capacity 8" : "unpermute, rows of 1024", ry, BF + 1e-5);
    }
    /* A product accumulated into C (beta 1): C = A B + C0, 130 x 70 x 260. */
    pair ga = mk((size_t)130 * 260, 40), gb = mk((size_t)260 * 70, 41), gc = mk((size_t)130 * 70, 42);
    RUN(C.ops->gemm(&C, false, false, 130, 70, 260, ga.c, gb.c, gc.c, 1.0f),
        G.ops->gemm(&G, false, false, 130, 70, 260, ga.g, gb.g, gc.g, 1.0f));
    same("gemm 130x70x260, beta 1", gc, BF + 1e-5);
    /* RoPE at positions up to 4999: the GPU's fp32 angle (t * theta^(-2i/d)
     * rounded: up to 2.4e-4 rad at 5000, fp32's ulp there is 4.9e-4) against
     * the CPU's double one, on values below 0.5: 1e-3 on top of BF. */
    pair rr = mk((size_t)5000 * 2 * 16, 43);
    RUN(C.ops->rope(&C, 5000, 2, 16, 8192, rr.c, false), G.ops->rope(&G, 5000, 2, 16, 8192, rr.g, false));
    same("rope, positions to 4999", rr, BF + 1e-3);
    /* AdamW's bias correction past the first step (t = 3). */
    RUN(C.ops->adamw(&C, na, p.c, g.c, mm.c, vv.c, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3),
        G.ops->adamw(&G, na, p.g, g.g, mm.g, vv.g, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3));
    same("adamw parameters, step 3", p, 1e-5);
    /* An empty expert (3 gets no copy) and an expert index out of range
     * (7 of 7 experts): the CUDA backend flags it on the device and
     * reports it at the next wait (backend.h). */
    int idx_e[8] = {0, 1, 2, 4, 5, 6, 0, 1};
    void *ie = G.ops->alloc_int(&G, 8), *ce = G.ops->alloc_int(&G, 7), *se = G.ops->alloc_int(&G, 8);
    int *ie_c = C.ops->alloc_int(&C, 8), *ce_c = C.ops->alloc_int(&C, 7), *se_c = C.ops->alloc_int(&C, 8);
    pair ex = mk((size_t)4 * H, 24), eout = mk((size_t)8 * H, 0);
    G.ops->upload_int(&G, ie, idx_e, 8);
    C.ops->upload_int(&C, ie_c, idx_e, 8);
    RUN(C.ops->permute(&C, 4, H, 2, 7, 0, ie_c, ex.c, eout.c, ce_c, se_c),
        G.ops->permute(&G, 4, H, 2, 7, 0, ie, ex.g, eout.g, ce, se));
    same_int("permute counts, an empty expert", ce_c, ce, 7);
    same_int("permute slots, an empty expert", se_c, se, 8);
    same("permuted rows, an empty expert", eout, 0);
    idx_e[5] = 7;
    G.ops->upload_int(&G, ie, idx_e, 8);
    int rc = G.ops->permute(&G, 4, H, 2, 7, 0, ie, ex.g, eout.g, ce, se);
    int rs_sync = G.ops->sync(&G);
    checked++;
    if ((rc || rs_sync) && strstr(G.err, "out of range")) {
        printf("ok - permute: an expert index out of range is reported (%s)\n", G.err);
    } else {
        failed++;
        printf("not ok - permute: expert index 7 of 7 not reported (rc %d, sync %d, err '%s')\n", rc, rs_sync, G.err);
    }
    if (G.ops->sync(&G)) {
        failed++;
        printf("not ok - the flag was not cleared after it was reported: %s\n", G.err);
    }
    int bad_tg[6] = {0, 30, 7, 31, 15, 29};
    G.ops->upload_int(&G, tgg, bad_tg, 6);
    rc = G.ops->cross_entropy(&G, R, V, l.g, tgg, loss.g, dl.g);
    rs_sync = G.ops->sync(&G);
    checked++;
    if ((rc || rs_sync) && strstr(G.err, "vocabulary")) {
        printf("ok - cross-entropy: a target outside the vocabulary is reported (%s)\n", G.err);
    } else {
        failed++;
        printf("not ok - cross-entropy: target 31 of 31 not reported (rc %d, sync %d, err '%s')\n", rc, rs_sync,
               G.err);
    }
    printf("%d checked, %d failed\n", checked, failed);
    mp_backend_close(&G);
    return failed ? 1 : 0;
}
