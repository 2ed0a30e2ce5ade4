//! `pipeline_run --store s3://… | az://… | gs://…` against real local
//! object stores (SeaweedFS, Azurite, gcp-storage-emulator; started by
//! `test_servers` on 127.0.0.1, killed when the test ends): every mode
//! uploads the same objects, byte for byte, as a run into a local folder;
//! a wrong secret is one line and exit 2, with nothing reported stored.
//!
//! A server that is not installed skips its test with one loud line naming
//! `scripts/install_test_servers.sh`; with `REQUIRE_TEST_SERVERS=1` (CI) it
//! fails instead.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::store::{ObjectSink, Store};
use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use origin::{OriginConfig, RunningOrigin};

/// Images served: few, small, so a debug build is quick.
const IMAGES: usize = 4;

/// What every run makes of each image: a thumbnail and six grid crops.
const MAKE: [&str; 4] = ["--thumbnail", "64x64", "--crops-grid", "6"];

/// Every mode, with more than one of everything.
const MODES: [(&str, &[&str]); 4] = [
    ("serial", &[]),
    ("threads", &["--concurrency", "3", "--uploads", "4"]),
    ("processes", &["--concurrency", "2", "--uploads", "3"]),
    ("async", &["--concurrency", "4", "--uploads", "5"]),
];

fn start_origin() -> RunningOrigin {
    origin::start(OriginConfig {
        count: IMAGES,
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(2),
        width: 240,
        height: 160,
        ..OriginConfig::default()
    })
    .unwrap()
}

/// Runs `pipeline_run --json` in `dir` on the origin's images into `store`,
/// with `env` added to its environment.
fn pipeline(dir: &Path, origin: &RunningOrigin, store: &str, extra: &[&str], env: &[(&str, String)]) -> Output {
    let urls: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    std::fs::write(dir.join("urls.txt"), urls.join("\n")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(["--json", "--urls", "urls.txt", "--store", store])
        .args(MAKE)
        .args(extra)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The objects a run into a local folder makes: the reference every
/// object store run must match.
fn reference(dir: &Path, origin: &RunningOrigin) -> BTreeMap<String, Vec<u8>> {
    let output = pipeline(dir, origin, "local", &["--mode", "serial"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let mut objects = BTreeMap::new();
    for entry in walk(&dir.join("local")) {
        let key = entry.strip_prefix(dir.join("local")).unwrap().to_string_lossy().into_owned();
        if key.ends_with(".jpg") {
            objects.insert(key, std::fs::read(&entry).unwrap());
        }
    }
    assert_eq!(objects.len(), IMAGES * 7, "{:?}", objects.keys());
    objects
}

fn walk(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

/// Every object under `prefix/` in the store `sink` points at, by key
/// relative to the prefix; not the run's records (`_records/`, the
/// `.jsonl` ledgers), which live in the store beside the objects.
fn stored(sink: &ObjectSink, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut objects = BTreeMap::new();
        let mut listing = sink.store().list(Some(&ObjectPath::from(prefix)));
        while let Some(meta) = listing.next().await {
            let location = meta.unwrap().location;
            let bytes = sink.store().get(&location).await.unwrap().bytes().await.unwrap();
            let key = location.as_ref().strip_prefix(&format!("{prefix}/")).unwrap().to_string();
            if !key.contains("_records/") && !key.ends_with(".jsonl") {
                objects.insert(key, bytes.to_vec());
            }
        }
        objects
    })
}

/// S3 (SeaweedFS, signatures checked): every mode uploads exactly the
/// objects a local run writes, byte for byte, and reports them stored.
#[test]
fn every_mode_uploads_the_same_objects_to_s3() {
    let Some(server) = test_servers::s3() else { return };
    let origin = start_origin();
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path(), &origin);
    let reader = ObjectSink::from_url_with_env(&server.url(""), server.env()).unwrap();
    for (mode, extra) in MODES {
        let output =
            pipeline(dir.path(), &origin, &server.url(mode), &[&["--mode", mode], extra].concat(), &server.env());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{mode}: {stderr}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["objects_stored"].as_u64(), Some(expected.len() as u64), "{mode}: {json}");
        let uploaded = stored(&reader, mode);
        assert_eq!(uploaded.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{mode}");
        assert!(uploaded == expected, "{mode}: the uploaded bytes differ from the local run's");
    }
}

/// A wrong secret: found by the one request a run makes before any
/// download, so one line naming the destination and what to fix, exit 2,
/// the secret nowhere in the output, no image downloaded and nothing stored
/// (a re-run with the right secret makes everything).
#[test]
fn a_wrong_secret_is_one_line_and_exit_2() {
    let Some(server) = test_servers::s3() else { return };
    let origin = start_origin();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-secret-0123456789";
    let mut env = server.env();
    env.retain(|(name, _)| *name != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY", wrong.to_string()));
    let flags = ["--mode", "async"];
    let output = pipeline(dir.path(), &origin, &server.url("denied"), &flags, &env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains(wrong) && !stdout.contains(wrong), "the secret was printed: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("credentials") && stderr.contains("s3://thumbnails/denied"), "{stderr}");
    assert_eq!(origin.stats().image_requests, 0, "images were downloaded for a store that refuses them");
    let reader = ObjectSink::from_url_with_env(&server.url(""), server.env()).unwrap();
    assert!(stored(&reader, "denied").is_empty());
    // The right secret: the same command completes the job.
    let output = pipeline(dir.path(), &origin, &server.url("denied"), &flags, &server.env());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stored(&reader, "denied").len(), IMAGES * 7);
}

/// Azure Blob (Azurite, Shared Key checked): the async mode's uploads are
/// the local run's objects.
#[test]
fn uploads_to_azure_match_a_local_run() {
    let Some(server) = test_servers::azure() else { return };
    let origin = start_origin();
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path(), &origin);
    let output = pipeline(dir.path(), &origin, &server.url("run"), &["--mode", "async"], &server.env());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let reader = ObjectSink::from_url_with_env(&server.url(""), server.env()).unwrap();
    assert!(stored(&reader, "run") == expected, "the uploads differ from the local run's objects");
}

/// Google Cloud Storage (gcp-storage-emulator, XML API uploads): the
/// threads mode's uploads are the local run's objects, read back through
/// the emulator's JSON API.
#[test]
fn uploads_to_gcs_match_a_local_run() {
    let Some(server) = test_servers::gcs() else { return };
    let origin = start_origin();
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path(), &origin);
    let output = pipeline(dir.path(), &origin, &server.url("run"), &["--mode", "threads"], &server.env());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    for (key, bytes) in &expected {
        assert_eq!(server.download(&format!("run/{key}")).as_deref(), Some(bytes.as_slice()), "{key}");
    }
}

/// A sharded job into S3: two shards upload the local run's objects between
/// them and store their records in the bucket (`_shards/<I>.json`); `merge`
/// reads the records from the bucket (missing shard: exit 4, then complete);
/// a shard run again finds its record there and is skipped.
#[test]
fn shards_record_themselves_in_the_bucket() {
    let Some(server) = test_servers::s3() else { return };
    let origin = start_origin();
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path(), &origin);
    let store = server.url("sharded");
    let merge = |status: i32| {
        let output = Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
            .args(["merge", "--store", &store, "--json", "--task-count", "2"])
            .envs(server.env())
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(status), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let shard = |index: &str| {
        let flags = ["--mode", "async", "--task-index", index, "--task-count", "2"];
        let output = pipeline(dir.path(), &origin, &store, &flags, &server.env());
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    shard("0");
    assert_eq!(merge(4)["missing"], serde_json::json!([1]));
    shard("1");
    assert_eq!(merge(0)["complete"], true);
    let reader = ObjectSink::from_url_with_env(&server.url(""), server.env()).unwrap();
    let mut uploaded = stored(&reader, "sharded");
    let records: Vec<String> = uploaded.keys().filter(|key| key.starts_with("_shards/")).cloned().collect();
    assert_eq!(records, ["_shards/0.json", "_shards/1.json"]);
    uploaded.retain(|key, _| !key.starts_with("_shards/"));
    assert!(uploaded == expected, "the shards' uploads differ from the local run's objects");
    assert_eq!(shard("0")["already_done"], true);
}

/// Runs `pipeline_run --json` in the working directory `dir` on the URL
/// list `urls` (kept outside `dir`, so the test sees everything the run
/// writes there) into `store`, with `env` added to its environment.
fn run_from(dir: &Path, urls: &Path, store: &str, extra: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(["--json", "--urls", urls.to_str().unwrap(), "--store", store])
        .args(MAKE)
        .args(extra)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The `--json` report of a run that must have ended with `status`.
fn report(output: &Output, status: i32) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("no JSON report: {stderr}"))
}

/// Deletes every object of the bucket (what "the bucket was replaced by
/// an empty one" looks like to a run), through `common`'s store.
fn empty_the_bucket(bucket: &str, env: &[(&'static str, String)]) {
    let store = Store::open_with_env(bucket, env.iter().cloned()).unwrap();
    let keys = store.list("").unwrap();
    assert!(!keys.is_empty(), "nothing to delete in {bucket}");
    for (key, _) in keys {
        store.delete(&key).unwrap();
    }
    assert!(store.list("").unwrap().is_empty(), "{bucket} was not emptied");
}

/// The names in a folder.
fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// The destination is the truth, for one server: a run; the bucket
/// emptied and the same command re-run from the same directory makes
/// everything again (the records went with the bucket); a re-run from
/// another directory into the full bucket skips every image without one
/// request to the origin; an object deleted behind the records' back is
/// made again; and neither working directory holds a file.
fn resume_is_what_the_bucket_holds(bucket: &str, prefix: &str, env: &[(&'static str, String)]) {
    let origin = start_origin();
    let lists = tempfile::tempdir().unwrap();
    let urls = lists.path().join("urls.txt");
    let lines: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    std::fs::write(&urls, lines.join("\n")).unwrap();
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = format!("{bucket}{prefix}");
    let objects = (IMAGES * 7) as u64;

    let ran = report(&run_from(first.path(), &urls, &store, &["--mode", "threads"], env), 0);
    assert_eq!((ran["files"].as_u64(), ran["objects_stored"].as_u64()), (Some(IMAGES as u64), Some(objects)), "{ran}");

    empty_the_bucket(bucket, env);
    let again = report(&run_from(first.path(), &urls, &store, &["--mode", "async"], env), 0);
    assert_eq!((again["files"].as_u64(), again["skipped"].as_u64()), (Some(IMAGES as u64), Some(0)), "{again}");
    assert_eq!(again["objects_stored"].as_u64(), Some(objects), "{again}");
    let held = Store::open_with_env(&store, env.iter().cloned()).unwrap().list("").unwrap();
    let made: Vec<&String> = held.iter().map(|(key, _)| key).filter(|key| key.ends_with(".jpg")).collect();
    assert_eq!(made.len() as u64, objects, "{held:?}");

    let requests = origin.stats().image_requests;
    let elsewhere = report(&run_from(second.path(), &urls, &store, &["--mode", "serial"], env), 0);
    assert_eq!(
        (elsewhere["files"].as_u64(), elsewhere["skipped"].as_u64()),
        (Some(0), Some(IMAGES as u64)),
        "{elsewhere}"
    );
    assert_eq!(origin.stats().image_requests, requests, "a complete image was downloaded again");

    // The records are a hint the listing checks: one crop deleted (the
    // records kept) makes that image again, and only it.
    let bucket_store = Store::open_with_env(&store, env.iter().cloned()).unwrap();
    let crop =
        bucket_store.list("").unwrap().into_iter().map(|(key, _)| key).find(|key| key.contains("/crop-")).unwrap();
    bucket_store.delete(&crop).unwrap();
    let one = report(&run_from(second.path(), &urls, &store, &["--mode", "serial"], env), 0);
    assert_eq!((one["files"].as_u64(), one["skipped"].as_u64()), (Some(1), Some(IMAGES as u64 - 1)), "{one}");
    assert!(bucket_store.head(&crop).unwrap().is_some(), "{crop} was not made again");

    assert!(
        names_in(first.path()).is_empty(),
        "the run wrote into its working directory: {:?}",
        names_in(first.path())
    );
    assert!(
        names_in(second.path()).is_empty(),
        "the run wrote into its working directory: {:?}",
        names_in(second.path())
    );
}

/// S3 (SeaweedFS): resume is what the bucket holds.
#[test]
fn s3_resume_is_what_the_bucket_holds() {
    let Some(server) = test_servers::s3() else { return };
    resume_is_what_the_bucket_holds(&server.url(""), "resume", &server.env());
}

/// Azure Blob (Azurite): resume is what the container holds.
#[test]
fn azure_resume_is_what_the_container_holds() {
    let Some(server) = test_servers::azure() else { return };
    resume_is_what_the_bucket_holds(&server.url(""), "resume", &server.env());
}

/// Google Cloud Storage (the emulator): resume is what the bucket holds.
#[test]
fn gcs_resume_is_what_the_bucket_holds() {
    let Some(server) = test_servers::gcs() else { return };
    resume_is_what_the_bucket_holds(&server.url(""), "resume", &server.env());
}

/// Two cluster tasks, each started from its own working directory against
/// one bucket; task 0 is killed part way and resumed from the *other*
/// directory (its records are in the bucket, not on the first node): the
/// union of the tasks is a single run's objects, and merge is complete.
#[test]
fn a_killed_task_resumes_from_another_directory() {
    let Some(server) = test_servers::s3() else { return };
    const SLOW_IMAGES: usize = 8;
    let origin = origin::start(OriginConfig {
        count: SLOW_IMAGES,
        latency: Duration::from_millis(300),
        jitter: Duration::ZERO,
        width: 240,
        height: 160,
        ..OriginConfig::default()
    })
    .unwrap();
    let lists = tempfile::tempdir().unwrap();
    let urls = lists.path().join("urls.txt");
    let lines: Vec<String> = (0..SLOW_IMAGES).map(|id| origin.image_url(id)).collect();
    std::fs::write(&urls, lines.join("\n")).unwrap();
    let (node_a, node_b, local) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let single = local.path().join("single");
    report(&run_from(local.path(), &urls, single.to_str().unwrap(), &["--mode", "serial"], &[]), 0);
    let task = |index: &'static str| ["--mode", "serial", "--task-index", index, "--task-count", "2"];
    let store = server.url("two");
    let env = server.env();

    let mut killed = Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(["--json", "--urls", urls.to_str().unwrap(), "--store", &store])
        .args(MAKE)
        .args(task("0"))
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(node_a.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reader = Store::open_with_env(&store, env.iter().cloned()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while reader.list("_shards/0/_records").unwrap().is_empty() {
        assert!(killed.try_wait().unwrap().is_none(), "task 0 ended before it could be killed");
        assert!(std::time::Instant::now() < deadline, "task 0 completed no image in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    killed.kill().unwrap(); // SIGKILL: no handler runs
    killed.wait().unwrap();

    let resumed = report(&run_from(node_b.path(), &urls, &store, &task("0"), &env), 0);
    assert!(resumed["skipped"].as_u64().unwrap() >= 1, "the resumed task made again what was done: {resumed}");
    report(&run_from(node_b.path(), &urls, &store, &task("1"), &env), 0);
    let merged = Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(["merge", "--store", &store, "--json"])
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(node_b.path())
        .output()
        .unwrap();
    assert_eq!(report(&merged, 0)["complete"], true);

    let mut expected = BTreeMap::new();
    for entry in walk(&single) {
        let key = entry.strip_prefix(&single).unwrap().to_string_lossy().into_owned();
        if key.ends_with(".jpg") {
            expected.insert(key, std::fs::read(&entry).unwrap());
        }
    }
    let reader = ObjectSink::from_url_with_env(&server.url(""), server.env()).unwrap();
    let mut union = stored(&reader, "two");
    union.retain(|key, _| !key.starts_with("_shards/"));
    assert_eq!(union.len(), SLOW_IMAGES * 7);
    assert!(union == expected, "the tasks' union differs from a single run's objects");
    assert!(
        names_in(node_a.path()).is_empty() && names_in(node_b.path()).is_empty(),
        "a task wrote into its directory"
    );
}
