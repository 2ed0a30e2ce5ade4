//! `pipeline_run --retry-failed --output-format webdataset|parquet`: a
//! dataset repaired in place, against a real origin on 127.0.0.1 whose
//! images fail their first request (or their first two) and are cured
//! after. A first run with `--retries 0` leaves failed rows in some
//! shards; each `--retry-failed` makes again only those rows, writes again
//! exactly the shards that gain a sample (the others stay byte for byte),
//! keeps every key, caption and column, and once every image is cured the
//! shards are byte for byte those of a run that never failed; Python's
//! `tarfile` and `pyarrow` read them back. A repair that died part way is
//! put in place by the next run.
//!
//! Running: `cargo test -p pipeline_run --test repair`.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use origin::{FaultSpec, OriginConfig, RunningOrigin};
use serde_json::Value;
use support::{pipeline, read_meta, report, tar_members};

/// Rows per shard.
const SHARD_SIZE: usize = 4;

/// What becomes of a row's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Served at once.
    Clean,
    /// Fails its first request, served from the second.
    Once,
    /// Fails its first two requests.
    Twice,
    /// A 404 on every request.
    Gone,
}

/// The input, shard by shard (4 rows each, the last short): shard 0 never
/// fails, shard 2 fails only for good, the others gain samples as the
/// faults are cured.
const LAYOUT: [&[Fate]; 5] = [
    &[Fate::Clean, Fate::Clean, Fate::Clean, Fate::Clean],
    &[Fate::Clean, Fate::Once, Fate::Clean, Fate::Twice],
    &[Fate::Clean, Fate::Gone, Fate::Clean, Fate::Clean],
    &[Fate::Twice, Fate::Once, Fate::Clean, Fate::Once],
    &[Fate::Clean, Fate::Twice],
];

/// An origin whose images fail with `500` on their first one or two
/// requests (as the seed decides per id), and the input rows: for each,
/// its URL and fate.
fn origin_and_rows() -> (RunningOrigin, Vec<(String, Fate)>) {
    let mut faults: FaultSpec = "500=60".parse().unwrap();
    faults.seed = 7;
    let config = OriginConfig {
        count: 200,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 240,
        height: 160,
        faults: faults.clone(),
        ..OriginConfig::default()
    };
    let fate_of = |id: usize| match faults.fault_for(id).map(|fault| fault.attempts) {
        None => Fate::Clean,
        Some(Some(1)) => Fate::Once,
        Some(Some(2)) => Fate::Twice,
        Some(other) => panic!("500 is transient: {other:?}"),
    };
    let origin = origin::start(config).unwrap();
    let mut ids = 0..200;
    let rows = LAYOUT
        .iter()
        .flat_map(|shard| shard.iter())
        .map(|&fate| match fate {
            Fate::Gone => (format!("{}/faults/status/404", origin.base_url()), fate),
            _ => (origin.image_url(ids.find(|&id| fate_of(id) == fate).unwrap()), fate),
        })
        .collect();
    (origin, rows)
}

/// Writes the input as JSON lines: URL, a caption (none for the second
/// row of each shard) and an id column.
fn write_list(dir: &Path, rows: &[(String, Fate)]) {
    let lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(row, (url, _))| {
            let caption = if row % SHARD_SIZE == 1 { Value::Null } else { Value::from(format!("caption {row}")) };
            serde_json::json!({"url": url, "caption": caption, "id": 1000 + row}).to_string()
        })
        .collect();
    std::fs::write(dir.join("list.jsonl"), lines.join("\n")).unwrap();
}

/// The flags of every run into `store`.
fn flags<'a>(store: &'a str, format: &'a str) -> Vec<&'a str> {
    vec![
        "--urls",
        "list.jsonl",
        "--caption-column",
        "caption",
        "--save-columns",
        "id",
        "--output-format",
        format,
        "--shard-size",
        "4",
        "--thumbnail",
        "64x64",
        "--compute-hash",
        "--retries",
        "0",
        "--mode",
        "threads",
        "--concurrency",
        "3",
        "--json",
        "--store",
        store,
    ]
}

/// The repair flags: the same, with `--retry-failed` instead of the list.
fn repair_flags<'a>(store: &'a str, format: &'a str) -> Vec<&'a str> {
    let mut flags = flags(store, format);
    flags.drain(0..2);
    flags.push("--retry-failed");
    flags
}

/// Every file of every shard, by name, as bytes.
fn shard_files(store: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(store)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".jsonl"))
        .map(|name| {
            let bytes = std::fs::read(store.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

/// The files of shard `shard` among `files`.
fn of_shard(files: &BTreeMap<String, Vec<u8>>, shard: usize) -> BTreeMap<String, Vec<u8>> {
    let stem = format!("{shard:05}");
    files.iter().filter(|(name, _)| name.starts_with(&stem)).map(|(n, b)| (n.clone(), b.clone())).collect()
}

/// Which rows are saved after `repairs` repairs.
fn saved_after(fate: Fate, repairs: usize) -> bool {
    match fate {
        Fate::Clean => true,
        Fate::Once => repairs >= 1,
        Fate::Twice => repairs >= 2,
        Fate::Gone => false,
    }
}

/// Checks every shard of `store` after `repairs` repairs: one metadata
/// row per input row under its key, with its URL, caption and column;
/// the saved ones as successes with their sample (in the tar, in key
/// order, with its caption as `KEY.txt`; or in the `jpg` column); the
/// others failed with a reason; the stats counting them.
fn check_shards(store: &Path, rows: &[(String, Fate)], format: &str, repairs: usize) {
    let files = shard_files(store);
    for (shard, inputs) in rows.chunks(SHARD_SIZE).enumerate() {
        let meta = read_meta(&files[&format!("{shard:05}.parquet")]);
        assert_eq!(meta.len(), inputs.len(), "shard {shard}: one row per input row");
        let mut samples = Vec::new();
        for (index, (row, (url, fate))) in meta.iter().zip(inputs).enumerate() {
            let number = shard * SHARD_SIZE + index;
            assert_eq!(row.key, format!("{shard:05}{index}"), "keys are kept");
            assert_eq!(&row.url, url, "{}", row.key);
            let caption = (index != 1).then(|| format!("caption {number}"));
            assert_eq!((&row.caption, row.id), (&caption, Some(1000 + number as i64)), "{}", row.key);
            if saved_after(*fate, repairs) {
                assert_eq!(row.status, "success", "{row:?} after {repairs} repair(s)");
                assert!(row.error.is_none() && row.width == Some(64) && row.sha256.is_some(), "{row:?}");
                assert_eq!(row.jpg.is_some(), format == "parquet", "{row:?}");
                samples.push(row.key.clone());
            } else {
                assert_ne!(row.status, "success", "{row:?} after {repairs} repair(s)");
                assert!(row.error.is_some() && row.width.is_none() && row.jpg.is_none(), "{row:?}");
            }
        }
        if format == "webdataset" {
            let members = tar_members(&files[&format!("{shard:05}.tar")]);
            let names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
            let mut expected = Vec::new();
            for key in &samples {
                expected.push(format!("{key}.jpg"));
                expected.push(format!("{key}.json"));
                if !key.ends_with('1') {
                    expected.push(format!("{key}.txt"));
                }
            }
            assert_eq!(names, expected, "shard {shard}: every sample, in key order, nothing else");
            for (name, bytes) in &members {
                if let Some(key) = name.strip_suffix(".json") {
                    let json: Value = serde_json::from_slice(bytes).unwrap();
                    let row = meta.iter().find(|row| row.key == key).unwrap();
                    assert_eq!((json["key"].as_str(), json["url"].as_str()), (Some(key), Some(row.url.as_str())));
                    assert_eq!(json["id"].as_i64(), row.id, "{json}");
                    assert_eq!(json["status"], "success");
                }
                if name.ends_with(".jpg") {
                    let image = image::load_from_memory(bytes).unwrap();
                    assert_eq!((image.width(), image.height()), (64, 43), "{name}");
                }
            }
        }
        let stats: Value = serde_json::from_slice(&files[&format!("{shard:05}_stats.json")]).unwrap();
        let failed = (inputs.len() - samples.len()) as u64;
        assert_eq!(
            (stats["count"].as_u64(), stats["successes"].as_u64(), stats["failed"].as_u64()),
            (Some(inputs.len() as u64), Some(samples.len() as u64), Some(failed)),
            "shard {shard}: {stats}"
        );
        assert_eq!(stats["failed_to_download"].as_u64(), Some(failed), "{stats}");
        let by_outcome: u64 = stats["status_dict"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(by_outcome, inputs.len() as u64, "{stats}");
        assert_eq!(stats["status_dict"]["success"].as_u64().unwrap_or(0), samples.len() as u64, "{stats}");
    }
}

/// The URLs `failures.jsonl` lists, sorted, with their reasons.
fn failures(store: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(store.join("failures.jsonl")).unwrap_or_default();
    let mut lines: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            (line["url"].as_str().unwrap().to_string(), line["reason"].as_str().unwrap().to_string())
        })
        .collect();
    lines.sort();
    lines
}

/// The shard names a repair's report says it rewrote.
fn rewritten(json: &Value) -> Vec<&str> {
    json["dataset"]["repair"]["shards_rewritten"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect()
}

/// The whole story in one format: a run with failures, two repairs that
/// each cure some, a third that cures none; then the same rows made by a
/// run that never failed.
fn repair_in_place(format: &str) {
    let (origin, rows) = origin_and_rows();
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &rows);
    let store = dir.path().join("data");
    let failing = |repairs: usize| rows.iter().filter(|(_, fate)| !saved_after(*fate, repairs)).count();

    let first = report(&pipeline(dir.path(), &flags("data", format)), 3, "first run");
    assert_eq!(first["failed"].as_u64(), Some(failing(0) as u64), "{first}");
    check_shards(&store, &rows, format, 0);
    let mut before = shard_files(&store);

    // Each repair: exactly the failed rows are requested; exactly the
    // shards that gain a sample are written; the others stay byte for byte.
    for (repairs, gaining) in [(1, &["00001", "00003"][..]), (2, &["00001", "00003", "00004"]), (3, &[])] {
        let requests = origin.stats().image_requests;
        let output = pipeline(dir.path(), &repair_flags("data", format));
        let json = report(&output, 3, &format!("repair {repairs}"));
        let repair = &json["dataset"]["repair"];
        let retried = failing(repairs - 1) as u64;
        assert_eq!(repair["retried"].as_u64(), Some(retried), "{json}");
        assert_eq!(repair["repaired"].as_u64(), Some(retried - failing(repairs) as u64), "{json}");
        assert_eq!(repair["still_failing"].as_u64(), Some(failing(repairs) as u64), "{json}");
        assert_eq!(repair["complete_shards"].as_u64(), Some(5), "{json}");
        assert_eq!(rewritten(&json), gaining, "{json}");
        // The 404 row is requested too; the origin counts image requests only.
        let gone = rows.iter().filter(|(_, fate)| *fate == Fate::Gone).count() as u64;
        assert_eq!(origin.stats().image_requests - requests, retried - gone, "only the failed rows are fetched");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("{retried} failed sample(s) retried")), "{stderr}");

        let after = shard_files(&store);
        for shard in 0..LAYOUT.len() {
            let name = format!("{shard:05}");
            let (old, new) = (of_shard(&before, shard), of_shard(&after, shard));
            assert_eq!(old.keys().collect::<Vec<_>>(), new.keys().collect::<Vec<_>>(), "shard {shard}'s files");
            if gaining.contains(&name.as_str()) {
                assert_ne!(old, new, "shard {shard} gained samples and was not rewritten");
            } else {
                assert!(old == new, "shard {shard} gained nothing and was rewritten (repair {repairs})");
            }
        }
        assert!(!store.join("_repair").exists(), "the staging area is left behind");
        check_shards(&store, &rows, format, repairs);
        // The old samples of a rewritten shard are copied as they were.
        if format == "webdataset" {
            for shard in gaining {
                let old: BTreeMap<_, _> = tar_members(&before[&format!("{shard}.tar")]).into_iter().collect();
                let new: BTreeMap<_, _> = tar_members(&after[&format!("{shard}.tar")]).into_iter().collect();
                for (name, bytes) in &old {
                    assert_eq!(new.get(name), Some(bytes), "{name} changed");
                }
            }
        }
        let listed: Vec<String> = failures(&store).into_iter().map(|(url, _)| url).collect();
        let mut expected: Vec<String> =
            rows.iter().filter(|(_, fate)| !saved_after(*fate, repairs)).map(|(url, _)| url.clone()).collect();
        expected.sort();
        assert_eq!(listed, expected, "failures.jsonl lists the rows still failing");
        before = after;
    }

    // Every image is cured now: a run that never failed makes the same shards.
    let fresh = report(&pipeline(dir.path(), &flags("fresh", format)), 3, "fresh run");
    assert_eq!(fresh["failed"].as_u64(), Some(1), "{fresh}");
    let fresh = shard_files(&dir.path().join("fresh"));
    assert_eq!(fresh.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
    for (name, bytes) in &fresh {
        if name.ends_with("_stats.json") {
            let strip = |bytes: &[u8]| {
                let mut stats: Value = serde_json::from_slice(bytes).unwrap();
                for time in ["duration", "start_time", "end_time"] {
                    stats.as_object_mut().unwrap().remove(time);
                }
                stats
            };
            assert_eq!(strip(&before[name]), strip(bytes), "{name}");
        } else {
            assert!(&before[name] == bytes, "{name}: the repaired shard is not the one a run without failures makes");
        }
    }
    python_reads(&store, format, &rows);
}

/// A WebDataset repaired in place, three times.
#[test]
fn webdataset_is_repaired_in_place() {
    repair_in_place("webdataset");
}

/// A Parquet dataset repaired in place, three times.
#[test]
fn parquet_dataset_is_repaired_in_place() {
    repair_in_place("parquet");
}

/// Reads the repaired shards with Python's `tarfile` and `pyarrow`
/// (independent readers): every row under its key, each saved one with
/// its image. Skipped loudly without that Python; a failure under
/// `REQUIRE_TEST_SERVERS=1`, as CI runs.
fn python_reads(store: &Path, format: &str, rows: &[(String, Fate)]) {
    let Some(python) = test_servers::python_with(&["pyarrow.parquet"]) else { return };
    const SCRIPT: &str = r#"
import json, sys, tarfile, glob, os
import pyarrow.parquet as pq
store, fmt = sys.argv[1], sys.argv[2]
rows = {}
for path in sorted(glob.glob(os.path.join(store, "*.parquet"))):
    table = pq.read_table(path).to_pylist()
    samples = set()
    if fmt == "webdataset":
        with tarfile.open(path[:-len(".parquet")] + ".tar") as tar:
            for name in tar.getnames():
                if name.endswith(".json"):
                    meta = json.load(tar.extractfile(name))
                    assert meta["key"] == name[:-5], name
                    assert tar.extractfile(name[:-5] + ".jpg").read()[:2] == b"\xff\xd8", name
                    samples.add(meta["key"])
    else:
        samples = {row["key"] for row in table if row["jpg"] is not None}
    for row in table:
        assert (row["status"] == "success") == (row["key"] in samples), row["key"]
        rows[row["key"]] = [row["url"], row["status"]]
print(json.dumps(rows))
"#;
    let output = Command::new(&python).args(["-c", SCRIPT, &store.to_string_lossy(), format]).output().unwrap();
    assert!(output.status.success(), "python readers: {}", String::from_utf8_lossy(&output.stderr));
    let read: BTreeMap<String, (String, String)> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read.len(), rows.len(), "{read:?}");
    for (number, (url, fate)) in rows.iter().enumerate() {
        let key = format!("{:05}{}", number / SHARD_SIZE, number % SHARD_SIZE);
        let status = if *fate == Fate::Gone { "failed_to_download" } else { "success" };
        assert_eq!(read.get(&key), Some(&(url.clone(), status.to_string())), "{key}");
    }
}

/// A repair that died after staging its shard and while putting it in
/// place (the old stats deleted, the new tar in place, the old metadata
/// still there) is put in place by the next run, before it lists
/// anything: the shard is then the repaired one, and no row is fetched
/// for it. Staged files without their stats (a repair that died while
/// staging) are dropped, and the old shard stays.
#[test]
fn a_repair_that_died_part_way_is_finished_by_the_next_run() {
    let (origin, rows) = origin_and_rows();
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &rows);
    let store = dir.path().join("data");
    report(&pipeline(dir.path(), &flags("data", "webdataset")), 3, "first run");
    let old = shard_files(&store);
    report(&pipeline(dir.path(), &repair_flags("data", "webdataset")), 3, "repair");
    let new = shard_files(&store);

    // Shard 1: staged whole, then cut while being put in place.
    std::fs::create_dir(store.join("_repair")).unwrap();
    for suffix in [".tar", ".parquet", "_stats.json"] {
        let name = format!("00001{suffix}");
        std::fs::write(store.join("_repair").join(&name), &new[&name]).unwrap();
    }
    std::fs::write(store.join("00001.parquet"), &old["00001.parquet"]).unwrap();
    std::fs::remove_file(store.join("00001_stats.json")).unwrap();
    // Shard 3: staged in part only.
    std::fs::write(store.join("_repair/00003.tar"), b"half a tar").unwrap();
    let requests = origin.stats().image_requests;
    let output = pipeline(dir.path(), &flags("data", "webdataset"));
    let json = report(&output, 0, "next run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("shard 00001: put in place"), "{stderr}");
    let after = shard_files(&store);
    assert!(of_shard(&after, 1) == of_shard(&new, 1), "shard 1 is not the repaired one");
    assert!(of_shard(&after, 3) == of_shard(&new, 3), "shard 3 changed");
    assert!(!store.join("_repair").exists(), "staged files are left");
    // The run skipped the four full shards; only the short last one is made again.
    assert_eq!(json["skipped"].as_u64(), Some(16), "{json}");
    assert_eq!(origin.stats().image_requests - requests, 2, "only the short shard's rows are fetched");
}

/// The flags that cannot go with a repair are refused in one line: a
/// cluster task, other thumbnail flags than the shards were made with,
/// `--clean`, shards of another size or format.
#[test]
fn a_repair_refuses_what_it_cannot_do() {
    let (_origin, rows) = origin_and_rows();
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &rows[..4]);
    report(&pipeline(dir.path(), &flags("data", "webdataset")), 0, "first run");
    let repair = repair_flags("data", "webdataset");
    let other_size: Vec<&str> = repair.iter().map(|&flag| if flag == "4" { "8" } else { flag }).collect();
    let other_thumbnail: Vec<&str> = repair.iter().map(|&flag| if flag == "64x64" { "32x32" } else { flag }).collect();
    let cases: [(&str, Vec<&str>, &str); 5] = [
        ("task", [&repair[..], &["--task-index", "0", "--task-count", "2"]].concat(), "cluster task"),
        ("thumbnail", other_thumbnail, "thumbnail 64x64"),
        ("clean", [&repair[..], &["--clean"]].concat(), "--clean"),
        ("size", other_size, "--shard-size 4"),
        ("format", repair_flags("data", "parquet"), "--output-format webdataset"),
    ];
    for (what, flags, says) in cases {
        let output = pipeline(dir.path(), &flags);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains(says), "{what}: {stderr}");
    }
}

/// A first repair with nothing to repair: exit 0, nothing rewritten.
#[test]
fn a_dataset_without_failures_needs_no_repair() {
    let (origin, rows) = origin_and_rows();
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &rows[..4]);
    report(&pipeline(dir.path(), &flags("data", "parquet")), 0, "first run");
    let before = shard_files(&dir.path().join("data"));
    let requests = origin.stats().image_requests;
    let json = report(&pipeline(dir.path(), &repair_flags("data", "parquet")), 0, "repair");
    assert_eq!(json["dataset"]["repair"]["retried"].as_u64(), Some(0), "{json}");
    assert!(rewritten(&json).is_empty());
    assert_eq!(origin.stats().image_requests, requests);
    assert!(shard_files(&dir.path().join("data")) == before);
}

/// A shard without stats is not complete: a repair leaves it as it is (a
/// run without `--retry-failed` makes it whole), says so, and keeps its
/// failed rows in `failures.jsonl` beside the rows still failing.
#[test]
fn an_incomplete_shard_is_left_to_a_run() {
    let (_origin, rows) = origin_and_rows();
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &rows);
    let store = dir.path().join("data");
    report(&pipeline(dir.path(), &flags("data", "webdataset")), 3, "first run");
    std::fs::remove_file(store.join("00004_stats.json")).unwrap();
    let before = shard_files(&store);
    let output = pipeline(dir.path(), &repair_flags("data", "webdataset"));
    let json = report(&output, 3, "repair");
    let repair = &json["dataset"]["repair"];
    assert_eq!(repair["incomplete_shards"], serde_json::json!(["00004"]), "{json}");
    assert_eq!((repair["complete_shards"].as_u64(), repair["retried"].as_u64()), (Some(4), Some(6)), "{json}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not complete (no stats): shard(s) 00004"), "{stderr}");
    assert!(of_shard(&shard_files(&store), 4) == of_shard(&before, 4), "an incomplete shard was touched");
    let listed: Vec<String> = failures(&store).into_iter().map(|(url, _)| url).collect();
    let mut expected: Vec<String> = rows
        .iter()
        .enumerate()
        .filter(|(number, (_, fate))| !saved_after(*fate, usize::from(*number < 16)))
        .map(|(_, (url, _))| url.clone())
        .collect();
    expected.sort();
    assert_eq!(listed, expected, "failures.jsonl forgot the rows of the shard not repaired");
}

/// The same repair into S3 (SeaweedFS, through the store): the failed
/// rows are made again, exactly the shards that gain a sample are written
/// again, the others' objects keep their bytes, nothing is left under
/// `_repair/`, and `failures.jsonl` in the bucket lists the rows still failing.
#[test]
fn a_dataset_in_s3_is_repaired_in_place() {
    let Some(server) = test_servers::s3() else { return };
    let (_origin, rows) = origin_and_rows();
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &rows);
    let store = server.url("repair");
    let env = server.env();
    let run = |flags: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
            .args(flags)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let reader = common::store::Store::open_with_env(&store, env.iter().cloned()).unwrap();
    // The bucket's shards (and failures.jsonl) copied into a folder, to be read as a local store is.
    let copy = |folder: &str| {
        let folder = dir.path().join(folder);
        std::fs::create_dir(&folder).unwrap();
        for (key, _) in reader.list("").unwrap() {
            if !key.contains('/') {
                std::fs::write(folder.join(&key), reader.get(&key).unwrap().unwrap()).unwrap();
            }
        }
        folder
    };
    report(&run(&flags(&store, "webdataset")), 3, "first run");
    let before = shard_files(&copy("before"));
    let json = report(&run(&repair_flags(&store, "webdataset")), 3, "repair");
    assert_eq!(rewritten(&json), ["00001", "00003"], "{json}");
    let after_folder = copy("after");
    let after = shard_files(&after_folder);
    for shard in [0, 2, 4] {
        assert!(of_shard(&before, shard) == of_shard(&after, shard), "shard {shard} was rewritten");
    }
    for shard in [1, 3] {
        assert!(of_shard(&before, shard) != of_shard(&after, shard), "shard {shard} was not rewritten");
    }
    check_shards(&after_folder, &rows, "webdataset", 1);
    assert!(reader.list(REPAIR_PREFIX).unwrap().is_empty(), "staged objects are left in the bucket");
    let listed: Vec<String> = failures(&after_folder).into_iter().map(|(url, _)| url).collect();
    assert_eq!(listed.len(), rows.iter().filter(|(_, fate)| !saved_after(*fate, 1)).count(), "{listed:?}");
}

/// Where a repair stages its shards.
const REPAIR_PREFIX: &str = "_repair";

/// Every mode repairs the same way: the same shards rewritten, the same
/// rows saved (the threads mode is the one the tests above use).
#[test]
fn every_mode_repairs_alike() {
    for mode in ["serial", "processes", "async"] {
        let (_origin, rows) = origin_and_rows();
        let dir = tempfile::tempdir().unwrap();
        write_list(dir.path(), &rows);
        report(&pipeline(dir.path(), &flags("data", "webdataset")), 3, mode);
        let mut repair = repair_flags("data", "webdataset");
        let at = repair.iter().position(|&flag| flag == "threads").unwrap();
        repair[at] = mode;
        let json = report(&pipeline(dir.path(), &repair), 3, mode);
        assert_eq!(rewritten(&json), ["00001", "00003"], "{mode}: {json}");
        check_shards(&dir.path().join("data"), &rows, "webdataset", 1);
    }
}
