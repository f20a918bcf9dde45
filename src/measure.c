/* calibrate --measure: the hardware's achieved rates, measured on a backend.
 *
 * Sweep (each point: one warm-up, then the median of 3 runs):
 *  - matrix products m x n x k with m, n, k each of 64, 256, 1024 (27
 *    shapes), plus, with a plan, every product its ops price: forward
 *    m x n over k, data gradient m x k over n, weight gradient k x n over m
 *    (the shapes MoE makes skinny: few tokens per expert, widths split by
 *    TP); a product of more than 2^36 FLOPs is left out on the cpu backend
 *    (minutes each) and said so in the count;
 *  - memory-bound: a device copy of 4 KiB to 64 MiB (x4 steps; in the
 *    backend's elements: fp32 on the cpu, bf16 on cuda), bandwidth by
 *    bytes moved (read + write);
 *  - attention: the plan's forward, at its causal model FLOPs, as the flat
 *    model's attention_efficiency.
 * The result keeps the base file's capacity, network and the rest. */
#include "moeplan/measure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/run.h"
#include "moeplan/runs.h"

/* n values of run's fill (mp_run_fill: uniform in [-0.5, 0.5)) uploaded
 * to p; -1 when out of host memory or the upload fails. */
static int fill_random(mp_backend *b, void *p, size_t n, unsigned seed)
{
    float *h = malloc(n * sizeof *h);
    if (!h) {
        snprintf(b->err, sizeof b->err, "out of host memory for %zu floats", n);
        return -1;
    }
    mp_run_fill(h, n, seed);
    int rc = b->ops->upload(b, p, h, n);
    free(h);
    return rc;
}

int mp_measure_gemm_rate(mp_backend *b, int m, int n, int k, int reps, double *flops_per_s)
{
    void *A = b->ops->alloc(b, (size_t)m * k), *B = b->ops->alloc(b, (size_t)k * n), *C = b->ops->alloc(b, (size_t)m * n);
    int rc = -1;
    double t[16];
    if (reps > 16)
        reps = 16;
    if (!A || !B || !C)
        goto out;
    /* Random operands, not the zeros alloc gives: a GPU's tensor cores run
     * all-zero products faster (about 13% on an H200, by a review's
     * measurement), which is not what training multiplies. */
    if (fill_random(b, A, (size_t)m * k, 1) || fill_random(b, B, (size_t)k * n, 2))
        goto out;
    for (int r = -1; r < reps; r++) {
        double t0, dt;
        mp_backend_timer_begin(b, &t0);
        if (b->ops->gemm(b, false, false, m, n, k, A, B, C, 0) || (dt = mp_backend_timer_end(b, t0)) < 0)
            goto out;
        if (r >= 0)
            t[r] = dt;
    }
    double med = mp_median(t, reps);
    *flops_per_s = med > 0 ? 2.0 * m * n * k / med : 0;
    rc = *flops_per_s > 0 ? 0 : -1;
out:
    b->ops->release(b, A);
    b->ops->release(b, B);
    b->ops->release(b, C);
    return rc;
}

int mp_measure_copy_bw(mp_backend *b, size_t elems, int reps, double *bytes_per_s)
{
    void *x = b->ops->alloc(b, elems), *y = b->ops->alloc(b, elems);
    int rc = -1;
    double t[16];
    if (reps > 16)
        reps = 16;
    if (!x || !y)
        goto out;
    for (int r = -1; r < reps; r++) {
        double t0, dt;
        mp_backend_timer_begin(b, &t0);
        if (b->ops->copy(b, y, x, elems) || (dt = mp_backend_timer_end(b, t0)) < 0)
            goto out;
        if (r >= 0)
            t[r] = dt;
    }
    double med = mp_median(t, reps);
    *bytes_per_s = med > 0 ? 2.0 * b->ops->elem_bytes * (double)elems / med : 0; /* read + write */
    rc = *bytes_per_s > 0 ? 0 : -1;
out:
    b->ops->release(b, x);
    b->ops->release(b, y);
    return rc;
}

mp_status mp_measure_host(mp_backend *b, const mp_hardware *base, mp_hardware *out, mp_error *err)
{
    *out = *base;
    double g, bw;
    if (mp_measure_gemm_rate(b, 1024, 1024, 1024, 5, &g) ||
        mp_measure_copy_bw(b, (64u << 20) / (size_t)b->ops->elem_bytes, 5, &bw)) /* 64 MiB each way, beyond the caches */
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "%s backend, measuring the 1024^3 GEMM and a 64 MiB copy: %s",
                            b->ops->name, b->err[0] ? b->err : "the clock did not advance");
    snprintf(out->name, sizeof out->name, "%s backend (measured)", b->ops->name);
    out->peak_flops = g;
    out->mfu = out->gemm_efficiency = out->attention_efficiency = 1.0;
    out->attention_fwd_efficiency = out->attention_bwd_efficiency = 1.0;
    out->memory_bw_bytes_per_s = bw;
    out->bw_utilization = 1.0;
    out->sm_count = 0; /* the flat model: every product at the measured rate */
    out->kernel_launch_s = 0;
    out->memory_bytes_half = 0;
    out->peak_flops_fp8 = 0;
    return MP_OK;
}

static bool have_shape(const mp_hardware *hw, double m, double n, double k)
{
    for (int i = 0; i < hw->n_gemm_measured; i++)
        if (hw->gemm_measured[i][0] == m && hw->gemm_measured[i][1] == n && hw->gemm_measured[i][2] == k)
            return true;
    return false;
}

static mp_status add_gemm(mp_backend *b, mp_hardware *hw, double m, double n, double k, mp_error *err)
{
    if (m < 1 || n < 1 || k < 1 || have_shape(hw, m, n, k) || hw->n_gemm_measured >= MP_HW_TABLE)
        return MP_OK;
    if (!strcmp(b->ops->name, "cpu") && 2 * m * n * k > 68719476736.0)
        return MP_OK; /* over 2^36 FLOPs: left out on the CPU */
    double rate;
    if (mp_measure_gemm_rate(b, (int)m, (int)n, (int)k, 3, &rate))
        return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "%s backend, gemm %.0fx%.0fx%.0f: %s", b->ops->name, m, n, k,
                            b->err[0] ? b->err : "failed");
    double *r = hw->gemm_measured[hw->n_gemm_measured++];
    r[0] = m, r[1] = n, r[2] = k, r[3] = rate;
    return MP_OK;
}

mp_status mp_measure_hardware(mp_backend *b, const mp_hardware *base, const mp_cost_ctx *plan, mp_hardware *out,
                              mp_measure_summary *sum, mp_error *err)
{
    memset(sum, 0, sizeof *sum);
    mp_status st = mp_measure_host(b, base, out, err);
    if (st)
        return st;
    sum->peak_flops = out->peak_flops;
    sum->copy_bw_bytes_per_s = out->memory_bw_bytes_per_s;
    out->n_gemm_measured = out->n_memory_measured = 0;
    /* The 1024^3 product is the one peak_flops was read from: its row is
     * that measurement, not a second one that noise would set apart. */
    double *first = out->gemm_measured[out->n_gemm_measured++];
    first[0] = first[1] = first[2] = 1024, first[3] = out->peak_flops;
    static const double dims[3] = {64, 256, 1024};
    for (int i = 0; i < 27; i++)
        if ((st = add_gemm(b, out, dims[i / 9], dims[(i / 3) % 3], dims[i % 3], err)))
            return st;
    sum->gemm_shapes = out->n_gemm_measured;
    if (plan) {
        for (int blk = 0; blk < MP_BLOCK_COUNT; blk++) {
            if (!mp_cost_block_present(plan, (mp_block)blk) || blk == MP_BLOCK_STEP)
                continue;
            mp_op ops[MP_MAX_OPS];
            size_t n = mp_cost_block_ops(plan, (mp_block)blk, ops);
            for (size_t i = 0; i < n; i++) {
                const mp_op *o = &ops[i];
                if (o->kind != MP_OP_MATMUL)
                    continue;
                if ((st = add_gemm(b, out, o->m, o->n, o->k, err)) || (st = add_gemm(b, out, o->m, o->k, o->n, err)) ||
                    (st = add_gemm(b, out, o->k, o->n, o->m, err)))
                    return st;
            }
        }
        sum->gemm_from_plan = out->n_gemm_measured - sum->gemm_shapes;
    }
    /* Memory-bound: copies of 4 KiB .. 64 MiB. */
    for (size_t bytes = 4096; bytes <= (64u << 20) && out->n_memory_measured < MP_HW_TABLE; bytes *= 4) {
        double bw;
        size_t e = bytes / (size_t)b->ops->elem_bytes;
        if (mp_measure_copy_bw(b, e, 5, &bw))
            return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "%s backend, copy of %zu bytes: %s", b->ops->name, bytes,
                                b->err);
        double *row = out->memory_measured[out->n_memory_measured++];
        row[0] = 2.0 * (double)bytes;
        row[1] = bw;
    }
    sum->memory_sizes = out->n_memory_measured;
    /* Attention: the plan's forward at the cost model's causal FLOPs. */
    if (plan && mp_cost_block_present(plan, MP_BLOCK_ATTN)) {
        mp_op ops[MP_MAX_OPS];
        size_t n = mp_cost_block_ops(plan, MP_BLOCK_ATTN, ops);
        for (size_t i = 0; i < n; i++)
            if (ops[i].kind == MP_OP_ATTENTION && ops[i].fwd_flops > 0) {
                const mp_model *m = plan->model;
                const mp_layout *l = &plan->lay;
                /* The kernel run times (run.c): MLA's Q, K and V at the
                 * query-key head dim (nope + rope), not hidden / heads. */
                int heads = (int)(m->num_heads / l->tp) * l->micro_batch, seq = (int)(plan->seq_len / l->cp),
                    dim = (int)mp_model_qk_head_dim(m);
                size_t e = (size_t)heads * seq * dim;
                void *q = b->ops->alloc(b, e), *k = b->ops->alloc(b, e), *v = b->ops->alloc(b, e),
                     *o = b->ops->alloc(b, e), *lse = b->ops->alloc_f32(b, (size_t)heads * seq);
                double t[3];
                int rc = q && k && v && o && lse ? 0 : -1;
                for (int r = -1; r < 3 && !rc; r++) {
                    double t0, dt = -1;
                    mp_backend_timer_begin(b, &t0);
                    rc = b->ops->attention_fwd(b, heads, seq, dim, q, k, v, o, lse) ||
                         (dt = mp_backend_timer_end(b, t0)) < 0;
                    if (r >= 0)
                        t[r] = dt;
                }
                void *all[5] = {q, k, v, o, lse};
                for (int z = 0; z < 5; z++)
                    b->ops->release(b, all[z]);
                if (rc)
                    return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "%s backend, attention %d heads x %d x %d: %s",
                                        b->ops->name, heads, seq, dim, b->err);
                double med = mp_median(t, 3);
                sum->attention_rate = ops[i].fwd_flops / med;
                out->attention_efficiency = fmin(1.0, fmax(0.01, sum->attention_rate / out->peak_flops));
                out->attention_fwd_efficiency = out->attention_bwd_efficiency = out->attention_efficiency;
                break;
            }
    }
    snprintf(out->name, sizeof out->name, "%s backend (calibrate --measure)", b->ops->name);
    return MP_OK;
}
