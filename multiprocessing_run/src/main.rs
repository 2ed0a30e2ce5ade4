//! # multiprocessing_run: download many images with worker processes
//!
//! **Methodology.** The parent re-runs its own binary `--concurrency` times
//! as worker processes (a hidden `--worker` mode, see `worker.rs`). Each
//! worker runs the serial loop; the parent hands out work one image at a
//! time: an image as a JSON line on a worker's stdin, its outcome back as a
//! JSON line on its stdout. A free worker gets the next image at once, so a
//! slow image holds up only one worker. One thread per worker reads its
//! replies into a channel, and one more drains its stderr, so no pipe can
//! fill up and deadlock parent and child.
//!
//! **When to use it.** In Python, processes were the way past the GIL. In
//! Rust, threads already run in parallel, so for IO-bound downloads
//! processes buy little: each worker pays a process start (milliseconds),
//! its own connection pool and memory, and every result crosses a pipe.
//! They pay off when you need *isolation*: a decoder that can crash or leak
//! takes down one worker, not the run; per-worker memory and CPU limits; and
//! the same hand-out protocol stretches to workers on other machines.
//!
//! **Trade-offs.** A crash is survivable but must be handled: an image whose
//! worker dies is tried once more on another worker, then reported failed,
//! never silently lost. Throughput is `images x latency / workers`, like
//! threads, with a larger fixed cost.
//!
//! **Running.**
//! ```text
//! cargo run --release -p multiprocessing_run -- --count 100 --concurrency 5
//! ```

mod worker;

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::run::{Reply, Worker};
use common::{DownloadArgs, DownloadJob, Failed, Item, ItemError, Outcome, RunReport};

/// Workers when `--concurrency` is not given: the original Python version's
/// pool size.
const DEFAULT_WORKERS: usize = 5;

/// Tries an image gets when its worker dies holding it: once more on another
/// worker (the crash may not be the image's fault), then it is failed.
const MAX_TRIES: u32 = 2;

/// How often the parent looks at the stop flag while it waits for replies:
/// a stop must end the run within a second or two, whatever the workers do.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Download images with worker processes fed over pipes.
#[derive(Debug, Parser)]
#[command(version, about, mut_arg("concurrency", |arg| arg.help(format!(
    "Worker processes, each downloading one image at a time [default: {DEFAULT_WORKERS}: the original \
     Python version's pool; each worker is a whole process, with its own client]"
))))]
struct Cli {
    #[command(flatten)]
    args: DownloadArgs,
    /// Run as a worker fed by a parent over stdin (internal).
    #[arg(long, hide = true)]
    worker: bool,
}

fn main() -> ExitCode {
    let Cli { args, worker } = Cli::parse();
    if worker {
        return worker::serve_parent(&args);
    }
    common::conclude(download_with_processes(&args), args.flags.json)
}

/// Downloads every listed image on `--concurrency` worker processes.
fn download_with_processes(args: &DownloadArgs) -> anyhow::Result<RunReport> {
    let count = args.concurrency_or(DEFAULT_WORKERS);

    // Everything but the methodology. The parent only lists and counts; the
    // workers fetch and save with clients of their own.
    let DownloadJob { mut images, tally, .. } =
        DownloadJob::prepare("multiprocessing_run", args, count).context("cannot start the run")?;

    // Start the workers; each one's replies arrive on the `replies` channel.
    let (reply_sender, replies) = channel();
    let mut workers = (0..count)
        .map(|id| Worker::<Attempt>::spawn(id, &reply_sender).context("cannot start a worker process"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(reply_sender);

    // The methodology: keep every live worker busy with one image; each
    // reply frees its worker for the next. Images whose worker died wait in
    // `retries` and go first.
    let mut retries: VecDeque<Attempt> = VecDeque::new();
    loop {
        for worker in workers.iter_mut().filter(|w| w.is_idle()) {
            let Some(attempt) = retries.pop_front().or_else(|| images.next().map(Attempt::first)) else { break };
            if let Err(attempt) = worker.hand(attempt, |attempt| &attempt.image) {
                retries.push_front(attempt); // it never reached the worker
            }
        }
        if !workers.iter().any(Worker::is_busy) || tally.is_stopped() {
            break; // all done, no live worker left, or stopped
        }
        let Reply { worker, line } = match replies.recv_timeout(STOP_CHECK) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let worker = &mut workers[worker];
        match (line, worker.take()) {
            (Some(line), Some(attempt)) => tally.record(&attempt.image, parse_outcome(&line)),
            (None, in_flight) => {
                worker.retire();
                if let Some(attempt) = in_flight {
                    if attempt.tries < MAX_TRIES {
                        retries.push_back(Attempt { tries: attempt.tries + 1, ..attempt });
                    } else {
                        let reason = format!("its worker process died while downloading it ({MAX_TRIES} tries)");
                        tally.record(&attempt.image, abandoned(reason, attempt.tries));
                    }
                }
            }
            (Some(_), None) => {} // a reply with nothing asked: ignore it
        }
    }

    // A stop drops the images under way: kill their workers, count what
    // they had finished (replies already in the pipes), list the rest.
    if tally.is_stopped() {
        workers.iter_mut().for_each(Worker::kill);
        for Reply { worker, line } in replies.iter() {
            if let (Some(line), Some(attempt)) = (line, workers[worker].take()) {
                tally.record(&attempt.image, parse_outcome(&line));
            }
        }
        for attempt in workers.iter_mut().filter_map(Worker::take) {
            tally.record(&attempt.image, abandoned("interrupted: the run was stopped".into(), attempt.tries));
        }
    }
    // Only if every worker died can images be left: fail them, never drop them.
    for attempt in retries.into_iter().chain(images.map(Attempt::first)) {
        tally.record(&attempt.image, abandoned("no worker process left to download it".into(), attempt.tries));
    }
    // Closing stdin tells each worker to exit; wait so none is left behind.
    workers.into_iter().for_each(Worker::finish);
    Ok(tally.finish())
}

/// An image and how many times it has been handed to a worker.
#[derive(Debug)]
struct Attempt {
    image: Item,
    tries: u32,
}

impl Attempt {
    fn first(image: Item) -> Self {
        Attempt { image, tries: 1 }
    }
}

/// A worker's reply: the image's [`Outcome`], as JSON.
fn parse_outcome(line: &str) -> Outcome {
    serde_json::from_str(line).unwrap_or_else(|err| abandoned(format!("unreadable reply from a worker: {err}"), 1))
}

/// The outcome of an image the workers could not finish, after `tries`.
fn abandoned(reason: String, tries: u32) -> Outcome {
    Err(Failed { error: ItemError::Abandoned(reason), attempts: tries })
}
