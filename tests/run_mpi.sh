#!/usr/bin/env bash
# moeplan run across ranks (mpirun, OpenMPI, the cpu backend): TP 2 x EP 2
# and PP 2 x DP 2 on 4 ranks; every collective the cost model lists is run
# on its own group and timed, the all-to-all's token ids arrive exactly, a
# world of the wrong size is refused naming the rank.  Skipped (77) where
# mpirun is missing or the build has no MPI.
. "${BASH_SOURCE%/*}/tap.sh" run-mpi

if ! command -v mpirun >/dev/null; then echo "skipped: no mpirun (openmpi-bin)"; exit 77; fi
MPI=(mpirun --oversubscribe -x ASAN_OPTIONS=detect_leaks=0 -x UBSAN_OPTIONS)
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
# OpenMPI's own allocations are not moeplan's leaks: LeakSanitizer is off
# for these runs (AddressSanitizer's other checks stay on).
mrun() {
    local np=$1
    shift
    timeout 300 "${MPI[@]}" -np "$np" "$MOEPLAN" "$@" >"$OUT" 2>"$ERR"
    rc=$?
}

mrun 4 run --plan tests/data/run-tp2-ep2-plan.yaml --format json --repeats 2
if grep -q "this build has no MPI" "$ERR"; then echo "skipped: this build has no MPI"; exit 77; fi
if [ "$rc" -eq 0 ] && python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d['world']['size'] == 4 and d['world']['alltoall_payloads_exact'] is True
coll = [o for o in d['ops'] if o['how'] == 'collective']
names = {o['name'] for o in coll}
for want in ('tp-gather-attn', 'tp-scatter-attn', 'ep-dispatch', 'ep-combine', 'ep-count-gather'):
    assert want in names, (want, names)
for o in coll:
    assert o['measured_fwd_s'] > 0, o
    if o['predicted_bwd_s'] > 0:
        assert o['measured_bwd_s'] > 0, o
assert d['world']['measured_comm_s'] > 0
assert d['world']['slowest_rank_s'] >= d['totals']['measured_s']
PY
then ok "mpirun -np 4, TP2 x EP2: every TP and EP collective measured on its group, all-to-all ids exact"
else notok "mpirun -np 4, TP2 x EP2" "exit $rc"; fi

mrun 4 run --plan tests/data/run-pp2-dp2-plan.yaml --format json --repeats 2 --optimizer
if [ "$rc" -eq 0 ] && python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
by = {o['name']: o for o in d['ops'] if o['how'] == 'collective'}
for want in ('dp-grad-reduce', 'dp-param-gather', 'grad-norm-all-reduce'):
    assert want in by and by[want]['measured_fwd_s'] > 0, (want, sorted(by))
assert by['dp-grad-reduce']['kernel'] == 'MPI reduce-scatter dp2'
assert by['grad-norm-all-reduce']['kernel'] == 'MPI all-reduce world4'
# Every rank's terms: ranks 0, 1 on pipeline rank 0 and 2, 3 on rank 1
# (rank order tp < cp < dp < pp: dp 2 inside each stage).
assert [(r['rank'], r['pipeline_rank']) for r in d['ranks']] == [(0, 0), (1, 0), (2, 1), (3, 1)]
assert all(r['measured_compute_s'] > 0 for r in d['ranks'])
PY
then ok "mpirun -np 4, PP2 x DP2 with the step: DP reduce-scatter, all-gather, the world's norm all-reduce"
else notok "mpirun -np 4, PP2 x DP2" "exit $rc"; fi

# The step's pipeline: 2 micro-batches of the PP2 x DP2 plan under 1F1B,
# activations and gradients sent between the stages.
mrun 4 run --plan tests/data/run-pp2-dp2-plan.yaml --format json --repeats 1 --step
if [ "$rc" -eq 0 ] && python3 -c "
import json; s = json.load(open('$OUT'))['step']
assert s['micro_batches'] == 2 and s['measured_s'] > 0 and s['predicted_s'] > 0 and s['predicted_bubble_s'] > 0
assert s['p2p_floats'] == 2 * 256 * 64  # micro-batch 2 x 256 tokens x hidden 64"; then
    ok "mpirun -np 4 run --step: 1F1B over 2 stages, predicted and measured"
else notok "mpirun -np 4 run --step" "exit $rc"; fi

# Interleaved: 3 chunks of one layer per stage, Megatron's interleaved
# 1F1B (the simulator's order, schedule.c), the last stage's chunk k
# feeding the first stage's chunk k+1 around the ring.
mrun 4 run --plan tests/data/run-pp2-vpp3-plan.yaml --format json --repeats 1 --step
if [ "$rc" -eq 0 ] && python3 -c "
import json; s = json.load(open('$OUT'))['step']
assert s['schedule'] == 'interleaved' and s['vpp'] == 3 and s['micro_batches'] == 2, s
assert s['measured_s'] > 0 and s['predicted_s'] > 0 and s['predicted_bubble_s'] > 0"; then
    ok "mpirun -np 4 run --step: interleaved 1F1B, 3 chunks per stage, around the ring"
else notok "mpirun -np 4 run --step, interleaved" "exit $rc"; fi

# calibrate --measure across ranks: bus bandwidth by size for each
# collective, written to the file; run predicts the collectives with it.
mrun 4 calibrate --measure -o "$TMP/cpu4.yaml"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^  - \[[1-4], 0, ' "$TMP/cpu4.yaml")" -eq 32 ] &&
   grep -q "collectives      32 (4 collectives x 8 sizes over 4 ranks, one node)" "$OUT"; then
    ok "mpirun -np 4 calibrate --measure: 32 collective bus bandwidths (4 collectives x 8 sizes, one node)"
else notok "mpirun -np 4 calibrate --measure" "exit $rc"; fi
mrun 4 run --plan tests/data/run-tp2-ep2-plan.yaml --hardware "$TMP/cpu4.yaml" --repeats 1
if [ "$rc" -eq 0 ] && grep -q "^  communication    predicted .* measured" "$OUT"; then
    ok "run --hardware the measured file: collectives predicted from the measured bus bandwidth"
else notok "run with the measured collectives" "exit $rc"; fi

mrun 2 run --plan tests/data/run-tp2-ep2-plan.yaml
if [ "$rc" -ne 0 ] && grep -q "the world has 2 ranks, the plan's layout 4 GPUs" "$ERR" && [ ! -s "$OUT" ]; then
    ok "mpirun -np 2 for a 4-GPU plan: refused, naming the rank"
else notok "mpirun -np 2 for a 4-GPU plan" "exit $rc"; fi

tap_done
