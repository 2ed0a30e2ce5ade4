#!/usr/bin/env bash
# Benchmark of the download methodologies against a local origin: builds in
# release mode, then runs scripts/bench_download.py (see its header).
#   scripts/bench_download.sh [--repeat R] [--skip-throughput] ...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --quiet -p origin -p normal_run -p multithreading_run -p multiprocessing_run -p asyncio_run
exec python3 "$root/scripts/bench_download.py" --bin-dir "$root/target/release" "$@"
