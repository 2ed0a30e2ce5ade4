//! The loop body every download methodology shares: fetch one item, name
//! it, store it, and say what became of it as an [`Outcome`].
//!
//! A methodology decides how many `download` calls run at once and on what;
//! what one call does is the same everywhere, so it lives here. The three
//! downloaders differ only in their client and in where the (blocking)
//! store runs: [`Downloader`] on the calling thread, [`AsyncDownloader`] on
//! a few writer threads, `SurfDownloader` on async-std's blocking pool. Naming and
//! storing are [`Storer::store`], once.
//!
//! [`AsyncDownloader`] stores on a small pool of its own writer threads
//! rather than tokio's blocking pool (`writers.rs` says why, with numbers).

use std::sync::Arc;

use super::names::file_name;
use super::outcome::{ItemError, Outcome, Saved};
use super::writers::Writers;
use crate::fetch::{AsyncFetcher, FetchOptions, Fetched, Fetcher};
use crate::formats;
use crate::sink::Sink;
use crate::sources::Item;

/// The second half of the loop body: a fetched item's name, its store, its
/// outcome. Cheap to clone; clones share one sink.
#[derive(Debug, Clone)]
pub struct Storer {
    sink: Arc<dyn Sink>,
}

impl Storer {
    /// Stores into `sink`.
    pub fn new(sink: impl Sink + 'static) -> Self {
        Storer { sink: Arc::new(sink) }
    }

    /// Stores `fetched` under `item`'s safe, unique name (the same in every
    /// methodology, so all of them write the same bytes under the same names).
    pub fn store(&self, item: &Item, fetched: &Fetched) -> Result<Saved, ItemError> {
        let key = file_name(&item.url, item.stem.as_deref(), fetched.format);
        let stored = self.sink.put(&key, &fetched.bytes)?;
        Ok(Saved { key: stored.key, bytes: stored.bytes, format: formats::extension(fetched.format).to_string() })
    }

    /// Where objects go, for people.
    pub fn location(&self) -> String {
        self.sink.location()
    }
}

/// Fetches with one blocking client and stores into one sink. Shared by
/// reference between threads.
#[derive(Debug, Clone)]
pub struct Downloader {
    fetcher: Fetcher,
    storer: Storer,
}

impl Downloader {
    /// A downloader storing into `sink`.
    pub fn new(fetcher: Fetcher, sink: impl Sink + 'static) -> Self {
        Downloader { fetcher, storer: Storer::new(sink) }
    }

    /// Downloads one item and stores it atomically under its name.
    pub fn download(&self, item: &Item) -> Outcome {
        let fetched = self.fetcher.fetch(&item.url)?;
        Ok(self.storer.store(item, &fetched)?)
    }

    /// The client's limits, for a methodology that builds a client of its own.
    pub fn options(&self) -> &FetchOptions {
        self.fetcher.options()
    }
}

/// The async twin of [`Downloader`], on tokio: one `reqwest` client shared
/// by every task. Same names, same bytes, same errors.
#[derive(Debug, Clone)]
pub struct AsyncDownloader {
    fetcher: AsyncFetcher,
    writers: Writers,
}

impl AsyncDownloader {
    /// An async downloader with the same limits and sink as `blocking`; it
    /// starts its writer threads, which end when the last clone is dropped.
    pub fn like(blocking: &Downloader) -> Self {
        AsyncDownloader {
            fetcher: AsyncFetcher::new(blocking.options().clone()),
            writers: Writers::start(&blocking.storer),
        }
    }

    /// Downloads one item and stores it atomically, without blocking the
    /// runtime: the network part is async, and the store (blocking IO that a
    /// slow disk could stretch) runs on a writer thread.
    pub async fn download(&self, item: &Item) -> Outcome {
        let fetched = self.fetcher.fetch(&item.url).await?;
        Ok(self.writers.store(item.clone(), fetched).await?)
    }
}

/// The async-std twin of [`Downloader`]: one `surf` client shared by every
/// task; the store runs on async-std's blocking pool.
#[cfg(feature = "async-std")]
#[derive(Debug, Clone)]
pub struct SurfDownloader {
    fetcher: crate::fetch::SurfFetcher,
    storer: Storer,
}

#[cfg(feature = "async-std")]
impl SurfDownloader {
    /// An async-std downloader with the same limits and sink as `blocking`,
    /// keeping up to `connections` connections to a host alive.
    pub fn like(blocking: &Downloader, connections: usize) -> Result<Self, crate::fetch::FetchError> {
        let fetcher = crate::fetch::SurfFetcher::new(blocking.options().clone(), connections)?;
        Ok(SurfDownloader { fetcher, storer: blocking.storer.clone() })
    }

    /// Downloads one item and stores it atomically, without blocking the executor.
    pub async fn download(&self, item: &Item) -> Outcome {
        let fetched = self.fetcher.fetch(&item.url).await?;
        let (storer, item) = (self.storer.clone(), item.clone());
        Ok(async_std::task::spawn_blocking(move || storer.store(&item, &fetched)).await?)
    }
}
