//! Telling people (stderr) and programs (`--json`, stdout) how a run went.
//!
//! Every run's report implements [`Summary`], whose one `emit` prints the
//! failures, the warnings and the summary line the same way for downloads
//! and thumbnails, and decides the exit status, so every binary agrees on
//! it: 0 all done, 2 usage or configuration error, 3 some items failed,
//! 130 interrupted (143 by SIGTERM).

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

use super::outcome::ItemError;
use super::progress::dominant_failure;
use super::stop::interrupted_exit;
use crate::text::{printable, shorten};

/// Exit status when some items failed.
pub const SOME_FAILED_EXIT: u8 = 3;

/// Exit status for a usage or configuration error.
pub const USAGE_EXIT: u8 = 2;

/// Failures listed one by one on stderr; beyond this, a count (all of them
/// are in the JSON).
const FAILURES_SHOWN: usize = 20;

/// What every run's report can say and do: the summary of a download run
/// ([`RunReport`]) and of a thumbnail run ([`ResizeReport`]).
pub trait Summary: serde::Serialize {
    /// Each failure as one line: what failed, and why.
    fn failure_lines(&self) -> Vec<String>;
    /// Lines that explain a short run (nothing listed, a listing stopped).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// The one line that says how the run went.
    fn summary_line(&self) -> String;
    /// The exit status this run deserves.
    fn exit_code(&self) -> ExitCode;

    /// Prints the summary for people on stderr and, with `json`, the report
    /// as exactly one JSON object on stdout.
    fn emit(&self, json: bool) {
        let mut err = std::io::stderr().lock();
        let failures = self.failure_lines();
        // Every line may carry text from the input (a URL, a file name): a
        // hostile list must not be able to drive the terminal through it.
        for line in failures.iter().take(FAILURES_SHOWN) {
            let _ = writeln!(err, "failed: {}", printable(line));
        }
        if failures.len() > FAILURES_SHOWN {
            let _ = writeln!(err, "failed: … and {} more (all are in --json)", failures.len() - FAILURES_SHOWN);
        }
        // A warning or the summary may span lines of our own making (merge's
        // four): each line is made printable, the line breaks are kept.
        for warning in self.warnings() {
            for line in warning.lines() {
                let _ = writeln!(err, "{}", printable(line));
            }
        }
        for line in self.summary_line().lines() {
            let _ = writeln!(err, "{}", printable(line));
        }
        drop(err);
        if json {
            match serde_json::to_string(self) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: cannot encode the report as JSON: {e}"),
            }
        }
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
            eprintln!("error: {}", printable(&format!("{err:#}")));
            ExitCode::from(USAGE_EXIT)
        }
    }
}

/// One image that was not saved, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The image's URL.
    pub url: String,
    /// Why, in one line.
    pub reason: String,
    /// Why, typed (`None` in a report of an older version, which had only
    /// the reason).
    #[serde(default)]
    pub error: Option<ItemError>,
    /// How many times it was tried.
    #[serde(default = "one")]
    pub attempts: u32,
}

/// What a report of an older version, which did not count attempts, means.
fn one() -> u32 {
    1
}

/// The summary of a download run: the `--json` object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunReport {
    /// The binary, e.g. `normal_run`.
    pub run: String,
    /// The source, e.g. `origin http://127.0.0.1:41234`.
    pub source: String,
    /// Images listed: `files + skipped + failed`, each URL is one of the three.
    pub requested: usize,
    /// Images saved.
    pub files: usize,
    /// Images not fetched because an earlier run into the same folder
    /// completed them (0 with `--force`).
    #[serde(default)]
    pub skipped: usize,
    /// Images not saved.
    pub failed: usize,
    /// Images that took more than one attempt, saved or not.
    #[serde(default)]
    pub retried: usize,
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
    /// Whether Ctrl-C or SIGTERM cut the run short.
    pub interrupted: bool,
    /// Why the run stopped itself early (a full disk), if it did.
    #[serde(default)]
    pub stopped: Option<String>,
    /// Whether it stopped because the destination refused our credentials
    /// or address: a configuration error, exit status 2.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub misconfigured: bool,
}

impl Summary for RunReport {
    fn failure_lines(&self) -> Vec<String> {
        if self.misconfigured {
            // Every failure is the one refusal the stop line names; the
            // list stays in the JSON report and failures.jsonl.
            return Vec::new();
        }
        // A run that stopped at a fatal store error: the items under way
        // that failed the same way are said once, by the stop line (all of
        // them are in the JSON report and failures.jsonl).
        let same_as_stop = |failure: &&Failure| {
            self.stopped.is_some() && matches!(&failure.error, Some(ItemError::Store(error)) if error.is_fatal())
        };
        self.failures
            .iter()
            .filter(|failure| !same_as_stop(failure))
            .map(|failure| format!("{}: {}", shorten(&failure.url), failure.reason))
            .collect()
    }

    fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.requested == 0 && self.listing_error.is_none() && !self.interrupted {
            warnings.push("warning: the source listed no images: nothing to download".to_string());
        }
        if let Some(problem) = &self.listing_error {
            warnings.push(format!("listing stopped early: {problem}"));
        }
        if let Some(why) = &self.stopped {
            warnings.push(format!("stopped early: {why}"));
        }
        // What most failures mean, in one line; a run that stopped itself
        // has said why already.
        let errors = self.failures.iter().filter_map(|failure| failure.error.as_ref());
        if self.stopped.is_none()
            && let Some(cause) = dominant_failure(errors)
        {
            warnings.push(cause);
        }
        warnings
    }

    fn summary_line(&self) -> String {
        format!(
            "{}: {} of {} images saved{} ({:.1} MB{}) in {:.2} s, {:.1} images/s, concurrency {}, source {}{}",
            self.run,
            self.files,
            self.requested,
            if self.skipped > 0 { format!(", {} skipped as complete already", self.skipped) } else { String::new() },
            self.bytes as f64 / 1e6,
            if self.retried > 0 { format!(", {} retried", self.retried) } else { String::new() },
            self.seconds,
            self.files as f64 / self.seconds.max(1e-9),
            self.concurrency,
            self.source,
            if self.interrupted { " (interrupted)" } else { "" },
        )
    }

    fn exit_code(&self) -> ExitCode {
        if self.interrupted {
            ExitCode::from(interrupted_exit())
        } else if self.misconfigured {
            ExitCode::from(USAGE_EXIT)
        } else if self.failed > 0 || self.listing_error.is_some() || self.stopped.is_some() {
            ExitCode::from(SOME_FAILED_EXIT)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// One image that got no thumbnail, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResizeFailure {
    /// The image.
    pub path: String,
    /// Why, in one line.
    pub reason: String,
}

/// The summary of a thumbnail run: the `--json` object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResizeReport {
    /// The binary, e.g. `resize_serial`.
    pub run: String,
    /// Thumbnails written.
    pub files: usize,
    /// Images that got none.
    pub failed: usize,
    /// Bytes of thumbnails written.
    pub bytes: u64,
    /// Wall time, from the first image read to the last thumbnail written.
    pub seconds: f64,
    /// Worker threads.
    pub threads: usize,
    /// Each image that got no thumbnail.
    pub failures: Vec<ResizeFailure>,
}

impl Summary for ResizeReport {
    fn failure_lines(&self) -> Vec<String> {
        self.failures.iter().map(|failure| format!("{}: {}", shorten(&failure.path), failure.reason)).collect()
    }

    fn summary_line(&self) -> String {
        let images = self.files + self.failed;
        format!(
            "{}: {} of {} thumbnails made in {:.3} s ({:.2} ms an image, {:.0} images/s) on {} thread{}",
            self.run,
            self.files,
            images,
            self.seconds,
            self.seconds * 1000.0 / images.max(1) as f64,
            images as f64 / self.seconds.max(1e-9),
            self.threads,
            if self.threads == 1 { "" } else { "s" },
        )
    }

    fn exit_code(&self) -> ExitCode {
        if self.failed > 0 { ExitCode::from(SOME_FAILED_EXIT) } else { ExitCode::SUCCESS }
    }
}
