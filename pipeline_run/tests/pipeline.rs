//! `pipeline_run` against a real origin on 127.0.0.1, started in-process:
//! every mode stores the same objects byte for byte, from URLs and from a
//! folder; a re-run skips what is complete; failures are listed and bad
//! crops refused; the trace has each image's events in order; SIGTERM stops
//! every mode cleanly.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use origin::{OriginConfig, RunningOrigin};
use serde_json::Value;
use support::{pipeline, report};

/// Every mode, with the flags that make it use more than one of anything.
const MODES: [(&str, &[&str]); 4] = [
    ("serial", &[]),
    ("threads", &["--concurrency", "3", "--uploads", "4"]),
    ("processes", &["--concurrency", "2", "--uploads", "3"]),
    ("async", &["--concurrency", "4", "--uploads", "5"]),
];

/// Images served; small, so a debug build decodes them quickly.
const IMAGES: usize = 8;

/// Run records, which differ in order between modes: not objects.
const RECORDS: [&str; 3] = ["complete.jsonl", "failures.jsonl", "_records"];

/// An origin of `count` small photos with a little latency.
fn start_origin(count: usize) -> RunningOrigin {
    origin::start(OriginConfig {
        count,
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(5),
        width: 240,
        height: 160,
        ..OriginConfig::default()
    })
    .unwrap()
}

/// Writes `urls.txt` in `dir` listing `urls`.
fn url_list(dir: &Path, urls: &[String]) -> PathBuf {
    let path = dir.join("urls.txt");
    std::fs::write(&path, urls.join("\n")).unwrap();
    path
}

/// Every object under `store` (keys with `/` for subfolders), with its bytes.
fn objects(store: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(store).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if RECORDS.contains(&name.as_str()) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            for inner in std::fs::read_dir(entry.path()).unwrap() {
                let inner = inner.unwrap();
                let key = format!("{name}/{}", inner.file_name().to_string_lossy());
                found.insert(key, std::fs::read(inner.path()).unwrap());
            }
        } else {
            found.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    found
}

/// The crops file of the tests: two crops inside, one clipped at the edge
/// of a 240x160 image, and one wholly outside it (empty: skipped, counted).
const CROPS_CSV: &str = "x,y,w,h\n0,0,100,80\n50,40,120,90\n200,120,100,100\n500,500,10,10\n";

/// Every mode stores the same objects with the same bytes, for a thumbnail
/// with crops from a CSV and for a filling thumbnail with grid crops; the
/// keys are the ones promised, and the crops have the clipped sizes.
#[test]
fn every_mode_stores_the_same_objects() {
    let origin = start_origin(IMAGES);
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    url_list(dir.path(), &urls);
    std::fs::write(dir.path().join("crops.csv"), CROPS_CSV).unwrap();
    let transforms: [(&str, &[&str], usize, usize); 2] = [
        ("csv", &["--thumbnail", "64x64", "--crops", "crops.csv"], 1 + 3, 1),
        ("grid", &["--thumbnail", "50x50", "--crop", "--crops-grid", "5"], 1 + 5, 0),
    ];
    for (label, flags, per_image, empty_per_image) in transforms {
        let mut baseline: Option<BTreeMap<String, Vec<u8>>> = None;
        for (mode, extra) in MODES {
            let store = format!("store-{label}-{mode}");
            let mut args = vec!["--urls", "urls.txt", "--json", "--mode", mode, "--store", &store];
            args.extend(flags);
            args.extend(extra);
            let json = report(&pipeline(dir.path(), &args), 0, &format!("{label} {mode}"));
            assert_eq!(json["files"], IMAGES, "{label} {mode}: {json}");
            assert_eq!(json["objects_stored"], IMAGES * per_image, "{label} {mode}: {json}");
            assert_eq!(json["empty_crops"], IMAGES * empty_per_image, "{label} {mode}: {json}");
            let stored = objects(&dir.path().join(&store));
            assert_eq!(stored.len(), IMAGES * per_image, "{label} {mode}: {:?}", stored.keys());
            match &baseline {
                None => baseline = Some(stored),
                Some(first) => {
                    assert_eq!(stored.keys().collect::<Vec<_>>(), first.keys().collect::<Vec<_>>(), "{label} {mode}");
                    assert!(stored == *first, "{label} {mode}: same keys, different bytes");
                }
            }
        }
        let first = baseline.unwrap();
        let thumbnails = first.keys().filter(|key| key.ends_with("_thumbnail.jpg")).count();
        assert_eq!(thumbnails, IMAGES, "{label}");
        // The CSV's third crop is clipped to 40x40; the grid of 5 over
        // 240x160 is 3 cells of 80x80 above 2 of 120x80.
        let (nth, expected) = if label == "csv" { ("002", (40, 40)) } else { ("003", (120, 80)) };
        let (key, bytes) = first.iter().find(|(key, _)| key.ends_with(&format!("/crop-{nth}.jpg"))).unwrap();
        let size = image::load_from_memory(bytes).unwrap();
        assert_eq!((size.width(), size.height()), expected, "{label}: {key}");
        if label == "csv" {
            assert!(!first.keys().any(|key| key.ends_with("/crop-003.jpg")), "the empty crop was not made");
        }
    }
}

/// `--input DIR`: images on disk, named after their files, with crops a
/// CSV names for one image; serial and async agree.
#[test]
fn images_from_a_folder() {
    let origin = start_origin(3);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    std::fs::create_dir(&input).unwrap();
    for (id, name) in ["beach.jpg", "city.jpg", "notes.txt"].iter().enumerate() {
        let bytes = ureq::get(&origin.image_url(id)).call().unwrap().body_mut().read_to_vec().unwrap();
        std::fs::write(input.join(name), bytes).unwrap();
    }
    std::fs::write(dir.path().join("crops.csv"), "image,x,y,w,h\ncity,10,10,30,20\n").unwrap();
    let mut stores = Vec::new();
    for mode in ["serial", "async"] {
        let store = format!("store-{mode}");
        let args = ["--input", "photos", "--crops", "crops.csv", "--thumbnail", "32", "--json", "--mode", mode];
        let json = report(&pipeline(dir.path(), &[&args[..], &["--store", &store]].concat()), 0, mode);
        assert_eq!((json["files"].as_u64(), json["objects_stored"].as_u64()), (Some(2), Some(3)), "{mode}: {json}");
        stores.push(objects(&dir.path().join(store)));
    }
    let keys: Vec<&String> = stores[0].keys().collect();
    assert_eq!(keys, ["beach_thumbnail.jpg", "city/crop-000.jpg", "city_thumbnail.jpg"]);
    assert!(stores[0] == stores[1], "serial and async differ");
}

/// A re-run skips every image whose objects are all stored, with no
/// request; other outputs, or `--force`, make them again.
#[test]
fn a_rerun_skips_complete_images() {
    let origin = start_origin(IMAGES);
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    url_list(dir.path(), &urls);
    let run = |extra: &[&str]| {
        let args = [&["--urls", "urls.txt", "--json", "--crops-grid", "3", "--store", "out"][..], extra].concat();
        report(&pipeline(dir.path(), &args), 0, &format!("{extra:?}"))
    };
    let first = run(&["--mode", "threads"]);
    assert_eq!(first["files"], IMAGES);
    let served = origin.stats().image_requests;
    let again = run(&["--mode", "async"]);
    assert_eq!((again["files"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(IMAGES as u64)), "{again}");
    assert_eq!(origin.stats().image_requests, served, "a skipped image was requested");
    let forced = run(&["--mode", "serial", "--force"]);
    assert_eq!(forced["files"], IMAGES, "{forced}");
    let other = run(&["--mode", "serial", "--thumbnail", "16x16"]);
    assert_eq!(other["files"], IMAGES, "other outputs are not complete yet: {other}");
}

/// A URL that fails ends in the report and `failures.jsonl` and the run
/// exits 3, in every mode; the other images are stored.
#[test]
fn failures_are_listed_and_exit_3() {
    let origin = start_origin(3);
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("{}/images/999.jpg", origin.base_url());
    let mut urls: Vec<String> = (0..3).map(|id| origin.image_url(id)).collect();
    urls.push(missing.clone());
    url_list(dir.path(), &urls);
    for (mode, extra) in MODES {
        let store = format!("out-{mode}");
        let args = [&["--urls", "urls.txt", "--json", "--retries", "0", "--mode", mode, "--store", &store][..], extra];
        let json = report(&pipeline(dir.path(), &args.concat()), 3, mode);
        assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(3), Some(1)), "{mode}: {json}");
        let failures = std::fs::read_to_string(dir.path().join(&store).join("failures.jsonl")).unwrap();
        let line: Value = serde_json::from_str(failures.trim()).unwrap();
        assert_eq!((line["url"].as_str(), line["status"].as_u64()), (Some(missing.as_str()), Some(404)), "{mode}");
    }
}

/// A bad crops file stops the run before it starts: one line saying which
/// row, exit 2, nothing stored.
#[test]
fn a_bad_crops_file_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crops.csv"), "0,0,10,10\n0,0,ten,10\n").unwrap();
    let output = pipeline(dir.path(), &["--crops", "crops.csv", "--count", "2", "--store", "out"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("crops.csv") && stderr.contains("row 2"), "{stderr}");
    assert!(!dir.path().join("out").exists());
    for (store, says) in [("s3:///x", "no bucket"), ("ftp://host/x", "unknown scheme")] {
        let output = pipeline(dir.path(), &["--store", store, "--count", "1"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{store}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{store}: {stderr}");
    }
}

/// A byte budget that cannot hold one image of `--max-bytes` is a usage
/// error: one line naming both flags, exit 2, nothing stored.
#[test]
fn a_budget_smaller_than_one_image_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--max-inflight-bytes", "1000", "--max-bytes", "2000", "--count", "1", "--store", "out"];
    for mode in ["serial", "processes", "async"] {
        let output = pipeline(dir.path(), &[&flags[..], &["--mode", mode]].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{mode}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--max-inflight-bytes") && stderr.contains("--max-bytes"), "{stderr}");
        assert!(!dir.path().join("out").exists(), "{mode}");
    }
}

/// The trace has every image's events, in order (queued ≤ downloaded ≤
/// transformed ≤ each stored), one `stored` per object, in every mode.
#[test]
fn the_trace_has_each_images_events_in_order() {
    let origin = start_origin(IMAGES);
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    url_list(dir.path(), &urls);
    for (mode, extra) in MODES {
        let trace = format!("trace-{mode}.jsonl");
        let store = format!("out-{mode}");
        let args = ["--urls", "urls.txt", "--json", "--crops-grid", "2", "--mode", mode, "--store", &store];
        let json = report(&pipeline(dir.path(), &[&args[..], &["--trace", &trace], extra].concat()), 0, mode);
        let text = std::fs::read_to_string(dir.path().join(&trace)).unwrap();
        let mut tasks: BTreeMap<u64, Vec<(String, f64, Option<String>)>> = BTreeMap::new();
        for line in text.lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            assert_eq!(event["mode"], mode, "{line}");
            let key = event["key"].as_str().map(String::from);
            let kind = event["event"].as_str().unwrap().to_string();
            tasks.entry(event["task"].as_u64().unwrap()).or_default().push((kind, event["t"].as_f64().unwrap(), key));
        }
        assert_eq!(tasks.len(), IMAGES, "{mode}");
        let mut stored_keys = 0;
        for (task, events) in &tasks {
            let at = |kind: &str| events.iter().filter(|e| e.0 == kind).map(|e| e.1).collect::<Vec<f64>>();
            let (queued, downloaded, transformed, stored) =
                (at("queued"), at("downloaded"), at("transformed"), at("stored"));
            assert_eq!(
                (queued.len(), downloaded.len(), transformed.len()),
                (1, 1, 1),
                "{mode} task {task}: {events:?}"
            );
            // Crops only: no thumbnail unless asked for.
            assert_eq!(stored.len(), 2, "{mode} task {task}: {events:?}");
            assert!(queued[0] <= downloaded[0] && downloaded[0] <= transformed[0], "{mode} task {task}: {events:?}");
            assert!(stored.iter().all(|&t| transformed[0] <= t), "{mode} task {task}: {events:?}");
            stored_keys += events.iter().filter(|e| e.2.is_some()).count();
        }
        assert_eq!(json["objects_stored"].as_u64(), Some(stored_keys as u64), "{mode}");
    }
}

/// SIGTERM mid-run: every mode stops taking images, finishes those under
/// way, reports `"interrupted": true`, exits 130, and leaves no worker.
#[test]
fn sigterm_stops_every_mode() {
    let count = 200;
    let origin = origin::start(OriginConfig {
        count,
        latency: Duration::from_millis(100),
        jitter: Duration::from_millis(50),
        width: 240,
        height: 160,
        ..OriginConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..count).map(|id| origin.image_url(id)).collect();
    url_list(dir.path(), &urls);
    for (mode, extra) in MODES {
        let store = dir.path().join(format!("out-{mode}"));
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
            .args(["--urls", "urls.txt", "--json", "--mode", mode, "--store"])
            .arg(&store)
            .args(extra)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !store.exists() || std::fs::read_dir(&store).unwrap().filter(|e| e.is_ok()).count() < 3 {
            assert!(started.elapsed() < Duration::from_secs(60), "{mode}: nothing stored in 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
        let output = child.wait_with_output().unwrap();
        let json = report(&output, 143, mode); // 128 + SIGTERM
        assert_eq!(json["interrupted"], true, "{mode}: {json}");
        assert!(json["files"].as_u64().unwrap() < count as u64, "{mode}: the stop did not stop it");
        let needle = store.to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes_mentioning(&needle) > 0 {
            assert!(Instant::now() < deadline, "{mode}: a process of the run outlived it");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(needle))
        .count()
}

/// `--mode processes` without `--concurrency` is not the serial loop on a
/// small machine: at least 5 worker processes (`--help` says so), and the
/// trace shows images in several workers' hands at once (one worker would
/// take each image only after the last one's reply).
#[test]
fn processes_default_to_a_pool() {
    let origin = start_origin(IMAGES);
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    url_list(dir.path(), &urls);
    let args = ["--urls", "urls.txt", "--json", "--mode", "processes", "--store", "out", "--trace", "trace.jsonl"];
    let json = report(&pipeline(dir.path(), &args), 0, "processes");
    assert!(json["concurrency"].as_u64().unwrap() >= 5, "{json}");
    assert_eq!(json["files"], IMAGES, "{json}");
    // Each image's span, from being handed out to its last event.
    let mut spans: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap().lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let t = event["t"].as_f64().unwrap();
        let span = spans.entry(event["task"].as_u64().unwrap()).or_insert((t, t));
        *span = (span.0.min(t), span.1.max(t));
    }
    let most_at_once = spans.values().map(|&(start, _)| spans.values().filter(|s| s.0 <= start && start < s.1).count());
    assert!(most_at_once.max().unwrap() >= 2, "one image at a time: {spans:?}");
    let help = pipeline(dir.path(), &["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("processes") && help.contains("at least 5"), "{help}");
}
