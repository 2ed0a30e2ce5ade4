#!/usr/bin/env bash
# A real Slurm on this one machine, running sharded pipeline_run as a job
# array (deploy/slurm/pipeline_array.sbatch, unchanged but for overrides on
# the sbatch command line) against the origin binary on 127.0.0.1.
#
# What it checks:
#   1. an 8-shard array makes exactly the objects of one single-process run
#      (same keys, same bytes), and `pipeline_run merge` says every shard
#      is done (exit 0);
#   2. one task cancelled mid-run (scancel) leaves no record: merge lists
#      it missing (exit 4); resubmitted alone (sbatch --array=3) it skips
#      what it had made and finishes; merge exits 0; the union is again
#      the single run's.
# It prints shards, images, wall time and images/s of the array and of the
# single run.
#
# Slurm comes from Debian's packages (slurmctld, slurmd, munge,
# slurm-client; installed with apt when missing). There is no systemd and
# no cgroup here, so: proctrack/linuxproc, task/none, no accounting, and
# every daemon started by this script in its own temporary folder and
# stopped on exit (munged only if none answers already). Needs root (slurmd
# runs jobs as their user, and this script submits as root).
#
# Usage: scripts/slurm_test.sh [--images N] [--profile release|debug]
#   --images N        images served and made (default 2000)
#   --profile P       which build of pipeline_run and origin (default
#                     release; CI uses debug, which its tests built already)
# Takes about 1 minute with 2000 images on 2 cores (release), plus the build.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGES=2000
PROFILE=release
while [ $# -gt 0 ]; do
    case "$1" in
        --images) IMAGES="$2"; shift 2 ;;
        --profile) PROFILE="$2"; shift 2 ;;
        *) echo "usage: $0 [--images N] [--profile release|debug]" >&2; exit 2 ;;
    esac
done
case "$PROFILE" in
    release) BIN="$PWD/target/release"; BUILD=(--release) ;;
    debug) BIN="$PWD/target/debug"; BUILD=() ;;
    *) echo "--profile is release or debug, not $PROFILE" >&2; exit 2 ;;
esac
SHARDS=8
AT_ONCE=4
SBATCH_SCRIPT="$PWD/deploy/slurm/pipeline_array.sbatch"
# Photos of 640x480: big enough to cost a real decode, small enough for CI.
PHOTO=(--width 640 --height 480)
MAKE=(--thumbnail 128x128 --json)

if [ "$(id -u)" -ne 0 ]; then
    echo "slurm_test: needs root (it starts slurmctld, slurmd and munged)" >&2
    exit 2
fi

echo "== packages"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd munge slurm-client >/dev/null
fi
slurmctld -V

echo "== build ($PROFILE)"
cargo build "${BUILD[@]}" -p pipeline_run -p origin

WORK="$(mktemp -d /tmp/slurm_test.XXXXXX)"
PIDS=()
cleanup() {
    status=$?
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
        scancel --quiet --user=root 2>/dev/null || true
    fi
    # Only the processes this script started, newest first.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[$i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        echo "slurm_test: FAILED (status $status); logs:" >&2
        tail -n 20 "$WORK"/slurmctld.log "$WORK"/slurmd.log "$WORK"/logs/* 2>/dev/null >&2 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== munge"
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "munged is running already"
else
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    # setpriv execs munged, so $! is munged itself.
    setpriv --reuid munge --regid munge --init-groups munged --foreground >/dev/null 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n </dev/null | unmunge >/dev/null
fi

echo "== slurm (in $WORK)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NODE="$(hostname -s)"
MEMORY_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) * 8 / 10 / 1024))
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/logs"
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=thumbnails
SlurmctldHost=$NODE
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
# No systemd, no cgroups: processes tracked by their parent, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# The node claims $AT_ONCE CPUs whatever it has, so $AT_ONCE one-CPU tasks
# run at once (they mostly wait on the network).
SlurmdParameters=config_overrides
NodeName=$NODE CPUs=$AT_ONCE RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
# In the foreground (-D) so that $! is the daemon; they log to their files.
slurmctld -D -c -f "$SLURM_CONF" >"$WORK/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" >"$WORK/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    state="$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)"
    [ "$state" = "idle" ] && break
    sleep 0.2
done
if [ "$(sinfo -h -n "$NODE" -o %T 2>/dev/null)" != "idle" ]; then
    echo "slurm_test: the node did not come up idle: $(sinfo -h -N -o '%N %T %E' 2>&1)" >&2
    exit 1
fi
sinfo

echo "== origin ($IMAGES images)"
"$BIN/origin" --port 0 --count "$IMAGES" --latency-ms 50 --jitter-ms 25 "${PHOTO[@]}" >"$WORK/origin.out" &
PIDS+=($!)
for _ in $(seq 100); do
    [ -s "$WORK/origin.out" ] && break
    sleep 0.1
done
BASE="$(head -n 1 "$WORK/origin.out")"
curl -fsS "$BASE/urls.txt?count=$IMAGES" >"$WORK/urls.txt"
echo "$BASE: $(wc -l <"$WORK/urls.txt") URLs"

# The objects of a store, one "sha256  key" line each: the records
# (_shards/, the ledgers) left out.
objects() {
    (cd "$1" && find . -path ./_shards -prune -o -type f ! -name '*.jsonl' -print0 | sort -z | xargs -0 -r sha256sum)
}
now() { date +%s.%N; }
per_second() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$1" "$2"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# Submits the array (or part of it) into store $1 with $2 downloads per
# task; the rest of the arguments go to sbatch. Prints the job id.
submit() {
    local store="$1" concurrency="$2"
    shift 2
    sbatch --parsable --chdir="$WORK" --output="$WORK/logs/%A_%a.out" --error="$WORK/logs/%A_%a.err" --cpus-per-task=1 --mem=256M "$@" \
        --export="ALL,URLS=$WORK/urls.txt,STORE=$store,TASKS=$SHARDS,PIPELINE_RUN=$BIN/pipeline_run,CONCURRENCY=$concurrency,PIPELINE_ARGS=${MAKE[*]}" \
        "$SBATCH_SCRIPT"
}
# Waits until job $1 has no task left in the queue.
wait_job() {
    while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
        sleep 0.2
    done
}
# `merge --json` of store $1, which must exit $2; prints the JSON.
merge() {
    local status=0
    "$BIN/pipeline_run" merge --store "$1" --json >"$WORK/merge.json" || status=$?
    if [ "$status" -ne "$2" ]; then
        echo "slurm_test: merge of $1 exited $status, not $2: $(cat "$WORK/merge.json")" >&2
        exit 1
    fi
    cat "$WORK/merge.json"
}
field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/merge.json" "$1"; }

# As many downloads in flight as the array has (AT_ONCE tasks x 32): the
# images are mostly waited for, so that is what decides the wall time here.
echo "== one process, $((32 * AT_ONCE)) downloads at once"
start=$(now)
"$BIN/pipeline_run" --urls "$WORK/urls.txt" --store "$WORK/single" --mode async --concurrency $((32 * AT_ONCE)) \
    "${MAKE[@]}" >"$WORK/single.json"
single_seconds=$(elapsed "$start" "$(now)")
objects "$WORK/single" >"$WORK/single.objects"
echo "$(wc -l <"$WORK/single.objects") objects in $single_seconds s"

echo "== array of $SHARDS shards, $AT_ONCE at once"
start=$(now)
job=$(submit "$WORK/sharded" 32 --array="0-$((SHARDS - 1))%$AT_ONCE")
wait_job "$job"
array_seconds=$(elapsed "$start" "$(now)")
merge "$WORK/sharded" 0 >/dev/null
[ "$(field requested)" = "$IMAGES" ] || { echo "slurm_test: merge counts $(field requested) images" >&2; exit 1; }
objects "$WORK/sharded" >"$WORK/sharded.objects"
diff -q "$WORK/single.objects" "$WORK/sharded.objects" >/dev/null \
    || { echo "slurm_test: the array's objects differ from the single run's" >&2; exit 1; }
echo "job $job: every shard recorded; the union is the single run's objects, byte for byte"

echo "== cancel one task mid-run, resubmit it"
# Few downloads at once per task (one per 2000 images), so a task lasts
# long enough to be cancelled: at least 50 images x 50 ms.
job=$(submit "$WORK/cancelled" $(((IMAGES + 1999) / 2000)) --array="0-$((SHARDS - 1))%$AT_ONCE")
# Task 3's ledger: the segments it writes into the store as it goes
# (the first with its first finished image).
ledger="$WORK/cancelled/_shards/3/_records"
recorded() { cat "$ledger"/complete-*.jsonl 2>/dev/null; }
for _ in $(seq 600); do
    [ -n "$(recorded)" ] && break
    sleep 0.1
done
[ -n "$(recorded)" ] || { echo "slurm_test: task 3 made no image in 60 s" >&2; exit 1; }
scancel "${job}_3"
wait_job "$job"
if [ -e "$WORK/cancelled/_shards/3.json" ]; then
    echo "slurm_test: task 3 finished before it was cancelled (make it slower)" >&2
    exit 1
fi
merge "$WORK/cancelled" 4 >/dev/null
[ "$(field missing)" = "[3]" ] || { echo "slurm_test: merge says missing $(field missing), not [3]" >&2; exit 1; }
echo "task 3 cancelled after $(recorded | wc -l) image(s); merge: missing [3], exit 4"
again=$(submit "$WORK/cancelled" 32 --array=3)
wait_job "$again"
skipped=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["skipped"])' \
    "$WORK/logs/${again}_3.out")
[ "$skipped" -ge 1 ] || { echo "slurm_test: the resubmitted task made again what was done" >&2; exit 1; }
merge "$WORK/cancelled" 0 >/dev/null
objects "$WORK/cancelled" >"$WORK/cancelled.objects"
diff -q "$WORK/single.objects" "$WORK/cancelled.objects" >/dev/null \
    || { echo "slurm_test: after the resubmit, the objects differ from the single run's" >&2; exit 1; }
echo "task 3 resubmitted (job $again): skipped $skipped done before, finished; merge exit 0; union is the single run's"

echo "== numbers ($PROFILE build, $(nproc) cores)"
echo "shards $SHARDS ($AT_ONCE at once), images $IMAGES"
echo "slurm array ($AT_ONCE tasks x 32 at once): wall $array_seconds s (submit to last task done), $(per_second "$IMAGES" "$array_seconds") images/s"
echo "one process ($((32 * AT_ONCE)) at once): wall $single_seconds s, $(per_second "$IMAGES" "$single_seconds") images/s"
echo "slurm_test: ok"
