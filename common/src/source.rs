//! Where image URLs come from: a stream of [`ImageRef`]s.
//!
//! Every source is a [`Listing`], an iterator of `Result<ImageRef,
//! SourceError>`, read lazily: a list of ten million URLs is never in memory
//! at once, and an API is paged only as fast as downloads consume it. That
//! iterator type is the extension point: the Unsplash and Imgur clients plug
//! in by producing one. [`Images`] wraps a listing with what every run needs
//! (a count cap, Ctrl-C, and remembering why a listing stopped early) so
//! that a methodology sees a plain `Iterator<Item = ImageRef>`.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::stop::StopFlag;

/// One image to download.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRef {
    /// Where the image is.
    pub url: String,
    /// A file stem the source vouches for (unique within the source, e.g. a
    /// photo id); `None` derives one from the URL.
    pub stem: Option<String>,
}

impl ImageRef {
    /// An image known only by its URL.
    pub fn from_url(url: impl Into<String>) -> Self {
        ImageRef { url: url.into(), stem: None }
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
    /// `--source urls` without `--urls FILE`.
    #[error("--source urls needs --urls FILE (one URL a line)")]
    MissingUrlFile,
    /// The embedded origin could not start.
    #[error("cannot start the embedded image origin: {0}")]
    Origin(io::Error),
    /// An image API could not be used or stopped listing.
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),
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
pub type Listing = Box<dyn Iterator<Item = Result<ImageRef, SourceError>> + Send>;

/// Reads a URL list: one URL a line; blank lines and `#` comments skipped.
/// Lines are read as they are needed, so the file can be any size.
pub fn url_list(path: &Path) -> Result<Listing, SourceError> {
    let file = File::open(path).map_err(|cause| SourceError::UrlList { path: path.to_path_buf(), cause })?;
    let path = path.to_path_buf();
    // Split on bytes, not `lines()`: one line of bad UTF-8 must fail as one
    // bad URL, not end the whole listing.
    let lines = BufReader::new(file).split(b'\n').filter_map(move |line| match line {
        Ok(line) => {
            let line = String::from_utf8_lossy(&line);
            let url = line.trim();
            (!url.is_empty() && !url.starts_with('#')).then(|| Ok(ImageRef::from_url(url)))
        }
        Err(cause) => Some(Err(SourceError::UrlList { path: path.clone(), cause })),
    });
    Ok(Box::new(lines))
}

/// Lists images `0..count` of an origin, each with the stem `origin-NNNNN`
/// (ids are unique, so no hash is needed, and names stay the same from one
/// run to the next although the port changes).
pub fn origin_list(base_url: &str, count: usize) -> Listing {
    let base_url = base_url.to_string();
    Box::new((0..count).map(move |id| {
        Ok(ImageRef { url: format!("{base_url}/images/{id}.jpg"), stem: Some(format!("origin-{id:05}")) })
    }))
}

/// A listing with a count cap, Ctrl-C and a memory of why it ended early.
///
/// It yields plain [`ImageRef`]s; if the listing fails part way (an
/// unreadable file, an API quota), iteration ends and the error is kept for
/// the report (see [`Images::problem`]), so downloads already listed go on.
pub struct Images {
    listing: Listing,
    remaining: Option<usize>,
    stop: StopFlag,
    problem: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Images {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Images").field("remaining", &self.remaining).finish_non_exhaustive()
    }
}

impl Images {
    /// Wraps `listing`, stopping after `limit` images (if any) or on `stop`.
    pub fn new(listing: Listing, limit: Option<usize>, stop: StopFlag) -> Self {
        Images { listing, remaining: limit, stop, problem: Arc::default() }
    }

    /// Where the reason a listing ended early is written, for the report.
    pub fn problem(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.problem)
    }
}

impl Iterator for Images {
    type Item = ImageRef;

    fn next(&mut self) -> Option<ImageRef> {
        if self.stop.is_stopped() || self.remaining == Some(0) {
            return None;
        }
        match self.listing.next()? {
            Ok(image) => {
                if let Some(remaining) = &mut self.remaining {
                    *remaining -= 1;
                }
                Some(image)
            }
            Err(err) => {
                if let Ok(mut problem) = self.problem.lock() {
                    *problem = Some(err.to_string());
                }
                self.remaining = Some(0);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blank lines and comments are skipped; the count cap applies.
    #[test]
    fn url_list_skips_comments_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("urls.txt");
        std::fs::write(&path, "# photos\nhttp://a/1.jpg\n\n  http://a/2.jpg  \n#http://a/x.jpg\nhttp://a/3.jpg\n")
            .unwrap();
        let all: Vec<String> = Images::new(url_list(&path).unwrap(), None, StopFlag::new()).map(|i| i.url).collect();
        assert_eq!(all, ["http://a/1.jpg", "http://a/2.jpg", "http://a/3.jpg"]);
        let two = Images::new(url_list(&path).unwrap(), Some(2), StopFlag::new()).count();
        assert_eq!(two, 2);
    }

    /// A stop flag ends the listing at once.
    #[test]
    fn stop_ends_listing() {
        let stop = StopFlag::new();
        let mut images = Images::new(origin_list("http://o", 10), None, stop.clone());
        assert!(images.next().is_some());
        stop.stop();
        assert!(images.next().is_none());
    }

    /// A listing error ends iteration and is remembered.
    #[test]
    fn listing_errors_are_kept() {
        let listing: Listing =
            Box::new([Ok(ImageRef::from_url("http://a/1.jpg")), Err(SourceError::MissingUrlFile)].into_iter());
        let mut images = Images::new(listing, None, StopFlag::new());
        let problem = images.problem();
        assert_eq!(images.by_ref().count(), 1);
        assert!(problem.lock().unwrap().as_deref().unwrap().contains("--urls FILE"));
    }
}
