//! Every file a run writes (images, thumbnails, WebDataset tars, Parquet
//! shards, stats, ledgers) has an ordinary file's mode: 0666 less the umask,
//! so 0644 under the usual 022 and 0600 under 077. A dataset written as
//! 0600 whatever the umask cannot be read by a training job or a web
//! server running as another user.
//!
//! Running: `cargo test -p pipeline_run --test file_modes`.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use origin::{OriginConfig, RunningOrigin};

/// Photos in the list; a failing row is added, so failures are recorded too.
const PHOTOS: usize = 3;

/// Runs `pipeline_run args` under `umask`, from `dir`, through the shell's
/// own `umask` (the umask is the process's, so it is set in the child).
fn pipeline_under_umask(dir: &Path, umask: &str, args: &[&str]) {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_pipeline_run"))
        .args(args)
        .current_dir(dir)
        .env_remove("UNSPLASH_ACCESS_KEY")
        .env_remove("IMGUR_CLIENT_ID")
        .output()
        .unwrap();
    // 3: the failing row failed, as it must; anything else is a broken run.
    assert_eq!(output.status.code(), Some(3), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Every regular file under `dir`, with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(modes(&entry.path()));
        } else if kind.is_file() {
            found.push((entry.path(), entry.metadata().unwrap().permissions().mode() & 0o777));
        }
    }
    found
}

/// A URL list of the origin's photos and one 404, in `dir`.
fn url_list(dir: &Path, origin: &RunningOrigin) -> String {
    let mut lines: Vec<String> = (0..PHOTOS).map(|n| origin.image_url(n)).collect();
    lines.push(format!("{}/faults/status/404", origin.base_url()));
    let path = dir.join("urls.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.to_string_lossy().into_owned()
}

/// Thumbnails and their ledgers, and WebDataset shards with their Parquet
/// metadata and stats, all get 0666 less the umask, under 022 and 077.
#[test]
fn files_get_the_ordinary_mode_under_every_umask() {
    let origin =
        origin::start(OriginConfig { count: PHOTOS, width: 96, height: 64, ..OriginConfig::default() }).unwrap();
    for (umask, expected) in [("022", 0o644), ("077", 0o600)] {
        let dir = tempfile::tempdir().unwrap();
        let urls = url_list(dir.path(), &origin);
        let store = dir.path().join("out");
        let dataset = dir.path().join("dataset");
        pipeline_under_umask(dir.path(), umask, &["--urls", &urls, "--store", store.to_str().unwrap()]);
        pipeline_under_umask(
            dir.path(),
            umask,
            &[
                "--urls",
                &urls,
                "--store",
                dataset.to_str().unwrap(),
                "--output-format",
                "webdataset",
                "--shard-size",
                "2",
            ],
        );
        let mut written = modes(&store);
        written.extend(modes(&dataset));
        let names: Vec<String> =
            written.iter().map(|(path, _)| path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        // What the two runs must have written, so the check below covers each kind.
        for wanted in ["_thumbnail.jpg", "failures.jsonl", ".tar", ".parquet", "_stats.json"] {
            assert!(names.iter().any(|name| name.ends_with(wanted)), "no {wanted} among {names:?}");
        }
        for (path, mode) in written {
            assert_eq!(mode, expected, "{} under umask {umask}: {mode:o}", path.display());
        }
    }
}
