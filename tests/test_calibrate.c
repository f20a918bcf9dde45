/* Unit tests: calibration (calibrate.h).
 *
 * Synthetic runs with known parameters: the development set's A100 records
 * (validate/runs/dev-runs.yaml) keep their models and layouts, but their
 * measured step times are replaced by what moeplan predicts on the A100
 * file with 108 SMs and known efficiencies.  A fit started elsewhere must
 * recover those efficiencies within 1%, with (near) zero error left. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/calibrate.h"

#include "check_main.h"

#ifndef PLANS_DIR
#error "PLANS_DIR must point at plans/"
#endif

static mp_run *runs;
static size_t n_runs;
static unsigned char *use;
static mp_hardware truth;

static void setup(void)
{
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_msg(mp_runs_load(PLANS_DIR "/../validate/runs/dev-runs.yaml", PLANS_DIR "/hardware", &runs, &n_runs,
                               &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_hardware_load(&truth, PLANS_DIR "/hardware/a100-sxm-80gb.yaml", &e) == MP_OK, "%s", e.msg);
    truth.sm_count = 108;
    truth.gemm_efficiency = 0.70;
    truth.gemm_tile_overhead = 32;
    truth.gemm_k_overhead = 32;
    truth.attention_fwd_efficiency = truth.attention_bwd_efficiency = 0.5;
    truth.attention_head_dim_overhead = 32;
    truth.kernel_launch_s = 4e-6;
    truth.memory_bytes_half = 1e6;
    truth.intra_efficiency = 0.80;
    truth.inter_efficiency = 0.90;
    truth.collective_bytes_half = 1e6;
    use = calloc(n_runs, 1);
    int k = 0;
    for (size_t i = 0; i < n_runs; i++) {
        if (runs[i].skip[0] || strcmp(runs[i].hw.name, truth.name))
            continue;
        int gpn = runs[i].hw.gpus_per_node;
        runs[i].hw = truth;
        runs[i].hw.gpus_per_node = gpn;
        mp_run_result r;
        mp_run_evaluate(&runs[i], &r);
        runs[i].basis = MP_MEASURED_TIME;
        runs[i].measured_step_s = r.predicted_step_s;
        use[i] = 1;
        k++;
    }
    ck_assert_int_ge(k, 15); /* 21 A100 records evaluate today */
}

static void teardown(void)
{
    free(runs);
    free(use);
}

/* Two parameters, started 30% and 25% off. */
START_TEST(test_recovers_two)
{
    mp_hardware h = truth;
    h.gemm_efficiency = 0.49;
    h.intra_efficiency = 0.60;
    static const char *const keys[] = {"gemm_efficiency", "intra_node_efficiency"};
    mp_fit_result fr;
    mp_calibrate_fit(&h, keys, 2, runs, n_runs, use, &fr);
    ck_assert_msg(fabs(h.gemm_efficiency / 0.70 - 1) < 0.01, "gemm_efficiency %.6f", h.gemm_efficiency);
    ck_assert_msg(fabs(h.intra_efficiency / 0.80 - 1) < 0.01, "intra_node_efficiency %.6f", h.intra_efficiency);
    ck_assert_msg(fr.rms_log_error < 1e-3, "rms log error %g", fr.rms_log_error);
    /* The errors with the fitted file are near zero run by run. */
    double *e = calloc(n_runs, sizeof *e);
    mp_calibrate_errors(&h, runs, n_runs, use, e);
    for (size_t i = 0; i < n_runs; i++)
        if (use[i])
            ck_assert_msg(fabs(e[i]) < 0.005, "%s: %g", runs[i].id, e[i]);
    free(e);
}
END_TEST

/* Three: the HBM utilisation too (memory-bound kernels, the optimizer). */
START_TEST(test_recovers_three)
{
    mp_hardware h = truth;
    h.gemm_efficiency = 0.85;
    h.intra_efficiency = 0.5;
    double bw = truth.bw_utilization;
    h.bw_utilization = 0.6;
    static const char *const keys[] = {"gemm_efficiency", "intra_node_efficiency", "bandwidth_utilization"};
    mp_fit_result fr;
    mp_calibrate_fit(&h, keys, 3, runs, n_runs, use, &fr);
    ck_assert_msg(fabs(h.gemm_efficiency / 0.70 - 1) < 0.01, "gemm_efficiency %.6f", h.gemm_efficiency);
    ck_assert_msg(fabs(h.intra_efficiency / 0.80 - 1) < 0.01, "intra_node_efficiency %.6f", h.intra_efficiency);
    ck_assert_msg(fabs(h.bw_utilization / bw - 1) < 0.01, "bandwidth_utilization %.6f vs %.6f", h.bw_utilization, bw);
}
END_TEST

/* Bounds hold: with every measured step cut to 0.3 of the truth the fit
 * would want a gemm_efficiency far above 0.95; it stops at the bound. */
START_TEST(test_bounds)
{
    for (size_t i = 0; i < n_runs; i++)
        if (use[i])
            runs[i].measured_step_s *= 0.3;
    mp_hardware h = truth;
    static const char *const keys[] = {"gemm_efficiency"};
    mp_fit_result fr;
    mp_calibrate_fit(&h, keys, 1, runs, n_runs, use, &fr);
    ck_assert(h.gemm_efficiency <= 0.95 && h.gemm_efficiency > 0.94);
    const mp_fit_param *p = mp_fit_param_find("gemm_efficiency");
    ck_assert_ptr_nonnull(p);
    ck_assert_double_eq(p->hi, 0.95);
    ck_assert_ptr_null(mp_fit_param_find("gemm_efficency"));
}
END_TEST

static Suite *calibrate_suite(void)
{
    Suite *s = suite_create("calibrate");
    TCase *t = tcase_create("synthetic");
    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_recovers_two);
    tcase_add_test(t, test_recovers_three);
    tcase_add_test(t, test_bounds);
    suite_add_tcase(s, t);
    return s;
}

MP_CHECK_MAIN(calibrate_suite)
