/* The CUDA backend: fp32 buffers on the GPU; matrix products through
 * cuBLAS with bf16 inputs and fp32 accumulation (cublasGemmEx, as training
 * frameworks run them; the operands are cast to bf16 into a scratch buffer
 * first, a memory-bound pass each, inside the op's time); attention's
 * products through fp32 strided-batched SGEMM; the memory-bound kernels
 * moeplan's own, in fp32 (so they move twice a bf16 framework's bytes:
 * run prices them at 4 bytes, run.c mp_run_backend_workload).
 *
 * Timing: an op's time is CUDA events recorded on the stream around it
 * (timer_begin / timer_end, cudaEventElapsedTime: about half a microsecond
 * of resolution); now_s, for longer spans, synchronises the stream and
 * reads the host's monotonic clock.
 *
 * Attention materialises the scores (heads x seq x seq floats), an exact
 * causal softmax between two batched GEMMs: not a flash kernel, and slower
 * than cuDNN's fused attention.
 *
 * Collectives across ranks through NCCL, one communicator per layout
 * group (its id broadcast over MPI by run_mpi.c), timed with CUDA events
 * on the stream; each rank takes the GPU of its node-local rank.
 *
 * Not run on a GPU yet (no GPU was lent when it was written): compiled in
 * CI; the `gpu` test suite checks it against the CPU backend where a GPU
 * is present. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "backend_internal.h"
#include "moeplan/runs.h" /* mp_median */
}

namespace {

struct cuda_state {
    cublasHandle_t blas;
    cudaStream_t stream;
    __nv_bfloat16 *scratch;      /* bf16 copies of GEMM operands */
    size_t scratch_elems;
    int device;
    ncclComm_t comm[MP_BACKEND_GROUPS]; /* one per layout group, NCCL's */
    float *cbuf[2];              /* a collective's send and receive buffers */
    size_t cbuf_floats;
    cudaEvent_t ev[2];           /* timing a collective on the stream */
    cudaEvent_t tev[2];          /* the op timer (timer_begin / timer_end) */
};

cuda_state *st(mp_backend *b) { return static_cast<cuda_state *>(b->impl); }

int cuda_fail(mp_backend *b, const char *what, cudaError_t e)
{
    snprintf(b->err, sizeof b->err, "%s: %s", what, cudaGetErrorString(e));
    return -1;
}

int check_launch(mp_backend *b, const char *what)
{
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : cuda_fail(b, what, e);
}

unsigned blocks(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

/* Every float buffer is fp32 in device memory, with its size in front for
 * the high-water mark. */
void *cu_alloc_bytes(mp_backend *b, size_t bytes)
{
    char *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes + 256);
    if (e != cudaSuccess) {
        snprintf(b->err, sizeof b->err, "cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    cudaMemsetAsync(p + 256, 0, bytes, st(b)->stream);
    cudaMemcpy(p, &bytes, sizeof bytes, cudaMemcpyHostToDevice);
    b->allocated_bytes += bytes;
    if (b->allocated_bytes > b->high_water_bytes)
        b->high_water_bytes = b->allocated_bytes;
    return p + 256;
}

void *cu_alloc(mp_backend *b, size_t n) { return cu_alloc_bytes(b, n * sizeof(float)); }
void *cu_alloc_int(mp_backend *b, size_t n) { return cu_alloc_bytes(b, n * sizeof(int)); }

void cu_release(mp_backend *b, void *q)
{
    if (!q)
        return;
    char *p = static_cast<char *>(q) - 256;
    size_t bytes = 0;
    cudaMemcpy(&bytes, p, sizeof bytes, cudaMemcpyDeviceToHost);
    b->allocated_bytes -= bytes;
    cudaFree(p);
}

/* Host <-> device of `bytes`; a download waits for it. */
int cu_move(mp_backend *b, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what)
{
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, st(b)->stream);
    if (e == cudaSuccess && kind == cudaMemcpyDeviceToHost)
        e = cudaStreamSynchronize(st(b)->stream);
    return e == cudaSuccess ? 0 : cuda_fail(b, what, e);
}

int cu_upload(mp_backend *b, void *dst, const float *src, size_t n)
{
    return cu_move(b, dst, src, n * sizeof(float), cudaMemcpyHostToDevice, "upload");
}

int cu_download(mp_backend *b, float *dst, const void *src, size_t n)
{
    return cu_move(b, dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, "download");
}

int cu_upload_int(mp_backend *b, void *dst, const int *src, size_t n)
{
    return cu_move(b, dst, src, n * sizeof(int), cudaMemcpyHostToDevice, "upload");
}

int cu_download_int(mp_backend *b, int *dst, const void *src, size_t n)
{
    return cu_move(b, dst, src, n * sizeof(int), cudaMemcpyDeviceToHost, "download");
}

int cu_sync(mp_backend *b)
{
    cudaError_t e = cudaStreamSynchronize(st(b)->stream);
    return e == cudaSuccess ? 0 : cuda_fail(b, "synchronize", e);
}

double cu_now(mp_backend *b)
{
    cudaStreamSynchronize(st(b)->stream);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t cu_high_water(mp_backend *b) { return b->high_water_bytes; }

/* An op's time on the GPU: events on the stream around it, so the host's
 * launch overhead counts only where it leaves the GPU idle. */
int cu_timer_begin(mp_backend *b)
{
    cuda_state *s = st(b);
    cudaError_t e;
    if (!s->tev[0] && ((e = cudaEventCreate(&s->tev[0])) != cudaSuccess || (e = cudaEventCreate(&s->tev[1])) != cudaSuccess))
        return cuda_fail(b, "cudaEventCreate", e);
    e = cudaEventRecord(s->tev[0], s->stream);
    return e == cudaSuccess ? 0 : cuda_fail(b, "cudaEventRecord", e);
}

double cu_timer_end(mp_backend *b)
{
    cuda_state *s = st(b);
    cudaError_t e = cudaEventRecord(s->tev[1], s->stream);
    if (e == cudaSuccess)
        e = cudaEventSynchronize(s->tev[1]);
    float ms = 0;
    if (e == cudaSuccess)
        e = cudaEventElapsedTime(&ms, s->tev[0], s->tev[1]);
    if (e != cudaSuccess) {
        cuda_fail(b, "timing an op", e);
        return -1;
    }
    return ms * 1e-3;
}

__global__ void to_bf16(const float *x, __nv_bfloat16 *y, size_t n)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = __float2bfloat16(x[i]);
}

/* bf16 scratch for `elems` more elements at offset *used. */
__nv_bfloat16 *scratch(mp_backend *b, size_t elems, size_t *used)
{
    cuda_state *s = st(b);
    if (*used + elems > s->scratch_elems) {
        size_t want = *used + elems;
        if (*used) /* a second operand outgrew it: grow both at once next time */
            return NULL;
        cudaFree(s->scratch);
        s->scratch = NULL;
        if (cudaMalloc(&s->scratch, want * sizeof(__nv_bfloat16)) != cudaSuccess) {
            s->scratch_elems = 0;
            return NULL;
        }
        s->scratch_elems = want;
    }
    __nv_bfloat16 *p = s->scratch + *used;
    *used += elems;
    return p;
}

/* Row-major C[m x n] = op(A) op(B): cuBLAS is column-major, so it computes
 * C^T = op(B)^T op(A)^T.  The fp32 operands are cast to bf16 first (a
 * memory-bound pass each, inside the op's time: stated in the header). */
int cu_gemm(mp_backend *b, bool ta, bool tb, int m, int n, int k, const void *A, const void *B, void *C, float beta)
{
    if (m == 0 || n == 0)
        return 0;
    cuda_state *s = st(b);
    size_t na = (size_t)m * k, nb = (size_t)k * n, used = 0;
    if (!scratch(b, na + nb, &used)) {
        snprintf(b->err, sizeof b->err, "gemm %dx%dx%d: out of GPU memory for the bf16 operands", m, n, k);
        return -1;
    }
    __nv_bfloat16 *a16 = s->scratch, *b16 = s->scratch + na;
    to_bf16<<<blocks(na, 256), 256, 0, s->stream>>>(static_cast<const float *>(A), a16, na);
    to_bf16<<<blocks(nb, 256), 256, 0, s->stream>>>(static_cast<const float *>(B), b16, nb);
    float alpha = 1.0f;
    cublasStatus_t r = cublasGemmEx(s->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                    &alpha, b16, CUDA_R_16BF, tb ? k : n, a16, CUDA_R_16BF, ta ? m : k, &beta, C,
                                    CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (r != CUBLAS_STATUS_SUCCESS) {
        snprintf(b->err, sizeof b->err, "cublasGemmEx %dx%dx%d: status %d", m, n, k, (int)r);
        return -1;
    }
    return check_launch(b, "gemm");
}

int cu_gemm_grouped(mp_backend *b, int groups, const int *m, int n, int k, const void *A, const void *B, void *C)
{
    size_t row = 0;
    for (int g = 0; g < groups; g++) {
        if (m[g] > 0 && cu_gemm(b, false, false, m[g], n, k, static_cast<const float *>(A) + row * k,
                                static_cast<const float *>(B) + (size_t)g * k * n,
                                static_cast<float *>(C) + row * n, 0.0f))
            return -1;
        row += m[g] > 0 ? (size_t)m[g] : 0;
    }
    return 0;
}

int cu_copy(mp_backend *b, void *dst, const void *src, size_t n)
{
    cudaError_t e = cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, st(b)->stream);
    return e == cudaSuccess ? 0 : cuda_fail(b, "copy", e);
}

__global__ void k_add(size_t n, const float *x, const float *r, float *y)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = x[i] + r[i];
}

int cu_add(mp_backend *b, size_t n, const void *x, const void *r, void *y)
{
    k_add<<<blocks(n, 256), 256, 0, st(b)->stream>>>(n, static_cast<const float *>(x), static_cast<const float *>(r),
                                                      static_cast<float *>(y));
    return check_launch(b, "add");
}

/* One block per row; the block's sum by shared-memory tree reduction. */
__device__ float block_sum(float v, float *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

__device__ float block_max(float v, float *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

__global__ void k_rms_fwd(int cols, const float *x, const float *w, float *y, float *rstd)
{
    __shared__ float sh[256];
    const float *xr = x + (size_t)blockIdx.x * cols;
    float ss = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        ss += xr[c] * xr[c];
    float s = rsqrtf(block_sum(ss, sh) / cols + 1e-6f);
    if (threadIdx.x == 0)
        rstd[blockIdx.x] = s;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        y[(size_t)blockIdx.x * cols + c] = xr[c] * s * w[c];
}

int cu_rms_fwd(mp_backend *b, int rows, int cols, const void *x, const void *w, void *y, void *rstd)
{
    k_rms_fwd<<<rows, 256, 0, st(b)->stream>>>(cols, static_cast<const float *>(x), static_cast<const float *>(w),
                                                static_cast<float *>(y), static_cast<float *>(rstd));
    return check_launch(b, "rmsnorm forward");
}

/* dx as the CPU backend; dw accumulated with atomics per column. */
__global__ void k_rms_bwd(int cols, const float *x, const float *w, const float *rstd, const float *dy, float *dx,
                          float *dw)
{
    __shared__ float sh[256];
    size_t o = (size_t)blockIdx.x * cols;
    float s = rstd[blockIdx.x], dot = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        dot += x[o + c] * w[c] * dy[o + c];
    float k = block_sum(dot, sh) / cols * s * s;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        dx[o + c] = s * (w[c] * dy[o + c] - x[o + c] * k);
        atomicAdd(&dw[c], x[o + c] * s * dy[o + c]);
    }
}

int cu_rms_bwd(mp_backend *b, int rows, int cols, const void *x, const void *w, const void *rstd, const void *dy,
               void *dx, void *dw)
{
    k_rms_bwd<<<rows, 256, 0, st(b)->stream>>>(cols, static_cast<const float *>(x), static_cast<const float *>(w),
                                                static_cast<const float *>(rstd), static_cast<const float *>(dy),
                                                static_cast<float *>(dx), static_cast<float *>(dw));
    return check_launch(b, "rmsnorm backward");
}

__global__ void k_swiglu_fwd(int rows, int cols, const float *in, float *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)rows * cols)
        return;
    size_t r = i / cols, c = i % cols;
    float g = in[r * 2 * cols + c], u = in[r * 2 * cols + cols + c];
    out[i] = g / (1.0f + __expf(-g)) * u;
}

__global__ void k_swiglu_bwd(int rows, int cols, const float *in, const float *d, float *din)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)rows * cols)
        return;
    size_t r = i / cols, c = i % cols;
    float g = in[r * 2 * cols + c], u = in[r * 2 * cols + cols + c], sg = 1.0f / (1.0f + __expf(-g));
    din[r * 2 * cols + cols + c] = d[i] * g * sg;
    din[r * 2 * cols + c] = d[i] * u * sg * (1.0f + g * (1.0f - sg));
}

int cu_swiglu_fwd(mp_backend *b, int rows, int cols, const void *in, void *out)
{
    size_t n = (size_t)rows * cols;
    k_swiglu_fwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(rows, cols, static_cast<const float *>(in),
                                                            static_cast<float *>(out));
    return check_launch(b, "swiglu forward");
}

int cu_swiglu_bwd(mp_backend *b, int rows, int cols, const void *in, const void *dout, void *din)
{
    size_t n = (size_t)rows * cols;
    k_swiglu_bwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(rows, cols, static_cast<const float *>(in),
                                                            static_cast<const float *>(dout), static_cast<float *>(din));
    return check_launch(b, "swiglu backward");
}

#define GELU_C 0.7978845608028654f

__global__ void k_gelu_fwd(size_t n, const float *in, float *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_C * (x + 0.044715f * x * x * x)));
    }
}

__global__ void k_gelu_bwd(size_t n, const float *in, const float *d, float *din)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) {
        float x = in[i], t = tanhf(GELU_C * (x + 0.044715f * x * x * x));
        din[i] = d[i] * (0.5f * (1 + t) + 0.5f * x * (1 - t * t) * GELU_C * (1 + 0.134145f * x * x));
    }
}

int cu_gelu_fwd(mp_backend *b, size_t n, const void *in, void *out)
{
    k_gelu_fwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(n, static_cast<const float *>(in), static_cast<float *>(out));
    return check_launch(b, "gelu forward");
}

int cu_gelu_bwd(mp_backend *b, size_t n, const void *in, const void *dout, void *din)
{
    k_gelu_bwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(n, static_cast<const float *>(in),
                                                          static_cast<const float *>(dout), static_cast<float *>(din));
    return check_launch(b, "gelu backward");
}

__global__ void k_embed_fwd(int tokens, int hidden, const int *ids, const float *table, float *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < (size_t)tokens * hidden)
        out[i] = table[(size_t)ids[i / hidden] * hidden + i % hidden];
}

__global__ void k_embed_bwd(int tokens, int hidden, const int *ids, const float *d, float *dt)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < (size_t)tokens * hidden)
        atomicAdd(&dt[(size_t)ids[i / hidden] * hidden + i % hidden], d[i]);
}

int cu_embed_fwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *table, void *out)
{
    size_t n = (size_t)tokens * hidden;
    k_embed_fwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(tokens, hidden, ids, static_cast<const float *>(table),
                                                           static_cast<float *>(out));
    return check_launch(b, "embedding forward");
}

int cu_embed_bwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *dout, void *dtable)
{
    size_t n = (size_t)tokens * hidden;
    k_embed_bwd<<<blocks(n, 256), 256, 0, st(b)->stream>>>(tokens, hidden, ids, static_cast<const float *>(dout),
                                                           static_cast<float *>(dtable));
    return check_launch(b, "embedding backward");
}

__global__ void k_rope(int rows, int heads, int dim, int seq, float *x, float sign)
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
    float *v = x + th * dim;
    float a = v[p], bb = v[p + half];
    v[p] = a * c - bb * s;
    v[p + half] = a * s + bb * c;
}

int cu_rope(mp_backend *b, int rows, int heads, int dim, int seq, void *x, bool backward)
{
    size_t n = (size_t)rows * heads * (dim / 2);
    k_rope<<<blocks(n, 256), 256, 0, st(b)->stream>>>(rows, heads, dim, seq, static_cast<float *>(x),
                                                      backward ? -1.0f : 1.0f);
    return check_launch(b, "rope");
}

/* One thread per token: softmax over the experts, then k selections (ties
 * to the lower index), renormalised -- the CPU backend's order exactly. */
__global__ void k_router(int tokens, int experts, int k, const float *logits, float *probs, int *idx)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= tokens)
        return;
    const float *l = logits + (size_t)t * experts;
    float mx = l[0];
    for (int e = 1; e < experts; e++)
        mx = fmaxf(mx, l[e]);
    float sum = 0;
    for (int e = 0; e < experts; e++)
        sum += __expf(l[e] - mx);
    float kept = 0;
    for (int j = 0; j < k; j++) {
        int best = -1;
        float bp = -1;
        for (int e = 0; e < experts; e++) {
            bool taken = false;
            for (int q = 0; q < j; q++)
                taken |= idx[(size_t)t * k + q] == e;
            float p = __expf(l[e] - mx) / sum;
            if (!taken && (best < 0 || p > bp)) {
                best = e;
                bp = p;
            }
        }
        idx[(size_t)t * k + j] = best;
        probs[(size_t)t * k + j] = bp;
        kept += bp;
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
    k_router<<<blocks((size_t)tokens, 128), 128, 0, st(b)->stream>>>(tokens, experts, k,
                                                                     static_cast<const float *>(logits),
                                                                     static_cast<float *>(probs), idx);
    return check_launch(b, "router");
}

/* Permutation: slots computed in one thread (a serial scan over the
 * copies in token order, as the CPU backend: deterministic), at most 4096
 * experts; then the rows copied in parallel. */
__global__ void k_slots(int copies, int experts, int capacity, const int *idx, int *counts, int *slot, int *err)
{
    int start[4096], fill[4096];
    for (int e = 0; e < experts; e++)
        counts[e] = fill[e] = 0;
    for (int i = 0; i < copies; i++) {
        int e = idx[i];
        if (e < 0 || e >= experts) {
            *err = e;
            return;
        }
        if (capacity <= 0 || counts[e] < capacity)
            counts[e]++;
    }
    for (int e = 0, s = 0; e < experts; e++) {
        start[e] = s;
        s += counts[e];
    }
    for (int i = 0; i < copies; i++) {
        int e = idx[i];
        slot[i] = fill[e] < counts[e] ? start[e] + fill[e]++ : -1;
    }
}

__global__ void k_gather_rows(int copies, int hidden, int k, const int *slot, const float *x, float *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)copies * hidden)
        return;
    int c = (int)(i / hidden), h = (int)(i % hidden), s = slot[c];
    if (s >= 0)
        out[(size_t)s * hidden + h] = x[(size_t)(c / k) * hidden + h];
}

int cu_permute(mp_backend *b, int tokens, int hidden, int k, int experts, int capacity, const int *idx, const void *x,
               void *out, int *counts, int *slot)
{
    if (experts > 4096) {
        snprintf(b->err, sizeof b->err, "permute: %d experts; the CUDA kernel takes at most 4096", experts);
        return -1;
    }
    int *err = static_cast<int *>(cu_alloc_int(b, 1)), bad = -1;
    if (!err)
        return -1;
    cudaMemcpyAsync(err, &bad, sizeof bad, cudaMemcpyHostToDevice, st(b)->stream);
    int copies = tokens * k;
    k_slots<<<1, 1, 0, st(b)->stream>>>(copies, experts, capacity, idx, counts, slot, err);
    k_gather_rows<<<blocks((size_t)copies * hidden, 256), 256, 0, st(b)->stream>>>(
        copies, hidden, k, slot, static_cast<const float *>(x), static_cast<float *>(out));
    cudaMemcpyAsync(&bad, err, sizeof bad, cudaMemcpyDeviceToHost, st(b)->stream);
    cudaStreamSynchronize(st(b)->stream);
    cu_release(b, err);
    if (bad != -1) {
        snprintf(b->err, sizeof b->err, "permute: expert index %d out of range (experts %d)", bad, experts);
        return -1;
    }
    return check_launch(b, "permute");
}

__global__ void k_unpermute(int tokens, int hidden, int k, const int *slot, const float *probs, const float *in,
                            float *y)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)tokens * hidden)
        return;
    int t = (int)(i / hidden), h = (int)(i % hidden);
    float acc = 0;
    for (int j = 0; j < k; j++) {
        int s = slot[(size_t)t * k + j];
        if (s >= 0)
            acc += probs[(size_t)t * k + j] * in[(size_t)s * hidden + h];
    }
    y[i] = acc;
}

int cu_unpermute(mp_backend *b, int tokens, int hidden, int k, const int *slot, const void *probs, const void *in,
                 void *y)
{
    size_t n = (size_t)tokens * hidden;
    k_unpermute<<<blocks(n, 256), 256, 0, st(b)->stream>>>(tokens, hidden, k, slot, static_cast<const float *>(probs),
                                                           static_cast<const float *>(in), static_cast<float *>(y));
    return check_launch(b, "unpermute");
}

/* Causal softmax of each score row in place (one block per row), the
 * log-sum-exp kept. */
__global__ void k_causal_softmax(int seq, float *s, float *lse)
{
    __shared__ float sh[256];
    int row = blockIdx.x, i = row % seq;
    float *r = s + (size_t)row * seq;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        mx = fmaxf(mx, r[j]);
    mx = block_max(mx, sh);
    float sum = 0;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        sum += __expf(r[j] - mx);
    sum = block_sum(sum, sh);
    for (int j = threadIdx.x; j < seq; j += blockDim.x)
        r[j] = j <= i ? __expf(r[j] - mx) / sum : 0.0f;
    if (threadIdx.x == 0)
        lse[row] = mx + logf(sum);
}

/* A strided-batched fp32 GEMM over heads (row-major, as cu_gemm). */
int batched(mp_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A, long long sa,
            const float *B, long long sb, float *C, long long sc, int batch)
{
    float beta = 0;
    cublasStatus_t r = cublasSgemmStridedBatched(st(b)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                 ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B, tb ? k : n, sb, A,
                                                 ta ? m : k, sa, &beta, C, n, sc, batch);
    if (r != CUBLAS_STATUS_SUCCESS) {
        snprintf(b->err, sizeof b->err, "attention GEMM %dx%dx%d x%d: cuBLAS status %d", m, n, k, batch, (int)r);
        return -1;
    }
    return 0;
}

int cu_attention_fwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v, void *o,
                     void *lse)
{
    float *s = static_cast<float *>(cu_alloc(b, (size_t)heads * seq * seq));
    if (!s) {
        snprintf(b->err, sizeof b->err, "attention: out of GPU memory for %d x %d x %d scores", heads, seq, seq);
        return -1;
    }
    long long hs = (long long)seq * dim, ss = (long long)seq * seq;
    int rc = batched(b, false, true, seq, seq, dim, 1.0f / sqrtf((float)dim), static_cast<const float *>(q), hs,
                     static_cast<const float *>(k), hs, s, ss, heads);
    if (!rc) {
        k_causal_softmax<<<heads * seq, 256, 0, st(b)->stream>>>(seq, s, static_cast<float *>(lse));
        rc = batched(b, false, false, seq, dim, seq, 1.0f, s, ss, static_cast<const float *>(v), hs,
                     static_cast<float *>(o), hs, heads);
    }
    cu_release(b, s);
    return rc ? rc : check_launch(b, "attention forward");
}

/* P from the scores and lse; dS = P (dP - D), D_i = dO_i . O_i. */
__global__ void k_attn_ds(int seq, int dim, const float *lse, const float *dout, const float *o, float *p, float *dp)
{
    __shared__ float sh[256];
    int row = blockIdx.x, i = row % seq, h = row / seq;
    float d = 0;
    for (int c = threadIdx.x; c < dim; c += blockDim.x)
        d += dout[((size_t)h * seq + i) * dim + c] * o[((size_t)h * seq + i) * dim + c];
    d = block_sum(d, sh);
    float *pr = p + (size_t)row * seq, *dr = dp + (size_t)row * seq;
    for (int j = threadIdx.x; j < seq; j += blockDim.x) {
        float pj = j <= i ? __expf(pr[j] - lse[row]) : 0.0f;
        pr[j] = pj;
        dr[j] = pj * (dr[j] - d);
    }
}

int cu_attention_bwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
                     const void *o, const void *lse, const void *dout, void *dq, void *dk, void *dv)
{
    size_t n = (size_t)heads * seq * seq;
    float *p = static_cast<float *>(cu_alloc(b, n)), *dp = static_cast<float *>(cu_alloc(b, n));
    if (!p || !dp) {
        cu_release(b, p);
        cu_release(b, dp);
        snprintf(b->err, sizeof b->err, "attention backward: out of GPU memory for 2 x %d x %d x %d scores", heads,
                 seq, seq);
        return -1;
    }
    long long hs = (long long)seq * dim, ss = (long long)seq * seq;
    float sc = 1.0f / sqrtf((float)dim);
    const float *Q = static_cast<const float *>(q), *K = static_cast<const float *>(k),
                *V = static_cast<const float *>(v), *G = static_cast<const float *>(dout);
    int rc = batched(b, false, true, seq, seq, dim, sc, Q, hs, K, hs, p, ss, heads) ||
             batched(b, false, true, seq, seq, dim, 1.0f, G, hs, V, hs, dp, ss, heads);
    if (!rc) {
        k_attn_ds<<<heads * seq, 256, 0, st(b)->stream>>>(seq, dim, static_cast<const float *>(lse), G,
                                                          static_cast<const float *>(o), p, dp);
        rc = batched(b, true, false, seq, dim, seq, 1.0f, p, ss, G, hs, static_cast<float *>(dv), hs, heads) ||
             batched(b, false, false, seq, dim, seq, sc, dp, ss, K, hs, static_cast<float *>(dq), hs, heads) ||
             batched(b, true, false, seq, dim, seq, sc, dp, ss, Q, hs, static_cast<float *>(dk), hs, heads);
    }
    cu_release(b, p);
    cu_release(b, dp);
    return rc ? -1 : check_launch(b, "attention backward");
}

__global__ void k_xent(int vocab, const float *l, const int *target, float *loss, float *d, int rows, int *bad)
{
    __shared__ float sh[256];
    const float *lr = l + (size_t)blockIdx.x * vocab;
    float *dr = d + (size_t)blockIdx.x * vocab;
    int t = target[blockIdx.x];
    if (t < 0 || t >= vocab) {
        if (threadIdx.x == 0)
            *bad = t;
        return;
    }
    float mx = -INFINITY;
    for (int c = threadIdx.x; c < vocab; c += blockDim.x)
        mx = fmaxf(mx, lr[c]);
    mx = block_max(mx, sh);
    float sum = 0;
    for (int c = threadIdx.x; c < vocab; c += blockDim.x)
        sum += __expf(lr[c] - mx);
    sum = block_sum(sum, sh);
    for (int c = threadIdx.x; c < vocab; c += blockDim.x)
        dr[c] = (__expf(lr[c] - mx) / sum - (c == t ? 1.0f : 0.0f)) / rows;
    if (threadIdx.x == 0)
        loss[blockIdx.x] = logf(sum) + mx - lr[t];
}

int cu_xent(mp_backend *b, int rows, int vocab, const void *logits, const int *target, void *loss, void *dlogits)
{
    int *badp = static_cast<int *>(cu_alloc_int(b, 1)), bad = -1;
    if (!badp)
        return -1;
    cudaMemcpyAsync(badp, &bad, sizeof bad, cudaMemcpyHostToDevice, st(b)->stream);
    k_xent<<<rows, 256, 0, st(b)->stream>>>(vocab, static_cast<const float *>(logits), target,
                                             static_cast<float *>(loss), static_cast<float *>(dlogits), rows, badp);
    cudaMemcpyAsync(&bad, badp, sizeof bad, cudaMemcpyDeviceToHost, st(b)->stream);
    cudaStreamSynchronize(st(b)->stream);
    cu_release(b, badp);
    if (bad != -1) {
        snprintf(b->err, sizeof b->err, "cross-entropy: target %d outside the vocabulary of %d", bad, vocab);
        return -1;
    }
    return check_launch(b, "cross-entropy");
}

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
    float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
    k_adamw<<<blocks(n, 256), 256, 0, st(b)->stream>>>(n, static_cast<float *>(param), static_cast<const float *>(grad),
                                                        static_cast<float *>(m), static_cast<float *>(v), lr, beta1,
                                                        beta2, eps, wd, c1, c2);
    return check_launch(b, "adamw");
}

/* ------------------------------------------------------------ NCCL */

int nccl_fail(mp_backend *b, const char *what, ncclResult_t r)
{
    snprintf(b->err, sizeof b->err, "%s: %s", what, ncclGetErrorString(r));
    return -1;
}

int cu_comm_id(mp_backend *b, void *id, size_t len)
{
    static_assert(sizeof(ncclUniqueId) <= MP_BACKEND_COMM_ID_BYTES, "ncclUniqueId fits the world's buffer");
    if (len < sizeof(ncclUniqueId)) {
        snprintf(b->err, sizeof b->err, "a %zu-byte id buffer, NCCL needs %zu", len, sizeof(ncclUniqueId));
        return -1;
    }
    ncclUniqueId u;
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r != ncclSuccess)
        return nccl_fail(b, "ncclGetUniqueId", r);
    memcpy(id, &u, sizeof u);
    return 0;
}

int cu_comm_init(mp_backend *b, int group, int nranks, int rank, const void *id)
{
    if (group < 0 || group >= MP_BACKEND_GROUPS) {
        snprintf(b->err, sizeof b->err, "group index %d out of range", group);
        return -1;
    }
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclResult_t r = ncclCommInitRank(&st(b)->comm[group], nranks, u, rank);
    return r == ncclSuccess ? 0 : nccl_fail(b, "ncclCommInitRank", r);
}

/* The same buffers and counts as the MPI version (run_mpi.c): `bytes` of
 * fp32 rounded up to whole shares of the group. */
int cu_collective(mp_backend *b, int group, int coll, double bytes, int reps, double *seconds)
{
    cuda_state *s = st(b);
    *seconds = 0;
    ncclComm_t c = group >= 0 && group < MP_BACKEND_GROUPS ? s->comm[group] : NULL;
    if (!c) {
        snprintf(b->err, sizeof b->err, "no NCCL communicator for group %d", group);
        return -1;
    }
    int n = 0, me = 0;
    ncclCommCount(c, &n);
    ncclCommUserRank(c, &me);
    if (n <= 1 || bytes <= 0)
        return 0;
    size_t count = (size_t)ceil(bytes / sizeof(float));
    count = (count + (size_t)n - 1) / (size_t)n * (size_t)n;
    size_t share = count / (size_t)n;
    if (count > s->cbuf_floats) {
        cudaFree(s->cbuf[0]);
        cudaFree(s->cbuf[1]);
        s->cbuf[0] = s->cbuf[1] = NULL;
        s->cbuf_floats = 0;
        cudaError_t e = cudaMalloc(&s->cbuf[0], count * sizeof(float));
        if (e == cudaSuccess)
            e = cudaMalloc(&s->cbuf[1], count * sizeof(float));
        if (e != cudaSuccess)
            return cuda_fail(b, "cudaMalloc for a collective", e);
        s->cbuf_floats = count;
    }
    if (!s->ev[0] && (cudaEventCreate(&s->ev[0]) != cudaSuccess || cudaEventCreate(&s->ev[1]) != cudaSuccess))
        return cuda_fail(b, "cudaEventCreate", cudaGetLastError());
    float *a = s->cbuf[0], *r = s->cbuf[1];
    double t[64];
    bool once = reps <= 0;
    if (once)
        reps = 1;
    if (reps > 64)
        reps = 64;
    for (int i = once ? 0 : -1; i < reps; i++) {
        cudaEventRecord(s->ev[0], s->stream);
        ncclResult_t rc = ncclSuccess;
        switch (coll) {
        case 1: rc = ncclAllReduce(a, r, count, ncclFloat, ncclSum, c, s->stream); break;
        case 2: rc = ncclAllGather(a, r, share, ncclFloat, c, s->stream); break;
        case 3: rc = ncclReduceScatter(a, r, share, ncclFloat, ncclSum, c, s->stream); break;
        case 4: /* all-to-all: a send and a receive of `share` per peer, grouped */
            rc = ncclGroupStart();
            for (int p = 0; p < n && rc == ncclSuccess; p++) {
                rc = ncclSend(a + (size_t)p * share, share, ncclFloat, p, c, s->stream);
                if (rc == ncclSuccess)
                    rc = ncclRecv(r + (size_t)p * share, share, ncclFloat, p, c, s->stream);
            }
            if (rc == ncclSuccess)
                rc = ncclGroupEnd();
            break;
        case 5: /* send to the next member, receive from the previous */
            rc = ncclGroupStart();
            if (rc == ncclSuccess)
                rc = ncclSend(a, count, ncclFloat, (me + 1) % n, c, s->stream);
            if (rc == ncclSuccess)
                rc = ncclRecv(r, count, ncclFloat, (me + n - 1) % n, c, s->stream);
            if (rc == ncclSuccess)
                rc = ncclGroupEnd();
            break;
        default: snprintf(b->err, sizeof b->err, "collective %d: not one NCCL runs here", coll); return -1;
        }
        if (rc != ncclSuccess)
            return nccl_fail(b, "NCCL collective", rc);
        cudaEventRecord(s->ev[1], s->stream);
        cudaError_t e = cudaEventSynchronize(s->ev[1]);
        if (e != cudaSuccess)
            return cuda_fail(b, "a collective", e);
        float ms = 0;
        cudaEventElapsedTime(&ms, s->ev[0], s->ev[1]);
        if (i >= 0)
            t[i] = ms * 1e-3;
    }
    *seconds = mp_median(t, reps);
    return 0;
}

} // namespace

extern "C" const mp_backend_ops mp_backend_cuda = {
    "cuda",
    cu_alloc,
    cu_release,
    cu_upload,
    cu_download,
    cu_alloc_int,
    cu_upload_int,
    cu_download_int,
    cu_sync,
    cu_now,
    cu_timer_begin,
    cu_timer_end,
    cu_high_water,
    NULL, /* set_threads: the GPU's kernels use no host threads */
    cu_gemm,
    cu_gemm_grouped,
    cu_copy,
    cu_add,
    cu_rms_fwd,
    cu_rms_bwd,
    cu_swiglu_fwd,
    cu_swiglu_bwd,
    cu_gelu_fwd,
    cu_gelu_bwd,
    cu_embed_fwd,
    cu_embed_bwd,
    cu_rope,
    cu_router,
    cu_permute,
    cu_unpermute,
    cu_attention_fwd,
    cu_attention_bwd,
    cu_xent,
    cu_adamw,
    cu_comm_id,
    cu_comm_init,
    cu_collective,
};

extern "C" bool mp_backend_cuda_open(mp_backend *b, char *why, size_t why_len)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(why, why_len, "no GPU found (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return false;
    }
    /* One GPU per rank: the launcher's node-local rank picks it. */
    const char *const local_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "LOCAL_RANK"};
    int device = 0;
    for (const char *v : local_vars)
        if (getenv(v)) {
            device = atoi(getenv(v)) % n;
            break;
        }
    if ((e = cudaSetDevice(device)) != cudaSuccess) {
        snprintf(why, why_len, "cudaSetDevice(%d): %s", device, cudaGetErrorString(e));
        return false;
    }
    cuda_state *s = static_cast<cuda_state *>(calloc(1, sizeof *s));
    if (!s) {
        snprintf(why, why_len, "out of host memory");
        return false;
    }
    s->device = device;
    if ((e = cudaStreamCreate(&s->stream)) != cudaSuccess) {
        snprintf(why, why_len, "cudaStreamCreate: %s", cudaGetErrorString(e));
        free(s);
        return false;
    }
    if (cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cublasCreate failed");
        cudaStreamDestroy(s->stream);
        free(s);
        return false;
    }
    cublasSetStream(s->blas, s->stream);
    b->ops = &mp_backend_cuda;
    b->impl = s;
    return true;
}

extern "C" void mp_backend_cuda_close(mp_backend *b)
{
    cuda_state *s = static_cast<cuda_state *>(b->impl);
    if (!s)
        return;
    cudaStreamSynchronize(s->stream);
    for (int g = 0; g < MP_BACKEND_GROUPS; g++)
        if (s->comm[g])
            ncclCommDestroy(s->comm[g]);
    cudaFree(s->cbuf[0]);
    cudaFree(s->cbuf[1]);
    for (int i = 0; i < 2; i++) {
        if (s->ev[i])
            cudaEventDestroy(s->ev[i]);
        if (s->tev[i])
            cudaEventDestroy(s->tev[i]);
    }
    cudaFree(s->scratch);
    cublasDestroy(s->blas);
    cudaStreamDestroy(s->stream);
    free(s);
    b->impl = NULL;
}
