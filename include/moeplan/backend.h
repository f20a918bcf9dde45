/* moeplan: the kernels `moeplan run` executes, behind one table of function
 * pointers per backend.  Public headers carry no CUDA types: buffers are
 * opaque pointers into the backend's memory, filled and read back as
 * floats.  alloc's buffers hold the backend's element type, elem_bytes
 * wide (the CPU backend: fp32, 4; CUDA: bf16, 2): activations, weights
 * and their gradients.  alloc_f32's hold fp32 on every backend: the
 * arguments marked [f32] below (statistics, router probabilities, losses,
 * fp32 gradient accumulators, the optimizer's state).  Integer arrays
 * (int *) are the backend's int buffers (alloc_int).
 *
 * Shapes are row-major.  Every kernel returns 0, or -1 with the reason in
 * the backend's `err` (the op and its sizes).  A kernel that checks its
 * integer inputs on the device (permute's expert indices, cross
 * entropy's targets) may report a bad one at the next wait instead, so
 * that it need not stop the stream: sync, download or timer_end then
 * return the error (the CUDA backend does; the CPU's report it at once). */
#ifndef MOEPLAN_BACKEND_H
#define MOEPLAN_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mp_backend mp_backend;

typedef struct {
    const char *name;            /* "cpu", "cuda" */
    int elem_bytes;              /* bytes of one element of alloc's buffers */
    /* Memory. */
    void *(*alloc)(mp_backend *b, size_t elems);          /* zeroed; NULL when out of memory (err says) */
    void *(*alloc_f32)(mp_backend *b, size_t elems);      /* the same, fp32 elements */
    void (*release)(mp_backend *b, void *p);
    int (*upload)(mp_backend *b, void *dst, const float *src, size_t elems);
    int (*download)(mp_backend *b, float *dst, const void *src, size_t elems);
    /* Integer buffers (router indices, permutation slots, token counts):
     * int32 in the backend's memory. */
    void *(*alloc_int)(mp_backend *b, size_t n);
    int (*upload_int)(mp_backend *b, void *dst, const int *src, size_t n);
    int (*download_int)(mp_backend *b, int *dst, const void *src, size_t n);
    int (*sync)(mp_backend *b);                           /* wait for queued work */
    double (*now_s)(mp_backend *b);                       /* a monotonic clock, after sync */
    /* A timer on the device itself (cuda: events on the stream), NULL
     * where the clock above is the timer (cpu): begin marks the stream,
     * end marks it again, waits, and returns the seconds between, or < 0
     * on an error (err says).  Use mp_backend_timer_begin/end. */
    int (*timer_begin)(mp_backend *b);
    double (*timer_end)(mp_backend *b);
    size_t (*high_water_bytes)(mp_backend *b);            /* the most allocated at once */
    /* Host threads the backend's kernels may use (NULL: not applicable). */
    void (*set_threads)(mp_backend *b, int threads);
    /* Matrix products, fp32 accumulation: C[m x n] = op(A) op(B) + beta C,
     * op(A) m x k (A stored k x m when ta), op(B) k x n (n x k when tb). */
    int (*gemm)(mp_backend *b, bool ta, bool tb, int m, int n, int k, const void *A, const void *B, void *C,
                float beta);
    /* `groups` products C_g[m_g x n] = A_g[m_g x k] B_g[k x n]: A and C the
     * groups' rows one after another, B the groups' k x n blocks. */
    int (*gemm_grouped)(mp_backend *b, int groups, const int *m, int n, int k, const void *A, const void *B, void *C);
    /* A plain device copy: the bandwidth memory-bound kernels are held to. */
    int (*copy)(mp_backend *b, void *dst, const void *src, size_t elems);
    /* y = x + r (residual add), elementwise. */
    int (*add)(mp_backend *b, size_t elems, const void *x, const void *r, void *y);
    /* RMSNorm over rows of `cols`: y = x / rms(x) * w, rstd[row] kept [f32]. */
    int (*rmsnorm_fwd)(mp_backend *b, int rows, int cols, const void *x, const void *w, void *y, void *rstd);
    /* dx, and dw [f32] accumulated (+=) over the rows. */
    int (*rmsnorm_bwd)(mp_backend *b, int rows, int cols, const void *x, const void *w, const void *rstd,
                       const void *dy, void *dx, void *dw);
    /* SwiGLU: in[rows x 2 cols] = [gate | up], out = silu(gate) * up. */
    int (*swiglu_fwd)(mp_backend *b, int rows, int cols, const void *in, void *out);
    int (*swiglu_bwd)(mp_backend *b, int rows, int cols, const void *in, const void *dout, void *din);
    /* GELU, tanh form (Megatron-LM's bias-gelu fusion): out = x (1 + tanh(
     * sqrt(2/pi) (x + 0.044715 x^3))) / 2. */
    int (*gelu_fwd)(mp_backend *b, size_t n, const void *in, void *out);
    int (*gelu_bwd)(mp_backend *b, size_t n, const void *in, const void *dout, void *din);
    /* Embedding: out[t] = table[ids[t]] (rows of `hidden`); backward
     * dtable[ids[t]] += dout[t], dtable [f32]. */
    int (*embed_fwd)(mp_backend *b, int tokens, int hidden, const int *ids, const void *table, void *out);
    int (*embed_bwd)(mp_backend *b, int tokens, int hidden, const int *ids, const void *dout, void *dtable);
    /* Rotary position embedding in place on x [rows x heads x dim], row t
     * at position t mod seq: pairs (i, i + dim/2) rotated by t theta^(-2i/dim),
     * theta 10000; backward rotates the gradient back (sign flips). */
    int (*rope)(mp_backend *b, int rows, int heads, int dim, int seq, void *x, bool backward);
    /* Router: softmax over `experts` logits per token, the top k by logit
     * (ties: the lower expert index first), their probabilities [f32]
     * renormalised over them. */
    int (*router_topk)(mp_backend *b, int tokens, int experts, int k, const void *logits, void *probs, int *idx);
    /* Tokens to experts: row t's k copies go to their expert's rows in
     * expert order (stable in token order); with capacity > 0 an expert
     * keeps its first `capacity` and the rest are dropped (slot -1).
     * counts[e] = rows expert e received; slot[t*k+j] = the row, or -1. */
    int (*permute)(mp_backend *b, int tokens, int hidden, int k, int experts, int capacity, const int *idx,
                   const void *x, void *out, int *counts, int *slot);
    /* Back: y[t] = sum over j of probs[t,j] [f32] * in[slot[t*k+j]]
     * (dropped: 0). */
    int (*unpermute)(mp_backend *b, int tokens, int hidden, int k, const int *slot, const void *probs, const void *in,
                     void *y);
    /* Causal attention per head: q, k, v, o [heads x seq x dim]; lse
     * [heads x seq] [f32] kept for the backward. */
    int (*attention_fwd)(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
                         void *o, void *lse);
    int (*attention_bwd)(mp_backend *b, int heads, int seq, int dim, const void *q, const void *k, const void *v,
                         const void *o, const void *lse, const void *dout, void *dq, void *dk, void *dv);
    /* Cross entropy over rows of `vocab` logits: loss[row] [f32], and
     * dlogits = softmax - onehot(target), each divided by rows (a mean
     * loss). */
    int (*cross_entropy)(mp_backend *b, int rows, int vocab, const void *logits, const int *target, void *loss,
                         void *dlogits);
    /* AdamW on n parameters (decoupled weight decay), step t >= 1: param
     * (the master weights), grad, m and v all [f32]. */
    int (*adamw)(mp_backend *b, size_t n, void *param, const void *grad, void *m, void *v, float lr, float beta1,
                 float beta2, float eps, float weight_decay, int t);
    /* Collectives on the backend's own library (cuda: NCCL), NULL where it
     * has none (cpu: the world's MPI ones, run_mpi.c).  The world (world.h
     * mp_world_use_backend) gets an id from comm_id on each group's first
     * member, broadcasts it over MPI, and every member calls comm_init
     * with the group's index (0..MP_BACKEND_GROUPS-1), its size and its
     * rank in it.  collective runs `coll` (cost.h mp_coll's values: 1
     * all-reduce, 2 all-gather, 3 reduce-scatter, 4 all-to-all, 5
     * send/recv around the group) of `bytes` (mp_world_collective's
     * convention) on the backend's stream: after one warm-up, the median
     * of `reps` timed runs (reps <= 0: one run, no warm-up), this rank's
     * seconds. */
    int (*comm_id)(mp_backend *b, void *id, size_t len);
    int (*comm_init)(mp_backend *b, int group, int nranks, int rank, const void *id);
    int (*collective)(mp_backend *b, int group, int coll, double bytes, int reps, double *seconds);
} mp_backend_ops;

#define MP_BACKEND_GROUPS 16
#define MP_BACKEND_COMM_ID_BYTES 128 /* ncclUniqueId's size */

struct mp_backend {
    const mp_backend_ops *ops;
    void *impl;                  /* the backend's own state */
    size_t allocated_bytes, high_water_bytes;
    char err[256];
};

/* The backend named `name` ("cpu", "cuda"), opened; false with the reason
 * in why (no such backend, the build has no CUDA, no GPU). */
bool mp_backend_open(const char *name, mp_backend *b, char *why, size_t why_len);
void mp_backend_close(mp_backend *b);
/* Time what the backend runs between the two calls: its device timer
 * where it has one (CUDA events), else its clock after a sync; < 0 on an
 * error. */
void mp_backend_timer_begin(mp_backend *b, double *t0);
double mp_backend_timer_end(mp_backend *b, double t0);
/* The names this build has, comma-separated ("cpu" or "cpu, cuda"). */
const char *mp_backend_names(void);

#endif
