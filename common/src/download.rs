//! The loop body every methodology shares: fetch one image, name it, save it.
//!
//! A methodology decides how many [`Downloader::save`] calls run at once and
//! on what; what one call does is the same everywhere, so it lives here.

use std::path::PathBuf;

use thiserror::Error;

use crate::fetch::{FetchError, Fetcher};
use crate::files::{FilesError, OutputDir, file_name};
use crate::source::ImageRef;

/// An image saved to disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// Why one image was not saved.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// Fetching failed (status, timeout, size, not an image, network).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Writing failed (disk full, permissions).
    #[error(transparent)]
    Files(#[from] FilesError),
}

/// Fetches images with one blocking client and saves them into one folder.
/// Shared by reference between threads.
#[derive(Debug, Clone)]
pub struct Downloader {
    fetcher: Fetcher,
    out: OutputDir,
}

impl Downloader {
    /// A downloader saving into `out`.
    pub fn new(fetcher: Fetcher, out: OutputDir) -> Self {
        Downloader { fetcher, out }
    }

    /// Downloads one image and writes it atomically under its safe, unique name.
    pub fn save(&self, image: &ImageRef) -> Result<Saved, DownloadError> {
        let fetched = self.fetcher.fetch(&image.url)?;
        let name = file_name(&image.url, image.stem.as_deref(), fetched.format);
        let path = self.out.write_atomic(&name, &fetched.bytes)?;
        Ok(Saved { path, bytes: fetched.bytes.len() as u64 })
    }
}
