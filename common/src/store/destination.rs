//! [`Store`]: one destination, whatever it is, with one set of verbs.
//!
//! A run is given `--store DEST` (or `--out DIR`) and from then on never
//! asks what kind of destination it has: a local folder, `file://folder`,
//! `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`
//! (the last three with feature `object-store`) all answer the same
//! verbs, as `object_store`'s `ObjectStore` trait does for its backends:
//!
//! - [`Store::put`] (and [`Store::put_async`]): atomic, whole or nothing;
//! - [`Store::get`], [`Store::head`]: an object's bytes, or its size;
//! - [`Store::list`]: every key under a prefix, read once (an object store
//!   answers in pages, read one after the other; a folder is walked);
//! - [`Store::delete`];
//! - [`Store::check`]: one request saying whether the destination can be
//!   used at all, so a missing bucket is found before any download.
//!
//! What a run has done is what its store holds: it resumes by listing the
//! store, and keeps its records (the ledger) in it, through these same
//! verbs, so a re-run from any directory or machine sees the same state.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{LocalDir, PARTIAL_PREFIX, Partial, Sink, SinkError, Stored};

/// A destination: a local folder or (feature `object-store`) a bucket of
/// S3, Google Cloud Storage or Azure Blob, with a key prefix. Cheap to
/// clone: clones share the folder's state or the connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

/// What a store is underneath; nothing outside this file branches on it.
#[derive(Debug, Clone)]
enum Backend {
    Local(LocalDir),
    #[cfg(feature = "object-store")]
    Object(super::ObjectSink),
}

/// Schemes of object stores.
const OBJECT_SCHEMES: [&str; 3] = ["s3", "gs", "az"];

impl Store {
    /// Opens `dest`: a path or `file://path` is a local folder (created if
    /// missing); `s3://`, `gs://` and `az://` are object stores, configured
    /// from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`). Sends no
    /// request: see [`Store::check`].
    pub fn open(dest: &str) -> Result<Self, SinkError> {
        Self::open_with_env(dest, std::iter::empty::<(&str, &str)>())
    }

    /// [`Store::open`], with the variables of `env` as if they were set in
    /// the environment (for tests that talk to several servers at once).
    pub fn open_with_env<K: AsRef<str>, V: AsRef<str>>(
        dest: &str,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SinkError> {
        let bad = |cause: &str| SinkError::Destination { url: crate::text::shorten(dest), cause: cause.to_string() };
        let path = match dest.split_once("://") {
            None => Path::new(dest),
            Some(("file", path)) => Path::new(path),
            Some((scheme, _)) if OBJECT_SCHEMES.contains(&scheme) => return Self::open_object(dest, env),
            Some((scheme, _)) => {
                return Err(bad(&format!("unknown scheme {scheme}:// (a folder, file://, s3://, gs:// or az://)")));
            }
        };
        if path.as_os_str().is_empty() {
            return Err(bad("no folder given"));
        }
        Ok(Store::local(LocalDir::prepare(path, false, |_| false)?))
    }

    #[cfg(feature = "object-store")]
    fn open_object<K: AsRef<str>, V: AsRef<str>>(
        dest: &str,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SinkError> {
        Ok(Store { backend: Backend::Object(super::ObjectSink::from_url_with_env(dest, env)?) })
    }

    #[cfg(not(feature = "object-store"))]
    fn open_object<K: AsRef<str>, V: AsRef<str>>(
        dest: &str,
        _: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SinkError> {
        Err(SinkError::Destination {
            url: crate::text::shorten(dest),
            cause: "object stores need the object-store feature (cargo build --features object-store)".into(),
        })
    }

    /// A store that is the local folder `dir`.
    pub fn local(dir: LocalDir) -> Self {
        Store { backend: Backend::Local(dir) }
    }

    /// The local folder, when the store is one.
    pub fn as_local(&self) -> Option<&LocalDir> {
        match &self.backend {
            Backend::Local(dir) => Some(dir),
            #[cfg(feature = "object-store")]
            Backend::Object(_) => None,
        }
    }

    /// The same destination with `prefix/` added to every key (a subfolder
    /// of a folder, created if missing): a cluster task's records in
    /// `_shards/3/`, for instance.
    pub fn within(&self, prefix: &str) -> Result<Self, SinkError> {
        match &self.backend {
            Backend::Local(dir) => {
                let parts: Vec<&str> = prefix.split('/').filter(|part| !part.is_empty()).collect();
                if parts.iter().any(|part| *part == "." || *part == ".." || part.contains(['\\', '\0'])) {
                    return Err(SinkError::BadKey { key: prefix.to_string(), reason: "not a plain subfolder".into() });
                }
                let path: PathBuf = parts.iter().fold(dir.path().to_path_buf(), |path, part| path.join(part));
                Ok(Store::local(LocalDir::prepare(&path, false, |_| false)?))
            }
            #[cfg(feature = "object-store")]
            Backend::Object(object) => Ok(Store { backend: Backend::Object(object.within(prefix)?) }),
        }
    }

    /// Stores `bytes` under `key`, atomically, blocking until the store
    /// confirmed it. A key with `/` is an object in a "subfolder".
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError> {
        match &self.backend {
            Backend::Local(dir) => dir.put(key, bytes),
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.put(key, bytes),
        }
    }

    /// [`Store::put`] without blocking an async runtime: a folder's write
    /// (blocking file IO) goes to tokio's blocking pool, an object store's
    /// request is awaited.
    pub async fn put_async(&self, key: String, bytes: Vec<u8>) -> Result<Stored, SinkError> {
        match &self.backend {
            Backend::Local(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || dir.put(&key, &bytes))
                    .await
                    .unwrap_or_else(|join| Err(SinkError::Panicked(join.to_string())))
            }
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.put_async(&key, bytes.into()).await,
        }
    }

    /// The bytes of the object under `key`, or `None` if there is none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SinkError> {
        match &self.backend {
            Backend::Local(dir) => {
                let path = dir.path().join(key);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
                    Err(err) => Err(SinkError::Folder { path, cause: err.to_string() }),
                }
            }
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.get(key),
        }
    }

    /// The size of the object under `key`, or `None` if there is none.
    pub fn head(&self, key: &str) -> Result<Option<u64>, SinkError> {
        match &self.backend {
            Backend::Local(dir) => {
                let path = dir.path().join(key);
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
                    Ok(_) => Ok(None),
                    Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
                    Err(err) => Err(SinkError::Folder { path, cause: err.to_string() }),
                }
            }
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.head(key),
        }
    }

    /// Deletes the object under `key`; one that is not there is no error.
    pub fn delete(&self, key: &str) -> Result<(), SinkError> {
        match &self.backend {
            Backend::Local(dir) => {
                let path = dir.path().join(key);
                match std::fs::remove_file(&path) {
                    Err(err) if err.kind() != ErrorKind::NotFound => Err(SinkError::write(&path, &err)),
                    _ => Ok(()),
                }
            }
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.delete(key),
        }
    }

    /// Every complete object under `prefix/` (`""`: the whole store), at
    /// any depth, as `(key, size)` with keys relative to the store, in no
    /// particular order. Read once: a folder is walked (never a partial
    /// file of a write under way), an object store's pages are read one
    /// after the other. A prefix that holds nothing is an empty list.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, SinkError> {
        match &self.backend {
            Backend::Local(dir) => {
                let prefix = prefix.trim_matches('/');
                let mut found = Vec::new();
                let start = if prefix.is_empty() { dir.path().to_path_buf() } else { dir.path().join(prefix) };
                walk(&start, prefix, &mut found)?;
                Ok(found)
            }
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.list(prefix),
        }
    }

    /// One request that says whether the destination can be used: for an
    /// object store, that the bucket exists, the credentials are accepted
    /// and the endpoint answers ([`SinkError::is_fatal`] errors otherwise);
    /// a folder was checked when it was opened.
    pub fn check(&self) -> Result<(), SinkError> {
        match &self.backend {
            Backend::Local(dir) => match std::fs::metadata(dir.path()) {
                Ok(meta) if meta.is_dir() => Ok(()),
                Ok(_) => Err(SinkError::Folder { path: dir.path().to_path_buf(), cause: "not a folder".into() }),
                Err(err) => Err(SinkError::Folder { path: dir.path().to_path_buf(), cause: err.to_string() }),
            },
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.check(),
        }
    }

    /// Where objects go, for people: a folder, a bucket URL.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local(dir) => dir.location(),
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.location(),
        }
    }
}

impl Sink for Store {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError> {
        Store::put(self, key, bytes)
    }

    fn create(&self, key: &str) -> Result<Partial, SinkError> {
        match &self.backend {
            Backend::Local(dir) => dir.create(key),
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.create(key),
        }
    }

    fn commit(&self, partial: Partial) -> Result<Stored, SinkError> {
        match &self.backend {
            Backend::Local(dir) => dir.commit(partial),
            #[cfg(feature = "object-store")]
            Backend::Object(object) => object.commit(partial),
        }
    }

    fn location(&self) -> String {
        Store::location(self)
    }
}

/// Adds every complete file under `folder` (whose key is `prefix`) to
/// `found`, walking subfolders; a folder that is not there holds nothing.
fn walk(folder: &Path, prefix: &str, found: &mut Vec<(String, u64)>) -> Result<(), SinkError> {
    let folder_error =
        |cause: std::io::Error| SinkError::Folder { path: folder.to_path_buf(), cause: cause.to_string() };
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(()),
        Err(err) => return Err(folder_error(err)),
    };
    for entry in entries {
        let entry = entry.map_err(folder_error)?;
        let name = entry.file_name();
        // Names we write are UTF-8; anything else is not ours.
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PARTIAL_PREFIX) {
            continue;
        }
        let key = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
        let kind = entry.file_type().map_err(folder_error)?;
        if kind.is_dir() {
            walk(&entry.path(), &key, found)?;
        } else if kind.is_file() {
            found.push((key, entry.metadata().map_err(folder_error)?.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder answers every verb: put (also into a subfolder), get,
    /// head, list (never a partial file), delete; `within` is a subfolder.
    #[test]
    fn a_folder_answers_every_verb() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("file://{}", dir.path().join("out").display())).unwrap();
        store.put("a.jpg", b"abc").unwrap();
        store.put("b/crop-000.jpg", b"de").unwrap();
        std::fs::write(dir.path().join("out/.partial-x"), b"half").unwrap();
        assert_eq!(store.get("a.jpg").unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(store.get("missing.jpg").unwrap(), None);
        assert_eq!(store.head("b/crop-000.jpg").unwrap(), Some(2));
        assert_eq!(store.head("a.jpg/x").unwrap(), None);
        let mut listed = store.list("").unwrap();
        listed.sort();
        assert_eq!(listed, [("a.jpg".to_string(), 3), ("b/crop-000.jpg".to_string(), 2)]);
        assert_eq!(store.list("b").unwrap(), [("b/crop-000.jpg".to_string(), 2)]);
        assert!(store.list("nothing").unwrap().is_empty());
        let inner = store.within("_shards/3").unwrap();
        inner.put("r.json", b"{}").unwrap();
        assert_eq!(store.head("_shards/3/r.json").unwrap(), Some(2));
        store.delete("a.jpg").unwrap();
        store.delete("a.jpg").unwrap();
        assert_eq!(store.head("a.jpg").unwrap(), None);
        store.check().unwrap();
        assert!(store.within("../x").is_err());
        assert!(Store::open("ftp://x").unwrap_err().to_string().contains("unknown scheme"));
        assert!(Store::open("").is_err());
    }
}
