//! The Unsplash source: random photos, 30 an API call, as a lazy [`Listing`].
//!
//! `GET {api_base}/photos/random?count=30` with `Authorization: Client-ID
//! <access_key>` and `Accept-Version: v1` answers with an array of photo
//! objects; each becomes an [`Item`] for `urls.<quality>` named by the
//! photo's `id`, carrying the photo's record with it. A page is asked
//! for only when the downloads have taken the last one, so a run that stops
//! early spends no call it did not need.
//!
//! Demo apps get 50 calls an hour, so limits are handled, not retried: a
//! 403 "Rate Limit Exceeded" (or `X-Ratelimit-Remaining: 0` before the next
//! call) ends the listing with an error that says how many photos were
//! listed; those are still downloaded, and the run exits with status 3.

use super::api::{ApiClient, ApiError, ApiResponse, Page, PageCall, PageError, PageSource, PagedListing, StopReason};
use super::metadata::PhotoRecord;
use super::{Item, Listing, SourceError};
use crate::config::UnsplashConfig;

/// Photos per call: the most `/photos/random` returns at once, so 1,500
/// photos cost 50 calls, a demo app's whole hour.
pub(crate) const PHOTOS_PER_CALL: usize = 30;

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
pub(crate) fn unsplash_list(config: &UnsplashConfig, quality: Quality, wanted: usize) -> Result<Listing, SourceError> {
    let key = config.access_key.clone().ok_or(ApiError::MissingKey { api: "unsplash", hint: KEY_HINT })?;
    let pages = UnsplashPages { client: ApiClient::new(key, HEADERS), api_base: config.api_base.clone(), quality };
    Ok(Box::new(PagedListing::open(pages, wanted)?))
}

/// What only Unsplash needs between calls; the paging state is the
/// [`PagedListing`]'s.
#[derive(Debug)]
struct UnsplashPages {
    client: ApiClient,
    api_base: String,
    quality: Quality,
}

impl PageSource for UnsplashPages {
    const API: &'static str = "Unsplash";
    const KEY_HINT: &'static str = KEY_HINT;
    const MAX_FRUITLESS_PAGES: usize = MAX_FRUITLESS_CALLS;
    const FRUITLESS: &'static str = "calls in a row brought only photos already listed";

    /// One call to `/photos/random` for the photos still wanted, at most
    /// [`PHOTOS_PER_CALL`].
    fn fetch_page(&mut self, call: PageCall<'_>) -> Result<Page, PageError> {
        let count = call.still_wanted.min(PHOTOS_PER_CALL);
        let url = format!("{}/photos/random?count={count}", self.api_base);
        let response = self.client.get(&url).map_err(StopReason::Failed)?;
        match response.status {
            200 => {}
            401 => return Err(PageError::BadKey { status: response.status, said: self.server_says(&response) }),
            403 if is_rate_limit(&response) => {
                let detail = format!("HTTP 403 {}", self.server_says(&response));
                return Err(StopReason::RateLimited { detail, reset: hourly_reset() }.into());
            }
            status => {
                let reason = format!("HTTP {status} from {url}: {}", self.server_says(&response));
                return Err(StopReason::Failed(reason).into());
            }
        }
        let photos: Vec<Photo> = serde_json::from_str(&response.body).map_err(|err| {
            StopReason::Failed(format!("unexpected answer from {url}: {}", self.client.scrub(&err.to_string())))
        })?;
        let images = photos
            .into_iter()
            // The same photo came up in an earlier random call: skipped, even
            // if it has no URL at this quality.
            .filter(|photo| call.seen.insert(photo.id.clone()))
            .filter_map(|photo| self.entry(photo))
            .collect();
        let quota_spent = (response.header_number("X-Ratelimit-Remaining") == Some(0)).then(|| {
            let limit = response.header("X-Ratelimit-Limit").unwrap_or("?");
            let detail = format!("X-Ratelimit-Remaining: 0 of {limit}");
            StopReason::RateLimited { detail, reset: hourly_reset() }
        });
        Ok(Page { images, quota_spent })
    }
}

impl UnsplashPages {
    /// The download and record for one photo; `None` if it has no URL at
    /// the asked quality.
    fn entry(&self, photo: Photo) -> Option<Item> {
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
        Some(Item { url, stem: Some(photo.id), record: Some(Box::new(record)), fields: None })
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
