//! Counting a run and telling people (stderr) and programs (`--json`, stdout).
//!
//! [`Tally`] is shared by every worker of a run (`&Tally` is enough: it locks
//! inside), drives the progress bar, and turns into a [`RunReport`] at the
//! end. The report decides the exit status, so every binary agrees on it:
//! 0 all saved, 3 some failed, 130 interrupted.

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::download::{DownloadError, Saved};
use crate::metadata::MetadataLog;
use crate::source::ImageRef;
use crate::stop::{INTERRUPTED_EXIT, StopFlag};

/// Exit status when some images failed.
pub const SOME_FAILED_EXIT: u8 = 3;

/// Exit status for a usage or configuration error.
pub const USAGE_EXIT: u8 = 2;

/// How often the progress bar redraws: often enough to look alive, rarely
/// enough to cost nothing next to a download.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Failures listed one by one on stderr; beyond this, a count (all of them
/// are in the JSON).
pub(crate) const FAILURES_SHOWN: usize = 20;

/// One image that was not saved, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The image's URL.
    pub url: String,
    /// Why, in one line.
    pub reason: String,
}

/// The summary of a download run: the `--json` object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunReport {
    /// The binary, e.g. `normal_run`.
    pub run: String,
    /// The source, e.g. `origin http://127.0.0.1:41234`.
    pub source: String,
    /// Images listed for download.
    pub requested: usize,
    /// Images saved.
    pub files: usize,
    /// Images not saved.
    pub failed: usize,
    /// Bytes saved.
    pub bytes: u64,
    /// Wall time of the downloads.
    pub seconds: f64,
    /// Downloads at once.
    pub concurrency: usize,
    /// Each image not saved.
    pub failures: Vec<Failure>,
    /// Why the source stopped listing early, if it did.
    pub listing_error: Option<String>,
    /// Whether Ctrl-C cut the run short.
    pub interrupted: bool,
}

impl RunReport {
    /// The exit status this run deserves.
    pub fn exit_code(&self) -> ExitCode {
        if self.interrupted {
            ExitCode::from(INTERRUPTED_EXIT)
        } else if self.failed > 0 || self.listing_error.is_some() {
            ExitCode::from(SOME_FAILED_EXIT)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Prints the summary for people on stderr and, with `json`, the report
    /// as exactly one JSON object on stdout.
    pub fn emit(&self, json: bool) {
        let mut err = std::io::stderr().lock();
        for failure in self.failures.iter().take(FAILURES_SHOWN) {
            let _ = writeln!(err, "failed: {}: {}", failure.url, failure.reason);
        }
        if self.failures.len() > FAILURES_SHOWN {
            let _ = writeln!(err, "failed: … and {} more (all are in --json)", self.failures.len() - FAILURES_SHOWN);
        }
        if self.requested == 0 && self.listing_error.is_none() && !self.interrupted {
            let _ = writeln!(err, "warning: the source listed no images: nothing to download");
        }
        if let Some(problem) = &self.listing_error {
            let _ = writeln!(err, "listing stopped early: {problem}");
        }
        let rate = self.files as f64 / self.seconds.max(1e-9);
        let _ = writeln!(
            err,
            "{}: {} of {} images saved ({:.1} MB) in {:.2} s, {:.1} images/s, concurrency {}, source {}{}",
            self.run,
            self.files,
            self.requested,
            self.bytes as f64 / 1e6,
            self.seconds,
            rate,
            self.concurrency,
            self.source,
            if self.interrupted { " (interrupted)" } else { "" },
        );
        drop(err);
        if json {
            match serde_json::to_string(self) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: cannot encode the report as JSON: {e}"),
            }
        }
    }
}

/// What [`conclude`] needs of a run's summary: the download binaries'
/// [`RunReport`] and the thumbnail binaries' [`crate::ResizeReport`].
pub trait Summary {
    /// Prints the summary for people on stderr and, with `json`, exactly one
    /// JSON object on stdout.
    fn emit(&self, json: bool);
    /// The exit status this run deserves.
    fn exit_code(&self) -> ExitCode;
}

impl Summary for RunReport {
    fn emit(&self, json: bool) {
        RunReport::emit(self, json);
    }

    fn exit_code(&self) -> ExitCode {
        RunReport::exit_code(self)
    }
}

/// Prints the outcome of a whole run and gives its exit status: the report's
/// on success, or the error once, with its context chain, and status 2.
pub fn conclude<S: Summary, E: Display>(result: Result<S, E>, json: bool) -> ExitCode {
    match result {
        Ok(report) => {
            report.emit(json);
            report.exit_code()
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(USAGE_EXIT)
        }
    }
}

/// The progress bar every run shows on stderr: a bar when the number of
/// items is known, a counter otherwise. indicatif draws it only when stderr
/// is a terminal, so logs and pipes stay clean.
pub(crate) fn progress_bar(run: &str, expected: Option<usize>) -> ProgressBar {
    let progress = match expected {
        Some(len) => ProgressBar::new(len as u64).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec:.0} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{prefix} {spinner} {pos} images {per_sec:.0} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    progress.set_prefix(run.to_string());
    progress.enable_steady_tick(PROGRESS_TICK);
    progress
}

/// The running count of one download run, shared by all its workers.
#[derive(Debug)]
pub struct Tally {
    run: String,
    source: String,
    concurrency: usize,
    started: Instant,
    counts: Mutex<Counts>,
    progress: ProgressBar,
    listing_problem: Arc<Mutex<Option<String>>>,
    stop: StopFlag,
    /// Whatever must outlive the downloads (the embedded origin's server).
    keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
    /// Where API sources' records are written with each outcome.
    metadata: Option<MetadataLog>,
}

#[derive(Debug, Default)]
struct Counts {
    files: usize,
    bytes: u64,
    failures: Vec<Failure>,
}

/// What a [`Tally`] is told when it starts.
#[derive(Debug)]
pub struct TallySetup {
    /// The binary's name.
    pub run: String,
    /// The source, described for people.
    pub source: String,
    /// Downloads at once.
    pub concurrency: usize,
    /// How many images, if known before listing (for the progress bar).
    pub expected: Option<usize>,
    /// Where the listing writes why it ended early.
    pub listing_problem: Arc<Mutex<Option<String>>>,
    /// The run's stop flag.
    pub stop: StopFlag,
    /// Kept until the report is made.
    pub keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
}

impl Tally {
    /// Starts the clock and the progress bar (drawn on stderr only when it is
    /// a terminal, so logs and pipes stay clean).
    pub fn start(setup: TallySetup) -> Self {
        let progress = progress_bar(&setup.run, setup.expected);
        Tally {
            run: setup.run,
            source: setup.source,
            concurrency: setup.concurrency,
            started: Instant::now(),
            counts: Mutex::default(),
            progress,
            listing_problem: setup.listing_problem,
            stop: setup.stop,
            keep_alive: setup.keep_alive,
            metadata: None,
        }
    }

    /// Writes each recorded outcome's API record to `log` (API sources).
    pub fn with_metadata(mut self, log: MetadataLog) -> Self {
        self.metadata = Some(log);
        self
    }

    /// Records the outcome of one image.
    pub fn record(&self, image: &ImageRef, outcome: Result<Saved, DownloadError>) {
        self.record_result(&image.url, outcome.map(|saved| saved.bytes).map_err(|err| err.to_string()));
    }

    /// Records an outcome already reduced to bytes or a reason: what a
    /// worker process sends back over a pipe.
    pub fn record_result(&self, url: &str, outcome: Result<u64, String>) {
        if let Some(log) = &self.metadata {
            log.recorded(url, outcome.as_ref().map(|_| None).map_err(String::as_str));
        }
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(bytes) => {
                counts.files += 1;
                counts.bytes += bytes;
            }
            Err(reason) => {
                counts.failures.push(Failure { url: url.to_string(), reason });
                self.progress.set_message(format!("{} failed", counts.failures.len()));
            }
        }
        drop(counts);
        self.progress.inc(1);
    }

    /// Stops the clock and the progress bar and makes the report.
    pub fn finish(self) -> RunReport {
        let seconds = self.started.elapsed().as_secs_f64();
        self.progress.finish_and_clear();
        let counts = self.counts.into_inner().unwrap_or_else(PoisonError::into_inner);
        let listing_error = self.listing_problem.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(self.keep_alive);
        RunReport {
            run: self.run,
            source: self.source,
            requested: counts.files + counts.failures.len(),
            files: counts.files,
            failed: counts.failures.len(),
            bytes: counts.bytes,
            seconds,
            concurrency: self.concurrency,
            failures: counts.failures,
            listing_error,
            interrupted: self.stop.is_stopped(),
        }
    }
}
