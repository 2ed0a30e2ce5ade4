//! # resize_parallel: make thumbnails of a folder of images on every core
//!
//! **Methodology.** Data parallelism with `rayon`: the list of images is
//! split across a pool of one thread per core, and each thread runs the
//! very loop body of `resize_serial` with its own [`Thumbnailer`] (made by
//! `for_each_init`, so buffers are reused within a thread and never shared
//! between threads). Idle threads steal work from busy ones, so a few large
//! images do not leave the other cores waiting.
//!
//! **When to use it.** Whenever there are more images than cores and the
//! cores are free: the thumbnails come out byte for byte the same as
//! `resize_serial`'s, only sooner. Each image costs within 5% of the CPU
//! time it costs `resize_serial`, so two idle cores should approach 2x; on
//! our busy, shared 2-vCPU machine we measured 1.0-1.8x (see docs/PERFORMANCE.md).
//!
//! **Trade-offs.** Making a thumbnail is CPU-bound: decoding and filtering,
//! no waiting. Async (`tokio`) would not help, because it overlaps *waiting*
//! on one thread and here nobody waits; more threads than cores would not
//! help either, they would only take turns. What helps is exactly one busy
//! thread per core, which is what rayon's pool is. The cost: the order in
//! which files are finished is no longer the list's order (the report sorts
//! failures back), and memory grows with the number of threads (one set of
//! buffers each).
//!
//! **Running.**
//! ```text
//! cargo run --release -p resize_parallel -- --input images --output thumbnails
//! cargo run --release -p resize_parallel -- --threads 2 --size 256x256 --crop --json
//! ```

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::{ResizeArgs, ResizeJob, ResizeReport, Thumbnailer};
use rayon::prelude::*;

/// Threads when `--threads` is not given: 0 tells rayon "one per core".
const ALL_CORES: usize = 0;

/// Make thumbnails of a folder of images on every core.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: ResizeArgs,
}

fn main() -> ExitCode {
    let Cli { args } = Cli::parse();
    common::conclude(resize_in_parallel(&args), args.flags.json)
}

/// Makes every thumbnail on a pool of threads and reports what happened.
fn resize_in_parallel(args: &ResizeArgs) -> anyhow::Result<ResizeReport> {
    let threads = args.threads.map_or(ALL_CORES, |threads| threads.get());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the threads")?;

    // Everything but the methodology: list the images, prepare the folder.
    let ResizeJob { tasks, spec, out, tally } =
        ResizeJob::prepare("resize_parallel", args, pool.current_num_threads()).context("cannot start the run")?;

    // The methodology: the same loop body on every core, one thumbnailer per thread.
    pool.install(|| {
        tasks.par_iter().for_each_init(
            || Thumbnailer::new(spec),
            |thumbnailer, task| {
                let outcome = task.make(thumbnailer, &out);
                tally.record(task, outcome);
            },
        );
    });

    Ok(tally.finish())
}
