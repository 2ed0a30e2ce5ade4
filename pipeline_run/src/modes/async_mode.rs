//! # async: three stages overlapped, network on tokio, CPU on rayon
//!
//! **Methodology.** The image's three stages run side by side as three
//! streams joined by bounded channels:
//!
//! ```text
//! listing ─▶ downloads (≤ --concurrency in flight, tokio) ─▶ channel
//!         ─▶ transforms (≤ one per core, rayon pool)       ─▶ channel
//!         ─▶ uploads   (≤ --uploads objects in flight)     ─▶ tally
//! ```
//!
//! The network waits are async tasks on one tokio thread (as in
//! `asyncio_run`), so hundreds of downloads in flight cost a few KB each.
//! Decoding, resizing and encoding are CPU work, which would stall every
//! download sharing the runtime's thread, so each image's transform is
//! sent to a rayon pool of one thread per core and awaited through a
//! oneshot channel: the runtime never computes. Uploads to a local folder
//! are blocking file writes and run on tokio's blocking pool (an object
//! store's are awaited on the runtime; see `store.rs`).
//!
//! **Backpressure.** Every stage has a bound, and every channel a capacity:
//! when the uploads are slow, the made-objects channel fills, the
//! transforms wait to send, the downloaded channel fills, and the downloads
//! stop taking images from the listing. Memory stays flat however long the
//! list: at most `--concurrency` images downloading plus as many waiting,
//! one per core transforming, and `--uploads` images' objects waiting and
//! being stored; and the downloaded bytes of all of them (downloading,
//! waiting, transforming) stay within `--max-inflight-bytes`, one budget
//! that a download waits on for room (`common::fetch::ByteBudget`).
//!
//! **When to use it.** Many images with real latency: the downloads of
//! later images overlap the CPU work and the uploads of earlier ones, which
//! is where this mode beats downloading everything first and making the
//! thumbnails afterwards.
//!
//! **Trade-offs.** Two pools to size (the network's in-flight count and the
//! CPU's threads), three kinds of thread, and code in two colours: the
//! async client (`reqwest`) for downloads, the blocking thumbnail maker on
//! rayon. An image is in no stage's hands while it waits in a channel; a
//! stop drops the downloads under way (they fail as interrupted, at once),
//! and what was already downloaded finishes its transform and store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use common::fetch::Fetched;
use common::{AsyncDownloader, Failed, Item, ItemError};
use futures_util::{Stream, StreamExt, future, stream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::dataset::Sample;
use crate::modes::Run;
use crate::record::PipelineReport;
use crate::work::{Done, EventKind, Made, Source, Uploaded, Work};

/// Downloads in flight when `--concurrency` is not given: `asyncio_run`'s.
pub(crate) const DEFAULT_IN_FLIGHT: usize = 100;

/// An image between stages: its index, the image, what has been noted of
/// it so far, and the attempts its download took.
#[derive(Debug)]
struct InFlight {
    task: usize,
    image: Item,
    done: Done,
    attempts: u32,
}

/// Runs the three stages side by side on one tokio thread and a rayon pool.
pub(crate) fn run_async(run: Run) -> anyhow::Result<PipelineReport> {
    let Run { images, work, ledger, concurrency: in_flight, uploads } = run;
    let work = Arc::new(work);
    let fetcher = match &work.source {
        Source::Network(downloader) => Some(AsyncDownloader::like(downloader)),
        Source::Disk { .. } => None,
    };
    let cpu = rayon::ThreadPoolBuilder::new()
        .thread_name(|index| format!("transform-{index}"))
        .build()
        .context("cannot start the transform threads")?;
    let transforms = cpu.current_num_threads();
    // One thread for the network (see `asyncio_run`): the CPU work is not here.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the tokio runtime")?;
    let (borrowed, work, fetcher, cpu) = (&ledger, &work, &fetcher, &cpu);

    runtime.block_on(async {
        let ledger = borrowed;
        let (downloaded, downloaded_queue) = mpsc::channel::<(InFlight, Option<Fetched>)>(in_flight);
        let (made, made_queue) = mpsc::channel::<(InFlight, Option<Made>)>(uploads);
        let clock = ledger.started;

        // Stage 1: downloads, `in_flight` at a time, in the order they finish.
        let download_stage = async move {
            let mut downloads = std::pin::pin!(
                listing_stream(images, in_flight)
                    .map(|(task, image)| {
                        ledger.queued(task);
                        download(work, fetcher.as_ref(), task, image, clock)
                    })
                    .buffer_unordered(in_flight)
            );
            while let Some(next) = downloads.next().await {
                if downloaded.send(next).await.is_err() {
                    break;
                }
            }
        };

        // Stage 2: transforms on the rayon pool, one per core at a time.
        let transform_stage = async move {
            let mut transforms = std::pin::pin!(
                receiver_stream(downloaded_queue)
                    .map(|(flight, fetched)| async move {
                        match fetched {
                            Some(fetched) => transform(work, cpu, flight, fetched, clock).await,
                            None => (flight, None),
                        }
                    })
                    .buffer_unordered(transforms)
            );
            while let Some(next) = transforms.next().await {
                if made.send(next).await.is_err() {
                    break;
                }
            }
        };

        // Stage 3: uploads, at most `uploads` objects in flight in all.
        let permits = &Semaphore::new(uploads);
        let upload_stage = receiver_stream(made_queue)
            .map(|(flight, made)| async move {
                match made {
                    Some(made) => upload(work, permits, flight, made, clock).await,
                    None => flight,
                }
            })
            .buffer_unordered(uploads)
            .for_each(|InFlight { task, image, done, .. }| {
                ledger.record(task, &image, done, 0.0);
                future::ready(())
            });

        tokio::join!(download_stage, transform_stage, upload_stage);
    });

    Ok(ledger.finish())
}

/// Downloads one image (or reads it from disk, on the blocking pool).
async fn download(
    work: &Arc<Work>,
    fetcher: Option<&AsyncDownloader>,
    task: usize,
    image: Item,
    clock: Instant,
) -> (InFlight, Option<Fetched>) {
    let started = Instant::now();
    let fetched = match fetcher {
        Some(fetcher) => fetcher.fetch(&image).await,
        None => {
            let (work, item) = (Arc::clone(work), image.clone());
            tokio::task::spawn_blocking(move || work.download(&item)).await.unwrap_or_else(|join| Err(panicked(&join)))
        }
    };
    let mut flight = InFlight { task, image, done: Done::start(), attempts: 1 };
    let now = Instant::now();
    match fetched {
        Ok((fetched, attempts)) => {
            flight.done.busy.download = (now - started).as_secs_f64();
            flight.done.event(EventKind::Downloaded, clock, now, None);
            flight.attempts = attempts;
            (flight, Some(fetched))
        }
        Err(failed) => {
            flight.done = flight.done.fail(failed, clock, now);
            (flight, None)
        }
    }
}

/// Makes one image's objects on the rayon pool; the runtime only awaits.
async fn transform(
    work: &Arc<Work>,
    cpu: &rayon::ThreadPool,
    mut flight: InFlight,
    fetched: Fetched,
    clock: Instant,
) -> (InFlight, Option<Made>) {
    let (sender, result) = oneshot::channel();
    let (work_for_cpu, name, attempts) = (Arc::clone(work), common::run::image_name(&flight.image), flight.attempts);
    cpu.spawn(move || {
        let started = Instant::now();
        let made = work_for_cpu.transform(&name, &fetched.bytes, attempts);
        // The bytes, and their share of the in-flight budget, go here.
        drop(fetched);
        let _ = sender.send((made, started.elapsed()));
    });
    let (made, busy) = result.await.unwrap_or_else(|_| {
        let failed = Failed { error: ItemError::Transform("the transform thread stopped".into()), attempts };
        (Err(failed), Duration::ZERO)
    });
    let now = Instant::now();
    flight.done.busy.transform = busy.as_secs_f64();
    match made {
        Ok(made) => {
            flight.done.event(EventKind::Transformed, clock, now, None);
            flight.done.empty_crops = made.empty_crops;
            (flight, Some(made))
        }
        Err(failed) => {
            flight.done = flight.done.fail(failed, clock, now);
            (flight, None)
        }
    }
}

/// Stores one image's objects, each taking one of the `permits`.
async fn upload(work: &Work, permits: &Semaphore, flight: InFlight, made: Made, clock: Instant) -> InFlight {
    if made.sample.as_ref().is_some_and(Sample::is_kept) {
        // A dataset's sample: kept for the dataset writer, no object stored.
        let InFlight { task, image, done, attempts } = flight;
        let done = work.keep(done, &image, made.sample, attempts, clock);
        return InFlight { task, image, done, attempts };
    }
    let puts = made.objects.into_iter().map(|(key, bytes)| async move {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = permits.acquire().await.ok();
        let started = Instant::now();
        let result = work.store.put_async(key.clone(), bytes).await;
        Uploaded { key, result, at: Instant::now(), busy: started.elapsed() }
    });
    let stored = future::join_all(puts).await;
    let InFlight { task, image, done, attempts } = flight;
    let done = work.finish(done, &image, stored, made.sample, attempts, clock);
    InFlight { task, image, done, attempts }
}

/// A blocking read that panicked (a bug): that image's failure.
fn panicked(join: &tokio::task::JoinError) -> Failed {
    ItemError::Abandoned(format!("reading the file failed unexpectedly: {join}")).into()
}

/// Moves the listing off the runtime: a blocking task reads it (a file, an
/// API page) and feeds a channel of `capacity` images with their indices.
fn listing_stream(images: super::Items, capacity: usize) -> impl Stream<Item = (usize, Item)> {
    common::run::listing_stream(images.enumerate(), capacity)
}

/// A channel's receiving end as a stream.
fn receiver_stream<T>(receiver: mpsc::Receiver<T>) -> impl Stream<Item = T> {
    stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|next| (next, receiver)) })
}
