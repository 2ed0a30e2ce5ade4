//! Fetching one image: bytes, or a [`FetchError`] a retry policy can classify.
//!
//! Three clients, one set of rules. [`Fetcher`] is the blocking client
//! (`ureq`), [`AsyncFetcher`] its tokio twin (`reqwest`) and, with the
//! `async-std` feature, `SurfFetcher` the async-std one (`surf`). Each one
//! only moves bytes; what counts as a download is decided in `rules.rs` for
//! all three: http(s) URLs with a host, a 2xx status, a body within the size
//! limit (refused from its `Content-Length` when it says so, else counted
//! as it arrives), and magic bytes of an accepted image format. A 200
//! carrying an HTML login page is a failure, not a file. A site that opts
//! out with an `X-Robots-Tag` directive of
//! [`FetchOptions::disallowed_directives`] (`noai`, ...) is refused too,
//! as img2dataset refuses it.
//!
//! With `--respect-robots-txt` ([`FetchOptions::respect_robots_txt`], off
//! by default) each host's `/robots.txt` is asked for once a run, before
//! its first image (requests that come meanwhile wait for that one fetch),
//! within [`ROBOTS_TIMEOUT`] (or `--timeout` if shorter) and 500 KiB; a
//! path it disallows to our User-Agent's name fails as
//! [`FetchError::RobotsTxt`], kind `disallowed`, with no request sent and
//! never retried. A missing robots.txt (4xx) or a broken one (5xx, no
//! answer in time, a refused connection) allows everything. Each worker
//! process has its own cache. The rules, and why each, are in `robots.rs`.
//!
//! # Memory
//! No client holds a whole body. The rules take each chunk as it arrives
//! and pass it on to a writer (`writer.rs`) once the first bytes say it is
//! an image: the download binaries' writer streams it to the image's file
//! (`run/spool.rs`, at most 256 KiB gathered at a time), so their memory
//! does not grow with the bodies; [`Fetcher::attempt`] and its twins keep
//! it in memory for a run that decodes from there, under
//! the run's [`ByteBudget`] (`budget.rs`: one limit for every body in
//! flight, a request waiting for room, and why that cannot stall).
//!
//! # Layout
//! - `rules.rs`: the checks, and the body that enforces the size limit and
//!   tells the format from the first bytes.
//! - `writer.rs`: where a body's bytes go as they arrive (a file, or
//!   memory under the budget).
//! - `budget.rs`: [`ByteBudget`], the limit on bodies held in memory.
//! - `blocking.rs`: [`Fetcher`] on `ureq`.
//! - `tokio.rs`: [`AsyncFetcher`] on `reqwest`.
//! - `surf.rs`: `SurfFetcher` on `surf` (feature `async-std`).
//! - `retry.rs`: [`RetryPolicy`], when and how long to wait before trying
//!   a failed fetch again.
//! - `hosts.rs`: [`HostLimits`], the per-host scheduler: how many requests
//!   each host gets at once and from when, adapted to its 429s, 503s,
//!   refused connections and `Retry-After` (the policy, signal by signal,
//!   is in its header).
//! - `dns.rs`: one name lookup per host for the whole run, shared by the
//!   clients.
//! - `robots.rs`: `--respect-robots-txt`: each host's robots.txt, fetched
//!   once a run by whichever client asks first, and obeyed.
//!
//! # Deadlines
//! Every client holds one attempt to `--timeout` from the request to the
//! last body byte (a drip or a stall after the headers cannot outlast it),
//! and the connection to `--connect-timeout`; a failure names the one that
//! fired, with its value ([`FetchError::Timeout`],
//! [`FetchError::ConnectTimeout`]). The time a body's writer takes between
//! reads counts too: a wait for room in the [`ByteBudget`], a write to the
//! image's file.

mod blocking;
mod budget;
mod dns;
mod hosts;
mod retry;
mod robots;
mod rules;
#[cfg(feature = "async-std")]
mod surf;
mod tokio;
mod writer;

use std::time::Duration;

use image::ImageFormat;
use thiserror::Error;

pub use blocking::Fetcher;
pub use budget::{ByteBudget, Reservation};
pub use hosts::{FLOOR, HostLimits, MAX_PAUSE, Slot};
pub use retry::{DEFAULT_RETRIES, RetryPolicy};
pub use robots::ROBOTS_TIMEOUT;
pub use rules::{check_image, check_robots, check_url};
#[cfg(feature = "async-std")]
pub use surf::SurfFetcher;
pub use tokio::AsyncFetcher;
pub(crate) use writer::{AsyncBodyWriter, BodyWriter, Failure};

/// The default limit on one response body. Unsplash's `raw` photos reach
/// ~40 MB; anything beyond this is a mistake or an attack, not a photo.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The default whole-request timeout: long enough for a 20 MB photo on a
/// slow link, short enough that a stalled server does not hold a worker.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Connection set-up gets its own, shorter limit (`--connect-timeout`): a
/// host that does not answer a SYN in this long is down, and should not
/// cost the whole request timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `X-Robots-Tag` directives img2dataset refuses an image for by
/// default (its `disallowed_header_directives`): the site's "do not use
/// this for AI" and "do not index" opt-outs.
pub const IMG2DATASET_DISALLOWED_DIRECTIVES: [&str; 4] = ["noai", "noimageai", "noindex", "noimageindex"];

/// What can go wrong fetching one image. Each variant says whether trying
/// again could help ([`FetchError::is_retryable`]).
#[derive(Debug, Clone, Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FetchError {
    /// The URL cannot be fetched: unparsable, not http/https, or no host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The server answered with a status other than 2xx.
    #[error("HTTP status {0}")]
    Status(u16),
    /// No complete answer within `--timeout`, which bounds one attempt from
    /// the request to the last byte of the body.
    #[error("timed out after {} s (--timeout: request to last body byte)", .0.as_secs_f64())]
    Timeout(Duration),
    /// No connection within `--connect-timeout` (the host did not answer).
    #[error("no connection within {} s (--connect-timeout)", .0.as_secs_f64())]
    ConnectTimeout(Duration),
    /// The host's name does not resolve (NXDOMAIN): it does not exist, and
    /// asking again will not make it.
    #[error("no such host: {0}")]
    NoSuchHost(String),
    /// The host refused the connection: nothing listens there, or it is
    /// turning clients away. Retried, and counted as a refusal by the host
    /// scheduler.
    #[error("connection refused: {0}")]
    ConnectionRefused(String),
    /// The TLS handshake failed: a certificate that is expired, self-signed
    /// or for another name. The same certificate will be refused again.
    #[error("TLS failure: {0}")]
    Tls(String),
    /// The body was larger than the limit; reading stopped there.
    #[error("body larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The body is not an image by its first bytes (e.g. an HTML page).
    #[error("not an image (body starts with {0:?})")]
    NotAnImage(String),
    /// The connection could not be made or broke off (refused, reset, DNS).
    #[error("network error: {0}")]
    Network(String),
    /// A redirect led back to a URL already visited.
    #[error("redirect loop: back to {0}")]
    RedirectLoop(String),
    /// More redirects than any real host needs.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// The site opts out of this use of the image with an `X-Robots-Tag`
    /// directive of [`FetchOptions::disallowed_directives`]: the directive,
    /// as `noai` or, aimed at this client, `thumbnails-rs: noai`.
    #[error("the site opts out with X-Robots-Tag: {0}")]
    Disallowed(String),
    /// With `--respect-robots-txt`, the host's robots.txt disallows the
    /// URL for us: the rule, the group it is in, and the file's URL. No
    /// request for the image was sent.
    #[error("the site's robots.txt disallows it: {0}")]
    RobotsTxt(String),
}

impl FetchError {
    /// Whether the same request could succeed later: timeouts, refused
    /// connections, other network errors, 408, 429 and 5xx. A 404 (or any
    /// other 4xx), a bad URL, a name that does not resolve, a refused
    /// certificate or an HTML page will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Timeout(_)
            | FetchError::ConnectTimeout(_)
            | FetchError::ConnectionRefused(_)
            | FetchError::Network(_) => true,
            FetchError::Status(code) => matches!(code, 408 | 429 | 500..=599),
            FetchError::NoSuchHost(_)
            | FetchError::Tls(_)
            | FetchError::InvalidUrl(_)
            | FetchError::TooLarge { .. }
            | FetchError::NotAnImage(_)
            | FetchError::RedirectLoop(_)
            | FetchError::TooManyRedirects(_)
            // The site said no; asking again is asking to be told no again.
            | FetchError::Disallowed(_)
            | FetchError::RobotsTxt(_) => false,
        }
    }

    /// A short name of the kind of failure, the same for every client, for
    /// a report or a dataset's status column to count failures by:
    /// `invalid_url`, `status`, `timeout`, `connect_timeout`,
    /// `no_such_host`, `connection_refused`, `tls`, `too_large`,
    /// `not_an_image`, `network`, `redirect_loop`, `too_many_redirects` or
    /// `disallowed` (an `X-Robots-Tag` opt-out or a robots.txt rule alike).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl(_) => "invalid_url",
            FetchError::Status(_) => "status",
            FetchError::Timeout(_) => "timeout",
            FetchError::ConnectTimeout(_) => "connect_timeout",
            FetchError::NoSuchHost(_) => "no_such_host",
            FetchError::ConnectionRefused(_) => "connection_refused",
            FetchError::Tls(_) => "tls",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::NotAnImage(_) => "not_an_image",
            FetchError::Network(_) => "network",
            FetchError::RedirectLoop(_) => "redirect_loop",
            FetchError::TooManyRedirects(_) => "too_many_redirects",
            FetchError::Disallowed(_) | FetchError::RobotsTxt(_) => "disallowed",
        }
    }
}

/// Limits and identity of a client.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// One attempt's time limit, from the request to the last body byte.
    pub timeout: Duration,
    /// The connection's time limit (resolving the name, TCP, TLS), within
    /// `timeout`.
    pub connect_timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// How the client names itself (`--user-agent`); by default
    /// [`crate::config::USER_AGENT`], the project and its version, so a
    /// host's operator can tell who is asking.
    pub user_agent: String,
    /// `X-Robots-Tag` directives that refuse an image
    /// ([`FetchError::Disallowed`]), compared without regard to case. Empty
    /// (the default here) checks nothing; the binaries' default, from
    /// `--disallowed-header-directives`, is
    /// [`IMG2DATASET_DISALLOWED_DIRECTIVES`].
    pub disallowed_directives: Vec<String>,
    /// Ask each host's `/robots.txt` first, once a run, and refuse what it
    /// disallows ([`FetchError::RobotsTxt`]); `--respect-robots-txt`, off
    /// by default (the rules are in `robots.rs`'s header).
    pub respect_robots_txt: bool,
    /// The limit on bodies kept in memory at once ([`Fetcher::attempt`]
    /// and its twins), shared by every client given a clone of it;
    /// unlimited by default. A body streamed to its file holds none.
    pub budget: ByteBudget,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: crate::config::USER_AGENT.to_string(),
            max_bytes: DEFAULT_MAX_BYTES,
            disallowed_directives: Vec::new(),
            respect_robots_txt: false,
            budget: ByteBudget::unlimited(),
        }
    }
}

/// An image that was fetched and recognised, kept in memory.
#[derive(Debug)]
pub struct Fetched {
    /// The whole body.
    pub bytes: Vec<u8>,
    /// The format its magic bytes say it is.
    pub format: ImageFormat,
    /// Its share of the client's [`ByteBudget`], given back when this is
    /// dropped: keep the two together for as long as the bytes live.
    _held: Reservation,
}

impl Fetched {
    /// Bytes read some other way (a file on disk), with their format: no
    /// part of any budget.
    pub fn unbudgeted(bytes: Vec<u8>, format: ImageFormat) -> Self {
        Fetched { bytes, format, _held: Reservation::default() }
    }
}

/// A fetch that failed, with what the server said about trying again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why it failed.
    pub error: FetchError,
    /// How long the server asked us to wait (`Retry-After` on a 429 or 503).
    pub retry_after: Option<Duration>,
}

impl From<FetchError> for Refusal {
    fn from(error: FetchError) -> Self {
        Refusal { error, retry_after: None }
    }
}
