/* moeplan: the hardware description (one GPU type, a two-tier network). */
#ifndef MOEPLAN_HARDWARE_H
#define MOEPLAN_HARDWARE_H

#include "moeplan/error.h"

typedef struct {
    char name[128];
    char source[512];
    double peak_flops;            /* dense 16-bit FLOP/s per GPU */
    double mfu;                   /* fraction of peak that large matrix products reach */
    double attention_efficiency;  /* fraction of peak fused attention reaches (default: mfu) */
    double memory_bytes;          /* HBM capacity per GPU */
    double memory_bw_bytes_per_s; /* HBM bandwidth per GPU */
    double bw_utilization;        /* fraction of HBM bandwidth memory-bound kernels reach */
    int gpus_per_node;
    double intra_bw_bytes_per_s;  /* per GPU, one direction (NVLink) */
    double inter_bw_bytes_per_s;  /* per GPU, one direction (network) */
    double intra_latency_s;       /* alpha of the alpha-beta model, per step */
    double inter_latency_s;
    double reserved_bytes;        /* CUDA context, NCCL buffers, framework: fixed allowance */
    double fragmentation;         /* allocator fragmentation, fraction of allocated bytes */
    double checkpoint_bw_bytes_per_s; /* storage write/read bandwidth per GPU; 0 = not given */
} mp_hardware;

void mp_hardware_defaults(mp_hardware *hw);
mp_status mp_hardware_load(mp_hardware *hw, const char *path, mp_error *err);

#endif
