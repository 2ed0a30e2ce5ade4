//! A destination that fails: the run stops at the first fatal store error
//! with one line naming the cause and the fix, counts as failed every
//! sample it did not store, records nothing as complete that the store
//! does not hold, and a re-run once the store is back completes the job.
//!
//! Against real things: SeaweedFS killed mid-run (`test_servers`), a
//! bucket that does not exist, a tmpfs of a few hundred kilobytes (mounting
//! it needs root; skipped loudly otherwise, failed under
//! `REQUIRE_TEST_SERVERS=1`).
//!
//! Running: `cargo test -p pipeline_run --test store_errors`.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::store::Store;
use origin::{OriginConfig, RunningOrigin};
use serde_json::Value;
use support::{report, start_origin};

/// A URL list of the origin's photos, written into `dir`.
fn url_list(dir: &Path, origin: &RunningOrigin, count: usize) -> PathBuf {
    let path = dir.join("urls.txt");
    let urls: Vec<String> = (0..count).map(|id| origin.image_url(id)).collect();
    std::fs::write(&path, urls.join("\n")).unwrap();
    path
}

/// `pipeline_run --json` on `urls` into `store`, in `dir`, as a command.
fn command(dir: &Path, urls: &Path, store: &str, extra: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipeline_run"));
    command
        .args(["--json", "--urls", urls.to_str().unwrap(), "--store", store])
        .args(extra)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(dir);
    command
}

/// The lines of stderr that say why the run stopped.
fn stop_lines(output: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.lines().filter(|line| line.contains("stopped early")).map(str::to_string).collect()
}

/// The S3 server killed while a run stores into it: the run ends within a
/// few seconds, exit 3, with one line naming the cause; nothing is recorded
/// complete that the bucket does not hold; the same command after the
/// server is back completes the job.
#[test]
fn s3_killed_mid_run_stops_the_run_and_a_rerun_completes() {
    let Some(mut server) = test_servers::s3() else { return };
    const IMAGES: usize = 60;
    let origin = start_origin(IMAGES, Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let urls = url_list(dir.path(), &origin, IMAGES);
    let store = server.url("killed");
    let flags = ["--thumbnail", "64x64", "--mode", "threads", "--concurrency", "2"];
    let env = server.env();
    let reader = Store::open_with_env(&store, env.iter().cloned()).unwrap();

    let mut child = command(dir.path(), &urls, &store, &flags, &env);
    let child = child.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Kill the server once the run has stored something.
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader.list("").map(|keys| keys.is_empty()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the run stored nothing in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();
    let killed = Instant::now();
    let output = child.wait_with_output().unwrap();
    let took = killed.elapsed();
    let json = report(&output, 3, "the S3 server killed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(took < Duration::from_secs(20), "the run went on for {took:?} after the store died: {stderr}");
    let stops = stop_lines(&output);
    assert_eq!(stops.len(), 1, "{stderr}");
    assert!(stops[0].contains("does not answer"), "the cause is not named: {stderr}");
    assert!(json["stopped"].is_string(), "{json}");
    assert!((json["files"].as_u64().unwrap() as usize) < IMAGES, "{json}");
    assert!(origin.stats().image_requests < IMAGES as u64, "every image was downloaded anyway");

    server.restart();
    // Whatever is recorded complete is in the bucket.
    let held: BTreeSet<String> = reader.list("").unwrap().into_iter().map(|(key, _)| key).collect();
    for (key, _) in reader.list("_records").unwrap() {
        let segment = String::from_utf8(reader.get(&key).unwrap().unwrap()).unwrap();
        for line in segment.lines() {
            let image: Value = serde_json::from_str(line).unwrap();
            let object = format!("{}_thumbnail.jpg", image["image"].as_str().unwrap());
            assert!(held.contains(&object), "{object} is recorded complete and is not stored");
        }
    }
    let again = report(&command(dir.path(), &urls, &store, &flags, &env).output().unwrap(), 0, "the re-run");
    assert_eq!(again["failed"].as_u64(), Some(0), "{again}");
    let thumbnails = reader.list("").unwrap().iter().filter(|(key, _)| key.ends_with("_thumbnail.jpg")).count();
    assert_eq!(thumbnails, IMAGES);
}

/// A bucket that does not exist, or a plain-http endpoint without
/// `AWS_ALLOW_HTTP`: one line saying what to fix, exit 2, before any
/// download.
#[test]
fn an_unusable_bucket_is_exit_2_before_any_download() {
    let Some(server) = test_servers::s3() else { return };
    let origin = start_origin(4, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let urls = url_list(dir.path(), &origin, 4);
    // --force reads nothing of the store: the check alone finds it.
    for flags in [&[][..], &["--force"]] {
        let output = command(dir.path(), &urls, "s3://no-such-bucket/x", flags, &server.env()).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("does not exist") && stderr.contains("create the bucket"), "{stderr}");
    }

    let mut env = server.env();
    env.retain(|(name, _)| *name != "AWS_ALLOW_HTTP");
    let output = command(dir.path(), &urls, &server.url("x"), &[], &env).env_remove("AWS_ALLOW_HTTP").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AWS_ALLOW_HTTP"), "{stderr}");
    assert_eq!(origin.stats().image_requests, 0, "an image was downloaded for a store that cannot take it");
}

/// WebDataset shards into a disk that fills up: every sample of a shard
/// that was not stored is counted failed (with the disk's reason), the run
/// says it stopped, no shard is left in part, and once space is freed the
/// same command makes exactly the missing shards.
#[test]
fn a_full_disk_under_webdataset_fails_every_lost_sample() {
    const IMAGES: usize = 60;
    const SHARD: usize = 5;
    let Some(disk) = test_servers::SmallDisk::mount("1m") else { return };
    let origin = start_origin(IMAGES, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let urls = url_list(dir.path(), &origin, IMAGES);
    // Leave about two shards' room.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![7u8; 900 * 1024]).unwrap();
    let store = disk.path().join("shards");
    let store = store.to_str().unwrap();
    let shard_size = SHARD.to_string();
    let flags = ["--output-format", "webdataset", "--shard-size", &shard_size, "--thumbnail", "128x128"];
    let flags = [&flags[..], &["--mode", "threads", "--concurrency", "2"]].concat();

    let output = command(dir.path(), &urls, store, &flags, &[]).output().unwrap();
    let json = report(&output, 3, "the disk full");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(json["stopped"].as_str().is_some_and(|why| why.contains("disk is full")), "{json}");
    assert_eq!(stop_lines(&output).len(), 1, "{stderr}");
    let shards = |folder: &Path| -> BTreeSet<String> {
        std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tar"))
            .collect()
    };
    let stored = shards(Path::new(store));
    assert!(stored.len() < IMAGES / SHARD, "the disk never filled: {stored:?}");
    // No shard in part: a tar has its metadata and stats, and nothing else is there.
    for name in std::fs::read_dir(store).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()) {
        let stem = name.split(['.', '_']).next().unwrap().to_string();
        if name.ends_with(".tar") || name.ends_with(".parquet") || name.ends_with("_stats.json") {
            for part in [".tar", ".parquet", "_stats.json"] {
                assert!(Path::new(store).join(format!("{stem}{part}")).exists(), "{stem}{part} missing beside {name}");
            }
        }
    }
    let (files, failed) = (json["files"].as_u64().unwrap() as usize, json["failed"].as_u64().unwrap() as usize);
    assert_eq!(files, stored.len() * SHARD, "saved must be what the stored shards hold: {json}");
    assert_eq!(files + failed, json["requested"].as_u64().unwrap() as usize, "every sample is saved or failed: {json}");
    assert!(failed >= SHARD, "a lost shard's samples are failed: {json}");
    let reasons: Vec<&str> =
        json["failures"].as_array().unwrap().iter().map(|f| f["reason"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().any(|reason| reason.contains("No space left") || reason.contains("storage full")),
        "{reasons:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    let again = report(&command(dir.path(), &urls, store, &flags, &[]).output().unwrap(), 0, "the re-run");
    assert_eq!(again["skipped"].as_u64(), Some(files as u64), "{again}");
    assert_eq!(again["files"].as_u64(), Some((IMAGES - files) as u64), "{again}");
    assert_eq!(shards(Path::new(store)).len(), IMAGES / SHARD);
}

/// A repair (`--retry-failed` on a WebDataset) into a disk that is full:
/// it stops at the first shard it cannot stage, with one line naming the
/// cause, exit 3, `stopped` set, no sample counted repaired; every shard
/// is as it was, byte for byte, and nothing staged is left. Once space is
/// freed, the same command repairs the dataset.
#[test]
fn a_repair_into_a_full_disk_stops_and_leaves_every_shard_whole() {
    const IMAGES: usize = 20;
    let Some(disk) = test_servers::SmallDisk::mount("1m") else { return };
    // Every image fails its first request (some their second too).
    let mut faults: origin::FaultSpec = "500=100".parse().unwrap();
    faults.seed = 3;
    let config = OriginConfig {
        count: IMAGES,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 240,
        height: 160,
        faults,
        ..OriginConfig::default()
    };
    let origin = origin::start(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls = url_list(dir.path(), &origin, IMAGES);
    let store = disk.path().join("shards");
    let store = store.to_str().unwrap();
    let flags = ["--output-format", "webdataset", "--shard-size", "5", "--thumbnail", "128x128"];
    let first = report(
        &command(dir.path(), &urls, store, &[&flags[..], &["--retries", "0"]].concat(), &[]).output().unwrap(),
        3,
        "the first run",
    );
    assert_eq!(first["failed"].as_u64(), Some(IMAGES as u64), "{first}");
    let files = |folder: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = files(Path::new(store));

    // Fill the disk to the last block.
    let filler = disk.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    while std::io::Write::write_all(&mut file, &[7u8; 4096]).is_ok() {}
    drop(file);
    let repair = |retries: &str| {
        let mut repair = Command::new(env!("CARGO_BIN_EXE_pipeline_run"));
        repair.args(["--json", "--retry-failed", "--store", store, "--retries", retries]).args(flags);
        repair.current_dir(dir.path()).output().unwrap()
    };
    let output = repair("0");
    let json = report(&output, 3, "the repair into a full disk");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(json["stopped"].as_str().is_some_and(|why| why.contains("disk is full")), "{json}");
    assert_eq!(stop_lines(&output).len(), 1, "{stderr}");
    assert_eq!(json["dataset"]["repair"]["repaired"].as_u64(), Some(0), "{json}");
    assert_eq!(json["files"].as_u64(), Some(0), "a sample not stored was counted saved: {json}");
    let after = files(Path::new(store));
    let names = |files: &[(String, Vec<u8>)]| files.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before));
    for ((name, old), (_, new)) in before.iter().zip(&after) {
        // failures.jsonl could not be written either: it stays as it was too.
        assert!(old == new, "{name} changed under a repair that could not store anything");
    }
    let staged = Path::new(store).join("_repair");
    assert!(!staged.exists() || std::fs::read_dir(&staged).unwrap().next().is_none(), "a staged file is left");

    std::fs::remove_file(&filler).unwrap();
    // With retries: the images the stopped repair did not ask for may need two more requests.
    let again = report(&repair("2"), 0, "the repair again");
    assert_eq!(again["dataset"]["repair"]["repaired"].as_u64(), Some(IMAGES as u64), "{again}");
    assert_eq!(again["dataset"]["repair"]["shards_rewritten"].as_array().unwrap().len(), IMAGES / 5, "{again}");
}
