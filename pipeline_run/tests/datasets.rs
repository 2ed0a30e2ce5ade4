//! `pipeline_run --output-format webdataset|parquet` against a real origin
//! on 127.0.0.1: a Parquet URL list with captions, saved columns and
//! failing rows becomes the right shards in every mode, read back with the
//! Rust `tar` and `parquet` readers and, where installed, Python's
//! `tarfile` and `pyarrow`; a re-run skips complete shards without a
//! request; a stopped run leaves no partial shard.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use origin::RunningOrigin;
use parquet::arrow::ArrowWriter;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{Meta, pipeline, read_meta_file, report, start_origin, tar_members};

/// Every mode, each with more than one of anything.
const MODES: [(&str, &[&str]); 4] = [
    ("serial", &[]),
    ("threads", &["--concurrency", "3"]),
    ("processes", &["--concurrency", "2"]),
    ("async", &["--concurrency", "4"]),
];

/// Photos served (240x160), and rows of the list: the photos, then failing rows.
const PHOTOS: usize = 9;

/// Rows per output shard in these tests.
const SHARD_SIZE: usize = 4;

/// One input row: URL (None: null), caption, an integer and a float column.
struct Row {
    url: Option<String>,
    caption: Option<String>,
    id: i64,
    score: f64,
}

/// The input: the photos, with a 404, a web page and a null URL among them.
fn rows(origin: &RunningOrigin) -> Vec<Row> {
    let mut rows: Vec<Row> = (0..PHOTOS)
        .map(|n| Row {
            url: Some(origin.image_url(n)),
            caption: (n != 2).then(|| format!("photo number {n}")),
            id: 1000 + n as i64,
            score: n as f64 / 4.0,
        })
        .collect();
    let base = origin.base_url();
    rows.insert(
        3,
        Row { url: Some(format!("{base}/faults/status/404")), caption: Some("gone".into()), id: 1, score: 0.0 },
    );
    rows.insert(6, Row { url: Some(format!("{base}/faults/html")), caption: None, id: 2, score: 0.5 });
    rows.insert(10, Row { url: None, caption: Some("no url".into()), id: 3, score: 1.0 });
    rows
}

/// Writes the rows as `list.parquet` in `dir`, in row groups of 5 (so
/// reading it streams across groups).
fn parquet_list(dir: &Path, rows: &[Row]) {
    let urls: StringArray = rows.iter().map(|row| row.url.as_deref()).collect();
    let captions: StringArray = rows.iter().map(|row| row.caption.as_deref()).collect();
    let ids: Int64Array = rows.iter().map(|row| Some(row.id)).collect();
    let scores: Float64Array = rows.iter().map(|row| Some(row.score)).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("url", Arc::new(urls)),
        ("caption", Arc::new(captions)),
        ("id", Arc::new(ids)),
        ("score", Arc::new(scores)),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let properties =
        parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(5)).build();
    let file = File::create(dir.join("list.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The flags of a dataset run from `list.parquet` into `store`.
fn dataset_args<'a>(store: &'a str, format: &'a str) -> Vec<&'a str> {
    vec![
        "--urls",
        "list.parquet",
        "--caption-column",
        "caption",
        "--save-columns",
        "id,score",
        "--output-format",
        format,
        "--shard-size",
        "4",
        "--thumbnail",
        "64x64",
        "--compute-hash",
        "--retries",
        "0",
        "--json",
        "--store",
        store,
    ]
}

/// Every member of a tar file, by name (each name once).
fn read_tar(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let members = tar_members(&std::fs::read(path).unwrap());
    let count = members.len();
    let by_name: BTreeMap<String, Vec<u8>> = members.into_iter().collect();
    assert_eq!(by_name.len(), count, "a name twice in {}", path.display());
    by_name
}

/// The files of a store that are not run records (ledgers, `_shards/`, `_records/`).
fn dataset_files(store: &Path) -> BTreeSet<String> {
    std::fs::read_dir(store)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".jsonl") && name != "_shards" && name != "_records")
        .collect()
}

/// The files of `shards` complete shards in `format`.
fn expected_files(shards: usize, format: &str) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for shard in 0..shards {
        files.insert(format!("{shard:05}.parquet"));
        files.insert(format!("{shard:05}_stats.json"));
        if format == "webdataset" {
            files.insert(format!("{shard:05}.tar"));
        }
    }
    files
}

/// What each input row must become: `success`, or the failure's kind.
fn expected_status(row: &Row) -> &'static str {
    match row.url.as_deref() {
        None => "invalid_url",
        Some(url) if url.ends_with("/404") => "status",
        Some(url) if url.ends_with("/html") => "not_an_image",
        Some(_) => "success",
    }
}

/// Checks a finished store against the input rows: the shards, every row
/// in its shard's metadata with its status, every success's sample with
/// its caption and columns, the stats. Returns the metadata rows.
fn check_store(store: &Path, rows: &[Row], format: &str, origin: &RunningOrigin) -> Vec<Meta> {
    let shards = rows.len().div_ceil(SHARD_SIZE);
    assert_eq!(dataset_files(store), expected_files(shards, format), "{}", store.display());
    let mut all = Vec::new();
    for shard in 0..shards {
        let meta = read_meta_file(&store.join(format!("{shard:05}.parquet")));
        let first = shard * SHARD_SIZE;
        let inputs = &rows[first..rows.len().min(first + SHARD_SIZE)];
        assert_eq!(meta.len(), inputs.len(), "shard {shard}: one row per input row");
        let tar = (format == "webdataset").then(|| read_tar(&store.join(format!("{shard:05}.tar"))));
        for (index, (row, input)) in meta.iter().zip(inputs).enumerate() {
            assert_eq!(row.key, format!("{shard:05}{index}"), "keys are shard and row");
            assert_eq!(row.url, input.url.clone().unwrap_or_default());
            assert_eq!(row.outcome(), expected_status(input), "{row:?}");
            assert_eq!(
                (row.caption.as_ref(), row.id, row.score),
                (input.caption.as_ref(), Some(input.id), Some(input.score))
            );
            if row.status != "success" {
                assert!(row.width.is_none() && row.jpg.is_none() && row.sha256.is_none(), "{row:?}");
                if let Some(tar) = &tar {
                    assert!(!tar.keys().any(|name| name.starts_with(&row.key)), "failed {} in the tar", row.key);
                }
                continue;
            }
            // The sizes are the thumbnail's and the original's; the hash the original bytes'.
            assert_eq!(row.original, (Some(240), Some(160)));
            assert_eq!((row.width, row.height), (Some(64), Some(43)), "fits 64x64");
            let original = ureq::get(input.url.as_deref().unwrap()).call().unwrap().body_mut().read_to_vec().unwrap();
            let sha = hex::encode(Sha256::digest(&original));
            assert_eq!(row.sha256.as_deref(), Some(sha.as_str()));
            let jpeg = match &tar {
                Some(tar) => {
                    let json: Value = serde_json::from_slice(&tar[&format!("{}.json", row.key)]).unwrap();
                    assert_eq!(json["key"], row.key.as_str());
                    assert_eq!(json["url"], row.url.as_str());
                    assert_eq!(json["status"], "success");
                    assert_eq!((json["width"].as_i64(), json["original_height"].as_i64()), (Some(64), Some(160)));
                    assert_eq!((json["id"].as_i64(), json["score"].as_f64()), (Some(input.id), Some(input.score)));
                    assert_eq!(json["sha256"], sha.as_str());
                    let caption =
                        tar.get(&format!("{}.txt", row.key)).map(|bytes| String::from_utf8(bytes.clone()).unwrap());
                    assert_eq!(caption, input.caption, "KEY.txt is the caption, when there is one");
                    assert_eq!(json.get("caption").and_then(Value::as_str), input.caption.as_deref());
                    tar[&format!("{}.jpg", row.key)].clone()
                }
                None => row.jpg.clone().unwrap(),
            };
            let decoded = image::load_from_memory(&jpeg).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (64, 43));
        }
        if let Some(tar) = &tar {
            let successes = meta.iter().filter(|row| row.status == "success").count();
            let captions = meta.iter().filter(|row| row.status == "success" && row.caption.is_some()).count();
            assert_eq!(
                tar.len(),
                successes * 2 + captions,
                "shard {shard}: jpg + json (+ txt) per sample, nothing else"
            );
        }
        let stats: Value =
            serde_json::from_slice(&std::fs::read(store.join(format!("{shard:05}_stats.json"))).unwrap()).unwrap();
        let successes = meta.iter().filter(|row| row.status == "success").count();
        assert_eq!(
            (stats["count"].as_u64(), stats["successes"].as_u64()),
            (Some(meta.len() as u64), Some(successes as u64))
        );
        assert_eq!(stats["failed"].as_u64(), Some((meta.len() - successes) as u64));
        all.extend(meta);
    }
    let _ = origin;
    all
}

/// A Parquet list with captions, saved columns and failing rows → shards
/// of 4 rows in every mode, each row with its status, each success with
/// its caption and columns; every mode writes the same metadata.
#[test]
fn parquet_list_to_webdataset_in_every_mode() {
    let origin = start_origin(PHOTOS, Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    let rows = rows(&origin);
    parquet_list(dir.path(), &rows);
    let mut baseline: Option<Vec<Meta>> = None;
    for (mode, extra) in MODES {
        let store = format!("wds-{mode}");
        let mut args = dataset_args(&store, "webdataset");
        args.extend(["--mode", mode]);
        args.extend(extra);
        let json = report(&pipeline(dir.path(), &args), 3, mode);
        assert_eq!(json["files"].as_u64(), Some(PHOTOS as u64), "{mode}: {json}");
        assert_eq!(json["failed"].as_u64(), Some(3), "{mode}");
        assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(3), "{mode}: {json}");
        let meta = check_store(&dir.path().join(&store), &rows, "webdataset", &origin);
        match &baseline {
            None => baseline = Some(meta),
            Some(first) => assert_eq!(&meta, first, "{mode} wrote other metadata than serial"),
        }
    }
    python_reads(&dir.path().join("wds-async"), "webdataset", 3, PHOTOS);
}

/// `--output-format parquet`: the samples are rows with the image in `jpg`;
/// failures are rows too, with no image.
#[test]
fn parquet_output_holds_images_and_failures() {
    let origin = start_origin(PHOTOS, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let rows = rows(&origin);
    parquet_list(dir.path(), &rows);
    let json = report(&pipeline(dir.path(), &dataset_args("pq", "parquet")), 3, "parquet");
    assert_eq!(json["dataset"]["format"], "parquet");
    check_store(&dir.path().join("pq"), &rows, "parquet", &origin);
    python_reads(&dir.path().join("pq"), "parquet", 3, PHOTOS);
}

/// A re-run skips complete shards without a request; a short shard, or
/// one whose stats are gone, is made again, alone.
#[test]
fn rerun_skips_complete_shards() {
    let origin = start_origin(PHOTOS, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let rows = rows(&origin);
    parquet_list(dir.path(), &rows);
    let args = dataset_args("wds", "webdataset");
    // A first run cut by --count leaves shard 1 short (2 of its 4 rows):
    // the next run makes it again whole, and skips shard 0.
    let mut cut = args.clone();
    cut.extend(["--count", "6"]);
    let json = report(&pipeline(dir.path(), &cut), 3, "cut run");
    assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(2), "{json}");
    let json = report(&pipeline(dir.path(), &args), 3, "first whole run");
    assert_eq!(json["skipped"].as_u64(), Some(SHARD_SIZE as u64), "{json}");
    assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(2), "{json}");
    let store = dir.path().join("wds");
    check_store(&store, &rows, "webdataset", &origin);
    let before: Vec<Vec<u8>> = (0..3).map(|n| std::fs::read(store.join(format!("{n:05}.parquet"))).unwrap()).collect();
    let requests = origin.stats().image_requests;

    let json = report(&pipeline(dir.path(), &args), 0, "re-run");
    assert_eq!(json["skipped"].as_u64(), Some(rows.len() as u64), "{json}");
    assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(0));
    assert_eq!(origin.stats().image_requests, requests, "a complete shard costs no request");

    std::fs::remove_file(store.join("00001_stats.json")).unwrap();
    let json = report(&pipeline(dir.path(), &args), 3, "third run");
    assert_eq!(json["skipped"].as_u64(), Some((rows.len() - SHARD_SIZE) as u64), "{json}");
    assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(1));
    check_store(&store, &rows, "webdataset", &origin);
    let after: Vec<Vec<u8>> = (0..3).map(|n| std::fs::read(store.join(format!("{n:05}.parquet"))).unwrap()).collect();
    assert_eq!(after, before, "the same rows make the same metadata");
}

/// SIGTERM part way: the shards finished are whole (tar, metadata, stats),
/// the one under way is not written at all (no partial tar, visible or
/// hidden), and a re-run completes the dataset.
#[test]
fn a_stopped_run_leaves_no_partial_shard() {
    let origin = start_origin(PHOTOS, Duration::from_millis(250));
    let dir = tempfile::tempdir().unwrap();
    let rows = rows(&origin);
    parquet_list(dir.path(), &rows);
    let mut args = dataset_args("wds", "webdataset");
    args.extend(["--mode", "serial"]);
    let child = Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(&args)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Serially, a shard of 4 rows takes about a second: wait for the first.
    let store = dir.path().join("wds");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store.join("00000_stats.json").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(143), "SIGTERM: {}", String::from_utf8_lossy(&output.stderr));
    let files = dataset_files(&store);
    assert!(files.contains("00000.tar"), "{files:?}");
    assert!(!files.contains("00002.tar") && !files.contains("00002_stats.json"), "{files:?}");
    for name in &files {
        if let Some(stem) = name.strip_suffix(".tar") {
            assert!(files.contains(&format!("{stem}_stats.json")), "{name} without its stats");
            read_tar(&store.join(name));
        }
        assert!(expected_files(3, "webdataset").contains(name), "stray file {name}");
    }
    report(&pipeline(dir.path(), &args), 3, "re-run");
    check_store(&store, &rows, "webdataset", &origin);
}

/// Reads the shards with Python's `tarfile` and `pyarrow`, independent
/// readers, where they are installed; otherwise says so loudly (and fails
/// under `REQUIRE_TEST_SERVERS=1`, as CI runs).
fn python_reads(store: &Path, format: &str, shards: usize, successes: usize) {
    // scripts/install_test_servers.sh installs pyarrow beside the test servers.
    let Some(python) = test_servers::python_with(&["pyarrow.parquet"]) else { return };
    const SCRIPT: &str = r#"
import json, sys, tarfile, glob, os
import pyarrow.parquet as pq
store, fmt = sys.argv[1], sys.argv[2]
rows = samples = 0
for path in sorted(glob.glob(os.path.join(store, "*.parquet"))):
    table = pq.read_table(path)
    rows += table.num_rows
    statuses = table.column("status").to_pylist()
    if fmt == "parquet":
        images = table.column("jpg").to_pylist()
        assert all((img is not None) == (s == "success") for img, s in zip(images, statuses))
        samples += sum(img is not None for img in images)
    else:
        with tarfile.open(path[:-len(".parquet")] + ".tar") as tar:
            names = tar.getnames()
            for name in names:
                if name.endswith(".json"):
                    meta = json.load(tar.extractfile(name))
                    assert meta["status"] == "success" and meta["key"] == name[:-5]
                    samples += 1
print(json.dumps({"rows": rows, "samples": samples, "shards": len(glob.glob(os.path.join(store, "*_stats.json")))}))
"#;
    let output = Command::new(&python).args(["-c", SCRIPT, &store.to_string_lossy(), format]).output().unwrap();
    assert!(output.status.success(), "python readers: {}", String::from_utf8_lossy(&output.stderr));
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read["shards"].as_u64(), Some(shards as u64));
    assert_eq!(read["samples"].as_u64(), Some(successes as u64), "{read}");
    assert_eq!(read["rows"].as_u64(), Some(PHOTOS as u64 + 3));
}

/// `--output-format files`: the objects as without the flag, plus each
/// shard's metadata; a re-run that skips complete images keeps what the
/// first run's metadata said of them.
#[test]
fn files_format_adds_shard_metadata_to_the_objects() {
    let origin = start_origin(PHOTOS, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let rows = rows(&origin);
    parquet_list(dir.path(), &rows);
    let args = dataset_args("files", "files");
    let json = report(&pipeline(dir.path(), &args), 3, "files");
    assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(3), "{json}");
    let store = dir.path().join("files");
    let thumbnails = std::fs::read_dir(&store)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name().to_string_lossy().ends_with("_thumbnail.jpg"))
        .count();
    assert_eq!(thumbnails, PHOTOS, "the objects are stored as without the flag");
    let first: Vec<Meta> = (0..3).flat_map(|n| read_meta_file(&store.join(format!("{n:05}.parquet")))).collect();
    assert_eq!(first.len(), rows.len(), "one row per input row");
    for (row, input) in first.iter().zip(&rows) {
        assert_eq!(row.outcome(), expected_status(input), "{row:?}");
        if row.status == "success" {
            assert_eq!((row.width, row.original), ((Some(64)), (Some(240), Some(160))), "{row:?}");
            assert!(row.sha256.is_some());
        }
    }

    let json = report(&pipeline(dir.path(), &args), 3, "re-run");
    assert_eq!(json["skipped"].as_u64(), Some(PHOTOS as u64), "{json}");
    let again: Vec<Meta> = (0..3).flat_map(|n| read_meta_file(&store.join(format!("{n:05}.parquet")))).collect();
    let strip = |rows: &[Meta]| {
        rows.iter().map(|row| (row.key.clone(), row.status.clone(), row.width, row.sha256.clone())).collect::<Vec<_>>()
    };
    assert_eq!(strip(&again), strip(&first), "skipped rows keep the first run's metadata");
}

/// Two cluster tasks share the output shards whole (task 0: shards 0 and
/// 2; task 1: shard 1), and together make the dataset one run makes. A
/// finished task run again (as a batch script invites) changes nothing:
/// its record, its failures and merge's summary stay byte for byte.
#[test]
fn cluster_tasks_take_whole_shards() {
    let origin = start_origin(PHOTOS, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let rows = rows(&origin);
    parquet_list(dir.path(), &rows);
    for task in ["0", "1"] {
        let mut args = dataset_args("wds", "webdataset");
        args.extend(["--task-index", task, "--task-count", "2"]);
        let json = report(&pipeline(dir.path(), &args), 3, task);
        let shards = if task == "0" { 2 } else { 1 };
        assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(shards), "task {task}: {json}");
    }
    let store = dir.path().join("wds");
    assert_eq!(dataset_files(&store), expected_files(3, "webdataset"));
    check_store(&store, &rows, "webdataset", &origin);

    let merge = || pipeline(dir.path(), &["merge", "--store", "wds", "--json"]);
    let summary = merge();
    assert_eq!(summary.status.code(), Some(3), "{}", String::from_utf8_lossy(&summary.stderr));
    let merged: Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert!(merged["failed"].as_u64().unwrap() > 0, "the rows' failures are counted: {merged}");
    let by_kind: u64 = merged["failed_by_kind"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(by_kind, merged["failed"].as_u64().unwrap(), "failures by kind add up: {merged}");
    let human = String::from_utf8_lossy(&summary.stderr);
    assert!(human.contains("list.parquet sha256:") && human.contains("tasks: 2 of 2 done"), "{human}");
    let records = |task: &str| {
        let record = std::fs::read(store.join(format!("_shards/{task}.json"))).unwrap();
        let failures = std::fs::read(store.join(format!("_shards/{task}/failures.jsonl"))).unwrap_or_default();
        (record, failures)
    };
    let before = records("0");
    let requests = origin.stats().image_requests;
    let mut args = dataset_args("wds", "webdataset");
    args.extend(["--task-index", "0", "--task-count", "2"]);
    let again = report(&pipeline(dir.path(), &args), 3, "task 0 again");
    assert_eq!(again["already_done"], true, "{again}");
    assert_eq!(origin.stats().image_requests, requests, "a finished task made requests");
    assert!(records("0") == before, "a finished task's record or failures changed");
    let after = merge();
    assert_eq!((after.stdout, after.stderr), (summary.stdout, summary.stderr), "merge changed");
}

/// `--resize-mode` under the established tool's names, and its filters:
/// each mode's sample has the size that mode promises for a 240x160 photo
/// and a 64x64 box; `--min-image-size` and `--max-aspect-ratio` refuse.
#[test]
fn resize_modes_and_filters() {
    let origin = start_origin(2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("urls.txt"), format!("{}\n{}\n", origin.image_url(0), origin.image_url(1))).unwrap();
    // Label, flags, and the sample's size (`None`: every row refused).
    type Case<'a> = (&'a str, &'a [&'a str], Option<(u32, u32)>);
    let cases: [Case<'_>; 7] = [
        ("keep_ratio_largest", &["--resize-mode", "keep_ratio_largest"], Some((64, 43))),
        ("keep_ratio", &["--resize-mode", "keep_ratio"], Some((96, 64))),
        ("center_crop", &["--resize-mode", "center_crop"], Some((64, 64))),
        ("border", &["--resize-mode", "border"], Some((64, 64))),
        ("no", &["--resize-mode", "no"], Some((240, 160))),
        ("min-image-size", &["--min-image-size", "200"], None),
        ("max-aspect-ratio", &["--max-aspect-ratio", "1.2"], None),
    ];
    for (label, flags, size) in cases {
        let store = format!("store-{label}");
        let mut args = vec!["--urls", "urls.txt", "--output-format", "parquet", "--thumbnail", "64x64", "--json"];
        args.extend(["--store", &store]);
        args.extend(flags);
        let status = if size.is_some() { 0 } else { 3 };
        report(&pipeline(dir.path(), &args), status, label);
        let meta = read_meta_file(&dir.path().join(&store).join("00000.parquet"));
        assert_eq!(meta.len(), 2, "{label}");
        for row in meta {
            match size {
                Some((width, height)) => {
                    let decoded = image::load_from_memory(row.jpg.as_deref().unwrap()).unwrap();
                    assert_eq!((decoded.width(), decoded.height()), (width, height), "{label}");
                    assert_eq!((row.width, row.height), (Some(width as i32), Some(height as i32)), "{label}");
                }
                None => assert_eq!(row.outcome(), "transform", "{label}: {row:?}"),
            }
        }
    }
    let bad =
        pipeline(dir.path(), &["--urls", "urls.txt", "--output-format", "webdataset", "--resize-mode", "stretch"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown mode is a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("border"), "the error lists the modes");
}

/// A site that opts out with `X-Robots-Tag: noai` is honoured by default:
/// its row is `disallowed`, with no sample; `--disallowed-header-directives ''`
/// honours none.
#[test]
fn robots_opt_outs_are_honoured() {
    let origin = start_origin(1, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let urls = format!("{}\n{}/faults/robots/noai\n", origin.image_url(0), origin.base_url());
    std::fs::write(dir.path().join("urls.txt"), urls).unwrap();
    let args = ["--urls", "urls.txt", "--output-format", "webdataset", "--json"];
    let json = report(&pipeline(dir.path(), &[&args[..], &["--store", "polite"]].concat()), 3, "default");
    assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(1), Some(1)), "{json}");
    let meta = read_meta_file(&dir.path().join("polite/00000.parquet"));
    assert_eq!(meta[1].outcome(), "disallowed", "{meta:?}");
    assert_eq!(read_tar(&dir.path().join("polite/00000.tar")).len(), 2, "only the first row's jpg and json");

    let off = ["--store", "all", "--disallowed-header-directives", ""];
    let json = report(&pipeline(dir.path(), &[&args[..], &off].concat()), 0, "off");
    assert_eq!(json["files"].as_u64(), Some(2), "{json}");
}

/// A CSV list with a row that has no URL: the row keeps its place (its key
/// is its line's) and fails as `invalid_url`, and the shard is written, not
/// left unfinished by a listing that skipped a line.
#[test]
fn a_csv_row_without_url_keeps_its_place() {
    let origin = start_origin(2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let csv = format!("url,caption\n{},first\n,no url\n{},third\n", origin.image_url(0), origin.image_url(1));
    std::fs::write(dir.path().join("list.csv"), csv).unwrap();
    let args = ["--urls", "list.csv", "--caption-column", "caption", "--output-format", "webdataset", "--json"];
    let json = report(&pipeline(dir.path(), &[&args[..], &["--store", "wds"]].concat()), 3, "csv");
    assert_eq!(json["dataset"]["shards_written"].as_u64(), Some(1), "{json}");
    let meta = read_meta_file(&dir.path().join("wds/00000.parquet"));
    let statuses: Vec<(&str, &str, Option<&str>)> =
        meta.iter().map(|row| (row.key.as_str(), row.outcome(), row.caption.as_deref())).collect();
    assert_eq!(
        statuses,
        [
            ("000000000", "success", Some("first")),
            ("000000001", "invalid_url", Some("no url")),
            ("000000002", "success", Some("third"))
        ]
    );
}

/// A JPEG of `width` x `height`, with an APP1 Exif segment naming the
/// camera's maker (`make`) when there is one.
fn jpeg(width: u32, height: u32, make: Option<&str>) -> Vec<u8> {
    let mut plain = Vec::new();
    let pixels = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Jpeg)
        .unwrap();
    let Some(make) = make else { return plain };
    // TIFF, big-endian: IFD0 with one entry, Make (0x010f), ASCII, at offset 26.
    let mut text = make.as_bytes().to_vec();
    text.push(0);
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x0f\0\x02".to_vec();
    tiff.extend_from_slice(&u32::try_from(text.len()).unwrap().to_be_bytes());
    tiff.extend_from_slice(&26u32.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff.extend_from_slice(&text);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut bytes = plain[..2].to_vec();
    bytes.extend_from_slice(&[0xff, 0xe1]);
    bytes.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    bytes.extend_from_slice(&app1);
    bytes.extend_from_slice(&plain[2..]);
    bytes
}

/// The shard files read like the established tool's (img2dataset): its
/// stats fields with their meanings, its three statuses with our kind
/// beside them, a readable error message, the EXIF tags as JSON and the
/// SHA-256 of every image by default; `--compute-hash false` and
/// `--extract-exif false` leave their columns out.
#[test]
fn shards_read_like_img2datasets() {
    let photos = tempfile::tempdir().unwrap();
    // Served in name order, cycling: 0 has EXIF, 1 has none, 2 is too small for --min-image-size.
    let served = [jpeg(120, 80, Some("Cy Camera")), jpeg(120, 80, None), jpeg(30, 20, None)];
    for (name, bytes) in ["a.jpg", "b.jpg", "c.jpg"].iter().zip(&served) {
        std::fs::write(photos.path().join(name), bytes).unwrap();
    }
    let config = origin::OriginConfig {
        count: 3,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        photos_dir: Some(photos.path().to_path_buf()),
        ..origin::OriginConfig::default()
    };
    let origin = origin::start(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> =
        (0..3).map(|id| origin.image_url(id)).chain([format!("{}/faults/status/404", origin.base_url())]).collect();
    std::fs::write(dir.path().join("urls.txt"), urls.join("\n")).unwrap();
    let args = ["--urls", "urls.txt", "--output-format", "parquet", "--min-image-size", "50", "--json"];
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    report(&pipeline(dir.path(), &[&args[..], &["--store", "default"]].concat()), 3, "default");
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();

    let meta = read_meta_file(&dir.path().join("default/00000.parquet"));
    let outcomes: Vec<(&str, &str)> = meta.iter().map(|row| (row.status.as_str(), row.outcome())).collect();
    let expected = [
        ("success", "success"),
        ("success", "success"),
        ("failed_to_resize", "transform"),
        ("failed_to_download", "status"),
    ];
    assert_eq!(outcomes, expected);
    let exif: Value = serde_json::from_str(meta[0].exif.as_deref().unwrap()).unwrap();
    assert_eq!(exif["Image Make"], "Cy Camera", "{exif}");
    assert_eq!(meta[1].exif.as_deref(), Some("{}"), "no EXIF is an empty object, as img2dataset writes it");
    assert!(meta[2].exif.is_none() && meta[3].exif.is_none(), "a failure has no EXIF");
    for (row, bytes) in meta.iter().zip(&served).take(2) {
        assert_eq!(row.sha256.as_deref(), Some(hex::encode(Sha256::digest(bytes)).as_str()), "hashed by default");
    }
    assert_eq!(meta[3].error.as_deref(), Some("HTTP status 404"));
    assert!(meta[2].error.as_deref().unwrap().contains("too small: 30x20"), "{:?}", meta[2].error);

    let stats: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("default/00000_stats.json")).unwrap()).unwrap();
    let counts = ["count", "successes", "failed_to_download", "failed_to_resize"].map(|field| stats[field].as_u64());
    assert_eq!(counts, [Some(4), Some(2), Some(1), Some(1)], "{stats}");
    let [start, end, duration] = ["start_time", "end_time", "duration"].map(|field| stats[field].as_f64().unwrap());
    assert!(before <= start && start <= end && end <= after, "{before} {stats} {after}");
    assert!((duration - (end - start)).abs() < 1e-6, "{stats}");
    let status_dict = stats["status_dict"].as_object().unwrap();
    assert_eq!(status_dict["success"], 2, "{stats}");
    assert_eq!(status_dict["HTTP status 404"], 1, "keyed by error message, as img2dataset's: {stats}");
    assert_eq!(status_dict.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 4, "{stats}");
    assert_eq!(stats["error_kinds"], serde_json::json!({"status": 1, "transform": 1}), "{stats}");

    let off = ["--store", "off", "--compute-hash", "false", "--extract-exif", "false"];
    report(&pipeline(dir.path(), &[&args[..], &off].concat()), 3, "off");
    let meta = read_meta_file(&dir.path().join("off/00000.parquet"));
    assert!(meta.iter().all(|row| row.sha256.is_none() && row.exif.is_none()), "{meta:?}");
    let bare = ["--store", "bare", "--compute-hash", "--extract-exif"];
    report(&pipeline(dir.path(), &[&args[..], &bare].concat()), 3, "bare flags mean true");
    assert!(read_meta_file(&dir.path().join("bare/00000.parquet"))[0].exif.is_some());
}

/// `--save-columns` that would write a name twice into a sample's metadata
/// (the README's old example saved the source's `width` and `height` beside
/// ours: duplicate JSON keys, a parquet pyarrow refuses) is refused before
/// anything is listed, fetched or stored: exit 2, one line naming the clash
/// and the way out.
#[test]
fn saved_columns_that_clash_are_refused_before_any_download() {
    let origin = start_origin(PHOTOS, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    parquet_list(dir.path(), &rows(&origin));
    let cases: [(&[&str], &str); 4] = [
        (&["--save-columns", "id,width,height"], "--save-columns width: `width` is a field the dataset writes itself"),
        (&["--save-columns", "score,exif"], "leave exif out of --save-columns, or rename that column of --urls"),
        (&["--save-columns", "id,score,id"], "--save-columns names id twice; name each column once"),
        (&["--caption-column", "caption", "--save-columns", "caption"], "the caption is written as `caption` already"),
    ];
    for format in ["webdataset", "parquet"] {
        for (flags, message) in cases {
            let mut args = vec!["--urls", "list.parquet", "--output-format", format, "--store", "refused", "--json"];
            args.extend(flags);
            let output = pipeline(dir.path(), &args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
            assert!(stderr.starts_with("error: ") && stderr.contains(message), "{flags:?}: {stderr}");
            assert!(output.stdout.is_empty(), "no report for a usage error");
        }
    }
    assert_eq!(origin.stats().image_requests, 0, "a refused run asked the origin for an image");
    assert!(!dir.path().join("refused").exists(), "a refused run wrote into --store");
    // A caption column saved under its own name is no clash: the caption is written as `caption`.
    std::fs::write(dir.path().join("list.csv"), format!("url,text\n{},a photo\n", origin.image_url(0))).unwrap();
    let args = ["--urls", "list.csv", "--caption-column", "text", "--save-columns", "text", "--store", "kept"];
    report(&pipeline(dir.path(), &[&args[..], &["--output-format", "parquet", "--json"]].concat()), 0, "no clash");
    let meta = read_meta_file(&dir.path().join("kept/00000.parquet"));
    assert_eq!(meta[0].caption.as_deref(), Some("a photo"));
}
