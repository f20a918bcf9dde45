/* moeplan: the simulator's measured distributions, read from YAML files
 * (src/distribution.c): a histogram of document lengths and the tokens
 * each expert received.
 *
 *   # lengths file                      # routing file
 *   bins:                               tokens_per_expert: [812, 790, ...]
 *     - {lo: 128, hi: 1023, weight: 0.6}
 *     - {lo: 1024, hi: 10240, weight: 0.4}
 */
#ifndef MOEPLAN_DISTRIBUTION_H
#define MOEPLAN_DISTRIBUTION_H

#include "moeplan/error.h"
#include "moeplan/simulate.h"

/* *bins is allocated (caller frees); lengths within 1..max_tokens. */
mp_status mp_lengths_load(const char *path, long max_tokens, mp_len_bin **bins, int *n, mp_error *err);
/* *weights is allocated (caller frees); `experts` values, each >= 0, not all 0. */
mp_status mp_expert_weights_load(const char *path, long experts, double **weights, int *n, mp_error *err);

#endif
