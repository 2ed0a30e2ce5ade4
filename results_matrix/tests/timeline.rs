//! `timeline` on synthetic traces of two modes written to a temporary folder,
//! as `pipeline_run --trace` writes them: the pictures it draws, what they
//! hold, and the one clear line bad input gets.

#![allow(clippy::unwrap_used)] // a test that cannot write its temp dir should panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_timeline");

/// Images per synthetic run, crops per image, and every how many images one fails.
const TASKS: u64 = 30;
const CROPS: u64 = 5;
const FAIL_EVERY: u64 = 10;

/// The event kinds' colours as the legend draws them (plot.rs), in lifecycle order.
const KIND_COLOURS: [(&str, [u8; 3]); 5] = [
    ("queued", [31, 119, 180]),
    ("downloaded", [255, 127, 14]),
    ("transformed", [44, 160, 44]),
    ("stored", [148, 103, 189]),
    ("failed", [214, 39, 40]),
];

/// The two modes' colours in the comparison (plot.rs).
const SERIAL_COLOUR: [u8; 3] = [190, 110, 60];
const ASYNC_COLOUR: [u8; 3] = [170, 60, 150];

/// Pixels in a legend square (14 x 14): a colour seen more often than this
/// was drawn as marks too, not only in the legend.
const LEGEND_SQUARE: usize = 14 * 14;

/// One run's trace: every image queued, downloaded, transformed and its
/// crops stored one after another (`serial`), or ten images at a time with
/// every image queued at once (`async`); every tenth image fails instead.
fn synthetic_trace(mode: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let at_once = if mode == "serial" { 1 } else { 10 };
    let per_task = 0.1 + 0.05 + CROPS as f64 * 0.02;
    for task in 0..TASKS {
        let start = (task / at_once) as f64 * per_task;
        let queued = if mode == "serial" { start } else { 0.0 };
        let mut event = |event: &str, t: f64, key: Option<String>| {
            let mut line = json!({"mode": mode, "task": task, "event": event, "t": t});
            if let Some(key) = key {
                line["key"] = json!(key);
            }
            lines.push(line.to_string());
        };
        event("queued", queued, None);
        event("downloaded", start + 0.1, None);
        if task % FAIL_EVERY == FAIL_EVERY - 1 {
            event("failed", start + 0.1, None);
            continue;
        }
        event("transformed", start + 0.15, None);
        for crop in 0..CROPS {
            event("stored", start + 0.15 + (crop + 1) as f64 * 0.02, Some(format!("img{task}/crop-{crop:03}.jpg")));
        }
    }
    lines
}

/// Writes `lines` to `dir/name` and returns its path.
fn write_trace(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn timeline(traces: &[PathBuf], out: &Path) -> Output {
    Command::new(BIN).args(traces).arg("--out").arg(out).arg("--json").output().unwrap()
}

/// How many pixels of `picture` are exactly `colour`.
fn pixels_of(picture: &image::RgbImage, colour: [u8; 3]) -> usize {
    picture.pixels().filter(|pixel| pixel.0 == colour).count()
}

/// Two traces, two timelines and a comparison: each a 1200 x 800 PNG with
/// marks of every event kind; the summary counts images, objects and failures.
#[test]
fn draws_a_timeline_per_mode_and_the_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let serial = write_trace(dir.path(), "serial.jsonl", &synthetic_trace("serial"));
    let asynchronous = write_trace(dir.path(), "async.jsonl", &synthetic_trace("async"));
    let out = dir.path().join("pictures");
    let output = timeline(&[asynchronous, serial], &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    // One line per picture, serial first whatever the order given.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].contains("timeline-serial.png") && lines[0].contains("30 images"), "{stderr}");
    assert!(lines[1].contains("timeline-async.png"), "{stderr}");
    assert!(lines[2].contains("timeline-comparison.png"), "{stderr}");

    let failed = (TASKS / FAIL_EVERY) as usize;
    let stored = (TASKS as usize - failed) * CROPS as usize;
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    let pictures = summary["pictures"].as_array().unwrap();
    assert_eq!(pictures.len(), 3);
    assert_eq!(pictures[0]["mode"], "serial");
    assert_eq!(pictures[0]["images"], TASKS);
    assert_eq!(pictures[0]["objects_stored"], stored);
    assert_eq!(pictures[0]["failed"], failed);
    assert_eq!(pictures[2]["mode"], Value::Null);

    for mode in ["serial", "async"] {
        let picture = image::open(out.join(format!("timeline-{mode}.png"))).unwrap().to_rgb8();
        assert_eq!(picture.dimensions(), (1200, 800), "{mode}");
        for (kind, colour) in KIND_COLOURS {
            let seen = pixels_of(&picture, colour);
            assert!(seen > LEGEND_SQUARE, "{mode}: {kind} has {seen} pixels, no more than its legend square");
        }
    }
    let comparison = image::open(out.join("timeline-comparison.png")).unwrap().to_rgb8();
    assert_eq!(comparison.dimensions(), (1200, 800));
    for colour in [SERIAL_COLOUR, ASYNC_COLOUR] {
        let seen = pixels_of(&comparison, colour);
        assert!(seen > 2 * LEGEND_SQUARE, "{colour:?}: {seen} pixels, a legend square but no lines");
    }
}

/// One file may hold several modes: each still gets its own picture.
#[test]
fn one_file_may_hold_two_modes() {
    let dir = tempfile::tempdir().unwrap();
    let both = [synthetic_trace("async"), synthetic_trace("serial")].concat();
    let trace = write_trace(dir.path(), "both.jsonl", &both);
    let output = timeline(&[trace], dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for name in ["timeline-serial.png", "timeline-async.png", "timeline-comparison.png"] {
        assert!(dir.path().join(name).is_file(), "{name} missing");
    }
}

/// Every kind of bad line is one line on stderr naming file:line, exit
/// status 2, and no picture: not JSON, an unknown event, a negative time,
/// a mode that is not a plain file name.
#[test]
fn a_bad_line_is_named_by_file_and_line() {
    let bad_lines = [
        ("not json", "not a trace event"),
        (r#"{"mode":"serial","task":1,"event":"exploded","t":0.5}"#, "unknown variant"),
        (r#"{"mode":"serial","task":1,"event":"stored","t":-1.0}"#, "is not seconds"),
        (r#"{"mode":"../up","task":1,"event":"stored","t":1.0}"#, "not a plain name"),
    ];
    for (bad, reason) in bad_lines {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = synthetic_trace("serial");
        lines.insert(2, bad.to_string());
        let trace = write_trace(dir.path(), "serial.jsonl", &lines);
        let output = timeline(std::slice::from_ref(&trace), &dir.path().join("out"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("{}:3", trace.display())), "{bad}: {stderr}");
        assert!(stderr.contains(reason), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.path().join("out").exists(), "a picture was started for bad input");
    }
}

/// A missing file, an empty one, and one mode in two files are each one clear line and exit 2.
#[test]
fn missing_empty_and_doubled_traces_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let serial = write_trace(dir.path(), "serial.jsonl", &synthetic_trace("serial"));
    let again = write_trace(dir.path(), "again.jsonl", &synthetic_trace("serial"));
    let empty = write_trace(dir.path(), "empty.jsonl", &[]);
    let missing = dir.path().join("missing.jsonl");
    for (traces, expected) in [
        (vec![missing.clone()], format!("cannot read {}", missing.display())),
        (vec![serial.clone(), empty.clone()], format!("{} holds no trace events", empty.display())),
        (vec![serial.clone(), again.clone()], format!("{}:1: mode \"serial\" was already traced in", again.display())),
    ] {
        let output = timeline(&traces, &dir.path().join("out"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&expected), "expected {expected:?} in {stderr}");
    }
}

/// `pipeline_run` writes an image's events when the image is done, so a
/// trace is not in time order: the pictures must not depend on the order
/// of the lines. The same events reversed draw the same pixels.
#[test]
fn the_order_of_the_lines_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let lines = synthetic_trace("async");
    let mut reversed = lines.clone();
    reversed.reverse();
    let in_order = write_trace(dir.path(), "in-order.jsonl", &lines);
    let backwards = write_trace(dir.path(), "backwards.jsonl", &reversed);
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    for (trace, out) in [(in_order, &first), (backwards, &second)] {
        let output = timeline(&[trace], out);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    for name in ["timeline-async.png", "timeline-comparison.png"] {
        let a = image::open(first.join(name)).unwrap().to_rgb8();
        let b = image::open(second.join(name)).unwrap().to_rgb8();
        assert!(a == b, "{name} differs when the trace's lines are reversed");
    }
}

/// Two modes whose runs match (serial and one worker process wait on the
/// same latencies) both show in the comparison: the line drawn first is
/// wider and edges the one drawn over it, instead of vanishing under it.
#[test]
fn matching_runs_both_show_in_the_comparison() {
    const PROCESSES_COLOUR: [u8; 3] = [90, 160, 90];
    let dir = tempfile::tempdir().unwrap();
    let serial = write_trace(dir.path(), "serial.jsonl", &synthetic_trace("serial"));
    let same =
        synthetic_trace("serial").iter().map(|line| line.replace("\"serial\"", "\"processes\"")).collect::<Vec<_>>();
    let processes = write_trace(dir.path(), "processes.jsonl", &same);
    let output = timeline(&[serial, processes], dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let comparison = image::open(dir.path().join("timeline-comparison.png")).unwrap().to_rgb8();
    for colour in [SERIAL_COLOUR, PROCESSES_COLOUR] {
        let seen = pixels_of(&comparison, colour);
        assert!(seen > 2 * LEGEND_SQUARE, "{colour:?}: {seen} pixels, a legend square but no line");
    }
}
