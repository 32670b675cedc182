#!/usr/bin/env bash
# Runs `lntl bench` and the PyTorch reference of the same steps on this machine, in this run,
# with the same batch size and thread count, and prints PyTorch time / lntl time.
# This machine's speed drifts by 20–50 % within seconds, so the two are paired as closely as
# two processes can be: in each round, each step is timed by lntl and by PyTorch one right
# after the other (a few seconds apart), the order alternating between rounds so that neither
# side is always measured second. A ratio is taken per step and round, from each side's median
# run and from each side's fastest run (slow phases only ever add time, so the fastest run is
# the least disturbed); the tables show the medians over the rounds and the range of the
# per-round ratios.
# Needs `pip install torch`. Usage: bench/compare.sh [THREADS] [RUNS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
runs="${2:-10}"
rounds="${3:-3}"
cargo build --release --locked -q
ours() { target/release/lntl --threads "$threads" bench --runs "$runs" --json --step "$1"; }
theirs() { python3 bench/pytorch_step.py --threads "$threads" --runs "$runs" --step "$1"; }
results=()
for round in $(seq "$rounds"); do
  for step in forward baseline lntl inference; do
    if ((round % 2)); then
      a="$(ours "$step")"
      b="$(theirs "$step")"
    else
      b="$(theirs "$step")"
      a="$(ours "$step")"
    fi
    results+=("$a" "$b")
  done
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
pairs = [(json.loads(a), json.loads(b)) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
ours, theirs = pairs[0]
peaks = [o["gemm_peak_gflops"] for o, _ in pairs]
print(f"{ours['cpu']}: threads {ours['threads']}, batch {ours['batch']}, {len(pairs) // 4} rounds, "
      f"GEMM peak {min(peaks):.0f}–{max(peaks):.0f} GFLOP/s, torch {theirs['torch']}")
steps = [("forward", "forward"), ("baseline_step", "baseline step"), ("lntl_step", "LNTL iteration"), ("inference_10k", "inference 10k")]
every_round = {}
for statistic, title in [("median_ms", "median of each side's runs"), ("min_ms", "fastest of each side's runs")]:
    print(f"\n{title}:")
    print(f"{'step':<16}{'lntl ms':>10}{'PyTorch ms':>12}{'PyTorch/lntl':>14}{'per round':>16}")
    for key, name in steps:
        step = [(o[key][statistic], t[key][statistic]) for o, t in pairs if key in o]
        ratios = [t / o for o, t in step]
        ours_ms = statistics.median(o for o, _ in step)
        theirs_ms = statistics.median(t for _, t in step)
        spread = f"{min(ratios):.2f}–{max(ratios):.2f}x"
        print(f"{name:<16}{ours_ms:>10.1f}{theirs_ms:>12.1f}{statistics.median(ratios):>13.2f}x{spread:>16}")
        every_round[(title, name)] = ratios
print("\nper-round ratios, in round order:")
for (title, name), ratios in every_round.items():
    print(f"  {name:<16}" + " ".join(f"{r:.2f}" for r in ratios) + f"  ({title.split()[0]})")
PY
