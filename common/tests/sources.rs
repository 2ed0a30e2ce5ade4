//! The real image sources, as a user runs them: `normal_run` against local
//! servers that speak the Unsplash and Imgur APIs' JSON (field names and
//! nesting as the APIs document them) on 127.0.0.1, with `api_base`
//! pointing there, and photos served by the embedded origin.
//!
//! Through `normal_run`, the thinnest binary (a loop around `common`), built
//! for the test: what is checked is what a user sees (the exit status, the
//! one line that says why a listing stopped, no key in any output).

#![allow(clippy::unwrap_used)] // a test that cannot start its server should panic

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use origin::{OriginConfig, RunningOrigin};
use serde_json::{Value, json};

/// `normal_run`, built once per test process from the sources as they are.
fn normal_run() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            test_servers::binaries::build(&["normal_run"]).join(format!("normal_run{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// The key the fake APIs accept. The fake 401 answer echoes whatever key it
/// was sent, as a careless server might, so a leak would show.
const KEY: &str = "sekret-key-6b1f0e";

/// How a fake API behaves.
#[derive(Debug, Clone, Default)]
struct Behaviour {
    /// Answer this many calls, then 403 "Rate Limit Exceeded" / 429.
    calls_allowed: Option<usize>,
    /// Send `X-Ratelimit-Remaining: 0` from this call on (1-based).
    remaining_zero_from: Option<usize>,
    /// Start the second call with this many ids of the first.
    repeat: usize,
    /// Imgur's status once `calls_allowed` are spent: 429, or 403 as it
    /// also answers when credits run out (default 429).
    limit_status: Option<u16>,
}

/// A fake API server on its own thread and runtime, like the origin.
struct FakeApi {
    base_url: String,
    calls: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct ApiState {
    calls: Arc<AtomicUsize>,
    behaviour: Behaviour,
    images: String,
}

impl FakeApi {
    fn start(router: fn(ApiState) -> Router, behaviour: Behaviour, images: &RunningOrigin) -> FakeApi {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let state = ApiState { calls: Arc::clone(&calls), behaviour, images: images.base_url().to_string() };
        runtime.spawn(async move { axum::serve(listener, router(state)).await });
        FakeApi { base_url, calls, _runtime: runtime }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A JSON body with its content type (the workspace's axum has no `Json`).
fn json_body(value: Value) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], value.to_string())
}

/// `None` if the request carries the right key, else the API's 401 answer.
fn refused(headers: &HeaderMap) -> Option<Response> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if auth == format!("Client-ID {KEY}") {
        return None;
    }
    let body = json!({ "errors": [format!("OAuth error: The access token is invalid ({auth})")] });
    Some((StatusCode::UNAUTHORIZED, json_body(body)).into_response())
}

// ---- Unsplash -------------------------------------------------------------

fn unsplash_routes(state: ApiState) -> Router {
    Router::new().route("/photos/random", get(unsplash_random)).with_state(state)
}

#[derive(serde::Deserialize)]
struct CountQuery {
    count: Option<usize>,
}

/// `GET /photos/random?count=N`, as documented: an array of photo objects.
async fn unsplash_random(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<CountQuery>,
) -> Response {
    if let Some(response) = refused(&headers) {
        return response;
    }
    if headers.get("accept-version").and_then(|v| v.to_str().ok()) != Some("v1") {
        return (StatusCode::BAD_REQUEST, "Accept-Version: v1 expected").into_response();
    }
    let call = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let behaviour = &state.behaviour;
    if behaviour.calls_allowed.is_some_and(|allowed| call > allowed) {
        return (
            StatusCode::FORBIDDEN,
            [("X-Ratelimit-Limit", "50"), ("X-Ratelimit-Remaining", "0")],
            "Rate Limit Exceeded",
        )
            .into_response();
    }
    let count = query.count.unwrap_or(1).min(30);
    // Photo numbers: call c's are 1000*c + i; the second call starts with
    // `repeat` of the first's, as random picks sometimes do.
    let repeats = if call == 2 { behaviour.repeat.min(count) } else { 0 };
    let numbers: Vec<usize> =
        (0..repeats).map(|i| 1000 + i).chain((0..count).map(|i| 1000 * call + i)).take(count).collect();
    let photos: Vec<Value> = numbers.iter().map(|&n| unsplash_photo(&state.images, n)).collect();
    let remaining = if behaviour.remaining_zero_from.is_some_and(|from| call >= from) { 0 } else { 50 - call.min(50) };
    (
        [("X-Ratelimit-Limit", "50".to_string()), ("X-Ratelimit-Remaining", remaining.to_string())],
        json_body(Value::Array(photos)),
    )
        .into_response()
}

/// A photo object with the documented fields and nesting. Photo `n` is
/// served by the origin as image `index(n)`.
fn unsplash_photo(images: &str, n: usize) -> Value {
    let id = format!("ph{n:06}X");
    let color = ["#0c2640", "#f3f3f3", "#a68c73"][n % 3];
    let height = if n.is_multiple_of(3) { 6000 } else { 2667 };
    let description = if n.is_multiple_of(2) { Value::Null } else { json!("A man drinking a coffee.") };
    let image = |params: &str| format!("{images}/images/{}.jpg?ixid=M3w{n}&{params}", image_index(n));
    json!({
        "id": id,
        "slug": format!("a-photo-{id}"),
        "created_at": "2024-05-03T11:00:28Z",
        "updated_at": "2024-07-10T11:00:01Z",
        "width": 4000 + n % 7,
        "height": height,
        "color": color,
        "blur_hash": "LFC$yHwc8^$yIAS$%M%00KxukYIp",
        "downloads": 1345,
        "likes": n % 50,
        "liked_by_user": false,
        "description": description,
        "alt_description": "a cup of coffee on a table",
        "urls": {
            "raw": image("ixlib=rb-4.0.3"),
            "full": image("ixlib=rb-4.0.3&q=85&fm=jpg&crop=entropy&cs=srgb"),
            "regular": image("ixlib=rb-4.0.3&q=80&w=1080"),
            "small": image("ixlib=rb-4.0.3&q=80&w=400"),
            "thumb": image("ixlib=rb-4.0.3&q=80&w=200"),
        },
        "links": {
            "self": format!("https://api.unsplash.com/photos/{id}"),
            "html": format!("https://unsplash.com/photos/{id}"),
            "download": format!("https://unsplash.com/photos/{id}/download"),
            "download_location": format!("https://api.unsplash.com/photos/{id}/download"),
        },
        "user": {
            "id": "QPxL2MGqfrw",
            "username": format!("user{}", n % 4),
            "name": format!("Photographer {}", n % 4),
            "portfolio_url": null,
            "bio": null,
            "location": "Montreal",
            "total_likes": 5,
            "total_photos": 10,
            "links": { "html": "https://unsplash.com/@user" },
        },
    })
}

/// The origin image serving photo `n`: distinct for every photo a test lists.
fn image_index(n: usize) -> usize {
    (n / 1000) * 30 + n % 1000
}

/// Images the origins of these tests serve: more than any test lists.
const ORIGIN_IMAGES: usize = 60 * 30;

fn image_origin() -> RunningOrigin {
    origin::start(OriginConfig {
        count: ORIGIN_IMAGES,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 48,
        height: 32,
        ..OriginConfig::default()
    })
    .unwrap()
}

// ---- Imgur ------------------------------------------------------------------

fn imgur_routes(state: ApiState) -> Router {
    Router::new().route("/3/gallery/random/random/{page}", get(imgur_gallery)).with_state(state)
}

/// `GET /3/gallery/random/random/{page}`: pages 0 and 1 of a mixed gallery
/// (stills, GIFs, an album, a video), then an empty page.
async fn imgur_gallery(State(state): State<ApiState>, headers: HeaderMap, UrlPath(page): UrlPath<usize>) -> Response {
    if let Some(response) = refused(&headers) {
        return response;
    }
    let call = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let limited = state.behaviour.calls_allowed.is_some_and(|allowed| call > allowed);
    let limits = [
        ("X-RateLimit-ClientLimit", "12500".to_string()),
        ("X-RateLimit-ClientRemaining", (12500 - call).to_string()),
        ("X-RateLimit-UserLimit", "2000".to_string()),
        ("X-RateLimit-UserRemaining", if limited { "0".to_string() } else { (2000 - call).to_string() }),
        ("X-RateLimit-UserReset", "1767225600".to_string()), // 2026-01-01 00:00 UTC
    ];
    if limited {
        let status = state.behaviour.limit_status.unwrap_or(429);
        let error = if status == 429 { "Too Many Requests" } else { "Forbidden" };
        let request = format!("/3/gallery/random/random/{page}");
        let body = json!({ "data": { "error": error, "request": request, "method": "GET" }, "success": false, "status": status });
        return (StatusCode::from_u16(status).unwrap(), limits, json_body(body)).into_response();
    }
    let data: Vec<Value> =
        if page < 2 { (0..10).map(|i| imgur_item(&state.images, page * 100 + i)).collect() } else { vec![] };
    (limits, json_body(json!({ "data": data, "success": true, "status": 200 }))).into_response()
}

/// Item `n` of the gallery: kinds cycle through jpeg, png, animated gif,
/// album, mp4; only jpeg and png are stills to keep.
fn imgur_item(images: &str, n: usize) -> Value {
    let id = format!("im{n:04}Z");
    let link = format!("{images}/images/{n}.jpg");
    match n % 5 {
        3 => json!({
            "id": id, "title": "an album", "description": null, "datetime": 1700000000,
            "cover": "abc", "account_url": "someone", "privacy": "public", "views": 10, "link": format!("https://imgur.com/a/{id}"),
            "ups": 3, "downs": 0, "points": 3, "score": 3, "is_album": true, "images_count": 2,
            "images": [ { "id": "inner1", "type": "image/jpeg", "animated": false, "width": 10, "height": 10, "link": format!("{images}/images/999.jpg") } ],
        }),
        kind => {
            let (mime, animated) = match kind {
                0 => ("image/jpeg", false),
                1 => ("image/png", false),
                2 => ("image/gif", true),
                _ => ("video/mp4", true),
            };
            json!({
                "id": id, "title": format!("picture {n}"), "description": null, "datetime": 1700000000,
                "type": mime, "animated": animated, "width": 640, "height": 480, "size": 12345,
                "views": 100, "bandwidth": 1234500, "link": link, "ups": 7, "downs": 1, "points": 6, "score": 6,
                "is_album": false, "account_url": format!("poster{}", n % 3), "nsfw": false, "in_gallery": true,
            })
        }
    }
}

// ---- helpers ----------------------------------------------------------------

/// Runs normal_run in `dir` with `config` as its config.ini and no keys in
/// the environment.
fn run(dir: &Path, config: &str, args: &[&str]) -> Output {
    std::fs::write(dir.join("config.ini"), config).unwrap();
    Command::new(normal_run())
        .args(args)
        .current_dir(dir)
        .env_remove("UNSPLASH_ACCESS_KEY")
        .env_remove("UNSPLASH_API_BASE")
        .env_remove("IMGUR_CLIENT_ID")
        .env_remove("IMGUR_API_BASE")
        .output()
        .unwrap()
}

fn unsplash_config(api: &FakeApi, key: &str) -> String {
    format!("[UNSPLASH]\naccess_key = {key}\napi_base = {}\n", api.base_url)
}

fn json_of(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("one JSON object on stdout, got {stdout:?}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn metadata(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metadata.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Everything a run left behind, as text: stdout, stderr, file names and
/// file contents (images are bytes, searched as lossy text too).
fn everything(output: &Output, dir: &Path) -> String {
    let mut all = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr(output));
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            all.push_str(&path.to_string_lossy());
            if path.is_dir() {
                folders.push(path);
            } else if path.file_name().is_some_and(|n| n != "config.ini") {
                all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    all
}

// ---- tests ------------------------------------------------------------------

/// 1,500 Unsplash photos in exactly 50 calls of 30, each saved as
/// `<id>.jpg` at the asked quality, with one metadata line per photo.
#[test]
fn unsplash_1500_photos_in_50_calls() {
    let images = image_origin();
    let api = FakeApi::start(unsplash_routes, Behaviour::default(), &images);
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &unsplash_config(&api, KEY), &["--count", "1500", "--json", "--out", "photos"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(api.calls(), 50);
    let json = json_of(&output);
    assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(1500), Some(0)), "{json}");
    assert!(json["source"].as_str().unwrap().starts_with("unsplash http://127.0.0.1:"), "{json}");
    let out = dir.path().join("photos");
    let files = files_in(&out);
    assert_eq!(files.len(), 1501, "1500 photos and metadata.jsonl");
    assert!(files.contains(&"ph001000X.jpg".to_string()) && files.contains(&"ph050029X.jpg".to_string()));
    let records = metadata(&out);
    assert_eq!(records.len(), 1500);
    let first = records.iter().find(|r| r["id"] == "ph001001X").unwrap();
    assert_eq!(first["file"], "ph001001X.jpg");
    assert_eq!(first["author"], "Photographer 1");
    assert_eq!(first["color"], "#a68c73");
    assert_eq!(first["description"], "A man drinking a coffee.");
    assert_eq!(first["page_url"], "https://unsplash.com/photos/ph001001X");
    assert!(first["url"].as_str().unwrap().ends_with("w=1080"), "regular quality by default: {first}");
    assert_eq!(first["width"], 4000, "1001 % 7 == 0");
    let ids: HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1500);
}

/// `--quality small` downloads `urls.small`; ids repeated by a later random
/// call are listed once, and a page is only asked for what is still needed.
#[test]
fn unsplash_quality_and_duplicates() {
    let images = image_origin();
    let api = FakeApi::start(unsplash_routes, Behaviour { repeat: 5, ..Behaviour::default() }, &images);
    let dir = tempfile::tempdir().unwrap();
    let output =
        run(dir.path(), &unsplash_config(&api, KEY), &["--count", "40", "--quality", "small", "--json", "--out", "p"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Call 1: 30 new. Call 2 asks for 10, gets 5 repeats + 5 new. Call 3 asks for 5.
    assert_eq!(api.calls(), 3);
    let records = metadata(&dir.path().join("p"));
    assert_eq!(records.len(), 40);
    let ids: HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 40);
    assert!(records.iter().all(|r| r["url"].as_str().unwrap().ends_with("w=400")), "{:?}", records[0]);
}

/// A 403 "Rate Limit Exceeded" after 3 calls stops the listing: the 90
/// photos listed are downloaded, one line says how many were listed, why it
/// stopped and when the quota resets, and the exit status is 3.
#[test]
fn unsplash_rate_limit_stops_cleanly() {
    let images = image_origin();
    let api = FakeApi::start(unsplash_routes, Behaviour { calls_allowed: Some(3), ..Behaviour::default() }, &images);
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &unsplash_config(&api, KEY), &["--count", "200", "--json", "--out", "p"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(api.calls(), 4, "three answered, one refused, none retried");
    let json = json_of(&output);
    assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(90), Some(0)), "{json}");
    let problem = json["listing_error"].as_str().unwrap();
    for words in
        ["listed 90 of 200", "4 API requests", "rate limit", "Rate Limit Exceeded", "resets", "--source metadata"]
    {
        assert!(problem.contains(words), "{words:?} missing from {problem}");
    }
    let line = stderr(&output).lines().find(|l| l.starts_with("listing stopped early")).unwrap().to_string();
    assert!(line.contains("listed 90 of 200"), "{line}");
    assert_eq!(files_in(&dir.path().join("p")).len(), 91);
    assert_eq!(metadata(&dir.path().join("p")).len(), 90);
}

/// `X-Ratelimit-Remaining: 0` stops the listing before a call that would be
/// refused: the quota is not spent on a 403.
#[test]
fn unsplash_stops_before_spending_an_empty_quota() {
    let images = image_origin();
    let behaviour = Behaviour { remaining_zero_from: Some(2), ..Behaviour::default() };
    let api = FakeApi::start(unsplash_routes, behaviour, &images);
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &unsplash_config(&api, KEY), &["--count", "100", "--json", "--out", "p"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(api.calls(), 2);
    let json = json_of(&output);
    assert_eq!(json["files"].as_u64(), Some(60));
    let problem = json["listing_error"].as_str().unwrap();
    assert!(problem.contains("listed 60 of 100") && problem.contains("X-Ratelimit-Remaining: 0 of 50"), "{problem}");
}

/// A wrong key: status 2 and one line saying where the key goes; the key
/// itself (which the server echoes) is not in it.
#[test]
fn unsplash_wrong_key_says_where_to_put_it() {
    let images = image_origin();
    let api = FakeApi::start(unsplash_routes, Behaviour::default(), &images);
    let dir = tempfile::tempdir().unwrap();
    let wrong = "wrong-key-93c7d1";
    let output = run(dir.path(), &unsplash_config(&api, wrong), &["--count", "5", "--json"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    for words in ["401", "Unsplash rejected the key", "access_key", "config.ini", "UNSPLASH_ACCESS_KEY"] {
        assert!(message.contains(words), "{words:?} missing from {message}");
    }
    assert!(!message.contains(wrong), "{message}");
    assert!(message.contains("***"), "the server's echo is starred out: {message}");
}

/// The key is in no output, no file name and no file the runs write: a
/// normal run, a rate-limited run and a refused key (which the fake server
/// echoes back), for both APIs and with the key from the environment too.
#[test]
fn keys_never_leak() {
    let images = image_origin();
    let limited = Behaviour { calls_allowed: Some(1), ..Behaviour::default() };
    let unsplash = FakeApi::start(unsplash_routes, limited.clone(), &images);
    let imgur = FakeApi::start(imgur_routes, limited, &images);
    for (config, env) in [
        (unsplash_config(&unsplash, KEY), None),
        (format!("[UNSPLASH]\napi_base = {}\n", unsplash.base_url), Some(("UNSPLASH_ACCESS_KEY", KEY))),
        (unsplash_config(&unsplash, &format!("{KEY}-bad")), None),
        (format!("[IMGUR]\nclient_id = {KEY}\napi_base = {}\n", imgur.base_url), None),
        (format!("[IMGUR]\nclient_id = {KEY}-bad\napi_base = {}\n", imgur.base_url), None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.ini"), &config).unwrap();
        let mut command = Command::new(normal_run());
        command.args(["--count", "45", "--json", "--out", "p"]).current_dir(dir.path());
        command.env_remove("UNSPLASH_ACCESS_KEY").env_remove("IMGUR_CLIENT_ID");
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(matches!(output.status.code(), Some(2 | 3)), "{config}: {}", stderr(&output));
        let all = everything(&output, dir.path());
        assert!(!all.contains(KEY), "key leaked with {config}:\n{all}");
    }
}

/// Imgur: albums, GIFs and videos are skipped; pages are followed until the
/// gallery runs dry, which ends the run with status 3 and says so.
#[test]
fn imgur_keeps_stills_and_follows_pages() {
    let images = image_origin();
    let api = FakeApi::start(imgur_routes, Behaviour::default(), &images);
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[IMGUR]\nclient_id = {KEY}\napi_base = {}\n", api.base_url);
    let output = run(dir.path(), &config, &["--count", "500", "--json", "--out", "p"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(api.calls(), 3, "pages 0, 1 and the empty page 2");
    let json = json_of(&output);
    assert_eq!(json["files"].as_u64(), Some(8), "4 stills a page: {json}");
    let problem = json["listing_error"].as_str().unwrap();
    assert!(problem.contains("Imgur: listed 8 of 500") && problem.contains("no page 2"), "{problem}");
    let records = metadata(&dir.path().join("p"));
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["im0000Z", "im0001Z", "im0005Z", "im0006Z", "im0100Z", "im0101Z", "im0105Z", "im0106Z"]);
    assert_eq!(records[0]["author"], "poster0");
    assert_eq!(records[0]["file"], "im0000Z.jpg");
    assert!(!files_in(&dir.path().join("p")).iter().any(|f| f.contains("inner1")), "album images are not listed");
}

/// An Imgur 429 (or a 403 with no credits left, which Imgur also sends)
/// stops the listing after what was listed, names the reset time from
/// `X-RateLimit-UserReset`, and the listed images are saved.
#[test]
fn imgur_429_stops_cleanly() {
    let images = image_origin();
    for status in [429, 403] {
        let behaviour = Behaviour { calls_allowed: Some(1), limit_status: Some(status), ..Behaviour::default() };
        let api = FakeApi::start(imgur_routes, behaviour, &images);
        let dir = tempfile::tempdir().unwrap();
        let config = format!("[IMGUR]\nclient_id = {KEY}\napi_base = {}\n", api.base_url);
        let output = run(dir.path(), &config, &["--count", "20", "--json", "--out", "p"]);
        assert_eq!(output.status.code(), Some(3), "{status}: {}", stderr(&output));
        assert_eq!(api.calls(), 2);
        let json = json_of(&output);
        assert_eq!(json["files"].as_u64(), Some(4));
        let problem = json["listing_error"].as_str().unwrap();
        let said = if status == 429 { "HTTP 429 Too Many Requests" } else { "HTTP 403 Forbidden" };
        for words in ["listed 4 of 20", "rate limit reached", said, "resets at 00:00 UTC"] {
            assert!(problem.contains(words), "{words:?} missing from {problem}");
        }
    }
}

/// A wrong Imgur Client ID: status 2, one line naming where it goes, no API
/// call beyond the first.
#[test]
fn imgur_wrong_key_says_where_to_put_it() {
    let images = image_origin();
    let api = FakeApi::start(imgur_routes, Behaviour::default(), &images);
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[IMGUR]\nclient_id = not-{KEY}\napi_base = {}\n", api.base_url);
    let output = run(dir.path(), &config, &["--count", "5"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    for words in ["Imgur rejected the key (HTTP 401", "client_id", "[IMGUR]", "IMGUR_CLIENT_ID"] {
        assert!(message.contains(words), "{words:?} missing from {message}");
    }
    assert!(!message.contains(KEY), "{message}");
}

/// `--source metadata --from` downloads an earlier run's photos again under
/// the same names, with no API call, into another folder or the same one.
#[test]
fn metadata_redownloads_without_api_calls() {
    let images = image_origin();
    let api = FakeApi::start(unsplash_routes, Behaviour::default(), &images);
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &unsplash_config(&api, KEY), &["--count", "45", "--out", "first"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(api.calls(), 2);

    let output = run(dir.path(), "", &["--from", "first/metadata.jsonl", "--out", "again", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(api.calls(), 2, "no API call");
    assert_eq!(json_of(&output)["files"].as_u64(), Some(45));
    assert_eq!(files_in(&dir.path().join("again")), files_in(&dir.path().join("first")));
    let again = metadata(&dir.path().join("again"));
    assert_eq!(again.len(), 45);
    assert_eq!(again[0]["author"], metadata(&dir.path().join("first"))[0]["author"]);

    // Into the folder it came from: the file is read, not appended to.
    let output = run(dir.path(), "", &["--source", "metadata", "--from", "first/metadata.jsonl", "--out", "first"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(metadata(&dir.path().join("first")).len(), 45);
    let output = run(dir.path(), "", &["--from", "first/metadata.jsonl", "--out", "first", "--clean"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--clean would delete"), "{}", stderr(&output));
    let output = run(dir.path(), "", &["--from", "missing.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read metadata file missing.jsonl"), "{}", stderr(&output));
}

/// A gzip-compressed CSV list with the URL in a named column downloads
/// every row; `--source unsplash` with no key says where to put one.
#[test]
fn gzipped_csv_list_and_missing_key() {
    let images = image_origin();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("list.csv.gz")).unwrap(),
        Default::default(),
    );
    writeln!(encoder, "title,link").unwrap();
    for id in 0..5 {
        writeln!(encoder, "\"photo, number {id}\",{}", images.image_url(id)).unwrap();
    }
    encoder.finish().unwrap();
    let output = run(dir.path(), "", &["--urls", "list.csv.gz", "--url-column", "link", "--json", "--out", "p"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json_of(&output)["files"].as_u64(), Some(5));

    let output = run(dir.path(), "", &["--source", "unsplash"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("UNSPLASH_ACCESS_KEY"), "{}", stderr(&output));
}
