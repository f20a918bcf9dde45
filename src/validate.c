/* Predicted against measured for one published run (runs.h).  Pure: the
 * run was read by runs.c; this only asks the cost model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/runs.h"

void mp_run_layer_time(const mp_run *run, const mp_cost_ctx *c, mp_layer_time *lt)
{
    if (run->moe_layer_only)
        mp_cost_moe_layer_time(c, lt);
    else
        mp_cost_layer_time(c, mp_cost_layer_class(c, 0), lt);
}

void mp_run_evaluate(const mp_run *run, mp_run_result *res)
{
    mp_run_evaluate_with(run, &run->hw, res);
}

void mp_run_evaluate_with(const mp_run *run, const mp_hardware *hw, mp_run_result *res)
{
    memset(res, 0, sizeof *res);
    mp_cost_ctx c;
    mp_cost r;
    mp_cost_ctx_init(&c, &run->model, hw, &run->wl, &run->lay, run->seq_len);
    static const char *const names[] = {"compute", "memory-bound", "communication", "bubble"};
    if (run->layer_bench) {
        /* One layer, one micro-batch: the cost model's own time of that
         * layer (what the step sums per layer), its recomputation in the
         * backward as the layout says, of the layer's own class (an MoE
         * record's layer is priced with its experts, not as a dense MLP);
         * the embedding and output layer, which the benchmark did not
         * time, are not counted. */
        mp_layer_time lt;
        mp_run_layer_time(run, &c, &lt);
        res->measured_step_s = run->measured_step_s;
        res->predicted_fwd_s = lt.fwd_s;
        res->predicted_bwd_s = lt.bwd_s;
        res->predicted_step_s = lt.fwd_s + lt.bwd_s;
        res->fwd_error = lt.fwd_s / run->measured_fwd_s - 1;
        res->bwd_error = lt.bwd_s / run->measured_bwd_s - 1;
        res->error = res->predicted_step_s / res->measured_step_s - 1;
        int best = 0;
        for (int i = 1; i < 3; i++)
            if (lt.cat_s[i] > lt.cat_s[best])
                best = i;
        res->dominant = names[best];
        res->dominant_fraction = res->predicted_step_s > 0 ? lt.cat_s[best] / res->predicted_step_s : 0;
        return;
    }
    mp_cost_evaluate(&c, &r);
    res->predicted_step_s = r.t_total_s;
    /* An MFU or TFLOP/s figure is turned into a step time with the model
     * FLOPs per step the source divided by: 3 x 2 FLOPs per multiply-add of
     * the active weights plus the attention scores, over S/2 keys (causal:
     * moeplan's count and Megatron-LM's num_floating_point_operations from
     * core_r0.12.0) or over all S keys where the record says its source
     * counted so (the same function through core_r0.11.0; cost.c,
     * mp_cost_model_fwd_flops_per_token).  A source that counted otherwise
     * still shows up as an error of the ratio of the two counts. */
    double gpus = run->lay.gpus;
    double flops = run->flops_all_keys ? 3.0 *
                                             mp_cost_model_fwd_flops_per_token(&run->model, &c.params,
                                                                               (double)run->seq_len, true) *
                                             r.tokens_per_step
                                       : r.model_flops_per_step;
    switch (run->basis) {
    case MP_MEASURED_MFU:
        res->measured_step_s = flops / (run->measured_value * run->measured_peak_flops * gpus);
        break;
    case MP_MEASURED_TFLOPS:
        res->measured_step_s = flops / (run->measured_value * 1e12 * gpus);
        break;
    default:
        res->measured_step_s = run->measured_step_s;
    }
    res->error = res->measured_step_s > 0 ? res->predicted_step_s / res->measured_step_s - 1 : 0;
    double terms[] = {r.t_compute_s, r.t_memory_s, r.t_comm_s, r.t_bubble_s};
    int best = 0;
    for (int i = 1; i < 4; i++)
        if (terms[i] > terms[best])
            best = i;
    res->dominant = names[best];
    res->dominant_fraction = r.t_total_s > 0 ? terms[best] / r.t_total_s : 0;
    if (run->measured_memory_bytes > 0) {
        /* torch.cuda.max_memory_allocated counts allocations: no CUDA
         * context, no allocator reserve or fragmentation. */
        const mp_memory *m = run->memory_last_rank ? &r.mem_last : &r.mem;
        res->predicted_memory_bytes = m->weights_bytes + m->gradients_bytes + m->optimizer_bytes +
                                      m->activations_bytes + m->comm_buffer_bytes;
        res->memory_error = res->predicted_memory_bytes / run->measured_memory_bytes - 1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mp_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void mp_error_stats_of(const double *errors, int n, mp_error_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n <= 0)
        return;
    double *a = malloc((size_t)n * sizeof *a), *s = malloc((size_t)n * sizeof *s);
    if (!a || !s) {
        free(a);
        free(s);
        return;
    }
    for (int i = 0; i < n; i++) {
        s[i] = errors[i];
        a[i] = fabs(errors[i]);
        out->mean_abs += a[i] / n;
        if (a[i] > out->max_abs)
            out->max_abs = a[i];
    }
    out->median_abs = mp_median(a, n);
    out->median_signed = mp_median(s, n);
    free(a);
    free(s);
}
