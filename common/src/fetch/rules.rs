//! What counts as a download, decided once for every client.
//!
//! A client sends the request and hands over what came back: the status,
//! the declared length, the body chunk by chunk. These functions decide, so
//! that `ureq`, `reqwest` and `surf` accept and refuse exactly the same
//! responses with exactly the same [`FetchError`]s.

use super::{FetchError, Fetched};
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

/// Only a 2xx status carries an image.
pub(crate) fn check_status(status: u16) -> Result<(), FetchError> {
    if (200..300).contains(&status) { Ok(()) } else { Err(FetchError::Status(status)) }
}

/// Recognises an image by its magic bytes; anything else is [`FetchError::NotAnImage`].
pub fn check_image(bytes: &[u8]) -> Result<image::ImageFormat, FetchError> {
    formats::recognise(bytes).ok_or_else(|| {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned();
        FetchError::NotAnImage(start)
    })
}

/// A response body being received, held to the size limit: refused at once
/// if its `Content-Length` is over, else as soon as the bytes received are.
#[derive(Debug)]
pub(crate) struct Body {
    bytes: Vec<u8>,
    limit: u64,
}

impl Body {
    /// Starts a body that declared `content_length` (if it did), sized for
    /// it so the bytes are copied once.
    pub(crate) fn start(content_length: Option<u64>, limit: u64) -> Result<Self, FetchError> {
        if content_length.is_some_and(|length| length > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let capacity = usize::try_from(content_length.unwrap_or(0)).unwrap_or(0);
        Ok(Body { bytes: Vec::with_capacity(capacity), limit })
    }

    /// Adds the next chunk, or fails if it takes the body over the limit.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        if (self.bytes.len() + chunk.len()) as u64 > self.limit {
            return Err(FetchError::TooLarge { limit: self.limit });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The whole body, if it is an image.
    pub(crate) fn finish(self) -> Result<Fetched, FetchError> {
        let format = check_image(&self.bytes)?;
        Ok(Fetched { bytes: self.bytes, format })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    /// exactly at the limit is accepted.
    #[test]
    fn body_is_held_to_the_limit() {
        assert_eq!(Body::start(Some(11), 10).unwrap_err(), FetchError::TooLarge { limit: 10 });
        let mut body = Body::start(None, 10).unwrap();
        body.push(b"\xFF\xD8\xFF\xE0\0\0").unwrap();
        body.push(b"1234").unwrap();
        assert_eq!(body.push(b"5"), Err(FetchError::TooLarge { limit: 10 }));
        assert_eq!(body.finish().unwrap().format, image::ImageFormat::Jpeg);
    }

    /// A status outside 2xx and a body that is not an image are refused.
    #[test]
    fn status_and_magic_bytes() {
        assert!(check_status(204).is_ok());
        assert_eq!(check_status(302), Err(FetchError::Status(302)));
        assert!(
            matches!(check_image(b"<!doctype html>"), Err(FetchError::NotAnImage(s)) if s.starts_with("<!doctype"))
        );
    }
}
