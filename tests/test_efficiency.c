/* Unit tests: the efficiency model (efficiency.h), figures by hand.
 *
 * The test GPU: 132 SMs (H100 SXM5), 989.5 TFLOP/s dense 16-bit,
 * gemm_efficiency 0.8, tile overhead c = 32, k0 = 32, 3.35 TB/s HBM at 0.9,
 * 4 us per kernel, 1 MB to half bandwidth; collectives at 0.9 (NVLink) and
 * 0.8 (network) of line rate with 1 MB to half. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moeplan/cost.h"
#include "moeplan/efficiency.h"

#include "check_main.h"

#ifndef TEST_DATA
#error "TEST_DATA must point at tests/data"
#endif

static mp_hardware gpu(void)
{
    mp_hardware hw;
    mp_hardware_defaults(&hw);
    hw.peak_flops = 989.5e12;
    hw.mfu = 0.7;
    hw.memory_bw_bytes_per_s = 3.35e12;
    hw.bw_utilization = 0.9;
    hw.sm_count = 132;
    hw.gemm_efficiency = 0.8;
    hw.gemm_tile_overhead = 32;
    hw.gemm_k_overhead = 32;
    hw.attention_fwd_efficiency = 0.6;
    hw.attention_bwd_efficiency = 0.45;
    hw.attention_head_dim_overhead = 32;
    hw.kernel_launch_s = 4e-6;
    hw.memory_bytes_half = 1e6;
    hw.intra_efficiency = 0.9;
    hw.inter_efficiency = 0.8;
    hw.collective_bytes_half = 1e6;
    return hw;
}

#define REL(x, y, tol) ck_assert_msg(fabs((x) - (y)) <= (tol) * fabs(y), "%s = %.17g, expected %.17g", #x, (double)(x), (double)(y))

/* Wave quantization [NV-MM]: 12 x 11 = 132 tiles of 256 x 128 fill one
 * wave exactly (m 3072, n 1408); one more row of the output makes 13 x 11
 * = 143 tiles, a second wave, and twice the time on that tile.  One wave:
 * 2 * 256 * 128 * (k + k0) / (989.5e12 / 132 * 0.8 * 1) with k 4096:
 * 2 * 32768 * 4128 / 5.996969...e12 = 45.11 us. */
START_TEST(test_wave_quantization)
{
    mp_hardware hw = gpu();
    double one = mp_eff_matmul_tile_s(&hw, 3072, 1408, 4096, 1, 256, 128);
    REL(one, 2.0 * 256 * 128 * 4128 / (989.5e12 / 132 * 0.8), 1e-12);
    double two = mp_eff_matmul_tile_s(&hw, 3073, 1408, 4096, 1, 256, 128);
    REL(two, 2 * one, 1e-12);
    /* The same in batch: 132 products of one tile each, then 133. */
    REL(mp_eff_matmul_tile_s(&hw, 256, 128, 4096, 132, 256, 128), one, 1e-12);
    REL(mp_eff_matmul_tile_s(&hw, 256, 128, 4096, 133, 256, 128), two, 1e-12);
    /* The library's choice (the fastest tile) pays less than a whole second
     * wave.  Candidates for m 3073, n 1408, in units of one 256 x 128 wave:
     *   128 x 128: 25 x 11 = 275 tiles, 3 waves at rate (1 + 32 (3/256)) /
     *              (1 + 32 (2/128)) = 1.375 / 1.5: 3 * 16384 * 1.5 / 1.375 /
     *              32768 = 1.636;
     *   128 x 64:  25 x 22 = 550 tiles, 5 waves at 1.375 / (1 + 32 (3/128)) =
     *              1.375 / 1.75: 5 * 8192 * 1.75 / 1.375 / 32768 = 1.591
     *              (64 x 128 the same: 49 x 11 = 539 tiles, 5 waves);
     *   64 x 64:   49 x 22 = 1078 tiles, 9 waves at 1.375 / 2: 1.636.
     * So 1.591 of one wave. */
    double lib = mp_eff_matmul_s(&hw, 3073, 1408, 4096, 1, 0) - hw.kernel_launch_s;
    REL(lib, one * 5.0 * 8192 * 1.75 / 1.375 / 32768, 1e-12);
}
END_TEST

/* Time never falls as a dimension grows: every tile's time is a product of
 * non-decreasing terms, and the minimum of non-decreasing functions is
 * non-decreasing.  Checked on a grid with odd sizes. */
START_TEST(test_monotone)
{
    mp_hardware hw = gpu();
    static const double sizes[] = {1, 7, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 1024, 1025, 4095, 4096, 4097,
                                   8191, 12288, 20000};
    const int n = (int)(sizeof sizes / sizeof sizes[0]);
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            for (int i = 0; i + 1 < n; i++) {
                double m = sizes[a], nn = sizes[b];
                ck_assert(mp_eff_matmul_s(&hw, sizes[i], m, nn, 1, 0) <= mp_eff_matmul_s(&hw, sizes[i + 1], m, nn, 1, 0));
                ck_assert(mp_eff_matmul_s(&hw, m, sizes[i], nn, 1, 0) <= mp_eff_matmul_s(&hw, m, sizes[i + 1], nn, 1, 0));
                ck_assert(mp_eff_matmul_s(&hw, m, nn, sizes[i], 1, 0) <= mp_eff_matmul_s(&hw, m, nn, sizes[i + 1], 1, 0));
            }
    for (int g = 1; g < 64; g++)
        ck_assert(mp_eff_matmul_s(&hw, 300, 1024, 2048, g, 0) <= mp_eff_matmul_s(&hw, 300, 1024, 2048, g + 1, 0));
}
END_TEST

/* The limits: on whole waves of the largest tile with k >> k0 the fraction
 * of peak tends to gemm_efficiency: k 1e6 gives 0.8 * 1e6 / (1e6 + 32).
 * A single-token product (m 1) is far below: one row fills 1/64 of the
 * smallest tile, so at most 0.8 * 0.688 / 64 of peak. */
START_TEST(test_limits)
{
    mp_hardware hw = gpu();
    REL(mp_eff_matmul_fraction(&hw, 3072, 1408, 1e6, 1), 0.8 * 1e6 / (1e6 + 32), 1e-12);
    ck_assert(mp_eff_matmul_fraction(&hw, 1, 4096, 4096, 1) < 0.8 * 0.6875 / 64 + 1e-12);
    /* The flat model (no SM count) is peak x mfu whatever the shape. */
    mp_hardware f = gpu();
    f.sm_count = 0;
    REL(mp_eff_matmul_fraction(&f, 1, 3, 5, 1), 0.7, 1e-12);
    REL(mp_eff_matmul_s(&f, 1000, 2000, 3000, 2, 0), 2.0 * 1000 * 2000 * 3000 * 2 / (989.5e12 * 0.7), 1e-12);
    /* Backward: data gradient [m x k over n] and weight gradient [k x n
     * over m], each its own shape; flat: twice the forward. */
    REL(mp_eff_matmul_bwd_s(&f, 1000, 2000, 3000, 2, 0), 2 * mp_eff_matmul_s(&f, 1000, 2000, 3000, 2, 0), 1e-12);
    /* The HBM roofline: a product that moves more bytes than it computes
     * takes the bytes' time (1 GB at 3.35e12 * 0.9 B/s = 331.7 us). */
    REL(mp_eff_matmul_s(&f, 8, 8, 8, 1, 1e9), 1e9 / (3.35e12 * 0.9), 1e-12);
}
END_TEST

/* Attention [FA2]: forward 1 PFLOP at head dim 128 takes 1e15 / (989.5e12 *
 * 0.6) + 4 us; backward at 0.45; head dim 64 runs at (64/96) / (128/160) =
 * 0.8333 of the rate at 128. */
START_TEST(test_attention)
{
    mp_hardware hw = gpu();
    REL(mp_eff_attention_s(&hw, 1e15, 128, false, 0), 1e15 / (989.5e12 * 0.6) + 4e-6, 1e-12);
    REL(mp_eff_attention_s(&hw, 1e15, 128, true, 0), 1e15 / (989.5e12 * 0.45) + 4e-6, 1e-12);
    REL(mp_eff_attention_s(&hw, 1e15, 64, false, 0), 1e15 / (989.5e12 * 0.6 * (64.0 / 96) / (128.0 / 160)) + 4e-6,
        1e-12);
}
END_TEST

/* Memory-bound: (bytes + kernels * 1 MB) / (3.35e12 * 0.9) + kernels * 4 us.
 * 100 MB in 2 kernels: 102e6 / 3.015e12 + 8 us = 41.83 us. */
START_TEST(test_memory)
{
    mp_hardware hw = gpu();
    REL(mp_eff_memory_s(&hw, 100e6, 2), 102e6 / (3.35e12 * 0.9) + 8e-6, 1e-12);
    ck_assert_double_eq(mp_eff_memory_s(&hw, 0, 1), 0);
}
END_TEST

/* Links: line x ceiling x s / (s + 1 MB): at 1 MB half the ceiling; at 1 GB
 * 0.999 of it. */
START_TEST(test_links)
{
    mp_hardware hw = gpu();
    REL(mp_eff_link_bw(&hw, 450e9, false, 1e6), 450e9 * 0.9 * 0.5, 1e-12);
    REL(mp_eff_link_bw(&hw, 50e9, true, 1e9), 50e9 * 0.8 * 1e9 / (1e9 + 1e6), 1e-12);
    mp_hardware f = gpu();
    f.sm_count = 0;
    ck_assert_double_eq(mp_eff_link_bw(&f, 450e9, false, 10), 450e9);
}
END_TEST

/* Hardware files: an efficiency key without sm_count is refused (it would
 * be silently unused). */
START_TEST(test_hardware_keys)
{
    mp_hardware hw;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(mp_hardware_load(&hw, TEST_DATA "/bad/hw-efficiency-no-sms.yaml", &e), MP_ERR_INPUT);
    ck_assert_msg(strstr(e.msg, "'gemm_efficiency' needs 'sm_count'"), "%s", e.msg);
    ck_assert_int_eq(e.line, 5);
}
END_TEST

/* Measured tables (calibrate --measure) take precedence over the model.
 * tests/data/hw-measured.yaml: 1024^3 at 5e13 FLOP/s, 64^3 at 1e12; copies
 * of 1 MB at 1e11 B/s and 100 MB at 1e12.
 *  - a measured shape runs at its own rate: 2 * 1024^3 / 5e13 = 42.95 us,
 *    2 * 64^3 / 1e12 = 0.524 us (no memory floor: the rate includes it);
 *  - between them, 256^3 is equally far from both in log space (log 4 =
 *    log 4): the geometric mean, sqrt(5e13 * 1e12) = 7.071e12 FLOP/s;
 *  - memory: 10 MB is halfway in log between 1 MB and 100 MB: sqrt(1e11 *
 *    1e12) = 3.162e11 B/s, 1e7 / 3.162e11 = 31.62 us; below the smallest
 *    size its rate, above the largest its rate;
 *  - a negative entry is refused at its position. */
START_TEST(test_measured_tables)
{
    mp_hardware hw;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(mp_hardware_load(&hw, TEST_DATA "/hw-measured.yaml", &e), MP_OK);
    ck_assert_int_eq(hw.n_gemm_measured, 2);
    ck_assert(fabs(mp_eff_matmul_s(&hw, 1024, 1024, 1024, 1, 1e12) - 2.0 * 1024 * 1024 * 1024 / 5e13) < 1e-15);
    ck_assert(fabs(mp_eff_matmul_s(&hw, 64, 64, 64, 1, 0) - 2.0 * 64 * 64 * 64 / 1e12) < 1e-18);
    double t = mp_eff_matmul_s(&hw, 256, 256, 256, 1, 0);
    ck_assert(fabs(t - 2.0 * 256 * 256 * 256 / sqrt(5e13 * 1e12)) < 1e-12 * t);
    ck_assert(fabs(mp_eff_memory_s(&hw, 1e7, 1) - 1e7 / sqrt(1e11 * 1e12)) < 1e-12);
    ck_assert(fabs(mp_eff_memory_s(&hw, 1e4, 1) - 1e4 / 1e11) < 1e-18);
    ck_assert(fabs(mp_eff_memory_s(&hw, 1e10, 1) - 1e10 / 1e12) < 1e-12);
    /* Written and read back: the same tables. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mp_hardware_write(f, &hw, "test");
    fclose(f);
    char path[] = "/tmp/moeplan-hw-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((int)write(fd, buf, len), (int)len);
    close(fd);
    free(buf);
    mp_hardware back;
    ck_assert_int_eq(mp_hardware_load(&back, path, &e), MP_OK);
    unlink(path);
    ck_assert_int_eq(back.n_memory_measured, 2);
    ck_assert(back.gemm_measured[1][3] == 1e12 && back.memory_measured[1][0] == 1e8);
    ck_assert_int_eq(mp_hardware_load(&hw, TEST_DATA "/bad/hw-measured-row.yaml", &e), MP_ERR_INPUT);
    ck_assert_msg(strstr(e.msg, "'measured_gemm' row 2: expected a positive number, got '-3'"), "%s", e.msg);
    ck_assert_int_eq(e.line, 9);
}
END_TEST

/* Measured collectives: all-reduce over 4 ranks of one node, bus bandwidth
 * 1e10 B/s at 1 MB and 1e11 at 100 MB.  nccl-tests' factor 2(n-1)/n = 1.5:
 *  - 1 MB: 1.5e6 / 1e10 = 150 us;
 *  - 10 MB, halfway in log: busbw sqrt(1e10 1e11) = 3.162e10, 1.5e7 / that
 *    = 474.3 us;
 *  - 1 kB, below the smallest: the smallest's time, 150 us (latency);
 *  - an all-gather (no row) falls back to the model, which gives it some
 *    positive time. */
START_TEST(test_measured_collectives)
{
    mp_hardware hw;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(mp_hardware_load(&hw, TEST_DATA "/hw-measured-coll.yaml", &e), MP_OK);
    ck_assert(fabs(mp_cost_collective_s(&hw, MP_COLL_ALLREDUCE, 4, 4, 1e6) - 150e-6) < 1e-12);
    ck_assert(fabs(mp_cost_collective_s(&hw, MP_COLL_ALLREDUCE, 4, 4, 1e7) - 1.5e7 / sqrt(1e21)) < 1e-12);
    ck_assert(fabs(mp_cost_collective_s(&hw, MP_COLL_ALLREDUCE, 4, 4, 1e3) - 150e-6) < 1e-12);
    ck_assert(mp_cost_collective_s(&hw, MP_COLL_ALLGATHER, 4, 4, 1e6) > 0);
}
END_TEST

static Suite *efficiency_suite(void)
{
    Suite *s = suite_create("efficiency");
    TCase *t = tcase_create("model");
    tcase_add_test(t, test_wave_quantization);
    tcase_add_test(t, test_monotone);
    tcase_add_test(t, test_limits);
    tcase_add_test(t, test_attention);
    tcase_add_test(t, test_memory);
    tcase_add_test(t, test_links);
    tcase_add_test(t, test_hardware_keys);
    tcase_add_test(t, test_measured_tables);
    tcase_add_test(t, test_measured_collectives);
    suite_add_tcase(s, t);
    return s;
}

MP_CHECK_MAIN(efficiency_suite)
