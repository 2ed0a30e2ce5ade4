//! `SurfFetcher`: the async-std client, on `surf`, with the same limits,
//! rules and errors as the `ureq` and `reqwest` ones.
//!
//! Behind the `async-std` feature: only `asyncio_run --runtime async-std`
//! uses it, and no other binary should pay for building a second runtime.
//!
//! Deadlines: `--timeout` wraps the whole attempt (redirects and body
//! included) in one async-std timeout. surf's own HTTP/1.1 client has no
//! connect timeout nor resolver hook, so surf is handed a connection made
//! here instead ([`Connector`]): the name is looked up in the run's cache
//! (a host that does not exist fails at once, never retried), then TCP and,
//! for https, the TLS handshake are held to `--connect-timeout` together,
//! and a host that does not answer in time fails as
//! [`FetchError::ConnectTimeout`] with that value, as in the other
//! clients. `async_h1` then writes the request and reads the response on
//! that connection, as surf's own client does.

use std::net::SocketAddr;
use std::time::Duration;

use async_std::net::TcpStream;
use futures_util::AsyncReadExt;

use super::dns::Names;
use super::robots::{self, RobotsTxt};
use super::rules::{Body, Redirects, check_robots, check_status, check_url, is_redirect};
use super::writer::{AsyncBodyWriter, Failure, InMemory, pass_on_async};
use super::{FetchError, FetchOptions, Fetched, Refusal};

/// Bytes read from the body at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The async-std HTTP client: cheap to clone, clones share one name cache.
#[derive(Debug, Clone)]
pub struct SurfFetcher {
    client: surf::Client,
    options: FetchOptions,
    robots: RobotsTxt,
}

impl SurfFetcher {
    /// A client with these limits.
    pub fn new(options: FetchOptions) -> Result<Self, FetchError> {
        SurfFetcher::with_names(options, Names::default())
    }

    /// [`SurfFetcher::new`] with `blocking`'s limits, sharing its run's name
    /// cache and robots.txt answers.
    pub(crate) fn like(blocking: &super::Fetcher) -> Result<Self, FetchError> {
        let fetcher = SurfFetcher::with_names(blocking.options().clone(), blocking.names().clone())?;
        Ok(SurfFetcher { robots: blocking.robots().clone(), ..fetcher })
    }

    /// [`SurfFetcher::new`], looking names up in `names`.
    fn with_names(options: FetchOptions, names: Names) -> Result<Self, FetchError> {
        let connector =
            Connector { names, connect_timeout: options.connect_timeout, tls: async_tls::TlsConnector::default() };
        let config = surf::Config::new()
            .set_http_client(connector)
            .set_timeout(None) // the whole fetch is timed in `fetch`, body included
            .add_header("User-Agent", options.user_agent.as_str())
            .map_err(|err| FetchError::Network(format!("cannot build the surf client: {err}")))?;
        let client: surf::Client = config.try_into().map_err(|never: std::convert::Infallible| match never {})?;
        // No `surf::middleware::Redirect`: it sends a request twice and leaves
        // the first answer's body unread on a pooled connection, which the
        // next request then reads as garbage. Redirects are followed by hand.
        let robots = RobotsTxt::new(&options);
        Ok(SurfFetcher { client, options, robots })
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
            let mut response = self.client.get(url.as_str()).await.map_err(|err| classify(&err))?;
            let status = u16::from(response.status());
            if !is_redirect(status) {
                break response;
            }
            let location = response.header("location").map(|values| values.last().as_str().to_string());
            // Read the redirect's (small) body before its connection is dropped.
            let _ = response.take_body().into_reader().take(self.options.max_bytes).read_to_end(&mut Vec::new()).await;
            url = redirects.follow(&url, status, location.as_deref())?;
            // A redirect to another host is that host's to allow: its
            // robots.txt is asked (once a run) before the hop is made.
            self.robots_allow(url.as_str()).await?;
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

/// A surf error before the response: why the connection could not be
/// made, as [`Connector`] typed it, or what broke on it (a refused
/// certificate and a refused connection have their own kinds, as in the
/// other clients).
fn classify(err: &surf::Error) -> FetchError {
    if let Some(Unconnected(failure)) = err.downcast_ref::<Unconnected>() {
        return failure.clone();
    }
    let text = err.to_string();
    match err.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::ConnectionRefused) => FetchError::ConnectionRefused(text),
        _ => FetchError::Network(text),
    }
}

/// Why [`Connector`] made no connection, carried inside surf's error to
/// [`classify`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Unconnected(FetchError);

/// surf's connections, made here rather than by surf's own HTTP/1.1
/// client, which has no connect timeout and asks the system for every
/// name. One connection per request, closed after its response: surf's
/// client put a connection back in its pool even when a body was cut short
/// (a reset, an oversized body we stopped reading), and the next request on
/// it read the rest of that body as its headers. A fresh connection per
/// request is slower but never wrong.
#[derive(Clone)]
struct Connector {
    names: Names,
    /// `--connect-timeout`: the lookup, TCP and the TLS handshake together.
    connect_timeout: Duration,
    /// rustls with the webpki roots, as surf's `h1-client-rustls` had.
    tls: async_tls::TlsConnector,
}

/// A connection made by [`Connector`] (the TLS state boxed: it is large).
enum Connection {
    Plain(TcpStream),
    Tls(Box<async_tls::client::TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("connect_timeout", &self.connect_timeout).finish_non_exhaustive()
    }
}

#[http_client::async_trait]
impl http_client::HttpClient for Connector {
    async fn send(&self, mut request: http_client::Request) -> Result<http_client::Response, http_client::Error> {
        request.insert_header("Connection", "close");
        let connecting = async_std::future::timeout(self.connect_timeout, self.connect(request.url())).await;
        let unconnected =
            |failure| http_client::Error::new(http_client::http_types::StatusCode::BadGateway, Unconnected(failure));
        match connecting {
            Err(_) => Err(unconnected(FetchError::ConnectTimeout(self.connect_timeout))),
            Ok(Err(failure)) => Err(unconnected(failure)),
            Ok(Ok(Connection::Plain(stream))) => async_h1::client::connect(stream, request).await,
            Ok(Ok(Connection::Tls(stream))) => async_h1::client::connect(stream, request).await,
        }
    }
}

impl Connector {
    /// A connection to `url`'s host and port (no deadline here: `send`
    /// holds it to `--connect-timeout`): its addresses from the run's
    /// cache, tried in turn, then TLS for https.
    async fn connect(&self, url: &url::Url) -> Result<Connection, FetchError> {
        // `check_url` let only http(s) URLs with a host through.
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let names = self.names.clone();
        let name = host.clone();
        let ips = async_std::task::spawn_blocking(move || names.lookup(&name)).await?;
        let mut refused = None;
        let mut stream = None;
        for ip in ips.iter() {
            match TcpStream::connect(SocketAddr::new(*ip, port)).await {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(err) => refused = Some(err),
            }
        }
        let stream = match (stream, refused) {
            (Some(stream), _) => stream,
            (None, Some(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(FetchError::ConnectionRefused(err.to_string()));
            }
            (None, err) => return Err(FetchError::Network(err.map(|err| err.to_string()).unwrap_or_default())),
        };
        if url.scheme() != "https" {
            return Ok(Connection::Plain(stream));
        }
        // webpki takes a name, not an IP address (nor its brackets).
        let name = host.trim_start_matches('[').trim_end_matches(']');
        match self.tls.connect(name, stream).await {
            Ok(stream) => Ok(Connection::Tls(Box::new(stream))),
            // rustls 0.18 says "invalid certificate: UnknownIssuer": the
            // same certificate will be refused again. Any other failure of
            // the handshake (a reset in the middle) may not recur.
            Err(err) if err.to_string().contains("certificate") => Err(FetchError::Tls(err.to_string())),
            Err(err) => Err(FetchError::Network(format!("TLS handshake with {host}: {err}"))),
        }
    }
}
