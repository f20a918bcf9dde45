/* moeplan: the training workload: batch, sequence lengths, precision,
 * optimizer byte counts, routing behaviour. */
#ifndef MOEPLAN_WORKLOAD_H
#define MOEPLAN_WORKLOAD_H

#include <stdbool.h>

#include "moeplan/doc.h"
#include "moeplan/error.h"

/* FP8 training as Transformer Engine runs it (Megatron-LM --fp8-format
 * hybrid --fp8-recipe ...): the linear layers' GEMMs in FP8 with the
 * recipe's scaling, everything else in 16 bits. */
typedef enum { MP_FP8_NONE, MP_FP8_DELAYED, MP_FP8_CURRENT, MP_FP8_BLOCKWISE, MP_FP8_MXFP8 } mp_fp8_recipe;
typedef enum { MP_RESHARD_DEFAULT, MP_RESHARD_ALWAYS, MP_RESHARD_NEVER } mp_reshard;

typedef struct {
    char name[128];
    char source[512];
    long global_batch;          /* sequences per optimizer step */
    long seq_min, seq_max;      /* tokens; memory is sized at seq_max */
    int seq_line, seq_col;      /* where seq_len's value is in `source` (0: not from a file) */
    int fp8_line, fp8_col;      /* where fp8's value is (0: not given) */
    char precision[16];         /* fp16 | bf16 */
    double act_bytes;           /* bytes per activation element (2 for 16-bit) */
    /* Bytes per parameter, Megatron-LM mixed-precision convention (Adam):
     * 2 (16-bit weight) + 4 (fp32 main grad) + 4 (fp32 master) + 8 (two fp32
     * moments) = 18. */
    double weight_bytes, grad_bytes, master_bytes, optim_state_bytes;
    char optimizer[16];
    bool flash_attention;       /* attention scores never stored (Dao et al. 2022) */
    double capacity_factor;     /* 0 = dropless */
    double routing_imbalance;   /* tokens at the busiest expert rank / mean, >= 1 */
    bool overlap_grad_reduce;   /* DP gradient reduction hidden behind backward */
    bool tp_comm_overlap;       /* TP collectives pipelined with their GEMMs (TE userbuffers, --tp-comm-overlap) */
    /* Pipeline sends without sequence parallelism split over the TP ranks
     * and all-gathered after the receive: Megatron-LM's scatter-gather
     * optimisation [N21 4.1], on by default from 2021-02-16 (commit
     * 72e4230) until Megatron-Core's p2p replaced it on 2023-03-23
     * (3c92fa9); today's Megatron-Core sends the whole activation. */
    bool pp_scatter_gather;
    /* Interleaved pipeline sends wait on the critical path (each chunk's
     * batched send/recv, then a device sync), as in Megatron-LM before
     * overlap_p2p_comm (f9283c5, 2023-05-31; the default from 4eeff55,
     * 2023-10-12; today --no-overlap-p2p-communication).  Default: overlapped. */
    bool pp_blocking_sends;
    /* ZeRO-3 as DeepSpeed 0.3.12-0.4.x ran it (2021): every parameter its
     * own all-gather and reduce-scatter (partition_parameters.py
     * _all_gather/_allgather_param, _reduce_scatter_gradients), each fetch
     * preceded by torch.cuda.synchronize() and waited for before the module
     * runs (stage3.py fetch_sub_module, _synchronize_communication): no
     * overlap with compute.  Parameters under 100k elements stay gathered
     * (stage3_param_persistence_threshold). */
    bool zero3_blocking_fetch;
    /* Weight gradients written in 16 bits by the GEMM and added into the
     * fp32 main gradient by a separate kernel per parameter, every
     * micro-batch (workload key gradient_accumulation_fusion: false):
     * Megatron-LM before the fused wgrad accumulation (83b1e42, 2022-02-13;
     * today --no-gradient-accumulation-fusion), whose DDP hook runs
     * param.main_grad.add_(param.grad).  Default: fused (false here). */
    bool grad_accum_unfused;
    /* With grad_accum_unfused: no main-gradient buffer, the 16-bit
     * param.grad summed by autograd (Megatron-LM of 2021 with --fp16 alone:
     * the first micro-batch's gradient is stored, not added, since
     * zero_grad sets it to None), and the optimizer's fp32 gradients made
     * at the step (fp16 optimizer: .float() copy, unscale).  Set by
     * validate's records only. */
    bool grad_accum_autograd;
    /* ZeRO-3: whether a layer's parameters are freed after its forward and
     * gathered again for its backward (FSDP2's reshard_after_forward;
     * "default" as TorchTitan: yes, but not under pipeline parallelism). */
    mp_reshard fsdp_reshard;
    mp_fp8_recipe fp8;          /* FP8 linear layers (workload key fp8); NONE = 16-bit */
} mp_workload;

void mp_workload_defaults(mp_workload *w);
mp_status mp_workload_load(mp_workload *w, const char *path, mp_error *err);
/* The key `capacity_factor` of the map in g: 0 (dropless) or 1-64.  One
 * rule for every file that has the key (workload and proposal files). */
mp_status mp_get_capacity_factor(mp_getter *g, double *out, bool *found);
/* Parse "4096" or "128-10240" into min/max. */
bool mp_parse_seq_range(const char *text, long *min, long *max);

#endif
