/* Causal attention in double precision, and each output's error bound
 * for a bf16 kernel that computes in fp32 and rounds where the flash
 * kernel (src/flash_attn.cuh) and the materialised one round: shared by
 * the emulated flash test (test_flash_emul.cpp) and the GPU test
 * (test_kernels_gpu.c).  C and C++.
 *
 * Inputs q, k, v, dout [heads x seq x dim] as floats (bf16 values), o the
 * kernel's own forward output (the backward's D_i = dO_i . O_i uses it, as
 * the kernel does).  scale = 1/sqrt(dim).
 *
 * Bounds, first order in the roundings; u = 2^-8 is one rounding to bf16
 * (half an ulp of 8 significant bits, relative), w = 1e-5 covers fp32:
 * a sum of n terms in any order is within n 2^-24 of the sum of their
 * magnitudes, 9.5e-6 for n = 160, so the tests keep seq and dim <= 160;
 * exp2f's 2 ulp and log2f's are below it too:
 *   O_id = sum_j P~_ij v_jd / l_i where P~ = P (1 + d), |d| <= u (the
 *     kernel rounds P, or its unnormalised 2^(s - m) <= 1, to bf16 before
 *     the product), so |O - O*| <= (u + w) sum_j P_ij |v_jd| + u |O_id|
 *     (the result's rounding);
 *   lse: fp32 only, |e| <= w (1 + |lse|);
 *   dV_jd = sum_i P~_ij dO_id: (u + w) sum_i P_ij |dO_id| + u |dV_jd|;
 *   dQ_id = scale sum_j dS~_ij k_jd with dS = P (dP - D) rounded to bf16
 *     once: scale (u |dS_ij| + w (|dS_ij| + P_ij (|dP_ij| + |D_i|))) |k_jd|
 *     summed over j, + u |dQ_id|; the w term is dS's own fp32 error (dP
 *     and D cancel in dP - D); dK_jd the same over i with q_id. */
#ifndef MOEPLAN_TESTS_ATTN_REF_H
#define MOEPLAN_TESTS_ATTN_REF_H

#include <math.h>
#include <stdlib.h>

#define ATTN_U (1.0 / 256)
#define ATTN_W 1e-5

typedef struct {
    double *o, *o_tol, *lse, *lse_tol;            /* forward */
    double *dq, *dq_tol, *dk, *dk_tol, *dv, *dv_tol; /* backward */
} attn_ref;

static void attn_ref_free(attn_ref *r)
{
    free(r->o), free(r->o_tol), free(r->lse), free(r->lse_tol), free(r->dq), free(r->dq_tol);
    free(r->dk), free(r->dk_tol), free(r->dv), free(r->dv_tol);
}

/* The reference and bounds (calloc'd into r; 0 on success).  o_kernel may
 * be NULL for a forward-only reference (no backward then). */
static int attn_ref_compute(attn_ref *r, int heads, int seq, int dim, const float *q, const float *k, const float *v,
                            const float *o_kernel, const float *dout)
{
    size_t n = (size_t)heads * seq * dim, rows = (size_t)heads * seq;
    double scale = 1.0 / sqrt((double)dim);
    double *p = (double *)calloc((size_t)seq * seq, sizeof *p), *ds = (double *)calloc((size_t)seq * seq, sizeof *ds),
           *dsw = (double *)calloc((size_t)seq * seq, sizeof *dsw);
    r->o = (double *)calloc(n, sizeof(double)), r->o_tol = (double *)calloc(n, sizeof(double));
    r->lse = (double *)calloc(rows, sizeof(double)), r->lse_tol = (double *)calloc(rows, sizeof(double));
    r->dq = (double *)calloc(n, sizeof(double)), r->dq_tol = (double *)calloc(n, sizeof(double));
    r->dk = (double *)calloc(n, sizeof(double)), r->dk_tol = (double *)calloc(n, sizeof(double));
    r->dv = (double *)calloc(n, sizeof(double)), r->dv_tol = (double *)calloc(n, sizeof(double));
    if (!p || !ds || !dsw || !r->o || !r->o_tol || !r->lse || !r->lse_tol || !r->dq || !r->dq_tol || !r->dk ||
        !r->dk_tol || !r->dv || !r->dv_tol) {
        free(p), free(ds), free(dsw);
        return -1;
    }
    for (int h = 0; h < heads; h++) {
        size_t ho = (size_t)h * seq * dim;
        const float *qh = q + ho, *kh = k + ho, *vh = v + ho;
        for (int i = 0; i < seq; i++) {
            double mx = -INFINITY;
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int c = 0; c < dim; c++)
                    s += (double)qh[(size_t)i * dim + c] * kh[(size_t)j * dim + c];
                p[(size_t)i * seq + j] = s * scale;
                if (s * scale > mx)
                    mx = s * scale;
            }
            double sum = 0;
            for (int j = 0; j <= i; j++)
                sum += exp(p[(size_t)i * seq + j] - mx);
            double lse = mx + log(sum);
            r->lse[(size_t)h * seq + i] = lse;
            r->lse_tol[(size_t)h * seq + i] = ATTN_W * (1 + fabs(lse));
            for (int j = 0; j <= i; j++)
                p[(size_t)i * seq + j] = exp(p[(size_t)i * seq + j] - lse);
            for (int c = 0; c < dim; c++) {
                double acc = 0, mag = 0;
                for (int j = 0; j <= i; j++) {
                    acc += p[(size_t)i * seq + j] * vh[(size_t)j * dim + c];
                    mag += p[(size_t)i * seq + j] * fabs(vh[(size_t)j * dim + c]);
                }
                r->o[ho + (size_t)i * dim + c] = acc;
                r->o_tol[ho + (size_t)i * dim + c] = (ATTN_U + ATTN_W) * mag + ATTN_U * fabs(acc) + 1e-7;
            }
        }
        if (!o_kernel)
            continue;
        const float *gh = dout + ho, *oh = o_kernel + ho;
        /* dS and the magnitude its fp32 error scales with, per (i, j) */
        for (int i = 0; i < seq; i++) {
            double d = 0;
            for (int c = 0; c < dim; c++)
                d += (double)gh[(size_t)i * dim + c] * oh[(size_t)i * dim + c];
            for (int j = 0; j <= i; j++) {
                double dp = 0;
                for (int c = 0; c < dim; c++)
                    dp += (double)gh[(size_t)i * dim + c] * vh[(size_t)j * dim + c];
                double pij = p[(size_t)i * seq + j], s = pij * (dp - d);
                ds[(size_t)i * seq + j] = s;
                dsw[(size_t)i * seq + j] = ATTN_U * fabs(s) + ATTN_W * (fabs(s) + pij * (fabs(dp) + fabs(d)));
            }
        }
        for (int i = 0; i < seq; i++)
            for (int c = 0; c < dim; c++) {
                double acc = 0, mag = 0;
                for (int j = 0; j <= i; j++) {
                    acc += ds[(size_t)i * seq + j] * kh[(size_t)j * dim + c];
                    mag += dsw[(size_t)i * seq + j] * fabs(kh[(size_t)j * dim + c]);
                }
                r->dq[ho + (size_t)i * dim + c] = scale * acc;
                r->dq_tol[ho + (size_t)i * dim + c] = scale * mag + ATTN_U * scale * fabs(acc) + 1e-7;
            }
        for (int j = 0; j < seq; j++)
            for (int c = 0; c < dim; c++) {
                double ak = 0, mk = 0, av = 0, mv = 0;
                for (int i = j; i < seq; i++) {
                    ak += ds[(size_t)i * seq + j] * qh[(size_t)i * dim + c];
                    mk += dsw[(size_t)i * seq + j] * fabs(qh[(size_t)i * dim + c]);
                    av += p[(size_t)i * seq + j] * gh[(size_t)i * dim + c];
                    mv += p[(size_t)i * seq + j] * fabs(gh[(size_t)i * dim + c]);
                }
                r->dk[ho + (size_t)j * dim + c] = scale * ak;
                r->dk_tol[ho + (size_t)j * dim + c] = scale * mk + ATTN_U * scale * fabs(ak) + 1e-7;
                r->dv[ho + (size_t)j * dim + c] = av;
                r->dv_tol[ho + (size_t)j * dim + c] = (ATTN_U + ATTN_W) * mv + ATTN_U * fabs(av) + 1e-7;
            }
    }
    free(p), free(ds), free(dsw);
    return 0;
}

/* How many of got[0..n) lie outside ref +- tol (NaN counts); the worst
 * ratio |got - ref| / tol in *worst, its index in *at. */
static size_t attn_ref_outside(size_t n, const float *got, const double *ref, const double *tol, double *worst,
                               size_t *at)
{
    size_t bad = 0;
    *worst = 0, *at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / tol[i];
        if (isnan(e))
            e = INFINITY;
        if (e > 1)
            bad++;
        if (e > *worst)
            *worst = e, *at = i;
    }
    return bad;
}

#endif
