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

use std::collections::{HashSet, VecDeque};

use crate::api::{ApiClient, ApiError, ApiResponse, StopReason, describe_reset};
use crate::config::ImgurConfig;
use crate::metadata::{MetadataLog, PhotoRecord};
use crate::source::{ImageRef, Listing, SourceError};

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
pub fn imgur_list(config: &ImgurConfig, wanted: usize, log: MetadataLog) -> Result<Listing, SourceError> {
    let key = config.client_id.clone().ok_or(ApiError::MissingKey { api: "imgur", hint: KEY_HINT })?;
    let mut listing = ImgurListing {
        client: ApiClient::new(key, &[]),
        gallery_url: format!("{}/3/gallery/{}", config.api_base, config.gallery.trim_matches('/')),
        wanted,
        listed: 0,
        page: 0,
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

/// The listing's state between pages.
struct ImgurListing {
    client: ApiClient,
    /// `{api_base}/3/gallery/{gallery}`; the page number follows.
    gallery_url: String,
    wanted: usize,
    listed: usize,
    /// The next page to ask for; also the number of calls made.
    page: usize,
    fruitless: usize,
    seen: HashSet<String>,
    ready: VecDeque<(ImageRef, PhotoRecord)>,
    log: MetadataLog,
    stopped: Option<ApiError>,
    done: bool,
}

impl Iterator for ImgurListing {
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

impl ImgurListing {
    /// One gallery page: fills `ready` with its new still images, or says
    /// why no more pages should be asked for.
    fn fetch_page(&mut self) -> Result<(), ApiError> {
        let url = format!("{}/{}", self.gallery_url, self.page);
        self.page += 1;
        let response = self.client.get(&url).map_err(|reason| self.stop(StopReason::Failed(reason)))?;
        match response.status {
            200 => {}
            // Imgur answers 403 both to a bad key and, with its remaining
            // credits at 0, to an exhausted quota: the headers tell which.
            429 | 403 if response.status == 429 || quota_spent(&response) => {
                let detail = format!("HTTP {} {}", response.status, self.server_says(&response));
                return Err(self.stop(StopReason::RateLimited { detail, reset: reset_of(&response) }));
            }
            401 | 403 => return Err(self.bad_key(&response)),
            status => {
                let reason = format!("HTTP {status} from {url}: {}", self.server_says(&response));
                return Err(self.stop(StopReason::Failed(reason)));
            }
        }
        let page: GalleryPage = serde_json::from_str(&response.body).map_err(|err| {
            self.stop(StopReason::Failed(format!(
                "unexpected answer from {url}: {}",
                self.client.scrub(&err.to_string())
            )))
        })?;
        if page.data.is_empty() {
            let reason = format!("the gallery has no page {}", self.page - 1);
            return Err(self.stop(StopReason::Exhausted(reason)));
        }
        let before = self.ready.len();
        for item in page.data {
            if let Some(entry) = self.entry(item) {
                self.ready.push_back(entry);
            }
        }
        self.fruitless = if self.ready.len() > before { 0 } else { self.fruitless + 1 };
        if self.fruitless >= MAX_FRUITLESS_PAGES {
            let reason =
                format!("{MAX_FRUITLESS_PAGES} pages in a row held no still image that was not listed already");
            return Err(self.stop(StopReason::Exhausted(reason)));
        }
        // Stop before a call that would be refused, rather than spend it.
        if self.listed + self.ready.len() < self.wanted {
            for (remaining, limit) in [
                ("X-RateLimit-ClientRemaining", "X-RateLimit-ClientLimit"),
                ("X-RateLimit-UserRemaining", "X-RateLimit-UserLimit"),
            ] {
                if response.header_number(remaining) == Some(0) {
                    let detail = format!("{remaining}: 0 of {}", response.header(limit).unwrap_or("?"));
                    return Err(self.stop(StopReason::RateLimited { detail, reset: reset_of(&response) }));
                }
            }
        }
        Ok(())
    }

    /// The download and record for one gallery item; `None` for albums,
    /// animations, other types and ids already listed.
    fn entry(&mut self, item: GalleryItem) -> Option<(ImageRef, PhotoRecord)> {
        let still = !item.is_album
            && item.animated != Some(true)
            && item.mime.as_deref().is_some_and(|mime| STILL_TYPES.contains(&mime));
        if !still || !self.seen.insert(item.id.clone()) {
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
        Some((ImageRef { url, stem: Some(item.id) }, record))
    }

    fn stop(&self, reason: StopReason) -> ApiError {
        ApiError::Stopped { api: "Imgur", listed: self.listed, wanted: self.wanted, requests: self.page, reason }
    }

    fn restate(&self, err: ApiError) -> ApiError {
        match err {
            ApiError::Stopped { reason, .. } => self.stop(reason),
            other => other,
        }
    }

    fn bad_key(&self, response: &ApiResponse) -> ApiError {
        let said = self.server_says(response);
        let detail = if said.is_empty() { String::new() } else { format!(": {said}") };
        ApiError::BadKey { api: "Imgur", status: response.status, detail, hint: KEY_HINT }
    }

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

/// Whether the `X-RateLimit-*Remaining` headers say a quota is used up.
fn quota_spent(response: &ApiResponse) -> bool {
    ["X-RateLimit-ClientRemaining", "X-RateLimit-UserRemaining"]
        .iter()
        .any(|name| response.header_number(name) == Some(0))
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
