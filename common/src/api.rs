//! What the Unsplash and Imgur clients share: one blocking JSON client that
//! sends the key in a header and never lets it out, and the typed reasons an
//! API listing stops.
//!
//! The key travels in an `Authorization` header, never in a URL, so it cannot
//! end up in a file name, a failure's URL or the metadata. Every string that
//! comes back from a server (an error body, a transport error) is passed
//! through [`ApiClient::scrub`] before it can reach a message, so even a
//! server that echoes the header cannot make us print the key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::config::Secret;
use crate::fetch::USER_AGENT;

/// Time limit on one API call: the answers are a few hundred kilobytes of
/// JSON, so anything slower than this is a stalled server, not a slow one.
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest API answer read. A page of 30 Unsplash photos is ~100 KB and an
/// Imgur gallery page ~300 KB; this leaves a wide margin and still bounds a
/// broken or hostile server.
const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;

/// Longest piece of a server's error text quoted in a message, so that an
/// HTML error page does not become a screenful.
const MAX_QUOTED: usize = 160;

/// Why an API listing could not start or stopped early. Every message says
/// how far the listing got and what to do; none contains the key.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The source was asked for but no key is configured.
    #[error("--source {api} needs a key: {hint}")]
    MissingKey {
        /// `unsplash` or `imgur`.
        api: &'static str,
        /// Where to put it.
        hint: &'static str,
    },
    /// The API refused the key (HTTP 401).
    #[error("{api} rejected the key (HTTP {status}{detail}): {hint}")]
    BadKey {
        /// `Unsplash` or `Imgur`.
        api: &'static str,
        /// The status, 401 (or 403 for a revoked key).
        status: u16,
        /// The server's own words, if any, prefixed with `: `.
        detail: String,
        /// Where the key is read from.
        hint: &'static str,
    },
    /// The listing stopped before `--count` images were listed.
    #[error("{api}: listed {listed} of {wanted} images in {requests} API requests, then stopped: {reason}")]
    Stopped {
        /// `Unsplash` or `Imgur`.
        api: &'static str,
        /// Images listed (and handed on for download) before stopping.
        listed: usize,
        /// Images asked for.
        wanted: usize,
        /// API calls made.
        requests: usize,
        /// Why.
        reason: StopReason,
    },
}

/// Why an API listing stopped early.
#[derive(Debug, Error)]
pub enum StopReason {
    /// The quota is used up.
    #[error("rate limit reached ({detail}); {reset}")]
    RateLimited {
        /// What the API said (status, remaining count).
        detail: String,
        /// When the quota resets, as precisely as the API says.
        reset: String,
    },
    /// The API has nothing more to list.
    #[error("{0}")]
    Exhausted(String),
    /// The request failed: network, an unexpected status or JSON.
    #[error("{0}")]
    Failed(String),
}

/// An API answer: the status, the body as text, and a way to read headers.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub(crate) status: u16,
    pub(crate) body: String,
    headers: Vec<(String, String)>,
}

impl ApiResponse {
    /// A header's value (name matched without regard to case), if sent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// A header parsed as a whole number.
    pub(crate) fn header_number(&self, name: &str) -> Option<u64> {
        self.header(name).and_then(|value| value.trim().parse().ok())
    }
}

/// A blocking JSON client for one API and one key.
#[derive(Debug, Clone)]
pub(crate) struct ApiClient {
    agent: ureq::Agent,
    key: Secret,
    extra_headers: &'static [(&'static str, &'static str)],
}

impl ApiClient {
    /// A client sending `Authorization: Client-ID <key>` and `extra_headers`
    /// with every request.
    pub(crate) fn new(key: Secret, extra_headers: &'static [(&'static str, &'static str)]) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(API_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .build()
            .into();
        ApiClient { agent, key, extra_headers }
    }

    /// One GET. A transport failure comes back as a message with the key
    /// scrubbed out; any status comes back as a response.
    pub(crate) fn get(&self, url: &str) -> Result<ApiResponse, String> {
        let mut request =
            self.agent.get(url).header("Authorization", format!("Client-ID {}", self.key.expose()).as_str());
        for (name, value) in self.extra_headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().map_err(|err| self.scrub(&err.to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BYTES)
            .read_to_string()
            .map_err(|err| self.scrub(&err.to_string()))?;
        Ok(ApiResponse { status, body, headers })
    }

    /// `text` with the key replaced by `***` and cut to one short line: safe
    /// to put in a message.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let key = self.key.expose();
        let clean = if key.is_empty() { text.to_string() } else { text.replace(key, "***") };
        let one_line: String = clean.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() <= MAX_QUOTED {
            one_line
        } else {
            format!("{}…", one_line.chars().take(MAX_QUOTED).collect::<String>())
        }
    }
}

/// `epoch` (Unix seconds) as "HH:MM UTC, in N min" from now, for a reset time.
pub(crate) fn describe_reset(epoch: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let seconds_of_day = epoch % 86_400;
    let clock = format!("{:02}:{:02} UTC", seconds_of_day / 3600, seconds_of_day % 3600 / 60);
    let minutes = epoch.saturating_sub(now).div_ceil(60);
    format!("the quota resets at {clock} (in {minutes} min)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key echoed by a server is starred out, and long text is cut.
    #[test]
    fn scrub_hides_the_key() {
        let client = ApiClient::new(Secret::new("k-123"), &[]);
        assert_eq!(client.scrub("bad key k-123\n  here"), "bad key *** here");
        assert!(client.scrub(&"x ".repeat(500)).ends_with('…'));
    }

    /// A reset time reads as a clock time and a wait.
    #[test]
    fn reset_is_a_clock_time() {
        let text = describe_reset(3600 * 25 + 60 * 7);
        assert!(text.contains("01:07 UTC"), "{text}");
    }
}
