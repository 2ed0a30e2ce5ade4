//! [`Outcome`]: what became of one item, typed from where it is born to
//! where it is counted.
//!
//! Every methodology hands the same value to the tally, the ledger and the
//! report, and a worker process sends it back over its pipe whole (it is
//! serialisable): which key the item was stored under, how many bytes, in
//! which format, or which typed error ended it. Nothing is flattened to a
//! string on the way, so a later step (a retry policy, a resume) can still
//! tell a 503 from a 404 and find the file a run saved.

use thiserror::Error;

use crate::fetch::FetchError;
use crate::store::SinkError;

/// What became of one item: stored, or failed.
pub type Outcome = Result<Saved, Failed>;

/// An item that was fetched and stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// The key it was stored under (in a local folder, its file name).
    pub key: String,
    /// Its size.
    pub bytes: u64,
    /// Its format's extension, as its bytes say (`jpg`, `png`, ...).
    pub format: String,
    /// How many times it was fetched before it came whole (1: at once).
    pub attempts: u32,
}

/// An item that was not stored: the error that ended it.
#[derive(Debug, Clone, Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[error("{error}")]
pub struct Failed {
    /// Why.
    pub error: ItemError,
    /// How many times it was tried.
    pub attempts: u32,
}

/// Why one item was not stored.
#[derive(Debug, Clone, Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ItemError {
    /// Fetching failed (status, timeout, size, not an image, network).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Storing failed (disk full, permissions).
    #[error(transparent)]
    Store(#[from] SinkError),
    /// The image was fetched but its thumbnail or crops could not be made
    /// (a corrupt or unsupported image): the thumbnail maker's message. A
    /// string, not the typed `ThumbnailError`, because an outcome crosses a
    /// process boundary whole and that error holds an `io::Error`.
    #[error("cannot make its thumbnail or crops: {0}")]
    Transform(String),
    /// The run could not finish the item (the process handling it died);
    /// the methodology says how, in one line.
    #[error("{0}")]
    Abandoned(String),
}

impl Failed {
    /// Why, for people and for the ledger: one line, control characters
    /// escaped, cut in the middle so that the innermost cause is kept.
    pub fn reason(&self) -> String {
        crate::text::one_line(&self.error.to_string())
    }
}

impl From<ItemError> for Failed {
    /// A failure at the first attempt.
    fn from(error: ItemError) -> Self {
        Failed { error, attempts: 1 }
    }
}

impl From<FetchError> for Failed {
    fn from(error: FetchError) -> Self {
        ItemError::Fetch(error).into()
    }
}

impl From<SinkError> for Failed {
    fn from(error: SinkError) -> Self {
        ItemError::Store(error).into()
    }
}
