//! What the cross-binary tests share: finding the other download binaries,
//! and every variant at a small concurrency.
//!
//! `cargo test --workspace` builds every binary of the workspace before any
//! test runs, so the others sit next to this package's own.

use std::path::{Path, PathBuf};

/// The binary `name`, next to `asyncio_run`'s own; a clear failure if it
/// was not built.
pub(crate) fn binary(name: &str) -> PathBuf {
    let own = Path::new(env!("CARGO_BIN_EXE_asyncio_run"));
    let path = own.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` (or `cargo test --workspace`)",
        path.display()
    );
    path
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
