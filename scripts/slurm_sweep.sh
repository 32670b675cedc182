#!/usr/bin/env bash
# Submits an `lntl sweep` grid to Slurm as two job arrays on a shared directory: the cells that
# start from scratch (baseline, Gray), then, once every one of them succeeded, the cells that
# warm-start from a baseline (LNTL, BlindEye). Each array task runs one cell's command from
# `lntl sweep --print-commands`, which skips a finished cell and resumes an interrupted one, so
# resubmitting the same grid finishes what is left.
#
#   scripts/slurm_sweep.sh OUT SWEEP_FLAGS...
#   e.g. scripts/slurm_sweep.sh /shared/lntl/paper --protocol paper --vars all --seeds 0,1,2
#
# Environment: LNTL (the binary every node runs; default target/portable/release/lntl, built by
# scripts/build_portable.sh so that older nodes can run it), CPUS_PER_TASK (default 2),
# SBATCH_FLAGS (extra sbatch flags, e.g. "--partition=cpu --time=12:00:00").
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,13p' "$0"; exit 2; }
OUT="$(realpath -m "$1")"
shift
LNTL="$(realpath "${LNTL:-target/portable/release/lntl}")"
CPUS="${CPUS_PER_TASK:-2}"
LISTS="$OUT/slurm"
mkdir -p "$LISTS"

# One line per cell, in dependency order, for each stage.
"$LNTL" --threads "$CPUS" sweep --out "$OUT" "$@" --print-commands --stage independent > "$LISTS/independent.txt"
"$LNTL" --threads "$CPUS" sweep --out "$OUT" "$@" --print-commands --stage dependent > "$LISTS/dependent.txt"

# The array task runs line SLURM_ARRAY_TASK_ID + 1 of the list it is given.
cat > "$LISTS/cell.sbatch" <<'SCRIPT'
#!/bin/sh
line="$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$1")"
echo "$line"
exec sh -c "$line"
SCRIPT

submit() { # list, extra sbatch flags...
    local list="$1" n
    shift
    n="$(wc -l < "$list")"
    [ "$n" -gt 0 ] || return 0
    # shellcheck disable=SC2086
    sbatch --parsable --array="0-$((n - 1))" --cpus-per-task="$CPUS" \
        --job-name="lntl-$(basename "$list" .txt)" --output="$LISTS/%x_%A_%a.log" \
        ${SBATCH_FLAGS:-} "$@" "$LISTS/cell.sbatch" "$list"
}

first="$(submit "$LISTS/independent.txt")"
echo "independent cells: job array ${first:-none} ($(wc -l < "$LISTS/independent.txt") cells)"
if [ -n "$first" ]; then
    second="$(submit "$LISTS/dependent.txt" --dependency="afterok:$first")"
else
    second="$(submit "$LISTS/dependent.txt")"
fi
echo "dependent cells: job array ${second:-none} ($(wc -l < "$LISTS/dependent.txt") cells)"
echo "logs in $LISTS; when both are done: $LNTL report $OUT"
