#!/usr/bin/env bash
# scripts/bench_resize.sh [PHOTOS_DIR] [IMAGES] [REPEATS]
#
# Thumbnail benchmark: resize_serial and resize_parallel against Pillow's
# thumbnail() and Pillow's decode-only time at the same DCT scale, measured in
# the same run, medians of REPEATS runs over IMAGES copies of the JPEGs in
# PHOTOS_DIR (default ../shared/corpus next to the project root). Prints
# ms/image, images/s and the ratios. Pillow rows appear when python3 has PIL.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
photos="${1:-$root/../shared/corpus}"
images="${2:-340}"
repeats="${3:-7}"
if [ ! -d "$photos" ]; then
    echo "no folder of photos at $photos; pass one: scripts/bench_resize.sh PHOTOS_DIR" >&2
    exit 2
fi
if ! command -v nasm >/dev/null; then
    echo "note: nasm is not installed, so libjpeg-turbo was built without SIMD (about 1.6x slower decoding)" >&2
fi
cargo build --release --quiet -p resize_serial -p resize_parallel --manifest-path "$root/Cargo.toml"
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec python3 "$root/scripts/bench_resize.py" --photos "$photos" --bin-dir "$target/release" \
    --images "$images" --repeats "$repeats"
