#!/usr/bin/env bash
# bench_write_vs_curl.sh: the write path of asyncio_run against curl, side by side.
#
# What it measures: wall time and CPU time (user + system) of
#   curl --parallel --parallel-max 64            (the baseline)
#   asyncio_run --urls LIST --concurrency 64     (tokio + reqwest, atomic writes)
# each downloading the same 2000 photo-like JPEGs from the origin binary on
# 127.0.0.1 at 0 latency, so the network waits nothing and what differs is
# the client's own work: HTTP, the copy of each body and creating 2000 files.
# Both write into a fresh, empty folder on the SAME filesystem (a folder
# under the repo's target/ by default: ext4 on this project's machine;
# --dir chooses another, and `df -T`'s type of it is printed). The runs are
# interleaved in pairs, who goes first alternating, after one warm-up pair
# that is not counted; each run must leave exactly 2000 files. It prints
# both medians and the ratios asyncio_run / curl.
#
# Run it:
#   scripts/bench_write_vs_curl.sh                       # 7 pairs, ext4 under target/
#   scripts/bench_write_vs_curl.sh --pairs 9 --dir /dev/shm/bench   # tmpfs
#
# Times come from bash's `time` keyword (wall, and the user and system time
# of the process and its reaped children, from getrusage), to the
# millisecond; no other timing tool is needed.
#
# Between runs, not timed, the last run's writes are flushed (`sync`).
# Its folder is kept until the end when the disk has room for every run
# (about 0.2 GB a run at the defaults, plus 2 GB spare for others): on this
# ext4 (mounted without a journal), creating files within a minute of a mass
# delete is several times slower, as the inode allocator skips recently
# freed inodes (`perf` showed `recently_deleted` above 30% of such a run),
# which would penalise whichever client runs next. With less room, each
# run's folder is deleted after it, and the script says so: both clients
# then pay that penalty alike, and the ratios are less telling.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pairs=7
count=2000
concurrency=64
dir="$root/target/bench_write_vs_curl"
curl_bin=/usr/bin/curl

usage() {
    echo "usage: $0 [--pairs N (>= 5, default 7)] [--dir FOLDER] [--count N] [--concurrency N]" >&2
    exit 2
}
while (($# > 0)); do
    case "$1" in
        --pairs) pairs="${2:?}"; shift 2 ;;
        --dir) dir="${2:?}"; shift 2 ;;
        --count) count="${2:?}"; shift 2 ;;
        --concurrency) concurrency="${2:?}"; shift 2 ;;
        -h | --help) usage ;;
        *) echo "unknown flag: $1" >&2; usage ;;
    esac
done
((pairs >= 5)) || { echo "--pairs must be at least 5 (a median of fewer is noise here)" >&2; exit 2; }
[[ -x "$curl_bin" ]] || curl_bin="$(command -v curl)" || { echo "curl is not installed" >&2; exit 2; }

# 1. Release binaries.
cd "$root"
cargo build --release --quiet -p origin -p asyncio_run
bin="$root/target/release"

# 2. A work folder on the chosen filesystem; everything is removed on exit.
mkdir -p "$dir"
work="$(mktemp -d "$dir/run.XXXXXX")"
origin_pid=""
cleanup() {
    if [[ -n "$origin_pid" ]]; then kill "$origin_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap runs on Ctrl-C or kill too

# 3. The origin, at 0 latency, on a free port; its first line is its base URL.
"$bin/origin" --port 0 --count "$count" --latency-ms 0 --jitter-ms 0 >"$work/origin.out" &
origin_pid=$!
base=""
for _ in $(seq 100); do
    base="$(head -n 1 "$work/origin.out" 2>/dev/null || true)"
    [[ "$base" == http://* ]] && break
    sleep 0.1
done
[[ "$base" == http://* ]] || { echo "the origin did not start" >&2; exit 1; }

# 4. The URL list, and the same list as a curl config naming each output file.
list="$work/urls.txt"
"$curl_bin" --silent --fail "$base/urls.txt?count=$count" >"$list"
listed="$(grep -c '^http' "$list")"
((listed == count)) || { echo "the origin listed $listed URLs, not $count" >&2; exit 1; }

# One timed run: `time` writes "wall user sys" to $work/time; stdout and
# stderr of the command go to $work/out and $work/err.
timed() {
    local TIMEFORMAT='%3R %3U %3S'
    { time "$@" >"$work/out" 2>"$work/err"; } 2>"$work/time"
}

run_curl() { # $1: fresh output folder
    mkdir -p "$1"
    awk -v out="$1" '/^http/ { printf "url = \"%s\"\noutput = \"%s/%d.jpg\"\n", $0, out, n++ }' "$list" >"$work/curl.cfg"
    timed "$curl_bin" --silent --fail --parallel --parallel-max "$concurrency" --config "$work/curl.cfg"
}

run_asyncio() { # $1: fresh output folder
    timed "$bin/asyncio_run" --json --urls "$list" --concurrency "$concurrency" --out "$1"
}

# Runs client $1 into a fresh folder, checks it wrote $count files, and
# appends "wall cpu" to $work/$1.times (unless $2 is "warm-up"); then,
# outside the timing, deletes the folder if space is short and flushes.
measure() {
    local client="$1" out
    out="$work/out-$client-$((++runs))"
    if ! "run_$client" "$out"; then
        echo "$client failed: $(tail -n 3 "$work/err")" >&2
        exit 1
    fi
    local files
    files="$(find "$out" -maxdepth 1 -type f -name '*.jpg' | wc -l)"
    ((files == count)) || { echo "$client wrote $files files, not $count" >&2; exit 1; }
    if [[ "${2:-}" != warm-up ]]; then
        awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$work/time" >>"$work/$client.times"
    fi
    if [[ "$keep" == no ]]; then rm -rf "$out"; fi
    sync
}

run_kb=$((count * 100)) # photos are ~95 KB
free_kb="$(df -Pk "$work" | awk 'NR == 2 { print $4 }')"
((free_kb > 2 * run_kb)) || { echo "$work has $((free_kb / 1024)) MB free; a run needs $((run_kb / 1024)) MB" >&2; exit 1; }
keep=yes
if ((free_kb < (2 * pairs + 2) * run_kb + 2 * 1024 * 1024)); then
    keep=no
    echo "only $((free_kb / 1024)) MB free: deleting each run's files after it (ext4's recently-deleted penalty included)"
fi
sync
fstype="$(df -T "$work" | awk 'NR == 2 { print $2 }')"
echo "write path: $count images at 0 latency, $concurrency at once, $pairs interleaved pairs (+1 warm-up)"
echo "folder: $work ($fstype); $(nproc) cores; load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
runs=0
measure curl warm-up
measure asyncio warm-up
for ((pair = 0; pair < pairs; pair++)); do
    if ((pair % 2 == 0)); then
        measure curl
        measure asyncio
    else
        measure asyncio
        measure curl
    fi
done

# 5. Medians and ratios.
median() { # column $2 of file $1
    sort -n -k "$2" "$1" | awk -v k="$2" '{ v[NR] = $k } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
curl_wall="$(median "$work/curl.times" 1)"
curl_cpu="$(median "$work/curl.times" 2)"
async_wall="$(median "$work/asyncio.times" 1)"
async_cpu="$(median "$work/asyncio.times" 2)"
echo
printf '%-40s %10s %10s\n' "median of $pairs ($fstype)" "wall s" "cpu s"
printf '%-40s %10.3f %10.3f\n' "curl --parallel --parallel-max $concurrency" "$curl_wall" "$curl_cpu"
printf '%-40s %10.3f %10.3f\n' "asyncio_run --concurrency $concurrency" "$async_wall" "$async_cpu"
awk -v aw="$async_wall" -v cw="$curl_wall" -v ac="$async_cpu" -v cc="$curl_cpu" 'BEGIN {
    printf "%-40s %9.2fx %9.2fx\n", "asyncio_run / curl", aw / cw, ac / cc
    printf "%-40s %10s %10s\n", "target", "<= 1.00x", "<= 1.20x"
}'
echo
echo "every run (wall s, cpu s):"
paste -d ' ' <(sed 's/^/curl /' "$work/curl.times") <(sed 's/^/asyncio_run /' "$work/asyncio.times") | sed 's/^/  /'
