#!/usr/bin/env python3
"""The kernel's share of writing thumbnails: system CPU time per file for
each way of creating a file atomically, on each file system given.

    python3 scripts/bench_atomic_write.py [--files 1000] [--repeat 5] [--bytes 4500] DIR [DIR ...]
    python3 scripts/bench_atomic_write.py /work/tmp /dev/shm      # ext4 and tmpfs on this project's VMs

Every way writes --files files of --bytes bytes (a 128-px JPEG thumbnail is
about 4.5 KB) into a new, empty folder of DIR; the ways take turns, --repeat
rounds, and the median system time per file (getrusage, this process: the
syscalls themselves, not Python) and wall time per file are printed, with
each way's ratio to the plain, non-atomic write. The ways:

- plain: open(O_CREAT|O_TRUNC) + write, NOT atomic (a reader or a crash can
  see a partial file): the floor;
- unnamed: open(folder, O_TMPFILE) + write + linkat(/proc/self/fd/N): what
  common/src/sink/unnamed.rs does;
- unnamed+fstat: the same with an fstat of the file (as std's `fs::write`
  paths and some libraries do to size their buffer);
- rename: a hidden temporary name (O_CREAT|O_EXCL) + write + rename: the
  fallback of common/src/sink/local.rs;
- unnamed+fsync, rename+fsync: fsync of each file before it gets its name
  (durable after a power cut, not needed for "no partial file");
- rename+fsync+dirsync: also fsync the folder after each rename (fully
  durable).

None but `plain` ever shows a partial file under the final name. The file
system of each DIR is named from /proc/mounts.
"""

import argparse
import ctypes
import os
import shutil
import statistics
import time
import resource
from pathlib import Path


LIBC = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_SYMLINK_FOLLOW = -100, 0x400


def link_unnamed(fd, path):
    """linkat(/proc/self/fd/N, path, AT_SYMLINK_FOLLOW), as unnamed.rs does
    (Python's os.link calls link(2), which would not follow the symlink)."""
    if LIBC.linkat(AT_FDCWD, f"/proc/self/fd/{fd}".encode(), AT_FDCWD, path.encode(), AT_SYMLINK_FOLLOW) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), path)


def plain(folder, name, data):
    fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    os.write(fd, data)
    os.close(fd)


def unnamed(folder, name, data, fstat=False, fsync=False):
    fd = os.open(folder, os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o600)
    if fstat:
        os.fstat(fd)
    os.write(fd, data)
    if fsync:
        os.fsync(fd)
    link_unnamed(fd, os.path.join(folder, name))
    os.close(fd)


def renamed(folder, name, data, fsync=False, dirsync=False):
    temp = os.path.join(folder, f".partial-{name}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.write(fd, data)
    if fsync:
        os.fsync(fd)
    os.close(fd)
    os.rename(temp, os.path.join(folder, name))
    if dirsync:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dir_fd)
        os.close(dir_fd)


WAYS = {
    "plain (not atomic)": plain,
    "unnamed (O_TMPFILE + linkat)": unnamed,
    "unnamed + fstat": lambda f, n, d: unnamed(f, n, d, fstat=True),
    "rename (temp name + rename)": renamed,
    "unnamed + fsync": lambda f, n, d: unnamed(f, n, d, fsync=True),
    "rename + fsync": lambda f, n, d: renamed(f, n, d, fsync=True),
    "rename + fsync + dir fsync": lambda f, n, d: renamed(f, n, d, fsync=True, dirsync=True),
}


def file_system(path):
    """The type of the file system holding `path`, from /proc/mounts."""
    best, kind = "", "?"
    real = os.path.realpath(path)
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, fs_type, *_ = line.split()
            if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best, kind = point, fs_type
    return kind


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bytes", type=int, default=4500)
    args = parser.parse_args()
    data = os.urandom(args.bytes)
    for base in args.dirs:
        work = base / f"bench_atomic_write-{os.getpid()}"
        work.mkdir(parents=True)
        system, wall = {way: [] for way in WAYS}, {way: [] for way in WAYS}
        try:
            for round_number in range(args.repeat):
                for way, write in WAYS.items():
                    folder = work / f"{round_number}-{len(system[way])}-{list(WAYS).index(way)}"
                    folder.mkdir()
                    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
                    started = time.perf_counter()
                    for number in range(args.files):
                        write(str(folder), f"{number:06d}_thumbnail.jpg", data)
                    wall[way].append((time.perf_counter() - started) / args.files)
                    system[way].append((resource.getrusage(resource.RUSAGE_SELF).ru_stime - before) / args.files)
        finally:
            # Deleted at the end only: ext4 creates files slower for a while
            # after many were deleted, which would time the clean-up.
            shutil.rmtree(work, ignore_errors=True)
        floor = statistics.median(system["plain (not atomic)"])
        print(f"== {base} ({file_system(base)}): {args.files} files of {args.bytes} bytes, "
              f"medians of {args.repeat} interleaved rounds; load average {os.getloadavg()[0]:.2f}")
        print(f"{'way':<30}{'sys us/file':>12}{'x plain':>9}{'wall us/file':>14}")
        for way in WAYS:
            sys_us = statistics.median(system[way]) * 1e6
            print(f"{way:<30}{sys_us:>12.1f}{sys_us / (floor * 1e6):>9.2f}{statistics.median(wall[way]) * 1e6:>14.1f}")
        print()


if __name__ == "__main__":
    main()
