/* The CPU backend: fp32 buffers in host memory, matrix products through
 * OpenBLAS (cblas_sgemm, its own threads), the rest plain loops.  It runs
 * `moeplan run` on every machine, CI's included; its numbers are the CPU's,
 * not a GPU's.
 *
 * Attention is exact causal attention, one head at a time through two GEMMs
 * (scores Q K^T, then P V), the scores materialised per head: not a flash
 * kernel, so its memory is seq^2 floats per head at a time. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_internal.h"
#include "moeplan/error.h"

#define F(p) ((float *)(p))
#define CF(p) ((const float *)(p))

static int fail(mp_backend *b, const char *fmt, const char *op, long a, long c) MP_PRINTF(2, 0);
static int fail(mp_backend *b, const char *fmt, const char *op, long a, long c)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(b->err, sizeof b->err, fmt, op, a, c);
#pragma GCC diagnostic pop
    return -1;
}

/* Each allocation carries its size in front, for the high-water mark. */
static void *cpu_alloc(mp_backend *b, size_t elems)
{
    size_t bytes = elems * sizeof(float);
    size_t *p = calloc(1, bytes + 16);
    if (!p) {
        snprintf(b->err, sizeof b->err, "out of host memory allocating %zu bytes", bytes);
        return NULL;
    }
    p[0] = bytes;
    b->allocated_bytes += bytes;
    if (b->allocated_bytes > b->high_water_bytes)
        b->high_water_bytes = b->allocated_bytes;
    return (char *)p + 16;
}

static void cpu_release(mp_backend *b, void *q)
{
    if (!q)
        return;
    size_t *p = (size_t *)((char *)q - 16);
    b->allocated_bytes -= p[0];
    free(p);
}

static int cpu_upload(mp_backend *b, void *dst, const float *src, size_t n)
{
    (void)b;
    memcpy(dst, src, n * sizeof(float));
    return 0;
}

static int cpu_download(mp_backend *b, float *dst, const void *src, size_t n)
{
    (void)b;
    memcpy(dst, src, n * sizeof(float));
    return 0;
}

static void *cpu_alloc_int(mp_backend *b, size_t n)
{
    return cpu_alloc(b, n); /* an int is 4 bytes, as a float */
}

static int cpu_upload_int(mp_backend *b, void *dst, const int *src, size_t n)
{
    (void)b;
    memcpy(dst, src, n * sizeof(int));
    return 0;
}

static int cpu_download_int(mp_backend *b, int *dst, const void *src, size_t n)
{
    (void)b;
    memcpy(dst, src, n * sizeof(int));
    return 0;
}

static int cpu_sync(mp_backend *b)
{
    (void)b;
    return 0;
}

static double cpu_now(mp_backend *b)
{
    (void)b;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t cpu_high_water(mp_backend *b)
{
    return b->high_water_bytes;
}

/* OpenBLAS's threads: run shares a node's cores among its ranks. */
static void cpu_set_threads(mp_backend *b, int threads)
{
    (void)b;
    openblas_set_num_threads(threads < 1 ? 1 : threads);
}

static int cpu_gemm(mp_backend *b, bool ta, bool tb, int m, int n, int k, const void *A, const void *B, void *C,
                    float beta)
{
    if (m < 0 || n < 0 || k < 0)
        return fail(b, "%s: negative size (m %ld, n/k %ld)", "gemm", m, (long)n * k);
    if (m == 0 || n == 0)
        return 0;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, CF(A),
                ta ? m : k, CF(B), tb ? k : n, beta, F(C), n);
    return 0;
}

static int cpu_gemm_grouped(mp_backend *b, int groups, const int *m, int n, int k, const void *A, const void *B,
                            void *C)
{
    size_t row = 0;
    for (int g = 0; g < groups; g++) {
        if (m[g] > 0 && cpu_gemm(b, false, false, m[g], n, k, CF(A) + row * (size_t)k, CF(B) + (size_t)g * k * n,
                                 F(C) + row * (size_t)n, 0.0f))
            return -1;
        row += (size_t)(m[g] > 0 ? m[g] : 0);
    }
    return 0;
}

static int cpu_copy(mp_backend *b, void *dst, const void *src, size_t n)
{
    (void)b;
    memcpy(dst, src, n * sizeof(float));
    return 0;
}

static int cpu_add(mp_backend *b, size_t n, const void *x, const void *r, void *y)
{
    (void)b;
    const float *a = CF(x), *c = CF(r);
    float *o = F(y);
    for (size_t i = 0; i < n; i++)
        o[i] = a[i] + c[i];
    return 0;
}

#define RMS_EPS 1e-6f

static int cpu_rmsnorm_fwd(mp_backend *b, int rows, int cols, const void *x, const void *w, void *y, void *rstd)
{
    (void)b;
    for (int r = 0; r < rows; r++) {
        const float *xr = CF(x) + (size_t)r * cols;
        float *yr = F(y) + (size_t)r * cols;
        double ss = 0;
        for (int c = 0; c < cols; c++)
            ss += (double)xr[c] * xr[c];
        float s = 1.0f / sqrtf((float)(ss / cols) + RMS_EPS);
        F(rstd)[r] = s;
        for (int c = 0; c < cols; c++)
            yr[c] = xr[c] * s * CF(w)[c];
    }
    return 0;
}

/* y = x s w with s = (mean(x^2) + eps)^-1/2: dx = s (w dy - x s^2 mean(x w dy)),
 * dw += x s dy. */
static int cpu_rmsnorm_bwd(mp_backend *b, int rows, int cols, const void *x, const void *w, const void *rstd,
                           const void *dy, void *dx, void *dw)
{
    (void)b;
    for (int r = 0; r < rows; r++) {
        const float *xr = CF(x) + (size_t)r * cols, *gr = CF(dy) + (size_t)r * cols;
        float *dr = F(dx) + (size_t)r * cols;
        float s = CF(rstd)[r];
        double dot = 0;
        for (int c = 0; c < cols; c++)
            dot += (double)xr[c] * CF(w)[c] * gr[c];
        float k = (float)(dot / cols) * s * s;
        for (int c = 0; c < cols; c++) {
            dr[c] = s * (CF(w)[c] * gr[c] - xr[c] * k);
            F(dw)[c] += xr[c] * s * gr[c];
        }
    }
    return 0;
}

static float silu(float g) { return g / (1.0f + expf(-g)); }

static int cpu_swiglu_fwd(mp_backend *b, int rows, int cols, const void *in, void *out)
{
    (void)b;
    for (int r = 0; r < rows; r++) {
        const float *g = CF(in) + (size_t)r * 2 * cols, *u = g + cols;
        float *o = F(out) + (size_t)r * cols;
        for (int c = 0; c < cols; c++)
            o[c] = silu(g[c]) * u[c];
    }
    return 0;
}

/* d silu(g)/dg = sig(g) (1 + g (1 - sig(g))). */
static int cpu_swiglu_bwd(mp_backend *b, int rows, int cols, const void *in, const void *dout, void *din)
{
    (void)b;
    for (int r = 0; r < rows; r++) {
        const float *g = CF(in) + (size_t)r * 2 * cols, *u = g + cols, *d = CF(dout) + (size_t)r * cols;
        float *dg = F(din) + (size_t)r * 2 * cols, *du = dg + cols;
        for (int c = 0; c < cols; c++) {
            float sg = 1.0f / (1.0f + expf(-g[c]));
            du[c] = d[c] * g[c] * sg;
            dg[c] = d[c] * u[c] * sg * (1.0f + g[c] * (1.0f - sg));
        }
    }
    return 0;
}

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */

static int cpu_gelu_fwd(mp_backend *b, size_t n, const void *in, void *out)
{
    (void)b;
    for (size_t i = 0; i < n; i++) {
        float x = CF(in)[i];
        F(out)[i] = 0.5f * x * (1.0f + tanhf(GELU_C * (x + 0.044715f * x * x * x)));
    }
    return 0;
}

/* d/dx: 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2). */
static int cpu_gelu_bwd(mp_backend *b, size_t n, const void *in, const void *dout, void *din)
{
    (void)b;
    for (size_t i = 0; i < n; i++) {
        float x = CF(in)[i], t = tanhf(GELU_C * (x + 0.044715f * x * x * x));
        F(din)[i] = CF(dout)[i] * (0.5f * (1 + t) + 0.5f * x * (1 - t * t) * GELU_C * (1 + 0.134145f * x * x));
    }
    return 0;
}

static int cpu_embed_fwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *table, void *out)
{
    (void)b;
    for (int t = 0; t < tokens; t++)
        memcpy(F(out) + (size_t)t * hidden, CF(table) + (size_t)ids[t] * hidden, (size_t)hidden * sizeof(float));
    return 0;
}

static int cpu_embed_bwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *dout, void *dtable)
{
    (void)b;
    for (int t = 0; t < tokens; t++)
        for (int h = 0; h < hidden; h++)
            F(dtable)[(size_t)ids[t] * hidden + h] += CF(dout)[(size_t)t * hidden + h];
    return 0;
}

static int cpu_rope(mp_backend *b, int rows, int heads, int dim, int seq, void *x, bool backward)
{
    (void)b;
    int half = dim / 2;
    for (int t = 0; t < rows; t++) {
        double pos = (double)(t % seq);
        for (int i = 0; i < half; i++) {
            double ang = pos * pow(10000.0, -2.0 * i / dim);
            float c = (float)cos(ang), s = (float)(backward ? -sin(ang) : sin(ang));
            for (int h = 0; h < heads; h++) {
                float *v = F(x) + ((size_t)t * heads + h) * dim;
                float a = v[i], bb = v[i + half];
                v[i] = a * c - bb * s;
                v[i + half] = a * s + bb * c;
            }
        }
    }
    return 0;
}

static int cpu_router_topk(mp_backend *b, int tokens, int experts, int k, const void *logits, void *probs, int *idx)
{
    if (k < 1 || k > experts || experts > 4096)
        return fail(b, "%s: top-k %ld of %ld experts", "router", k, experts);
    float p[4096];
    for (int t = 0; t < tokens; t++) {
        const float *l = CF(logits) + (size_t)t * experts;
        float mx = l[0];
        for (int e = 1; e < experts; e++)
            mx = l[e] > mx ? l[e] : mx;
        double sum = 0;
        for (int e = 0; e < experts; e++)
            sum += p[e] = expf(l[e] - mx);
        for (int e = 0; e < experts; e++)
            p[e] = (float)(p[e] / sum);
        /* Top k by selection on the logits (the softmax is monotonic: the
         * same experts as by probability, and ties exact on the input):
         * the largest, ties to the lower index. */
        double kept = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < experts; e++) {
                bool taken = false;
                for (int q = 0; q < j; q++)
                    taken |= idx[(size_t)t * k + q] == e;
                if (!taken && (best < 0 || l[e] > l[best]))
                    best = e;
            }
            idx[(size_t)t * k + j] = best;
            F(probs)[(size_t)t * k + j] = p[best];
            kept += p[best];
        }
        for (int j = 0; j < k; j++)
            F(probs)[(size_t)t * k + j] = (float)(F(probs)[(size_t)t * k + j] / kept);
    }
    return 0;
}

static int cpu_permute(mp_backend *b, int tokens, int hidden, int k, int experts, int capacity, const int *idx,
                       const void *x, void *out, int *counts, int *slot)
{
    int *start = calloc((size_t)experts + 1, sizeof *start);
    if (!start)
        return fail(b, "%s: out of memory for %ld experts (%ld tokens)", "permute", experts, tokens);
    memset(counts, 0, (size_t)experts * sizeof *counts);
    for (int i = 0; i < tokens * k; i++) {
        int e = idx[i];
        if (e < 0 || e >= experts) {
            free(start);
            return fail(b, "%s: expert index %ld out of range (experts %ld)", "permute", e, experts);
        }
        if (capacity <= 0 || counts[e] < capacity)
            counts[e]++;
    }
    for (int e = 0; e < experts; e++)
        start[e + 1] = start[e] + counts[e];
    int *fill = calloc((size_t)experts, sizeof *fill);
    if (!fill) {
        free(start);
        return fail(b, "%s: out of memory for %ld experts (%ld tokens)", "permute", experts, tokens);
    }
    for (int i = 0; i < tokens * k; i++) {
        int e = idx[i];
        if (fill[e] >= counts[e]) {
            slot[i] = -1; /* over capacity: dropped */
            continue;
        }
        int row = start[e] + fill[e]++;
        slot[i] = row;
        memcpy(F(out) + (size_t)row * hidden, CF(x) + (size_t)(i / k) * hidden, (size_t)hidden * sizeof(float));
    }
    free(fill);
    free(start);
    return 0;
}

static int cpu_unpermute(mp_backend *b, int tokens, int hidden, int k, const int *slot, const void *probs,
                         const void *in, void *y)
{
    (void)b;
    memset(y, 0, (size_t)tokens * hidden * sizeof(float));
    for (int t = 0; t < tokens; t++)
        for (int j = 0; j < k; j++) {
            int row = slot[(size_t)t * k + j];
            if (row < 0)
                continue;
            float p = CF(probs)[(size_t)t * k + j];
            const float *src = CF(in) + (size_t)row * hidden;
            float *dst = F(y) + (size_t)t * hidden;
            for (int h = 0; h < hidden; h++)
                dst[h] += p * src[h];
        }
    return 0;
}

static int cpu_attention_fwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
                             void *o, void *lse)
{
    float *s = malloc((size_t)seq * seq * sizeof *s);
    if (!s)
        return fail(b, "%s: out of memory for the %ld x %ld scores", "attention", seq, seq);
    float scale = 1.0f / sqrtf((float)dim);
    size_t hs = (size_t)seq * dim;
    for (int h = 0; h < heads; h++) {
        const float *qh = CF(q) + h * hs, *kh = CF(k) + h * hs, *vh = CF(v) + h * hs;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq, dim, scale, qh, dim, kh, dim, 0.0f, s, seq);
        for (int i = 0; i < seq; i++) {
            float *row = s + (size_t)i * seq, mx = row[0];
            for (int j = 1; j <= i; j++)
                mx = row[j] > mx ? row[j] : mx;
            double sum = 0;
            for (int j = 0; j <= i; j++)
                sum += row[j] = expf(row[j] - mx);
            for (int j = 0; j <= i; j++)
                row[j] = (float)(row[j] / sum);
            for (int j = i + 1; j < seq; j++)
                row[j] = 0; /* causal */
            F(lse)[(size_t)h * seq + i] = mx + (float)log(sum);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq, dim, seq, 1.0f, s, seq, vh, dim, 0.0f,
                    F(o) + h * hs, dim);
    }
    free(s);
    return 0;
}

/* P = exp(scale Q K^T - lse) (causal), dV = P^T dO, dP = dO V^T,
 * D_i = sum_d dO_id O_id, dS = P (dP - D), dQ = scale dS K, dK = scale dS^T Q
 * [Dao, FlashAttention-2, arXiv:2307.08691, Algorithm 2]. */
static int cpu_attention_bwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
                             const void *o, const void *lse, const void *dout, void *dq, void *dk, void *dv)
{
    float *p = malloc((size_t)seq * seq * sizeof *p), *dp = malloc((size_t)seq * seq * sizeof *dp);
    if (!p || !dp) {
        free(p);
        free(dp);
        return fail(b, "%s: out of memory for the %ld x %ld scores", "attention backward", seq, seq);
    }
    float scale = 1.0f / sqrtf((float)dim);
    size_t hs = (size_t)seq * dim;
    for (int h = 0; h < heads; h++) {
        const float *qh = CF(q) + h * hs, *kh = CF(k) + h * hs, *vh = CF(v) + h * hs, *oh = CF(o) + h * hs,
                    *gh = CF(dout) + h * hs;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq, dim, scale, qh, dim, kh, dim, 0.0f, p, seq);
        for (int i = 0; i < seq; i++)
            for (int j = 0; j < seq; j++)
                p[(size_t)i * seq + j] = j <= i ? expf(p[(size_t)i * seq + j] - CF(lse)[(size_t)h * seq + i]) : 0;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq, dim, seq, 1.0f, p, seq, gh, dim, 0.0f,
                    F(dv) + h * hs, dim);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq, dim, 1.0f, gh, dim, vh, dim, 0.0f, dp, seq);
        for (int i = 0; i < seq; i++) {
            double d = 0;
            for (int c = 0; c < dim; c++)
                d += (double)gh[(size_t)i * dim + c] * oh[(size_t)i * dim + c];
            for (int j = 0; j < seq; j++)
                dp[(size_t)i * seq + j] = p[(size_t)i * seq + j] * (dp[(size_t)i * seq + j] - (float)d);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq, dim, seq, scale, dp, seq, kh, dim, 0.0f,
                    F(dq) + h * hs, dim);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq, dim, seq, scale, dp, seq, qh, dim, 0.0f,
                    F(dk) + h * hs, dim);
    }
    free(p);
    free(dp);
    return 0;
}

static int cpu_cross_entropy(mp_backend *b, int rows, int vocab, const void *logits, const int *target, void *loss,
                             void *dlogits)
{
    for (int r = 0; r < rows; r++) {
        const float *l = CF(logits) + (size_t)r * vocab;
        float *d = F(dlogits) + (size_t)r * vocab;
        int t = target[r];
        if (t < 0 || t >= vocab)
            return fail(b, "%s: target %ld outside the vocabulary of %ld", "cross-entropy", t, vocab);
        float mx = l[0];
        for (int c = 1; c < vocab; c++)
            mx = l[c] > mx ? l[c] : mx;
        double sum = 0;
        for (int c = 0; c < vocab; c++)
            sum += exp((double)(l[c] - mx));
        F(loss)[r] = (float)(log(sum) + mx - l[t]);
        for (int c = 0; c < vocab; c++)
            d[c] = (float)(exp((double)(l[c] - mx)) / sum) / rows;
        d[t] -= 1.0f / rows;
    }
    return 0;
}

static int cpu_adamw(mp_backend *b, size_t n, void *param, const void *grad, void *m, void *v, float lr, float beta1,
                     float beta2, float eps, float wd, int t)
{
    (void)b;
    float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
    for (size_t i = 0; i < n; i++) {
        float g = CF(grad)[i];
        float mi = F(m)[i] = beta1 * F(m)[i] + (1 - beta1) * g;
        float vi = F(v)[i] = beta2 * F(v)[i] + (1 - beta2) * g * g;
        float p = F(param)[i] * (1 - lr * wd);
        F(param)[i] = p - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    }
    return 0;
}

const mp_backend_ops mp_backend_cpu = {
    .name = "cpu",
    .elem_bytes = 4,
    .alloc = cpu_alloc,
    .alloc_f32 = cpu_alloc, /* every buffer is fp32 here */
    .release = cpu_release,
    .upload = cpu_upload,
    .download = cpu_download,
    .alloc_int = cpu_alloc_int,
    .upload_int = cpu_upload_int,
    .download_int = cpu_download_int,
    .sync = cpu_sync,
    .now_s = cpu_now,
    .high_water_bytes = cpu_high_water,
    .set_threads = cpu_set_threads,
    .gemm = cpu_gemm,
    .gemm_grouped = cpu_gemm_grouped,
    .copy = cpu_copy,
    .add = cpu_add,
    .rmsnorm_fwd = cpu_rmsnorm_fwd,
    .rmsnorm_bwd = cpu_rmsnorm_bwd,
    .swiglu_fwd = cpu_swiglu_fwd,
    .swiglu_bwd = cpu_swiglu_bwd,
    .gelu_fwd = cpu_gelu_fwd,
    .gelu_bwd = cpu_gelu_bwd,
    .embed_fwd = cpu_embed_fwd,
    .embed_bwd = cpu_embed_bwd,
    .rope = cpu_rope,
    .router_topk = cpu_router_topk,
    .permute = cpu_permute,
    .unpermute = cpu_unpermute,
    .attention_fwd = cpu_attention_fwd,
    .attention_bwd = cpu_attention_bwd,
    .cross_entropy = cpu_cross_entropy,
    .adamw = cpu_adamw,
};
