//! # multithreading_run: download many images with a pool of threads
//!
//! **Methodology.** A fixed pool of OS threads (`std::thread::scope`), each
//! running the same loop as `normal_run`: take the next image from a shared
//! queue, download it, save it. While one thread waits on the network, the
//! others wait on theirs, so the waits overlap instead of adding up. The
//! queue is the listing itself behind a `Mutex`: a thread takes one image at
//! a time when it is free, so a slow image holds up only its own thread (a
//! list pre-split into one chunk per thread would leave the others idle at
//! the end while one chunk's slow images finish).
//!
//! **When to use it.** IO-bound work with blocking libraries (here `ureq`),
//! tens to a few hundred downloads at once. The code stays almost the serial
//! loop, and every thread shares one HTTP client and its connection pool.
//!
//! **Trade-offs.** Each thread costs a stack (2 MiB of address space, a few
//! pages touched) and a kernel schedulable entity; thousands of them spend
//! more on switching than on work, which is where async IO takes over.
//! Shared state must be `Sync`: here a `Mutex` around the queue and the
//! tally, both held for microseconds per image. The run takes
//! `images x latency / threads`, no less.
//!
//! **Running.**
//! ```text
//! cargo run --release -p multithreading_run -- --count 100 --concurrency 10
//! cargo run --release -p multithreading_run -- --urls urls.txt --json
//! ```

use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::thread;

use anyhow::Context;
use clap::Parser;
use common::{DownloadArgs, DownloadJob, Images, Item, RunReport};

/// Threads when `--concurrency` is not given: the original Python version's
/// pool size, enough to hide 200 ms of latency per image tenfold.
const DEFAULT_THREADS: usize = 10;

/// Download images with a pool of OS threads sharing one queue.
#[derive(Debug, Parser)]
#[command(version, about, mut_arg("concurrency", |arg| arg.help(format!(
    "Threads downloading at once [default: {DEFAULT_THREADS}: the original Python version's pool, enough to \
     hide 200 ms of latency per image tenfold]"
))))]
struct Cli {
    #[command(flatten)]
    args: DownloadArgs,
}

fn main() -> ExitCode {
    let Cli { args } = Cli::parse();
    common::conclude(download_with_threads(&args), args.flags.json)
}

/// Downloads every listed image on `--concurrency` threads and reports.
fn download_with_threads(args: &DownloadArgs) -> anyhow::Result<RunReport> {
    let threads = args.concurrency_or(DEFAULT_THREADS);

    // Everything but the methodology: config, source, output folder, client.
    let DownloadJob { images, downloader, tally } =
        DownloadJob::prepare("multithreading_run", args, threads).context("cannot start the run")?;

    // The shared queue: whichever thread is free takes the next image.
    let queue = Mutex::new(images);

    // The methodology: `threads` copies of the serial loop, side by side.
    // Scoped threads may borrow `queue`, `downloader` and `tally` from this
    // stack frame, and are all joined before `scope` returns.
    thread::scope(|scope| {
        for number in 0..threads {
            thread::Builder::new()
                .name(format!("download-{number}"))
                .spawn_scoped(scope, || {
                    while let Some(image) = next_image(&queue) {
                        let outcome = downloader.download(&image);
                        tally.record(&image, outcome);
                    }
                })
                .context("cannot start a download thread")?;
        }
        anyhow::Ok(())
    })?;

    Ok(tally.finish())
}

/// Takes the next image off the shared queue. The lock is held only while
/// the listing yields one entry (a line of a file, an id of the origin),
/// never during a download.
fn next_image(queue: &Mutex<Images>) -> Option<Item> {
    // A poisoned lock means another thread panicked mid-`next`; the listing
    // itself is still consistent, so carry on rather than lose the run.
    queue.lock().unwrap_or_else(PoisonError::into_inner).next()
}
