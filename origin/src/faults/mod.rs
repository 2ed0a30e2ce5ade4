//! # Faults on demand: the ways a real image host fails, chosen per image
//!
//! Real image hosts fail in every way: errors, throttling, connections that
//! drop or hang, web pages where a photo was expected, redirect chains and
//! loops, bodies far too large. The retry, resume and polite-client code of
//! this workspace is tested against this module, so a failure happens on
//! demand and *repeatably*: which fault `/images/{id}.jpg` gets depends only
//! on the spec's seed, the id and how many times that id was asked for
//! before ([`FaultSpec::fault_at`]). Tests compute what to expect with
//! [`FaultSpec::fault_for`] instead of hard-coding it.
//!
//! # Spec
//! A comma-separated list, e.g.
//! `500=5,503=3,429=4,reset=2,truncate=2,stall=1,drip=1,html=2,redirect=2,loop=1,large=1,cap=8`.
//! `KIND=P` gives that kind `P` percent of the ids (whole numbers, at most
//! 100 in all); the other keys are settings ([`FaultSpec`] has one field
//! each): `cap=N`, `retry-after=SECS`, `hops=N`, `stall-ms=MS`, `drip-ms=MS`,
//! `large-bytes=N`. The seed is not in the text: set [`FaultSpec::seed`]
//! (the binary's `--seed`).
//!
//! # Kinds, and how long they last
//! *Transient* kinds spoil only the first 1 or 2 attempts at an id (how many
//! is fixed by the seed and the id, never more than [`MAX_FAILING_ATTEMPTS`]);
//! every later attempt gets the real photo. So a client that makes
//! `MAX_FAILING_ATTEMPTS + 1` attempts saves every image with a transient
//! fault.
//!
//! | kind | lasts | what is sent |
//! |------|-------|--------------|
//! | `500` | transient | `500`, a one-line text body |
//! | `503` | transient | `503`, `Retry-After`, a one-line text body |
//! | `429` | transient | `429`, `Retry-After`, a one-line text body |
//! | `reset` | transient | `200`, chunked (no `Content-Length`), the first third of the photo, then the connection is dropped without the last chunk |
//! | `truncate` | transient | `200`, `Content-Length` of the whole photo, the first half, then the connection is closed |
//! | `stall` | transient | `200` and `Content-Length`, then nothing until [`FaultSpec::stall`] has passed or the server stops; then the connection is dropped |
//! | `drip` | transient | the whole photo with its `Content-Length`, one byte every [`FaultSpec::drip_interval`] |
//! | `404` | every attempt | `404`, as for an id that does not exist |
//! | `html` | every attempt | `200`, `Content-Type: text/html`, a sign-in page |
//! | `loop` | every attempt | `302` to `/faults/loop/{id}/0`, which redirects to `…/1`, which redirects back to `…/0` |
//! | `large` | every attempt | `200`, `image/jpeg`, no `Content-Length`, a body that starts like a JPEG and runs to [`FaultSpec::large_bytes`] |
//! | `redirect` | every attempt | [`FaultSpec::redirect_hops`] `302`s (`/faults/redirect/{id}/{left}`), the last one to the real photo |
//! | `noai` | every attempt | `200`, the real photo, with `X-Robots-Tag: noai`: the site opts out of AI use |
//! | `rst-before` | transient | nothing: the request is read, then the connection is reset (TCP `RST`) |
//! | `rst-midway` | transient | `200`, `Content-Length` of the whole photo, the first third, then the connection is reset (TCP `RST`) |
//! | `endless` | every attempt | `200`, `image/jpeg`, no `Content-Length`, a JPEG's first bytes and then zeros until the client hangs up or the server stops |
//!
//! `reset` and `truncate` end the connection in order (a `FIN`: the client
//! reads an early end of the body); the `rst-` kinds abort it (an `RST`:
//! the client's read fails with "connection reset"), as a host that
//! crashes does (`reset.rs` says how the origin sends one). `endless` is
//! `large` without an end: only the client's body limit or deadline stops
//! it.
//!
//! A `redirect` is recoverable on every attempt (a client that follows
//! enough redirects gets the photo); `404`, `html`, `loop`, `large`
//! and `endless` are not recoverable at all ([`Fault::is_recoverable`]). A `noai` image is
//! served whole, so it counts as recoverable, but a client that honours
//! `X-Robots-Tag` (img2dataset, and this workspace's downloaders by default)
//! refuses it on every attempt.
//!
//! `Retry-After` carries [`FaultSpec::retry_after`] in whole seconds when it
//! is whole (`1`, the default, as RFC 9110 writes it), and otherwise as a
//! decimal (`0.25`): not standard, but it lets tests honour the header
//! without waiting a second; a strict parser sees no usable value. No
//! HTTP-date form is sent.
//!
//! `cap=N` is not a share of the ids: beyond `N` image requests in flight at
//! once (from arrival until the body is sent), the origin answers `429` with
//! `Retry-After` at once, without latency, as a host that serves only `N` at
//! a time does. A request refused by the cap is not an attempt: it does not
//! advance the id's count, so the faults stay repeatable under any
//! concurrency.

// `/robots.txt` has behaviours of its own (allowing, disallowing, missing,
// 500, slow, endless, moved), one per origin rather than per id: `robots.rs`.
mod reset;
mod respond;
mod robots;
mod spec;

pub use reset::{Reset, ResettableListener, ResettableStream};
pub(crate) use respond::{
    large_body, redirect, respond, retry_after_value, sign_in_page, too_many_requests, with_robots_tag,
};
pub use robots::{ALLOWING, DEFAULT_SLOW, DISALLOWING, DISALLOWING_ALL, RobotsFile, RobotsFileError};
pub use spec::{
    DEFAULT_DRIP_INTERVAL, DEFAULT_LARGE_BYTES, DEFAULT_REDIRECT_HOPS, DEFAULT_RETRY_AFTER, DEFAULT_STALL, FaultSpec,
    FaultSpecError,
};

/// The most attempts at one id that a transient fault spoils. Two, so that a
/// retry policy is exercised beyond its first retry, yet a client with the
/// usual two or three retries recovers every transient image.
pub const MAX_FAILING_ATTEMPTS: u32 = 2;

/// One way the origin can fail an image request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `500 Internal Server Error`.
    InternalError,
    /// `503 Service Unavailable`, with `Retry-After`.
    Unavailable,
    /// `429 Too Many Requests`, with `Retry-After`.
    TooManyRequests,
    /// `404 Not Found`: the image was deleted.
    NotFound,
    /// Part of the body, then the connection is dropped.
    Reset,
    /// A `Content-Length` the body does not reach.
    Truncate,
    /// Headers, then silence.
    Stall,
    /// The photo one byte at a time.
    Drip,
    /// A web page where a photo was expected.
    Html,
    /// A chain of redirects that ends at the photo.
    Redirect,
    /// A redirect loop.
    Loop,
    /// A body far larger than any photo.
    Large,
    /// The photo, with `X-Robots-Tag: noai` (the site's AI opt-out).
    NoAi,
    /// A TCP reset before any byte of the response.
    ResetBefore,
    /// Part of the body, then a TCP reset.
    ResetMidway,
    /// A body that never ends.
    Endless,
}

impl FaultKind {
    /// Every kind, in the order of the spec's text and of the shares of ids.
    pub const ALL: [FaultKind; 16] = [
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::TooManyRequests,
        FaultKind::NotFound,
        FaultKind::Reset,
        FaultKind::Truncate,
        FaultKind::Stall,
        FaultKind::Drip,
        FaultKind::Html,
        FaultKind::Redirect,
        FaultKind::Loop,
        FaultKind::Large,
        // Last, so that adding them moved no id of an older spec's shares.
        FaultKind::NoAi,
        FaultKind::ResetBefore,
        FaultKind::ResetMidway,
        FaultKind::Endless,
    ];

    /// The name in a spec: `500`, `reset`, ...
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::InternalError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::TooManyRequests => "429",
            FaultKind::NotFound => "404",
            FaultKind::Reset => "reset",
            FaultKind::Truncate => "truncate",
            FaultKind::Stall => "stall",
            FaultKind::Drip => "drip",
            FaultKind::Html => "html",
            FaultKind::Redirect => "redirect",
            FaultKind::Loop => "loop",
            FaultKind::Large => "large",
            FaultKind::NoAi => "noai",
            FaultKind::ResetBefore => "rst-before",
            FaultKind::ResetMidway => "rst-midway",
            FaultKind::Endless => "endless",
        }
    }

    /// The kind a spec names, if any.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether the fault hits only the first attempts at an id (see the
    /// module's table); the others hit every attempt.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FaultKind::InternalError
                | FaultKind::Unavailable
                | FaultKind::TooManyRequests
                | FaultKind::Reset
                | FaultKind::Truncate
                | FaultKind::Stall
                | FaultKind::Drip
                | FaultKind::ResetBefore
                | FaultKind::ResetMidway
        )
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The fault one id gets, and for how many attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What is sent instead of the photo.
    pub kind: FaultKind,
    /// How many attempts at the id get the fault, counting from the first:
    /// `Some(n)` for a transient kind (`1..=MAX_FAILING_ATTEMPTS`), after
    /// which the id serves its photo; `None` for every attempt.
    pub attempts: Option<u32>,
}

impl Fault {
    /// Whether attempt `attempt` (0 for the first) at the id gets this fault.
    pub fn applies_to(&self, attempt: u32) -> bool {
        self.attempts.is_none_or(|attempts| attempt < attempts)
    }

    /// Whether a client that retries `MAX_FAILING_ATTEMPTS` times and follows
    /// redirects ends up with the real photo: true for the transient kinds,
    /// for `redirect`, and for `noai` (whose photo is served whole, though a
    /// client that honours `X-Robots-Tag` refuses it).
    pub fn is_recoverable(&self) -> bool {
        self.kind.is_transient() || matches!(self.kind, FaultKind::Redirect | FaultKind::NoAi)
    }
}
