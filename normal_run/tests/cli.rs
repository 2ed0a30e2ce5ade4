//! `normal_run` as a user runs it: a real process, a real origin on
//! 127.0.0.1, real files in a temporary folder.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use origin::{OriginConfig, RunningOrigin};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_normal_run");

fn small_origin() -> RunningOrigin {
    origin::start(OriginConfig {
        count: 10,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 200,
        height: 150,
        ..OriginConfig::default()
    })
    .expect("origin starts")
}

/// Runs the binary in `dir` with no API keys in its environment.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("UNSPLASH_ACCESS_KEY")
        .env_remove("IMGUR_CLIENT_ID")
        .output()
        .expect("binary runs")
}

fn json_of(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let json: Value = serde_json::from_str(lines.next().expect("one JSON line")).expect("valid JSON");
    assert_eq!(lines.next(), None, "exactly one line on stdout");
    json
}

/// `--urls` downloads exactly the listed URLs; failures are counted with a
/// reason while the others are saved, byte for byte as served; exit 3.
#[test]
fn url_list_with_failures() {
    let origin = small_origin();
    let base = origin.base_url();
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<String> = (0..3).map(|id| origin.image_url(id)).collect();
    let bad = [
        format!("{base}/faults/status/404"),
        format!("{base}/faults/status/500"),
        format!("{base}/faults/html"),
        format!("{base}/faults/delay/5000"),
        format!("{base}/faults/truncated"),
    ];
    let list = format!("# test list\n{}\n\n{}\n", good.join("\n"), bad.join("\n"));
    std::fs::write(dir.path().join("urls.txt"), list).unwrap();

    let output = run(dir.path(), &["--urls", "urls.txt", "--out", "saved", "--json", "--timeout", "1"]);
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let json = json_of(&output);
    assert_eq!(json["run"], "normal_run");
    assert_eq!(json["requested"], 8);
    assert_eq!(json["files"], 3);
    assert_eq!(json["failed"], 5);
    assert_eq!(json["concurrency"], 1);
    let reasons: Vec<(String, String)> = json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["url"].as_str().unwrap().to_string(), f["reason"].as_str().unwrap().to_string()))
        .collect();
    let urls: Vec<&str> = reasons.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(urls, bad.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(reasons[0].1.contains("404") && reasons[1].1.contains("500"), "{reasons:?}");
    assert!(reasons[2].1.contains("not an image") && reasons[3].1.contains("timed out"), "{reasons:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("failed: {}", bad[0])), "{stderr}");

    // The images, not the list of failures beside them.
    let mut saved: Vec<_> = std::fs::read_dir(dir.path().join("saved"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| !path.ends_with(common::run::FAILURES_FILE))
        .collect();
    saved.sort();
    assert_eq!(saved.len(), 3);
    for url in &good {
        let served = ureq::get(url).call().unwrap().body_mut().read_to_vec().unwrap();
        assert!(saved.iter().any(|p| std::fs::read(p).unwrap() == served), "no file holds {url}");
    }
}

/// With no config at all the embedded origin is the source, and every image
/// saved is a decodable JPEG; exit 0.
#[test]
fn embedded_origin_by_default() {
    let dir = tempfile::tempdir().unwrap();
    // Zero latency and small photos, so the test waits on nothing.
    std::fs::write(dir.path().join("config.ini"), "[ORIGIN]\nlatency_ms = 0\njitter_ms = 0\n").unwrap();
    let output = run(dir.path(), &["--count", "4", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let json = json_of(&output);
    assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(4), Some(0)));
    assert!(json["source"].as_str().unwrap().starts_with("origin http://127.0.0.1:"), "{json}");
    let images: Vec<_> = std::fs::read_dir(dir.path().join("images")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(images.len(), 4);
    for path in images {
        let photo = image::open(&path).unwrap();
        assert_eq!((photo.width(), photo.height()), (1080, 720), "{}", path.display());
    }
}

/// A key in config.ini or the environment never shows in any output, even
/// in the error that the API client is missing.
#[test]
fn keys_never_appear_in_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.ini"), "[UNSPLASH]\naccess_key = file-secret-4242\n").unwrap();
    for env_key in [None, Some("env-secret-9191")] {
        let mut command = Command::new(BIN);
        command.args(["--count", "1", "--json"]).current_dir(dir.path()).env_remove("IMGUR_CLIENT_ID");
        match env_key {
            Some(key) => command.env("UNSPLASH_ACCESS_KEY", key),
            None => command.env_remove("UNSPLASH_ACCESS_KEY"),
        };
        let output = command.output().unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(!all.contains("file-secret-4242") && !all.contains("env-secret-9191"), "{all}");
        assert!(all.to_lowercase().contains("unsplash"), "the run says which source it chose: {all}");
    }
}

/// Usage and configuration errors: status 2 and one line saying what to fix.
#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.ini"), "[UNSPLASH]\nacess_key = x\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--urls", "missing.txt"], "missing.txt"),
        (&["--config", "bad.ini"], "acess_key"),
        (&["--config", "nope.ini"], "nope.ini"),
        (&["--timeout=0"], "--timeout"),
    ];
    for (args, mentions) in cases {
        let output = run(dir.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(mentions), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let output = run(dir.path(), &["--max-bytes", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--max-bytes"));
    let output = run(dir.path(), &["--concurrency", "0"]);
    assert_eq!(output.status.code(), Some(2));
}

/// A hostile URL list cannot drive the terminal or flood it: escape
/// sequences, bells, new lines and direction overrides in URLs come out
/// escaped, a 100,000-character URL is cut, on stderr and in
/// failures.jsonl's reasons; the causes ("Connection refused") are kept.
#[test]
fn hostile_urls_are_escaped_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("http://127.0.0.1:1/{}.jpg", "a".repeat(100_000));
    let lines = [
        "http://127.0.0.1:1/x\u{1b}]0;pwned\u{7}\u{1b}[2J.jpg".to_string(),
        "ht\u{1b}[31mtp://no\u{202e}gpj.exe".to_string(),
        "http://127.0.0.1:1/\u{9b}31m.jpg".to_string(),
        long,
    ];
    std::fs::write(dir.path().join("urls.txt"), lines.join("\n")).unwrap();
    let out = dir.path().join("out");
    let output = run(
        dir.path(),
        &["--urls", "urls.txt", "--out", out.to_str().unwrap(), "--retries", "0", "--json", "--timeout", "5"],
    );
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    let acts = |c: char| c.is_control() && c != '\n' || ('\u{202a}'..='\u{202e}').contains(&c);
    assert!(!stderr.chars().any(acts), "a control character reached stderr: {stderr:?}");
    assert!(stderr.len() < 8_000, "stderr is {} bytes", stderr.len());
    for line in stderr.lines() {
        assert!(line.chars().count() <= 600, "a {}-character line: {line}", line.chars().count());
    }
    assert!(stderr.contains("\\u{1b}]0;pwned\\u{7}"), "the escape sequence is not shown escaped: {stderr}");
    assert!(stderr.to_lowercase().contains("connection refused"), "the cause is lost: {stderr}");
    let failures = std::fs::read_to_string(out.join("failures.jsonl")).unwrap();
    for line in failures.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let reason = record["reason"].as_str().unwrap();
        assert!(!reason.chars().any(acts), "{reason:?}");
        assert!(reason.chars().count() <= 300, "a {}-character reason", reason.chars().count());
    }
}

/// `--help` lists the shared download flags and none that one other binary
/// alone reads (`pipeline_run`'s dataset flags live in `pipeline_run`).
#[test]
fn help_lists_no_dataset_flags() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && help.contains("--url-column"), "{help}");
    for flag in ["--caption-column", "--save-columns", "--output-format", "--task-index"] {
        assert!(!help.contains(flag), "normal_run --help lists {flag}");
    }
}
