#!/usr/bin/env bash
# Reliability benchmark: every download binary against a faulty origin
# (2000 URLs, 20% faulty), and asyncio_run at 1000 in flight on 100,000 URLs
# (peak RSS, open descriptors). Builds in release mode, then runs
# scripts/bench_reliability.py (see its header).
#   scripts/bench_reliability.sh [--count N] [--scale-count N] [--skip-scale]
#       [--hostile [--before-bin-dir DIR] [--hostile-counts 200,2000] [--only-hostile]]
#       [--memory [--only-memory] [--before-bin-dir DIR]]
# (--hostile: the fault mix of hostile hosts and the SIGTERM-to-exit time;
# --memory: peak RSS of every binary and pipeline_run mode under 100 endless
# bodies; BIN_DIR=target/debug skips the release build and uses the debug
# binaries.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin_dir="${BIN_DIR:-$root/target/release}"
if [[ -z "${BIN_DIR:-}" ]]; then
    cargo build --release --quiet -p origin -p normal_run -p multithreading_run -p multiprocessing_run -p asyncio_run \
        -p pipeline_run
fi
exec python3 "$root/scripts/bench_reliability.py" --bin-dir "$bin_dir" "$@"
