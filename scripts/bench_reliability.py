"""Reliability benchmark: every download binary against a faulty origin, and
asyncio_run at 1000 in flight on 100,000 URLs. Run by
scripts/bench_reliability.sh, which builds the release binaries first.

1. Faults: the origin binary serves N images (2000) at 0 latency, 20% of them
   faulty in mixed ways (5xx, 429 with Retry-After, resets, short bodies,
   stalls, drips: curable; 404, HTML, redirect loops, oversized bodies: not),
   seeded. Each binary runs with --timeout T --retries R. Checked: every
   image is saved or failed, every failure is an incurable kind (so every
   curable image was saved); printed: wall time, saved, failed, retried, and
   the bound one URL can take, T x (R+1) plus the backoff (at most 0.25 +
   0.5 s) and two Retry-Afters of 1 s. (That no URL exceeds it is what the
   tests check, per image: conformance/tests/reliability.rs.)
2. Scale: asyncio_run --concurrency 1000 on 100,000 small images (64x48) at
   0 latency, written to a tmpfs folder: every image saved (no descriptor
   ran out), peak RSS and peak open descriptors printed.

3. Hostile hosts (--hostile): the issue's fault mix (10% of the ids each:
   500 once, 503 + Retry-After 1, a body cut short, 404, a stall after the
   headers, an HTML page, 429 + Retry-After 1 once or twice, a drip of one
   byte every 50 ms; then 5% each of TCP resets before the response, TCP
   resets a third into the body, and endless bodies (ended by the default
   --max-bytes, 64 MiB, or --timeout); the rest fine) at --hostile-counts
   URLs (200,2000), --timeout 5 --retries 2, for every concurrent binary and pipeline_run
   mode, with --before-bin-dir's binaries too (e.g. main's) when given:
   wall time against one image's bound (3 x 5 s + backoff 0.75 s + 2 x 1 s
   Retry-After = 17.75 s), saved, failed. Then SIGTERM 3 s into the 200-URL
   run: seconds from the signal to the exit, and the status.

4. Endless bodies (--memory): the origin serves 100 images whose every
   body is endless (no Content-Length, a JPEG's first bytes, then zeros);
   every download binary at its default concurrency and every pipeline_run
   mode at its default, with the default --timeout and --max-bytes (64 MiB):
   peak RSS, the sum over the process and its children (worker processes)
   of each one's VmHWM polled from /proc until it exits; with
   --before-bin-dir's binaries too. Bounds: 300 MB for the download
   binaries, 1 GB for pipeline_run.

Usage: scripts/bench_reliability.sh [--count N] [--scale-count N] [--skip-scale]
                                    [--hostile [--before-bin-dir DIR] [--hostile-counts 200,2000] [--only-hostile]]
                                    [--memory [--only-memory] [--before-bin-dir DIR]]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from bench_download import Origin  # the origin binary in a process of its own

FAULTS = ("500=3,503=3,429=3,reset=2,truncate=2,stall=1,drip=1,html=1,404=2,loop=1,large=1,"
          "retry-after=1,stall-ms=60000,drip-ms=200,large-bytes=3000000")
TIMEOUT = 2
RETRIES = 2
# What no retry can cure, by the start of its reason.
INCURABLE = ("HTTP status 404", "not an image", "redirect loop", "body larger than")
# Concurrencies high enough that the slow URLs (stalls and drips, 2% of the
# images, each holding a worker for up to T x (R+1)) do not queue behind each
# other; normal_run, one at a time, can only take their sum.
RUNS = [
    ("normal_run", []),
    ("multithreading_run", ["--concurrency", "64"]),
    ("multiprocessing_run", ["--concurrency", "32"]),
    ("asyncio_run", ["--concurrency", "100"]),
    ("asyncio_run", ["--concurrency", "100", "--runtime", "async-std"]),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--scale-count", type=int, default=100_000)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--hostile", action="store_true")
    parser.add_argument("--only-hostile", action="store_true")
    parser.add_argument("--before-bin-dir")
    parser.add_argument("--hostile-counts", default="200,2000")
    parser.add_argument("--hostile-runs", default="", help="only the runs whose label contains one of these "
                        "(comma-separated), e.g. asyncio_run,multithreading_run")
    parser.add_argument("--before-runs", default="", help="the same, for --before-bin-dir's binaries")
    parser.add_argument("--memory", action="store_true", help="peak RSS under 100 endless bodies (section 4)")
    parser.add_argument("--only-memory", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-reliability-")
    try:
        ok = True
        if not args.only_hostile and not args.only_memory:
            ok = faults(args, work)
            if not args.skip_scale:
                ok = scale(args) and ok
        if (args.hostile or args.only_hostile) and not args.only_memory:
            ok = hostile(args, work) and ok
        if args.memory or args.only_memory:
            ok = memory(args, work) and ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


def faults(args, work):
    bound = TIMEOUT * (RETRIES + 1) + 0.75 + 2 * 1.0
    print(f"== Faults: {args.count} images, 20% faulty ({FAULTS}), --timeout {TIMEOUT} --retries {RETRIES}")
    print(f"   one URL's bound: {TIMEOUT} x {RETRIES + 1} + backoff 0.75 s + Retry-After 2 x 1 s = {bound:.2f} s")
    print(f"{'binary':<40}{'wall s':>8}{'saved':>7}{'failed':>7}{'retried':>8}  within bound  check")
    ok = True
    for name, extra in RUNS:
        with Origin(args.bin_dir, args.count, 0, 0, ["--faults", FAULTS, "--seed", "7",
                                                     "--width", "320", "--height", "240"]) as origin:
            urls = origin.url_file(work, args.count)
            out = os.path.join(work, f"out-{name}-{len(extra)}")
            start = time.perf_counter()
            done = subprocess.run([os.path.join(args.bin_dir, name), "--urls", urls, "--out", out, "--json",
                                   "--timeout", str(TIMEOUT), "--retries", str(RETRIES), "--max-bytes", "1000000",
                                   *extra], capture_output=True, text=True)
            wall = time.perf_counter() - start
        report = json.loads(done.stdout) if done.stdout.strip() else {}
        problems = []
        if report.get("files", 0) + report.get("failed", 0) != args.count:
            problems.append("not every URL accounted for")
        curable = [f for f in report.get("failures", []) if not f["reason"].startswith(INCURABLE)]
        if curable:
            problems.append(f"{len(curable)} curable images failed, e.g. {curable[0]['reason']}")
        ok = ok and not problems
        label = f"{name} {' '.join(extra)}".strip()
        within = "yes" if wall <= bound else "no"
        print(f"{label:<40}{wall:>8.2f}{report.get('files', 0):>7}{report.get('failed', 0):>7}"
              f"{report.get('retried', 0):>8}  {within:<12}  {'ok' if not problems else '; '.join(problems)}")
    return ok


HOSTILE_MIX = ("500=10,503=10,truncate=10,404=10,stall=10,html=10,429=10,drip=10,rst-before=5,rst-midway=5,"
               "endless=5,retry-after=1,drip-ms=50,stall-ms=60000")
HOSTILE_TIMEOUT = 5
HOSTILE_RUNS = [
    ("multithreading_run", ["--concurrency", "20"]),
    ("multiprocessing_run", ["--concurrency", "20"]),
    ("asyncio_run", ["--concurrency", "100"]),
    ("asyncio_run", ["--concurrency", "100", "--runtime", "async-std"]),
    ("pipeline_run", ["--mode", "threads", "--concurrency", "20"]),
    ("pipeline_run", ["--mode", "processes", "--concurrency", "20"]),
    ("pipeline_run", ["--mode", "async", "--concurrency", "100"]),
    # At 20 slots the mix's stalls and drips alone (10% each, 3 attempts of
    # 5 s) hold about 30 s of every slot: threads at the async runs' 100.
    ("multithreading_run", ["--concurrency", "100"]),
    ("pipeline_run", ["--mode", "threads", "--concurrency", "100"]),
]


def picked(runs, which):
    """The runs whose label contains one of the comma-separated `which` (all if empty)."""
    wanted = [w for w in which.split(",") if w]
    return [(n, e) for n, e in runs if not wanted or any(w in f"{n} {' '.join(e)}" for w in wanted)]


def hostile(args, work):
    bound = HOSTILE_TIMEOUT * (RETRIES + 1) + 0.75 + 2 * 1.0
    builds = [("after", args.bin_dir, picked(HOSTILE_RUNS, args.hostile_runs))]
    if args.before_bin_dir:
        builds.append(("before", args.before_bin_dir, picked(HOSTILE_RUNS, args.before_runs or args.hostile_runs)))
    print(f"== Hostile hosts: the fault mix ({HOSTILE_MIX}), --timeout {HOSTILE_TIMEOUT} --retries {RETRIES}; "
          f"one image's bound {bound:.2f} s")
    print(f"{'build':<8}{'urls':>6}  {'binary':<44}{'wall s':>8}{'x bound':>8}{'saved':>7}{'failed':>7}")
    for count in [int(c) for c in args.hostile_counts.split(",") if c]:
        for label, bin_dir, runs in builds:
            for name, extra in runs:
                with Origin(args.bin_dir, count, 20, 20, ["--faults", HOSTILE_MIX, "--seed", "19",
                                                          "--width", "320", "--height", "240"]) as origin:
                    urls = origin.url_file(work, count)
                    out = os.path.join(work, f"hostile-{label}-{name}-{len(extra)}-{count}")
                    command = hostile_command(bin_dir, name, extra, urls, out)
                    start = time.perf_counter()
                    done = subprocess.run(command, capture_output=True, text=True)
                    wall = time.perf_counter() - start
                    shutil.rmtree(out, ignore_errors=True)
                report = json.loads(done.stdout) if done.stdout.strip() else {}
                what = f"{name} {' '.join(extra)}"
                print(f"{label:<8}{count:>6}  {what:<44}{wall:>8.1f}{wall / bound:>8.2f}"
                      f"{report.get('files', 0):>7}{report.get('failed', 0):>7}", flush=True)
    print("== SIGTERM 3 s into the 200-URL fault mix: seconds from the signal to the exit")
    for label, bin_dir, runs in builds:
        for name, extra in picked([("normal_run", [])], args.hostile_runs) + runs:
            with Origin(args.bin_dir, 200, 20, 20, ["--faults", HOSTILE_MIX, "--seed", "19"]) as origin:
                urls = origin.url_file(work, 200)
                out = os.path.join(work, f"stop-{label}-{name}-{len(extra)}")
                process = subprocess.Popen(hostile_command(bin_dir, name, extra, urls, out),
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(3)
                signalled = time.perf_counter()
                process.send_signal(signal.SIGTERM)
                try:
                    code = process.wait(timeout=300)
                except subprocess.TimeoutExpired:
                    process.kill()
                    code = process.wait()
                took = time.perf_counter() - signalled
                shutil.rmtree(out, ignore_errors=True)
            print(f"{label:<8}{name + ' ' + ' '.join(extra):<52}{took:>8.2f} s  exit {code}", flush=True)
    return True


def hostile_command(bin_dir, name, extra, urls, out):
    target = ["--store", out] if name == "pipeline_run" else ["--out", out]
    return [os.path.join(bin_dir, name), "--urls", urls, "--json", "--timeout", str(HOSTILE_TIMEOUT),
            "--retries", str(RETRIES), *target, *extra]


ENDLESS = 100
MEMORY_RUNS = [
    ("normal_run", [], 300),
    ("multithreading_run", [], 300),
    ("multiprocessing_run", [], 300),
    ("asyncio_run", [], 300),
    ("asyncio_run", ["--runtime", "async-std"], 300),
    ("pipeline_run", ["--mode", "serial"], 1000),
    ("pipeline_run", ["--mode", "threads"], 1000),
    ("pipeline_run", ["--mode", "processes"], 1000),
    ("pipeline_run", ["--mode", "async"], 1000),
]


def memory(args, work):
    builds = [("after", args.bin_dir)]
    if args.before_bin_dir:
        builds.insert(0, ("before", args.before_bin_dir))
    print(f"== Endless bodies: {ENDLESS} images, each an endless body without Content-Length; default "
          "--concurrency, --timeout and --max-bytes; peak RSS of the process tree")
    print(f"{'build':<8}{'binary':<40}{'peak RSS MB':>12}{'bound':>7}{'wall s':>8}{'saved':>7}{'failed':>7}  check")
    ok = True
    for label, bin_dir in builds:
        for name, extra, bound in MEMORY_RUNS:
            with Origin(args.bin_dir, ENDLESS, 0, 0, ["--faults", f"large=100,large-bytes={2**64 - 1}"]) as origin:
                urls = origin.url_file(work, ENDLESS)
                out = os.path.join(work, f"memory-{label}-{name}-{len(extra)}")
                target = ["--store", out] if name == "pipeline_run" else ["--out", out]
                command = [os.path.join(bin_dir, name), "--urls", urls, "--json", *target, *extra]
                start = time.perf_counter()
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                peaks = {}
                sampler = threading.Thread(target=sample_peak_rss, args=(process, peaks), daemon=True)
                sampler.start()
                stdout, _ = process.communicate()
                sampler.join()
                wall = time.perf_counter() - start
                left = [n for n in os.listdir(out) if n.startswith(".partial") or n.endswith(".jpg")] \
                    if os.path.isdir(out) else []
                shutil.rmtree(out, ignore_errors=True)
            report = json.loads(stdout) if stdout.strip() else {}
            peak_mb = sum(peaks.values()) / 1000
            problems = []
            if peak_mb >= bound:
                problems.append("over the bound")
            if report.get("failed", 0) != ENDLESS:
                problems.append("not every image failed")
            if left:
                problems.append(f"files left: {left[:3]}")
            if label == "after":
                ok = ok and not problems
            what = f"{name} {' '.join(extra)}".strip()
            print(f"{label:<8}{what:<40}{peak_mb:>12.0f}{bound:>7}{wall:>8.1f}{report.get('files', 0):>7}"
                  f"{report.get('failed', 0):>7}  {'; '.join(problems) or 'ok'}", flush=True)
    return ok


def sample_peak_rss(process, peaks):
    """Each process's VmHWM (kB) under `process`, itself included, until it exits."""
    while process.poll() is None:
        tree, index = [process.pid], 0
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = open(f"/proc/{entry}/stat").read()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        while index < len(tree):
            tree += [pid for pid, ppid in parents.items() if ppid == tree[index]]
            index += 1
        for pid in tree:
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM:"):
                        peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]))
            except OSError:
                pass
        time.sleep(0.02)


def scale(args):
    count = args.scale_count
    print(f"== Scale: asyncio_run --concurrency 1000, {count} URLs at 0 latency (64x48 images, tmpfs)")
    out = tempfile.mkdtemp(prefix="bench-scale-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    work = tempfile.mkdtemp(prefix="bench-scale-list-")
    try:
        with Origin(args.bin_dir, count, 0, 0, ["--width", "64", "--height", "48"]) as origin:
            urls = origin.url_file(work, count)
            command = ["/usr/bin/time", "-f", "%M", os.path.join(args.bin_dir, "asyncio_run"), "--urls", urls,
                       "--out", out, "--json", "--concurrency", "1000"]
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            peak_fds = [0]
            sampler = threading.Thread(target=sample_fds, args=(process, peak_fds), daemon=True)
            sampler.start()
            stdout, stderr = process.communicate()
            wall = time.perf_counter() - start
        report = json.loads(stdout) if stdout.strip() else {}
        rss_mb = int(stderr.strip().splitlines()[-1]) / 1024
        saved = report.get("files", 0)
        ok = saved == count and rss_mb < 150
        print(f"saved {saved} of {count} in {wall:.1f} s; peak RSS {rss_mb:.1f} MB (target < 150 MB); "
              f"peak open descriptors {peak_fds[0]}; {'ok' if ok else 'NOT MET'}")
        return ok
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def sample_fds(process, peak):
    """The most descriptors asyncio_run (the child of /usr/bin/time) had open."""
    while process.poll() is None:
        try:
            children = open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()
            for pid in children:
                peak[0] = max(peak[0], len(os.listdir(f"/proc/{pid}/fd")))
        except OSError:
            pass
        time.sleep(0.05)


if __name__ == "__main__":
    main()
