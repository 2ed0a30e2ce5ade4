//! The responses that make up each fault: what goes on the wire, and when
//! the connection ends.
//!
//! A body stream that yields an error makes hyper abort the connection at
//! that point, without finishing the message: that is how a response is cut
//! short here. Nothing below holds a connection longer than the spec says,
//! and the waits end early when the server is stopping.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use tokio::sync::watch;

use super::{FaultKind, FaultSpec, Reset};

/// The size of each piece of a `large` body: big enough that producing it is
/// cheap per byte, small enough that a client's body limit trips promptly.
const LARGE_CHUNK: usize = 64 * 1024;

/// How long a cut-short body waits between its last bytes and the cut.
/// hyper buffers the head and the first chunk and writes them when the body
/// has nothing more for the moment; an error straight after the chunk would
/// discard that buffer with the connection, and the client would see an
/// empty reply instead of part of a body. A pause lets the bytes reach the
/// client first; 50 ms is ample on loopback and no real delay to a failure.
const CUT_PAUSE: Duration = Duration::from_millis(50);

/// The page an `html` fault serves: what a login wall looks like.
const SIGN_IN_PAGE: &str = "<!doctype html><html><body>Sign in to view this image</body></html>\n";

/// The response for attempt at image `id` that gets fault `kind`. `photo` is
/// what the id would have served; `stopping` turns true when the server
/// begins to shut down; `reset` ends the request's connection with an `RST`.
pub(crate) fn respond(
    kind: FaultKind,
    id: usize,
    photo: Bytes,
    content_type: &'static str,
    spec: &FaultSpec,
    stopping: watch::Receiver<bool>,
    reset: Reset,
) -> Response {
    match kind {
        FaultKind::InternalError => (StatusCode::INTERNAL_SERVER_ERROR, "origin: injected fault 500\n").into_response(),
        FaultKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, retry_after_value(spec.retry_after))],
            "origin: injected fault 503\n",
        )
            .into_response(),
        FaultKind::TooManyRequests => too_many_requests(spec.retry_after),
        FaultKind::NotFound => (StatusCode::NOT_FOUND, "no such image\n").into_response(),
        FaultKind::Reset => {
            let third = photo.len() / 3;
            drop_midway(photo, content_type, third, false)
        }
        FaultKind::Truncate => {
            let half = photo.len() / 2;
            drop_midway(photo, content_type, half, true)
        }
        FaultKind::Stall => stall(photo.len(), content_type, spec.stall, stopping),
        FaultKind::Drip => drip(photo, content_type, spec.drip_interval, stopping),
        FaultKind::Html => sign_in_page(),
        FaultKind::Redirect => redirect(&format!("/faults/redirect/{id}/{}", spec.redirect_hops.saturating_sub(1))),
        FaultKind::Loop => redirect(&format!("/faults/loop/{id}/0")),
        FaultKind::Large => large_body(spec.large_bytes),
        FaultKind::NoAi => with_robots_tag(photo, content_type, "noai"),
        FaultKind::ResetBefore => {
            // The head will be the connection's next write, and fail.
            reset.now();
            StatusCode::OK.into_response()
        }
        FaultKind::ResetMidway => {
            let third = photo.len() / 3;
            reset_midway(photo, content_type, third, reset)
        }
        FaultKind::Endless => endless_body(stopping),
    }
}

/// The photo, whole, with an `X-Robots-Tag` header of `value`.
pub(crate) fn with_robots_tag(photo: Bytes, content_type: &'static str, value: &str) -> Response {
    let length = photo.len();
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, length)
        .header("x-robots-tag", value)
        .body(Body::from(photo))
        .unwrap_or_else(|err| (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response())
}

/// `429 Too Many Requests` with `Retry-After`.
pub(crate) fn too_many_requests(retry_after: Duration) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after_value(retry_after))],
        "origin: too many requests\n",
    )
        .into_response()
}

/// The text of a `Retry-After` header: whole seconds when the delay is
/// whole, as RFC 9110 writes it; otherwise seconds with up to three
/// decimals (`0.25`), which the standard does not allow but which lets
/// tests honour the header without waiting a second.
pub(crate) fn retry_after_value(delay: Duration) -> String {
    let millis = delay.as_millis();
    if millis.is_multiple_of(1000) {
        return (millis / 1000).to_string();
    }
    let text = format!("{}.{:03}", millis / 1000, millis % 1000);
    text.trim_end_matches('0').to_string()
}

/// A `302 Found` to `location` (a path on this server: a relative reference
/// stays right whatever address the client used to reach us).
pub(crate) fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

/// `200` with a web page where an image was expected.
pub(crate) fn sign_in_page() -> Response {
    ([(header::CONTENT_TYPE, "text/html")], SIGN_IN_PAGE).into_response()
}

/// A body of `size` bytes that starts like a JPEG and goes on, streamed
/// without `Content-Length` so only a limit on bytes read stops it.
pub(crate) fn large_body(size: u64) -> Response {
    let chunk = jpeg_then_zeros();
    let chunks = stream::unfold(size, move |left| {
        let chunk = chunk.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(chunk.len() as u64);
            Some((Ok::<_, io::Error>(chunk.slice(..take as usize)), left - take))
        }
    });
    build(Response::builder().header(header::CONTENT_TYPE, "image/jpeg"), Body::from_stream(chunks))
}

/// A body that starts like a JPEG and never ends, without
/// `Content-Length`: zeros until the client hangs up or the server stops
/// (then the connection drops).
fn endless_body(stopping: watch::Receiver<bool>) -> Response {
    let first = jpeg_then_zeros();
    let zeros = Bytes::from(vec![0u8; LARGE_CHUNK]);
    let rest = stream::repeat(zeros).map(Ok::<_, io::Error>).take_until(stopped(stopping));
    // An error, not an end: a stop must not look like a body complete.
    let cut = stream::once(async {
        Err::<Bytes, _>(io::Error::new(io::ErrorKind::Interrupted, "origin stopped an endless body"))
    });
    let chunks = stream::once(async move { Ok(first) }).chain(rest).chain(cut);
    build(Response::builder().header(header::CONTENT_TYPE, "image/jpeg"), Body::from_stream(chunks))
}

/// One chunk of a `large` or `endless` body: a JPEG's first bytes, zeros.
fn jpeg_then_zeros() -> Bytes {
    let mut chunk = vec![0u8; LARGE_CHUNK];
    chunk[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    Bytes::from(chunk)
}

/// The head of `photo` with its whole `Content-Length`, its first `keep`
/// bytes, then a TCP reset (see `reset.rs`).
fn reset_midway(photo: Bytes, content_type: &'static str, keep: usize, reset: Reset) -> Response {
    let length = photo.len();
    let part = stream::iter([Ok(photo.slice(..keep.min(length)))]);
    let cut = stream::once(async move {
        // As in `drop_midway`: let the part reach the client first.
        tokio::time::sleep(CUT_PAUSE).await;
        reset.now();
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "origin reset the connection"))
    });
    let head = Response::builder().header(header::CONTENT_TYPE, content_type).header(header::CONTENT_LENGTH, length);
    build(head, Body::from_stream(part.chain(cut)))
}

/// The first `keep` bytes of `photo`, then the connection drops. With
/// `content_length` the head promises the whole photo (a truncated body);
/// without, the body is chunked and its last chunk never comes (a reset).
fn drop_midway(photo: Bytes, content_type: &'static str, keep: usize, content_length: bool) -> Response {
    let length = photo.len();
    let part = stream::iter([Ok(photo.slice(..keep.min(length)))]);
    let cut = stream::once(async {
        tokio::time::sleep(CUT_PAUSE).await;
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "origin dropped the connection"))
    });
    let parts = part.chain(cut);
    let mut head = Response::builder().header(header::CONTENT_TYPE, content_type);
    if content_length {
        head = head.header(header::CONTENT_LENGTH, length);
    }
    build(head, Body::from_stream(parts))
}

/// The head of a `length`-byte photo, then silence until `stall` has passed
/// or the server stops, then the connection drops.
fn stall(length: usize, content_type: &'static str, stall: Duration, stopping: watch::Receiver<bool>) -> Response {
    let silence = stream::once(async move {
        tokio::select! {
            () = tokio::time::sleep(stall) => {}
            () = stopped(stopping) => {}
        }
        Err::<Bytes, _>(io::Error::new(io::ErrorKind::TimedOut, "origin ended a stalled response"))
    });
    let head = Response::builder().header(header::CONTENT_TYPE, content_type).header(header::CONTENT_LENGTH, length);
    build(head, Body::from_stream(silence))
}

/// The whole photo, one byte after each `interval`; the connection drops if
/// the server stops first.
fn drip(photo: Bytes, content_type: &'static str, interval: Duration, stopping: watch::Receiver<bool>) -> Response {
    let length = photo.len();
    let bytes = stream::unfold((photo, stopping), move |(mut rest, stopping)| async move {
        if rest.is_empty() {
            return None;
        }
        let waited = tokio::select! {
            () = tokio::time::sleep(interval) => true,
            () = stopped(stopping.clone()) => false,
        };
        if !waited {
            let err = io::Error::new(io::ErrorKind::Interrupted, "origin stopped while dripping");
            return Some((Err(err), (Bytes::new(), stopping)));
        }
        let byte = rest.split_to(1);
        Some((Ok(byte), (rest, stopping)))
    });
    let head = Response::builder().header(header::CONTENT_TYPE, content_type).header(header::CONTENT_LENGTH, length);
    build(head, Body::from_stream(bytes))
}

/// Completes when the server begins to stop (or can no longer say so).
pub(crate) async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

fn build(head: axum::http::response::Builder, body: Body) -> Response {
    head.body(body).unwrap_or_else(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response())
}
