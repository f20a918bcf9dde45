#!/bin/sh
# Layout products that overflow.  Run from the repository root.  With a
# build made with -fsanitize=undefined each command reports signed overflow;
# the release build prints wrong products (or accepts a 0-GPU layout).
M=${M:-build/src/moeplan}
# src/cli.c:127  l->gpus = l->tp * l->cp * l->dp * l->pp  (int, no --gpus given)
$M explain --tp 65536 --cp 65536
# release: "gpus (0) != tp (65536) * cp (65536) * dp (1) * pp (1) = 4294967296", exit 2
# src/layout.c:49  attn * l->pp  (long long, --gpus given)
$M explain --gpus 1 --tp 65536 --cp 65536 --dp 16777216 --pp 65536
# release: "gpus (1) != tp (65536) * cp (65536) * dp (16777216) * pp (65536) = 0", exit 2
# Both together: a layout of 0 GPUs passes every rule; explain exits 0 with nan
$M explain --model tests/fuzz/crashes/gpus-overflow-model.yaml \
   --workload tests/fuzz/crashes/gpus-overflow-workload.yaml \
   --tp 65536 --cp 65536 --dp 16777216 --pp 256 --no-sequence-parallel
# ... and `check` passes a plan on 0 GPUs, exit 0
$M check tests/fuzz/crashes/gpus-overflow-plan.yaml
# audit: the proposal's gpus (128) with flags -> layout.c:49 overflow
$M audit plans/proposals/seed-ep16-tp4-pp2.yaml --tp 65536 --cp 65536 --dp 16777216 --pp 256
