#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 30) and fails if
# any of them finds a crash (a panic, a sanitizer report, a timeout or an
# out-of-memory). Fuzzing needs a nightly toolchain and cargo-fuzz; without
# them it prints one loud line and exits 0, so a machine without nightly can
# still run the rest of CI (the property tests in common/tests/properties.rs
# check the same functions on stable).
#
#   scripts/fuzz.sh          # 30 s a target
#   scripts/fuzz.sh 300      # 5 minutes a target
#
# A crash is saved as fuzz/artifacts/<target>/crash-<hash>; replay it with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-<hash>
# then fix the function and keep the input as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
targets=(file_name url_list jpeg_markers thumbnail)
# Per-input limits: an input that takes longer or uses more memory is a
# crash too (a loop, or a limit of make_thumbnail that does not hold).
input_timeout_seconds=20
rss_limit_mb=2048

skip() {
    echo "!! FUZZING SKIPPED: $1; install with: rustup toolchain install nightly && cargo install cargo-fuzz"
    exit 0
}

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS a target, default 30]" >&2
    exit 2
fi
cargo +nightly --version >/dev/null 2>&1 || skip "no nightly toolchain ('cargo +nightly' fails)"
cargo +nightly fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed"

echo "== seed corpora (small valid inputs, generated)"
cargo run --quiet -p common --example fuzz_seeds -- fuzz/corpus

echo "== build the fuzz targets (nightly, address sanitizer, coverage instrumentation)"
start=$SECONDS
cargo +nightly fuzz build
echo "built in $((SECONDS - start)) s"

crashed=()
for target in "${targets[@]}"; do
    echo "== fuzz $target for $seconds s"
    log="$(mktemp)"
    if cargo +nightly fuzz run "$target" -- \
        -max_total_time="$seconds" -timeout="$input_timeout_seconds" -rss_limit_mb="$rss_limit_mb" \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done' "$log" || true
    else
        # libFuzzer's report (the input, the panic, the stack) is the log's tail.
        tail -n 60 "$log"
        crashed+=("$target")
    fi
    rm -f "$log"
done

if [ "${#crashed[@]}" -gt 0 ]; then
    echo "!! FUZZING FOUND CRASHES in: ${crashed[*]} (inputs under fuzz/artifacts/)"
    exit 1
fi
echo "fuzzing: no crash in ${#targets[@]} targets, $seconds s each"
