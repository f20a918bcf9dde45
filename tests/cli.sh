#!/usr/bin/env bash
# Command-line tests: exit codes, the stdout/stderr contract, error positions,
# and the shape of every output format.
#
#   MOEPLAN=build/src/moeplan SRCDIR=. bash tests/cli.sh
#
# The contract tested here (moeplan(1), EXIT STATUS):
#   - bad input or usage: exit 2, NOTHING on stdout, and on stderr one line
#     `moeplan: [FILE:LINE:COL: ]error: ...` (a usage error may add the hint
#     line "Try 'moeplan --help'.", as jq does);
#   - errors in a file name the file, the line and the column of the
#     offending key or value (positions are listed per file below);
#   - `check`: 0 when every requirement holds, 1 when one fails;
#   - output is deterministic.
# Prints "ok N - name" / "not ok N - name" per case, then "P passed, F failed".
. "${BASH_SOURCE%/*}/tap.sh" cli

# The error message proper: stderr without a trailing "Try 'moeplan --help'."
# hint line.
error_lines() {
    grep -v -x "Try 'moeplan --help'." "$ERR"
}

# check_error NAME REGEX [SUBSTRING]: the last command failed as bad input.
# REGEX is matched (grep -E) against the error line; SUBSTRING, when given,
# must appear in it verbatim.
check_error() {
    local name=$1 re=$2 sub=${3-}
    local why=()
    [ "$rc" -eq 2 ] || why+=("exit status $rc, expected 2")
    [ -s "$OUT" ] && why+=("stdout is not empty: $(head -c 200 "$OUT" | tr '\n' '|')")
    local lines
    lines=$(error_lines | wc -l)
    [ "$lines" -eq 1 ] || why+=("stderr has $lines message lines, expected exactly 1")
    local first
    first=$(error_lines | head -n 1)
    case "$first" in
    "moeplan: "*) ;;
    *) why+=("the message does not start with 'moeplan: '") ;;
    esac
    case "$first" in
    *"error:"*) ;;
    *) why+=("the message does not contain 'error:'") ;;
    esac
    if [ -n "$re" ] && ! printf '%s\n' "$first" | grep -Eq -- "$re"; then
        why+=("the message does not match /$re/")
    fi
    if [ -n "$sub" ]; then
        case "$first" in
        *"$sub"*) ;;
        *) why+=("the message does not contain \"$sub\"") ;;
        esac
    fi
    if [ ${#why[@]} -eq 0 ]; then ok "$name"; else notok "$name" "${why[@]}"; fi
}

# expect_bad NAME REGEX SUBSTRING -- ARGS...
expect_bad() {
    local name=$1 re=$2 sub=$3
    shift 4
    run "$@"
    check_error "$name" "$re" "$sub"
}

# The command used to load a bad file, by its name's prefix.
loader_for() {
    local f=$1 b
    b=$(basename "$f")
    case "$b" in
    hw-*) echo "explain --hardware $f" ;;
    wl-*) echo "explain --workload $f" ;;
    plan-*) echo "check $f" ;;
    proposal-*) echo "audit $f" ;;
    *) echo "explain --model $f" ;;
    esac
}

escape_re() {
    printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'
}

# ------------------------------------------------------------ bad input files

D=tests/data/bad

# Expected positions: FILE|LINE:COL|text the message must contain.  The line
# and column are those of the offending value (or key, for an unknown key;
# or the top-level mapping, for a missing key).
declare -A positioned=()
while IFS='|' read -r file pos sub; do
    [ -n "$file" ] || continue
    positioned[$file]=1
    f="$D/$file"
    if [ ! -f "$f" ]; then
        notok "position in $file" "missing test file $f"
        continue
    fi
    # shellcheck disable=SC2046
    run $(loader_for "$f")
    check_error "position $file:$pos" "^moeplan: $(escape_re "$f"):$pos: error: " "$sub"
done <<'EOF'
hw-unknown-key.yaml|5:1|did you mean 'memory'
hw-bad-unit.yaml|5:9|unknown unit 'GBs'
hw-bare-number.yaml|5:9|has no unit
hw-zero.yaml|3:13|peak_flops
hw-negative.yaml|4:6|mfu
hw-absurd.yaml|5:9|memory
hw-missing-key.yaml|3:1|missing required key 'peak_flops'
hw-wrong-type.yaml|8:16|must be a whole number
hw-mapping-for-quantity.yaml|6:3|not a mapping
wl-seq-reversed.yaml|4:10|seq_len
wl-negative-batch.yaml|3:15|global_batch
wl-capacity.yaml|5:18|capacity_factor
wl-bad-enum.yaml|5:12|did you mean 'bf16'
model-layers-word.yaml|3:9|must be a whole number
model-missing-hidden.yaml|3:1|missing required key 'hidden'
model-huge-hidden.yaml|4:9|hidden
model-zero-layers.yaml|3:9|layers
malformed.yaml|4:7|
duplicate-key.yaml|5:1|appears twice
top-level-list.yaml|2:1|mapping
empty.yaml|1:1|empty
hf-experts-list.json|10:24|num_local_experts
hf-float-heads.json|5:26|num_attention_heads
hf-missing-comma.json|4:15|
hf-trailing-comma.json|9:1|not valid JSON
hf-nan.json|8:21|not valid JSON: invalid token near 'NaN'
hf-missing-layers.json|1:1|missing required key 'num_hidden_layers'
plan-unknown-key.yaml|9:1|did you mean 'requirements'
plan-bare-time.yaml|10:18|has no unit
proposal-bad-metric.yaml|11:13|did you mean 'tokens_per_s'
proposal-empty-claims.yaml|9:9|'claims' is empty: a proposal states at least one claim
proposal-source-map.yaml|3:9|'source' must be a string, not a mapping
proposal-bad-relation.yaml|12:15|relation
proposal-bad-value.yaml|13:12|unknown unit 'GBs'
EOF

# Checked one by one below.
positioned[plan-divisibility.yaml]=1
positioned[plan-missing-model.yaml]=1

# Every other file in tests/data/bad is refused with exit 2, an empty stdout
# and a single `moeplan: FILE[:LINE:COL]: error:` line naming the file.
for f in "$D"/*; do
    [ -f "$f" ] || continue
    [ -n "${positioned[$(basename "$f")]-}" ] && continue
    # shellcheck disable=SC2046
    run $(loader_for "$f")
    check_error "bad file $(basename "$f") is refused" "^moeplan: $(escape_re "$f")(:[0-9]+:[0-9]+)?: error: "
done

# A layout in a plan file that breaks a divisibility rule (tp 3 vs 16
# heads): the message names the rule and points into the file's layout
# mapping (lines 6-10; the 'tp' value is at 8:7).
run check "$D/plan-divisibility.yaml"
check_error "plan file layout rule (tp 3) has a position" \
    "^moeplan: $(escape_re "$D/plan-divisibility.yaml"):(6|7|8|9|10):[0-9]+: error: " "heads"

# A plan naming a model file that does not exist: said at the plan's
# 'model' key (line 2, the value at column 8), which is what to fix.
run check "$D/plan-missing-model.yaml"
check_error "plan naming a missing model file, at the plan's key" \
    "^moeplan: $(escape_re "$D/plan-missing-model.yaml"):2:8: error: 'model': " "no-such-model.yaml"

# Paths that are not readable files.
expect_bad "--model is a directory" "^moeplan: $(escape_re "$D"): error: " "" -- explain --model "$D"
expect_bad "--model does not exist" "^moeplan: $(escape_re "$D/nope.yaml"): error: " "" -- explain --model "$D/nope.yaml"
expect_bad "check of a directory" "^moeplan: $(escape_re "$D"): error: " "" -- check "$D"
expect_bad "check of a missing file" "^moeplan: $(escape_re "$D/nope.yaml"): error: " "" -- check "$D/nope.yaml"
expect_bad "audit of a missing file" "^moeplan: $(escape_re "$D/nope.yaml"): error: " "" -- audit "$D/nope.yaml"
expect_bad "audit of a plan file (wrong format)" "^moeplan: plans/seed-plan\\.yaml:[0-9]+:[0-9]+: error: " \
    "requirements" -- audit plans/seed-plan.yaml

# ------------------------------------------------------------------ bad flags

expect_bad "unknown option --tpp (near miss)" "^moeplan: error: " "did you mean '--tp'" -- --tpp 2
expect_bad "unknown option --micro-bach (near miss)" "^moeplan: error: " "did you mean '--micro-batch'" -- plan --micro-bach 2
expect_bad "unknown option --hardwre (near miss)" "^moeplan: error: " "did you mean '--hardware'" -- explain --hardwre x
expect_bad "--tp 0" "^moeplan: error: " "--tp" -- --tp 0
expect_bad "--tp abc" "^moeplan: error: " "'abc'" -- --tp abc
expect_bad "--tp without a value" "^moeplan: error: " "--tp" -- --tp
expect_bad "--gpus 0" "^moeplan: error: " "--gpus" -- --gpus 0
expect_bad "--gpus 0-5" "^moeplan: error: " "--gpus" -- plan --gpus 0-5
expect_bad "explain --gpus 8-64 (a range)" "^moeplan: error: " "--gpus" -- explain --gpus 8-64
expect_bad "--seq-len 10-5" "^moeplan: error: " "--seq-len" -- --seq-len 10-5
expect_bad "--seq-len 0" "^moeplan: error: " "--seq-len" -- explain --seq-len 0
expect_bad "--global-batch 0" "^moeplan: error: " "--global-batch" -- explain --global-batch 0
expect_bad "--format xml" "^moeplan: error: " "--format" -- --format xml
expect_bad "explain --format csv" "^moeplan: error: " "csv" -- explain --format csv
expect_bad "--recompute sometimes" "^moeplan: error: " "--recompute" -- --recompute sometimes
expect_bad "--sequence-parallel=maybe" "^moeplan: error: " "--sequence-parallel" -- explain --sequence-parallel=maybe
expect_bad "--headroom 1.5" "^moeplan: error: " "--headroom" -- plan --headroom 1.5
# --headroom takes what a plan file's min_headroom takes, 0 to 0.99
expect_bad "--headroom 0.995, above min_headroom's 0.99" "^moeplan: error: --headroom: expected a fraction of capacity from 0 to 0.99" "" \
    -- plan --headroom 0.995
expect_bad "--target-step-time 5 (no unit)" "^moeplan: error: " "--target-step-time" -- plan --target-step-time 5
expect_bad "--target-tokens-per-s -1" "^moeplan: error: " "--target-tokens-per-s" -- plan --target-tokens-per-s -1
expect_bad "--emit nemo" "^moeplan: error: " "--emit" -- plan --emit nemo
expect_bad "-n 0" "^moeplan: error: " "--top" -- plan -n 0
expect_bad "--sort fastest" "^moeplan: error: " "--sort" -- plan --sort fastest
expect_bad "bench --reps 0" "^moeplan: error: " "--reps" -- bench --reps 0
expect_bad "unknown command pln (near miss)" "^moeplan: error: " "did you mean 'plan'" -- pln
expect_bad "unknown command with no near miss" "^moeplan: error: " "unknown command" -- frobnicate
expect_bad "unexpected argument to explain" "^moeplan: error: " "'extra'" -- explain extra
expect_bad "check with a second argument names it" "^moeplan: error: " "'extra'" -- check plans/seed-plan.yaml extra
# The plan both as the argument and as --plan was "unexpected argument".
expect_bad "check PLAN --plan PLAN: one plan, given twice" "^moeplan: error: check takes one plan: " \
    "'plans/seed-plan.yaml' and --plan 'plans/ci-example-failing.yaml' are both given; give one" \
    -- check plans/seed-plan.yaml --plan plans/ci-example-failing.yaml
expect_bad "check without a plan file" "^moeplan: error: " "plan file" -- check
expect_bad "audit without a proposal" "^moeplan: error: " "proposal" -- audit

# Layout rules broken by flags.  explain and the planner (the default
# command) alike refuse a pinned value that no layout can satisfy.
expect_bad "explain --tp 3 (16 heads)" "^moeplan: error: " "heads" -- explain --tp 3
expect_bad "explain --ep 5 (64 experts)" "^moeplan: error: " "ep" -- explain --ep 5
expect_bad "explain --gpus 100 --tp 3" "^moeplan: error: " "not divisible" -- explain --gpus 100 --tp 3
# Causal CP cuts the sequence into 2 * cp chunks: cp 8 needs a multiple of 16,
# and the message names cp as given (8), not 2 * cp in its place.
expect_bad "explain --cp 8 --seq-len 100: 2 * cp = 16, cp named as 8" "^moeplan: error: " \
    "sequence (100) not divisible by 2 * cp (8) = 16" -- explain --gpus 8 --cp 8 --seq-len 100
# An uneven pipeline takes both counts (moeplan(1): "needs vpp 1 and both
# values"): one alone is named, not reported as "last 0" (explain) or as
# every pp failing to split "as 4 on the first rank, 0 on the last" (plan).
expect_bad "explain --pp-first-layers without --pp-last-layers" "^moeplan: error: " \
    "only the first (4) is given" -- explain --gpus 8 --pp 2 --pp-first-layers 4
expect_bad "plan --pp-last-layers without --pp-first-layers" "^moeplan: error: " \
    "--pp-last-layers needs --pp-first-layers too" -- plan --gpus 8 --pp-last-layers 4
printf 'layout:\n  gpus: 8\n  pp: 2\n  pp_last_layers: 3\n' > "$TMP/plan-last-only.yaml"
expect_bad "check: a plan with pp_last_layers alone" "^moeplan: .*plan-last-only\\.yaml:[0-9]+:[0-9]+: error: " \
    "only the last (3) is given" -- check "$TMP/plan-last-only.yaml"
expect_bad "explain --gpus 8 --vpp 2 (vpp needs pp > 1)" "^moeplan: error: " "vpp" -- explain --gpus 8 --vpp 2
expect_bad "explain MoE with tp 4 and no sequence parallelism" "^moeplan: error: " "sequence" -- \
    explain --gpus 128 --tp 4 --no-sequence-parallel
expect_bad "check --tp 3 over a plan file" "^moeplan: error: " "" -- check --tp 3 plans/seed-plan.yaml
expect_bad "plan --tp 3 (16 heads)" "^moeplan: error: " "heads" -- --tp 3
expect_bad "plan --ep 5 (64 experts)" "^moeplan: error: " "ep" -- --ep 5
expect_bad "plan --gpus 100 --tp 3" "^moeplan: error: " "" -- --gpus 100 --tp 3

# An output file that cannot be written is an error too, reported alone.
expect_bad "--plot into a missing directory" "" "/nonexistent-dir/x.svg" -- \
    plan --gpus 8 --plot /nonexistent-dir/x.svg

# ------------------------------------------------------------------ check

run check plans/seed-plan.yaml
if [ "$rc" -eq 0 ] && grep -q '^PASS' "$OUT" && ! grep -q '^FAIL' "$OUT" && [ ! -s "$ERR" ]; then
    ok "check plans/seed-plan.yaml exits 0, all PASS"
else
    notok "check plans/seed-plan.yaml exits 0, all PASS" "exit $rc"
fi

run check plans/ci-example-failing.yaml
if [ "$rc" -eq 1 ] && grep -q '^FAIL' "$OUT" && [ ! -s "$ERR" ]; then
    ok "check plans/ci-example-failing.yaml exits 1 and prints FAIL"
else
    notok "check plans/ci-example-failing.yaml exits 1 and prints FAIL" "exit $rc"
fi

# A step-time target 0.4 us under the computed step, equal to it at two
# decimals: the FAIL line shows more decimals (three or more), so the two
# values differ.
"$MOEPLAN" explain --plan plans/seed-plan.yaml --format json >"$TMP/seed.json" 2>/dev/null
target_ms=$(python3 -c "import json; t=json.load(open('$TMP/seed.json'))['time_per_step_s']['total']*1e3; print('%.4f' % (t - 0.0004))")
mkdir -p "$TMP/tight"
cp plans/seed-model.yaml plans/seed-workload.yaml plans/seed-hardware.yaml "$TMP/tight/"
sed "s/^  max_step_time: .*/  max_step_time: $target_ms ms/" plans/seed-plan.yaml >"$TMP/tight/plan.yaml"
run check "$TMP/tight/plan.yaml"
fail_line=$(grep '^FAIL  step time' "$OUT")
# shellcheck disable=SC2086
set -- $fail_line
if [ "$rc" -eq 1 ] && [ -n "$fail_line" ] && [ "$4 $5" != "$7 $8" ] && [[ "$4" =~ \.[0-9]{3,}$ ]]; then
    ok "check: a FAIL whose values round alike shows them apart ($fail_line)"
else
    notok "check: a FAIL whose values round alike shows them apart" "exit $rc: $fail_line"
fi

run check --format json plans/ci-example-failing.yaml
if [ "$rc" -eq 1 ]; then ok "check --format json of a failing plan exits 1"; else notok "check --format json of a failing plan exits 1" "exit $rc"; fi
json_check "check --format json: pass false, failed > 0, a verdict per requirement" \
    "d['pass'] is False and d['failed'] >= 1 and all(set(c) >= {'requirement','computed','required','op','pass'} for c in d['checks']) and d['failed'] == sum(not c['pass'] for c in d['checks'])"

run check --format json plans/seed-plan.yaml
json_check "check --format json of the seed plan passes" "d['pass'] is True and d['failed'] == 0 and d['layout']['gpus'] == 128 and d['fits'] is True"
# Bytes and GPU counts are JSON integers (moeplan(1) OUTPUT), the same
# figure as explain's memory total.
json_check "check --format json: memory per GPU in whole bytes" \
    "[c for c in d['checks'] if c['requirement'] == 'memory per GPU'][0]['computed'] == 5517379789 and all(isinstance(c['computed'], int) and isinstance(c['required'], int) for c in d['checks'] if c['requirement'] in ('memory per GPU', 'GPUs'))"

# Each check names the unit its computed and required figures are in (the
# requirement's name alone left a consumer to guess 0.346 was seconds).
run check --format json plans/ci-example-failing.yaml
json_check "check --format json: each check has its unit" \
    "{c['requirement']: c['unit'] for c in d['checks']} == {'memory per GPU': 'bytes', 'memory headroom': 'fraction', 'step time': 's', 'tokens/s': 'tokens/s', 'GPUs': 'GPUs', 'MFU': 'fraction'}"

# ------------------------------------------------------------------ explain

run explain --format json
if [ "$rc" -eq 0 ] && [ -s "$OUT" ]; then ok "explain --format json exits 0"; else notok "explain --format json exits 0" "exit $rc"; fi
json_check "explain --format json has the documented keys" "
set(d) >= {'params_total','params_active_per_token','layout','memory_per_gpu_bytes','fits','flops_per_step',
           'hardware_flops_per_step','time_per_step_s','tokens_per_s','sequences_per_s','mfu','communication_s',
           'headroom_bytes','model','hardware','seq_len'}
and set(d['memory_per_gpu_bytes']) >= {'weights','gradients','optimizer','activations','other','total','capacity'}
and set(d['time_per_step_s']) >= {'compute','memory_bound','communication','bubble','total'}
and set(d['layout']) >= {'gpus','tp','pp','dp','cp','ep','etp','edp','vpp','micro_batch','num_micro_batches',
                         'recompute','sequence_parallel','distributed_optimizer'}
and set(d['communication_s']) >= {'tp','ep','cp','pp','dp'}"
json_check "explain --format json: the parts add up to the totals" "
abs(sum(d['time_per_step_s'][k] for k in ('compute','memory_bound','communication','bubble')) - d['time_per_step_s']['total']) <= 1e-6 * d['time_per_step_s']['total']
and abs(sum(d['memory_per_gpu_bytes'][k] for k in ('weights','gradients','optimizer','activations','other')) - d['memory_per_gpu_bytes']['total']) <= 1e-6 * d['memory_per_gpu_bytes']['total']
and d['fits'] == (d['memory_per_gpu_bytes']['total'] <= d['memory_per_gpu_bytes']['capacity'])"
json_check "explain: MFU = model FLOPs / (step time x GPUs x peak)" "
abs(d['mfu'] - d['flops_per_step'] / (d['time_per_step_s']['total'] * d['layout']['gpus'] * 400e12)) <= 1e-6 * d['mfu']"

run explain --format json --ops
json_check "explain --format json --ops lists ops per block" "
all(isinstance(d['ops_per_micro_batch'][b], list) and d['ops_per_micro_batch'][b] for b in ('embedding','attention','moe-mlp','lm-head'))"

run explain --model tests/data/hf/mixtral-8x7b.json --gpus 64 --tp 2 --pp 4 --ep 8
if [ "$rc" -eq 0 ] && grep -q '8 experts, top-2' "$OUT"; then
    ok "explain a Hugging Face config (Mixtral 8x7B)"
else
    notok "explain a Hugging Face config (Mixtral 8x7B)" "exit $rc"
fi

run explain --format json --gpus 128 --tp 4 --pp 2 --ep 16
json_check "etp defaults to tp, sequence parallelism on when tp > 1, distributed optimizer on" "
d['layout']['etp'] == 4 and d['layout']['sequence_parallel'] is True and d['layout']['distributed_optimizer'] is True and d['layout']['dp'] == 16"

# MOEPLAN_PLANS is searched first for the default files.
mkdir -p "$TMP/plans"
cp plans/seed-model.yaml plans/seed-workload.yaml plans/seed-plan.yaml "$TMP/plans/"
sed 's/^memory: .*/memory: 80 GB/' plans/seed-hardware.yaml >"$TMP/plans/seed-hardware.yaml"
MOEPLAN_PLANS="$TMP/plans" "$MOEPLAN" explain --format json >"$OUT" 2>"$ERR"
rc=$?
json_check "MOEPLAN_PLANS is searched first for the default files" "d['memory_per_gpu_bytes']['capacity'] == 80e9"

if [ -w /dev/full ]; then
    # Small outputs (explain's text, within stdio's buffer) and large ones
    # (plan's JSON, validate, audit: over 4 KiB, written past the buffer).
    for args in "explain" "--help" "-V" "plan --gpus 8 --format json" "validate --runs $SRCDIR/validate/runs/dev-runs.yaml" \
        "audit $SRCDIR/plans/proposals/seed-ep16-tp4-pp2.yaml"; do
        # shellcheck disable=SC2086
        "$MOEPLAN" $args >/dev/full 2>"$ERR"
        rc=$?
        if [ "$rc" -eq 3 ] && grep -q '^moeplan: .*error: writing the output failed' "$ERR"; then
            ok "a failed write to stdout exits 3: $args"
        else
            notok "a failed write to stdout exits 3: $args" "exit $rc"
        fi
    done
fi

# ------------------------------------------------------------------ plan

run plan --gpus 8-64
cp "$OUT" "$TMP/plan1"
run plan --gpus 8-64
if [ "$rc" -eq 0 ] && [ -s "$OUT" ] && cmp -s "$OUT" "$TMP/plan1"; then
    ok "plan --gpus 8-64 is deterministic (two runs, same bytes)"
else
    notok "plan --gpus 8-64 is deterministic (two runs, same bytes)" "exit $rc"
fi

run plan --gpus 8-64 --format json --pareto --why-not
cp "$OUT" "$TMP/plan1.json"
run plan --gpus 8-64 --format json --pareto --why-not
if [ "$rc" -eq 0 ] && cmp -s "$OUT" "$TMP/plan1.json"; then
    ok "plan --format json is deterministic"
else
    notok "plan --format json is deterministic" "exit $rc"
fi
json_check "plan --format json has search, best, pareto, fewest_gpus, why_not" "
set(d) >= {'search','best','pareto','fewest_gpus','why_not'} and len(d['best']) == 10
and set(d['search']) >= {'considered','scored','kept','rejected','gpus_min','gpus_max'}
and all(set(c) >= {'layout','tokens_per_s','tokens_per_s_per_gpu','step_time_s','mfu','memory_per_gpu_bytes','headroom_bytes','fits'} for c in d['best'])
and all(8 <= c['layout']['gpus'] <= 64 and c['fits'] for c in d['best'])
and all(d['best'][i]['tokens_per_s'] >= d['best'][i+1]['tokens_per_s'] for i in range(len(d['best'])-1))"
# A layout rejected before every size was chosen shows the unchosen sizes as
# null; the sizes chosen must still multiply to a divisor of the GPU count,
# and to the GPU count itself once all four are chosen.
json_check "why-not samples are consistent layouts (gpus = tp*cp*dp*pp)" "
all((lambda L, ks: (L['gpus'] == L['tp']*L['cp']*L['dp']*L['pp']) if all(L[k] for k in ks)
     else L['gpus'] % __import__('math').prod(L[k] for k in ks if L[k]) == 0)(w['layout'], ('tp','cp','dp','pp'))
    for w in d['why_not']) and len(d['why_not']) > 0"

# Samples rejected before recomputation and the ZeRO stage are chosen show
# the first values the search would try -- the pinned ones -- never a stale
# value from the candidate before (once: 'rc:full zero2' under
# --recompute none).
run plan --gpus 64 --recompute full --zero 1 --format json --why-not
json_check "why-not samples carry the pinned recomputation and ZeRO stage, not stale ones" "
len(d['why_not']) > 0 and all(w['layout']['recompute'] == 'full' and w['layout']['zero'] == 1 for w in d['why_not'])"
# The seed's 16 layers over pp 3: 16 % 3 = 1, so not evenly; uneven first
# and last ranks (5 + 6 + 5) are tried only with --uneven-pipeline, and the
# reason says which was tried (it said "neither evenly nor with uneven first
# and last ranks" without the option, which tried none).
refused "plan pp 3 without --uneven-pipeline: the reason says uneven was not tried" \
    "layers 16 not divisible by pp 3 (--uneven-pipeline also tries uneven first and last ranks)" \
    plan --gpus 3 --pp 3
run plan --gpus 3 --pp 3 --uneven-pipeline
if [ "$rc" -eq 0 ] && grep -q -- '--pp-first-layers 5 --pp-last-layers 5' "$OUT"; then
    ok "plan pp 3 with --uneven-pipeline: 5 + 6 + 5"
else notok "plan pp 3 with --uneven-pipeline: 5 + 6 + 5" "exit $rc"; fi
# The pp column widens for an uneven pipeline's '3(5,5)' in every table of
# the report: each '|' of a header and its rows at the same column.
if [ "$rc" -eq 0 ] && awk '/^rank|^ +[0-9]+ +[0-9]+ /{ p = index($0, "|"); if (!want) want = p; if (p != want) bad = 1 }
        END { exit !(want > 0 && !bad) }' "$OUT"; then
    ok "plan --uneven-pipeline: the tables stay aligned with '3(5,5)' in the pp column"
else notok "plan --uneven-pipeline: the tables stay aligned with '3(5,5)' in the pp column" "$(grep -m3 '|' "$OUT")"; fi
refused "plan with pinned first/last layers that cannot split: the reason names them" \
    "layers 16 do not split over pp 2 as 3 on the first rank, 3 on the last" \
    plan --gpus 2 --pp 2 --pp-first-layers 3 --pp-last-layers 3
# One layout pinned: the fronts count it as "1 layout" (they said "1 layouts").
run plan --gpus 8 --tp 1 --cp 1 --pp 1 --ep 1 --etp 1 --micro-batch 2 --recompute none --zero 1 --pareto
if [ "$rc" -eq 0 ] && grep -q '^Pareto front, GPUs vs tokens/s: 1 layout, each' "$OUT" &&
    grep -q '^Pareto front over GPUs, tokens/s and memory: 1 layout (JSON' "$OUT"; then
    ok "plan: a front of one layout says '1 layout'"
else notok "plan: a front of one layout says '1 layout'" "exit $rc"; fi
# overlap_grad_reduce overlaps the gradient reduce-scatter and, with the
# distributed optimizer, the parameter all-gather (moeplan(5)): --emit
# megatron writes both flags, and only the first with ZeRO 0.
run explain --gpus 8 --workload tests/data/workload-bf16.yaml --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- '^--overlap-grad-reduce' "$OUT" && grep -q -- '^--overlap-param-gather' "$OUT"; then
    ok "overlap_grad_reduce with ZeRO 1: --overlap-grad-reduce --overlap-param-gather"
else notok "overlap_grad_reduce with ZeRO 1: --overlap-grad-reduce --overlap-param-gather" "exit $rc"; fi
run explain --gpus 8 --workload tests/data/workload-bf16.yaml --zero 0 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- '^--overlap-grad-reduce' "$OUT" && ! grep -q -- '--overlap-param-gather' "$OUT"; then
    ok "overlap_grad_reduce with ZeRO 0: no parameter gather to overlap"
else notok "overlap_grad_reduce with ZeRO 0: no parameter gather to overlap" "exit $rc"; fi
# Percentages are printed as given, not rounded to whole ones: --headroom
# 12.5% said "fit with 12% headroom" and 0.5% "0%"; a hardware file's
# fragmentation of 2.5% said "2% of allocations" while pricing 2.5%: the seed
# plan's 160.47 MB at 5% (README) halves to 80.24 MB.
run plan --gpus 8 --headroom 12.5%
if [ "$rc" -eq 0 ] && grep -q 'kept (fit with 12.5% headroom)' "$OUT"; then ok "plan --headroom 12.5% says 12.5%"
else notok "plan --headroom 12.5% says 12.5%" "exit $rc"; fi
run plan --gpus 8 --headroom 0.5%
if [ "$rc" -eq 0 ] && grep -q 'kept (fit with 0.5% headroom)' "$OUT"; then ok "plan --headroom 0.5% says 0.5%, not 0%"
else notok "plan --headroom 0.5% says 0.5%, not 0%" "exit $rc"; fi
sed 's/^fragmentation: .*/fragmentation: 2.5%/' plans/seed-hardware.yaml >"$TMP/hw-frag.yaml"
run explain --hardware "$TMP/hw-frag.yaml"
if [ "$rc" -eq 0 ] && grep -q '^  fragmentation        80.24 MB     0.07 GiB  2.5% of allocations' "$OUT" &&
    grep -q '+ 2.5% fragmentation$' "$OUT"; then ok "explain: fragmentation 2.5% says 2.5% (80.24 MB)"
else notok "explain: fragmentation 2.5% says 2.5% (80.24 MB)" "exit $rc" "$(grep -i fragm "$OUT" | tr '\n' '|')"; fi
run plan --gpus 64 --recompute none --format json --why-not
json_check "why-not samples under --recompute none say none" "
len(d['why_not']) > 0 and all(w['layout']['recompute'] == 'none' for w in d['why_not'])"

# The CSV's byte counts are rounded as the JSON's (half away from zero):
# this layout's total is an exact .5 bytes, which printf's %.0f took a byte
# lower than explain's JSON.
SG="--model tests/data/hf/gpt-oss-120b.json --hardware plans/hardware/h100-sxm.yaml --gpus 256 --tp 2 --cp 2 --dp 64 --ep 128 --etp 2 --micro-batch 2 --recompute selective"
# shellcheck disable=SC2086
csv_total=$("$MOEPLAN" plan $SG --format csv 2>/dev/null | sed -n 2p | cut -d, -f20)
# shellcheck disable=SC2086
json_total=$("$MOEPLAN" explain $SG --format json | python3 -c "import json,sys; print(json.load(sys.stdin)['memory_per_gpu_bytes']['total'])")
if [ -n "$csv_total" ] && [ "$csv_total" = "$json_total" ]; then ok "plan's CSV and explain's JSON give the same byte count ($csv_total)"
else notok "plan's CSV and explain's JSON give the same byte count" "csv $csv_total, json $json_total"; fi

run plan --gpus 8-64 --format csv
header="rank,gpus,tp,cp,dp,pp,etp,ep,edp,vpp,micro_batch,num_micro_batches,recompute,sequence_parallel,distributed_optimizer,tokens_per_s,tokens_per_s_per_gpu,step_time_s,mfu,memory_per_gpu_bytes,headroom_bytes,pareto,pp_first_layers,pp_last_layers,zero,shard_group"
rows=$(tail -n +2 "$OUT" | wc -l)
badrows=$(tail -n +2 "$OUT" | awk -F, 'NF != 26' | wc -l)
if [ "$rc" -eq 0 ] && [ "$(head -n 1 "$OUT")" = "$header" ] && [ "$rows" -eq 10 ] && [ "$badrows" -eq 0 ]; then
    ok "plan --format csv: header and 10 rows of 26 fields"
else
    notok "plan --format csv: header and 10 rows of 26 fields" "exit $rc, rows $rows, malformed $badrows"
fi
# cp without flash attention: plan names that cause, as explain does, not a
# divisibility of the sequence it does not break.
printf 'name: w\nglobal_batch: 64\nseq_len: 4096\nprecision: bf16\nflash_attention: false\n' >"$TMP/wl-noflash.yaml"
expect_bad "plan --cp 2 without flash attention names the cause" \
    "^moeplan: error: no layout on 8 GPUs passes the rules; first broken: 'seq%\\(2\\*cp\\)': cp \\(2\\) > 1 needs flash attention" "" \
    -- plan --gpus 8 --cp 2 --workload "$TMP/wl-noflash.yaml"
# One GPU count is one number in plan's header ("128-128 GPUs" read as a
# range); a range stays a range.
run plan --gpus 128 -n 1
if [ "$rc" -eq 0 ] && head -1 "$OUT" | grep -q '^moeplan plan: seed-moe on seed-accelerator, 128 GPUs, batch'; then
    ok "plan --gpus 128: the header says 128 GPUs"
else notok "plan --gpus 128 header" "exit $rc" "$(head -1 "$OUT")"; fi
expect_bad "plan --emit with --format csv is refused, not dropped" \
    "^moeplan: error: --emit megatron: with --format text or json, not csv" "" -- plan --gpus 8-64 --emit megatron --format csv

run plan --gpus 8-64 --emit megatron
missing=""
for a in --num-layers --tensor-model-parallel-size --pipeline-model-parallel-size --context-parallel-size \
    --expert-model-parallel-size --expert-tensor-parallel-size --micro-batch-size --global-batch-size --seq-length; do
    grep -q -- "^$a " "$OUT" || missing="$missing $a"
done
if [ "$rc" -eq 0 ] && [ -z "$missing" ]; then
    ok "--emit megatron prints the Megatron-LM parallel sizes"
else
    notok "--emit megatron prints the Megatron-LM parallel sizes" "exit $rc, missing:$missing"
fi

run plan --gpus 8-64 --emit megatron --format json
json_check "--emit megatron --format json has megatron_args" "'--tensor-model-parallel-size' in d['megatron_args']"

rm -f "$TMP/x.svg"
run plan --gpus 8-64 --plot "$TMP/x.svg"
if [ "$rc" -eq 0 ] && [ -s "$TMP/x.svg" ] &&
    python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); sys.exit(0 if r.tag.endswith("svg") else 1)' "$TMP/x.svg" 2>/dev/null; then
    ok "--plot FILE writes an SVG file"
else
    notok "--plot FILE writes an SVG file" "exit $rc"
fi

run plan --gpus 8-64 --target-step-time 1ms
if [ "$rc" -eq 0 ] && grep -q 'No layout fits' "$OUT"; then
    ok "plan with an unreachable target reports no layout (exit 0)"
else
    notok "plan with an unreachable target reports no layout (exit 0)" "exit $rc"
fi

run plan --model tests/data/hf/mixtral-8x7b.json --gpus 64-128 --format json -n 3
json_check "plan a Hugging Face config" "len(d['best']) == 3 and d['search']['model'] != 'seed-moe'"

# ------------------------------------------------------------------ audit

P=plans/proposals/seed-ep16-tp4-pp2.yaml
claims=$(grep -c '^  - claim:' "$P")
run audit "$P"
verdicts=$(grep -Ec '^[0-9]+ .* (holds|WRONG|unverifiable): ' "$OUT")
if [ "$rc" -eq 0 ] && [ "$claims" -gt 0 ] && [ "$verdicts" -eq "$claims" ]; then
    ok "audit prints a verdict for every claim ($claims)"
else
    notok "audit prints a verdict for every claim" "exit $rc, $claims claims, $verdicts verdicts"
fi
run audit --format json "$P"
json_check "audit --format json: one verdict per claim, summary adds up" "
len(d['claims']) == $claims and all(c['verdict'] in ('holds','WRONG','unverifiable') for c in d['claims'])
and sum(d['summary'].values()) == $claims"

# ------------------------------------------------------------------ misc

run --help
if [ "$rc" -eq 0 ] && grep -q '^usage: moeplan' "$OUT" && [ ! -s "$ERR" ]; then ok "--help"; else notok "--help" "exit $rc"; fi
run --version
if [ "$rc" -eq 0 ] && grep -q '^moeplan [0-9]' "$OUT"; then ok "--version"; else notok "--version" "exit $rc"; fi
# explain's seed plan (moeplan(1)): kept unless a layout size is given; the
# other layout options apply to it.
run explain --recompute full --zero 3
a_rc=$rc; a=$(head -1 "$OUT"); grep -q 'recompute full, sequence parallel on' "$OUT" && grep -q "^          ZeRO 3" "$OUT"; a_ok=$?
run explain --tp 1
if [ "$a_rc" -eq 0 ] && [ "$a" = "moeplan explain: seed-moe on 128 x seed-accelerator" ] && [ "$a_ok" -eq 0 ] &&
   [ "$rc" -eq 0 ] && [ "$(head -1 "$OUT")" = "moeplan explain: seed-moe on 1 x seed-accelerator" ]; then
    ok "explain: --recompute, --zero apply to the seed plan; --tp replaces it"
else notok "explain: the seed plan and the layout options" "exit $a_rc: $a" "exit $rc: $(head -1 "$OUT")"; fi

# "did you mean" folds case and reads _ as -: 1F1B, JSON, tokens_per_gpu
# were refused without one.
for c in "simulate --schedule 1F1B|--schedule: '1F1B' is not gpipe, 1f1b, interleaved, zb-h1 or dualpipe (did you mean '1f1b'?)" \
         "explain --format JSON|--format: expected text, json or csv, got 'JSON' (did you mean 'json'?)" \
         "simulate --format JSON|--format: expected text or json, got 'JSON' (did you mean 'json'?)" \
         "plan --sort tokens_per_gpu|--sort: expected tokens, step, tokens-per-gpu or headroom, got 'tokens_per_gpu' (did you mean 'tokens-per-gpu'?)"; do
    args=${c%%|*}; want="moeplan: error: ${c#*|}"
    run $args
    if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && [ "$(cat "$ERR")" = "$want" ]; then ok "$args: did you mean"
    else notok "$args: did you mean" "exit $rc" "got:  $(cat "$ERR")" "want: $want"; fi
done

# A fixed sequence length reads as one length, a range as before.
run explain --seq-len 4096
if [ "$rc" -eq 0 ] && grep -qxF 'workload  128 sequences x 4096 tokens per step (fixed length, sequences packed)' "$OUT"
then ok "explain --seq-len 4096: one length, not 'range 4096-4096'"; else notok "explain --seq-len 4096: one length" "exit $rc" "$(grep ^workload "$OUT")"; fi
run explain --seq-len 128-4096
if [ "$rc" -eq 0 ] && grep -qxF 'workload  128 sequences x 4096 tokens per step (range 128-4096: memory and time at 4096, sequences packed)' "$OUT"
then ok "explain --seq-len 128-4096: the range"; else notok "explain --seq-len 128-4096: the range" "exit $rc" "$(grep ^workload "$OUT")"; fi

# The help says what the tool does: --recompute takes modules too, --zero
# any searches in plan, audit and bench, run's exit status 4 (moeplan(1)
# EXIT STATUS), and an optional argument joined to its option (simulate
# printed "--sequence-parallel [=on|off]", and "--sequence-parallel on" is
# refused).
run --help
if [ "$rc" -eq 0 ] && grep -qF -- '--recompute none|selective|full|MODULES  ' "$OUT" &&
   grep -qF '4 run across ranks: a' "$OUT"; then ok "--help: --recompute MODULES, exit status 4"
else notok "--help: --recompute MODULES, exit status 4" "exit $rc"; fi
run plan --help
if [ "$rc" -eq 0 ] && grep -qF 'any: search them (plan, audit, bench)' "$OUT"; then ok "plan --help: --zero any in plan, audit, bench"
else notok "plan --help: --zero any in plan, audit, bench" "exit $rc"; fi

# --zero any beside an option that pins one stage was accepted and searched
# that stage alone (plan --gpus 8 --zero any --fsdp: 6244 layouts considered,
# all ZeRO-3, against 22732 over the stages): refused, in either order, as
# --zero 1 --fsdp is.
expect_bad "plan: --zero any with --fsdp" "^moeplan: error: " \
    "--fsdp (ZeRO 3) conflicts with --zero any (the stages searched); give one" -- plan --gpus 8 --zero any --fsdp
expect_bad "plan: --fsdp with --zero any" "^moeplan: error: " \
    "--zero any (the stages searched) conflicts with --fsdp (ZeRO 3); give one" -- plan --gpus 8 --fsdp --zero any
expect_bad "plan: --zero any with --no-distributed-optimizer" "^moeplan: error: " \
    "--no-distributed-optimizer (ZeRO 0) conflicts with --zero any" -- plan --gpus 8 --zero any --no-distributed-optimizer
expect_bad "audit: --distributed-optimizer with --zero any" "^moeplan: error: " \
    "--zero any (the stages searched) conflicts with --distributed-optimizer (ZeRO 1)" -- \
    audit plans/proposals/seed-ep16-tp4-pp2.yaml --distributed-optimizer --zero any
run plan --gpus 8 --zero any --shard-group 4 -n 1
if [ "$rc" -eq 0 ]; then ok "plan: --zero any with --shard-group still runs"
else notok "plan: --zero any with --shard-group still runs" "exit $rc" "$(cat "$ERR")"; fi
run run --help
if [ "$rc" -eq 0 ] && grep -qxF 'exit status: 0 success, 1 a check failed, 2 bad input or usage, 3 internal error, 4 across ranks: a collective did not complete within 60 s.' "$OUT"
then ok "run --help: exit status 4"; else notok "run --help: exit status 4" "exit $rc"; fi
run simulate --help
if [ "$rc" -eq 0 ] && grep -qE '^  --sequence-parallel\[=on\|off\] ' "$OUT" && grep -qE '^  --distributed-optimizer\[=on\|off\] ' "$OUT" &&
   grep -qxF 'exit status: 0 success, 1 a check failed, 2 bad input or usage, 3 internal error.' "$OUT"
then ok "simulate --help: --sequence-parallel[=on|off], exit statuses 0-3"
else notok "simulate --help: --sequence-parallel[=on|off], exit statuses 0-3" "exit $rc" "$(grep -- -parallel "$OUT")"; fi
run bench --gpus 8-16 --reps 1
if [ "$rc" -eq 0 ] && grep -q 'scored per second' "$OUT"; then ok "bench"; else notok "bench" "exit $rc"; fi

# Fuzzing reproducers (tests/fuzz/crashes, see its README.md): each is now
# refused with exit 2, one error line that has a position, and nothing on
# stdout.
for f in tests/fuzz/crashes/*.yaml tests/fuzz/crashes/*.json; do
    case "$f" in
        *-plan.yaml) run check "$f" ;;
        *proposal*) run audit "$f" ;;
        *-model.yaml|*-workload.yaml) continue ;;
        *) run explain --model "$f" --gpus 1 --ep 1 --etp 1 ;;
    esac
    if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && [ "$(wc -l < "$ERR")" -eq 1 ] &&
       grep -qE "^moeplan: [^ ]+:[0-9]+:[0-9]+: error: " "$ERR"; then
        ok "fuzz reproducer $f refused with a position"
    else
        notok "fuzz reproducer $f refused with a position" "exit $rc" "$(cat "$ERR")"
    fi
done
run explain --tp 65536 --cp 65536
if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ]; then ok "tp * cp overflowing int is refused"; else notok "tp * cp overflowing int is refused" "exit $rc"; fi

# Every shipped hardware file loads and gives a fitting Mixtral layout on
# 64 GPUs (EP8 x TP2 x PP4, full recompute): dp = 64 / (2 * 4) = 8, etp
# defaults to tp = 2, so edp = tp*cp*dp / (etp*ep) = 16 / 16 = 1.
for hw in plans/hardware/*.yaml; do
    run explain --model tests/data/hf/mixtral-8x7b.json --hardware "$hw" --gpus 64 --tp 2 --ep 8 --pp 4 \
        --recompute full --format json
    json_check "shipped hardware $hw: Mixtral EP8 TP2 PP4 fits" "d['fits'] and d['layout']['edp'] == 1"
done

# A dense model has no experts: a claim of expert weights is unverifiable
# (it was judged WRONG, "wrong by infx", against 0 B), as experts per GPU is.
run audit tests/data/proposal-dense-expert-claim.yaml --format json
json_check "audit: expert claims on a dense model are unverifiable" "
[c['verdict'] for c in d['claims']] == ['unverifiable', 'unverifiable']
and all(c['why'] == 'the model has no experts' for c in d['claims'])"

# On one GPU there is no collective: the comm buffers row is the output
# layer's 16-bit logits beside the loss (moeplan(1), comm buffers: T V/t A =
# 1024 tokens x 50257 x 2 B = 102,926,336 B for GPT-2), and its note says so
# (it said "largest collective buffer").
run explain --model tests/data/hf/gpt2.json --seq-len 1024 --global-batch 8 --format json
json_check "explain: GPT-2 on one GPU, comm buffers = the logits, 1024 x 50257 x 2 B" \
    "d['memory_per_gpu_bytes']['comm_buffers'] == 1024 * 50257 * 2"
run explain --model tests/data/hf/gpt2.json --seq-len 1024 --global-batch 8
if [ "$rc" -eq 0 ] && grep -q '^  comm buffers  *102.93 MB .* largest collective / logits buffer$' "$OUT"
then ok "explain: the comm buffers note names the logits"
else notok "explain: the comm buffers note names the logits" "exit $rc" "$(grep 'comm buffers' "$OUT")"; fi

# "400 Gbps", the usual spelling of a NIC's rate, is refused (case and
# bits/bytes matter) with the unit meant named, at its line and column.
sed 's|^inter_node_bandwidth: .*|inter_node_bandwidth: 400 Gbps|' plans/seed-hardware.yaml >"$TMP/hw-gbps.yaml"
expect_bad "hardware: 400 Gbps, did you mean Gb/s" "^moeplan: .*hw-gbps\\.yaml:13:23: error: " \
    "'inter_node_bandwidth': unknown unit 'Gbps' (did you mean 'Gb/s'?)" -- explain --hardware "$TMP/hw-gbps.yaml"

# An uneven pipeline of pp 2 has no middle rank: explain said "4 layers on
# the first rank, 12 on the last, 0 on each other".
run explain --gpus 8 --pp 2 --pp-first-layers 4 --pp-last-layers 12
if [ "$rc" -eq 0 ] && grep -q '^          uneven pipeline: 4 layers on the first rank, 12 on the last$' "$OUT"
then ok "explain: uneven pp 2 names no other ranks"
else notok "explain: uneven pp 2 names no other ranks" "exit $rc" "$(grep uneven "$OUT")"; fi

# The header names the routing as explain does: 'capacity factor 0' was
# printed for dropless routing and for a model without experts.
run audit tests/data/proposal-dense-expert-claim.yaml
if [ "$rc" -eq 0 ] && sed -n 2p "$OUT" | grep -q 'rc:none sp zero1$'; then ok "audit: a dense model's header names no capacity factor"
else notok "audit: a dense model's header names no capacity factor" "exit $rc" "$(sed -n 2p "$OUT")"; fi
sed -e '/^capacity_factor:/d' -e "s|\.\./|$PWD/plans/|" plans/proposals/seed-ep16-tp4-pp2.yaml >"$TMP/prop-dropless.yaml"
run audit "$TMP/prop-dropless.yaml"
if [ "$rc" -eq 0 ] && sed -n 2p "$OUT" | grep -q 'rc:none sp zero1, dropless$'; then ok "audit: dropless routing is named dropless"
else notok "audit: dropless routing is named dropless" "exit $rc" "$(sed -n 2p "$OUT")"; fi

# layers_per_stage on an uneven pipeline is the most layers on one stage:
# 16 layers over pp 2 as 4 + 12 holds 12 on the last (it computed 16 / 2 = 8
# and judged a true claim of 12 WRONG by 1.5x).
cat >"$TMP/prop-uneven.yaml" <<EOF
name: uneven pipeline
model: $PWD/plans/seed-model.yaml
hardware: $PWD/plans/seed-hardware.yaml
workload: $PWD/plans/seed-workload.yaml
layout: {gpus: 128, tp: 4, pp: 2, ep: 16, pp_first_layers: 4, pp_last_layers: 12}
claims:
  - {claim: "12 layers on the last stage", metric: layers_per_stage, value: 12}
EOF
run audit "$TMP/prop-uneven.yaml" --format json
json_check "audit: layers_per_stage of an uneven pipeline is the most on one stage" \
    "d['claims'][0]['computed'] == 12 and d['claims'][0]['verdict'] == 'holds'"

# A proposal whose layout does not fit is said so, claim of memory or not:
# the seed model on one GPU holds 4.429 B params x 18 B (2 weight + 4
# gradient + 12 optimizer) = 79.7 GB before activations, over 64 GB.  audit
# printed its tokens/s claim "holds" and nothing about the memory.
cat >"$TMP/prop-nofit.yaml" <<EOF
name: one GPU
model: $PWD/plans/seed-model.yaml
hardware: $PWD/plans/seed-hardware.yaml
workload: $PWD/plans/seed-workload.yaml
layout: {gpus: 1, tp: 1, pp: 1, dp: 1, ep: 1}
claims:
  - {claim: ">10K tokens/s", metric: tokens_per_s, relation: at_least, value: 10K}
EOF
run audit "$TMP/prop-nofit.yaml"
if [ "$rc" -eq 0 ] && sed -n 4p "$OUT" | grep -Eq '^  DOES NOT FIT: pipeline rank 0 needs 9[0-9.]+ GB per GPU, 64\.00 GB available'
then ok "audit: a layout that does not fit is said so"
else notok "audit: a layout that does not fit is said so" "exit $rc" "$(sed -n 4p "$OUT")"; fi
run audit "$TMP/prop-nofit.yaml" --format json
json_check "audit --format json: fits false for a layout that does not fit" "d['fits'] is False"
run audit plans/proposals/seed-ep16-tp4-pp2.yaml --format json
json_check "audit --format json: fits true for the seed proposal" "d['fits'] is True"
run audit plans/proposals/seed-ep16-tp4-pp2.yaml
if [ "$rc" -eq 0 ] && ! grep -q 'DOES NOT FIT' "$OUT"; then ok "audit: no fit warning for a layout that fits"
else notok "audit: no fit warning for a layout that fits" "exit $rc"; fi
run audit "$TMP/prop-nofit.yaml"
if [ "$rc" -eq 0 ] && grep -A1 '^Better layouts' "$OUT" | grep -qx '  none: no layout on 1 GPU fits'
then ok "audit: no better layouts where none fits, said so"
else notok "audit: no better layouts where none fits, said so" "exit $rc" "$(grep -A1 '^Better' "$OUT")"; fi

# "Better layouts" are better: the proposal's own layout, the fastest on 128
# GPUs (plan's Pareto row for 128, 6121861 tokens/s), was listed first as
# "1.00x the proposal" and four slower ones after it.
cat >"$TMP/prop-best.yaml" <<EOF
name: the fastest on 128
model: $PWD/plans/seed-model.yaml
hardware: $PWD/plans/seed-hardware.yaml
workload: $PWD/plans/seed-workload.yaml
layout: {gpus: 128, tp: 1, pp: 1, dp: 128, ep: 64, micro_batch: 1, recompute: none}
claims:
  - {claim: ">1M tokens/s", metric: tokens_per_s, relation: at_least, value: 1M}
EOF
run audit "$TMP/prop-best.yaml" --format json
json_check "audit --format json: no better layout than the fastest" \
    "d['better_layouts_same_gpus'] == [] and round(d['claims'][0]['computed']) == 6121861"
run audit "$TMP/prop-best.yaml"
if [ "$rc" -eq 0 ] && grep -A1 '^Better layouts' "$OUT" | grep -qx "  none: the proposal's layout is the fastest on 128 GPUs" \
    && ! grep -q 'x the proposal)' "$OUT"
then ok "audit: the fastest layout has no better layouts, said so"
else notok "audit: the fastest layout has no better layouts, said so" "exit $rc" "$(grep -A2 '^Better' "$OUT")"; fi
run audit plans/proposals/seed-ep16-tp4-pp2.yaml --format json
json_check "audit --format json: every better layout beats the proposal" \
    "len(d['better_layouts_same_gpus']) == 5 and all(b['tokens_per_s'] > [c for c in d['claims'] if c['metric'] == 'tokens_per_s'][0]['computed'] for b in d['better_layouts_same_gpus'])"

# The gradients row names what its bytes are: 4 is Megatron's fp32 main
# gradients, 2 are 16-bit gradients (it said fp32 for any figure).
sed 's/^  gradient: 4 .*/  gradient: 2/' plans/seed-workload.yaml >"$TMP/grad16.yaml"
run explain --workload "$TMP/grad16.yaml"
if [ "$rc" -eq 0 ] && grep -Eq '^  gradients .* x 2 B \(16-bit gradients\)$' "$OUT"; then
    ok "explain: 2-byte gradients are called 16-bit"
else notok "explain: 2-byte gradients are called 16-bit" "exit $rc" "$(grep gradients "$OUT")"; fi

# Counts of one are singular: "1 GPU", "1 micro-batch".
run explain --gpus 1 --tp 1 --pp 1 --ep 1 --global-batch 1 --seq-len 16
if [ "$rc" -eq 0 ] && grep -q '^layout    1 GPU = tp 1' "$OUT" && grep -q -- '-> 1 micro-batch, ' "$OUT" &&
   grep -q '^Time per step: slowest pipeline rank 0, 1 micro-batch$' "$OUT"; then ok "explain: singular counts"
else notok "explain: singular counts" "exit $rc"; fi

# A rate that rounds to 0 keeps 3 digits: Mixtral at one 1-token sequence
# a step on one GPU runs 0.497 tokens/s (1 token / 2.012 s), not "0".
run explain --model tests/data/hf/mixtral-8x7b.json --seq-len 1 --gpus 1 --global-batch 1
if [ "$rc" -eq 0 ] && grep -Eq '^Throughput  0\.[0-9]{3} tokens/s, 0\.[0-9]{3} sequences/s, 0\.[0-9]{3} tokens/s per GPU$' "$OUT"; then
    ok "explain: a rate under 1 keeps its digits"
else notok "explain: a rate under 1 keeps its digits" "exit $rc" "$(grep Throughput "$OUT")"; fi

# head_dim taken as hidden / heads is noted (Mixtral: 4096 / 32 = 128),
# but not for DeepSeek's MLA, where it is unused.
run explain --model tests/data/hf/mixtral-8x7b.json --gpus 64 --tp 2 --ep 8 --pp 4 --recompute full
if [ "$rc" -eq 0 ] && grep -q "head_dim absent: MixtralConfig default hidden_size / num_attention_heads = 128" "$OUT"; then
    ok "explain: a head_dim from hidden / heads is noted"
else notok "explain: head_dim note" "exit $rc"; fi
run explain --model tests/data/hf/deepseek-v3.json --gpus 256 --seq-len 4096 --global-batch 512 --recompute full
if [ "$rc" -eq 0 ] && ! grep -q "head_dim absent" "$OUT"; then ok "explain: no head_dim note for MLA"
else notok "explain: no head_dim note for MLA" "exit $rc"; fi

# why_not keeps a ZeRO stage of 0 as 0 (a value, not an unchosen size).
run plan --gpus 8-16 --no-distributed-optimizer --format json --why-not
json_check "plan --why-not: ZeRO 0 and sharding group 0 stay 0" "
len(d['why_not']) > 0 and all(w['layout']['zero'] == 0 and w['layout']['shard_group'] == 0 for w in d['why_not'])"

# Workload keys are said when they act and when they cannot: tp_comm_overlap
# with sequence parallelism changes the overlap assumption; without it, it
# does nothing and explain says so.
(cat tests/data/workload-bf16.yaml; echo "tp_comm_overlap: true") >"$TMP/wl-tpo.yaml"
run explain --model tests/data/llama-3.1-8b.yaml --workload "$TMP/wl-tpo.yaml" --gpus 16 --tp 2 --no-sequence-parallel
if [ "$rc" -eq 0 ] && grep -q "tp_comm_overlap has no effect here" "$OUT" && grep -q "Megatron-LM defaults for overlap" "$OUT"; then
    ok "explain: tp_comm_overlap without sequence parallelism is said to do nothing"
else notok "explain: tp_comm_overlap without SP" "exit $rc"; fi
run explain --model tests/data/llama-3.1-8b.yaml --workload "$TMP/wl-tpo.yaml" --gpus 16 --tp 2
if [ "$rc" -eq 0 ] && grep -q "overlap: tp_comm_overlap hides TP collectives forward and backward" "$OUT" &&
   ! grep -q "has no effect" "$OUT"; then ok "explain: tp_comm_overlap's overlap in the assumptions"
else notok "explain: tp_comm_overlap assumption" "exit $rc"; fi

# A plan's dp was for its own sizes: --gpus 256 on the seed plan (tp 4,
# pp 2) gives dp 256 / (4 x 2) = 32, as moeplan(1) says for --gpus (it was
# refused as 256 != 4 x 1 x 16 x 2); --dp given on the command line stays.
run explain --plan plans/seed-plan.yaml --gpus 256 --format json
json_check "explain --plan --gpus: dp follows the GPU count" "d['layout']['dp'] == 32 and d['layout']['gpus'] == 256"

# Each claim of the seed proposal gets the verdict worked out by hand:
# params 4.43e9 vs ~7e9 -> 0.63, outside [0.8, 1.25]: WRONG;
# attention weights 8 layers * (4 * 1024^2 / tp 4 + 1024 replicated norm)
# * 2 B = 16.8 MB vs ~2 GB: WRONG;
# the model has no dense MLP: unverifiable; experts 8 layers * 4 experts *
# 2*1024*2048 / etp 4 * 2 B = 67.1 MB vs ~8 GB: WRONG.
run audit plans/proposals/seed-ep16-tp4-pp2.yaml --format json
json_check "seed audit verdicts (params, attention, MLP, experts)" "
[c['verdict'] for c in d['claims'][:1]] == ['WRONG'] and d['claims'][4]['verdict'] == 'WRONG'
and abs(d['claims'][4]['computed'] - 8*(4*1024**2/4 + 1024)*2) < 1 and d['claims'][5]['verdict'] == 'unverifiable'
and abs(d['claims'][6]['computed'] - 8*4*2*1024*2048/4*2) < 1 and d['claims'][6]['verdict'] == 'WRONG'"

# audit --zero any searches ZeRO-2 and 3 for its better layouts, as plan
# does (it was accepted and ignored: ZeRO-1 only).
run audit plans/proposals/seed-ep16-tp4-pp2.yaml --format json
json_check "audit: better layouts at ZeRO-1 without --zero any" "
all(b['layout']['zero'] == 1 for b in d['better_layouts_same_gpus'])"
run audit plans/proposals/seed-ep16-tp4-pp2.yaml --zero any --format json
json_check "audit --zero any: better layouts include ZeRO-3" "
any(b['layout']['zero'] == 3 for b in d['better_layouts_same_gpus'])"

# The proposal's own working, evaluated: attention 16*64*1024*8/4/2*2 =
# 2,097,152 bytes against a claimed 2 GB, a slip of 2e9/2097152 = 954x.
json_check "seed audit evaluates the proposal's own working" "
d['claims'][4]['arithmetic_value'] == 2097152 and 'gives 2.10 MB, the claim states 954x that' in d['claims'][4]['why']"

# DeepSeek-V3 has 61 layers, a prime: an even split allows pp 1 or 61 only.
# With --uneven-pipeline the planner also tries first/last ranks taking what
# is left after q = 61/16 rounded down or up on the 14 middle ranks:
# q = 4 leaves 5 (2 + 3 or 3 + 2), q = 3 leaves 19 (9 + 10 or 10 + 9).
run plan --model tests/data/hf/deepseek-v3.json --hardware plans/hardware/h100-sxm.yaml --gpus 2048 --pp 16 \
    --seq-len 4096 --global-batch 2048 --uneven-pipeline --format json -n 50
json_check "uneven pipeline: DeepSeek-V3 on pp 16, splits from the rule" "
len(d['best']) > 0 and all(c['layout']['pp'] == 16 and
  (c['layout']['pp_first_layers'], c['layout']['pp_last_layers']) in [(2,3),(3,2),(9,10),(10,9)] for c in d['best'])"
run explain --model tests/data/hf/deepseek-v3.json --gpus 32 --pp 16 --ep 2 --etp 1 --pp-first-layers 3 \
    --pp-last-layers 2 --seq-len 4096 --global-batch 2048 --emit megatron
if [ "$rc" -eq 0 ] && grep -q -- '--decoder-first-pipeline-num-layers 3' "$OUT" &&
   grep -q -- '--decoder-last-pipeline-num-layers 2' "$OUT" && grep -q 'uneven pipeline: 3 layers on the first rank, 2 on the last, 4 on each other' "$OUT"; then
    ok "explain with an uneven pipeline, and its Megatron-LM arguments"
else
    notok "explain with an uneven pipeline, and its Megatron-LM arguments" "exit $rc" "$(head -c 400 "$ERR")"
fi
# 16 layers, pp 4, first 6, last 5: the two middle ranks would share 5.
run explain --gpus 8 --pp 4 --pp-first-layers 6 --pp-last-layers 5 --ep 2 --etp 1
if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && grep -qF "layers%(pp*vpp)" "$ERR"; then
    ok "uneven split that does not share evenly over the middle ranks is refused"
else
    notok "uneven split that does not share evenly over the middle ranks is refused" "exit $rc" "$(cat "$ERR")"
fi

# ------------------------------------------- output says what it means (issue 6)
# Integers exact, memory used vs free in words, no expert layout for a dense
# model, names from files escaped, the plan report's sections, and the man
# page's CSV columns against the header printed.

# DeepSeek-V3's published total, 671,026,404,352 parameters, as a JSON
# integer; a real (mfu) is written with the fewest digits that read back as
# the same double (Python's repr has those digits too).
run explain --model tests/data/hf/deepseek-v3.json --gpus 1024 --pp 1 --ep 64 --seq-len 4096 --global-batch 1024 --format json
json_check "issue 6: DeepSeek-V3 params_total is the integer 671026404352, byte counts integers" "
d['params_total'] == 671026404352 and type(d['params_total']) is int
and all(type(v) is int for v in d['memory_per_gpu_bytes'].values()) and type(d['headroom_bytes']) is int"
if python3 -c '
import json, re, sys
t = open(sys.argv[1]).read()
d = json.loads(t)
tok = re.search(r"\"mfu\": ([-0-9.eE+]+)", t).group(1)
sig = lambda s: len(re.sub(r"[eE].*", "", s).replace("-", "").replace(".", "").lstrip("0"))
v = float(tok)
sys.exit(0 if v == d["mfu"] and isinstance(d["mfu"], float) and sig(tok) == sig(repr(v)) else 1)
' "$OUT"; then ok "issue 6: a real (mfu) re-parses to the same double, shortest digits"
else notok "issue 6: a real (mfu) re-parses to the same double, shortest digits" "$(grep mfu "$OUT")"; fi

# "fits (92.0% of capacity)" read as 92% used: the line now says used and
# free, and the figures agree: free = 1 - used / capacity.
run explain
line=$(grep '^  headroom ' "$OUT")
if python3 -c '
import re, sys
m = re.search(r"fits: ([0-9.]+) GB of ([0-9.]+) GB used, ([0-9.]+)% free$", sys.argv[1])
sys.exit(0 if m and abs(100 * (1 - float(m[1]) / float(m[2])) - float(m[3])) <= 0.1 else 1)
' "$line"; then ok "issue 6: explain says memory used and free in words"
else notok "issue 6: explain says memory used and free in words" "$line"; fi
run check plans/seed-plan.yaml
if grep -Eq '^PASS  memory headroom +[0-9.]+% free >= 10\.0% free' "$OUT"; then ok "issue 6: check's headroom row says free"
else notok "issue 6: check's headroom row says free" "$(grep headroom "$OUT")"; fi

# A dense model (Llama 2 7B) prints no expert layout anywhere.
run explain --model tests/data/hf/llama-2-7b.json --gpus 64 --cp 8
if [ "$rc" -eq 0 ] && grep -q '^layout    64 GPUs = tp 1 x cp 8 x dp 8 x pp 1; no experts$' "$OUT" &&
   ! grep -Eq 'edp|etp|ep \(\+etp\)|\(experts\)' "$OUT"; then ok "issue 6: dense explain prints no expert layout"
else notok "issue 6: dense explain prints no expert layout" "$(grep -E 'layout|edp|etp' "$OUT" | head -3)"; fi
run plan --model tests/data/hf/llama-2-7b.json --gpus 8-64 -n 3
if [ "$rc" -eq 0 ] && [ "$(grep -Ec '^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ \| +- +- +- \|' "$OUT")" -ge 3 ] &&
   ! grep -q -- '--ep\|--etp' "$OUT"; then ok "issue 6: dense plan tables show - for etp, ep, edp"
else notok "issue 6: dense plan tables show - for etp, ep, edp" "$(sed -n 6,9p "$OUT")"; fi
run plan --model tests/data/hf/llama-2-7b.json --gpus 8-64 -n 3 --format json
json_check "issue 6: dense plan JSON: ep, etp, edp null, keys kept" "
all(c['layout']['ep'] is None and c['layout']['etp'] is None and c['layout']['edp'] is None for c in d['best'])"
run plan --model tests/data/hf/llama-2-7b.json --gpus 8-64 -n 3 --format csv
if [ "$(tail -n +2 "$OUT" | awk -F, 'NF == 26 && $7 == "" && $8 == "" && $9 == ""' | wc -l)" -eq 3 ]; then
    ok "issue 6: dense plan CSV: 26 fields, etp/ep/edp empty"
else notok "issue 6: dense plan CSV: 26 fields, etp/ep/edp empty" "$(head -n 2 "$OUT")"; fi

# Names read from files: ESC and a newline in a model's name (YAML "\e",
# "\n") and in a Hugging Face _name_or_path (JSON "\u001b") are printed as
# \x1b and \x0a in text; JSON keeps them, escaped by JSON's rules.
sed 's/^name: .*/name: "evil\\e[2J\\nname"/' plans/seed-model.yaml >"$TMP/evil-model.yaml"
grep -q '^name: "evil' "$TMP/evil-model.yaml" || echo 'name: "evil\e[2J\nname"' >>"$TMP/evil-model.yaml"
run explain --model "$TMP/evil-model.yaml"
if [ "$rc" -eq 0 ] && head -n 1 "$OUT" | grep -qF 'moeplan explain: evil\x1b[2J\x0aname on ' &&
   ! LC_ALL=C grep -q $'\x1b' "$OUT"; then ok "issue 6: explain escapes control characters in a model name"
else notok "issue 6: explain escapes control characters in a model name" "$(head -n 1 "$OUT" | od -c | head -3)"; fi
run plan --model "$TMP/evil-model.yaml" --gpus 8-16 -n 1
if [ "$rc" -eq 0 ] && head -n 1 "$OUT" | grep -qF 'moeplan plan: evil\x1b[2J\x0aname on' && ! LC_ALL=C grep -q $'\x1b' "$OUT"; then
    ok "issue 6: plan escapes control characters in a model name"
else notok "issue 6: plan escapes control characters in a model name" "$(head -n 1 "$OUT")"; fi
run explain --model "$TMP/evil-model.yaml" --format json
json_check "issue 6: JSON keeps the name exactly" "d['model'] == 'evil\x1b[2J\nname'"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); d["_name_or_path"] = "org/\u001b]0;pwned\u0007model"
json.dump(d, open(sys.argv[2], "w"))' tests/data/hf/mixtral-8x7b.json "$TMP/evil-hf.json"
run explain --model "$TMP/evil-hf.json" --gpus 64 --tp 2 --pp 4 --ep 8
if [ "$rc" -eq 0 ] && head -n 1 "$OUT" | grep -qF 'moeplan explain: org/\x1b]0;pwned\x07model on 64 x' &&
   ! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f]' "$OUT"; then ok "issue 6: a Hugging Face _name_or_path with control characters is escaped"
else notok "issue 6: a Hugging Face _name_or_path with control characters is escaped" "$(head -n 1 "$OUT")"; fi

# The plan report leads with what a user with GPUs to spare asks: the
# fewest GPUs, the most tokens/s per GPU, the GPUs vs tokens/s front, then
# the ranking with its order said.
run plan --gpus 8-64
sections=$(grep -E '^(Fewest|Most|Pareto|Best)' "$OUT" | sed -E 's/[0-9]+/N/g' | tr '\n' '|')
want='Fewest GPUs that fit: N (the best layout there by tokens/s)|Most tokens/s per GPU: the best N on N-N GPUs (ties: fewer GPUs, then less memory)|Pareto front, GPUs vs tokens/s: N layouts, each the fastest on its GPU count and faster than any on fewer GPUs|Best N of N by tokens/s (--sort tokens; ties: fewer GPUs, then less memory):|'
if [ "$sections" = "$want" ]; then ok "issue 6: plan sections in order: fewest, per GPU, front, ranking"
else notok "issue 6: plan sections in order: fewest, per GPU, front, ranking" "got: $sections"; fi
run plan --gpus 8-64 --format json
json_check "issue 6: plan JSON: front rises in GPUs and tokens/s from fewest_gpus, nothing kept beats it; per-GPU list" "
(lambda f, b, g: len(f) > 1 and all(f[i]['layout']['gpus'] < f[i+1]['layout']['gpus'] and f[i]['tokens_per_s'] < f[i+1]['tokens_per_s'] for i in range(len(f)-1))
 and f[0]['layout']['gpus'] == d['fewest_gpus']['layout']['gpus']
 and all(any(x['layout']['gpus'] <= c['layout']['gpus'] and x['tokens_per_s'] >= c['tokens_per_s'] for x in f) for c in b + g)
 and len(g) == 3 and all(g[i]['tokens_per_s_per_gpu'] >= g[i+1]['tokens_per_s_per_gpu'] for i in range(2))
 and all(g[0]['tokens_per_s_per_gpu'] >= c['tokens_per_s_per_gpu'] for c in b + f)
 and d['search']['sort'] == 'tokens')(d['pareto_gpus_tokens'], d['best'], d['best_tokens_per_gpu'])"

# moeplan(1) lists the CSV columns; they must be the header plan prints.
man_cols=$(sed -n '/^\.SS plan \\-\\-format csv/,/^\.fi/p' man/moeplan.1 | sed -n '/^\.nf/,/^\.fi/p' | grep -v '^\.' | tr -d '\n' | sed 's/\\-/-/g')
run plan --gpus 8-16 -n 1 --format csv
if [ -n "$man_cols" ] && [ "$man_cols" = "$(head -n 1 "$OUT")" ]; then ok "issue 6: the man page's CSV columns are the header printed"
else notok "issue 6: the man page's CSV columns are the header printed" "man: $man_cols" "csv: $(head -n 1 "$OUT")"; fi

# ------------------------------------------ Hugging Face model_type (issue 6)
# A config whose model_type moeplan does not read is refused (exit 2, empty
# stdout, one positioned error), never read as a dense Llama.  Positions:
# `  "model_type": ` is 16 characters, so the value starts at 2:17; an
# absent key points at the top-level mapping, 1:1.
printf '{\n  "model_type": "mixtrall",\n  "hidden_size": 4096\n}\n' >"$TMP/hf-typo.json"
expect_bad "HF model_type 'mixtrall' refused with a suggestion" \
    "^moeplan: $(escape_re "$TMP/hf-typo.json"):2:17: error: unknown model_type 'mixtrall'" \
    "(did you mean 'mixtral'?)" -- explain --model "$TMP/hf-typo.json"
printf '{\n  "architectures": ["LlamaForCausalLM"],\n  "hidden_size": 4096\n}\n' >"$TMP/hf-none.json"
expect_bad "HF config without model_type refused" \
    "^moeplan: $(escape_re "$TMP/hf-none.json"):1:1: error: no 'model_type'" "olmoe, phimoe, dbrx" \
    -- explain --model "$TMP/hf-none.json"
printf '{\n  "model_type": null,\n  "hidden_size": 4096\n}\n' >"$TMP/hf-null.json"
expect_bad "HF model_type null refused" \
    "^moeplan: $(escape_re "$TMP/hf-null.json"):2:17: error: 'model_type' is null" "expected one of: gpt2" \
    -- explain --model "$TMP/hf-null.json"
printf '{\n  "model_type": "",\n  "hidden_size": 4096\n}\n' >"$TMP/hf-empty.json"
expect_bad "HF model_type empty refused" \
    "^moeplan: $(escape_re "$TMP/hf-empty.json"):2:17: error: 'model_type' is empty" "expected one of: gpt2" \
    -- explain --model "$TMP/hf-empty.json"
expect_bad "HF model_type unknown refused by plan too" "^moeplan: .*hf-typo.json:2:17: error: " \
    "did you mean 'mixtral'" -- plan --model "$TMP/hf-typo.json" --gpus 8
# Every published config in tests/data/hf loads and explains (one GPU);
# GPT-2 at its 1024 positions (the seed workload's 10240 tokens are past
# its learned position table, and refused: below).
for f in tests/data/hf/*.json; do
    seq=()
    [ "$(basename "$f")" = gpt2.json ] && seq=(--seq-len 1024)
    run explain --model "$f" --gpus 1 --format json "${seq[@]}"
    if [ "$rc" -eq 0 ] && [ -s "$OUT" ] && [ ! -s "$ERR" ]; then ok "HF config $(basename "$f") is read"
    else notok "HF config $(basename "$f") is read" "exit $rc"; fi
done

expect_bad "a sequence past a learned position table is refused (seed workload, GPT-2)" \
    "^moeplan: .*seed-workload.yaml:[0-9]+:[0-9]+: error: seq_len: 10240 tokens per sequence, and the model tests/data/hf/gpt2.json has a learned position table of 1024 positions" \
    "" -- explain --model tests/data/hf/gpt2.json --gpus 1
expect_bad "the same from --seq-len, by plan" "^moeplan: error: --seq-len: 4096 tokens per sequence" "at most 1024" \
    -- plan --model tests/data/hf/gpt2.json --gpus 1-8 --seq-len 4096

# ---------------------------------------------------------------- validate
# moeplan validate: its own options, the usual error contract, and the
# development set read whole (every record evaluated or skipped with a
# reason; the JSON summary counts add up).
expect_bad "validate without --runs" "^moeplan: error: validate needs --runs FILE.yaml" "" -- validate
# params_b, which can decide tied against untied embeddings: a count of
# parameters must be positive, and is refused at its position otherwise.
sed 's/params_b: 0.118}/params_b: -1}/' tests/data/runs-small.yaml >"$TMP/runs-neg-params.yaml"
expect_bad "validate: a negative params_b is refused at its position" \
    "^moeplan: $(escape_re "$TMP/runs-neg-params.yaml"):[0-9]+:[0-9]+: error: 'params_b' is '-1'; expected a number from" "" \
    -- validate --runs "$TMP/runs-neg-params.yaml"
expect_bad "validate --runs of a missing file" "^moeplan: /nonexistent.yaml: error: cannot open" "" \
    -- validate --runs /nonexistent.yaml
expect_bad "validate --runs of a model file (not a list)" \
    "^moeplan: plans/seed-model.yaml:[0-9]+:[0-9]+: error: expected a list of run records" "" \
    -- validate --runs plans/seed-model.yaml
expect_bad "validate takes no --gpus" "^moeplan: error: --gpus is not an option of 'validate'" "" \
    -- validate --gpus 8 --runs validate/runs/dev-runs.yaml
expect_bad "validate --ru is --runs, --r is --runs (unique prefixes); --zz unknown" \
    "^moeplan: error: unknown option '--zz'" "" -- validate --ru validate/runs/dev-runs.yaml --zz
expect_bad "plan takes no --runs" "^moeplan: error: --runs is not an option of 'plan'" "" -- plan --runs x
expect_bad "validate --format csv refused" "^moeplan: error: --format: expected text or json, got 'csv'" "" \
    -- validate --runs validate/runs/dev-runs.yaml --format csv
# A malformed value in a record is an error at its position, not "not given".
printf -- '- id: a\n  kind: training_throughput\n  parallel: {tp: 2.5, pp: 1}\n' >"$TMP/runs-badtp.yaml"
expect_bad "validate: a fractional tp is refused where it is written" \
    "^moeplan: $(escape_re "$TMP/runs-badtp.yaml"):3:18: error: 'tp' is '2.5'; expected a whole number" "" \
    -- validate --runs "$TMP/runs-badtp.yaml"
printf -- '- id: a\n  kind: training_throughput\n  parallel: {sequence_parallel: maybe}\n' >"$TMP/runs-badsp.yaml"
expect_bad "validate: a boolean that is not one" "error: 'sequence_parallel' is 'maybe'; expected true, false or null" "" \
    -- validate --runs "$TMP/runs-badsp.yaml"
# A list where a text goes (attention: [none]) is refused, not read as not given.
printf -- '- id: a\n  kind: training_layer_microbench\n  model: {type: moe, attention: [none]}\n' >"$TMP/runs-badattn.yaml"
expect_bad "validate: a list where a text goes" \
    "^moeplan: $(escape_re "$TMP/runs-badattn.yaml"):3:33: error: 'attention' is 'a list or map'; expected a text" "" \
    -- validate --runs "$TMP/runs-badattn.yaml"
printf -- '- id: a\n  kind: x\n- id: a\n  kind: y\n' >"$TMP/runs-dup.yaml"
expect_bad "validate: a duplicate id" "error: run id 'a' appears twice \\(first at line 1\\)" "" \
    -- validate --runs "$TMP/runs-dup.yaml"
printf -- '[]\n' >"$TMP/runs-empty.yaml"
expect_bad "validate: a file with no records" "error: no run records in the file" "" -- validate --runs "$TMP/runs-empty.yaml"
run validate --runs validate/runs/dev-runs.yaml --format json
if [ "$rc" -eq 0 ] && [ ! -s "$ERR" ]; then ok "validate the development set (json)"
else notok "validate the development set (json)" "exit $rc"; fi
json_check "validate: 93 records, each evaluated, a layer benchmark or skipped with a reason; summary n adds up" \
    "len(d['evaluated']) + len(d['layer_benchmarks']) + len(d['skipped']) == 93 and len(d['layer_benchmarks']) == 7 and d['layer_time_error']['all']['n'] == 14 == d['layer_time_error']['dense']['n'] + d['layer_time_error']['moe']['n'] and all(abs(r['predicted_fwd_s'] / r['measured_fwd_s'] - 1 - r['fwd_error']) < 1e-9 and abs(r['predicted_bwd_s'] / r['measured_bwd_s'] - 1 - r['bwd_error']) < 1e-9 and abs(r['predicted_s'] - r['predicted_fwd_s'] - r['predicted_bwd_s']) < 1e-12 for r in d['layer_benchmarks']) and all(s['reason'] for s in d['skipped']) and d['step_time_error']['all']['n'] == len(d['evaluated']) == d['step_time_error']['dense']['n'] + d['step_time_error']['moe']['n'] and all(abs(r['predicted_step_s'] / r['measured_step_s'] - 1 - r['error']) < 1e-9 for r in d['evaluated'])"
# Layer benchmarks by class: tests/data/runs-small.yaml's layer-22b is
# dense, layer-moe and layer-moe-alone are MoE (their times: test_runs.c),
# each two entries (forward and backward): dense n 2, moe n 4, all n 6, and
# the text's MoE median |e| is the median of the four errors JSON gives.
run validate --runs tests/data/runs-small.yaml
txt="$OUT"
"$MOEPLAN" validate --runs tests/data/runs-small.yaml --format json >"$TMP/layers.json" 2>/dev/null
want=$(python3 -c "
import json, statistics
d = json.load(open('$TMP/layers.json'))
e = [abs(x) for r in d['layer_benchmarks'] if r['type'] == 'moe' for x in (r['fwd_error'], r['bwd_error'])]
print('%d %.1f%%' % (len(e), 100 * statistics.median(e)))")
if [ "$rc" -eq 0 ] && [ "${want%% *}" = 4 ] &&
   sed -n '/^One layer (forward/,$p' "$txt" | grep -Eq "^  moe +4 +${want#* } " &&
   grep -Eq '^layer-moe +moe ' "$txt" && grep -Eq '^layer-moe-alone +moe ' "$txt" &&
   sed -n '/^One layer (forward/,$p' "$txt" | grep -Eq '^  dense +2 ' &&
   sed -n '/^One layer (forward/,$p' "$txt" | grep -Eq '^  all +6 '; then
    ok "validate: an MoE layer benchmark priced and counted as MoE"
else notok "validate: an MoE layer benchmark as MoE" "exit $rc ($want)" "$(grep -A4 -E '^layer-moe|^One layer \(' "$txt")"; fi
# validate's layer table: its id column is as wide as its longest id,
# korthikanti22_t4_22b_layer_selective_plus_sequence_parallel (59
# characters), so the header's "type" and every row's type start at column
# 59 + 1 space + 1 = 61 (1-based); the JSON is the same bytes as before (the header and 7 rows).
run validate --runs validate/runs/dev-runs.yaml
if [ "$rc" -eq 0 ] && sed -n '/^One layer, one/,/^$/p' "$OUT" | sed '1d;/^$/d' |
   awk '{ t = index($0, " dense ") + 1; if (t == 1) t = index($0, " moe ") + 1; if (t == 1) t = index($0, " type ") + 1
          if (t != 61) bad = 1; n++ } END { exit bad || n != 8 }'; then
    ok "validate: the layer table's columns follow its longest id (type at column 61)"
else notok "validate: the layer table's columns" "$(sed -n '/^One layer, one/,/^$/p' "$OUT")"; fi
# README's list of the errors beyond 18% (section "Predictions against
# measured runs") names these eleven step times and no other: three of the
# four mcore_ft_* baselines (-22.3%, -50.3%, -57.7%; the fourth is -16.8%),
# MT-NLG on 2240, 2800 and 3360 GPUs (-18.3%, -19.1%, -21.4%), the README
# table's 1.7B (-22.4%), 7.1B (-20.6%) and 32B (+18.2%), and MoE Parallel
# Folding's two FSDP baselines (-26.4%, -19.5%).  DeepSpeed's ZeRO-3 of 2021
# (narayanan21_t2_zero3_*) is within: -17.97% to +13.1%.  A change here
# changes that paragraph.
run validate --runs validate/runs/dev-runs.yaml --format json
json_check "validate: the step times beyond 18% are README's list" \
    "sorted(r['id'] for r in d['evaluated'] if abs(r['error']) > 0.18) == sorted(['mcore_ft_gpt7b_tp4_pp1_h100', 'mcore_ft_gpt7b_tp1_pp4_gb200', 'mcore_ft_gpt7b_tp4_pp1_gb200', 'mtnlg530b_2240gpu', 'mtnlg530b_2800gpu', 'mtnlg530b_3360gpu', 'megatron_readme_h100_weak_1.7b', 'megatron_readme_h100_weak_7.1b', 'megatron_readme_h100_weak_32b', 'moe_folding_t3_qwen2_57b_a14b_fsdp', 'moe_folding_t3_mixtral_8x22b_fsdp_ep']) and max(abs(r['error']) for r in d['evaluated'] if r['id'].startswith('narayanan21_t2_zero3_')) < 0.18"
run validate --runs validate/runs/dev-runs.yaml
cp "$OUT" "$TMP/validate1"
run validate --runs validate/runs/dev-runs.yaml
if cmp -s "$OUT" "$TMP/validate1" && grep -q "^Step time: error = predicted / measured - 1" "$OUT"; then
    ok "validate text output is deterministic and has the summary"
else notok "validate text output is deterministic and has the summary"; fi

# A group of one has no traffic: its row says why it is 0 s.  On one GPU
# of the seed (tp = ep = dp = pp = 1) tp, dp and the bubble are 0; ep is
# the dropless dispatcher's host sync, 26 us x 16 layers x 128 micro-batches
# = 53.25 ms (hardware.c's moe_host_sync).
run explain --gpus 1 --tp 1 --pp 1 --ep 1
if [ "$rc" -eq 0 ] && grep -qxF '    tp                      0 s    0.0%  tp 1: no tensor-parallel collectives' "$OUT" &&
   grep -qxF '    ep (+etp)          53.25 ms    0.3%  ep 1: the dropless dispatcher'"'"'s host sync per layer' "$OUT" &&
   grep -qxF '    dp                      0 s    0.0%  dp 1: no gradient reduction' "$OUT" &&
   grep -qxF '  pipeline bubble           0 s    0.0%  pp 1: no pipeline' "$OUT" && grep -q 'over 1 rank (experts: 1)$' "$OUT"
then ok "explain on one GPU: the 0 s rows say why"; else notok "explain on one GPU: the 0 s rows say why" "exit $rc" "$(sed -n '/^Time/,/total/p' "$OUT")"; fi
# With tp 1 and cp 2 the router's count all-reduce over tp x cp is priced
# with TP (cost_ops.c, tp-cp-aux-counts): the row is not 0 and says so.
run explain --gpus 16 --tp 1 --cp 2 --pp 1 --ep 8
if [ "$rc" -eq 0 ] && grep -q '^    tp  .*tp 1: the collectives of the tp x cp group (--ops: tp-cp-\*)$' "$OUT"
then ok "explain tp 1 cp 2: the tp row names the tp x cp group"; else notok "explain tp 1 cp 2: the tp row" "exit $rc" "$(grep '^    tp' "$OUT")"; fi
# A dense model has no expert buffer: explain --ops lists no edp step ops
# (they were rows of 0 B and 0 s), and no collective over a group of one.
run explain --model tests/data/llama-3.1-8b.yaml --gpus 16 --tp 8 --ops
if [ "$rc" -eq 0 ] && grep -q '^    dp-grad-reduce\|^    optimizer-step' "$OUT" && ! grep -q '^    edp-\|dp1 \|edp1 ' "$OUT"
then ok "explain --ops on a dense model: no edp ops, no group of one"; else notok "explain --ops on a dense model: no edp ops" "exit $rc" "$(grep -E '^    (e?dp)' "$OUT")"; fi

# An option given twice with two values would have the last silently win;
# it is refused, in main's options and a command's own alike.  The same
# value twice (--gpus 8 --gpus=8) and --X=off with --no-X agree.
expect_bad "--gpus given twice" "^moeplan: error: --gpus is given twice, '8' then '16'; give it once$" "" \
    -- explain --gpus 8 --gpus 16
expect_bad "--sequence-parallel with --no-sequence-parallel" \
    "^moeplan: error: --sequence-parallel and --no-sequence-parallel are both given; give one$" "" \
    -- explain --sequence-parallel --no-sequence-parallel
expect_bad "calibrate --exclude given twice" "^moeplan: error: --exclude is given twice, 'a' then 'b'; give it once$" "" \
    -- calibrate --exclude a --exclude b
expect_bad "simulate --seed given twice (a command's own options)" \
    "^moeplan: error: --seed is given twice, '1' then '2'; give it once$" "" -- simulate --seed 1 --seed=2
expect_bad "--gpus given, then given without a value: the missing value is said" \
    "^moeplan: error: --gpus needs a value; see moeplan explain --help$" "" -- explain --gpus 8 --gpus
run explain --gpus 8 --gpus=8 --ep 8
if [ "$rc" -eq 0 ] && head -1 "$OUT" | grep -q "on 8 x seed-accelerator"; then ok "--gpus 8 --gpus=8: the same value twice is taken"
else notok "--gpus 8 --gpus=8" "exit $rc"; fi
run simulate --steps 1 --sequence-parallel=on --sequence-parallel
if [ "$rc" -eq 0 ]; then ok "simulate --sequence-parallel=on --sequence-parallel agree"; else notok "simulate --sequence-parallel=on twice" "exit $rc" "$(cat "$ERR")"; fi

# --flag=value is --flag value (getopt_long's long form), for the commands
# of the shared table and those that parse their own options alike; and in a
# runs file's Megatron flags: '--max-position-embeddings=4096' is the 4096
# rows of '--max-position-embeddings 4096' (tests/data/runs-small.yaml).
same_eq=0
for pair in "explain --gpus 8 --ep 8 --format json|explain --gpus=8 --ep=8 --format=json" \
            "check --headroom 10% plans/seed-plan.yaml|check --headroom=10% plans/seed-plan.yaml" \
            "simulate --steps 2 --seed 3 --schedule gpipe|simulate --steps=2 --seed=3 --schedule=gpipe" \
            "validate --runs tests/data/runs-small.yaml --explain gpt-max-positions|validate --runs=tests/data/runs-small.yaml --explain=gpt-max-positions"; do
    # shellcheck disable=SC2086
    "$MOEPLAN" ${pair%%|*} >"$TMP/eq-a" 2>/dev/null
    # shellcheck disable=SC2086
    "$MOEPLAN" ${pair#*|} >"$TMP/eq-b" 2>/dev/null
    cmp -s "$TMP/eq-a" "$TMP/eq-b" && [ -s "$TMP/eq-a" ] || { same_eq=1; echo "# differs: $pair"; }
done
if [ "$same_eq" -eq 0 ]; then ok "--flag=value is --flag value (explain, check, simulate, validate)"
else notok "--flag=value is --flag value"; fi
run validate --runs tests/data/runs-small.yaml --explain gpt-max-positions-eq --format json
json_check "validate: a record's --max-position-embeddings=4096 is 4096 rows" \
    "any('4096 rows (--max-position-embeddings)' in a for a in d['assumptions'])"

# A count of one is singular: a one-layer model is "1 layer" (the MoE layer
# benchmark of tests/data/runs-small.yaml: 1 layer, 1 MoE, 16 heads); a
# global batch of 1 is "1 sequence"; a fully pinned layout on 8 GPUs is the
# search's only layout, "searched 1 layout"; a plan with no requirements
# checks its memory only, "1 of 1 requirement holds".
run validate --runs tests/data/runs-small.yaml --explain layer-moe
if [ "$rc" -eq 0 ] && grep -q '^model     1 layer (1 MoE, 0 dense), hidden 1024, 16 heads x 64' "$OUT"; then
    ok "explain: a one-layer model is '1 layer'"
else notok "explain: '1 layer'" "exit $rc" "$(grep '^model' "$OUT")"; fi
run explain --gpus 1 --tp 1 --pp 1 --ep 1 --global-batch 1 --micro-batch 1 --seq-len 1024
if [ "$rc" -eq 0 ] && grep -q '^workload  1 sequence x 1024 tokens per step' "$OUT"; then
    ok "explain: a global batch of 1 is '1 sequence'"
else notok "explain: '1 sequence'" "exit $rc" "$(grep '^workload' "$OUT")"; fi
run plan --gpus 8 --tp 1 --pp 1 --cp 1 --ep 8 --etp 1 --vpp 1 --micro-batch 1 --recompute none --zero 1 \
    --no-sequence-parallel --jobs 1
if [ "$rc" -eq 0 ] && grep -q '^moeplan: searched 1 layout in ' "$ERR"; then ok "plan: 'searched 1 layout'"
else notok "plan: 'searched 1 layout'" "exit $rc"; fi
sed '/^requirements:/,$d' plans/seed-plan.yaml | sed "s#: seed-#: $PWD/plans/seed-#" >"$TMP/plan-noreq.yaml"
run check "$TMP/plan-noreq.yaml"
if [ "$rc" -eq 0 ] && [ "$(tail -n 1 "$OUT")" = "1 of 1 requirement holds: ok" ]; then
    ok "check: '1 of 1 requirement holds'"
else notok "check: '1 of 1 requirement holds'" "exit $rc" "$(tail -n 1 "$OUT")"; fi

# explain --ops with ZeRO-3 at pp 1: the [sharding] block lists each unit's
# gathers and reduce-scatters; the seed's 16 MoE layers, dense and expert
# parameters apart (dp 64 and edp 8), and its JSON twin.
run explain --gpus 64 --tp 1 --pp 1 --ep 8 --zero 3 --ops
if [ "$rc" -eq 0 ] && grep -q '^  \[sharding\] ZeRO 3: per micro-batch' "$OUT" &&
   grep -Eq '^    moe-layer-gather +16 all-gather dp64 inter ' "$OUT" &&
   grep -Eq '^    moe-layer-expert-grad-rs +16 reduce-scatter edp8 inter ' "$OUT"; then
    ok "explain --ops: ZeRO-3's per-unit collectives listed"
else notok "explain --ops: ZeRO-3's per-unit collectives" "exit $rc" "$(grep -A3 sharding "$OUT")"; fi
run explain --gpus 64 --tp 1 --pp 1 --ep 8 --zero 3 --ops --format json
json_check "explain --ops --format json: sharding_per_micro_batch with units" \
    "len(d['sharding_per_micro_batch']) == 8 and d['sharding_per_micro_batch'][0]['units'] == 16 and d['sharding_per_micro_batch'][0]['name'] == 'moe-layer-gather'"
run explain --ops --format json
json_check "explain --ops --format json: no sharding ops without ZeRO-2/3" "d['sharding_per_micro_batch'] == []"

# The workload's zero3_blocking_fetch applies to ZeRO-3 only (one predicate,
# mp_cost_shard_blocking, prices it and writes the [sharding] header): with
# --zero 2 the step is priced overlapped, the same as without the key (the
# seed on 64 GPUs, the dp row 26.43 ms either way), and the header says
# so; with --zero 3 the header says "none overlapped".
printf 'name: w\nglobal_batch: 128\nseq_len: 128-10240\nprecision: fp16\nzero3_blocking_fetch: true\n' >"$TMP/wl-blk.yaml"
printf 'name: w\nglobal_batch: 128\nseq_len: 128-10240\nprecision: fp16\n' >"$TMP/wl-noblk.yaml"
"$MOEPLAN" explain --gpus 64 --tp 1 --ep 8 --zero 2 --ops --workload "$TMP/wl-noblk.yaml" >"$TMP/z2-plain" 2>/dev/null
run explain --gpus 64 --tp 1 --ep 8 --zero 2 --ops --workload "$TMP/wl-blk.yaml"
if [ "$rc" -eq 0 ] &&
   grep -q '^  \[sharding\] ZeRO 2: per micro-batch, each row.s fwd and bwd for one unit (all but the first gather and last reduce-scatter hidden where compute allows)$' "$OUT" &&
   [ "$(grep '^    dp ' "$OUT")" = "$(grep '^    dp ' "$TMP/z2-plain")" ] &&
   grep -q 'zero3_blocking_fetch has no effect: it applies to ZeRO-3 (the layout is ZeRO 2)' "$OUT"; then
    ok "explain --ops --zero 2 with zero3_blocking_fetch: priced and said overlapped"
else notok "explain --ops --zero 2 with zero3_blocking_fetch" "exit $rc" "$(grep -E 'sharding|^    dp ' "$OUT" "$TMP/z2-plain")"; fi
run explain --gpus 64 --tp 1 --ep 8 --zero 3 --ops --workload "$TMP/wl-blk.yaml"
if [ "$rc" -eq 0 ] && grep -q '^  \[sharding\] ZeRO 3: .*(none overlapped)$' "$OUT"; then
    ok "explain --ops --zero 3 with zero3_blocking_fetch: none overlapped"
else notok "explain --ops --zero 3 with zero3_blocking_fetch" "exit $rc" "$(grep sharding "$OUT")"; fi

# validate --explain ID: one record with explain's report, priced by the
# same call as the table (so its total is the table's predicted step).
run validate --runs validate/runs/dev-runs.yaml --explain korthikanti22_t5_22b_seqpar_selective
want_p=$(grep '^korthikanti22_t5_22b_seqpar_selective ' "$TMP/validate1" | awk '{print $(NF-4), $(NF-3)}')
got_p=$(grep '^  total  ' "$OUT" | sed -n 2p | awk '{print $2, $3}')
if [ "$rc" -eq 0 ] && [ ! -s "$ERR" ] && head -1 "$OUT" | grep -q '^moeplan validate: korthikanti22_t5_22b_seqpar_selective (validate/runs/dev-runs.yaml:[0-9]*), ' &&
   grep -q '^moeplan explain: ' "$OUT" && [ -n "$want_p" ] && [ "$got_p" = "$want_p" ]; then
    ok "validate --explain: the record, then explain's report whose total is the table's prediction ($want_p)"
else notok "validate --explain" "exit $rc" "table: $want_p, explain total: $got_p"; fi
run validate --runs validate/runs/dev-runs.yaml --explain korthikanti22_t5_22b_seqpar_selective --format json
json_check "validate --explain --format json: the record's predicted step is the explain object's" \
    "d['id'] == 'korthikanti22_t5_22b_seqpar_selective' and abs(d['explain']['time_per_step_s']['total'] - d['predicted_step_s']) < 1e-12 and abs(d['predicted_step_s'] / d['measured_step_s'] - 1 - d['error']) < 1e-12"
# A record's own --untie-embeddings-and-output-weights decides (the
# functional test's model_config.yaml, filled into parallel.other): 7B-class
# GPT, tp 4, untied, so the output layer's 131073 x 4096 / 4 = 134.2 M
# parameters are the rank's own, said in the assumptions.
run validate --runs validate/runs/dev-runs.yaml --explain mcore_ft_gpt7b_tp4_pp1_h100
if [ "$rc" -eq 0 ] && grep -qxF '  - untied embeddings: --untie-embeddings-and-output-weights' "$OUT" &&
   grep -q '^model .*vocab 131073$' "$OUT"; then ok "validate: a record's --untie-embeddings-and-output-weights is priced and said"
else notok "validate: a record's --untie-embeddings-and-output-weights" "exit $rc" "$(grep -E 'untied|^model' "$OUT")"; fi
# A layer benchmark (Korthikanti et al. 2022 Table 4, one 22B layer):
# --explain gives the forward and backward measured and predicted, the same
# figures as the table's row.
run validate --runs validate/runs/dev-runs.yaml --explain korthikanti22_t4_22b_layer_full_recompute
row=$(grep '^korthikanti22_t4_22b_layer_full_recompute ' "$TMP/validate1")
pf=$(echo "$row" | awk '{print $5, $6}'); pb=$(echo "$row" | awk '{print $10, $11}')
if [ "$rc" -eq 0 ] && [ -n "$pf" ] && [ -n "$pb" ] &&
   sed -n 2p "$OUT" | grep -qF "one layer, one micro-batch: forward measured 7.70 ms, predicted $pf," &&
   sed -n 2p "$OUT" | grep -qF "backward measured 19.50 ms, predicted $pb,"; then
    ok "validate --explain of a layer benchmark: forward and backward as in the table ($pf, $pb)"
else notok "validate --explain of a layer benchmark" "exit $rc" "row: $row" "$(sed -n 2p "$OUT")"; fi
# moeplan(1), validate --explain of a layer record: the report after the
# first line prices the one-layer model as a whole step (embedding, output
# layer, optimizer, gradient reduction), so its total, 43.77 ms, is not the
# compared 8.22 + 20.11 = 28.33 ms; the layer's ops are named.
if grep -qF "the layer's ops are its [attention] and [dense-mlp] blocks" "$OUT" &&
   grep -Eq '^  total +43.77 ms +100.0%' "$OUT"; then
    ok "validate --explain of a layer benchmark: the whole step's report, the layer's blocks named"
else notok "validate --explain of a layer benchmark: the report" "$(grep -E "layer's ops|^  total" "$OUT")"; fi
expect_bad "validate --explain of an id not in the file" \
    "^moeplan: error: --explain: no record 'korthikanti22_t5_22b_seqpar_selectiv' in validate/runs/dev-runs.yaml \\(did you mean 'korthikanti22_t5_22b_seqpar_selective'\\?\\)" "" \
    -- validate --runs validate/runs/dev-runs.yaml --explain korthikanti22_t5_22b_seqpar_selectiv
expect_bad "validate --explain of a skipped record gives its reason" \
    "^moeplan: validate/runs/dev-runs.yaml:[0-9]*:1: error: --explain: record 'narayanan21_t2_ptd_174b_384gpu' is not evaluated: the record does not give tp and pp" "" \
    -- validate --runs validate/runs/dev-runs.yaml --explain narayanan21_t2_ptd_174b_384gpu
expect_bad "validate --ops without --explain" "^moeplan: error: --ops goes with --explain ID" "" \
    -- validate --runs validate/runs/dev-runs.yaml --ops

# ------------------------------------------------------- recompute modules
printf 'model: %s/plans/seed-model.yaml\nlayout:\n  gpus: 128\n  tp: 4\n  pp: 2\n  ep: 16\n  etp: 4\n  micro_batch: 1\n  sequence_parallel: true\n  recompute: [moe_act, layernorm]\n' "$PWD" >"$TMP/plan-modules.yaml"
run explain --plan "$TMP/plan-modules.yaml"
if [ "$rc" -eq 0 ] && grep -q "recompute selective (moe_act, layernorm)" "$OUT"; then ok "plan file recompute: [moe_act, layernorm]"
else notok "plan file recompute: [moe_act, layernorm]" "exit $rc"; fi
printf 'layout:\n  recompute: [moe_act, mlp_act]\n' >"$TMP/plan-badmod.yaml"
expect_bad "plan file recompute list with an unknown module" \
    "^moeplan: $(escape_re "$TMP/plan-badmod.yaml"):2:24: error: unknown 'recompute' module 'mlp_act' \\(did you mean 'moe_act'\\?\\)" "" \
    -- explain --plan "$TMP/plan-badmod.yaml"
run explain --recompute core_attn,moe_act --format json
json_check "--recompute core_attn,moe_act: selective with those modules in JSON" \
    "d['layout']['recompute'] == 'selective' and d['layout']['recompute_modules'] == ['core_attn', 'moe_act']"
expect_bad "--recompute with a misspelt module" \
    "^moeplan: error: --recompute: unknown module 'layernrm' in 'moe_act,layernrm' \\(did you mean 'layernorm'\\?\\)" \
    "" -- explain --recompute moe_act,layernrm
expect_bad "--recompute with an unknown module" "^moeplan: error: --recompute: expected none, selective, full or modules" \
    "got 'xyz'" -- explain --recompute xyz
expect_bad "--recompute mixing a mode with modules" \
    "^moeplan: error: --recompute: 'full' cannot be combined with modules" "" -- explain --recompute core_attn,full
expect_bad "--recompute with a module given twice" \
    "^moeplan: error: --recompute: module 'core_attn' is given twice in 'core_attn,moe_act,core_attn'" "" \
    -- explain --recompute core_attn,moe_act,core_attn
printf 'layout:\n  recompute: [moe_act, moe_act]\n' >"$TMP/plan-dupmod.yaml"
expect_bad "plan file recompute list with a module given twice" \
    "^moeplan: $(escape_re "$TMP/plan-dupmod.yaml"):2:24: error: 'recompute' module 'moe_act' is given twice" "" \
    -- explain --plan "$TMP/plan-dupmod.yaml"
printf 'layout:\n  recompute: moe_act,moe_act\n' >"$TMP/plan-dupmod2.yaml"
expect_bad "plan file recompute string with a module given twice" \
    "^moeplan: $(escape_re "$TMP/plan-dupmod2.yaml"):2:14: error: 'recompute': module 'moe_act' is given twice" "" \
    -- explain --plan "$TMP/plan-dupmod2.yaml"
# A plan file's zero and distributed_optimizer agree as the options do:
# true is stage 1, false stage 0.
for zd in "2 true" "3 true" "1 false" "0 true"; do
    set -- $zd
    printf 'layout:\n  zero: %s\n  distributed_optimizer: %s\n' "$1" "$2" >"$TMP/plan-zd.yaml"
    expect_bad "plan file zero $1 with distributed_optimizer $2" \
        "^moeplan: $(escape_re "$TMP/plan-zd.yaml"):3:26: error: 'distributed_optimizer': $2 contradicts 'zero: $1'" "" \
        -- check "$TMP/plan-zd.yaml"
done
printf 'layout:\n  recompute: ["core_attn,moe"]\n' >"$TMP/plan-badmod3.yaml"
expect_bad "plan file recompute list item with two words" \
    "^moeplan: $(escape_re "$TMP/plan-badmod3.yaml"):2:15: error: 'recompute' list item 'core_attn,moe' holds more than one word" "" \
    -- explain --plan "$TMP/plan-badmod3.yaml"
printf 'layout:\n  recompute: moe_act,layernrm\n' >"$TMP/plan-badmod4.yaml"
expect_bad "plan file recompute string with a misspelt module" \
    "^moeplan: $(escape_re "$TMP/plan-badmod4.yaml"):2:14: error: 'recompute': unknown module 'layernrm' in 'moe_act,layernrm' \\(did you mean 'layernorm'\\?\\)" "" \
    -- explain --plan "$TMP/plan-badmod4.yaml"
printf 'layout:\n  recompute: [moe_act, 12]\n' >"$TMP/plan-badmod2.yaml"
expect_bad "plan file recompute list with a module that is nothing like one" \
    "^moeplan: $(escape_re "$TMP/plan-badmod2.yaml"):2:24: error: 'recompute' modules are core_attn" "got '12'" \
    -- explain --plan "$TMP/plan-badmod2.yaml"

# --------------------------------------------------------------------- fp8
printf 'name: fp8\nglobal_batch: 64\nseq_len: 4096\nprecision: bf16\nfp8: delayed\n' >"$TMP/wl-fp8.yaml"
expect_bad "FP8 workload on a GPU without an FP8 rate" \
    "^moeplan: $(escape_re "$TMP/wl-fp8.yaml"):5:6: error: the workload asks for FP8 linear layers, and the hardware file plans/hardware/a100-sxm-80gb.yaml gives no FP8 rate" "" \
    -- explain --hardware plans/hardware/a100-sxm-80gb.yaml --workload "$TMP/wl-fp8.yaml" --gpus 8
printf 'name: fp8\nglobal_batch: 64\nseq_len: 4096\nprecision: fp16\nfp8: delayed\n' >"$TMP/wl-fp8-fp16.yaml"
expect_bad "FP8 needs bf16" "^moeplan: $(escape_re "$TMP/wl-fp8-fp16.yaml"):5:6: error: 'fp8' needs 'precision: bf16'" "" \
    -- explain --workload "$TMP/wl-fp8-fp16.yaml"
run explain --hardware plans/hardware/h100-sxm.yaml --workload "$TMP/wl-fp8.yaml" --gpus 8 --emit megatron
if [ "$rc" -eq 0 ] && grep -q "FP8 linear layers (delayed scaling)" "$OUT" && grep -q -- "--fp8-recipe delayed" "$OUT" \
    && grep -q "fp8 weights" "$OUT"; then ok "FP8 on H100: stated, priced, emitted"
else notok "FP8 on H100: stated, priced, emitted" "exit $rc"; fi

# --------------------------------------------------------------- calibrate
cp plans/hardware/a100-sxm-80gb.yaml "$TMP/a100-sm.yaml"
expect_bad "calibrate without --hardware" "^moeplan: error: calibrate needs --hardware BASE.yaml and --runs FILE.yaml or --megatron-log LOG" \
    "" -- calibrate --runs validate/runs/dev-runs.yaml
expect_bad "calibrate --fit with a misspelt key" \
    "^moeplan: error: --fit: 'gemm_efficency' is not a parameter moeplan fits \\(did you mean 'gemm_efficiency'\\?\\)" "" \
    -- calibrate --runs validate/runs/dev-runs.yaml --hardware "$TMP/a100-sm.yaml" --fit gemm_efficency
expect_bad "calibrate --folds 1" "^moeplan: error: --folds: expected a whole number from 2 to 20, got '1'" "" \
    -- calibrate --runs validate/runs/dev-runs.yaml --hardware "$TMP/a100-sm.yaml" --folds 1
expect_bad "calibrate on a file without sm_count" "error: the hardware file has no 'sm_count'" "" \
    -- calibrate --runs validate/runs/dev-runs.yaml --hardware plans/seed-hardware.yaml
expect_bad "calibrate --exclude of an id that is not there" "error: --exclude: no run 'no_such_run' in the file" "" \
    -- calibrate --runs validate/runs/dev-runs.yaml --hardware "$TMP/a100-sm.yaml" --exclude no_such_run
run calibrate --runs validate/runs/dev-runs.yaml --hardware "$TMP/a100-sm.yaml" -o "$TMP/a100-fit.yaml" --format json
if [ "$rc" -eq 0 ] && [ -s "$TMP/a100-fit.yaml" ]; then ok "calibrate writes a fitted A100 file"
else notok "calibrate writes a fitted A100 file" "exit $rc"; fi
json_check "calibrate: every run has base, fitted and held-out errors; the fit is no worse than the base in sample" \
    "len(d['runs']) >= 15 and d['in_sample']['n'] == d['cross_validated']['n'] == len([r for r in d['runs'] if r['fitted']]) and not any(r['fitted'] for r in d['runs'] if r['id'].startswith('korthikanti22_t4_')) and all(set(r) >= {'error_base','error_fitted','error_cv'} for r in d['runs']) and sum(__import__('math').log1p(r['error_fitted'])**2 for r in d['runs'] if r['fitted']) <= sum(__import__('math').log1p(r['error_base'])**2 for r in d['runs'] if r['fitted']) + 1e-12"
# moeplan(1): calibrate reports a layer benchmark and does not fit it.  The
# README's A100 fit: its 18 fitted runs are the 10 of Narayanan et al. 2021
# Table 1 and the 8 of Korthikanti et al. 2022 Table 5; the five Table 4
# layer benchmarks are listed (held out: their fitted error, as they are in
# no fit) and marked, and neither counted in the statistics (n 18) nor
# named in the fitted file's runs.
run calibrate --runs validate/runs/dev-runs.yaml --hardware plans/hardware/a100-sxm-80gb.yaml \
    --fit gemm_efficiency,intra_node_efficiency --exclude 'mtnlg530b_*,mcore_ft_*,narayanan21_t2_zero3_*' \
    -o "$TMP/a100-refit.yaml"
if [ "$rc" -eq 0 ] &&
   [ "$(grep -c '^korthikanti22_t4_.*  (one layer.s forward + backward: reported, not fitted)$' "$OUT")" -eq 5 ] &&
   awk '/^korthikanti22_t4_/ && $(NF-8) != $(NF-9) {bad=1} END {exit bad}' "$OUT" &&
   grep -Eq '^  fitted, in sample +18 ' "$OUT" && grep -qx '# Runs (18):' "$TMP/a100-refit.yaml" &&
   ! grep -q 'korthikanti22_t4_' "$TMP/a100-refit.yaml"; then
    ok "calibrate: the five layer benchmarks reported, not fitted (18 runs fitted)"
else notok "calibrate: layer benchmarks reported, not fitted" "exit $rc" "$(grep -E '^korthikanti22_t4|in sample' "$OUT")"; fi
# Its run table's id column is as wide as its longest id (59 characters,
# korthikanti22_t4_22b_layer_selective_plus_sequence_parallel): every row's
# base error ends where the header's "base" does, column 59 + 1 + 9 = 69.
if [ "$rc" -eq 0 ] && sed -n '/^run  /,/^$/p' "$OUT" | sed '/^$/d' |
   awk 'NR == 1 { want = index($0, "base") + 3 } NR > 1 { if (index($0, "%") != want) bad = 1 } END { exit bad || want != 69 }'; then
    ok "calibrate: the run table's columns follow its longest id"
else notok "calibrate: the run table's columns follow its longest id" "$(sed -n '/^run  /,+3p' "$OUT")"; fi
expect_bad "calibrate --megatron-log without --plan" "^moeplan: error: --megatron-log and --plan go together" "" \
    -- calibrate --megatron-log tests/data/megatron-small.log --hardware "$TMP/a100-sm.yaml"
expect_bad "calibrate --megatron-log of a file that is not a log" \
    "^moeplan: plans/seed-model.yaml: error: no 'elapsed time per iteration \\(ms\\):' line" "" \
    -- calibrate --megatron-log plans/seed-model.yaml --plan plans/seed-plan.yaml --hardware plans/hardware/h100-sxm.yaml
# bad_log NAME LOG RE: calibrate --megatron-log LOG with the seed plan is
# refused, stderr matching "^moeplan: LOG" followed by RE.
bad_log() {
    expect_bad "$1" "^moeplan: $2$3" "" -- calibrate --megatron-log "$2" --plan plans/seed-plan.yaml \
        --hardware plans/hardware/h100-sxm.yaml
}
# A log that is not of the plan's run, or not of a run at all, is refused.
sed 's/using world size: 128/using world size: 64/' tests/data/megatron-small.log > "$TMP/mlog-ws.log"
bad_log "calibrate: a log whose world size is not the plan's GPUs" "$TMP/mlog-ws.log" \
    ": error: the log's 'using world size: 64' is not the plan's 128 GPUs"
# Same world size, another layout (the plan is tp 4 x pp 2 x dp 16).
sed 's/tensor-model-parallel size: 4, pipeline-model-parallel size: 2/tensor-model-parallel size: 8, pipeline-model-parallel size: 1/' \
    tests/data/megatron-small.log > "$TMP/mlog-tp.log"
bad_log "calibrate: a log of another layout on the same GPUs" "$TMP/mlog-tp.log" \
    ": error: the log's 'tensor-model-parallel size: 8' is not the plan's tp 4 .*: the log must be of the plan's run"
sed 's/data-parallel size: 16/data-parallel size: 8/' tests/data/megatron-small.log > "$TMP/mlog-dp.log"
bad_log "calibrate: a log of another data-parallel size" "$TMP/mlog-dp.log" \
    ": error: the log's 'data-parallel size: 8' is not the plan's dp 16"
sed 's/global batch size:   128/global batch size:   256/' tests/data/megatron-small.log > "$TMP/mlog-gb.log"
bad_log "calibrate: a log whose global batch is not the plan's" "$TMP/mlog-gb.log" \
    ": error: the log's 'global batch size: 256' is not the plan workload's global_batch 128"
sed '0,/global batch size:   128/s//global batch size:    64/' tests/data/megatron-small.log > "$TMP/mlog-ramp.log"
bad_log "calibrate: a log with a batch-size ramp-up" "$TMP/mlog-ramp.log" \
    ": error: the 'global batch size:' changes between iteration lines"
grep -v 'iteration       [123]0/' tests/data/megatron-small.log > "$TMP/mlog-one.log"
bad_log "calibrate: a log with only the start-up iteration" "$TMP/mlog-one.log" \
    ": error: only one iteration line \\(9.000 s\\), the start-up interval"
sed 's/(ms): 300.0/(ms): 1e999/' tests/data/megatron-small.log > "$TMP/mlog-inf.log"
bad_log "calibrate: a log with a time that is not finite" "$TMP/mlog-inf.log" \
    ":5:[0-9]+: error: 'elapsed time per iteration \\(ms\\):' is '1e999', not a number from 0 to 1e\\+09 \\(1 such value\\)"
sed 's/(ms): 310.0/(ms): nan/' tests/data/megatron-small.log > "$TMP/mlog-nan.log"
bad_log "calibrate: a log with a nan time (as Python prints it)" "$TMP/mlog-nan.log" \
    ":[0-9]+:[0-9]+: error: 'elapsed time per iteration \\(ms\\):' is 'nan'"
# A letter in a time (310 with an O), a negative time: refused at the value,
# not read as 31 ms or left out.
sed 's/(ms): 310.0/(ms): 31O.0/' tests/data/megatron-small.log > "$TMP/mlog-o.log"
bad_log "calibrate: a time with a letter in it" "$TMP/mlog-o.log" \
    ":[0-9]+:[0-9]+: error: 'elapsed time per iteration \\(ms\\):' is '31O.0'"
sed 's/(ms): 310.0/(ms): -300.0/' tests/data/megatron-small.log > "$TMP/mlog-neg.log"
sed 's/max allocated: 3000.50/max allocated: 1e30/' tests/data/megatron-small.log > "$TMP/mlog-bigmem.log"
bad_log "calibrate: a max allocated of 1e30 MB" "$TMP/mlog-bigmem.log" \
    ":[0-9]+:[0-9]+: error: 'max allocated:' is '1e30', not a number from 0 to 1e\\+08"
bad_log "calibrate: a negative time" "$TMP/mlog-neg.log" \
    ":[0-9]+:[0-9]+: error: 'elapsed time per iteration \\(ms\\):' is '-300.0'"
grep -v 'using world size' tests/data/megatron-small.log > "$TMP/mlog-nows.log"
bad_log "calibrate: a log without its world size" "$TMP/mlog-nows.log" ": error: no 'using world size: N' line"
sed -E 's/\(ms\): [0-9.]+/(ms): 0.0/' tests/data/megatron-small.log > "$TMP/mlog-zero.log"
bad_log "calibrate: a log whose iterations all took 0 ms" "$TMP/mlog-zero.log" \
    ": error: every 'elapsed time per iteration \\(ms\\):' is 0 \\(4 lines\\)"
# A parameter that starts on its bound (inter_node_efficiency 1.0, the upper
# one) and that the run does not depend on (one node: no network) is not
# flagged as pulled there.
printf 'name: eight\nmodel: %s/plans/seed-model.yaml\nhardware: %s/plans/seed-hardware.yaml\nworkload: %s/plans/seed-workload.yaml\nlayout:\n  gpus: 8\n  ep: 8\n' "$PWD" "$PWD" "$PWD" >"$TMP/plan-8.yaml"
sed 's/using world size: 128, data-parallel size: 16/using world size: 8, data-parallel size: 8/; s/tensor-model-parallel size: 4, pipeline-model-parallel size: 2/tensor-model-parallel size: 1, pipeline-model-parallel size: 1/' \
    tests/data/megatron-small.log > "$TMP/mlog-8.log"
sed 's/^inter_node_efficiency: .*/inter_node_efficiency: 1.0/' plans/hardware/h100-sxm.yaml > "$TMP/h100-inter1.yaml"
run calibrate --megatron-log "$TMP/mlog-8.log" --plan "$TMP/plan-8.yaml" --hardware "$TMP/h100-inter1.yaml" \
    --fit inter_node_efficiency --format json
json_check "calibrate: a value that starts on its bound and does not move is not flagged" \
    "d['parameters']['inter_node_efficiency'] == {'base': 1.0, 'fitted': 1.0, 'at_bound': False}"
# The log's run, text: one run (singular), the bound flagged, the logged
# peak memory against the prediction.
run calibrate --megatron-log tests/data/megatron-small.log --plan plans/seed-plan.yaml \
    --hardware plans/hardware/h100-sxm.yaml --fit gemm_efficiency
if [ "$rc" -eq 0 ] && grep -q "^moeplan calibrate: h100-sxm from 1 run on it in tests/data/megatron-small.log (nothing held out)" "$OUT" \
    && grep -q "^  gemm_efficiency ended at its bound" "$OUT" \
    && grep -q "^Memory per GPU, megatron-small.log: max allocated 3.67 GB" "$OUT"; then
    ok "calibrate from a log: one run, the bound flagged, the logged peak memory (3500.75 MiB = 3.67 GB) shown"
else notok "calibrate from a log: one run, the bound flagged, the logged peak memory (3500.75 MiB = 3.67 GB) shown" "exit $rc"; fi
run calibrate --megatron-log tests/data/megatron-small.log --plan plans/seed-plan.yaml \
    --hardware plans/hardware/h100-sxm.yaml --fit gemm_efficiency --format json
json_check "calibrate from a Megatron-LM log: one run, nothing held out" \
    "len(d['runs']) == 1 and d['runs'][0]['id'] == 'megatron-small.log' and d['cross_validated'] is None and d['in_sample']['n'] == 1 and d['megatron_log'] == 'tests/data/megatron-small.log' and d['runs_file'] is None and d['parameters']['gemm_efficiency']['at_bound'] is True"
run explain --hardware "$TMP/a100-fit.yaml" --format json
if [ "$rc" -eq 0 ] && head -c 200 "$TMP/a100-fit.yaml" | grep -q "^# Written by moeplan calibrate"; then
    ok "the fitted hardware file loads back and says how it was made"
else notok "the fitted hardware file loads back and says how it was made" "exit $rc"; fi

# ---- --jobs: the search on several threads gives the same output, byte for
# byte, as on one (every format, --why-not, --plot, ties and fronts
# included); small ranges, so that it stays quick under ASan.
expect_bad "plan --jobs 0" "^moeplan: error: --jobs: expected a whole number of threads from 1 to 1024, got '0'" "" \
    -- plan --jobs 0
expect_bad "bench --jobs 1025" "^moeplan: error: --jobs: expected a whole number of threads from 1 to 1024" "" \
    -- bench --jobs 1025
expect_bad "explain --jobs" "^moeplan: error: --jobs is not an option of 'explain'" "" -- explain --jobs 2
jobs_same() { # name, then plan's arguments
    local name=$1 j f bad=""
    shift
    for f in text json csv; do
        local extra=()
        [ "$f" = csv ] || extra=(--why-not)
        "$MOEPLAN" plan "$@" "${extra[@]}" --format "$f" --jobs 1 >"$TMP/jobs1" 2>"$ERR" || bad="$bad $f:jobs1:exit"
        [ -s "$TMP/jobs1" ] || bad="$bad $f:empty"
        for j in 2 3 7; do
            "$MOEPLAN" plan "$@" "${extra[@]}" --format "$f" --jobs "$j" >"$TMP/jobsN" 2>"$ERR" || bad="$bad $f:jobs$j:exit"
            cmp -s "$TMP/jobs1" "$TMP/jobsN" || bad="$bad $f:jobs$j"
        done
    done
    "$MOEPLAN" plan "$@" --plot "$TMP/p1.svg" --jobs 1 >/dev/null 2>&1
    "$MOEPLAN" plan "$@" --plot "$TMP/p3.svg" --jobs 3 >/dev/null 2>&1
    cmp -s "$TMP/p1.svg" "$TMP/p3.svg" || bad="$bad svg"
    if [ -z "$bad" ]; then ok "--jobs 1, 2, 3, 7: the same output: $name"; else notok "--jobs: $name differs:$bad"; fi
}
jobs_same "seed model, 1-96 GPUs" --gpus 1-96
jobs_same "seed model, 1-96 GPUs, --sort step, 40 rows, --pareto" --gpus 1-96 --sort step -n 40 --pareto
jobs_same "seed model, 1-64 GPUs, targets and headroom (rejections sampled)" --gpus 1-64 --headroom 0.5 \
    --target-tokens-per-s 2e5
# The H200 and H800 files take the H100's fitted values (no run of theirs
# in the development set): a refit of h100-sxm.yaml must reach them too.
effs() { grep -E "^($2)_efficiency:" "plans/hardware/$1.yaml" | awk '{print $1, $2}'; }
if [ "$(effs h100-sxm 'gemm|intra_node|inter_node')" = "$(effs h200-sxm 'gemm|intra_node|inter_node')" ] &&
   [ "$(effs h100-sxm 'gemm|inter_node')" = "$(effs h800-sxm 'gemm|inter_node')" ]; then
    ok "hardware: h200 and h800 carry the H100's fitted efficiencies"
else notok "hardware: h200 or h800 efficiencies are not the H100's: $(effs h100-sxm 'gemm|intra_node|inter_node' | tr '\n' ' ')"; fi
cp plans/hardware/h200-sxm.yaml "$TMP/jobs-h200.yaml" # one copy for every run
jobs_same "deepseek-v3 on H200, 120-132 GPUs, uneven pipelines" --model tests/data/hf/deepseek-v3.json \
    --hardware "$TMP/jobs-h200.yaml" --seq-len 4096 --global-batch 240 --gpus 120-132 --uneven-pipeline
run plan --gpus 1-96 --jobs 3 --fewest-gpus --format json
cp "$OUT" "$TMP/fewest3"
run plan --gpus 1-96 --jobs 1 --fewest-gpus --format json
if [ "$rc" -eq 0 ] && cmp -s "$OUT" "$TMP/fewest3"; then ok "--jobs: --fewest-gpus the same"
else notok "--jobs: --fewest-gpus differs" "exit $rc"; fi
run audit plans/proposals/seed-ep16-tp4-pp2.yaml --jobs 1 --format json
cp "$OUT" "$TMP/audit1"
run audit plans/proposals/seed-ep16-tp4-pp2.yaml --jobs 2 --format json
if cmp -s "$OUT" "$TMP/audit1"; then ok "--jobs: audit the same"; else notok "--jobs: audit differs" "exit $rc"; fi
run bench --gpus 1-64 --reps 1 --jobs 2 --format json
json_check "bench --jobs 2 says so and counts as one job does" \
    "d['jobs'] == 2 and d['considered'] == $("$MOEPLAN" bench --gpus 1-64 --reps 1 --jobs 1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["considered"])')"

tap_done
