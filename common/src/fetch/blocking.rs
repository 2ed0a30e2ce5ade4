//! [`Fetcher`]: the blocking client, on one `ureq` agent that every thread
//! shares. Its connection pool keeps connections alive between requests, so
//! a run pays for one TCP handshake per connection, not one per image, and
//! its resolver is the run's name cache ([`super::dns`]).
//!
//! Deadlines: `--timeout` is ureq's global timeout, which runs from the
//! lookup to the last body byte and is checked at every read, so a drip
//! cannot outlast it; each redirect hop gets only what is left of it.
//! `--connect-timeout` bounds the lookup and the connection.

use std::io::Read;
use std::time::Instant;

use super::dns::{Names, UreqNames};
use super::robots::{self, RobotsTxt};
use super::rules::{Body, Redirects, check_robots, check_status, check_url, is_redirect};
use super::writer::{BodyWriter, Failure, InMemory, pass_on};
use super::{FetchError, FetchOptions, Fetched, Refusal};
use crate::text::shorten;

/// Idle connections kept per host. At least the largest concurrency any
/// blocking methodology uses, or threads would reconnect for every image.
const POOL_PER_HOST: usize = 256;

/// Bytes read from the socket at a time: a few TCP segments.
const READ_CHUNK: usize = 64 * 1024;

/// The blocking HTTP client: one `ureq` agent, shared by reference between
/// threads (it is `Send + Sync` and pools connections internally).
#[derive(Debug, Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    options: FetchOptions,
    /// The name cache, for the async clients of the same run to share.
    names: Names,
    /// The robots.txt answers (`--respect-robots-txt`), shared the same way.
    robots: RobotsTxt,
}

impl Fetcher {
    /// A client with these limits.
    pub fn new(options: FetchOptions) -> Self {
        Fetcher::with_names(options, Names::default())
    }

    /// A client with these limits that looks names up in `names`.
    pub(crate) fn with_names(options: FetchOptions, names: Names) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .timeout_resolve(Some(options.connect_timeout))
            .timeout_connect(Some(options.connect_timeout))
            .http_status_as_error(false)
            // Redirects are followed by hand (`Redirects`), like every client.
            .max_redirects(0)
            .max_idle_connections(POOL_PER_HOST)
            .max_idle_connections_per_host(POOL_PER_HOST)
            .user_agent(options.user_agent.as_str())
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            UreqNames(names.clone()),
        );
        let robots = RobotsTxt::new(&options);
        Fetcher { agent, options, names, robots }
    }

    /// The limits this client was made with.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// The same client, keeping bodies it holds in memory under `budget`.
    pub(crate) fn with_budget(mut self, budget: super::ByteBudget) -> Self {
        self.options.budget = budget;
        self
    }

    /// Ends every request of this client under way at once, from any
    /// thread: ureq shuts their sockets down, so a read blocked on a
    /// stalled host returns now instead of at its `--timeout`. A stop's
    /// last resort; later requests fail too.
    pub(crate) fn shut_down(&self) {
        self.agent.clone().shutdown();
    }

    /// The run's name cache, which this client looks names up in.
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }

    /// The run's robots.txt answers, which this client obeys.
    pub(crate) fn robots(&self) -> &RobotsTxt {
        &self.robots
    }

    /// Downloads `url` and checks that the body is an image.
    pub fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        self.attempt(url).map_err(|refusal| refusal.error)
    }

    /// One attempt at `url` (redirects followed): the image, kept in memory
    /// under the client's [`super::ByteBudget`], or why not with what the
    /// server said about trying again.
    pub fn attempt(&self, url: &str) -> Result<Fetched, Refusal> {
        self.robots_allow(url)?;
        let deadline = Instant::now() + self.options.timeout;
        let mut body = InMemory::new(&self.options.budget, self.options.max_bytes, deadline, self.options.timeout);
        match self.attempt_into(url, deadline, &mut body) {
            Ok(()) => Ok(body.finish()?),
            Err(Failure::Fetch(refusal)) => Err(refusal),
            Err(Failure::Write(error)) => Err(error.into()),
        }
    }

    /// With `--respect-robots-txt`, whether the host's robots.txt lets us
    /// fetch `url` (asked once a run, on its own deadline): called before
    /// an attempt's `--timeout` starts, so the wait is not the image's.
    pub(crate) fn robots_allow(&self, url: &str) -> Result<(), FetchError> {
        let url = check_url(url)?;
        self.robots.check_blocking(&url, |robots_url, timeout| robots::get_blocking(&self.agent, robots_url, timeout))
    }

    /// One attempt at `url` (redirects followed), ending by `deadline`,
    /// its body handed to `writer` as it arrives. The caller has asked
    /// [`Fetcher::robots_allow`] first.
    pub(crate) fn attempt_into<W: BodyWriter>(
        &self,
        url: &str,
        deadline: Instant,
        writer: &mut W,
    ) -> Result<(), Failure<W::Error>> {
        let mut url = check_url(url)?;
        let mut redirects = Redirects::default();
        let mut response = loop {
            // Each hop gets what is left of the attempt's `--timeout`.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FetchError::Timeout(self.options.timeout).into());
            }
            let request = self.agent.get(url.as_str()).config().timeout_global(Some(left)).build();
            let response = request.call().map_err(|err| self.classify(err, &url))?;
            let status = response.status().as_u16();
            if !is_redirect(status) {
                break response;
            }
            url = redirects.follow(&url, status, header(&response, "location"))?;
            // A redirect to another host is that host's to allow: its
            // robots.txt is asked (once a run) before the hop is made.
            self.robots_allow(url.as_str())?;
        };
        check_status(response.status().as_u16(), header(&response, "retry-after"))?;
        let robots = response.headers().get_all("x-robots-tag").iter().filter_map(|value| value.to_str().ok());
        check_robots(robots, &self.options.disallowed_directives)?;
        let mut body = Body::start(response.body().content_length(), self.options.max_bytes)?;
        // ureq's own limit is lifted: `Body` holds the one that counts.
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => return pass_on(body.end()?, writer),
                Ok(read) => pass_on(body.push(&chunk[..read])?, writer)?,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(self.classify_io(err, &url).into()),
            }
        }
    }

    /// A ureq error as a [`FetchError`], naming the deadline that fired.
    fn classify(&self, err: ureq::Error, url: &url::Url) -> FetchError {
        use ureq::Timeout;
        match err {
            ureq::Error::StatusCode(code) => FetchError::Status(code),
            ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
                FetchError::ConnectTimeout(self.options.connect_timeout)
            }
            ureq::Error::Timeout(_) => FetchError::Timeout(self.options.timeout),
            ureq::Error::HostNotFound => FetchError::NoSuchHost(shorten(url.host_str().unwrap_or(""))),
            ureq::Error::BodyExceedsLimit(limit) => FetchError::TooLarge { limit },
            ureq::Error::BadUri(reason) => FetchError::InvalidUrl(reason),
            ureq::Error::Tls(reason) => FetchError::Tls(reason.to_string()),
            ureq::Error::Rustls(reason) => FetchError::Tls(reason.to_string()),
            ureq::Error::Io(io) => self.classify_io(io, url),
            other => FetchError::Network(other.to_string()),
        }
    }

    /// A read error: ureq wraps its own errors (a timeout) in `io::Error`,
    /// and rustls its certificate errors.
    fn classify_io(&self, err: std::io::Error, url: &url::Url) -> FetchError {
        match err.kind() {
            std::io::ErrorKind::TimedOut => return FetchError::Timeout(self.options.timeout),
            std::io::ErrorKind::ConnectionRefused => return FetchError::ConnectionRefused(err.to_string()),
            _ => {}
        }
        let text = err.to_string();
        match err.into_inner().map(|inner| inner.downcast::<ureq::Error>()) {
            Some(Ok(ureq_error)) => self.classify(*ureq_error, url),
            _ if text.contains("invalid peer certificate") => FetchError::Tls(text),
            _ => FetchError::Network(format!("io: {text}")),
        }
    }
}

/// A response header's value, if present and text.
fn header<'a>(response: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}
