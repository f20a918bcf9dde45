/* Fitting the efficiency model to measured runs (calibrate.h). */
#include "moeplan/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What can be fitted.  Bounds keep each parameter physical: an efficiency
 * is a fraction of a peak (above 0.95 no measured kernel goes, below the
 * lower bound none is that slow at training shapes); overheads from none
 * to well past what microbenchmarks show. */
static const mp_fit_param params[] = {
    {"gemm_efficiency", 0.30, 0.95, "fraction of peak of large matrix products"},
    {"attention_fwd_efficiency", 0.15, 0.90, "fused attention forward, fraction of peak at head dim 128"},
    {"attention_bwd_efficiency", 0.15, 0.90, "fused attention backward, fraction of peak at head dim 128"},
    {"bandwidth_utilization", 0.30, 1.00, "fraction of HBM bandwidth memory-bound kernels reach"},
    {"intra_node_efficiency", 0.20, 1.00, "collectives on NVLink, fraction of line rate"},
    {"inter_node_efficiency", 0.20, 1.00, "collectives on the network, fraction of line rate"},
    {"kernel_launch", 0.0, 50e-6, "launch gap per kernel, seconds"},
    {"gemm_k_overhead", 0.0, 1024.0, "per-tile prologue/epilogue of a matrix product, k steps"},
    {"gemm_tile_overhead", 0.0, 256.0, "operand-load overhead of small tiles, elements"},
    {"memory_bytes_half", 0.0, 64e6, "bytes at which a memory-bound kernel reaches half its bandwidth"},
    {"collective_bytes_half", 0.0, 64e6, "message bytes at which a link reaches half its ceiling"},
};

const mp_fit_param *mp_fit_params(size_t *n)
{
    *n = sizeof params / sizeof params[0];
    return params;
}

const mp_fit_param *mp_fit_param_find(const char *key)
{
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (!strcmp(params[i].key, key))
            return &params[i];
    return NULL;
}

static double *field(mp_hardware *hw, const char *key)
{
    if (!strcmp(key, "gemm_efficiency")) return &hw->gemm_efficiency;
    if (!strcmp(key, "attention_fwd_efficiency")) return &hw->attention_fwd_efficiency;
    if (!strcmp(key, "attention_bwd_efficiency")) return &hw->attention_bwd_efficiency;
    if (!strcmp(key, "bandwidth_utilization")) return &hw->bw_utilization;
    if (!strcmp(key, "intra_node_efficiency")) return &hw->intra_efficiency;
    if (!strcmp(key, "inter_node_efficiency")) return &hw->inter_efficiency;
    if (!strcmp(key, "kernel_launch")) return &hw->kernel_launch_s;
    if (!strcmp(key, "gemm_k_overhead")) return &hw->gemm_k_overhead;
    if (!strcmp(key, "gemm_tile_overhead")) return &hw->gemm_tile_overhead;
    if (!strcmp(key, "memory_bytes_half")) return &hw->memory_bytes_half;
    if (!strcmp(key, "collective_bytes_half")) return &hw->collective_bytes_half;
    return NULL;
}

double mp_fit_get(const mp_hardware *hw, const char *key)
{
    double *f = field((mp_hardware *)hw, key);
    return f ? *f : NAN;
}

void mp_fit_set(mp_hardware *hw, const char *key, double v)
{
    double *f = field(hw, key);
    if (f)
        *f = v;
}

/* The better of the two probes (f1 at x1, f2 at x2), if better than the
 * best so far; the first on a tie. */
static void keep_best(double x1, double f1, double x2, double f2, double *best_x, double *best_f)
{
    if (f1 < *best_f) {
        *best_f = f1;
        *best_x = x1;
    }
    if (f2 < *best_f) {
        *best_f = f2;
        *best_x = x2;
    }
}

/* A run's hardware with the fitted keys of `fit` in place (the run keeps
 * its own GPUs per node and everything not fitted). */
static void run_hw(const mp_run *r, const mp_hardware *fit, const char *const *keys, int n_keys, mp_hardware *out)
{
    *out = r->hw;
    for (int i = 0; i < n_keys; i++)
        mp_fit_set(out, keys[i], mp_fit_get(fit, keys[i]));
}

typedef struct {
    const mp_run *runs;
    size_t n;
    const unsigned char *use;
    const char *const *keys;
    int n_keys;
} fit_set;

static double objective(const fit_set *s, const mp_hardware *hw)
{
    double sum = 0;
    int cnt = 0;
    for (size_t i = 0; i < s->n; i++) {
        if ((s->use && !s->use[i]) || s->runs[i].skip[0])
            continue;
        mp_hardware h;
        run_hw(&s->runs[i], hw, s->keys, s->n_keys, &h);
        mp_run_result res;
        mp_run_evaluate_with(&s->runs[i], &h, &res);
        if (!(res.measured_step_s > 0) || !(res.predicted_step_s > 0))
            continue;
        double e = log(res.predicted_step_s / res.measured_step_s);
        sum += e * e;
        cnt++;
    }
    return cnt ? sum / cnt : 0;
}

/* Golden-section search of one parameter over [lo, hi]; keeps the best
 * point seen (the current value included), so a cycle never makes the fit
 * worse. */
static double line_search(const fit_set *s, mp_hardware *hw, const char *key, double lo, double hi, double f_now)
{
    const double g = 0.6180339887498949;
    double best_x = mp_fit_get(hw, key), best_f = f_now;
    double a = lo, b = hi;
    double x1 = b - g * (b - a), x2 = a + g * (b - a);
    mp_fit_set(hw, key, x1);
    double f1 = objective(s, hw);
    mp_fit_set(hw, key, x2);
    double f2 = objective(s, hw);
    for (int it = 0; it < 48 && (b - a) > 1e-7 * (hi - lo + 1e-300); it++) {
        keep_best(x1, f1, x2, f2, &best_x, &best_f);
        if (f1 <= f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            mp_fit_set(hw, key, x1);
            f1 = objective(s, hw);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            mp_fit_set(hw, key, x2);
            f2 = objective(s, hw);
        }
    }
    keep_best(x1, f1, x2, f2, &best_x, &best_f);
    mp_fit_set(hw, key, best_x);
    return best_f;
}

void mp_calibrate_fit(mp_hardware *hw, const char *const *keys, int n_keys, const mp_run *runs, size_t n_runs,
                      const unsigned char *use, mp_fit_result *out)
{
    memset(out, 0, sizeof *out);
    if (n_keys > 16)
        n_keys = 16;
    fit_set s = {runs, n_runs, use, keys, n_keys};
    double f = objective(&s, hw);
    int cycle;
    for (cycle = 0; cycle < 40; cycle++) {
        double before = f;
        for (int i = 0; i < n_keys; i++) {
            const mp_fit_param *p = mp_fit_param_find(keys[i]);
            if (p)
                f = line_search(&s, hw, keys[i], p->lo, p->hi, f);
        }
        if (before - f <= 1e-12 * (1 + before))
            break;
    }
    out->n_params = n_keys;
    for (int i = 0; i < n_keys; i++)
        out->value[i] = mp_fit_get(hw, keys[i]);
    out->rms_log_error = sqrt(f);
    out->iterations = cycle + 1;
}

void mp_calibrate_errors(const mp_hardware *hw, const mp_run *runs, size_t n_runs, const unsigned char *use,
                         double *errors)
{
    size_t np;
    const mp_fit_param *p = mp_fit_params(&np);
    const char *keys[16];
    int nk = 0;
    for (size_t i = 0; i < np && nk < 16; i++)
        keys[nk++] = p[i].key;
    for (size_t i = 0; i < n_runs; i++) {
        if ((use && !use[i]) || runs[i].skip[0])
            continue;
        mp_hardware h;
        run_hw(&runs[i], hw, keys, nk, &h);
        mp_run_result res;
        mp_run_evaluate_with(&runs[i], &h, &res);
        errors[i] = res.error;
    }
}
