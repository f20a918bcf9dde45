#!/usr/bin/env bash
# Input handling that the documentation promises (issue 6): each case is a
# defect found where moeplan(1)/(5) and the tool disagreed, with the exact
# message now given.  Options, --help and moeplan(1) are compared by
# tests/docs_options.py.
#
#   MOEPLAN=build/src/moeplan SRCDIR=. bash tests/input_errors.sh
#
# Prints "ok N - name" / "not ok N - name", then "P passed, F failed".
. "${BASH_SOURCE%/*}/tap.sh" input

# refused NAME EXPECTED-STDERR -- ARGS...: exit 2, nothing on stdout, and
# exactly this one line on stderr.
refused() {
    local name=$1 want=$2
    shift 3
    run "$@"
    local got
    got=$(cat "$ERR")
    if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && [ "$got" = "$want" ]; then
        ok "$name"
    else
        notok "$name" "exit $rc (want 2), stdout $(wc -c <"$OUT") bytes" "got:  $got" "want: $want"
    fi
}

D=tests/data/bad

# ------------------------------------------- a quoted number is a string
refused "quoted number: says a number was expected, not a string" \
    "moeplan: $D/model-quoted-hidden.yaml:4:9: error: 'hidden' must be a whole number, got '1024' in quotes: a string, not a number (remove the quotes)" \
    -- explain --model "$D/model-quoted-hidden.yaml"

# ------------------------------- an unknown key that names a known part
# 'biases' is no edit away from any key, but its word ('bias', the plural
# dropped) is a part of five: they are listed, in the reader's order.
refused "unknown key 'biases': the keys with 'bias' in them" \
    "moeplan: $D/model-word-key.yaml:9:1: error: unknown key 'biases' in a model file; the keys with 'bias' in them: 'qkv_bias', 'out_bias', 'mlp_bias', 'router_bias', 'lm_head_bias' (moeplan(5))" \
    -- explain --model "$D/model-word-key.yaml"

# ------------------------------------- two options, two ZeRO stages
refused "--fsdp with --zero 1: refused, not settled by order" \
    "moeplan: error: --zero 1 (ZeRO 1) conflicts with --fsdp (ZeRO 3); give one" \
    -- explain --fsdp --zero 1
refused "--zero 2 with --distributed-optimizer: refused" \
    "moeplan: error: --distributed-optimizer (ZeRO 1) conflicts with --zero 2 (ZeRO 2); give one" \
    -- explain --zero 2 --distributed-optimizer

# --------------------------------------------- min_headroom: one range
refused "min_headroom 2: one range, 0 to 0.99" \
    "moeplan: $D/plan-headroom-range.yaml:10:17: error: 'min_headroom' is '2'; expected a fraction from 0 to 0.99 (0% to 99%)" \
    -- check "$D/plan-headroom-range.yaml"

# ------------------------------- microseconds: micro sign and Greek mu
# hw-greek-mu.yaml is the seed hardware with "3 μs" (U+03BC) and "10 µs"
# (U+00B5) for "3 us" and "10 us": every figure of explain must be the
# seed's.  The control (30 us) shows the latencies reach the figures.
L=(explain --gpus 128 --tp 4 --pp 2 --ep 16 --format json)
strip='import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k) for k in ("files","hardware")]; print(json.dumps(d, sort_keys=True))'
run "${L[@]}" --hardware tests/data/hw-greek-mu.yaml && python3 -c "$strip" "$OUT" >"$TMP/mu.json"
rc_mu=$rc
run "${L[@]}" --hardware plans/seed-hardware.yaml && python3 -c "$strip" "$OUT" >"$TMP/us.json"
sed 's/^intra_node_latency: 3 us/intra_node_latency: 30 us/' plans/seed-hardware.yaml >"$TMP/slow.yaml"
run "${L[@]}" --hardware "$TMP/slow.yaml" && python3 -c "$strip" "$OUT" >"$TMP/slow.json"
if [ "$rc_mu" -eq 0 ] && [ -s "$TMP/mu.json" ] && cmp -s "$TMP/mu.json" "$TMP/us.json" &&
   ! cmp -s "$TMP/us.json" "$TMP/slow.json"; then
    ok "3 μs (U+03BC) and 10 µs (U+00B5) read as 3 us and 10 us"
else
    notok "3 μs (U+03BC) and 10 µs (U+00B5) read as 3 us and 10 us" "exit $rc_mu" "$(cat "$ERR")"
fi
# moeplan(5) writes the unit with both code points (\(mc and \(*m).
if grep -qF '\(mcs' man/moeplan.5 && grep -qF '\(*ms' man/moeplan.5; then
    ok "moeplan(5) names both micro signs"
else
    notok "moeplan(5) names both micro signs"
fi

# ------------------------------------- --gpus limits: docs == the tool
# moeplan(1)'s --gpus item states each limit; the tool's refusal states the
# same number, and the limit itself is accepted by the parser.
man_range=$(sed 's/\\-/-/g' man/moeplan.1 | grep -o 'default 1-1024, at most [0-9]*' | grep -o '[0-9]*$')
man_single=$(sed 's/\\-/-/g' man/moeplan.1 | grep -o 'take a single count from 1 to [0-9]*' | grep -o '[0-9]*$')
run plan --gpus "1-$((man_range + 1))"
if [ -n "$man_range" ] && [ "$rc" -eq 2 ] && grep -qF "(at most $man_range)" "$ERR"; then
    ok "plan --gpus: moeplan(1) and the tool both stop at $man_range"
else
    notok "plan --gpus: moeplan(1) and the tool both stop at ${man_range:-?}" "$(cat "$ERR")"
fi
run bench --gpus "$((man_range + 1))"
if [ "$rc" -eq 2 ] && grep -qF "(at most $man_range)" "$ERR"; then ok "bench --gpus: the same limit"; else notok "bench --gpus: the same limit" "$(cat "$ERR")"; fi
run explain --gpus "$((man_single + 1))"
if [ -n "$man_single" ] && [ "$rc" -eq 2 ] && grep -qF "from 1 to $man_single," "$ERR"; then
    ok "explain --gpus: moeplan(1) and the tool both stop at $man_single"
else
    notok "explain --gpus: moeplan(1) and the tool both stop at ${man_single:-?}" "$(cat "$ERR")"
fi
# At the limit the count is taken (the layout is then checked: 16777216
# GPUs of tp 1 give dp 16777216, whose batch of 128 does not divide).
run explain --gpus "$man_single"
if [ "$rc" -eq 2 ] && ! grep -q -- "--gpus:" "$ERR"; then ok "explain --gpus $man_single is within the limit"; else notok "explain --gpus $man_single is within the limit" "$(cat "$ERR")"; fi

# ------------------------------------------- decimal only in quantities
refused "0x190 TFLOPS refused: hexadecimal" \
    "moeplan: $D/hw-hex-flops.yaml:3:13: error: 'peak_flops': '0x190 TFLOPS' is hexadecimal; expected a decimal number followed by a unit (FLOPS, GFLOPS, TFLOPS, PFLOPS, or the same as FLOP/s)" \
    -- explain --hardware "$D/hw-hex-flops.yaml"
refused "0400 TFLOPS refused: a leading zero" \
    "moeplan: $D/hw-octal-flops.yaml:3:13: error: 'peak_flops': '0400 TFLOPS' has a leading zero (octal in some readers); expected a decimal number followed by a unit (FLOPS, GFLOPS, TFLOPS, PFLOPS, or the same as FLOP/s)" \
    -- explain --hardware "$D/hw-octal-flops.yaml"
refused "nan GB refused: not finite" \
    "moeplan: $D/hw-nan-memory.yaml:5:9: error: 'memory': 'nan GB' is not a finite number; expected a decimal number followed by a unit (B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024))" \
    -- explain --hardware "$D/hw-nan-memory.yaml"
refused "a claim value in hexadecimal" \
    "moeplan: $D/proposal-hex-value.yaml:12:12: error: value of metric 'gpus': '0x80' is hexadecimal; expected a decimal number such as 7B, 500K or 60" \
    -- audit "$D/proposal-hex-value.yaml"
refused "an MFU claim of 55 (a fraction over 1)" \
    "moeplan: $D/proposal-mfu-over-one.yaml:12:12: error: value of metric 'mfu' is 55, which as a fraction is 5500%; a utilization is at most 1: write 0.55 or 55% for 55%" \
    -- audit "$D/proposal-mfu-over-one.yaml"
refused "--target-tokens-per-s 0x10 refused" \
    "moeplan: error: --target-tokens-per-s: expected a positive decimal number of tokens per second, got '0x10'" \
    -- plan --target-tokens-per-s 0x10
refused "--headroom 0x0 refused" \
    "moeplan: error: --headroom: expected a fraction of capacity from 0 to 0.99 such as 0.1 or 10%, got '0x0'" \
    -- plan --headroom 0x0

# ------------------------------------------------------------ YAML tags
refused "!!str on a number is refused at the tag" \
    "moeplan: $D/model-tag-str.yaml:3:9: error: YAML tag '!!str' is not accepted: each key has its own type (see moeplan(5)); remove the tag" \
    -- explain --model "$D/model-tag-str.yaml"
refused "!custom is refused at the tag" \
    "moeplan: $D/model-tag-custom.yaml:2:7: error: YAML tag '!custom' is not accepted: each key has its own type (see moeplan(5)); remove the tag" \
    -- explain --model "$D/model-tag-custom.yaml"

# ------------------------------ capacity_factor: one rule for both files
refused "proposal capacity_factor 0.5 refused" \
    "moeplan: $D/proposal-capacity-half.yaml:6:18: error: 'capacity_factor' is 0.5; expected 0 (dropless) or a number from 1 to 64" \
    -- audit "$D/proposal-capacity-half.yaml"
refused "workload capacity_factor 0.5: the same message" \
    "moeplan: $D/wl-capacity.yaml:5:18: error: 'capacity_factor' is 0.5; expected 0 (dropless) or a number from 1 to 64" \
    -- explain --workload "$D/wl-capacity.yaml"

# --------------------------------------------------- division by zero
refused "64 ÷ 0 is a division by zero, naming the expression" \
    "moeplan: $D/proposal-divide-by-zero.yaml:14:17: error: 'arithmetic' divides by zero: '64 ÷ 0'" \
    -- audit "$D/proposal-divide-by-zero.yaml"

# ----------------------------------------- extreme claims keep columns
# The table row is "%-3d claim(45 chars) %-2s %12s %12s %9s  verdict": the
# verdict starts at character 3+1+45+1+2+1+12+1+12+1+9+2 = 90 on the header
# and on every claim row, and the claimed column (characters 53-64) holds
# 1e+308 right-aligned.
run audit tests/data/proposal-extreme-values.yaml
if [ "$rc" -eq 0 ] && python3 - "$OUT" <<'EOF'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
head = [l for l in lines if l.startswith("#   claim")]
rows = [l for l in lines if re.match(r"^[0-9]+ +", l) and "claims:" not in l]
assert len(head) == 1 and head[0].index("verdict") == 90, head
assert len(rows) == 7, rows
for r in rows:
    assert re.match(r"(holds|WRONG|unverifiable):", r[90:]), r
    assert r[89] == " " and r[88] == " ", r
assert rows[0][53:65] == "      1e+308", repr(rows[0][53:65])       # count 1e308
assert rows[1][53:65] == "    1e-291 B", repr(rows[1][53:65])       # 1e-300 GB
assert rows[2][53:65] == "    1e+300 s", repr(rows[2][53:65])
assert rows[3][53:65] == "      1e-302", repr(rows[3][53:65])       # 1e-300% as a fraction (over 1 is refused)
assert rows[4][53:65] == "  1e+302 B/s", repr(rows[4][53:65])       # 1e290 TB/s
EOF
then
    ok "audit: 1e308 and 1e-300 claims keep the table's columns"
else
    notok "audit: 1e308 and 1e-300 claims keep the table's columns" "exit $rc" "$(head -c 2000 "$OUT")"
fi

# ------------------------------------------------------ option messages
refused "an abbreviated option without its value is named in full" \
    "moeplan: error: --hardware needs a value; see moeplan explain --help" -- explain --hard
refused "-n is plan's only" "moeplan: error: -n is not an option of 'explain'; see moeplan explain --help" -- explain -n 3
refused "a flag given a value" "moeplan: error: --ops takes no value, got '--ops=1'" -- explain --ops=1

# ------------------------------------------------ whole numbers: digits only
# strtol alone takes a leading blank and a plus sign; moeplan(1) gives
# whole numbers as digits.
refused "a plus sign is not a whole number" \
    "moeplan: error: --tp: expected a whole number from 1 to 65536, got '+4'" -- explain --tp +4
refused "a leading blank is not a whole number" \
    "moeplan: error: --repeats: expected a whole number from 1 to 64, got ' 2'" -- run --repeats " 2"
refused "a GPU range bound with a sign" \
    "moeplan: error: --gpus: expected a GPU count such as 128 or a range such as 8-1024 (at most 1048576), got '8-+16'" \
    -- plan --gpus 8-+16
refused "simulate's numbers too" \
    "moeplan: error: --steps: expected a whole number from 1 to 10000, got '+2'" -- simulate --steps +2

# A layout rule broken by a value the command line set says which option:
# the plan's line (sequence_parallel) alone hid that --seq-len was the cause.
refused "a rule broken by --seq-len names it" \
    "moeplan: plans/seed-plan.yaml:19:22: error: layout breaks rule 'seq%tp': sequence parallel: sequence per CP rank (6) not divisible by tp (4) (the sequence length from --seq-len 6)" \
    -- explain --plan plans/seed-plan.yaml --seq-len 6

# A model whose sizes, each within range, multiply past 2^53 parameters is
# refused: its counts would no longer be exact (JSON printed 3.07e+25 as a
# real, text columns overflowed).
refused "a model of more than 2^53 parameters" \
    "moeplan: tests/data/bad/model-too-many-params.yaml:1:1: error: the model has 3.072e+25 parameters; moeplan plans models of up to 2^53 (about 9.007e15), where every count it prints is exact" \
    -- explain --model tests/data/bad/model-too-many-params.yaml --seq-len 1

refused "a rule broken by --global-batch names it" \
    "moeplan: plans/seed-plan.yaml:17:16: error: layout breaks rule 'batch%(dp*mb)': global batch (100) not divisible by dp (16) * micro-batch (1) = 16 (the global batch from --global-batch 100)" \
    -- explain --plan plans/seed-plan.yaml --global-batch 100

# Measured tables: the same size twice (the first row won, silently: a
# 17.24 s or a 9.45 s step by the rows' order), a fractional size, and
# gemm_efficiency_fp8 without the efficiency model.
refused "a measured table's size given twice" \
    "moeplan: tests/data/bad/hw-measured-duplicate.yaml:8:32: error: 'measured_memory' row 2 measures the same size as row 1" \
    -- explain --hardware tests/data/bad/hw-measured-duplicate.yaml --gpus 8 --ep 8
refused "a measured GEMM of 1024.5 rows" \
    "moeplan: tests/data/bad/hw-measured-fraction.yaml:8:18: error: 'measured_gemm' row 1: column 1 is a whole number (a size), got '1024.5'" \
    -- explain --hardware tests/data/bad/hw-measured-fraction.yaml --gpus 8 --ep 8
refused "gemm_efficiency_fp8 without sm_count" \
    "moeplan: tests/data/bad/hw-fp8-eff-flat.yaml:8:22: error: 'gemm_efficiency_fp8' needs 'sm_count' (the efficiency model is off without it; the flat model prices FP8 products at mfu)" \
    -- explain --hardware tests/data/bad/hw-fp8-eff-flat.yaml --gpus 8 --ep 8

# ------------------------- seq_len and window layers: whole numbers
# seq_len was read with strtol: 0400 (octal in YAML 1.1) read 400, a range
# 0400-010240 read 400-10240 and a quoted "4096" was taken.  They follow
# the rules of every whole number in a file now, as window.layers does.
printf 'global_batch: 128\nseq_len: %s\n' 0400 >"$TMP/wl-zero.yaml"
printf 'global_batch: 128\nseq_len: %s\n' 0400-010240 >"$TMP/wl-zero-range.yaml"
printf 'global_batch: 128\nseq_len: %s\n' '"4096"' >"$TMP/wl-quoted.yaml"
refused "seq_len 0400: a leading zero is refused" \
    "moeplan: $TMP/wl-zero.yaml:2:10: error: 'seq_len' must be a token count such as 4096 or a range such as 128-10240 in plain decimal (no 0x, leading zeros or _), got '0400'" \
    -- explain --workload "$TMP/wl-zero.yaml"
refused "seq_len 0400-010240: leading zeros in a range are refused" \
    "moeplan: $TMP/wl-zero-range.yaml:2:10: error: 'seq_len' must be a token count such as 4096 or a range such as 128-10240 in plain decimal (no 0x, leading zeros or _), got '0400-010240'" \
    -- explain --workload "$TMP/wl-zero-range.yaml"
refused "seq_len \"4096\": a quoted number is refused" \
    "moeplan: $TMP/wl-quoted.yaml:2:10: error: 'seq_len' must be a token count such as 4096 or a range such as 128-10240, got '4096' in quotes: a string, not a number (remove the quotes)" \
    -- explain --workload "$TMP/wl-quoted.yaml"
sed 's/^window:.*/window: {kind: sliding, size: 64, layers: [01, 2]}/' tests/data/model-local-small.yaml >"$TMP/win-zero.yaml"
sed 's/^window:.*/window: {kind: sliding, size: 64, layers: [1, "2"]}/' tests/data/model-local-small.yaml >"$TMP/win-quoted.yaml"
refused "window layers [01, 2]: a leading zero is refused" \
    "moeplan: $TMP/win-zero.yaml:22:44: error: a 'layers' entry of 'window' must be a plain decimal whole number (no 0x, leading zeros or _), got '01'" \
    -- explain --model "$TMP/win-zero.yaml" --gpus 8
refused "window layers [1, \"2\"]: a quoted index is refused" \
    "moeplan: $TMP/win-quoted.yaml:22:47: error: a 'layers' entry of 'window' must be a whole number, got '2' in quotes: a string, not a number (remove the quotes)" \
    -- explain --model "$TMP/win-quoted.yaml" --gpus 8

tap_done
