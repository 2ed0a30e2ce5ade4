//! The Imgur source: a gallery's still images, page by page, as a lazy [`Listing`].
//!
//! `GET {api_base}/3/gallery/{gallery}/{page}` (`gallery` is `random/random`
//! unless `[IMGUR] gallery` says e.g. `hot/viral/day`) with `Authorization:
//! Client-ID <client_id>` answers `{"data": [...], "success": true, "status":
//! 200}`. Albums, animations and anything but JPEG and PNG are skipped (the
//! thumbnailer wants stills); pages are followed until `--count` images are
//! listed or the gallery runs dry.
//!
//! Imgur allows about 12,500 calls a day per application and reports what is
//! left in `X-RateLimit-*` headers. A 429, or a remaining count of 0 before
//! the next call, ends the listing with an error that says how many images
//! were listed and when the quota resets; those images are still
//! downloaded and the run exits with status 3. Nothing is retried.

use std::collections::HashSet;

use super::api::{
    ApiClient, ApiError, ApiResponse, Page, PageCall, PageError, PageSource, PagedListing, StopReason, describe_reset,
};
use super::metadata::PhotoRecord;
use super::{Item, Listing, SourceError};
use crate::config::ImgurConfig;

/// Pages in a row with no usable image (only albums and GIFs) before the
/// listing gives up: a gallery like that will not turn into photos, and
/// every page costs a call of the daily quota.
const MAX_FRUITLESS_PAGES: usize = 5;

/// The image types kept: stills the thumbnailer reads.
const STILL_TYPES: [&str; 2] = ["image/jpeg", "image/png"];

/// Where a user puts the key, for messages.
const KEY_HINT: &str = "set client_id in the [IMGUR] section of config.ini (copy config.ini.example) \
     or the IMGUR_CLIENT_ID environment variable to your application's Client ID from https://api.imgur.com/oauth2/addclient";

/// A gallery page: `{"data": [...], "success": true, "status": 200}`.
#[derive(Debug, serde::Deserialize)]
struct GalleryPage {
    data: Vec<GalleryItem>,
}

/// A gallery item: an image or an album (only the fields used here).
#[derive(Debug, serde::Deserialize)]
struct GalleryItem {
    id: String,
    title: Option<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    mime: Option<String>,
    animated: Option<bool>,
    width: Option<u32>,
    height: Option<u32>,
    link: Option<String>,
    #[serde(default)]
    is_album: bool,
    account_url: Option<String>,
    ups: Option<i64>,
}

/// Imgur's error body: `{"data": {"error": "..."}, "success": false, "status": 429}`.
#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    data: ErrorData,
}

#[derive(Debug, serde::Deserialize)]
struct ErrorData {
    error: serde_json::Value,
}

/// Opens the Imgur listing of `wanted` images. Makes the first call at once,
/// so a wrong key is a setup error (exit status 2).
pub(crate) fn imgur_list(config: &ImgurConfig, wanted: usize) -> Result<Listing, SourceError> {
    let key = config.client_id.clone().ok_or(ApiError::MissingKey { api: "imgur", hint: KEY_HINT })?;
    let pages = ImgurPages {
        client: ApiClient::new(key, &[]),
        gallery_url: format!("{}/3/gallery/{}", config.api_base, config.gallery.trim_matches('/')),
    };
    Ok(Box::new(PagedListing::open(pages, wanted)?))
}

/// What only Imgur needs between pages; the paging state (the page number
/// is the count of calls made) is the [`PagedListing`]'s.
#[derive(Debug)]
struct ImgurPages {
    client: ApiClient,
    /// `{api_base}/3/gallery/{gallery}`; the page number follows.
    gallery_url: String,
}

impl PageSource for ImgurPages {
    const API: &'static str = "Imgur";
    const KEY_HINT: &'static str = KEY_HINT;
    const MAX_FRUITLESS_PAGES: usize = MAX_FRUITLESS_PAGES;
    const FRUITLESS: &'static str = "pages in a row held no still image that was not listed already";

    /// Gallery page number `call.index`, with its new still images.
    fn fetch_page(&mut self, call: PageCall<'_>) -> Result<Page, PageError> {
        let url = format!("{}/{}", self.gallery_url, call.index);
        let response = self.client.get(&url).map_err(StopReason::Failed)?;
        match response.status {
            200 => {}
            // Imgur answers 403 both to a bad key and, with its remaining
            // credits at 0, to an exhausted quota: the headers tell which.
            429 | 403 if response.status == 429 || spent_quota(&response).is_some() => {
                let detail = format!("HTTP {} {}", response.status, self.server_says(&response));
                return Err(StopReason::RateLimited { detail, reset: reset_of(&response) }.into());
            }
            401 | 403 => return Err(PageError::BadKey { status: response.status, said: self.server_says(&response) }),
            status => {
                let reason = format!("HTTP {status} from {url}: {}", self.server_says(&response));
                return Err(StopReason::Failed(reason).into());
            }
        }
        let page: GalleryPage = serde_json::from_str(&response.body).map_err(|err| {
            StopReason::Failed(format!("unexpected answer from {url}: {}", self.client.scrub(&err.to_string())))
        })?;
        if page.data.is_empty() {
            return Err(StopReason::Exhausted(format!("the gallery has no page {}", call.index)).into());
        }
        let images = page.data.into_iter().filter_map(|item| entry(item, call.seen)).collect();
        let quota_spent = spent_quota(&response).map(|(remaining, limit)| {
            let detail = format!("{remaining}: 0 of {}", response.header(limit).unwrap_or("?"));
            StopReason::RateLimited { detail, reset: reset_of(&response) }
        });
        Ok(Page { images, quota_spent })
    }
}

impl ImgurPages {
    /// The server's `data.error` (or the body), scrubbed.
    fn server_says(&self, response: &ApiResponse) -> String {
        let text = match serde_json::from_str::<ErrorBody>(&response.body) {
            Ok(ErrorBody { data: ErrorData { error: serde_json::Value::String(text) } }) => text,
            Ok(ErrorBody { data: ErrorData { error } }) => error.to_string(),
            Err(_) => response.body.clone(),
        };
        self.client.scrub(&text)
    }
}

/// The download and record for one gallery item; `None` for albums,
/// animations, other types and ids already `seen` (only stills are added
/// to it, so an album never hides an image of the same id).
fn entry(item: GalleryItem, seen: &mut HashSet<String>) -> Option<Item> {
    let still = !item.is_album
        && item.animated != Some(true)
        && item.mime.as_deref().is_some_and(|mime| STILL_TYPES.contains(&mime));
    if !still || !seen.insert(item.id.clone()) {
        return None;
    }
    let url = item.link?;
    let record = PhotoRecord {
        source: "imgur".into(),
        id: item.id.clone(),
        width: item.width,
        height: item.height,
        color: None,
        description: item.title.or(item.description),
        likes: item.ups.and_then(|ups| u64::try_from(ups).ok()),
        author: item.account_url,
        page_url: Some(format!("https://imgur.com/{}", item.id)),
        url: url.clone(),
        file: None,
        error: None,
    };
    Some(Item { url, stem: Some(item.id), record: Some(Box::new(record)), fields: None })
}

/// The first `X-RateLimit-*Remaining` header that says a quota is used up,
/// with the name of its limit header; `None` while calls are left.
fn spent_quota(response: &ApiResponse) -> Option<(&'static str, &'static str)> {
    [("X-RateLimit-ClientRemaining", "X-RateLimit-ClientLimit"), ("X-RateLimit-UserRemaining", "X-RateLimit-UserLimit")]
        .into_iter()
        .find(|(remaining, _)| response.header_number(remaining) == Some(0))
}

/// When Imgur's quota resets: `X-RateLimit-UserReset` (Unix time), else
/// `Retry-After` (seconds), else its documented daily window.
fn reset_of(response: &ApiResponse) -> String {
    if let Some(epoch) = response.header_number("X-RateLimit-UserReset") {
        describe_reset(epoch)
    } else if let Some(seconds) = response.header_number("Retry-After") {
        format!("the API asks to wait {seconds} s")
    } else {
        "Imgur's application quota is daily, so it resets within a day".to_string()
    }
}
