/* The CUDA backend's internals, shared by backend_cuda.cu (memory,
 * timers, matrix products, NCCL, the table) and backend_cuda_kernels.cu
 * (moeplan's own kernels).  C++ for nvcc; not installed, no C file
 * includes it (src/backend.c names the backend through backend_internal.h). */
#ifndef MOEPLAN_BACKEND_CUDA_H
#define MOEPLAN_BACKEND_CUDA_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdint.h>

#include <map>

extern "C" {
#include "backend_internal.h"
}

namespace mpcuda {

/* The element type of alloc's buffers, and cuBLAS's name for it. */
typedef __nv_bfloat16 elem;
constexpr cudaDataType_t ELEM_T = CUDA_R_16BF;

__host__ __device__ inline float tof(elem v) { return __bfloat162float(v); }
__host__ __device__ inline elem toe(float v) { return __float2bfloat16(v); }

enum buf_kind { BUF_ELEM, BUF_F32, BUF_INT };

struct buf_info {
    size_t bytes;
    buf_kind kind;
};

struct cuda_state {
    cublasHandle_t blas = NULL;
    cudaStream_t stream = NULL;
    int device = 0;
    std::map<uintptr_t, buf_info> bufs; /* every live allocation, by its start */
    ncclComm_t comm[MP_BACKEND_GROUPS] = {}; /* one per layout group, NCCL's */
    float *cbuf[2] = {NULL, NULL}; /* a collective's send and receive buffers */
    size_t cbuf_floats = 0;
    cudaEvent_t ev[2] = {NULL, NULL};  /* timing a collective on the stream */
    cudaEvent_t tev[2] = {NULL, NULL}; /* the op timer (timer_begin / timer_end) */
    /* Scratch of the attention kernels (scores), kept and grown, so that
     * no op allocates inside its timed span after the first run. */
    void *scratch = NULL;
    size_t scratch_bytes = 0;
    /* Input checks the kernels make without the host waiting: flag_dev[0]
     * permute's lowest copy with an expert index out of range, [1] cross
     * entropy's lowest row with its target outside the vocabulary, each
     * stored as INT_MAX - index (0: none, so a memset clears them); copied
     * to flag_host (pinned) at the op's end and read at the next wait
     * (sync, timer end, download): the op's error then. */
    int *flag_dev = NULL, *flag_host = NULL;
    bool flag_pending = false;
    int flag_experts = 0, flag_vocab = 0;
};

inline cuda_state *st(mp_backend *b) { return static_cast<cuda_state *>(b->impl); }

inline unsigned blocks(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

/* 16-byte vector access: every pointer aligned and the count a multiple
 * of 8 elements. */
inline bool aligned16(const void *a, const void *b2 = NULL, const void *c = NULL, const void *d = NULL)
{
    return (((uintptr_t)a | (uintptr_t)b2 | (uintptr_t)c | (uintptr_t)d) & 15) == 0;
}

/* The error of a CUDA call (-1, err says); after launches, the launch's. */
int cuda_fail(mp_backend *b, const char *what, cudaError_t e);
int check_launch(mp_backend *b, const char *what);
/* The input errors kernels flagged, read after a wait (backend_cuda.cu). */
int check_flags(mp_backend *b);
/* Behind an op whose kernels flag bad inputs: copy the flags back. */
int flag_after(mp_backend *b, const char *what);
/* The attention kernels' scratch, at least `bytes` (kept and grown). */
void *scratch(mp_backend *b, size_t bytes);
/* n bytes rounded up to the next 256 (each scratch part aligned). */
inline size_t up256(size_t n) { return (n + 255) / 256 * 256; }
/* A strided-batched product over heads, bf16 operands, the result in
 * ctype (backend_cuda.cu). */
int batched(mp_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const void *A, long long sa,
            const void *B, long long sb, void *C, cudaDataType_t ctype, long long sc, int batch);

/* backend_cuda_kernels.cu: the table's kernels. */
int cu_copy(mp_backend *b, void *dst, const void *src, size_t n);
int cu_add(mp_backend *b, size_t n, const void *x, const void *r, void *y);
int cu_gelu_fwd(mp_backend *b, size_t n, const void *in, void *out);
int cu_gelu_bwd(mp_backend *b, size_t n, const void *in, const void *dout, void *din);
int cu_swiglu_fwd(mp_backend *b, int rows, int cols, const void *in, void *out);
int cu_swiglu_bwd(mp_backend *b, int rows, int cols, const void *in, const void *dout, void *din);
int cu_rms_fwd(mp_backend *b, int rows, int cols, const void *x, const void *w, void *y, void *rstd);
int cu_rms_bwd(mp_backend *b, int rows, int cols, const void *x, const void *w, const void *rstd, const void *dy,
            void *dx, void *dw);
int cu_embed_fwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *table, void *out);
int cu_embed_bwd(mp_backend *b, int tokens, int hidden, const int *ids, const void *dout, void *dtable);
int cu_rope(mp_backend *b, int rows, int heads, int dim, int seq, void *x, bool backward);
int cu_router(mp_backend *b, int tokens, int experts, int k, const void *logits, void *probs, int *idx);
int cu_permute(mp_backend *b, int tokens, int hidden, int k, int experts, int capacity, const int *idx,
            const void *x, void *out, int *counts, int *slot);
int cu_unpermute(mp_backend *b, int tokens, int hidden, int k, const int *slot, const void *probs, const void *in,
            void *y);
int cu_attention_fwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
            void *o, void *lse);
int cu_attention_bwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
            const void *o, const void *lse, const void *dout, void *dq, void *dk, void *dv);
/* backend_cuda_flash.cu: flash attention (src/flash_attn.cuh), taken by
 * cu_attention_* where cu_flash_fits (head dim 64 or 128, the buffers
 * 16-byte aligned, fewer than 65536 tiles of 64 rows). */
bool cu_flash_fits(int dim, int seq, const void *a, const void *b2, const void *c, const void *d);
int cu_flash_fwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v, void *o,
            void *lse);
int cu_flash_bwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
            const void *o, const void *lse, const void *dout, void *dq, void *dk, void *dv);
int cu_xent(mp_backend *b, int rows, int vocab, const void *logits, const int *target, void *loss, void *dlogits);
int cu_adamw(mp_backend *b, size_t n, void *param, const void *grad, void *m, void *v, float lr, float beta1,
            float beta2, float eps, float wd, int t);

} // namespace mpcuda

#endif
