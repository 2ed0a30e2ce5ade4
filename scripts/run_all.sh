#!/usr/bin/env bash
# scripts/run_all.sh: the results matrix and chart, regenerated in one command.
#
# Builds the workspace in release mode once, starts the origin binary (a local
# image host with realistic latency; no network, no configuration), then runs
# every download binary, every resize binary and each of pipeline_run's four
# modes R times, interleaved so that drift (a warming CPU, a busy neighbour)
# does not favour one binary. Each download run starts from an empty folder
# and gets the same URL list from the same server; each resize run makes
# thumbnails of what the last download saved, into an empty folder; each
# pipeline run downloads the same URLs and stores 128x128 thumbnails into an
# empty folder, in one run, with --trace. The raw runs go to results_matrix
# (a workspace crate), which keeps the medians and writes:
#
#   results/RESULTS.md    the matrix: run type, files, time, speedup, images/s
#   results/results.json  the header, the rows and every raw run
#   results/timings.png   a bar chart of the medians
#   README.md             the header and the matrix, between the lines
#                         <!-- results-matrix:start --> and <!-- results-matrix:end -->
#                         (only when the results go to results/, or with --readme)
#
# and the last round's pipeline traces go to timeline (results_matrix's second
# binary), which draws:
#
#   results/timeline-<mode>.png     every image's events against time, per mode
#   results/timeline-comparison.png objects stored so far, the modes side by side
#
# Exit status: 0 every run saved every file; 1 some run failed or came up
# short, or the timelines could not be drawn (each named on stderr, and the
# runs in RESULTS.md); 2 usage error, or a binary that cannot run at all (such
# as a resize binary not written yet).
#
#   scripts/run_all.sh                                  # 100 images, 3 rounds, 200 ms +/- 100 ms
#   scripts/run_all.sh --count 50 --repeat 5 --latency-ms 100
#   scripts/run_all.sh --source unsplash --count 30     # a configured API, no origin
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/run_all.sh [options]

  --count N         images per download run (100)
  --repeat R        runs of each binary; the median is kept (3)
  --latency-ms L    the origin's mean delay per image (200)
  --jitter-ms J     the origin's delay varies by up to this either way (100)
  --source KIND     origin (default: the origin binary on 127.0.0.1), or
                    urls | unsplash | imgur, passed to every download binary
  --urls FILE       a URL list for --source urls
  --config FILE     config.ini with API keys, passed to every download binary
  --skip-resize     no resize runs (the matrix then has no resize rows)
  --skip-pipeline   no pipeline_run runs (no pipeline rows, no timelines)
  --bin-dir DIR     use the binaries in DIR and do not build (default: build
                    and use target/release)
  --out DIR         where the result files go (results)
  --readme FILE     write the matrix into FILE between its results-matrix
                    markers (default: README.md, when --out is not given)
  --scratch DIR     where downloads, thumbnails and stored objects go between
                    runs; each emptied before a run that writes it (target/run_all)
  -h, --help        this text
EOF
}

# Fails with status 2 and one line saying what to fix.
die_usage() {
    echo "run_all: $*" >&2
    exit 2
}

count=100
repeat=3
latency_ms=200
jitter_ms=100
source_kind=origin
urls_file=""
config_file=""
skip_resize=0
skip_pipeline=0
bin_dir=""
out_dir=""
readme=""
scratch=""
command_line=scripts/run_all.sh
[[ $# -eq 0 ]] || command_line+=$(printf ' %q' "$@")

while [[ $# -gt 0 ]]; do
    case $1 in
        --count | --repeat | --latency-ms | --jitter-ms | --source | --urls | --config | --bin-dir | --out | --readme | --scratch)
            [[ $# -ge 2 ]] || die_usage "$1 needs a value"
            case $1 in
                --count) count=$2 ;;
                --repeat) repeat=$2 ;;
                --latency-ms) latency_ms=$2 ;;
                --jitter-ms) jitter_ms=$2 ;;
                --source) source_kind=$2 ;;
                --urls) urls_file=$2 ;;
                --config) config_file=$2 ;;
                --bin-dir) bin_dir=$2 ;;
                --out) out_dir=$2 ;;
                --readme) readme=$2 ;;
                --scratch) scratch=$2 ;;
            esac
            shift 2
            ;;
        --skip-resize)
            skip_resize=1
            shift
            ;;
        --skip-pipeline)
            skip_pipeline=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die_usage "unknown argument '$1'"
            ;;
    esac
done

for pair in "count=$count" "repeat=$repeat" "latency-ms=$latency_ms" "jitter-ms=$jitter_ms"; do
    [[ ${pair#*=} =~ ^[0-9]+$ ]] || die_usage "--${pair%%=*} must be a whole number, not '${pair#*=}'"
done
[[ $count -ge 1 && $repeat -ge 1 ]] || die_usage "--count and --repeat must be at least 1"
case $source_kind in
    origin | unsplash | imgur) ;;
    urls) [[ -n $urls_file ]] || die_usage "--source urls needs --urls FILE" ;;
    *) die_usage "--source must be origin, urls, unsplash or imgur, not '$source_kind'" ;;
esac
[[ -z $urls_file || $source_kind == urls ]] || die_usage "--urls goes with --source urls"
# Paths given relative to where the script was started stay valid after the cd.
[[ -z $urls_file ]] || urls_file=$(realpath -m "$urls_file")
[[ -z $config_file ]] || config_file=$(realpath -m "$config_file")
[[ -z $bin_dir ]] || bin_dir=$(realpath -m "$bin_dir")
[[ -z $out_dir ]] || out_dir=$(realpath -m "$out_dir")
[[ -z $scratch ]] || scratch=$(realpath -m "$scratch")
[[ -z $readme ]] || readme=$(realpath -m "$readme")

# Everything else is relative to the workspace root.
cd "$(dirname "$0")/.."
# The README shows the results committed in results/, so only a run that
# writes there (or names a file) updates it.
[[ -n $readme || -n $out_dir ]] || readme=README.md
out_dir=${out_dir:-results}
scratch=${scratch:-target/run_all}

# The rows, in the order the assignments present them; a label is the binary
# and any flags that make it a variant.
downloads=(normal_run multithreading_run multiprocessing_run asyncio_run "asyncio_run --runtime async-std")
resizes=(resize_serial resize_parallel)
# pipeline_run's modes in the order the async book teaches them; every one
# makes the resize binaries' default thumbnail, so a pipeline row compares
# with a download row plus a resize row.
pipelines=("pipeline_run --mode serial" "pipeline_run --mode threads" "pipeline_run --mode processes" "pipeline_run --mode async")
pipeline_thumbnail=128x128
# Folders of our own (by default under target/, which git ignores), so a
# newcomer's images/ is never emptied by a benchmark.
images=$scratch/images
thumbnails=$scratch/thumbnails
stored=$scratch/stored

# 1. Build once, in release mode (the defaults measure release binaries).
if [[ -z $bin_dir ]]; then
    echo "run_all: building the workspace in release mode" >&2
    cargo build --release --workspace
    bin_dir=${CARGO_TARGET_DIR:-target}/release
fi
needed=(normal_run multithreading_run multiprocessing_run asyncio_run origin results_matrix)
[[ $skip_resize -eq 1 ]] || needed+=("${resizes[@]}")
[[ $skip_pipeline -eq 1 ]] || needed+=(pipeline_run timeline)
for binary in "${needed[@]}"; do
    [[ -x $bin_dir/$binary ]] || die_usage "$bin_dir/$binary is missing; build with 'cargo build --release --workspace'"
done

work=$(mktemp -d)
origin_pid=""
# On any exit: stop the origin, remove the scratch files.
cleanup() {
    if [[ -n $origin_pid ]]; then
        kill "$origin_pid" 2>/dev/null || true
        wait "$origin_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
# Ctrl-C or a kill ends the script through exit, so the EXIT trap runs.
trap "exit 130" INT
trap "exit 143" TERM

# A resize binary that is a placeholder would make a matrix with holes: say
# so before spending a minute on downloads.
if [[ $skip_resize -eq 0 ]]; then
    for binary in "${resizes[@]}"; do
        if ! "$bin_dir/$binary" --help >/dev/null 2>"$work/probe.err"; then
            if grep -q "not written yet" "$work/probe.err"; then
                die_usage "$binary is not written yet (it exits 2); pass --skip-resize to time the downloads only"
            fi
            die_usage "$binary --help failed: $(head -n 3 "$work/probe.err")"
        fi
    done
else
    echo "run_all: --skip-resize: the matrix will have no resize rows" >&2
fi
[[ $skip_pipeline -eq 0 ]] || echo "run_all: --skip-pipeline: the matrix will have no pipeline rows" >&2

# Asks the origin at $1 (http://HOST:PORT) for its first $2 URLs, into $3, over
# bash's /dev/tcp: no curl needed on a fresh machine.
fetch_url_list() {
    local host_port=${1#http://} status_line line
    exec 3<>"/dev/tcp/${host_port%:*}/${host_port##*:}"
    printf 'GET /urls.txt?count=%d HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$2" "$host_port" >&3
    IFS= read -r status_line <&3
    [[ $status_line == *" 200 "* ]] || die_usage "the origin answered /urls.txt with '${status_line%$'\r'}'"
    while IFS= read -r line <&3 && [[ -n ${line%$'\r'} ]]; do :; done
    cat <&3 >"$3"
    exec 3<&-
}

# 2. The source: the origin binary, or the one asked for, passed through.
source_args=()
latency_args=()
if [[ $source_kind == origin ]]; then
    : >"$work/origin.out"
    "$bin_dir/origin" --port 0 --count "$count" --latency-ms "$latency_ms" --jitter-ms "$jitter_ms" \
        >"$work/origin.out" 2>"$work/origin.err" &
    origin_pid=$!
    # The first line is the base URL, printed once every photo is generated.
    waited=0
    while [[ $(wc -l <"$work/origin.out") -lt 1 ]]; do
        kill -0 "$origin_pid" 2>/dev/null || die_usage "the origin exited: $(cat "$work/origin.err")"
        [[ $((waited++)) -lt 1200 ]] || die_usage "the origin printed no URL within 120 s"
        sleep 0.1
    done
    base_url=$(head -n 1 "$work/origin.out")
    fetch_url_list "$base_url" "$count" "$work/urls.txt"
    listed=$(grep -c . "$work/urls.txt" || true)
    [[ $listed -eq $count ]] || die_usage "the origin listed $listed URLs, not $count"
    source_args=(--urls "$work/urls.txt")
    source_desc="origin binary on 127.0.0.1 (photo-like 1080x720 JPEGs), URL list from its /urls.txt"
    latency_args=(--latency-ms "$latency_ms" --jitter-ms "$jitter_ms")
    echo "run_all: origin at $base_url, $latency_ms ms +/- $jitter_ms ms per image" >&2
else
    source_args=(--source "$source_kind")
    [[ -z $urls_file ]] || source_args+=(--urls "$urls_file")
    source_desc="--source $source_kind${urls_file:+, URL list $(basename "$urls_file")}"
fi
[[ -z $config_file ]] || source_args+=(--config "$config_file")

# Runs one binary once, from an empty output folder, and appends its run to
# the raw file. Arguments: kind (download|resize|pipeline), label, round. A
# pipeline run's trace goes to trace-<mode>.jsonl, replaced each round, so the
# last round's is left for the timelines.
raw=$work/runs.jsonl
failed_runs=0
run_one() {
    local kind=$1 label=$2 round=$3 status report seconds
    local -a words args
    read -r -a words <<<"$label"
    if [[ $kind == download ]]; then
        rm -rf "$images"
        args=(--count "$count" --out "$images" --json "${source_args[@]}" "${words[@]:1}")
    elif [[ $kind == pipeline ]]; then
        # An earlier round's trace goes too, so a run that dies before
        # writing its own leaves no timeline rather than an old one.
        rm -rf "$stored" "$work/trace-${words[-1]}.jsonl"
        args=(--count "$count" --store "$stored" --thumbnail "$pipeline_thumbnail" --json
            --trace "$work/trace-${words[-1]}.jsonl" "${source_args[@]}" "${words[@]:1}")
    else
        rm -rf "$thumbnails"
        args=(--input "$images" --output "$thumbnails" --json "${words[@]:1}")
    fi
    status=0
    "$bin_dir/${words[0]}" "${args[@]}" >"$work/run.out" 2>"$work/run.err" || status=$?
    report=$(tail -n 1 "$work/run.out")
    [[ $report == "{"*"}" ]] || report=null
    printf '{"label":"%s","kind":"%s","round":%d,"exit":%d,"report":%s}\n' \
        "$label" "$kind" "$round" "$status" "$report" >>"$raw"
    seconds=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' <<<"$report")
    [[ -z $seconds ]] || seconds=$(LC_NUMERIC=C printf '%.2f' "$seconds")
    printf 'run_all: round %d/%d  %-32s %7s s  exit %d\n' "$round" "$repeat" "$label" "${seconds:-?}" "$status" >&2
    if [[ $status -ne 0 || $report == null ]]; then
        failed_runs=$((failed_runs + 1))
        echo "run_all: FAILED: $label (round $round) exited with status $status; its last lines:" >&2
        tail -n 5 "$work/run.err" | sed 's/^/    /' >&2
    fi
}

# 3. The rounds: every binary once per round, the order rotated each round.
started=$SECONDS
for ((round = 1; round <= repeat; round++)); do
    shift_by=$(((round - 1) % ${#downloads[@]}))
    for label in "${downloads[@]:shift_by}" "${downloads[@]:0:shift_by}"; do
        run_one download "$label" "$round"
    done
    if [[ $skip_resize -eq 0 ]]; then
        shift_by=$(((round - 1) % ${#resizes[@]}))
        for label in "${resizes[@]:shift_by}" "${resizes[@]:0:shift_by}"; do
            run_one resize "$label" "$round"
        done
    fi
    if [[ $skip_pipeline -eq 0 ]]; then
        shift_by=$(((round - 1) % ${#pipelines[@]}))
        for label in "${pipelines[@]:shift_by}" "${pipelines[@]:0:shift_by}"; do
            run_one pipeline "$label" "$round"
        done
    fi
done
echo "run_all: $((SECONDS - started)) s of runs" >&2

# 4. The timelines of the last round's pipeline runs, drawn first so that
# RESULTS.md can show them. Older pictures go first: a mode whose run left no
# trace must not keep a picture from another day.
timeline_failed=0
if [[ $skip_pipeline -eq 0 ]]; then
    mkdir -p "$out_dir"
    rm -f "$out_dir"/timeline-*.png
    traces=()
    for label in "${pipelines[@]}"; do
        trace=$work/trace-${label##* }.jsonl
        if [[ -s $trace ]]; then
            traces+=("$trace")
        else
            echo "run_all: FAILED: $label left no trace in its last round; it has no timeline" >&2
            timeline_failed=1
        fi
    done
    if [[ ${#traces[@]} -gt 0 ]] && ! "$bin_dir/timeline" "${traces[@]}" --out "$out_dir"; then
        echo "run_all: FAILED: timeline could not draw the pipeline timelines (above)" >&2
        timeline_failed=1
    fi
fi

# 5. The matrix, the raw runs and the chart (and the matrix in the README);
# it checks every count too.
matrix_status=0
readme_args=()
[[ -z $readme ]] || readme_args=(--readme "$readme")
"$bin_dir/results_matrix" --raw "$raw" --out "$out_dir" --count "$count" --repeat "$repeat" \
    --source="$source_desc" "${latency_args[@]}" --date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --command="$command_line" "${readme_args[@]}" || matrix_status=$?
if [[ $matrix_status -eq 2 ]]; then
    echo "run_all: results_matrix could not write the results (above)" >&2
    exit 2
fi
echo "run_all: wrote $out_dir/RESULTS.md, $out_dir/results.json, $out_dir/timings.png${readme:+ and the matrix in $readme}" >&2
grep '^|' "$out_dir/RESULTS.md" >&2
if [[ $failed_runs -gt 0 || $matrix_status -ne 0 ]]; then
    echo "run_all: FAILED: some runs failed or saved too few files (listed above and in $out_dir/RESULTS.md)" >&2
    exit 1
fi
if [[ $timeline_failed -ne 0 ]]; then
    echo "run_all: FAILED: some pipeline timelines are missing (above)" >&2
    exit 1
fi
