//! [`Writers`]: a few threads that do the file work of async downloads
//! (create a file, write a body's next piece, name it), so a disk write
//! never blocks a runtime thread. Runtime-agnostic: tokio's downloader and
//! async-std's use the same pool.
//!
//! Writing a file is blocking IO (a slow or full disk can stretch it to
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
//! Those figures were taken when a download was stored whole, one job per
//! image. Bodies now stream to their files (`spool.rs`): an image of at
//! most 256 KiB (the benchmark's photos are ~95 KB) is still one job
//! (create, write, name), and a larger one adds a job per 256 KiB; the
//! choice of pool over `spawn_blocking` holds for the same reasons.
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

use crate::store::SinkError;

/// Writer threads: two kept one core's worth of file creation busy while
/// the other core ran the network and the origin (see the module docs);
/// more only contend for the same folder.
pub(crate) const WRITER_THREADS: usize = 2;

/// One piece of blocking file work, which sends its own result back.
type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of threads doing the file work of async tasks. Cheap to
/// clone; the threads end when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Writers {
    /// Unbounded, yet never long: each download waits for its own job, so
    /// at most as many jobs queue as downloads are in flight. (A bounded
    /// std channel would block the runtime thread when full.)
    jobs: Sender<Job>,
}

impl Writers {
    /// Starts [`WRITER_THREADS`] threads.
    pub(crate) fn start() -> Self {
        let (jobs, queue) = mpsc::channel();
        // The threads take turns at one queue (a std Receiver has one owner,
        // hence the Mutex; it is held only while waiting for the next job).
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..WRITER_THREADS {
            let queue = Arc::clone(&queue);
            // A thread that cannot start leaves the others; if none can, the
            // queue is dropped with them and `run` falls back below.
            let _ = thread::Builder::new().name(format!("writer-{index}")).spawn(move || run_jobs(&queue));
        }
        Writers { jobs }
    }

    /// Runs `job` (blocking file work) on a writer thread and waits, without
    /// blocking the runtime (any runtime: the answer comes on a oneshot
    /// channel), for its result. A panic in it (a bug) is this item's
    /// failure, not the thread's end. If the waiting task is dropped (a
    /// stop), the job still runs to its end and its result is dropped on
    /// the writer thread: a partial file is removed there.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, SinkError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(panic::catch_unwind(AssertUnwindSafe(job)));
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // No writer thread is running: a thread of its own for this job
            // (if even that cannot start, the job is dropped unanswered).
            let _ = thread::Builder::new().name("writer-spare".into()).spawn(job);
        }
        match result.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(SinkError::Panicked("a panic while writing a file".into())),
            // Every job is answered, even after a panic; if one ever is not
            // (its thread died), that item fails rather than waits forever.
            Err(_) => Err(SinkError::Panicked("the writer thread stopped".into())),
        }
    }
}

/// A writer thread: runs jobs until every [`Writers`] is dropped.
fn run_jobs(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The guard is a temporary: the lock is released before the job runs.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        job();
    }
}
