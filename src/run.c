/* moeplan run: a rank's ops, as the cost model lists them (mp_cost_block_ops),
 * executed on a backend and timed beside their predicted durations.
 *
 * Each block the rank holds (embedding, attention, dense or MoE MLP, output
 * layer, optionally the optimizer step) is run once per op and counted as
 * often as the rank holds that block: the layers of a class are identical,
 * so one run of each op stands for all of them.  Matrix products run with
 * the op's own m, n, k and batch (forward; backward the data gradient
 * m x k over n and the weight gradient k x n over m); attention with the
 * layer's heads per GPU, sequence per CP rank and head dimension; the norms,
 * residual adds, router, token permutation, SwiGLU, cross entropy and AdamW
 * with their own kernels and the shapes the cost model priced; the other
 * memory-bound ops (no kernel of their own yet) as a device copy moving the
 * op's predicted bytes, said so in the report; collectives are not measured
 * on one rank.  Recomputation is not run: the predictions compared are the
 * ops' own forward and backward. */
#include "moeplan/run.h"
#include "moeplan/simulate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/runs.h"
#include "moeplan/units.h"

void mp_run_fill(float *v, size_t n, unsigned seed)
{
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v[i] = (float)(x & 0xffffff) / 16777216.0f - 0.5f;
    }
}

/* Buffers of one op's run, released together. */
typedef struct {
    mp_backend *b;
    void *p[12];
    int n;
    bool oom;
} bufs;

static void *buf_kind(bufs *s, size_t elems, unsigned seed, bool f32)
{
    if (s->oom || s->n >= 12)
        return NULL;
    void *p = (f32 ? s->b->ops->alloc_f32 : s->b->ops->alloc)(s->b, elems ? elems : 1);
    if (!p) {
        s->oom = true;
        return NULL;
    }
    s->p[s->n++] = p;
    if (seed && elems) {
        float *h = malloc(elems * sizeof *h);
        if (!h) {
            s->oom = true;
            return p;
        }
        mp_run_fill(h, elems, seed);
        s->b->ops->upload(s->b, p, h, elems);
        free(h);
    }
    return p;
}

/* A buffer of the backend's element type (activations, weights, their
 * gradients), filled from seed (0: zeroed); buf32, an fp32 one (the
 * kernels' [f32] arguments, backend.h). */
static void *buf(bufs *s, size_t elems, unsigned seed) { return buf_kind(s, elems, seed, false); }
static void *buf32(bufs *s, size_t elems, unsigned seed) { return buf_kind(s, elems, seed, true); }

/* An int buffer of the backend's, filled from host (NULL: zeroed). */
static int *ibuf(bufs *s, size_t n, const int *host)
{
    if (s->oom || s->n >= 12)
        return NULL;
    void *p = s->b->ops->alloc_int(s->b, n ? n : 1);
    if (!p) {
        s->oom = true;
        return NULL;
    }
    s->p[s->n++] = p;
    if (host && n)
        s->b->ops->upload_int(s->b, p, host, n);
    return p;
}

static void bufs_free(bufs *s)
{
    for (int i = 0; i < s->n; i++)
        s->b->ops->release(s->b, s->p[i]);
    s->n = 0;
}

/* What an op needs to run: its shapes and buffers. */
typedef struct {
    const mp_cost_ctx *c;
    const mp_op *o;
    mp_backend *b;
    const mp_run_opts *ro;       /* the routing (expert_p), or NULL */
    bufs s;
    int kind;                    /* which kernel */
    long m, n, k, batch;         /* gemm; rows/cols for the others */
    int *ia, *ib;                /* integer arrays on the host (router indices, slots, counts) */
    int *mg;                     /* grouped gemm: rows per group */
    void *x[10];
    double elems_fwd, elems_bwd; /* stand-in copies */
} job;

enum { K_GEMM, K_GROUPED, K_ATTN, K_NORM, K_ADD, K_ROUTER, K_PERMUTE, K_UNPERMUTE, K_SWIGLU, K_GELU, K_EMBED,
       K_EMBED_GRAD, K_ROPE, K_XENT, K_ADAMW, K_STANDIN };

/* The product that feeds an activation op (its rows and width). */
static const char *act_input(const char *name)
{
    if (!strcmp(name, "activation"))
        return "fc1";
    if (!strcmp(name, "shared-act"))
        return "shared-fc1";
    if (!strcmp(name, "expert-act"))
        return "expert-fc1";
    return NULL;
}

/* Tokens of one micro-batch on this GPU, and with sequence parallelism. */
static double tokens(const mp_cost_ctx *c, bool sp_split)
{
    return sp_split ? mp_cost_tokens_sp(c) : mp_cost_tokens(c);
}

static const mp_op *find(const mp_op *ops, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ops[i].name, name))
            return &ops[i];
    return NULL;
}

/* Choose the kernel and allocate; false: out of memory (b->err says). */
static bool prepare(job *j, const mp_op *ops, size_t nops, char *kernel, size_t klen)
{
    const mp_cost_ctx *c = j->c;
    const mp_op *o = j->o;
    const mp_model *m = c->model;
    const mp_workload *w = c->wl;
    const mp_layout *l = &c->lay;
    bufs *s = &j->s;
    long h = (long)m->hidden;
    if (o->kind == MP_OP_MATMUL) {
        j->m = (long)o->m, j->n = (long)o->n, j->k = (long)o->k, j->batch = o->batch;
        size_t B = (size_t)j->batch;
        j->x[0] = buf(s, B * j->m * j->k, 1);   /* A */
        j->x[1] = buf(s, B * j->k * j->n, 2);   /* W */
        j->x[2] = buf(s, B * j->m * j->n, 0);   /* C */
        j->x[3] = buf(s, B * j->m * j->n, 3);   /* dC */
        j->x[4] = buf(s, B * j->m * j->k, 0);   /* dA */
        j->x[5] = buf(s, B * j->k * j->n, 0);   /* dW */
        if (j->batch > 1) {
            j->kind = K_GROUPED;
            j->mg = malloc(B * sizeof *j->mg);
            if (!j->mg)
                s->oom = true;
            for (size_t g = 0; j->mg && g < B; g++)
                j->mg[g] = (int)j->m;
            /* Routed, dropless: the local experts' rows in their shares of
             * the rank's total (expected counts; the cost model priced the
             * total through expert_load).  At a capacity factor each is
             * padded to capacity: equal rows, as above. */
            const double *p = j->ro ? j->ro->expert_p : NULL;
            if (p && j->mg && o->expert && w->capacity_factor <= 0 && B == (size_t)(m->num_experts / l->ep)) {
                size_t e0 = (size_t)j->ro->ep_rank * B;
                double sum = 0, total = (double)B * (double)j->m;
                for (size_t g = 0; g < B; g++)
                    sum += p[e0 + g];
                long used = 0;
                for (size_t g = 0; g + 1 < B && sum > 0; g++) {
                    /* Rounded, and never past the rows allocated (B m):
                     * rounding up B - 1 groups could overrun them. */
                    long want = (long)floor(total * p[e0 + g] / sum + 0.5), room = (long)total - used;
                    j->mg[g] = (int)(want < room ? want : room);
                    used += j->mg[g];
                }
                if (sum > 0)
                    j->mg[B - 1] = (int)((long)total - used > 0 ? (long)total - used : 0);
            }
            snprintf(kernel, klen, "grouped gemm x%ld", j->batch);
        } else {
            j->kind = K_GEMM;
            snprintf(kernel, klen, "gemm");
        }
        return !s->oom;
    }
    if (o->kind == MP_OP_ATTENTION) {
        j->kind = K_ATTN;
        j->m = (long)(m->num_heads / l->tp) * l->micro_batch; /* heads x sequences */
        j->n = (long)(c->seq_len / l->cp);
        /* MLA: Q, K and V at the query-key head dim (nope + rope); its V
         * head dim is smaller, so this runs somewhat more work than MLA. */
        j->k = m->attn == MP_ATTN_MLA ? (long)mp_model_qk_head_dim(m) : (long)m->head_dim;
        size_t e = (size_t)j->m * j->n * j->k;
        for (int i = 0; i < 3; i++)
            j->x[i] = buf(s, e, 10 + i);
        j->x[3] = buf(s, e, 0);
        j->x[4] = buf32(s, (size_t)j->m * j->n, 0);
        j->x[5] = buf(s, e, 13);
        for (int i = 6; i < 9; i++)
            j->x[i] = buf(s, e, 0);
        snprintf(kernel, klen, "causal attention");
        return !s->oom;
    }
    const char *nm = o->name;
    long Tn = (long)tokens(c, true);
    if (strstr(nm, "norm") && strcmp(nm, "grad-norm") && m->norm == MP_NORM_RMS) {
        j->kind = K_NORM;
        j->m = Tn, j->n = h;
        j->x[0] = buf(s, (size_t)Tn * h, 1);
        j->x[1] = buf(s, (size_t)h, 2);
        j->x[2] = buf(s, (size_t)Tn * h, 0);
        j->x[3] = buf32(s, (size_t)Tn, 0);
        j->x[4] = buf(s, (size_t)Tn * h, 3);
        j->x[5] = buf(s, (size_t)Tn * h, 0);
        j->x[6] = buf32(s, (size_t)h, 0);
        snprintf(kernel, klen, "rmsnorm");
    } else if (strstr(nm, "-residual")) {
        j->kind = K_ADD;
        j->m = Tn * h;
        for (int i = 0; i < 3; i++)
            j->x[i] = buf(s, (size_t)j->m, i == 2 ? 0 : 1 + i);
        snprintf(kernel, klen, "add");
    } else if (!strcmp(nm, "router-softmax-topk") && m->num_experts > 0) {
        j->kind = K_ROUTER;
        j->m = Tn, j->n = (long)m->num_experts, j->k = (long)m->top_k;
        j->x[0] = buf(s, (size_t)Tn * j->n, 1);
        j->x[1] = buf32(s, (size_t)Tn * j->k, 0);
        j->ia = ibuf(s, (size_t)Tn * j->k, NULL);
        snprintf(kernel, klen, "router top-%ld", j->k);
    } else if ((!strcmp(nm, "permute") || !strcmp(nm, "unpermute")) && m->num_experts > 0) {
        j->kind = !strcmp(nm, "permute") ? K_PERMUTE : K_UNPERMUTE;
        j->m = Tn, j->n = h, j->k = (long)m->top_k, j->batch = (long)m->num_experts;
        size_t rows = (size_t)Tn * j->k;
        j->x[0] = buf(s, (size_t)Tn * h, 1);
        j->x[1] = buf(s, rows * h, 0);
        j->x[2] = buf32(s, rows, 4); /* probabilities */
        j->x[3] = buf(s, (size_t)Tn * h, 0);
        int *host = malloc(rows * sizeof *host); /* expert of each copy: spread evenly, balanced */
        if (!host) {
            s->oom = true;
        } else {
            const double *p = j->ro ? j->ro->expert_p : NULL;
            if (!p) {
                for (size_t i = 0; i < rows; i++)
                    host[i] = (int)((i * 7919u) % (size_t)j->batch);
            } else {
                /* In the routing's shares: copy i to the expert at quantile
                 * frac((i + 1/2) phi) of their distribution (a
                 * low-discrepancy sequence: the counts within one of the
                 * expected ones, in no block order). */
                for (size_t i = 0; i < rows; i++) {
                    double u = fmod(((double)i + 0.5) * 0.6180339887498949, 1.0), acc = 0;
                    int e = 0;
                    while (e < j->batch - 1 && (acc += p[e]) <= u)
                        e++;
                    host[i] = e;
                }
            }
            j->ia = ibuf(s, rows, host);
            free(host);
        }
        j->ib = ibuf(s, rows + (size_t)j->batch, NULL); /* slots, then counts */
        double cf = w->capacity_factor;
        j->elems_fwd = cf > 0 ? ceil(cf * (double)rows / (double)j->batch) : 0; /* capacity */
        snprintf(kernel, klen, "%s", j->kind == K_PERMUTE ? "permute" : "unpermute");
        /* The slots the unpermute reads: one permute, untimed. */
        if (!s->oom && j->b->ops->permute(j->b, (int)Tn, (int)h, (int)j->k, (int)j->batch, (int)j->elems_fwd, j->ia,
                                          j->x[0], j->x[1], j->ib + rows, j->ib) < 0)
            return false;
    } else if (act_input(nm) && find(ops, nops, act_input(nm))) {
        /* The activation of fc1's output: SwiGLU on [gate | up] (fc1 is
         * twice as wide), else GELU on it. */
        const mp_op *fc1 = find(ops, nops, act_input(nm));
        bool gated = m->gated_mlp;
        j->kind = gated ? K_SWIGLU : K_GELU;
        j->m = (long)(fc1->m * fc1->batch), j->n = (long)(gated ? fc1->n / 2 : fc1->n);
        size_t in_n = (size_t)j->m * (gated ? 2 * j->n : j->n);
        j->x[0] = buf(s, in_n, 1);
        j->x[1] = buf(s, (size_t)j->m * j->n, 0);
        j->x[2] = buf(s, (size_t)j->m * j->n, 2);
        j->x[3] = buf(s, in_n, 0);
        snprintf(kernel, klen, gated ? "swiglu" : "gelu");
    } else if (!strcmp(nm, "embedding-lookup") || !strcmp(nm, "embedding-grad")) {
        /* Tokens of the micro-batch looked up in this GPU's vocabulary
         * shard (ids spread over it); the gradient scattered back. */
        j->kind = !strcmp(nm, "embedding-lookup") ? K_EMBED : K_EMBED_GRAD;
        j->m = (long)tokens(c, false), j->n = h, j->k = (long)(m->vocab / l->tp);
        j->x[0] = buf(s, (size_t)j->k * h, 1);
        j->x[1] = buf(s, (size_t)j->m * h, 2);
        j->x[2] = buf32(s, (size_t)j->k * h, 0);
        j->x[3] = buf(s, (size_t)j->m * h, 0); /* the lookup's backward: the gradient passed on */
        int *host = malloc((size_t)j->m * sizeof *host);
        if (!host) {
            s->oom = true;
        } else {
            for (long i = 0; i < j->m; i++)
                host[i] = (int)((i * 7919) % j->k);
            j->ia = ibuf(s, (size_t)j->m, host);
            free(host);
        }
        snprintf(kernel, klen, j->kind == K_EMBED ? "embedding" : "embedding grad");
    } else if (!strcmp(nm, "rope")) {
        /* Q and K heads of this GPU, every token of the sequence (after
         * the all-gather). */
        /* MLA: the rotary part only (qk_rope_head_dim), on each query
         * head and the one shared key. */
        bool mla = m->attn == MP_ATTN_MLA;
        long kv = mla ? l->tp : m->attn == MP_ATTN_GQA ? (long)m->num_kv_heads : (long)m->num_heads;
        j->kind = K_ROPE;
        j->m = (long)tokens(c, false), j->n = ((long)m->num_heads + kv) / l->tp;
        j->k = mla ? (long)m->qk_rope_head_dim : (long)m->head_dim;
        j->x[0] = buf(s, (size_t)j->m * j->n * j->k, 1);
        snprintf(kernel, klen, "rope");
    } else if (!strcmp(nm, "cross-entropy")) {
        j->kind = K_XENT;
        j->m = (long)tokens(c, false), j->n = (long)(m->vocab / l->tp);
        j->x[0] = buf(s, (size_t)j->m * j->n, 1);
        j->x[1] = buf32(s, (size_t)j->m, 0);
        j->x[2] = buf(s, (size_t)j->m * j->n, 0);
        int *host = malloc((size_t)j->m * sizeof *host);
        if (!host) {
            s->oom = true;
        } else {
            for (long i = 0; i < j->m; i++)
                host[i] = (int)((i * 104729) % j->n);
            j->ia = ibuf(s, (size_t)j->m, host);
            free(host);
        }
        snprintf(kernel, klen, "cross entropy");
    } else if (!strcmp(nm, "optimizer-step")) {
        /* The op moves n (grad + 2 master + 2 states + weight) bytes
         * (cost.c, mp_cost_step_ops): n is the rank's shard. */
        double per = w->grad_bytes + 2 * w->master_bytes + 2 * w->optim_state_bytes + w->weight_bytes;
        j->kind = K_ADAMW;
        j->m = (long)(o->fwd_hbm_bytes / per);
        for (int i = 0; i < 4; i++)
            j->x[i] = buf32(s, (size_t)j->m, i < 2 ? 1 + i : 0);
        snprintf(kernel, klen, "adamw");
    } else {
        /* A copy of n elements reads and writes 2 n elem_bytes: the op's
         * bytes. */
        double per_elem = 2.0 * j->b->ops->elem_bytes;
        j->kind = K_STANDIN;
        j->elems_fwd = floor(o->fwd_hbm_bytes / per_elem);
        j->elems_bwd = floor(o->bwd_hbm_bytes / per_elem);
        double e = fmax(j->elems_fwd, j->elems_bwd);
        j->x[0] = buf(s, (size_t)e, 1);
        j->x[1] = buf(s, (size_t)e, 0);
        char a[32]; /* the forward's bytes; a backward-only op's (main-grad-add) its backward's */
        mp_fmt_bytes(o->fwd_hbm_bytes > 0 ? o->fwd_hbm_bytes : o->bwd_hbm_bytes, a, sizeof a);
        snprintf(kernel, klen, "copy %s", a);
    }
    return !s->oom;
}

/* One forward (bwd false) or backward of the job: 0, or -1 (b->err). */
static int exec(job *j, bool bwd)
{
    mp_backend *b = j->b;
    const mp_backend_ops *k = b->ops;
    void **x = j->x;
    switch (j->kind) {
    case K_GEMM:
        if (!bwd)
            return k->gemm(b, false, false, (int)j->m, (int)j->n, (int)j->k, x[0], x[1], x[2], 0);
        return k->gemm(b, false, true, (int)j->m, (int)j->k, (int)j->n, x[3], x[1], x[4], 0) ||
               k->gemm(b, true, false, (int)j->k, (int)j->n, (int)j->m, x[0], x[3], x[5], 0);
    case K_GROUPED:
        if (!bwd)
            return k->gemm_grouped(b, (int)j->batch, j->mg, (int)j->n, (int)j->k, x[0], x[1], x[2]);
    {
        /* Each group's data and weight gradients over its own rows (the
         * forward's mg), the buffers stepped in bytes: elements are the
         * backend's (bf16 on cuda), not floats. */
        size_t e = (size_t)k->elem_bytes, row = 0;
        for (long g = 0; g < j->batch; g++) {
            size_t mg = j->mg[g] > 0 ? (size_t)j->mg[g] : 0, kn = (size_t)g * j->k * j->n;
            if (mg) {
                const char *A = (const char *)x[0] + row * j->k * e, *W = (const char *)x[1] + kn * e;
                const char *dC = (const char *)x[3] + row * j->n * e;
                char *dA = (char *)x[4] + row * j->k * e, *dW = (char *)x[5] + kn * e;
                if (k->gemm(b, false, true, (int)mg, (int)j->k, (int)j->n, dC, W, dA, 0) ||
                    k->gemm(b, true, false, (int)j->k, (int)j->n, (int)mg, A, dC, dW, 0))
                    return -1;
            }
            row += mg;
        }
        return 0;
    }
    case K_ATTN:
        if (!bwd)
            return k->attention_fwd(b, (int)j->m, (int)j->n, (int)j->k, x[0], x[1], x[2], x[3], x[4]);
        return k->attention_bwd(b, (int)j->m, (int)j->n, (int)j->k, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7],
                                x[8]);
    case K_NORM:
        if (!bwd)
            return k->rmsnorm_fwd(b, (int)j->m, (int)j->n, x[0], x[1], x[2], x[3]);
        return k->rmsnorm_bwd(b, (int)j->m, (int)j->n, x[0], x[1], x[3], x[4], x[5], x[6]);
    case K_ADD:
        return k->add(b, (size_t)j->m, x[0], x[1], x[2]); /* backward: the gradient passes through, one add */
    case K_ROUTER:
        return bwd ? k->copy(b, x[1], x[0], (size_t)(j->m * j->k)) /* the probabilities' gradient: a pass */
                   : k->router_topk(b, (int)j->m, (int)j->n, (int)j->k, x[0], x[1], j->ia);
    case K_PERMUTE:
    case K_UNPERMUTE: {
        int rows = (int)(j->m * j->k);
        /* Permute forward = unpermute backward and the other way round:
         * both move the tokens one way. */
        bool scatter = (j->kind == K_PERMUTE) != bwd;
        if (scatter)
            return k->permute(b, (int)j->m, (int)j->n, (int)j->k, (int)j->batch, (int)j->elems_fwd, j->ia, x[0], x[1],
                              j->ib + rows, j->ib);
        return k->unpermute(b, (int)j->m, (int)j->n, (int)j->k, j->ib, x[2], x[1], x[3]);
    }
    case K_SWIGLU:
        return bwd ? k->swiglu_bwd(b, (int)j->m, (int)j->n, x[0], x[2], x[3])
                   : k->swiglu_fwd(b, (int)j->m, (int)j->n, x[0], x[1]);
    case K_GELU:
        return bwd ? k->gelu_bwd(b, (size_t)(j->m * j->n), x[0], x[2], x[3])
                   : k->gelu_fwd(b, (size_t)(j->m * j->n), x[0], x[1]);
    case K_EMBED: /* backward: the gradient passes to embedding-grad; a copy of it */
        return bwd ? k->copy(b, x[3], x[1], (size_t)(j->m * j->n))
                   : k->embed_fwd(b, (int)j->m, (int)j->n, j->ia, x[0], x[1]);
    case K_EMBED_GRAD:
        return bwd ? k->embed_bwd(b, (int)j->m, (int)j->n, j->ia, x[1], x[2]) : 0;
    case K_ROPE:
        return k->rope(b, (int)j->m, (int)j->n, (int)j->k, (int)(j->c->seq_len / j->c->lay.cp), x[0], bwd);
    case K_XENT:
        return bwd ? k->copy(b, x[2], x[0], (size_t)(j->m * j->n)) /* dlogits written forward; a pass */
                   : k->cross_entropy(b, (int)j->m, (int)j->n, x[0], j->ia, x[1], x[2]);
    case K_ADAMW:
        return bwd ? 0 : k->adamw(b, (size_t)j->m, x[0], x[1], x[2], x[3], 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    case K_STANDIN: {
        double e = bwd ? j->elems_bwd : j->elems_fwd;
        return e > 0 ? k->copy(b, x[1], x[0], (size_t)e) : 0;
    }
    }
    return -1;
}

/* Median seconds of `reps` runs after one warm-up. */
static int timed(job *j, bool bwd, int reps, double *out)
{
    mp_backend *b = j->b;
    double t[64];
    if (reps > 64)
        reps = 64;
    if (exec(j, bwd) || b->ops->sync(b))
        return -1;
    for (int r = 0; r < reps; r++) {
        double t0;
        mp_backend_timer_begin(b, &t0);
        if (exec(j, bwd) || (t[r] = mp_backend_timer_end(b, t0)) < 0)
            return -1;
    }
    *out = mp_median(t, reps);
    return 0;
}

/* Layers of each block on pipeline rank r (attention blocks, dense and MoE
 * MLP blocks, local attention), over its chunks: the first `limit` of its
 * layers in chunk order (limit <= 0: all). */
static void rank_blocks(const mp_cost_ctx *c, int r, int limit, int count[MP_BLOCK_COUNT])
{
    int seen = 0;
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    memset(count, 0, MP_BLOCK_COUNT * sizeof count[0]);
    for (int k = 0; k < l->vpp; k++) {
        int first, n;
        mp_layout_chunk(l, m->num_layers, r, k, &first, &n);
        for (int i = first; i < first + n && i < m->num_layers; i++) {
            if (limit > 0 && seen++ >= limit)
                break;
            bool local = m->window_kind != MP_WINDOW_NONE && m->attn_local[i];
            count[local ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN]++;
            count[m->is_moe[i] ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP]++;
        }
    }
    count[MP_BLOCK_EMBED] = r == 0;
    count[MP_BLOCK_HEAD] = r == l->pp - 1;
}

mp_status mp_run_rank(const mp_cost_ctx *c, mp_backend *b, const mp_run_opts *o, mp_run_report *out, mp_error *err)
{
    memset(out, 0, sizeof *out);
    /* The high-water mark counts from here: what was allocated before (the
     * host probe's 64 MiB copy buffers, mp_measure_host) is not the plan's. */
    b->high_water_bytes = b->allocated_bytes;
    const mp_layout *l = &c->lay;
    if (o->rank < 0 || o->rank >= l->pp)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--rank %d: the plan has pipeline ranks 0 to %d", o->rank,
                            l->pp - 1);
    int count[MP_BLOCK_COUNT], most = 0;
    /* --layers K beyond every rank's layers is refused (the same answer on
     * every rank of an MPI run); a rank of an uneven pipeline with fewer
     * than K runs all its own. */
    for (int q = 0; q < l->pp; q++) {
        rank_blocks(c, q, 0, count);
        int nq = count[MP_BLOCK_ATTN] + count[MP_BLOCK_ATTN_LOCAL];
        most = nq > most ? nq : most;
    }
    if (o->layers > most)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                            "--layers %d: the plan's pipeline ranks have at most %d layer%s (%d layer%s over pp %d)",
                            o->layers, most, mp_plural(most), c->model->num_layers, mp_plural(c->model->num_layers),
                            l->pp);
    rank_blocks(c, o->rank, 0, count);
    int layers = count[MP_BLOCK_ATTN] + count[MP_BLOCK_ATTN_LOCAL];
    out->rank = o->rank;
    out->layers_rank = layers;
    out->layers_run = o->layers > 0 && o->layers < layers ? o->layers : layers;
    rank_blocks(c, o->rank, out->layers_run, count);
    count[MP_BLOCK_STEP] = o->optimizer;
    size_t cap = 0;
    for (int blk = 0; blk < MP_BLOCK_COUNT; blk++) {
        if (!count[blk])
            continue;
        mp_op ops[MP_MAX_OPS];
        size_t n = mp_cost_block_ops(c, (mp_block)blk, ops);
        /* Layer blocks count as the layers run; embedding, head and step once. */
        int times = count[blk];
        for (size_t i = 0; i < n; i++) {
            const mp_op *op = &ops[i];
            if (out->n == cap) {
                size_t nc = cap ? 2 * cap : 64;
                mp_run_op *g = realloc(out->ops, nc * sizeof *g);
                if (!g) {
                    mp_run_report_free(out);
                    return mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
                }
                out->ops = g;
                cap = nc;
            }
            mp_run_op *r = &out->ops[out->n++];
            memset(r, 0, sizeof *r);
            snprintf(r->name, sizeof r->name, "%s", op->name);
            r->block = (mp_block)blk;
            r->kind = op->kind;
            r->per_micro_batch = times;
            r->pred_fwd_s = op->fwd_s;
            r->pred_bwd_s = blk == MP_BLOCK_STEP ? 0 : op->bwd_s;
            r->fwd_flops = op->fwd_flops;
            r->fwd_bytes = op->fwd_hbm_bytes;
            if (op->kind == MP_OP_MATMUL)
                snprintf(r->shape, sizeof r->shape, op->batch > 1 ? "%.0fx%.0fx%.0f x%d" : "%.0fx%.0fx%.0f", op->m,
                         op->k, op->n, op->batch);
            if (op->kind == MP_OP_COMM) {
                if (blk != MP_BLOCK_STEP)
                    out->pred_comm_s += times * (op->fwd_s + op->bwd_s);
                r->how = MP_RUN_NOT_MEASURED;
                snprintf(r->kernel, sizeof r->kernel, "not measured (one rank)");
                if (!o->comm || op->coll == MP_COLL_NONE || op->group_size <= 1)
                    continue;
                char why[512] = "";
                int rc = o->comm(o->comm_ctx, op, false, &r->meas_fwd_s, r->kernel, sizeof r->kernel, why,
                                 sizeof why);
                if (!rc && op->bwd_coll != MP_COLL_NONE && r->pred_bwd_s > 0)
                    rc = o->comm(o->comm_ctx, op, true, &r->meas_bwd_s, r->kernel, sizeof r->kernel, why, sizeof why);
                if (rc) {
                    mp_run_report_free(out);
                    return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s", why);
                }
                r->how = MP_RUN_COLLECTIVE;
                if (blk != MP_BLOCK_STEP)
                    out->meas_comm_s += times * (r->meas_fwd_s + r->meas_bwd_s);
                continue;
            }
            if (op->fwd_s + op->bwd_s <= 0)
                continue; /* nothing to run (an op the layout leaves empty) */
            job j;
            memset(&j, 0, sizeof j);
            j.c = c;
            j.o = op;
            j.b = b;
            j.ro = o;
            j.s.b = b;
            bool ok = prepare(&j, ops, n, r->kernel, sizeof r->kernel);
            r->how = j.kind == K_STANDIN ? MP_RUN_STANDIN : MP_RUN_KERNEL;
            /* A pass the cost model prices at nothing (embedding-grad's
             * forward) is not timed: an empty one measures only the timer. */
            int rc = !ok ? -1 : r->pred_fwd_s > 0 ? timed(&j, false, o->repeats, &r->meas_fwd_s) : 0;
            if (!rc && r->pred_bwd_s > 0)
                rc = timed(&j, true, o->repeats, &r->meas_bwd_s);
            bufs_free(&j.s);
            free(j.mg);
            if (rc) {
                mp_status st = mp_error_set(err, ok ? MP_ERR_INTERNAL : MP_ERR_NOMEM, "", 0, 0,
                                            "%s backend, op %s (block %s%s%s): %s", b->ops->name, op->name,
                                            mp_block_name((mp_block)blk), r->shape[0] ? ", " : "", r->shape, b->err);
                mp_run_report_free(out);
                return st;
            }
            double p = times * (r->pred_fwd_s + r->pred_bwd_s), q = times * (r->meas_fwd_s + r->meas_bwd_s);
            if (op->kind == MP_OP_MEMORY) {
                out->pred_memory_s += p;
                out->meas_memory_s += q;
            } else {
                out->pred_compute_s += p;
                out->meas_compute_s += q;
            }
        }
    }
    out->pred_s = out->pred_compute_s + out->pred_memory_s;
    out->meas_s = out->meas_compute_s + out->meas_memory_s;
    out->high_water_bytes = b->ops->high_water_bytes(b);
    return MP_OK;
}

void mp_run_report_free(mp_run_report *r)
{
    free(r->ops);
    r->ops = NULL;
    r->n = 0;
}

void mp_run_backend_workload(const mp_backend *b, mp_workload *w)
{
    /* Activations and weights at the backend's element size (cpu: fp32,
     * 4 bytes; cuda: bf16, 2, the plan's own for fp16 or bf16); no FP8
     * kernels here. */
    w->act_bytes = w->weight_bytes = b->ops->elem_bytes;
    w->fp8 = MP_FP8_NONE;
}


/* ------------------------------------------------------------ the 1F1B step */

typedef struct {
    mp_op op;
    job j;                       /* prepared (kind STANDIN or a kernel), or a collective */
    bool comm;
} step_op;

/* The ops of one block, prepared once and kept for the step. */
typedef struct {
    step_op *v;
    size_t n;
} step_block;

static void step_block_free(step_block *s)
{
    for (size_t i = 0; i < s->n; i++) {
        bufs_free(&s->v[i].j.s);
        free(s->v[i].j.mg);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int step_block_make(const mp_cost_ctx *c, mp_backend *b, const mp_run_opts *ro, mp_block blk,
                           step_block *out)
{
    mp_op ops[MP_MAX_OPS];
    size_t n = mp_cost_block_ops(c, blk, ops);
    out->v = calloc(n ? n : 1, sizeof *out->v);
    out->n = 0;
    if (!out->v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        step_op *s = &out->v[out->n];
        s->op = ops[i];
        if (ops[i].kind == MP_OP_COMM) {
            if (ops[i].coll == MP_COLL_NONE || ops[i].group_size <= 1)
                continue;
            s->comm = true;
            out->n++;
            continue;
        }
        if (ops[i].fwd_s + ops[i].bwd_s <= 0)
            continue;
        s->j.c = c;
        s->j.o = &s->op;
        s->j.b = b;
        s->j.ro = ro;
        s->j.s.b = b;
        char kernel[40];
        out->n++;
        if (!prepare(&s->j, ops, n, kernel, sizeof kernel))
            return -1;
    }
    return 0;
}

/* One pass (forward or backward) of a block's ops, backward in reverse. */
static int step_pass(step_block *s, const mp_run_opts *o, bool bwd, char *why, size_t why_len)
{
    for (size_t q = 0; q < s->n; q++) {
        step_op *x = &s->v[bwd ? s->n - 1 - q : q];
        if (x->comm) {
            if (bwd && x->op.bwd_coll == MP_COLL_NONE)
                continue;
            double t;
            char kernel[64];
            if (o->comm && o->comm(o->comm_ctx, &x->op, bwd, &t, kernel, sizeof kernel, why, why_len))
                return -1;
            continue;
        }
        if (bwd && x->op.bwd_s <= 0)
            continue;
        if (exec(&x->j, bwd)) {
            snprintf(why, why_len, "op %s: %s", x->op.name, x->j.b->err);
            return -1;
        }
    }
    return 0;
}

mp_status mp_run_step(const mp_cost_ctx *c, mp_backend *b, const mp_run_opts *o, const mp_run_p2p *p2p,
                      mp_run_step_report *out, mp_error *err)
{
    memset(out, 0, sizeof *out);
    const mp_layout *l = &c->lay;
    const mp_model *m = c->model;
    int r = o->rank, p = l->pp, mbs = l->num_micro_batches;
    out->micro_batches = mbs;
    int v = l->vpp;
    step_block blocks[MP_BLOCK_COUNT];
    memset(blocks, 0, sizeof blocks);
    int count[MP_BLOCK_COUNT];
    rank_blocks(c, r, 0, count);
    char why[512] = "";
    mp_status st = MP_OK;
    float *buf = NULL;
    int *seq = NULL, *seq_at = NULL;
    mp_sched_pass *order = NULL;
    for (int blk = 0; blk < MP_BLOCK_STEP; blk++)
        if (count[blk] && step_block_make(c, b, o, (mp_block)blk, &blocks[blk])) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "%s backend, step block %s: %s", b->ops->name,
                              mp_block_name((mp_block)blk), b->err);
            goto out;
        }
    /* Each model chunk's blocks in order, its layers' attention then MLP;
     * the embedding before the model's first chunk, the output layer after
     * its last: chunk k's are seq[seq_at[k]] to seq[seq_at[k+1]-1]. */
    seq = malloc((2 * (size_t)m->num_layers + 2) * sizeof *seq);
    seq_at = malloc(((size_t)v + 1) * sizeof *seq_at);
    order = malloc((size_t)2 * v * mbs * sizeof *order);
    if (!seq || !seq_at || !order) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory for the step's order");
        goto out;
    }
    int ns = 0;
    for (int k = 0; k < v; k++) {
        seq_at[k] = ns;
        if (r == 0 && k == 0)
            seq[ns++] = MP_BLOCK_EMBED;
        int first, n;
        mp_layout_chunk(l, m->num_layers, r, k, &first, &n);
        for (int i = first; i < first + n && i < m->num_layers; i++) {
            bool local = m->window_kind != MP_WINDOW_NONE && m->attn_local[i];
            seq[ns++] = local ? MP_BLOCK_ATTN_LOCAL : MP_BLOCK_ATTN;
            seq[ns++] = m->is_moe[i] ? MP_BLOCK_MOE_MLP : MP_BLOCK_DENSE_MLP;
        }
        if (r == p - 1 && k == v - 1)
            seq[ns++] = MP_BLOCK_HEAD;
    }
    seq_at[v] = ns;
    /* The schedule the simulator plays (schedule.c): 1F1B, or Megatron's
     * interleaved 1F1B with vpp > 1. */
    int n_pass = mp_schedule_order(mp_schedule_default(l), p, v, mbs, r, order);
    if (n_pass < 0) {
        st = mp_error_set(err, MP_ERR_INTERNAL, "", 0, 0, "no pass order for the %s schedule",
                          mp_schedule_name(mp_schedule_default(l)));
        goto out;
    }
    /* The activation between stages: one micro-batch's tokens (a TP
     * rank's shard under sequence parallelism) x hidden. */
    size_t act = (size_t)tokens(c, true) * (size_t)m->hidden;
    out->p2p_floats = (double)act;
    buf = p > 1 ? calloc(act ? act : 1, sizeof *buf) : NULL;
    if (p > 1 && !buf) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory for the %zu-float activation", act);
        goto out;
    }
    if (p2p && p2p->barrier)
        p2p->barrier(p2p->ctx);
    double t0 = b->ops->now_s(b), wait = 0;
    for (int i = 0; i < n_pass; i++) {
        /* A forward takes its input from the previous stage (the first
         * rank's chunk k > 0 from the last rank's chunk k-1: the pipeline is
         * a ring) and sends its output on; a backward the reverse.  The
         * model's first chunk has no input to receive, its last no output
         * to send. */
        const mp_sched_pass *x = &order[i];
        bool fwd = x->pass == 'F', first = r == 0 && x->chunk == 0, last = r == p - 1 && x->chunk == v - 1;
        bool recv = p > 1 && p2p && (fwd ? !first : !last), send = p > 1 && p2p && (fwd ? !last : !first);
        if (recv) {
            double w0 = b->ops->now_s(b);
            if (p2p->recv(p2p->ctx, fwd, buf, act, why, sizeof why))
                goto fail;
            wait += b->ops->now_s(b) - w0;
        }
        for (int q = 0; q < seq_at[x->chunk + 1] - seq_at[x->chunk]; q++) {
            int at = fwd ? seq_at[x->chunk] + q : seq_at[x->chunk + 1] - 1 - q;
            if (step_pass(&blocks[seq[at]], o, !fwd, why, sizeof why))
                goto fail;
        }
        if (send && p2p->send(p2p->ctx, fwd, buf, act, why, sizeof why))
            goto fail;
    }
    if (p2p && p2p->flush && p2p->flush(p2p->ctx, why, sizeof why))
        goto fail;
    b->ops->sync(b);
    out->measured_s = b->ops->now_s(b) - t0;
    out->recv_wait_s = wait;
    goto done;
fail:
    st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "the %s step on pipeline rank %d: %s",
                      mp_schedule_name(mp_schedule_default(l)), r, why);
done:
out:
    free(buf);
    free(seq);
    free(seq_at);
    free(order);
    for (int blk = 0; blk < MP_BLOCK_COUNT; blk++)
        step_block_free(&blocks[blk]);
    return st;
}
