/* Causal flash attention, forward and backward, for one CUDA block: the
 * FlashAttention-2 algorithm (Dao, "FlashAttention-2: Faster Attention
 * with Better Parallelism and Work Partitioning", 2023, Algorithms 1 and
 * 2) on bf16 tensor cores (PTX mma.sync.m16n8k16, fp32 accumulation).
 * The scores never leave the chip: memory is O(seq x dim), not the
 * heads x seq^2 of materialised scores.
 *
 * This file is the kernels' bodies only, written against a handful of
 * primitives the includer defines, so that the same source is compiled
 * by nvcc (backend_cuda_kernels.cu: real warps, tensor cores) and by the
 * host compiler for tests/test_flash_emul.cpp, which runs every thread of
 * a block as a host thread and emulates mma.sync from its fragment
 * layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"), so the indexing,
 * masking, tails and online softmax are checked where no GPU is.
 *
 * The includer provides, before including:
 *   FA_DEV                      qualifier of device functions
 *   fa_elem                     the 2-byte bf16 storage type
 *   float fa_tof(fa_elem)       fa_elem fa_toe(float)  (round to nearest even)
 *   uint32_t fa_pack(float lo, float hi)   two floats to a bf16 pair, lo in
 *                               the low 16 bits
 *   void fa_st32(fa_elem *p, uint32_t)  a 4-byte aligned store
 *   void fa_ldsm4(uint32_t r[4], const fa_elem *row)
 *   void fa_ldsm4_t(uint32_t r[4], const fa_elem *row)
 *                               ldmatrix.sync.aligned.m8n8.x4[.trans]
 *                               .shared.b16 (the whole warp calls it):
 *                               lane l gives the 16-byte aligned address
 *                               of row l % 8 of 8x8 matrix l / 8; r[i] is
 *                               matrix i's row l/4, elements 2(l%4) and
 *                               2(l%4)+1 (lo, hi), or with _t its column
 *                               l/4, rows 2(l%4) and 2(l%4)+1 (PTX ISA,
 *                               "Warp-level matrix load instruction:
 *                               ldmatrix")
 *   void fa_cp_async16(void *smem, const void *src, bool fill)
 *                               cp.async.cg.shared.global of 16 bytes,
 *                               zeros when !fill (src-size 0; src must
 *                               still be a valid address)
 *   void fa_cp_wait_all(void)   cp.async.wait_all: this thread's copies
 *                               have landed (a fa_sync then makes them
 *                               every thread's)
 *   void fa_mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
 *                               c += A B, A 16x16 and B 16x8 bf16
 *   float fa_shfl_xor(float v, int lane_mask)   (the whole warp calls it)
 *   void fa_sync(void)          every thread of the block
 *   void fa_atomic_add2(float *p, float a, float b)
 *                               p[0] += a, p[1] += b atomically, p 8-byte
 *                               aligned (one float2 atomic where the GPU
 *                               has it, sm_90; two otherwise)
 *   float fa_exp2(float)        float fa_log2(float)
 *
 * Fragment layouts of mma.m16n8k16 (PTX ISA 9.7.14.5.8), lane = 4g + t
 * (g = lane / 4, t = lane % 4), each register two bf16, the lower column
 * (or row, for B) in the low half:
 *   A 16x16 row-major: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..),
 *                      a3 (g+8, 2t+8..)
 *   B 16x8 (k x n):    b0 (k = 2t..2t+1, n = g), b1 (k = 2t+8.., n = g)
 *   C 16x8 fp32:       c0, c1 (g, 2t and 2t+1), c2, c3 (g+8, 2t and 2t+1)
 * Two C tiles side by side (columns 0-7 and 8-15) are then exactly the A
 * fragment of a 16x16 operand (c_to_a): P and dS go from one product to
 * the next without leaving registers, as in FlashAttention-2.
 *
 * Layout: q, k, v, o and their gradients [heads x seq x D] bf16, row
 * major; lse and the row dots [heads x seq] fp32; dq accumulates in fp32
 * [heads x seq x D] (zeroed by the caller) and is rounded to bf16 after.
 * A block has 4 warps (FA_THREADS); every pointer 16-byte aligned. */
#ifndef MOEPLAN_FLASH_ATTN_CUH
#define MOEPLAN_FLASH_ATTN_CUH

namespace fa {

constexpr int FA_THREADS = 128; /* 4 warps */
constexpr int BR = 64;          /* forward: query rows per block, 16 per warp */
constexpr int BC = 64;          /* keys per tile (forward), per block (backward) */
constexpr float LOG2E = 1.4426950408889634f;
constexpr float LN2 = 0.6931471805599453f;

/* Shapes of head dimension D (a multiple of 16): a tile row in shared
 * memory is D + 8 elements (16 bytes of padding: the fragment loads of
 * the 32 lanes then fall in 32 different banks); the backward's query
 * tile is 64 rows at D <= 64 and 32 above, so that its accumulators (dK
 * and dV, 2 x D/2 floats a thread) and the two score tiles fit in
 * registers. */
template <int D> struct shape {
    static_assert(D % 16 == 0 && D <= 128, "head dim: a multiple of 16, at most 128");
    static constexpr int S = D + 8;             /* tile row stride, elements */
    static constexpr int BQ = D <= 64 ? 64 : 32; /* backward query tile */
    static constexpr int SS = BC + 8;           /* backward dS row stride */
    static constexpr unsigned fwd_smem = (unsigned)(BR + 2 * BC) * S * 2;
    static constexpr unsigned bwd_smem = (unsigned)(2 * BC + 2 * BQ) * S * 2 + (unsigned)BQ * SS * 2 + 2 * BQ * 4;
};

/* rows x D of src from row row0 into shared memory at stride D + 8, rows
 * at or past seq as zeros: 16 bytes a thread a step, asynchronously
 * (cp.async; the caller waits with fa_cp_wait_all and fa_sync).  A row
 * past seq reads nothing but names the head's first row, a valid address. */
template <int D> FA_DEV void load_tile(fa_elem *dst, const fa_elem *src, int row0, int rows, int seq, int tid)
{
    constexpr int S = D + 8, C = D / 8;
    for (int i = tid; i < rows * C; i += FA_THREADS) {
        int r = i / C, c = i - r * C;
        bool in = row0 + r < seq;
        fa_cp_async16(dst + r * S + c * 8, src + (in ? (size_t)(row0 + r) * D : 0) + c * 8, in);
    }
}

/* The A fragment of the 16x16 block of row-major m at (r0, c0): one
 * ldmatrix.x4, lanes 0-15 naming rows r0.. at column c0 (a0, a1), lanes
 * 16-31 the same rows at c0 + 8 (a2, a3). */
FA_DEV void ld_a(uint32_t a[4], const fa_elem *m, int stride, int r0, int c0, int lane)
{
    fa_ldsm4(a, m + (r0 + (lane & 15)) * stride + c0 + (lane >> 4) * 8);
}

/* The B fragments of two n-tiles, B[k][n] = m[n0 + n][k0 + k] for n in
 * n0..n0+15: m's rows are B's columns (K for Q K^T), so each 8x8 block is
 * loaded as it lies.  Lanes 0-7 name rows n0.. at k0 (b0 of tile n0),
 * 8-15 the same rows at k0 + 8 (its b1), 16-31 rows n0 + 8.. (tile
 * n0 + 8): b[0], b[1] are tile n0's b0, b1 and b[2], b[3] tile n0 + 8's. */
FA_DEV void ld_bt2(uint32_t b[4], const fa_elem *m, int stride, int n0, int k0, int lane)
{
    fa_ldsm4(b, m + (n0 + (lane & 7) + (lane >> 4) * 8) * stride + k0 + ((lane >> 3) & 1) * 8);
}

/* The B fragments of two n-tiles, B[k][n] = m[k0 + k][n0 + n] for n in
 * n0..n0+15 (V for P V): each register two elements of one column, a row
 * apart, so the 8x8 blocks are loaded transposed.  Lanes 0-15 name rows
 * k0..k0+15 at column n0 (b0, b1 of tile n0), 16-31 the same rows at
 * n0 + 8; b[] as ld_bt2's. */
FA_DEV void ld_b2(uint32_t b[4], const fa_elem *m, int stride, int k0, int n0, int lane)
{
    fa_ldsm4_t(b, m + (k0 + (lane & 15)) * stride + n0 + (lane >> 4) * 8);
}

/* Two C tiles (columns 0-7, 8-15) as one 16x16 A fragment, rounded to
 * bf16. */
FA_DEV void c_to_a(uint32_t a[4], const float c0[4], const float c1[4])
{
    a[0] = fa_pack(c0[0], c0[1]);
    a[1] = fa_pack(c0[2], c0[3]);
    a[2] = fa_pack(c1[0], c1[1]);
    a[3] = fa_pack(c1[2], c1[3]);
}

/* Forward of query block qb (rows qb*BR ..) of head h: warp w owns rows
 * 16w..16w+15 of the block, lane (g, t) rows g and g+8 of those.  For
 * each key tile up to the block's last row: S = Q K^T in registers, scaled
 * to log2 units (scale_log2 = log2(e)/sqrt(D)), masked (key > query, or
 * past seq: -inf), the running max m and sum l updated (FlashAttention-2,
 * Algorithm 1, lines 8-10), the output rescaled by 2^(m_old - m_new) and
 * P V added.  At the end O = acc / l and lse = (m + log2 l) ln 2, the
 * natural log-sum-exp of the scaled scores, kept for the backward.
 *
 * The loads overlap the products, as in FlashAttention-2's kernel: V's
 * tile is copied (cp.async) while Q K^T and the softmax run, the next K
 * tile while P V runs; one K and one V buffer, two waits a tile. */
template <int D>
FA_DEV void fwd_block(int seq, float scale_log2, const fa_elem *q, const fa_elem *k, const fa_elem *v, fa_elem *o,
                      float *lse, unsigned char *smem, int tid, int h, int qb)
{
    constexpr int S = D + 8, KS = D / 16, DT = D / 8, NT = BC / 8;
    fa_elem *qs = reinterpret_cast<fa_elem *>(smem), *ks = qs + BR * S, *vs = ks + BC * S;
    size_t hoff = (size_t)h * seq * D;
    int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    int q0 = qb * BR, wr = warp * 16;
    load_tile<D>(qs, q + hoff, q0, BR, seq, tid);
    load_tile<D>(ks, k + hoff, 0, BC, seq, tid);
    fa_cp_wait_all();
    fa_sync();
    uint32_t qa[KS][4];
    for (int kk = 0; kk < KS; kk++)
        ld_a(qa[kk], qs, S, wr, kk * 16, lane);
    float acc[DT][4];
    for (int dt = 0; dt < DT; dt++)
        acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    const int row[2] = {q0 + wr + g, q0 + wr + g + 8};
    int keys = seq < q0 + BR ? seq : q0 + BR; /* causal: none past the block's last row */
    for (int k0 = 0; k0 < keys; k0 += BC) {
        if (k0 > 0) {
            fa_cp_wait_all(); /* K's tile has landed */
            fa_sync();        /* ... for every thread, and every warp is past the last P V */
        }
        load_tile<D>(vs, v + hoff, k0, BC, seq, tid);
        float s[NT][4];
        for (int nt = 0; nt < NT; nt++)
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
        for (int kk = 0; kk < KS; kk++)
            for (int nt = 0; nt < NT; nt += 2) {
                uint32_t b[4];
                ld_bt2(b, ks, S, nt * 8, kk * 16, lane);
                fa_mma(s[nt], qa[kk], b[0], b[1]);
                fa_mma(s[nt + 1], qa[kk], b[2], b[3]);
            }
        /* A tile that ends at or before the block's first row (q0 < seq)
         * needs no mask: every key is at most every row and inside seq.
         * The same for the whole block; with BR = BC every other tile is
         * the diagonal one, which needs it on every warp.  (A per-warp
         * test, k0 + BC - 1 <= q0 + 16 w, skips nothing more and costs the
         * D 128 kernel 4 registers: 2 blocks an SM instead of 3.) */
        bool whole = k0 + BC <= q0;
        float mx[2] = {-INFINITY, -INFINITY};
        for (int nt = 0; nt < NT; nt++)
            for (int e = 0; e < 4; e++) {
                int r = e >> 1, key = k0 + nt * 8 + 2 * t + (e & 1);
                float x = whole || (key <= row[r] && key < seq) ? s[nt][e] * scale_log2 : -INFINITY;
                s[nt][e] = x;
                mx[r] = fmaxf(mx[r], x);
            }
        float base[2], alpha[2], rs[2] = {0.0f, 0.0f};
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], fa_shfl_xor(mx[r], 1)); /* the row's 4 lanes */
            mx[r] = fmaxf(mx[r], fa_shfl_xor(mx[r], 2));
            float mn = fmaxf(m[r], mx[r]);
            base[r] = mn == -INFINITY ? 0.0f : mn; /* a row with no key yet: exp2(-inf) = 0, not NaN */
            alpha[r] = fa_exp2(m[r] - base[r]);
            m[r] = mn;
        }
        for (int nt = 0; nt < NT; nt++)
            for (int e = 0; e < 4; e++) {
                float p = fa_exp2(s[nt][e] - base[e >> 1]);
                s[nt][e] = p;
                rs[e >> 1] += p;
            }
        for (int r = 0; r < 2; r++)
            l[r] = l[r] * alpha[r] + rs[r]; /* this lane's columns; summed over the 4 at the end */
        for (int dt = 0; dt < DT; dt++) {
            acc[dt][0] *= alpha[0];
            acc[dt][1] *= alpha[0];
            acc[dt][2] *= alpha[1];
            acc[dt][3] *= alpha[1];
        }
        fa_cp_wait_all(); /* V's tile has landed */
        fa_sync();        /* ... for every thread, and every warp is done with K's */
        if (k0 + BC < keys)
            load_tile<D>(ks, k + hoff, k0 + BC, BC, seq, tid);
        for (int kk = 0; kk < BC / 16; kk++) {
            uint32_t pa[4];
            c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
            for (int dt = 0; dt < DT; dt += 2) {
                uint32_t b[4];
                ld_b2(b, vs, S, kk * 16, dt * 8, lane);
                fa_mma(acc[dt], pa, b[0], b[1]);
                fa_mma(acc[dt + 1], pa, b[2], b[3]);
            }
        }
    }
    for (int r = 0; r < 2; r++) {
        l[r] += fa_shfl_xor(l[r], 1);
        l[r] += fa_shfl_xor(l[r], 2);
    }
    for (int r = 0; r < 2; r++) {
        if (row[r] >= seq)
            continue;
        float inv = 1.0f / l[r];
        fa_elem *orow = o + hoff + (size_t)row[r] * D;
        for (int dt = 0; dt < DT; dt++)
            fa_st32(orow + dt * 8 + 2 * t, fa_pack(acc[dt][2 * r] * inv, acc[dt][2 * r + 1] * inv));
        if (t == 0)
            lse[(size_t)h * seq + row[r]] = (m[r] + fa_log2(l[r])) * LN2;
    }
}

/* D_i = dO_i . O_i (fp32) for one row, by one warp (the backward's
 * rowsum(dO o O), FlashAttention-2 Algorithm 2 line 4); rows past `rows`
 * take part in the shuffles and store nothing. */
FA_DEV void row_dot(int rows, int dim, const fa_elem *a, const fa_elem *b, float *out, int row, int lane)
{
    float s = 0.0f;
    if (row < rows)
        for (int c = lane; c < dim; c += 32)
            s += fa_tof(a[(size_t)row * dim + c]) * fa_tof(b[(size_t)row * dim + c]);
    for (int off = 16; off > 0; off >>= 1)
        s += fa_shfl_xor(s, off);
    if (row < rows && lane == 0)
        out[row] = s;
}

/* The backward's query tile from row q0: Q and dO (asynchronously, as
 * load_tile), and each row's lse (in log2 units) and D (plain loads;
 * rows past seq 0). */
template <int D>
FA_DEV void load_rows(fa_elem *qs, fa_elem *gs, float *ls, float *dots, const fa_elem *q, const fa_elem *dout,
                      const float *lse, const float *dot, int q0, int seq, int tid)
{
    constexpr int BQ = shape<D>::BQ;
    load_tile<D>(qs, q, q0, BQ, seq, tid);
    load_tile<D>(gs, dout, q0, BQ, seq, tid);
    for (int i = tid; i < BQ; i += FA_THREADS) {
        bool in = q0 + i < seq;
        ls[i] = in ? lse[q0 + i] * LOG2E : 0.0f;
        dots[i] = in ? dot[q0 + i] : 0.0f;
    }
}

/* Backward of key block kb (keys kb*BC ..) of head h (FlashAttention-2,
 * Algorithm 2): the block keeps its K and V tiles; warp w owns keys
 * 16w..16w+15, and for each query tile from the block's first key on
 * (causal: no earlier query sees these keys) computes, transposed so that
 * its keys are the rows of every product:
 *   S^T = K Q^T, P^T = 2^(S^T scale_log2 - lse log2 e)   (masked: 0)
 *   dV += P^T dO
 *   dP^T = V dO^T, dS^T = P^T o (dP^T - D)
 *   dK += dS^T Q
 * then writes dS to shared memory, and each warp adds its share of
 * dQ += scale dS K to dq (fp32, atomically: other key blocks add to the
 * same rows).  At the end dK = scale dK, dV, rounded once.  The next
 * query tile's Q and dO are copied (cp.async) while dQ's product and its
 * atomics run: they read only dS and K. */
template <int D>
FA_DEV void bwd_block(int seq, float scale, float scale_log2, const fa_elem *q, const fa_elem *k, const fa_elem *v,
                      const fa_elem *dout, const float *lse, const float *dot, float *dq, fa_elem *dk, fa_elem *dv,
                      unsigned char *smem, int tid, int h, int kb)
{
    constexpr int S = D + 8, KS = D / 16, DT = D / 8, BQ = shape<D>::BQ, NT = BQ / 8, SS = shape<D>::SS;
    /* dQ's tile (BQ x D) among the 4 warps: MT row tiles of 16, each in
     * 4 / MT column parts of DQN n-tiles. */
    constexpr int MT = BQ / 16, DQN = DT / (4 / MT);
    fa_elem *ks = reinterpret_cast<fa_elem *>(smem), *vs = ks + BC * S, *qs = vs + BC * S, *gs = qs + BQ * S,
            *dss = gs + BQ * S;
    float *ls = reinterpret_cast<float *>(dss + BQ * SS), *dots = ls + BQ;
    size_t hoff = (size_t)h * seq * D, roff = (size_t)h * seq;
    int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    int k0 = kb * BC, wk = warp * 16, mt = warp % MT, np = warp / MT;
    const int key[2] = {k0 + wk + g, k0 + wk + g + 8};
    load_tile<D>(ks, k + hoff, k0, BC, seq, tid);
    load_tile<D>(vs, v + hoff, k0, BC, seq, tid);
    load_rows<D>(qs, gs, ls, dots, q + hoff, dout + hoff, lse + roff, dot + roff, k0, seq, tid);
    float dka[DT][4], dva[DT][4];
    for (int dt = 0; dt < DT; dt++)
        for (int e = 0; e < 4; e++)
            dka[dt][e] = dva[dt][e] = 0.0f;
    for (int q0 = k0; q0 < seq; q0 += BQ) {
        fa_cp_wait_all(); /* this query tile's Q and dO have landed */
        fa_sync();        /* ... for every thread, and every warp is done with the last dS */
        float s[NT][4], dp[NT][4];
        for (int nt = 0; nt < NT; nt++)
            for (int e = 0; e < 4; e++)
                s[nt][e] = dp[nt][e] = 0.0f;
        for (int kk = 0; kk < KS; kk++) {
            uint32_t ka[4], va[4];
            ld_a(ka, ks, S, wk, kk * 16, lane);
            ld_a(va, vs, S, wk, kk * 16, lane);
            for (int nt = 0; nt < NT; nt += 2) {
                uint32_t b[4];
                ld_bt2(b, qs, S, nt * 8, kk * 16, lane);
                fa_mma(s[nt], ka, b[0], b[1]); /* S^T = K Q^T */
                fa_mma(s[nt + 1], ka, b[2], b[3]);
                ld_bt2(b, gs, S, nt * 8, kk * 16, lane);
                fa_mma(dp[nt], va, b[0], b[1]); /* dP^T = V dO^T */
                fa_mma(dp[nt + 1], va, b[2], b[3]);
            }
        }
        for (int nt = 0; nt < NT; nt++)
            for (int e = 0; e < 4; e++) {
                int r = e >> 1, qi = nt * 8 + 2 * t + (e & 1), qr = q0 + qi;
                float p = key[r] <= qr && qr < seq && key[r] < seq ? fa_exp2(s[nt][e] * scale_log2 - ls[qi]) : 0.0f;
                s[nt][e] = p;                        /* P^T, fp32 */
                dp[nt][e] = p * (dp[nt][e] - dots[qi]); /* dS^T, fp32 */
            }
        for (int kk = 0; kk < BQ / 16; kk++) {
            uint32_t pa[4], da[4];
            c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
            c_to_a(da, dp[2 * kk], dp[2 * kk + 1]);
            for (int dt = 0; dt < DT; dt += 2) {
                uint32_t b[4];
                ld_b2(b, gs, S, kk * 16, dt * 8, lane);
                fa_mma(dva[dt], pa, b[0], b[1]); /* dV += P^T dO */
                fa_mma(dva[dt + 1], pa, b[2], b[3]);
                ld_b2(b, qs, S, kk * 16, dt * 8, lane);
                fa_mma(dka[dt], da, b[0], b[1]); /* dK += dS^T Q */
                fa_mma(dka[dt + 1], da, b[2], b[3]);
            }
        }
        for (int nt = 0; nt < NT; nt++)
            for (int e = 0; e < 4; e++)
                dss[(nt * 8 + 2 * t + (e & 1)) * SS + wk + g + 8 * (e >> 1)] = fa_toe(dp[nt][e]);
        fa_sync(); /* dS is whole, and every warp is done with Q, dO and the row values */
        if (q0 + BQ < seq)
            load_rows<D>(qs, gs, ls, dots, q + hoff, dout + hoff, lse + roff, dot + roff, q0 + BQ, seq, tid);
        float qacc[DQN][4];
        for (int j = 0; j < DQN; j++)
            qacc[j][0] = qacc[j][1] = qacc[j][2] = qacc[j][3] = 0.0f;
        for (int kk = 0; kk < BC / 16; kk++) {
            uint32_t a[4];
            ld_a(a, dss, SS, mt * 16, kk * 16, lane);
            for (int j = 0; j < DQN; j += 2) {
                uint32_t b[4];
                ld_b2(b, ks, S, kk * 16, (np * DQN + j) * 8, lane);
                fa_mma(qacc[j], a, b[0], b[1]); /* dS K */
                fa_mma(qacc[j + 1], a, b[2], b[3]);
            }
        }
        /* Each lane's two adjacent columns (2t, 2t + 1) of rows g and g + 8
         * as one pair: half the atomics (D even, so 8-byte aligned). */
        for (int j = 0; j < DQN; j++)
            for (int r = 0; r < 2; r++) {
                int qr = q0 + mt * 16 + g + 8 * r, col = (np * DQN + j) * 8 + 2 * t;
                if (qr < seq)
                    fa_atomic_add2(dq + hoff + (size_t)qr * D + col, qacc[j][2 * r] * scale,
                                   qacc[j][2 * r + 1] * scale);
            }
    }
    for (int r = 0; r < 2; r++) {
        if (key[r] >= seq)
            continue;
        fa_elem *kr = dk + hoff + (size_t)key[r] * D, *vr = dv + hoff + (size_t)key[r] * D;
        for (int dt = 0; dt < DT; dt++) {
            fa_st32(kr + dt * 8 + 2 * t, fa_pack(dka[dt][2 * r] * scale, dka[dt][2 * r + 1] * scale));
            fa_st32(vr + dt * 8 + 2 * t, fa_pack(dva[dt][2 * r], dva[dt][2 * r + 1]));
        }
    }
}

} // namespace fa

#endif
