//! `SurfFetcher`: the async-std client, on `surf`, with the same limits,
//! rules and errors as the `ureq` and `reqwest` ones.
//!
//! Behind the `async-std` feature: only `asyncio_run --runtime async-std`
//! uses it, and no other binary should pay for building a second runtime.

use futures_util::AsyncReadExt;

use super::rules::{Body, check_status, check_url};
use super::{FetchError, FetchOptions, Fetched};
use crate::config::USER_AGENT;

/// Bytes read from the body at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The async-std HTTP client: cheap to clone, clones share one pool.
#[derive(Debug, Clone)]
pub struct SurfFetcher {
    client: surf::Client,
    options: FetchOptions,
}

impl SurfFetcher {
    /// A client with these limits, keeping up to `connections` connections
    /// to one host alive (the run's concurrency).
    pub fn new(options: FetchOptions, connections: usize) -> Result<Self, FetchError> {
        let config = surf::Config::new()
            .set_http_keep_alive(true)
            .set_max_connections_per_host(connections)
            .set_timeout(None) // the whole fetch is timed in `fetch`, body included
            .add_header("User-Agent", USER_AGENT)
            .map_err(|err| FetchError::Network(format!("cannot build the surf client: {err}")))?;
        let client: surf::Client = config.try_into().map_err(|never: std::convert::Infallible| match never {})?;
        // No `surf::middleware::Redirect`: it sends a request twice and leaves
        // the first answer's body unread on a pooled connection, which the
        // next request then reads as garbage. A redirect is a 3xx failure here.
        Ok(SurfFetcher { client, options })
    }

    /// Downloads `url` within the time limit and checks that the body is an image.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let timeout = self.options.timeout;
        async_std::future::timeout(timeout, self.fetch_untimed(url)).await.map_err(|_| FetchError::Timeout(timeout))?
    }

    async fn fetch_untimed(&self, url: &str) -> Result<Fetched, FetchError> {
        // surf panics on a URL it cannot parse; `check_url` parses it first
        // with the same `url` crate, so only valid http(s) URLs get further.
        let url = check_url(url)?;
        let network = |err: &dyn std::fmt::Display| FetchError::Network(err.to_string());
        let mut response = self.client.get(url.as_str()).await.map_err(|err| network(&err))?;
        check_status(u16::from(response.status()))?;
        let mut body = Body::start(response.len().map(|length| length as u64), self.options.max_bytes)?;
        let mut reader = response.take_body().into_reader();
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) => return body.finish(),
                Ok(read) => body.push(&chunk[..read])?,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(network(&err)),
            }
        }
    }
}
