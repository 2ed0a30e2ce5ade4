//! Where items come from: every source is a [`Listing`] of [`Item`]s.
//!
//! A listing is an iterator of `Result<Item, SourceError>`, read lazily: a
//! list of ten million URLs is never in memory at once, and an API is paged
//! only as fast as downloads consume it. An item carries what its source
//! knows of the image (an API's [`PhotoRecord`]) along with its URL, so
//! nothing downstream has to look it up again.
//!
//! # Layout
//! - `url_list.rs`: URL lists as text, CSV, TSV or JSON lines, gzipped or
//!   not, and Parquet (`parquet_list.rs`, the `parquet` feature), streamed;
//!   with a caption and saved columns for datasets ([`RowFields`]), as
//!   `columns.rs` ([`ListColumns`]) names them.
//! - `api.rs`: the paging state machine both APIs share, and [`ApiError`].
//! - `unsplash.rs`, `imgur.rs`: the two API clients.
//! - `metadata.rs`: [`PhotoRecord`], a line of `metadata.jsonl`, and the
//!   source that lists such a file again without API calls.
//! - `failures.rs`: `--retry-failed`, the items of a `failures.jsonl` again.
//! - `folder.rs`: a folder of images on disk (an `--input DIR`).
//! - here: [`Item`], [`Listing`], [`SourceKind`], [`SourceError`] and the
//!   embedded origin's listing.

mod api;
mod columns;
mod failures;
mod folder;
mod imgur;
mod metadata;
#[cfg(feature = "parquet")]
mod parquet_list;
mod unsplash;
mod url_list;

use std::io;
use std::path::PathBuf;

use thiserror::Error;

pub use api::{ApiError, StopReason};
pub use columns::ListColumns;
pub(crate) use failures::{failures_list, failures_list_of};
pub use folder::folder_list;
pub(crate) use imgur::imgur_list;
pub use metadata::PhotoRecord;
pub(crate) use metadata::metadata_list;
pub use unsplash::Quality;
pub(crate) use unsplash::unsplash_list;
pub(crate) use url_list::count_items;
pub use url_list::{open_list, open_url_list};

/// One image to fetch, with what its source knows of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Where the image is.
    pub url: String,
    /// A file stem the source vouches for (unique within the source, e.g. a
    /// photo id); `None` derives one from the URL.
    pub stem: Option<String>,
    /// What an API said of the photo, written to `metadata.jsonl` with the
    /// outcome; `None` for sources that know only URLs. Boxed, so an item
    /// that has none stays small in every queue and channel.
    pub record: Option<Box<PhotoRecord>>,
    /// What a dataset's list says of the row beyond its URL, and the row's
    /// number when a run numbers them; `None` when nothing asked for it
    /// (the teaching binaries never pay for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Box<RowFields>>,
}

/// What a dataset's URL list says of a row beyond its URL: the caption
/// (`--caption-column`) and the columns carried into each sample's
/// metadata (`--save-columns`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RowFields {
    /// The caption, when the list has one for the row.
    pub caption: Option<String>,
    /// The saved columns by name, as JSON values (null when missing).
    pub columns: serde_json::Map<String, serde_json::Value>,
    /// The row's place in the listing, counted from 0, when a run numbers
    /// the rows (a dataset's).
    pub row: Option<u64>,
}

impl Item {
    /// An image known only by its URL.
    pub fn from_url(url: impl Into<String>) -> Self {
        Item { url: url.into(), stem: None, record: None, fields: None }
    }
}

/// The sources `--source` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// The embedded local image host: no key, no network.
    Origin,
    /// A file of URLs (`--urls FILE`).
    Urls,
    /// The Unsplash API (`[UNSPLASH] access_key`).
    Unsplash,
    /// The Imgur API (`[IMGUR] client_id`).
    Imgur,
    /// A `metadata.jsonl` an earlier API run wrote (`--from FILE`): the same
    /// photos again, without API calls.
    Metadata,
}

/// Why a source could not be opened or stopped listing.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The URL list file could not be opened or read.
    #[error("cannot read URL list {path}: {cause}")]
    UrlList {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// The `--input` folder could not be read.
    #[error("cannot read the input folder {}: {cause} (pass --input DIR)", path.display())]
    InputFolder {
        /// The folder.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// `--source urls` without `--urls FILE`.
    #[error("--source urls needs --urls FILE (one URL a line)")]
    MissingUrlFile,
    /// The embedded origin could not start.
    #[error("cannot start the embedded image origin: {0}")]
    Origin(io::Error),
    /// An image API could not be used or stopped listing.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The `--from` metadata file could not be opened or read.
    #[error("cannot read metadata file {path}: {cause}")]
    MetadataFile {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// `--source metadata` without `--from FILE`.
    #[error("--source metadata needs --from FILE (a metadata.jsonl an earlier Unsplash or Imgur run wrote)")]
    MissingMetadataFile,
    /// `--retry-failed`, and no failures file in `--out`.
    #[error(
        "{path} does not exist: --retry-failed re-runs the failures an earlier run left in --out, and there are \
         none (that run saved everything, or wrote to another --out)"
    )]
    NoFailures {
        /// The file looked for.
        path: PathBuf,
    },
    /// The failures file could not be read.
    #[error("cannot read failures file {path}: {cause}")]
    FailuresFile {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// A CSV or TSV list has no column of the name given.
    #[error("{path} has no column {column:?} (its columns: {found}); name the URL column with --url-column")]
    NoUrlColumn {
        /// The file.
        path: PathBuf,
        /// The column looked for.
        column: String,
        /// The header line, as read.
        found: String,
    },
    /// A list has no column of a name a flag gave.
    #[error("{path} has no column {column:?} (its columns: {found}); check {flag}")]
    NoColumn {
        /// The file.
        path: PathBuf,
        /// The column looked for.
        column: String,
        /// The columns it has.
        found: String,
        /// The flag that named it.
        flag: &'static str,
    },
    /// A column holds values of a type that cannot be read as asked.
    #[error("{path}: column {column:?} holds {found}; {wanted}")]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its type, as the file declares it.
        found: String,
        /// What it must hold.
        wanted: &'static str,
    },
    /// `--caption-column` or `--save-columns` for a list without columns.
    #[error("{flag} needs a list with columns (CSV, TSV, JSON lines or Parquet); {what} has none")]
    NoColumns {
        /// The flag given.
        flag: &'static str,
        /// The list or source.
        what: String,
    },
    /// A Parquet list in a binary built without Parquet support.
    #[error("{path}: reading Parquet lists needs the `parquet` feature (pipeline_run has it)")]
    NoParquet {
        /// The file.
        path: PathBuf,
    },
    /// Lines of a list were skipped because they could not be read; the
    /// listing went on past them and ends with this.
    #[error("{path}: skipped {count} line(s) that are not valid {what} (first: {first})")]
    BadLines {
        /// The file.
        path: PathBuf,
        /// How many lines were skipped.
        count: usize,
        /// What each line should have been, e.g. "CSV rows with a url".
        what: String,
        /// The first bad line's number and problem.
        first: String,
    },
}

/// A lazily read list of images: the form every source takes.
pub type Listing = Box<dyn Iterator<Item = Result<Item, SourceError>> + Send>;

/// Lists images `0..count` of an origin, each with the stem `origin-NNNNN`
/// (ids are unique, so no hash is needed, and names stay the same from one
/// run to the next although the port changes).
pub(crate) fn origin_list(base_url: &str, count: usize) -> Listing {
    let base_url = base_url.to_string();
    Box::new((0..count).map(move |id| {
        Ok(Item {
            url: format!("{base_url}/images/{id}.jpg"),
            stem: Some(format!("origin-{id:05}")),
            record: None,
            fields: None,
        })
    }))
}
