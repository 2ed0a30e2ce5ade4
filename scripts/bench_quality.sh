#!/usr/bin/env bash
# scripts/bench_quality.sh [PHOTOS_DIR] [--sweep]
#
# Thumbnail quality: resize_serial, Pillow's thumbnail() and img2dataset's
# resizer, each against a full decode + Lanczos (PSNR, SSIM), on the JPEGs
# of PHOTOS_DIR (default ../shared/corpus next to the project root); exits 1
# if ours is worse than img2dataset on either mean. --sweep: where 1/8
# shrink-on-load gets good enough (see scripts/bench_quality.py).
# Python needs Pillow, numpy, OpenCV and img2dataset: set PYTHON to a venv's
# python that has them (e.g. PYTHON=/tmp/venv/bin/python after
# `python3 -m venv /tmp/venv && /tmp/venv/bin/pip install img2dataset pillow`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
photos="${1:-$root/../shared/corpus}"
shift || true
python="${PYTHON:-python3}"
cargo build --release --quiet -p resize_serial --manifest-path "$root/Cargo.toml"
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
NO_ALBUMENTATIONS_UPDATE=1 exec "$python" "$root/scripts/bench_quality.py" --photos "$photos" \
    --ours "resize_serial=$target/release/resize_serial" "$@"
