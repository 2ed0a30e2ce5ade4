//! Where bytes go: a [`Store`] is one destination (a local folder, or an
//! S3, Google Cloud Storage or Azure Blob bucket) with the verbs every run
//! needs: atomic put, get, list under a prefix, head, delete; underneath,
//! a [`Sink`] stores an object under a key, atomically.
//!
//! A sink knows nothing of items, URLs or thumbnails: it is handed a key and
//! bytes, and either stores them whole or fails with a [`SinkError`]. That
//! is all a run needs of a destination, so the local folder ([`LocalDir`])
//! is one implementation and an object store (`ObjectSink`, feature
//! `object-store`: S3, Google Cloud Storage, Azure Blob) is another,
//! without fetching or listing knowing.
//!
//! The one promise every sink keeps: an object is visible under its key
//! only once it is complete, and [`Sink::put`] returns only after that.

mod destination;
mod local;
#[cfg(feature = "object-store")]
mod object;
#[cfg(target_os = "linux")]
mod unnamed;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use destination::Store;
pub use local::LocalDir;
#[cfg(feature = "object-store")]
pub use object::{ObjectSink, UPLOAD_RETRIES};

/// The mode every file we write is created with, before the umask takes
/// its bits away: 0666, what `open(2)`, `touch` and Python's `open` use, so
/// 0644 under the usual umask 022 and 0600 under 077. Not tempfile's 0600,
/// which would keep readers running as another user out.
#[cfg(unix)]
const FILE_MODE: u32 = 0o666;

/// Prefix of temporary files; `--clean` removes leftovers of a killed run.
pub(super) const PARTIAL_PREFIX: &str = ".partial-";

/// A destination for objects.
pub trait Sink: std::fmt::Debug + Send + Sync {
    /// Stores `bytes` under `key`, atomically: a reader sees no object or
    /// the whole one, never part of it. Returns once the object is stored.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError>;

    /// Starts the object `key`, to be written piece by piece as it arrives
    /// ([`Partial::write`]) and stored whole by [`Sink::commit`]: nothing is
    /// visible under `key` before that, and a [`Partial`] dropped instead
    /// leaves nothing behind. A folder writes the pieces to an unnamed or
    /// temporary file; the default, which an object store keeps, holds
    /// them in memory and stores them with one [`Sink::put`] (object
    /// stores take an object whole; no download binary writes to one).
    fn create(&self, key: &str) -> Result<Partial, SinkError> {
        Ok(Partial { key: key.to_string(), written: 0, body: PartialBody::Buffered(Vec::new()) })
    }

    /// Stores `partial` under its key, atomically, as [`Sink::put`] does.
    fn commit(&self, partial: Partial) -> Result<Stored, SinkError> {
        match partial.body {
            PartialBody::Buffered(bytes) => self.put(&partial.key, &bytes),
            PartialBody::File(_) => Err(SinkError::Panicked(format!("{} was started in another sink", partial.key))),
        }
    }

    /// Where objects go, for people: a folder, a bucket URL.
    fn location(&self) -> String;
}

/// An object being written piece by piece ([`Sink::create`]): not visible
/// under its key until [`Sink::commit`]; dropped, it leaves nothing.
#[derive(Debug)]
pub struct Partial {
    key: String,
    written: u64,
    body: PartialBody,
}

/// Where a partial object's bytes are until it is committed.
#[derive(Debug)]
enum PartialBody {
    /// In memory, for a sink that stores objects whole.
    Buffered(Vec<u8>),
    /// In a file of the local folder with no final name yet.
    File(local::PartialFile),
}

impl Partial {
    /// The key it will be stored under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `bytes` (blocking file IO for a folder).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        match &mut self.body {
            PartialBody::Buffered(buffer) => buffer.extend_from_slice(bytes),
            PartialBody::File(file) => file.write(bytes)?,
        }
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// An object a sink confirmed it stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    /// Its key (for the local folder, its file name).
    pub key: String,
    /// Its size.
    pub bytes: u64,
}

/// Why a sink could not be used or could not store an object. Serialisable,
/// so an outcome can cross a process boundary whole.
#[derive(Debug, Clone, Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SinkError {
    /// The folder could not be created or read.
    #[error("cannot use output folder {}: {cause}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why, as the system said it.
        cause: String,
    },
    /// An object could not be written.
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        /// Where it was to go.
        path: PathBuf,
        /// Why, as the system said it.
        cause: String,
        /// Whether the destination is full: no later write can succeed
        /// either, so a run stops instead of failing every item.
        disk_full: bool,
    },
    /// A key the sink will not store under (one that could leave a local
    /// folder, such as `../x`).
    #[error("refused the object key {key:?}: {reason}")]
    BadKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The task writing an object panicked (a bug, reported rather than lost).
    #[error("writing a file failed unexpectedly: {0}")]
    Panicked(String),
    /// A destination URL or its configuration cannot be used: an unknown
    /// scheme, no bucket, a setting the store client rejects.
    #[error("cannot use destination {url}: {cause}")]
    Destination {
        /// The destination as given.
        url: String,
        /// What is wrong with it.
        cause: String,
    },
    /// The store refused our credentials or permissions (a wrong secret, a
    /// 401 or 403): every later upload would be refused too.
    #[error("{location} refused the write (check the credentials and the permissions): {cause}")]
    Denied {
        /// The object's URL (`s3://bucket/prefix/key`).
        location: String,
        /// The store's answer, on one line, secrets masked.
        cause: String,
    },
    /// The destination can take no object at all: its bucket or container
    /// does not exist, its endpoint does not answer (after the store
    /// client's retries), or its address is refused (plain http without
    /// `AWS_ALLOW_HTTP`). Every later request would fail the same way.
    #[error("{location}: {problem}; {fix} ({cause})")]
    Unusable {
        /// The destination (`s3://bucket/prefix`).
        location: String,
        /// What is wrong, for people.
        problem: String,
        /// What to do about it.
        fix: String,
        /// The store's answer, on one line, secrets masked.
        cause: String,
    },
    /// An upload failed for another reason, after the store client's own
    /// retries of timeouts, lost connections and 5xx answers.
    #[error("cannot upload {key}: {cause}")]
    Upload {
        /// The object's URL (`s3://bucket/prefix/key`).
        key: String,
        /// Why, on one line, secrets masked.
        cause: String,
    },
}

impl SinkError {
    /// Whether no later store can succeed either (a full disk, refused
    /// credentials or permissions, a missing bucket, an endpoint that does
    /// not answer, an unusable destination), so a run should stop at the
    /// first instead of failing every item the same way.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SinkError::Write { disk_full: true, .. }
                | SinkError::Denied { .. }
                | SinkError::Destination { .. }
                | SinkError::Unusable { .. }
        )
    }

    /// A failed write of `path`, keeping whether the disk was full; a
    /// refused permission is [`SinkError::Denied`] (fatal, like a refused
    /// credential: every later write into that folder is refused too).
    pub(crate) fn write(path: &Path, cause: &std::io::Error) -> Self {
        /// `ENOSPC` on Linux, for a standard library that maps it to `Other`.
        const ENOSPC: i32 = 28;
        if cause.kind() == std::io::ErrorKind::PermissionDenied {
            return SinkError::Denied { location: path.display().to_string(), cause: cause.to_string() };
        }
        let disk_full = cause.kind() == std::io::ErrorKind::StorageFull || cause.raw_os_error() == Some(ENOSPC);
        SinkError::Write { path: path.to_path_buf(), cause: cause.to_string(), disk_full }
    }
}
