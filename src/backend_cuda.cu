/* The CUDA backend: activations, weights and their gradients in bf16 in
 * device memory, as a bf16 training framework keeps them, so that `run`
 * prices and runs the plan at its own 2 bytes per element; statistics
 * (RMSNorm's 1/rms, attention's log-sum-exp, the router's
 * probabilities, the loss), the norm and embedding weight gradients (fp32
 * accumulators) and the optimizer's master weights, gradients and moments
 * in fp32 (alloc_f32), as Megatron-LM's distributed optimizer keeps them.
 *
 * Every kernel reads its 16-bit inputs, computes in fp32 and rounds the
 * result once to bf16 (round to nearest even, 8 significant bits: within
 * 2^-8 relative).
 * Matrix products through cuBLAS, bf16 operands and result, fp32
 * accumulation (cublasGemmEx, CUBLAS_COMPUTE_32F); the grouped expert
 * product one cuBLAS call per non-empty group.  Memory-bound kernels
 * moeplan's own, reading and writing 16 bytes per thread (8 bf16) where
 * the buffers are 16-byte aligned and the width a multiple of 8, else one
 * element per thread.
 *
 * Attention at head dims 64 and 128 is flash attention, moeplan's own
 * kernels (backend_cuda_flash.cu, src/flash_attn.cuh): FlashAttention-2's
 * forward and backward on bf16 tensor cores (mma.sync), the scores kept
 * on the chip, dQ accumulated in fp32.  Other head dims materialise the
 * scores: S = Q K^T / sqrt(d) in fp32 (bf16 operands), an exact causal
 * softmax to P in bf16, O = P V; the backward recomputes S and forms
 * dS = P (dP - rowsum(dO o O)) the same way, heads x seq^2 x 6 bytes of
 * scratch forward (12 backward).  cuDNN's fused attention is not used:
 * its libraries are 490 MB (cuDNN 9.19), over the 64 MiB the GPU bundle
 * may carry (validate/gpu/bundle.sh), and a GPU machine may not have them.
 *
 * Timing: an op's time is CUDA events recorded on the stream around it
 * (timer_begin / timer_end, cudaEventElapsedTime: about half a microsecond
 * of resolution); now_s, for longer spans, synchronises the stream and
 * reads the host's monotonic clock.
 *
 * Collectives across ranks through NCCL, one communicator per layout
 * group (its id broadcast over MPI by run_mpi.c), timed with CUDA events
 * on the stream; each rank takes the GPU of its node-local rank.
 *
 * Not run on a GPU yet (no GPU was lent when it was written): compiled in
 * CI; the `gpu` test suite checks it against the CPU backend where a GPU
 * is present. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <new>
#include <vector>

#include "backend_cuda.h"

extern "C" {
#include "moeplan/runs.h" /* mp_median */
}

namespace mpcuda {

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

/* After the stream has been waited for: the input errors the kernels
 * flagged since the last wait (-1, the op and index in err), else 0. */
int check_flags(mp_backend *b)
{
    cuda_state *s = st(b);
    if (!s->flag_pending)
        return 0;
    s->flag_pending = false;
    int bad_copy = s->flag_host[0], bad_row = s->flag_host[1];
    if (!bad_copy && !bad_row)
        return 0;
    s->flag_host[0] = s->flag_host[1] = 0;
    cudaMemsetAsync(s->flag_dev, 0, 2 * sizeof(int), s->stream);
    if (bad_copy)
        snprintf(b->err, sizeof b->err, "permute: copy %d's expert index is out of range (experts %d)",
                 INT_MAX - bad_copy, s->flag_experts);
    else
        snprintf(b->err, sizeof b->err, "cross-entropy: row %d's target is outside the vocabulary of %d",
                 INT_MAX - bad_row, s->flag_vocab);
    return -1;
}

/* The op's flags copied back behind it (no wait here). */
int flag_after(mp_backend *b, const char *what)
{
    cuda_state *s = st(b);
    cudaError_t e = cudaMemcpyAsync(s->flag_host, s->flag_dev, 2 * sizeof(int), cudaMemcpyDeviceToHost, s->stream);
    if (e != cudaSuccess)
        return cuda_fail(b, what, e);
    s->flag_pending = true;
    return check_launch(b, what);
}

/* ------------------------------------------------------------ memory */

void *cu_alloc_kind(mp_backend *b, size_t n, size_t size, buf_kind kind)
{
    size_t bytes = (n ? n : 1) * size;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        snprintf(b->err, sizeof b->err, "cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
        cudaGetLastError(); /* clear it: the next call should not see it */
        return NULL;
    }
    e = cudaMemsetAsync(p, 0, bytes, st(b)->stream);
    if (e != cudaSuccess) {
        cuda_fail(b, "cudaMemsetAsync", e);
        cudaFree(p);
        return NULL;
    }
    st(b)->bufs[(uintptr_t)p] = buf_info{bytes, kind};
    b->allocated_bytes += bytes;
    if (b->allocated_bytes > b->high_water_bytes)
        b->high_water_bytes = b->allocated_bytes;
    return p;
}

void *cu_alloc(mp_backend *b, size_t n) { return cu_alloc_kind(b, n, sizeof(elem), BUF_ELEM); }
void *cu_alloc_f32(mp_backend *b, size_t n) { return cu_alloc_kind(b, n, sizeof(float), BUF_F32); }
void *cu_alloc_int(mp_backend *b, size_t n) { return cu_alloc_kind(b, n, sizeof(int), BUF_INT); }

void cu_release(mp_backend *b, void *q)
{
    if (!q)
        return;
    cuda_state *s = st(b);
    auto it = s->bufs.find((uintptr_t)q);
    if (it == s->bufs.end())
        return; /* not one of ours (or an offset into one): nothing to free */
    b->allocated_bytes -= it->second.bytes;
    s->bufs.erase(it);
    cudaStreamSynchronize(s->stream);
    cudaFree(q);
}

/* The attention kernels' scratch, at least `bytes`: kept between calls
 * and grown (the stream waited for first) when short, so only a first
 * run allocates; counted in the backend's total while held.  NULL when
 * out of memory (err says). */
void *scratch(mp_backend *b, size_t bytes)
{
    cuda_state *s = st(b);
    if (bytes <= s->scratch_bytes)
        return s->scratch;
    cudaStreamSynchronize(s->stream);
    cudaFree(s->scratch);
    b->allocated_bytes -= s->scratch_bytes;
    s->scratch = NULL;
    s->scratch_bytes = 0;
    cudaError_t e = cudaMalloc(&s->scratch, bytes);
    if (e != cudaSuccess) {
        snprintf(b->err, sizeof b->err, "cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
        cudaGetLastError();
        s->scratch = NULL;
        return NULL;
    }
    s->scratch_bytes = bytes;
    b->allocated_bytes += bytes;
    if (b->allocated_bytes > b->high_water_bytes)
        b->high_water_bytes = b->allocated_bytes;
    return s->scratch;
}

/* The allocation holding p: its kind, and the bytes from p to its end;
 * false when p is in none. */
bool find_buf(cuda_state *s, const void *p, buf_kind *kind, size_t *room)
{
    auto it = s->bufs.upper_bound((uintptr_t)p);
    if (it == s->bufs.begin())
        return false;
    --it;
    uintptr_t a = (uintptr_t)p;
    if (a >= it->first + it->second.bytes)
        return false;
    *kind = it->second.kind;
    *room = it->first + it->second.bytes - a;
    return true;
}

/* Host <-> device of `bytes`, waiting for it (the host buffer may go). */
int cu_move(mp_backend *b, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what)
{
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, st(b)->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(st(b)->stream);
    return e == cudaSuccess ? check_flags(b) : cuda_fail(b, what, e);
}

/* n floats to or from a float buffer of either kind: bf16 ones converted
 * on the host. */
int cu_floats(mp_backend *b, void *dev, float *host, size_t n, bool up)
{
    buf_kind kind;
    size_t room;
    const char *what = up ? "upload" : "download";
    if (!find_buf(st(b), dev, &kind, &room) || kind == BUF_INT) {
        snprintf(b->err, sizeof b->err, "%s of %zu floats: not a float buffer of the CUDA backend", what, n);
        return -1;
    }
    size_t size = kind == BUF_ELEM ? sizeof(elem) : sizeof(float);
    if (n * size > room) {
        snprintf(b->err, sizeof b->err, "%s of %zu floats: the buffer holds %zu", what, n, room / size);
        return -1;
    }
    if (kind == BUF_F32)
        return up ? cu_move(b, dev, host, n * size, cudaMemcpyHostToDevice, what)
                  : cu_move(b, host, dev, n * size, cudaMemcpyDeviceToHost, what);
    std::vector<elem> h;
    try {
        h.resize(n);
    } catch (const std::bad_alloc &) {
        snprintf(b->err, sizeof b->err, "%s of %zu floats: out of host memory", what, n);
        return -1;
    }
    if (up) {
        for (size_t i = 0; i < n; i++)
            h[i] = toe(host[i]);
        return cu_move(b, dev, h.data(), n * size, cudaMemcpyHostToDevice, what);
    }
    if (cu_move(b, h.data(), dev, n * size, cudaMemcpyDeviceToHost, what))
        return -1;
    for (size_t i = 0; i < n; i++)
        host[i] = tof(h[i]);
    return 0;
}

int cu_upload(mp_backend *b, void *dst, const float *src, size_t n)
{
    return cu_floats(b, dst, const_cast<float *>(src), n, true);
}

int cu_download(mp_backend *b, float *dst, const void *src, size_t n)
{
    return cu_floats(b, const_cast<void *>(src), dst, n, false);
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
    return e == cudaSuccess ? check_flags(b) : cuda_fail(b, "synchronize", e);
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
    if (!s->tev[0] &&
        ((e = cudaEventCreate(&s->tev[0])) != cudaSuccess || (e = cudaEventCreate(&s->tev[1])) != cudaSuccess))
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
    return check_flags(b) ? -1 : ms * 1e-3;
}

/* ------------------------------------------------------------ matrix products */

/* Row-major C[m x n] = op(A) op(B) + beta C: cuBLAS is column-major, so
 * it computes C^T = op(B)^T op(A)^T.  Leading dimensions at least 1 (k = 0
 * is cuBLAS's C = beta C). */
int cu_gemm(mp_backend *b, bool ta, bool tb, int m, int n, int k, const void *A, const void *B, void *C, float beta)
{
    if (m == 0 || n == 0)
        return 0;
    cuda_state *s = st(b);
    float alpha = 1.0f;
    int lda = ta ? m : k, ldb = tb ? k : n;
    cublasStatus_t r = cublasGemmEx(s->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                    &alpha, B, ELEM_T, ldb > 0 ? ldb : 1, A, ELEM_T, lda > 0 ? lda : 1, &beta, C,
                                    ELEM_T, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
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
        if (m[g] > 0 && cu_gemm(b, false, false, m[g], n, k, static_cast<const elem *>(A) + row * k,
                                static_cast<const elem *>(B) + (size_t)g * k * n, static_cast<elem *>(C) + row * n,
                                0.0f))
            return -1;
        row += m[g] > 0 ? (size_t)m[g] : 0;
    }
    return 0;
}

/* A strided-batched product over heads (row-major, as cu_gemm), bf16
 * operands, the result in ctype (fp32 scores, or bf16). */
int batched(mp_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const void *A, long long sa,
            const void *B, long long sb, void *C, cudaDataType_t ctype, long long sc, int batch)
{
    float beta = 0;
    cublasStatus_t r = cublasGemmStridedBatchedEx(st(b)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                  ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B, ELEM_T,
                                                  tb ? k : n, sb, A, ELEM_T, ta ? m : k, sa, &beta, C, ctype, n, sc,
                                                  batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (r != CUBLAS_STATUS_SUCCESS) {
        snprintf(b->err, sizeof b->err, "attention GEMM %dx%dx%d x%d: cuBLAS status %d", m, n, k, batch, (int)r);
        return -1;
    }
    return 0;
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
 * fp32 rounded up to whole shares of the group (the bytes decide the
 * time; fp32 is what the MPI side sums). */
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

} // namespace mpcuda

using namespace mpcuda;

extern "C" const mp_backend_ops mp_backend_cuda = {
    "cuda",
    (int)sizeof(elem),
    cu_alloc,
    cu_alloc_f32,
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
    cuda_state *s = new (std::nothrow) cuda_state();
    if (!s) {
        snprintf(why, why_len, "out of host memory");
        return false;
    }
    s->device = device;
    if ((e = cudaStreamCreate(&s->stream)) != cudaSuccess) {
        snprintf(why, why_len, "cudaStreamCreate: %s", cudaGetErrorString(e));
        delete s;
        return false;
    }
    if ((e = cudaMalloc(&s->flag_dev, 2 * sizeof(int))) != cudaSuccess ||
        (e = cudaMemset(s->flag_dev, 0, 2 * sizeof(int))) != cudaSuccess ||
        (e = cudaMallocHost(&s->flag_host, 2 * sizeof(int))) != cudaSuccess) {
        snprintf(why, why_len, "allocating the kernels' flags: %s", cudaGetErrorString(e));
        cudaFree(s->flag_dev);
        cudaStreamDestroy(s->stream);
        delete s;
        return false;
    }
    s->flag_host[0] = s->flag_host[1] = 0;
    if (cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cublasCreate failed");
        cudaFree(s->flag_dev);
        cudaFreeHost(s->flag_host);
        cudaStreamDestroy(s->stream);
        delete s;
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
    for (auto &kv : s->bufs) /* what the caller did not release */
        cudaFree(reinterpret_cast<void *>(kv.first));
    cudaFree(s->flag_dev);
    cudaFreeHost(s->flag_host);
    cublasDestroy(s->blas);
    cudaStreamDestroy(s->stream);
    delete s;
    b->impl = NULL;
}
