//! # normal_run: download many images, one after the other
//!
//! **Methodology.** Serial: one loop on one thread. Take the next URL,
//! download it, save it, and only then look at the next one. This is the
//! baseline every other binary in the workspace is measured against.
//!
//! **When to use it.** A handful of images, a server that forbids parallel
//! requests, or when you need the simplest code to debug a failing download.
//!
//! **Trade-offs.** Nothing to synchronise, nothing to tune, and the order of
//! work is the order of the list. But downloading is almost all *waiting*
//! (for the server to answer, for bytes to arrive), and here nothing else
//! happens while we wait: the run takes the sum of every image's latency.
//! At 200 ms an image, 100 images take 20 s of which the CPU is busy for a
//! fraction of one. The other binaries overlap that waiting.
//!
//! **Running.**
//! ```text
//! cargo run --release -p normal_run -- --count 20          # embedded origin
//! cargo run --release -p normal_run -- --urls urls.txt --json
//! ```

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::{DownloadArgs, DownloadJob, RunReport};

/// The serial methodology does one download at a time, whatever is asked.
const CONCURRENCY: usize = 1;

/// Download images one after the other (the serial baseline).
#[derive(Debug, Parser)]
#[command(version, about, mut_arg("concurrency", |arg| arg.help(
    "Ignored: normal_run is the serial baseline, one download at a time (multithreading_run and the \
     others take --concurrency)"
)))]
struct Cli {
    #[command(flatten)]
    args: DownloadArgs,
}

fn main() -> ExitCode {
    let Cli { args } = Cli::parse();
    common::conclude(download_serially(&args), args.flags.json)
}

/// Downloads every listed image in turn and reports what happened.
fn download_serially(args: &DownloadArgs) -> anyhow::Result<RunReport> {
    if args.concurrency_or(CONCURRENCY) != CONCURRENCY {
        eprintln!("normal_run downloads one image at a time; --concurrency is ignored");
    }

    // Everything but the methodology: config, source, output folder, client.
    let DownloadJob { images, downloader, tally } =
        DownloadJob::prepare("normal_run", args, CONCURRENCY).context("cannot start the run")?;

    // The methodology: one image at a time, each waiting for the last.
    for image in images {
        let outcome = downloader.download(&image);
        tally.record(&image, outcome);
    }

    Ok(tally.finish())
}
