//! What counts as a download, decided once for every client.
//!
//! A client sends the request and hands over what came back: the status,
//! the declared length, the body chunk by chunk. These functions decide, so
//! that `ureq`, `reqwest` and `surf` accept and refuse exactly the same
//! responses with exactly the same [`FetchError`]s.

use std::time::{Duration, SystemTime};

use super::{FetchError, Refusal};
use crate::config::USER_AGENT;
use crate::formats;
use crate::text::shorten;

/// Redirects followed before a request fails: what browsers and `curl -L`
/// allow, enough for any CDN's hops.
pub(crate) const MAX_REDIRECTS: usize = 10;

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

/// Only a 2xx status carries an image. A refusal keeps the server's
/// `Retry-After` (`retry_after`, the header's value if it sent one).
pub(crate) fn check_status(status: u16, retry_after: Option<&str>) -> Result<(), Refusal> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(Refusal { error: FetchError::Status(status), retry_after: retry_after.and_then(parse_retry_after) })
    }
}

/// img2dataset's product token. A site that writes `img2dataset: noai`
/// opts out of exactly the job this tool does, so the directive is obeyed
/// here too, as well as those aimed at our own token.
const IMG2DATASET_TOKEN: &str = "img2dataset";

/// Refuses a response whose `X-Robots-Tag` headers (`values`, one per
/// header line) carry a directive of `disallowed`, img2dataset's rule
/// (its `is_disallowed`): each value is comma-separated directives,
/// optionally after a `token:` that aims them at one user agent; a
/// directive with no token applies to every client, one with a token only
/// to the client it names. We answer to our User-Agent's token
/// (`thumbnails-rs`) and to `img2dataset`. Case is ignored throughout.
///
/// ```
/// use common::fetch::check_robots;
/// let disallowed = ["noai".to_string()];
/// assert!(check_robots(["noindex, NoAI"], &disallowed).is_err());
/// assert!(check_robots(["img2dataset: noai"], &disallowed).is_err());
/// assert!(check_robots(["googlebot: noai", "nofollow"], &disallowed).is_ok());
/// assert!(check_robots(["noai"], &[]).is_ok());
/// ```
pub fn check_robots<'a>(values: impl IntoIterator<Item = &'a str>, disallowed: &[String]) -> Result<(), FetchError> {
    if disallowed.is_empty() {
        return Ok(());
    }
    let our_token = USER_AGENT.split('/').next().unwrap_or(USER_AGENT);
    for value in values {
        // `split_once(':')` is Python's `split(":", 1)`: a value such as
        // `unavailable_after: 25 Jun 2010` is a "token" no client has.
        let (token, directives) = match value.split_once(':') {
            Some((token, directives)) => (Some(token.trim()), directives),
            None => (None, value),
        };
        if token.is_some_and(|token| {
            !token.eq_ignore_ascii_case(our_token) && !token.eq_ignore_ascii_case(IMG2DATASET_TOKEN)
        }) {
            continue;
        }
        for directive in directives.split(',').map(str::trim) {
            if disallowed.iter().any(|no| no.trim().eq_ignore_ascii_case(directive)) {
                let directive = directive.to_ascii_lowercase();
                let said = match token {
                    Some(token) => format!("{}: {directive}", token.to_ascii_lowercase()),
                    None => directive,
                };
                return Err(FetchError::Disallowed(shorten(&said)));
            }
        }
    }
    Ok(())
}

/// A `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 10.2.3).
/// A date in the past means "now"; anything unreadable is ignored.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Whether `status` is a redirect a client should follow.
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The redirects of one fetch, followed by hand in every client so that a
/// loop fails at once, with its own reason, instead of after ten hops.
#[derive(Debug, Default)]
pub(crate) struct Redirects {
    visited: Vec<url::Url>,
}

impl Redirects {
    /// Where a redirect from `from` with this `Location` leads, if it may be
    /// followed: relative locations resolve against `from`; a URL already
    /// visited is a loop; more than [`MAX_REDIRECTS`] is too many.
    pub(crate) fn follow(
        &mut self,
        from: &url::Url,
        status: u16,
        location: Option<&str>,
    ) -> Result<url::Url, FetchError> {
        let location = location.ok_or(FetchError::Status(status))?;
        let next = from
            .join(location)
            .map_err(|err| FetchError::InvalidUrl(format!("redirect to {}: {err}", shorten(location))))?;
        let next = check_url(next.as_str())?;
        self.visited.push(from.clone());
        if self.visited.contains(&next) {
            return Err(FetchError::RedirectLoop(shorten(next.as_str())));
        }
        if self.visited.len() > MAX_REDIRECTS {
            return Err(FetchError::TooManyRedirects(MAX_REDIRECTS));
        }
        Ok(next)
    }
}

/// Recognises an image by its magic bytes; anything else is [`FetchError::NotAnImage`].
pub fn check_image(bytes: &[u8]) -> Result<image::ImageFormat, FetchError> {
    formats::recognise(bytes).ok_or_else(|| {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned();
        FetchError::NotAnImage(start)
    })
}

/// The first bytes of a body held back until its format is known: enough
/// for the longest signature `image::guess_format` reads (12 bytes, WebP's
/// and AVIF's), so the answer is the one the whole body would give, and
/// for the 16 bytes a [`FetchError::NotAnImage`] quotes.
pub(crate) const HEAD_BYTES: usize = 16;

/// A response body being received, held to the rules as its bytes arrive:
/// refused at once if its `Content-Length` is over the size limit, else as
/// soon as the bytes received are; refused from its first bytes if they are
/// not an image, before any byte is passed on; refused at its end if it is
/// shorter than its `Content-Length`. It keeps no bytes but the first few:
/// what it passes on goes wherever the client's [`super::BodyWriter`] puts
/// it (a file, or memory).
#[derive(Debug)]
pub(crate) struct Body {
    limit: u64,
    /// What the `Content-Length` promised, if it said.
    declared: Option<u64>,
    received: u64,
    /// The first bytes, until the format is known.
    head: Vec<u8>,
    format: Option<image::ImageFormat>,
}

/// What the rules let through of a chunk just received.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pass<'a> {
    /// Nothing yet: too few bytes to tell the format.
    Held,
    /// The body is an image of this format (a `Content-Length` of this
    /// many bytes, if declared): its first bytes, this chunk included.
    Begin(image::ImageFormat, Option<u64>, &'a [u8]),
    /// More of a body already begun.
    More(&'a [u8]),
}

impl Body {
    /// Starts a body that declared `content_length` (if it did).
    pub(crate) fn start(content_length: Option<u64>, limit: u64) -> Result<Self, FetchError> {
        if content_length.is_some_and(|length| length > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        Ok(Body { limit, declared: content_length, received: 0, head: Vec::new(), format: None })
    }

    /// Takes the next chunk: fails if it takes the body over the limit, or
    /// if the first bytes are not an image; else says what to pass on.
    pub(crate) fn push<'a>(&'a mut self, chunk: &'a [u8]) -> Result<Pass<'a>, FetchError> {
        if self.received + chunk.len() as u64 > self.limit {
            return Err(FetchError::TooLarge { limit: self.limit });
        }
        self.received += chunk.len() as u64;
        if self.format.is_some() {
            // The first bytes were passed on with the first chunk.
            self.head = Vec::new();
            return Ok(Pass::More(chunk));
        }
        self.head.extend_from_slice(chunk);
        if self.head.len() < HEAD_BYTES {
            return Ok(Pass::Held);
        }
        self.begin()
    }

    /// The end of the body: fails if it is shorter than its
    /// `Content-Length` (a connection that broke off, whatever the client
    /// library made of it: some report the end of the stream as the end of
    /// the body, and a JPEG cut in half still has JPEG magic bytes), or if
    /// a body too short to have been recognised yet is not an image; else
    /// what is left to pass on.
    pub(crate) fn end(&mut self) -> Result<Pass<'_>, FetchError> {
        if let Some(declared) = self.declared
            && self.received != declared
        {
            let got = self.received;
            return Err(FetchError::Network(format!("the body ended after {got} of its {declared} bytes")));
        }
        if self.format.is_some() { Ok(Pass::More(&[])) } else { self.begin() }
    }

    /// Recognises the held first bytes, and lets them through.
    fn begin(&mut self) -> Result<Pass<'_>, FetchError> {
        let format = check_image(&self.head)?;
        self.format = Some(format);
        Ok(Pass::Begin(format, self.declared, &self.head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redirects resolve relative locations, stop at a loop at once and
    /// after MAX_REDIRECTS hops otherwise.
    #[test]
    fn redirects_are_followed_with_limits() {
        let start = url::Url::parse("http://h/a").unwrap();
        let mut redirects = Redirects::default();
        let b = redirects.follow(&start, 302, Some("/b")).unwrap();
        assert_eq!(b.as_str(), "http://h/b");
        assert!(matches!(redirects.follow(&b, 302, Some("http://h/a")), Err(FetchError::RedirectLoop(_))));
        assert_eq!(Redirects::default().follow(&start, 302, None), Err(FetchError::Status(302)));
        let mut chain = Redirects::default();
        let mut here = start;
        let mut result = Ok(here.clone());
        for hop in 0..=MAX_REDIRECTS {
            result = chain.follow(&here, 301, Some(&format!("/{hop}")));
            match &result {
                Ok(next) => here = next.clone(),
                Err(_) => break,
            }
        }
        assert_eq!(result, Err(FetchError::TooManyRedirects(MAX_REDIRECTS)));
        let mut to_ftp = Redirects::default();
        assert!(matches!(to_ftp.follow(&here, 302, Some("ftp://h/x")), Err(FetchError::InvalidUrl(_))));
    }

    /// Only http(s) URLs with a host pass.
    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://h/a.jpg").is_ok());
        assert!(check_url(" https://h/a.jpg ").is_ok());
        for bad in ["ftp://h/a.jpg", "file:///etc/passwd", "http://", "not a url", "javascript:alert(1)"] {
            assert!(matches!(check_url(bad), Err(FetchError::InvalidUrl(_))), "{bad}");
        }
    }

    /// The limit holds whether the length is declared or not, and a body
    /// exactly at the limit is accepted; the first bytes are held until
    /// there are enough to tell the format, then passed on with it; a body
    /// shorter than its length fails at its end.
    #[test]
    fn body_is_held_to_the_limit() {
        assert_eq!(Body::start(Some(11), 10).unwrap_err(), FetchError::TooLarge { limit: 10 });
        let mut body = Body::start(None, 20).unwrap();
        assert_eq!(body.push(b"\xFF\xD8\xFF\xE0\0\0").unwrap(), Pass::Held);
        let jpeg = image::ImageFormat::Jpeg;
        assert_eq!(body.push(b"1234567890").unwrap(), Pass::Begin(jpeg, None, b"\xFF\xD8\xFF\xE0\0\x001234567890"));
        assert_eq!(body.push(b"abcd").unwrap(), Pass::More(b"abcd"));
        assert_eq!(body.push(b"5"), Err(FetchError::TooLarge { limit: 20 }));
        assert_eq!(body.end().unwrap(), Pass::More(b""));
        let mut short = Body::start(Some(10), 100).unwrap();
        short.push(b"\xFF\xD8\xFF\xE0").unwrap();
        assert!(matches!(short.end(), Err(FetchError::Network(m)) if m.contains("4 of its 10")));
        let mut tiny = Body::start(Some(4), 100).unwrap();
        assert_eq!(tiny.push(b"\xFF\xD8\xFF\xE0").unwrap(), Pass::Held);
        assert_eq!(tiny.end().unwrap(), Pass::Begin(jpeg, Some(4), b"\xFF\xD8\xFF\xE0"));
    }

    /// An HTML page is refused from its first bytes, before the rest of
    /// it (here: more than the limit) arrives; an empty body is no image.
    #[test]
    fn not_an_image_is_decided_from_the_first_bytes() {
        let mut body = Body::start(None, 1 << 20).unwrap();
        assert_eq!(body.push(b"<!doctype").unwrap(), Pass::Held);
        assert!(matches!(body.push(b" html><html>"), Err(FetchError::NotAnImage(s)) if s == "<!doctype html><"));
        assert!(matches!(Body::start(None, 10).unwrap().end(), Err(FetchError::NotAnImage(s)) if s.is_empty()));
    }

    /// img2dataset's X-Robots-Tag rule: comma-separated directives, several
    /// headers, a `token:` prefix that aims them at one client (ours or
    /// img2dataset's count; others' do not); case and spaces ignored;
    /// nothing disallowed checks nothing.
    #[test]
    fn robots_directives() {
        let defaults: Vec<String> = crate::fetch::IMG2DATASET_DISALLOWED_DIRECTIVES.map(String::from).to_vec();
        let refused = |values: &[&str]| check_robots(values.iter().copied(), &defaults).err();
        let disallowed = |said: &str| Some(FetchError::Disallowed(said.into()));
        assert_eq!(refused(&["noai"]), disallowed("noai"));
        assert_eq!(refused(&["nofollow, NoImageIndex"]), disallowed("noimageindex"));
        assert_eq!(refused(&["nofollow", " noindex "]), disallowed("noindex"));
        assert_eq!(refused(&["img2dataset: noai"]), disallowed("img2dataset: noai"));
        assert_eq!(refused(&["Thumbnails-RS: noimageai, nofollow"]), disallowed("thumbnails-rs: noimageai"));
        for allowed in [
            &["nofollow", "noarchive"][..],
            &["googlebot: noindex"],
            &["unavailable_after: 25 Jun 2010 15:00:00 PST"],
            &["noai-please"],
            &[""],
            &[],
        ] {
            assert_eq!(refused(allowed), None, "{allowed:?}");
        }
        assert_eq!(check_robots(["noai"], &[]), Ok(()));
        assert_eq!(check_robots(["NOAI"], &[" NoAI ".to_string()]), Err(FetchError::Disallowed("noai".into())));
        let error = FetchError::Disallowed("noai".into());
        assert_eq!(error.to_string(), "the site opts out with X-Robots-Tag: noai");
        assert_eq!(error.kind(), "disallowed");
        assert!(!error.is_retryable());
    }

    /// A status outside 2xx and a body that is not an image are refused;
    /// a refusal keeps the server's Retry-After, in seconds or as a date.
    #[test]
    fn status_and_magic_bytes() {
        assert!(check_status(204, None).is_ok());
        assert_eq!(check_status(302, None).unwrap_err().error, FetchError::Status(302));
        assert_eq!(check_status(429, Some("7")).unwrap_err().retry_after, Some(Duration::from_secs(7)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = check_status(503, Some(&soon)).unwrap_err().retry_after.unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        assert!(
            matches!(check_image(b"<!doctype html>"), Err(FetchError::NotAnImage(s)) if s.starts_with("<!doctype"))
        );
    }
}
