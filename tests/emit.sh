#!/usr/bin/env bash
# --emit torchtitan|deepspeed|megatron: the configs parse (TOML with
# Python's tomllib, JSON with json) and use only option names the projects
# define (tests/data/emit/*-keys.txt, each with the version it was read
# from); layouts a framework does not run are refused with the reason.
. "${BASH_SOURCE%/*}/tap.sh" emit

BF16=tests/data/workload-bf16.yaml
TT=tests/data/emit/torchtitan-v0.2.2-keys.txt
DS=tests/data/emit/deepspeed-0.16.5-keys.txt

# emit_check NAME KIND KEYS ARGS...: plan --format json's emit.text parses
# and every key (and Literal value) is in KEYS.
emit_check() {
    local name=$1 kind=$2 keys=$3
    shift 3
    run plan --format json --emit "$kind" -n 1 "$@"
    local why
    why=$(python3 - "$OUT" "$keys" "$kind" <<'PY'
import json, sys, tomllib
d = json.load(open(sys.argv[1]))
allowed = {l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith('#')}
e = d.get('emit') or {}
if e.get('text') is None:
    print('refused: %s' % e.get('refused')); sys.exit()
def walk(obj, pre):
    for k, v in obj.items():
        path = pre + k
        yield path, v
        if isinstance(v, dict):
            yield from walk(v, path + '.')
cfg = tomllib.loads(e['text']) if sys.argv[3] == 'torchtitan' else json.loads(e['text'])
bad = [p for p, v in walk(cfg, '') if p not in allowed]
bad += ['%s=%s' % (p, v) for p, v in walk(cfg, '') if isinstance(v, str) and any(a.startswith(p + '=') for a in allowed)
        and '%s=%s' % (p, v) not in allowed]
print(' '.join(bad) if bad else 'OK')
PY
)
    if [ "$rc" -eq 0 ] && [ "$why" = OK ]; then ok "$name"; else notok "$name" "exit $rc: $why"; fi
}

emit_check "torchtitan: FSDP + EP 8 on 64 GPUs" torchtitan "$TT" --workload $BF16 --gpus 64 --zero 3 --tp 1 --ep 8
emit_check "torchtitan: FSDP + TP 2 + PP 2, full recompute" torchtitan "$TT" --workload $BF16 --gpus 64 --zero 3 \
    --tp 2 --pp 2 --recompute full
emit_check "torchtitan: HSDP (shard 8 of 64), selective" torchtitan "$TT" --workload $BF16 --gpus 64 --zero 3 --tp 1 \
    --ep 8 --shard-group 8 --recompute selective
emit_check "deepspeed: ZeRO-1" deepspeed "$DS" --gpus 64 --zero 1 --tp 1 --ep 8
emit_check "deepspeed: ZeRO-2" deepspeed "$DS" --gpus 64 --zero 2 --tp 1 --pp 1 --ep 8
emit_check "deepspeed: ZeRO-3 with MiCS groups of 8" deepspeed "$DS" --workload $BF16 --gpus 64 --zero 3 --tp 1 \
    --pp 1 --ep 8 --shard-group 8

# Values, by hand: 64 GPUs, tp 1, dp 64, mb 1, global 128 -> 2 micro-batches;
# HSDP 8 -> 8 replicas of shards of 8 (TorchTitan: replicate 8, shard 8).
run plan --format json --emit torchtitan -n 1 --workload $BF16 --gpus 64 --zero 3 --tp 1 --pp 1 --ep 8 \
    --micro-batch 1 --shard-group 8
got=$(python3 -c "
import json, sys, tomllib
c = tomllib.loads(json.load(open('$OUT'))['emit']['text'])
p, t = c['parallelism'], c['training']
print(p['data_parallel_replicate_degree'], p['data_parallel_shard_degree'], p['expert_parallel_degree'],
      t['local_batch_size'], t['global_batch_size'], t['seq_len'])")
if [ "$got" = "8 8 8 1 128 4096" ]; then ok "torchtitan: HSDP degrees and batch"
else notok "torchtitan: HSDP degrees and batch" "got '$got'"; fi
run plan --format json --emit deepspeed -n 1 --gpus 64 --zero 3 --tp 1 --pp 1 --ep 8 --micro-batch 1
got=$(python3 -c "
import json
c = json.loads(json.load(open('$OUT'))['emit']['text'])
print(c['train_batch_size'], c['train_micro_batch_size_per_gpu'], c['gradient_accumulation_steps'],
      c['zero_optimization']['stage'], 'fp16' in c)")
if [ "$got" = "128 1 2 3 True" ]; then ok "deepspeed: batch = micro-batch x accumulation x dp, stage 3, fp16"
else notok "deepspeed: batch = micro-batch x accumulation x dp, stage 3, fp16" "got '$got'"; fi

# The workload's gradient_accumulation_fusion: false is Megatron-LM's
# --no-gradient-accumulation-fusion (arguments.py, store_false of
# gradient_accumulation_fusion); the default emits nothing; explain --ops
# lists each block's main-grad-add and the assumption says why.
printf 'name: w\nglobal_batch: 128\nseq_len: 4096\nprecision: bf16\nflash_attention: true\ngradient_accumulation_fusion: false\n' >"$TMP/wl-unfused.yaml"
run explain --workload "$TMP/wl-unfused.yaml" --gpus 128 --tp 4 --pp 2 --ep 16 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- "^--no-gradient-accumulation-fusion" "$OUT"; then
    ok "megatron: gradient_accumulation_fusion false emits --no-gradient-accumulation-fusion"
else notok "megatron: gradient_accumulation_fusion false" "exit $rc"; fi
run explain --gpus 128 --tp 4 --pp 2 --ep 16 --emit megatron
if [ "$rc" -eq 0 ] && ! grep -q -- "gradient-accumulation-fusion" "$OUT"; then ok "megatron: fused by default, no flag"
else notok "megatron: fused by default" "exit $rc"; fi
run explain --workload "$TMP/wl-unfused.yaml" --gpus 128 --tp 4 --pp 2 --ep 16 --ops
if [ "$rc" -eq 0 ] && [ "$(grep -c -- "^    main-grad-add " "$OUT")" -ge 3 ] && grep -q "gradient accumulation unfused" "$OUT"; then
    ok "explain --ops: main-grad-add in the attention, MoE and head blocks, and the assumption"
else notok "explain --ops: main-grad-add" "exit $rc, $(grep -c -- "main-grad-add" "$OUT") lines"; fi

# The workload's pp_blocking_sends, interleaved: --no-overlap-p2p-communication
# (megatron/training/arguments.py, store_false of overlap_p2p_comm); not
# emitted without interleaving, where the flag does nothing.
printf 'name: w\nglobal_batch: 128\nseq_len: 4096\nprecision: bf16\nflash_attention: true\npp_blocking_sends: true\n' >"$TMP/wl-blocking.yaml"
run explain --workload "$TMP/wl-blocking.yaml" --gpus 128 --tp 4 --pp 2 --ep 16 --vpp 2 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- "^--no-overlap-p2p-communication" "$OUT"; then
    ok "megatron: pp_blocking_sends with vpp 2 emits --no-overlap-p2p-communication"
else notok "megatron: pp_blocking_sends with vpp 2" "exit $rc"; fi
run explain --workload "$TMP/wl-blocking.yaml" --gpus 128 --tp 4 --pp 2 --ep 16 --vpp 1 --emit megatron
if [ "$rc" -eq 0 ] && ! grep -q -- "overlap-p2p" "$OUT"; then ok "megatron: no p2p flag without interleaving"
else notok "megatron: no p2p flag without interleaving" "exit $rc"; fi

# The workload's zero3_blocking_fetch (DeepSpeed 0.3-0.4's ZeRO-3, nothing
# prefetched): DeepSpeed's config without overlap or prefetch; Megatron-LM
# and TorchTitan, which prefetch, refused; explain says what it priced.
printf 'name: w\nglobal_batch: 64\nseq_len: 2048\nprecision: bf16\nzero3_blocking_fetch: true\n' >"$TMP/wl-z3.yaml"
run explain --model "$SRCDIR/tests/data/hf/llama-2-7b.json" --workload "$TMP/wl-z3.yaml" --gpus 64 --zero 3 --emit deepspeed
if [ "$rc" -eq 0 ] && grep -q '"overlap_comm": false' "$OUT" && grep -q '"stage3_prefetch_bucket_size": 0' "$OUT" &&
   grep -q 'zero3_blocking_fetch: ZeRO-3 as DeepSpeed 0.3-0.4 ran it' "$OUT"; then
    ok "deepspeed: zero3_blocking_fetch writes no overlap and no prefetch"
else notok "deepspeed: zero3_blocking_fetch" "exit $rc"; fi
expect_bad_emit() {
    run "$@"
    if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && grep -q "zero3_blocking_fetch prices DeepSpeed 0.3-0.4" "$ERR"; then
        ok "$1 $2: zero3_blocking_fetch refused for ${*: -1}"
    else notok "zero3_blocking_fetch refused for ${*: -1}" "exit $rc"; fi
}
expect_bad_emit explain --model "$SRCDIR/tests/data/hf/llama-2-7b.json" --workload "$TMP/wl-z3.yaml" --gpus 64 --zero 3 --emit megatron
expect_bad_emit explain --model "$SRCDIR/tests/data/hf/llama-2-7b.json" --workload "$TMP/wl-z3.yaml" --gpus 64 --zero 3 --emit torchtitan
run explain --model "$SRCDIR/tests/data/hf/llama-2-7b.json" --workload "$TMP/wl-z3.yaml" --gpus 64
if [ "$rc" -eq 0 ] && grep -q 'zero3_blocking_fetch has no effect: it applies to ZeRO-3 (the layout is ZeRO 1)' "$OUT"; then
    ok "explain: zero3_blocking_fetch below ZeRO-3 said to have no effect"
else notok "explain: zero3_blocking_fetch below ZeRO-3" "exit $rc"; fi

# Megatron-FSDP's flags for ZeRO-3 (megatron/training/arguments.py, d98e8a64).
run explain --gpus 64 --zero 3 --tp 1 --ep 8 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- "--use-megatron-fsdp" "$OUT" &&
   grep -q -- "--data-parallel-sharding-strategy optim_grads_params" "$OUT" &&
   grep -q -- "--ckpt-format fsdp_dtensor" "$OUT" && ! grep -q -- "--use-distributed-optimizer" "$OUT"; then
    ok "megatron: ZeRO-3 as Megatron-FSDP (optim_grads_params, fsdp_dtensor)"
else notok "megatron: ZeRO-3 as Megatron-FSDP" "exit $rc"; fi

# Refusals: exit 2, the reason, nothing on stdout (explain); the search's rule.
refused "torchtitan refuses ZeRO-1" "has no ZeRO-1" explain --workload $BF16 --gpus 64 --zero 1 --tp 1 --ep 8 \
    --emit torchtitan
refused "torchtitan refuses fp16" "bfloat16 or float32" explain --gpus 64 --zero 3 --tp 1 --ep 8 --emit torchtitan
refused "deepspeed refuses ZeRO-3 with pp" "incompatible with pipeline parallelism" explain --gpus 64 --zero 3 \
    --tp 1 --pp 2 --ep 8 --emit deepspeed
refused "megatron refuses Megatron-FSDP with pp" "no test with pipeline parallelism" explain --gpus 64 --zero 3 \
    --tp 1 --pp 2 --ep 8 --emit megatron
refused "ZeRO-2 with pp is no layout any framework runs" "ZeRO-2 with pipeline parallelism" explain --gpus 64 \
    --zero 2 --tp 1 --pp 2 --ep 8
refused "--emit: did you mean" "did you mean 'deepspeed'" explain --emit deepspeeed
# A workload without flash attention (scores materialised, priced so):
# Megatron-LM's attention backend defaults to auto (Transformer Engine's
# fused or flash kernels), so it is told --attention-backend unfused;
# TorchTitan's SDPA takes cuDNN and flash first, refused.  Both ran flash
# attention on the layout priced without it.
sed 's/^flash_attention: true/flash_attention: false/' $BF16 >"$TMP/wl-noflash.yaml"
run explain --workload "$TMP/wl-noflash.yaml" --gpus 8 --tp 1 --ep 8 --seq-len 1024 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- "^--attention-backend unfused" "$OUT"; then
    ok "megatron: no flash attention as --attention-backend unfused"
else notok "megatron: no flash attention" "exit $rc"; fi
run explain --workload $BF16 --gpus 8 --tp 1 --ep 8 --seq-len 1024 --emit megatron
if [ "$rc" -eq 0 ] && ! grep -q -- "--attention-backend" "$OUT"; then ok "megatron: flash attention, the default backend"
else notok "megatron: flash attention, no backend flag" "exit $rc"; fi
refused "torchtitan refuses a workload without flash attention" "the workload prices flash_attention: false" \
    explain --workload "$TMP/wl-noflash.yaml" --gpus 8 --tp 1 --ep 8 --zero 3 --seq-len 1024 --emit torchtitan

# What the model is, said to Megatron-LM (TransformerConfig at d98e8a64):
# Mistral's window of 4096 keys on every layer as window_size (4095, 0);
# a model without dropout turns off the 0.1 defaults; the seed model has
# dropout off too.
run explain --model tests/data/hf/mistral-7b.json --gpus 8 --tp 8 --seq-len 32768 --global-batch 8 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- "^--window-size 4095,0 " "$OUT" && ! grep -q -- "window-attn-skip-freq" "$OUT" &&
   grep -q -- "^--attention-dropout 0.0 " "$OUT" && grep -q -- "^--hidden-dropout 0.0 " "$OUT"; then
    ok "megatron: Mistral's sliding window (4095,0) on every layer, dropout off"
else notok "megatron: Mistral's sliding window and dropout" "exit $rc"; fi
# Every second layer sliding (a Qwen3 config with layer_types): the pattern.
cat >"$TMP/qwen-lt.json" <<'J'
{"model_type": "qwen3", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "head_dim": 64,
 "vocab_size": 1000, "intermediate_size": 512, "use_sliding_window": true, "sliding_window": 128,
 "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]}
J
run explain --model "$TMP/qwen-lt.json" --gpus 1 --seq-len 1024 --global-batch 8 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- '^--window-size 127,0 ' "$OUT" && grep -q -- '^--window-attn-skip-freq "\[1,0,1,0\]" ' "$OUT"
then ok "megatron: a layer pattern of windows as --window-attn-skip-freq [1,0,1,0]"
else notok "megatron: a layer pattern of windows" "exit $rc"; fi
# GPT-2 keeps dropout (resid_pdrop 0.1): no dropout flags.
run explain --model tests/data/hf/gpt2.json --gpus 1 --seq-len 1024 --global-batch 8 --emit megatron
if [ "$rc" -eq 0 ] && ! grep -q -- "dropout" "$OUT"; then ok "megatron: GPT-2 keeps Megatron's dropout"
else notok "megatron: GPT-2 keeps Megatron's dropout" "exit $rc"; fi
# An SGD workload: --optimizer sgd (Megatron's default is adam); TorchTitan
# has only Adam and AdamW.
sed 's/^optimizer: .*/optimizer: sgd/' plans/seed-workload.yaml >"$TMP/wl-sgd.yaml"
grep -q '^optimizer: sgd' "$TMP/wl-sgd.yaml" || echo "optimizer: sgd" >>"$TMP/wl-sgd.yaml"
run explain --workload "$TMP/wl-sgd.yaml" --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- "^--optimizer sgd " "$OUT"; then ok "megatron: an SGD workload emits --optimizer sgd"
else notok "megatron: an SGD workload emits --optimizer sgd" "exit $rc"; fi
sed 's/^precision: .*/precision: bf16/' "$TMP/wl-sgd.yaml" >"$TMP/wl-sgd-bf16.yaml"
refused "torchtitan refuses SGD" "Adam and AdamW" explain --workload "$TMP/wl-sgd-bf16.yaml" --gpus 64 --zero 3 \
    --tp 1 --ep 8 --emit torchtitan
# Activations Megatron-LM has no flag for are refused, not swapped.
sed 's/^ffn: .*/ffn: relu/' plans/seed-model.yaml >"$TMP/model-relu.yaml"
sed 's/^ffn: .*/ffn: geglu/' plans/seed-model.yaml >"$TMP/model-geglu.yaml"
refused "megatron refuses a ReLU MLP" "no flag for a ReLU MLP" explain --model "$TMP/model-relu.yaml" --emit megatron
refused "megatron refuses a GeGLU MLP" "no flag for a GELU-gated MLP" explain --model "$TMP/model-geglu.yaml" \
    --emit megatron
refused "megatron refuses gpt-oss's clamped SwiGLU" "clamped SwiGLU" explain --model tests/data/hf/gpt-oss-120b.json \
    --gpus 64 --ep 8 --seq-len 4096 --global-batch 64 --emit megatron

# The router as the config states it (model_hf_router.c): Mixtral's
# router_aux_loss_coef 0.02 and rope_theta 1e6 (Megatron's --rotary-base is
# an int); DeepSeek-V3's aux-loss-free router (scoring_func sigmoid,
# topk_method noaux_tc, n_group 8, topk_group 4, routed_scaling_factor 2.5,
# seq_aux, aux_loss_alpha 0.001); DeepSeek-V2-Lite's unrenormalised top k
# (norm_topk_prob false: --moe-router-pre-softmax).  A native model gives
# no coefficient: 1e-2, said so in the assumptions.
run explain --model tests/data/hf/mixtral-8x7b.json --gpus 64 --tp 2 --ep 8 --pp 4 --recompute full --emit megatron
if [ "$rc" -eq 0 ] && grep -qx -- "--moe-aux-loss-coeff 0.02 \\\\" "$OUT" && grep -qx -- "--rotary-base 1000000 \\\\" "$OUT" &&
   grep -qx -- "--moe-router-load-balancing-type aux_loss \\\\" "$OUT" && ! grep -q -- "score-function" "$OUT" &&
   ! grep -q -- "topk-scaling-factor" "$OUT" && ! grep -q -- "pre-softmax" "$OUT" &&
   grep -q "the aux loss emitted at 0.02, the model's" "$OUT"; then
    ok "megatron: Mixtral's own aux-loss coefficient and RoPE base"
else notok "megatron: Mixtral's aux-loss coefficient and RoPE base" "exit $rc" "$(grep -E 'aux|rotary' "$OUT")"; fi
run explain --model tests/data/hf/deepseek-v3.json --gpus 256 --seq-len 4096 --global-batch 512 --recompute full --emit megatron
want="--moe-router-load-balancing-type seq_aux_loss|--moe-aux-loss-coeff 0.001|--moe-router-score-function sigmoid|--moe-router-enable-expert-bias|--moe-router-num-groups 8|--moe-router-group-topk 4|--moe-router-topk-scaling-factor 2.5"
got=$(grep -E -- "--moe-(router-(load|score|enable|num|group|topk-scaling)|aux)" "$OUT" | sed 's/ \\$//' | paste -sd'|')
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok "megatron: DeepSeek-V3's aux-loss-free, group-limited sigmoid router"
else notok "megatron: DeepSeek-V3's router" "exit $rc" "got:  $got" "want: $want"; fi
run explain --model tests/data/hf/deepseek-v2-lite.json --gpus 16 --seq-len 4096 --global-batch 64 --emit megatron
if [ "$rc" -eq 0 ] && grep -qx -- "--moe-router-pre-softmax \\\\" "$OUT" && ! grep -q -- "--moe-router-num-groups" "$OUT"; then
    ok "megatron: DeepSeek-V2-Lite's unrenormalised top k (norm_topk_prob false)"
else notok "megatron: DeepSeek-V2-Lite's pre-softmax" "exit $rc"; fi
run explain --gpus 128 --tp 4 --pp 2 --ep 16 --emit megatron
if [ "$rc" -eq 0 ] && grep -qx -- "--moe-aux-loss-coeff 0.01 \\\\" "$OUT" &&
   grep -q "the aux loss emitted at 0.01, not in the model: Megatron's suggested start" "$OUT"; then
    ok "megatron: a model without a coefficient gets 1e-2, said in the assumptions"
else notok "megatron: the default aux-loss coefficient" "exit $rc"; fi

# Routers Megatron-LM cannot be told are refused, each with its reason;
# configs that cannot be read are refused at their key.
V3=tests/data/hf/deepseek-v3.json
v3_with() { python3 -c "
import json, sys
d = json.load(open('$V3')); d.update(json.loads(sys.argv[1])); json.dump(d, open(sys.argv[2], 'w'), indent=1)" "$1" "$2"; }
V3ARGS="--gpus 256 --seq-len 4096 --global-batch 512 --recompute full --emit megatron"
v3_with '{"scoring_func": "softmax"}' "$TMP/v3-soft.json"
refused "megatron refuses an expert bias on softmax scores" "only with --moe-router-score-function sigmoid" \
    explain --model "$TMP/v3-soft.json" $V3ARGS
v3_with '{"norm_topk_prob": false}' "$TMP/v3-nonorm.json"
refused "megatron refuses sigmoid scores without renormalisation" "always renormalises sigmoid top-k" \
    explain --model "$TMP/v3-nonorm.json" $V3ARGS
v3_with '{"rope_theta": 10000.5}' "$TMP/v3-rope.json"
refused "megatron refuses a fractional RoPE base" "rope_theta 10000.5 is not a whole number" \
    explain --model "$TMP/v3-rope.json" $V3ARGS
v3_with '{"n_group": 7}' "$TMP/v3-g7.json"
refused "n_group that does not divide the experts" "'n_group' (7) must divide the 256 routed experts" \
    explain --model "$TMP/v3-g7.json" --gpus 256 --seq-len 4096 --global-batch 512 --recompute full
v3_with '{"routed_scaling_factor": 0}' "$TMP/v3-s0.json"
refused "routed_scaling_factor 0" "'routed_scaling_factor' must be above 0" \
    explain --model "$TMP/v3-s0.json" --gpus 256 --seq-len 4096 --global-batch 512 --recompute full
# greedy top-k ignores n_group (modeling_deepseek.py): no groups emitted.
v3_with '{"topk_method": "greedy", "scoring_func": "softmax"}' "$TMP/v3-greedy.json"
run explain --model "$TMP/v3-greedy.json" $V3ARGS
if [ "$rc" -eq 0 ] && ! grep -q -- "--moe-router-num-groups" "$OUT" && ! grep -q -- "expert-bias" "$OUT"; then
    ok "megatron: greedy top-k emits no groups"
else notok "megatron: greedy top-k emits no groups" "exit $rc"; fi
# A router_aux_loss_coef of 0 (Phi-3.5-MoE's; here on Mixtral, whose
# other parts Megatron-LM can name): no balancing loss emitted, and none
# priced (the aux-loss op is gone from the op list).
python3 -c "
import json, sys
d = json.load(open('tests/data/hf/mixtral-8x7b.json')); d['router_aux_loss_coef'] = 0.0
json.dump(d, open(sys.argv[1], 'w'))" "$TMP/mixtral-aux0.json"
run explain --model "$TMP/mixtral-aux0.json" --gpus 64 --tp 2 --ep 8 --pp 4 --recompute full --emit megatron
if [ "$rc" -eq 0 ] && grep -qx -- "--moe-router-load-balancing-type none \\\\" "$OUT" && ! grep -q -- "--moe-aux-loss-coeff" "$OUT" &&
   grep -q "no aux loss (the model's coefficient is 0)" "$OUT"; then
    ok "megatron: a coefficient of 0 is no balancing loss"
else notok "megatron: a coefficient of 0" "exit $rc"; fi
run explain --model "$TMP/mixtral-aux0.json" --gpus 64 --tp 2 --ep 8 --pp 4 --recompute full --ops --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
names = [o['name'] for ops in d['ops_per_micro_batch'].values() for o in ops]
sys.exit(0 if 'router' in names and 'router-aux-loss' not in names and 'tp-cp-aux-counts' not in names else 1)" "$OUT"; then
    ok "cost: no aux-loss ops priced at a coefficient of 0"
else notok "cost: no aux-loss ops at coefficient 0" "exit $rc"; fi

# DeepSeek-V2 scales only the weights it does not renormalise
# (modeling_deepseek.py, MoEGate): with norm_topk_prob true no scaling
# factor is emitted, and a note says so.
python3 -c "
import json, sys
d = json.load(open('tests/data/hf/deepseek-v2-lite.json')); d['norm_topk_prob'] = True; d['routed_scaling_factor'] = 16.0
json.dump(d, open(sys.argv[1], 'w'))" "$TMP/v2-norm.json"
run explain --model "$TMP/v2-norm.json" --gpus 16 --seq-len 4096 --global-batch 64 --emit megatron
if [ "$rc" -eq 0 ] && ! grep -q -- "--moe-router-topk-scaling-factor" "$OUT" && grep -q "routed_scaling_factor is not applied" "$OUT"; then
    ok "megatron: DeepSeek-V2's scaling factor only where it applies"
else notok "megatron: DeepSeek-V2's scaling factor" "exit $rc"; fi

# The model's parts Megatron-LM cannot name are refused, not dropped:
# Phi-3.5-MoE's biases on attention only, DBRX's bias-free LayerNorm,
# OLMoE's whole-projection Q/K norm; a native NoPE model is emitted as
# --position-embedding-type none; Qwen1.5-MoE's shared-expert gate as
# --moe-shared-expert-gate.
refused "megatron refuses biases on attention only" "biases on Q, K and V and the output projection only" \
    explain --model tests/data/hf/phi-3.5-moe.json --gpus 64 --seq-len 4096 --global-batch 64 --recompute full --emit megatron
refused "megatron refuses a LayerNorm without bias" "LayerNorm without a bias" \
    explain --model tests/data/hf/dbrx-base.json --gpus 128 --ep 16 --seq-len 4096 --global-batch 128 --recompute full --emit megatron
refused "megatron refuses OLMoE's Q/K norm" "normalises each head" \
    explain --model tests/data/hf/olmoe-1b-7b-0924.json --gpus 8 --ep 8 --seq-len 4096 --global-batch 64 --emit megatron
printf 'name: nope\nlayers: 4\nhidden: 1024\nheads: 16\nffn: swiglu\nffn_hidden: 2816\nvocab: 32000\nposition_embedding: none\n' >"$TMP/nope.yaml"
run explain --model "$TMP/nope.yaml" --gpus 8 --seq-len 4096 --global-batch 64 --emit megatron
if [ "$rc" -eq 0 ] && grep -qx -- "--position-embedding-type none \\\\" "$OUT" && ! grep -q -- "--rotary-base" "$OUT"; then
    ok "megatron: NoPE as --position-embedding-type none"
else notok "megatron: NoPE" "exit $rc"; fi
run explain --model tests/data/hf/qwen1.5-moe-a2.7b.json --gpus 8 --ep 4 --seq-len 4096 --global-batch 64 --emit megatron
if [ "$rc" -eq 0 ] && grep -qx -- "--moe-shared-expert-gate \\\\" "$OUT"; then ok "megatron: Qwen-MoE's shared-expert gate"
else notok "megatron: Qwen-MoE's shared-expert gate" "exit $rc"; fi
# TorchTitan refuses what its ParallelDims or its configs cannot run.
refused "torchtitan: ep a multiple of cp x tp with etp 1" "ep (2) a multiple of cp x tp (4)" \
    explain --workload $BF16 --gpus 64 --tp 4 --etp 1 --ep 2 --fsdp --emit torchtitan
refused "torchtitan: ep a multiple of cp with etp tp" "ep (2) a multiple of cp (4)" \
    explain --workload $BF16 --gpus 64 --tp 2 --cp 4 --ep 2 --fsdp --emit torchtitan
refused "torchtitan: no tensor parallelism without sequence parallelism" "always shards the norms" \
    explain --model tests/data/llama-3.1-8b.yaml --workload $BF16 --gpus 16 --zero 3 --tp 2 --no-sequence-parallel --emit torchtitan
# DeepSpeed's PipelineEngine has one stage a rank, and its PipelineModule
# no first/last layer counts: both refused (the config ran otherwise).
refused "deepspeed: an interleaved pipeline" "one stage a rank (TrainSchedule): no interleaved pipeline (vpp 2)" \
    explain --gpus 32 --pp 4 --vpp 2 --tp 1 --ep 8 --emit deepspeed
refused "deepspeed: an uneven pipeline" "not 3 and 3 layers on the first and last ranks" \
    explain --gpus 32 --pp 4 --tp 1 --ep 8 --pp-first-layers 3 --pp-last-layers 3 --emit deepspeed

# TorchTitan's own split (generate_llm_fqn_per_model_part) counts the
# embedding and the output as a layer each: 16 layers over pp 4 would run
# as 4, 5, 4, 3.  The emit lists moeplan's stages: even, 4 x 4 layers;
# uneven 3 + 5 + 5 + 3 (the middle (16 - 6) / 2); vpp 4 over pp 2, eight
# stages of 2 layers, stage s on rank s mod 2 (TorchTitan's "loop" style,
# Megatron's chunk s div 2 of that rank), s holding layers 2s and 2s + 1.
tt_stages() {
    local name=$1 want=$2
    shift 2
    run plan --format json --emit torchtitan -n 1 --workload $BF16 "$@"
    local got
    got=$(python3 -c "
import json, tomllib
c = tomllib.loads(json.load(open('$OUT'))['emit']['text'])
parts = c['parallelism']['module_fqns_per_model_part']
names = [n for p in parts for n in p]
layers = [n for n in names if n.startswith('layers.')]
assert names[0] == 'tok_embeddings' and names[-2:] == ['norm', 'output'], names
assert layers == ['layers.%d' % i for i in range(16)], layers
print(' '.join(str(sum(n.startswith('layers.') for n in p)) for p in parts))" 2>&1)
    if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok "$name"; else notok "$name" "exit $rc" "got '$got', want '$want'"; fi
}
tt_stages "torchtitan: pp 4 is written as moeplan's 4 x 4 layers" "4 4 4 4" --gpus 32 --pp 4 --vpp 1 --tp 1 --ep 8 --fsdp
tt_stages "torchtitan: an uneven pipeline, 3 + 5 + 5 + 3 layers" "3 5 5 3" --gpus 32 --pp 4 --tp 1 --ep 8 --fsdp \
    --pp-first-layers 3 --pp-last-layers 3
tt_stages "torchtitan: vpp 4 over pp 2, eight stages of 2" "2 2 2 2 2 2 2 2" --gpus 16 --pp 2 --vpp 4 --tp 1 --ep 8 \
    --fsdp
# The largest model a file allows, 1024 layers over pp 1024: every layer
# listed (about 19 KB, which the 16 KiB buffer used to refuse).
sed 's/^layers:.*/layers: 1024/' plans/seed-model.yaml >"$TMP/model-1024.yaml"
run explain --model "$TMP/model-1024.yaml" --workload $BF16 --gpus 1024 --tp 1 --pp 1024 --ep 1 --fsdp \
    --global-batch 2048 --emit torchtitan
got=$(sed -n '/^\[parallelism/,$p' "$OUT" | python3 -c "
import sys, tomllib
p = tomllib.loads(sys.stdin.read())['parallelism']['module_fqns_per_model_part']
print(len(p), p[0], p[-1])" 2>&1)
if [ "$rc" -eq 0 ] && [ "$got" = "1024 ['tok_embeddings', 'layers.0'] ['layers.1023', 'norm', 'output']" ]
then ok "torchtitan: 1024 layers over pp 1024, every stage written"; else notok "torchtitan: 1024 stages" "exit $rc" "$got"; fi
emit_check "torchtitan: vpp 4 keys" torchtitan "$TT" --workload $BF16 --gpus 16 --pp 2 --vpp 4 --tp 1 --ep 8 --fsdp
sed 's/^precision: .*/precision: bf16\nfp8: delayed/' $BF16 >"$TMP/fp8.yaml"
refused "torchtitan: an FP8 workload" "no TorchTitan float8 converter" \
    explain --hardware plans/hardware/h100-sxm.yaml --workload "$TMP/fp8.yaml" --gpus 8 --ep 8 --fsdp --emit torchtitan
refused "deepspeed: an FP8 workload" "FP8 workload would run without FP8" \
    explain --hardware plans/hardware/h100-sxm.yaml --workload "$TMP/fp8.yaml" --gpus 8 --ep 8 --fsdp --emit deepspeed

tap_done
