#include "moeplan/report.h"

#include <math.h>
#include <string.h>

#include "moeplan/units.h"

/* 0 marks a value the planner had not chosen when it rejected a layout. */
static const char *num_or_star(int v, char *buf, size_t len)
{
    if (v > 0)
        snprintf(buf, len, "%d", v);
    else
        snprintf(buf, len, "*");
    return buf;
}

void mp_report_layout_line(const mp_layout *l, char *buf, size_t len)
{
    char a[9][16];
    char ppbuf[48];
    snprintf(ppbuf, sizeof ppbuf, "%s", num_or_star(l->pp, a[3], 16));
    if (mp_layout_uneven(l)) /* first/middle.../last layers, e.g. pp16(3+..+4) */
        snprintf(ppbuf, sizeof ppbuf, "%d(%d+..+%d)", l->pp, l->pp_first, l->pp_last);
    snprintf(buf, len, "tp%s cp%s dp%s pp%s | etp%s ep%s edp%s | vpp%s mb%s rc:%s%s%s", num_or_star(l->tp, a[0], 16),
             num_or_star(l->cp, a[1], 16), num_or_star(l->dp, a[2], 16), ppbuf,
             num_or_star(l->etp, a[4], 16), num_or_star(l->ep, a[5], 16), num_or_star(l->edp, a[6], 16),
             num_or_star(l->vpp, a[7], 16), num_or_star(l->micro_batch, a[8], 16), mp_recompute_name(l->recompute),
             l->sequence_parallel ? " sp" : "", l->distributed_optimizer ? " dopt" : "");
}

json_t *mp_report_layout_json(const mp_layout *l)
{
    json_t *j = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:b,s:b}", "gpus", l->gpus, "tp", l->tp,
                          "pp", l->pp, "dp", l->dp, "cp", l->cp, "ep", l->ep, "etp", l->etp, "edp", l->edp, "vpp",
                          l->vpp, "micro_batch", l->micro_batch, "num_micro_batches", l->num_micro_batches,
                          "recompute", mp_recompute_name(l->recompute), "sequence_parallel", l->sequence_parallel,
                          "distributed_optimizer", l->distributed_optimizer);
    if (mp_layout_uneven(l)) {
        json_object_set_new(j, "pp_first_layers", json_integer(l->pp_first));
        json_object_set_new(j, "pp_last_layers", json_integer(l->pp_last));
    }
    return j;
}

void mp_report_json_write(FILE *f, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    if (s) {
        fputs(s, f);
        fputc('\n', f);
        free(s);
    }
}

/* A model without dense (or MoE) layers has no such block to list. */
static bool block_present(const mp_cost_ctx *c, mp_block b)
{
    return mp_cost_block_present(c, b);
}

static json_t *op_json(const mp_op *o)
{
    json_t *j = json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "name", o->name, "kind",
                          o->kind == MP_OP_MATMUL      ? "matmul"
                          : o->kind == MP_OP_ATTENTION ? "attention"
                          : o->kind == MP_OP_MEMORY    ? "memory"
                                                       : "collective",
                          "fwd_flops", o->fwd_flops, "bwd_flops", o->bwd_flops, "fwd_hbm_bytes", o->fwd_hbm_bytes,
                          "bwd_hbm_bytes", o->bwd_hbm_bytes, "fwd_s", o->fwd_s, "bwd_s", o->bwd_s, "saved_bytes",
                          o->saved_bytes, "transient_bytes", o->transient_bytes);
    if (o->kind == MP_OP_MATMUL)
        json_object_set_new(j, "gemm", json_pack("{s:f,s:f,s:f,s:i}", "m", o->m, "n", o->n, "k", o->k, "batch",
                                                 o->batch));
    if (o->kind == MP_OP_COMM)
        json_object_set_new(j, "collective",
                            json_pack("{s:s,s:s,s:s,s:i,s:b,s:b,s:f,s:f}", "fwd", mp_coll_name(o->coll), "bwd",
                                      mp_coll_name(o->bwd_coll), "group", mp_group_name(o->group), "group_size",
                                      o->group_size, "inter_node", o->inter_node, "overlapped", o->overlapped,
                                      "fwd_bytes", o->fwd_comm_bytes, "bwd_bytes", o->bwd_comm_bytes));
    return j;
}

static json_t *mem_json(const mp_memory *m)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "weights", m->weights_bytes, "gradients",
                     m->gradients_bytes, "optimizer", m->optimizer_bytes, "activations", m->activations_bytes,
                     "other", m->other_bytes, "comm_buffers", m->comm_buffer_bytes, "reserved", m->reserved_bytes,
                     "fragmentation", m->fragmentation_bytes, "total", m->total_bytes, "capacity",
                     m->capacity_bytes);
}

json_t *mp_report_explain_json(const mp_cost_ctx *c, const mp_cost *r, bool ops)
{
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(c->model->name));
    json_object_set_new(j, "hardware", json_string(c->hw->name));
    json_object_set_new(j, "params_total", json_real(r->params.total));
    json_object_set_new(j, "params_active_per_token", json_real(r->params.active_per_token));
    json_object_set_new(j, "params_per_gpu", json_real(r->mem.params));
    json_object_set_new(j, "layout", mp_report_layout_json(&c->lay));
    json_object_set_new(j, "seq_len", json_integer(r->seq_len));
    json_object_set_new(j, "memory_per_gpu_bytes", mem_json(&r->mem));
    json_object_set_new(j, "memory_stage", json_integer(r->worst_mem_stage));
    json_object_set_new(j, "fits", json_boolean(r->fits));
    json_object_set_new(j, "headroom_bytes", json_real(r->headroom_bytes));
    json_object_set_new(j, "flops_per_step", json_real(r->model_flops_per_step));
    json_object_set_new(j, "hardware_flops_per_step", json_real(r->hw_flops_per_step));
    json_object_set_new(j, "time_per_step_s",
                        json_pack("{s:f,s:f,s:f,s:f,s:f}", "compute", r->t_compute_s, "memory_bound", r->t_memory_s,
                                  "communication", r->t_comm_s, "bubble", r->t_bubble_s, "total", r->t_total_s));
    json_object_set_new(j, "communication_s",
                        json_pack("{s:f,s:f,s:f,s:f,s:f}", "tp", r->t_tp_s, "ep", r->t_ep_s, "cp", r->t_cp_s, "pp",
                                  r->t_pp_s, "dp", r->t_dp_s));
    json_object_set_new(j, "tokens_per_s", json_real(r->tokens_per_s));
    json_object_set_new(j, "sequences_per_s", json_real(r->sequences_per_s));
    json_object_set_new(j, "mfu", json_real(r->mfu));
    {
        char lines[MP_MAX_ASSUMPTIONS][320];
        int n = mp_report_assumptions(c, NULL, lines);
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(a, json_string(lines[i]));
        json_object_set_new(j, "assumptions", a);
    }
    if (ops) {
        json_t *blocks = json_object();
        for (int b = 0; b < MP_BLOCK_COUNT; b++) {
            if (!block_present(c, (mp_block)b))
                continue;
            mp_op o[MP_MAX_OPS];
            size_t n = mp_cost_block_ops(c, (mp_block)b, o);
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, op_json(&o[i]));
            json_object_set_new(blocks, mp_block_name((mp_block)b), a);
        }
        json_object_set_new(j, "ops_per_micro_batch", blocks);
    }
    return j;
}

int mp_report_assumptions(const mp_cost_ctx *c, const mp_sources *src, char lines[][320])
{
    const mp_model *m = c->model;
    const mp_workload *w = c->wl;
    const mp_hardware *hw = c->hw;
    int n = 0;
#define LINE(...) do { if (n < MP_MAX_ASSUMPTIONS) snprintf(lines[n++], 320, __VA_ARGS__); } while (0)
    LINE("hardware %s: %.0f TFLOP/s x mfu %.2f; HBM %.2f TB/s x %.2f; %d GPUs/node; %.0f GB/s intra, %.0f GB/s inter "
         "per GPU",
         hw->name, hw->peak_flops / 1e12, hw->mfu, hw->memory_bw_bytes_per_s / 1e12, hw->bw_utilization,
         hw->gpus_per_node, hw->intra_bw_bytes_per_s / 1e9, hw->inter_bw_bytes_per_s / 1e9);
    LINE("rank order tp < cp < dp < pp and etp < ep < edp (Megatron-LM); a ring spanning nodes moves min(NVLink, "
         "members per node x NIC) per GPU; all-to-all traffic off the node goes through each GPU's NIC");
    LINE("Megatron-LM defaults for overlap: TP backward collectives hidden behind the GEMMs they feed (only the "
         "excess counts); TP forward, EP and 1F1B pipeline transfers exposed; interleaved pipeline transfers and "
         "the CP K/V ring overlapped");
    if (hw->attention_efficiency != hw->mfu)
        LINE("attention kernels at %.2f of peak, other matrix products at %.2f", hw->attention_efficiency, hw->mfu);
    LINE("sequences packed to %ld tokens; causal attention (each query sees S/2 keys on average)%s", c->seq_len,
         w->flash_attention ? "; flash attention" : "; attention scores materialised");
    if (m->num_experts > 0)
        LINE("expert load at the busiest rank: %.2f x mean (%s)", c->expert_load,
             w->capacity_factor > 0 ? "capacity factor, padded to capacity" : "dropless, routing_imbalance");
    LINE("memory allowance: %.2f GiB reserved (CUDA context, NCCL, framework) + %.0f%% fragmentation",
         hw->reserved_bytes / 1073741824.0, 100 * hw->fragmentation);
    for (int i = 0; i < m->num_notes; i++)
        LINE("model: %s", m->notes[i]);
    if (src)
        LINE("files: model %s, hardware %s, workload %s", src->model_path ? src->model_path : "(built-in)",
             src->hardware_path ? src->hardware_path : "(built-in)",
             src->workload_path ? src->workload_path : "(built-in)");
#undef LINE
    return n;
}

static void row_bytes(FILE *f, const char *label, double bytes, const char *note)
{
    char a[32], b[32];
    mp_fmt_bytes(bytes, a, sizeof a);
    mp_fmt_gib(bytes, b, sizeof b);
    fprintf(f, "  %-16s %12s %12s  %s\n", label, a, b, note);
}

static void row_time(FILE *f, const char *label, double s, double total, const char *note)
{
    char a[32];
    mp_fmt_seconds(s, a, sizeof a);
    fprintf(f, "  %-16s %12s %6.1f%%  %s\n", label, a, total > 0 ? 100.0 * s / total : 0.0, note);
}

static void print_ops(FILE *f, const mp_cost_ctx *c)
{
    fprintf(f, "\nOps per micro-batch on one GPU (forward / backward; FLOPs per GPU)\n");
    for (int b = 0; b < MP_BLOCK_COUNT; b++) {
        if (!block_present(c, (mp_block)b))
            continue;
        mp_op o[MP_MAX_OPS];
        size_t n = mp_cost_block_ops(c, (mp_block)b, o);
        fprintf(f, "  [%s]\n", mp_block_name((mp_block)b));
        fprintf(f, "    %-20s %-28s %12s %12s %10s %10s %10s\n", "op", "shape / collective", "fwd FLOP", "HBM fwd",
                "fwd", "bwd", "saved");
        for (size_t i = 0; i < n; i++) {
            char shape[64], fl[32], hb[32], tf[32], tb[32], sv[32];
            if (o[i].kind == MP_OP_MATMUL)
                snprintf(shape, sizeof shape, "%s%.0fx%.0fx%.0f", o[i].batch > 1 ? "grouped " : "", o[i].m, o[i].k,
                         o[i].n);
            else if (o[i].kind == MP_OP_COMM)
                snprintf(shape, sizeof shape, "%s %s%d%s", mp_coll_name(o[i].coll != MP_COLL_NONE ? o[i].coll
                                                                                            : o[i].bwd_coll),
                         mp_group_name(o[i].group), o[i].group_size, o[i].inter_node ? " inter" : "");
            else
                snprintf(shape, sizeof shape, "%s", o[i].kind == MP_OP_ATTENTION ? "attention" : "memory-bound");
            mp_fmt_flops(o[i].fwd_flops, fl, sizeof fl);
            mp_fmt_bytes(o[i].kind == MP_OP_COMM ? o[i].fwd_comm_bytes : o[i].fwd_hbm_bytes, hb, sizeof hb);
            mp_fmt_seconds(o[i].fwd_s, tf, sizeof tf);
            mp_fmt_seconds(o[i].bwd_s, tb, sizeof tb);
            mp_fmt_bytes(o[i].saved_bytes, sv, sizeof sv);
            fprintf(f, "    %-20s %-28s %12s %12s %10s %10s %10s\n", o[i].name, shape, fl, hb, tf, tb, sv);
        }
    }
}

void mp_report_explain_text(FILE *f, const mp_cost_ctx *c, const mp_cost *r, const mp_sources *src, bool ops)
{
    const mp_model *m = c->model;
    const mp_layout *l = &c->lay;
    const mp_workload *w = c->wl;
    const mp_hardware *hw = c->hw;
    char a[32], b[32], d[32];
    fprintf(f, "moeplan explain: %s on %d x %s\n\n", m->name, l->gpus, hw->name);
    fprintf(f, "model     %d layers (%d MoE, %d dense), hidden %lld, %lld heads x %lld (kv %lld)%s, vocab %lld%s\n",
            m->num_layers, r->params.moe_layers, r->params.dense_layers, (long long)m->hidden,
            (long long)m->num_heads, (long long)mp_model_qk_head_dim(m),
            (long long)(m->attn == MP_ATTN_MLA ? m->num_heads : m->num_kv_heads), m->attn == MP_ATTN_MLA ? " MLA" : "",
            (long long)m->vocab, m->tied_embeddings ? " (tied)" : "");
    if (m->num_experts > 0)
        fprintf(f, "          %lld experts, top-%lld, expert width %lld (%s)%s\n", (long long)m->num_experts,
                (long long)m->top_k, (long long)m->expert_hidden, m->gated_mlp ? "gated, 3 matrices" : "2 matrices",
                m->num_shared_experts ? ", with shared experts" : "");
    mp_fmt_count(r->params.total, a, sizeof a);
    mp_fmt_count(r->params.active_per_token, b, sizeof b);
    mp_fmt_count(r->mem.params, d, sizeof d);
    fprintf(f, "params    %s total, %s active per token, %s on the most loaded GPU\n", a, b, d);
    fprintf(f, "workload  %ld sequences x %ld tokens per step (range %ld-%ld: memory and time at %ld, sequences packed)\n",
            w->global_batch, r->seq_len, w->seq_min, w->seq_max, r->seq_len);
    double bpp = w->weight_bytes + w->grad_bytes + w->master_bytes + w->optim_state_bytes;
    fprintf(f, "          %s, %s: %g B/param = %g weight + %g gradient + %g master + %g optimizer states%s\n",
            w->precision, w->optimizer, bpp, w->weight_bytes, w->grad_bytes, w->master_bytes, w->optim_state_bytes,
            w->flash_attention ? ", flash attention" : "");
    fprintf(f, "layout    %d GPUs = tp %d x cp %d x dp %d x pp %d; experts: etp %d x ep %d x edp %d per stage\n",
            l->gpus, l->tp, l->cp, l->dp, l->pp, l->etp, l->ep, l->edp);
    if (mp_layout_uneven(l))
        fprintf(f, "          uneven pipeline: %d layers on the first rank, %d on the last, %d on each other\n",
                l->pp_first, l->pp_last,
                l->pp > 2 ? (m->num_layers - l->pp_first - l->pp_last) / (l->pp - 2) : 0);
    fprintf(f, "          vpp %d, micro-batch %d -> %d micro-batches, recompute %s, sequence parallel %s, "
               "distributed optimizer %s\n",
            l->vpp, l->micro_batch, l->num_micro_batches, mp_recompute_name(l->recompute),
            l->sequence_parallel ? "on" : "off", l->distributed_optimizer ? "on" : "off");

    const mp_memory *mm = &r->mem;
    fprintf(f, "\nMemory per GPU: pipeline rank %d of %d (the most loaded)       SI (GB)     IEC (GiB)\n",
            r->worst_mem_stage, l->pp);
    char note[160];
    mp_fmt_count(mm->params, a, sizeof a);
    snprintf(note, sizeof note, "%s params x %g B", a, w->weight_bytes);
    row_bytes(f, "weights", mm->weights_bytes, note);
    snprintf(note, sizeof note, "x %g B (fp32 main gradients)", w->grad_bytes);
    row_bytes(f, "gradients", mm->gradients_bytes, note);
    if (l->distributed_optimizer)
        snprintf(note, sizeof note, "%g B/param, sharded over dp*cp %d (dense) and edp %d (experts)",
                 w->master_bytes + w->optim_state_bytes, l->dp * l->cp, l->edp);
    else
        snprintf(note, sizeof note, "%g B/param, not sharded", w->master_bytes + w->optim_state_bytes);
    row_bytes(f, "optimizer", mm->optimizer_bytes, note);
    snprintf(note, sizeof note, "%g micro-batch chunk(s) in flight%s", mm->inflight_units,
             l->recompute == MP_RECOMPUTE_FULL ? " + one layer recomputed" : "");
    row_bytes(f, "activations", mm->activations_bytes, note);
    row_bytes(f, "comm buffers", mm->comm_buffer_bytes, "largest collective / permutation buffer");
    row_bytes(f, "reserved", mm->reserved_bytes, "CUDA context, NCCL, framework (hardware file)");
    snprintf(note, sizeof note, "%.0f%% of allocations", 100 * hw->fragmentation);
    row_bytes(f, "fragmentation", mm->fragmentation_bytes, note);
    row_bytes(f, "total", mm->total_bytes, "");
    row_bytes(f, "capacity", mm->capacity_bytes, "");
    snprintf(note, sizeof note, "%s (%.1f%% of capacity)", r->fits ? "fits" : "DOES NOT FIT",
             100.0 * r->headroom_bytes / mm->capacity_bytes);
    row_bytes(f, "headroom", r->headroom_bytes, note);
    if (l->pp > 1) {
        mp_fmt_bytes(r->mem_first.total_bytes, a, sizeof a);
        mp_fmt_bytes(r->mem_last.total_bytes, b, sizeof b);
        fprintf(f, "  (first pipeline rank %s with the embedding, last rank %s with the output layer)\n", a, b);
    }
    mp_fmt_bytes(r->act_layer_moe_bytes, a, sizeof a);
    mp_fmt_bytes(r->act_layer_dense_bytes, b, sizeof b);
    if (r->params.moe_layers && r->params.dense_layers)
        fprintf(f, "  (activations per layer per micro-batch: MoE %s, dense %s)\n", a, b);
    else
        fprintf(f, "  (activations per layer per micro-batch: %s)\n", r->params.moe_layers ? a : b);

    double tot = r->t_total_s;
    fprintf(f, "\nTime per step: slowest pipeline rank %d, %d micro-batches\n", r->slowest_stage, l->num_micro_batches);
    row_time(f, "compute", r->t_compute_s, tot, "matmuls and attention at peak x mfu (roofline)");
    row_time(f, "memory-bound", r->t_memory_s, tot, "norms, activations, permutation, optimizer step");
    snprintf(note, sizeof note, "the exposed part: overlap as in the assumptions (DP %s)",
             w->overlap_grad_reduce ? "overlapped" : "exposed");
    row_time(f, "communication", r->t_comm_s, tot, note);
    row_time(f, "  tp", r->t_tp_s, tot, "");
    row_time(f, "  ep (+etp)", r->t_ep_s, tot, "");
    if (l->cp > 1)
        row_time(f, "  cp", r->t_cp_s, tot, "exposed part of the K/V ring");
    if (l->pp > 1)
        row_time(f, "  pp", r->t_pp_s, tot, "");
    row_time(f, "  dp", r->t_dp_s, tot, "gradient reduction once per step");
    snprintf(note, sizeof note, "fill and drain: (sum of ranks - slowest) / v, ~(p-1)/v = %g micro-batch times",
             (double)(l->pp - 1) / l->vpp);
    row_time(f, "pipeline bubble", r->t_bubble_s, tot, note);
    row_time(f, "total", tot, tot, "");

    mp_fmt_flops(r->model_flops_per_step, a, sizeof a);
    mp_fmt_flops(r->hw_flops_per_step, b, sizeof b);
    fprintf(f, "\nThroughput  %.0f tokens/s, %.3f sequences/s, %.0f tokens/s per GPU\n", r->tokens_per_s,
            r->sequences_per_s, r->tokens_per_s / l->gpus);
    fprintf(f, "FLOPs       %s model, %s hardware per step; MFU %.1f%% (model FLOPs / (step time x GPUs x peak))\n", a,
            b, 100 * r->mfu);
    if (ops)
        print_ops(f, c);

    char lines[MP_MAX_ASSUMPTIONS][320];
    int n = mp_report_assumptions(c, src, lines);
    fprintf(f, "\nAssumptions\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "  - %s\n", lines[i]);
}
