/* The CUDA backend's flash attention: the GPU primitives that
 * src/flash_attn.cuh's kernels are written against (tensor cores through
 * PTX mma.sync, warp shuffles, shared memory), the kernels, and their
 * launches.  cu_attention_fwd / _bwd (backend_cuda_kernels.cu) take this
 * path for head dims 64 and 128 with 16-byte aligned buffers, and the
 * materialised one otherwise.  tests/test_flash_emul.cpp runs the same
 * kernel source on the host against an emulation of these primitives;
 * the `gpu` suite runs it here. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "backend_cuda.h"

/* ------------------------------------------------------------ primitives */

#define FA_DEV __device__ __forceinline__
typedef __nv_bfloat16 fa_elem;

__device__ __forceinline__ float fa_tof(fa_elem e) { return __bfloat162float(e); }
__device__ __forceinline__ fa_elem fa_toe(float x) { return __float2bfloat16(x); } /* nearest, ties to even */
__device__ __forceinline__ uint32_t fa_pair(fa_elem lo, fa_elem hi)
{
    return (uint32_t)__bfloat16_as_ushort(lo) | ((uint32_t)__bfloat16_as_ushort(hi) << 16);
}
__device__ __forceinline__ uint32_t fa_pack(float lo, float hi)
{
    return fa_pair(__float2bfloat16(lo), __float2bfloat16(hi));
}
__device__ __forceinline__ void fa_st32(fa_elem *p, uint32_t u) { *reinterpret_cast<uint32_t *>(p) = u; }
__device__ __forceinline__ float fa_shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
__device__ __forceinline__ void fa_sync(void) { __syncthreads(); }
/* float2 atomicAdd on global memory exists from sm_90 (crt/sm_90_rt.h). */
__device__ __forceinline__ void fa_atomic_add2(float *p, float a, float b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    atomicAdd(reinterpret_cast<float2 *>(p), make_float2(a, b));
#else
    atomicAdd(p, a);
    atomicAdd(p + 1, b);
#endif
}
__device__ __forceinline__ float fa_exp2(float x) { return exp2f(x); }
__device__ __forceinline__ float fa_log2(float x) { return log2f(x); }

/* c += A B on the tensor cores: A 16x16, B 16x8 bf16, c fp32 (sm_80 and
 * later; the build's targets are sm_80 and sm_90, src/meson.build). */
__device__ __forceinline__ void fa_mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "flash attention needs sm_80 or later (mma.sync.m16n8k16 with bf16)"
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

/* The shared-memory address of a generic pointer into shared memory. */
__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* Four 8x8 b16 matrices from shared memory, as flash_attn.cuh says
 * (PTX ISA, ldmatrix; sm_75 and later). */
__device__ __forceinline__ void fa_ldsm4(uint32_t r[4], const fa_elem *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(row)));
}
__device__ __forceinline__ void fa_ldsm4_t(uint32_t r[4], const fa_elem *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(row)));
}

/* 16 bytes global to shared without passing through registers (sm_80
 * and later), bypassing L1 (.cg); a source size of 0 writes zeros (PTX
 * ISA, cp.async: "the remaining bytes ... are filled with zeros"). */
__device__ __forceinline__ void fa_cp_async16(void *dst, const void *src, bool fill)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)),
                 "l"(__cvta_generic_to_global(src)), "r"(fill ? 16 : 0));
}
__device__ __forceinline__ void fa_cp_wait_all(void) { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

#include "flash_attn.cuh"

namespace mpcuda {

/* ------------------------------------------------------------ kernels */

/* Blocks an SM keeps resident (a launch bound caps registers at 65536 /
 * (blocks x 128) a thread): the backward 3 at D 64 (ptxas takes 166
 * registers; without the bound 191 on sm_90, and 2 blocks) and 2 at 128.
 * The forward is left to ptxas: 121-125 registers at D 64 (4 blocks),
 * 165-167 at 128 (3 blocks).  nvcc 13, sm_80 and sm_90, -Xptxas -v: no
 * spills, no stack. */
template <int D> struct fa_occupancy {
    static constexpr int bwd = D <= 64 ? 3 : 2;
};

template <int D>
__global__ void __launch_bounds__(fa::FA_THREADS)
    k_flash_fwd(int seq, float scale_log2, const elem *q, const elem *k, const elem *v, elem *o, float *lse)
{
    extern __shared__ __align__(16) unsigned char fa_smem[];
    /* The longest blocks first: query block qb reads qb + 1 key tiles, so
     * blocks are taken last to first (scheduled in blockIdx order, the
     * short ones then fill the tail of the grid). */
    fa::fwd_block<D>(seq, scale_log2, q, k, v, o, lse, fa_smem, threadIdx.x, blockIdx.x, gridDim.y - 1 - blockIdx.y);
}

template <int D>
__global__ void __launch_bounds__(fa::FA_THREADS, fa_occupancy<D>::bwd)
    k_flash_bwd(int seq, float scale, float scale_log2, const elem *q, const elem *k, const elem *v, const elem *dout,
                const float *lse, const float *dot, float *dq, elem *dk, elem *dv)
{
    extern __shared__ __align__(16) unsigned char fa_smem[];
    fa::bwd_block<D>(seq, scale, scale_log2, q, k, v, dout, lse, dot, dq, dk, dv, fa_smem, threadIdx.x, blockIdx.x,
                     blockIdx.y);
}

/* Four rows a block, a warp each. */
__global__ void k_flash_dot(int rows, int dim, const elem *dout, const elem *o, float *dot)
{
    fa::row_dot(rows, dim, dout, o, dot, blockIdx.x * 4 + (threadIdx.x >> 5), threadIdx.x & 31);
}

__global__ void k_f32_to_elem(size_t n, const float *x, elem *y)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = toe(x[i]);
}

/* ------------------------------------------------------------ launches */

bool cu_flash_fits(int dim, int seq, const void *a, const void *b2, const void *c, const void *d)
{
    /* grid.y holds the query (or key) blocks: at most 65535 of 64 rows */
    return (dim == 64 || dim == 128) && aligned16(a, b2, c, d) && (seq + fa::BR - 1) / fa::BR <= 65535;
}

/* Shared memory above the default 48 KB is asked for once per kernel and
 * device (the attribute is the device's: another device in the process
 * needs its own call). */
enum { FA_MAX_DEVICES = 64 };
template <class K>
static int smem_attr(mp_backend *b, K kernel, unsigned bytes, bool done[FA_MAX_DEVICES], const char *what)
{
    if (bytes <= 48 * 1024)
        return 0;
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess && dev >= 0 && dev < FA_MAX_DEVICES && done[dev])
        return 0;
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    if (e != cudaSuccess) {
        snprintf(b->err, sizeof b->err, "%s: %u bytes of shared memory a block: %s", what, bytes,
                 cudaGetErrorString(e));
        return -1;
    }
    if (dev >= 0 && dev < FA_MAX_DEVICES)
        done[dev] = true;
    return 0;
}

template <int D>
static int flash_fwd(mp_backend *b, int heads, int seq, const void *q, const void *k, const void *v, void *o,
                     void *lse)
{
    static bool attr[FA_MAX_DEVICES];
    unsigned sm = fa::shape<D>::fwd_smem;
    if (smem_attr(b, k_flash_fwd<D>, sm, attr, "flash attention forward"))
        return -1;
    dim3 grid((unsigned)heads, (unsigned)((seq + fa::BR - 1) / fa::BR));
    k_flash_fwd<D><<<grid, fa::FA_THREADS, sm, st(b)->stream>>>(
        seq, fa::LOG2E / sqrtf((float)D), static_cast<const elem *>(q), static_cast<const elem *>(k),
        static_cast<const elem *>(v), static_cast<elem *>(o), static_cast<float *>(lse));
    return check_launch(b, "flash attention forward");
}

template <int D>
static int flash_bwd(mp_backend *b, int heads, int seq, const void *q, const void *k, const void *v, const void *o,
                     const void *lse, const void *dout, void *dq, void *dk, void *dv)
{
    static bool attr[FA_MAX_DEVICES];
    size_t n = (size_t)heads * seq * D, rows = (size_t)heads * seq, fq = up256(n * sizeof(float));
    char *base = static_cast<char *>(scratch(b, fq + up256(rows * sizeof(float))));
    if (!base) {
        snprintf(b->err, sizeof b->err,
                 "flash attention backward: out of GPU memory for %d x %d x %d fp32 dQ and %d x %d row dots", heads,
                 seq, D, heads, seq);
        return -1;
    }
    float *dqa = reinterpret_cast<float *>(base), *dot = reinterpret_cast<float *>(base + fq);
    cudaError_t e = cudaMemsetAsync(dqa, 0, n * sizeof(float), st(b)->stream);
    if (e != cudaSuccess)
        return cuda_fail(b, "flash attention backward: clearing dQ", e);
    k_flash_dot<<<blocks(rows, 4), 128, 0, st(b)->stream>>>((int)rows, D, static_cast<const elem *>(dout),
                                                             static_cast<const elem *>(o), dot);
    if (check_launch(b, "flash attention backward, row dots"))
        return -1;
    unsigned sm = fa::shape<D>::bwd_smem;
    if (smem_attr(b, k_flash_bwd<D>, sm, attr, "flash attention backward"))
        return -1;
    float scale = 1.0f / sqrtf((float)D);
    dim3 grid((unsigned)heads, (unsigned)((seq + fa::BC - 1) / fa::BC));
    k_flash_bwd<D><<<grid, fa::FA_THREADS, sm, st(b)->stream>>>(
        seq, scale, scale * fa::LOG2E, static_cast<const elem *>(q), static_cast<const elem *>(k),
        static_cast<const elem *>(v), static_cast<const elem *>(dout), static_cast<const float *>(lse), dot, dqa,
        static_cast<elem *>(dk), static_cast<elem *>(dv));
    if (check_launch(b, "flash attention backward"))
        return -1;
    k_f32_to_elem<<<blocks(n, 256), 256, 0, st(b)->stream>>>(n, dqa, static_cast<elem *>(dq));
    return check_launch(b, "flash attention backward, dQ to bf16");
}

int cu_flash_fwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v, void *o,
                 void *lse)
{
    return dim == 64 ? flash_fwd<64>(b, heads, seq, q, k, v, o, lse) : flash_fwd<128>(b, heads, seq, q, k, v, o, lse);
}

int cu_flash_bwd(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
                 const void *o, const void *lse, const void *dout, void *dq, void *dk, void *dv)
{
    return dim == 64 ? flash_bwd<64>(b, heads, seq, q, k, v, o, lse, dout, dq, dk, dv)
                     : flash_bwd<128>(b, heads, seq, q, k, v, o, lse, dout, dq, dk, dv);
}

} // namespace mpcuda
