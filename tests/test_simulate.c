/* Unit tests: the simulator (simulate.h).
 *
 *  a. Schedules alone, every pass alike (mp_sim_schedule), against the
 *     published facts:
 *     - 1F1B and GPipe [Narayanan et al. SC21, section 2.2]: a step of
 *       (m + p - 1)(F + B), the bubble (p-1)/(m+p-1); GPipe holds all m
 *       micro-batches, 1F1B min(p, m) on the first rank;
 *     - interleaved 1F1B [ibid. 2.2.2]: m(F + B) + (p-1)(F + B)/v, the
 *       first rank holding (p-1)*2 + (v-1)*p + 1 chunk activations
 *       (Megatron-LM's warm-up count plus one);
 *     - ZB-H1 [Qi et al. ICLR 2024, section 3.1]: with F = B = W = 1 and
 *       the paper's accounting (W's inputs not counted against 1F1B's
 *       memory) a step of 3m + (p-1)(F + B - W) = 3m + (p-1), against
 *       1F1B's 3m + 3(p-1); with W's memory counted it stays at or below
 *       1F1B's memory and is still faster.
 *  b. The whole simulator on the seed's model with fixed lengths and
 *     explain's routing equals explain (mp_cost_assemble) within 1% over a
 *     grid of pp, micro-batch counts and virtual stages, and its 1F1B
 *     activation peak equals explain's memory.
 *  c. Routing: skew raises the busiest expert rank's load and the step;
 *     at a capacity factor it raises the drops, not the (padded) step.
 *  d. Determinism, lengths, packing, the trace's JSON.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/cost.h"
#include "moeplan/plan.h"
#include "moeplan/simulate.h"
#include "moeplan/trace.h"

#include "check_main.h"

#ifndef PLANS_DIR
#error "PLANS_DIR must point at plans/"
#endif

/* ------------------------------------------------------------ a. schedules */

static mp_sched_result sched_fb(mp_schedule s, int p, int v, int m, double f, double b, double w, double ws,
                                double fb)
{
    mp_sched_result r;
    mp_error e;
    ck_assert_msg(mp_sim_schedule(s, p, v, m, f, b, w, ws, fb, &r, &e) == MP_OK, "%s", e.msg);
    return r;
}
static mp_sched_result sched(mp_schedule s, int p, int v, int m, double f, double b, double w, double ws)
{
    return sched_fb(s, p, v, m, f, b, w, ws, 0);
}

static const int grid_p[] = {2, 4, 8};

START_TEST(test_1f1b_gpipe_bubble)
{
    for (int a = 0; a < 3; a++) {
        int p = grid_p[a];
        for (int m = 1; m <= 4 * p; m *= 2) {
            /* F = 1, B = 2: a step of (m + p - 1) * 3. */
            mp_sched_result r = sched(MP_SCHED_1F1B, p, 1, m, 1, 2, 0, 0);
            ck_assert_rel(r.span_s, (m + p - 1) * 3.0, 1e-12);
            ck_assert_rel(r.bubble_fraction, (p - 1.0) / (m + p - 1.0), 1e-12);
            ck_assert_rel(r.peak_units[1], m < p ? m : p, 1e-12);
            mp_sched_result g = sched(MP_SCHED_GPIPE, p, 1, m, 1, 2, 0, 0);
            ck_assert_rel(g.span_s, r.span_s, 1e-12);
            ck_assert_rel(g.peak_units[1], m, 1e-12);
        }
    }
}
END_TEST

START_TEST(test_interleaved_bubble)
{
    for (int a = 0; a < 3; a++) {
        int p = grid_p[a];
        for (int v = 2; v <= 4; v *= 2)
            for (int m = p; m <= 4 * p; m *= 2) {
                /* A micro-batch's F = 1, B = 2 split over v chunks. */
                mp_sched_result r = sched(MP_SCHED_INTERLEAVED, p, v, m, 1.0 / v, 2.0 / v, 0, 0);
                ck_assert_rel(r.span_s, 3.0 * m + 3.0 * (p - 1) / v, 1e-12);
                double warm = (p - 1) * 2.0 + (v - 1.0) * p + 1;
                ck_assert_rel(r.peak_units[1], fmin(warm, (double)m * v), 1e-12);
            }
    }
}
END_TEST

START_TEST(test_zb_h1)
{
    for (int a = 0; a < 3; a++) {
        int p = grid_p[a];
        for (int m = p; m <= 4 * p; m *= 2) {
            mp_sched_result one = sched(MP_SCHED_1F1B, p, 1, m, 1, 2, 0, 0);
            /* The paper's accounting: W's inputs outside the budget. */
            mp_sched_result zb = sched(MP_SCHED_ZB_H1, p, 1, m, 1, 2, 1, 0);
            ck_assert_rel(zb.span_s, 3.0 * m + (p - 1), 1e-12);
            ck_assert_rel(one.span_s, 3.0 * m + 3.0 * (p - 1), 1e-12);
            /* W keeping half the activations, counted: still no more
             * memory than 1F1B and faster. */
            mp_sched_result zh = sched(MP_SCHED_ZB_H1, p, 1, m, 1, 2, 1, 0.5);
            ck_assert(zh.peak_units[0] <= one.peak_units[0] + 1e-12);
            ck_assert(zh.span_s < one.span_s);
        }
    }
}
END_TEST

START_TEST(test_dualpipe_table2)
{
    for (int a = 0; a < 3; a++) {
        int p = grid_p[a] * 2; /* 4, 8, 16 */
        for (int m = 2 * p; m <= 4 * p; m *= 2) {
            /* F = 1, full B = 2 with W = 1; F&B = 3 (no overlap) and 2. */
            for (int ov = 0; ov < 2; ov++) {
                double fb = ov ? 2 : 3;
                mp_sched_result r = sched_fb(MP_SCHED_DUALPIPE, p, 1, m, 1, 2, 1, 0, ov ? 2 : 0);
                ck_assert_rel(r.idle_s[1], (p / 2 - 1) * (fb + 2 - 3), 1e-12);
                ck_assert_rel(r.peak_units[0], p + 1, 1e-12);
            }
            mp_sched_result one = sched(MP_SCHED_1F1B, p, 1, m, 1, 2, 0, 0);
            ck_assert_rel(one.idle_s[1], (p - 1) * 3.0, 1e-12);
            ck_assert_rel(one.peak_units[0], p, 1e-12);
        }
    }
    mp_sched_result r;
    mp_error e;
    ck_assert_int_eq(mp_sim_schedule(MP_SCHED_DUALPIPE, 3, 1, 8, 1, 2, 1, 0, 0, &r, &e), MP_ERR_INPUT); /* odd pp */
    ck_assert_int_eq(mp_sim_schedule(MP_SCHED_DUALPIPE, 4, 1, 6, 1, 2, 1, 0, 0, &r, &e), MP_ERR_INPUT); /* m < 2p */
}
END_TEST

START_TEST(test_schedule_refusals)
{
    mp_sched_result r;
    mp_error e;
    ck_assert_int_eq(mp_sim_schedule(MP_SCHED_INTERLEAVED, 4, 1, 8, 1, 2, 0, 0, 0, &r, &e), MP_ERR_INPUT);
    ck_assert_int_eq(mp_sim_schedule(MP_SCHED_1F1B, 4, 2, 8, 1, 2, 0, 0, 0, &r, &e), MP_ERR_INPUT);
    ck_assert_int_eq(mp_sim_schedule(MP_SCHED_INTERLEAVED, 4, 2, 6, 1, 2, 0, 0, 0, &r, &e), MP_ERR_INPUT); /* m % p */
}
END_TEST

/* ------------------------------------------------------------ b. against explain */

typedef struct {
    mp_model m;
    mp_hardware hw;
    mp_workload w;
    mp_layout l;
    mp_cost_ctx c;
} world;

static world *seed_world(void)
{
    world *x = calloc(1, sizeof *x);
    ck_assert_ptr_nonnull(x);
    mp_plan p;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_msg(mp_plan_load(&p, PLANS_DIR "/seed-plan.yaml", &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_model_load(&x->m, p.model_path, &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_hardware_load(&x->hw, p.hardware_path, &e) == MP_OK, "%s", e.msg);
    ck_assert_msg(mp_workload_load(&x->w, p.workload_path, &e) == MP_OK, "%s", e.msg);
    x->l = p.layout;
    return x;
}

static void set_up(world *x)
{
    char why[256];
    mp_rule rule = mp_layout_check(&x->l, &x->m, &x->w, why, sizeof why);
    ck_assert_msg(rule == MP_RULE_OK, "layout rejected: %s (%s)", mp_rule_name(rule), why);
    mp_cost_ctx_init(&x->c, &x->m, &x->hw, &x->w, &x->l, x->w.seq_max);
}

static mp_sim_result simulate(world *x, mp_sim_options *o)
{
    mp_sim_result r;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_msg(mp_simulate(&x->c, o, &r, &e) == MP_OK, "%s", e.msg);
    return r;
}

/* The seed's model on pp ranks (tp 2, ep 2 so that experts and all-to-alls
 * are priced), m micro-batches, v virtual stages; fixed lengths, routing at
 * the workload's imbalance: the simulated step is explain's within 1%
 * (the fill and drain of unequal ranks -- embedding first, output layer
 * last -- are where they may differ). */
START_TEST(test_equals_explain)
{
    world *x = seed_world();
    x->w.seq_min = x->w.seq_max = 4096;
    int n = 0;
    /* vpp 2 also with the workload's pp_blocking_sends (Megatron-LM's
     * interleaved sends before 2023-05): explain's 2v exposed sends per
     * micro-batch against the simulator's sends inside each pass. */
    for (int a = 0; a < 3; a++) {
        int p = grid_p[a];
        for (int vb = 1; vb <= 3; vb++)
            for (int mm = p; mm <= 4 * p; mm *= 2) {
                int v = vb == 1 ? 1 : 2;
                x->w.pp_blocking_sends = vb == 3;
                mp_layout_defaults(&x->l);
                x->l.tp = 2;
                x->l.pp = p;
                x->l.dp = 2;
                x->l.ep = 2;
                x->l.etp = 1;
                x->l.vpp = v;
                x->l.micro_batch = 1;
                x->l.sequence_parallel = true;
                x->l.gpus = 4 * p;
                x->w.global_batch = 2L * mm;
                set_up(x);
                mp_cost ref;
                mp_cost_evaluate(&x->c, &ref);
                mp_schedule ss[2] = {v > 1 ? MP_SCHED_INTERLEAVED : MP_SCHED_1F1B, MP_SCHED_GPIPE};
                for (int k = 0; k < (v > 1 ? 1 : 2); k++) {
                    mp_sim_options o;
                    mp_sim_options_defaults(&o);
                    o.lengths = MP_LEN_FIXED;
                    o.routing = MP_ROUTE_BALANCED;
                    o.schedule = ss[k];
                    mp_sim_result r = simulate(x, &o);
                    ck_assert_msg(fabs(r.step_mean_s / ref.t_total_s - 1) < 0.01,
                                  "pp %d vpp %d m %d %s%s: simulated %.6g s, explain %.6g s", p, v, mm,
                                  mp_schedule_name(ss[k]), vb == 3 ? " (blocking sends)" : "", r.step_mean_s,
                                  ref.t_total_s);
                    /* explain's memory is 1F1B's, its chunk mix taken at the
                     * end of the warm-up; interleaved, the steady state can
                     * hold one more of the embedding's chunk than that mix
                     * (pp 2 vpp 2 m 4: 34 kB in 18 GB): 1e-4. */
                    if (ss[k] != MP_SCHED_GPIPE)
                        for (int q = 0; q < p; q++)
                            ck_assert_msg(fabs(r.peak_bytes[q] / r.explain_peak_bytes[q] - 1) < (v > 1 ? 1e-4 : 1e-9),
                                          "pp %d vpp %d m %d rank %d: %.17g vs %.17g", p, v, mm, q, r.peak_bytes[q],
                                          r.explain_peak_bytes[q]);
                    else
                        ck_assert(r.peak_bytes[0] > r.explain_peak_bytes[0] || mm <= p);
                    mp_sim_result_free(&r);
                    n++;
                }
            }
    }
    ck_assert_int_eq(n, 36); /* 3 pp x 3 m x (1F1B and GPipe at vpp 1; interleaved; interleaved, blocking) */
    free(x);
}
END_TEST

/* ------------------------------------------------------------ c. routing */

START_TEST(test_routing_skew)
{
    world *x = seed_world();
    x->w.seq_min = x->w.seq_max = 4096;
    x->w.capacity_factor = 0;
    set_up(x);
    double prev_load = 0, prev_step = 0;
    for (int i = 0; i < 3; i++) {
        mp_sim_options o;
        mp_sim_options_defaults(&o);
        o.lengths = MP_LEN_FIXED;
        o.routing = MP_ROUTE_ZIPF;
        o.zipf_s = 0.5 * i;
        o.steps = 3;
        mp_sim_result r = simulate(x, &o);
        ck_assert(r.expert_load_mean > prev_load);
        ck_assert(r.step_mean_s > prev_step);
        ck_assert(r.dropped_fraction == 0); /* dropless */
        prev_load = r.expert_load_mean;
        prev_step = r.step_mean_s;
        mp_sim_result_free(&r);
    }
    /* Capacity factor 1.2, padded: the step is the same for every skew,
     * the drops grow with it. */
    x->w.capacity_factor = 1.2;
    set_up(x);
    double prev_drop = -1, step0 = 0;
    for (int i = 0; i < 3; i++) {
        mp_sim_options o;
        mp_sim_options_defaults(&o);
        o.lengths = MP_LEN_FIXED;
        o.zipf_s = 0.5 * i;
        mp_sim_result r = simulate(x, &o);
        ck_assert(r.dropped_fraction > prev_drop);
        if (i == 0)
            step0 = r.step_mean_s;
        ck_assert_rel(r.step_mean_s, step0, 1e-12);
        ck_assert_rel(r.step_mean_s, r.explain_step_s, 0.01);
        prev_drop = r.dropped_fraction;
        mp_sim_result_free(&r);
    }
    /* Balanced: the workload's imbalance exactly, nothing dropped. */
    mp_sim_options o;
    mp_sim_options_defaults(&o);
    o.routing = MP_ROUTE_BALANCED;
    mp_sim_result r = simulate(x, &o);
    ck_assert(r.dropped_fraction == 0);
    mp_sim_result_free(&r);
    free(x);
}
END_TEST

/* ------------------------------------------------------------ d. the rest */

START_TEST(test_deterministic)
{
    world *x = seed_world();
    set_up(x);
    mp_sim_options o;
    mp_sim_options_defaults(&o);
    o.steps = 4;
    o.zipf_s = 1;
    mp_sim_result a = simulate(x, &o), b = simulate(x, &o);
    for (int i = 0; i < 4; i++)
        ck_assert(a.step_s[i] == b.step_s[i]);
    o.seed = 2;
    mp_sim_result c = simulate(x, &o);
    ck_assert(c.step_s[0] != a.step_s[0]);
    /* Lengths uniform over 128-10240, routing at explain's imbalance: each
     * step at most explain's (every sequence the longest), the real tokens
     * about half of B x 10240 (mean 5184 of 10240). */
    o.routing = MP_ROUTE_BALANCED;
    mp_sim_result d = simulate(x, &o);
    for (int i = 0; i < 4; i++)
        ck_assert(d.step_s[i] <= d.explain_step_s * (1 + 1e-12));
    ck_assert(d.tokens_mean > 0.4 * 128 * 10240 && d.tokens_mean < 0.6 * 128 * 10240);
    mp_sim_result_free(&d);
    mp_sim_result_free(&a);
    mp_sim_result_free(&b);
    mp_sim_result_free(&c);
    free(x);
}
END_TEST

START_TEST(test_lengths_and_packing)
{
    world *x = seed_world();
    set_up(x);
    /* One bin of exactly 5000 tokens: every sequence 5000 long. */
    mp_len_bin bin = {5000, 5000, 1};
    mp_sim_options o;
    mp_sim_options_defaults(&o);
    o.lengths = MP_LEN_HISTOGRAM;
    o.bins = &bin;
    o.n_bins = 1;
    o.routing = MP_ROUTE_BALANCED;
    mp_sim_result r = simulate(x, &o);
    ck_assert_rel(r.tokens_mean, 128.0 * 5000, 1e-12);
    ck_assert(r.step_mean_s < r.explain_step_s);
    mp_sim_result_free(&r);
    /* Documents of 3000 packed into 10240: three per sequence (9000), each
     * priced at its 9000 tokens (variable-length: no padding to the
     * budget), its attention over documents of 3000: faster than 9000-token
     * sequences. */
    bin = (mp_len_bin){3000, 3000, 1};
    o.pack_tokens = 10240;
    r = simulate(x, &o);
    ck_assert_rel(r.tokens_mean, 128.0 * 9000, 1e-12);
    ck_assert(r.padding_fraction == 0);
    o.pack_tokens = 0;
    bin = (mp_len_bin){9000, 9000, 1};
    mp_sim_result u = simulate(x, &o);
    ck_assert_rel(u.tokens_mean, 128.0 * 9000, 1e-12);
    ck_assert(r.step_mean_s < u.step_mean_s);
    mp_sim_result_free(&u);
    mp_sim_result_free(&r);
    free(x);
}
END_TEST

/* DualPipe on the seed's plan (pp 2, 8 micro-batches): each rank holds a
 * second stage's weights, gradients and optimizer states, so its memory is
 * above explain's (1F1B) by at least the other rank's model states; with
 * pp 2 the bubble formula gives 0, and every rank is busy nearly all the
 * pipeline time. */
START_TEST(test_dualpipe_seed)
{
    world *x = seed_world();
    set_up(x);
    mp_sim_options o;
    mp_sim_options_defaults(&o);
    o.schedule = MP_SCHED_DUALPIPE;
    o.lengths = MP_LEN_FIXED;
    o.routing = MP_ROUTE_BALANCED;
    mp_sim_result r = simulate(x, &o);
    mp_cost_blocks b;
    mp_cost_blocks_compute(&x->c, &b);
    for (int q = 0; q < 2; q++) {
        mp_memory other;
        mp_cost_stage_memory(&x->c, &b, 1 - q, &other);
        ck_assert(r.peak_bytes[q] >
                  r.explain_peak_bytes[q] + other.weights_bytes + other.gradients_bytes + other.optimizer_bytes);
        ck_assert(r.busy_fraction[q] > 0.95);
    }
    ck_assert(r.step_mean_s < r.explain_step_s);
    mp_sim_result_free(&r);
    x->w.global_batch = 48; /* 3 micro-batches of dp 16: odd */
    set_up(x);
    mp_error e;
    ck_assert_int_eq(mp_simulate(&x->c, &o, &r, &e), MP_ERR_INPUT);
    free(x);
}
END_TEST

/* The world simulated with the default options, its events kept (the
 * trace's and the op events' tests). */
static mp_sim_result simulate_traced(world *x)
{
    set_up(x);
    mp_sim_options o;
    mp_sim_options_defaults(&o);
    o.keep_events = true;
    return simulate(x, &o);
}

/* The trace: an object with traceEvents, each complete event ("X") with a
 * name, a phase, ts and dur in microseconds (dur >= 0), pid and tid; the
 * metadata ("M") naming each process; the forward and backward passes of
 * every micro-batch on every rank. */
START_TEST(test_trace_format)
{
    world *x = seed_world();
    mp_sim_result r = simulate_traced(x);
    json_t *t = mp_sim_trace(&r, "test");
    ck_assert_ptr_nonnull(t);
    json_t *evs = json_object_get(t, "traceEvents");
    ck_assert(json_is_array(evs));
    int fwd = 0, bwd = 0, meta = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        const char *ph = json_string_value(json_object_get(ev, "ph"));
        ck_assert_ptr_nonnull(ph);
        ck_assert(json_is_string(json_object_get(ev, "name")));
        ck_assert(json_is_integer(json_object_get(ev, "pid")));
        ck_assert(json_is_integer(json_object_get(ev, "tid")));
        if (!strcmp(ph, "M")) {
            meta++;
            continue;
        }
        ck_assert_str_eq(ph, "X");
        ck_assert(json_is_number(json_object_get(ev, "ts")));
        ck_assert(json_number_value(json_object_get(ev, "dur")) >= 0);
        const char *cat = json_string_value(json_object_get(ev, "cat"));
        fwd += !strcmp(cat, "forward");
        bwd += !strcmp(cat, "backward");
    }
    int pm = x->l.pp * x->l.num_micro_batches;
    ck_assert_int_eq(fwd, pm);
    ck_assert_int_eq(bwd, pm);
    ck_assert_int_eq(meta, 5 * x->l.pp); /* process name and order, three threads */
    json_decref(t);
    mp_sim_result_free(&r);
    free(x);
}
END_TEST

/* The unfused gradient accumulation's main-grad-add (backward only, one a
 * block) runs after the rest of its block's backward: in the trace's op
 * events, no other op of the same rank, micro-batch, block and layer
 * starts after it (the forward's ops come before the backward's), but the
 * pipeline send that ends the pass. */
START_TEST(test_grad_add_order)
{
    world *x = seed_world();
    x->w.grad_accum_unfused = true;
    mp_sim_result r = simulate_traced(x);
    ck_assert(r.op_events);
    int adds = 0;
    for (size_t i = 0; i < r.n_events; i++) {
        const mp_sim_event *a = &r.events[i];
        if (a->kind != MP_EV_OP || strcmp(a->name, "main-grad-add"))
            continue;
        adds++;
        for (size_t j = 0; j < r.n_events; j++) {
            const mp_sim_event *b = &r.events[j];
            if (j != i && b->kind == MP_EV_OP && b->rank == a->rank && b->micro_batch == a->micro_batch &&
                b->block == a->block && b->layer == a->layer && strcmp(b->name, "pp-send-recv"))
                ck_assert_msg(b->start_s <= a->start_s, "%s at %g after main-grad-add at %g", b->name, b->start_s,
                              a->start_s);
        }
    }
    ck_assert_int_gt(adds, 0);
    mp_sim_result_free(&r);
    free(x);
}
END_TEST

/* The trace's op events fill each pass: under 1F1B the blocking pipeline
 * send that ends a pass is an event of its own (pp-send-recv), so on every
 * rank the op events inside a forward or backward pass sum to its length
 * (they were short of it by the send). */
START_TEST(test_ops_fill_passes)
{
    world *x = seed_world();
    mp_sim_result r = simulate_traced(x);
    ck_assert(r.op_events);
    int passes = 0, sends = 0;
    for (size_t i = 0; i < r.n_events; i++) {
        const mp_sim_event *p = &r.events[i];
        if (p->kind == MP_EV_OP && !strcmp(p->name, "pp-send-recv"))
            sends++;
        if (p->kind != MP_EV_FWD && p->kind != MP_EV_BWD)
            continue;
        double sum = 0, eps = 1e-12;
        for (size_t j = 0; j < r.n_events; j++) {
            const mp_sim_event *q = &r.events[j];
            if (q->kind == MP_EV_OP && q->rank == p->rank && q->start_s >= p->start_s - eps && q->end_s <= p->end_s + eps)
                sum += q->end_s - q->start_s;
        }
        ck_assert_msg(fabs(sum - (p->end_s - p->start_s)) < 1e-9 * (p->end_s - p->start_s) + 1e-12,
                      "rank %d: ops %.9g of a pass of %.9g", p->rank, sum, p->end_s - p->start_s);
        passes++;
    }
    ck_assert_int_gt(passes, 0);
    ck_assert_int_gt(sends, 0);
    mp_sim_result_free(&r);
    free(x);
}
END_TEST

static Suite *simulate_suite(void)
{
    Suite *s = suite_create("simulate");
    TCase *a = tcase_create("schedules");
    tcase_add_test(a, test_1f1b_gpipe_bubble);
    tcase_add_test(a, test_interleaved_bubble);
    tcase_add_test(a, test_zb_h1);
    tcase_add_test(a, test_dualpipe_table2);
    tcase_add_test(a, test_schedule_refusals);
    suite_add_tcase(s, a);
    TCase *b = tcase_create("explain");
    tcase_set_timeout(b, 120);
    tcase_add_test(b, test_equals_explain);
    tcase_add_test(b, test_grad_add_order);
    tcase_add_test(b, test_ops_fill_passes);
    suite_add_tcase(s, b);
    TCase *c = tcase_create("routing-lengths");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, test_routing_skew);
    tcase_add_test(c, test_deterministic);
    tcase_add_test(c, test_lengths_and_packing);
    tcase_add_test(c, test_trace_format);
    tcase_add_test(c, test_dualpipe_seed);
    suite_add_tcase(s, c);
    return s;
}

MP_CHECK_MAIN(simulate_suite)
