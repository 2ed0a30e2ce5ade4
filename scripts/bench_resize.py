#!/usr/bin/env python3
"""Times resize_serial and resize_parallel against Pillow on one folder of photos.

Called by scripts/bench_resize.sh (which builds the release binaries first).
The photos are copied into a temporary folder until there are at least
--images of them, so each timed run is long enough to measure; every tool
then makes thumbnails of that same folder, --repeats times, alternating, and
the median of each is reported with its ratio to Pillow. Rust timings are of
the whole process (start-up, file reads, thumbnail writes); Pillow's are of
the loop in this process, also with file reads and writes (`thumbnail()`),
or with file reads only (decode at the same DCT scale via `draft`).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOX = (128, 128)
QUALITY = 85
REDUCING_GAP = 2.0  # Pillow's default for thumbnail(); our ANTIALIAS_HEADROOM


def replicate(photos: Path, folder: Path, at_least: int) -> list:
    sources = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file())
    if not sources:
        sys.exit(f"no JPEG photos in {photos}")
    copies = -(-at_least // len(sources))
    files = []
    for copy in range(copies):
        for source in sources:
            target = folder / f"{source.stem}-{copy:03d}{source.suffix.lower()}"
            shutil.copyfile(source, target)
            files.append(target)
    return files


def children_cpu() -> tuple:
    """(user, system) CPU seconds of finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def own_cpu() -> tuple:
    """(user, system) CPU seconds of this process (the Pillow runs)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def spent(before: tuple, after: tuple) -> tuple:
    return after[0] - before[0], after[1] - before[1]


def run_rust(binary: Path, inputs: Path, outputs: Path, extra: list) -> tuple:
    """Runs one binary; returns (wall seconds, CPU seconds, its JSON report)."""
    outputs.mkdir()
    command = [str(binary), "--input", str(inputs), "--output", str(outputs), "--json", *extra]
    cpu = children_cpu()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    cpu = spent(cpu, children_cpu())
    if result.returncode != 0:
        sys.exit(f"{binary.name} failed ({result.returncode}): {result.stderr.strip()}")
    report = json.loads(result.stdout)
    return seconds, cpu, report


def preserved_size(width: int, height: int) -> tuple:
    """Pillow's thumbnail() target size (fit in BOX, keep aspect)."""
    x, y = BOX
    if x >= width and y >= height:
        return width, height
    aspect = width / height

    def round_aspect(number, key):
        return max(min(int(number // 1), -int(-number // 1), key=key), 1)

    if x / y >= aspect:
        x = round_aspect(y * aspect, key=lambda n: abs(aspect - n / y))
    else:
        y = round_aspect(x / aspect, key=lambda n: 0 if n == 0 else abs(aspect - x / n))
    return x, y


def pillow_thumbnail(files: list, outputs: Path) -> tuple:
    """Pillow's thumbnail() and save, one file after another; (wall, CPU) seconds."""
    from PIL import Image

    cpu = own_cpu()
    started = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            image.thumbnail(BOX)
            image.save(outputs / f"{path.stem}_thumbnail.jpg", quality=QUALITY)
    return time.perf_counter() - started, spent(cpu, own_cpu())


def pillow_decode(files: list) -> tuple:
    """Decode only, at the DCT scale thumbnail() would pick; (wall, CPU, scales)."""
    from PIL import Image

    scales = set()
    cpu = own_cpu()
    started = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            full = image.size
            x, y = preserved_size(*full)
            image.draft(None, (int(x * REDUCING_GAP), int(y * REDUCING_GAP)))
            image.load()
            scales.add(round(full[0] / image.size[0]))
    return time.perf_counter() - started, spent(cpu, own_cpu()), scales


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--bin-dir", type=Path, required=True)
    parser.add_argument("--images", type=int, default=340)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    try:
        import PIL

        pillow = PIL.__version__
    except ImportError:
        pillow = None

    with tempfile.TemporaryDirectory(prefix="bench_resize-") as temp:
        temp = Path(temp)
        inputs = temp / "in"
        inputs.mkdir()
        # Every run writes into a new, empty folder, and nothing is deleted
        # until the end: ext4 makes creating files slow for about a minute
        # after many were deleted (it skips recently freed inodes), which
        # would time the benchmark's clean-up rather than the tools.
        runs = iter(range(1_000_000))

        def fresh_folder() -> Path:
            return temp / f"out-{next(runs)}"
        files = replicate(args.photos, inputs, args.images)
        count = len(files)
        times = {"resize_serial": [], "resize_parallel": []}
        if pillow:
            times["pillow_thumbnail"] = []
            times["pillow_decode"] = []
        cpu_times = {name: [] for name in times}
        threads = None
        scales = set()
        # Warm the page cache and the binaries once, untimed.
        run_rust(args.bin_dir / "resize_serial", inputs, fresh_folder(), [])
        for _ in range(args.repeats):
            for name in ("resize_serial", "resize_parallel"):
                seconds, cpu, report = run_rust(args.bin_dir / name, inputs, fresh_folder(), [])
                times[name].append(seconds)
                cpu_times[name].append(cpu)
                threads = report["threads"] if name == "resize_parallel" else threads
            if pillow:
                pillow_out = fresh_folder()
                pillow_out.mkdir()
                seconds, cpu = pillow_thumbnail(files, pillow_out)
                times["pillow_thumbnail"].append(seconds)
                cpu_times["pillow_thumbnail"].append(cpu)
                seconds, cpu, scales = pillow_decode(files)
                times["pillow_decode"].append(seconds)
                cpu_times["pillow_decode"].append(cpu)

    medians = {name: statistics.median(values) for name, values in times.items()}
    user = {name: statistics.median(u for u, _ in values) for name, values in cpu_times.items()}
    system = {name: statistics.median(k for _, k in values) for name, values in cpu_times.items()}
    cpu = {name: user[name] + system[name] for name in cpu_times}
    print(f"{count} copies of the JPEGs in {args.photos}, {args.repeats} runs each, medians; "
          f"{os.cpu_count()} cores; Pillow {pillow or 'not installed'}; load average {os.getloadavg()[0]:.2f}")
    if scales:
        print(f"DCT scale Pillow's draft picked: 1/{', 1/'.join(str(s) for s in sorted(scales))}")
    print(f"{'':36} {'ms/image':>9} {'images/s':>9} {'user ms':>8} {'sys ms':>7}")
    labels = {
        "resize_serial": "resize_serial (1 thread)",
        "resize_parallel": f"resize_parallel ({threads} threads)",
        "pillow_thumbnail": "Pillow thumbnail() + save (1 core)",
        "pillow_decode": "Pillow decode only, draft (1 core)",
    }
    per_image = 1000 / count
    for name, seconds in medians.items():
        print(f"{labels[name]:36} {seconds * per_image:9.3f} {count / seconds:9.0f} "
              f"{user[name] * per_image:8.3f} {system[name] * per_image:7.3f}")
    serial, parallel = medians["resize_serial"], medians["resize_parallel"]
    print(f"resize_parallel speed-up over resize_serial (wall): {serial / parallel:.2f}x (target >= 1.8x)")
    if pillow:
        decode, pillow_thumb = medians["pillow_decode"], medians["pillow_thumbnail"]
        print(f"resize_serial / Pillow decode-only: {serial / decode:.2f}x the time "
              f"(user CPU {user['resize_serial'] / user['pillow_decode']:.2f}x) (target <= 1.0x)")
        print(f"Pillow thumbnail() / resize_serial: {pillow_thumb / serial:.2f}x faster "
              f"(user CPU {user['pillow_thumbnail'] / user['resize_serial']:.2f}x) (target >= 1.5x)")
    print(json.dumps({"images": count, "ms_per_image": {k: round(v * 1000 / count, 3) for k, v in medians.items()}}))

if __name__ == "__main__":
    main()
