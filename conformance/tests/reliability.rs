//! Every download binary against a host that fails in every way: the
//! origin's seeded faults decide, per image, which ones time can cure (5xx,
//! 429 with Retry-After, dropped and reset connections, short bodies,
//! stalls, drips) and which it cannot (404, an HTML page, a redirect loop,
//! an oversized or endless body). Every
//! binary must save every curable image, fail every other one for its own
//! reason after a single try, and be polite to a host that serves only a
//! few requests at once.
//!
//! The binaries are built for the test (`support::binary`).

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use origin::{FaultSpec, OriginConfig, RunningOrigin};
use support::{binary, check_fault_verdicts, download_binaries, failures_by_url, report};

/// Images on the faulty host.
const IMAGES: usize = 60;

/// Every kind of fault, most of them curable; about 3 in 4 images get one.
const FAULTS: &str = "500=8,503=6,429=6,reset=6,truncate=6,stall=3,drip=3,html=4,404=4,loop=4,large=4,redirect=6,\
                      rst-before=4,rst-midway=4,endless=4,retry-after=1,stall-ms=30000,drip-ms=200,\
                      large-bytes=3000000";

/// The body limit the runs get, under the `large` fault's size.
const MAX_BYTES: u64 = 1_000_000;

fn faulty_origin(spec: &FaultSpec) -> RunningOrigin {
    origin::start(OriginConfig {
        count: IMAGES,
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
        width: 200,
        height: 150,
        faults: spec.clone(),
        ..OriginConfig::default()
    })
    .unwrap()
}

/// With two retries, every image whose fault is curable is saved whole and
/// every other one fails for its own reason after exactly one request; the
/// same in every binary.
#[test]
fn every_curable_image_is_saved_by_every_binary() {
    let mut spec: FaultSpec = FAULTS.parse().unwrap();
    spec.seed = 7;
    let curable = (0..IMAGES).filter(|&id| spec.fault_for(id).is_none_or(|f| f.is_recoverable())).count();
    let retried = (0..IMAGES).filter(|&id| spec.fault_for(id).is_some_and(|f| f.kind.is_transient())).count();
    assert!(curable < IMAGES && retried > 10, "the spec must hold both kinds: {curable} curable, {retried} retried");
    let dir = tempfile::tempdir().unwrap();
    for (index, (name, extra)) in download_binaries(8, 4, 16).into_iter().enumerate() {
        // A fresh origin per run: its per-image attempt counts are this run's.
        let origin = faulty_origin(&spec);
        let list: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
        std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();
        let out = dir.path().join(format!("out-{index}"));
        let output = Command::new(binary(name))
            .args(["--urls", "urls.txt", "--json", "--timeout", "1", "--retries", "2"])
            .args(["--max-bytes", &MAX_BYTES.to_string(), "--out"])
            .arg(&out)
            .args(&extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let json = report(&output, 3, &format!("{name} {extra:?}"));
        assert_eq!(json["files"].as_u64(), Some(curable as u64), "{name} {extra:?}: {json}");
        assert_eq!(json["retried"].as_u64(), Some(retried as u64), "{name} {extra:?}: {json}");
        check_fault_verdicts(name, &spec, &origin, IMAGES, &failures_by_url(&json));
        // Every file saved decodes: no short body slipped through.
        let saved: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "jpg"))
            .collect();
        assert_eq!(saved.len(), curable, "{name}");
        for path in saved {
            assert!(image::open(&path).is_ok(), "{name}: {} does not decode", path.display());
        }
    }
}

/// Against a host that serves 8 requests at once and answers 429 beyond,
/// the concurrent binaries at a concurrency well past 8 save every image
/// and draw fewer 429s than there are images: each host's limit adapts.
/// The host sends no `Retry-After`, so nothing but the limit paces the
/// retries: with the limit switched off, images fail after their three
/// retries (seen: 3 of 300 lost at the first binary), so this test fails.
#[test]
fn a_host_that_serves_eight_at_once_gets_eight() {
    const HOST_IMAGES: usize = 300;
    let mut spec: FaultSpec = "cap=8,retry-after=0".parse().unwrap();
    spec.seed = 1;
    let dir = tempfile::tempdir().unwrap();
    let runs: [(&str, &[&str]); 3] = [
        ("asyncio_run", &[]), // its default concurrency, 100
        ("asyncio_run", &["--runtime", "async-std"]),
        ("multithreading_run", &["--concurrency", "32"]),
    ];
    for (index, (name, extra)) in runs.into_iter().enumerate() {
        let origin = origin::start(OriginConfig {
            count: HOST_IMAGES,
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(20),
            width: 120,
            height: 90,
            faults: spec.clone(),
            ..OriginConfig::default()
        })
        .unwrap();
        let list: Vec<String> = (0..HOST_IMAGES).map(|id| origin.image_url(id)).collect();
        std::fs::write(dir.path().join("urls.txt"), list.join("\n")).unwrap();
        let output = Command::new(binary(name))
            .args(["--urls", "urls.txt", "--json", "--out"])
            .arg(dir.path().join(format!("out-{index}")))
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let json = report(&output, 0, &format!("{name} {extra:?}"));
        assert_eq!(json["files"].as_u64(), Some(HOST_IMAGES as u64), "{name} {extra:?}");
        let stats = origin.stats();
        eprintln!(
            "{name} {extra:?}: {} 429s for {HOST_IMAGES} images, peak {} in flight",
            stats.too_many_requests, stats.peak_in_flight
        );
        assert!(stats.too_many_requests < HOST_IMAGES as u64, "{name} {extra:?}: {stats:?}");
    }
}
