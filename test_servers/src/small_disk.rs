//! A small tmpfs, mounted for one test and unmounted after it: the disk
//! that fills up, for the full-disk tests of the download binaries and of
//! `pipeline_run`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::REQUIRE_ENV;

/// A tmpfs of a given size at [`SmallDisk::path`], unmounted when dropped.
#[derive(Debug)]
pub struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`mount -o size=`, e.g. `400k`, `1m`), or
    /// says loudly why it cannot (mounting needs root) and gives `None`;
    /// with `REQUIRE_TEST_SERVERS=1` (CI) that is a failure.
    ///
    /// # Panics
    /// When the temporary folder cannot be made, or the mount fails under
    /// `REQUIRE_TEST_SERVERS=1`.
    pub fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("small");
        std::fs::create_dir(&path).expect("a mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            let why = "!! FULL-DISK TEST SKIPPED: cannot mount a small tmpfs (needs root: run the tests as root) !!";
            assert!(std::env::var(REQUIRE_ENV).as_deref() != Ok("1"), "{why}");
            eprintln!("{why}");
            return None;
        }
        Some(SmallDisk { path, _dir: dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}
