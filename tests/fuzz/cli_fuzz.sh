#!/usr/bin/env bash
# Light command-line fuzzing of moeplan: random commands, flags and values
# (absurd numbers included).  Every run must exit 0, 1 or 2 -- never 3, never
# a signal -- and a run that exits 2 must leave stdout empty.  When a
# sanitizer build is given (SAN=path), each case is also run under it and any
# sanitizer report is a failure.
#
#   tests/fuzz/cli_fuzz.sh [ITERATIONS] [SEED]
#   BIN=build/src/moeplan SAN=/tmp/moeplan-san OUT=/tmp/cli-fuzz tests/fuzz/cli_fuzz.sh 2000 1
set -u
cd "$(dirname "$0")/../.."
N=${1:-500}
RANDOM=${2:-1}
BIN=${BIN:-build/src/moeplan}
SAN=${SAN:-}
OUT=${OUT:-/tmp/moeplan-cli-fuzz}
mkdir -p "$OUT"
export ASAN_OPTIONS=exitcode=99:detect_leaks=1 UBSAN_OPTIONS=exitcode=99:print_stacktrace=1:halt_on_error=1

nums=(0 1 2 3 4 7 8 16 32 64 128 1000 65536 65537 1000000 1000001 16777216 16777217 100000000 100000001
      2147483647 2147483648 4294967296 9223372036854775807 9223372036854775808 99999999999999999999
      -1 -0 +1 1e3 1e308 0x10 010 1_000 " 1" "1 " "" abc nan inf -inf 1.5 0.0 "1 2")
sane=(1 1 1 2 2 4 8 16)
gpusv=(1 2 4 8 16 32 64 1-64 8-64 64-1 1-1 0 0-8 -8 1- - 1-64-2 abc 99999999999 64 "1 - 64" 9-9)
seqs=(4096 1 0 128-10240 10240-128 16777216 16777217 1-16777216 2-4 " 1-2 " 9223372036854775807 -5 abc 4096-)
fracs=(0 0.1 10% 99% 100% 1 -0.1 nan inf 1e-300 1e308 "" abc 0x1p-3 "10 %" 0.999999999)
times=(2s 500ms 1us 0s -1s 1e308s "1 s" nan s 1 1e-300ns 3h)
toks=(1 1000 1e15 1e16 0 -1 nan inf 1e308 abc "")
files=(plans/seed-model.yaml plans/seed-hardware.yaml plans/seed-workload.yaml plans/seed-plan.yaml
       plans/ci-example-failing.yaml plans/proposals/seed-ep16-tp4-pp2.yaml plans/hardware/h100-sxm.yaml
       tests/data/hf/mixtral-8x7b.json tests/data/hf/deepseek-v3.json tests/data/hf/gpt2.json
       tests/data/hf/qwen1.5-moe-a2.7b.json tests/data/model-mla-small.yaml tests/data/k22-h1024-a16.yaml
       tests/data/bad/model-heads.yaml tests/data/bad/hw-zero.yaml tests/data/bad/empty.yaml
       /dev/null /tmp /nonexistent "" tests/fuzz/corpus)
gfiles=(plans/seed-model.yaml plans/seed-hardware.yaml plans/seed-workload.yaml plans/seed-plan.yaml)
cmds=(plan explain check audit bench "" plann)
flags=(--gpus --tp --pp --dp --cp --ep --etp --vpp --micro-batch --global-batch --seq-len --recompute
       --sequence-parallel --no-sequence-parallel --distributed-optimizer --no-distributed-optimizer --format --ops
       --sort -n --top --headroom --target-tokens-per-s --target-step-time --why-not --fewest-gpus --pareto --emit
       --plot --reps --model --hardware --workload --plan --bogus -h -V)

pick() { local -n a=$1; printf '%s' "${a[RANDOM % ${#a[@]}]}"; }

value_for() {
    case $1 in
    --gpus) if ((RANDOM % 2)); then pick sane; else pick gpusv; fi ;;
    --seq-len) pick seqs ;;
    --headroom) pick fracs ;;
    --target-step-time) pick times ;;
    --target-tokens-per-s) pick toks ;;
    --recompute) case $((RANDOM % 4)) in 0) echo none ;; 1) echo selective ;; 2) echo full ;; *) echo most ;; esac ;;
    --format) case $((RANDOM % 4)) in 0) echo text ;; 1) echo json ;; 2) echo csv ;; *) echo xml ;; esac ;;
    --sort) case $((RANDOM % 5)) in 0) echo tokens ;; 1) echo step ;; 2) echo tokens-per-gpu ;; 3) echo headroom ;; *) echo size ;; esac ;;
    --emit) case $((RANDOM % 2)) in 0) echo megatron ;; *) echo deepspeed ;; esac ;;
    --plot) case $((RANDOM % 3)) in 0) echo "$OUT/plot.svg" ;; 1) echo /nonexistent/dir/p.svg ;; *) echo /tmp ;; esac ;;
    --model|--hardware|--workload|--plan) if ((RANDOM % 3)); then pick files; else pick gfiles; fi ;;
    *) if ((RANDOM % 3)); then pick sane; else pick nums; fi ;;
    esac
}

fail=0
declare -A rcs
for ((i = 0; i < N; i++)); do
    args=()
    cmd=$(pick cmds)
    [ -n "$cmd" ] && args+=("$cmd")
    nf=$((RANDOM % 6))
    for ((k = 0; k < nf; k++)); do
        f=$(pick flags)
        case $f in
        --ops|--why-not|--fewest-gpus|--pareto|--no-sequence-parallel|--no-distributed-optimizer|--bogus|-h|-V)
            args+=("$f") ;;
        --sequence-parallel|--distributed-optimizer)
            case $((RANDOM % 3)) in 0) args+=("$f") ;; 1) args+=("$f=$(pick nums)") ;; *) args+=("$f=off") ;; esac ;;
        *)
            v=$(value_for "$f")
            if ((RANDOM % 2)); then args+=("$f" "$v"); else args+=("$f=$v"); fi ;;
        esac
    done
    # keep plan/bench searches small: always bound the GPU range
    case $cmd in plan|bench|"") args+=(--gpus "$((RANDOM % 64 + 1))-64") ;; esac
    [ "$cmd" = bench ] && args+=(--reps 1)
    ((RANDOM % 4 == 0)) && args+=("$(pick files)")   # a stray positional argument
    for b in "$BIN" $SAN; do
        timeout 30 "$b" "${args[@]}" >"$OUT/stdout" 2>"$OUT/stderr"
        rc=$?
        bad=""
        rcs[$rc]=$(( ${rcs[$rc]:-0} + 1 ))
        if [ $rc -eq 124 ]; then bad="timeout (30 s)"
        elif [ $rc -eq 99 ] || grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$OUT/stderr"; then bad="sanitizer report"
        elif [ $rc -ge 3 ]; then bad="exit status $rc"
        elif [ $rc -eq 2 ] && [ -s "$OUT/stdout" ]; then bad="exit 2 with output on stdout"
        elif [ $rc -eq 2 ] && ! grep -q "error" "$OUT/stderr"; then bad="exit 2 without an error message"
        fi
        if [ -n "$bad" ]; then
            fail=$((fail + 1))
            {
                printf '### %s: %s\n' "$bad" "$b"
                printf '%q ' "$b" "${args[@]}"; echo
                head -c 2000 "$OUT/stderr"; echo
            } >>"$OUT/failures.txt"
        fi
    done
done
for k in "${!rcs[@]}"; do echo "exit $k: ${rcs[$k]} runs"; done
echo "$N cases, $fail failures (details in $OUT/failures.txt)"
[ $fail -eq 0 ]
