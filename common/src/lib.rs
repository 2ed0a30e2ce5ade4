//! # common: what every methodology shares
//!
//! Each binary of this workspace shows one way to do many downloads (or many
//! thumbnails) at once. Everything that is *not* that way lives here, so a
//! binary's `main.rs` is only its methodology, and so that two binaries can
//! never disagree on flags, file names, errors or the report.
//!
//! # Layout
//! One item per image flows through four leaves that know nothing of each
//! other, tied together by `run`:
//!
//! - [`sources`]: where items come from: the embedded origin, URL lists
//!   (text, CSV, TSV, JSON lines, gzip, and with feature `parquet` Parquet;
//!   streamed), the Unsplash and Imgur APIs, a `metadata.jsonl` again, a
//!   folder of images on disk. Each yields an [`Item`]: a URL plus what the
//!   source knows of it (a dataset's caption and saved columns too).
//! - [`fetch`]: bytes for a URL, or a typed [`fetch::FetchError`]; the rules (http
//!   only, status, size limit, magic bytes, `X-Robots-Tag` opt-outs) once,
//!   for the `ureq`, `reqwest`
//!   and (feature `async-std`) `surf` clients.
//! - [`store`]: where bytes go: [`store::Store`], one destination (a local
//!   folder, [`store::LocalDir`], or with feature `object-store` S3, Google Cloud
//!   Storage and Azure Blob, `store::ObjectSink`) with the verbs a run needs
//!   (atomic put, get, list, head, delete), and the [`store::Sink`] trait.
//! - [`thumbnail`]: one image to one thumbnail (JPEG shrink-on-load,
//!   limits against decompression bombs, EXIF orientation; fitted, filled,
//!   covered, padded or kept at its size), or to a thumbnail and crops from
//!   one decode.
//! - [`run`]: the job: [`DownloadJob`] and [`ResizeJob`] wire a run from
//!   its flags; [`Downloader::download`] is the loop body; one typed
//!   [`Outcome`] per item goes to the [`run::Tally`], the ledger
//!   (`metadata.jsonl`, `failures.jsonl`) and the [`RunReport`]; items an
//!   earlier run completed are skipped by [`Images`] before any request;
//!   [`StopFlag`] is Ctrl-C or SIGTERM, which drops the work under way.
//! - [`cli`]: the flag structs every binary flattens; [`config`]:
//!   `config.ini` and the environment, keys as [`config::Secret`]s. Private:
//!   `formats` (the image formats and extensions, once) and `text`
//!   (one-line messages). Hidden: `fuzzing`, thin wrappers of two internal
//!   functions for the fuzz targets (`fuzz/`) and the property tests only.
//!
//! Dependencies point one way: binaries → `common` → `origin`, and inside
//! `common` from `run` down to the leaves. Nothing here knows which
//! binary calls it, and every piece of state is a value the caller holds,
//! with one exception: [`DownloadJob`] (and [`StopFlag::on_ctrl_c`])
//! installs the process's Ctrl-C and SIGTERM handler, once, since a signal
//! has no other owner than the process.
//!
//! # Words
//! The bookkeeping of a run has three parts, named the same everywhere:
//!
//! - *tally*: the run's counts in memory (stored, skipped, failed, bytes,
//!   time): [`run::Tally`], and the `BaseTally` every run's tally wraps.
//! - *ledger*: the records that last, in the store beside the objects
//!   (`metadata.jsonl`, `failures.jsonl`, and what a binary adds of its
//!   own): what a re-run, `--retry-failed` or `--from` reads back.
//! - *report*: what is printed at the end, from the tally: [`RunReport`],
//!   [`run::ResizeReport`], as text on stderr and with `--json` on stdout.
//!
//! An *item* is one image of the input, with what its source knows of it;
//! its *outcome* is what became of it (stored, skipped, failed with a kind).

#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod fetch;
mod formats;
// For `fuzz/` and `common/tests/properties.rs` only: not part of the API.
#[doc(hidden)]
pub mod fuzzing;
pub mod run;
pub mod sources;
pub mod store;
mod text;
pub mod thumbnail;

pub use cli::{DownloadArgs, ResizeArgs};
pub use run::{
    AsyncDownloader, DownloadJob, Downloader, Failed, Images, ItemError, Outcome, ResizeJob, ResizeReport, RunReport,
    StopFlag, conclude,
};
pub use sources::Item;
pub use thumbnail::Thumbnailer;
