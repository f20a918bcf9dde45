/* The CUDA backend's own kernels (backend.h gives each one's meaning; the
 * storage and rounding rules are in backend_cuda.cu's opening comment):
 * elementwise, row reductions, embedding, RoPE, routing and permutation,
 * attention around cuBLAS, cross entropy, AdamW.  Each entry point
 * launches on the backend's stream and returns 0, or -1 with err set. */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "backend_cuda.h"

namespace mpcuda {

/* ------------------------------------------------------------ elementwise */

/* Eight bf16 in one 16-byte word. */
struct __align__(16) pack8 {
    elem v[8];
};

/* y = f(x, r) elementwise over n: f a functor of two floats.  With vec,
 * thread i < n/8 does elements 8i..8i+7 in two 16-byte loads and one
 * store, and the next n mod 8 threads one element each of the tail. */
template <class F> __global__ void k_binary(size_t n, const elem *x, const elem *r, elem *y, F f, bool vec)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (!vec) {
        if (i < n)
            y[i] = toe(f(tof(x[i]), tof(r[i])));
        return;
    }
    size_t n8 = n / 8;
    if (i < n8) {
        pack8 a = reinterpret_cast<const pack8 *>(x)[i], c = reinterpret_cast<const pack8 *>(r)[i], o;
#pragma unroll
        for (int q = 0; q < 8; q++)
            o.v[q] = toe(f(tof(a.v[q]), tof(c.v[q])));
        reinterpret_cast<pack8 *>(y)[i] = o;
    } else if (n8 * 8 + (i - n8) < n) {
        size_t t = n8 * 8 + (i - n8);
        y[t] = toe(f(tof(x[t]), tof(r[t])));
    }
}

template <class F> int binary(mp_backend *b, const char *what, size_t n, const void *x, const void *r, void *y, F f)
{
    if (n == 0)
        return 0;
    bool vec = aligned16(x, r, y);
    size_t threads = vec ? n / 8 + n % 8 : n;
    k_binary<<<blocks(threads, 256), 256, 0, st(b)->stream>>>(n, static_cast<const elem *>(x),
                                                              static_cast<const elem *>(r), static_cast<elem *>(y), f,
                                                              vec);
    return check_launch(b, what);
}

struct add_f {
    __device__ float operator()(float a, float c) const { return a + c; }
};

#define GELU_C 0.7978845608028654f

/* GELU, tanh form; the second argument unused (x passed twice). */
struct gelu_f {
    __device__ float operator()(float x, float) const
    {
        return 0.5f * x * (1.0f + tanhf(GELU_C * (x + 0.044715f * x * x * x)));
    }
};

/* d/dx of the above, times the incoming gradient d. */
struct gelu_grad_f {
    __device__ float operator()(float x, float d) const
    {
        float t = tanhf(GELU_C * (x + 0.044715f * x * x * x));
        return d * (0.5f * (1 + t) + 0.5f * x * (1 - t * t) * GELU_C * (1 + 0.134145f * x * x));
    }
};

int cu_copy(mp_backend *b, void *dst, const void *src, size_t n)
{
    cudaError_t e = cudaMemcpyAsync(dst, src, n * sizeof(elem), cudaMemcpyDeviceToDevice, st(b)->stream);
    return e == cudaSuccess ? 0 : cuda_fail(b, "copy", e);
}

int cu_add(mp_backend *b, size_t n, const void *x, const void *r, void *y)
{
    return binary(b, "add", n, x, r, y, add_f());
}

int cu_gelu_fwd(mp_backend *b, size_t n, const void *in, void *out)
{
    return binary(b, "gelu forward", n, in, in, out, gelu_f());
}

int cu_gelu_bwd(mp_backend *b, size_t n, const void *in, const void *dout, void *din)
{
    return binary(b, "gelu backward", n, in, dout, din, gelu_grad_f());
}

/* SwiGLU over rows of [gate | up], `per` columns a thread (8 with vector
 * access: cols a multiple of 8 and the buffers aligned, else 1). */
__device__ inline float silu(float g) { return g / (1.0f + __expf(-g)); }

__global__ void k_swiglu_fwd(int rows, int cols, int per, const elem *in, elem *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, w = (size_t)cols / per;
    if (i >= (size_t)rows * w)
        return;
    size_t r = i / w, c = (i % w) * per;
    const elem *g = in + r * 2 * cols + c, *u = g + cols;
    elem *o = out + r * cols + c;
    if (per == 8) {
        pack8 G = *reinterpret_cast<const pack8 *>(g), U = *reinterpret_cast<const pack8 *>(u), O;
#pragma unroll
        for (int q = 0; q < 8; q++)
            O.v[q] = toe(silu(tof(G.v[q])) * tof(U.v[q]));
        *reinterpret_cast<pack8 *>(o) = O;
    } else {
        o[0] = toe(silu(tof(g[0])) * tof(u[0]));
    }
}

__device__ inline void swiglu_grad(float g, float u, float d, float *dg, float *du)
{
    float sg = 1.0f / (1.0f + __expf(-g));
    *du = d * g * sg;
    *dg = d * u * sg * (1.0f + g * (1.0f - sg));
}

__global__ void k_swiglu_bwd(int rows, int cols, int per, const elem *in, const elem *dout, elem *din)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, w = (size_t)cols / per;
    if (i >= (size_t)rows * w)
        return;
    size_t r = i / w, c = (i % w) * per;
    const elem *g = in + r * 2 * cols + c, *u = g + cols, *d = dout + r * cols + c;
    elem *dg = din + r * 2 * cols + c, *du = dg + cols;
    if (per == 8) {
        pack8 G = *reinterpret_cast<const pack8 *>(g), U = *reinterpret_cast<const pack8 *>(u),
              D = *reinterpret_cast<const pack8 *>(d), DG, DU;
#pragma unroll
        for (int q = 0; q < 8; q++) {
            float a, c2;
            swiglu_grad(tof(G.v[q]), tof(U.v[q]), tof(D.v[q]), &a, &c2);
            DG.v[q] = toe(a);
            DU.v[q] = toe(c2);
        }
        *reinterpret_cast<pack8 *>(dg) = DG;
        *reinterpret_cast<pack8 *>(du) = DU;
    } else {
        float a, c2;
        swiglu_grad(tof(g[0]), tof(u[0]), tof(d[0]), &a, &c2);
        dg[0] = toe(a);
        du[0] = toe(c2);
    }
}

int cu_swiglu_fwd(mp_backend *b, int rows, int cols, const void *in, void *out)
{
    int per = cols % 8 == 0 && aligned16(in, out) ? 8 : 1;
    size_t n = (size_t)rows * (cols / per);
    if (n == 0)
        return 0;
    k_swiglu_fwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(rows, cols, per, static_cast<const elem *>(in),
                                                            static_cast<elem *>(out));
    return check_launch(b, "swiglu forward");
}

int cu_swiglu_bwd(mp_backend *b, int rows, int cols, const void *in, const void *dout, void *din)
{
    int per = cols % 8 == 0 && aligned16(in, dout, din) ? 8 : 1;
    size_t n = (size_t)rows * (cols / per);
    if (n == 0)
        return 0;
    k_swiglu_bwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(rows, cols, per, static_cast<const elem *>(in),
                                                            static_cast<const elem *>(dout), static_cast<elem *>(din));
    return check_launch(b, "swiglu backward");
}

/* ------------------------------------------------------------ row reductions */

/* The block's sum or max: warp shuffles, then one value per warp through
 * shared memory.  Every thread of the block must call it; blockDim.x a
 * multiple of 32, at most 1024. */
__device__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ float block_reduce(float v, bool max)
{
    __shared__ float sh[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = max ? warp_max(v) : warp_sum(v);
    __syncthreads(); /* sh free from an earlier call */
    if (lane == 0)
        sh[warp] = v;
    __syncthreads();
    float r = lane < warps ? sh[lane] : (max ? -INFINITY : 0.0f);
    return max ? warp_max(r) : warp_sum(r);
}

__device__ float block_sum(float v) { return block_reduce(v, false); }
__device__ float block_max(float v) { return block_reduce(v, true); }

__global__ void k_rms_fwd(int cols, const elem *x, const elem *w, elem *y, float *rstd)
{
    const elem *xr = x + (size_t)blockIdx.x * cols;
    elem *yr = y + (size_t)blockIdx.x * cols;
    float ss = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = tof(xr[c]);
        ss += v * v;
    }
    float s = rsqrtf(block_sum(ss) / cols + 1e-6f);
    if (threadIdx.x == 0)
        rstd[blockIdx.x] = s;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        yr[c] = toe(tof(xr[c]) * s * tof(w[c]));
}

int cu_rms_fwd(mp_backend *b, int rows, int cols, const void *x, const void *w, void *y, void *rstd)
{
    if (rows == 0)
        return 0;
    k_rms_fwd<<<rows, 256, 0, st(b)->stream>>>(cols, static_cast<const elem *>(x), static_cast<const elem *>(w),
                                                static_cast<elem *>(y), static_cast<float *>(rstd));
    return check_launch(b, "rmsnorm forward");
}

/* dx as the CPU backend; dw (fp32) accumulated over the rows.  A block
 * takes `per_block` consecutive rows; thread t owns the columns t, t +
 * blockDim, ... (at most RMS_COLS of them, in registers) and sums their
 * dw terms over its rows, then adds each column's sum with one atomic:
 * rows / per_block atomics per column instead of one per row (per-row
 * atomics on the same `cols` addresses serialise in L2). */
#define RMS_COLS 16

__global__ void __launch_bounds__(1024) k_rms_bwd(int rows, int cols, int per_block, const elem *x, const elem *w,
                                                  const float *rstd, const elem *dy, elem *dx, float *dw)
{
    float acc[RMS_COLS];
#pragma unroll
    for (int j = 0; j < RMS_COLS; j++)
        acc[j] = 0;
    int r0 = blockIdx.x * per_block, r1 = min(rows, r0 + per_block);
    for (int r = r0; r < r1; r++) {
        size_t o = (size_t)r * cols;
        float s = rstd[r], dot = 0;
        for (int c = threadIdx.x; c < cols; c += blockDim.x)
            dot += tof(x[o + c]) * tof(w[c]) * tof(dy[o + c]);
        float k = block_sum(dot) / cols * s * s;
#pragma unroll
        for (int j = 0; j < RMS_COLS; j++) {
            int c = threadIdx.x + j * blockDim.x;
            if (c < cols) {
                float xv = tof(x[o + c]), g = tof(dy[o + c]);
                dx[o + c] = toe(s * (tof(w[c]) * g - xv * k));
                acc[j] += xv * s * g;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < RMS_COLS; j++) {
        int c = threadIdx.x + j * blockDim.x;
        if (c < cols && r1 > r0)
            atomicAdd(&dw[c], acc[j]);
    }
}

int cu_rms_bwd(mp_backend *b, int rows, int cols, const void *x, const void *w, const void *rstd, const void *dy,
               void *dx, void *dw)
{
    if (rows == 0 || cols == 0)
        return 0;
    int threads = 256;
    while (threads < 1024 && threads * RMS_COLS < cols)
        threads *= 2;
    if (threads * RMS_COLS < cols) {
        snprintf(b->err, sizeof b->err, "rmsnorm backward: %d columns; the kernel takes at most %d", cols,
                 1024 * RMS_COLS);
        return -1;
    }
    int per_block = (rows + 511) / 512; /* at most 512 blocks */
    int grid = (rows + per_block - 1) / per_block;
    k_rms_bwd<<<grid, threads, 0, st(b)->stream>>>(rows, cols, per_block, static_cast<const elem *>(x),
                                                    static_cast<const elem *>(w), static_cast<const float *>(rstd),
                                                    static_cast<const elem *>(dy), static_cast<elem *>(dx),
                                                    static_cast<float *>(dw));
    return check_launch(b, "rmsnorm backward");
}

/* ------------------------------------------------------------ embedding, RoPE */

__global__ void k_embed_fwd(int tokens, int hidden, const int *ids, const elem *table, elem *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < (size_t)tokens * hidden)
        out[i] = table[(size_t)ids[i / hidden] * hidden + i % hidden];
}

__global__ void k_embed_bwd(int tokens, int hidden, const int *ids, const elem *d, float *dt)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < (size_t)tokens * hidden)
        atomicAdd(&dt[(size_t)ids[i / hidden] * hidden + i % hidden], tof(d[i]));
}

int cu_embed_fwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *table, void *out)
{
    size_t n = (size_t)tokens * hidden;
    if (n == 0)
        return 0;
    k_embed_fwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(tokens, hidden, ids, static_cast<const elem *>(table),
                                                           static_cast<elem *>(out));
    return check_launch(b, "embedding forward");
}

int cu_embed_bwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *dout, void *dtable)
{
    size_t n = (size_t)tokens * hidden;
    if (n == 0)
        return 0;
    k_embed_bwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(tokens, hidden, ids, static_cast<const elem *>(dout),
                                                           static_cast<float *>(dtable));
    return check_launch(b, "embedding backward");
}

__global__ void k_rope(int rows, int heads, int dim, int seq, elem *x, float sign)
{
    int half = dim / 2;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)rows * heads * half)
        return;
    int p = (int)(i % half);
    size_t th = i / half;
    int t = (int)(th / heads);
    float ang = (float)(t % seq) * powf(10000.0f, -2.0f * p / dim);
    float c = cosf(ang), s = sign * sinf(ang);
    elem *v = x + th * dim;
    float a = tof(v[p]), bb = tof(v[p + half]);
    v[p] = toe(a * c - bb * s);
    v[p + half] = toe(a * s + bb * c);
}

int cu_rope(mp_backend *b, int rows, int heads, int dim, int seq, void *x, bool backward)
{
    size_t n = (size_t)rows * heads * (dim / 2);
    if (n == 0)
        return 0;
    k_rope<<<blocks(n, 256), 256, 0, st(b)->stream>>>(rows, heads, dim, seq, static_cast<elem *>(x),
                                                      backward ? -1.0f : 1.0f);
    return check_launch(b, "rope");
}

/* ------------------------------------------------------------ routing */

/* One thread per token: the top k by logit (the softmax is monotonic, so
 * the same experts as by probability; ties to the lower index, exactly as
 * the CPU backend), then their softmax probabilities renormalised. */
__global__ void k_router(int tokens, int experts, int k, const elem *logits, float *probs, int *idx)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= tokens)
        return;
    const elem *l = logits + (size_t)t * experts;
    int *ix = idx + (size_t)t * k;
    float mx = tof(l[0]);
    for (int e = 1; e < experts; e++)
        mx = fmaxf(mx, tof(l[e]));
    float sum = 0;
    for (int e = 0; e < experts; e++)
        sum += __expf(tof(l[e]) - mx);
    float kept = 0;
    for (int j = 0; j < k; j++) {
        int best = -1;
        float bl = 0;
        for (int e = 0; e < experts; e++) {
            bool taken = false;
            for (int q = 0; q < j; q++)
                taken |= ix[q] == e;
            float v = tof(l[e]);
            if (!taken && (best < 0 || v > bl)) {
                best = e;
                bl = v;
            }
        }
        ix[j] = best;
        float p = __expf(bl - mx) / sum;
        probs[(size_t)t * k + j] = p;
        kept += p;
    }
    for (int j = 0; j < k; j++)
        probs[(size_t)t * k + j] /= kept;
}

int cu_router(mp_backend *b, int tokens, int experts, int k, const void *logits, void *probs, int *idx)
{
    if (k < 1 || k > experts) {
        snprintf(b->err, sizeof b->err, "router: top-%d of %d experts", k, experts);
        return -1;
    }
    if (tokens == 0)
        return 0;
    k_router<<<blocks((size_t)tokens, 128), 128, 0, st(b)->stream>>>(tokens, experts, k,
                                                                     static_cast<const elem *>(logits),
                                                                     static_cast<float *>(probs), idx);
    return check_launch(b, "router");
}

/* Permutation, deterministic and in parallel, one block per expert:
 * k_count counts the copies routed to it (a copy whose index is out of
 * range gets slot -1 and is flagged: the op's error at the next wait),
 * capped at capacity; k_assign gives each of
 * its copies, in token order, its row: the expert's start (the counts of
 * the experts before it) plus the copy's rank among the expert's copies
 * (a block-wide scan of the flags, by warp ballots), or -1 past capacity.
 * The same slots as the CPU backend's serial scan. */
__global__ void k_count(int copies, int experts, int capacity, const int *idx, int *counts, int *slot, int *flag)
{
    int e = blockIdx.x, n = 0;
    for (int i = threadIdx.x; i < copies; i += blockDim.x) {
        int x = idx[i];
        n += x == e;
        if (e == 0 && (x < 0 || x >= experts)) {
            slot[i] = -1; /* no row: k_assign never sees it, the gather skips it */
            atomicMax(&flag[0], INT_MAX - i);
        }
    }
    n = (int)block_sum((float)n); /* exact: counts below 2^24 */
    if (threadIdx.x == 0)
        counts[e] = capacity > 0 && n > capacity ? capacity : n;
}

__global__ void k_assign(int copies, int capacity, const int *idx, const int *counts, int *slot)
{
    __shared__ int warp_n[32], start;
    int e = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (threadIdx.x == 0) {
        int s = 0;
        for (int q = 0; q < e; q++)
            s += counts[q];
        start = s;
    }
    __syncthreads();
    int seen = 0; /* the expert's copies before this chunk */
    for (int i0 = 0; i0 < copies; i0 += blockDim.x) {
        int i = i0 + threadIdx.x;
        bool mine = i < copies && idx[i] == e;
        unsigned ball = __ballot_sync(0xffffffffu, mine);
        if (lane == 0)
            warp_n[warp] = __popc(ball);
        __syncthreads();
        int before = seen;
        for (int w = 0; w < warp; w++)
            before += warp_n[w];
        int rank = before + __popc(ball & ((1u << lane) - 1u));
        if (mine)
            slot[i] = capacity <= 0 || rank < capacity ? start + rank : -1;
        for (int w = 0; w < warps; w++)
            seen += warp_n[w];
        __syncthreads(); /* warp_n read by all before the next chunk writes it */
    }
}

__global__ void k_gather_rows(int copies, int hidden, int k, int per, const int *slot, const elem *x, elem *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, w = (size_t)hidden / per;
    if (i >= (size_t)copies * w)
        return;
    int c = (int)(i / w), s = slot[c];
    size_t h = (i % w) * per;
    if (s < 0)
        return;
    const elem *src = x + (size_t)(c / k) * hidden + h;
    elem *dst = out + (size_t)s * hidden + h;
    if (per == 8)
        *reinterpret_cast<pack8 *>(dst) = *reinterpret_cast<const pack8 *>(src);
    else
        dst[0] = src[0];
}

int cu_permute(mp_backend *b, int tokens, int hidden, int k, int experts, int capacity, const int *idx, const void *x,
               void *out, int *counts, int *slot)
{
    cuda_state *s = st(b);
    int copies = tokens * k;
    if (experts < 1) {
        snprintf(b->err, sizeof b->err, "permute: %d experts", experts);
        return -1;
    }
    s->flag_experts = experts;
    k_count<<<experts, 256, 0, s->stream>>>(copies, experts, capacity, idx, counts, slot, s->flag_dev);
    if (copies > 0) {
        k_assign<<<experts, 256, 0, s->stream>>>(copies, capacity, idx, counts, slot);
        int per = hidden % 8 == 0 && aligned16(x, out) ? 8 : 1;
        size_t n = (size_t)copies * (hidden / per);
        if (n)
            k_gather_rows<<<blocks(n, 256), 256, 0, s->stream>>>(copies, hidden, k, per, slot,
                                                                 static_cast<const elem *>(x),
                                                                 static_cast<elem *>(out));
    }
    return flag_after(b, "permute");
}

__global__ void k_unpermute(int tokens, int hidden, int k, int per, const int *slot, const float *probs,
                            const elem *in, elem *y)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, w = (size_t)hidden / per;
    if (i >= (size_t)tokens * w)
        return;
    int t = (int)(i / w);
    size_t h = (i % w) * per;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < k; j++) {
        int s = slot[(size_t)t * k + j];
        if (s < 0)
            continue;
        float p = probs[(size_t)t * k + j];
        const elem *src = in + (size_t)s * hidden + h;
        if (per == 8) {
            pack8 v = *reinterpret_cast<const pack8 *>(src);
#pragma unroll
            for (int q = 0; q < 8; q++)
                acc[q] += p * tof(v.v[q]);
        } else {
            acc[0] += p * tof(src[0]);
        }
    }
    elem *dst = y + (size_t)t * hidden + h;
    if (per == 8) {
        pack8 o;
#pragma unroll
        for (int q = 0; q < 8; q++)
            o.v[q] = toe(acc[q]);
        *reinterpret_cast<pack8 *>(dst) = o;
    } else {
        dst[0] = toe(acc[0]);
    }
}

int cu_unpermute(mp_backend *b, int tokens, int hidden, int k, const int *slot, const void *probs, const void *in,
                 void *y)
{
    int per = hidden % 8 == 0 && aligned16(in, y) ? 8 : 1;
    size_t n = (size_t)tokens * (hidden / per);
    if (n == 0)
        return 0;
    k_unpermute<<<blocks(n, 256), 256, 0, st(b)->stream>>>(tokens, hidden, k, per, slot,
                                                           static_cast<const float *>(probs),
                                                           static_cast<const elem *>(in), static_cast<elem *>(y));
    return check_launch(b, "unpermute");
}

/* ------------------------------------------------------------ attention */

/* Head dims 64 and 128 take flash attention (backend_cuda_flash.cu);
 * others these materialised scores: S = Q K^T / sqrt(d) in fp32, P in
 * bf16, O = P V, heads x seq^2 x 6 bytes of scratch forward (12 back). */

/* Row `row` (head row / seq, query row % seq) of the fp32 scores to P in
 * bf16: an exact causal softmax, keys 0..i; the log-sum-exp kept. */
__global__ void k_causal_softmax(int seq, const float *s, elem *p, float *lse)
{
    int row = blockIdx.x, i = row % seq;
    const float *r = s + (size_t)row * seq;
    elem *pr = p + (size_t)row * seq;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        mx = fmaxf(mx, r[j]);
    mx = block_max(mx);
    float sum = 0;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        sum += __expf(r[j] - mx);
    sum = block_sum(sum);
    for (int j = threadIdx.x; j < seq; j += blockDim.x)
        pr[j] = toe(j <= i ? __expf(r[j] - mx) / sum : 0.0f);
    if (threadIdx.x == 0)
        lse[row] = mx + logf(sum);
}

int cu_attention_fwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v, void *o,
                     void *lse)
{
    if (heads == 0 || seq == 0)
        return 0;
    if (cu_flash_fits(dim, seq, q, k, v, o))
        return cu_flash_fwd(b, heads, seq, dim, q, k, v, o, lse);
    size_t n = (size_t)heads * seq * seq, off = up256(n * sizeof(float));
    char *base = static_cast<char *>(scratch(b, off + n * sizeof(elem)));
    if (!base) {
        snprintf(b->err, sizeof b->err, "attention: out of GPU memory for %d x %d x %d scores (6 bytes each)", heads,
                 seq, seq);
        return -1;
    }
    float *s = reinterpret_cast<float *>(base);
    elem *p = reinterpret_cast<elem *>(base + off);
    long long hs = (long long)seq * dim, ss = (long long)seq * seq;
    if (batched(b, false, true, seq, seq, dim, 1.0f / sqrtf((float)dim), q, hs, k, hs, s, CUDA_R_32F, ss, heads))
        return -1;
    k_causal_softmax<<<heads * seq, 256, 0, st(b)->stream>>>(seq, s, p, static_cast<float *>(lse));
    if (check_launch(b, "attention softmax") ||
        batched(b, false, false, seq, dim, seq, 1.0f, p, ss, v, hs, o, ELEM_T, hs, heads))
        return -1;
    return check_launch(b, "attention forward");
}

/* From the fp32 scores S and dP = dO V^T of a row: P = exp(S - lse)
 * (causal) and dS = P (dP - D), D = dO . O of the row, both to bf16. */
__global__ void k_attn_ds(int seq, int dim, const float *lse, const elem *dout, const elem *o, const float *s,
                          const float *dp, elem *p, elem *ds)
{
    int row = blockIdx.x, i = row % seq, h = row / seq;
    const elem *g = dout + ((size_t)h * seq + i) * dim, *orow = o + ((size_t)h * seq + i) * dim;
    float d = 0;
    for (int c = threadIdx.x; c < dim; c += blockDim.x)
        d += tof(g[c]) * tof(orow[c]);
    d = block_sum(d);
    size_t base = (size_t)row * seq;
    float l = lse[row];
    for (int j = threadIdx.x; j < seq; j += blockDim.x) {
        float pj = j <= i ? __expf(s[base + j] - l) : 0.0f;
        p[base + j] = toe(pj);
        ds[base + j] = toe(pj * (dp[base + j] - d));
    }
}

int cu_attention_bwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
                     const void *o, const void *lse, const void *dout, void *dq, void *dk, void *dv)
{
    if (heads == 0 || seq == 0)
        return 0;
    if (cu_flash_fits(dim, seq, q, k, v, o) && aligned16(dout, dq, dk, dv))
        return cu_flash_bwd(b, heads, seq, dim, q, k, v, o, lse, dout, dq, dk, dv);
    size_t n = (size_t)heads * seq * seq, f = up256(n * sizeof(float)), h = up256(n * sizeof(elem));
    char *base = static_cast<char *>(scratch(b, 2 * f + 2 * h));
    if (!base) {
        snprintf(b->err, sizeof b->err, "attention backward: out of GPU memory for %d x %d x %d scores (12 bytes each)",
                 heads, seq, seq);
        return -1;
    }
    float *s = reinterpret_cast<float *>(base), *dp = reinterpret_cast<float *>(base + f);
    elem *p = reinterpret_cast<elem *>(base + 2 * f), *ds = reinterpret_cast<elem *>(base + 2 * f + h);
    long long hs = (long long)seq * dim, ss = (long long)seq * seq;
    float sc = 1.0f / sqrtf((float)dim);
    if (batched(b, false, true, seq, seq, dim, sc, q, hs, k, hs, s, CUDA_R_32F, ss, heads) ||
        batched(b, false, true, seq, seq, dim, 1.0f, dout, hs, v, hs, dp, CUDA_R_32F, ss, heads))
        return -1;
    k_attn_ds<<<heads * seq, 256, 0, st(b)->stream>>>(seq, dim, static_cast<const float *>(lse),
                                                      static_cast<const elem *>(dout), static_cast<const elem *>(o), s,
                                                      dp, p, ds);
    if (check_launch(b, "attention backward, dS") ||
        batched(b, true, false, seq, dim, seq, 1.0f, p, ss, dout, hs, dv, ELEM_T, hs, heads) ||
        batched(b, false, false, seq, dim, seq, sc, ds, ss, k, hs, dq, ELEM_T, hs, heads) ||
        batched(b, true, false, seq, dim, seq, sc, ds, ss, q, hs, dk, ELEM_T, hs, heads))
        return -1;
    return check_launch(b, "attention backward");
}

/* ------------------------------------------------------------ loss, optimizer */

__global__ void k_xent(int vocab, const elem *l, const int *target, float *loss, elem *d, int rows, int *flag)
{
    const elem *lr = l + (size_t)blockIdx.x * vocab;
    elem *dr = d + (size_t)blockIdx.x * vocab;
    int t = target[blockIdx.x];
    if (t < 0 || t >= vocab) { /* the whole block returns: no reduction below is half-entered */
        if (threadIdx.x == 0)
            atomicMax(&flag[1], INT_MAX - (int)blockIdx.x);
        return;
    }
    float mx = -INFINITY;
    for (int c = threadIdx.x; c < vocab; c += blockDim.x)
        mx = fmaxf(mx, tof(lr[c]));
    mx = block_max(mx);
    float sum = 0;
    for (int c = threadIdx.x; c < vocab; c += blockDim.x)
        sum += __expf(tof(lr[c]) - mx);
    sum = block_sum(sum);
    for (int c = threadIdx.x; c < vocab; c += blockDim.x)
        dr[c] = toe((__expf(tof(lr[c]) - mx) / sum - (c == t ? 1.0f : 0.0f)) / rows);
    if (threadIdx.x == 0)
        loss[blockIdx.x] = logf(sum) + mx - tof(lr[t]);
}

int cu_xent(mp_backend *b, int rows, int vocab, const void *logits, const int *target, void *loss, void *dlogits)
{
    if (rows == 0)
        return 0;
    cuda_state *s = st(b);
    s->flag_vocab = vocab;
    k_xent<<<rows, 256, 0, s->stream>>>(vocab, static_cast<const elem *>(logits), target, static_cast<float *>(loss),
                                        static_cast<elem *>(dlogits), rows, s->flag_dev);
    return flag_after(b, "cross-entropy");
}

/* AdamW on fp32 master weights, gradients and moments (alloc_f32). */
__global__ void k_adamw(size_t n, float *p, const float *g, float *m, float *v, float lr, float b1, float b2, float eps,
                        float wd, float c1, float c2)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float gi = g[i];
    float mi = m[i] = b1 * m[i] + (1 - b1) * gi;
    float vi = v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    p[i] = p[i] * (1 - lr * wd) - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
}

int cu_adamw(mp_backend *b, size_t n, void *param, const void *grad, void *m, void *v, float lr, float beta1,
             float beta2, float eps, float wd, int t)
{
    if (n == 0)
        return 0;
    float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
    k_adamw<<<blocks(n, 256), 256, 0, st(b)->stream>>>(n, static_cast<float *>(param), static_cast<const float *>(grad),
                                                        static_cast<float *>(m), static_cast<float *>(v), lr, beta1,
                                                        beta2, eps, wd, c1, c2);
    return check_launch(b, "adamw");
}

} // namespace mpcuda
