//! Fetching one image: bytes, or a [`FetchError`] a retry policy can classify.
//!
//! [`Fetcher`] is the blocking client, on one `ureq` agent that every thread
//! shares: its connection pool keeps connections alive between requests, so
//! a run pays for one TCP handshake per connection, not one per image.
//! Whatever the client, a body must pass [`check_image`] to count as a
//! download: a 200 carrying an HTML login page is a failure, not a file.

use std::time::Duration;

use image::ImageFormat;
use thiserror::Error;

/// The default limit on one response body. Unsplash's `raw` photos reach
/// ~40 MB; anything beyond this is a mistake or an attack, not a photo.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The default whole-request timeout: long enough for a 20 MB photo on a
/// slow link, short enough that a stalled server does not hold a worker.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Connection set-up gets its own, shorter limit: a host that does not answer
/// a SYN in this long is down, and should not cost the whole request timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle connections kept per host. At least the largest concurrency any
/// blocking methodology uses, or threads would reconnect for every image.
const POOL_PER_HOST: usize = 256;

/// What can go wrong fetching one image. Each variant says whether trying
/// again could help ([`FetchError::is_retryable`]).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FetchError {
    /// The URL cannot be fetched: unparsable, not http/https, or no host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The server answered with a status other than 2xx.
    #[error("HTTP status {0}")]
    Status(u16),
    /// No complete answer within the time limit.
    #[error("timed out after {} s", .0.as_secs_f64())]
    Timeout(Duration),
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
}

impl FetchError {
    /// Whether the same request could succeed later: timeouts, network
    /// errors, 408, 429 and 5xx. A 404, a bad URL or an HTML page will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Timeout(_) | FetchError::Network(_) => true,
            FetchError::Status(code) => matches!(code, 408 | 429 | 500..=599),
            FetchError::InvalidUrl(_) | FetchError::TooLarge { .. } | FetchError::NotAnImage(_) => false,
        }
    }
}

/// Limits and identity of a client.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Whole-request time limit, body included.
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { timeout: DEFAULT_TIMEOUT, max_bytes: DEFAULT_MAX_BYTES }
    }
}

/// An image that was fetched and recognised.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The whole body.
    pub bytes: Vec<u8>,
    /// The format its magic bytes say it is.
    pub format: ImageFormat,
}

/// The blocking HTTP client: one `ureq` agent, shared by reference between
/// threads (it is `Send + Sync` and pools connections internally).
#[derive(Debug, Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    options: FetchOptions,
}

impl Fetcher {
    /// A client with these limits.
    pub fn new(options: FetchOptions) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .http_status_as_error(false)
            .max_idle_connections(POOL_PER_HOST)
            .max_idle_connections_per_host(POOL_PER_HOST)
            .user_agent(USER_AGENT)
            .build()
            .into();
        Fetcher { agent, options }
    }

    /// The limits this client was made with.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// Downloads `url` and checks that the body is an image.
    pub fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let url = check_url(url)?;
        let mut response = self.agent.get(url.as_str()).call().map_err(|err| self.classify(err))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(self.options.max_bytes)
            .read_to_vec()
            .map_err(|err| self.classify(err))?;
        let format = check_image(&bytes)?;
        Ok(Fetched { bytes, format })
    }

    fn classify(&self, err: ureq::Error) -> FetchError {
        match err {
            ureq::Error::StatusCode(code) => FetchError::Status(code),
            ureq::Error::Timeout(_) => FetchError::Timeout(self.options.timeout),
            ureq::Error::BodyExceedsLimit(limit) => FetchError::TooLarge { limit },
            ureq::Error::BadUri(reason) => FetchError::InvalidUrl(reason),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                FetchError::Timeout(self.options.timeout)
            }
            other => FetchError::Network(other.to_string()),
        }
    }
}

/// The async client, on `reqwest` (tokio): one client shared by every task,
/// pooling keep-alive connections like [`Fetcher`], with the same limits,
/// checks and errors.
#[derive(Debug, Clone)]
pub struct AsyncFetcher {
    client: reqwest::Client,
    options: FetchOptions,
}

impl AsyncFetcher {
    /// A client with these limits.
    pub fn new(options: FetchOptions) -> Self {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            // Only a broken TLS backend fails here; fall back to defaults
            // (the same backend) rather than panic.
            .unwrap_or_default();
        AsyncFetcher { client, options }
    }

    /// Downloads `url` and checks that the body is an image.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let url = check_url(url)?;
        let mut response = self.client.get(url).send().await.map_err(|err| self.classify(&err))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        let limit = self.options.max_bytes;
        if response.content_length().is_some_and(|length| length > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        // Read chunk by chunk so the limit holds without a Content-Length.
        let mut bytes = Vec::with_capacity(response.content_length().unwrap_or(0).min(limit) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|err| self.classify(&err))? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        let format = check_image(&bytes)?;
        Ok(Fetched { bytes, format })
    }

    fn classify(&self, err: &reqwest::Error) -> FetchError {
        if err.is_timeout() {
            FetchError::Timeout(self.options.timeout)
        } else if err.is_builder() {
            FetchError::InvalidUrl(error_chain(err))
        } else {
            FetchError::Network(error_chain(err))
        }
    }
}

/// An error and its causes on one line: `reqwest` puts the useful part
/// ("connection refused") in the source, not in its own message.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// How this tool introduces itself; APIs ask clients to name themselves.
pub const USER_AGENT: &str = concat!("thumbnails-rs/", env!("CARGO_PKG_VERSION"));

/// Parses `url` and accepts only `http` and `https` URLs with a host.
pub fn check_url(url: &str) -> Result<url::Url, FetchError> {
    let parsed =
        url::Url::parse(url.trim()).map_err(|err| FetchError::InvalidUrl(format!("{err}: {}", shorten(url))))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(parsed),
        "http" | "https" => Err(FetchError::InvalidUrl(format!("no host in {}", shorten(url)))),
        scheme => Err(FetchError::InvalidUrl(format!("only http and https are fetched, not {scheme}:"))),
    }
}

/// Recognises an image by its magic bytes; anything else is [`FetchError::NotAnImage`].
pub fn check_image(bytes: &[u8]) -> Result<ImageFormat, FetchError> {
    match image::guess_format(bytes) {
        Ok(format) if IMAGE_FORMATS.contains(&format) => Ok(format),
        _ => {
            let start = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned();
            Err(FetchError::NotAnImage(start))
        }
    }
}

/// The formats accepted as downloads: what photo hosts serve and the
/// thumbnailer reads.
const IMAGE_FORMATS: [ImageFormat; 6] =
    [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Tiff];

/// A URL cut to a length that fits on one line of an error message.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{head}…")
}
