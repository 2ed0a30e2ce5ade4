//! Every download binary against the same origin and the same list: they
//! must save the same files with the same bytes, and fail the same URLs for
//! the same reasons (in the report and in `failures.jsonl`).
//!
//! The binaries are built for the test (`support::binary`).

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use origin::OriginConfig;
use serde_json::Value;
use support::{binary, download_binaries, report};

/// Saved files by name, with their bytes.
type Files = BTreeMap<String, Vec<u8>>;
/// Failed URLs, with the kind of reason.
type Reasons = BTreeMap<String, String>;

/// The body limit the runs get: small, so the oversized fault is quick to
/// refuse even for a debug build on a loaded machine.
const MAX_BYTES: u64 = 1_000_000;

/// The list of failures a run writes beside its images: compared by
/// meaning, not bytes, since network errors are worded by the HTTP library.
const FAILURES_FILE: &str = "failures.jsonl";

/// Every file in `dir` but the failures, by name, with its bytes.
fn files(dir: &Path) -> Files {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap())
        })
        .filter(|(name, _)| name != FAILURES_FILE)
        .collect()
}

/// The failures file of `dir`: its URLs in file order, and each with the
/// kind of its reason.
fn failures_file(dir: &Path) -> (Vec<String>, Reasons) {
    let text = std::fs::read_to_string(dir.join(FAILURES_FILE)).unwrap();
    let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let urls = lines.iter().map(|line| line["url"].as_str().unwrap().to_string()).collect();
    let reasons = lines
        .iter()
        .map(|line| (line["url"].as_str().unwrap().to_string(), reason_kind(line["reason"].as_str().unwrap())))
        .collect();
    (urls, reasons)
}

/// A failure's reason, with the part that depends on the HTTP library cut.
fn reason_kind(reason: &str) -> String {
    match reason.split_once(':') {
        Some(("network error", _)) => "network error".to_string(),
        _ => reason.to_string(),
    }
}

/// Same files, same bytes, same failures from every methodology.
#[test]
fn all_binaries_agree() {
    let origin = origin::start(OriginConfig {
        count: 30,
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(15),
        width: 240,
        height: 160,
        ..OriginConfig::default()
    })
    .unwrap();
    let base = origin.base_url();
    let dir = tempfile::tempdir().unwrap();
    let mut list: Vec<String> = (0..30).map(|id| origin.image_url(id)).collect();
    list.extend([
        format!("{base}/faults/status/404"),
        format!("{base}/faults/status/500"),
        format!("{base}/faults/html"),
        format!("{base}/faults/delay/8000"),
        format!("{base}/faults/large/{}", MAX_BYTES + 1),
        format!("{base}/faults/truncated"),
        format!("{base}/images/999.jpg"),
    ]);
    std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();

    let mut baseline: Option<(Files, Reasons)> = None;
    for (name, extra) in download_binaries(4, 3, 8) {
        let out = dir.path().join(format!("out-{name}-{}", extra.len()));
        let output = Command::new(binary(name))
            .args(["--urls", "urls.txt", "--json", "--timeout", "3", "--retries", "1"])
            .args(["--max-bytes", &MAX_BYTES.to_string(), "--out"])
            .arg(&out)
            .args(&extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let json = report(&output, 3, &format!("{name} {extra:?}"));
        assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(30), Some(7)), "{name} {extra:?}: {json}");
        let failures: BTreeMap<String, String> = json["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["url"].as_str().unwrap().to_string(), reason_kind(f["reason"].as_str().unwrap())))
            .collect();
        let saved = files(&out);
        // failures.jsonl says what the report says, sorted by URL.
        let (listed, listed_reasons) = failures_file(&out);
        assert_eq!(listed_reasons, failures, "{name} {extra:?}: failures.jsonl");
        assert!(listed.is_sorted() && listed.len() == failures.len(), "{name} {extra:?}: {listed:?}");
        match &baseline {
            None => baseline = Some((saved, failures)),
            Some((files, reasons)) => {
                assert_eq!(saved.keys().collect::<Vec<_>>(), files.keys().collect::<Vec<_>>(), "{name} {extra:?}");
                assert!(saved == *files, "{name} {extra:?}: same names, different bytes");
                assert_eq!(&failures, reasons, "{name} {extra:?}");
            }
        }
    }
    // The baseline itself is right: every good image saved as served.
    let (files, _) = baseline.unwrap();
    assert_eq!(files.len(), 30);
    let served = ureq::get(&origin.image_url(7)).call().unwrap().body_mut().read_to_vec().unwrap();
    assert!(files.values().any(|bytes| *bytes == served));
}

/// Every binary runs from the embedded origin with no configuration at all.
#[test]
fn all_binaries_use_the_embedded_origin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.ini"), "[ORIGIN]\nlatency_ms = 5\njitter_ms = 5\n").unwrap();
    for (name, extra) in download_binaries(4, 3, 8) {
        let output = Command::new(binary(name))
            .args(["--count", "6", "--json", "--clean"])
            .args(&extra)
            .current_dir(dir.path())
            .env_remove("UNSPLASH_ACCESS_KEY")
            .env_remove("IMGUR_CLIENT_ID")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["files"], 6, "{name}: {json}");
        assert_eq!(files(&dir.path().join("images")).len(), 6, "{name}");
    }
}
