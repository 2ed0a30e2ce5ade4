//! The tally: a run's counts in memory.
//!
//! Downloads, thumbnails and any later stage count the same way, in a
//! [`BaseTally`]: stored objects and their bytes, objects skipped as
//! complete already, failures kept whole, a progress bar, a clock. A run's
//! own tally ([`Tally`] for downloads, [`super::ResizeTally`]) wraps one and
//! adds only what is its own (which failure record it keeps, the ledger it
//! writes, what else the report says).

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use indicatif::ProgressBar;

use super::failures::{FailedItem, write_failures};
use super::ledger::Ledger;
use super::outcome::{Failed, ItemError, Outcome};
use super::progress::{FailureKinds, live_label, progress_bar};
use super::report::{Failure, RunReport};
use super::stop::StopFlag;
use crate::sources::Item;
use crate::store::{SinkError, Store};

/// Counts of one run, shared by all its workers (`&BaseTally` is enough: it
/// locks inside, for microseconds per item). `F` is the run's failure record.
#[derive(Debug)]
pub(crate) struct BaseTally<F> {
    started: Instant,
    counts: Mutex<Counts<F>>,
    progress: ProgressBar,
}

/// What a [`BaseTally`] counted.
#[derive(Debug)]
pub(crate) struct Counts<F> {
    /// Objects stored.
    pub(crate) files: usize,
    /// Their bytes.
    pub(crate) bytes: u64,
    /// Objects an earlier run completed, not made again.
    pub(crate) skipped: usize,
    /// Every failure, in the order they were recorded.
    pub(crate) failures: Vec<F>,
    /// Wall time from start to finish.
    pub(crate) seconds: f64,
    /// The failures by kind, for the progress bar's live line.
    kinds: FailureKinds,
}

impl<F> Default for Counts<F> {
    fn default() -> Self {
        Counts { files: 0, bytes: 0, skipped: 0, failures: Vec::new(), seconds: 0.0, kinds: FailureKinds::default() }
    }
}

impl<F> BaseTally<F> {
    /// Starts the clock and the progress bar of the run `run`, which will
    /// count `expected` items if that is known.
    pub(crate) fn start(run: &str, expected: Option<usize>) -> Self {
        BaseTally {
            started: Instant::now(),
            counts: Mutex::new(Counts::default()),
            progress: progress_bar(run, expected),
        }
    }

    /// Counts one stored object of `bytes` bytes.
    pub(crate) fn stored(&self, bytes: u64) {
        let mut counts = self.lock();
        counts.files += 1;
        counts.bytes += bytes;
        drop(counts);
        self.progress.inc(1);
    }

    /// Counts one object skipped because an earlier run completed it.
    pub(crate) fn skipped(&self) {
        self.lock().skipped += 1;
        self.progress.inc(1);
    }

    /// Counts one failure, of the kind `kind` (`HTTP 404`, `timeout`...)
    /// for the live line.
    pub(crate) fn failed(&self, failure: F, kind: Cow<'static, str>) {
        let mut counts = self.lock();
        counts.failures.push(failure);
        counts.kinds.add(kind);
        self.progress.set_message(counts.kinds.live_line());
        drop(counts);
        self.progress.inc(1);
    }

    /// Stops the clock and the progress bar; the counts, final. By
    /// reference, so a counter shared with the listing (which counts the
    /// skipped objects) can be finished while the listing still exists;
    /// anything counted after this is not in the counts.
    pub(crate) fn finish(&self) -> Counts<F> {
        let seconds = self.started.elapsed().as_secs_f64();
        self.progress.finish_and_clear();
        let counts = std::mem::take(&mut *self.lock());
        Counts { seconds, ..counts }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts<F>> {
        // A worker that panicked mid-record left the counts consistent
        // (each field is updated in one step): carry on counting.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running count of one download run, shared by all its workers
/// (`&Tally` is enough: it locks inside).
#[derive(Debug)]
pub struct Tally {
    /// What outcomes and skipped items are written to; shared with the
    /// [`Images`], which tell it the items they skip.
    pub(super) shared: Arc<SharedTally>,
    /// The records store, where `failures.jsonl` goes at the end.
    pub(super) out: Store,
    pub(super) run: String,
    pub(super) source: String,
    pub(super) concurrency: usize,
    pub(super) listing_problem: Arc<Mutex<Option<String>>>,
    pub(super) stop: StopFlag,
    /// Whatever must outlive the downloads (the embedded origin's server).
    pub(super) keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
}

/// The part of a download run's tally that the workers (outcomes) and the
/// listing (skipped items) both write to: the counts and the ledger.
#[derive(Debug)]
pub(super) struct SharedTally {
    base: BaseTally<FailedItem>,
    ledger: Ledger,
    /// Items that took more than one attempt, saved or not.
    retried: AtomicUsize,
    /// Why the run stopped itself (a full disk, a destination refusing
    /// us), if it did, and whether the fix is the configuration.
    stopped: Mutex<Option<(String, bool)>>,
}

impl SharedTally {
    /// Starts the clock and the progress bar of the run `run`, which will
    /// count `expected` items if that is known, writing to `ledger`.
    pub(super) fn new(run: &str, expected: Option<usize>, ledger: Ledger) -> Self {
        SharedTally {
            base: BaseTally::start(run, expected),
            ledger,
            retried: AtomicUsize::new(0),
            stopped: Mutex::new(None),
        }
    }

    /// Records `item` as skipped: an earlier run saved it as `key`.
    fn skipped(&self, item: &Item, key: &str) {
        self.ledger.record_complete(item, key);
        self.base.skipped();
    }
}

/// Where a run's resume tells the tally what it skips (see [`Tally::skips`]).
#[derive(Debug, Clone)]
pub struct Skips(Arc<SharedTally>);

impl Skips {
    /// Counts `item` as skipped and writes it to the ledger: an earlier run
    /// stored it as `key`.
    pub fn record(&self, item: &Item, key: &str) {
        self.0.skipped(item, key);
    }
}

impl Tally {
    /// Where the items a resume skips are told, so they are counted (and
    /// written to the ledger) while the tally itself is with the workers.
    pub fn skips(&self) -> Skips {
        Skips(Arc::clone(&self.shared))
    }

    /// Records what became of `item`: counted, and written to the ledger.
    pub fn record(&self, item: &Item, outcome: Outcome) {
        let shared = &*self.shared;
        shared.ledger.record(item, &outcome);
        let attempts = match &outcome {
            Ok(saved) => saved.attempts,
            Err(failed) => failed.attempts,
        };
        if attempts > 1 {
            shared.retried.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(Failed { error: ItemError::Store(error), .. }) = &outcome
            && error.is_fatal()
        {
            self.stop_on_fatal_store_error(&outcome);
        }
        match outcome {
            Ok(saved) => shared.base.stored(saved.bytes),
            Err(failed) => {
                let kind = live_label(&failed.error);
                shared.base.failed(FailedItem { item: item.clone(), failed }, kind);
            }
        }
    }

    /// A full disk (or a store that refuses our credentials) fails every
    /// later write too: stop listing at the first, let the items under way
    /// end, and say so once.
    fn stop_on_fatal_store_error(&self, outcome: &Outcome) {
        let mut stopped = self.shared.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        if stopped.is_none()
            && let Err(failed) = outcome
        {
            let (what, fix, configuration) = match &failed.error {
                ItemError::Store(SinkError::Write { disk_full: true, .. }) => {
                    ("the disk is full", "free some space", false)
                }
                // Its message names the problem and the fix itself.
                ItemError::Store(error @ SinkError::Unusable { .. }) => {
                    *stopped = Some((format!("{error}; then run again"), false));
                    self.stop.stop();
                    return;
                }
                _ => ("the destination refuses every object", "fix the destination or its credentials", true),
            };
            *stopped = Some((format!("{what} ({failed}); {fix} and run again"), configuration));
            self.stop.stop();
        }
    }

    /// Whether the run was asked to stop (a signal, or a fatal store
    /// error): a methodology that waits on its workers drops them then.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Whether the run has gone through its whole listing so far: not
    /// stopped (Ctrl-C, a fatal store error) and no listing error. A run
    /// that has not must not publish what it was making as whole.
    pub fn went_through(&self) -> bool {
        !self.stop.is_stopped() && self.listing_problem.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// Stops the clock and the progress bar, writes `failures.jsonl` and
    /// makes the report.
    pub fn finish(self) -> RunReport {
        let counts = self.shared.base.finish();
        let listing_error = self.listing_problem.lock().unwrap_or_else(PoisonError::into_inner).take();
        let stopped = self.shared.stopped.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(self.keep_alive);
        let interrupted = self.stop.is_stopped();
        self.shared.ledger.finish();
        if let Err(err) = write_failures(&self.out, &counts.failures, interrupted) {
            eprintln!("warning: {err}; --retry-failed will not see this run's failures");
        }
        let failures: Vec<Failure> = counts
            .failures
            .into_iter()
            .map(|FailedItem { item, failed }| Failure {
                url: item.url,
                reason: failed.reason(),
                error: Some(failed.error),
                attempts: failed.attempts,
            })
            .collect();
        RunReport {
            run: self.run,
            source: self.source,
            requested: counts.files + counts.skipped + failures.len(),
            files: counts.files,
            skipped: counts.skipped,
            failed: failures.len(),
            retried: self.shared.retried.load(Ordering::Relaxed),
            bytes: counts.bytes,
            seconds: counts.seconds,
            concurrency: self.concurrency,
            failures,
            listing_error,
            interrupted: interrupted && stopped.is_none(),
            misconfigured: stopped.as_ref().is_some_and(|(_, configuration)| *configuration),
            stopped: stopped.map(|(why, _)| why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored objects, bytes and failures add up, from many threads at once.
    #[test]
    fn counts_from_many_threads() {
        let tally: BaseTally<String> = BaseTally::start("test", Some(400));
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let tally = &tally;
                scope.spawn(move || {
                    for i in 0..100 {
                        match i % 10 {
                            0 => tally.failed(format!("{thread}-{i}"), "HTTP 404".into()),
                            1 => tally.skipped(),
                            _ => tally.stored(3),
                        }
                    }
                });
            }
        });
        let counts = tally.finish();
        assert_eq!((counts.files, counts.bytes, counts.skipped, counts.failures.len()), (320, 960, 40, 40));
        assert!(counts.seconds > 0.0);
    }
}
