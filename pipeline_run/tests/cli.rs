//! The command line teaches and forgives. `--help` names what a newcomer
//! needs and cannot guess: the stores' schemes and the environment
//! variables each reads, every URL list format, the default mode and why.
//! `--retry-failed` takes the first run's command line as it was ("the
//! same command plus `--retry-failed`"), for loose files and for datasets,
//! against a real origin on 127.0.0.1 whose images fail their first
//! request: it says in one line that `--urls` is not read, and retries
//! exactly the failures.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use origin::{FaultSpec, OriginConfig, RunningOrigin};
use support::{pipeline, report};

/// The `--help` text of `flag`: from its line to the next flag's.
fn help_of(help: &str, flag: &str) -> String {
    let start = help.find(&format!("\n      {flag} ")).unwrap_or_else(|| panic!("{flag} not in --help"));
    let rest = &help[start + 1..];
    let end = rest[1..].find("\n      --").map_or(rest.len(), |end| end + 1);
    rest[..end].to_string()
}

/// `pipeline_run --help` lists the stores' schemes with the environment
/// variables each reads, Parquet among the list formats, and the default
/// mode with its reason: a help text that loses one fails here.
#[test]
fn help_names_the_stores_their_variables_and_every_list_format() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline_run")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let store = help_of(&help, "--store");
    for scheme in ["s3://", "gs://", "az://", "file://"] {
        assert!(store.contains(scheme), "--store's help lost {scheme}: {store}");
    }
    // Whole names: GOOGLE_SERVICE_ACCOUNT is not found inside GOOGLE_SERVICE_ACCOUNT_KEY.
    let words: Vec<&str> = store.split(|c: char| !(c.is_ascii_uppercase() || c == '_')).collect();
    for variable in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ALLOW_HTTP",
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "AZURE_STORAGE_ACCOUNT_KEY",
    ] {
        assert!(words.contains(&variable), "--store's help lost {variable}: {store}");
    }
    let urls = help_of(&help, "--urls");
    for format in [".parquet", ".csv", ".tsv", ".jsonl", "gzip"] {
        assert!(urls.contains(format), "--urls' help lost {format}: {urls}");
    }
    let mode = help_of(&help, "--mode");
    assert!(mode.contains("[default: async, the fastest here"), "{mode}");
    assert!(mode.contains("Processes are not the default"), "{mode}");
    let concurrency = help_of(&help, "--concurrency");
    assert!(concurrency.contains("async 100"), "{concurrency}");
}

/// An origin of photos that each fail their first request (500), or not,
/// as the seed decides by id; the URLs of `clean` photos that never fail
/// and `once` that fail once, then a 404 that never stops failing.
fn origin_and_urls(clean: usize, once: usize) -> (RunningOrigin, Vec<String>) {
    let mut faults: FaultSpec = "500=50".parse().unwrap();
    faults.seed = 7;
    let attempts = |id: usize| faults.fault_for(id).map(|fault| fault.attempts);
    let (clean_ids, once_ids): (Vec<usize>, Vec<usize>) = (
        (0..200).filter(|&id| attempts(id).is_none()).take(clean).collect(),
        (0..200).filter(|&id| attempts(id) == Some(Some(1))).take(once).collect(),
    );
    let config = OriginConfig {
        count: 200,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 240,
        height: 160,
        faults,
        ..OriginConfig::default()
    };
    let origin = origin::start(config).unwrap();
    let mut urls: Vec<String> = clean_ids.iter().chain(&once_ids).map(|&id| origin.image_url(id)).collect();
    urls.insert(1, format!("{}/faults/status/404", origin.base_url()));
    (origin, urls)
}

/// Runs `args`, then the same plus `--retry-failed`; checks the retry said
/// in one line that the input flags are not read, and requested exactly
/// the failures (the 404 too; the origin counts image requests only).
/// Returns the retry's report.
fn run_then_retry(dir: &Path, origin: &RunningOrigin, args: &[&str], failures: u64) -> serde_json::Value {
    let first = report(&pipeline(dir, args), 3, "first run");
    assert_eq!(first["failed"].as_u64(), Some(failures), "{first}");
    let requests = origin.stats().image_requests;
    let output = pipeline(dir, &[args, &["--retry-failed"]].concat());
    let retry = report(&output, 3, "the same command plus --retry-failed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let note = stderr.lines().find(|line| line.starts_with("--retry-failed: retrying the failures recorded in"));
    assert!(note.is_some_and(|note| note.contains("--urls")), "{stderr}");
    assert_eq!(origin.stats().image_requests - requests, failures - 1, "only the failures are fetched again");
    retry
}

/// Loose files: the first run's command plus `--retry-failed` runs again
/// exactly its failures; the ones the origin now serves are saved.
#[test]
fn retry_failed_takes_the_first_command_line_for_loose_files() {
    let (origin, urls) = origin_and_urls(3, 2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("urls.txt"), urls.join("\n")).unwrap();
    let args = ["--urls", "urls.txt", "--store", "out", "--retries", "0", "--json"];
    let retry = run_then_retry(dir.path(), &origin, &args, 3);
    assert_eq!((retry["requested"].as_u64(), retry["files"].as_u64()), (Some(3), Some(2)), "{retry}");
    assert_eq!(retry["failed"].as_u64(), Some(1), "the 404 still fails: {retry}");
}

/// A dataset: the first run's whole command (list, caption, saved
/// columns, format, `--count`) plus `--retry-failed` repairs its shards in
/// place, retrying exactly the failed rows.
#[test]
fn retry_failed_takes_the_first_command_line_for_datasets() {
    for format in ["webdataset", "parquet"] {
        // A fresh origin each time: its photos fail their first request only.
        let (origin, urls) = origin_and_urls(5, 2);
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<String> = urls.iter().enumerate().map(|(n, url)| format!("{url},photo {n},{n}")).collect();
        std::fs::write(dir.path().join("list.csv"), format!("url,caption,id\n{}\n", rows.join("\n"))).unwrap();
        let store = format!("store-{format}");
        let args = [
            "--urls",
            "list.csv",
            "--caption-column",
            "caption",
            "--save-columns",
            "id",
            "--output-format",
            format,
            "--shard-size",
            "4",
            "--count",
            "8",
            "--retries",
            "0",
            "--json",
            "--store",
            &store,
        ];
        let retry = run_then_retry(dir.path(), &origin, &args, 3);
        let repair = &retry["dataset"]["repair"];
        assert_eq!(repair["retried"].as_u64(), Some(3), "{format}: {retry}");
        assert_eq!(repair["repaired"].as_u64(), Some(2), "{format}: {retry}");
        assert_eq!(repair["still_failing"].as_u64(), Some(1), "{format}: {retry}");
    }
}
