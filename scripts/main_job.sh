#!/usr/bin/env bash
# The main job: fetch MNIST → build Colored-MNIST (σ² = $VAR) → the `fast` protocol's baseline,
# then LNTL warm-started from it → the table row against the paper, with figures. About 17 min
# on 2 cores; rerunning resumes where it stopped. Runs and the report land in runs/fast/
# (per run: evaluation.json, confusion.png, curves.png, metrics.jsonl, TensorBoard events).
#   PROTOCOL=paper scripts/main_job.sh   # the authors' pipeline, about 75 min
set -euo pipefail
cd "$(dirname "$0")/.."
VAR="${VAR:-0.020}"
PROTOCOL="${PROTOCOL:-fast}"
out="runs/$PROTOCOL"
cargo build --release --locked
lntl=target/release/lntl
$lntl data fetch
$lntl data make --var "$VAR"
$lntl data preview --var "$VAR" --out "runs/colored_mnist_var${VAR}.png"
$lntl sweep --protocol "$PROTOCOL" --vars "$VAR" --methods baseline,lntl --seeds 0 --out "$out"
$lntl report "$out" --out "$out"
echo
echo "Table: $out/report.md; figures: $out/*.png; runs: $out/var_${VAR}/."
