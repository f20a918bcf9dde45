/* moeplan: the backends' tables (not installed).  The registry
 * (src/backend.c) is the one file that names CUDA. */
#ifndef MOEPLAN_BACKEND_INTERNAL_H
#define MOEPLAN_BACKEND_INTERNAL_H

#include "moeplan/backend.h"

extern const mp_backend_ops mp_backend_cpu;

/* backend_cuda.cu, built with MP_HAVE_CUDA: open (false with the reason,
 * e.g. no GPU) and close. */
bool mp_backend_cuda_open(mp_backend *b, char *why, size_t why_len);
void mp_backend_cuda_close(mp_backend *b);

#endif
