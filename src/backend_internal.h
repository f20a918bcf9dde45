/* moeplan: the backends' tables (not installed).  The registry
 * (src/backend.c) is the one file that names CUDA. */
#ifndef MOEPLAN_BACKEND_INTERNAL_H
#define MOEPLAN_BACKEND_INTERNAL_H

#include "moeplan/backend.h"

extern const mp_backend_ops mp_backend_cpu;

#endif
