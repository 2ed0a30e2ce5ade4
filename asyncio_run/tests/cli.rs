//! `asyncio_run` as a user runs it, on both runtimes, against a real origin
//! on 127.0.0.1. (It against the other download binaries: `conformance/`.)

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

use std::process::Command;
use std::time::Duration;

use origin::OriginConfig;
use serde_json::Value;

/// More images than tasks in flight, one of them slow and one failing, on
/// tokio and on async-std: every image is accounted for, the good ones
/// saved, and the report names the concurrency that was asked for.
#[test]
fn both_runtimes_drain_the_list() {
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
    urls.push(format!("{base}/faults/status/404"));
    std::fs::write(dir.path().join("urls.txt"), urls.join("\n")).unwrap();

    for runtime in ["tokio", "async-std"] {
        let out = format!("out-{runtime}");
        let output = Command::new(env!("CARGO_BIN_EXE_asyncio_run"))
            .args(["--urls", "urls.txt", "--json", "--concurrency", "4", "--runtime", runtime, "--out", &out])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3), "{runtime}: {}", String::from_utf8_lossy(&output.stderr));
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["concurrency"], 4, "{runtime}: {json}");
        assert_eq!((json["files"].as_u64(), json["failed"].as_u64()), (Some(26), Some(1)), "{runtime}: {json}");
        assert_eq!(json["failures"][0]["reason"], "HTTP status 404", "{runtime}: {json}");
        let images = std::fs::read_dir(dir.path().join(&out)).unwrap().map(|e| e.unwrap().file_name());
        assert_eq!(images.filter(|name| name != "failures.jsonl").count(), 26, "{runtime}");
    }
}
