//! `--respect-robots-txt` end to end: every download binary and the
//! `pipeline_run` modes against an origin whose robots.txt disallows some
//! images. Those fail as `disallowed` naming robots.txt, after no request;
//! the rest are saved; each process asks for the file once (a worker
//! process has a cache of its own). A stop while the file is slow to come
//! still ends the run at once.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use origin::{OriginConfig, RobotsFile, RunningOrigin};
use serde_json::Value;
use support::binary;

/// Images listed; the origin's `disallow` file refuses ids 10 and 11
/// (`/images/1*`, but `/images/1.jpg`, which a longer `Allow` lets through).
const IMAGES: usize = 12;
const REFUSED: [usize; 2] = [10, 11];

/// Each binary and `pipeline_run` mode, with its concurrency and how many
/// processes may each ask for the robots.txt once.
const RUNS: [(&str, &[&str], u64); 7] = [
    ("normal_run", &[], 1),
    ("multiprocessing_run", &["--concurrency", "3"], 3),
    ("asyncio_run", &["--concurrency", "8"], 1),
    ("asyncio_run", &["--concurrency", "8", "--runtime", "async-std"], 1),
    ("pipeline_run", &["--mode", "threads", "--concurrency", "4"], 1),
    ("pipeline_run", &["--mode", "processes", "--concurrency", "3"], 3),
    ("pipeline_run", &["--mode", "async", "--concurrency", "8"], 1),
];

fn robots_origin(robots: RobotsFile) -> RunningOrigin {
    origin::start(OriginConfig {
        count: IMAGES,
        latency: Duration::from_millis(5),
        jitter: Duration::ZERO,
        width: 96,
        height: 64,
        robots,
        ..OriginConfig::default()
    })
    .unwrap()
}

/// A run of `name` over every image of `origin`, into `out`.
fn command(name: &str, extra: &[&str], dir: &Path, origin: &RunningOrigin, out: &str) -> Command {
    let urls: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    std::fs::write(dir.join("urls.txt"), urls.join("\n")).unwrap();
    let mut command = Command::new(binary(name));
    command.args(["--urls", "urls.txt", "--json", "--retries", "3"]);
    command.arg(if name == "pipeline_run" { "--store" } else { "--out" }).arg(out);
    command.args(extra).current_dir(dir);
    command
}

/// Every binary and mode refuses what robots.txt disallows, as
/// `disallowed` naming the file, never retried and never requested; saves
/// the rest; and asks for the file once per process.
#[test]
fn every_binary_respects_robots_txt() {
    let dir = tempfile::tempdir().unwrap();
    for (index, (name, extra, processes)) in RUNS.into_iter().enumerate() {
        let label = format!("{name} {}", extra.join(" "));
        let origin = robots_origin(RobotsFile::disallowing());
        let mut run = command(name, extra, dir.path(), &origin, &format!("out-{index}"));
        let output = run.arg("--respect-robots-txt").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{label}: {stderr}");
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["files"].as_u64(), Some((IMAGES - REFUSED.len()) as u64), "{label}: {json}");
        // In the order the images finished, which worker processes do not keep.
        let mut failures = json["failures"].as_array().unwrap().clone();
        failures.sort_by_key(|failure| failure["url"].as_str().map(String::from));
        assert_eq!(failures.len(), REFUSED.len(), "{label}: {json}");
        for (failure, id) in failures.iter().zip(REFUSED) {
            assert_eq!(failure["url"].as_str(), Some(origin.image_url(id).as_str()), "{label}");
            let reason = failure["reason"].as_str().unwrap();
            assert!(reason.starts_with("the site's robots.txt disallows it"), "{label}: {reason}");
            assert!(failure["error"]["Fetch"]["RobotsTxt"].is_string(), "{label}: {failure}");
            assert_eq!(failure["attempts"].as_u64(), Some(1), "{label}: never retried");
            assert_eq!(origin.attempts(id), 0, "{label}: image {id} was requested");
        }
        let asked = origin.stats().robots_requests;
        eprintln!("{label}: robots.txt asked {asked} time(s)");
        assert!((1..=processes).contains(&asked), "{label}: robots.txt asked {asked} times");
    }
    // Without the flag, no robots.txt is asked for and everything is saved.
    let origin = robots_origin(RobotsFile::disallowing());
    let output = command("normal_run", &[], dir.path(), &origin, "out-off").output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(origin.stats().robots_requests, 0);
}

/// SIGTERM while a robots.txt is slow to come (its deadline 5 s, the file
/// 60 s away): the blocking and the async binaries exit within 2 s
/// (asserted with a second of slack), interrupted.
#[test]
fn a_stop_ends_a_slow_robots_txt() {
    let dir = tempfile::tempdir().unwrap();
    let runs: [(&str, &[&str]); 3] =
        [("normal_run", &[]), ("asyncio_run", &[]), ("asyncio_run", &["--runtime", "async-std"])];
    for (index, (name, extra)) in runs.into_iter().enumerate() {
        let label = format!("{name} {}", extra.join(" "));
        let origin = robots_origin(RobotsFile::Slow(Duration::from_secs(60)));
        let child = command(name, extra, dir.path(), &origin, &format!("stop-{index}"))
            .args(["--respect-robots-txt", "--timeout", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while origin.stats().robots_requests == 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "{label}: no robots.txt request");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let signalled = Instant::now();
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
        let output = child.wait_with_output().unwrap();
        let took = signalled.elapsed();
        eprintln!("{label}: exited {took:.2?} after SIGTERM during the robots.txt fetch");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(143), "{label}: {stderr}");
        assert!(took < Duration::from_secs(3), "{label}: {took:?} after SIGTERM");
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["interrupted"], true, "{label}: {json}");
        assert_eq!(origin.stats().image_requests, 0, "{label}: no image before robots.txt answered");
    }
}
