//! The job: what ties sources, fetching, sinks and thumbnails into a run.
//!
//! Items flow one way: a source lists an [`crate::Item`] → a methodology
//! decides how many at once and on what → [`Downloader::download`] (or its
//! async twins) fetches it and stores it under its name → one typed
//! [`Outcome`] goes to the [`Tally`], which counts it, writes it to the
//! ledger (`metadata.jsonl`) and, at the end, makes the report that decides
//! the exit status. Nothing here knows which methodology calls it.
//!
//! # Layout
//! - `job.rs`: [`DownloadJob::prepare`] wires a download run from its flags
//!   ([`DownloadJob::start`] the same run, from a [`JobSource`] and a
//!   records store its caller opened).
//! - `items.rs`: [`Images`], a listing with the count cap, the stop and
//!   the skip of what is complete already; `listing.rs`:
//!   [`listing_stream`], a listing as an async stream.
//! - `resume.rs`: what an earlier run into the folder completed, read once.
//! - `download.rs`: the loop body, [`Downloader::download`], and its async
//!   twins; `storer.rs`: `Storer`, the naming and storing they share.
//! - `spool.rs`: a body on its way to its file, written as it arrives (no
//!   download holds a whole body in memory).
//! - `writers.rs`: the threads the async downloaders write files on, so a
//!   disk write never blocks the runtime.
//! - `names.rs`: the safe, unique, stable name of an item.
//! - `outcome.rs`: [`Outcome`], [`Saved`], [`Failed`], [`ItemError`].
//! - `tally.rs`: [`Tally`], a download run's counts in memory, and the
//!   `BaseTally` every run's tally wraps; `progress.rs`: its progress bar,
//!   and what the failures' most common cause means.
//! - `ledger.rs`: `metadata.jsonl`, the ledger, written as outcomes arrive.
//! - `failures.rs`: `failures.jsonl`, every failure of a run, written at
//!   its end for `--retry-failed`.
//! - `report.rs`: [`RunReport`], [`ResizeReport`], [`Summary`], [`conclude`].
//! - `resize.rs`: [`ResizeJob::prepare`] and [`ResizeTally`] for the
//!   thumbnail binaries.
//! - `stop.rs`: [`StopFlag`], clean interruption.
//! - `workers.rs`: [`Worker`], one worker process fed JSON lines (the
//!   process binaries' plumbing; their hand-out loop stays in them).

mod download;
mod failures;
mod items;
mod job;
mod ledger;
mod listing;
pub(crate) mod names;
mod outcome;
mod progress;
mod report;
mod resize;
mod resume;
mod spool;
mod stop;
mod storer;
mod tally;
mod workers;
mod writers;

#[cfg(feature = "async-std")]
pub use download::SurfDownloader;
pub use download::{AsyncDownloader, Downloader};
pub use failures::FAILURES_FILE;
pub use items::Images;
pub use job::{DownloadJob, JobSource, SetupError, download_folder, worker_downloader, worker_downloader_into};
pub use ledger::METADATA_FILE;
pub use listing::listing_stream;
pub use names::image_name;
pub use outcome::{Failed, ItemError, Outcome, Saved};
pub use report::{Failure, ResizeFailure, ResizeReport, RunReport, SOME_FAILED_EXIT, Summary, USAGE_EXIT, conclude};
pub use resize::{ResizeError, ResizeJob, ResizeTally, ResizeTask};
pub use stop::{INTERRUPTED_EXIT, StopFlag};
pub use tally::{Skips, Tally};
pub use workers::{Reply, Worker};
