//! # common: what every methodology shares
//!
//! Each binary of this workspace shows one way to do many downloads (or many
//! thumbnails) at once. Everything that is *not* that way lives here, so a
//! binary's `main.rs` is only its methodology, and so that two binaries can
//! never disagree on flags, file names, errors or the report.
//!
//! # Layout
//! - [`cli`]: [`DownloadArgs`], the flags every download binary flattens.
//! - [`config`]: `config.ini` and environment overrides; keys are [`Secret`]s.
//! - [`source`]: [`ImageRef`]s from a URL list or the embedded origin, as a
//!   lazy [`Listing`]; [`Images`] adds the count cap and Ctrl-C.
//! - [`url_list`]: URL lists as text, CSV, TSV or JSON lines, gzipped or not,
//!   streamed.
//! - [`unsplash`], [`imgur`]: the API clients, each a [`Listing`] that pages
//!   lazily and stops cleanly at the rate limit ([`ApiError`]).
//! - [`metadata`]: `metadata.jsonl`, every listed photo's API record with its
//!   saved file ([`MetadataLog`]), and the source that downloads it again.
//! - [`fetch`]: [`Fetcher`], the blocking `ureq` client, and [`AsyncFetcher`],
//!   its `reqwest` twin for tokio; [`FetchError`],
//!   typed so a retry policy can tell a 503 from a 404.
//! - [`files`]: [`OutputDir`], safe unique names and atomic writes.
//! - [`download`]: [`Downloader::save`], the loop body: fetch, name, write
//!   (and [`AsyncDownloader::save`], the same for tokio).
//! - [`report`]: [`Tally`] counts a run, [`RunReport`] is its summary and
//!   exit status.
//! - [`job`]: [`DownloadJob::prepare`] wires all of the above from the flags.
//! - [`stop`]: [`StopFlag`], clean interruption on Ctrl-C.
//! - [`thumbnail`]: [`make_thumbnail`] and [`Thumbnailer`], one image to one
//!   thumbnail (JPEG shrink-on-load, limits, EXIF orientation).
//! - [`resize`]: [`ResizeJob::prepare`] lists a folder for the thumbnail
//!   binaries; [`ResizeTally`] counts, [`ResizeReport`] summarises.
//!
//! Dependencies point one way: binaries → `common` → `origin`. Nothing here
//! knows which methodology calls it, and nothing here is global: every piece
//! of state is a value the caller holds.

#![deny(missing_docs)]

mod api;
pub mod cli;
pub mod config;
pub mod download;
pub mod fetch;
pub mod files;
pub mod imgur;
pub mod job;
pub mod metadata;
pub mod report;
pub mod resize;
pub mod source;
pub mod stop;
pub mod thumbnail;
pub mod unsplash;
pub mod url_list;

pub use api::{ApiError, StopReason};
pub use cli::{DownloadArgs, ResizeArgs};
pub use config::{Config, Secret};
pub use download::{AsyncDownloader, DownloadError, Downloader, Saved};
pub use fetch::{AsyncFetcher, FetchError, Fetched, Fetcher};
pub use files::OutputDir;
pub use job::DownloadJob;
pub use metadata::{MetadataLog, PhotoRecord};
pub use report::{RunReport, Summary, Tally, conclude};
pub use resize::{ResizeJob, ResizeReport, ResizeTally, ResizeTask};
pub use source::{ImageRef, Images, Listing, SourceKind};
pub use stop::StopFlag;
pub use thumbnail::{ThumbnailError, ThumbnailSpec, Thumbnailer, make_thumbnail};
pub use unsplash::Quality;
