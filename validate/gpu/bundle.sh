#!/usr/bin/env bash
# Build, here, what validate/gpu/checks.sh runs on a GPU machine that has the
# CUDA libraries but no package registry and no build of ours: an x86-64
# release build with the CUDA backend, libyaml, jansson and Check linked
# statically (meson --prefer-static), MPI left out (the checks use one GPU),
# and the one shared library it needs that such a machine lacks, OpenBLAS
# (with libgfortran and libquadmath), copied beside the programs.
#
#   bash validate/gpu/bundle.sh            # writes build-gpu-bundle/ (ignored by git)
#
# then, on the device tool: run with carry ["build-gpu-bundle"] and the
# command `bash validate/gpu/checks.sh`.  The bundle is about 42 MB
# (OpenBLAS's 36.5); the tool carries at most 64 MiB with the tree.
# Exits non-zero, saying why, when a program would need a library the GPU
# machine is not known to have (anything but glibc, libstdc++, libgcc_s and
# the CUDA runtime, cuBLAS and NCCL, which checks.sh finds there).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/cuda/bin"
B=build-gpu
D=build-gpu-bundle
if [ ! -f "$B/build.ninja" ]; then
    meson setup "$B" --buildtype=release -Dcuda=enabled -Dmpi=disabled --prefer-static >"$B.setup.log" 2>&1 ||
        { cat "$B.setup.log" >&2; exit 1; }
fi
ninja -C "$B" src/moeplan tests/test_kernels_gpu tests/bench_kernels_gpu >/dev/null
rm -rf "$D"
mkdir -p "$D/bin" "$D/lib"
cp "$B/src/moeplan" "$B/tests/test_kernels_gpu" "$B/tests/bench_kernels_gpu" "$D/bin/"
strip "$D"/bin/*
# Every shared library the three programs load, by name: the CUDA ones and
# the system's stay, OpenBLAS and its Fortran runtime travel.
allowed='^(/lib64/ld-linux-x86-64\.so|linux-vdso\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libstdc\+\+\.so|libgcc_s\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libnccl\.so)'
for prog in "$D"/bin/*; do
    while read -r name _ path _; do
        case "$name" in
        libopenblas.so.* | libgfortran.so.* | libquadmath.so.*)
            cp -L "$path" "$D/lib/$name" ;;
        *)
            if ! [[ "$name" =~ $allowed ]]; then
                echo "bundle.sh: $prog needs $name ($path), which the GPU machine is not known to have" >&2
                exit 1
            fi ;;
        esac
    done < <(ldd "$prog" | sed 's/^[[:space:]]*//')
done
git rev-parse HEAD >"$D/commit.txt"
git status --short >>"$D/commit.txt"
du -sh "$D"
ls -l "$D/bin" "$D/lib"
