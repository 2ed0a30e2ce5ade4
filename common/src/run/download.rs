//! The loop body every download methodology shares: fetch one item, name
//! it, store it, and say what became of it as an [`Outcome`].
//!
//! A methodology decides how many `download` calls run at once and on what;
//! what one call does is the same everywhere, so it lives here. The three
//! downloaders differ only in their client, in how they wait between
//! attempts (a thread sleeps, a task awaits a timer) and in where the
//! (blocking) store runs: [`Downloader`] on the calling thread,
//! [`AsyncDownloader`] on a few writer threads of its own (`writers.rs` says
//! why, with numbers), `SurfDownloader` on async-std's blocking pool. When
//! to retry is [`RetryPolicy::next_delay`], and naming and storing are
//! [`Storer::store`], each once.
//!
//! A stop ([`StopFlag`]) drops what is under way: the async downloaders
//! race each item against it and drop the request (and its host slot) when
//! it wins; the blocking one has its client's sockets shut down (so a read
//! blocked on a stalled host returns), gives up before its next attempt
//! and cuts its retry waits short. An item dropped so fails as [`interrupted`], and is
//! listed with that reason.

use super::outcome::{Failed, ItemError, Outcome};
use super::stop::StopFlag;
use super::storer::Storer;
use super::writers::Writers;
use crate::fetch::{AsyncFetcher, FetchOptions, Fetched, Fetcher, HostLimits, Refusal, RetryPolicy, check_url};
use crate::sources::Item;
use crate::store::Sink;

/// Fetches with one blocking client and stores into one sink. Shared by
/// reference between threads.
#[derive(Debug, Clone)]
pub struct Downloader {
    fetcher: Fetcher,
    storer: Storer,
    retries: RetryPolicy,
    hosts: HostLimits,
    stop: StopFlag,
}

impl Downloader {
    /// A downloader storing into `sink`, trying each item once, with no
    /// host limited until it refuses.
    pub fn new(fetcher: Fetcher, sink: impl Sink + 'static) -> Self {
        Downloader {
            fetcher,
            storer: Storer::new(sink),
            retries: RetryPolicy { retries: 0 },
            hosts: HostLimits::new(None),
            stop: StopFlag::new(),
        }
    }

    /// The same downloader, dropping its work when `stop` is set. A thread
    /// cannot be cancelled while it waits in a read, so a watcher thread
    /// shuts the client's sockets down when the stop comes: every blocked
    /// read returns at once.
    pub fn with_stop(self, stop: StopFlag) -> Self {
        let (watched, fetcher) = (stop.clone(), self.fetcher.clone());
        let watcher = std::thread::Builder::new().name("stop-requests".into()).spawn(move || {
            watched.wait();
            fetcher.shut_down();
        });
        // Without the watcher a stop still ends the run, at each read's deadline.
        drop(watcher);
        Downloader { stop, ..self }
    }

    /// The same downloader, retrying failed fetches as `retries` says.
    pub fn with_retries(self, retries: RetryPolicy) -> Self {
        Downloader { retries, ..self }
    }

    /// The same downloader, holding each host to `hosts`' adaptive limit.
    pub fn with_hosts(self, hosts: HostLimits) -> Self {
        Downloader { hosts, ..self }
    }

    /// Downloads one item, politely (one slot of its host's limit per
    /// attempt) and retrying what time can cure, and stores it atomically
    /// under its name.
    pub fn download(&self, item: &Item) -> Outcome {
        let (fetched, attempts) = self.fetch(item)?;
        self.storer.store(item, &fetched, attempts)
    }

    /// The first half of [`Downloader::download`] alone: fetches one item,
    /// politely and retrying what time can cure, and returns its bytes with
    /// the number of attempts it took, for a run that transforms them before
    /// storing anything (`pipeline_run`).
    pub fn fetch(&self, item: &Item) -> Result<(Fetched, u32), Failed> {
        let url = check_url(&item.url).map_err(Failed::from)?;
        let mut attempts = 1;
        loop {
            let slot = self.hosts.acquire_blocking(&url);
            if self.stop.is_stopped() {
                return Err(interrupted(attempts - 1));
            }
            let result = self.fetcher.attempt(url.as_str());
            slot.release(result.as_ref().map(|_| ()));
            match result {
                Ok(fetched) => return Ok((fetched, attempts)),
                // Cut short by the stop (its sockets were shut down).
                Err(_) if self.stop.is_stopped() => return Err(interrupted(attempts)),
                Err(refusal) => match self.retries.next_delay(attempts, &refusal) {
                    Some(wait) if self.stop.wait_timeout(wait) => return Err(interrupted(attempts)),
                    Some(_) => {}
                    None => return Err(gave_up(refusal, attempts)),
                },
            }
            attempts += 1;
        }
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
    retries: RetryPolicy,
    hosts: HostLimits,
    stop: StopFlag,
}

impl AsyncDownloader {
    /// An async downloader with the same limits, retries and sink as
    /// `blocking`; it starts its writer threads, which end when the last
    /// clone is dropped.
    pub fn like(blocking: &Downloader) -> Self {
        AsyncDownloader {
            fetcher: AsyncFetcher::like(&blocking.fetcher),
            writers: Writers::start(&blocking.storer),
            retries: blocking.retries,
            hosts: blocking.hosts.clone(),
            stop: blocking.stop.clone(),
        }
    }

    /// Downloads one item, retrying what time can cure, and stores it
    /// atomically, without blocking the runtime: the network part and the
    /// waits are async, and the store (blocking IO that a slow disk could
    /// stretch) runs on a writer thread.
    pub async fn download(&self, item: &Item) -> Outcome {
        let (fetched, attempts) = self.fetch(item).await?;
        self.writers.store(item.clone(), fetched, attempts).await
    }

    /// The first half of [`AsyncDownloader::download`] alone: the async twin
    /// of [`Downloader::fetch`]. A stop drops the request under way.
    pub async fn fetch(&self, item: &Item) -> Result<(Fetched, u32), Failed> {
        tokio::select! {
            fetched = self.fetch_until_stopped(item) => fetched,
            () = self.stop.stopped() => Err(interrupted(0)),
        }
    }

    async fn fetch_until_stopped(&self, item: &Item) -> Result<(Fetched, u32), Failed> {
        let url = check_url(&item.url).map_err(Failed::from)?;
        let mut attempts = 1;
        loop {
            let slot = self.hosts.acquire(&url, tokio::time::sleep).await;
            let result = self.fetcher.attempt(url.as_str()).await;
            slot.release(result.as_ref().map(|_| ()));
            match result {
                Ok(fetched) => return Ok((fetched, attempts)),
                Err(refusal) => match self.retries.next_delay(attempts, &refusal) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(gave_up(refusal, attempts)),
                },
            }
            attempts += 1;
        }
    }
}

/// The async-std twin of [`Downloader`]: one `surf` client shared by every
/// task; the store runs on async-std's blocking pool.
#[cfg(feature = "async-std")]
#[derive(Debug, Clone)]
pub struct SurfDownloader {
    fetcher: crate::fetch::SurfFetcher,
    storer: Storer,
    retries: RetryPolicy,
    hosts: HostLimits,
    stop: StopFlag,
}

#[cfg(feature = "async-std")]
impl SurfDownloader {
    /// An async-std downloader with the same limits, retries and sink as
    /// `blocking`, keeping up to `connections` connections to a host alive.
    pub fn like(blocking: &Downloader, connections: usize) -> Result<Self, crate::fetch::FetchError> {
        let fetcher = crate::fetch::SurfFetcher::like(&blocking.fetcher, connections)?;
        let (storer, retries, hosts) = (blocking.storer.clone(), blocking.retries, blocking.hosts.clone());
        Ok(SurfDownloader { fetcher, storer, retries, hosts, stop: blocking.stop.clone() })
    }

    /// Downloads one item, retrying what time can cure, and stores it
    /// atomically, without blocking the executor. A stop drops the request
    /// under way (a store under way finishes: it is atomic, and short).
    pub async fn download(&self, item: &Item) -> Outcome {
        use futures_util::future::{Either, select};
        let fetch = std::pin::pin!(self.fetch(item));
        let stopped = std::pin::pin!(self.stop.stopped());
        let (fetched, attempts) = match select(fetch, stopped).await {
            Either::Left((fetched, _)) => fetched?,
            Either::Right(((), _)) => return Err(interrupted(0)),
        };
        let (storer, item) = (self.storer.clone(), item.clone());
        async_std::task::spawn_blocking(move || storer.store(&item, &fetched, attempts)).await
    }

    async fn fetch(&self, item: &Item) -> Result<(Fetched, u32), Failed> {
        let url = check_url(&item.url).map_err(Failed::from)?;
        let mut attempts = 1;
        loop {
            let slot = self.hosts.acquire(&url, async_std::task::sleep).await;
            let result = self.fetcher.attempt(url.as_str()).await;
            slot.release(result.as_ref().map(|_| ()));
            match result {
                Ok(fetched) => return Ok((fetched, attempts)),
                Err(refusal) => match self.retries.next_delay(attempts, &refusal) {
                    Some(wait) => async_std::task::sleep(wait).await,
                    None => return Err(gave_up(refusal, attempts)),
                },
            }
            attempts += 1;
        }
    }
}

/// The failure of an item a stop dropped after `attempts` attempts: not
/// the host's fault, and listed so (a resumed run tries it again).
pub(crate) fn interrupted(attempts: u32) -> Failed {
    Failed {
        error: ItemError::Abandoned("interrupted: the run was stopped before this image was done".into()),
        attempts,
    }
}

/// The failure of an item whose last attempt (of `attempts`) was refused.
fn gave_up(refusal: Refusal, attempts: u32) -> Failed {
    Failed { error: ItemError::Fetch(refusal.error), attempts }
}
