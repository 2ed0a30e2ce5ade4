//! What the cross-binary tests share: the binaries they run, built by
//! cargo for this test process; every variant at a chosen concurrency; and
//! the verdicts a run against the origin's seeded faults must reach.

#![allow(dead_code)] // not every test file that includes this module uses all of it

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use origin::{FaultKind, FaultSpec, RunningOrigin};
use serde_json::Value;

/// The packages whose binaries these tests run.
const PACKAGES: [&str; 7] = [
    "normal_run",
    "multithreading_run",
    "multiprocessing_run",
    "asyncio_run",
    "pipeline_run",
    "resize_serial",
    "resize_parallel",
];

/// The binary `name`, built (with the others, once per test process) from
/// the sources as they are now.
pub(crate) fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let folder = BUILT.get_or_init(|| test_servers::binaries::build(&PACKAGES));
    folder.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The one JSON object a run printed, after checking its exit status.
pub(crate) fn report(output: &Output, status: i32, what: &str) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "{what}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{what}: {err}: {stderr}"))
}

/// A binary and the flags that select its variant and concurrency.
pub(crate) type Run = (&'static str, Vec<String>);

/// Every download binary and variant, each at the concurrency of its kind:
/// `threads` for `multithreading_run`, `processes` for
/// `multiprocessing_run`, `tasks` for `asyncio_run` on tokio and on
/// async-std (`normal_run` does one at a time and takes no flag).
pub(crate) fn download_binaries(threads: u32, processes: u32, tasks: u32) -> Vec<Run> {
    vec![
        ("normal_run", vec![]),
        ("multithreading_run", flags(&[], threads)),
        ("multiprocessing_run", flags(&[], processes)),
        ("asyncio_run", flags(&[], tasks)),
        ("asyncio_run", flags(&["--runtime", "async-std"], tasks)),
    ]
}

/// `pipeline_run`'s concurrent modes, at the concurrency of each kind as in
/// [`download_binaries`].
pub(crate) fn pipeline_modes(threads: u32, processes: u32, tasks: u32) -> Vec<Run> {
    vec![
        ("pipeline_run", flags(&["--mode", "threads"], threads)),
        ("pipeline_run", flags(&["--mode", "processes"], processes)),
        ("pipeline_run", flags(&["--mode", "async"], tasks)),
    ]
}

/// `variant` then `--concurrency N`.
fn flags(variant: &[&str], concurrency: u32) -> Vec<String> {
    let concurrency = ["--concurrency".to_string(), concurrency.to_string()];
    variant.iter().map(|flag| flag.to_string()).chain(concurrency).collect()
}

/// A run's failures from its `--json` report: by URL, the reason and the
/// number of attempts.
pub(crate) fn failures_by_url(json: &Value) -> BTreeMap<String, (String, u64)> {
    let failures = json["failures"].as_array().unwrap_or_else(|| panic!("no failures in {json}"));
    failures
        .iter()
        .map(|failure| {
            let field = |name: &str| failure[name].clone();
            let (url, reason, attempts) = (field("url"), field("reason"), field("attempts"));
            let text = |value: &Value| value.as_str().unwrap_or_else(|| panic!("{failure}")).to_string();
            (text(&url), (text(&reason), attempts.as_u64().unwrap_or_else(|| panic!("{failure}"))))
        })
        .collect()
}

/// Checks the verdict on each of the first `images` images of a run
/// against `origin`, whose faults `spec` seeded: an image whose fault no
/// retry can cure failed for its own reason after one request (one try,
/// and one request at the origin); every other image is not among the
/// `failures`.
pub(crate) fn check_fault_verdicts(
    label: &str,
    spec: &FaultSpec,
    origin: &RunningOrigin,
    images: usize,
    failures: &BTreeMap<String, (String, u64)>,
) {
    for id in 0..images {
        let url = origin.image_url(id);
        match spec.fault_for(id) {
            Some(fault) if !fault.is_recoverable() => {
                let (reason, attempts) = &failures[&url];
                assert!(reason.starts_with(expected_reason(fault.kind)), "{label}: {url} ({}): {reason}", fault.kind);
                assert_eq!(*attempts, 1, "{label}: {url} ({}) is not worth a retry", fault.kind);
                assert_eq!(origin.attempts(id), 1, "{label}: {url} ({}) was requested again", fault.kind);
            }
            _ => assert!(!failures.contains_key(&url), "{label}: {url} is curable: {:?}", failures.get(&url)),
        }
    }
}

/// The reason a failure must start with, for a fault no retry can cure.
fn expected_reason(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::NotFound => "HTTP status 404",
        FaultKind::Html => "not an image",
        FaultKind::Loop => "redirect loop",
        FaultKind::Large | FaultKind::Endless => "body larger than",
        other => panic!("{other} is curable"),
    }
}
