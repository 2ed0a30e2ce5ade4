//! The same job on async-std, with surf, its non-blocking HTTP client.
//!
//! async-std is deprecated upstream in favour of `smol` (the two share their
//! executor and IO reactor); this module is kept apart so it can be swapped
//! for smol without touching the tokio path. The shape is the tokio one:
//! a bounded channel fed by a blocking listing task, `buffer_unordered(N)`
//! downloads, files written on writer threads. What differs is the runtime and
//! the client (`common`'s `SurfDownloader`, with the same rules and errors).

use anyhow::Context;
use async_std::channel;
use common::run::SurfDownloader;
use common::{DownloadArgs, DownloadJob, Item, RunReport};
use futures_util::{StreamExt, future};

/// Downloads every listed image on async-std with at most `--concurrency`
/// (or `default_in_flight`) in flight.
pub(crate) fn download_on_async_std(args: &DownloadArgs, default_in_flight: usize) -> anyhow::Result<RunReport> {
    let in_flight = args.concurrency_or(default_in_flight);
    let DownloadJob { images, downloader, tally } =
        DownloadJob::prepare("asyncio_run/async-std", args, in_flight).context("cannot start the run")?;
    let downloader = SurfDownloader::like(&downloader).context("cannot start the surf client")?;

    async_std::task::block_on(async {
        let (sender, receiver) = channel::bounded::<Item>(in_flight);
        async_std::task::spawn_blocking(move || {
            for image in images {
                if sender.send_blocking(image).is_err() {
                    break;
                }
            }
        });
        receiver
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
