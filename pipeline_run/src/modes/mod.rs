//! The four methodologies, one module each, in the order the async book
//! teaches them: `serial` → `threads` → `processes` → `async_mode`. Each
//! gets a [`Run`] and returns the report; the serial and threads modules
//! are twins, so that the difference between them is the lesson.

pub(crate) mod async_mode;
pub(crate) mod processes;
pub(crate) mod serial;
pub(crate) mod threads;

use common::Item;

use crate::cli::Mode;
use crate::record::RunLedger;
use crate::work::Work;

/// The images of a run, read lazily from the source: numbered, shared out
/// and with the complete ones skipped already.
pub(crate) type Items = Box<dyn Iterator<Item = Item> + Send>;

/// A run, set up: what every mode is given.
pub(crate) struct Run {
    /// The images, read lazily from the source (complete ones skipped).
    pub(crate) images: Items,
    /// What happens to one image.
    pub(crate) work: Work,
    /// Counts and records outcomes.
    pub(crate) ledger: RunLedger,
    /// Images at once: threads, worker processes or downloads in flight.
    pub(crate) concurrency: usize,
    /// Objects stored at once.
    pub(crate) uploads: usize,
}

/// `--concurrency` when not given, by mode.
pub(crate) fn default_concurrency(mode: Mode) -> usize {
    match mode {
        Mode::Serial => 1,
        Mode::Threads => threads::DEFAULT_THREADS,
        Mode::Processes => processes::default_workers(),
        Mode::Async => async_mode::DEFAULT_IN_FLIGHT,
    }
}
