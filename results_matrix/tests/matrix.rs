//! `results_matrix` on raw runs written to a temporary folder, as
//! `scripts/run_all.sh` writes them: the medians, speedups and files it makes.

#![allow(clippy::unwrap_used)] // a test that cannot write its temp dir should panic

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_results_matrix");

/// One raw line: a run of `label` that saved `files` images in `seconds`.
fn run(label: &str, kind: &str, round: usize, seconds: f64, files: usize) -> String {
    let failed = 10 - files.min(10);
    let exit = if failed > 0 { 3 } else { 0 };
    json!({
        "label": label, "kind": kind, "round": round, "exit": exit,
        "report": {"run": label, "source": "test", "requested": 10, "files": files, "failed": failed,
                   "bytes": 1000, "seconds": seconds, "concurrency": 4, "failures": [],
                   "listing_error": null, "interrupted": false},
    })
    .to_string()
}

/// Every binary, three rounds: (label, kind, seconds of rounds 1..=3).
const SAMPLE: [(&str, &str, [f64; 3]); 7] = [
    ("normal_run", "download", [20.0, 22.0, 21.0]),
    ("multithreading_run", "download", [2.0, 3.0, 2.5]),
    ("multiprocessing_run", "download", [4.2, 4.0, 4.1]),
    ("asyncio_run", "download", [0.5, 0.7, 0.6]),
    ("asyncio_run --runtime async-std", "download", [0.75, 0.7, 0.8]),
    ("resize_serial", "resize", [4.0, 4.4, 4.2]),
    ("resize_parallel", "resize", [2.1, 2.0, 2.2]),
];

/// The sample's runs, interleaved by round as the script makes them.
fn sample_lines() -> Vec<String> {
    (0..3)
        .flat_map(|round| SAMPLE.iter().map(move |(label, kind, secs)| run(label, kind, round + 1, secs[round], 10)))
        .collect()
}

fn build(dir: &Path, lines: &[String]) -> Output {
    let raw = dir.join("runs.jsonl");
    std::fs::write(&raw, lines.join("\n") + "\n").unwrap();
    Command::new(BIN)
        .arg("--raw")
        .arg(&raw)
        .arg("--out")
        .arg(dir.join("results"))
        .args(["--count", "10", "--repeat", "3", "--source", "test origin", "--latency-ms", "200"])
        .args(["--jitter-ms", "100", "--date", "2026-01-02 03:04 UTC", "--command", "scripts/run_all.sh --count 10"])
        .output()
        .unwrap()
}

/// Medians, speedups over each kind's serial baseline, images/s and the
/// header come out in RESULTS.md and results.json; the chart is a PNG.
#[test]
fn writes_the_matrix_the_runs_and_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let output = build(dir.path(), &sample_lines());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let markdown = std::fs::read_to_string(dir.path().join("results/RESULTS.md")).unwrap();
    for expected in [
        "| 1 | Serial download (4 at once) | `normal_run` | 10 | 21.00 | 20.00–22.00 | 1.0x | 0.5 | 0 |",
        "| 2 | Download, threads (4 at once) | `multithreading_run` | 10 | 2.50 | 2.00–3.00 | 8.4x | 4.0 | 0 |",
        "| 4 | Download, async IO (tokio) (4 at once) | `asyncio_run` | 10 | 0.60 | 0.50–0.70 | 35.0x | 16.7 | 0 |",
        "| 5 | Download, async IO (async-std) (4 at once) | `asyncio_run --runtime async-std` | 10 | 0.75 |",
        "| 6 | Serial resize (4 threads) | `resize_serial` | 10 | 4.20 | 4.00–4.40 | 1.0x | 2.4 | 0 |",
        "| 7 | Resize, all cores (rayon) (4 threads) | `resize_parallel` | 10 | 2.10 | 2.00–2.20 | 2.0x | 4.8 | 0 |",
        "- **Date:** 2026-01-02 03:04 UTC",
        "- **Source:** test origin; latency: 200 ms ± 100 ms per image",
        "- **Command:** `scripts/run_all.sh --count 10`",
        "cores",
        "![Median time of each approach](timings.png)",
    ] {
        assert!(markdown.contains(expected), "missing {expected:?} in:\n{markdown}");
    }
    assert!(!markdown.contains("Failed runs"), "{markdown}");

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results/results.json")).unwrap()).unwrap();
    assert_eq!(results["runs"].as_array().unwrap().len(), 21);
    assert_eq!(results["rows"].as_array().unwrap().len(), 7);
    assert_eq!(results["rows"][2]["median_seconds"], 4.1);
    assert_eq!(results["header"]["count"], 10);

    let chart = image::open(dir.path().join("results/timings.png")).unwrap();
    assert_eq!(chart.width(), 960);
    assert!(chart.height() > 400, "two panels of bars: {}", chart.height());
    // Not a blank canvas: the bars' blue is there.
    let rgb = chart.to_rgb8();
    assert!(rgb.pixels().any(|p| p.0 == [70, 110, 170]), "no bar drawn");
}

/// A run that saved too few files makes the exit status 3 and is named on
/// stderr and in RESULTS.md; the files are still written.
#[test]
fn a_short_run_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = sample_lines();
    lines[9] = run("multiprocessing_run", "download", 2, 4.0, 9);
    let output = build(dir.path(), &lines);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FAILED: multiprocessing_run (round 2): exited with status 3, 9 of 10 files"), "{stderr}");
    let markdown = std::fs::read_to_string(dir.path().join("results/RESULTS.md")).unwrap();
    assert!(markdown.contains("## Failed runs"), "{markdown}");
    assert!(markdown.contains("| 3 | Download, processes (4 at once) | `multiprocessing_run` | 9 |"), "{markdown}");
}

/// A binary that printed no report still gets its row (from its other
/// runs), and the whole build fails.
#[test]
fn a_run_without_a_report_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = sample_lines();
    lines
        .push(json!({"label": "resize_parallel", "kind": "resize", "round": 4, "exit": 2, "report": null}).to_string());
    let output = build(dir.path(), &lines);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("resize_parallel (round 4): exited with status 2"));
}

/// A raw file that is not runs is a usage error, not a matrix.
#[test]
fn unreadable_runs_are_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = build(dir.path(), &["not json".to_string()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 1 is not a run"));
    assert!(!dir.path().join("results/RESULTS.md").exists());
}
