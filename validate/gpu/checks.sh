#!/usr/bin/env bash
# Every GPU check of moeplan in one run, for the device tool's machine (one
# NVIDIA GPU, the CUDA libraries, no package registry).  Build the programs
# here first (validate/gpu/bundle.sh: build-gpu-bundle/), then on the device
# tool: run `bash validate/gpu/checks.sh` with carry ["build-gpu-bundle"] and
# a timeout_s above BUDGET_S.
#
# What comes back ($OUT; the tool returns at most 8 files):
#   summary.txt   one line per check: ok, FAIL (exit code), or skipped (the
#                 time left); written as the checks go
#   env.txt       nvidia-smi, the libraries found, the bundle's commit
#   results.tgz   every check's output, packed again after each check (a
#                 run cut off at its limit still returns the checks done):
#                   gpu-kernels.txt   tests/test_kernels_gpu: each CUDA kernel
#                                     against the CPU backend's
#                   kernel-rates.txt  tests/bench_kernels_gpu: each memory-bound
#                                     kernel's GB/s beside a device copy's
#                   <plan>.json       run --backend cuda of each plan,
#                                     predicted against measured, op by op
#                   hw-measured.yaml  calibrate --measure --backend cuda
#                   <plan>-measured.json  the runs again with those tables
# Unpack it under validate/results/<gpu>/ and commit it.
#
# Exit status: 0 when every check ran and passed, 1 otherwise, 2 for a bad
# BUDGET_S or BACKEND.
#
# Environment: BUDGET_S (default 480, 30-3600): the whole script's deadline, each
# check's timeout cut to what is left; BUNDLE (default build-gpu-bundle);
# BACKEND (default cuda; cpu runs the same steps here, to check the script
# itself on a machine without a GPU).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUNDLE=${BUNDLE:-build-gpu-bundle}
BACKEND=${BACKEND:-cuda}
BUDGET_S=${BUDGET_S:-480}
case "$BACKEND" in cuda | cpu) ;; *) echo "checks.sh: BACKEND is cuda or cpu, not '$BACKEND'" >&2; exit 2 ;; esac
if ! [[ "$BUDGET_S" =~ ^[0-9]+$ ]] || [ "$BUDGET_S" -lt 30 ] || [ "$BUDGET_S" -gt 3600 ]; then
    echo "checks.sh: BUDGET_S is whole seconds from 30 to 3600, not '$BUDGET_S'" >&2
    exit 2
fi
deadline=$((SECONDS + BUDGET_S))
OUT=${OUT:-/tmp/moeplan-gpu-out}
RES=$(mktemp -d /tmp/moeplan-gpu-res.XXXXXX) || exit 1
trap 'rm -rf "$RES"' EXIT # what it held is in $OUT/results.tgz
mkdir -p "$OUT"
: >"$OUT/summary.txt"
pack() { tar czf "$OUT/results.tgz" -C "$RES" . 2>/dev/null; }

# The CUDA libraries the bundle links: wherever this machine has them (the
# toolkit's lib64, or the pip wheels of the Python that holds PyTorch).
libdirs="$PWD/$BUNDLE/lib"
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
    found=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l {print $NF; exit}')
    [ -z "$found" ] && found=$(find /usr/local/cuda/lib64/ /usr/local/cuda/targets/ /usr/lib /opt /usr/local/lib \
        -name "$lib" 2>/dev/null | head -1)
    [ -n "$found" ] && libdirs="$libdirs:$(dirname "$found")"
done
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export MOEPLAN_PLANS="$PWD/plans"
M="$PWD/$BUNDLE/bin/moeplan"
{
    date -u
    nvidia-smi 2>&1
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    cat "$BUNDLE/commit.txt" 2>&1
    for p in "$BUNDLE"/bin/*; do echo "== ldd $p"; ldd "$p" 2>&1; done
    "$M" --version 2>&1
} >"$OUT/env.txt" 2>&1
if [ ! -x "$M" ]; then
    echo "FAIL no bundle: $M is missing (run validate/gpu/bundle.sh and carry $BUNDLE)" >>"$OUT/summary.txt"
    exit 1
fi

# step NAME TIMEOUT_S FILE CMD...: run CMD with its stdout in FILE (stderr
# in FILE.err), within the deadline; record the outcome; pack.
step() {
    local name=$1 t=$2 f=$3 left rc
    shift 3
    left=$((deadline - SECONDS))
    if [ "$left" -lt 10 ]; then
        echo "skip $name (the budget is spent)" >>"$OUT/summary.txt"
        return
    fi
    [ "$t" -gt "$left" ] && t=$left
    local t0=$SECONDS
    timeout "$t" "$@" >"$RES/$f" 2>"$RES/$f.err"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok   $name ($((SECONDS - t0)) s)" >>"$OUT/summary.txt"
    else
        # 77 is the GPU test's "no GPU": a failure on a GPU machine.
        echo "FAIL $name (exit $rc$([ "$rc" -eq 77 ] && echo ': skipped, no GPU seen')$([ "$rc" -eq 124 ] && echo ': timed out'); $f.err)" >>"$OUT/summary.txt"
    fi
    pack
}

# In order of what each check is worth if the time runs out.
if [ "$BACKEND" = cuda ]; then
    step "gpu kernels against the CPU's" 120 gpu-kernels.txt "$BUNDLE/bin/test_kernels_gpu"
    step "kernel rates" 120 kernel-rates.txt "$BUNDLE/bin/bench_kernels_gpu"
else
    echo "skip gpu kernels and kernel rates (BACKEND=$BACKEND)" >>"$OUT/summary.txt"
fi
for plan in tests/data/run-small-plan.yaml tests/data/run-mixtral-plan.yaml plans/seed-plan.yaml \
    tests/data/run-mla-plan.yaml; do
    n=$(basename "$plan" .yaml)
    step "run $n" 120 "$n.json" "$M" run --plan "$plan" --backend "$BACKEND" --layers 2 --optimizer --format json
done
step "calibrate --measure" 180 calibrate.txt "$M" calibrate --measure --backend "$BACKEND" \
    --plan tests/data/run-small-plan.yaml -o "$RES/hw-measured.yaml"
if [ -s "$RES/hw-measured.yaml" ]; then
    for plan in tests/data/run-small-plan.yaml plans/seed-plan.yaml; do
        n=$(basename "$plan" .yaml)
        step "run $n, measured tables" 120 "$n-measured.json" "$M" run --plan "$plan" --backend "$BACKEND" \
            --layers 2 --hardware "$RES/hw-measured.yaml" --format json
    done
fi
pack
cat "$OUT/summary.txt"
# 0 when every check ran and passed, 1 when one failed or was skipped for time.
! grep -q -E '^(FAIL|skip run|skip calibrate)' "$OUT/summary.txt"
