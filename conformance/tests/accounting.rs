//! Accounting and resume, the same in every download binary: every URL ends
//! saved, skipped or failed; the failures are listed in `failures.jsonl` and
//! `--retry-failed` runs exactly those again; a re-run skips what is
//! complete without a request, `--force` downloads it again; and a run
//! killed with `kill -9` is completed by the next one.
//!
//! The binaries are built for the test (`support::binary`).

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use origin::OriginConfig;
use serde_json::Value;
use support::{Run, binary, download_binaries, report};

/// Each binary and variant, two at once at most, so that a run against a
/// slow origin is still under way when it is killed.
fn runs() -> Vec<Run> {
    download_binaries(2, 2, 2)
}

/// The failures file every run writes into its `--out`.
const FAILURES_FILE: &str = "failures.jsonl";

/// Runs binary `name` with `args` then `extra` in `dir`, with no API keys.
fn run(dir: &Path, name: &str, args: &[&str], extra: &[String]) -> Output {
    Command::new(binary(name))
        .args(args)
        .args(extra)
        .current_dir(dir)
        .env_remove("UNSPLASH_ACCESS_KEY")
        .env_remove("IMGUR_CLIENT_ID")
        .output()
        .unwrap()
}

/// `(files, skipped, failed, requested)` of a report.
fn counts(json: &Value) -> (u64, u64, u64, u64) {
    let count = |field: &str| json[field].as_u64().unwrap_or_else(|| panic!("no {field} in {json}"));
    (count("files"), count("skipped"), count("failed"), count("requested"))
}

/// The lines of `<out>/failures.jsonl`.
fn failure_lines(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join(FAILURES_FILE)).unwrap();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The complete images in `dir` (no temporary file of a killed run), by
/// name, with their bytes.
fn images(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut images: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".jpg") && !name.starts_with('.'))
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    images.sort();
    images
}

/// A host the test controls: any path answers one JPEG while it is up and
/// 404 while it is down, and every request is counted.
struct TestHost {
    base: String,
    up: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl TestHost {
    fn start() -> TestHost {
        let body = Arc::new(origin::generate_jpeg(7, 120, 80));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (up, requests) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
        let (up_flag, counter) = (Arc::clone(&up), Arc::clone(&requests));
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (up, counter, body) = (Arc::clone(&up_flag), Arc::clone(&counter), Arc::clone(&body));
                std::thread::spawn(move || answer(stream, up.load(Ordering::SeqCst), &counter, &body));
            }
        });
        TestHost { base, up, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request head and answers it, closing the connection.
fn answer(mut stream: TcpStream, up: bool, requests: &AtomicUsize, body: &[u8]) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let response = if up {
        let mut ok = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        ok.extend_from_slice(body);
        ok
    } else {
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    };
    let _ = stream.write_all(&response);
}

/// A run with failing URLs lists exactly those in `failures.jsonl`, sorted,
/// typed and with their last status; the same command plus
/// `--retry-failed` tries exactly those again (one that works now is saved, the other stays listed), a run with
/// no failures removes the file, and `--retry-failed` with no file is a
/// one-line usage error.
#[test]
fn failures_are_listed_and_retried_exactly() {
    let origin = origin::start(OriginConfig {
        count: 4,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 120,
        height: 80,
        ..OriginConfig::default()
    })
    .unwrap();
    let host = TestHost::start();
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<String> = (0..4).map(|id| origin.image_url(id)).collect();
    let gone = format!("{}/faults/status/404", origin.base_url());

    for (index, (name, extra)) in runs().into_iter().enumerate() {
        let what = format!("{name} {extra:?}");
        let out = format!("out-{index}");
        let flaky = format!("{}/flaky/{index}.jpg", host.base);
        let list = [good.clone(), vec![flaky.clone(), gone.clone()]].concat();
        std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();
        let args = ["--out", &out, "--json", "--retries", "0", "--timeout", "5"];

        // First run: the flaky host is down, the origin's fault always fails.
        host.up.store(false, Ordering::SeqCst);
        let json = report(&run(dir.path(), name, &[&args[..], &["--urls", "urls.txt"]].concat(), &extra), 3, &what);
        assert_eq!(counts(&json), (4, 0, 2, 6), "{what}: {json}");
        let lines = failure_lines(&dir.path().join(&out));
        let mut expected = vec![flaky.clone(), gone.clone()];
        expected.sort();
        let listed: Vec<&str> = lines.iter().map(|l| l["url"].as_str().unwrap()).collect();
        assert_eq!(listed, expected, "{what}");
        for line in &lines {
            assert_eq!(
                (&line["status"], &line["attempts"], &line["stem"]),
                (&Value::from(404), &Value::from(1), &Value::Null),
                "{what}: {line}"
            );
            assert_eq!(line["error"]["Fetch"]["Status"], 404, "{what}: {line}");
            assert_eq!(line["reason"], "HTTP status 404", "{what}: {line}");
        }

        // The host is back: the first run's command plus --retry-failed
        // asks for exactly the two failures, and says --urls is not read.
        host.up.store(true, Ordering::SeqCst);
        let before = host.requests();
        let again = [&args[..], &["--urls", "urls.txt", "--retry-failed"]].concat();
        let output = run(dir.path(), name, &again, &extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--retry-failed: retrying the failures recorded in"), "{what}: {stderr}");
        assert!(stderr.contains("; --urls is not read"), "{what}: {stderr}");
        let json = report(&output, 3, &what);
        assert_eq!(counts(&json), (1, 0, 1, 2), "{what}: {json}");
        assert_eq!(json["failures"][0]["url"].as_str(), Some(gone.as_str()), "{what}: {json}");
        assert_eq!(host.requests(), before + 1, "{what}: the flaky URL was asked for once");
        let lines = failure_lines(&dir.path().join(&out));
        assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        assert_eq!(lines[0]["url"].as_str(), Some(gone.as_str()), "{what}");
        assert_eq!(images(&dir.path().join(&out)).len(), 5, "{what}");

        // A run of the good URLs has no failure: the stale list goes.
        let good_and_flaky = [good.clone(), vec![flaky]].concat();
        std::fs::write(dir.path().join("fixed.txt"), good_and_flaky.join("\n")).unwrap();
        let json = report(&run(dir.path(), name, &[&args[..], &["--urls", "fixed.txt"]].concat(), &extra), 0, &what);
        assert_eq!(counts(&json), (0, 5, 0, 5), "{what}: {json}");
        assert!(!dir.path().join(&out).join(FAILURES_FILE).exists(), "{what}: failures.jsonl outlived its failures");

        // Nothing to retry: one line that says so, status 2.
        let output = run(dir.path(), name, &["--retry-failed", "--out", &out], &extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains(FAILURES_FILE) && stderr.contains("--retry-failed"), "{what}: {stderr}");
    }
}

/// A re-run into the same folder skips every image already saved, before
/// any request (the host counts none) and says so; `--force` downloads
/// them all again.
#[test]
fn rerun_skips_complete_images_and_force_downloads_again() {
    let host = TestHost::start();
    let dir = tempfile::tempdir().unwrap();
    let list: Vec<String> = (0..6).map(|n| format!("{}/photos/{n}.jpg", host.base)).collect();
    std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();

    for (index, (name, extra)) in runs().into_iter().enumerate() {
        let what = format!("{name} {extra:?}");
        let out = format!("out-{index}");
        let args = ["--urls", "urls.txt", "--out", &out, "--json"];

        let before = host.requests();
        let json = report(&run(dir.path(), name, &args, &extra), 0, &what);
        assert_eq!(counts(&json), (6, 0, 0, 6), "{what}: {json}");
        assert_eq!(host.requests(), before + 6, "{what}");

        let output = run(dir.path(), name, &args, &extra);
        let json = report(&output, 0, &what);
        assert_eq!(counts(&json), (0, 6, 0, 6), "{what}: {json}");
        assert_eq!(host.requests(), before + 6, "{what}: a skipped image costs no request");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("6 skipped"), "{what}: {stderr}");

        let json = report(&run(dir.path(), name, &[&args[..], &["--force"]].concat(), &extra), 0, &what);
        assert_eq!(counts(&json), (6, 0, 0, 6), "{what}: {json}");
        assert_eq!(host.requests(), before + 12, "{what}");
        assert_eq!(images(&dir.path().join(&out)).len(), 6, "{what}");
    }
}

/// A run killed with `kill -9` part way is completed by the next run: it
/// skips exactly the images the first one finished and saves the rest, and
/// every image is then there, whole, with the bytes the origin serves
/// (temporary files of the killed run are never taken for images).
#[test]
fn rerun_after_kill_completes_the_folder() {
    const IMAGES: usize = 20;
    let config = OriginConfig {
        count: IMAGES,
        latency: Duration::from_millis(200),
        jitter: Duration::from_millis(50),
        width: 240,
        height: 160,
        ..OriginConfig::default()
    };
    let origin = origin::start(config.clone()).unwrap();
    // The same photos without the wait, to compare bytes with.
    let reference = origin::start(OriginConfig { latency: Duration::ZERO, jitter: Duration::ZERO, ..config }).unwrap();
    let mut served: Vec<Vec<u8>> = (0..IMAGES)
        .map(|id| ureq::get(&reference.image_url(id)).call().unwrap().body_mut().read_to_vec().unwrap())
        .collect();
    served.sort();
    let dir = tempfile::tempdir().unwrap();
    let list: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();

    for (index, (name, extra)) in runs().into_iter().enumerate() {
        let what = format!("{name} {extra:?}");
        let out = dir.path().join(format!("out-{index}"));
        let out_arg = out.to_string_lossy().into_owned();
        let args = ["--urls", "urls.txt", "--out", &out_arg, "--json"];

        // Start a run and kill it once a few images are saved.
        let mut child = Command::new(binary(name))
            .args(args)
            .args(&extra)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !out.is_dir() || images(&out).len() < 3 {
            assert!(started.elapsed() < Duration::from_secs(60), "{what}: no images saved");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Worker processes of a killed parent finish the image they hold:
        // wait until the folder stops changing.
        let mut done = images(&out).len();
        loop {
            std::thread::sleep(Duration::from_millis(700));
            let now = images(&out).len();
            if now == done {
                break;
            }
            done = now;
        }
        assert!(done < IMAGES, "{what}: the run finished before it was killed; the test shows nothing");

        let json = report(&run(dir.path(), name, &args, &extra), 0, &what);
        assert_eq!(counts(&json), ((IMAGES - done) as u64, done as u64, 0, IMAGES as u64), "{what}: {json}");
        let saved = images(&out);
        assert_eq!(saved.len(), IMAGES, "{what}");
        let mut bytes: Vec<Vec<u8>> = saved.into_iter().map(|(_, bytes)| bytes).collect();
        bytes.sort();
        assert!(bytes == served, "{what}: an image is not whole or not as served");
        assert!(!out.join(FAILURES_FILE).exists(), "{what}");
    }
}
