#!/usr/bin/env bash
# Runs `lntl bench` and the PyTorch reference of the same steps on this machine, in this run,
# with the same batch size and thread count, and prints PyTorch time / lntl time.
# Needs `pip install torch`. Usage: bench/compare.sh [THREADS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
runs="${2:-10}"
cargo build --release --locked -q
ours=$(target/release/lntl --threads "$threads" bench --runs "$runs" --json)
theirs=$(python3 bench/pytorch_step.py --threads "$threads" --runs "$runs")
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"threads {ours['threads']}, batch {ours['batch']}, GEMM peak {ours['gemm_peak_gflops']:.0f} GFLOP/s, torch {theirs['torch']}")
print(f"{'step':<16}{'lntl ms':>10}{'PyTorch ms':>12}{'PyTorch/lntl':>14}")
for key, name in [("forward_ms", "forward"), ("baseline_step_ms", "baseline step"), ("lntl_step_ms", "LNTL iteration"), ("inference_10k_ms", "inference 10k")]:
    print(f"{name:<16}{ours[key]:>10.1f}{theirs[key]:>12.1f}{theirs[key] / ours[key]:>13.2f}x")
PY
