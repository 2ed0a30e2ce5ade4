//! # timeline: every task's events against time, one picture per mode
//!
//! `pipeline_run --trace FILE` writes one JSON line per event of every image
//! (queued, downloaded, transformed, each object stored, failed) with its
//! time since the run started. This binary reads one or more such files
//! and writes into `--out`:
//!
//! - `timeline-<mode>.png` for every mode traced: x is seconds, y is the
//!   task (the image's index), one small mark per event in its kind's colour
//!   and a thin grey line from a task's first event to its last, so how
//!   long each image was in flight, and how many were at once, shows at a
//!   glance (the plots of the Python project this workspace answers);
//! - `timeline-comparison.png`: objects stored and images downloaded so far
//!   against time, one line per mode, so which mode finishes first and how
//!   much its downloads overlap its uploads can be read off one chart.
//!
//! One line per picture on stderr; `--json` also prints a summary on stdout.
//! A missing file, a malformed line (named as file:line) or an empty trace
//! is one line on stderr and exit status 2.
//!
//! **Running**, after one `pipeline_run --trace` per mode:
//! ```text
//! cargo run --release -p results_matrix --bin timeline -- \
//!     serial.jsonl threads.jsonl processes.jsonl async.jsonl --out results
//! ```

mod plot;
mod trace;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde::Serialize;

use crate::trace::EventKind;

/// Exit status for a usage error or unreadable input (as the other binaries use).
const USAGE_EXIT: u8 = 2;

/// Draw pipeline_run traces: one timeline per mode and one comparison chart.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Trace files written by `pipeline_run --trace` (one JSON event a line)
    #[arg(required = true, value_name = "TRACE.jsonl")]
    traces: Vec<PathBuf>,
    /// Where to write timeline-MODE.png and timeline-comparison.png
    #[arg(long, value_name = "DIR", default_value = "results")]
    out: PathBuf,
    /// Also print a JSON summary of every picture on stdout
    #[arg(long)]
    json: bool,
}

/// What one picture shows, for stderr and `--json`.
#[derive(Debug, Serialize)]
struct Drawn {
    path: PathBuf,
    /// `None` for the comparison chart.
    mode: Option<String>,
    images: usize,
    events: usize,
    objects_stored: usize,
    failed: usize,
    seconds: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(USAGE_EXIT)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    // Every event, grouped by mode; all input is checked before any picture is drawn.
    let traces = trace::read_traces(&cli.traces)?;
    std::fs::create_dir_all(&cli.out).with_context(|| format!("cannot create {}", cli.out.display()))?;

    // One timeline per mode.
    let mut drawn = Vec::new();
    for trace in &traces {
        let path = cli.out.join(format!("timeline-{}.png", trace.mode));
        plot::draw_timeline(trace, &path).with_context(|| format!("cannot draw {}", path.display()))?;
        let picture = Drawn {
            path,
            mode: Some(trace.mode.clone()),
            images: trace.images(),
            events: trace.events.len(),
            objects_stored: trace.count(EventKind::Stored),
            failed: trace.count(EventKind::Failed),
            seconds: trace.wall_seconds(),
        };
        eprintln!(
            "timeline: wrote {} ({}: {} images, {} events, {} objects stored, {} failed, {:.2} s)",
            picture.path.display(),
            trace.mode,
            picture.images,
            picture.events,
            picture.objects_stored,
            picture.failed,
            picture.seconds,
        );
        drawn.push(picture);
    }

    // The modes side by side.
    let path = cli.out.join("timeline-comparison.png");
    plot::draw_comparison(&traces, &path).with_context(|| format!("cannot draw {}", path.display()))?;
    let names: Vec<&str> = traces.iter().map(|trace| trace.mode.as_str()).collect();
    eprintln!("timeline: wrote {} ({})", path.display(), names.join(", "));
    drawn.push(Drawn {
        path,
        mode: None,
        images: drawn.iter().map(|d| d.images).sum(),
        events: drawn.iter().map(|d| d.events).sum(),
        objects_stored: drawn.iter().map(|d| d.objects_stored).sum(),
        failed: drawn.iter().map(|d| d.failed).sum(),
        seconds: drawn.iter().map(|d| d.seconds).fold(0.0, f64::max),
    });

    if cli.json {
        println!("{}", serde_json::json!({ "pictures": drawn }));
    }
    Ok(())
}
