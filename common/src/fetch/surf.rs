//! `SurfFetcher`: the async-std client, on `surf`, with the same limits,
//! rules and errors as the `ureq` and `reqwest` ones.
//!
//! Behind the `async-std` feature: only `asyncio_run --runtime async-std`
//! uses it, and no other binary should pay for building a second runtime.
//!
//! Deadlines: `--timeout` wraps the whole attempt (redirects and body
//! included) in one async-std timeout. surf has no connect timeout nor
//! resolver hook of its own: the name is looked up in the run's cache
//! first (so a host that does not exist fails at once, never retried), and
//! the connection is bounded by `--timeout` alone.

use futures_util::AsyncReadExt;

use super::dns::Names;
use super::robots::{self, RobotsTxt};
use super::rules::{Body, Redirects, check_robots, check_status, check_url, is_redirect};
use super::writer::{AsyncBodyWriter, Failure, InMemory, pass_on_async};
use super::{FetchError, FetchOptions, Fetched, Refusal};

/// Bytes read from the body at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The async-std HTTP client: cheap to clone, clones share one pool.
#[derive(Debug, Clone)]
pub struct SurfFetcher {
    client: surf::Client,
    options: FetchOptions,
    names: Names,
    robots: RobotsTxt,
}

impl SurfFetcher {
    /// A client with these limits, keeping up to `connections` connections
    /// to one host alive (the run's concurrency).
    pub fn new(options: FetchOptions, connections: usize) -> Result<Self, FetchError> {
        SurfFetcher::with_names(options, connections, Names::default())
    }

    /// [`SurfFetcher::new`] with `blocking`'s limits, sharing its run's name
    /// cache and robots.txt answers.
    pub(crate) fn like(blocking: &super::Fetcher, connections: usize) -> Result<Self, FetchError> {
        let fetcher = SurfFetcher::with_names(blocking.options().clone(), connections, blocking.names().clone())?;
        Ok(SurfFetcher { robots: blocking.robots().clone(), ..fetcher })
    }

    /// [`SurfFetcher::new`], looking names up in `names`.
    fn with_names(options: FetchOptions, connections: usize, names: Names) -> Result<Self, FetchError> {
        let config = surf::Config::new()
            // No keep-alive: surf's h1 client puts a connection back in its
            // pool even when a body was cut short (a reset, an oversized body
            // we stopped reading), and the next request on it reads the rest
            // of that body as its headers. A fresh connection per request is
            // slower but never wrong.
            .set_http_keep_alive(false)
            .set_max_connections_per_host(connections)
            .set_timeout(None) // the whole fetch is timed in `fetch`, body included
            .add_header("User-Agent", options.user_agent.as_str())
            .map_err(|err| FetchError::Network(format!("cannot build the surf client: {err}")))?;
        let client: surf::Client = config.try_into().map_err(|never: std::convert::Infallible| match never {})?;
        // No `surf::middleware::Redirect`: it sends a request twice and leaves
        // the first answer's body unread on a pooled connection, which the
        // next request then reads as garbage. Redirects are followed by hand.
        let robots = RobotsTxt::new(&options);
        Ok(SurfFetcher { client, options, names, robots })
    }

    /// Downloads `url` within the time limit and checks that the body is an image.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        self.attempt(url).await.map_err(|refusal| refusal.error)
    }

    /// One attempt at `url` (redirects followed) within the time limit: the
    /// image, kept in memory under the client's [`super::ByteBudget`], or
    /// why not with what the server said about trying again.
    pub async fn attempt(&self, url: &str) -> Result<Fetched, Refusal> {
        self.robots_allow(url).await?;
        let deadline = std::time::Instant::now() + self.options.timeout;
        let mut body = InMemory::new(&self.options.budget, self.options.max_bytes, deadline, self.options.timeout);
        match self.attempt_into(url, &mut body).await {
            Ok(()) => Ok(body.finish()?),
            Err(Failure::Fetch(refusal)) => Err(refusal),
            Err(Failure::Write(error)) => Err(error.into()),
        }
    }

    /// One attempt at `url` within the time limit (redirects, body and the
    /// writer's waits included), its body handed to `writer` as it arrives.
    pub(crate) async fn attempt_into<W: AsyncBodyWriter>(
        &self,
        url: &str,
        writer: &mut W,
    ) -> Result<(), Failure<W::Error>> {
        // robots.txt has its own deadline; the image's starts after it.
        self.robots_allow(url).await?;
        let timeout = self.options.timeout;
        async_std::future::timeout(timeout, self.attempt_untimed(url, writer))
            .await
            .unwrap_or_else(|_| Err(FetchError::Timeout(timeout).into()))
    }

    /// With `--respect-robots-txt`, whether the host's robots.txt lets us
    /// fetch `url` (asked once a run, on its own deadline; a cache hit after).
    async fn robots_allow(&self, url: &str) -> Result<(), FetchError> {
        let url = check_url(url)?;
        self.robots.check(&url, |robots_url, timeout| robots::get_surf(&self.client, robots_url, timeout)).await
    }

    async fn attempt_untimed<W: AsyncBodyWriter>(&self, url: &str, writer: &mut W) -> Result<(), Failure<W::Error>> {
        // surf panics on a URL it cannot parse; `check_url` parses it first
        // with the same `url` crate, so only valid http(s) URLs get further.
        let mut url = check_url(url)?;
        let network = |err: &dyn std::fmt::Display| FetchError::Network(err.to_string());
        let mut redirects = Redirects::default();
        let mut response = loop {
            let names = self.names.clone();
            let host = url.host_str().unwrap_or("").to_string();
            async_std::task::spawn_blocking(move || names.lookup(&host)).await?;
            let mut response = self.client.get(url.as_str()).await.map_err(|err| classify(&err))?;
            let status = u16::from(response.status());
            if !is_redirect(status) {
                break response;
            }
            let location = response.header("location").map(|values| values.last().as_str().to_string());
            // Read the redirect's (small) body so its pooled connection is clean.
            let _ = response.take_body().into_reader().take(self.options.max_bytes).read_to_end(&mut Vec::new()).await;
            url = redirects.follow(&url, status, location.as_deref())?;
        };
        let retry_after = response.header("retry-after").map(|values| values.last().as_str().to_string());
        check_status(u16::from(response.status()), retry_after.as_deref())?;
        let robots = response.header("x-robots-tag").map(|values| values.iter().map(|value| value.as_str()));
        check_robots(robots.into_iter().flatten(), &self.options.disallowed_directives)?;
        let mut body = Body::start(response.len().map(|length| length as u64), self.options.max_bytes)?;
        let mut reader = response.take_body().into_reader();
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) => return pass_on_async(body.end()?, writer).await,
                Ok(read) => pass_on_async(body.push(&chunk[..read])?, writer).await?,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(network(&err).into()),
            }
        }
    }
}

/// A surf error before the response: a refused connection and a refused
/// certificate have their own kinds, as in the other clients.
fn classify(err: &surf::Error) -> FetchError {
    let text = err.to_string();
    match err.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::ConnectionRefused) => FetchError::ConnectionRefused(text),
        // surf's rustls (0.18) says "invalid certificate: UnknownIssuer";
        // today's says "invalid peer certificate: ...".
        _ if text.contains("invalid peer certificate") || text.contains("invalid certificate") => FetchError::Tls(text),
        _ if text.contains("onnection refused") => FetchError::ConnectionRefused(text),
        _ => FetchError::Network(text),
    }
}
