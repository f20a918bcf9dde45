/* The CUDA backend's memory-bound kernels against a plain device copy on
 * the same GPU (issue: each at >= 80% of the copy's bandwidth), and its
 * matrix product and attention rates: a benchmark (meson test --benchmark
 * gpu-kernels-bandwidth, or run directly), not a unit test.  Without a GPU
 * it says why and exits 77.
 *
 * Each kernel: one warm-up, then the median of 10 runs timed with CUDA
 * events (mp_backend_timer_begin/end).  Bandwidth = the bytes the kernel
 * must move at least (every input read once, every output written once,
 * at the buffers' element sizes: bf16 2 bytes, fp32 4) over its time; the
 * copy moves 2 x 64 MiB.  Sizes are beyond the GPU's L2 (50 MiB on
 * H100/H200) so that the copy and the kernels stream from HBM.
 *
 * Output, one line per kernel: name, shape, time, bytes moved, GB/s (SI),
 * and the share of the copy's; a memory-bound kernel below 80% is marked
 * "BELOW 80%".  Exit 0 whatever the rates (the rates are the result). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/backend.h"
#include "moeplan/run.h"
#include "moeplan/runs.h"

static mp_backend G;
static double copy_bw;

static void *bufe(size_t n, unsigned seed, bool f32)
{
    void *p = f32 ? G.ops->alloc_f32(&G, n) : G.ops->alloc(&G, n);
    if (!p) {
        fprintf(stderr, "bench_kernels_gpu: %s\n", G.err);
        exit(1);
    }
    if (seed) {
        float *h = malloc(n * sizeof *h);
        if (!h) {
            fprintf(stderr, "bench_kernels_gpu: out of host memory\n");
            exit(1);
        }
        mp_run_fill(h, n, seed);
        G.ops->upload(&G, p, h, n);
        free(h);
    }
    return p;
}

/* The median seconds of 10 runs of the call after one warm-up. */
#define TIME(secs, call)                                                                            \
    do {                                                                                            \
        double t_[10];                                                                              \
        for (int r_ = -1; r_ < 10; r_++) {                                                          \
            double t0_, dt_;                                                                        \
            mp_backend_timer_begin(&G, &t0_);                                                       \
            if ((call) || (dt_ = mp_backend_timer_end(&G, t0_)) < 0) {                              \
                fprintf(stderr, "bench_kernels_gpu: %s: %s\n", #call, G.err);                       \
                exit(1);                                                                            \
            }                                                                                       \
            if (r_ >= 0)                                                                            \
                t_[r_] = dt_;                                                                       \
        }                                                                                           \
        secs = mp_median(t_, 10);                                                                   \
    } while (0)

static void line_bw(const char *name, const char *shape, double s, double bytes, bool memory_bound)
{
    double bw = bytes / s;
    printf("%-22s %-26s %10.1f us %9.1f MB %8.1f GB/s %6.1f%% of copy%s\n", name, shape, s * 1e6, bytes / 1e6,
           bw / 1e9, 100 * bw / copy_bw, memory_bound && bw < 0.8 * copy_bw ? "  BELOW 80%" : "");
}

static void line_flops(const char *name, const char *shape, double s, double flops)
{
    printf("%-22s %-26s %10.1f us %9.1f GF %8.1f TFLOP/s\n", name, shape, s * 1e6, flops / 1e9, flops / s / 1e12);
}

int main(void)
{
    char why[512];
    if (!mp_backend_open("cuda", &G, why, sizeof why)) {
        printf("skipped: the CUDA backend: %s\n", why);
        return 77;
    }
    const mp_backend_ops *k = G.ops;
    const double E = k->elem_bytes; /* 2: bf16 */
    size_t n = (64u << 20) / (size_t)k->elem_bytes; /* 64 MiB of elements */
    char shape[64];
    double s;
    void *a = bufe(n, 1, false), *b = bufe(n, 2, false), *c = bufe(n, 0, false);
    TIME(s, k->copy(&G, c, a, n));
    copy_bw = 2 * E * (double)n / s;
    snprintf(shape, sizeof shape, "%zu elements", n);
    line_bw("device copy", shape, s, 2 * E * (double)n, false);
    TIME(s, k->add(&G, n, a, b, c));
    line_bw("add (residual)", shape, s, 3 * E * (double)n, true);
    TIME(s, k->gelu_fwd(&G, n, a, c));
    line_bw("gelu forward", shape, s, 2 * E * (double)n, true);
    TIME(s, k->gelu_bwd(&G, n, a, b, c));
    line_bw("gelu backward", shape, s, 3 * E * (double)n, true);
    /* Rows of 1024 (a hidden size) and of 2 x 1024 for SwiGLU's [gate | up]. */
    int cols = 1024, rows = (int)(n / (size_t)cols / 2);
    size_t rc = (size_t)rows * cols;
    snprintf(shape, sizeof shape, "%d x %d", rows, cols);
    TIME(s, k->swiglu_fwd(&G, rows, cols, a, c));
    line_bw("swiglu forward", shape, s, 3 * E * (double)rc, true);
    TIME(s, k->swiglu_bwd(&G, rows, cols, a, b, c));
    line_bw("swiglu backward", shape, s, 5 * E * (double)rc, true);
    rows = (int)(n / (size_t)cols);
    rc = (size_t)rows * cols;
    snprintf(shape, sizeof shape, "%d x %d", rows, cols);
    void *w = bufe((size_t)cols, 3, false), *rstd = bufe((size_t)rows, 0, true), *dw = bufe((size_t)cols, 0, true);
    TIME(s, k->rmsnorm_fwd(&G, rows, cols, a, w, c, rstd));
    line_bw("rmsnorm forward", shape, s, 2 * E * (double)rc + 4.0 * rows, true);
    void *dx = bufe(n, 0, false);
    TIME(s, k->rmsnorm_bwd(&G, rows, cols, a, w, rstd, b, dx, dw));
    line_bw("rmsnorm backward", shape, s, 3 * E * (double)rc + 4.0 * rows, true);
    int heads = 8, dim = 128, rrows = (int)(n / (size_t)(heads * dim));
    snprintf(shape, sizeof shape, "%d x %d heads x %d", rrows, heads, dim);
    TIME(s, k->rope(&G, rrows, heads, dim, 4096, c, false));
    line_bw("rope", shape, s, 2 * E * (double)n, true);
    k->release(&G, dx);
    /* Routing: 16384 tokens of 1024 to 64 experts, top-2 (the copies'
     * rows read and written once each: the slot scan is inside the time). */
    int T = 16384, H = 1024, K = 2, X = 64;
    size_t copies = (size_t)T * K;
    int *idx = malloc(copies * sizeof *idx);
    for (size_t i = 0; i < copies; i++)
        idx[i] = (int)((i * 7919u) % (unsigned)X);
    int *di = k->alloc_int(&G, copies), *cnt = k->alloc_int(&G, (size_t)X), *slot = k->alloc_int(&G, copies);
    k->upload_int(&G, di, idx, copies);
    void *px = bufe((size_t)T * H, 4, false), *po = bufe(copies * H, 0, false), *pr = bufe(copies, 5, true),
         *py = bufe((size_t)T * H, 0, false);
    snprintf(shape, sizeof shape, "%d x %d, top-%d of %d", T, H, K, X);
    TIME(s, k->permute(&G, T, H, K, X, 0, di, px, po, cnt, slot));
    line_bw("permute (dropless)", shape, s, 2 * E * (double)copies * H + 8.0 * copies, true);
    TIME(s, k->unpermute(&G, T, H, K, slot, pr, po, py));
    line_bw("unpermute", shape, s, E * (double)copies * H + E * (double)T * H + 8.0 * copies, true);
    /* Embedding lookup: 16384 tokens of a 32000 x 1024 table. */
    int V = 32000;
    int *ids = malloc((size_t)T * sizeof *ids);
    for (int i = 0; i < T; i++)
        ids[i] = (int)(((unsigned)i * 7919u) % (unsigned)V);
    int *dids = k->alloc_int(&G, (size_t)T);
    k->upload_int(&G, dids, ids, (size_t)T);
    void *tab = bufe((size_t)V * H, 6, false);
    snprintf(shape, sizeof shape, "%d tokens x %d", T, H);
    TIME(s, k->embed_fwd(&G, T, H, dids, tab, py));
    line_bw("embedding forward", shape, s, 2 * E * (double)T * H + 4.0 * T, true);
    k->release(&G, tab);
    /* Cross entropy: 2048 rows of 16384 logits (a vocabulary shard). */
    int R = 2048, VV = 16384;
    int *tg = malloc((size_t)R * sizeof *tg);
    for (int i = 0; i < R; i++)
        tg[i] = (i * 104729) % VV;
    int *dtg = k->alloc_int(&G, (size_t)R);
    k->upload_int(&G, dtg, tg, (size_t)R);
    void *loss = bufe((size_t)R, 0, true);
    snprintf(shape, sizeof shape, "%d x %d", R, VV);
    TIME(s, k->cross_entropy(&G, R, VV, a, dtg, loss, c));
    line_bw("cross entropy", shape, s, 2 * E * (double)R * VV + 8.0 * R, true);
    /* AdamW on 8 Mi fp32 parameters: 4 arrays read, 3 written. */
    size_t na = 8u << 20;
    void *p = bufe(na, 7, true), *g = bufe(na, 8, true), *m = bufe(na, 0, true), *v = bufe(na, 0, true);
    snprintf(shape, sizeof shape, "%zu fp32 parameters", na);
    TIME(s, k->adamw(&G, na, p, g, m, v, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1));
    line_bw("adamw", shape, s, 7 * 4.0 * (double)na, true);
    /* Compute-bound, for reference: a 4096^3 product, and causal
     * attention at 16 heads x 4096 tokens, head dims 128 and 64 (flash
     * attention, backend_cuda_flash.cu) and 80 (materialised scores).
     * FLOPs counted as executed, half the square masked: forward 2 S^2 D
     * a head (Q K^T and P V), backward 5 S^2 D (S recomputed, dP, dV,
     * dK, dQ). */
    int M = 4096;
    void *A = bufe((size_t)M * M, 9, false), *B = bufe((size_t)M * M, 10, false), *Cm = bufe((size_t)M * M, 0, false);
    TIME(s, k->gemm(&G, false, false, M, M, M, A, B, Cm, 0));
    line_flops("gemm bf16", "4096 x 4096 x 4096", s, 2.0 * M * M * (double)M);
    int AH = 16, S = 4096, dims[3] = {128, 64, 80};
    size_t an = (size_t)AH * S * 128;
    void *q = bufe(an, 11, false), *kk = bufe(an, 12, false), *vv = bufe(an, 13, false), *o = bufe(an, 0, false),
         *go = bufe(an, 14, false), *dq = bufe(an, 0, false), *dk = bufe(an, 0, false), *dv = bufe(an, 0, false),
         *lse = bufe((size_t)AH * S, 0, true);
    for (int i = 0; i < 3; i++) {
        int D = dims[i];
        /* FLOPs counted causal (half the square: the useful work, as
         * FlashAttention's benchmarks count it); the materialised path
         * computes every score of the square, twice these. */
        const char *how = D == 80 ? "materialised (does 2x these)" : "flash";
        char what[64];
        snprintf(shape, sizeof shape, "%d heads x %d x %d", AH, S, D);
        snprintf(what, sizeof what, "attention forward, %s", how);
        TIME(s, k->attention_fwd(&G, AH, S, D, q, kk, vv, o, lse));
        line_flops(what, shape, s, 2.0 * AH * (double)S * S * D);
        snprintf(what, sizeof what, "attention backward, %s", how);
        TIME(s, k->attention_bwd(&G, AH, S, D, q, kk, vv, o, lse, go, dq, dk, dv));
        line_flops(what, shape, s, 5.0 * AH * (double)S * S * D);
    }
    free(idx);
    free(ids);
    free(tg);
    mp_backend_close(&G);
    return 0;
}
