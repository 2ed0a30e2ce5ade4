//! A worker process killed in the middle of a run: no image may go missing.

#![allow(clippy::unwrap_used)] // a test that cannot read /proc or its temp dir should panic
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use origin::OriginConfig;
use serde_json::Value;

/// The pids of `parent`'s direct children, read from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after_name = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        let ppid = after_name.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// SIGKILL one worker while it holds an image: every URL is still either
/// saved or reported failed with a reason, and the run finishes.
#[test]
fn killed_worker_loses_nothing() {
    let origin = origin::start(OriginConfig {
        count: 40,
        latency: Duration::from_millis(150),
        jitter: Duration::from_millis(50),
        width: 200,
        height: 150,
        ..OriginConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..40).map(|id| origin.image_url(id)).collect();
    std::fs::write(dir.path().join("urls.txt"), urls.join("\n")).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_multiprocessing_run"))
        .args(["--urls", "urls.txt", "--json", "--concurrency", "4"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for the workers, let them get going, then kill one mid-download.
    let started = Instant::now();
    let workers = loop {
        let workers = children_of(child.id());
        if workers.len() == 4 || started.elapsed() > Duration::from_secs(10) {
            break workers;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(workers.len(), 4, "workers did not start");
    std::thread::sleep(Duration::from_millis(400));
    let killed = Command::new("kill").args(["-KILL", &workers[0].to_string()]).status().unwrap();
    assert!(killed.success());

    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let saved = json["files"].as_u64().unwrap();
    let failed = json["failed"].as_u64().unwrap();
    assert_eq!(saved + failed, 40, "{json}");
    // The killed worker's image was retried on another worker and saved.
    assert_eq!(saved, 40, "{json}\n{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path().join("images")).unwrap().count(), 40);
}
