//! The origin's `/robots.txt`: what a host tells crawlers, and the ways a
//! host fails to tell it, for the clients' `--respect-robots-txt`.
//!
//! One behaviour per origin ([`crate::OriginConfig::robots`]), the same for
//! every request; [`crate::OriginStats::robots_requests`] counts the
//! requests, so a test can check that a client asks once per run.
//!
//! | behaviour | what `/robots.txt` answers |
//! |---|---|
//! | `missing` (the default) | `404`, as most hosts do |
//! | `allow` | `200`, [`ALLOWING`]: everything for every client but `blockedbot` |
//! | `disallow` | `200`, [`DISALLOWING`]: some paths of `/images/` for every client |
//! | a status (`500`) | that status, a one-line body |
//! | `slow` / `slow=MS` | [`DISALLOWING_ALL`] after `MS` (default [`DEFAULT_SLOW`]): a client that waited that long would refuse every image |
//! | `huge` | [`DISALLOWING`], then comment lines for ever (no `Content-Length`): only a client's size cap ends it |
//! | `moved` | `302` to `/robots.txt?moved=1`, which serves [`DISALLOWING`]: a client must follow the redirect (two requests) |
//!
//! The waits end early when the server stops, as the image faults' do.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use tokio::sync::watch;

use super::respond::stopped;

/// `allow`: every path for every client, except for a crawler named
/// `blockedbot`, which is refused everything (so a client that sends
/// `--user-agent blockedbot/1.0` must find its own group).
pub const ALLOWING: &str = "\
# The origin allows everything, except to blockedbot.
User-agent: blockedbot
Disallow: /

User-agent: *
Allow: /
";

/// `disallow`: for every client, `/images/1` and what starts with it
/// (images 1, 10-19, 100-199, ...) are refused, except `/images/1.jpg`,
/// which a longer `Allow` lets through (RFC 9309: the longest match wins);
/// every other image is allowed.
pub const DISALLOWING: &str = "\
# The origin refuses images whose id starts with 1, except image 1.
User-agent: *
Disallow: /images/1
Allow: /images/1.jpg
";

/// What `slow` serves in the end: nothing is allowed.
pub const DISALLOWING_ALL: &str = "User-agent: *\nDisallow: /\n";

/// How long `slow` waits before its answer: longer than any client's
/// robots.txt deadline (a few seconds) and shorter than a test's patience.
pub const DEFAULT_SLOW: Duration = Duration::from_secs(30);

/// The size of each piece of `huge`'s endless padding.
const HUGE_CHUNK: usize = 64 * 1024;

/// What the origin's `/robots.txt` does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RobotsFile {
    /// `404 Not Found`: the host has no robots.txt.
    #[default]
    Missing,
    /// `200` with this text.
    Text(String),
    /// This status, with a one-line body.
    Status(u16),
    /// [`DISALLOWING_ALL`], after this long.
    Slow(Duration),
    /// [`DISALLOWING`], then comment lines that never end.
    Endless,
    /// A `302` to `/robots.txt?moved=1`, which serves [`DISALLOWING`].
    Moved,
}

impl RobotsFile {
    /// The `allow` behaviour: [`ALLOWING`].
    pub fn allowing() -> Self {
        RobotsFile::Text(ALLOWING.into())
    }

    /// The `disallow` behaviour: [`DISALLOWING`].
    pub fn disallowing() -> Self {
        RobotsFile::Text(DISALLOWING.into())
    }

    /// The response to one request (`moved`: whether it is the request a
    /// `Moved` file redirects to); `stopping` turns true when the server
    /// begins to stop.
    pub(crate) async fn respond(self, moved: bool, stopping: watch::Receiver<bool>) -> Response {
        match self {
            RobotsFile::Moved if moved => text_response(DISALLOWING.into()),
            RobotsFile::Moved => super::redirect("/robots.txt?moved=1"),
            RobotsFile::Missing => (StatusCode::NOT_FOUND, "no robots.txt here\n").into_response(),
            RobotsFile::Text(text) => text_response(text),
            RobotsFile::Status(code) => {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, format!("origin: robots.txt answers {code}\n")).into_response()
            }
            RobotsFile::Slow(delay) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => text_response(DISALLOWING_ALL.into()),
                    () = stopped(stopping) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
            RobotsFile::Endless => endless(stopping),
        }
    }
}

/// `200`, `text/plain`, with its `Content-Length`.
fn text_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// [`DISALLOWING`], then 64 KiB pieces of comment lines until the client
/// goes away or the server stops.
fn endless(stopping: watch::Receiver<bool>) -> Response {
    let padding = {
        let line = "# padding: this robots.txt never ends\n";
        let text: String = line.repeat(HUGE_CHUNK / line.len());
        Bytes::from(text)
    };
    let head = stream::iter([Ok::<_, io::Error>(Bytes::from_static(DISALLOWING.as_bytes()))]);
    let rest = stream::unfold(stopping, move |stopping| {
        let padding = padding.clone();
        async move {
            if *stopping.borrow() {
                return None;
            }
            // Yield between pieces, so an endless body cannot hog a worker.
            tokio::task::yield_now().await;
            Some((Ok(padding), stopping))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(head.chain(rest)))
        .unwrap_or_else(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response())
}

/// A behaviour's name is not one of `missing`, `allow`, `disallow`, a
/// status, `slow[=MS]`, `huge` or `moved`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotsFileError(String);

impl fmt::Display for RobotsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown robots.txt behaviour {:?}: expected missing, allow, disallow, a status (500), slow, slow=MS, huge or moved",
            self.0
        )
    }
}

impl std::error::Error for RobotsFileError {}

impl FromStr for RobotsFile {
    type Err = RobotsFileError;

    /// `missing`, `allow`, `disallow`, a status such as `500`, `slow`,
    /// `slow=MS`, `huge` or `moved`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || RobotsFileError(text.to_string());
        match text.trim() {
            "missing" => Ok(RobotsFile::Missing),
            "allow" => Ok(RobotsFile::allowing()),
            "disallow" => Ok(RobotsFile::disallowing()),
            "slow" => Ok(RobotsFile::Slow(DEFAULT_SLOW)),
            "huge" => Ok(RobotsFile::Endless),
            "moved" => Ok(RobotsFile::Moved),
            other => {
                if let Some(ms) = other.strip_prefix("slow=") {
                    return ms.parse().map(|ms| RobotsFile::Slow(Duration::from_millis(ms))).map_err(|_| unknown());
                }
                match other.parse::<u16>() {
                    Ok(code) if (100..600).contains(&code) => Ok(RobotsFile::Status(code)),
                    _ => Err(unknown()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name the origin's `--robots` takes, and a clear error for others.
    #[test]
    fn behaviours_by_name() {
        assert_eq!("missing".parse(), Ok(RobotsFile::Missing));
        assert_eq!("allow".parse(), Ok(RobotsFile::allowing()));
        assert_eq!("disallow".parse(), Ok(RobotsFile::disallowing()));
        assert_eq!("500".parse(), Ok(RobotsFile::Status(500)));
        assert_eq!("slow".parse(), Ok(RobotsFile::Slow(DEFAULT_SLOW)));
        assert_eq!("slow=250".parse(), Ok(RobotsFile::Slow(Duration::from_millis(250))));
        assert_eq!("huge".parse(), Ok(RobotsFile::Endless));
        assert_eq!("moved".parse(), Ok(RobotsFile::Moved));
        for bad in ["", "nope", "700", "slow=soon"] {
            let error = bad.parse::<RobotsFile>().unwrap_err();
            assert!(error.to_string().contains("expected missing"), "{bad}: {error}");
        }
    }
}
