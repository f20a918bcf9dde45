/* A layout as the configuration of the framework that runs it.
 *
 * Sources (the option names, and what each framework runs):
 *  [MG] NVIDIA/Megatron-LM at d98e8a64ddf3: megatron/training/arguments.py
 *       (_add_distributed_args, validate_args), TransformerConfig.
 *  [TT] pytorch/torchtitan v0.2.2 (73a0e697): torchtitan/config/job_config.py
 *       (Parallelism, ActivationCheckpoint, Training), distributed/
 *       parallel_dims.py (ParallelDims._validate), models/llama3/infra/
 *       parallelize.py (apply_fsdp), train.py (gradient accumulation).
 *  [DS] microsoft/DeepSpeed 0.16.5 (38327e07): deepspeed/runtime/zero/
 *       config.py (DeepSpeedZeroConfig, extra="forbid"), runtime/constants.py,
 *       runtime/pipe/engine.py (PipelineEngine: "ZeRO-2 and ZeRO-3 are
 *       incompatible with pipeline parallelism"), runtime/pipe/schedule.py
 *       (TrainSchedule, one stage a rank), runtime/pipe/module.py
 *       (PipelineModule._partition_layers: uniform, parameters, type:).
 */
#include "moeplan/emit.h"

#include "moeplan/cost.h"

#include <stdio.h>
#include <string.h>

bool mp_emit_parse(const char *name, mp_emit_kind *out)
{
    static const char *const names[] = {"megatron", "torchtitan", "deepspeed"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            *out = (mp_emit_kind)i;
            return true;
        }
    return false;
}

const char *mp_emit_name(mp_emit_kind k)
{
    return k == MP_EMIT_TORCHTITAN ? "torchtitan" : k == MP_EMIT_DEEPSPEED ? "deepspeed" : "megatron";
}

const char *mp_emit_title(mp_emit_kind k)
{
    return k == MP_EMIT_TORCHTITAN  ? "TorchTitan job config (TOML, torchtitan v0.2.2)"
           : k == MP_EMIT_DEEPSPEED ? "DeepSpeed config (JSON, DeepSpeed 0.16.5)"
                                    : "Megatron-LM arguments";
}

#define WHY(...) do { snprintf(why, why_len, __VA_ARGS__); return false; } while (0)

static bool megatron_runs(const mp_model *m, const mp_workload *w, const mp_layout *l, char *why, size_t why_len)
{
    if (mp_cost_shard_blocking(w, l))
        WHY("zero3_blocking_fetch prices DeepSpeed 0.3-0.4's unprefetched ZeRO-3; Megatron-LM's sharded data "
            "parallelism prefetches (--emit deepspeed writes it without prefetch)");
    /* The MLP activations Megatron-LM's arguments name (arguments.py at
     * d98e8a64ddf3): GELU (the default), --swiglu (silu-gated),
     * --squared-relu, --quick-geglu (gated x sigmoid(1.702 x)). */
    switch (mp_model_activation(m)) {
    case MP_ACT_RELU:
        WHY("Megatron-LM has no flag for a ReLU MLP (GELU by default, --swiglu, --squared-relu, --quick-geglu)");
    case MP_ACT_GEGLU:
        WHY("Megatron-LM has no flag for a GELU-gated MLP (--swiglu gates with SiLU, --quick-geglu with quick GELU)");
    case MP_ACT_OTHER:
        if (m->gated_mlp)
            WHY("the model's gated MLP activation (e.g. gpt-oss's clamped SwiGLU) has no Megatron-LM flag; moeplan "
                "prices it as SwiGLU");
        WHY("the model's MLP activation has no Megatron-LM flag (GELU by default, --squared-relu); moeplan prices it "
            "as GELU");
    default:
        break;
    }
    if (m->window_kind == MP_WINDOW_CHUNKED)
        WHY("Megatron-LM has no chunked attention (Llama 4's); its --window-size is a sliding window");
    /* Routers Megatron-LM cannot be told (megatron/core/transformer/
     * transformer_config.py's checks and moe/moe_utils.py's
     * topk_routing_with_score_function, at d98e8a64ddf3). */
    if (m->num_experts > 0) {
        if (m->router_expert_bias && !m->router_sigmoid)
            WHY("the router's expert bias (topk_method noaux_tc) with softmax scores: Megatron-LM takes "
                "--moe-router-enable-expert-bias only with --moe-router-score-function sigmoid");
        if (m->router_sigmoid && m->router_pre_softmax)
            WHY("sigmoid scores without renormalisation (norm_topk_prob false): Megatron-LM always renormalises "
                "sigmoid top-k scores");
        if (m->top_k == 1 && !m->router_sigmoid && !m->router_pre_softmax)
            WHY("a renormalised top-1 router (its expert weighted 1): Megatron-LM needs --moe-router-pre-softmax at "
                "top-1, which weights the expert by its softmax probability");
    }
    /* The model's parts Megatron-LM's flags cannot name: biases come all
     * (the default), none (--disable-bias-linear) or on Q, K and V only
     * (--add-qkv-bias); its LayerNorm has a bias; --qk-layernorm is per
     * head. */
    bool all_bias = m->qkv_bias && m->out_bias && m->mlp_bias, no_bias = !m->qkv_bias && !m->out_bias && !m->mlp_bias;
    if (!all_bias && !no_bias && !(m->qkv_bias && !m->out_bias && !m->mlp_bias))
        WHY("biases on %s%s%s%s%s only: Megatron-LM puts them on every linear layer, none (--disable-bias-linear) "
            "or on Q, K and V alone (--add-qkv-bias)",
            m->qkv_bias ? "Q, K and V" : "", m->qkv_bias && m->out_bias ? " and " : "",
            m->out_bias ? "the output projection" : "", (m->qkv_bias || m->out_bias) && m->mlp_bias ? " and " : "",
            m->mlp_bias ? "the MLP" : "");
    if (m->norm == MP_NORM_LAYER && m->norm_no_bias)
        WHY("LayerNorm without a bias (DBRX's): Megatron-LM's LayerNorm has one");
    if (m->qk_norm && m->qk_norm_full)
        WHY("a Q/K norm over the whole projection (OLMoE's): Megatron-LM's --qk-layernorm normalises each head");
    if (m->lm_head_bias)
        WHY("a bias on the output layer (Phi-3.5-MoE's): Megatron-LM has no flag for it");
    if (m->post_norms)
        WHY("norms after attention and after the MLP (Grok-1's): Megatron-LM has no flag for them");
    if (m->attn_sinks)
        WHY("attention sinks (gpt-oss's): moeplan's pinned Megatron-LM has no flag for them");
    if (m->learned_positions <= 0 && m->rope_theta > 0 && m->rope_theta != (double)(long long)m->rope_theta)
        WHY("rope_theta %g is not a whole number: Megatron-LM's --rotary-base is an int", m->rope_theta);
    if (l->zero >= 2 && l->pp > 1)
        WHY("Megatron-FSDP has no test with pipeline parallelism (every functional test with --use-megatron-fsdp "
            "runs pp 1, at d98e8a64ddf3); --emit torchtitan runs FSDP with pp %d", l->pp);
    if (l->zero == 3 && mp_cost_keeps_gathered(w, l))
        WHY("fsdp_reshard_after_forward: never has no Megatron-FSDP flag (it gathers each layer again for the "
            "backward); --emit torchtitan sets it");
    return true;
}

static bool torchtitan_runs(const mp_model *m, const mp_workload *w, const mp_layout *l, char *why, size_t why_len)
{
    /* [TT] components/optimizer.py builds "Adam" or "AdamW" only. */
    if (!strcmp(w->optimizer, "sgd"))
        WHY("TorchTitan's optimizers are Adam and AdamW; the workload's is sgd");
    if (l->zero == 1 || l->zero == 2)
        WHY("TorchTitan shards with FSDP2 (ZeRO-3) or replicates (DDP); it has no ZeRO-%d: choose --zero 3 or 0",
            l->zero);
    if (strcmp(w->precision, "bf16"))
        WHY("TorchTitan's mixed_precision_param is bfloat16 or float32; the workload is %s", w->precision);
    int sd = l->shard_group ? l->shard_group : l->dp * l->cp;
    if (l->zero == 3 && sd % l->cp)
        WHY("TorchTitan shards over dp_shard x cp: the sharding group (%d) must be a multiple of cp (%d)", sd, l->cp);
    /* ParallelDims._validate: "if ep > 1: assert etp == tp or etp == 1",
     * and ep borrows its ranks from dp_shard x cp (etp == tp) or from
     * dp_shard x cp x tp (etp == 1), so it must be a multiple of those
     * it borrows across. */
    if (m->num_experts > 0 && l->ep > 1 && l->etp != l->tp && l->etp != 1)
        WHY("TorchTitan needs etp equal to tp (%d) or 1 with expert parallelism, not %d", l->tp, l->etp);
    if (m->num_experts > 0 && l->ep > 1 && l->etp == l->tp && l->ep % l->cp)
        WHY("TorchTitan needs ep (%d) a multiple of cp (%d) when etp is tp", l->ep, l->cp);
    if (m->num_experts > 0 && l->ep > 1 && l->etp == 1 && l->tp > 1 && l->ep % (l->cp * l->tp))
        WHY("TorchTitan needs ep (%d) a multiple of cp x tp (%d) when etp is 1", l->ep, l->cp * l->tp);
    if (w->fp8 != MP_FP8_NONE)
        WHY("moeplan writes no TorchTitan float8 converter: the FP8 workload would run in bf16");
    if (mp_cost_shard_blocking(w, l))
        WHY("zero3_blocking_fetch prices DeepSpeed 0.3-0.4's unprefetched ZeRO-3; TorchTitan's FSDP2 prefetches");
    /* [TT] models/attention.py, ScaledDotProductAttentionWrapper: SDPA with
     * the cuDNN and flash backends first, not a job-config setting. */
    if (!w->flash_attention)
        WHY("TorchTitan's attention runs SDPA's fused kernels (cuDNN, flash) first, set in the model code, not the "
            "job config; the workload prices flash_attention: false (the scores materialised)");
    if (l->tp > 1 && !l->sequence_parallel)
        WHY("TorchTitan's tensor parallelism always shards the norms' sequence (sequence parallelism); the layout "
            "has it off");
    if (l->recompute == MP_RECOMPUTE_SELECTIVE && l->recompute_modules && l->recompute_modules != MP_RC_CORE_ATTN)
        WHY("TorchTitan's selective checkpointing is per op or per layer, not Megatron's module list");
    if (l->zero == 0 && (l->tp > 1 || l->cp > 1 || l->pp > 1 || l->ep > 1))
        WHY("TorchTitan's DDP runs alone (\"DDP has not supported > 1D parallelism\"): use --zero 3 with model "
            "parallelism");
    return true;
}

static bool deepspeed_runs(const mp_workload *w, const mp_layout *l, char *why, size_t why_len)
{
    if (w->fp8 != MP_FP8_NONE)
        WHY("moeplan writes DeepSpeed's bf16 or fp16 config only: the FP8 workload would run without FP8");

    if (l->zero >= 2 && l->pp > 1)
        WHY("DeepSpeed's PipelineEngine asserts \"ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism\"");
    /* [DS] TrainSchedule runs one stage a rank: no interleaving.  The
     * stages are PipelineModule's partition_method, chosen in the model
     * code: 'type:transformer' (as Megatron-DeepSpeed's GPTModelPipe
     * passes) balances the transformer layers, moeplan's even split; no
     * method takes given first and last counts. */
    if (l->pp > 1 && l->vpp > 1)
        WHY("DeepSpeed's PipelineEngine runs one stage a rank (TrainSchedule): no interleaved pipeline (vpp %d)",
            l->vpp);
    if (mp_layout_uneven(l))
        WHY("DeepSpeed's PipelineModule splits by a partition_method (uniform, parameters, type:...), not %d and %d "
            "layers on the first and last ranks",
            l->pp_first, l->pp_last);
    if (l->cp > 1)
        WHY("DeepSpeed's sequence parallelism is Ulysses (an all-to-all over heads), not the ring context "
            "parallelism moeplan prices for cp %d", l->cp);
    if (l->shard_group && l->zero != 3)
        WHY("DeepSpeed shards within groups (MiCS, mics_shard_size) only at ZeRO stage 3, not %d", l->zero);
    if (l->zero == 3 && w->fsdp_reshard == MP_RESHARD_NEVER)
        WHY("fsdp_reshard_after_forward: never has no DeepSpeed ZeRO-3 setting moeplan writes (stage 3 gathers "
            "each layer again for the backward)");
    return true;
}

/* [TT] job_config.py, one section per dataclass.  Batch: local_batch_size
 * sequences per data-parallel rank per step; without pipeline parallelism
 * train.py accumulates global_batch_size / (local_batch_size x dp) micro-
 * batches of local_batch_size, so local_batch_size is the micro-batch; with
 * it the schedule splits local_batch_size into micro-batches of
 * pipeline_parallel_microbatch_size (distributed/pipeline_parallel.py). */
static size_t torchtitan_toml(const mp_model *m, const mp_workload *w, const mp_layout *l, char *buf, size_t len)
{
    size_t n = 0;
#define ADD(...) do { if (n < len) n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); } while (0)
    int ndp = l->dp * l->cp;
    int sd = l->zero == 3 ? (l->shard_group ? l->shard_group : ndp) : 1;
    int replicate = l->zero == 3 ? ndp / sd : l->dp;
    char name[128];
    size_t k = 0;
    for (const char *p = m->name; *p && k + 1 < sizeof name; p++) /* a comment: one printable line */
        name[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    name[k] = 0;
    ADD("# moeplan: %s, %d GPU%s; the [model] name and flavor are those of the TorchTitan model that\n"
        "# implements it (moeplan does not map models to flavors)\n", name, l->gpus, mp_plural(l->gpus));
    ADD("[training]\nlocal_batch_size = %d\nglobal_batch_size = %ld\nseq_len = %ld\nmax_norm = 1.0\n"
        "mixed_precision_param = \"bfloat16\"\nmixed_precision_reduce = \"float32\"\n",
        l->pp > 1 ? l->micro_batch * l->num_micro_batches : l->micro_batch, w->global_batch, w->seq_max);
    ADD("\n[parallelism]\ndata_parallel_replicate_degree = %d\ndata_parallel_shard_degree = %d\n", replicate,
        l->zero == 3 ? sd / l->cp : 1);
    if (l->zero == 3) {
        static const char *const rs[] = {"default", "always", "never"};
        ADD("fsdp_reshard_after_forward = \"%s\"\n", rs[w->fsdp_reshard]);
    }
    ADD("tensor_parallel_degree = %d\ncontext_parallel_degree = %d\npipeline_parallel_degree = %d\n", l->tp, l->cp,
        l->pp);
    if (l->pp > 1) {
        ADD("pipeline_parallel_schedule = \"%s\"\npipeline_parallel_microbatch_size = %d\n",
            l->vpp > 1 ? "Interleaved1F1B" : "1F1B", l->micro_batch);
        /* [TT] distributed/pipeline_parallel.py, pipeline_llm: without
         * module_fqns_per_model_part the layers are split by
         * generate_llm_fqn_per_model_part over layers + first- and
         * last_stage_less_layers (1 each by default: the embedding and the
         * output count as a layer), so 16 layers over pp 4 ran as 4, 5, 4, 3
         * layers, not moeplan's 4, 4, 4, 4, and vpp other than 2 needed
         * pipeline_parallel_layers_per_stage.  The stages moeplan priced are
         * written out instead: pipeline_module_split gives rank r the stages
         * r + k pp ("loop" style, 1F1B and Interleaved1F1B), which is
         * Megatron's chunk k of rank r (mp_layout_chunk), even or uneven. */
        ADD("module_fqns_per_model_part = [\n");
        int stages = l->pp * l->vpp;
        for (int st = 0; st < stages; st++) {
            int first, count;
            mp_layout_chunk(l, m->num_layers, st % l->pp, st / l->pp, &first, &count);
            ADD("  [");
            const char *sep = "";
            if (st == 0) {
                ADD("\"tok_embeddings\"");
                sep = ", ";
            }
            for (int i = first; i < first + count; i++) {
                ADD("%s\"layers.%d\"", sep, i);
                sep = ", ";
            }
            if (st == stages - 1)
                ADD("%s\"norm\", \"output\"", sep);
            ADD("],\n");
        }
        ADD("]\n");
    }
    if (m->num_experts > 0)
        ADD("expert_parallel_degree = %d\nexpert_tensor_parallel_degree = %d\n", l->ep, l->etp);
    /* [TT] ActivationCheckpoint.mode: none, selective, full.  TorchTitan's
     * selective checkpointing is per op ("op": matmul outputs kept, the
     * rest recomputed), not Megatron's attention-core recomputation that
     * moeplan priced: said in the file. */
    static const char *const ac[] = {"none", "selective", "full"};
    ADD("\n[activation_checkpoint]\nmode = \"%s\"\n", ac[l->recompute]);
    if (l->recompute == MP_RECOMPUTE_SELECTIVE)
        ADD("# moeplan priced Megatron's selective recomputation; TorchTitan's per-op one recomputes more\n"
            "selective_ac_option = \"op\"\n");
#undef ADD
    return n;
}

/* [DS] runtime/constants.py and zero/config.py.  train_batch_size =
 * micro-batch x gradient_accumulation_steps x the data-parallel size
 * (DeepSpeed's world_size is the data-parallel group's with an mpu). */
static void deepspeed_json(const mp_workload *w, const mp_layout *l, char *buf, size_t len)
{
    size_t n = 0;
#define ADD(...) do { if (n < len) n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); } while (0)
    ADD("{\n  \"train_batch_size\": %ld,\n  \"train_micro_batch_size_per_gpu\": %d,\n"
        "  \"gradient_accumulation_steps\": %d,\n",
        w->global_batch, l->micro_batch, l->num_micro_batches);
    ADD("  \"%s\": {\"enabled\": true},\n  \"gradient_clipping\": 1.0,\n", strcmp(w->precision, "bf16") ? "fp16" : "bf16");
    ADD("  \"zero_optimization\": {\n    \"stage\": %d", l->zero);
    /* zero3_blocking_fetch: nothing fetched ahead or overlapped, as priced. */
    bool blocking = mp_cost_shard_blocking(w, l);
    bool overlap = (w->overlap_grad_reduce || l->zero == 3) && !blocking;
    if (l->zero >= 1)
        ADD(",\n    \"overlap_comm\": %s,\n    \"contiguous_gradients\": true,\n    \"reduce_scatter\": true",
            overlap ? "true" : "false");
    if (blocking)
        ADD(",\n    \"stage3_prefetch_bucket_size\": 0");
    if (l->zero == 3 && l->shard_group)
        ADD(",\n    \"mics_shard_size\": %d", l->shard_group);
    ADD("\n  }\n}\n");
#undef ADD
}

bool mp_emit(mp_emit_kind k, const mp_model *m, const mp_workload *w, const mp_layout *l, char *buf, size_t len,
             char *why, size_t why_len)
{
    buf[0] = 0;
    why[0] = 0;
    switch (k) {
    case MP_EMIT_MEGATRON:
        if (!megatron_runs(m, w, l, why, why_len))
            return false;
        mp_emit_megatron_args(m, w, l, buf, len);
        return true;
    case MP_EMIT_TORCHTITAN:
        if (!torchtitan_runs(m, w, l, why, why_len))
            return false;
        if (torchtitan_toml(m, w, l, buf, len) >= len) {
            buf[0] = 0;
            snprintf(why, why_len, "the TorchTitan config would be longer than %zu bytes (%d layers listed by stage)",
                     len - 1, m->num_layers);
            return false;
        }
        return true;
    case MP_EMIT_DEEPSPEED:
        if (!deepspeed_runs(w, l, why, why_len))
            return false;
        deepspeed_json(w, l, buf, len);
        return true;
    }
    return false;
}

void mp_emit_megatron_args(const mp_model *m, const mp_workload *w, const mp_layout *l, char *buf, size_t len)
{
    size_t n = 0;
#define ADD(...) do { if (n < len) n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); } while (0)
    ADD("--num-layers %d \\\n--hidden-size %lld \\\n--num-attention-heads %lld \\\n", m->num_layers,
        (long long)m->hidden, (long long)m->num_heads);
    if (m->attn == MP_ATTN_GQA) {
        ADD("--kv-channels %lld \\\n", (long long)m->head_dim);
        if (m->num_kv_heads != m->num_heads)
            ADD("--group-query-attention \\\n--num-query-groups %lld \\\n", (long long)m->num_kv_heads);
    } else {
        ADD("--multi-latent-attention \\\n--kv-lora-rank %lld \\\n--qk-head-dim %lld \\\n--qk-pos-emb-head-dim %lld \\\n"
            "--v-head-dim %lld \\\n",
            (long long)m->kv_lora_rank, (long long)m->qk_nope_head_dim, (long long)m->qk_rope_head_dim,
            (long long)m->v_head_dim);
        if (m->q_lora_rank > 0)
            ADD("--q-lora-rank %lld \\\n", (long long)m->q_lora_rank);
    }
    if (m->ffn_hidden > 0)
        ADD("--ffn-hidden-size %lld \\\n", (long long)m->ffn_hidden);
    if (m->gated_mlp)
        ADD("--swiglu \\\n");
    /* Megatron-LM's defaults are LayerNorm, biases and learned absolute
     * positions: say what this model uses. */
    ADD("--normalization %s \\\n", m->norm == MP_NORM_RMS ? "RMSNorm" : "LayerNorm");
    if (!m->qkv_bias && !m->out_bias && !m->mlp_bias)
        ADD("--disable-bias-linear \\\n");
    else if (m->qkv_bias && !m->out_bias && !m->mlp_bias)
        ADD("--disable-bias-linear \\\n--add-qkv-bias \\\n");
    if (m->qk_norm)
        ADD("--qk-layernorm \\\n");
    ADD("--position-embedding-type %s \\\n",
        m->learned_positions > 0 ? "learned_absolute" : m->no_positions ? "none" : "rope");
    if (m->learned_positions <= 0 && !m->no_positions && m->rope_theta > 0) /* Megatron's default base is 10000 */
        ADD("--rotary-base %.17g \\\n", m->rope_theta); /* an int to Megatron: 1000000, not 1e+06 */
    /* A sliding window of W keys (the query and the W - 1 before it,
     * moeplan's and transformers' sliding_window): TransformerConfig
     * window_size (left, right) = (W - 1, 0), Transformer Engine's keys
     * [i - left, i + right]; on the layers window_attn_skip_freq marks 1
     * when not every layer slides (utils.py is_layer_window_attention). */
    bool any_local = false, all_local = true;
    for (int i = 0; i < m->num_layers; i++) {
        any_local |= m->attn_local[i];
        all_local &= m->attn_local[i];
    }
    if (m->window_kind == MP_WINDOW_SLIDING && any_local) {
        ADD("--window-size %lld,0 \\\n", (long long)m->window - 1);
        if (!all_local) {
            ADD("--window-attn-skip-freq \"[");
            for (int i = 0; i < m->num_layers; i++)
                ADD("%s%d", i ? "," : "", m->attn_local[i] ? 1 : 0);
            ADD("]\" \\\n");
        }
    }
    /* TransformerConfig's hidden_dropout and attention_dropout default to
     * 0.1: a model without dropout says so (moeplan prices no masks). */
    if (!m->dropout)
        ADD("--attention-dropout 0.0 \\\n--hidden-dropout 0.0 \\\n");
    /* Attention without flash (the workload's flash_attention false,
     * scores materialised, as priced): TransformerConfig.attention_backend
     * defaults to auto, Transformer Engine's fused or flash kernels. */
    if (!w->flash_attention)
        ADD("--attention-backend unfused \\\n");
    /* Megatron-LM wants it set even with RoPE (at least the sequence). */
    ADD("--max-position-embeddings %lld \\\n",
        (long long)(m->learned_positions > 0 ? m->learned_positions : w->seq_max));
    if (m->num_experts > 0) {
        ADD("--num-experts %lld \\\n--moe-router-topk %lld \\\n--moe-ffn-hidden-size %lld \\\n", (long long)m->num_experts,
            (long long)m->top_k, (long long)m->expert_hidden);
        if (m->num_shared_experts > 0)
            ADD("--moe-shared-expert-intermediate-size %lld \\\n",
                (long long)(m->num_shared_experts * m->shared_expert_hidden));
        if (m->num_shared_experts > 0 && m->shared_expert_gate) /* Qwen-MoE's sigmoid gate */
            ADD("--moe-shared-expert-gate \\\n");
        ADD("--moe-token-dispatcher-type alltoall \\\n--moe-grouped-gemm \\\n");
        /* The kernels moeplan prices (cost.c, block_moe): the fused permute
         * and router (TransformerConfig moe_permute_fusion,
         * moe_router_fusion, off by default; the CLI flags come from the
         * config at NVIDIA/Megatron-LM d98e8a64ddf3), and the load-balancing
         * loss whose cost block_moe adds, at the model's coefficient
         * (mp_emit_aux_loss_coeff; 0: no balancing loss), per sequence
         * for DeepSeek's seq_aux.  --cross-entropy-loss-fusion is not
         * emitted: the unfused cross entropy is what is priced, and the
         * fused backward casts the gradient to bfloat16 (fusions/
         * fused_cross_entropy.py, calculate_gradients), wrong for fp16. */
        ADD("--moe-permute-fusion \\\n--moe-router-fusion \\\n");
        double coef = mp_emit_aux_loss_coeff(m, NULL);
        ADD("--moe-router-load-balancing-type %s \\\n",
            coef == 0 ? "none" : m->router_seq_aux ? "seq_aux_loss" : "aux_loss");
        if (coef > 0)
            ADD("--moe-aux-loss-coeff %.10g \\\n", coef);
        /* The router as the config has it (model_hf_router.c): sigmoid
         * scores, the aux-loss-free bias, group-limited top-k, the
         * routed scaling factor; the top k of an unrenormalised softmax. */
        if (m->router_sigmoid)
            ADD("--moe-router-score-function sigmoid \\\n");
        if (m->router_expert_bias)
            ADD("--moe-router-enable-expert-bias \\\n");
        if (m->router_groups > 1)
            ADD("--moe-router-num-groups %lld \\\n--moe-router-group-topk %lld \\\n", (long long)m->router_groups,
                (long long)m->router_group_topk);
        if (m->router_topk_scale > 0 && m->router_topk_scale != 1)
            ADD("--moe-router-topk-scaling-factor %.10g \\\n", m->router_topk_scale);
        if (m->router_pre_softmax && !m->router_sigmoid)
            ADD("--moe-router-pre-softmax \\\n");
        bool all = true;
        for (int i = 0; i < m->num_layers; i++)
            all &= m->is_moe[i];
        if (!all) {
            /* Megatron's --moe-layer-freq takes a per-layer list (1 = MoE). */
            ADD("--moe-layer-freq \"[");
            for (int i = 0; i < m->num_layers; i++)
                ADD("%s%d", i ? "," : "", m->is_moe[i] ? 1 : 0);
            ADD("]\" \\\n");
        }
        if (w->capacity_factor > 0)
            ADD("--moe-expert-capacity-factor %g \\\n--moe-pad-expert-input-to-capacity \\\n", w->capacity_factor);
    }
    ADD("--tensor-model-parallel-size %d \\\n--pipeline-model-parallel-size %d \\\n--context-parallel-size %d \\\n", l->tp,
        l->pp, l->cp);
    if (m->num_experts > 0)
        ADD("--expert-model-parallel-size %d \\\n--expert-tensor-parallel-size %d \\\n", l->ep, l->etp);
    if (l->vpp > 1)
        ADD("--num-layers-per-virtual-pipeline-stage %d \\\n", m->num_layers / (l->pp * l->vpp));
    if (mp_layout_uneven(l))
        ADD("--decoder-first-pipeline-num-layers %d \\\n--decoder-last-pipeline-num-layers %d \\\n", l->pp_first,
            l->pp_last);
    ADD("--micro-batch-size %d \\\n--global-batch-size %ld \\\n--seq-length %ld \\\n", l->micro_batch, w->global_batch,
        w->seq_max);
    if (l->sequence_parallel)
        ADD("--sequence-parallel \\\n");
    if (l->zero == 1)
        ADD("--use-distributed-optimizer \\\n");
    /* ZeRO-2/3: Megatron-FSDP (megatron/training/arguments.py at
     * d98e8a64ddf3, _add_distributed_args): --use-megatron-fsdp with
     * --data-parallel-sharding-strategy optim_grads (ZeRO-2) or
     * optim_grads_params (ZeRO-3), which validate_args requires with
     * --ckpt-format fsdp_dtensor; version 1 turns the distributed optimizer
     * on itself.  ZeRO-3 builds the model on the meta device so that no GPU
     * holds it whole (--init-model-with-meta-device, the README's
     * recommended set). */
    if (l->zero >= 2)
        ADD("--use-megatron-fsdp \\\n--data-parallel-sharding-strategy %s \\\n--ckpt-format fsdp_dtensor \\\n%s",
            l->zero == 2 ? "optim_grads" : "optim_grads_params",
            l->zero == 3 ? "--init-model-with-meta-device \\\n" : "");
    /* HSDP: the data-parallel ranks split into replicas of the sharding
     * group (--num-distributed-optimizer-instances, "Number of Distributed
     * Optimizer copies across Data Parallel domain"; Megatron-FSDP's
     * DP-outer size). */
    if (l->shard_group && l->zero >= 1)
        ADD("--num-distributed-optimizer-instances %d \\\n", l->dp * l->cp / l->shard_group);
    if (l->recompute == MP_RECOMPUTE_SELECTIVE) {
        ADD("--recompute-granularity selective \\\n");
        if (l->recompute_modules && l->recompute_modules != MP_RC_CORE_ATTN) {
            /* TransformerConfig.recompute_modules (default ["core_attn"]). */
            ADD("--recompute-modules");
            for (unsigned i = 0; i < 7; i++)
                if (l->recompute_modules & (1u << i))
                    ADD(" %s", mp_recompute_module_name(1u << i));
            ADD(" \\\n");
        }
    }
    else if (l->recompute == MP_RECOMPUTE_FULL)
        ADD("--recompute-granularity full \\\n--recompute-method uniform \\\n--recompute-num-layers 1 \\\n");
    if (m->tied_embeddings == false)
        ADD("--untie-embeddings-and-output-weights \\\n");
    if (w->overlap_grad_reduce)
        ADD("--overlap-grad-reduce \\\n%s", l->zero >= 1 ? "--overlap-param-gather \\\n" : "");
    /* The interleaved schedule's blocking sends (workload pp_blocking_sends):
     * Megatron-LM's --no-overlap-p2p-communication (arguments.py, store_false
     * of overlap_p2p_comm).  pp_scatter_gather has no flag today: Megatron-
     * Core's pipeline code has no scatter-gather, so it is not emitted. */
    if (w->pp_blocking_sends && l->pp > 1 && l->vpp > 1)
        ADD("--no-overlap-p2p-communication \\\n");
    /* The workload's gradient_accumulation_fusion: false (arguments.py,
     * store_false of gradient_accumulation_fusion). */
    if (w->grad_accum_unfused)
        ADD("--no-gradient-accumulation-fusion \\\n");
    /* ModelParallelConfig.tp_comm_overlap (needs sequence parallelism). */
    if (w->tp_comm_overlap && l->tp > 1 && l->sequence_parallel)
        ADD("--tp-comm-overlap \\\n");
    /* TransformerConfig.fp8 / fp8_recipe: the hybrid format (E4M3 forward,
     * E5M2 gradients) with the workload's recipe; Megatron's names for
     * current scaling is "tensorwise". */
    if (w->fp8 != MP_FP8_NONE) {
        static const char *const recipe[] = {"", "delayed", "tensorwise", "blockwise", "mxfp8"};
        ADD("--fp8-format hybrid \\\n--fp8-recipe %s \\\n", recipe[w->fp8]);
    }
    /* With --fp16 Megatron-LM keeps 16-bit gradients unless told otherwise;
     * the workload's gradient bytes decide (--bf16 always accumulates in
     * fp32). */
    if (strcmp(w->precision, "bf16") != 0 && w->grad_bytes >= 4)
        ADD("--accumulate-allreduce-grads-in-fp32 \\\n");
    /* --optimizer defaults to adam (Adam with decoupled weight decay, the
     * workload's adam and adamw). */
    if (!strcmp(w->optimizer, "sgd"))
        ADD("--optimizer sgd \\\n");
    ADD("--%s\n", strcmp(w->precision, "bf16") == 0 ? "bf16" : "fp16");
#undef ADD
}
