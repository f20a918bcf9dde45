/* moeplan: fitting the efficiency model's parameters to measured runs.
 * Pure functions: the runs are read by runs.c, the result written by the
 * caller.
 *
 * The fit minimises the sum over runs of log(predicted / measured)^2 --
 * relative errors, so a 100 s run and a 1 s run weigh alike -- over a few
 * named, bounded parameters of the hardware file, by cyclic coordinate
 * descent with golden-section line searches (deterministic; no gradient is
 * needed and bounds hold by construction).  Cross-validation refits on k-1
 * folds and predicts the held-out fold, so over-fitting shows. */
#ifndef MOEPLAN_CALIBRATE_H
#define MOEPLAN_CALIBRATE_H

#include <stddef.h>

#include "moeplan/hardware.h"
#include "moeplan/runs.h"

typedef struct {
    const char *key;    /* the hardware file's key */
    double lo, hi;      /* bounds */
    const char *why;    /* what it stands for */
} mp_fit_param;

/* The parameters moeplan can fit, with their bounds. */
const mp_fit_param *mp_fit_params(size_t *n);
/* By hardware-file key, or NULL. */
const mp_fit_param *mp_fit_param_find(const char *key);

/* Read and write a fitted parameter of a hardware description. */
double mp_fit_get(const mp_hardware *hw, const char *key);
void mp_fit_set(mp_hardware *hw, const char *key, double v);

typedef struct {
    double value[16];
    int n_params;
    double rms_log_error;   /* sqrt(mean of log(pred/meas)^2) at the fit */
    int iterations;
} mp_fit_result;

/* Fit `keys` (n_keys <= 16) of `hw` to the runs whose `use[i]` is set (all
 * when use is NULL); `hw` is updated in place with the fitted values. */
void mp_calibrate_fit(mp_hardware *hw, const char *const *keys, int n_keys, const mp_run *runs, size_t n_runs,
                      const unsigned char *use, mp_fit_result *out);

/* Step-time errors (predicted / measured - 1) of the runs with `hw` in
 * place of each run's own hardware; errors[i] for every i with use[i]. */
void mp_calibrate_errors(const mp_hardware *hw, const mp_run *runs, size_t n_runs, const unsigned char *use,
                         double *errors);

#endif
