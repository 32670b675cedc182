#!/usr/bin/env bash
# The main job: fetch MNIST → build Colored-MNIST (σ² = $VAR) → train the baseline → train LNTL
# warm-started from it → print both evaluations. Runs land in runs/ (confusion.png, metrics.jsonl,
# evaluation.json, TensorBoard events). The paper's protocol is 100 epochs each:
#   BASELINE_EPOCHS=100 LNTL_EPOCHS=100 scripts/main_job.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VAR="${VAR:-0.020}"
BASELINE_EPOCHS="${BASELINE_EPOCHS:-5}"
LNTL_EPOCHS="${LNTL_EPOCHS:-3}"
cargo build --release --locked
lntl=target/release/lntl
$lntl data fetch
$lntl data make --var "$VAR"
$lntl data preview --var "$VAR" --out "runs/colored_mnist_var${VAR}.png"
base="runs/baseline_var${VAR}"
unlearn="runs/lntl_var${VAR}"
if [ -f "$base/checkpoint.safetensors" ]; then resume_base=--resume; else resume_base=; fi
$lntl train --method baseline --var "$VAR" --epochs "$BASELINE_EPOCHS" --run-dir "$base" $resume_base
if [ -f "$unlearn/checkpoint.safetensors" ]; then resume_lntl=--resume; else resume_lntl=; fi
$lntl train --method lntl --var "$VAR" --epochs "$LNTL_EPOCHS" --run-dir "$unlearn" \
    --init-from "$base/checkpoint.safetensors" $resume_lntl
echo
echo "Runs: $base and $unlearn (evaluation.json, confusion.png, metrics.jsonl, tensorboard/)."
