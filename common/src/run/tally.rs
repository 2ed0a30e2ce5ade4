//! [`Counter`]: the running count of a run, whatever it makes.
//!
//! Downloads, thumbnails and any later stage count the same way: stored
//! objects and their bytes, objects skipped as complete already, failures
//! kept whole, a progress bar, a clock.
//! The run's own tally ([`super::Tally`], [`super::ResizeTally`]) wraps one
//! and adds only what is its own (which failure record it keeps, what else
//! the report says).

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use indicatif::ProgressBar;

use super::progress::{FailureKinds, progress_bar};

/// Counts of one run, shared by all its workers (`&Counter` is enough: it
/// locks inside, for microseconds per item). `F` is the run's failure record.
#[derive(Debug)]
pub(crate) struct Counter<F> {
    started: Instant,
    counts: Mutex<Counts<F>>,
    progress: ProgressBar,
}

/// What a [`Counter`] counted.
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

impl<F> Counter<F> {
    /// Starts the clock and the progress bar of the run `run`, which will
    /// count `expected` items if that is known.
    pub(crate) fn start(run: &str, expected: Option<usize>) -> Self {
        Counter {
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

impl<F> Default for Counts<F> {
    fn default() -> Self {
        Counts { files: 0, bytes: 0, skipped: 0, failures: Vec::new(), seconds: 0.0, kinds: FailureKinds::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored objects, bytes and failures add up, from many threads at once.
    #[test]
    fn counts_from_many_threads() {
        let counter: Counter<String> = Counter::start("test", Some(400));
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let counter = &counter;
                scope.spawn(move || {
                    for i in 0..100 {
                        match i % 10 {
                            0 => counter.failed(format!("{thread}-{i}"), "HTTP 404".into()),
                            1 => counter.skipped(),
                            _ => counter.stored(3),
                        }
                    }
                });
            }
        });
        let counts = counter.finish();
        assert_eq!((counts.files, counts.bytes, counts.skipped, counts.failures.len()), (320, 960, 40, 40));
        assert!(counts.seconds > 0.0);
    }
}
