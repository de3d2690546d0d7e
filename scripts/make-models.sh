#!/usr/bin/env bash
# Regenerates the bundled tiny models (models/tiny-policy, models/tiny-draft):
#  1. seeded random initialisation + the shared byte-level BPE tokenizer (src/gpu/model/bundled.ts);
#  2. a short supervised warm-up of the policy on the copy and sort tasks (on purpose short: the
#     policy solves about a third of the characters, leaving GRPO something to improve);
#  3. the draft: a supervised warm-up, then distillation from the policy's logits, so the pair
#     has a realistic acceptance rate.
# Training runs on ONNX Runtime with several threads, so a rerun is close to, not bit-equal to,
# the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
out=${1:-models}
node dist/gpu/model/bundled.js "$out"
node dist/cli/main.js sft --model "$out/tiny-policy" --out "$out/tiny-policy" --steps 120 --seed 1
node dist/cli/main.js sft --model "$out/tiny-draft" --out "$out/tiny-draft" --steps 400 --seed 2
node dist/cli/main.js distill --teacher "$out/tiny-policy" --model "$out/tiny-draft" --out "$out/tiny-draft" --steps 400 --seed 3
