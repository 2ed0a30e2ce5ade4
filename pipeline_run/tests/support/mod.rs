//! What `pipeline_run`'s test files share: running the binary, and
//! reading the `--json` report of a run that must end with a given status.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `pipeline_run` in `dir` with `args`, with no API key from the
/// environment (so the default source is the embedded origin).
pub(crate) fn pipeline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(args)
        .current_dir(dir)
        .env_remove("UNSPLASH_ACCESS_KEY")
        .env_remove("IMGUR_CLIENT_ID")
        .output()
        .unwrap()
}

/// The `--json` report of a run that must exit with `status`.
pub(crate) fn report(output: &Output, status: i32, what: &str) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "{what}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{what}: {err}: {stderr}"))
}
