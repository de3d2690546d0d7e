#!/usr/bin/env bash
# Runs `bench spec --device webgpu` once per argument (each one a quoted set of flags) on the
# project's GPU machine and keeps the output under $OUT (docs/gpu.md):
#
#   run: bash .device/run.sh bash scripts/gpu-spec.sh NAME "--batches 1 --reps 12 --modes auto,warm,aa" …
#
# $OUT/NAME.txt gets the GPU's name and every run's output (onnxruntime's warnings left out), and
# $OUT/NAME-<i>.json the i-th run's results. Copy NAME.txt to bench/gpu/ with a line on what ran,
# and the JSON to bench/gpu/json/ (per-repetition ratios: `npm run bench -- pool` pools them).
set -u
name=${1:?usage: gpu-spec.sh NAME "bench spec flags" …}
shift
log="$OUT/$name.txt"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$log"
i=0
for args in "$@"; do
  i=$((i + 1))
  mkdir -p "/tmp/$name-$i"
  echo; echo "=== node dist/cli/main.js bench spec --device webgpu $args ===" | tee -a "$log"
  # shellcheck disable=SC2086 # each argument is a set of flags
  node dist/cli/main.js bench spec --device webgpu $args --out "/tmp/$name-$i" 2>&1 | grep --line-buffered -v "W:onnxruntime" | tee -a "$log"
  cp "/tmp/$name-$i/spec-webgpu.json" "$OUT/$name-$i.json" 2>/dev/null
done
