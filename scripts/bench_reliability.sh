#!/usr/bin/env bash
# Reliability benchmark: every download binary against a faulty origin
# (2000 URLs, 20% faulty), and asyncio_run at 1000 in flight on 100,000 URLs
# (peak RSS, open descriptors). Builds in release mode, then runs
# scripts/bench_reliability.py (see its header).
#   scripts/bench_reliability.sh [--count N] [--scale-count N] [--skip-scale]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --quiet -p origin -p normal_run -p multithreading_run -p multiprocessing_run -p asyncio_run
exec python3 "$root/scripts/bench_reliability.py" --bin-dir "$root/target/release" "$@"
