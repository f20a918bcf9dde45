#include "moeplan/layout.h"

#include <stdio.h>
#include <string.h>

static const char *const rule_names[MP_RULE_COUNT] = {
    "ok", "gpus=tp*cp*dp*pp", "tp*cp*dp=etp*ep*edp", "heads%tp", "width%tp", "experts%ep", "layers%(pp*vpp)",
    "batch%(dp*mb)", "microbatches%pp", "seq%(2*cp)", "seq%tp", "moe-needs-sp", "zero", "memory", "target"};
static const char *const rule_texts[MP_RULE_COUNT] = {
    "valid",
    "the GPU count must equal tp * cp * dp * pp",
    "expert folding: tp * cp * dp must equal etp * ep * edp",
    "attention heads and key/value heads must be divisible by tp",
    "MLP widths must be divisible by tp (experts: by etp)",
    "experts must be divisible by ep (dense models: ep = etp = 1)",
    "layers must be divisible by pp * vpp, and vpp > 1 needs pp > 1",
    "the global batch must be divisible by dp * micro-batch",
    "the interleaved schedule needs micro-batches divisible by pp",
    "context parallelism needs the sequence divisible by 2 * cp and flash attention",
    "sequence parallelism needs the sequence divisible by cp * tp",
    "MoE with tp > 1 needs sequence parallelism (Megatron-Core rule)",
    "ZeRO stage 0-3 over a sharding group that divides dp * cp, in a combination a framework runs",
    "per-GPU memory exceeds capacity (with headroom)",
    "misses a throughput or step-time target"};

const char *mp_rule_name(mp_rule r) { return r < MP_RULE_COUNT ? rule_names[r] : "?"; }
const char *mp_rule_text(mp_rule r) { return r < MP_RULE_COUNT ? rule_texts[r] : "?"; }

/* The --recompute words: the three modes, then the modules in MP_RC_* bit
 * order. */
static const char *const rc_words[] = {"none",        "selective", "full", "core_attn",     "moe_act", "layernorm",
                                       "mla_up_proj", "mlp",       "moe",  "shared_experts"};
static const char *const *const rc_module_names = rc_words + 3;

const char *mp_recompute_module_name(unsigned bit)
{
    for (unsigned i = 0; i < 7; i++)
        if (bit == 1u << i)
            return rc_module_names[i];
    return "?";
}

const char *mp_recompute_suggest(const char *word, bool modes)
{
    return modes ? mp_did_you_mean(word, rc_words, 10) : mp_did_you_mean(word, rc_module_names, 7);
}

bool mp_recompute_modules_parse(const char *text, unsigned *out, char *bad, size_t bad_len, bool *dup)
{
    *out = 0;
    if (dup)
        *dup = false;
    const char *p = text;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, ", ");
        unsigned bit = 0;
        for (unsigned i = 0; i < 7; i++)
            if (strlen(rc_module_names[i]) == n && !strncmp(p, rc_module_names[i], n))
                bit = 1u << i;
        if (!bit || (*out & bit)) {
            snprintf(bad, bad_len, "%.*s", (int)(n < 60 ? n : 60), p);
            if (bit && dup)
                *dup = true;
            return false;
        }
        *out |= bit;
        p += n;
    }
    return *out != 0 || (snprintf(bad, bad_len, "%s", ""), false);
}

void mp_recompute_describe(const mp_layout *l, char *buf, size_t len)
{
    snprintf(buf, len, "%s", mp_recompute_name(l->recompute));
    if (l->recompute != MP_RECOMPUTE_SELECTIVE || !l->recompute_modules)
        return;
    size_t n = strlen(buf);
    for (unsigned i = 0; i < 7 && n + 2 < len; i++)
        if (l->recompute_modules & (1u << i)) {
            snprintf(buf + n, len - n, "%s%s", strchr(buf, '(') ? ", " : " (", rc_module_names[i]);
            n = strlen(buf);
        }
    if (n + 1 < len)
        snprintf(buf + n, len - n, ")");
}

bool mp_recompute_modules_apply(unsigned mods, const mp_model *m, char *why, size_t len)
{
    bool any_dense = false, any_moe = false;
    for (int i = 0; i < m->num_layers; i++) {
        any_dense |= !m->is_moe[i];
        any_moe |= m->is_moe[i];
    }
    const char *bad = (mods & MP_RC_MLA_UP_PROJ) && m->attn != MP_ATTN_MLA ? "mla_up_proj needs MLA attention"
                      : (mods & MP_RC_MOE_ACT) && !any_moe              ? "moe_act needs MoE layers"
                      : (mods & MP_RC_MOE) && !any_moe                  ? "moe needs MoE layers"
                      : (mods & MP_RC_SHARED_EXPERTS) && !(any_moe && m->num_shared_experts > 0)
                          ? "shared_experts needs shared experts"
                      : (mods & MP_RC_MLP) && !any_dense ? "mlp needs a dense layer"
                                                         : NULL;
    if (bad)
        snprintf(why, len, "%s, and the model has none: it would recompute nothing", bad);
    return bad == NULL;
}

const char *mp_recompute_name(mp_recompute r)
{
    return r == MP_RECOMPUTE_FULL ? "full" : r == MP_RECOMPUTE_SELECTIVE ? "selective" : "none";
}

void mp_layout_defaults(mp_layout *l)
{
    memset(l, 0, sizeof *l);
    l->gpus = l->tp = l->pp = l->dp = l->cp = l->ep = l->etp = l->edp = l->vpp = l->micro_batch = 1;
    l->recompute = MP_RECOMPUTE_NONE;
    l->zero = 1; /* Megatron-LM's distributed optimizer */
}

#define FAIL(rule, ...) do { snprintf(why, why_len, __VA_ARGS__); return rule; } while (0)

mp_rule mp_layout_check_zero_full(const mp_layout *l, char *why, size_t why_len)
{
    if (l->zero < 0 || l->zero > 3)
        FAIL(MP_RULE_SHARD, "zero must be a ZeRO stage 0-3, got %d", l->zero);
    /* What runs: DeepSpeed's PipelineEngine asserts "ZeRO-2 and ZeRO-3 are
     * incompatible with pipeline parallelism" (deepspeed/runtime/pipe/
     * engine.py, 0.16.5); Megatron-FSDP has no test with pp > 1 (its
     * functional tests all run pp 1, Megatron-LM d98e8a64ddf3); TorchTitan
     * runs FSDP (ZeRO-3) with pipeline parallelism but has no ZeRO-2. */
    if (l->zero == 2 && l->pp > 1)
        FAIL(MP_RULE_SHARD,
             "ZeRO-2 with pipeline parallelism (pp %d): DeepSpeed refuses it, Megatron-FSDP has no test of it and "
             "TorchTitan has no ZeRO-2; use zero 3 (TorchTitan runs FSDP with pp) or zero 1", l->pp);
    if (l->shard_group) {
        long ndp = (long)l->dp * l->cp;
        if (l->zero < 1)
            FAIL(MP_RULE_SHARD, "a sharding group (%d) needs ZeRO stage 1-3; stage 0 shards nothing", l->shard_group);
        if (l->shard_group < 1 || ndp % l->shard_group)
            FAIL(MP_RULE_SHARD, "sharding group (%d) must divide the data-parallel ranks dp * cp = %ld",
                 l->shard_group, ndp);
        if (((long)l->shard_group * l->edp) % ndp)
            FAIL(MP_RULE_SHARD,
                 "sharding group (%d) does not cut expert-DP (%d rank%s) into whole groups: %d * %d / %ld is not whole",
                 l->shard_group, l->edp, mp_plural(l->edp), l->shard_group, l->edp, ndp);
    }
    why[0] = 0;
    return MP_RULE_OK;
}

mp_rule mp_layout_check(mp_layout *l, const mp_model *m, const mp_workload *w, char *why, size_t why_len)
{
    if (l->tp < 1 || l->pp < 1 || l->dp < 1 || l->cp < 1 || l->ep < 1 || l->etp < 1 || l->vpp < 1 ||
        l->micro_batch < 1)
        FAIL(MP_RULE_GPU_PRODUCT, "every parallel size and the micro-batch must be at least 1");
    /* Each factor is below 2^31; divide instead of multiplying so that no
     * product can overflow. */
    if (l->gpus % l->pp || (l->gpus / l->pp) % l->dp || (l->gpus / l->pp / l->dp) % l->cp ||
        l->gpus / l->pp / l->dp / l->cp != l->tp) {
        long long prod = 1;
        bool big = __builtin_mul_overflow(prod, (long long)l->tp, &prod) ||
                   __builtin_mul_overflow(prod, (long long)l->cp, &prod) ||
                   __builtin_mul_overflow(prod, (long long)l->dp, &prod) ||
                   __builtin_mul_overflow(prod, (long long)l->pp, &prod);
        if (big)
            FAIL(MP_RULE_GPU_PRODUCT, "gpus (%d) != tp (%d) * cp (%d) * dp (%d) * pp (%d), a product too large to hold",
                 l->gpus, l->tp, l->cp, l->dp, l->pp);
        FAIL(MP_RULE_GPU_PRODUCT, "gpus (%d) != tp (%d) * cp (%d) * dp (%d) * pp (%d) = %lld", l->gpus, l->tp, l->cp,
             l->dp, l->pp, prod);
    }
    long long attn = (long long)l->tp * l->cp * l->dp; /* <= gpus now */
    long long ex = (long long)l->etp * l->ep;
    if (attn % ex)
        FAIL(MP_RULE_FOLDING, "etp (%d) * ep (%d) = %lld does not divide tp * cp * dp = %lld, so expert-DP is not whole",
             l->etp, l->ep, ex, attn);
    l->edp = (int)(attn / ex);
    if (m->num_heads % l->tp)
        FAIL(MP_RULE_HEADS_TP, "heads (%lld) not divisible by tp (%d)", (long long)m->num_heads, l->tp);
    if (m->attn == MP_ATTN_GQA && m->num_kv_heads % l->tp)
        FAIL(MP_RULE_HEADS_TP, "kv_heads (%lld) not divisible by tp (%d)", (long long)m->num_kv_heads, l->tp);
    bool any_dense = false, any_moe = false;
    for (int i = 0; i < m->num_layers; i++) {
        any_dense |= !m->is_moe[i];
        any_moe |= m->is_moe[i];
    }
    if (any_dense && m->ffn_hidden % l->tp)
        FAIL(MP_RULE_FFN_TP, "dense MLP width (%lld) not divisible by tp (%d)", (long long)m->ffn_hidden, l->tp);
    if (any_moe) {
        if (m->num_shared_experts && m->shared_expert_hidden % l->tp)
            FAIL(MP_RULE_FFN_TP, "shared expert width (%lld) not divisible by tp (%d)",
                 (long long)m->shared_expert_hidden, l->tp);
        if (m->expert_hidden % l->etp)
            FAIL(MP_RULE_FFN_TP, "expert width (%lld) not divisible by etp (%d)", (long long)m->expert_hidden, l->etp);
        if (m->num_experts % l->ep)
            FAIL(MP_RULE_EXPERTS_EP, "experts (%lld) not divisible by ep (%d)", (long long)m->num_experts, l->ep);
    } else if (l->ep != 1 || l->etp != 1) {
        FAIL(MP_RULE_EXPERTS_EP, "the model has no MoE layers, so ep and etp must be 1 (got ep %d, etp %d)", l->ep,
             l->etp);
    }
    if (l->vpp > 1 && l->pp == 1)
        FAIL(MP_RULE_LAYERS_PP, "vpp (%d) > 1 needs pp > 1", l->vpp);
    if (mp_layout_uneven(l)) {
        int L = m->num_layers, f = l->pp_first, z = l->pp_last;
        if ((f < 1) != (z < 1)) /* one of the two given alone */
            FAIL(MP_RULE_LAYERS_PP,
                 "an uneven pipeline needs the layers of both the first and the last rank (--pp-first-layers and "
                 "--pp-last-layers, pp_first_layers and pp_last_layers): only the %s (%d) is given",
                 f > 0 ? "first" : "last", f > 0 ? f : z);
        if (l->pp < 2 || l->vpp != 1 || f < 1 || z < 1)
            FAIL(MP_RULE_LAYERS_PP,
                 "an uneven pipeline needs pp >= 2, vpp = 1 and at least one layer on the first and the last rank "
                 "(pp %d, vpp %d, first %d, last %d)", l->pp, l->vpp, f, z);
        if (l->pp == 2 && f + z != L)
            FAIL(MP_RULE_LAYERS_PP,
                 "uneven pipeline: with pp 2 there are no middle ranks, so first (%d) and last (%d) must make the %d "
                 "layer%s (they make %d)", f, z, L, mp_plural(L), f + z);
        if (l->pp > 2 && (L - f - z < l->pp - 2 || (L - f - z) % (l->pp - 2)))
            FAIL(MP_RULE_LAYERS_PP,
                 "uneven pipeline: layers (%d) minus first (%d) and last (%d) must split evenly over the %d middle "
                 "ranks, at least one each", L, f, z, l->pp - 2);
    } else if (m->num_layers % (l->pp * l->vpp)) {
        FAIL(MP_RULE_LAYERS_PP, "layers (%d) not divisible by pp (%d) * vpp (%d)", m->num_layers, l->pp, l->vpp);
    }
    long per = (long)l->dp * l->micro_batch;
    if (w->global_batch % per)
        FAIL(MP_RULE_BATCH, "global batch (%ld) not divisible by dp (%d) * micro-batch (%d) = %ld", w->global_batch,
             l->dp, l->micro_batch, per);
    l->num_micro_batches = (int)(w->global_batch / per);
    if (l->vpp > 1 && l->num_micro_batches % l->pp)
        FAIL(MP_RULE_INTERLEAVE, "interleaved schedule (vpp %d): micro-batches (%d) not divisible by pp (%d)", l->vpp,
             l->num_micro_batches, l->pp);
    if (l->cp > 1) {
        if (!w->flash_attention)
            FAIL(MP_RULE_SEQ_CP, "cp (%d) > 1 needs flash attention (flash_attention: true)", l->cp);
        if (w->seq_max % (2L * l->cp))
            FAIL(MP_RULE_SEQ_CP,
                 "sequence (%ld) not divisible by 2 * cp (%d) = %d: causal CP splits it into 2 * cp chunks",
                 w->seq_max, l->cp, 2 * l->cp);
    }
    if (l->tp == 1)
        l->sequence_parallel = false; /* as Megatron-LM: SP is a no-op without TP */
    if (l->sequence_parallel && (w->seq_max / l->cp) % l->tp)
        FAIL(MP_RULE_SEQ_TP, "sequence parallel: sequence per CP rank (%ld) not divisible by tp (%d)",
             w->seq_max / l->cp, l->tp);
    if (any_moe && l->tp > 1 && !l->sequence_parallel)
        FAIL(MP_RULE_MOE_SP, "MoE with tp (%d) > 1 needs sequence parallelism (--sequence-parallel)", l->tp);
    if (l->shard_group == l->dp * l->cp)
        l->shard_group = 0; /* the whole group: plain ZeRO, not HSDP */
    why[0] = 0;
    return mp_layout_check_zero(l, why, why_len);
}
