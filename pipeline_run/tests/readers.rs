//! Readers nobody here wrote read our datasets: a small dataset made
//! against a real origin on 127.0.0.1 (photos, captions, 404s, a 500 and a
//! body that is no image), in `--output-format webdataset` and `parquet`,
//! is read by Python's `webdataset` loader (every sample decoded), by
//! `pyarrow` (every metadata file) and by a script written for
//! img2dataset's per-shard stats; the counts they print must be the ones
//! the test served. The scripts are in `tests/python/`. Without the
//! install script's Python (`scripts/install_test_servers.sh`) the test
//! says so in one loud line and passes; with `REQUIRE_TEST_SERVERS=1` it
//! fails.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use origin::RunningOrigin;
use serde_json::{Value, json};
use support::{pipeline, report, start_origin};

/// Photos served, each a 240x160 JPEG.
const PHOTOS: usize = 7;

/// Rows per shard: the 11 rows make 3 shards, the last one short.
const SHARD_SIZE: &str = "4";

/// The input as a CSV (`url,caption`): the photos, some without a
/// caption, with three download failures and one body that does not decode
/// among them. Returns the CSV and the rows' expected outcome totals, as
/// img2dataset counts them.
fn csv_list(origin: &RunningOrigin) -> (String, Value) {
    let base = origin.base_url();
    let mut rows: Vec<String> = (0..PHOTOS)
        .map(|n| match n % 3 {
            1 => format!("{},", origin.image_url(n)),
            _ => format!("{},photo number {n}", origin.image_url(n)),
        })
        .collect();
    rows.insert(2, format!("{base}/faults/status/404,gone"));
    rows.insert(5, format!("{base}/faults/status/404,"));
    rows.insert(7, format!("{base}/faults/status/500,broken server"));
    // Starts like a JPEG and is not one: downloaded, then the decode fails.
    rows.insert(9, format!("{base}/faults/large/20000,not an image"));
    let csv = format!("url,caption\n{}\n", rows.join("\n"));
    let captions = (0..PHOTOS).filter(|n| n % 3 != 1).count();
    let expected = json!({
        "count": rows.len(),
        "successes": PHOTOS,
        "failed_to_download": 3,
        "failed_to_resize": 1,
        "shards": rows.len().div_ceil(4),
        "captions": captions,
    });
    (csv, expected)
}

/// Runs one of `tests/python/`'s scripts with `python` and returns the JSON it prints.
fn run_script(python: &Path, script: &str, args: &[&Path]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let output = Command::new(python).arg(&path).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{script}: {err}: {stderr}"))
}

/// `webdataset` iterates every tar and decodes every sample (its image the
/// size its JSON says, its key the JSON's, its `txt` the caption);
/// `pyarrow` reads every parquet (in `parquet`, every image decodes to its
/// row's size); img2dataset's stats, summed as its users sum them, give
/// the totals that were served, in both formats.
#[test]
fn python_readers_read_our_datasets() {
    let Some(python) = test_servers::python_with(&["webdataset", "pyarrow.parquet", "PIL"]) else { return };
    let origin = start_origin(PHOTOS, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let (csv, expected) = csv_list(&origin);
    std::fs::write(dir.path().join("list.csv"), csv).unwrap();
    for format in ["webdataset", "parquet"] {
        let args = [
            "--urls",
            "list.csv",
            "--caption-column",
            "caption",
            "--output-format",
            format,
            "--shard-size",
            SHARD_SIZE,
            "--thumbnail",
            "64x64",
            "--retries",
            "0",
            "--json",
            "--store",
            format,
        ];
        let json = report(&pipeline(dir.path(), &args), 3, format);
        assert_eq!(json["failed"].as_u64(), Some(4), "{format}: {json}");
        let store = dir.path().join(format);

        let read = run_script(&python, "read_dataset.py", &[&store, Path::new(format)]);
        assert_eq!(read["rows"], expected["count"], "{format}: every input row in the metadata: {read}");
        assert_eq!(read["samples"], expected["successes"], "{format}: one sample per success: {read}");
        assert_eq!(read["images_decoded"], expected["successes"], "{format}: {read}");
        assert_eq!(read["captions"], expected["captions"], "{format}: a caption where the row had one: {read}");

        let totals = run_script(&python, "img2dataset_stats.py", &[&store]);
        for field in ["count", "successes", "failed_to_download", "failed_to_resize", "shards"] {
            assert_eq!(totals[field], expected[field], "{format}: {field} summed over *_stats.json: {totals}");
        }
    }
}
