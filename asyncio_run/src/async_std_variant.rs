//! The same job on async-std, with surf, its non-blocking HTTP client.
//!
//! async-std is deprecated upstream in favour of `smol` (the two share their
//! executor and IO reactor); this module is kept apart so it can be swapped
//! for smol without touching the tokio path. The shape is the tokio one:
//! a bounded channel fed by a blocking listing task, `buffer_unordered(N)`
//! downloads, file writes on the blocking pool. What differs is the client,
//! so fetching is written here against surf, with the same limits, checks
//! and typed errors as `common`'s clients.

use std::time::Duration;

use anyhow::Context;
use async_std::channel;
use common::fetch::{FetchError, Fetched, check_image, check_url};
use common::{DownloadArgs, DownloadError, DownloadJob, ImageRef, OutputDir, RunReport, Saved};
use futures_util::{AsyncReadExt, StreamExt, future};

/// Downloads every listed image on async-std with at most `--concurrency`
/// (or `default_in_flight`) in flight.
pub fn download_on_async_std(args: &DownloadArgs, default_in_flight: usize) -> anyhow::Result<RunReport> {
    let in_flight = args.concurrency_or(default_in_flight);
    let DownloadJob { images, downloader, tally } =
        DownloadJob::prepare("asyncio_run/async-std", args, in_flight).context("cannot start the run")?;
    let limits = Limits { timeout: downloader.options().timeout, max_bytes: downloader.options().max_bytes };
    let out = downloader.out().clone();
    let client: surf::Client = surf::Config::new()
        .set_http_keep_alive(true)
        .set_max_connections_per_host(in_flight)
        .set_timeout(None) // the whole fetch is timed below, body included
        .try_into()
        .context("cannot build the surf HTTP client")?;

    async_std::task::block_on(async {
        let (sender, receiver) = channel::bounded::<ImageRef>(in_flight);
        async_std::task::spawn_blocking(move || {
            for image in images {
                if sender.send_blocking(image).is_err() {
                    break;
                }
            }
        });
        receiver
            .map(|image| async {
                let outcome = save(&client, limits, &out, &image).await;
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

#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Duration,
    max_bytes: u64,
}

/// Fetches within the time limit, then writes on async-std's blocking pool.
async fn save(
    client: &surf::Client,
    limits: Limits,
    out: &OutputDir,
    image: &ImageRef,
) -> Result<Saved, DownloadError> {
    let fetched = async_std::future::timeout(limits.timeout, fetch(client, limits.max_bytes, &image.url))
        .await
        .map_err(|_| FetchError::Timeout(limits.timeout))??;
    let (out, image) = (out.clone(), image.clone());
    Ok(async_std::task::spawn_blocking(move || out.save_image(&image, &fetched)).await?)
}

/// One GET with surf: status checked, body read up to `max_bytes`, magic
/// bytes checked, exactly as `common::Fetcher` does.
async fn fetch(client: &surf::Client, max_bytes: u64, url: &str) -> Result<Fetched, FetchError> {
    // surf panics on a URL it cannot parse; `check_url` parses it first with
    // the same `url` crate, so only valid http(s) URLs get this far.
    let url = check_url(url)?;
    let mut response = client.get(url.as_str()).await.map_err(|err| FetchError::Network(err.to_string()))?;
    let status = u16::from(response.status());
    if !(200..300).contains(&status) {
        return Err(FetchError::Status(status));
    }
    let too_large = FetchError::TooLarge { limit: max_bytes };
    if response.len().is_some_and(|length| length as u64 > max_bytes) {
        return Err(too_large);
    }
    let mut bytes = Vec::with_capacity(response.len().unwrap_or(0));
    // Read one byte past the limit to tell "exactly at" from "over".
    let mut body = response.take_body().into_reader().take(max_bytes + 1);
    body.read_to_end(&mut bytes).await.map_err(|err| FetchError::Network(err.to_string()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large);
    }
    let format = check_image(&bytes)?;
    Ok(Fetched { bytes, format })
}
