#!/usr/bin/env bash
# moeplan simulate: the report, its determinism, the JSON, the Chrome trace
# (checked against the trace-event format) and the SVG; plan --simulate;
# bad options and files exit 2 with nothing on stdout.
. "${BASH_SOURCE%/*}/tap.sh" simulate

run simulate --steps 3
if [ "$rc" -eq 0 ] && grep -q '^step time' "$OUT" && grep -q 'schedule 1f1b' "$OUT" && grep -q '^explain' "$OUT"; then
    ok "simulate: the seed's plan by default"
else notok "simulate: the seed's plan by default" "exit $rc"; fi
cp "$OUT" "$TMP/first"
run simulate --steps 3
if cmp -s "$OUT" "$TMP/first"; then ok "simulate: the same output twice"; else notok "simulate: the same output twice"; fi
run simulate --steps 3 --seed 7
if [ "$rc" -eq 0 ] && ! cmp -s "$OUT" "$TMP/first"; then ok "simulate: another seed, other steps"
else notok "simulate: another seed, other steps" "exit $rc"; fi

# Lengths and routing draw from streams of their own: at one seed every
# routing and capacity factor sees the same sequences (the tokens a step
# carries), so comparisons between them are paired.
same=1; first=""
for args in "--routing balanced" "--routing uniform" "--routing zipf:1.2" "--capacity-factor 1" "--capacity-factor 1.2"; do
    run simulate --steps 2 $args --format json
    t=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tokens_per_step'])" "$OUT")
    [ -n "$first" ] || first=$t
    [ "$rc" -eq 0 ] && [ "$t" = "$first" ] || same=0
done
if [ "$same" -eq 1 ]; then ok "simulate: routing and capacity leave the sequence lengths as they are ($first tokens a step)"
else notok "simulate: lengths paired across routing" "tokens per step differ"; fi

# Fixed lengths and explain's routing: the simulated step is explain's (to
# 0.2%; tests/test_simulate.c holds the grid to 1%).
run simulate --steps 1 --lengths fixed --routing balanced --format json
if [ "$rc" -eq 0 ] && python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert abs(d['step_p50_s'] / d['explain_step_s'] - 1) < 2e-3, d
assert d['dropped_fraction'] == 0 and d['padding_fraction'] == 0
assert len(d['ranks']) == d['layout']['pp'] == 2 and len(d['step_s']) == 1
for r in d['ranks']:
    assert 0 < r['busy_fraction'] <= 1 and abs(r['peak_bytes'] / r['explain_peak_bytes'] - 1) < 1e-9
    assert type(r['peak_bytes']) is int and type(r['explain_peak_bytes']) is int, r  # byte counts are integers
assert type(d['capacity_bytes']) is int and list(d) == sorted(d), list(d)  # and the keys sorted
PY
then ok "simulate --format json: fixed lengths equal explain"; else notok "simulate --format json: fixed lengths equal explain" "exit $rc"; fi

# The layout on the command line, as explain takes it; the trace and SVG.
F="--gpus 1024 --tp 4 --cp 2 --dp 64 --pp 2 --ep 32 --etp 1 --vpp 8 --micro-batch 1 --recompute none --sequence-parallel --zero 1"
run simulate $F --steps 2 --trace "$TMP/t.json" --svg "$TMP/t.svg" --format json
if [ "$rc" -eq 0 ] && grep -q '"schedule": "interleaved"' "$OUT" && python3 - "$TMP/t.json" "$TMP/t.svg" "$OUT" <<'PY'
import json, sys, xml.etree.ElementTree as ET
t = json.load(open(sys.argv[1]))
assert isinstance(t['traceEvents'], list) and t['displayTimeUnit'] == 'ms'
names = {}
fwd = bwd = 0
for e in t['traceEvents']:
    assert e['ph'] in ('X', 'M'), e
    assert isinstance(e['pid'], int) and isinstance(e['tid'], int) and isinstance(e['name'], str)
    if e['ph'] == 'M':
        names[(e['pid'], e['tid'], e['name'])] = e['args']
        continue
    assert isinstance(e['ts'], (int, float)) and e['ts'] >= 0 and e['dur'] >= 0, e
    fwd += e['cat'] == 'forward'
    bwd += e['cat'] == 'backward'
# pp 2 ranks x vpp 8 chunks x 2 micro-batches, each pass once
assert fwd == bwd == 2 * 8 * 2, (fwd, bwd)
# Each pass filled with its ops (the cost model's names), and on each track
# the slices nest or are apart, as complete events must for Perfetto.
assert t['otherData']['ops'] is True
# The timeline is the first step's (its slowest group), sends and all.
d = json.load(open(sys.argv[3]))
assert abs(t['otherData']['step_s'] - d['step_s'][0]) < 1e-9 * d['step_s'][0], (t['otherData']['step_s'], d['step_s'])
opnames = {e['name'] for e in t['traceEvents'] if e['ph'] == 'X' and e.get('cat') in ('attention', 'moe-mlp')}
assert {'qkv-proj', 'attention-core', 'ep-dispatch', 'expert-fc1'} <= opnames, sorted(opnames)
tracks = {}
for e in t['traceEvents']:
    if e['ph'] == 'X':
        tracks.setdefault((e['pid'], e['tid']), []).append((e['ts'], e['ts'] + e['dur']))
for sl in tracks.values():
    sl.sort(key=lambda x: (x[0], -x[1]))
    stack = []
    for a, b in sl:
        while stack and stack[-1] <= a + 1e-6:
            stack.pop()
        assert not stack or b <= stack[-1] + 1e-6, (a, b, stack[-1])
        stack.append(b)
assert names[(0, 0, 'process_name')]['name'] == 'pipeline rank 0'
assert names[(1, 1, 'thread_name')]['name'] == 'communication'
root = ET.parse(sys.argv[2]).getroot()
assert root.tag.endswith('svg')
assert len(root.findall('.//{http://www.w3.org/2000/svg}rect')) > 64
PY
then ok "simulate --trace --svg: the seed's best layout, trace-event format"; else notok "simulate --trace --svg: the seed's best layout, trace-event format" "exit $rc"; fi

run simulate --steps 2 --lengths tests/data/simulate/lengths-two-bins.yaml --routing tests/data/simulate/routing-one-hot.yaml --capacity-factor 1.2 --format json
if [ "$rc" -eq 0 ] && python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d['lengths'] == 'histogram tests/data/simulate/lengths-two-bins.yaml (2 bins)', d['lengths']
assert 'capacity factor 1.2' in d['routing'], d['routing']
# Expert 0's preference is p0 = 800 / (800 + 63 x 100) = 0.1127, the others'
# 0.0141.  A token's two experts are distinct, so expert 0 is among them
# with pi0 = p0 + sum_j p_j p0 / (1 - p_j) = 0.1127 + 63 x 0.0141 x 0.1143
# = 0.2141, each other with (2 - pi0) / 63 = 0.02835; the copies' shares
# are half of those.  Its EP rank (4 experts of 64 at ep 16) is the busiest,
# 16 x (0.2141 + 3 x 0.02835) / 2 = 2.393x the mean, and above capacity 1.2
# it drops.
p0, pj = 800 / 7100, 100 / 7100
pi0 = p0 + 63 * pj * p0 / (1 - pj)
want = 16 * (pi0 + 3 * (2 - pi0) / 63) / 2
assert abs(want - 2.393) < 1e-3, want
assert abs(d['expert_load_mean'] - want) < 0.03, d['expert_load_mean']
assert d['dropped_fraction'] > 0.05, d['dropped_fraction']
PY
then ok "simulate: histogram files, the hot expert's load and drops at capacity 1.2"
else notok "simulate: histogram files, the hot expert's load and drops at capacity 1.2" "exit $rc"; fi

run simulate --steps 2 --schedule zb-h1 --pack 10240
if [ "$rc" -eq 0 ] && grep -q 'schedule zb-h1' "$OUT" && grep -q 'packed into sequences of 10240' "$OUT"; then ok "simulate: zb-h1, packing"
else notok "simulate: zb-h1, packing" "exit $rc"; fi

run simulate --steps 1 --schedule dualpipe --trace "$TMP/d.json"
if [ "$rc" -eq 0 ] && grep -q 'schedule dualpipe' "$OUT" && python3 - "$TMP/d.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
cats = [e.get('cat') for e in t['traceEvents'] if e['ph'] == 'X']
# pp 2, 8 micro-batches, 4 each way: overlapped pairs and deferred W passes
assert cats.count('forward+backward') > 0 and cats.count('weight-gradient') > 0, set(cats)
PY
then ok "simulate --schedule dualpipe: overlapped pairs in the trace"; else notok "simulate --schedule dualpipe: overlapped pairs in the trace" "exit $rc"; fi

# An uneven pipeline (DeepSeek-V3's 61 layers on pp 16: 3 first, 2 last),
# as explain takes it, under DualPipe with 120 micro-batches.
run simulate --model tests/data/hf/deepseek-v3.json --gpus 2048 --tp 1 --pp 16 --dp 128 --ep 64 --etp 1 \
    --pp-first-layers 3 --pp-last-layers 2 --seq-len 4096 --global-batch 15360 --recompute full --steps 1 \
    --schedule dualpipe --lengths fixed
if [ "$rc" -eq 0 ] && grep -q 'pp 16 | etp 1 ep 64 edp 2 | vpp 1 mb 1, 120 micro-batches), schedule dualpipe' "$OUT"; then
    ok "simulate --pp-first-layers --pp-last-layers: DeepSeek-V3 on 2048 GPUs under DualPipe"
else notok "simulate --pp-first-layers --pp-last-layers" "exit $rc" "$(head -1 "$OUT")"; fi

run plan --gpus 64-128 --simulate 3
if [ "$rc" -eq 0 ] && grep -q 'The best 3 re-ranked by simulated p50 step' "$OUT" && [ "$(grep -A4 're-ranked' "$OUT" | grep -c '^ *[123] ')" -eq 3 ]; then
    ok "plan --simulate 3"
else notok "plan --simulate 3" "exit $rc"; fi

refused "simulate --schedule gipe: did you mean" "did you mean 'gpipe'" simulate --schedule gipe
refused "simulate --schedule interleaved on vpp 1" "vpp 1" simulate --schedule interleaved
refused "simulate --schedule 1f1b on vpp 8" "only the interleaved schedule" simulate $F --schedule 1f1b
refused "simulate --steps 0" "--steps" simulate --steps 0
refused "simulate --schedule dualpipe, odd micro-batches" "even number of micro-batches" simulate --schedule dualpipe --global-batch 48
refused "simulate --routing zipf:x" "skew" simulate --routing zipf:x
refused "simulate --routing unifrom: did you mean" "did you mean 'uniform'" simulate --routing unifrom
refused "simulate --lengths fixd: did you mean" "did you mean 'fixed'" simulate --lengths fixd
refused "simulate --capacity-factor 0.5" "capacity-factor" simulate --capacity-factor 0.5
refused "simulate --pack beyond the sequence" "longer than the workload" simulate --pack 20000
refused "simulate --recompute ful: did you mean" "did you mean 'full'" simulate --recompute ful
refused "simulate: a histogram's unknown key, file:line:col" "lengths-bad-key.yaml:2:[0-9]*: error:.*wieght" simulate --lengths tests/data/simulate/lengths-bad-key.yaml
refused "simulate: a missing file" "no-such.yaml" simulate --lengths no-such.yaml
refused "simulate: an unknown option" "unknown option" simulate --stpes 3
refused "plan --simulate with csv" "csv" plan --gpus 64 --simulate 2 --format csv
refused "plan --simulate 0" "--simulate" plan --simulate 0

# A layout that does not fit is simulated, and said not to fit (Mixtral on
# 64 GPUs with ep 1: 46.7 B parameters, 93 GB of 16-bit weights alone on
# each 64 GB GPU).
run simulate --model tests/data/hf/mixtral-8x7b.json --gpus 64 --steps 1
if [ "$rc" -eq 0 ] && grep -q '^memory       DOES NOT FIT: pipeline rank 0 needs' "$OUT"; then
    ok "simulate: a layout that does not fit says so"
else notok "simulate: a layout that does not fit says so" "exit $rc"; fi
run simulate --model tests/data/hf/mixtral-8x7b.json --gpus 64 --steps 1 --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
assert d['fits'] is False and d['ranks'][0]['fits'] is False and d['ranks'][0]['peak_bytes'] > d['capacity_bytes']" "$OUT"
then ok "simulate --format json: fits false"; else notok "simulate --format json: fits false" "exit $rc"; fi
# explain's verdict holds though shorter sequences peak lower: 24
# sequences per micro-batch at 9972 tokens need 64.01 GB of 64.00.
run simulate --micro-batch 24 --global-batch 768 --seq-len 128-9972 --steps 1
if [ "$rc" -eq 0 ] && grep -q 'DOES NOT FIT' "$OUT"; then ok "simulate: explain's does-not-fit stands at shorter lengths"
else notok "simulate: explain's does-not-fit stands at shorter lengths" "exit $rc"; fi
run simulate --steps 1
if [ "$rc" -eq 0 ] && ! grep -q 'DOES NOT FIT' "$OUT"; then ok "simulate: the seed fits, no warning"
else notok "simulate: the seed fits, no warning" "exit $rc"; fi

# explain's layout options, parsed by the same code (cli.c
# cli_layout_option): the same values taken, the same messages.
run simulate --steps 1 --recompute core_attn,moe_act --format json
if [ "$rc" -eq 0 ] && grep -q '"step_p50_s"' "$OUT"; then ok "simulate --recompute MODULES, as explain"
else notok "simulate --recompute MODULES, as explain" "exit $rc"; fi
run simulate --steps 1 --fsdp --format json
if [ "$rc" -eq 0 ] && grep -q '"step_p50_s"' "$OUT"; then ok "simulate --fsdp, as explain"
else notok "simulate --fsdp, as explain" "exit $rc"; fi
# --gpus, --global-batch and --seq-len too (simulate said "expected a whole
# number from 1 to 16777216" for --gpus 0, explain "this command takes one
# GPU count").
for args in "--zero any" "--zero 5" "--tp 0" "--recompute core_atn" "--sequence-parallel=maybe" \
            "--distributed-optimizer=maybe" "--gpus 0" "--gpus 8-16" "--global-batch 0" "--seq-len 0"; do
    a=$("$MOEPLAN" explain $args 2>&1 >/dev/null); b=$("$MOEPLAN" simulate $args 2>&1 >/dev/null)
    if [ "${a/explain takes/simulate takes}" = "$b" ] && [ -n "$b" ]; then ok "simulate $args: explain's message"
    else notok "simulate $args: explain's message" "explain: $a" "simulate: $b"; fi
done

# A failed command writes no file: the trace is kept back until the image
# is written too (it was left behind, 1.3 MB, when the image's folder did
# not exist), and a file already there stays as it was.
echo old >"$TMP/keep.json"
run simulate --steps 1 --trace "$TMP/keep.json" --svg "$TMP/no-such-dir/x.svg"
if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && [ "$(cat "$TMP/keep.json")" = old ] && grep -q "could not write the image" "$ERR" &&
   [ -z "$(ls "$TMP" | grep 'keep.json.')" ]; then
    ok "simulate: a failed image leaves the trace file as it was, no temporary behind"
else notok "simulate: a failed image leaves the trace file as it was" "exit $rc" "$(ls "$TMP")"; fi

# Lengths the layout cannot split are padded: the seed plan's tp 4 with
# sequence parallelism takes multiples of 4, so sequences of 1-3 tokens
# are computed as 4 each: padding = 1 - real / (128 x 4).
printf 'bins:\n  - {lo: 1, hi: 3, weight: 1}\n' >"$TMP/short.yaml"
run simulate --steps 1 --lengths "$TMP/short.yaml" --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if abs(d['padding_fraction'] - (1 - d['tokens_per_step'] / (128 * 4))) < 1e-12 else 1)" "$OUT"; then
    ok "simulate: sequences padded to a multiple of tp under sequence parallelism"
else notok "simulate: sequences padded to a multiple of tp" "exit $rc"; fi

# The layout object is the one every JSON output has (moeplan(1)): the
# same keys and values as explain's for the same plan.
run explain --format json
cp "$OUT" "$TMP/explain.json"
run simulate --steps 1 --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json, sys
a = json.load(open(sys.argv[1]))['layout']; b = json.load(open(sys.argv[2]))['layout']
sys.exit(0 if a == b else 1)" "$TMP/explain.json" "$OUT"; then
    ok "simulate --format json: explain's layout object"
else notok "simulate --format json: explain's layout object" "exit $rc"; fi

# Both outputs are opened before either is written: an image path that is
# a directory leaves the trace as it was (it used to be renamed into place
# first); a symbolic link stays a link, its target replaced; a file keeps
# its mode.
mkdir -p "$TMP/adir" "$TMP/real"
echo old >"$TMP/tr.json"
run simulate --steps 1 --trace "$TMP/tr.json" --svg "$TMP/adir"
if [ "$rc" -eq 2 ] && [ "$(cat "$TMP/tr.json")" = old ] && grep -q "Is a directory" "$ERR"; then
    ok "simulate: an image path that is a folder changes no file"
else notok "simulate: an image path that is a folder changes no file" "exit $rc"; fi
echo old >"$TMP/real/t.json"
ln -sf "$TMP/real/t.json" "$TMP/link.json"
echo x >"$TMP/priv.svg"; chmod 600 "$TMP/priv.svg"
run simulate --steps 1 --trace "$TMP/link.json" --svg "$TMP/priv.svg"
if [ "$rc" -eq 0 ] && [ -L "$TMP/link.json" ] && head -c 15 "$TMP/real/t.json" | grep -q traceEvents &&
   [ "$(stat -c %a "$TMP/priv.svg")" = 600 ] && grep -q '<svg' "$TMP/priv.svg"; then
    ok "simulate: a linked trace keeps its link, an image its mode"
else notok "simulate: links and modes kept" "exit $rc" "$(ls -la "$TMP")"; fi

# A token's top-k experts are distinct: with every preference on expert 0
# (a one-hot histogram) and top-2, expert 0 takes one copy of each token
# (half of the copies) and the other 63 share the other half, so the EP
# rank of 4 experts holding it has 0.5 + 3 x 0.5/63 = 0.5238 of the copies
# against a mean of 1/16: 8.381x (drawn with replacement it was 16x).
python3 -c "print('tokens_per_expert: [' + ', '.join(['1000'] + ['0'] * 63) + ']')" >"$TMP/onehot.yaml"
run simulate --steps 1 --routing "$TMP/onehot.yaml" --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if abs(d['expert_load_mean'] / (16 * (0.5 + 3 * 0.5 / 63)) - 1) < 0.01 else 1)" "$OUT"; then
    ok "simulate: top-2 experts are distinct (one-hot preferences: 8.38x, not 16x)"
else notok "simulate: top-k without replacement" "exit $rc"; fi

# Interrupted while its temporaries exist, simulate removes them and dies
# of the signal; the old trace stays.  The image is a FIFO with no reader,
# so simulate waits in its open, after the trace's temporary was made.
mkfifo "$TMP/wait.svg"
echo old >"$TMP/int.json"
"$MOEPLAN" simulate --steps 1 --trace "$TMP/int.json" --svg "$TMP/wait.svg" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
    ls "$TMP"/int.json.?????? >/dev/null 2>&1 && break
    sleep 0.1
done
had_tmp=0; ls "$TMP"/int.json.?????? >/dev/null 2>&1 && had_tmp=1
kill -TERM "$pid"
wait "$pid"; rc=$?
if [ "$had_tmp" -eq 1 ] && [ "$rc" -eq 143 ] && [ "$(cat "$TMP/int.json")" = old ] &&
   ! ls "$TMP"/int.json.?????? >/dev/null 2>&1; then
    ok "simulate: a SIGTERM while writing leaves the old trace and no temporary"
else notok "simulate: interrupted while writing" "temporary seen $had_tmp, exit $rc" "$(ls -la "$TMP")"; fi
rm -f "$TMP/wait.svg"

# With context parallelism too, a micro-batch is padded to 2 cp x tp =
# 2 x 2 x 4 = 16 tokens: padding = 1 - real / (128 x 16).
run simulate --steps 1 --gpus 128 --tp 4 --cp 2 --pp 2 --ep 16 --lengths "$TMP/short.yaml" --format json
if [ "$rc" -eq 0 ] && python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if abs(d['padding_fraction'] - (1 - d['tokens_per_step'] / (128 * 16))) < 1e-12 else 1)" "$OUT"; then
    ok "simulate: sequences padded to a multiple of 2 cp tp with context parallelism"
else notok "simulate: padding with context parallelism" "exit $rc"; fi

# refused_exactly NAME WANT ARGS...: exit 2, nothing on stdout, and
# exactly the one line WANT on stderr.
refused_exactly() {
    local name=$1 want=$2
    shift 2
    run "$@"
    if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && [ "$(cat "$ERR")" = "$want" ]; then ok "$name"
    else notok "$name" "exit $rc, stdout $(wc -c <"$OUT") bytes" "got:  $(cat "$ERR")" "want: $want"; fi
}

refused_exactly "simulate --gpus 0: explain's words" \
    "moeplan: error: --gpus: this command takes one GPU count from 1 to 16777216, got '0'" simulate --gpus 0
refused_exactly "simulate --global-batch 0: explain's words" \
    "moeplan: error: --global-batch: expected a whole number of sequences from 1 to 100000000, got '0'" \
    simulate --global-batch 0

# Numbers are read as in the files (mp_parse_decimal): strtod took
# hexadecimal, so --capacity-factor 0x2 ran at 2 and zipf:0x1 at skew 1.
refused_exactly "simulate --capacity-factor 0x2: hexadecimal refused" \
    "moeplan: error: --capacity-factor: expected a factor from 1 to 64 or 'dropless', got '0x2'" \
    simulate --capacity-factor 0x2
refused_exactly "simulate --capacity-factor 02: a leading zero refused" \
    "moeplan: error: --capacity-factor: expected a factor from 1 to 64 or 'dropless', got '02'" \
    simulate --capacity-factor 02
refused_exactly "simulate --routing zipf:0x1: hexadecimal refused" \
    "moeplan: error: --routing zipf:S: expected a skew S from 0 to 10, got '0x1'" \
    simulate --routing zipf:0x1
refused_exactly "run --routing zipf:0x1: hexadecimal refused" \
    "moeplan: error: --routing zipf:S: expected a skew S from 0 to 10, got '0x1'" \
    run --plan tests/data/run-small-plan.yaml --routing zipf:0x1
run simulate --steps 1 --capacity-factor 1.5 --routing zipf:.5
if [ "$rc" -eq 0 ] && grep -q 'routing: Zipf, skew 0.5, capacity factor 1.5 ' "$OUT"; then
    ok "simulate --capacity-factor 1.5 --routing zipf:.5: decimals taken"
else notok "simulate --capacity-factor 1.5 --routing zipf:.5: decimals taken" "exit $rc"; fi

# The same file for --trace and --svg lost the trace (the image was renamed
# over it); a --routing other than the default on a dense model was ignored
# where a routing file was refused.
run simulate --steps 1 --trace "$TMP/same.out" --svg "$TMP/same.out"
if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && [ ! -e "$TMP/same.out" ] &&
   [ "$(cat "$ERR")" = "moeplan: error: --svg: '$TMP/same.out' names the same file as --trace '$TMP/same.out'; give the image a path of its own (it would replace the trace)" ]; then
    ok "simulate --trace F --svg F: refused, nothing written"
else notok "simulate --trace F --svg F: refused, nothing written" "exit $rc"; fi
echo old >"$TMP/one.json"
ln -s one.json "$TMP/other.svg"
refused_exactly "simulate --trace F --svg LINK-TO-F: refused" \
    "moeplan: error: --svg: '$TMP/other.svg' names the same file as --trace '$TMP/./one.json'; give the image a path of its own (it would replace the trace)" \
    simulate --steps 1 --trace "$TMP/./one.json" --svg "$TMP/other.svg"
DENSE=(--model tests/data/llama-3.1-8b.yaml --gpus 8 --steps 1)
refused_exactly "simulate --routing zipf:1 on a dense model: refused" \
    "moeplan: error: --routing zipf:1: the model has no experts" simulate "${DENSE[@]}" --routing zipf:1
refused_exactly "simulate --routing balanced on a dense model: refused" \
    "moeplan: error: --routing balanced: the model has no experts" simulate "${DENSE[@]}" --routing balanced
run simulate "${DENSE[@]}" --routing uniform
if [ "$rc" -eq 0 ] && grep -q 'routing: none (a dense model)' "$OUT"; then ok "simulate --routing uniform (the default) on a dense model"
else notok "simulate --routing uniform (the default) on a dense model" "exit $rc"; fi
# A dense model has no etp/ep/edp, no routing and no EP lockstep: the report
# said "| etp 1 ep 1 edp 8 |", "routing at the workload's imbalance" and
# "EP lockstep 1 data-parallel replicas per expert-parallel group, 8 groups";
# a fixed seq_len was "uniform over 4096-4096 tokens".
run simulate "${DENSE[@]}" --seq-len 4096
if [ "$rc" -eq 0 ] && head -n 1 "$OUT" | grep -q '(tp 1 cp 1 dp 8 pp 1 | vpp 1 mb 1, ' &&
   ! grep -q -e 'EP lockstep' -e 'etp' -e "workload's imbalance" -e '4096-4096' "$OUT" &&
   grep -q 'lengths: every sequence 4096 tokens' "$OUT"; then ok "simulate on a dense model: no experts, no EP lockstep"
else notok "simulate on a dense model: no experts, no EP lockstep" "exit $rc" "$(head -n 2 "$OUT")" "$(grep lockstep "$OUT")"; fi
# One replica per EP group (ep 2 = tp 2 with etp 1) is singular.
run simulate --gpus 16 --tp 2 --etp 1 --ep 2 --global-batch 16 --steps 1
if [ "$rc" -eq 0 ] && grep -q '^EP lockstep  *1   data-parallel replica per expert-parallel group, 8 groups$' "$OUT"
then ok "simulate: 1 data-parallel replica (singular)"
else notok "simulate: 1 data-parallel replica (singular)" "exit $rc" "$(grep lockstep "$OUT")"; fi


# The README's routing table and DualPipe figures are the command's output
# (they had drifted: 230.2 ms at capacity 1.2 printed 231.50 ms, 461.9 ms
# dropless under Zipf 1 printed 465.96 ms, DualPipe's 209.4 ms 211.28 ms).
readme_row() { grep -F "| $1 |" "$SRCDIR/README.md"; }
for case in "balanced|balanced (explain's)|231.5 ms|264.1 ms" "zipf:1|Zipf s = 1.0|231.5 ms|466.0 ms"; do
    IFS='|' read -r rt label cap drop <<<"$case"
    run simulate --steps 100 --capacity-factor 1.2 --routing "$rt"
    c=$(awk '/^step time/ {print $5, $6}' "$OUT")
    run simulate --steps 100 --capacity-factor dropless --routing "$rt"
    d=$(awk '/^step time/ {print $5, $6}' "$OUT")
    c1=$(printf '%.1f ms' "${c% ms}"); d1=$(printf '%.1f ms' "${d% ms}")
    if readme_row "$label" | grep -qF "| $c1 |" && readme_row "$label" | grep -qF "| $d1 |" && [ "$c1" = "$cap" ] && [ "$d1" = "$drop" ]
    then ok "README routing table row '$label' is the simulator's ($c1, $d1)"
    else notok "README routing table row '$label' is the simulator's" "simulated $c1, $d1" "$(readme_row "$label")"; fi
done
run simulate --schedule dualpipe --lengths fixed --routing balanced --steps 1
dp=$(awk '/^step time/ {printf "%.1f ms", $5}' "$OUT")
run simulate --lengths fixed --routing balanced --steps 1
ob=$(awk '/^step time/ {printf "%.1f ms", $5}' "$OUT")
if [ "$dp" = "211.3 ms" ] && [ "$ob" = "346.1 ms" ] && tr '\n' ' ' <"$SRCDIR/README.md" | grep -qF "$dp against 1F1B's $ob"
then ok "README's DualPipe against 1F1B figures are the simulator's ($dp, $ob)"
else notok "README's DualPipe against 1F1B figures are the simulator's" "simulated $dp, $ob"; fi

tap_done
