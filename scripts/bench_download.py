#!/usr/bin/env python3
"""Benchmark of the download methodologies, every number measured in one run.

1. Latency: the origin binary serves N images (200) at L ms +/- J ms
   (100 +/- 50). Each download binary runs R times (3), interleaved so drift
   favours none; the median is kept. Printed: time, speedup over normal_run
   (the baseline, measured in the same run), and the distance from the
   latency floor, max(images x mean latency / concurrency, slowest request).
2. Throughput at 0 latency: 2000 images, 64 at once: asyncio_run next to
   `curl --parallel --parallel-max 64` (if curl is installed) and the
   original Python aiohttp version (if aiohttp is installed), on the same
   URLs, with wall time, images/s, CPU time (user + sys) and peak memory.
3. Memory: asyncio_run's peak RSS for 10,000 images at 0 latency.

CPU time and peak memory come from os.wait4 on each child (its own usage
and that of the processes it waited for: multiprocessing_run's workers).

Every client writes into /dev/shm (tmpfs) when there is one, so the numbers
compare download methodologies rather than the disk: on our VMs' ext4
(mounted with `discard`) creating a new 100 KB file costs ~0.65 ms of kernel
time whatever the client, which alone would add ~70 ms of CPU to a 200-image
async run on 2 cores. `--on-disk` measures on the disk instead.

    scripts/bench_download.sh [--repeat 3] [--count 200] [--latency-ms 100]
                              [--jitter-ms 50] [--skip-throughput]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", required=True, help="folder of the release binaries")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--jitter-ms", type=int, default=50)
    parser.add_argument("--throughput-count", type=int, default=2000)
    parser.add_argument("--throughput-concurrency", type=int, default=64)
    parser.add_argument("--memory-count", type=int, default=10000)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--on-disk", action="store_true", help="write images to the temp dir, not /dev/shm")
    args = parser.parse_args()

    tmpfs = "/dev/shm"
    on_tmpfs = not args.on_disk and os.path.isdir(tmpfs) and os.access(tmpfs, os.W_OK)
    work = tempfile.mkdtemp(prefix="bench-download-", dir=tmpfs if on_tmpfs else None)
    try:
        print(f"machine: {cpu_model()}, {os.cpu_count()} cores; median of {args.repeat} runs; "
              f"images written to {'tmpfs' if on_tmpfs else 'disk'} ({work})\n")
        latency_benchmark(args, work)
        if not args.skip_throughput:
            throughput_benchmark(args, work)
            memory_benchmark(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def latency_benchmark(args, work):
    runs = [
        ("normal_run", 1, []),
        ("multithreading_run", 10, []),
        ("multiprocessing_run", 5, []),
        ("asyncio_run", 200, []),
        ("asyncio_run", 200, ["--runtime", "async-std"]),
    ]
    mean = args.latency_ms / 1000
    slowest = (args.latency_ms + args.jitter_ms) / 1000
    with Origin(args.bin_dir, args.count, args.latency_ms, args.jitter_ms) as origin:
        urls = origin.url_file(work, args.count)
        times = {label(run): [] for run in runs}
        for _ in range(args.repeat):
            for run in runs:
                name, concurrency, extra = run
                out = os.path.join(work, "images")
                result = run_binary(args.bin_dir, name, ["--urls", urls, "--out", out, "--clean",
                                                         "--concurrency", str(concurrency)] + extra)
                check_complete(label(run), result, args.count)
                times[label(run)].append(result["report"]["seconds"])
    print(f"== Latency: {args.count} images, origin at {args.latency_ms} ms +/- {args.jitter_ms} ms")
    print(f"{'binary':<34}{'conc':>6}{'time s':>9}{'speedup':>9}{'floor s':>9}{'vs floor':>10}")
    baseline = statistics.median(times["normal_run"])
    for run in runs:
        name, concurrency, _ = run
        median = statistics.median(times[label(run)])
        floor = max(args.count * mean / concurrency, slowest)
        print(f"{label(run):<34}{concurrency:>6}{median:>9.2f}{baseline / median:>8.1f}x"
              f"{floor:>9.2f}{(median / floor - 1) * 100:>+9.1f}%")
    print()


def throughput_benchmark(args, work):
    count, concurrency = args.throughput_count, args.throughput_concurrency
    with Origin(args.bin_dir, count, 0, 0) as origin:
        urls = origin.url_file(work, count)
        clients = {"asyncio_run (tokio)": lambda out: run_binary(
            args.bin_dir, "asyncio_run", ["--urls", urls, "--out", out, "--clean", "--concurrency", str(concurrency)])}
        if shutil.which("curl"):
            clients[f"curl --parallel-max {concurrency}"] = lambda out: run_curl(urls, out, concurrency)
        else:
            print("(curl not installed: no curl comparison)")
        if has_aiohttp():
            clients["python aiohttp (original)"] = lambda out: run_command(
                [sys.executable, os.path.join(HERE, "python", "aiohttp_download.py"), urls, out, str(concurrency)])
        else:
            print("(aiohttp not installed: pip install aiohttp for the Python comparison)")
        samples = {name: [] for name in clients}
        for _ in range(args.repeat):
            for name, client in clients.items():
                out = os.path.join(work, "throughput")
                shutil.rmtree(out, ignore_errors=True)
                result = client(out)
                if name.startswith("asyncio_run"):
                    check_complete(name, result, count)
                elif len(os.listdir(out)) != count:
                    sys.exit(f"{name} saved {len(os.listdir(out))} of {count} files")
                samples[name].append(result)
    print(f"== Throughput at 0 latency: {count} images, {concurrency} at once")
    print(f"{'client':<34}{'time s':>9}{'images/s':>10}{'cpu s':>8}{'peak MB':>9}")
    for name, results in samples.items():
        wall = statistics.median(r["wall"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        peak = statistics.median(r["peak_mb"] for r in results)
        print(f"{name:<34}{wall:>9.2f}{count / wall:>10.0f}{cpu:>8.2f}{peak:>9.1f}")
    print()


def memory_benchmark(args, work):
    count = args.memory_count
    with Origin(args.bin_dir, count, 0, 0) as origin:
        urls = origin.url_file(work, count)
        out = os.path.join(work, "memory")
        result = run_binary(args.bin_dir, "asyncio_run", ["--urls", urls, "--out", out, "--clean"])
        check_complete("asyncio_run", result, count)
    print(f"== Memory: asyncio_run, {count} images at 0 latency, 100 in flight")
    print(f"peak RSS {result['peak_mb']:.1f} MB, {result['wall']:.2f} s\n")


def label(run):
    name, _, extra = run
    return f"{name} {' '.join(extra)}".strip()


class Origin:
    """The origin binary in a process of its own, killed on exit."""

    def __init__(self, bin_dir, count, latency_ms, jitter_ms, extra=()):
        self.command = [os.path.join(bin_dir, "origin"), "--port", "0", "--count", str(count),
                        "--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms), *extra]

    def __enter__(self):
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            sys.exit("the origin did not start")
        return self

    def url_file(self, work, count):
        path = os.path.join(work, f"urls-{count}.txt")
        with urllib.request.urlopen(f"{self.base_url}/urls.txt?count={count}") as response:
            listing = response.read().decode()
        with open(path, "w") as file:
            file.write(listing)
        return path

    def __exit__(self, *_):
        self.process.kill()
        self.process.wait()


def run_command(command):
    """Runs a command; wall time, CPU time (user + sys, with its waited-for
    children) and peak RSS, from wait4 on the child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode not in (0, 3):
        sys.exit(f"{' '.join(command)} failed ({process.returncode}): {stderr.decode(errors='replace')}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
            "stdout": stdout.decode(errors="replace"), "code": process.returncode}


def run_binary(bin_dir, name, flags):
    result = run_command([os.path.join(bin_dir, name), "--json"] + flags)
    result["report"] = json.loads(result["stdout"])
    return result


def run_curl(urls, out, concurrency):
    os.makedirs(out, exist_ok=True)
    config = os.path.join(out, "..", "curl.cfg")
    with open(urls) as source, open(config, "w") as target:
        for index, url in enumerate(line.strip() for line in source if line.strip()):
            target.write(f'url = "{url}"\noutput = "{out}/{index}.jpg"\n')
    return run_command(["curl", "--silent", "--fail", "--parallel", "--parallel-max", str(concurrency),
                        "--config", config])


def check_complete(name, result, count):
    report = result["report"]
    if report["files"] != count:
        sys.exit(f"{name}: saved {report['files']} of {count}: {report['failures'][:3]}")


def has_aiohttp():
    return subprocess.run([sys.executable, "-c", "import aiohttp"], capture_output=True).returncode == 0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
