/* Unit tests: reading a Megatron-LM training log (megatron_log.h).
 *
 * tests/data/megatron-small.log has the line formats of training.py's
 * training_log and report_memory: four iteration lines (9000, 300, 310 and
 * 290 ms; 40, 100, 97, 103 TFLOP/s/GPU; global batch size 128), two
 * memory lines (max allocated 3000.50 and 3500.75 MB, MB = 2^20 bytes) and
 * arguments.py's "using world size: 128". */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/megatron_log.h"

#include "check_main.h"

#ifndef TEST_DATA
#error "TEST_DATA must point at tests/data"
#endif

/* The first interval (9 s: start-up) is left out: median of 300, 310, 290
 * ms is 0.300 s; throughput median of 100, 97, 103 is 100; the peak is the
 * larger max allocated, 3500.75 x 1048576 = 3,670,802,432 B. */
START_TEST(test_small_log)
{
    FILE *f = fopen(TEST_DATA "/megatron-small.log", "rb");
    ck_assert_ptr_nonnull(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    mp_megatron_log lg;
    ck_assert_int_eq(mp_megatron_log_parse(buf, n, &lg), 4);
    ck_assert(fabs(lg.step_s - 0.300) < 1e-12);
    ck_assert(fabs(lg.first_step_s - 9.0) < 1e-12);
    ck_assert(fabs(lg.tflops_per_gpu - 100.0) < 1e-12);
    ck_assert_double_eq(lg.max_allocated_bytes, 3500.75 * 1048576.0);
    ck_assert_int_eq(lg.n_memory_lines, 2);
    ck_assert_int_eq(lg.world_size, 128);
    /* its first line: data-parallel 16, context-parallel 1, tensor 4, pipeline 2 */
    ck_assert_int_eq(lg.dp, 16);
    ck_assert_int_eq(lg.cp, 1);
    ck_assert_int_eq(lg.tp, 4);
    ck_assert_int_eq(lg.pp, 2);
    ck_assert_int_eq(lg.global_batch, 128);
    ck_assert_int_eq(lg.global_batch_varies, 0);
    ck_assert_int_eq(lg.n_zero_times + lg.n_bad_values, 0);
}
END_TEST

/* Text without iteration lines gives nothing; one line is used as it is. */
START_TEST(test_degenerate)
{
    mp_megatron_log lg;
    ck_assert_int_eq(mp_megatron_log_parse("hello\nworld\n", 12, &lg), 0);
    const char *one = " iteration 5/ 10 | elapsed time per iteration (ms): 1234.5 |";
    ck_assert_int_eq(mp_megatron_log_parse(one, strlen(one), &lg), 1);
    ck_assert(fabs(lg.step_s - 1.2345) < 1e-12);
    ck_assert_double_eq(lg.tflops_per_gpu, 0);
    ck_assert_int_eq(mp_megatron_log_parse("", 0, &lg), 0);
    /* A time that overflows is counted as bad, not read as infinity; a 0 ms
     * iteration is counted, not timed; two batch sizes are a ramp-up. */
    const char *odd = " elapsed time per iteration (ms): 1e999 | global batch size: 8 |\n"
                      " elapsed time per iteration (ms): 0.0 | global batch size: 8 |\n"
                      " elapsed time per iteration (ms): 500 | global batch size: 8 |\n"
                      " elapsed time per iteration (ms): 400 | global batch size: 16 |\n";
    ck_assert_int_eq(mp_megatron_log_parse(odd, strlen(odd), &lg), 2);
    ck_assert_int_eq(lg.n_bad_values, 1);
    ck_assert_int_eq(lg.n_zero_times, 1);
    ck_assert_int_eq(lg.global_batch_varies, 1);
    ck_assert_int_eq(lg.world_size, 0);
    ck_assert_int_eq(lg.tp + lg.pp + lg.cp + lg.dp, 0);
    ck_assert_int_eq(lg.first_bad_line, 1);
    ck_assert_str_eq(lg.first_bad_text, "1e999");
    /* A letter in a time and a negative time are bad at their line and
     * column (the value after "(ms): ", column 35 here), not read as 31 or
     * left out. */
    const char *typo = " elapsed time per iteration (ms): 300 |\n"
                       " elapsed time per iteration (ms): 31O.0 |\n"
                       " elapsed time per iteration (ms): -300.0 |\n";
    ck_assert_int_eq(mp_megatron_log_parse(typo, strlen(typo), &lg), 1);
    ck_assert_int_eq(lg.n_bad_values, 2);
    ck_assert_int_eq(lg.first_bad_line, 2);
    ck_assert_int_eq(lg.first_bad_col, 35);
    ck_assert_str_eq(lg.first_bad_text, "31O.0");
    ck_assert_str_eq(lg.first_bad_key, "elapsed time per iteration (ms):");
    /* The other values read are held to the same: a letter in a memory
     * figure is not read as 35 MB, a world size of "128x" not dropped. */
    const char *mem = " elapsed time per iteration (ms): 300 |\n"
                      "[Rank 7] memory (MB) | allocated: 1.0 | max allocated: 35OO.75 | reserved: 4.0\n"
                      "using world size: 128x, data-parallel size: 16\n";
    ck_assert_int_eq(mp_megatron_log_parse(mem, strlen(mem), &lg), 1);
    ck_assert_int_eq(lg.n_bad_values, 2);
    ck_assert_str_eq(lg.first_bad_key, "max allocated:");
    ck_assert_str_eq(lg.first_bad_text, "35OO.75");
    ck_assert_int_eq(lg.first_bad_line, 2);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("megatron_log");
    TCase *t = tcase_create("parse");
    tcase_add_test(t, test_small_log);
    tcase_add_test(t, test_degenerate);
    suite_add_tcase(s, t);
    return s;
}

MP_CHECK_MAIN(log_suite)
