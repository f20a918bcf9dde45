/* moeplan run: one GPU's share of a plan executed with moeplan's own
 * kernels, each op timed beside the cost model's prediction for it.
 *
 *   moeplan run --plan PLAN.yaml [--rank R] [--layers K] [--backend cpu|cuda]
 *               [--repeats N] [--hardware HW.yaml] [--optimizer]
 *               [--tolerance 10%] [--format text|json]
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "moeplan/distribution.h"
#include "moeplan/measure.h"
#include "moeplan/run.h"
#include "moeplan/simulate.h"
#include "moeplan/units.h"
#include "moeplan/world.h"

enum {
    O_PLAN = 256, O_RANK, O_LAYERS, O_BACKEND, O_REPEATS, O_HARDWARE, O_OPTIMIZER, O_TOLERANCE, O_FORMAT, O_STEP,
    O_ROUTING
};
static const struct option run_options[] = {
    {"plan", required_argument, 0, O_PLAN},
    {"rank", required_argument, 0, O_RANK},
    {"layers", required_argument, 0, O_LAYERS},
    {"backend", required_argument, 0, O_BACKEND},
    {"repeats", required_argument, 0, O_REPEATS},
    {"hardware", required_argument, 0, O_HARDWARE},
    {"optimizer", no_argument, 0, O_OPTIMIZER},
    {"tolerance", required_argument, 0, O_TOLERANCE},
    {"step", no_argument, 0, O_STEP},
    {"routing", required_argument, 0, O_ROUTING},
    {"format", required_argument, 0, O_FORMAT},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};
static const char *const run_help[] = {
    "PLAN.yaml: the plan (model, hardware, workload, layout) whose rank to run",
    "R: the pipeline rank to run, 0 to pp-1 (default 0)",
    "K: run K of the rank's layers (default all)",
    "cpu|cuda: the kernels' backend (default cpu)",
    "N: timed runs per op after a warm-up, the median kept, 1-64 (default 5)",
    "HW.yaml: predict with this hardware file (default: the plan's; cpu: the CPU, measured first)",
    ": also the optimizer step's ops (norm, clip, AdamW)",
    "X%: exit 1 when the measured total is off the prediction by more",
    ": also a whole step's pipeline: the micro-batches under 1F1B (interleaved with vpp > 1) across the PP ranks "
    "(needs one rank per GPU)",
    "balanced|zipf:S|FILE.yaml: the experts' token counts: balanced, Zipf with skew S (expert 0 the most popular), "
    "or a per-expert histogram file; the busiest EP rank's experts run (default balanced)",
    "text|json: report format",
    ": this help (also -h)",
};

static mp_status cmd_run(int argc, char **argv, FILE *out, mp_error *err, int *failed);

const cli_command cmd_run_def = {
    "run", run_options, run_help,
    "run --plan PLAN.yaml [OPTIONS]: execute one GPU's share of a plan (a pipeline rank's layers, one micro-batch "
    "forward and backward) with moeplan's own kernels, and print each op's predicted and measured time",
    cmd_run,
};

static const char *how_name(mp_run_how h)
{
    return h == MP_RUN_KERNEL       ? "kernel"
           : h == MP_RUN_STANDIN    ? "stand-in"
           : h == MP_RUN_COLLECTIVE ? "collective"
                                    : "not measured";
}

/* The collectives across ranks: the op's own group, size, collective and
 * buffer (mp_world_collective), forward or backward. */
typedef struct {
    mp_world *w;
    int reps;
} comm_ctx;

static int p2p_send(void *ctx, bool to_next, const float *buf, size_t n, char *why, size_t len)
{
    return mp_world_send(((comm_ctx *)ctx)->w, to_next, buf, n, why, len);
}
static int p2p_recv(void *ctx, bool from_prev, float *buf, size_t n, char *why, size_t len)
{
    return mp_world_recv(((comm_ctx *)ctx)->w, from_prev, buf, n, why, len);
}
static int p2p_flush(void *ctx, char *why, size_t len)
{
    return mp_world_flush(((comm_ctx *)ctx)->w, why, len);
}
static int p2p_barrier(void *ctx)
{
    mp_world_barrier(((comm_ctx *)ctx)->w);
    return 0;
}

static int run_comm(void *ctx, const mp_op *o, bool bwd, double *seconds, char *kernel, size_t klen, char *why,
                    size_t why_len)
{
    comm_ctx *cc = ctx;
    mp_coll coll = bwd ? o->bwd_coll : o->coll;
    double bytes = bwd ? o->bwd_comm_bytes : o->fwd_comm_bytes;
    if (o->bwd_coll != MP_COLL_NONE && o->bwd_coll != o->coll)
        snprintf(kernel, klen, "%s %s/%s %s%d", mp_world_coll_lib(cc->w), mp_coll_name(o->coll), mp_coll_name(o->bwd_coll),
                 mp_group_name(o->group), o->group_size);
    else
        snprintf(kernel, klen, "%s %s %s%d", mp_world_coll_lib(cc->w), mp_coll_name(coll), mp_group_name(o->group),
                 o->group_size);
    return mp_world_collective(cc->w, o->name, o->group, o->group_size, coll, bytes, cc->reps, 60.0, seconds, why,
                               why_len);
}

/* predicted / measured - 1, as validate: negative = predicted too fast. */
static double rel_err(double pred, double meas)
{
    return meas > 0 ? pred / meas - 1 : 0;
}

static void fmt_s(double s, char *b, size_t n)
{
    if (s <= 0)
        snprintf(b, n, "-");
    else
        mp_fmt_seconds(s, b, n);
}

static mp_status cmd_run(int argc, char **argv, FILE *out, mp_error *err, int *failed)
{
    const char *plan = NULL, *backend = "cpu", *hw_path = NULL;
    mp_run_opts ro = {0, 0, 5, false, NULL, NULL, NULL, 0};
    double tolerance = -1;
    bool step = false;
    const char *routing = "balanced";
    double *expert_p = NULL;
    double *all = NULL; /* every rank's terms (rank 0) */
    out_format fmt = FMT_TEXT;
    opterr = 0;
    optind = 1;
    int ch, longi;
    while ((ch = getopt_long(argc, argv, ":h", run_options, &longi)) != -1) {
        long v;
        switch (ch) {
        case O_PLAN: plan = optarg; break;
        case O_BACKEND: backend = optarg; break;
        case O_HARDWARE: hw_path = optarg; break;
        case O_OPTIMIZER: ro.optimizer = true; break;
        case O_STEP: step = true; break;
        case O_ROUTING: routing = optarg; break;
        case O_RANK:
        case O_LAYERS:
        case O_REPEATS:
            if (!cli_parse_long(optarg, ch == O_RANK ? 0 : 1, ch == O_REPEATS ? 64 : 100000, &v))
                return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--%s: expected a whole number %s, got '%s'",
                                    run_options[longi].name,
                                    ch == O_RANK ? "from 0 to 100000" : ch == O_REPEATS ? "from 1 to 64" : "from 1 to 100000",
                                    optarg);
            if (ch == O_RANK)
                ro.rank = (int)v;
            else if (ch == O_LAYERS)
                ro.layers = (int)v;
            else
                ro.repeats = (int)v;
            break;
        case O_TOLERANCE: {
            char why[160];
            if (!mp_parse_quantity(optarg, MP_UNIT_FRACTION, &tolerance, why, sizeof why) || tolerance <= 0)
                return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--tolerance: expected a fraction such as 10%% or "
                                    "0.1, got '%s'", optarg);
            /* A bare number above 1 is a percentage with its sign left
             * off ('5' for 5%): read as a fraction it is 500%, a gate that
             * never fails, so it is refused, not guessed. */
            if (tolerance > 1 && !strchr(optarg, '%'))
                return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--tolerance: '%s' is %.0f%% as a fraction; write "
                                    "'%s%%' for %s percent, or a fraction such as 0.05", optarg, tolerance * 100, optarg,
                                    optarg);
            break;
        }
        case O_FORMAT: {
            mp_status fs = cli_format_text_json(optarg, &fmt, err);
            if (fs)
                return fs;
            break;
        }
        case 'h':
            cli_command_help(out, &cmd_run_def);
            return MP_OK;
        default:
            return cli_getopt_error(ch, argv, "run", err);
        }
    }
    if (optind < argc)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "unexpected argument '%s'; see moeplan run --help",
                            argv[optind]);
    if (!plan)
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "run needs --plan PLAN.yaml; see moeplan run --help");
    char why[512];
    mp_world world;
    if (!mp_world_init(&world, why, sizeof why))
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s", why);
    mp_backend b;
    if (!mp_backend_open(backend, &b, why, sizeof why)) {
        mp_world_finalize(&world);
        return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--backend %s: %s", backend, why);
    }

    cli_opts o;
    memset(&o, 0, sizeof o);
    mp_layout_defaults(&o.layout);
    o.plan_path = plan;
    o.hardware_path = hw_path;
    cli_inputs *in;
    mp_layout l;
    mp_cost_ctx c;
    mp_cost k;
    mp_status st = cli_evaluate(&o, false, &in, &l, &c, &k, err);
    if (st) {
        mp_backend_close(&b);
        mp_world_finalize(&world);
        return st;
    }
    /* The runner sends pipeline activations as Megatron-Core does, whole;
     * the older scatter-gather is priced by explain, not run. */
    if (in->wl.pp_scatter_gather && l.pp > 1 && l.tp > 1 && !l.sequence_parallel) {
        st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                          "the workload's pp_scatter_gather (Megatron-LM's pipeline sends of 2021-2023) is priced by "
                          "explain and plan but not run: run sends each activation whole, as Megatron-Core does");
        goto done;
    }
    /* Across ranks: one per GPU of the layout; each runs its own pipeline
     * rank's work, the collectives with its groups; rank 0 reports. */
    comm_ctx cc = {&world, ro.repeats};
    if (world.size > 1) {
        if (ro.rank != 0) {
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "--rank: across ranks each runs its own pipeline rank");
            goto done;
        }
        if (!mp_world_groups(&world, &l, why, sizeof why)) {
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s", why);
            goto done;
        }
        /* The cuda backend's collectives are NCCL's, the cpu backend's MPI's. */
        if (!mp_world_use_backend(&world, &b, why, sizeof why)) {
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "%s", why);
            goto done;
        }
        ro.rank = world.pp;
        ro.comm = run_comm;
        ro.comm_ctx = &cc;
        /* The node's cores shared among its ranks, not each rank's
         * OpenBLAS starting one thread per core. */
        if (b.ops->set_threads) {
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            int per = (int)(cores / mp_world_node_size(&world));
            b.ops->set_threads(&b, per < 1 ? 1 : per);
        }
    }
    /* What the prediction is of: activations and weights at the backend's
     * element size (cpu: fp32, 4 bytes; cuda: bf16, 2), and on the CPU
     * backend, unless a hardware file is given, the CPU itself, its GEMM
     * rate and copy bandwidth measured first (mp_measure_host). */
    mp_hardware hw = in->hw;
    mp_workload wl = in->wl;
    bool host = !strcmp(b.ops->name, "cpu");
    mp_run_backend_workload(&b, &wl);
    if (host && !hw_path && (st = mp_measure_host(&b, &in->hw, &hw, err)))
        goto done;
    mp_cost_ctx_init(&c, &in->model, &hw, &wl, &l, in->wl.seq_max);
    /* Routing: the experts' shares (Zipf as moeplan simulate draws them,
     * here in expert order and at their expected counts, or a histogram),
     * the EP rank whose experts get the most, and its load over the mean,
     * which the cost model prices (dropless; padded at a capacity factor). */
    double route_load = 1;
    cli_routing rt;
    if ((st = cli_routing_parse(routing, false, in->model.num_experts, &rt, err)))
        goto done;
    expert_p = rt.weights;
    if (rt.kind != CLI_ROUTE_BALANCED) {
        long E = in->model.num_experts; /* > 0: cli_routing_parse refuses zipf and files without experts */
        int n = rt.n;
        double sum = 0;
        for (int e = 0; e < n; e++)
            sum += expert_p[e];
        for (int e = 0; e < n; e++)
            expert_p[e] /= sum;
        /* A token's top-k experts are distinct: the copies' shares. */
        if (!mp_sim_topk_shares(expert_p, n, (int)in->model.top_k)) {
            st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
            goto done;
        }
        int per = (int)(E / l.ep), best = 0;
        double top = -1;
        for (int q = 0; q < l.ep; q++) {
            double share = 0;
            for (int e = q * per; e < (q + 1) * per; e++)
                share += expert_p[e];
            if (share > top + 1e-15) {
                top = share;
                best = q;
            }
        }
        route_load = top * l.ep;
        ro.expert_p = expert_p;
        ro.ep_rank = best;
        if (wl.capacity_factor <= 0)
            c.expert_load = route_load;
    }
    mp_run_report r;
    if ((st = mp_run_rank(&c, &b, &ro, &r, err)))
        goto done;
    /* The token ids an all-to-all carries arrive exactly (EP dispatch). */
    bool a2a_checked = false;
    if (world.size > 1 && l.ep > 1) {
        if (mp_world_check_alltoall(&world, MP_GROUP_EP, 256, why, sizeof why)) {
            mp_run_report_free(&r);
            st = mp_error_set(err, MP_ERR_INTERNAL, "", 0, 0, "%s", why);
            goto done;
        }
        a2a_checked = true;
    }
    double slowest = mp_world_max(&world, r.meas_s + r.meas_comm_s);
    /* Each rank's terms, for the JSON report: pipeline rank, compute,
     * memory-bound and communication measured, and their predictions. */
    enum { NT = 7 };
    double mine[NT] = {r.rank, r.meas_compute_s, r.meas_memory_s, r.meas_comm_s, r.pred_compute_s, r.pred_memory_s,
                       r.pred_comm_s};
    all = calloc((size_t)NT * world.size, sizeof *all);
    if (!all) {
        mp_run_report_free(&r);
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        goto done;
    }
    mp_world_gather(&world, mine, NT, all);
    /* The whole step's pipeline (1F1B), predicted by the same cost model
     * on the same hardware: its step less the DP reduction and optimizer,
     * which the pipeline does not run. */
    mp_run_step_report sr;
    memset(&sr, 0, sizeof sr);
    double step_meas = 0, step_wait = 0, step_pred = 0, bubble_pred = 0;
    if (step) {
        if (l.pp > 1 && world.size == 1) {
            mp_run_report_free(&r);
            st = mp_error_set(err, MP_ERR_INPUT, "", 0, 0,
                              "--step with pp %d needs one rank per GPU (mpirun -np %d): the stages send to each "
                              "other", l.pp, l.gpus);
            goto done;
        }
        mp_run_p2p pp = {p2p_send, p2p_recv, p2p_flush, p2p_barrier, &cc};
        int keep = cc.reps;
        cc.reps = 0; /* inside the step each collective runs once */
        st = mp_run_step(&c, &b, &ro, world.size > 1 ? &pp : NULL, &sr, err);
        cc.reps = keep;
        if (st) {
            mp_run_report_free(&r);
            goto done;
        }
        step_meas = mp_world_max(&world, sr.measured_s);
        step_wait = mp_world_max(&world, sr.recv_wait_s);
        mp_cost pc;
        mp_cost_evaluate(&c, &pc);
        step_pred = pc.t_total_s - pc.t_dp_s - pc.t_optimizer_s;
        bubble_pred = pc.t_bubble_s;
    }
    if (world.rank != 0) { /* rank 0 reports */
        mp_run_report_free(&r);
        goto done;
    }
    double total_err = rel_err(r.pred_s, r.meas_s);
    if (tolerance > 0 && fabs(total_err) > tolerance)
        *failed = 1;
    if (fmt == FMT_JSON) {
        json_t *ops = json_array();
        for (size_t i = 0; i < r.n; i++) {
            const mp_run_op *x = &r.ops[i];
            json_t *oj = json_pack("{s:s,s:s,s:s,s:s,s:i,s:f,s:f}", "name", x->name, "block",
                                   mp_block_name(x->block), "how", how_name(x->how), "kernel", x->kernel,
                                   "per_micro_batch", x->per_micro_batch, "predicted_fwd_s", x->pred_fwd_s,
                                   "predicted_bwd_s", x->pred_bwd_s);
            json_object_set_new(oj, "shape", x->shape[0] ? json_string(x->shape) : json_null());
            json_object_set_new(oj, "measured_fwd_s", x->how == MP_RUN_NOT_MEASURED ? json_null() : json_real(x->meas_fwd_s));
            json_object_set_new(oj, "measured_bwd_s", x->how == MP_RUN_NOT_MEASURED ? json_null() : json_real(x->meas_bwd_s));
            json_array_append_new(ops, oj);
        }
        json_t *j = json_pack("{s:s,s:s,s:i,s:i,s:i,s:o}", "plan", plan, "backend", b.ops->name, "rank", r.rank,
                              "layers_rank", r.layers_rank, "layers_run", r.layers_run, "ops", ops);
        json_object_set_new(j, "hardware", json_pack("{s:s,s:f,s:f}", "name", hw.name, "peak_flops", hw.peak_flops,
                                                     "memory_bw_bytes_per_s", hw.memory_bw_bytes_per_s));
        json_object_set_new(j, "routing", json_pack("{s:s,s:i,s:f,s:f}", "routing", routing, "ep_rank", ro.ep_rank,
                                                    "load", route_load, "expert_load", c.expert_load));
        json_object_set_new(j, "totals",
                            json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "predicted_compute_s", r.pred_compute_s,
                                      "measured_compute_s", r.meas_compute_s, "predicted_memory_s", r.pred_memory_s,
                                      "measured_memory_s", r.meas_memory_s, "predicted_s", r.pred_s, "measured_s",
                                      r.meas_s, "error", total_err, "predicted_comm_s_not_measured", r.pred_comm_s));
        json_object_set_new(j, "high_water_bytes", json_integer((json_int_t)r.high_water_bytes));
        if (step)
            json_object_set_new(j, "step",
                                json_pack("{s:s,s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "schedule",
                                          mp_schedule_name(mp_schedule_default(&l)), "vpp", l.vpp, "micro_batches",
                                          sr.micro_batches,
                                          "predicted_s", step_pred, "measured_s", step_meas, "predicted_bubble_s",
                                          bubble_pred, "measured_recv_wait_s", step_wait, "p2p_floats",
                                          sr.p2p_floats));
        json_t *ranks = json_array();
        for (int q = 0; q < world.size; q++) {
            const double *v = all + (size_t)q * NT;
            json_array_append_new(ranks, json_pack("{s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:f}", "rank", q, "pipeline_rank",
                                                   (int)v[0], "measured_compute_s", v[1], "measured_memory_s", v[2],
                                                   "measured_comm_s", v[3], "predicted_compute_s", v[4],
                                                   "predicted_memory_s", v[5], "predicted_comm_s", v[6]));
        }
        json_object_set_new(j, "ranks", ranks);
        json_object_set_new(j, "world", json_pack("{s:i,s:f,s:f,s:b}", "size", world.size, "measured_comm_s",
                                                  r.meas_comm_s, "slowest_rank_s", slowest,
                                                  "alltoall_payloads_exact", a2a_checked));
        mp_report_json_write(out, j);
        json_decref(j);
    } else {
        char a[32], bb[32];
        fprintf(out, "moeplan run: %s, pipeline rank %d of %d, %d of its %d layer%s, %s backend", plan, r.rank, l.pp,
                r.layers_run, r.layers_rank, mp_plural(r.layers_rank), b.ops->name);
        if (world.size > 1)
            fprintf(out, ", world rank 0 of %d (tp %d cp %d dp %d pp %d)", world.size, world.tp, world.cp, world.dp,
                    world.pp);
        fprintf(out, "\n");
        if (ro.expert_p)
            fprintf(out, "routing %s: EP rank %d's experts, the busiest, %.3fx the mean%s\n", routing, ro.ep_rank,
                    route_load, wl.capacity_factor > 0 ? " (padded to capacity: priced at the capacity factor)" : "");
        mp_fmt_flops(hw.peak_flops, a, sizeof a);
        mp_fmt_bytes(hw.memory_bw_bytes_per_s, bb, sizeof bb);
        fprintf(out, "predicted with %s: %s/s matrix products, %s/s memory-bound%s\n\n", hw.name, a, bb,
                b.ops->elem_bytes == 4 ? " (fp32: activations and weights at 4 bytes)"
                                       : " (bf16: activations and weights at 2 bytes)");
        fprintf(out, "%-22s %-11s %-23s %-20s %3s %10s %10s %10s %10s %7s\n", "op", "block", "kernel", "shape", "x",
                "pred fwd", "meas fwd", "pred bwd", "meas bwd", "error");
        for (size_t i = 0; i < r.n; i++) {
            const mp_run_op *x = &r.ops[i];
            char pf[24], mf[24], pb[24], mb[24], e[16];
            fmt_s(x->pred_fwd_s, pf, sizeof pf);
            fmt_s(x->pred_bwd_s, pb, sizeof pb);
            if (x->how == MP_RUN_NOT_MEASURED || (x->how == MP_RUN_COLLECTIVE && x->meas_fwd_s + x->meas_bwd_s <= 0)) {
                snprintf(mf, sizeof mf, "-");
                snprintf(mb, sizeof mb, "-");
                snprintf(e, sizeof e, "n/a");
            } else {
                fmt_s(x->meas_fwd_s, mf, sizeof mf);
                fmt_s(x->meas_bwd_s, mb, sizeof mb);
                snprintf(e, sizeof e, "%+.0f%%",
                         100 * rel_err(x->pred_fwd_s + x->pred_bwd_s, x->meas_fwd_s + x->meas_bwd_s));
            }
            fprintf(out, "%-22s %-11s %-23s %-20s %3d %10s %10s %10s %10s %7s\n", x->name, mp_block_name(x->block),
                    x->kernel, x->shape[0] ? x->shape : "-", x->per_micro_batch, pf, mf, pb, mb, e);
        }
        char p1[24], m1[24];
        fprintf(out, "\nOne micro-batch forward and backward on this rank (ops x their count; no recomputation):\n");
        fmt_s(r.pred_compute_s, p1, sizeof p1);
        fmt_s(r.meas_compute_s, m1, sizeof m1);
        fprintf(out, "  %-16s predicted %10s  measured %10s  error %+6.1f%%\n", "compute", p1, m1,
                100 * rel_err(r.pred_compute_s, r.meas_compute_s));
        fmt_s(r.pred_memory_s, p1, sizeof p1);
        fmt_s(r.meas_memory_s, m1, sizeof m1);
        fprintf(out, "  %-16s predicted %10s  measured %10s  error %+6.1f%%\n", "memory-bound", p1, m1,
                100 * rel_err(r.pred_memory_s, r.meas_memory_s));
        fmt_s(r.pred_s, p1, sizeof p1);
        fmt_s(r.meas_s, m1, sizeof m1);
        fprintf(out, "  %-16s predicted %10s  measured %10s  error %+6.1f%%\n", "total", p1, m1, 100 * total_err);
        fmt_s(r.pred_comm_s, p1, sizeof p1);
        if (world.size > 1 && r.meas_comm_s <= 0) {
            fprintf(out, "  %-16s predicted %10s  no collective in this rank's layers (the step's are listed above)\n",
                    "communication", p1);
        } else if (world.size > 1) {
            fmt_s(r.meas_comm_s, m1, sizeof m1);
            fprintf(out, "  %-16s predicted %10s  measured %10s  error %+6.1f%%  (%s; the step's own collectives "
                         "listed above, not summed)\n",
                    "communication", p1, m1, 100 * rel_err(r.pred_comm_s, r.meas_comm_s),
                    strcmp(mp_world_coll_lib(&world), "NCCL") ? "MPI on the cpu backend" : "NCCL on the GPUs");
        } else {
            fprintf(out, "  %-16s predicted %10s  not measured: one rank has no peers\n", "communication", p1);
        }
        if (step) {
            char p2[24], m2[24];
            fmt_s(step_pred, p1, sizeof p1);
            fmt_s(step_meas, m1, sizeof m1);
            fmt_s(bubble_pred, p2, sizeof p2);
            fmt_s(step_wait, m2, sizeof m2);
            fprintf(out, "\nThe step's pipeline: %d micro-batch%s under %s over %d stage%s%s, every op of every layer:\n",
                    sr.micro_batches, sr.micro_batches == 1 ? "" : "es", l.vpp > 1 ? "interleaved 1F1B" : "1F1B", l.pp,
                    mp_plural(l.pp),
                    l.vpp > 1 ? " of several chunks each" : "");
            fprintf(out, "  %-16s predicted %10s  measured %10s  error %+6.1f%%  (the slowest rank; no DP reduction "
                         "or optimizer)\n", "step", p1, m1, 100 * rel_err(step_pred, step_meas));
            fprintf(out, "  %-16s predicted %10s  measured %10s  (blocked receiving: the bubble and exposed sends)\n",
                    "bubble", p2, m2);
        }
        if (world.size > 1) {
            fmt_s(slowest, m1, sizeof m1);
            fprintf(out, "  %-16s measured %10s (compute, memory-bound and communication of the slowest rank)\n",
                    "slowest rank", m1);
            if (a2a_checked)
                fprintf(out, "  all-to-all payloads over ep %d: token ids exact on arrival\n", l.ep);
        }
        mp_fmt_bytes((double)r.high_water_bytes, a, sizeof a);
        fprintf(out, "memory: the backend's allocations peaked at %s (one op's buffers at a time)\n", a);
        if (tolerance > 0)
            fprintf(out, "tolerance %g%%: %s\n", 100 * tolerance, *failed ? "EXCEEDED" : "met");
    }
    mp_run_report_free(&r);
done:
    free(all);
    free(expert_p);
    free(in);
    mp_backend_close(&b);
    mp_world_finalize(&world);
    return st;
}
