//! The workspace's own binaries, built for a test of another package.
//!
//! Cargo gives a test the paths of its own package's binaries
//! (`CARGO_BIN_EXE_<name>`) and of no other: a test that runs every
//! download binary (`conformance`) would otherwise find them only if
//! something else had built them, and could run a stale one. [`build`]
//! runs one `cargo build` of the packages it is given, into the target
//! directory and profile of the test that asks, so `cargo test -p
//! conformance` on a fresh checkout builds what it runs, and after an
//! edit runs the edited code. Under `cargo test --workspace` everything is
//! built already and the call costs about a second.
//!
//! One call for all the packages a test file runs, not one per binary:
//! cargo unifies features across the packages of one build, so `common` is
//! compiled once for them all (the `escargot` crate, which builds one
//! binary per call, would compile it once per feature set). Nightly's
//! artifact dependencies (`-Z bindeps`) would do this in the manifest.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the binaries of `packages` (each with its default features) with
/// the calling test's profile, into its target directory, and returns the
/// folder they are in.
///
/// # Panics
/// When the test does not run from `<target>/<profile>/deps/`, cargo cannot
/// be started, or the build fails (with cargo's own message).
pub fn build(packages: &[&str]) -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    // `<target>/<profile>/deps/<test>`: build beside it, in its profile.
    let profile_dir = test.parent().and_then(Path::parent).expect("a test under <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("a target directory");
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("no profile in {}", profile_dir.display()),
    };
    // The cargo that runs the tests (it sets `CARGO`), so the toolchain is the same.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--bins", "--profile", profile, "--target-dir"]).arg(target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    // What cargo set for this test's own run (`CARGO_PKG_NAME=conformance`, ...)
    // must not reach the inner cargo: build scripts that watch those variables
    // (ring's does) would run again, and rebuild half the tree, in every build.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_for_the_test) {
            command.env_remove(name);
        }
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = command.current_dir(workspace).output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build of {packages:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    profile_dir.to_path_buf()
}

/// Whether cargo sets the environment variable `name` for a test it runs
/// (as for a build script), rather than the user for cargo.
fn set_for_the_test(name: &str) -> bool {
    const PREFIXES: [&str; 3] = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CFG_"];
    const NAMES: [&str; 7] = [
        "CARGO",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix)) || NAMES.contains(&name)
}
