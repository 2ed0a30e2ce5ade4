//! What `pipeline_run`'s test files share: an origin to download from,
//! running the binary, reading the `--json` report of a run that must end
//! with a given status, and reading a dataset's shards back.

#![allow(dead_code)] // not every test file that includes this module uses all of it

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use origin::{OriginConfig, RunningOrigin};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// Runs `pipeline_run` in `dir` with `args`, with no API key from the
/// environment (so the default source is the embedded origin).
pub(crate) fn pipeline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(args)
        .current_dir(dir)
        .env_remove("UNSPLASH_ACCESS_KEY")
        .env_remove("IMGUR_CLIENT_ID")
        .output()
        .unwrap()
}

/// The `--json` report of a run that must exit with `status`.
pub(crate) fn report(output: &Output, status: i32, what: &str) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "{what}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{what}: {err}: {stderr}"))
}

/// An origin of `count` photos of 240x160, each answered after `latency`.
pub(crate) fn start_origin(count: usize, latency: Duration) -> RunningOrigin {
    origin::start(OriginConfig {
        count,
        latency,
        jitter: Duration::ZERO,
        width: 240,
        height: 160,
        ..OriginConfig::default()
    })
    .unwrap()
}

/// One row of a shard's metadata (`NNNNN.parquet`), as the Rust parquet
/// reader reads it; a column the dataset does not have reads as `None`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meta {
    pub(crate) key: String,
    pub(crate) url: String,
    pub(crate) caption: Option<String>,
    pub(crate) status: String,
    pub(crate) kind: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) width: Option<i32>,
    pub(crate) height: Option<i32>,
    pub(crate) original: (Option<i32>, Option<i32>),
    pub(crate) sha256: Option<String>,
    pub(crate) exif: Option<String>,
    pub(crate) id: Option<i64>,
    pub(crate) score: Option<f64>,
    pub(crate) jpg: Option<Vec<u8>>,
}

impl Meta {
    /// `success`, or the failure's kind; checking that the status is the
    /// established tool's (`failed_to_resize` for an image that came but
    /// could not be made, `failed_to_download` for any other failure).
    pub(crate) fn outcome(&self) -> &str {
        let Some(kind) = &self.kind else {
            assert_eq!(self.status, "success", "a failure without its kind: {self:?}");
            return "success";
        };
        let resize = ["transform", "no_image"].contains(&kind.as_str());
        let status = if resize { "failed_to_resize" } else { "failed_to_download" };
        assert_eq!(self.status, status, "{self:?}");
        kind
    }
}

/// Every row of a shard's metadata file, from its bytes.
pub(crate) fn read_meta(bytes: &[u8]) -> Vec<Meta> {
    let bytes = bytes::Bytes::copy_from_slice(bytes);
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let text = |name: &str, row: usize| {
            let column = batch.column_by_name(name)?.as_string::<i32>();
            column.is_valid(row).then(|| column.value(row).to_string())
        };
        let int = |name: &str, row: usize| {
            let column = batch.column_by_name(name)?.as_primitive::<Int32Type>();
            column.is_valid(row).then(|| column.value(row))
        };
        let id = batch.column_by_name("id").map(|column| column.as_primitive::<Int64Type>());
        let score = batch.column_by_name("score").map(|column| column.as_primitive::<Float64Type>());
        let jpg = batch.column_by_name("jpg").map(|column| column.as_binary::<i32>());
        for row in 0..batch.num_rows() {
            rows.push(Meta {
                key: text("key", row).unwrap(),
                url: text("url", row).unwrap(),
                caption: text("caption", row),
                status: text("status", row).unwrap(),
                kind: text("error_kind", row),
                error: text("error_message", row),
                width: int("width", row),
                height: int("height", row),
                original: (int("original_width", row), int("original_height", row)),
                sha256: text("sha256", row),
                exif: text("exif", row),
                id: id.filter(|id| id.is_valid(row)).map(|id| id.value(row)),
                score: score.filter(|score| score.is_valid(row)).map(|score| score.value(row)),
                jpg: jpg.filter(|jpg| jpg.is_valid(row)).map(|jpg| jpg.value(row).to_vec()),
            });
        }
    }
    rows
}

/// Every row of the shard metadata file at `path`.
pub(crate) fn read_meta_file(path: &Path) -> Vec<Meta> {
    read_meta(&std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display())))
}

/// A tar's members in their order, by name, with their bytes.
pub(crate) fn tar_members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    let mut members = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.push((name, bytes));
    }
    members
}
