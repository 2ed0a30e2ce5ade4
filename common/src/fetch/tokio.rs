//! [`AsyncFetcher`]: the async client, on `reqwest` (tokio). One client is
//! shared by every task and pools keep-alive connections like the blocking
//! [`super::Fetcher`], with the same limits, rules, errors and name cache.
//!
//! Deadlines: `--timeout` is reqwest's request timeout, which covers the
//! body too (every `chunk()` is under it); each redirect hop gets what is
//! left of it, and the whole attempt (with the body writer's waits between
//! reads) is held to it too. `--connect-timeout` is reqwest's connect
//! timeout.

use std::time::Instant;

use super::dns::{Names, ReqwestNames, lookup_failure};
use super::robots::{self, RobotsTxt};
use super::rules::{Body, Redirects, check_robots, check_status, check_url, is_redirect};
use super::writer::{AsyncBodyWriter, Failure, InMemory, pass_on_async};
use super::{FetchError, FetchOptions, Fetched, Refusal};
use crate::text::error_chain;

/// The async HTTP client: cheap to clone, clones share one connection pool.
#[derive(Debug, Clone)]
pub struct AsyncFetcher {
    client: reqwest::Client,
    options: FetchOptions,
    robots: RobotsTxt,
}

impl AsyncFetcher {
    /// A client with these limits.
    pub fn new(options: FetchOptions) -> Self {
        AsyncFetcher::with_names(options, Names::default())
    }

    /// A client with `blocking`'s limits, sharing its run's name cache and
    /// robots.txt answers.
    pub(crate) fn like(blocking: &super::Fetcher) -> Self {
        let fetcher = AsyncFetcher::with_names(blocking.options().clone(), blocking.names().clone());
        AsyncFetcher { robots: blocking.robots().clone(), ..fetcher }
    }

    /// A client with these limits that looks names up in `names`.
    fn with_names(options: FetchOptions, names: Names) -> Self {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .dns_resolver(std::sync::Arc::new(ReqwestNames(names)))
            // Redirects are followed by hand (`Redirects`), like every client.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(options.user_agent.as_str())
            .build()
            // Only a broken TLS backend fails here; fall back to defaults
            // (the same backend) rather than panic.
            .unwrap_or_default();
        let robots = RobotsTxt::new(&options);
        AsyncFetcher { client, options, robots }
    }

    /// The limits this client was made with.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// Downloads `url` and checks that the body is an image.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        self.attempt(url).await.map_err(|refusal| refusal.error)
    }

    /// One attempt at `url` (redirects followed): the image, kept in memory
    /// under the client's [`super::ByteBudget`], or why not with what the
    /// server said about trying again.
    pub async fn attempt(&self, url: &str) -> Result<Fetched, Refusal> {
        self.robots_allow(url).await?;
        let deadline = Instant::now() + self.options.timeout;
        let mut body = InMemory::new(&self.options.budget, self.options.max_bytes, deadline, self.options.timeout);
        match self.attempt_into(url, &mut body).await {
            Ok(()) => Ok(body.finish()?),
            Err(Failure::Fetch(refusal)) => Err(refusal),
            Err(Failure::Write(error)) => Err(error.into()),
        }
    }

    /// One attempt at `url` (redirects followed), its body handed to
    /// `writer` as it arrives, all within `--timeout`: reqwest times its
    /// own reads, and the writer's waits between them (for disk, for
    /// room in a budget) are timed here.
    pub(crate) async fn attempt_into<W: AsyncBodyWriter>(
        &self,
        url: &str,
        writer: &mut W,
    ) -> Result<(), Failure<W::Error>> {
        // robots.txt has its own deadline; the image's starts after it.
        self.robots_allow(url).await?;
        let timeout = self.options.timeout;
        tokio::time::timeout(timeout, self.attempt_untimed(url, writer))
            .await
            .unwrap_or_else(|_| Err(FetchError::Timeout(timeout).into()))
    }

    /// With `--respect-robots-txt`, whether the host's robots.txt lets us
    /// fetch `url` (asked once a run, on its own deadline; a cache hit after).
    async fn robots_allow(&self, url: &str) -> Result<(), FetchError> {
        let url = check_url(url)?;
        self.robots.check(&url, |robots_url, timeout| robots::get_tokio(&self.client, robots_url, timeout)).await
    }

    async fn attempt_untimed<W: AsyncBodyWriter>(&self, url: &str, writer: &mut W) -> Result<(), Failure<W::Error>> {
        let mut url = check_url(url)?;
        let deadline = Instant::now() + self.options.timeout;
        let mut redirects = Redirects::default();
        let mut response = loop {
            // Each hop gets what is left of the attempt's `--timeout`.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FetchError::Timeout(self.options.timeout).into());
            }
            let request = self.client.get(url.clone()).timeout(left);
            let response = request.send().await.map_err(|err| self.classify(&err))?;
            let status = response.status().as_u16();
            if !is_redirect(status) {
                break response;
            }
            url = redirects.follow(&url, status, header(&response, "location"))?;
            // A redirect to another host is that host's to allow: its
            // robots.txt is asked (once a run) before the hop is made.
            self.robots_allow(url.as_str()).await?;
        };
        check_status(response.status().as_u16(), header(&response, "retry-after"))?;
        let robots = response.headers().get_all("x-robots-tag").iter().filter_map(|value| value.to_str().ok());
        check_robots(robots, &self.options.disallowed_directives)?;
        // Chunk by chunk, so the size limit holds as bytes arrive and no
        // body is held here. (Tried before bodies were streamed on:
        // `response.bytes()`, one copy fewer only when a body arrives in one
        // chunk: CPU time 0.89x curl's against 0.84x chunk by chunk in the
        // same run of scripts/bench_write_vs_curl.sh, so no gain to pay for.)
        let mut body = Body::start(response.content_length(), self.options.max_bytes)?;
        while let Some(chunk) = response.chunk().await.map_err(|err| self.classify(&err))? {
            pass_on_async(body.push(&chunk)?, writer).await?;
        }
        pass_on_async(body.end()?, writer).await
    }

    /// A reqwest error as a [`FetchError`], naming the deadline that fired.
    fn classify(&self, err: &reqwest::Error) -> FetchError {
        if let Some(failure) = lookup_failure(err) {
            return failure;
        }
        let chain = error_chain(err);
        if err.is_timeout() && err.is_connect() {
            FetchError::ConnectTimeout(self.options.connect_timeout)
        } else if err.is_timeout() {
            FetchError::Timeout(self.options.timeout)
        } else if err.is_builder() {
            FetchError::InvalidUrl(chain)
        } else if err.is_connect() && io_kind(err) == Some(std::io::ErrorKind::ConnectionRefused) {
            FetchError::ConnectionRefused(chain)
        } else if chain.contains("invalid peer certificate") {
            // rustls's words for a certificate it refuses (expired,
            // self-signed, another name); its error type is not ours to name.
            FetchError::Tls(chain)
        } else {
            FetchError::Network(chain)
        }
    }
}

/// A response header's value, if present and text.
fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}

/// The kind of the first `io::Error` in `err`'s chain of sources, if any.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut next = Some(err);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = error.source();
    }
    None
}
