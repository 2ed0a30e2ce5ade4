//! The local folder: the first [`Sink`], with atomic writes.
//!
//! A file appears under its final name only once it is complete: it is
//! written to a hidden temporary file in the same folder and renamed, which
//! is atomic on every file system we target, so a crash, a full disk or a
//! dropped connection never leaves half an image that looks whole.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Sink, SinkError, Stored};

/// Prefix of temporary files; `--clean` removes leftovers of a killed run.
const PARTIAL_PREFIX: &str = ".partial-";

/// A folder that objects are written into, one file per key.
#[derive(Debug, Clone)]
pub struct LocalDir {
    path: PathBuf,
}

impl LocalDir {
    /// Creates the folder if needed; with `clean`, first removes the files
    /// an earlier run left there whose name `is_ours` accepts, and partial
    /// files of a killed run.
    ///
    /// Cleaning deliberately leaves anything else alone (subfolders, notes,
    /// other file types): `--out ~ --clean` must not be able to empty a home,
    /// and the thumbnail binaries remove `*_thumbnail.*` and leave the images
    /// alone even when the input and output folders are the same.
    pub fn prepare(path: &Path, clean: bool, is_ours: impl Fn(&str) -> bool) -> Result<Self, SinkError> {
        let folder_error = |cause: io::Error| SinkError::Folder { path: path.to_path_buf(), cause: cause.to_string() };
        fs::create_dir_all(path).map_err(folder_error)?;
        if clean {
            for entry in fs::read_dir(path).map_err(folder_error)? {
                let entry = entry.map_err(folder_error)?;
                let is_file = entry.file_type().map_err(folder_error)?.is_file();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if is_file && (name.starts_with(PARTIAL_PREFIX) || is_ours(&name)) {
                    fs::remove_file(entry.path()).map_err(folder_error)?;
                }
            }
        }
        Ok(LocalDir { path: path.to_path_buf() })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `each` with the name of every complete file in this folder, in
    /// one pass over the folder: never a temporary file (of a write under
    /// way, or left by a killed run), because a file gets its final name only
    /// once it is whole. What a run resumes from.
    pub fn for_each_complete_file(&self, mut each: impl FnMut(&str)) -> Result<(), SinkError> {
        let folder_error = |cause: io::Error| SinkError::Folder { path: self.path.clone(), cause: cause.to_string() };
        for entry in fs::read_dir(&self.path).map_err(folder_error)? {
            let entry = entry.map_err(folder_error)?;
            let name = entry.file_name();
            // Names we write are UTF-8; anything else is not ours.
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(PARTIAL_PREFIX) && entry.file_type().map_err(folder_error)?.is_file() {
                each(name);
            }
        }
        Ok(())
    }

    /// Writes `bytes` to `name` in this folder, atomically: readers see
    /// either no file or the whole file, never part of it.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, SinkError> {
        let path = self.path.join(name);
        let write_error = |cause: io::Error| SinkError::write(&path, &cause);
        let mut partial =
            tempfile::Builder::new().prefix(PARTIAL_PREFIX).tempfile_in(&self.path).map_err(write_error)?;
        partial.write_all(bytes).map_err(write_error)?;
        // No fsync: a power cut may lose the newest images, but the rename
        // still never exposes a partial one, and syncing every small file
        // would cost more than the download. Dropping `partial` on an error
        // above deletes the temporary file.
        partial.persist(&path).map_err(|err| write_error(err.error))?;
        Ok(path)
    }
}

impl Sink for LocalDir {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError> {
        self.write_atomic(key, bytes)?;
        Ok(Stored { key: key.to_string(), bytes: bytes.len() as u64 })
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write leaves exactly the final file; cleaning removes only what
    /// `is_ours` accepts and partial files.
    #[test]
    fn writes_atomically_and_cleans_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalDir::prepare(dir.path(), false, |_| false).unwrap();
        let stored = sink.put("a.jpg", b"jpeg").unwrap();
        assert_eq!((stored.key.as_str(), stored.bytes), ("a.jpg", 4));
        std::fs::write(dir.path().join(".partial-x"), b"half").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let names = |dir: &Path| {
            let mut names: Vec<String> =
                fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            names
        };
        assert_eq!(names(dir.path()), [".partial-x", "a.jpg", "notes.txt"]);
        let mut complete = Vec::new();
        sink.for_each_complete_file(|name| complete.push(name.to_string())).unwrap();
        complete.sort();
        assert_eq!(complete, ["a.jpg", "notes.txt"], "never a partial file");
        LocalDir::prepare(dir.path(), true, |name| name.ends_with(".jpg")).unwrap();
        assert_eq!(names(dir.path()), ["notes.txt"]);
    }
}
