/* moeplan: what a Megatron-LM training log says about a run: the iteration
 * times, the TFLOP/s it printed and the peak memory.  Pure: the caller
 * reads the file.
 *
 * Lines read (megatron/training/training.py training_log and
 * utils/common_utils.py report_memory, NVIDIA/Megatron-LM d98e8a6):
 *   " [2026-...] iteration       20/    1000 | consumed samples: ... |
 *     elapsed time per iteration (ms): 1234.5 | throughput per GPU
 *     (TFLOP/s/GPU): 401.2 | ..."
 *   "[Rank 0] (after 10 iterations) memory (MB) | allocated: ... | max
 *     allocated: 23456.78 | reserved: ..."  (MB there is 2^20 bytes)
 *   "using world size: 64, data-parallel size: 8, ..." (arguments.py)
 * and the iteration line's "global batch size:   256 |". */
#ifndef MOEPLAN_MEGATRON_LOG_H
#define MOEPLAN_MEGATRON_LOG_H

#include <stddef.h>

typedef struct {
    int n_iterations;           /* iteration lines with a time */
    double step_s;              /* median iteration time, the first logged interval left out when there are more */
    double first_step_s;        /* the first logged interval (start-up, compilation) */
    double tflops_per_gpu;      /* median of the printed throughput; 0 when not logged */
    double max_allocated_bytes; /* largest "max allocated" over the memory lines (ranks); 0 when none */
    int n_memory_lines;
    int n_zero_times;        /* iteration lines whose time is 0 (a skipped or failed iteration) */
    int n_bad_values;        /* values read (time, world size, batch, TFLOP/s, max allocated) that are
                              * not a clean number from 0 to their bound */
    int first_bad_line, first_bad_col; /* the first of them (1-based), its bound, key and text */
    double first_bad_max;
    char first_bad_key[48], first_bad_text[32];
    long world_size;         /* "using world size: N" (arguments.py validate_args); 0 when not logged */
    /* The sizes on the same line (arguments.py: "using world size: N,
     * data-parallel size: N, context-parallel size: N, ...,
     * tensor-model-parallel size: N, pipeline-model-parallel size: N");
     * 0 each when not logged. */
    long dp, cp, tp, pp;
    long global_batch;       /* "global batch size: N" of the iteration lines; 0 when not logged */
    int global_batch_varies; /* the iteration lines disagree (batch-size ramp-up) */
} mp_megatron_log;

/* Parse the text of a log (len bytes); returns the number of iteration
 * lines found (0: nothing usable). */
int mp_megatron_log_parse(const char *text, size_t len, mp_megatron_log *out);

#endif
