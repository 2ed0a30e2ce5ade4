//! Fault injection over real sockets: each kind of fault as a client sees it,
//! that faults repeat with the seed, that transient ones give way to the
//! photo, and that the cap refuses what is beyond it.
//!
//! Where a client library would hide what went wrong (a body cut short, a
//! silent connection), the test speaks HTTP/1.1 over a `TcpStream` itself.

#![allow(clippy::unwrap_used)] // a test that cannot talk to its own server should panic

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use origin::{FaultKind, FaultSpec, MAX_FAILING_ATTEMPTS, Origin, OriginConfig, RunningOrigin};

/// Small photos and no latency, with the faults of `spec` under `seed`.
fn config(count: usize, spec: &str, seed: u64) -> OriginConfig {
    let mut faults: FaultSpec = spec.parse().unwrap();
    faults.seed = seed;
    OriginConfig {
        count,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 64,
        height: 48,
        faults,
        ..Default::default()
    }
}

/// The bytes image `id` serves when it does not fail.
fn photo(config: &OriginConfig, id: usize) -> Vec<u8> {
    Origin::new(config.clone(), String::new()).unwrap().photo(id).unwrap().0.to_vec()
}

/// An agent that reports every status and redirect instead of acting on it.
fn plain_agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

/// The status, a header and the body of one request, redirects not followed.
fn get(url: &str, header: &str) -> (u16, Option<String>, Vec<u8>) {
    let mut response = plain_agent().get(url).call().unwrap();
    let value = response.headers().get(header).map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), value, response.body_mut().read_to_vec().unwrap())
}

/// One request on a connection of its own, read at the level of bytes.
struct Exchange {
    reader: BufReader<TcpStream>,
}

impl Exchange {
    fn send(running: &RunningOrigin, path: &str) -> Exchange {
        let mut stream = TcpStream::connect(running.base_url().trim_start_matches("http://")).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n").unwrap();
        Exchange { reader: BufReader::new(stream) }
    }

    /// The status and the headers (names in lower case).
    fn head(&mut self) -> (u16, Vec<(String, String)>) {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let Some((name, value)) = line.trim_end().split_once(':') else { break };
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        (status, headers)
    }

    /// Everything after the head, as sent, until the server ends the
    /// connection (closed or reset: both are an end here).
    fn rest(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            match self.reader.read(&mut buffer) {
                Ok(0) => return body,
                Ok(n) => body.extend_from_slice(&buffer[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => panic!("the origin never ended: {err}"),
                Err(_) => return body,
            }
        }
    }
}

impl Exchange {
    /// Everything the server sends until the connection ends, and how it
    /// ended: `None` for an orderly close, else the read's error.
    fn until_the_end(&mut self) -> (Vec<u8>, Option<std::io::ErrorKind>) {
        let mut raw = Vec::new();
        let mut buffer = [0u8; 64 * 1024];
        loop {
            match self.reader.read(&mut buffer) {
                Ok(0) => return (raw, None),
                Ok(n) => raw.extend_from_slice(&buffer[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => panic!("the origin never ended: {err}"),
                Err(err) => return (raw, Some(err.kind())),
            }
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The data of a chunked body, and whether its last (empty) chunk came.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else { return (data, false) };
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap(), 16).unwrap();
        if size == 0 {
            return (data, true);
        }
        let chunk = &raw[end + 2..];
        if chunk.len() < size + 2 {
            data.extend_from_slice(&chunk[..chunk.len().min(size)]);
            return (data, false);
        }
        data.extend_from_slice(&chunk[..size]);
        raw = &chunk[size + 2..];
    }
}

/// The example spec from the docs parses, prints back as it was written,
/// and every kind of mistake is refused in one line that names it.
#[test]
fn spec_parses_and_refuses_in_one_line() {
    let text = "500=5,503=3,429=4,reset=2,truncate=2,stall=1,drip=1,html=2,redirect=2,loop=1,large=1,cap=8";
    let spec: FaultSpec = text.parse().unwrap();
    assert_eq!(spec.to_string(), text);
    assert_eq!((spec.percent(FaultKind::TooManyRequests), spec.total_percent(), spec.cap), (4, 24, Some(8)));
    let settings: FaultSpec =
        "404=1, retry-after=0.25, hops=5, stall-ms=300, drip-ms=7, large-bytes=1000".parse().unwrap();
    assert_eq!(settings.retry_after, Duration::from_millis(250));
    assert_eq!(settings.to_string().parse::<FaultSpec>().unwrap(), settings);
    assert!("".parse::<FaultSpec>().unwrap().is_empty() && "none".parse::<FaultSpec>().unwrap().is_empty());

    for (bad, says) in [
        ("500=5,teapot=3", "unknown fault kind `teapot`"),
        ("500=60,html=41", "add up to 101%"),
        ("500=101", "`500=101`"),
        ("reset", "`reset` needs a value"),
        ("500=1,500=2", "`500` twice"),
        ("cap=0", "at least 1"),
        ("retry-after=soon", "`retry-after=soon`"),
    ] {
        let err = bad.parse::<FaultSpec>().unwrap_err().to_string();
        assert!(err.contains(says) && !err.contains('\n'), "{bad}: {err}");
    }
}

/// Which fault an id gets depends on the seed and the id alone: the same
/// seed gives the same faults, another seed others, the shares are kept,
/// and transient faults last 1 or 2 attempts while the others last for ever.
#[test]
fn faults_follow_the_seed_and_the_shares() {
    let spec = |seed| config(0, "500=30,html=20,redirect=10", seed).faults;
    let faults = |seed| (0..10_000).map(|id| spec(seed).fault_for(id)).collect::<Vec<_>>();
    assert_eq!(faults(7), faults(7));
    assert_ne!(faults(7), faults(8));

    let sevens = faults(7);
    let share = |kind| sevens.iter().flatten().filter(|f| f.kind == kind).count() as f64 / 100.0;
    for (kind, percent) in [(FaultKind::InternalError, 30.0), (FaultKind::Html, 20.0), (FaultKind::Redirect, 10.0)] {
        assert!((share(kind) - percent).abs() < 2.0, "{kind}: {}%", share(kind));
    }
    for fault in sevens.iter().flatten() {
        assert_eq!(fault.attempts.is_some(), fault.kind == FaultKind::InternalError, "{fault:?}");
        assert_eq!(fault.is_recoverable(), fault.kind != FaultKind::Html, "{fault:?}");
    }
    let lasting = |n| sevens.iter().flatten().filter(|f| f.attempts == Some(n)).count();
    assert!(lasting(1) > 1000 && lasting(MAX_FAILING_ATTEMPTS) > 1000, "{} {}", lasting(1), lasting(2));
}

/// `500`, `503` and `429` are sent (the last two with `Retry-After`, here a
/// fraction of a second) for exactly as many attempts as `fault_for` says,
/// then the id serves its real photo.
#[test]
fn status_faults_give_way_to_the_photo() {
    for (kind, status, retry_after) in [("500", 500, None), ("503", 503, Some("0.25")), ("429", 429, Some("0.25"))] {
        let config = config(6, &format!("{kind}=100,retry-after=0.25"), 1);
        let running = origin::start(config.clone()).unwrap();
        for id in 0..6 {
            let fault = config.faults.fault_for(id).unwrap();
            let failing = fault.attempts.unwrap();
            for _ in 0..failing {
                let (got, header, body) = get(&running.image_url(id), "retry-after");
                assert_eq!((got, header.as_deref()), (status, retry_after), "{kind}, id {id}");
                assert!(body.len() < 100, "a short body, not a photo");
            }
            assert_eq!(get(&running.image_url(id), "retry-after").2, photo(&config, id), "{kind}, id {id} recovers");
            assert_eq!(running.attempts(id), failing + 1);
        }
        let stats = running.stats();
        let failed: u32 = (0..6).map(|id| config.faults.fault_for(id).unwrap().attempts.unwrap()).sum();
        assert_eq!((stats.faults_injected, stats.photos_served), (u64::from(failed), 6));
        assert_eq!(stats.too_many_requests, if status == 429 { u64::from(failed) } else { 0 });
    }
}

/// A fault waits the configured latency like any response does.
#[test]
fn faults_wait_the_latency() {
    let running =
        origin::start(OriginConfig { latency: Duration::from_millis(300), ..config(1, "500=100", 1) }).unwrap();
    let started = Instant::now();
    assert_eq!(get(&running.image_url(0), "").0, 500);
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
}

/// `reset`: a chunked body whose last chunk never comes, a third of the
/// photo in it; `truncate`: a `Content-Length` of the whole photo and half
/// of it. Both connections end, and both ids recover.
#[test]
fn reset_and_truncate_cut_the_body_short() {
    for kind in ["reset", "truncate"] {
        let config = config(2, &format!("{kind}=100"), 3);
        let running = origin::start(config.clone()).unwrap();
        let whole = photo(&config, 1);
        let mut exchange = Exchange::send(&running, "/images/1.jpg");
        let (status, headers) = exchange.head();
        let raw = exchange.rest();
        assert_eq!(status, 200);
        if kind == "reset" {
            assert_eq!(
                (header(&headers, "transfer-encoding"), header(&headers, "content-length")),
                (Some("chunked"), None)
            );
            let (data, complete) = dechunk(&raw);
            assert!(!complete, "the last chunk must not come");
            assert_eq!(data, whole[..whole.len() / 3]);
        } else {
            assert_eq!(header(&headers, "content-length"), Some(whole.len().to_string().as_str()));
            assert_eq!(raw, whole[..whole.len() / 2]);
        }
        for _ in 1..config.faults.fault_for(1).unwrap().attempts.unwrap() {
            assert_ne!(Exchange::send(&running, "/images/1.jpg").rest().len(), whole.len(), "{kind} again");
        }
        assert_eq!(get(&running.image_url(1), "").2, whole, "{kind} recovers");
    }
}

/// `rst-before`: the request is read and the connection reset (TCP `RST`:
/// the read fails with "connection reset", not an orderly end) before one
/// byte of a response; `rst-midway`: the head with the whole photo's
/// `Content-Length`, a third of the photo, then a reset. Both ids recover.
#[test]
fn rst_kinds_reset_the_connection() {
    for kind in ["rst-before", "rst-midway"] {
        let config = config(2, &format!("{kind}=100"), 3);
        let running = origin::start(config.clone()).unwrap();
        let whole = photo(&config, 1);
        let mut exchange = Exchange::send(&running, "/images/1.jpg");
        let (raw, end) = exchange.until_the_end();
        assert_eq!(end, Some(std::io::ErrorKind::ConnectionReset), "{kind}: an RST, not a close");
        if kind == "rst-before" {
            assert_eq!(raw, b"", "{kind}: not a byte of a response");
        } else {
            let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
            let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            assert!(text.starts_with("http/1.1 200"), "{text}");
            assert!(text.contains(&format!("content-length: {}\r\n", whole.len())), "{text}");
            assert_eq!(raw[head_end..], whole[..whole.len() / 3]);
        }
        for _ in 1..config.faults.fault_for(1).unwrap().attempts.unwrap() {
            assert_eq!(Exchange::send(&running, "/images/1.jpg").until_the_end().1, end, "{kind} again");
        }
        assert_eq!(get(&running.image_url(1), "").2, whole, "{kind} recovers");
    }
}

/// `endless`: a chunked body with no `Content-Length` that starts like a
/// JPEG and goes on (here, past 20 MB) until the client hangs up; when the
/// origin stops, the body is cut (never ended as if complete).
#[test]
fn endless_never_ends_until_the_origin_stops() {
    let running = origin::start(config(1, "endless=100", 5)).unwrap();
    let mut exchange = Exchange::send(&running, "/images/0.jpg");
    let (status, headers) = exchange.head();
    assert_eq!(status, 200);
    assert_eq!((header(&headers, "transfer-encoding"), header(&headers, "content-length")), (Some("chunked"), None));
    let mut start = vec![0u8; 20_000_000];
    exchange.reader.read_exact(&mut start).unwrap();
    // The first chunk's size line, then the JPEG's first bytes.
    let first = start.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    assert_eq!(start[first..first + 3], [0xFF, 0xD8, 0xFF]);
    let started = Instant::now();
    drop(running);
    let (rest, _) = exchange.until_the_end();
    assert!(!rest.ends_with(b"0\r\n\r\n"), "the stop must not end the body as if it were complete");
    assert!(started.elapsed() < Duration::from_secs(20), "the endless body outlived the origin");
}

/// `stall`: the head of a photo, then not one byte until the stall is over
/// and the connection is dropped.
#[test]
fn stall_sends_the_head_then_nothing() {
    let running = origin::start(config(1, "stall=100,stall-ms=400", 5)).unwrap();
    let mut exchange = Exchange::send(&running, "/images/0.jpg");
    let (status, headers) = exchange.head();
    let started = Instant::now();
    assert_eq!(status, 200);
    assert!(header(&headers, "content-length").is_some());
    assert_eq!(exchange.rest(), b"", "no body at all");
    assert!(started.elapsed() >= Duration::from_millis(350), "ended after {:?}", started.elapsed());
}

/// A stall far longer than the test ends when the origin is dropped, so a
/// stopped server leaves no connection hanging.
#[test]
fn stall_ends_when_the_origin_stops() {
    let running = origin::start(config(1, "stall=100", 5)).unwrap();
    let mut exchange = Exchange::send(&running, "/images/0.jpg");
    assert_eq!(exchange.head().0, 200);
    let started = Instant::now();
    drop(running);
    assert_eq!(exchange.rest(), b"");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the stall lasts 60 s; it ended after {:?}",
        started.elapsed()
    );
}

/// `drip`: the whole photo, correct, but one byte per interval, so it takes
/// at least `length × interval`.
#[test]
fn drip_sends_one_byte_at_a_time() {
    let config = OriginConfig { width: 8, height: 8, ..config(1, "drip=100,drip-ms=2", 5) };
    let running = origin::start(config.clone()).unwrap();
    let whole = photo(&config, 0);
    let started = Instant::now();
    assert_eq!(get(&running.image_url(0), "").2, whole);
    let least = Duration::from_millis(2) * whole.len() as u32;
    assert!(started.elapsed() >= least, "{} bytes in {:?}", whole.len(), started.elapsed());
}

/// `html` and `404` fail every attempt the same way.
#[test]
fn html_and_404_are_permanent() {
    for (kind, status, content_type) in [("html", 200, "text/html"), ("404", 404, "text/plain; charset=utf-8")] {
        let running = origin::start(config(1, &format!("{kind}=100"), 9)).unwrap();
        for _ in 0..=MAX_FAILING_ATTEMPTS + 1 {
            let (got, got_type, body) = get(&running.image_url(0), "content-type");
            assert_eq!((got, got_type.as_deref()), (status, Some(content_type)), "{kind}");
            assert!(!body.starts_with(&[0xFF, 0xD8]), "{kind}: not a JPEG");
        }
    }
}

/// `redirect`: `hops` redirects, each to the next, the last to the real
/// photo; a client that follows redirects simply gets the photo.
#[test]
fn redirect_chain_ends_at_the_photo() {
    let config = config(3, "redirect=100,hops=4", 11);
    let running = origin::start(config.clone()).unwrap();
    let mut url = running.image_url(2);
    let mut locations = Vec::new();
    let body = loop {
        let (status, location, body) = get(&url, "location");
        if status != 302 {
            assert_eq!(status, 200);
            break body;
        }
        let location = location.unwrap();
        url = format!("{}{location}", running.base_url());
        locations.push(location);
    };
    assert_eq!(
        locations,
        ["/faults/redirect/2/3", "/faults/redirect/2/2", "/faults/redirect/2/1", "/faults/redirect/2/0"]
    );
    assert_eq!(body, photo(&config, 2));
    let mut followed = ureq::get(&running.image_url(2)).call().unwrap();
    assert_eq!(followed.body_mut().read_to_vec().unwrap(), photo(&config, 2));
}

/// `loop`: redirects that go round between two addresses for ever, so a
/// client that follows redirects gives up.
#[test]
fn redirect_loop_never_ends() {
    let running = origin::start(config(1, "loop=100", 11)).unwrap();
    let mut url = running.image_url(0);
    let mut locations = Vec::new();
    for _ in 0..6 {
        let (status, location, _) = get(&url, "location");
        assert_eq!(status, 302);
        url = format!("{}{}", running.base_url(), location.as_deref().unwrap());
        locations.push(location.unwrap());
    }
    assert_eq!(
        locations[1..],
        ["/faults/loop/0/1", "/faults/loop/0/0", "/faults/loop/0/1", "/faults/loop/0/0", "/faults/loop/0/1"]
    );
    assert!(matches!(ureq::get(&running.image_url(0)).call(), Err(ureq::Error::TooManyRedirects)));
}

/// `large`: a body of `large-bytes`, starting like a JPEG, with no
/// `Content-Length` to warn the client.
#[test]
fn large_is_oversized_without_a_length() {
    let running = origin::start(config(1, "large=100,large-bytes=3000000", 13)).unwrap();
    let mut exchange = Exchange::send(&running, "/images/0.jpg");
    let (status, headers) = exchange.head();
    assert_eq!(
        (status, header(&headers, "content-type"), header(&headers, "content-length")),
        (200, Some("image/jpeg"), None)
    );
    let (status, _, body) = get(&running.image_url(0), "");
    assert_eq!(status, 200);
    assert_eq!((body.len(), &body[..3]), (3_000_000, &[0xFF, 0xD8, 0xFF][..]));
}

/// Every kind at once on one origin: a client that makes
/// `MAX_FAILING_ATTEMPTS + 1` attempts, follows redirects and checks what it
/// gets saves exactly the images `fault_for` calls recoverable, byte for
/// byte, and the origin saw exactly the attempts that implies.
#[test]
fn every_recoverable_image_is_saved() {
    let spec = "500=8,503=8,429=8,404=5,reset=8,truncate=8,stall=4,drip=4,html=5,redirect=8,loop=5,large=5,noai=5,\
                rst-before=5,rst-midway=5,endless=4,retry-after=0,stall-ms=200,drip-ms=50,large-bytes=2000000";
    let config = config(80, spec, 7);
    let running = origin::start(config.clone()).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(1))).build().into();
    let fetch = |id| {
        let mut response = agent.get(&running.image_url(id)).call().ok()?;
        let is_jpeg = response.headers().get("content-type").is_some_and(|t| t == "image/jpeg");
        let body = response.body_mut().with_config().limit(1 << 20).read_to_vec().ok()?;
        is_jpeg.then_some(body)
    };
    let mut expected_429s = 0;
    for id in 0..80 {
        let saved = (0..=MAX_FAILING_ATTEMPTS).find_map(|_| fetch(id));
        let fault = config.faults.fault_for(id);
        let recoverable = fault.is_none_or(|fault| fault.is_recoverable());
        assert_eq!(saved.as_ref(), recoverable.then(|| photo(&config, id)).as_ref(), "id {id}: {fault:?}");
        let attempts = match fault {
            None => 1,
            Some(fault) => fault.attempts.map_or(if recoverable { 1 } else { MAX_FAILING_ATTEMPTS + 1 }, |n| n + 1),
        };
        assert_eq!(running.attempts(id), attempts, "id {id}: {fault:?}");
        if fault.is_some_and(|fault| fault.kind == FaultKind::TooManyRequests) {
            expected_429s += attempts - 1;
        }
    }
    assert_eq!(running.stats().too_many_requests, u64::from(expected_429s));
    // The mix really did have every kind, or this test shows less than it says.
    for kind in FaultKind::ALL {
        assert!(
            (0..80).any(|id| config.faults.fault_for(id).is_some_and(|f| f.kind == kind)),
            "no {kind} among 80 ids"
        );
    }
}

/// `noai` serves the photo whole with `X-Robots-Tag: noai` on every
/// attempt, and `/faults/robots/{value}` photo 0 with the value asked for.
#[test]
fn noai_sends_the_photo_with_x_robots_tag() {
    let config = config(40, "noai=50", 3);
    let running = origin::start(config.clone()).unwrap();
    let ids: Vec<usize> = (0..40).filter(|&id| config.faults.fault_for(id).is_some()).collect();
    assert!(!ids.is_empty() && ids.len() < 40, "{ids:?}");
    for id in 0..40 {
        for _ in 0..2 {
            let (status, robots, body) = get(&running.image_url(id), "x-robots-tag");
            assert_eq!((status, robots.as_deref()), (200, ids.contains(&id).then_some("noai")), "id {id}");
            assert_eq!(body, photo(&config, id), "id {id}");
        }
    }
    let base = running.base_url();
    let (status, robots, body) = get(&format!("{base}/faults/robots/img2dataset%3A%20noimageai"), "x-robots-tag");
    assert_eq!((status, robots.as_deref()), (200, Some("img2dataset: noimageai")));
    assert_eq!(body, photo(&config, 0));
}

/// Two origins with the same seed fail the same ids the same way on the
/// wire; another seed fails others.
#[test]
fn the_same_seed_fails_the_same_ids() {
    let first_statuses = |seed| {
        let running = origin::start(config(40, "500=20,503=20,429=20,html=20", seed)).unwrap();
        (0..40).map(|id| get(&running.image_url(id), "content-type")).map(|(s, t, _)| (s, t)).collect::<Vec<_>>()
    };
    let sevens = first_statuses(7);
    assert_eq!(sevens, first_statuses(7));
    assert_ne!(sevens, first_statuses(8));
}

/// With `cap=3`, three slow requests in flight make the next two get `429`
/// with `Retry-After` at once; once the three are done, requests are served
/// again. Refusals are not attempts.
#[test]
fn cap_refuses_what_is_beyond_it() {
    // Stalls hold their slots for a known time, so no thread timing is involved.
    let running = origin::start(config(10, "stall=100,stall-ms=1500,cap=3,retry-after=2", 17)).unwrap();
    let mut held: Vec<Exchange> = (0..3).map(|id| Exchange::send(&running, &format!("/images/{id}.jpg"))).collect();
    for exchange in &mut held {
        assert_eq!(exchange.head().0, 200);
    }
    for id in 3..5 {
        let (status, retry_after, _) = get(&running.image_url(id), "retry-after");
        assert_eq!((status, retry_after.as_deref()), (429, Some("2")));
        assert_eq!(running.attempts(id), 0, "a refusal is not an attempt");
    }
    for exchange in &mut held {
        exchange.rest();
    }
    assert_eq!(Exchange::send(&running, "/images/3.jpg").head().0, 200, "a free slot serves again");
    let stats = running.stats();
    assert_eq!((stats.capped, stats.too_many_requests, stats.peak_in_flight), (2, 2, 3));
    assert_eq!(stats.image_requests, 6);
}

/// The binary takes `--faults` and `--seed`, and refuses a bad spec with
/// exit status 2 and a message naming the mistake.
#[test]
fn binary_takes_faults_and_seed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_origin"))
        .args(["--count", "2", "--latency-ms", "0", "--width", "64", "--height", "48", "--seed", "3"])
        .args(["--faults", "503=100,retry-after=0.5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let served = std::panic::catch_unwind(|| get(&format!("{}/images/1.jpg", line.trim()), "retry-after"));
    child.kill().unwrap();
    child.wait().unwrap();
    let (status, retry_after, _) = served.unwrap();
    assert_eq!((status, retry_after.as_deref()), (503, Some("0.5")));

    let refused = Command::new(env!("CARGO_BIN_EXE_origin")).args(["--faults", "500=5,teapot=1"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown fault kind `teapot`"));
}
