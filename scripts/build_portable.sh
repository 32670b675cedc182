#!/usr/bin/env bash
# Builds an lntl binary that runs on any x86-64 CPU of a given level, for clusters whose nodes
# differ from the machine that builds: .cargo/config.toml builds for the host CPU
# (target-cpu=native), which can die with an illegal instruction on an older node.
#   scripts/build_portable.sh [LEVEL]   # x86-64-v3 (AVX2, FMA: Haswell, Zen and later; default),
#                                       # x86-64-v2 (SSE4.2) or x86-64 (any)
# The binary lands in target/portable/release/lntl. The matrix products (the gemm crate) pick
# their kernels at run time in every build, AVX-512 included; only our own loops are fixed to
# LEVEL. docs/PERFORMANCE.md gives what it costs against the native build.
set -euo pipefail
cd "$(dirname "$0")/.."
LEVEL="${1:-x86-64-v3}"
RUSTFLAGS="-C target-cpu=$LEVEL" CARGO_TARGET_DIR=target/portable cargo build --release --locked
echo "target/portable/release/lntl (target-cpu=$LEVEL)"
