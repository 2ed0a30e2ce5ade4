//! # processes: worker processes, each with its own upload threads
//!
//! **Methodology.** The parent re-runs its own binary as worker processes
//! (a hidden `--worker` flag; `--concurrency` of them, by default one per
//! core and at least [`MIN_WORKERS`]). Each worker runs the serial loop with a pool of
//! `--uploads` upload threads of its own, as the original benchmark's
//! processes each had an upload pool. The parent lists and counts; it hands
//! out one image at a time as a JSON line on a worker's stdin, and the
//! worker sends back the image's whole [`Done`] (outcome, busy seconds,
//! events) as a JSON line on its stdout. One thread per worker reads its
//! replies into a channel, one more drains its stderr, so no pipe can fill
//! up and deadlock parent and child.
//!
//! **When to use it.** Isolation: a decoder that crashes or leaks takes
//! down one worker, not the run; per-worker memory and CPU limits; the same
//! hand-out protocol stretches to workers on other machines. In Python,
//! processes were also the way past the GIL for the CPU stage; in Rust
//! threads already are.
//!
//! **Trade-offs.** Each worker pays a process start, its own HTTP client
//! and upload pool, and every outcome crosses a pipe; the store sees up to
//! workers x `--uploads` writes at once. An image whose worker dies is
//! tried once more on another worker, then failed, never lost. Ctrl-C
//! stops the parent's listing; each worker finishes its image and exits
//! when its stdin closes, so none is left behind.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use common::run::{Reply, Worker};
use common::{Failed, Item, ItemError, StopFlag};

use crate::cli::Cli;
use crate::modes::Run;
use crate::record::PipelineReport;
use crate::work::{Done, UploadPool, Uploads};

/// Tries an image gets when its worker dies holding it: once more on
/// another worker (the crash may not be the image's fault), then it fails.
const MAX_TRIES: u32 = 2;

/// How often the parent looks at the stop flag while it waits for replies:
/// a stop must end the run within a second or two, whatever the workers do.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The fewest worker processes when `--concurrency` is not given: 5, the
/// pool of `multiprocessing_run` (and of the original benchmark). A worker
/// holds one image at a time and that image spends much of its time
/// waiting (its download, the pipes, its uploads) rather than decoding,
/// so with one worker per core the cores sit idle; with 5, some decode
/// while the others wait. (Half the cores, the old default, was a single
/// worker on 2 cores: the serial loop with a process start added.)
const MIN_WORKERS: usize = 5;

/// Workers when `--concurrency` is not given: one per core, at least
/// [`MIN_WORKERS`].
pub(crate) fn default_workers() -> usize {
    thread::available_parallelism().map_or(MIN_WORKERS, |cores| cores.get().max(MIN_WORKERS))
}

/// Runs every image on worker processes and counts their replies.
pub(crate) fn run_with_processes(run: Run) -> anyhow::Result<PipelineReport> {
    let Run { mut images, ledger, concurrency: count, .. } = run;

    // Start the workers; each one's replies arrive on the `replies` channel.
    let (reply_sender, replies) = channel();
    let mut workers = (0..count)
        .map(|id| Worker::<Attempt>::spawn(id, &reply_sender).context("cannot start a worker process"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(reply_sender);

    // The methodology: keep every live worker busy with one image; each
    // reply frees its worker for the next. Images whose worker died wait
    // in `retries` and go first.
    let mut next_task = 0;
    let mut retries: VecDeque<Attempt> = VecDeque::new();
    loop {
        for worker in workers.iter_mut().filter(|w| w.is_idle()) {
            let attempt = retries.pop_front().or_else(|| {
                let image = images.next()?;
                ledger.queued(next_task);
                next_task += 1;
                Some(Attempt { task: next_task - 1, image, tries: 1, handed: 0.0 })
            });
            let Some(attempt) = attempt else { break };
            let handed = ledger.started.elapsed().as_secs_f64();
            let attempt = Attempt { handed, ..attempt };
            if let Err(attempt) = worker.hand(attempt, |attempt| &attempt.image) {
                retries.push_front(attempt); // it never reached the worker
            }
        }
        if !workers.iter().any(Worker::is_busy) || ledger.is_stopped() {
            break; // all done, no live worker left, or stopped
        }
        let Reply { worker, line } = match replies.recv_timeout(STOP_CHECK) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let worker = &mut workers[worker];
        match (line, worker.take()) {
            (Some(line), Some(attempt)) => {
                let done = serde_json::from_str(&line)
                    .unwrap_or_else(|err| abandoned(format!("unreadable reply from a worker: {err}"), 1));
                ledger.record(attempt.task, &attempt.image, done, attempt.handed);
            }
            (None, in_flight) => {
                worker.retire();
                if let Some(attempt) = in_flight {
                    if attempt.tries < MAX_TRIES {
                        retries.push_back(Attempt { tries: attempt.tries + 1, ..attempt });
                    } else {
                        let reason = format!("its worker process died while making it ({MAX_TRIES} tries)");
                        ledger.record(attempt.task, &attempt.image, abandoned(reason, attempt.tries), 0.0);
                    }
                }
            }
            (Some(_), None) => {} // a reply with nothing asked: ignore it
        }
    }

    // A stop drops the images under way: kill their workers, count what
    // they had finished (replies already in the pipes), list the rest.
    if ledger.is_stopped() {
        workers.iter_mut().for_each(Worker::kill);
        for Reply { worker, line } in replies.iter() {
            if let (Some(line), Some(attempt)) = (line, workers[worker].take()) {
                let done = serde_json::from_str(&line)
                    .unwrap_or_else(|err| abandoned(format!("unreadable reply from a worker: {err}"), 1));
                ledger.record(attempt.task, &attempt.image, done, attempt.handed);
            }
        }
        for attempt in workers.iter_mut().filter_map(Worker::take) {
            let interrupted = abandoned("interrupted: the run was stopped".into(), attempt.tries);
            ledger.record(attempt.task, &attempt.image, interrupted, 0.0);
        }
    }
    // Only if every worker died can images be left: fail them, never drop them.
    for attempt in retries {
        ledger.record(attempt.task, &attempt.image, abandoned("no worker process left".into(), attempt.tries), 0.0);
    }
    for image in images {
        ledger.record(next_task, &image, abandoned("no worker process left".into(), 0), 0.0);
        next_task += 1;
    }
    // Closing stdin tells each worker to exit; wait so none is left behind.
    workers.into_iter().for_each(Worker::finish);
    Ok(ledger.finish())
}

/// An image, its index, how many times it has been handed to a worker, and
/// when (seconds since the run's clock) it was handed out last.
#[derive(Debug)]
struct Attempt {
    task: usize,
    image: Item,
    tries: u32,
    handed: f64,
}

/// An image the workers could not finish, after `tries`.
fn abandoned(reason: String, tries: u32) -> Done {
    let failed = Failed { error: ItemError::Abandoned(reason), attempts: tries };
    let now = Instant::now();
    Done::start().fail(failed, now, now)
}

/// The worker side: serves the parent until stdin closes. Exit status 2 if
/// the worker cannot start (the parent sees its stdout close and hands its
/// image to another).
pub(crate) fn serve_parent(cli: &Cli) -> ExitCode {
    match serve(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// One image at a time: an [`Item`] in on stdin, its [`Done`] out on
/// stdout, its events timed from when it arrived (the parent shifts them
/// to when it handed the image out).
fn serve(cli: &Cli) -> anyhow::Result<()> {
    // Ctrl-C reaches every process of the terminal's group; the parent
    // decides when to stop, and this worker finishes its image meanwhile.
    StopFlag::leave_ctrl_c_to_parent();
    let plan = crate::plan::Plan::new(cli).context("worker cannot start")?;
    let (work, uploads) = plan.worker_work().context("worker cannot start")?;
    let pool = UploadPool::start(&work, uploads);
    let mut replies = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line.context("cannot read from the parent")?;
        let received = Instant::now();
        let image: Item = serde_json::from_str(&line).context("unreadable message from the parent")?;
        let done = work.process(&image, received, Uploads::Pool(&pool));
        serde_json::to_writer(&mut replies, &done).context("cannot encode a reply")?;
        // Flush every line: the parent waits for it before sending more.
        replies.write_all(b"\n").and_then(|()| replies.flush()).context("the parent closed the pipe")?;
    }
    Ok(())
}
