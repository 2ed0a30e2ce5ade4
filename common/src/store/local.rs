//! The local folder: the first [`Sink`], with atomic writes.
//!
//! A file appears under its final name only once it is complete, so a
//! crash, a full disk or a dropped connection never leaves half an image
//! that looks whole. Two ways, the first that works:
//!
//! 1. On Linux, an unnamed file (`O_TMPFILE`) linked in under its name once
//!    written (`unnamed.rs`): no temporary name, so nothing is left behind
//!    even by `kill -9`.
//! 2. Elsewhere (and on file systems without `O_TMPFILE`), a hidden
//!    temporary file in the same folder, renamed over the final name, which
//!    is atomic on every file system we target.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
#[cfg(target_os = "linux")]
use std::sync::Arc;
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicBool, Ordering};

use super::{PARTIAL_PREFIX, Partial, PartialBody, Sink, SinkError, Stored};

/// A folder that objects are written into, one file per key.
#[derive(Debug, Clone)]
pub struct LocalDir {
    path: PathBuf,
    /// Whether unnamed files work in this folder; cleared by the first
    /// write that finds they do not, so later writes go straight to the
    /// rename path. Shared by clones (one folder, one answer).
    #[cfg(target_os = "linux")]
    unnamed_works: Arc<AtomicBool>,
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
        Ok(LocalDir {
            path: path.to_path_buf(),
            #[cfg(target_os = "linux")]
            unnamed_works: Arc::new(AtomicBool::new(true)),
        })
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
    /// An existing file of that name is replaced whole.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, SinkError> {
        let path = self.path.join(name);
        // The file's own folder (a key's subfolder, see `put`): the unnamed
        // file is made there, and the temporary file of the rename path too,
        // so the final link or rename never crosses folders.
        let folder = path.parent().unwrap_or(&self.path).to_path_buf();
        #[cfg(target_os = "linux")]
        if self.unnamed_works.load(Ordering::Relaxed) {
            match super::unnamed::write(&folder, &path, bytes) {
                Ok(()) => return Ok(path),
                Err(super::unnamed::NotWritten::Failed(cause)) => return Err(SinkError::write(&path, &cause)),
                Err(super::unnamed::NotWritten::Unsupported) => self.unnamed_works.store(false, Ordering::Relaxed),
            }
        }
        write_renamed(&folder, &path, bytes).map_err(|cause| SinkError::write(&path, &cause))?;
        Ok(path)
    }
    /// Starts the file `name` of this folder, written piece by piece and
    /// named by [`PartialFile::finish`]: the same two ways as
    /// [`LocalDir::write_atomic`], so it is invisible until complete and
    /// leaves nothing when dropped (an unnamed file is freed by the kernel,
    /// a temporary one removed).
    fn start(&self, name: &str) -> Result<PartialFile, SinkError> {
        let path = self.path.join(name);
        let folder = path.parent().unwrap_or(&self.path).to_path_buf();
        #[cfg(target_os = "linux")]
        if self.unnamed_works.load(Ordering::Relaxed) {
            match super::unnamed::create(&folder) {
                Ok(file) => return Ok(PartialFile { path, folder, file: Unfinished::Unnamed(file) }),
                Err(super::unnamed::NotWritten::Failed(cause)) => return Err(SinkError::write(&path, &cause)),
                Err(super::unnamed::NotWritten::Unsupported) => self.unnamed_works.store(false, Ordering::Relaxed),
            }
        }
        let temporary = temporary_in(&folder).map_err(|cause| SinkError::write(&path, &cause))?;
        Ok(PartialFile { path, folder, file: Unfinished::Temporary(temporary) })
    }
}

/// A file of the folder being written as its bytes arrive, with no final
/// name yet.
#[derive(Debug)]
pub(super) struct PartialFile {
    /// Its final name.
    path: PathBuf,
    /// The folder it is in.
    folder: PathBuf,
    file: Unfinished,
}

/// The two ways a file waits for its name.
#[derive(Debug)]
enum Unfinished {
    /// Linux's `O_TMPFILE`: no name at all until finished.
    #[cfg(target_os = "linux")]
    Unnamed(fs::File),
    /// A hidden temporary name, removed when dropped.
    Temporary(tempfile::NamedTempFile),
}

impl PartialFile {
    /// Appends `bytes`.
    pub(super) fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let written = match &mut self.file {
            #[cfg(target_os = "linux")]
            Unfinished::Unnamed(file) => file.write_all(bytes),
            Unfinished::Temporary(file) => file.write_all(bytes),
        };
        written.map_err(|cause| SinkError::write(&self.path, &cause))
    }

    /// Gives the file its final name, replacing a file of that name whole.
    fn finish(self) -> Result<(), SinkError> {
        let PartialFile { path, folder, file } = self;
        let named = match file {
            #[cfg(target_os = "linux")]
            Unfinished::Unnamed(file) => super::unnamed::name(&file, &folder, &path),
            Unfinished::Temporary(file) => file.persist(&path).map(drop).map_err(|err| err.error),
        };
        let _ = folder; // only the unnamed way needs it
        named.map_err(|cause| SinkError::write(&path, &cause))
    }
}

/// A hidden temporary file in `folder`, with an ordinary file's mode.
fn temporary_in(folder: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(PARTIAL_PREFIX);
    // tempfile's own default is 0600; ask for an ordinary file's mode,
    // which the kernel then narrows by the umask, as for any new file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(super::FILE_MODE));
    builder.tempfile_in(folder)
}

/// The portable way: a hidden temporary file in `folder`, renamed over
/// `path` once written.
fn write_renamed(folder: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    {
        let mut partial = temporary_in(folder)?;
        partial.write_all(bytes)?;
        // No fsync: a power cut may lose the newest images, but the rename
        // still never exposes a partial one, and syncing every small file
        // would cost more than the download. Dropping `partial` on an error
        // above deletes the temporary file.
        partial.persist(path).map_err(|err| err.error)?;
        Ok(())
    }
}

/// Whether `key` names a file this folder may write: a name, or one
/// subfolder and a name (`<image>/crop-007.jpg`), each part non-empty, not
/// `.` or `..` and free of backslashes and NUL, so no key can reach outside the
/// folder. Keys are built by the run from safe names (`run/names.rs`);
/// this is the sink's own guard, for a key built wrongly.
fn check_key(key: &str) -> Result<(), SinkError> {
    let refuse = |reason: &str| Err(SinkError::BadKey { key: key.to_string(), reason: reason.to_string() });
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() > 2 {
        return refuse("more than one subfolder");
    }
    for part in parts {
        if part.is_empty() {
            return refuse("an empty part (a leading, doubled or trailing `/`)");
        }
        if part == "." || part == ".." {
            return refuse("`.` or `..`");
        }
        if part.contains(['\\', '\0']) {
            return refuse("a backslash or NUL");
        }
    }
    Ok(())
}

impl LocalDir {
    /// Refuses a key that could leave the folder, and creates the
    /// subfolder a key with one `/` names.
    fn check_and_make_room(&self, key: &str) -> Result<(), SinkError> {
        check_key(key)?;
        if let Some((subfolder, _)) = key.split_once('/') {
            let subfolder = self.path.join(subfolder);
            // Two writers racing to create it both succeed: `create_dir_all`
            // accepts a folder that exists.
            fs::create_dir_all(&subfolder).map_err(|cause| SinkError::write(&subfolder, &cause))?;
        }
        Ok(())
    }
}

impl Sink for LocalDir {
    /// Stores `bytes` as the file `key`; a key with one `/` is a file in a
    /// subfolder, created on first use. Keys that could leave the folder
    /// are refused ([`SinkError::BadKey`]).
    fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError> {
        self.check_and_make_room(key)?;
        self.write_atomic(key, bytes)?;
        Ok(Stored { key: key.to_string(), bytes: bytes.len() as u64 })
    }

    /// Starts the file `key` (keys as for `put`), written as its bytes
    /// arrive into an unnamed or hidden temporary file of its folder.
    fn create(&self, key: &str) -> Result<Partial, SinkError> {
        self.check_and_make_room(key)?;
        Ok(Partial { key: key.to_string(), written: 0, body: PartialBody::File(self.start(key)?) })
    }

    /// Names the file `partial` was written into.
    fn commit(&self, partial: Partial) -> Result<Stored, SinkError> {
        let Partial { key, written, body } = partial;
        match body {
            PartialBody::File(file) => file.finish()?,
            PartialBody::Buffered(bytes) => return self.put(&key, &bytes),
        }
        Ok(Stored { key, bytes: written })
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

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// A sink in a new temporary folder, writing the unnamed way (`O_TMPFILE`,
    /// where the kernel has it) or the rename way.
    fn sink(unnamed: bool) -> (tempfile::TempDir, LocalDir) {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalDir::prepare(dir.path(), false, |_| false).unwrap();
        #[cfg(target_os = "linux")]
        sink.unnamed_works.store(unnamed, Ordering::Relaxed);
        let _ = unnamed;
        (dir, sink)
    }

    /// Both ways leave exactly the final file, no temporary name, and
    /// replace an existing file whole (a longer one by a shorter one).
    #[test]
    fn both_ways_leave_only_the_final_file_and_replace_whole() {
        for unnamed in [true, false] {
            let (dir, sink) = sink(unnamed);
            assert_eq!(sink.write_atomic("a.jpg", &[1u8; 10_000]).unwrap(), dir.path().join("a.jpg"));
            assert_eq!(names(dir.path()), ["a.jpg"], "unnamed: {unnamed}");
            sink.write_atomic("a.jpg", b"short").unwrap();
            assert_eq!(fs::read(dir.path().join("a.jpg")).unwrap(), b"short", "unnamed: {unnamed}");
            assert_eq!(names(dir.path()), ["a.jpg"], "unnamed: {unnamed}");
        }
    }

    /// On Linux the unnamed way is the one used, on the temporary folder's
    /// file system (every Linux file system we target has `O_TMPFILE`).
    #[cfg(target_os = "linux")]
    #[test]
    fn linux_writes_through_an_unnamed_file() {
        let (dir, sink) = sink(true);
        sink.write_atomic("a.jpg", b"jpeg").unwrap();
        assert!(sink.unnamed_works.load(Ordering::Relaxed), "O_TMPFILE unsupported on {}", dir.path().display());
    }

    /// A file written piece by piece (both ways) has no final name until it
    /// is committed, leaves nothing when dropped, replaces an existing file
    /// whole, and gets an ordinary file's mode (0666 less the umask).
    #[test]
    fn a_streamed_file_appears_whole_or_not_at_all() {
        for unnamed in [true, false] {
            let (dir, sink) = sink(unnamed);
            let mut dropped = sink.create("a.jpg").unwrap();
            dropped.write(b"half").unwrap();
            assert!(!dir.path().join("a.jpg").exists(), "unnamed: {unnamed}");
            drop(dropped);
            assert!(names(dir.path()).is_empty(), "unnamed: {unnamed}: {:?}", names(dir.path()));
            fs::write(dir.path().join("a.jpg"), b"an older, longer file").unwrap();
            let mut partial = sink.create("a.jpg").unwrap();
            partial.write(b"ab").unwrap();
            partial.write(b"cd").unwrap();
            assert_eq!(fs::read(dir.path().join("a.jpg")).unwrap(), b"an older, longer file");
            let stored = sink.commit(partial).unwrap();
            assert_eq!((stored.key.as_str(), stored.bytes), ("a.jpg", 4));
            assert_eq!(fs::read(dir.path().join("a.jpg")).unwrap(), b"abcd", "unnamed: {unnamed}");
            assert_eq!(names(dir.path()), ["a.jpg"], "unnamed: {unnamed}");
            #[cfg(target_os = "linux")]
            {
                use std::os::unix::fs::PermissionsExt;
                let status = fs::read_to_string("/proc/self/status").unwrap();
                let umask = status.lines().find_map(|line| line.strip_prefix("Umask:")).unwrap().trim();
                let umask = u32::from_str_radix(umask, 8).unwrap();
                let mode = fs::metadata(dir.path().join("a.jpg")).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o666 & !umask, "unnamed: {unnamed}");
            }
        }
    }

    /// A key with one `/` is a file in a subfolder, written atomically the
    /// same way; keys that could leave the folder are refused and write nothing.
    #[test]
    fn keys_with_a_subfolder_and_hostile_keys() {
        for unnamed in [true, false] {
            let (dir, sink) = sink(unnamed);
            sink.put("img/crop-000.jpg", b"one").unwrap();
            sink.put("img/crop-001.jpg", b"two").unwrap();
            assert_eq!(names(&dir.path().join("img")), ["crop-000.jpg", "crop-001.jpg"], "unnamed: {unnamed}");
            assert_eq!(names(dir.path()), ["img"], "no temporary file left, unnamed: {unnamed}");
            for key in ["../x.jpg", "/etc/x", "a/../../x", "a/b/c.jpg", "a//b", "a/", "..", "a\\..\\b", "./x"] {
                let err = sink.put(key, b"x").unwrap_err();
                assert!(matches!(err, SinkError::BadKey { .. }), "{key}: {err:?}");
            }
            assert_eq!(names(dir.path()), ["img"]);
        }
    }

    /// A write into a folder that was removed fails with the typed error,
    /// naming the file, and creates nothing.
    #[test]
    fn a_write_into_a_removed_folder_fails_typed() {
        for unnamed in [true, false] {
            let (dir, sink) = sink(unnamed);
            fs::remove_dir(dir.path()).unwrap();
            let err = sink.write_atomic("a.jpg", b"jpeg").unwrap_err();
            let SinkError::Write { path, disk_full, .. } = &err else { panic!("{err:?}") };
            assert_eq!((path.as_path(), *disk_full), (dir.path().join("a.jpg").as_path(), false));
            assert!(!dir.path().exists(), "unnamed: {unnamed}");
        }
    }

    /// A write that fails at the last step (the name is taken by a folder,
    /// which neither link nor rename may replace) fails typed and leaves no
    /// temporary file behind.
    #[test]
    fn a_write_that_fails_at_the_last_step_leaves_nothing() {
        for unnamed in [true, false] {
            let (dir, sink) = sink(unnamed);
            fs::create_dir(dir.path().join("a.jpg")).unwrap();
            let err = sink.write_atomic("a.jpg", b"jpeg").unwrap_err();
            assert!(matches!(err, SinkError::Write { disk_full: false, .. }), "{err:?}");
            assert_eq!(names(dir.path()), ["a.jpg"], "unnamed: {unnamed}");
            assert!(dir.path().join("a.jpg").is_dir());
        }
    }
}
