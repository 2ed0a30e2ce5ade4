//! Reading `pipeline_run --trace` files: one JSON event a line,
//!
//! ```json
//! {"mode":"async","task":17,"event":"stored","t":0.8123,"key":"img17/crop-003.jpg"}
//! ```
//!
//! grouped by mode. Fields this tool does not draw (`key`, or any added
//! later) are ignored, so the trace can grow without breaking it. Every
//! problem names its file and line; a mode found in two files is refused,
//! because two runs on one picture would look like one run twice as long.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// What happened to a task, in the order it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EventKind {
    /// The image entered the pipeline.
    Queued,
    /// Its bytes arrived.
    Downloaded,
    /// Its thumbnail and crops were made.
    Transformed,
    /// One object was confirmed by the store (one per crop or thumbnail).
    Stored,
    /// The image gave up.
    Failed,
}

impl EventKind {
    /// Every kind, in lifecycle order: the legend's order.
    pub(crate) const ALL: [EventKind; 5] =
        [EventKind::Queued, EventKind::Downloaded, EventKind::Transformed, EventKind::Stored, EventKind::Failed];

    /// The name the trace uses.
    pub(crate) fn name(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Downloaded => "downloaded",
            EventKind::Transformed => "transformed",
            EventKind::Stored => "stored",
            EventKind::Failed => "failed",
        }
    }
}

/// One event of one task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    /// The image's index in the run's list.
    pub(crate) task: u64,
    pub(crate) kind: EventKind,
    /// Seconds since the run started.
    pub(crate) seconds: f64,
}

/// Every event of one mode's run.
#[derive(Debug)]
pub(crate) struct ModeTrace {
    pub(crate) mode: String,
    pub(crate) events: Vec<Event>,
}

impl ModeTrace {
    /// How many distinct images have an event.
    pub(crate) fn images(&self) -> usize {
        let mut tasks: Vec<u64> = self.events.iter().map(|event| event.task).collect();
        tasks.sort_unstable();
        tasks.dedup();
        tasks.len()
    }

    /// The time of the last event: the trace records no "run ended", and the
    /// last upload or failure is when the work was done.
    pub(crate) fn wall_seconds(&self) -> f64 {
        self.events.iter().map(|event| event.seconds).fold(0.0, f64::max)
    }

    /// How many events are of `kind`.
    pub(crate) fn count(&self, kind: EventKind) -> usize {
        self.events.iter().filter(|event| event.kind == kind).count()
    }

    /// The sorted times of the events of `kind`.
    pub(crate) fn times(&self, kind: EventKind) -> Vec<f64> {
        let mut times: Vec<f64> =
            self.events.iter().filter(|event| event.kind == kind).map(|event| event.seconds).collect();
        times.sort_by(f64::total_cmp);
        times
    }
}

/// The order modes are shown in (the order the original compares them);
/// any other mode follows, alphabetically.
const MODE_ORDER: [&str; 4] = ["serial", "threads", "processes", "async"];

/// One line of a trace, as written.
#[derive(Debug, Deserialize)]
struct TraceLine {
    mode: String,
    task: u64,
    event: EventKind,
    t: f64,
}

/// Reads every file and returns one trace per mode, in [`MODE_ORDER`].
pub(crate) fn read_traces(paths: &[PathBuf]) -> anyhow::Result<Vec<ModeTrace>> {
    // mode -> (the file it came from, its events)
    let mut modes: BTreeMap<String, (&Path, Vec<Event>)> = BTreeMap::new();
    for path in paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = 0;
        for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let at = || format!("{}:{}", path.display(), index + 1);
            let TraceLine { mode, task, event, t } = serde_json::from_str(line).map_err(|err| {
                // Each event is one line, so serde's "at line 1" would only
                // mislead: the file's line and the column say where.
                let reason = err.to_string();
                let reason = reason.split(" at line ").next().unwrap_or_default();
                anyhow::anyhow!("{}:{}: not a trace event: {reason}", at(), err.column())
            })?;
            check_event(&mode, t).with_context(at)?;
            if let Some((source, _)) = modes.get(&mode).filter(|(source, _)| *source != path.as_path()) {
                bail!("{}: mode {mode:?} was already traced in {}", at(), source.display());
            }
            modes.entry(mode).or_insert_with(|| (path, Vec::new())).1.push(Event { task, kind: event, seconds: t });
            lines += 1;
        }
        if lines == 0 {
            bail!("{} holds no trace events (was the run started with --trace?)", path.display());
        }
    }
    let mut traces: Vec<ModeTrace> = modes.into_iter().map(|(mode, (_, events))| ModeTrace { mode, events }).collect();
    traces.sort_by_key(|trace| {
        (MODE_ORDER.iter().position(|known| *known == trace.mode).unwrap_or(MODE_ORDER.len()), trace.mode.clone())
    });
    Ok(traces)
}

/// An event that parsed but cannot be drawn: a time that is not a finite,
/// non-negative number, or a mode that would not make a plain file name
/// (it becomes `timeline-<mode>.png`).
fn check_event(mode: &str, seconds: f64) -> anyhow::Result<()> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        bail!("time {seconds} is not seconds since the run started");
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if mode.is_empty() || !mode.chars().all(plain) {
        bail!("mode {mode:?} is not a plain name (letters, digits, - and _)");
    }
    Ok(())
}
