//! # asyncio_run: download many images with async IO
//!
//! **Methodology.** One thread can wait on many sockets at once: an async
//! task gives its thread back at every `.await` on the network, and the
//! runtime (tokio here) resumes it when bytes arrive. The downloads form a
//! stream of futures, and `buffer_unordered(N)` keeps exactly N of them in
//! flight, starting the next one as soon as any finishes. One `reqwest`
//! client is shared by every task and pools its connections.
//!
//! **One thread for the network**, like Python's asyncio event loop: the
//! runtime is tokio's *current-thread* flavour, and the blocking work (file
//! writes, the listing) runs on threads beside it. Downloading is waiting,
//! not computing, so a second runtime thread buys nothing here and costs
//! CPU: its workers wake each other and steal each other's tasks (measured
//! against curl: `results/BENCHMARKS.md`, "The write path against curl").
//!
//! **When to use it.** Many concurrent waits: hundreds or thousands of
//! downloads at once cost a few KB each, where threads would cost a stack
//! and a kernel context switch each. This is the fastest way here to hide
//! network latency.
//!
//! **Trade-offs.** Nothing may block the runtime thread: the file writes go
//! to a few writer threads (`common`'s `AsyncDownloader`), and the listing
//! (a file read, an API page) to tokio's blocking pool, which feeds the
//! downloads through a bounded channel (`common::run::listing_stream`). One runtime thread is also a limit:
//! a job that needed real CPU per item (decoding, TLS at gigabits) would
//! want the multi-thread runtime back (`Runtime::new()`). The
//! concurrency is bounded on purpose: one task per URL with no limit would
//! open 10,000 sockets and 10,000 partial files at once (each body is
//! written to its file as it arrives) and trip every server's rate limit. async/await also colours the code: the async path
//! needs its own client (`reqwest`, not `ureq`).
//!
//! `--runtime async-std` runs the same job on async-std with surf, its
//! non-blocking HTTP client (see `async_std_variant.rs`). async-std is
//! deprecated upstream in favour of `smol`; that variant lives in its own
//! module so it can be swapped.
//!
//! **Running.**
//! ```text
//! cargo run --release -p asyncio_run -- --count 100 --concurrency 100
//! cargo run --release -p asyncio_run -- --count 100 --runtime async-std
//! ```

mod async_std_variant;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::run::listing_stream;
use common::{AsyncDownloader, DownloadArgs, DownloadJob, RunReport};
use futures_util::{StreamExt, future};

/// Downloads in flight when `--concurrency` is not given: enough to hide
/// 200 ms of latency a hundredfold, few enough for any server to accept.
const DEFAULT_IN_FLIGHT: usize = 100;

/// Download images with async IO (tokio + reqwest, or async-std + surf).
#[derive(Debug, Parser)]
#[command(version, about, mut_arg("concurrency", |arg| arg.help(format!(
    "Downloads in flight at once [default: {DEFAULT_IN_FLIGHT}: hides 200 ms of latency a \
     hundredfold for a few KB each, few enough for any server to accept]"
))))]
struct Cli {
    #[command(flatten)]
    args: DownloadArgs,
    /// The async runtime to run on.
    #[arg(long, value_enum, default_value = "tokio")]
    runtime: Runtime,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Runtime {
    Tokio,
    AsyncStd,
}

fn main() -> ExitCode {
    let Cli { args, runtime } = Cli::parse();
    let report = match runtime {
        Runtime::Tokio => download_on_tokio(&args),
        Runtime::AsyncStd => async_std_variant::download_on_async_std(&args, DEFAULT_IN_FLIGHT),
    };
    common::conclude(report, args.flags.json)
}

/// Downloads every listed image with at most `--concurrency` in flight.
fn download_on_tokio(args: &DownloadArgs) -> anyhow::Result<RunReport> {
    let in_flight = args.concurrency_or(DEFAULT_IN_FLIGHT);

    // Everything but the methodology; the async client gets the same limits
    // and output folder as the blocking one would.
    let DownloadJob { images, downloader, tally } =
        DownloadJob::prepare("asyncio_run", args, in_flight).context("cannot start the run")?;
    let downloader = AsyncDownloader::like(&downloader);

    // One thread runs every download (see the header); `enable_all` turns
    // on the socket and timer drivers that `Runtime::new()` would.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        // The methodology: a stream of downloads, `in_flight` at a time, each
        // outcome counted as it completes (in any order).
        listing_stream(images, in_flight)
            .map(|image| async {
                let outcome = downloader.download(&image).await;
                (image, outcome)
            })
            .buffer_unordered(in_flight)
            .for_each(|(image, outcome)| {
                tally.record(&image, outcome);
                future::ready(())
            })
            .await;
    });

    Ok(tally.finish())
}
