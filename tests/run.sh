#!/usr/bin/env bash
# moeplan run --backend cpu on a small plan: every op the cost model lists
# is either run (its kernel or a stand-in copy) or said not measured
# (communication), measured times are positive, the totals add up, and the
# errors are printed; bad options and a missing GPU backend exit 2.  The
# errors themselves are not asserted: CI machines are shared and noisy.
. "${BASH_SOURCE%/*}/tap.sh" run

PLAN=tests/data/run-small-plan.yaml

run run --plan $PLAN --format json --repeats 2 --optimizer
if [ "$rc" -eq 0 ] && python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ops = d['ops']
assert d['backend'] == 'cpu' and d['rank'] == 0 and d['layers_run'] == d['layers_rank'] == 3
kinds = {o['how'] for o in ops}
assert kinds == {'kernel', 'stand-in', 'not measured'}, kinds
comp = mem = 0.0
for o in ops:
    if o['how'] == 'not measured':
        assert o['measured_fwd_s'] is None
        continue
    if o['predicted_fwd_s'] > 0:
        assert o['measured_fwd_s'] > 0, o
    if o['predicted_bwd_s'] > 0:
        assert o['measured_bwd_s'] > 0, o
    # A pass priced at nothing is not timed (embedding-grad's forward
    # measured the timer alone, some 30 ns, into the memory-bound total).
    if o['predicted_fwd_s'] == 0:
        assert o['measured_fwd_s'] == 0, o
    if o['predicted_bwd_s'] == 0:
        assert o['measured_bwd_s'] == 0, o
# Each kernel the cost model's op names call for ran as itself.
by = {(o['block'], o['name']): o['kernel'] for o in ops}
assert by[('attention', 'qkv-proj')] == 'gemm'
assert by[('attention', 'attention-core')] == 'causal attention'
assert by[('attention', 'input-norm')] == 'rmsnorm'
assert by[('moe-mlp', 'expert-fc1')] == 'grouped gemm x2'
assert by[('moe-mlp', 'expert-act')] == 'swiglu'
assert by[('moe-mlp', 'router-softmax-topk')] == 'router top-2'
assert by[('moe-mlp', 'permute')] == 'permute' and by[('moe-mlp', 'unpermute')] == 'unpermute'
assert by[('step', 'optimizer-step')] == 'adamw'
t = d['totals']
s = t['measured_compute_s'] + t['measured_memory_s']
assert abs(s - t['measured_s']) <= 1e-12 * max(1, s)
# The peak is the plan's ops', not the host probe's two 64 MiB copy
# buffers (this run measures the host: no --hardware): 134.22 MB was
# printed before the mark was reset at the run's start.
assert 0 < d['high_water_bytes'] < 2 * 64 * 1048576, d['high_water_bytes']
PY
then ok "run --backend cpu: every op run or said not measured, kernels by name, totals add up"
else notok "run --backend cpu: ops and totals" "exit $rc"; fi

run run --plan $PLAN --rank 1 --repeats 1
if [ "$rc" -eq 0 ] && grep -q "pipeline rank 1 of 2" "$OUT" && grep -q "^cross-entropy .*cross entropy" "$OUT" &&
   grep -q "not measured: one rank has no peers" "$OUT"; then ok "run --rank 1: the output layer's cross entropy"
else notok "run --rank 1" "exit $rc"; fi

run run --plan $PLAN --layers 1 --repeats 1 --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json; d = json.load(open('$OUT')); assert d['layers_run'] == 1 and d['layers_rank'] == 3"; then
    ok "run --layers 1: one of the rank's three layers"
else notok "run --layers 1" "exit $rc"; fi

# MLA: attention at the query-key head dim (nope 8 + rope 4 = 12), RoPE on
# the rotary part; every op measured.
run run --plan tests/data/run-mla-plan.yaml --repeats 1 --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json; d = json.load(open('$OUT'))
k = {o['name']: o for o in d['ops']}
assert k['attention-core']['kernel'] == 'causal attention' and k['attention-core']['measured_fwd_s'] > 0
assert k['rope']['kernel'] == 'rope' and k['rope']['measured_fwd_s'] > 0"; then ok "run on an MLA model"
else notok "run on an MLA model" "exit $rc"; fi

# --tolerance: exit 1 when the total is off by more (a tolerance no run
# meets), the tolerance printed as given (it read "tolerance 0%" for a
# tolerance under 0.5%, rounded to a whole percent).
run run --plan $PLAN --repeats 1 --tolerance 0.0001%
if [ "$rc" -eq 1 ] && grep -q "^tolerance 0.0001%: EXCEEDED$" "$OUT"; then ok "run --tolerance: exit 1 when exceeded"
else notok "run --tolerance" "exit $rc"; fi
run run --plan $PLAN --repeats 1 --tolerance 100000%
if [ "$rc" -eq 0 ] && grep -q "^tolerance 100000%: met$" "$OUT"; then ok "run --tolerance: exit 0 when met"
else notok "run --tolerance met" "exit $rc"; fi

# calibrate --measure on the CPU, then run with the file it wrote: both
# errors printed (their size is the machine's, not asserted).
run calibrate --measure --plan $PLAN -o "$TMP/cpu.yaml"
if [ "$rc" -eq 0 ] && grep -q "^measured_gemm:" "$TMP/cpu.yaml" && grep -q "^measured_memory:" "$TMP/cpu.yaml" &&
   grep -Eq "total error [-+][0-9.]+% with the 1024\^3 rate .*, [-+][0-9.]+% with the measured tables" "$OUT"; then
    ok "calibrate --measure --backend cpu: tables written, run's error before and after"
else notok "calibrate --measure" "exit $rc"; fi
# One measurement of the 1024^3 product: peak_flops and its measured_gemm
# row are the same number (they were two timings, apart by noise).
peak=$(awk '/^peak_flops:/ {print $2}' "$TMP/cpu.yaml")
row=$(awk -F'[][, ]+' '/^  - \[1024, 1024, 1024,/ {print $6}' "$TMP/cpu.yaml")
if [ -n "$peak" ] && [ "$peak" = "$row" ]; then
    ok "calibrate --measure: peak_flops is the 1024^3 row of measured_gemm ($peak)"
else notok "calibrate --measure: peak_flops is the 1024^3 row of measured_gemm" "peak '$peak', row '$row'"; fi
# The same as JSON (moeplan(1), calibrate --format json): counts as
# integers, the rates positive, the two run errors given.
run calibrate --measure --plan $PLAN -o "$TMP/cpu-j.yaml" --format json
json_check "calibrate --measure --format json: the report's figures" "
d['backend'] == 'cpu' and d['plan'] == '$PLAN' and d['gemm_shapes'] >= 27 and d['gemm_shapes_from_plan'] >= 1
and d['copy_sizes'] == 8 and d['gemm_1024_flops_per_s'] > 0 and d['copy_64mib_bytes_per_s'] > 0
and d['wrote'] == '$TMP/cpu-j.yaml' and d['collectives'] == 0 and d['allreduce_16mib_bus_bytes_per_s'] is None
and isinstance(d['run_error_before'], float) and isinstance(d['run_error_after'], float)"
run run --plan $PLAN --hardware "$TMP/cpu.yaml" --repeats 1
if [ "$rc" -eq 0 ] && grep -q "predicted with cpu backend (calibrate --measure)" "$OUT"; then
    ok "run --hardware: predicts with the measured file"
else notok "run --hardware the measured file" "exit $rc"; fi

# Routing: Zipf with skew 1 over run-small's 4 experts prefers them
# 12 : 6 : 4 : 3 (p = .48, .24, .16, .12).  A token's 2 experts are
# distinct, so expert i is among them with pi_i = p_i + sum_j p_j p_i /
# (1 - p_j): .7885 and .5400 for experts 0 and 1, which EP rank 0 holds:
# (.7885 + .5400) / 2 = 0.6642 of the copies, 1.3284x the mean of 2 ranks
# (1.44x drawn with replacement).  The cost model is asked at that load,
# and the rank's experts run 512 x 1.3284 = 680 rows.
run run --plan $PLAN --format json --repeats 1 --routing zipf:1
if [ "$rc" -eq 0 ] && python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d['routing']
p = [12 / 25, 6 / 25, 4 / 25, 3 / 25]
pi = [p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(4) if j != i) for i in range(4)]
want = (pi[0] + pi[1]) / 2 * 2
assert abs(want - 1.3284) < 1e-4, want
assert r['ep_rank'] == 0 and abs(r['load'] - want) < 1e-5 and abs(r['expert_load'] - want) < 1e-5, r
fc1 = [o for o in d['ops'] if o['name'] == 'expert-fc1'][0]
assert fc1['shape'].startswith('680x'), fc1['shape']  # 512 rows per expert x 1.3284
assert fc1['measured_fwd_s'] > 0
PY
then ok "run --routing zipf:1: the busiest EP rank's experts at 1.33x, priced and run"
else notok "run --routing zipf:1" "exit $rc"; fi
refused "run --routing zpf:1" "is not balanced, zipf:S" run --plan $PLAN --routing zpf:1
refused "run --routing on a dense model" "no experts" run --plan tests/data/run-mla-plan.yaml --routing zipf:1

refused "run --backend cuda without a CUDA backend: exit 2, said why" "--backend cuda:" run --plan $PLAN --backend cuda
refused "run --backend tpu: unknown" "unknown backend 'tpu'" run --plan $PLAN --backend tpu
refused "run --rank 2 of pp 2" "pipeline ranks 0 to 1" run --plan $PLAN --rank 2
refused "run without --plan" "run needs --plan" run
refused "run --tolerance 5: a bare number above 1 is refused, not read as 500%" \
    "--tolerance: '5' is 500% as a fraction; write '5%' for 5 percent" run --plan $PLAN --tolerance 5
# A workload with Megatron-LM's old pipeline scatter-gather (2021-2023):
# priced by explain, refused by run, which sends activations whole.
D=$PWD/tests/data
printf 'name: sg\nglobal_batch: 8\nseq_len: 256\nprecision: bf16\nflash_attention: true\npp_scatter_gather: true\n' >"$TMP/wl-sg.yaml"
printf 'name: sg\nmodel: %s/model-mla-small.yaml\nhardware: %s/../../plans/seed-hardware.yaml\nworkload: %s\nlayout:\n  gpus: 4\n  tp: 2\n  pp: 2\n  sequence_parallel: false\n' \
    "$D" "$D" "$TMP/wl-sg.yaml" >"$TMP/plan-sg.yaml"
refused "run of a pp_scatter_gather workload: priced, not run" "pp_scatter_gather (Megatron-LM's pipeline sends of 2021-2023) is priced by explain and plan but not run" \
    run --plan "$TMP/plan-sg.yaml"
run explain --plan "$TMP/plan-sg.yaml"
if [ "$rc" -eq 0 ]; then ok "explain of a pp_scatter_gather workload"; else notok "explain of a pp_scatter_gather workload" "exit $rc"; fi
refused "run --step with pp 2 on one rank" "needs one rank per GPU" run --plan $PLAN --step
refused "run --repeats 0" "--repeats: expected a whole number from 1 to 64" run --plan $PLAN --repeats 0
refused "run --layers absurdly large" "--layers: expected a whole number from 1 to 100000, got '99999999999'" run \
    --plan $PLAN --layers 99999999999
# run-small: 6 layers over pp 2, 3 a rank.
refused "run --layers above every rank's layers" "--layers 4: the plan's pipeline ranks have at most 3 layers (6 layers over pp 2)" \
    run --plan $PLAN --layers 4
refused "run --tolerance negative" "--tolerance: expected a fraction" run --plan $PLAN --tolerance -5%
refused "calibrate --measure --backend cuda without it" "--backend cuda:" calibrate --measure --backend cuda
refused "calibrate --backend without --measure" "--backend goes with --measure" calibrate --backend cpu
# The fit's options with --measure were accepted and ignored.
refused "calibrate --measure --fit: refused, not ignored" "--fit goes with a fit (--runs or --megatron-log), not --measure" \
    calibrate --measure --fit gemm_efficiency -o "$TMP/x.yaml"
refused "calibrate --measure --folds" "--folds goes with a fit" calibrate --measure --folds 3 -o "$TMP/x.yaml"
refused "calibrate --measure --exclude" "--exclude goes with a fit" calibrate --measure --exclude 'a*' -o "$TMP/x.yaml"
refused "calibrate --measure --hardware-dir" "--hardware-dir goes with a fit" calibrate --measure --hardware-dir plans/hardware

tap_done
