//! The loop body every methodology shares: fetch one image, name it, save it.
//!
//! A methodology decides how many [`Downloader::save`] calls run at once and
//! on what; what one call does is the same everywhere, so it lives here.

use std::path::PathBuf;

use thiserror::Error;

use crate::fetch::{AsyncFetcher, FetchError, FetchOptions, Fetcher};
use crate::files::{FilesError, OutputDir};
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
        Ok(self.out.save_image(image, &fetched)?)
    }

    /// The folder images are saved into.
    pub fn out(&self) -> &OutputDir {
        &self.out
    }

    /// The client's limits, for a methodology that builds a client of its own.
    pub fn options(&self) -> &FetchOptions {
        self.fetcher.options()
    }
}

/// The async twin of [`Downloader`], on tokio: one `reqwest` client shared by
/// every task. Same names, same bytes, same errors.
#[derive(Debug, Clone)]
pub struct AsyncDownloader {
    fetcher: AsyncFetcher,
    out: OutputDir,
}

impl AsyncDownloader {
    /// An async downloader with the same limits and folder as `blocking`.
    pub fn like(blocking: &Downloader) -> Self {
        AsyncDownloader { fetcher: AsyncFetcher::new(blocking.options().clone()), out: blocking.out.clone() }
    }

    /// Downloads one image and writes it atomically, without blocking the
    /// runtime: the network part is async, and the file write (blocking IO
    /// that a slow disk could stretch) runs on tokio's blocking pool.
    pub async fn save(&self, image: &ImageRef) -> Result<Saved, DownloadError> {
        let fetched = self.fetcher.fetch(&image.url).await?;
        let (out, image) = (self.out.clone(), image.clone());
        let saved = tokio::task::spawn_blocking(move || out.save_image(&image, &fetched))
            .await
            .map_err(|join| DownloadError::Files(FilesError::Panicked(join.to_string())))??;
        Ok(saved)
    }
}
