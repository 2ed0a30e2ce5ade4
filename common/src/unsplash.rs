//! The Unsplash source: random photos, 30 an API call, as a lazy [`Listing`].
//!
//! `GET {api_base}/photos/random?count=30` with `Authorization: Client-ID
//! <access_key>` and `Accept-Version: v1` answers with an array of photo
//! objects; each becomes an [`ImageRef`] for `urls.<quality>` named by the
//! photo's `id`, and its record goes to the [`MetadataLog`]. A page is asked
//! for only when the downloads have taken the last one, so a run that stops
//! early spends no call it did not need.
//!
//! Demo apps get 50 calls an hour, so limits are handled, not retried: a
//! 403 "Rate Limit Exceeded" (or `X-Ratelimit-Remaining: 0` before the next
//! call) ends the listing with an error that says how many photos were
//! listed; those are still downloaded, and the run exits with status 3.

use std::collections::{HashSet, VecDeque};

use crate::api::{ApiClient, ApiError, ApiResponse, StopReason};
use crate::config::UnsplashConfig;
use crate::metadata::{MetadataLog, PhotoRecord};
use crate::source::{ImageRef, Listing, SourceError};

/// Photos per call: the most `/photos/random` returns at once, so 1,500
/// photos cost 50 calls, a demo app's whole hour.
pub const PHOTOS_PER_CALL: usize = 30;

/// Calls in a row that bring no new photo (every id already listed) before
/// the listing gives up: random photos repeat rarely, so this many in a row
/// means the API keeps answering the same, and more calls would only spend
/// the quota.
const MAX_FRUITLESS_CALLS: usize = 3;

/// Where a user puts the key, for messages.
const KEY_HINT: &str = "set access_key in the [UNSPLASH] section of config.ini (copy config.ini.example) \
     or the UNSPLASH_ACCESS_KEY environment variable to your app's Access Key from https://unsplash.com/oauth/applications";

/// Headers every call sends besides the key: the API version this client reads.
const HEADERS: &[(&str, &str)] = &[("Accept-Version", "v1")];

/// Which of a photo's `urls` to download; Unsplash's own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Quality {
    /// The original file, as uploaded (often 20-40 MB).
    Raw,
    /// The original size as a large JPEG.
    Full,
    /// 1080 pixels wide: the assignment's minimum.
    #[default]
    Regular,
    /// 400 pixels wide.
    Small,
    /// 200 pixels wide.
    Thumb,
}

impl Quality {
    /// The name Unsplash (and `--quality`) uses.
    pub fn name(self) -> &'static str {
        match self {
            Quality::Raw => "raw",
            Quality::Full => "full",
            Quality::Regular => "regular",
            Quality::Small => "small",
            Quality::Thumb => "thumb",
        }
    }
}

/// A photo as `/photos/random` describes it (only the fields used here).
#[derive(Debug, serde::Deserialize)]
struct Photo {
    id: String,
    width: Option<u32>,
    height: Option<u32>,
    color: Option<String>,
    description: Option<String>,
    alt_description: Option<String>,
    likes: Option<u64>,
    urls: PhotoUrls,
    links: Option<PhotoLinks>,
    user: Option<User>,
}

#[derive(Debug, serde::Deserialize)]
struct PhotoUrls {
    raw: Option<String>,
    full: Option<String>,
    regular: Option<String>,
    small: Option<String>,
    thumb: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct PhotoLinks {
    html: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct User {
    name: Option<String>,
    username: Option<String>,
}

/// Unsplash's error body: `{"errors": ["..."]}`.
#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    errors: Vec<String>,
}

/// Opens the Unsplash listing of `wanted` photos at `quality`. Makes the
/// first call at once, so a wrong key is a setup error (exit status 2) and
/// not a run that lists nothing.
pub fn unsplash_list(
    config: &UnsplashConfig,
    quality: Quality,
    wanted: usize,
    log: MetadataLog,
) -> Result<Listing, SourceError> {
    let key = config.access_key.clone().ok_or(ApiError::MissingKey { api: "unsplash", hint: KEY_HINT })?;
    let mut listing = UnsplashListing {
        client: ApiClient::new(key, HEADERS),
        api_base: config.api_base.clone(),
        quality,
        wanted,
        listed: 0,
        requests: 0,
        fruitless: 0,
        seen: HashSet::new(),
        ready: VecDeque::new(),
        log,
        stopped: None,
        done: false,
    };
    if wanted > 0
        && let Err(err) = listing.fetch_page()
    {
        if matches!(err, ApiError::BadKey { .. }) {
            return Err(err.into());
        }
        listing.stopped = Some(err);
    }
    Ok(Box::new(listing))
}

/// The listing's state between calls.
struct UnsplashListing {
    client: ApiClient,
    api_base: String,
    quality: Quality,
    wanted: usize,
    /// Photos handed on so far.
    listed: usize,
    requests: usize,
    /// Calls in a row that brought nothing new.
    fruitless: usize,
    seen: HashSet<String>,
    /// Photos of the last page not handed on yet, with their records.
    ready: VecDeque<(ImageRef, PhotoRecord)>,
    log: MetadataLog,
    /// Why the listing stopped, to hand on once the page in hand is done.
    stopped: Option<ApiError>,
    done: bool,
}

impl Iterator for UnsplashListing {
    type Item = Result<ImageRef, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done || self.listed >= self.wanted {
                return None;
            }
            if let Some((image, record)) = self.ready.pop_front() {
                self.listed += 1;
                self.log.listed(record);
                return Some(Ok(image));
            }
            if let Some(err) = self.stopped.take() {
                self.done = true;
                return Some(Err(self.restate(err).into()));
            }
            if let Err(err) = self.fetch_page() {
                self.stopped = Some(err);
            }
        }
    }
}

impl UnsplashListing {
    /// One call to `/photos/random`: fills `ready` with the new photos, or
    /// says why no more calls should be made.
    fn fetch_page(&mut self) -> Result<(), ApiError> {
        let count = (self.wanted - self.listed).min(PHOTOS_PER_CALL);
        let url = format!("{}/photos/random?count={count}", self.api_base);
        self.requests += 1;
        let response = self.client.get(&url).map_err(|reason| self.stop(StopReason::Failed(reason)))?;
        match response.status {
            200 => {}
            401 => return Err(self.bad_key(&response)),
            403 if is_rate_limit(&response) => {
                let detail = format!("HTTP 403 {}", self.server_says(&response));
                return Err(self.stop(StopReason::RateLimited { detail, reset: hourly_reset() }));
            }
            status => {
                let reason = format!("HTTP {status} from {url}: {}", self.server_says(&response));
                return Err(self.stop(StopReason::Failed(reason)));
            }
        }
        let photos: Vec<Photo> = serde_json::from_str(&response.body).map_err(|err| {
            self.stop(StopReason::Failed(format!(
                "unexpected answer from {url}: {}",
                self.client.scrub(&err.to_string())
            )))
        })?;
        let before = self.ready.len();
        for photo in photos {
            if !self.seen.insert(photo.id.clone()) {
                continue; // the same photo came up in an earlier random call
            }
            if let Some(entry) = self.entry(photo) {
                self.ready.push_back(entry);
            }
        }
        self.fruitless = if self.ready.len() > before { 0 } else { self.fruitless + 1 };
        if self.fruitless >= MAX_FRUITLESS_CALLS {
            let reason = format!("{MAX_FRUITLESS_CALLS} calls in a row brought only photos already listed");
            return Err(self.stop(StopReason::Exhausted(reason)));
        }
        // Stop before a call that would be refused, rather than spend it.
        if self.listed + self.ready.len() < self.wanted && response.header_number("X-Ratelimit-Remaining") == Some(0) {
            let limit = response.header("X-Ratelimit-Limit").unwrap_or("?");
            let detail = format!("X-Ratelimit-Remaining: 0 of {limit}");
            return Err(self.stop(StopReason::RateLimited { detail, reset: hourly_reset() }));
        }
        Ok(())
    }

    /// The download and record for one photo; `None` if it has no URL at
    /// the asked quality.
    fn entry(&self, photo: Photo) -> Option<(ImageRef, PhotoRecord)> {
        let urls = photo.urls;
        let url = match self.quality {
            Quality::Raw => urls.raw,
            Quality::Full => urls.full,
            Quality::Regular => urls.regular,
            Quality::Small => urls.small,
            Quality::Thumb => urls.thumb,
        }?;
        let user = photo.user;
        let record = PhotoRecord {
            source: "unsplash".into(),
            id: photo.id.clone(),
            width: photo.width,
            height: photo.height,
            color: photo.color,
            description: photo.description.or(photo.alt_description),
            likes: photo.likes,
            author: user.as_ref().and_then(|u| u.name.clone().or_else(|| u.username.clone())),
            page_url: photo.links.and_then(|l| l.html),
            url: url.clone(),
            file: None,
            error: None,
        };
        Some((ImageRef { url, stem: Some(photo.id) }, record))
    }

    /// A stop, with the counts as they are now (updated by [`Self::restate`]).
    fn stop(&self, reason: StopReason) -> ApiError {
        ApiError::Stopped { api: "Unsplash", listed: self.listed, wanted: self.wanted, requests: self.requests, reason }
    }

    /// The error as it is handed on, once the photos in hand were listed.
    fn restate(&self, err: ApiError) -> ApiError {
        match err {
            ApiError::Stopped { reason, .. } => self.stop(reason),
            other => other,
        }
    }

    fn bad_key(&self, response: &ApiResponse) -> ApiError {
        let said = self.server_says(response);
        let detail = if said.is_empty() { String::new() } else { format!(": {said}") };
        ApiError::BadKey { api: "Unsplash", status: response.status, detail, hint: KEY_HINT }
    }

    /// The server's error text (its `errors` list, or the body), scrubbed.
    fn server_says(&self, response: &ApiResponse) -> String {
        let text = match serde_json::from_str::<ErrorBody>(&response.body) {
            Ok(body) => body.errors.join("; "),
            Err(_) => response.body.clone(),
        };
        self.client.scrub(&text)
    }
}

/// Unsplash says "Rate Limit Exceeded" in a 403's body and sends
/// `X-Ratelimit-Remaining: 0`; either is enough.
fn is_rate_limit(response: &ApiResponse) -> bool {
    response.body.to_ascii_lowercase().contains("rate limit")
        || response.header_number("X-Ratelimit-Remaining") == Some(0)
}

/// Unsplash sends no reset time: its quota is per hour.
fn hourly_reset() -> String {
    "Unsplash quotas are hourly, so it resets within the hour; the photos listed are in metadata.jsonl, \
     and --source metadata --from <out>/metadata.jsonl downloads them again without API calls"
        .to_string()
}
