#!/usr/bin/env bash
# Every GPU check of moeplan in one run, for a machine with NVIDIA GPUs
# (the device tool's: run it from the repository root with a build made
# elsewhere carried in, or let it build).  Writes to $OUT (default
# validate/results/<gpu>/):
#   env.txt          nvidia-smi, nvcc and NCCL versions
#   gpu-suite.txt    meson test --suite gpu (the CUDA kernels against the CPU's)
#   kernel-rates.txt tests/bench_kernels_gpu: each memory-bound kernel's GB/s
#                    beside a device copy's (the >= 80% target), GEMM and
#                    attention TFLOP/s
#   hw-measured.yaml calibrate --measure --backend cuda (GEMM, copy, attention)
#   run-*.json       run --backend cuda of each plan, predicted against measured
#   nccl-*.json      with 2 or more GPUs: run across them under mpirun (NCCL)
#   summary.txt      one line per check: ok or the failure
#
#   BUILD=build-rel bash validate/gpu/checks.sh
# Each step has a timeout; one failing does not stop the others.
set -u
BUILD=${BUILD:-build-gpu}
export PATH="$PATH:/usr/local/cuda/bin"
if [ ! -x "$BUILD/src/moeplan" ]; then
    meson setup "$BUILD" --buildtype=release -Dcuda=enabled >/dev/null && ninja -C "$BUILD" >/dev/null || {
        echo "build failed" >&2; exit 1; }
fi
M="$BUILD/src/moeplan"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-' | tr -cd 'A-Za-z0-9_-')
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
OUT=${OUT:-validate/results/${gpu:-unknown-gpu}}
mkdir -p "$OUT"
: >"$OUT/summary.txt"
step() { # step NAME TIMEOUT_S FILE CMD...: run, keep stdout in FILE, record the outcome
    local name=$1 t=$2 f=$3
    shift 3
    if timeout "$t" "$@" >"$OUT/$f" 2>"$OUT/$f.err"; then echo "ok   $name" >>"$OUT/summary.txt"
    else echo "FAIL $name (exit $?; $OUT/$f.err)" >>"$OUT/summary.txt"; fi
}
{ nvidia-smi; nvcc --version; ls /usr/local/cuda/lib64 | grep -i nccl; "$M" --version; } >"$OUT/env.txt" 2>&1
step "gpu suite" 300 gpu-suite.txt meson test -C "$BUILD" --suite gpu --print-errorlogs
step "kernel rates" 300 kernel-rates.txt "$BUILD/tests/bench_kernels_gpu"
step "calibrate --measure" 300 calibrate.txt "$M" calibrate --measure --backend cuda \
    --plan tests/data/run-small-plan.yaml -o "$OUT/hw-measured.yaml"
for plan in tests/data/run-small-plan.yaml tests/data/run-mla-plan.yaml plans/seed-plan.yaml \
    tests/data/run-mixtral-plan.yaml; do
    n=$(basename "$plan" .yaml)
    step "run $n" 300 "run-$n.json" "$M" run --plan "$plan" --backend cuda --layers 2 --optimizer --format json
    [ -s "$OUT/hw-measured.yaml" ] && step "run $n, measured tables" 300 "run-$n-measured.json" \
        "$M" run --plan "$plan" --backend cuda --layers 2 --hardware "$OUT/hw-measured.yaml" --format json
done
if [ "$ngpu" -ge 4 ] && command -v mpirun >/dev/null; then
    R=(mpirun --allow-run-as-root --oversubscribe -np 4)
    step "nccl tp2 x ep2" 300 nccl-tp2-ep2.json "${R[@]}" "$M" run --plan tests/data/run-tp2-ep2-plan.yaml \
        --backend cuda --format json
    step "nccl pp2 x dp2 step" 300 nccl-pp2-dp2.json "${R[@]}" "$M" run --plan tests/data/run-pp2-dp2-plan.yaml \
        --backend cuda --step --optimizer --format json
    step "nccl calibrate" 300 nccl-calibrate.txt "${R[@]}" "$M" calibrate --measure --backend cuda \
        -o "$OUT/hw-measured-nccl.yaml"
else
    echo "skip nccl: $ngpu GPU(s)$(command -v mpirun >/dev/null || echo ', no mpirun')" >>"$OUT/summary.txt"
fi
cat "$OUT/summary.txt"
