//! Fetching and saving against a real origin on 127.0.0.1: every kind of
//! failure is typed, and no failure leaves a file behind.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

use std::path::Path;
use std::time::Duration;

use common::fetch::FetchError;
use common::fetch::{FetchOptions, Fetcher};
use common::run::download_folder;
use common::{Downloader, Item, ItemError};
use origin::{OriginConfig, RunningOrigin};

/// A fast origin with small photos: tests wait on neither latency nor encoding.
fn small_origin() -> RunningOrigin {
    origin::start(OriginConfig {
        count: 8,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 160,
        height: 120,
        ..OriginConfig::default()
    })
    .expect("origin starts")
}

/// A URL, a check of the error it must give, and whether that error is retryable.
type Case = (String, fn(&FetchError) -> bool, bool);

fn fetcher(timeout_ms: u64, max_bytes: u64) -> Fetcher {
    Fetcher::new(FetchOptions { timeout: Duration::from_millis(timeout_ms), max_bytes, ..FetchOptions::default() })
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// A good image comes back byte for byte, recognised as a JPEG.
#[test]
fn fetches_an_image() {
    let origin = small_origin();
    let fetched = fetcher(5_000, 1 << 20).fetch(&origin.image_url(3)).unwrap();
    assert_eq!(fetched.format, image::ImageFormat::Jpeg);
    let decoded = image::load_from_memory(&fetched.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (160, 120));
}

/// Each failure has its own variant, and only the transient ones are retryable.
#[test]
fn failures_are_typed() {
    let origin = small_origin();
    let base = origin.base_url();
    let client = fetcher(700, 1 << 20);
    let cases: Vec<Case> = vec![
        (format!("{base}/faults/status/404"), |e| *e == FetchError::Status(404), false),
        (format!("{base}/faults/status/500"), |e| *e == FetchError::Status(500), true),
        (format!("{base}/faults/status/429"), |e| *e == FetchError::Status(429), true),
        (format!("{base}/faults/delay/5000"), |e| matches!(e, FetchError::Timeout(_)), true),
        (format!("{base}/faults/large/3000000"), |e| matches!(e, FetchError::TooLarge { limit: 1048576 }), false),
        (
            format!("{base}/faults/html"),
            |e| matches!(e, FetchError::NotAnImage(s) if s.starts_with("<!doctype")),
            false,
        ),
        (format!("{base}/faults/truncated"), |e| matches!(e, FetchError::Network(_)), true),
        ("ftp://127.0.0.1/x.jpg".to_string(), |e| matches!(e, FetchError::InvalidUrl(_)), false),
        ("file:///etc/passwd".to_string(), |e| matches!(e, FetchError::InvalidUrl(_)), false),
        ("not a url".to_string(), |e| matches!(e, FetchError::InvalidUrl(_)), false),
        ("http://127.0.0.1:1/refused.jpg".to_string(), |e| matches!(e, FetchError::ConnectionRefused(_)), true),
        ("http://no-such-host.invalid/x.jpg".to_string(), |e| matches!(e, FetchError::NoSuchHost(_)), false),
    ];
    for (url, expected, retryable) in cases {
        let err = client.fetch(&url).expect_err(&url);
        assert!(expected(&err), "{url}: got {err:?}");
        assert_eq!(err.is_retryable(), retryable, "{url}: {err:?}");
    }
}

/// Failed downloads leave nothing in the folder, not even a temporary file,
/// while good ones next to them are saved whole.
#[test]
fn failures_leave_no_files() {
    let origin = small_origin();
    let dir = tempfile::tempdir().unwrap();
    let out = download_folder(dir.path(), false).unwrap();
    let downloader = Downloader::new(fetcher(700, 1 << 20), out);
    let base = origin.base_url();
    for url in [
        format!("{base}/faults/truncated"),
        format!("{base}/faults/large/3000000"),
        format!("{base}/faults/delay/5000"),
        format!("{base}/faults/status/503"),
    ] {
        assert!(downloader.download(&Item::from_url(&url)).is_err(), "{url}");
    }
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
    let saved = downloader.download(&Item::from_url(origin.image_url(1))).unwrap();
    let served = ureq::get(&origin.image_url(1)).call().unwrap().body_mut().read_to_vec().unwrap();
    assert_eq!(std::fs::read(dir.path().join(&saved.key)).unwrap(), served);
    assert_eq!(files_in(dir.path()).len(), 1);
}

/// A write that fails (folder gone) is a typed error and leaves no file.
#[test]
fn failing_write_is_reported() {
    let origin = small_origin();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("gone");
    let out = download_folder(&folder, false).unwrap();
    std::fs::remove_dir(&folder).unwrap();
    let downloader = Downloader::new(fetcher(5_000, 1 << 20), out);
    let err = downloader.download(&Item::from_url(origin.image_url(0))).unwrap_err();
    assert!(matches!(err.error, ItemError::Store(_)), "{err:?}");
    assert!(err.to_string().contains("gone"), "{err}");
    assert!(!folder.exists());
}

/// An atomic write replaces an existing file whole and leaves no temporary.
#[test]
fn atomic_write_replaces_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = download_folder(dir.path(), false).unwrap();
    out.write_atomic("a.jpg", &[1u8; 10_000]).unwrap();
    out.write_atomic("a.jpg", b"short").unwrap();
    assert_eq!(std::fs::read(dir.path().join("a.jpg")).unwrap(), b"short");
    assert_eq!(files_in(dir.path()), ["a.jpg"]);
}

/// `--clean` removes images, metadata and leftovers of a killed run, and
/// nothing else.
#[test]
fn clean_removes_only_our_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.jpg", "b.PNG", ".partial-x1y2", "metadata.jsonl", "notes.txt"] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    std::fs::create_dir(dir.path().join("keep")).unwrap();
    download_folder(dir.path(), true).unwrap();
    assert_eq!(files_in(dir.path()), ["keep", "notes.txt"]);
}
