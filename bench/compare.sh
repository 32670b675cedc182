#!/usr/bin/env bash
# Runs `lntl bench` and the PyTorch reference of the same steps on this machine, in this run,
# with the same batch size and thread count, and prints PyTorch time / lntl time.
# The two alternate for ROUNDS rounds: this machine's speed drifts by 20–30 % over minutes, so
# a ratio is taken within each round (lntl, then PyTorch, a few seconds apart), and the table
# shows the median over the rounds and the range of the per-round ratios.
# Needs `pip install torch`. Usage: bench/compare.sh [THREADS] [RUNS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
runs="${2:-10}"
rounds="${3:-3}"
cargo build --release --locked -q
results=()
for _ in $(seq "$rounds"); do
  results+=("$(target/release/lntl --threads "$threads" bench --runs "$runs" --json)")
  results+=("$(python3 bench/pytorch_step.py --threads "$threads" --runs "$runs")")
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
rounds = [(json.loads(a), json.loads(b)) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
ours, theirs = rounds[0]
print(f"threads {ours['threads']}, batch {ours['batch']}, {len(rounds)} rounds, "
      f"GEMM peak {ours['gemm_peak_gflops']:.0f} GFLOP/s, torch {theirs['torch']}")
print(f"{'step':<16}{'lntl ms':>10}{'PyTorch ms':>12}{'PyTorch/lntl':>14}{'per round':>16}")
for key, name in [("forward_ms", "forward"), ("baseline_step_ms", "baseline step"), ("lntl_step_ms", "LNTL iteration"), ("inference_10k_ms", "inference 10k")]:
    ratios = [t[key] / o[key] for o, t in rounds]
    ours_ms = statistics.median(o[key] for o, _ in rounds)
    theirs_ms = statistics.median(t[key] for _, t in rounds)
    spread = f"{min(ratios):.2f}–{max(ratios):.2f}x"
    print(f"{name:<16}{ours_ms:>10.1f}{theirs_ms:>12.1f}{statistics.median(ratios):>13.2f}x{spread:>16}")
PY
