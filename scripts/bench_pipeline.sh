#!/usr/bin/env bash
# Benchmark of pipeline_run's four modes: thumbnails at 0 latency (and
# img2dataset, where installed) and at 100 ms, crops to a local S3 server,
# memory at 100,000 URLs. Builds in release mode, then runs
# scripts/bench_pipeline.py (see its header).
#   scripts/bench_pipeline.sh [--count N] [--repeat R] [--skip-latency] [--skip-crops] [--skip-memory]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --quiet -p origin -p asyncio_run -p resize_parallel -p pipeline_run
cargo build --release --quiet -p test_servers --bin serve_s3
exec python3 "$root/scripts/bench_pipeline.py" --bin-dir "$root/target/release" "$@"
