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

/// One raw line: a run of `pipeline_run --mode <mode>` that saved 10
/// images in `seconds` and whose store confirmed `objects` objects.
fn pipeline_run(mode: &str, round: usize, seconds: f64, objects: usize) -> String {
    let label = format!("pipeline_run --mode {mode}");
    json!({
        "label": label, "kind": "pipeline", "round": round, "exit": 0,
        "report": {"run": format!("pipeline_run/{mode}"), "source": "test", "requested": 10, "files": 10,
                   "failed": 0, "bytes": 1000, "seconds": seconds, "concurrency": if mode == "serial" { 1 } else { 8 },
                   "failures": [], "listing_error": null, "interrupted": false, "mode": mode,
                   "store": "target/run_all/stored", "objects_stored": objects, "empty_crops": 0,
                   "stage_seconds": {"download": 1.0, "transform": 0.5, "store": 0.1}},
    })
    .to_string()
}

/// The four pipeline modes, three rounds: (mode, seconds of rounds 1..=3).
const PIPELINE_SAMPLE: [(&str, [f64; 3]); 4] = [
    ("serial", [24.0, 25.0, 26.0]),
    ("threads", [3.0, 2.5, 2.0]),
    ("processes", [12.0, 12.5, 13.0]),
    ("async", [0.8, 0.9, 1.0]),
];

/// The sample's runs and the pipeline sample's, interleaved by round.
fn sample_with_pipelines() -> Vec<String> {
    let mut lines = sample_lines();
    for round in 0..3 {
        for (mode, seconds) in PIPELINE_SAMPLE {
            lines.push(pipeline_run(mode, round + 1, seconds[round], 10));
        }
    }
    lines
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

/// Pipeline runs get rows of their own after the resize rows, with speedups
/// over the serial pipeline, a third panel in the chart, and the timelines
/// that are in the folder linked from RESULTS.md (only those).
#[test]
fn pipeline_rows_have_their_own_baseline_and_timelines() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    for picture in ["timeline-comparison.png", "timeline-async.png", "timeline-serial.png"] {
        std::fs::write(results.join(picture), "drawn by timeline").unwrap();
    }
    let output = build(dir.path(), &sample_with_pipelines());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let markdown = std::fs::read_to_string(results.join("RESULTS.md")).unwrap();
    for expected in [
        "| 7 | Resize, all cores (rayon) (4 threads) | `resize_parallel` | 10 | 2.10 |",
        "| 8 | Pipeline (download + thumbnail), serial (1 at once) | `pipeline_run --mode serial` | 10 | 25.00 | 24.00–26.00 | 1.0x | 0.4 | 0 |",
        "| 9 | Pipeline (download + thumbnail), threads (8 at once) | `pipeline_run --mode threads` | 10 | 2.50 | 2.00–3.00 | 10.0x | 4.0 | 0 |",
        "| 10 | Pipeline (download + thumbnail), processes (8 at once) | `pipeline_run --mode processes` | 10 | 12.50 |",
        "| 11 | Pipeline (download + thumbnail), async + rayon (8 at once) | `pipeline_run --mode async` | 10 | 0.90 | 0.80–1.00 | 27.8x | 11.1 | 0 |",
        "pipelines against `pipeline_run --mode serial`",
        "![Pipeline modes compared](timeline-comparison.png)\n\n![Timeline of --mode serial](timeline-serial.png)\n\n\
         ![Timeline of --mode async](timeline-async.png)\n",
    ] {
        assert!(markdown.contains(expected), "missing {expected:?} in:\n{markdown}");
    }
    // No picture was drawn for these two modes, so none is linked.
    assert!(!markdown.contains("timeline-threads.png") && !markdown.contains("timeline-processes.png"), "{markdown}");

    let json: Value = serde_json::from_str(&std::fs::read_to_string(results.join("results.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[10]["kind"], "pipeline");
    assert_eq!(rows[10]["mode"], "async");
    assert_eq!(rows[10]["objects_stored"], 10);
    assert_eq!(rows[0]["objects_stored"], Value::Null);

    // Three panels: taller than the two of downloads and resizes.
    let chart = image::open(results.join("timings.png")).unwrap();
    assert!(chart.height() > 800, "three panels of bars: {}", chart.height());
}

/// A pipeline run whose store confirmed fewer objects than the images it
/// says it saved, or whose report does not say, is a failed run.
#[test]
fn a_pipeline_run_with_too_few_objects_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = sample_with_pipelines();
    lines.push(pipeline_run("threads", 4, 2.0, 9));
    let mut silent: Value = serde_json::from_str(&pipeline_run("async", 4, 1.0, 10)).unwrap();
    silent["report"].as_object_mut().unwrap().remove("objects_stored");
    lines.push(silent.to_string());
    let output = build(dir.path(), &lines);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pipeline_run --mode threads (round 4): 9 objects stored for 10 images saved"), "{stderr}");
    assert!(stderr.contains("pipeline_run --mode async (round 4): its --json report does not say"), "{stderr}");
    // Without pipeline rows' pictures in the folder, RESULTS.md links none.
    let markdown = std::fs::read_to_string(dir.path().join("results/RESULTS.md")).unwrap();
    assert!(!markdown.contains("## Pipeline timelines"), "{markdown}");
}
