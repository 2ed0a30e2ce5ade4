//! `multithreading_run` as a user runs it, against a real origin on 127.0.0.1.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

use std::process::Command;
use std::time::Duration;

use origin::OriginConfig;
use serde_json::Value;

/// More images than threads, one of them slow and some failing: every image
/// is accounted for, the good ones saved, and the report names the thread
/// count that was asked for.
#[test]
fn pool_drains_the_queue() {
    let origin = origin::start(OriginConfig {
        count: 25,
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(5),
        width: 120,
        height: 80,
        ..OriginConfig::default()
    })
    .unwrap();
    let base = origin.base_url();
    let dir = tempfile::tempdir().unwrap();
    let mut urls: Vec<String> = (0..25).map(|id| origin.image_url(id)).collect();
    urls.insert(3, format!("{base}/faults/delay/600"));
    urls.push(format!("{base}/faults/status/503"));
    std::fs::write(dir.path().join("urls.txt"), urls.join("\n")).unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_multithreading_run"))
        .args(["--urls", "urls.txt", "--json", "--concurrency", "3"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["concurrency"], 3);
    assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(26), Some(1)), "{json}");
    assert_eq!(json["failures"][0]["reason"], "HTTP status 503");
    let images = std::fs::read_dir(dir.path().join("images")).unwrap().map(|e| e.unwrap().file_name());
    assert_eq!(images.filter(|name| name != "failures.jsonl").count(), 26);
}
