#!/usr/bin/env python3
"""Benchmark of pipeline_run's four modes, every ratio against a baseline
measured in the same run. Run by scripts/bench_pipeline.sh, which builds the
release binaries first.

1. Thumbnails at 0 latency: the origin binary serves N images (2000); each
   mode makes 128-px fit thumbnails of all of them into a folder, R times
   (3), interleaved, medians kept. In the same rounds: the two-step way
   (asyncio_run, then resize_parallel on what it saved) and, where Python's
   img2dataset is installed, img2dataset on the same list (`--resize_mode
   keep_ratio_largest --image_size 128 --output_format files`, 2 processes
   x 64 threads). Printed: wall time, images/s, CPU seconds (user + sys,
   children included), peak RSS of the largest process.
1a. Against img2dataset, like for like: async mode with `--output-format
   files` (a thumbnail, a .json and a .txt per sample, shard parquet and
   stats, as img2dataset writes them) and `--output-format webdataset`
   against img2dataset's same `--output_format`, into a folder on tmpfs and
   into one on the disk (ext4 here), R times, interleaved. Printed with
   where async mode's time went (busy seconds per stage, from `--json`).
   Target: async at least 10x faster than img2dataset in each.
1b. Output formats: the same 0-latency run in async mode into loose files,
   WebDataset tar shards and Parquet shards (`--output-format`), and with no
   `--output-format` (loose files, no shard metadata), R times, interleaved.
   Target: webdataset at most 1.1x the `--output-format files` time.
2. Thumbnails at L ms +/- J ms (100 +/- 50), 64 downloads in flight: every
   mode but serial (N x L alone would be minutes; `--with-serial` adds it)
   and the two-step way at the same concurrency. Target: async at most 0.85x
   the two-step time.
3. Crops to S3: 20 images x 50 grid crops uploaded to a SeaweedFS S3 server
   on 127.0.0.1 (installed by scripts/install_test_servers.sh; skipped with a
   loud line when it is missing), every mode, 10 uploads at once; images
   downloaded at 0 latency, then at L ms (the original read them from cloud
   storage), then with images at 0 ms and --s3-delay-ms (30) added to every
   S3 request by scripts/delay_proxy.py in front of the server (a cloud
   store seen from its region). Target: async at least 3x faster than
   serial; every mode stores the same keys. At 0 latency the server itself is the limit: it
   shares the 2 cores, and its PUTs take ~1.3 ms one at a time but ~6 ms
   each ten at a time.
4. Memory: async mode on 100,000 small images (64x48), peak RSS. Target:
   under 150 MB.

Folders are on tmpfs (/dev/shm) unless --on-disk: on this project's VMs'
ext4 every new file costs ~1 ms of kernel time, which would measure the disk.

    scripts/bench_pipeline.sh [--count 2000] [--repeat 3] [--latency-ms 100]
        [--skip-thumbnails] [--skip-formats] [--skip-latency] [--skip-crops] [--skip-memory]
        [--jitter-ms 50] [--skip-latency] [--skip-crops] [--skip-memory]
        [--with-serial] [--on-disk]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench_download import Origin, cpu_model, run_binary, run_command

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ["serial", "threads", "processes", "async"]
THUMBNAIL = "128x128"
# The original benchmark's pools: 10 threads, 10 uploads; 64 downloads in
# flight for the network-bound runs (the img2dataset comparison's threads).
IN_FLIGHT = 64


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--jitter-ms", type=int, default=50)
    parser.add_argument("--crop-images", type=int, default=20)
    parser.add_argument("--crops", type=int, default=50)
    parser.add_argument("--memory-count", type=int, default=100_000)
    parser.add_argument("--s3-delay-ms", type=int, default=30, help="latency added to each S3 request")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-crops", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-thumbnails", action="store_true", help="skip the 0-latency thumbnails and img2dataset")
    parser.add_argument("--skip-formats", action="store_true", help="skip files vs webdataset vs parquet")
    parser.add_argument("--skip-img2dataset", action="store_true", help="skip the like-for-like img2dataset runs")
    parser.add_argument("--with-serial", action="store_true", help="also time serial mode with latency")
    parser.add_argument("--on-disk", action="store_true", help="write to the temp dir, not /dev/shm")
    args = parser.parse_args()

    tmpfs = "/dev/shm"
    on_tmpfs = not args.on_disk and os.path.isdir(tmpfs) and os.access(tmpfs, os.W_OK)
    work = tempfile.mkdtemp(prefix="bench-pipeline-", dir=tmpfs if on_tmpfs else None)
    ok = True
    try:
        print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
              f"median of {args.repeat} runs; files on {'tmpfs' if on_tmpfs else 'disk'}\n")
        if not args.skip_thumbnails:
            ok = thumbnails(args, work, 0, 0, MODES, with_img2dataset=False) and ok
        if not args.skip_img2dataset:
            ok = versus_img2dataset(args, work) and ok
        if not args.skip_formats:
            ok = formats(args, work) and ok
        if not args.skip_latency:
            modes = MODES if args.with_serial else MODES[1:]
            ok = thumbnails(args, work, args.latency_ms, args.jitter_ms, modes, with_img2dataset=False) and ok
        if not args.skip_crops:
            for latency, s3_delay in ((0, 0), (args.latency_ms, 0), (0, args.s3_delay_ms)):
                ok = crops_to_s3(args, work, latency, s3_delay) and ok
        if not args.skip_memory:
            ok = memory(args, work) and ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


def thumbnails(args, work, latency, jitter, modes, with_img2dataset):
    count = args.count
    with Origin(args.bin_dir, count, latency, jitter) as origin:
        urls = origin.url_file(work, count)
        clients = {}
        for mode in modes:
            clients[f"pipeline_run --mode {mode}"] = pipeline_client(args, urls, mode, [])
        clients["asyncio_run + resize_parallel"] = two_step_client(args, urls)
        if with_img2dataset:
            if shutil.which("img2dataset"):
                clients["img2dataset (2 x 64)"] = img2dataset_client(urls, count)
            else:
                print("!! img2dataset not installed (pip install img2dataset): no comparison with it")
        samples = timed_rounds(args.repeat, clients, work)
    print(f"== Thumbnails ({THUMBNAIL} fit): {count} images at {latency} ms +/- {jitter} ms, {IN_FLIGHT} in flight")
    medians = print_table(samples, count)
    async_wall = medians["pipeline_run --mode async"]
    ok = True
    if with_img2dataset and "img2dataset (2 x 64)" in medians:
        ratio = medians["img2dataset (2 x 64)"] / async_wall
        ok = ratio >= 8
        print(f"async vs img2dataset: {ratio:.1f}x faster (target at least 8x: {'met' if ok else 'NOT MET'})")
    if latency:
        ratio = async_wall / medians["asyncio_run + resize_parallel"]
        ok = ratio <= 0.85
        print(f"async vs asyncio_run + resize_parallel: {ratio:.2f}x the time "
              f"(target at most 0.85x: {'met' if ok else 'NOT MET'})")
    print()
    return ok


def versus_img2dataset(args, work):
    """Async mode against img2dataset writing the same output format, on
    tmpfs and on the disk: the kernel's cost per new file is the disk's
    share, and img2dataset pays it three times per sample as we do."""
    if not shutil.which("img2dataset"):
        print("!! img2dataset not installed (pip install img2dataset): no comparison with it\n")
        return True
    count, ok = args.count, True
    places = [("tmpfs", work)]
    disk = tempfile.mkdtemp(prefix="bench-pipeline-disk-")
    places.append((f"disk ({filesystem(disk)})", disk))
    try:
        with Origin(args.bin_dir, count, 0, 0) as origin:
            urls = origin.url_file(work, count)
            for output_format in ("files", "webdataset"):
                for place, folder in places:
                    ours = f"pipeline_run --mode async --output-format {output_format}"
                    theirs = f"img2dataset --output_format {output_format}"
                    clients = {ours: pipeline_client(args, urls, "async", ["--output-format", output_format]),
                               theirs: img2dataset_client(urls, count, output_format)}
                    samples = timed_rounds(args.repeat, clients, folder)
                    print(f"== Versus img2dataset ({THUMBNAIL} fit, {output_format}, on {place}): "
                          f"{count} images at 0 ms")
                    medians = print_table(samples, count)
                    stages = {stage: statistics.median(r["report"]["stage_seconds"][stage] for r in samples[ours])
                              for stage in ("download", "transform", "store")}
                    print("async busy seconds (summed over workers): "
                          + ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in stages.items()))
                    ratio = medians[theirs] / medians[ours]
                    met = ratio >= 10
                    ok = ok and met
                    print(f"async vs img2dataset, {output_format} on {place}: {ratio:.1f}x faster "
                          f"(target at least 10x: {'met' if met else 'NOT MET'})\n")
    finally:
        shutil.rmtree(disk, ignore_errors=True)
    return ok


def filesystem(path):
    """The type of the filesystem holding path, as df names it."""
    out = subprocess.run(["df", "--output=fstype", path], capture_output=True, text=True).stdout.split()
    return out[-1] if out else "unknown"


def formats(args, work):
    """The same run into loose files, WebDataset tar shards and Parquet
    shards: what packing samples into shards (and writing each shard's
    metadata) costs at 0 latency, where it shows most."""
    count = args.count
    with Origin(args.bin_dir, count, 0, 0) as origin:
        urls = origin.url_file(work, count)
        clients = {"async (no --output-format)": pipeline_client(args, urls, "async", [])}
        for output_format in ("files", "webdataset", "parquet"):
            extra = ["--output-format", output_format]
            clients[f"async --output-format {output_format}"] = pipeline_client(args, urls, "async", extra)
        samples = timed_rounds(args.repeat, clients, work)
    print(f"== Output formats ({THUMBNAIL} fit, async mode): {count} images at 0 ms, {IN_FLIGHT} in flight")
    medians = print_table(samples, count)
    files = medians["async --output-format files"]
    ratio = medians["async --output-format webdataset"] / files
    ok = ratio <= 1.1
    print(f"webdataset vs files: {ratio:.2f}x the time (target at most 1.1x: {'met' if ok else 'NOT MET'})")
    print(f"parquet vs files: {medians['async --output-format parquet'] / files:.2f}x the time")
    print(f"files with shard metadata vs without: {files / medians['async (no --output-format)']:.2f}x the time")
    print()
    return ok


def pipeline_client(args, urls, mode, extra):
    def run(out):
        result = run_binary(args.bin_dir, "pipeline_run", ["--urls", urls, "--store", out, "--clean", "--mode", mode,
                                                           "--thumbnail", THUMBNAIL,
                                                           "--concurrency", str(IN_FLIGHT), *extra])
        return result, result["report"].get("files", 0)
    return run


def two_step_client(args, urls):
    """asyncio_run saves the originals, resize_parallel makes the thumbnails:
    the workspace's answer before pipeline_run, timed as one."""
    def run(out):
        originals, thumbs = out + "-originals", out
        download = run_binary(args.bin_dir, "asyncio_run", ["--urls", urls, "--out", originals, "--clean",
                                                            "--concurrency", str(IN_FLIGHT)])
        resize = run_binary(args.bin_dir, "resize_parallel", ["--input", originals, "--output", thumbs,
                                                              "--size", THUMBNAIL, "--clean"])
        shutil.rmtree(originals, ignore_errors=True)
        combined = {key: download[key] + resize[key] for key in ("wall", "cpu")}
        combined["peak_mb"] = max(download["peak_mb"], resize["peak_mb"])
        return combined, resize["report"].get("thumbnails", resize["report"].get("files", 0))
    return run


def img2dataset_client(urls, count, output_format="files"):
    def run(out):
        env_command = ["env", "NO_ALBUMENTATIONS_UPDATE=1", "img2dataset", "--url_list", urls,
                       "--input_format", "txt", "--output_folder", out, "--output_format", output_format,
                       "--resize_mode", "keep_ratio_largest", "--image_size", "128",
                       "--processes_count", "2", "--thread_count", "64"]
        result = run_command(env_command)
        if output_format == "files":
            saved = sum(name.endswith(".jpg") for _, _, names in os.walk(out) for name in names)
        else:
            saved = sum(json.load(open(os.path.join(out, name)))["successes"]
                        for name in os.listdir(out) if name.endswith("_stats.json"))
        return result, saved
    return run


def timed_rounds(repeat, clients, work):
    """Every client once per round, interleaved so drift favours none."""
    samples = {name: [] for name in clients}
    for _ in range(repeat):
        for name, client in clients.items():
            out = os.path.join(work, "out")
            shutil.rmtree(out, ignore_errors=True)
            result, saved = client(out)
            result["saved"] = saved
            samples[name].append(result)
            shutil.rmtree(out, ignore_errors=True)
    return samples


def print_table(samples, count):
    print(f"{'client':<34}{'wall s':>8}{'images/s':>10}{'cpu s':>8}{'peak MB':>9}{'saved':>7}")
    medians = {}
    for name, results in samples.items():
        wall = statistics.median(r["wall"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        peak = statistics.median(r["peak_mb"] for r in results)
        saved = min(r["saved"] for r in results)
        medians[name] = wall
        flag = "" if saved == count else "  (short!)"
        print(f"{name:<34}{wall:>8.2f}{count / wall:>10.0f}{cpu:>8.2f}{peak:>9.1f}{saved:>7}{flag}")
    return medians


def crops_to_s3(args, work, latency, s3_delay):
    count, crops = args.crop_images, args.crops
    with SeaweedS3(args.bin_dir) as s3, DelayProxy(s3, s3_delay):
        if s3.env is None:
            print("!! CROPS TO S3 SKIPPED: SeaweedFS is not installed; run scripts/install_test_servers.sh\n")
            return True
        with Origin(args.bin_dir, count, latency, latency // 2) as origin:
            urls = origin.url_file(work, count)
            walls, keys = {mode: [] for mode in MODES}, {}
            for round_number in range(args.repeat):
                for mode in MODES:
                    trace = os.path.join(work, f"trace-{mode}.jsonl")
                    command = ["env", *[f"{k}={v}" for k, v in s3.env.items()],
                               os.path.join(args.bin_dir, "pipeline_run"), "--json", "--urls", urls,
                               "--store", f"{s3.url}l{latency}-d{s3_delay}-r{round_number}-{mode}", "--records",
                               os.path.join(work, f"records-{latency}-{s3_delay}-{round_number}-{mode}"),
                               "--mode", mode,
                               "--crops-grid", str(crops), "--uploads", "10", "--trace", trace]
                    result = run_command(command)
                    walls[mode].append(result["wall"])
                    keys[mode] = stored_keys(trace)
    print(f"== Crops to S3 (SeaweedFS on 127.0.0.1): {count} images x {crops} crops, 10 uploads at once, "
          f"images at {latency} ms +/- {latency // 2} ms, {s3_delay} ms added to each S3 request")
    print(f"{'mode':<12}{'wall s':>8}{'objects':>9}")
    for mode in MODES:
        print(f"{mode:<12}{statistics.median(walls[mode]):>8.2f}{len(keys[mode]):>9}")
    same = all(keys[mode] == keys["serial"] for mode in MODES) and len(keys["serial"]) == count * crops
    ratio = statistics.median(walls["serial"]) / statistics.median(walls["async"])
    # At 0 latency the target is out of reach on 2 cores (see the header):
    # reported, not failed.
    ok = same and (ratio >= 3 or (latency == 0 and s3_delay == 0))
    print(f"every mode stored the same {len(keys['serial'])} keys: {'yes' if same else 'NO'}; "
          f"async {ratio:.1f}x faster than serial (target at least 3x: {'met' if ratio >= 3 else 'NOT MET'})\n")
    return ok


def stored_keys(trace):
    """The keys a run's trace says the store confirmed."""
    with open(trace) as lines:
        events = (json.loads(line) for line in lines if line.strip())
        return {event["key"] for event in events if event["event"] == "stored"}


def memory(args, work):
    count = args.memory_count
    with Origin(args.bin_dir, count, 0, 0, ["--width", "64", "--height", "48"]) as origin:
        urls = origin.url_file(work, count)
        out = os.path.join(work, "memory")
        result = run_binary(args.bin_dir, "pipeline_run", ["--urls", urls, "--store", out, "--clean",
                                                           "--mode", "async", "--thumbnail", "32x32"])
        saved = result["report"].get("files", 0)
        shutil.rmtree(out, ignore_errors=True)
    ok = saved == count and result["peak_mb"] < 150
    print(f"== Memory: pipeline_run --mode async, {count} images (64x48) at 0 latency")
    print(f"saved {saved} of {count} in {result['wall']:.1f} s; peak RSS {result['peak_mb']:.1f} MB "
          f"(target under 150 MB: {'met' if ok else 'NOT MET'})\n")
    return ok


class DelayProxy:
    """scripts/delay_proxy.py in front of the S3 server, adding `delay_ms`
    to every request: `s3.env`'s endpoint is pointed at it. Nothing when
    the delay is 0 or the server is missing."""

    def __init__(self, s3, delay_ms):
        self.s3, self.delay_ms, self.process = s3, delay_ms, None

    def __enter__(self):
        if self.delay_ms and self.s3.env is not None:
            target = self.s3.env["AWS_ENDPOINT"].split("://", 1)[-1].rstrip("/")
            self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "delay_proxy.py"), "--target", target,
                                             "--delay-ms", str(self.delay_ms)], stdout=subprocess.PIPE, text=True)
            self.s3.env["AWS_ENDPOINT"] = self.process.stdout.readline().strip()
        return self

    def __exit__(self, *_):
        if self.process:
            self.process.terminate()
            self.process.wait()


class SeaweedS3:
    """SeaweedFS's S3 gateway on 127.0.0.1, started by the test harness's
    serve_s3 binary (as the tests start it) and stopped by closing its
    standard input. `env` is None when SeaweedFS is not installed."""

    def __init__(self, bin_dir):
        self.command = [os.path.join(bin_dir, "serve_s3")]
        self.env, self.url = None, None

    def __enter__(self):
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        env = {}
        for line in self.process.stdout:
            line = line.strip()
            if line == "READY":
                self.env = env
                break
            name, _, value = line.partition("=")
            if name == "URL":
                self.url = value
            else:
                env[name] = value
        return self

    def __exit__(self, *_):
        self.process.stdin.close()
        self.process.wait()


if __name__ == "__main__":
    main()
