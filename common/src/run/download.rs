//! The loop body every download methodology shares: fetch one item, name
//! it, store it, and say what became of it as an [`Outcome`].
//!
//! A methodology decides how many `download` calls run at once and on what;
//! what one call does is the same everywhere, so it lives here. The three
//! downloaders differ only in their client, in how they wait between
//! attempts (a thread sleeps, a task awaits a timer) and in where the
//! (blocking) file writes run: [`Downloader`] on the calling thread,
//! [`AsyncDownloader`] and `SurfDownloader` on a few writer threads of
//! their own (`writers.rs` says why, with numbers). Each body is written to
//! its file as it arrives (`spool.rs`), so no download holds a whole body
//! in memory; `fetch`, for a run that decodes from memory, keeps it there
//! under the client's byte budget instead. When to retry is
//! [`RetryPolicy::next_delay`], and naming is the [`Storer`]'s, each once.
//!
//! A stop ([`StopFlag`]) drops what is under way: the async downloaders
//! race each item against it and drop the request (and its host slot) when
//! it wins; the blocking one has its client's sockets shut down (so a read
//! blocked on a stalled host returns), gives up before its next attempt
//! and cuts its retry waits short. An item dropped so fails as [`interrupted`], and is
//! listed with that reason; its partial file goes with it.

use std::time::{Duration, Instant};

use super::outcome::{Failed, ItemError, Outcome};
use super::spool::AsyncSpool;
use super::stop::StopFlag;
use super::storer::Storer;
use super::writers::Writers;
use crate::fetch::{
    AsyncFetcher, ByteBudget, Failure, FetchOptions, Fetched, Fetcher, HostLimits, Refusal, RetryPolicy, check_url,
};
use crate::sources::Item;
use crate::store::{Sink, SinkError};

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

    /// The same downloader, keeping what [`Downloader::fetch`] holds in
    /// memory under `budget` (shared with the async twins made `like` it).
    pub fn with_budget(self, budget: ByteBudget) -> Self {
        Downloader { fetcher: self.fetcher.with_budget(budget), ..self }
    }

    /// Downloads one item, politely (one slot of its host's limit per
    /// attempt) and retrying what time can cure, writing its body to its
    /// file as it arrives, named atomically once complete.
    pub fn download(&self, item: &Item) -> Outcome {
        let timeout = self.fetcher.options().timeout;
        let (spool, attempts) = self.attempts(item, |url| {
            self.fetcher.robots_allow(url.as_str())?;
            let mut spool = self.storer.spool(item);
            self.fetcher.attempt_into(url.as_str(), Instant::now() + timeout, &mut spool).map(|()| spool)
        })?;
        spool.commit(attempts)
    }

    /// The first half of [`Downloader::download`] alone: fetches one item,
    /// politely and retrying what time can cure, and returns its bytes with
    /// the number of attempts it took, for a run that transforms them before
    /// storing anything. The bytes are held in memory,
    /// under the client's budget ([`Downloader::with_budget`]).
    pub fn fetch(&self, item: &Item) -> Result<(Fetched, u32), Failed> {
        self.attempts(item, |url| self.fetcher.attempt(url.as_str()).map_err(Failure::Fetch))
    }

    /// `attempt` until it succeeds or the retry policy gives up, each
    /// attempt in a slot of the host's limit.
    fn attempts<T>(
        &self,
        item: &Item,
        mut attempt: impl FnMut(&url::Url) -> Result<T, Failure<SinkError>>,
    ) -> Result<(T, u32), Failed> {
        let url = check_url(&item.url).map_err(Failed::from)?;
        let mut attempts = 1;
        loop {
            let slot = self.hosts.acquire_blocking(&url);
            if self.stop.is_stopped() {
                return Err(interrupted(attempts - 1));
            }
            let result = attempt(&url);
            slot.release(host_answer(&result));
            match result {
                Ok(done) => return Ok((done, attempts)),
                // Cut short by the stop (its sockets were shut down).
                Err(_) if self.stop.is_stopped() => return Err(interrupted(attempts)),
                Err(Failure::Write(error)) => return Err(Failed { error: error.into(), attempts }),
                Err(Failure::Fetch(refusal)) => match self.retries.next_delay(attempts, &refusal) {
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
    storer: Storer,
    writers: Writers,
    retries: RetryPolicy,
    hosts: HostLimits,
    stop: StopFlag,
}

impl AsyncDownloader {
    /// An async downloader with the same limits (and byte budget), retries
    /// and sink as `blocking`; it starts its writer threads, which end when
    /// the last clone is dropped.
    pub fn like(blocking: &Downloader) -> Self {
        AsyncDownloader {
            fetcher: AsyncFetcher::like(&blocking.fetcher),
            storer: blocking.storer.clone(),
            writers: Writers::start(),
            retries: blocking.retries,
            hosts: blocking.hosts.clone(),
            stop: blocking.stop.clone(),
        }
    }

    /// Downloads one item, retrying what time can cure, writing its body to
    /// its file as it arrives, without blocking the runtime: the network
    /// part and the waits are async, and the file work (blocking IO that a
    /// slow disk could stretch) runs on writer threads. A stop drops the
    /// request under way and its partial file; a body complete is named
    /// (a short, atomic step) before the stop is heeded.
    pub async fn download(&self, item: &Item) -> Outcome {
        let (fetcher, storer, writers) = (&self.fetcher, &self.storer, &self.writers);
        let attempt = move |url: url::Url| async move {
            let mut spool = AsyncSpool::new(storer.spool(item), writers);
            fetcher.attempt_into(url.as_str(), &mut spool).await?;
            Ok(spool.into_inner())
        };
        let fetched = tokio::select! {
            fetched = with_retries(&self.hosts, self.retries, item, attempt, tokio::time::sleep) => fetched,
            () = self.stop.stopped() => Err(interrupted(0)),
        };
        commit(&self.writers, fetched).await
    }

    /// The first half of [`AsyncDownloader::download`] alone: the async twin
    /// of [`Downloader::fetch`], the body held in memory under the client's
    /// budget. A stop drops the request under way.
    pub async fn fetch(&self, item: &Item) -> Result<(Fetched, u32), Failed> {
        let fetcher = &self.fetcher;
        let attempt = move |url: url::Url| async move { fetcher.attempt(url.as_str()).await.map_err(Failure::Fetch) };
        tokio::select! {
            fetched = with_retries(&self.hosts, self.retries, item, attempt, tokio::time::sleep) => fetched,
            () = self.stop.stopped() => Err(interrupted(0)),
        }
    }
}

/// The async-std twin of [`Downloader`]: one `surf` client shared by every
/// task; the file work runs on writer threads of its own.
#[cfg(feature = "async-std")]
#[derive(Debug, Clone)]
pub struct SurfDownloader {
    fetcher: crate::fetch::SurfFetcher,
    storer: Storer,
    writers: Writers,
    retries: RetryPolicy,
    hosts: HostLimits,
    stop: StopFlag,
}

#[cfg(feature = "async-std")]
impl SurfDownloader {
    /// An async-std downloader with the same limits, retries and sink as
    /// `blocking`.
    pub fn like(blocking: &Downloader) -> Result<Self, crate::fetch::FetchError> {
        let fetcher = crate::fetch::SurfFetcher::like(&blocking.fetcher)?;
        let (storer, retries, hosts) = (blocking.storer.clone(), blocking.retries, blocking.hosts.clone());
        Ok(SurfDownloader { fetcher, storer, writers: Writers::start(), retries, hosts, stop: blocking.stop.clone() })
    }

    /// Downloads one item, retrying what time can cure, writing its body to
    /// its file as it arrives, without blocking the executor. A stop drops
    /// the request under way and its partial file (a body complete is
    /// named: that step is atomic, and short).
    pub async fn download(&self, item: &Item) -> Outcome {
        use futures_util::future::{Either, select};
        let (fetcher, storer, writers) = (&self.fetcher, &self.storer, &self.writers);
        let attempt = move |url: url::Url| async move {
            let mut spool = AsyncSpool::new(storer.spool(item), writers);
            fetcher.attempt_into(url.as_str(), &mut spool).await?;
            Ok(spool.into_inner())
        };
        let fetch = std::pin::pin!(with_retries(&self.hosts, self.retries, item, attempt, async_std::task::sleep));
        let stopped = std::pin::pin!(self.stop.stopped());
        let fetched = match select(fetch, stopped).await {
            Either::Left((fetched, _)) => fetched,
            Either::Right(((), _)) => Err(interrupted(0)),
        };
        commit(&self.writers, fetched).await
    }
}

/// `attempt` until it succeeds or the retry policy gives up, each attempt
/// in a slot of the host's limit, waiting with `sleep` (each runtime has
/// its own timer): the async downloaders' loop, once.
async fn with_retries<T, A, S>(
    hosts: &HostLimits,
    retries: RetryPolicy,
    item: &Item,
    attempt: impl Fn(url::Url) -> A,
    sleep: impl Fn(Duration) -> S,
) -> Result<(T, u32), Failed>
where
    A: Future<Output = Result<T, Failure<SinkError>>>,
    S: Future<Output = ()>,
{
    let url = check_url(&item.url).map_err(Failed::from)?;
    let mut attempts = 1;
    loop {
        let slot = hosts.acquire(&url, &sleep).await;
        let result = attempt(url.clone()).await;
        slot.release(host_answer(&result));
        match result {
            Ok(done) => return Ok((done, attempts)),
            Err(Failure::Write(error)) => return Err(Failed { error: error.into(), attempts }),
            Err(Failure::Fetch(refusal)) => match retries.next_delay(attempts, &refusal) {
                Some(wait) => sleep(wait).await,
                None => return Err(gave_up(refusal, attempts)),
            },
        }
        attempts += 1;
    }
}

/// Names the file of a body streamed whole, on a writer thread.
async fn commit(writers: &Writers, fetched: Result<(Option<super::spool::Spool>, u32), Failed>) -> Outcome {
    let (spool, attempts) = fetched?;
    let spool =
        spool.ok_or_else(|| Failed { error: SinkError::Panicked("a file write failed".into()).into(), attempts })?;
    writers.run(move || spool.commit(attempts)).await.map_err(|error| Failed { error: error.into(), attempts })?
}

/// What the host scheduler is told of an attempt: a failure to write is
/// not the host's.
fn host_answer<T>(result: &Result<T, Failure<SinkError>>) -> Result<(), &Refusal> {
    match result {
        Err(Failure::Fetch(refusal)) => Err(refusal),
        Ok(_) | Err(Failure::Write(_)) => Ok(()),
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
