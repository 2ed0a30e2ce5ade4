//! How every download binary stops: on SIGTERM (what a cluster sends before
//! it kills a task) and on a full disk. Each must stop taking new work,
//! drop the images under way (a full disk: let them end), leave no partial
//! file and no worker process, and say what happened (summary, `--json`,
//! exit status). The stop against hostile hosts, timed, is in `hostile.rs`.
//!
//! The binaries are built for the test (`support::binary`).

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use origin::OriginConfig;
use support::{binary, download_binaries, report};

/// Images listed: far more than any binary finishes before the signal.
const IMAGES: usize = 200;

/// The names of the files in `dir`.
fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// Processes whose command line mentions `needle` (e.g. a run's own output
/// folder): how a worker left behind would show.
fn processes_mentioning(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(needle))
        .count()
}

/// SIGTERM mid-run: every binary stops taking new images, drops the ones
/// under way, prints its summary and `"interrupted": true`, exits 143
/// (128 plus SIGTERM's 15), and leaves whole images only (as many as it
/// reports) and no worker process.
#[test]
fn sigterm_stops_every_binary_cleanly() {
    let origin = origin::start(OriginConfig {
        count: IMAGES,
        latency: Duration::from_millis(150),
        jitter: Duration::from_millis(50),
        width: 240,
        height: 160,
        ..OriginConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();
    for (index, (name, extra)) in download_binaries(4, 3, 8).into_iter().enumerate() {
        let out = dir.path().join(format!("out-{index}-{name}"));
        let child = Command::new(binary(name))
            .args(["--urls", "urls.txt", "--json", "--out"])
            .arg(&out)
            .args(&extra)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the first images, then ask the run to stop.
        let started = Instant::now();
        while names(&out).iter().filter(|n| n.ends_with(".jpg")).count() < 2 {
            assert!(started.elapsed() < Duration::from_secs(60), "{name}: no image saved in 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let output = child.wait_with_output().unwrap();
        let json = report(&output, 143, &format!("{name} {extra:?}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(json["interrupted"], true, "{name}: {json}");
        let saved = json["files"].as_u64().unwrap() as usize;
        assert!(saved < IMAGES, "{name}: the stop did not stop it ({saved} saved)");
        let files = names(&out);
        assert!(files.iter().all(|n| !n.starts_with(".partial")), "{name}: partial file left: {files:?}");
        assert_eq!(files.iter().filter(|n| n.ends_with(".jpg")).count(), saved, "{name}: {files:?}");
        for file in files.iter().filter(|n| n.ends_with(".jpg")) {
            assert!(image::open(out.join(file)).is_ok(), "{name}: {file} is not a whole image");
        }
        assert!(stderr.contains("interrupted"), "{name}: {stderr}");
        // Workers end with their parent (give the reaper a moment).
        let needle = out.to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes_mentioning(&needle) > 0 {
            assert!(Instant::now() < deadline, "{name}: a process of the run outlived it");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A full disk: every binary stops at the first write that finds no space,
/// with one line saying so, instead of failing every remaining image; what
/// it saved is whole, and no partial file is left.
#[test]
fn full_disk_stops_every_binary_at_once() {
    let Some(disk) = test_servers::SmallDisk::mount("400k") else {
        return;
    };
    let origin = origin::start(OriginConfig {
        count: IMAGES,
        latency: Duration::from_millis(5),
        jitter: Duration::ZERO,
        ..OriginConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();
    for (index, (name, extra)) in download_binaries(4, 3, 8).into_iter().enumerate() {
        let out = disk.path().join(format!("out-{index}"));
        let output = Command::new(binary(name))
            .args(["--urls", "urls.txt", "--json", "--out"])
            .arg(&out)
            .args(&extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let json = report(&output, 3, &format!("{name} {extra:?}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(json["stopped"].as_str().is_some_and(|why| why.contains("disk is full")), "{name}: {json}");
        assert_eq!(json["interrupted"], false, "{name}: {json}");
        // Only the images already handed out when the disk filled fail (at
        // most 8 in flight plus, for async, the 8 waiting in the listing's
        // channel and the one its task is handing over); the other 180-odd
        // are never attempted.
        let failed = json["failed"].as_u64().unwrap();
        assert!((1..=17).contains(&failed), "{name}: {failed} failures: {json}");
        assert_eq!(stderr.matches("disk is full").count(), 1, "{name}: one line, not one per image: {stderr}");
        let files = names(&out);
        assert!(files.iter().all(|n| !n.starts_with(".partial")), "{name}: partial file left: {files:?}");
        for file in files.iter().filter(|n| n.ends_with(".jpg")) {
            assert!(image::open(out.join(file)).is_ok(), "{name}: {file} is not a whole image");
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}
