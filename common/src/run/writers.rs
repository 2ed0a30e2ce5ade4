//! [`Writers`]: a few threads that store what async tasks fetched, so a
//! disk write never blocks a runtime thread.
//!
//! Storing a file is blocking IO (a slow or full disk can stretch it to
//! seconds), so an async task must not do it on its own thread. The usual
//! answer, `tokio::task::spawn_blocking` per file, is what this replaced:
//! tokio's blocking pool starts a new thread whenever every one it has is
//! busy, so 64 downloads finishing together can grow it to many threads
//! creating files in the same folder at once, and each file costs a task
//! allocation and a thread wake-up on both sides. A fixed pool of
//! [`WRITER_THREADS`] threads, fed by a channel, keeps the folder's writers
//! few and busy. Measured side by side against `curl --parallel` (2000
//! images at 0 latency, 64 at once, ext4, medians of 5, current-thread
//! runtime; the harness of `scripts/bench_write_vs_curl.sh`), CPU time was
//! 1.09x and 1.12x curl's with `spawn_blocking` in two runs, 1.00x and 0.84x
//! with two writer threads (one thread: 1.08x; four: 1.00x).
//!
//! Rejected: `tokio::task::block_in_place` (the write still blocks that
//! worker's thread, it needs the multi-thread runtime, and it measured
//! 1.13x curl's CPU and the slowest wall time, 0.99x curl's against 0.81x);
//! writing inline on the runtime thread (blocks every download while the
//! disk is slow: not allowed here, whatever it measures).

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use tokio::sync::oneshot;

use super::outcome::{Failed, ItemError, Outcome};
use super::storer::Storer;
use crate::fetch::Fetched;
use crate::sources::Item;
use crate::store::SinkError;

/// Writer threads: two kept one core's worth of file creation busy while
/// the other core ran the network and the origin (see the module docs);
/// more only contend for the same folder.
pub(crate) const WRITER_THREADS: usize = 2;

/// One store to do, and where to send its result.
struct StoreJob {
    item: Item,
    fetched: Fetched,
    /// How many fetches it took, for the outcome.
    attempts: u32,
    done: oneshot::Sender<Outcome>,
}

/// A fixed pool of threads storing items for async tasks. Cheap to clone;
/// the threads end when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Writers {
    /// Unbounded, yet never long: each download waits for its own store,
    /// so at most as many jobs queue as downloads are in flight. (A bounded
    /// std channel would block the runtime thread when full.)
    jobs: Sender<StoreJob>,
    /// For the rare case that no thread could be started.
    storer: Storer,
}

impl Writers {
    /// Starts [`WRITER_THREADS`] threads storing with `storer`.
    pub(crate) fn start(storer: &Storer) -> Self {
        let (jobs, queue) = mpsc::channel();
        // The threads take turns at one queue (a std Receiver has one owner,
        // hence the Mutex; it is held only while waiting for the next job).
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..WRITER_THREADS {
            let (queue, storer) = (Arc::clone(&queue), storer.clone());
            // A thread that cannot start leaves the others; if none can, the
            // queue is dropped with them and `store` falls back below.
            let _ = thread::Builder::new().name(format!("writer-{index}")).spawn(move || store_jobs(&queue, &storer));
        }
        Writers { jobs, storer: storer.clone() }
    }

    /// Stores `fetched` on a writer thread and waits, without blocking the
    /// runtime, for the result.
    pub(crate) async fn store(&self, item: Item, fetched: Fetched, attempts: u32) -> Outcome {
        let (done, result) = oneshot::channel();
        if let Err(mpsc::SendError(job)) = self.jobs.send(StoreJob { item, fetched, attempts, done }) {
            // No writer thread is running: tokio's blocking pool instead.
            let storer = self.storer.clone();
            return tokio::task::spawn_blocking(move || storer.store(&job.item, &job.fetched, job.attempts))
                .await
                .unwrap_or_else(|join| Err(panicked(&join.to_string(), attempts)));
        }
        // Every job is answered, even after a panic; if one ever is not
        // (its thread died), that item fails rather than waits forever.
        result.await.unwrap_or_else(|_| Err(panicked("the writer thread stopped", attempts)))
    }
}

/// A writer thread: stores jobs until every [`Writers`] is dropped.
fn store_jobs(queue: &Mutex<Receiver<StoreJob>>, storer: &Storer) {
    loop {
        // The guard is a temporary: the lock is released before storing.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        // A panic (a bug) fails this item and keeps the thread for the next.
        let stored = panic::catch_unwind(AssertUnwindSafe(|| storer.store(&job.item, &job.fetched, job.attempts)))
            .unwrap_or_else(|_| Err(panicked("a panic while storing", job.attempts)));
        // The download gave up waiting (the run was stopped): nobody to tell.
        let _ = job.done.send(stored);
    }
}

/// A store that panicked: a bug, reported as this item's failure rather
/// than lost.
fn panicked(what: &str, attempts: u32) -> Failed {
    Failed { error: ItemError::Store(SinkError::Panicked(what.to_string())), attempts }
}

impl std::fmt::Debug for StoreJob {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("StoreJob").field("item", &self.item).finish_non_exhaustive()
    }
}
