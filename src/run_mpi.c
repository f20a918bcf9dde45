/* moeplan run across ranks: MPI (the one file that names it).  A world of
 * one without MPI; with it, one process per GPU (or per CPU rank), the
 * layout's communicators split in moeplan's rank order (the cost model's
 * and Megatron-LM's: tp < cp < dp < pp, and etp < ep < edp within a
 * pipeline stage), and the collectives measured with MPI's on the CPU
 * backend.  Exit status 4: a collective did not complete in time. */
#include "moeplan/world.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "moeplan/backend.h"
#include "moeplan/runs.h"

bool mp_world_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") || getenv("SLURM_NTASKS");
}

#if MP_HAVE_MPI
#include <mpi.h>

typedef struct {
    MPI_Comm g[MP_GROUP_WORLD + 1];
    MPI_Request *req;            /* pipeline sends in flight, and their buffers */
    float **sbuf;
    int nreq, capreq;
    mp_backend *b;               /* collectives on the backend's library (NCCL), or NULL: MPI's */
} groups;

/* The watchdog: what is running, for the message if it never returns. */
static char watch_msg[512];
static void on_alarm(int sig)
{
    (void)sig;
    ssize_t r = write(2, watch_msg, strlen(watch_msg));
    (void)r;
    _exit(4);
}

bool mp_world_init(mp_world *w, char *why, size_t why_len)
{
    memset(w, 0, sizeof *w);
    w->size = 1;
    if (!mp_world_launched())
        return true;
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        snprintf(why, why_len, "MPI_Init failed");
        return false;
    }
    w->mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    /* The world communicator from the start (calibrate --measure needs no
     * layout); the layout's groups come with mp_world_groups. */
    groups *gs = calloc(1, sizeof *gs);
    if (!gs) {
        snprintf(why, why_len, "out of memory");
        return false;
    }
    for (int g = 0; g <= MP_GROUP_WORLD; g++)
        gs->g[g] = MPI_COMM_NULL;
    gs->g[MP_GROUP_WORLD] = MPI_COMM_WORLD;
    w->impl = gs;
    signal(SIGALRM, on_alarm);
    return true;
}

int mp_world_node_size(mp_world *w)
{
    if (!w->mpi)
        return 1;
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &node);
    int n = 1;
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
}

void mp_world_finalize(mp_world *w)
{
    if (w->impl) {
        groups *gs = w->impl;
        for (int i = MP_GROUP_TP; i < MP_GROUP_WORLD; i++)
            if (gs->g[i] != MPI_COMM_NULL)
                MPI_Comm_free(&gs->g[i]);
        free(gs->req);
        free(gs->sbuf);
        free(gs);
        w->impl = NULL;
    }
    if (w->mpi)
        MPI_Finalize();
    w->mpi = false;
}

bool mp_world_groups(mp_world *w, const mp_layout *l, char *why, size_t why_len)
{
    if (w->size != l->gpus) {
        snprintf(why, why_len, "rank %d: the world has %d rank%s, the plan's layout %d GPU%s (start one rank per GPU)",
                 w->rank, w->size, mp_plural(w->size), l->gpus, mp_plural(l->gpus));
        return false;
    }
    int r = w->rank, stage = l->tp * l->cp * l->dp, local = r % stage;
    w->tp = r % l->tp;
    w->cp = (r / l->tp) % l->cp;
    w->dp = (r / (l->tp * l->cp)) % l->dp;
    w->pp = r / stage;
    w->etp = local % l->etp;
    w->ep = (local / l->etp) % l->ep;
    w->edp = local / (l->etp * l->ep);
    groups *gs = w->impl;
    /* Members share every coordinate but the group's own (or own pair). */
    int color[MP_GROUP_WORLD + 1] = {0};
    color[MP_GROUP_TP] = r / l->tp;
    color[MP_GROUP_CP] = (w->pp * l->dp + w->dp) * l->tp + w->tp;
    color[MP_GROUP_DP] = w->pp * l->tp + w->tp; /* dp x cp ranks, stride tp (the cost model's DP group) */
    color[MP_GROUP_PP] = local;
    color[MP_GROUP_EP] = (w->pp * l->edp + w->edp) * l->etp + w->etp;
    color[MP_GROUP_ETP] = r / l->etp;
    color[MP_GROUP_EDP] = w->pp * l->etp * l->ep + local % (l->etp * l->ep);
    color[MP_GROUP_TP_CP] = r / (l->tp * l->cp);
    color[MP_GROUP_ETP_EP] = r / (l->etp * l->ep);
    for (int g = MP_GROUP_TP; g < MP_GROUP_WORLD; g++)
        MPI_Comm_split(MPI_COMM_WORLD, color[g], r, &gs->g[g]);
    return true;
}

static double now(void) { return MPI_Wtime(); }

int mp_world_collective(mp_world *w, const char *op, mp_group g, int size, mp_coll coll, double bytes, int reps,
                        double timeout_s, double *seconds, char *why, size_t why_len)
{
    *seconds = 0;
    groups *gs = w->impl;
    if (!gs || g <= MP_GROUP_NONE || g > MP_GROUP_WORLD || gs->g[g] == MPI_COMM_NULL) {
        snprintf(why, why_len, "rank %d, op %s: no communicator for group %s", w->rank, op, mp_group_name(g));
        return -1;
    }
    MPI_Comm c = gs->g[g];
    int n, me;
    MPI_Comm_size(c, &n);
    MPI_Comm_rank(c, &me);
    if (n != size) {
        snprintf(why, why_len, "rank %d, op %s: group %s has %d rank%s, the plan says %d", w->rank, op,
                 mp_group_name(g), n, mp_plural(n), size);
        return -1;
    }
    if (n <= 1 || bytes <= 0)
        return 0;
    if (gs->b) {
        /* On the GPUs (NCCL), timed on the backend's stream; the slowest
         * member's median, under the same watchdog. */
        snprintf(watch_msg, sizeof watch_msg,
                 "moeplan: error: rank %d: op %s (NCCL %s over group %s of %d) did not complete in %.0f s: another "
                 "rank failed or runs a different plan\n", w->rank, op, mp_coll_name(coll), mp_group_name(g), n,
                 timeout_s);
        alarm((unsigned)ceil(timeout_s) * (reps > 0 ? (unsigned)reps + 1 : 1u));
        if (reps > 0)
            MPI_Barrier(c);
        int rc = gs->b->ops->collective(gs->b, (int)g, (int)coll, bytes, reps, seconds);
        double mx = *seconds;
        if (reps > 0)
            MPI_Allreduce(seconds, &mx, 1, MPI_DOUBLE, MPI_MAX, c);
        alarm(0);
        if (rc) {
            snprintf(why, why_len, "rank %d, op %s: %s", w->rank, op, gs->b->err);
            return -1;
        }
        *seconds = mx;
        return 0;
    }
    size_t count = (size_t)ceil(bytes / sizeof(float));
    count = (count + (size_t)n - 1) / (size_t)n * (size_t)n; /* whole shares */
    float *a = calloc(count, sizeof *a), *b = calloc(count, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        snprintf(why, why_len, "rank %d, op %s: out of memory for %zu floats", w->rank, op, count);
        return -1;
    }
    int share = (int)(count / (size_t)n);
    double t[64];
    bool once = reps <= 0; /* inside a step: one run, no warm-up, no barrier */
    if (once)
        reps = 1;
    if (reps > 64)
        reps = 64;
    int rc = MPI_SUCCESS;
    snprintf(watch_msg, sizeof watch_msg,
             "moeplan: error: rank %d: op %s (%s over group %s of %d) did not complete in %.0f s: another rank "
             "failed or runs a different plan\n", w->rank, op, mp_coll_name(coll), mp_group_name(g), n, timeout_s);
    for (int r = once ? 0 : -1; r < reps && rc == MPI_SUCCESS; r++) {
        alarm((unsigned)ceil(timeout_s));
        if (!once)
            MPI_Barrier(c);
        double t0 = now();
        switch (coll) {
        case MP_COLL_ALLREDUCE: rc = MPI_Allreduce(a, b, (int)count, MPI_FLOAT, MPI_SUM, c); break;
        case MP_COLL_ALLGATHER: rc = MPI_Allgather(a, share, MPI_FLOAT, b, share, MPI_FLOAT, c); break;
        case MP_COLL_REDUCESCATTER: rc = MPI_Reduce_scatter_block(a, b, share, MPI_FLOAT, MPI_SUM, c); break;
        case MP_COLL_ALLTOALL: rc = MPI_Alltoall(a, share, MPI_FLOAT, b, share, MPI_FLOAT, c); break;
        case MP_COLL_SENDRECV:
            rc = MPI_Sendrecv(a, (int)count, MPI_FLOAT, (me + 1) % n, 0, b, (int)count, MPI_FLOAT, (me + n - 1) % n, 0,
                              c, MPI_STATUS_IGNORE);
            break;
        case MP_COLL_NONE: break;
        }
        double dt = now() - t0, mx = dt;
        if (!once)
            MPI_Allreduce(&dt, &mx, 1, MPI_DOUBLE, MPI_MAX, c); /* the slowest member's */
        alarm(0);
        if (r >= 0)
            t[r] = mx;
    }
    free(a);
    free(b);
    if (rc != MPI_SUCCESS) {
        snprintf(why, why_len, "rank %d, op %s: MPI error %d in %s over %s", w->rank, op, rc, mp_coll_name(coll),
                 mp_group_name(g));
        return -1;
    }
    *seconds = mp_median(t, reps);
    return 0;
}

bool mp_world_use_backend(mp_world *w, mp_backend *b, char *why, size_t why_len)
{
    groups *gs = w->impl;
    if (!gs || !b->ops->collective)
        return true; /* MPI's collectives */
    for (int g = MP_GROUP_TP; g <= MP_GROUP_WORLD; g++) {
        MPI_Comm c = gs->g[g];
        if (c == MPI_COMM_NULL)
            continue;
        int n, me;
        MPI_Comm_size(c, &n);
        MPI_Comm_rank(c, &me);
        if (n <= 1)
            continue;
        /* The group's first member makes the id and says whether it could;
         * every member then joins (ncclCommInitRank waits for them all). */
        char id[MP_BACKEND_COMM_ID_BYTES + 1];
        memset(id, 0, sizeof id);
        if (me == 0)
            id[MP_BACKEND_COMM_ID_BYTES] = b->ops->comm_id(b, id, MP_BACKEND_COMM_ID_BYTES) ? 1 : 0;
        MPI_Bcast(id, (int)sizeof id, MPI_BYTE, 0, c);
        if (id[MP_BACKEND_COMM_ID_BYTES]) {
            snprintf(why, why_len, "rank %d, group %s: the first member could not make an NCCL id%s%s", w->rank,
                     mp_group_name((mp_group)g), me == 0 ? ": " : "", me == 0 ? b->err : "");
            return false;
        }
        snprintf(watch_msg, sizeof watch_msg,
                 "moeplan: error: rank %d: NCCL's communicator for group %s did not form in 120 s\n", w->rank,
                 mp_group_name((mp_group)g));
        alarm(120);
        int rc = b->ops->comm_init(b, g, n, me, id);
        alarm(0);
        if (rc) {
            snprintf(why, why_len, "rank %d, group %s: %s", w->rank, mp_group_name((mp_group)g), b->err);
            return false;
        }
    }
    gs->b = b;
    return true;
}

const char *mp_world_coll_lib(const mp_world *w)
{
    const groups *gs = w->impl;
    return gs && gs->b ? "NCCL" : "MPI";
}

int mp_world_check_alltoall(mp_world *w, mp_group g, int per_peer, char *why, size_t why_len)
{
    groups *gs = w->impl;
    MPI_Comm c = gs->g[g];
    int n, me;
    MPI_Comm_size(c, &n);
    MPI_Comm_rank(c, &me);
    int *s = malloc((size_t)n * per_peer * sizeof *s), *r = malloc((size_t)n * per_peer * sizeof *r);
    if (!s || !r) {
        free(s);
        free(r);
        snprintf(why, why_len, "rank %d: out of memory", w->rank);
        return -1;
    }
    /* Token id: sender * 2^20 + receiver * 2^10 + index (index < 1024). */
    for (int p = 0; p < n; p++)
        for (int i = 0; i < per_peer; i++)
            s[p * per_peer + i] = (me << 20) | (p << 10) | (i & 1023);
    alarm(60);
    MPI_Alltoall(s, per_peer, MPI_INT, r, per_peer, MPI_INT, c);
    alarm(0);
    int bad = -1;
    for (int p = 0; p < n && bad < 0; p++)
        for (int i = 0; i < per_peer; i++)
            if (r[p * per_peer + i] != ((p << 20) | (me << 10) | (i & 1023))) {
                bad = p * per_peer + i;
                break;
            }
    free(s);
    free(r);
    if (bad >= 0) {
        snprintf(why, why_len, "rank %d: all-to-all over %s delivered a wrong token id at position %d", w->rank,
                 mp_group_name(g), bad);
        return -1;
    }
    return 0;
}

double mp_world_max(mp_world *w, double v)
{
    double m = v;
    if (w->mpi)
        MPI_Allreduce(&v, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

/* The PP group's ranks are the stages in order (split by key = world
 * rank): this stage's neighbour is me +- 1.  Tag 0 carries activations
 * forward, tag 1 gradients backward. */
int mp_world_send(mp_world *w, bool to_next, const float *buf, size_t n, char *why, size_t why_len)
{
    groups *gs = w->impl;
    int me;
    MPI_Comm_rank(gs->g[MP_GROUP_PP], &me);
    if (gs->nreq == gs->capreq) {
        int cap = gs->capreq ? 2 * gs->capreq : 16;
        MPI_Request *r = realloc(gs->req, (size_t)cap * sizeof *r);
        float **b = r ? realloc(gs->sbuf, (size_t)cap * sizeof *b) : NULL;
        if (r)
            gs->req = r;
        if (!r || !b) {
            snprintf(why, why_len, "rank %d: out of memory for a pipeline send", w->rank);
            return -1;
        }
        gs->sbuf = b;
        gs->capreq = cap;
    }
    float *copy = malloc(n * sizeof *copy);
    if (!copy) {
        snprintf(why, why_len, "rank %d: out of memory for a %zu-float pipeline send", w->rank, n);
        return -1;
    }
    memcpy(copy, buf, n * sizeof *copy);
    gs->sbuf[gs->nreq] = copy;
    /* The pipeline is a ring: interleaved, the last stage's chunk k feeds
     * the first stage's chunk k+1 (and the gradients come back). */
    int np;
    MPI_Comm_size(gs->g[MP_GROUP_PP], &np);
    MPI_Isend(copy, (int)n, MPI_FLOAT, to_next ? (me + 1) % np : (me - 1 + np) % np, to_next ? 0 : 1,
              gs->g[MP_GROUP_PP],
              &gs->req[gs->nreq++]);
    return 0;
}

int mp_world_recv(mp_world *w, bool from_prev, float *buf, size_t n, char *why, size_t why_len)
{
    groups *gs = w->impl;
    int me, np;
    MPI_Comm_rank(gs->g[MP_GROUP_PP], &me);
    MPI_Comm_size(gs->g[MP_GROUP_PP], &np);
    int peer = from_prev ? (me - 1 + np) % np : (me + 1) % np; /* a ring, as the sends */
    snprintf(watch_msg, sizeof watch_msg,
             "moeplan: error: rank %d: the pipeline receive from stage %d did not complete in 60 s: another rank "
             "failed or runs a different plan\n", w->rank, peer);
    alarm(60);
    int rc = MPI_Recv(buf, (int)n, MPI_FLOAT, peer, from_prev ? 0 : 1, gs->g[MP_GROUP_PP], MPI_STATUS_IGNORE);
    alarm(0);
    if (rc != MPI_SUCCESS) {
        snprintf(why, why_len, "rank %d: MPI error %d receiving from stage %d", w->rank, rc, peer);
        return -1;
    }
    return 0;
}

int mp_world_flush(mp_world *w, char *why, size_t why_len)
{
    groups *gs = w->impl;
    (void)why, (void)why_len;
    if (gs->nreq)
        MPI_Waitall(gs->nreq, gs->req, MPI_STATUSES_IGNORE);
    for (int i = 0; i < gs->nreq; i++)
        free(gs->sbuf[i]);
    gs->nreq = 0;
    return 0;
}

void mp_world_barrier(mp_world *w)
{
    if (w->mpi)
        MPI_Barrier(MPI_COMM_WORLD);
}

void mp_world_gather(mp_world *w, const double *v, int n, double *out)
{
    if (!w->mpi) {
        memcpy(out, v, (size_t)n * sizeof *v);
        return;
    }
    MPI_Gather(v, n, MPI_DOUBLE, out, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

#else /* no MPI in this build */

bool mp_world_init(mp_world *w, char *why, size_t why_len)
{
    memset(w, 0, sizeof *w);
    w->size = 1;
    if (mp_world_launched()) {
        snprintf(why, why_len, "started by a launcher (mpirun, srun), but this build has no MPI (libopenmpi-dev at "
                               "build time)");
        return false;
    }
    return true;
}

void mp_world_finalize(mp_world *w) { (void)w; }

bool mp_world_groups(mp_world *w, const mp_layout *l, char *why, size_t why_len)
{
    (void)w;
    snprintf(why, why_len, "a layout of %d GPUs needs %d ranks, and this build has no MPI", l->gpus, l->gpus);
    return false;
}

int mp_world_collective(mp_world *w, const char *op, mp_group g, int size, mp_coll coll, double bytes, int reps,
                        double timeout_s, double *seconds, char *why, size_t why_len)
{
    (void)w, (void)g, (void)size, (void)coll, (void)bytes, (void)reps, (void)timeout_s;
    *seconds = 0;
    snprintf(why, why_len, "op %s: this build has no MPI", op);
    return -1;
}

int mp_world_check_alltoall(mp_world *w, mp_group g, int per_peer, char *why, size_t why_len)
{
    (void)w, (void)g, (void)per_peer;
    snprintf(why, why_len, "this build has no MPI");
    return -1;
}

double mp_world_max(mp_world *w, double v)
{
    (void)w;
    return v;
}

int mp_world_send(mp_world *w, bool to_next, const float *buf, size_t n, char *why, size_t why_len)
{
    (void)w, (void)to_next, (void)buf, (void)n;
    snprintf(why, why_len, "this build has no MPI");
    return -1;
}

int mp_world_recv(mp_world *w, bool from_prev, float *buf, size_t n, char *why, size_t why_len)
{
    (void)w, (void)from_prev, (void)buf, (void)n;
    snprintf(why, why_len, "this build has no MPI");
    return -1;
}

int mp_world_flush(mp_world *w, char *why, size_t why_len)
{
    (void)w, (void)why, (void)why_len;
    return 0;
}

void mp_world_barrier(mp_world *w) { (void)w; }

int mp_world_node_size(mp_world *w)
{
    (void)w;
    return 1;
}

void mp_world_gather(mp_world *w, const double *v, int n, double *out)
{
    (void)w;
    memcpy(out, v, (size_t)n * sizeof *v);
}

bool mp_world_use_backend(mp_world *w, mp_backend *b, char *why, size_t why_len)
{
    (void)w, (void)b, (void)why, (void)why_len;
    return true;
}

const char *mp_world_coll_lib(const mp_world *w)
{
    (void)w;
    return "MPI";
}

#endif
