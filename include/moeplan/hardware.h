/* moeplan: the hardware description (one GPU type, a two-tier network). */
#ifndef MOEPLAN_HARDWARE_H
#define MOEPLAN_HARDWARE_H

#include <stdbool.h>
#include <stdio.h>

#include "moeplan/error.h"

#define MP_HW_TABLE 96

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
    double moe_host_sync_s;       /* dropless MoE dispatcher's device-to-host copy and sync, per layer forward */
    /* The efficiency model (efficiency.h); sm_count 0 = the flat model
     * (products at peak x mfu, memory-bound bytes at bandwidth x
     * utilisation, collectives at line rate). */
    int sm_count;                 /* streaming multiprocessors: one GEMM tile each per wave */
    double gemm_efficiency;       /* fraction of peak of the largest tile on full waves, large k (default: mfu) */
    double gemm_tile_overhead;    /* c: tile rate ~ 1 / (1 + c (1/tm + 1/tn)), elements */
    double gemm_k_overhead;       /* k0: per-tile prologue/epilogue in k steps */
    double attention_fwd_efficiency, attention_bwd_efficiency; /* at head dim 128 (default: attention_efficiency) */
    double attention_head_dim_overhead; /* d0: rate ~ d / (d + d0) */
    double kernel_launch_s;       /* gap per kernel launch on the GPU */
    double memory_bytes_half;     /* bytes at which a memory-bound kernel reaches half its bandwidth */
    double intra_efficiency, inter_efficiency; /* collective ceiling, fraction of line rate */
    double collective_bytes_half; /* message bytes at which a link reaches half its ceiling */
    /* FP8 matrix products: dense FP8 FLOP/s (0 = the GPU has none), the
     * efficiency asymptote for them (default gemm_efficiency), and whether
     * the tensor cores take MX block scaling (Blackwell). */
    double peak_flops_fp8;
    double gemm_efficiency_fp8;
    bool mxfp8;
    /* Measured by `moeplan calibrate --measure`; where given they take
     * precedence over the model (efficiency.c): matrix products as (m, n,
     * k, achieved FLOP/s), memory-bound kernels as (bytes moved by one
     * kernel, achieved B/s). */
    int n_gemm_measured;
    double gemm_measured[MP_HW_TABLE][4];
    int n_memory_measured;
    double memory_measured[MP_HW_TABLE][2];
    /* Collectives (calibrate --measure across ranks): (collective, tier,
     * buffer bytes S, bus bandwidth in B/s, nccl-tests' busbw), the
     * collective as mp_coll's number (1 all-reduce, 2 all-gather, 3
     * reduce-scatter, 4 all-to-all, 5 send/recv), the tier 0 within a node,
     * 1 across nodes. */
    int n_coll_measured;
    double coll_measured[MP_HW_TABLE][4];
} mp_hardware;

void mp_hardware_defaults(mp_hardware *hw);
mp_status mp_hardware_load(mp_hardware *hw, const char *path, mp_error *err);

/* Write hw as a hardware file that mp_hardware_load reads back to the same
 * values (every key, SI units); `comment` (may be NULL) goes first, each
 * line prefixed with "# ". */
void mp_hardware_write(FILE *f, const mp_hardware *hw, const char *comment);

#endif
