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

use common::store::ObjectSink;
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
/// relative to the prefix.
fn stored(sink: &ObjectSink, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut objects = BTreeMap::new();
        let mut listing = sink.store().list(Some(&ObjectPath::from(prefix)));
        while let Some(meta) = listing.next().await {
            let location = meta.unwrap().location;
            let bytes = sink.store().get(&location).await.unwrap().bytes().await.unwrap();
            let key = location.as_ref().strip_prefix(&format!("{prefix}/")).unwrap().to_string();
            objects.insert(key, bytes.to_vec());
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

/// A wrong secret: one line naming the destination and what to fix, exit 2,
/// the secret nowhere in the output, and nothing stored or recorded as
/// complete (a re-run with the right secret makes everything).
#[test]
fn a_wrong_secret_is_one_line_and_exit_2() {
    let Some(server) = test_servers::s3() else { return };
    let origin = start_origin();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-secret-0123456789";
    let mut env = server.env();
    env.retain(|(name, _)| *name != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY", wrong.to_string()));
    let records = dir.path().join("records");
    let records_flag = ["--records", records.to_str().unwrap(), "--mode", "async"];
    let output = pipeline(dir.path(), &origin, &server.url("denied"), &records_flag, &env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains(wrong) && !stdout.contains(wrong), "the secret was printed: {stderr}");
    let stopped: Vec<&str> = stderr.lines().filter(|line| line.contains("stopped early")).collect();
    assert_eq!(stopped.len(), 1, "{stderr}");
    assert!(stopped[0].contains("credentials"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["files"].as_u64(), Some(0), "{json}");
    let reader = ObjectSink::from_url_with_env(&server.url(""), server.env()).unwrap();
    assert!(stored(&reader, "denied").is_empty());
    let complete = std::fs::read_to_string(records.join("complete.jsonl")).unwrap_or_default();
    assert!(complete.trim().is_empty(), "{complete}");
    // The right secret: the same command completes the job.
    let output = pipeline(dir.path(), &origin, &server.url("denied"), &records_flag, &server.env());
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
            .args(["merge", "--store", &store, "--json", "--shard-count", "2"])
            .envs(server.env())
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(status), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let shard = |index: &str| {
        let flags = ["--mode", "async", "--shard-index", index, "--shard-count", "2"];
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
