//! What the cross-binary tests share: the binaries they run, built by
//! cargo for this test process, and every variant at a small concurrency.

use std::path::PathBuf;
use std::sync::OnceLock;

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

/// Each binary, with the extra flags that select a variant, at a small
/// concurrency (tests that need another give their own, with why).
#[allow(dead_code)] // not every test file that includes this module uses it
pub(crate) const RUNS: [(&str, &[&str]); 5] = [
    ("normal_run", &[]),
    ("multithreading_run", &["--concurrency", "4"]),
    ("multiprocessing_run", &["--concurrency", "3"]),
    ("asyncio_run", &["--concurrency", "8"]),
    ("asyncio_run", &["--concurrency", "8", "--runtime", "async-std"]),
];
