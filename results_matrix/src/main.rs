//! # results_matrix: the results table the assignments end with
//!
//! `scripts/run_all.sh` runs every download and resize binary, and each
//! mode of `pipeline_run`, R times, interleaved, and appends one JSON line
//! per run to a raw file:
//!
//! ```json
//! {"label":"normal_run","kind":"download","round":1,"exit":0,"report":{"run":"normal_run","files":100,...}}
//! ```
//!
//! (`report` is the binary's own `--json` object, or `null` if it printed
//! none). This binary checks every run, keeps the median time of each
//! binary, and writes three files into `--out`:
//!
//! - `RESULTS.md`: the matrix in the assignments' shape (No., Run type,
//!   Files, Time) plus the speedup over the serial variant, images/s and
//!   failures, under a header naming the machine, date, source and command;
//!   with pipeline rows, also the pipeline timelines that `timeline` drew
//!   into the same folder (`timeline-<mode>.png`, `timeline-comparison.png`);
//! - `results.json`: that header, the rows, and every raw run;
//! - `timings.png`: a bar chart of the medians (see `chart.rs`).
//!
//! With `--readme FILE` it also writes the header and the matrix into that
//! file, between the lines `<!-- results-matrix:start -->` and
//! `<!-- results-matrix:end -->`, replacing what was there: the README
//! shows the latest matrix exactly as made, never a hand-pasted copy that
//! can lose a row.
//!
//! A run that exited non-zero, printed no report, saved fewer files than
//! asked for, or (a pipeline run) had fewer objects confirmed by its store
//! than images saved is a failure: the files are still written (the row says so)
//! and the exit status is 3, with one line per failed run on stderr.
//!
//! **Running** (the script does this; by hand only to redraw):
//! ```text
//! cargo run --release -p results_matrix -- --raw runs.jsonl --count 100 --repeat 3 \
//!     --source "origin binary on 127.0.0.1" --latency-ms 200 --jitter-ms 100 \
//!     --date "2026-11-22 00:50 UTC" --command "scripts/run_all.sh" --out results
//! ```

mod chart;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};

/// Exit status when some run failed or came up short (as the binaries use).
const SOME_FAILED_EXIT: u8 = 3;

/// Exit status for a usage error or unreadable input.
const USAGE_EXIT: u8 = 2;

/// The rows of the matrix, in the order the assignments present them, with
/// the run type a manager reads. A label not listed here (a binary added
/// later) gets a row after these, named by its label.
const RUN_TYPES: [(&str, &str); 11] = [
    ("normal_run", "Serial download"),
    ("multithreading_run", "Download, threads"),
    ("multiprocessing_run", "Download, processes"),
    ("asyncio_run", "Download, async IO (tokio)"),
    ("asyncio_run --runtime async-std", "Download, async IO (async-std)"),
    ("resize_serial", "Serial resize"),
    ("resize_parallel", "Resize, all cores (rayon)"),
    ("pipeline_run --mode serial", "Pipeline (download + thumbnail), serial"),
    ("pipeline_run --mode threads", "Pipeline (download + thumbnail), threads"),
    ("pipeline_run --mode processes", "Pipeline (download + thumbnail), processes"),
    ("pipeline_run --mode async", "Pipeline (download + thumbnail), async + rayon"),
];

/// The line before the matrix in a file that shows it (`--readme`).
const README_START: &str = "<!-- results-matrix:start -->";

/// The line after it.
const README_END: &str = "<!-- results-matrix:end -->";

/// The serial baseline each kind's speedup is measured against.
const BASELINES: [(Kind, &str); 3] =
    [(Kind::Download, "normal_run"), (Kind::Resize, "resize_serial"), (Kind::Pipeline, "pipeline_run --mode serial")];

/// Build the results matrix, every run and a chart from run_all.sh's raw runs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The raw runs: one JSON object a line, as run_all.sh writes them
    #[arg(long, value_name = "FILE")]
    raw: PathBuf,
    /// Where to write RESULTS.md, results.json and timings.png (and where
    /// `timeline` drew the pipeline timelines RESULTS.md shows)
    #[arg(long, value_name = "DIR", default_value = "results")]
    out: PathBuf,
    /// The images each download run was asked for (and each resize run should make)
    #[arg(long)]
    count: usize,
    /// How many times each binary was run
    #[arg(long)]
    repeat: usize,
    /// Where the images came from, for the header
    #[arg(long)]
    source: String,
    /// The origin's mean latency per image, if the origin was the source
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u64>,
    /// The origin's jitter either way, if the origin was the source
    #[arg(long, value_name = "MS")]
    jitter_ms: Option<u64>,
    /// When the runs were made, for the header
    #[arg(long)]
    date: String,
    /// The exact command that made the runs, for the header
    #[arg(long)]
    command: String,
    /// Also write the header and the matrix into this markdown file, between
    /// the lines <!-- results-matrix:start --> and <!-- results-matrix:end -->
    #[arg(long, value_name = "FILE")]
    readme: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match build_results(&cli) {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in &problems {
                eprintln!("FAILED: {problem}");
            }
            ExitCode::from(SOME_FAILED_EXIT)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(USAGE_EXIT)
        }
    }
}

/// Whether a run downloaded images, made thumbnails of downloaded images,
/// or did both at once (`pipeline_run`: download, thumbnail, store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Download,
    Resize,
    Pipeline,
}

impl Kind {
    /// The plural a reader meets in the notes: "downloads", "resizes", "pipelines".
    fn plural(self) -> &'static str {
        match self {
            Kind::Download => "downloads",
            Kind::Resize => "resizes",
            Kind::Pipeline => "pipelines",
        }
    }
}

/// One line of the raw file: one run of one binary.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RawRun {
    /// The binary and any flag that makes it a variant (`asyncio_run --runtime async-std`).
    label: String,
    kind: Kind,
    /// 1..=R; runs of one round are interleaved across binaries.
    round: usize,
    /// The binary's exit status.
    exit: i32,
    /// The binary's `--json` object, or `null` if it printed none.
    report: Option<serde_json::Value>,
}

/// The fields of a `--json` report the matrix needs; download, resize and
/// pipeline reports all have them (`concurrency` or `threads` says how
/// wide). A pipeline report also says its mode and how many objects its
/// store confirmed.
#[derive(Debug, Deserialize)]
struct ReportFields {
    files: usize,
    failed: usize,
    seconds: f64,
    concurrency: Option<usize>,
    threads: Option<usize>,
    mode: Option<String>,
    objects_stored: Option<usize>,
}

/// One row of the matrix: one binary, its runs reduced to a median.
#[derive(Debug, Clone, Serialize)]
struct Row {
    number: usize,
    label: String,
    run_type: String,
    kind: Kind,
    /// Files saved in the slowest-to-save run (the fewest), so a short run shows.
    files: usize,
    /// Images not saved, over every round.
    failures: usize,
    /// Downloads or threads at once, as the binary reported it.
    width: Option<usize>,
    /// Objects the store confirmed in the run that stored the fewest (pipeline rows only).
    objects_stored: Option<usize>,
    /// The pipeline mode, as the binary reported it (pipeline rows only).
    mode: Option<String>,
    runs: usize,
    median_seconds: f64,
    min_seconds: f64,
    max_seconds: f64,
    images_per_second: f64,
    /// Median of the serial baseline over this row's median; `None` without a baseline.
    speedup: Option<f64>,
}

/// The header of the matrix: what was measured, where, how.
#[derive(Debug, Serialize)]
struct Header {
    machine: String,
    cores: usize,
    date: String,
    source: String,
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    count: usize,
    repeat: usize,
    command: String,
}

/// Reads the raw runs, writes the three files, and returns every problem found.
fn build_results(cli: &Cli) -> anyhow::Result<Vec<String>> {
    // Every run, as the script recorded it.
    let runs = read_raw_runs(&cli.raw)?;
    anyhow::ensure!(!runs.is_empty(), "{} holds no runs", cli.raw.display());

    // Every failed or short run, named.
    let problems: Vec<String> = runs.iter().filter_map(|run| check_run(run, cli.count)).collect();

    // One row per binary, with medians and speedups.
    let rows = aggregate(&runs);
    let header = Header {
        machine: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        date: cli.date.clone(),
        source: cli.source.clone(),
        latency_ms: cli.latency_ms,
        jitter_ms: cli.jitter_ms,
        count: cli.count,
        repeat: cli.repeat,
        command: cli.command.clone(),
    };

    // The three files.
    std::fs::create_dir_all(&cli.out).with_context(|| format!("cannot create {}", cli.out.display()))?;
    let markdown_path = cli.out.join("RESULTS.md");
    let timelines = timelines(&cli.out, &rows);
    std::fs::write(&markdown_path, markdown(&header, &rows, &problems, &timelines))
        .with_context(|| format!("cannot write {}", markdown_path.display()))?;
    if let Some(readme) = &cli.readme {
        let text = std::fs::read_to_string(readme).with_context(|| format!("cannot read {}", readme.display()))?;
        let Some(text) = splice_matrix(&text, &matrix(&header, &rows)) else {
            anyhow::bail!(
                "{} has no line {README_START} followed by a line {README_END} to put the matrix between",
                readme.display()
            );
        };
        std::fs::write(readme, text).with_context(|| format!("cannot write {}", readme.display()))?;
    }
    let json = serde_json::json!({ "header": header, "rows": rows, "problems": problems, "runs": runs });
    let json_path = cli.out.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let chart_path = cli.out.join("timings.png");
    chart::draw_timings(&rows, &header, &chart_path)
        .with_context(|| format!("cannot draw {}", chart_path.display()))?;
    Ok(problems)
}

fn read_raw_runs(path: &Path) -> anyhow::Result<Vec<RawRun>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line).with_context(|| format!("{} line {} is not a run", path.display(), number + 1))
        })
        .collect()
}

/// What is wrong with one run, if anything: a non-zero exit, no report, an
/// unreadable report, or fewer files than `count`.
fn check_run(run: &RawRun, count: usize) -> Option<String> {
    let name = format!("{} (round {})", run.label, run.round);
    let Some(report) = &run.report else {
        return Some(format!("{name}: exited with status {} and printed no --json report", run.exit));
    };
    let fields = match ReportFields::deserialize(report) {
        Ok(fields) => fields,
        Err(err) => return Some(format!("{name}: its --json report is missing a field: {err}")),
    };
    if run.exit != 0 || fields.files != count || fields.failed > 0 {
        return Some(format!(
            "{name}: exited with status {}, {} of {count} files, {} failed",
            run.exit, fields.files, fields.failed
        ));
    }
    // Every image a pipeline saved made at least its thumbnail, and an image
    // counts as saved only once the store confirmed its objects.
    if run.kind == Kind::Pipeline {
        match fields.objects_stored {
            None => return Some(format!("{name}: its --json report does not say how many objects were stored")),
            Some(objects) if objects < fields.files => {
                return Some(format!("{name}: {objects} objects stored for {} images saved", fields.files));
            }
            Some(_) => {}
        }
    }
    None
}

/// One row per label: the median, fastest and slowest time of its runs that
/// printed a report, in [`RUN_TYPES`] order, then speedups over each kind's
/// serial baseline.
fn aggregate(runs: &[RawRun]) -> Vec<Row> {
    let mut labels: Vec<&str> = RUN_TYPES.iter().map(|(label, _)| *label).collect();
    for run in runs {
        if !labels.contains(&run.label.as_str()) {
            labels.push(&run.label);
        }
    }
    let mut rows = Vec::new();
    for label in labels {
        let mine: Vec<&RawRun> = runs.iter().filter(|run| run.label == label).collect();
        let Some(first) = mine.first() else { continue };
        let mut fields = Vec::new();
        for run in &mine {
            if let Some(report) = &run.report {
                // A report without the fields is named by check_run; it adds no time.
                if let Ok(parsed) = ReportFields::deserialize(report) {
                    fields.push(parsed);
                }
            }
        }
        let mut seconds: Vec<f64> = fields.iter().map(|f| f.seconds).collect();
        let median_seconds = median(&mut seconds).unwrap_or(f64::NAN);
        let files = fields.iter().map(|f| f.files).min().unwrap_or(0);
        rows.push(Row {
            number: rows.len() + 1,
            label: label.to_string(),
            run_type: RUN_TYPES.iter().find(|(l, _)| *l == label).map_or(label, |(_, t)| t).to_string(),
            kind: first.kind,
            files,
            failures: fields.iter().map(|f| f.failed).sum(),
            width: fields.iter().find_map(|f| f.concurrency.or(f.threads)),
            objects_stored: fields.iter().filter_map(|f| f.objects_stored).min(),
            mode: fields.iter().find_map(|f| f.mode.clone()),
            runs: mine.len(),
            median_seconds,
            min_seconds: seconds.first().copied().unwrap_or(f64::NAN),
            max_seconds: seconds.last().copied().unwrap_or(f64::NAN),
            images_per_second: files as f64 / median_seconds,
            speedup: None,
        });
    }
    for (kind, baseline) in BASELINES {
        let base = rows.iter().find(|row| row.label == baseline).map(|row| row.median_seconds);
        for row in rows.iter_mut().filter(|row| row.kind == kind) {
            row.speedup = base.map(|base| base / row.median_seconds).filter(|s| s.is_finite());
        }
    }
    rows
}

/// The median of `values`, which it sorts; of an even count, the mean of the
/// middle two. `None` if empty.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

/// The CPU's model name from `/proc/cpuinfo` (Linux), or "unknown CPU".
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// The pipeline timelines `timeline` drew into `out` for the modes of the
/// pipeline rows, comparison first: (what it shows, file name). Only
/// pictures that exist are linked; run_all.sh draws them before calling
/// this binary and removes older ones first, so they come from these runs.
fn timelines(out: &Path, rows: &[Row]) -> Vec<(String, String)> {
    let modes: Vec<&str> = rows
        .iter()
        .filter(|row| row.kind == Kind::Pipeline)
        .filter_map(|row| row.mode.as_deref())
        .filter(|mode| !mode.is_empty() && mode.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .collect();
    if modes.is_empty() {
        return Vec::new();
    }
    let comparison = ("Pipeline modes compared".to_string(), "timeline-comparison.png".to_string());
    let each = modes.iter().map(|mode| (format!("Timeline of --mode {mode}"), format!("timeline-{mode}.png")));
    std::iter::once(comparison).chain(each).filter(|(_, file)| out.join(file).is_file()).collect()
}

/// The header, the matrix, the chart, the pipeline timelines and any
/// failures, as markdown.
fn markdown(header: &Header, rows: &[Row], problems: &[String], timelines: &[(String, String)]) -> String {
    let mut out = format!("# Results: {} images, each approach timed\n\n", header.count);
    out += &matrix(header, rows);
    let baselines: Vec<String> = BASELINES
        .iter()
        .filter(|(kind, _)| rows.iter().any(|row| row.kind == *kind))
        .map(|(kind, baseline)| format!("{} against `{baseline}`", kind.plural()))
        .collect();
    out += &format!(
        "\nTime is the wall time each binary reports in its `--json` summary (the work, not process \
         start-up); speedup is the serial variant's median over this row's ({}).\n\n",
        baselines.join(", ")
    );
    out += "![Median time of each approach](timings.png)\n";
    if rows.iter().any(|row| row.kind == Kind::Pipeline) {
        out += "\nA pipeline row is `pipeline_run` downloading each image, making its thumbnail and storing it \
                in a local folder, all in one run: compare it with a download row plus a resize row.\n";
    }
    if !timelines.is_empty() {
        out += "\n## Pipeline timelines (the last round)\n\n\
                Every image's events against time (`pipeline_run --trace`, drawn by `timeline`): \
                when it was queued, downloaded, made into a thumbnail and stored.\n\n";
        // A blank line between pictures: markdown would set them side by side.
        let pictures: Vec<String> = timelines.iter().map(|(alt, file)| format!("![{alt}]({file})\n")).collect();
        out += &pictures.join("\n");
    }
    if !problems.is_empty() {
        out += "\n## Failed runs\n\n";
        for problem in problems {
            out += &format!("- {problem}\n");
        }
    }
    out
}

/// What the README shows of the results: the header and the matrix.
fn matrix(header: &Header, rows: &[Row]) -> String {
    let latency = match (header.latency_ms, header.jitter_ms) {
        (Some(latency), Some(jitter)) => format!("{latency} ms ± {jitter} ms per image"),
        (Some(latency), None) => format!("{latency} ms per image"),
        _ => "the network's own".to_string(),
    };
    let mut out = format!("- **Machine:** {}, {} cores\n", header.machine, header.cores);
    out += &format!("- **Date:** {}\n", header.date);
    out += &format!("- **Source:** {}; latency: {latency}\n", header.source);
    out += &format!(
        "- **Runs:** each binary {} times, interleaved; the median is shown, fastest–slowest beside it\n",
        header.repeat
    );
    out += &format!("- **Command:** `{}`\n\n", header.command);
    out += "| No. | Run type | Binary | Files | Time (s) | Fastest–slowest (s) | Speedup over serial | Images/s | Failures |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for row in rows {
        let width = match (row.width, row.kind) {
            (Some(w), Kind::Download | Kind::Pipeline) => format!(" ({w} at once)"),
            (Some(1), Kind::Resize) => " (1 thread)".to_string(),
            (Some(w), Kind::Resize) => format!(" ({w} threads)"),
            (None, _) => String::new(),
        };
        out += &format!(
            "| {} | {}{width} | `{}` | {} | {:.2} | {:.2}–{:.2} | {} | {:.1} | {} |\n",
            row.number,
            row.run_type,
            row.label,
            row.files,
            row.median_seconds,
            row.min_seconds,
            row.max_seconds,
            row.speedup.map_or("-".to_string(), |s| format!("{s:.1}x")),
            row.images_per_second,
            row.failures,
        );
    }
    out
}

/// `text` with the lines between [`README_START`] and [`README_END`]
/// replaced by `matrix`; `None` if it has no such pair of lines.
fn splice_matrix(text: &str, matrix: &str) -> Option<String> {
    let start = text.find(README_START)? + README_START.len();
    let end = start + text[start..].find(README_END)?;
    Some(format!("{}\n\n{}\n\n{}", &text[..start], matrix.trim_end(), &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix replaces what is between the markers, and only that; a
    /// second splice gives the same text; no markers, no splice.
    #[test]
    fn matrix_goes_between_the_markers() {
        let readme = format!("# Title\n\n{README_START}\nold | table\n{README_END}\n\nAfter.\n");
        let spliced = splice_matrix(&readme, "| a |\n|---|\n| 1 |\n").unwrap();
        assert_eq!(spliced, format!("# Title\n\n{README_START}\n\n| a |\n|---|\n| 1 |\n\n{README_END}\n\nAfter.\n"));
        assert_eq!(splice_matrix(&spliced, "| a |\n|---|\n| 1 |\n").unwrap(), spliced);
        assert_eq!(splice_matrix("# no markers\n", "| a |"), None);
        assert_eq!(splice_matrix(&format!("{README_END}\n{README_START}\n"), "| a |"), None, "end before start");
    }

    /// Odd counts take the middle value, even counts the mean of the middle two.
    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    /// A run is fine only with exit 0, a report, every file and no failure.
    #[test]
    fn runs_are_checked() {
        let run = |exit, report: Option<serde_json::Value>| RawRun {
            label: "normal_run".into(),
            kind: Kind::Download,
            round: 2,
            exit,
            report,
        };
        let report = |files: usize, failed: usize| {
            Some(serde_json::json!({"run": "normal_run", "files": files, "failed": failed, "seconds": 1.0}))
        };
        assert_eq!(check_run(&run(0, report(10, 0)), 10), None);
        let short = check_run(&run(3, report(8, 2)), 10).unwrap_or_default();
        assert!(short.contains("normal_run (round 2)") && short.contains("8 of 10 files"), "{short}");
        assert!(check_run(&run(0, report(9, 0)), 10).is_some());
        let silent = check_run(&run(2, None), 10).unwrap_or_default();
        assert!(silent.contains("status 2") && silent.contains("no --json report"), "{silent}");
        assert!(check_run(&run(0, Some(serde_json::json!({"files": 10}))), 10).is_some());
    }
}
