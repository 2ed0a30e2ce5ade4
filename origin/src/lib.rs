//! # origin: a local image host that stands in for the internet
//!
//! Our machines reach no internet and a newcomer may have no API key, yet
//! every methodology in this workspace is about waiting on a network. This
//! crate is that network: a real HTTP server on `127.0.0.1` that serves
//! photo-like JPEGs after a realistic, configurable delay, so that serial,
//! threaded, multi-process and async downloads differ here exactly as they
//! would against a photo API.
//!
//! # Routes
//! - `GET /images/{id}.jpg` for ids `0..count`: a deterministic photo.
//!   Generated photos come from a pool of [`PHOTO_POOL`] pictures, each id
//!   made unique by a JPEG comment; with [`OriginConfig::photos_dir`] the
//!   folder's files are served instead, cycling through them. With
//!   [`OriginConfig::faults`], a seeded share of the ids fail instead: `500`,
//!   `503`, `429`, `404`, a reset or truncated body, a TCP reset before
//!   or midway through the response, a stall, a drip, a web page, a
//!   redirect chain or loop, an oversized or endless body, the photo with an
//!   `X-Robots-Tag: noai` opt-out; and a cap on requests
//!   in flight answers the excess `429`. Which id fails how, and for how many
//!   attempts, is in [`faults`]; [`RunningOrigin::stats`] counts what was sent.
//! - `GET /urls.txt?count=N`: one image URL a line (default: every id).
//! - `GET /health`: `ok`.
//! - `GET /robots.txt`: what [`OriginConfig::robots`] says (by default
//!   `404`, no robots.txt): a file that allows or disallows, a `500`, one
//!   that comes too late or never ends ([`faults::RobotsFile`]);
//!   [`OriginStats::robots_requests`] counts the requests.
//! - Fault injection, for tests and reliability demos:
//!   `/faults/status/{code}` (an empty response with that status),
//!   `/faults/delay/{ms}` (a photo after `ms` milliseconds),
//!   `/faults/html` (a web page where an image was expected),
//!   `/faults/large/{bytes}` (a body of that size that starts like a JPEG,
//!   with no `Content-Length`), `/faults/truncated` (promises a photo, then
//!   drops the connection; clients see an empty reply),
//!   `/faults/robots/{value}` (photo 0 with `X-Robots-Tag: {value}`,
//!   percent-decoded, e.g. `/faults/robots/img2dataset%3A%20noai`).
//! - The hops of the injected redirects: `/faults/redirect/{id}/{left}` (one
//!   more `302` while `left > 0`, then the photo of `id`) and
//!   `/faults/loop/{id}/{step}` (steps 0 and 1 redirect to each other).
//!
//! Every image response, faulty or not, waits `latency ± jitter` first (fixed
//! per id, so runs are repeatable) without blocking other requests, and a
//! photo can be paced to a bandwidth with [`OriginConfig::rate`]. Only the
//! cap's refusals come at once.
//!
//! # Use
//! In-process: [`start`] runs the server on a background thread and hands
//! back its base URL. As a program: `cargo run --release -p origin -- --port 0
//! --count 100` prints the base URL on the first line of stdout.

pub mod faults;
mod photo;
mod stats;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use tokio::sync::{oneshot, watch};

pub use faults::{Fault, FaultKind, FaultSpec, FaultSpecError, MAX_FAILING_ATTEMPTS, RobotsFile};
pub use photo::generate_jpeg;
pub use stats::OriginStats;

use stats::{Counters, InFlight};

/// How many distinct generated photos there are; ids beyond share a picture
/// but not their bytes. Enough variety that no decoder or cache sees the same
/// picture twice in a row, few enough to generate in well under a second of
/// CPU and hold in ~4 MB.
pub const PHOTO_POOL: usize = 24;

/// The size of a body chunk when pacing to a bandwidth: small enough that
/// pacing is smooth, large enough that the timer is not the bottleneck.
const PACING_CHUNK: usize = 16 * 1024;

/// Everything the origin can be told.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// Images served are `0..count`; others are 404.
    pub count: usize,
    /// Mean delay before each image response.
    pub latency: Duration,
    /// Each image's delay is `latency` plus a fixed per-id offset in `-jitter..=jitter`.
    pub jitter: Duration,
    /// Bandwidth per response in bytes a second; `None` sends as fast as possible.
    pub rate: Option<u64>,
    /// Serve the photos in this folder instead of generated ones.
    pub photos_dir: Option<PathBuf>,
    /// Width of generated photos.
    pub width: u32,
    /// Height of generated photos.
    pub height: u32,
    /// Varies every generated photo and every per-id delay.
    pub seed: u64,
    /// Faults injected on `/images/{id}.jpg`; the default injects none.
    pub faults: FaultSpec,
    /// What `/robots.txt` answers; the default is `404` (none).
    pub robots: RobotsFile,
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            count: 100,
            latency: Duration::from_millis(200),
            jitter: Duration::from_millis(100),
            rate: None,
            photos_dir: None,
            width: 1080,
            height: 720,
            seed: 2024,
            faults: FaultSpec::default(),
            robots: RobotsFile::default(),
        }
    }
}

impl OriginConfig {
    /// The delay image `id` waits before its response: `latency + jitter * u`
    /// with `u` in `-1..=1` fixed by the seed and the id.
    pub fn latency_for(&self, id: usize) -> Duration {
        let mut rng = fastrand::Rng::with_seed(self.seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let offset = self.jitter.as_secs_f64() * (rng.f64() * 2.0 - 1.0);
        Duration::from_secs_f64((self.latency.as_secs_f64() + offset).max(0.0))
    }
}

/// An origin running on a background thread. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningOrigin {
    base_url: String,
    counters: Arc<Counters>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningOrigin {
    /// `http://127.0.0.1:PORT`, with no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of image `id`.
    pub fn image_url(&self, id: usize) -> String {
        format!("{}/images/{id}.jpg", self.base_url)
    }

    /// What the origin has counted so far.
    pub fn stats(&self) -> OriginStats {
        self.counters.snapshot()
    }

    /// How many requests for image `id` the origin has taken (requests
    /// refused by the cap are not attempts).
    pub fn attempts(&self, id: usize) -> u32 {
        self.counters.attempts(id)
    }
}

impl Drop for RunningOrigin {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // Graceful shutdown waits for open keep-alive connections, which a
        // client may hold; the thread ends with the process if it must.
        drop(self.thread.take());
    }
}

/// Starts an origin on `127.0.0.1` with an ephemeral port, on its own thread
/// with its own tokio runtime, and returns once its photos are generated and
/// it accepts connections.
///
/// It has a runtime of its own so that it works the same under a blocking
/// client, a threaded one or another async runtime, and never competes with
/// the caller's executor.
pub fn start(config: OriginConfig) -> io::Result<RunningOrigin> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("origin").enable_all().build()?;
    let origin = Origin::new(config, base_url.clone())?;
    let counters = Arc::clone(&origin.counters);
    let (shutdown, stopped) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new().name("origin".into()).spawn(move || {
        runtime.block_on(async move {
            let served = async {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                warm_up(&origin).await?;
                let _ = ready_tx.send(());
                serve(listener, origin, async {
                    let _ = stopped.await;
                })
                .await
            };
            if let Err(err) = served.await {
                eprintln!("origin: server stopped: {err}");
            }
        });
    })?;
    // Wait for the photo cache, so the caller's clock measures downloads and
    // not JPEG encoding; an error on the way shows as a closed channel.
    ready_rx.recv().map_err(|_| io::Error::other("the origin stopped before it was ready (see the message above)"))?;
    Ok(RunningOrigin { base_url, counters, shutdown: Some(shutdown), thread: Some(thread) })
}

/// Serves `origin` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    origin: Origin,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let stopping = Arc::clone(&origin.stopping);
    let shutdown = async move {
        shutdown.await;
        // Graceful shutdown waits for open responses: end the stalls and
        // drips, which would otherwise hold it for up to their full length.
        stopping.send_replace(true);
    };
    // Each connection carries the switch that lets a fault reset it.
    let service = routes(origin).into_make_service_with_connect_info::<faults::Reset>();
    axum::serve(faults::ResettableListener(listener), service).with_graceful_shutdown(shutdown).await
}

/// Warms the photo cache: generates every photo the origin will serve, so the
/// first requests of a benchmark do not pay for generation.
pub async fn warm_up(origin: &Origin) -> io::Result<()> {
    let jobs: Vec<_> = (0..origin.config.count.min(PHOTO_POOL))
        .map(|id| {
            let origin = origin.clone();
            tokio::task::spawn_blocking(move || origin.photo(id))
        })
        .collect();
    for job in jobs {
        job.await.map_err(io::Error::other)??;
    }
    Ok(())
}

/// The state shared by every request: the configuration, the photo cache
/// and the tallies.
#[derive(Debug, Clone)]
pub struct Origin {
    config: Arc<OriginConfig>,
    base_url: Arc<str>,
    generated: Arc<[OnceLock<Bytes>; PHOTO_POOL]>,
    /// Files of `photos_dir`, sorted, and their contents once read.
    folder: Arc<Vec<PathBuf>>,
    folder_cache: Arc<Mutex<HashMap<usize, Bytes>>>,
    counters: Arc<Counters>,
    /// Turns true when the server begins to stop, ending stalls and drips.
    stopping: Arc<watch::Sender<bool>>,
}

/// The routes, on a shared state.
fn routes(state: Origin) -> Router {
    Router::new()
        .route("/images/{file}", get(image))
        .route("/urls.txt", get(url_list))
        .route("/health", get(|| async { "ok" }))
        .route("/robots.txt", get(robots_txt))
        .route("/faults/status/{code}", get(fault_status))
        .route("/faults/delay/{ms}", get(fault_delay))
        .route("/faults/html", get(fault_html))
        .route("/faults/large/{bytes}", get(fault_large))
        .route("/faults/truncated", get(fault_truncated))
        .route("/faults/robots/{value}", get(fault_robots))
        .route("/faults/redirect/{id}/{left}", get(redirect_hop))
        .route("/faults/loop/{id}/{step}", get(redirect_loop))
        .with_state(state)
}

impl Origin {
    /// Prepares the state; `base_url` is what `/urls.txt` puts before each
    /// path. Reads the listing of `photos_dir` if one is set.
    pub fn new(config: OriginConfig, base_url: String) -> io::Result<Self> {
        let folder = match &config.photos_dir {
            Some(dir) => list_photos(dir)?,
            None => Vec::new(),
        };
        Ok(Origin {
            config: Arc::new(config),
            base_url: base_url.into(),
            generated: Arc::new(std::array::from_fn(|_| OnceLock::new())),
            folder: Arc::new(folder),
            folder_cache: Arc::default(),
            counters: Arc::default(),
            stopping: Arc::new(watch::Sender::new(false)),
        })
    }

    /// What the origin has counted so far.
    pub fn stats(&self) -> OriginStats {
        self.counters.snapshot()
    }

    /// The bytes served for image `id` and their content type.
    ///
    /// Generated photos are encoded once and cached; each id then gets its
    /// own bytes by a JPEG comment (COM segment) right after the start
    /// marker, which every decoder skips.
    pub fn photo(&self, id: usize) -> io::Result<(Bytes, &'static str)> {
        if !self.folder.is_empty() {
            return self.folder_photo(id);
        }
        let base = self.generated[id % PHOTO_POOL].get_or_init(|| {
            let seed = self.config.seed.wrapping_add(id as u64 % PHOTO_POOL as u64);
            Bytes::from(photo::generate_jpeg(seed, self.config.width, self.config.height))
        });
        let comment = format!("origin image {id}");
        let mut bytes = Vec::with_capacity(base.len() + comment.len() + 4);
        bytes.extend_from_slice(&base[..2]); // SOI
        bytes.extend_from_slice(&[0xFF, 0xFE]);
        bytes.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
        bytes.extend_from_slice(comment.as_bytes());
        bytes.extend_from_slice(&base[2..]);
        Ok((Bytes::from(bytes), "image/jpeg"))
    }

    fn folder_photo(&self, id: usize) -> io::Result<(Bytes, &'static str)> {
        let path = &self.folder[id % self.folder.len()];
        let content_type = content_type_of(path);
        if let Some(bytes) = self.folder_cache.lock().map_err(|_| io::Error::other("cache poisoned"))?.get(&id) {
            return Ok((bytes.clone(), content_type));
        }
        let bytes = Bytes::from(std::fs::read(path)?);
        self.folder_cache.lock().map_err(|_| io::Error::other("cache poisoned"))?.insert(id, bytes.clone());
        Ok((bytes, content_type))
    }
}

fn list_photos(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && content_type_of(path) != "application/octet-stream")
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no .jpg, .jpeg, .png or .webp files in {}", dir.display()),
        ));
    }
    Ok(files)
}

fn content_type_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// `GET /images/{id}.jpg`: the photo, or the fault the spec gives this
/// attempt at `id`.
async fn image(
    State(origin): State<Origin>,
    ConnectInfo(reset): ConnectInfo<faults::Reset>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    let Some(id) = file.strip_suffix(".jpg").and_then(|id| id.parse::<usize>().ok()) else {
        return (StatusCode::NOT_FOUND, "no such image\n").into_response();
    };
    if id >= origin.config.count {
        return (StatusCode::NOT_FOUND, "no such image\n").into_response();
    }
    let counters = &origin.counters;
    let faults = &origin.config.faults;
    counters.image_requests.fetch_add(1, Ordering::Relaxed);
    // The cap refuses at once, as a busy host does, and a refusal is not an
    // attempt: the faults of an id stay the same however busy the origin is.
    let Some(slot) = counters.admit(faults.cap) else {
        counters.capped.fetch_add(1, Ordering::Relaxed);
        counters.too_many_requests.fetch_add(1, Ordering::Relaxed);
        return faults::too_many_requests(faults.retry_after);
    };
    let fault = faults.fault_at(id, counters.next_attempt(id));
    // Wait and generate at once: a cold cache costs no more than the latency.
    // Faults wait too (a failing host is not a fast one), and most of them
    // need the photo's bytes or length.
    let generate = {
        let origin = origin.clone();
        tokio::task::spawn_blocking(move || origin.photo(id))
    };
    let (_, photo) = tokio::join!(tokio::time::sleep(origin.config.latency_for(id)), generate);
    let (bytes, content_type) = match photo {
        Ok(Ok(photo)) => photo,
        Ok(Err(err)) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
        Err(err) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
    };
    let response = match fault {
        None => {
            counters.photos_served.fetch_add(1, Ordering::Relaxed);
            paced(bytes, content_type, origin.config.rate)
        }
        Some(kind) => {
            counters.faults_injected.fetch_add(1, Ordering::Relaxed);
            if kind == FaultKind::TooManyRequests {
                counters.too_many_requests.fetch_add(1, Ordering::Relaxed);
            }
            faults::respond(kind, id, bytes, content_type, faults, origin.stopping.subscribe(), reset)
        }
    };
    held_until_sent(response, slot)
}

/// `response`, keeping `slot` taken until its body has been sent or
/// abandoned: a slow body is a request in flight, as the cap sees it.
fn held_until_sent(response: Response, slot: InFlight) -> Response {
    let (mut parts, body) = response.into_parts();
    // A stream has no known size; keep the framing a sized body would get.
    if let Some(length) = body.size_hint().exact()
        && !parts.headers.contains_key(header::CONTENT_LENGTH)
    {
        parts.headers.insert(header::CONTENT_LENGTH, length.into());
    }
    let body = body.into_data_stream().map(move |chunk| {
        let _in_flight = &slot;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// A response with `Content-Length`, sent in one piece or paced to `rate`.
fn paced(bytes: Bytes, content_type: &'static str, rate: Option<u64>) -> Response {
    let length = bytes.len();
    let body = match rate {
        None | Some(0) => Body::from(bytes),
        Some(rate) => {
            let pause = Duration::from_secs_f64(PACING_CHUNK as f64 / rate as f64);
            let chunks = stream::unfold(bytes, move |mut rest| async move {
                if rest.is_empty() {
                    return None;
                }
                let chunk = rest.split_to(PACING_CHUNK.min(rest.len()));
                tokio::time::sleep(pause).await;
                Some((Ok::<_, io::Error>(chunk), rest))
            });
            Body::from_stream(chunks)
        }
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, length)
        .body(body)
        .unwrap_or_else(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response())
}

#[derive(Debug, serde::Deserialize)]
struct RobotsQuery {
    moved: Option<u8>,
}

/// `GET /robots.txt`: the configured behaviour, counted (each hop of a
/// redirect too).
async fn robots_txt(State(origin): State<Origin>, Query(query): Query<RobotsQuery>) -> Response {
    origin.counters.robots_requests.fetch_add(1, Ordering::Relaxed);
    origin.config.robots.clone().respond(query.moved.is_some(), origin.stopping.subscribe()).await
}

#[derive(Debug, serde::Deserialize)]
struct UrlListQuery {
    count: Option<usize>,
}

/// `GET /urls.txt?count=N`
async fn url_list(State(origin): State<Origin>, Query(query): Query<UrlListQuery>) -> impl IntoResponse {
    let count = query.count.unwrap_or(origin.config.count).min(origin.config.count);
    let mut text = String::with_capacity(count * (origin.base_url.len() + 20));
    for id in 0..count {
        text.push_str(&format!("{}/images/{id}.jpg\n", origin.base_url));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
}

/// `GET /faults/status/{code}`: an empty response with that status.
async fn fault_status(UrlPath(code): UrlPath<u16>) -> Response {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST).into_response()
}

/// `GET /faults/delay/{ms}`: photo 0, after `ms` milliseconds.
async fn fault_delay(State(origin): State<Origin>, UrlPath(ms): UrlPath<u64>) -> Response {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    match tokio::task::spawn_blocking(move || origin.photo(0)).await {
        Ok(Ok((bytes, content_type))) => paced(bytes, content_type, None),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /faults/html`: what a login wall or an error page looks like.
async fn fault_html() -> Response {
    faults::sign_in_page()
}

/// `GET /faults/large/{bytes}`: a body that starts like a JPEG and goes on,
/// streamed without `Content-Length` so only a limit on bytes read stops it.
async fn fault_large(UrlPath(size): UrlPath<u64>) -> Response {
    faults::large_body(size)
}

/// `GET /faults/robots/{value}`: photo 0 with `X-Robots-Tag: {value}`, as
/// a site that opts out of some uses of its images sends it.
async fn fault_robots(State(origin): State<Origin>, UrlPath(value): UrlPath<String>) -> Response {
    match tokio::task::spawn_blocking(move || origin.photo(0)).await {
        Ok(Ok((bytes, content_type))) => faults::with_robots_tag(bytes, content_type, &value),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /faults/truncated`: promises a whole photo, sends half, then drops
/// the connection, as a server that crashes mid-response does.
///
/// In fact hyper discards its buffered head and half body with the
/// connection, so a client sees an empty reply. Kept as it is because the
/// download crates' tests classify this route's error; the `truncate` fault
/// of `/images/{id}.jpg` pauses before the cut and does deliver the half.
async fn fault_truncated(State(origin): State<Origin>) -> Response {
    let Ok(Ok((bytes, content_type))) = tokio::task::spawn_blocking(move || origin.photo(0)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let length = bytes.len();
    let half = bytes.slice(..length / 2);
    let parts =
        stream::iter([Ok(half), Err(io::Error::new(io::ErrorKind::ConnectionReset, "origin dropped the connection"))]);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, length)
        .body(Body::from_stream(parts))
        .unwrap_or_else(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response())
}

/// `GET /faults/redirect/{id}/{left}`: a hop of the `redirect` fault's
/// chain: one more `302` while `left > 0`, then the photo of `id`. The hops
/// wait no latency and take no slot of the cap: the image request that
/// started the chain did.
async fn redirect_hop(State(origin): State<Origin>, UrlPath((id, left)): UrlPath<(usize, u32)>) -> Response {
    if id >= origin.config.count {
        return (StatusCode::NOT_FOUND, "no such image\n").into_response();
    }
    if left > 0 {
        return faults::redirect(&format!("/faults/redirect/{id}/{}", left - 1));
    }
    let counters = Arc::clone(&origin.counters);
    let rate = origin.config.rate;
    match tokio::task::spawn_blocking(move || origin.photo(id)).await {
        Ok(Ok((bytes, content_type))) => {
            counters.photos_served.fetch_add(1, Ordering::Relaxed);
            paced(bytes, content_type, rate)
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /faults/loop/{id}/{step}`: the `loop` fault: step 0 redirects to
/// step 1 and any other step back to 0, for ever.
async fn redirect_loop(UrlPath((id, step)): UrlPath<(usize, u32)>) -> Response {
    faults::redirect(&format!("/faults/loop/{id}/{}", u32::from(step == 0)))
}
