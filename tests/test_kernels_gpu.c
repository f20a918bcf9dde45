/* The CUDA backend's kernels against the CPU backend's (themselves checked
 * against double-precision references in test_kernels.c), on odd shapes;
 * integer paths (router indices, permutation slots, counts) exact.
 * Without a GPU, or in a build without CUDA, it says why and exits 77
 * (meson: skipped).
 *
 * Tolerances.  CUDA's GEMMs take bf16 operands (8 significant bits: each
 * rounding is within 2^-9 relative), accumulated in fp32: with inputs in
 * [-0.5, 0.5) a product term a b is off by at most 2 * 2^-9 * 0.25 =
 * 9.8e-4 and a sum of k terms by k times that: 0.04 at k = 41 (worst case;
 * random rounding gives about sqrt(k) of it).  The other kernels are fp32
 * on both sides but differ in summation order and in __expf (2 ulp): 1e-4
 * of max(|x|, 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/backend.h"
#include "moeplan/run.h"

static mp_backend C, G;
static int failed, checked;


/* A buffer on each backend with the same contents. */
typedef struct {
    void *c, *g;
    size_t n;
} pair;

static pair mk(size_t n, unsigned seed)
{
    pair p = {C.ops->alloc(&C, n), G.ops->alloc(&G, n), n};
    if (!p.c || !p.g) {
        fprintf(stderr, "out of memory: %s %s\n", C.err, G.err);
        exit(1);
    }
    float *h = calloc(n, sizeof *h);
    if (seed)
        mp_run_fill(h, n, seed);
    C.ops->upload(&C, p.c, h, n);
    G.ops->upload(&G, p.g, h, n);
    free(h);
    return p;
}

static void same(const char *what, pair p, double tol)
{
    float *a = malloc(p.n * sizeof *a), *b = malloc(p.n * sizeof *b);
    C.ops->download(&C, a, p.c, p.n);
    G.ops->download(&G, b, p.g, p.n);
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
    G.ops->download_int(&G, b, g, n);
    checked++;
    if (memcmp(c, b, n * sizeof *b)) {
        failed++;
        printf("not ok - %s: differs\n", what);
    } else {
        printf("ok - %s (exact)\n", what);
    }
    free(b);
}

#define RUN(call_c, call_g)                                                                          \
    do {                                                                                             \
        if ((call_c) || (call_g)) {                                                                  \
            printf("not ok - %s: %s %s\n", #call_g, C.err, G.err);                                  \
            failed++;                                                                                \
        }                                                                                            \
        G.ops->sync(&G);                                                                             \
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
        same(what, O, k * 2 * 0.25 / 512);
    }
    int mg[3] = {5, 0, 11};
    pair GA = mk((size_t)16 * k, 3), GW = mk((size_t)3 * k * n, 4), GO = mk((size_t)16 * n, 0);
    RUN(C.ops->gemm_grouped(&C, 3, mg, n, k, GA.c, GW.c, GO.c), G.ops->gemm_grouped(&G, 3, mg, n, k, GA.g, GW.g, GO.g));
    same("grouped gemm 5, 0 (empty), 11 rows", GO, k * 2 * 0.25 / 512);
    int r = 7, c = 33;
    pair x = mk((size_t)r * c, 5), w = mk((size_t)c, 6), y = mk((size_t)r * c, 0), rs = mk((size_t)r, 0),
         dy = mk((size_t)r * c, 7), dx = mk((size_t)r * c, 0), dw = mk((size_t)c, 0);
    RUN(C.ops->rmsnorm_fwd(&C, r, c, x.c, w.c, y.c, rs.c), G.ops->rmsnorm_fwd(&G, r, c, x.g, w.g, y.g, rs.g));
    same("rmsnorm forward", y, 1e-4);
    RUN(C.ops->rmsnorm_bwd(&C, r, c, x.c, w.c, rs.c, dy.c, dx.c, dw.c),
        G.ops->rmsnorm_bwd(&G, r, c, x.g, w.g, rs.g, dy.g, dx.g, dw.g));
    same("rmsnorm dx", dx, 1e-4);
    same("rmsnorm dw", dw, 1e-4);
    pair si = mk((size_t)2 * r * c, 8), so = mk((size_t)r * c, 0), sd = mk((size_t)2 * r * c, 0);
    RUN(C.ops->swiglu_fwd(&C, r, c, si.c, so.c), G.ops->swiglu_fwd(&G, r, c, si.g, so.g));
    same("swiglu forward", so, 1e-4);
    RUN(C.ops->swiglu_bwd(&C, r, c, si.c, dy.c, sd.c), G.ops->swiglu_bwd(&G, r, c, si.g, dy.g, sd.g));
    same("swiglu backward", sd, 1e-4);
    pair gi = mk((size_t)r * c, 21), go2 = mk((size_t)r * c, 0), gd = mk((size_t)r * c, 0);
    RUN(C.ops->gelu_fwd(&C, (size_t)r * c, gi.c, go2.c), G.ops->gelu_fwd(&G, (size_t)r * c, gi.g, go2.g));
    same("gelu forward", go2, 1e-4);
    RUN(C.ops->gelu_bwd(&C, (size_t)r * c, gi.c, dy.c, gd.c), G.ops->gelu_bwd(&G, (size_t)r * c, gi.g, dy.g, gd.g));
    same("gelu backward", gd, 1e-4);
    int ids[4] = {7, 0, 7, 10};
    int *idc = C.ops->alloc_int(&C, 4);
    void *idg = G.ops->alloc_int(&G, 4);
    C.ops->upload_int(&C, idc, ids, 4);
    G.ops->upload_int(&G, idg, ids, 4);
    pair tab = mk((size_t)11 * c, 22), eo = mk((size_t)4 * c, 0), edt = mk((size_t)11 * c, 0);
    RUN(C.ops->embed_fwd(&C, 4, c, idc, tab.c, eo.c), G.ops->embed_fwd(&G, 4, c, idg, tab.g, eo.g));
    same("embedding forward", eo, 0);
    RUN(C.ops->embed_bwd(&C, 4, c, idc, eo.c, edt.c), G.ops->embed_bwd(&G, 4, c, idg, eo.g, edt.g));
    same("embedding backward (a repeated id)", edt, 1e-6);
    pair rp = mk((size_t)5 * 3 * 8, 23);
    RUN(C.ops->rope(&C, 5, 3, 8, 4, rp.c, false), G.ops->rope(&G, 5, 3, 8, 4, rp.g, false));
    same("rope", rp, 1e-5);
    pair ad = mk((size_t)r * c, 0);
    RUN(C.ops->add(&C, (size_t)r * c, x.c, dy.c, ad.c), G.ops->add(&G, (size_t)r * c, x.g, dy.g, ad.g));
    same("add", ad, 1e-6);
    /* Router: 19 tokens over 7 experts, top-2; ties in the first token. */
    int T = 19, E = 7, K = 2;
    pair lg = mk((size_t)T * E, 9), pr = mk((size_t)T * K, 0);
    float tie[7] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
    C.ops->upload(&C, lg.c, tie, 7);
    G.ops->upload(&G, lg.g, tie, 7);
    int *ic = C.ops->alloc_int(&C, (size_t)T * K);
    void *ig = G.ops->alloc_int(&G, (size_t)T * K);
    RUN(C.ops->router_topk(&C, T, E, K, lg.c, pr.c, ic), G.ops->router_topk(&G, T, E, K, lg.g, pr.g, ig));
    same("router probabilities", pr, 1e-5);
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
        same(cap ? "unpermute, capacity 4" : "unpermute, dropless", uy, 1e-5);
    }
    /* Attention: 3 heads x 23 x 9. */
    int AH = 3, S = 23, D = 9;
    size_t an = (size_t)AH * S * D;
    pair q = mk(an, 11), kk = mk(an, 12), v = mk(an, 13), o = mk(an, 0), lse = mk((size_t)AH * S, 0),
         go = mk(an, 14), dq = mk(an, 0), dk = mk(an, 0), dv = mk(an, 0);
    RUN(C.ops->attention_fwd(&C, AH, S, D, q.c, kk.c, v.c, o.c, lse.c),
        G.ops->attention_fwd(&G, AH, S, D, q.g, kk.g, v.g, o.g, lse.g));
    same("attention forward", o, 1e-4);
    same("attention log-sum-exp", lse, 1e-4);
    RUN(C.ops->attention_bwd(&C, AH, S, D, q.c, kk.c, v.c, o.c, lse.c, go.c, dq.c, dk.c, dv.c),
        G.ops->attention_bwd(&G, AH, S, D, q.g, kk.g, v.g, o.g, lse.g, go.g, dq.g, dk.g, dv.g));
    same("attention dq", dq, 1e-4);
    same("attention dk", dk, 1e-4);
    same("attention dv", dv, 1e-4);
    /* Cross entropy 6 x 31, AdamW on 1001. */
    int R = 6, V = 31, tg[6] = {0, 30, 7, 7, 15, 29};
    pair l = mk((size_t)R * V, 15), loss = mk((size_t)R, 0), dl = mk((size_t)R * V, 0);
    int *tc = C.ops->alloc_int(&C, 6);
    void *tgg = G.ops->alloc_int(&G, 6);
    C.ops->upload_int(&C, tc, tg, 6);
    G.ops->upload_int(&G, tgg, tg, 6);
    RUN(C.ops->cross_entropy(&C, R, V, l.c, tc, loss.c, dl.c), G.ops->cross_entropy(&G, R, V, l.g, tgg, loss.g, dl.g));
    same("cross-entropy loss", loss, 1e-4);
    same("cross-entropy dlogits", dl, 1e-4);
    size_t na = 1001;
    pair p = mk(na, 16), g = mk(na, 17), mm = mk(na, 0), vv = mk(na, 0);
    RUN(C.ops->adamw(&C, na, p.c, g.c, mm.c, vv.c, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1),
        G.ops->adamw(&G, na, p.g, g.g, mm.g, vv.g, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1));
    same("adamw parameters", p, 1e-5);
    printf("%d checked, %d failed\n", checked, failed);
    mp_backend_close(&G);
    return failed ? 1 : 0;
}
