//! What the Unsplash and Imgur clients share: one blocking JSON client that
//! sends the key in a header and never lets it out, and the typed reasons an
//! API listing stops.
//!
//! The key travels in an `Authorization` header, never in a URL, so it cannot
//! end up in a file name, a failure's URL or the metadata. Every string that
//! comes back from a server (an error body, a transport error) is passed
//! through [`ApiClient::scrub`] before it can reach a message, so even a
//! server that echoes the header cannot make us print the key.
//!
//! Both APIs are also paged the same way, so that is here once too:
//! [`PagedListing`] is the lazy [`Listing`](super::Listing) they
//! return, and an API adds only how to get one page ([`PageSource`]).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use super::{Item, SourceError};
use crate::config::{Secret, USER_AGENT};

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

/// What one API adds to a [`PagedListing`]: how to get a page, and the words
/// its messages use. Everything else about paging is the same for every API
/// and lives in [`PagedListing`], so an API file reads as its URL, its JSON
/// and its rate-limit headers.
pub(crate) trait PageSource {
    /// The API's name in messages: `Unsplash` or `Imgur`.
    const API: &'static str;
    /// Where a user puts the key, for the message of a refused key.
    const KEY_HINT: &'static str;
    /// Pages in a row that bring nothing new before the listing gives up:
    /// every page costs quota, so an API that keeps answering the same is
    /// left, not asked again and again.
    const MAX_FRUITLESS_PAGES: usize;
    /// What those pages were, after their number, e.g. "calls in a row
    /// brought only photos already listed".
    const FRUITLESS: &'static str;

    /// One API call: the new images of the next page, or why there is none.
    /// Stops carry only their reason; the listing adds how far it got.
    fn fetch_page(&mut self, call: PageCall<'_>) -> Result<Page, PageError>;
}

/// What [`PageSource::fetch_page`] is told about the listing so far.
#[derive(Debug)]
pub(crate) struct PageCall<'a> {
    /// Calls made before this one (0 for the first): Imgur's page number.
    pub(crate) index: usize,
    /// Images still to list, at least 1: Unsplash asks for no more.
    pub(crate) still_wanted: usize,
    /// Ids met so far. An API inserts each id it considers and skips those
    /// already in: when in its filtering it does so is its own choice.
    pub(crate) seen: &'a mut HashSet<String>,
}

/// One page as an API answered it.
#[derive(Debug)]
pub(crate) struct Page {
    /// The images not listed before, each with its record, in the API's order.
    pub(crate) images: Vec<Item>,
    /// Set when the answer's rate-limit headers say no call is left: the
    /// stop to make instead of a next call, which would be refused, if
    /// another page is needed at all.
    pub(crate) quota_spent: Option<StopReason>,
}

/// Why [`PageSource::fetch_page`] brought no page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// The API refused the key. On the first call that is a setup error.
    BadKey {
        /// The HTTP status.
        status: u16,
        /// The server's own words, scrubbed; empty if it said nothing.
        said: String,
    },
    /// The listing stops here, for this reason.
    Stop(StopReason),
}

impl From<StopReason> for PageError {
    fn from(reason: StopReason) -> Self {
        PageError::Stop(reason)
    }
}

/// An API listing: pages asked for one at a time, only when the downloads
/// have taken every image of the last one, so a run that stops early spends
/// no call it did not need.
///
/// A stop (a quota, an error, an API with nothing new) is kept until the
/// images already in hand are listed, and then handed on once, with the
/// counts as they are then: the images a call paid for are never dropped,
/// and the message says how many were really listed.
#[derive(Debug)]
pub(crate) struct PagedListing<P> {
    source: P,
    wanted: usize,
    /// Images handed on so far.
    listed: usize,
    /// API calls made so far.
    requests: usize,
    /// Calls in a row that brought nothing new.
    fruitless: usize,
    seen: HashSet<String>,
    /// Images of the last page not handed on yet, with their records.
    ready: VecDeque<Item>,
    /// Why the listing stopped, to hand on once the page in hand is done.
    stopped: Option<PageError>,
    done: bool,
}

impl<P: PageSource> PagedListing<P> {
    /// Opens a listing of `wanted` images. Makes
    /// the first call at once, so that a wrong key is a setup error (exit
    /// status 2) and not a run that lists nothing; any other stop is handed
    /// on by the listing itself.
    pub(crate) fn open(source: P, wanted: usize) -> Result<Self, ApiError> {
        let mut listing = PagedListing {
            source,
            wanted,
            listed: 0,
            requests: 0,
            fruitless: 0,
            seen: HashSet::new(),
            ready: VecDeque::new(),
            stopped: None,
            done: false,
        };
        if wanted > 0
            && let Err(err) = listing.fetch_page()
        {
            if matches!(err, PageError::BadKey { .. }) {
                return Err(listing.error(err));
            }
            listing.stopped = Some(err);
        }
        Ok(listing)
    }

    /// One call: fills `ready` with the page's new images, or says why no
    /// more calls should be made. Only called with `ready` empty and fewer
    /// than `wanted` listed.
    fn fetch_page(&mut self) -> Result<(), PageError> {
        let call = PageCall { index: self.requests, still_wanted: self.wanted - self.listed, seen: &mut self.seen };
        self.requests += 1;
        let page = self.source.fetch_page(call)?;
        self.fruitless = if page.images.is_empty() { self.fruitless + 1 } else { 0 };
        self.ready.extend(page.images);
        if self.fruitless >= P::MAX_FRUITLESS_PAGES {
            let reason = format!("{} {}", P::MAX_FRUITLESS_PAGES, P::FRUITLESS);
            return Err(StopReason::Exhausted(reason).into());
        }
        // Stop before a call that would be refused, rather than spend it.
        if self.listed + self.ready.len() < self.wanted
            && let Some(reason) = page.quota_spent
        {
            return Err(reason.into());
        }
        Ok(())
    }

    /// The error as it is handed on: a stop with the counts as they are now.
    fn error(&self, err: PageError) -> ApiError {
        match err {
            PageError::BadKey { status, said } => {
                let detail = if said.is_empty() { String::new() } else { format!(": {said}") };
                ApiError::BadKey { api: P::API, status, detail, hint: P::KEY_HINT }
            }
            PageError::Stop(reason) => ApiError::Stopped {
                api: P::API,
                listed: self.listed,
                wanted: self.wanted,
                requests: self.requests,
                reason,
            },
        }
    }
}

impl<P: PageSource> Iterator for PagedListing<P> {
    type Item = Result<Item, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done || self.listed >= self.wanted {
                return None;
            }
            if let Some(image) = self.ready.pop_front() {
                self.listed += 1;
                return Some(Ok(image));
            }
            if let Some(err) = self.stopped.take() {
                self.done = true;
                return Some(Err(self.error(err).into()));
            }
            if let Err(err) = self.fetch_page() {
                self.stopped = Some(err);
            }
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
