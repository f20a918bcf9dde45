/* The CUDA backend's flash attention (src/flash_attn.cuh), run on the
 * host: the kernels' own source, compiled by the host compiler against an
 * emulation of the few GPU primitives it uses, and checked against the
 * double-precision reference with per-element bounds (attn_ref.h).
 *
 * Why: the flash kernels were written where no GPU was; this runs every
 * line of their indexing, masking, sequence tails, online softmax,
 * shared-memory tiles and synchronisation, where CI runs.  It does not
 * check the hardware's own behaviour (tensor-core rounding, timing), nor
 * that mma.sync's fragment layouts are what this file says; those are
 * CUTLASS's (cute/atom/mma_traits_sm80.hpp, SM80_16x8x16_F32BF16BF16F32_TN:
 * A (T32,V8) -> (M16,K16) strides ((32,1),(16,8,128)), B ((16,1),(8,64)),
 * C SM80_16x8_Row ((32,1),(16,8))), and the `gpu` suite checks the same
 * kernels on a GPU.
 *
 * The emulation: each of a block's 128 threads is a host thread; warps
 * meet at a barrier of 32 in fa_mma (each lane posts its registers, every
 * lane rebuilds A and B from all 32 and computes its own four outputs in
 * fp32, k in order), fa_ldsm4 (each lane posts its row address and takes
 * its elements from the rows the others named) and fa_shfl_xor; fa_sync
 * is a barrier of 128.  cp.async is played at its two extremes: the
 * destination turns NaN when the copy is issued and the data lands only
 * at the issuing thread's wait, so a tile read before its wait and
 * barrier, or overwritten while another warp still reads it, shows.
 * Shared memory and every output start as NaN (bf16 and fp32 all-ones),
 * so a read of a tile slot never loaded, or an output never written,
 * fails; an address the GPU would not take (ldmatrix rows and cp.async at
 * 16 bytes, 4-byte stores) stops the test.
 *
 * Mutations it was seen to catch (each alone, then undone): ldmatrix
 * without .trans for V; lane-to-row maps of ld_a, ld_bt2 and ld_b2 off by
 * a matrix; the wait before P V dropped; the barrier after it dropped;
 * the next K tile issued before that barrier; the backward's next Q and dO
 * issued before dS's barrier; the causal mask skipped on a diagonal tile. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mutex>
#include <thread>
#include <vector>

extern "C" {
#include "attn_ref.h"
}

/* ------------------------------------------------------------ primitives */

struct fa_elem {
    uint16_t bits;
};

#define FA_DEV static inline

static inline float fa_tof(fa_elem e)
{
    uint32_t u = (uint32_t)e.bits << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest, ties to even: add half an ulp (less one, plus the
 * kept lowest bit) and truncate. */
static inline fa_elem fa_toe(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return fa_elem{0x7fc0}; /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return fa_elem{(uint16_t)(u >> 16)};
}

static inline uint32_t fa_pair(fa_elem lo, fa_elem hi) { return (uint32_t)lo.bits | ((uint32_t)hi.bits << 16); }
static inline uint32_t fa_pack(float lo, float hi) { return fa_pair(fa_toe(lo), fa_toe(hi)); }
/* An address the GPU would fault on (or, for ldmatrix and cp.async,
 * whose result is undefined) stops the test. */
static void need_aligned(const void *p, uintptr_t to, const char *what)
{
    if ((uintptr_t)p % to) {
        printf("Bail out! %s at %p: not %u-byte aligned\n", what, p, (unsigned)to);
        exit(1);
    }
}
static inline void fa_st32(fa_elem *p, uint32_t u)
{
    need_aligned(p, 4, "fa_st32");
    memcpy(p, &u, sizeof u);
}
static inline float fa_exp2(float x) { return exp2f(x); }
static inline float fa_log2(float x) { return log2f(x); }

struct warp_state {
    pthread_barrier_t bar;
    uint32_t a[32][4], b[32][2];
    float f[32];
    const fa_elem *row[32];
};

struct block_state {
    pthread_barrier_t bar;
    warp_state warp[4];
};

static thread_local block_state *tl_block;
static thread_local int tl_tid;
static std::mutex atomic_mu;

static void warp_wait(void) { pthread_barrier_wait(&tl_block->warp[tl_tid >> 5].bar); }

static inline void fa_sync(void) { pthread_barrier_wait(&tl_block->bar); }

static inline float fa_shfl_xor(float v, int mask)
{
    warp_state &w = tl_block->warp[tl_tid >> 5];
    int lane = tl_tid & 31;
    w.f[lane] = v;
    warp_wait();
    float r = w.f[lane ^ mask];
    warp_wait(); /* every lane has read before the next write */
    return r;
}

/* ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: lane L names row
 * L % 8 of matrix L / 8 (16 bytes); lane l receives in r[i] matrix i's
 * elements (l/4, 2(l%4)) and (l/4, 2(l%4)+1), or transposed (2(l%4), l/4)
 * and (2(l%4)+1, l/4), the first in the low half (PTX ISA, ldmatrix:
 * "each thread in a warp receives two elements of a row"; with .trans,
 * of a column). */
static inline void ldsm4(uint32_t r[4], const fa_elem *row, bool trans)
{
    warp_state &w = tl_block->warp[tl_tid >> 5];
    int lane = tl_tid & 31;
    need_aligned(row, 16, "ldmatrix row");
    w.row[lane] = row;
    warp_wait();
    int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; i++) {
        fa_elem x0, x1;
        if (trans) {
            x0 = w.row[8 * i + 2 * t][g];
            x1 = w.row[8 * i + 2 * t + 1][g];
        } else {
            x0 = w.row[8 * i + g][2 * t];
            x1 = w.row[8 * i + g][2 * t + 1];
        }
        r[i] = fa_pair(x0, x1);
    }
    warp_wait(); /* every lane has read before the next call posts */
}
static inline void fa_ldsm4(uint32_t r[4], const fa_elem *row) { ldsm4(r, row, false); }
static inline void fa_ldsm4_t(uint32_t r[4], const fa_elem *row) { ldsm4(r, row, true); }

/* cp.async, at its two extremes: at the issue the destination becomes NaN
 * (a warp still reading the buffer it overwrites reads garbage), and the
 * data lands only at this thread's fa_cp_wait_all (a read before the wait
 * and the barrier after it reads NaN). */
struct pending_copy {
    void *dst;
    const void *src;
    bool fill;
};
static thread_local std::vector<pending_copy> tl_copies;

static inline void fa_cp_async16(void *dst, const void *src, bool fill)
{
    need_aligned(dst, 16, "cp.async destination");
    need_aligned(src, 16, "cp.async source");
    memset(dst, 0xff, 16);
    tl_copies.push_back({dst, src, fill});
}
static inline void fa_cp_wait_all(void)
{
    for (const pending_copy &c : tl_copies)
        if (c.fill)
            memcpy(c.dst, c.src, 16);
        else
            memset(c.dst, 0, 16);
    tl_copies.clear();
}

static inline float lo(uint32_t u) { return fa_tof(fa_elem{(uint16_t)(u & 0xffffu)}); }
static inline float hi(uint32_t u) { return fa_tof(fa_elem{(uint16_t)(u >> 16)}); }

/* mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32, c += A B, from the
 * fragment layouts in flash_attn.cuh's opening comment. */
static inline void fa_mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    warp_state &w = tl_block->warp[tl_tid >> 5];
    int lane = tl_tid & 31;
    memcpy(w.a[lane], a, sizeof w.a[lane]);
    w.b[lane][0] = b0, w.b[lane][1] = b1;
    warp_wait();
    float A[16][16], B[16][8];
    for (int L = 0; L < 32; L++) {
        int g = L >> 2, t = L & 3;
        A[g][2 * t] = lo(w.a[L][0]), A[g][2 * t + 1] = hi(w.a[L][0]);
        A[g + 8][2 * t] = lo(w.a[L][1]), A[g + 8][2 * t + 1] = hi(w.a[L][1]);
        A[g][2 * t + 8] = lo(w.a[L][2]), A[g][2 * t + 9] = hi(w.a[L][2]);
        A[g + 8][2 * t + 8] = lo(w.a[L][3]), A[g + 8][2 * t + 9] = hi(w.a[L][3]);
        B[2 * t][g] = lo(w.b[L][0]), B[2 * t + 1][g] = hi(w.b[L][0]);
        B[2 * t + 8][g] = lo(w.b[L][1]), B[2 * t + 9][g] = hi(w.b[L][1]);
    }
    warp_wait();
    int g = lane >> 2, t = lane & 3;
    for (int e = 0; e < 4; e++) {
        int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
        float s = 0;
        for (int kk = 0; kk < 16; kk++)
            s += A[row][kk] * B[kk][col];
        c[e] += s;
    }
}

static inline void fa_atomic_add2(float *p, float a, float b)
{
    need_aligned(p, 8, "float2 atomic");
    std::lock_guard<std::mutex> lock(atomic_mu);
    p[0] += a;
    p[1] += b;
}

#include "../src/flash_attn.cuh"

/* ------------------------------------------------------------ launching */

/* Run body(tid, smem) on 128 host threads, one block; smem starts NaN. */
template <class F> static void run_block(unsigned smem_bytes, F body)
{
    block_state blk;
    pthread_barrier_init(&blk.bar, NULL, fa::FA_THREADS);
    for (auto &w : blk.warp)
        pthread_barrier_init(&w.bar, NULL, 32);
    std::vector<unsigned char> smem(smem_bytes + 16, 0xff);
    unsigned char *s = smem.data() + (16 - ((uintptr_t)smem.data() & 15)) % 16;
    std::vector<std::thread> th;
    for (int tid = 0; tid < fa::FA_THREADS; tid++)
        th.emplace_back([&, tid] {
            tl_block = &blk;
            tl_tid = tid;
            body(tid, s);
            if (!tl_copies.empty()) {
                printf("Bail out! thread %d ended with %zu copies not waited for\n", tid, tl_copies.size());
                exit(1);
            }
        });
    for (auto &x : th)
        x.join();
    pthread_barrier_destroy(&blk.bar);
    for (auto &w : blk.warp)
        pthread_barrier_destroy(&w.bar);
}

static int failed, checked;

static std::vector<fa_elem> to_elem(const std::vector<float> &x)
{
    std::vector<fa_elem> e(x.size());
    for (size_t i = 0; i < x.size(); i++)
        e[i] = fa_toe(x[i]);
    return e;
}

static std::vector<float> to_float(const std::vector<fa_elem> &e)
{
    std::vector<float> x(e.size());
    for (size_t i = 0; i < e.size(); i++)
        x[i] = fa_tof(e[i]);
    return x;
}

static void expect(const char *what, int heads, int seq, int dim, size_t n, const float *got, const double *ref,
                   const double *tol)
{
    double worst;
    size_t at, bad = attn_ref_outside(n, got, ref, tol, &worst, &at);
    checked++;
    if (bad) {
        failed++;
        printf("not ok %d - %s, heads %d seq %d dim %d: %zu of %zu outside the bound; worst at %zu: %.7g, want %.7g "
               "+- %.3g\n",
               checked, what, heads, seq, dim, bad, n, at, got[at], ref[at], tol[at]);
    } else
        printf("ok %d - %s, heads %d seq %d dim %d (worst error %.2f of its bound)\n", checked, what, heads, seq, dim,
               worst);
}

/* Values in [-0.5, 0.5) rounded to bf16, from a fixed LCG. */
static std::vector<float> fill(size_t n, uint32_t seed)
{
    std::vector<float> x(n);
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = fa_tof(fa_toe((float)(s >> 8) / 16777216.0f - 0.5f));
    }
    return x;
}

template <int D> static void one_case(int heads, int seq)
{
    size_t n = (size_t)heads * seq * D, rows = (size_t)heads * seq;
    std::vector<float> qf = fill(n, 1), kf = fill(n, 2), vf = fill(n, 3), gf = fill(n, 4);
    std::vector<fa_elem> q = to_elem(qf), k = to_elem(kf), v = to_elem(vf), g = to_elem(gf);
    std::vector<fa_elem> o(n, fa_elem{0xffff}), dk(n, fa_elem{0xffff}), dv(n, fa_elem{0xffff});
    std::vector<float> lse(rows, NAN), dot(rows, NAN), dq(n, 0.0f);
    float scale = 1.0f / sqrtf((float)D), sl2 = scale * fa::LOG2E;
    int qblocks = (seq + fa::BR - 1) / fa::BR, kblocks = (seq + fa::BC - 1) / fa::BC;

    for (int h = 0; h < heads; h++)
        for (int qb = 0; qb < qblocks; qb++)
            run_block(fa::shape<D>::fwd_smem, [&](int tid, unsigned char *s) {
                fa::fwd_block<D>(seq, sl2, q.data(), k.data(), v.data(), o.data(), lse.data(), s, tid, h, qb);
            });
    std::vector<float> of = to_float(o);
    attn_ref r;
    if (attn_ref_compute(&r, heads, seq, D, qf.data(), kf.data(), vf.data(), of.data(), gf.data())) {
        printf("Bail out! out of memory\n");
        exit(1);
    }
    std::vector<float> lsef(lse.begin(), lse.end());
    expect("flash forward O", heads, seq, D, n, of.data(), r.o, r.o_tol);
    expect("flash forward log-sum-exp", heads, seq, D, rows, lsef.data(), r.lse, r.lse_tol);

    /* The row dots, four rows (warps) a block, as the CUDA launch has it. */
    for (size_t b0 = 0; b0 < rows; b0 += 4)
        run_block(0, [&](int tid, unsigned char *) {
            fa::row_dot((int)rows, D, g.data(), o.data(), dot.data(), (int)b0 + (tid >> 5), tid & 31);
        });
    for (int h = 0; h < heads; h++)
        for (int kb = 0; kb < kblocks; kb++)
            run_block(fa::shape<D>::bwd_smem, [&](int tid, unsigned char *s) {
                fa::bwd_block<D>(seq, scale, sl2, q.data(), k.data(), v.data(), g.data(), lse.data(), dot.data(),
                                 dq.data(), dk.data(), dv.data(), s, tid, h, kb);
            });
    std::vector<float> dqf(n), dkf = to_float(dk), dvf = to_float(dv);
    for (size_t i = 0; i < n; i++)
        dqf[i] = fa_tof(fa_toe(dq[i])); /* the CUDA side's final rounding of dq */
    expect("flash backward dQ", heads, seq, D, n, dqf.data(), r.dq, r.dq_tol);
    expect("flash backward dK", heads, seq, D, n, dkf.data(), r.dk, r.dk_tol);
    expect("flash backward dV", heads, seq, D, n, dvf.data(), r.dv, r.dv_tol);
    attn_ref_free(&r);
}

int main(void)
{
    /* Tails on both tile sizes (64 rows and keys; the backward's 32-row
     * query tiles at dim 128), a single row, exactly one tile, and three
     * tiles; two heads where the head offset matters. */
    one_case<64>(1, 1);
    one_case<64>(2, 77);
    one_case<64>(1, 64);
    one_case<64>(1, 130);
    one_case<64>(3, 65);
    one_case<128>(2, 45);
    one_case<128>(1, 100);
    one_case<128>(2, 129);
    printf("1..%d\n", checked);
    if (failed)
        printf("# %d of %d checks failed\n", failed, checked);
    return failed ? 1 : 0;
}
