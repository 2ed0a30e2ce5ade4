//! # threads: worker threads for the images, a pool for the uploads
//!
//! **Methodology.** `--concurrency` OS threads (`std::thread::scope`),
//! each running the serial loop: take the next image from a shared queue,
//! download it, transform it, store its objects. The objects go through
//! one pool of `--uploads` upload threads shared by all workers, so an
//! image's 50 crops are stored 10 at a time instead of one by one, and the
//! store never sees more than `--uploads` writes at once however many
//! workers there are. While one worker waits on the network, another
//! decodes: the OS schedules them on every core.
//!
//! **When to use it.** Blocking clients (here `ureq` and blocking puts),
//! tens of images at once; the code stays the serial loop.
//!
//! **Trade-offs.** A thread per image in flight: each one holds its image's
//! bytes, pixels and outputs while it waits, so memory grows with
//! `--concurrency`, and a thread decoding competes for the cores with every
//! other. More threads than cores help the waits, not the CPU work. The
//! bounded upload queue makes a worker wait when the store is the
//! bottleneck instead of piling objects up.

use std::iter::Enumerate;
use std::sync::{Mutex, PoisonError};
use std::thread;

use anyhow::Context;
use common::Item;

use crate::modes::Run;
use crate::record::PipelineReport;
use crate::work::{UploadPool, Uploads};

/// Threads when `--concurrency` is not given: the original benchmark's 10.
pub(crate) const DEFAULT_THREADS: usize = 10;

/// Runs every image through every stage on `--concurrency` threads.
pub(crate) fn run_with_threads(run: Run) -> anyhow::Result<PipelineReport> {
    let Run { images, work, ledger, concurrency: threads, uploads } = run;
    // The shared queue: whichever thread is free takes the next image.
    let queue = Mutex::new(images.enumerate());
    let pool = UploadPool::start(&work, uploads);

    // The methodology: `threads` copies of the serial loop, side by side;
    // each image's objects stored on the shared upload pool.
    thread::scope(|scope| {
        for number in 0..threads {
            thread::Builder::new()
                .name(format!("worker-{number}"))
                .spawn_scoped(scope, || {
                    while let Some((task, image)) = next_image(&queue) {
                        ledger.queued(task);
                        let done = work.process(&image, ledger.started, Uploads::Pool(&pool));
                        ledger.record(task, &image, done, 0.0);
                    }
                })
                .context("cannot start a worker thread")?;
        }
        anyhow::Ok(())
    })?;

    drop(pool); // joins the upload threads
    Ok(ledger.finish())
}

/// Takes the next image (and its index) off the shared queue; the lock is
/// held only while the listing yields one entry.
pub(crate) fn next_image(queue: &Mutex<Enumerate<super::Items>>) -> Option<(usize, Item)> {
    queue.lock().unwrap_or_else(PoisonError::into_inner).next()
}
