/* The CPU backend's kernels against plain-C references in double precision,
 * on odd shapes (tails on every dimension), top-k ties, an empty expert and
 * capacity overflow; backward kernels also against central finite
 * differences of their forward.
 *
 * Tolerances.  The kernels compute in fp32 (unit roundoff u = 2^-24 =
 * 6.0e-8).  A dot product of length n accumulated in fp32 has a worst-case
 * relative error of about n u (Higham, "Accuracy and Stability of Numerical
 * Algorithms", eq. 3.5) times the sum of |terms|.  Here n <= 41 and the
 * inputs lie in [-0.5, 0.5), so each term is at most 0.25 and their sum at
 * most 10.25: 41 * 6.0e-8 * 10.25 = 2.5e-5.  GEMM and attention outputs are
 * checked to 1e-4 (of max(|want|, 1)): 4x that bound, leaving room for the
 * softmax's exp, a few ulps.  Elementwise kernels (add, SwiGLU, RMSNorm,
 * AdamW, cross entropy) do a few fp32 operations per element, or a row sum
 * of <= 33 terms: 1e-5.  The
 * finite-difference checks use h = 1e-2 on fp32 forwards: truncation
 * O(h^2) = 1e-4 times the third derivative, rounding u / h ~ 6e-6 times
 * the output's magnitude: checked to 2e-3.  Integer paths (top-k indices,
 * permutation slots, token counts) are exact. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/backend.h"
#include "moeplan/measure.h"
#include "moeplan/model.h"
#include "moeplan/run.h"
#include "moeplan/workload.h"

#include "check_main.h"

static mp_backend B;

static void setup(void)
{
    char why[256];
    ck_assert_msg(mp_backend_open("cpu", &B, why, sizeof why), "%s", why);
}

static void teardown(void)
{
    mp_backend_close(&B);
}


/* The CPU backend's buffers are host floats: kernels take them directly. */
static float *fbuf(size_t n, unsigned seed)
{
    float *p = B.ops->alloc(&B, n);
    ck_assert_ptr_nonnull(p);
    if (seed)
        mp_run_fill(p, n, seed);
    return p;
}

static void rel(float got, double want, double tol, const char *what, size_t i)
{
    double d = fabs(got - want), s = fabs(want) > 1 ? fabs(want) : 1;
    ck_assert_msg(d <= tol * s, "%s[%zu]: %.9g, want %.9g (tol %g)", what, i, got, want, tol);
}

/* C = op(A) op(B) on 37 x 29 x 41 (odd, no dimension a multiple of 4), all
 * four transpose cases, beta 0 and 1. */
START_TEST(test_gemm)
{
    int m = 37, n = 29, k = 41;
    float *A = fbuf((size_t)m * k, 1), *Bm = fbuf((size_t)k * n, 2), *C = fbuf((size_t)m * n, 3);
    float *C0 = malloc((size_t)m * n * sizeof *C0);
    memcpy(C0, C, (size_t)m * n * sizeof *C0);
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        float beta = t == 3 ? 1.0f : 0.0f;
        memcpy(C, C0, (size_t)m * n * sizeof *C);
        ck_assert_int_eq(B.ops->gemm(&B, ta, tb, m, n, k, A, Bm, C, beta), 0);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = beta * C0[(size_t)i * n + j];
                for (int q = 0; q < k; q++)
                    s += (double)(ta ? A[(size_t)q * m + i] : A[(size_t)i * k + q]) *
                         (tb ? Bm[(size_t)j * k + q] : Bm[(size_t)q * n + j]);
                rel(C[(size_t)i * n + j], s, 1e-4, "gemm", (size_t)i * n + j);
            }
    }
    free(C0);
    B.ops->release(&B, A);
    B.ops->release(&B, Bm);
    B.ops->release(&B, C);
}
END_TEST

/* Grouped: 3 groups of 5, 0 (an empty expert) and 11 rows. */
START_TEST(test_gemm_grouped)
{
    int mg[3] = {5, 0, 11}, n = 7, k = 13, rows = 16;
    float *A = fbuf((size_t)rows * k, 4), *W = fbuf((size_t)3 * k * n, 5), *C = fbuf((size_t)rows * n, 0);
    ck_assert_int_eq(B.ops->gemm_grouped(&B, 3, mg, n, k, A, W, C), 0);
    int row = 0;
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < mg[g]; i++, row++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int q = 0; q < k; q++)
                    s += (double)A[(size_t)row * k + q] * W[(size_t)g * k * n + (size_t)q * n + j];
                rel(C[(size_t)row * n + j], s, 1e-4, "grouped", (size_t)row * n + j);
            }
    B.ops->release(&B, A);
    B.ops->release(&B, W);
    B.ops->release(&B, C);
}
END_TEST

/* RMSNorm over 7 rows of 33: forward against the formula; backward against
 * central differences of L = sum(y * g) in x and in w. */
START_TEST(test_rmsnorm)
{
    int r = 7, c = 33;
    size_t n = (size_t)r * c;
    float *x = fbuf(n, 6), *w = fbuf((size_t)c, 7), *y = fbuf(n, 0), *rs = fbuf((size_t)r, 0), *g = fbuf(n, 8);
    float *dx = fbuf(n, 0), *dw = fbuf((size_t)c, 0);
    ck_assert_int_eq(B.ops->rmsnorm_fwd(&B, r, c, x, w, y, rs), 0);
    for (int i = 0; i < r; i++) {
        double ss = 0;
        for (int j = 0; j < c; j++)
            ss += (double)x[(size_t)i * c + j] * x[(size_t)i * c + j];
        double s = 1 / sqrt(ss / c + 1e-6);
        for (int j = 0; j < c; j++)
            rel(y[(size_t)i * c + j], x[(size_t)i * c + j] * s * w[j], 1e-5, "rmsnorm", (size_t)i * c + j);
    }
    ck_assert_int_eq(B.ops->rmsnorm_bwd(&B, r, c, x, w, rs, g, dx, dw), 0);
    float *yp = fbuf(n, 0), *rp = fbuf((size_t)r, 0);
    const float h = 1e-2f;
    for (size_t i = 0; i < n; i += 5) { /* every fifth input */
        float keep = x[i];
        double L[2];
        for (int s = 0; s < 2; s++) {
            x[i] = keep + (s ? h : -h);
            B.ops->rmsnorm_fwd(&B, r, c, x, w, yp, rp);
            L[s] = 0;
            for (size_t q = 0; q < n; q++)
                L[s] += (double)yp[q] * g[q];
        }
        x[i] = keep;
        rel(dx[i], (L[1] - L[0]) / (2 * h), 2e-3, "rmsnorm dx", i);
    }
    for (int j = 0; j < c; j += 4) {
        float keep = w[j];
        double L[2];
        for (int s = 0; s < 2; s++) {
            w[j] = keep + (s ? h : -h);
            B.ops->rmsnorm_fwd(&B, r, c, x, w, yp, rp);
            L[s] = 0;
            for (size_t q = 0; q < n; q++)
                L[s] += (double)yp[q] * g[q];
        }
        w[j] = keep;
        rel(dw[j], (L[1] - L[0]) / (2 * h), 2e-3, "rmsnorm dw", (size_t)j);
    }
    float *all[] = {x, w, y, rs, g, dx, dw, yp, rp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        B.ops->release(&B, all[i]);
}
END_TEST

/* SwiGLU on 5 rows of 19: out = silu(g) u; backward by differences. */
START_TEST(test_swiglu)
{
    int r = 5, c = 19;
    size_t n = (size_t)r * c;
    float *in = fbuf(2 * n, 9), *out = fbuf(n, 0), *d = fbuf(n, 10), *din = fbuf(2 * n, 0), *op = fbuf(n, 0);
    ck_assert_int_eq(B.ops->swiglu_fwd(&B, r, c, in, out), 0);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double gv = in[(size_t)i * 2 * c + j], u = in[(size_t)i * 2 * c + c + j];
            rel(out[(size_t)i * c + j], gv / (1 + exp(-gv)) * u, 1e-5, "swiglu", (size_t)i * c + j);
        }
    ck_assert_int_eq(B.ops->swiglu_bwd(&B, r, c, in, d, din), 0);
    const float h = 1e-2f;
    for (size_t i = 0; i < 2 * n; i += 3) {
        float keep = in[i];
        double L[2];
        for (int s = 0; s < 2; s++) {
            in[i] = keep + (s ? h : -h);
            B.ops->swiglu_fwd(&B, r, c, in, op);
            L[s] = 0;
            for (size_t q = 0; q < n; q++)
                L[s] += (double)op[q] * d[q];
        }
        in[i] = keep;
        rel(din[i], (L[1] - L[0]) / (2 * h), 2e-3, "swiglu din", i);
    }
    float *all[] = {in, out, d, din, op};
    for (size_t i = 0; i < 5; i++)
        B.ops->release(&B, all[i]);
}
END_TEST

/* GELU (tanh form) against the formula in double, its backward against
 * differences; x = 0 gives 0 and slope 1/2. */
START_TEST(test_gelu)
{
    size_t n = 101;
    float *x = fbuf(n, 18), *y = fbuf(n, 0), *d = fbuf(n, 19), *dx = fbuf(n, 0), *yp = fbuf(n, 0);
    for (size_t i = 0; i < n; i++)
        x[i] *= 8; /* [-4, 4): both tails */
    x[0] = 0;
    ck_assert_int_eq(B.ops->gelu_fwd(&B, n, x, y), 0);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        rel(y[i], 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), 1e-5, "gelu", i);
    }
    ck_assert_int_eq(B.ops->gelu_bwd(&B, n, x, d, dx), 0);
    rel(dx[0], 0.5 * d[0], 1e-6, "gelu'(0)", 0);
    const float h = 1e-2f;
    for (size_t i = 0; i < n; i += 3) {
        float keep = x[i];
        double L[2];
        for (int s = 0; s < 2; s++) {
            x[i] = keep + (s ? h : -h);
            B.ops->gelu_fwd(&B, n, x, yp);
            L[s] = 0;
            for (size_t q = 0; q < n; q++)
                L[s] += (double)yp[q] * d[q];
        }
        x[i] = keep;
        rel(dx[i], (L[1] - L[0]) / (2 * h), 2e-3, "gelu dx", i);
    }
    float *all[] = {x, y, d, dx, yp};
    for (size_t i = 0; i < 5; i++)
        B.ops->release(&B, all[i]);
}
END_TEST

/* Embedding: rows gathered exactly; the backward adds a token's gradient
 * to its row, twice for an id that appears twice. */
START_TEST(test_embedding)
{
    int V = 11, H = 3, T = 4, ids[4] = {7, 0, 7, 10};
    float *tab = fbuf((size_t)V * H, 20), *out = fbuf((size_t)T * H, 0), *dt = fbuf((size_t)V * H, 0);
    ck_assert_int_eq(B.ops->embed_fwd(&B, T, H, ids, tab, out), 0);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            ck_assert(out[t * H + h] == tab[ids[t] * H + h]);
    ck_assert_int_eq(B.ops->embed_bwd(&B, T, H, ids, out, dt), 0);
    for (int h = 0; h < H; h++) {
        rel(dt[7 * H + h], 2.0 * tab[7 * H + h], 1e-6, "dtable[7]", (size_t)h);
        rel(dt[0 * H + h], tab[0 * H + h], 1e-6, "dtable[0]", (size_t)h);
        ck_assert(dt[3 * H + h] == 0);
    }
    B.ops->release(&B, tab);
    B.ops->release(&B, out);
    B.ops->release(&B, dt);
}
END_TEST

/* RoPE on 5 rows x 3 heads x 8 (seq 4, so row 4 is position 0): row 1,
 * pair 0 is rotated by 1 rad (theta^0): (a, b) -> (a cos 1 - b sin 1,
 * a sin 1 + b cos 1); position 0 is unchanged; the backward undoes the
 * forward. */
START_TEST(test_rope)
{
    int R = 5, Hh = 3, D = 8, S = 4;
    size_t n = (size_t)R * Hh * D;
    float *x = fbuf(n, 21), *x0 = malloc(n * sizeof *x0);
    memcpy(x0, x, n * sizeof *x0);
    ck_assert_int_eq(B.ops->rope(&B, R, Hh, D, S, x, false), 0);
    size_t r1 = (size_t)1 * Hh * D; /* row 1, head 0 */
    rel(x[r1], x0[r1] * cos(1.0) - x0[r1 + 4] * sin(1.0), 1e-6, "rope", r1);
    rel(x[r1 + 4], x0[r1] * sin(1.0) + x0[r1 + 4] * cos(1.0), 1e-6, "rope", r1 + 4);
    size_t r4 = (size_t)4 * Hh * D;
    for (int i = 0; i < Hh * D; i++)
        rel(x[r4 + i], x0[r4 + i], 1e-7, "rope position 0", r4 + i);
    ck_assert_int_eq(B.ops->rope(&B, R, Hh, D, S, x, true), 0);
    for (size_t i = 0; i < n; i++)
        rel(x[i], x0[i], 1e-6, "rope back", i);
    free(x0);
    B.ops->release(&B, x);
}
END_TEST

/* Router: ties go to the lower expert.  Token 0: logits all equal over 5
 * experts -> top-2 are experts 0 and 1 at 0.5 each after renormalising;
 * token 1: logits (0, 3, 3, 1, 0) -> experts 1 and 2 (tie, lower first),
 * 0.5 each; token 2: (2, 0, 0, 0, ln 2 + 2) -> expert 4 (p ratio 2:1 to
 * expert 0), then 0: probabilities 2/3 and 1/3. */
START_TEST(test_router)
{
    float logits[15] = {1, 1, 1, 1, 1, 0, 3, 3, 1, 0, 2, 0, 0, 0, (float)(log(2.0) + 2)};
    float probs[6];
    int idx[6];
    ck_assert_int_eq(B.ops->router_topk(&B, 3, 5, 2, logits, probs, idx), 0);
    const int want[6] = {0, 1, 1, 2, 4, 0};
    const double wp[6] = {0.5, 0.5, 0.5, 0.5, 2.0 / 3, 1.0 / 3};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(idx[i], want[i]);
        rel(probs[i], wp[i], 1e-6, "router p", (size_t)i);
    }
}
END_TEST

/* Permutation: 5 tokens, top-2 over 3 experts, hidden 3.  Copies in token
 * order: t0 -> e2, e0; t1 -> e2, e2... (a token's two choices are distinct
 * in practice, but the kernel does not need them to be); expert 1 gets
 * nothing (empty).  Dropless: counts (3, 0, 7); with capacity 2: (2, 0, 2),
 * the later copies dropped (slot -1), in token order. */
START_TEST(test_permute)
{
    int idx[10] = {2, 0, 2, 2, 0, 2, 2, 0, 2, 2};
    float x[15], out[30], y[15], probs[10];
    for (int i = 0; i < 15; i++)
        x[i] = (float)i;
    for (int i = 0; i < 10; i++)
        probs[i] = 1.0f / (1 + i % 2); /* 1, 0.5, ... */
    int counts[3], slot[10];
    ck_assert_int_eq(B.ops->permute(&B, 5, 3, 2, 3, 0, idx, x, out, counts, slot), 0);
    ck_assert_int_eq(counts[0], 3);
    ck_assert_int_eq(counts[1], 0);
    ck_assert_int_eq(counts[2], 7);
    /* Expert 0's rows first: copies 1, 4, 7 (tokens 0, 2, 3), then expert
     * 2's: copies 0, 2, 3, 5, 6, 8, 9. */
    const int want_slot[10] = {3, 0, 4, 5, 1, 6, 7, 2, 8, 9};
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(slot[i], want_slot[i]);
        for (int hcol = 0; hcol < 3; hcol++)
            ck_assert(out[slot[i] * 3 + hcol] == x[(i / 2) * 3 + hcol]);
    }
    /* Unpermute: y[t] = sum_j p[t,j] in[slot] = x[t] (1 + 0.5). */
    ck_assert_int_eq(B.ops->unpermute(&B, 5, 3, 2, slot, probs, out, y), 0);
    for (int i = 0; i < 15; i++)
        rel(y[i], 1.5 * x[i], 1e-6, "unpermute", (size_t)i);
    /* Capacity 2: expert 0 keeps copies 1 and 4, expert 2 copies 0 and 2. */
    ck_assert_int_eq(B.ops->permute(&B, 5, 3, 2, 3, 2, idx, x, out, counts, slot), 0);
    ck_assert_int_eq(counts[0], 2);
    ck_assert_int_eq(counts[1], 0);
    ck_assert_int_eq(counts[2], 2);
    const int want_cap[10] = {2, 0, 3, -1, 1, -1, -1, -1, -1, -1};
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(slot[i], want_cap[i]);
    /* A dropped copy contributes nothing: token 2 keeps its expert-0 copy
     * (copy 4, p 1) and loses copy 5 (p 0.5): y = x; token 3 loses both. */
    ck_assert_int_eq(B.ops->unpermute(&B, 5, 3, 2, slot, probs, out, y), 0);
    for (int hcol = 0; hcol < 3; hcol++) {
        rel(y[2 * 3 + hcol], x[2 * 3 + hcol], 1e-6, "unpermute dropped", (size_t)hcol);
        ck_assert(y[3 * 3 + hcol] == 0);
    }
    /* An expert index out of range is an error naming the op. */
    idx[3] = 7;
    ck_assert_int_eq(B.ops->permute(&B, 5, 3, 2, 3, 0, idx, x, out, counts, slot), -1);
    ck_assert_ptr_nonnull(strstr(B.err, "permute"));
}
END_TEST

/* Causal attention, 3 heads x 23 positions x 9 dims, against a double
 * reference; backward against differences of L = sum(o * g). */
START_TEST(test_attention)
{
    int H = 3, S = 23, D = 9;
    size_t n = (size_t)H * S * D;
    float *q = fbuf(n, 11), *k = fbuf(n, 12), *v = fbuf(n, 13), *o = fbuf(n, 0), *lse = fbuf((size_t)H * S, 0);
    float *g = fbuf(n, 14), *dq = fbuf(n, 0), *dk = fbuf(n, 0), *dv = fbuf(n, 0), *op = fbuf(n, 0),
          *lp = fbuf((size_t)H * S, 0);
    ck_assert_int_eq(B.ops->attention_fwd(&B, H, S, D, q, k, v, o, lse), 0);
    double sc = 1 / sqrt((double)D);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < S; i++) {
            double w[64], mx = -1e300, sum = 0;
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int d = 0; d < D; d++)
                    s += (double)q[((size_t)h * S + i) * D + d] * k[((size_t)h * S + j) * D + d];
                w[j] = s * sc;
                mx = w[j] > mx ? w[j] : mx;
            }
            for (int j = 0; j <= i; j++)
                sum += w[j] = exp(w[j] - mx);
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int j = 0; j <= i; j++)
                    acc += w[j] / sum * v[((size_t)h * S + j) * D + d];
                rel(o[((size_t)h * S + i) * D + d], acc, 1e-4, "attention", ((size_t)h * S + i) * D + d);
            }
        }
    ck_assert_int_eq(B.ops->attention_bwd(&B, H, S, D, q, k, v, o, lse, g, dq, dk, dv), 0);
    float *ins[3] = {q, k, v}, *grads[3] = {dq, dk, dv};
    const float hh = 1e-2f;
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < n; i += 17) {
            float keep = ins[t][i];
            double L[2];
            for (int s = 0; s < 2; s++) {
                ins[t][i] = keep + (s ? hh : -hh);
                B.ops->attention_fwd(&B, H, S, D, q, k, v, op, lp);
                L[s] = 0;
                for (size_t z = 0; z < n; z++)
                    L[s] += (double)op[z] * g[z];
            }
            ins[t][i] = keep;
            rel(grads[t][i], (L[1] - L[0]) / (2 * hh), 2e-3, t == 0 ? "dq" : t == 1 ? "dk" : "dv", i);
        }
    float *all[] = {q, k, v, o, lse, g, dq, dk, dv, op, lp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        B.ops->release(&B, all[i]);
}
END_TEST

/* Cross entropy over 6 rows of 31: loss = logsumexp - logit[target];
 * dlogits = (softmax - onehot) / rows, checked against differences of the
 * mean loss. */
START_TEST(test_cross_entropy)
{
    int r = 6, V = 31;
    size_t n = (size_t)r * V;
    float *l = fbuf(n, 15), *loss = fbuf((size_t)r, 0), *d = fbuf(n, 0), *lp = fbuf((size_t)r, 0),
          *dp = fbuf(n, 0);
    int tgt[6] = {0, 30, 7, 7, 15, 29};
    ck_assert_int_eq(B.ops->cross_entropy(&B, r, V, l, tgt, loss, d), 0);
    for (int i = 0; i < r; i++) {
        double mx = -1e300, s = 0;
        for (int c = 0; c < V; c++)
            mx = l[(size_t)i * V + c] > mx ? l[(size_t)i * V + c] : mx;
        for (int c = 0; c < V; c++)
            s += exp(l[(size_t)i * V + c] - mx);
        rel(loss[i], log(s) + mx - l[(size_t)i * V + tgt[i]], 1e-5, "loss", (size_t)i);
    }
    const float h = 1e-2f;
    for (size_t i = 0; i < n; i += 7) {
        float keep = l[i];
        double L[2];
        for (int s = 0; s < 2; s++) {
            l[i] = keep + (s ? h : -h);
            B.ops->cross_entropy(&B, r, V, l, tgt, lp, dp);
            L[s] = 0;
            for (int q = 0; q < r; q++)
                L[s] += lp[q] / r;
        }
        l[i] = keep;
        rel(d[i], (L[1] - L[0]) / (2 * h), 2e-3, "dlogits", i);
    }
    int bad[6] = {0, 31, 0, 0, 0, 0};
    ck_assert_int_eq(B.ops->cross_entropy(&B, r, V, l, bad, loss, d), -1);
    ck_assert_ptr_nonnull(strstr(B.err, "target 31"));
    float *all[] = {l, loss, d, lp, dp};
    for (size_t i = 0; i < 5; i++)
        B.ops->release(&B, all[i]);
}
END_TEST

/* AdamW's first step (t = 1): m = (1-b1) g, v = (1-b2) g^2, the bias
 * corrections make m^ = g, v^ = g^2, so p <- p (1 - lr wd) - lr g / (|g| + eps):
 * with lr 0.1, wd 0.01, p 1, g 0.5: 0.999 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899. */
START_TEST(test_adamw)
{
    float p[3] = {1, 1, -2}, g[3] = {0.5f, -0.25f, 0}, m[3] = {0}, v[3] = {0};
    ck_assert_int_eq(B.ops->adamw(&B, 3, p, g, m, v, 0.1f, 0.9f, 0.95f, 1e-8f, 0.01f, 1), 0);
    rel(p[0], 0.999 - 0.1, 1e-6, "adamw", 0);
    rel(p[1], 0.999 + 0.1, 1e-6, "adamw", 1);
    rel(p[2], -2 * 0.999, 1e-6, "adamw", 2); /* no gradient: decay only */
    rel(m[0], 0.05, 1e-6, "m", 0);
    rel(v[0], 0.05 * 0.25, 1e-6, "v", 0);
}
END_TEST

/* add and copy, odd length; the high-water mark counts bytes held at once. */
START_TEST(test_add_copy_memory)
{
    size_t n = 1001;
    size_t before = B.ops->high_water_bytes(&B);
    float *x = fbuf(n, 16), *r = fbuf(n, 17), *y = fbuf(n, 0), *z = fbuf(n, 0);
    ck_assert_int_eq(B.ops->add(&B, n, x, r, y), 0);
    ck_assert_int_eq(B.ops->copy(&B, z, y, n), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert(z[i] == x[i] + r[i]);
    ck_assert_uint_ge(B.ops->high_water_bytes(&B), before + 4 * n * sizeof(float));
    float *all[] = {x, r, y, z};
    for (size_t i = 0; i < 4; i++)
        B.ops->release(&B, all[i]);
    ck_assert_uint_eq(B.allocated_bytes, 0);
}
END_TEST

/* calibrate --measure times the attention kernel run runs: on MLA at the
 * query-key head dim.  tests/data/model-mla-small.yaml: hidden 64, 4 heads,
 * qk_nope_head_dim 8 + qk_rope_head_dim 4 = 12, not hidden / heads = 16
 * (what it timed before); one GPU, micro-batch 1 (4 heads x 1 sequence),
 * workload-run-small's 256 tokens.  run's own attention job (run.c
 * prepare) is the same shape: both are asked of the spy. */
static int spy_dims[3];
static int (*real_attention_fwd)(mp_backend *, int, int, int, const void *, const void *, const void *, void *,
                                 void *);
static int spy_attention_fwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k,
                             const void *v, void *o, void *lse)
{
    spy_dims[0] = heads, spy_dims[1] = seq, spy_dims[2] = dim;
    return real_attention_fwd(b, heads, seq, dim, q, k, v, o, lse);
}

START_TEST(test_measure_attention_shape)
{
    mp_model m;
    mp_hardware hw, out;
    mp_workload w;
    mp_layout l;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_msg(mp_model_load(&m, TEST_DATA "/model-mla-small.yaml", &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_hardware_load(&hw, PLANS_DIR "/seed-hardware.yaml", &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_workload_load(&w, TEST_DATA "/workload-run-small.yaml", &e) == MP_OK, "%s", e.msg);
    mp_layout_defaults(&l);
    char why[256];
    ck_assert_msg(mp_layout_check(&l, &m, &w, why, sizeof why) == MP_RULE_OK, "%s", why);
    mp_run_backend_workload(&B, &w);
    mp_cost_ctx c;
    mp_cost_ctx_init(&c, &m, &hw, &w, &l, w.seq_max);
    mp_backend_ops ops = *B.ops;
    const mp_backend_ops *keep = B.ops;
    real_attention_fwd = keep->attention_fwd;
    ops.attention_fwd = spy_attention_fwd;
    B.ops = &ops;
    mp_measure_summary sum;
    memset(spy_dims, 0, sizeof spy_dims);
    mp_status st = mp_measure_hardware(&B, &hw, &c, &out, &sum, &e);
    int measured[3] = {spy_dims[0], spy_dims[1], spy_dims[2]};
    memset(spy_dims, 0, sizeof spy_dims);
    mp_run_opts ro = {0, 1, 1, false, NULL, NULL, NULL, 0};
    mp_run_report r;
    mp_status st2 = mp_run_rank(&c, &B, &ro, &r, &e);
    B.ops = keep;
    ck_assert_msg(st == MP_OK && st2 == MP_OK, "%s", e.msg);
    mp_run_report_free(&r);
    ck_assert(sum.attention_rate > 0);
    ck_assert_int_eq(measured[0], 4);
    ck_assert_int_eq(measured[1], 256);
    ck_assert_int_eq(measured[2], 12);
    ck_assert_int_eq(spy_dims[0], 4);
    ck_assert_int_eq(spy_dims[1], 256);
    ck_assert_int_eq(spy_dims[2], 12);
}
END_TEST

/* The registry: unknown names and a CUDA backend this build cannot open. */
START_TEST(test_registry)
{
    mp_backend b;
    char why[256];
    ck_assert(!mp_backend_open("tpu", &b, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "unknown backend 'tpu'"));
    ck_assert(!mp_backend_open("cuda", &b, why, sizeof why));
    ck_assert_msg(strstr(why, "without CUDA") || strstr(why, "no GPU found"), "%s", why);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *t = tcase_create("cpu");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_gemm);
    tcase_add_test(t, test_gemm_grouped);
    tcase_add_test(t, test_rmsnorm);
    tcase_add_test(t, test_swiglu);
    tcase_add_test(t, test_gelu);
    tcase_add_test(t, test_embedding);
    tcase_add_test(t, test_rope);
    tcase_add_test(t, test_router);
    tcase_add_test(t, test_permute);
    tcase_add_test(t, test_attention);
    tcase_add_test(t, test_cross_entropy);
    tcase_add_test(t, test_adamw);
    tcase_add_test(t, test_add_copy_memory);
    tcase_add_test(t, test_registry);
    tcase_add_test(t, test_measure_attention_shape);
    suite_add_tcase(s, t);
    return s;
}

MP_CHECK_MAIN(suite)
