/* moeplan: how fast a GPU really runs each kind of op -- the efficiency
 * model the cost model asks for every op's duration.  Pure functions.
 *
 * Every figure comes from a physical cause (see efficiency.c for the
 * sources and derivations):
 *  - matrix products: tile and wave quantization over the GPU's SMs for a
 *    stated tile set, a per-tile operand-load overhead (small tiles are
 *    slower), a fixed per-tile prologue/epilogue (small k is slower), an
 *    asymptotic fraction of peak; the HBM roofline;
 *  - fused attention: forward and backward apart, by head dimension;
 *  - memory-bound kernels: bandwidth that ramps with the bytes a kernel
 *    moves, plus a launch gap per kernel;
 *  - collectives: a ceiling fraction of the link's line rate per tier and
 *    a ramp with message size.
 * With a hardware file that gives no SM count the model is the flat one:
 * every product at peak x mfu, every memory-bound byte at bandwidth x
 * utilisation, collectives at line rate (the seed's stated assumptions). */
#ifndef MOEPLAN_EFFICIENCY_H
#define MOEPLAN_EFFICIENCY_H

#include <stdbool.h>

#include "moeplan/hardware.h"

/* Time of `batch` independent products out[m x n] = in[m x k] w[k x n]
 * (a grouped GEMM: one per local expert, m each), `flop_bytes` the HBM
 * bytes the products read and write (for the roofline). */
double mp_eff_matmul_s(const mp_hardware *hw, double m, double n, double k, int batch, double hbm_bytes);

/* The same product's backward: the data gradient dX[m x k] = dY[m x n]
 * W^T and the weight gradient dW[k x n] = X^T[k x m] dY[m x n] (its
 * reduction runs over the m tokens). */
double mp_eff_matmul_bwd_s(const mp_hardware *hw, double m, double n, double k, int batch, double hbm_bytes);

/* Compute time of the products on one tile shape tm x tn (the library
 * picks the fastest of its tile set; this is one candidate). */
double mp_eff_matmul_tile_s(const mp_hardware *hw, double m, double n, double k, int batch, double tm, double tn);

/* Achieved fraction of peak of one product (what mp_eff_matmul_s implies
 * when it is compute-bound). */
double mp_eff_matmul_fraction(const mp_hardware *hw, double m, double n, double k, int batch);

/* Fused attention: `flops` of the kernel, head dimension d. */
double mp_eff_attention_s(const mp_hardware *hw, double flops, double head_dim, bool backward, double hbm_bytes);

/* Memory-bound op moving `bytes` in `kernels` kernels. */
double mp_eff_memory_s(const mp_hardware *hw, double bytes, int kernels);

/* Achieved bandwidth of a collective's link: the line rate `line_bw` times
 * the tier's ceiling and the message-size ramp (bytes per peer for an
 * all-to-all, the buffer for a ring). */
double mp_eff_link_bw(const mp_hardware *hw, double line_bw, bool inter_node, double message_bytes);

#endif
