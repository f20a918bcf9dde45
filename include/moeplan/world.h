/* moeplan: the ranks of a `moeplan run` launched by mpirun or srun, the
 * layout's communicators split from them, and the collectives the cost
 * model lists, executed and timed.  No MPI types here: src/run_mpi.c is the
 * one file that names MPI. */
#ifndef MOEPLAN_WORLD_H
#define MOEPLAN_WORLD_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/backend.h"
#include "moeplan/cost.h"
#include "moeplan/layout.h"

typedef struct {
    int rank, size;              /* in the world; 0 and 1 when not launched by MPI */
    bool mpi;                    /* MPI was initialised (the launcher's environment said so) */
    int tp, cp, dp, pp;          /* this rank's coordinates in the layout (Megatron order tp < cp < dp < pp) */
    int etp, ep, edp;            /* and on the expert side (etp < ep < edp, within a pipeline stage) */
    void *impl;
} mp_world;

/* Whether a launcher started this process (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or SLURM_NTASKS in the environment). */
bool mp_world_launched(void);
/* MPI initialised when launched; else a world of one.  False with the
 * reason (a build without MPI launched under mpirun, MPI_Init failing). */
bool mp_world_init(mp_world *w, char *why, size_t why_len);
void mp_world_finalize(mp_world *w);
/* The layout's groups split from the world; false with the reason, naming
 * this rank, when the world is not the layout's GPU count. */
bool mp_world_groups(mp_world *w, const mp_layout *l, char *why, size_t why_len);

/* Run collective `coll` of `bytes` (the alpha-beta model's buffer size S,
 * nccl-tests' convention: all-gather S gathered, reduce-scatter S in,
 * all-to-all S sent per rank) over group g, which must have `size`
 * members; after one warm-up, the median of `reps` of the slowest member's
 * time (reps <= 0: one run, no warm-up or barrier, this rank's time).  Every collective is under a watchdog: a rank that does not arrive
 * within timeout_s ends the run with exit status 4 and a message naming
 * the rank, the group and the op.  0, or -1 with the reason. */
int mp_world_collective(mp_world *w, const char *op, mp_group g, int size, mp_coll coll, double bytes, int reps,
                        double timeout_s, double *seconds, char *why, size_t why_len);
/* From now on run the collectives on backend b's library where it has
 * one (the cuda backend: NCCL, one communicator per group with more than
 * one member, its id broadcast over MPI); a no-op for the cpu backend,
 * whose collectives stay MPI's.  False with the reason naming the rank and
 * the group.  After mp_world_groups. */
bool mp_world_use_backend(mp_world *w, mp_backend *b, char *why, size_t why_len);
/* "NCCL" or "MPI": what mp_world_collective runs on. */
const char *mp_world_coll_lib(const mp_world *w);
/* An all-to-all over g of `per_peer` ints whose values name their sender,
 * receiver and index, checked exactly on arrival (the token-id payload). */
int mp_world_check_alltoall(mp_world *w, mp_group g, int per_peer, char *why, size_t why_len);
/* Pipeline sends between adjacent stages of this rank's PP group: send
 * (to the next stage, or the previous) returns at once, a copy in flight;
 * recv blocks, under the watchdog; flush waits for the sends. */
int mp_world_send(mp_world *w, bool to_next, const float *buf, size_t n, char *why, size_t why_len);
int mp_world_recv(mp_world *w, bool from_prev, float *buf, size_t n, char *why, size_t why_len);
int mp_world_flush(mp_world *w, char *why, size_t why_len);
void mp_world_barrier(mp_world *w);

/* Each rank's n values, in world-rank order, into out (n x size) on world
 * rank 0; out untouched elsewhere.  A world of one copies v. */
void mp_world_gather(mp_world *w, const double *v, int n, double *out);

/* The ranks on this node (the world's shared-memory group). */
int mp_world_node_size(mp_world *w);

/* The largest v over the world. */
double mp_world_max(mp_world *w, double v);

#endif
