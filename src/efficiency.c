/* The efficiency model (include/moeplan/efficiency.h).
 *
 * Sources:
 *  [NV-MM] NVIDIA, "Matrix Multiplication Background User's Guide" (Deep
 *          Learning Performance docs): the output is computed in tiles, one
 *          thread block per tile; tiles run in waves of one per SM
 *          (wave quantization); a dimension that is not a multiple of the
 *          tile pads the last tile (tile quantization); larger tiles reuse
 *          each operand more and run faster.
 *  [FA2]   Dao, "FlashAttention-2", arXiv:2307.08691, section 4: forward
 *          and backward reach different fractions of peak, lower at head
 *          dimension 64 than 128.
 *  [NC]    NVIDIA nccl-tests, doc/PERFORMANCE.md: bus bandwidth rises with
 *          message size to a plateau below the line rate.
 */
#include "moeplan/efficiency.h"

#include <math.h>

/* The flat model: what the hardware file's mfu and bandwidth_utilization
 * state, used when it gives no SM count. */
static bool flat(const mp_hardware *hw) { return hw->sm_count <= 0; }

static double hbm_s(const mp_hardware *hw, double bytes)
{
    return bytes / (hw->memory_bw_bytes_per_s * hw->bw_utilization);
}

/* The tile set: the CTA tile shapes cuBLAS/CUTLASS kernels use for 16-bit
 * products on Ampere and Hopper ([NV-MM] lists 256x128, 128x256, 128x128,
 * 128x64, 64x128, 64x64); the library picks the fastest, modelled as the
 * minimum time over the set. */
static const double tiles[][2] = {{256, 128}, {128, 256}, {128, 128}, {128, 64}, {64, 128}, {64, 64}};
#define N_TILES (sizeof tiles / sizeof tiles[0])

/* Relative speed of a tile of tm x tn: per k step a tile loads tm + tn
 * operand rows and does tm x tn multiply-adds, so the load overhead per
 * multiply-add is (tm + tn)/(tm tn) = 1/tm + 1/tn.  With c the overhead
 * constant (hardware key gemm_tile_overhead, in elements), the tile's rate
 * is proportional to 1 / (1 + c (1/tm + 1/tn)), normalised to the largest
 * tile (256 x 128), which runs at the asymptote. */
static double tile_rate(const mp_hardware *hw, double tm, double tn)
{
    double c = hw->gemm_tile_overhead;
    return (1.0 + c * (1.0 / 256 + 1.0 / 128)) / (1.0 + c * (1.0 / tm + 1.0 / tn));
}

/* Compute time of `batch` products m x n x k on the tile (tm, tn):
 *   tiles  = batch * ceil(m/tm) * ceil(n/tn)   (tile quantization: padded)
 *   waves  = ceil(tiles / SMs)                 (wave quantization)
 *   wave   = 2 tm tn (k + k0) / (SM peak * e * rate(tile))
 * where k0 (gemm_k_overhead) is the per-tile prologue and epilogue in
 * k-steps: a product with small k pays it as a larger share.  Every term
 * is non-decreasing in m, n, k and batch, so time never falls as a
 * dimension grows; with m, n multiples of the tile, a whole number of
 * waves and k >> k0 the product runs at e of peak. */
static double tile_time(const mp_hardware *hw, double m, double n, double k, int batch, double tm, double tn)
{
    double sms = (double)hw->sm_count;
    double t = (double)batch * ceil(m / tm) * ceil(n / tn);
    double waves = ceil(t / sms);
    double sm_peak = hw->peak_flops / sms;
    return waves * 2.0 * tm * tn * (k + hw->gemm_k_overhead) / (sm_peak * hw->gemm_efficiency * tile_rate(hw, tm, tn));
}

double mp_eff_matmul_tile_s(const mp_hardware *hw, double m, double n, double k, int batch, double tm, double tn)
{
    if (m <= 0 || n <= 0 || k <= 0 || batch <= 0 || flat(hw))
        return 0;
    return tile_time(hw, m, n, k, batch, tm, tn);
}

/* A measured table (calibrate --measure) takes precedence: the rate at
 * (m, n, k) is the geometric mean of the measured rates weighted by
 * 1 / d^2, d the distance in (log m, log n, log k) -- a measured shape is
 * its own rate; between shapes the nearer count more. */
static double measured_gemm_rate(const mp_hardware *hw, double m, double n, double k)
{
    double lm = log(m), ln = log(n), lk = log(k), sw = 0, sl = 0;
    for (int i = 0; i < hw->n_gemm_measured; i++) {
        const double *r = hw->gemm_measured[i];
        double d2 = pow(lm - log(r[0]), 2) + pow(ln - log(r[1]), 2) + pow(lk - log(r[2]), 2);
        if (d2 < 1e-12)
            return r[3];
        sw += 1 / d2;
        sl += log(r[3]) / d2;
    }
    return exp(sl / sw);
}

/* Bandwidth of a kernel moving b bytes: log-log interpolation between the
 * measured sizes, the ends held beyond them. */
static double measured_memory_bw(const mp_hardware *hw, double b)
{
    int n = hw->n_memory_measured;
    const double(*t)[2] = hw->memory_measured;
    int lo = 0, hi = 0;
    for (int i = 0; i < n; i++) {
        if (t[i][0] <= b && (t[lo][0] > b || t[i][0] > t[lo][0]))
            lo = i;
        if (t[i][0] >= b && (t[hi][0] < b || t[i][0] < t[hi][0]))
            hi = i;
    }
    if (t[lo][0] > b)
        return t[hi][1]; /* below the smallest: its rate */
    if (t[hi][0] < b || t[hi][0] == t[lo][0])
        return t[lo][1]; /* above the largest, or exact */
    double f = (log(b) - log(t[lo][0])) / (log(t[hi][0]) - log(t[lo][0]));
    return exp(log(t[lo][1]) + f * (log(t[hi][1]) - log(t[lo][1])));
}

static double gemm_compute_s(const mp_hardware *hw, double m, double n, double k, int batch)
{
    if (m <= 0 || n <= 0 || k <= 0 || batch <= 0)
        return 0;
    if (hw->n_gemm_measured)
        return 2.0 * m * n * k * batch / measured_gemm_rate(hw, m, n, k);
    if (flat(hw))
        return 2.0 * m * n * k * batch / (hw->peak_flops * hw->mfu);
    double best = INFINITY;
    for (size_t i = 0; i < N_TILES; i++) {
        double t = tile_time(hw, m, n, k, batch, tiles[i][0], tiles[i][1]);
        if (t < best)
            best = t;
    }
    return best;
}

double mp_eff_matmul_fraction(const mp_hardware *hw, double m, double n, double k, int batch)
{
    double t = gemm_compute_s(hw, m, n, k, batch);
    return t > 0 ? 2.0 * m * n * k * batch / (t * hw->peak_flops) : 0;
}

double mp_eff_matmul_s(const mp_hardware *hw, double m, double n, double k, int batch, double hbm_bytes)
{
    if (hw->n_gemm_measured) /* a measured rate includes the product's memory traffic */
        return gemm_compute_s(hw, m, n, k, batch);
    return fmax(gemm_compute_s(hw, m, n, k, batch), hbm_s(hw, hbm_bytes)) + (flat(hw) ? 0 : hw->kernel_launch_s);
}

double mp_eff_matmul_bwd_s(const mp_hardware *hw, double m, double n, double k, int batch, double hbm_bytes)
{
    /* dgrad: [m x n] x [n x k]; wgrad: [k x m] x [m x n], reduced over m. */
    double c = gemm_compute_s(hw, m, k, n, batch) + gemm_compute_s(hw, k, n, m, batch);
    if (hw->n_gemm_measured)
        return c;
    return fmax(c, hbm_s(hw, hbm_bytes)) + (flat(hw) ? 0 : 2 * hw->kernel_launch_s);
}

/* Fused attention [FA2]: forward and backward at their own fractions of
 * peak (attention_fwd_efficiency, attention_bwd_efficiency, stated at head
 * dimension 128); a smaller head dimension does less work per K/V load:
 * rate proportional to d / (d + d0), normalised at 128 (d0 =
 * attention_head_dim_overhead). */
double mp_eff_attention_s(const mp_hardware *hw, double flops, double head_dim, bool backward, double hbm_bytes)
{
    if (flops <= 0)
        return hbm_s(hw, hbm_bytes);
    if (flat(hw))
        return fmax(flops / (hw->peak_flops * hw->attention_efficiency), hbm_s(hw, hbm_bytes));
    double e = backward ? hw->attention_bwd_efficiency : hw->attention_fwd_efficiency;
    double d0 = hw->attention_head_dim_overhead;
    double f = head_dim > 0 ? (head_dim / (head_dim + d0)) * ((128.0 + d0) / 128.0) : 1.0;
    return fmax(flops / (hw->peak_flops * e * f), hbm_s(hw, hbm_bytes)) + hw->kernel_launch_s;
}

/* A memory-bound kernel reaches its asymptotic bandwidth only when it
 * moves enough bytes to fill the GPU: with b0 (memory_bytes_half) the bytes
 * at which it reaches half, achieved = bw * util * b / (b + b0) per kernel,
 * i.e. time = (b + b0) / (bw * util): a fixed b0 of bandwidth-time per
 * kernel.  Plus each kernel's launch gap. */
double mp_eff_memory_s(const mp_hardware *hw, double bytes, int kernels)
{
    if (bytes <= 0)
        return 0;
    if (kernels < 1)
        kernels = 1;
    if (hw->n_memory_measured)
        return bytes / measured_memory_bw(hw, bytes / kernels) + (flat(hw) ? 0 : kernels * hw->kernel_launch_s);
    if (flat(hw))
        return hbm_s(hw, bytes);
    if (kernels < 1)
        kernels = 1;
    return hbm_s(hw, bytes + kernels * hw->memory_bytes_half) + kernels * hw->kernel_launch_s;
}

/* [NC]: a link's achieved bandwidth rises with the message to a ceiling:
 * bw * e_tier * s / (s + s0), s0 = collective_bytes_half. */
double mp_eff_link_bw(const mp_hardware *hw, double line_bw, bool inter_node, double message_bytes)
{
    if (flat(hw))
        return line_bw;
    double e = inter_node ? hw->inter_efficiency : hw->intra_efficiency;
    double s0 = hw->collective_bytes_half;
    double ramp = message_bytes > 0 ? message_bytes / (message_bytes + s0) : 1.0;
    return line_bw * e * ramp;
}
