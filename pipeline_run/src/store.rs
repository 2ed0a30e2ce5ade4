//! Where the objects go (`--store DEST`), and what a run remembers there.
//!
//! Every mode stores through one [`Store`]: a blocking [`Sink::put`] for
//! threads and processes, and [`Store::put_async`] for the async mode,
//! which must never block its runtime. A local folder is the sink from
//! `common` (atomic writes; a key `<image>/crop-000.jpg` is a file in a
//! subfolder); `s3://`, `gs://` and `az://` are `common`'s `ObjectSink`
//! (with the `object-store` feature, on by default here), whose records
//! stay in a local folder: an object store cannot append to a ledger.
//!
//! Resume: when every object of an image is stored, the run appends one
//! line to `complete.jsonl` in the records folder: the image's name and a
//! description of what was made of it (thumbnail size, crops). A re-run
//! reads that file once and skips the images listed with the same
//! description, with no request; an image with 50 crops costs one line,
//! not 50 look-ups. An image cut short (a crash between two crops) has no
//! line and is made again whole. The file is written through a buffer and
//! flushed at the end: a run killed outright may lose its last lines,
//! which only means those images are made again.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use bytes::Bytes;
use common::LocalDir;
use common::run::{FAILURES_FILE, METADATA_FILE, SetupError};
use common::store::{Sink, SinkError, Stored};

/// The ledger of images whose objects are all stored, in the records folder.
pub(crate) const COMPLETE_FILE: &str = "complete.jsonl";

/// Schemes of object stores, which need the `object-store` feature.
const OBJECT_SCHEMES: [&str; 3] = ["s3", "gs", "az"];

/// A destination for objects, and the local folder of the run's records.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    sink: Arc<dyn Sink>,
    /// The object store, when it is one: its puts are awaited, not blocked on.
    #[cfg(feature = "object-store")]
    object: Option<common::store::ObjectSink>,
    /// The folder, when the destination is a local folder.
    local: Option<PathBuf>,
    /// Where `failures.jsonl`, `metadata.jsonl` and `complete.jsonl` go:
    /// the store's own folder when it is local.
    records: PathBuf,
}

/// Where an object store's records go when `--records` is not given: a
/// local folder named after the destination, so two buckets never share
/// one ledger.
const RECORDS_ROOT: &str = "pipeline-records";

/// Opens `--store DEST`: a path or `file://path` is a local folder
/// (created if missing), which also holds the records; `s3://`, `gs://`,
/// `az://` are object stores, with their records in `records` or under
/// [`RECORDS_ROOT`].
pub(crate) fn open_store(dest: &str, records: Option<&Path>) -> anyhow::Result<Store> {
    let path = match dest.split_once("://") {
        None => Path::new(dest),
        Some(("file", path)) => Path::new(path),
        Some((scheme, rest)) if OBJECT_SCHEMES.contains(&scheme) => {
            return open_object_store(dest, scheme, rest, records);
        }
        Some((scheme, _)) => {
            bail!("--store {dest}: unknown scheme {scheme}:// (a folder, file://, s3://, gs:// or az://)")
        }
    };
    if path.as_os_str().is_empty() {
        bail!("--store {dest}: no folder given");
    }
    let folder = LocalDir::prepare(path, false, |_| false).context("cannot open --store")?;
    let records = records.unwrap_or(path).to_path_buf();
    Ok(Store {
        sink: Arc::new(folder),
        #[cfg(feature = "object-store")]
        object: None,
        local: Some(path.to_path_buf()),
        records,
    })
}

/// Opens a store a job already wrote into, to read its records (`pipeline_run
/// merge`): a local folder must exist (no new empty one is made).
pub(crate) fn open_existing(dest: &str) -> anyhow::Result<Store> {
    let local = match dest.split_once("://") {
        None => Some(Path::new(dest)),
        Some(("file", path)) => Some(Path::new(path)),
        Some(_) => None,
    };
    if let Some(path) = local
        && !path.is_dir()
    {
        bail!("--store {dest}: no such folder");
    }
    open_store(dest, None)
}

/// An object store, configured from the environment as `object_store`
/// reads it (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
#[cfg(feature = "object-store")]
fn open_object_store(dest: &str, scheme: &str, rest: &str, records: Option<&Path>) -> anyhow::Result<Store> {
    let object = common::store::ObjectSink::from_url(dest)?;
    let records = match records {
        Some(folder) => folder.to_path_buf(),
        None => Path::new(RECORDS_ROOT).join(scheme).join(folder_name(rest)),
    };
    Ok(Store { sink: Arc::new(object.clone()), object: Some(object), local: None, records })
}

/// `bucket/prefix` as one safe folder name: `bucket_prefix`.
#[cfg(feature = "object-store")]
fn folder_name(bucket_and_prefix: &str) -> String {
    let name: String = bucket_and_prefix
        .trim_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
        .collect();
    // Never `.`, `..` or hidden.
    if name.starts_with('.') || name.is_empty() { format!("_{name}") } else { name }
}

#[cfg(not(feature = "object-store"))]
fn open_object_store(dest: &str, _: &str, _: &str, _: Option<&Path>) -> anyhow::Result<Store> {
    bail!("--store {dest}: object stores need the object-store feature (cargo build --features object-store)")
}

impl Store {
    /// Stores one object, blocking until the store confirmed it.
    pub(crate) fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError> {
        self.sink.put(key, bytes)
    }

    /// Stores one object without blocking the async runtime.
    ///
    /// A local folder's put is blocking file IO, so it runs on tokio's
    /// blocking pool; the async mode never has more than `--uploads` puts
    /// under way, so that pool grows to at most that many threads.
    /// (`common`'s writer threads, which `asyncio_run` stores on, take a
    /// whole downloaded item; here the unit is one object.)
    ///
    /// An object store's put is network IO, awaited instead.
    pub(crate) async fn put_async(&self, key: String, bytes: Bytes) -> Result<Stored, SinkError> {
        #[cfg(feature = "object-store")]
        if let Some(object) = &self.object {
            return object.put_async(&key, bytes).await;
        }
        let sink = Arc::clone(&self.sink);
        tokio::task::spawn_blocking(move || sink.put(&key, &bytes))
            .await
            .unwrap_or_else(|join| Err(SinkError::Panicked(join.to_string())))
    }

    /// Where objects go, for people.
    pub(crate) fn location(&self) -> String {
        self.sink.location()
    }

    /// The same store, keeping its records in the folder `folder` makes of
    /// its root (the local store, else the records folder): a shard's own
    /// (`_shards/<I>/`), so shards running at once share no file.
    pub(crate) fn with_records_in(self, folder: impl FnOnce(&Path) -> PathBuf) -> Self {
        let records = folder(self.local.as_deref().unwrap_or(&self.records));
        Store { records, ..self }
    }

    /// The record under `key` (`_shards/3.json`), if the store has it: a
    /// file of the local folder, or an object of the object store.
    pub(crate) fn read(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        #[cfg(feature = "object-store")]
        if let Some(object) = &self.object {
            return Ok(object.get(key)?);
        }
        let Some(folder) = &self.local else { return Ok(None) };
        match std::fs::read(folder.join(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", folder.join(key).display())),
        }
    }

    /// The names of the objects directly under `prefix/` (`_shards`).
    pub(crate) fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        #[cfg(feature = "object-store")]
        if let Some(object) = &self.object {
            let keys = object.list(prefix)?;
            let inside = format!("{prefix}/");
            return Ok(keys
                .iter()
                .filter_map(|key| key.strip_prefix(&inside))
                .filter(|name| !name.contains('/'))
                .map(str::to_string)
                .collect());
        }
        let Some(folder) = &self.local else { return Ok(Vec::new()) };
        let entries = match std::fs::read_dir(folder.join(prefix)) {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", folder.join(prefix).display())),
        };
        Ok(entries.flatten().map(|entry| entry.file_name().to_string_lossy().into_owned()).collect())
    }

    /// The records folder.
    pub(crate) fn records(&self) -> &Path {
        &self.records
    }

    /// The records folder, prepared: with `clean`, emptied first of what a
    /// run writes (thumbnails, crop subfolders, the ledgers, partial files)
    /// and of nothing else.
    pub(crate) fn prepare_records(&self, clean: bool) -> Result<LocalDir, SetupError> {
        if clean && let Some(folder) = &self.local {
            remove_crop_folders(folder)?;
        }
        Ok(LocalDir::prepare(&self.records, clean, is_ours)?)
    }
}

/// Files a run writes at the top of a local store, which `--clean` removes.
fn is_ours(name: &str) -> bool {
    name == COMPLETE_FILE
        || name == FAILURES_FILE
        || name == METADATA_FILE
        || name.strip_suffix(".jpg").is_some_and(|stem| stem.ends_with("_thumbnail"))
        || is_dataset_shard(name)
}

/// A dataset shard's file: `00012.tar`, `00012.parquet`, `00012_stats.json`.
fn is_dataset_shard(name: &str) -> bool {
    let stem = [".tar", ".parquet", "_stats.json"].iter().find_map(|suffix| name.strip_suffix(suffix));
    stem.is_some_and(|digits| digits.len() >= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// `crop-NNN.jpg`.
fn is_crop(name: &str) -> bool {
    name.strip_prefix("crop-")
        .and_then(|rest| rest.strip_suffix(".jpg"))
        .is_some_and(|digits| digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// `--clean` in a local store: the crops of every subfolder (and partial
/// files there), then each subfolder left empty. A subfolder holding
/// anything else keeps it, and stays.
fn remove_crop_folders(folder: &Path) -> Result<(), SinkError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(SinkError::Folder { path: folder.to_path_buf(), cause: err.to_string() }),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            let subfolder = entry.path();
            LocalDir::prepare(&subfolder, true, is_crop)?;
            let _ = std::fs::remove_dir(&subfolder); // fails, as it should, if anything else is left
        }
    }
    Ok(())
}

/// `complete.jsonl`: the images whose objects are all stored.
#[derive(Debug)]
pub(crate) struct Completed {
    file: Mutex<BufWriter<File>>,
    path: PathBuf,
    /// What is made of each image, as the ledger records it.
    made: String,
}

/// One line of `complete.jsonl`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CompleteLine {
    image: String,
    made: String,
    objects: usize,
}

impl Completed {
    /// Opens `<records>/complete.jsonl` for appending; `made` describes
    /// the outputs of this run's transform.
    pub(crate) fn open(records: &Path, made: &str) -> anyhow::Result<Self> {
        let path = records.join(COMPLETE_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Completed { file: Mutex::new(BufWriter::new(file)), path, made: made.to_string() })
    }

    /// The names of the images an earlier run completed with the same
    /// outputs, read once. A torn last line (a run killed mid-write) is
    /// not JSON and is ignored.
    pub(crate) fn read(records: &Path, made: &str) -> Result<HashSet<String>, SetupError> {
        let path = records.join(COMPLETE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(err) => return Err(SinkError::Folder { path, cause: err.to_string() }.into()),
        };
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str::<CompleteLine>(line).ok())
            .filter(|line| line.made == made)
            .map(|line| line.image)
            .collect())
    }

    /// Records that every object of `image` is stored.
    pub(crate) fn record(&self, image: &str, objects: usize) {
        let line = CompleteLine { image: image.to_string(), made: self.made.clone(), objects };
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let written = serde_json::to_writer(&mut *file, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.flush());
        if let Err(err) = written {
            eprintln!("warning: cannot write {}: {err}; a re-run will make this image again", self.path.display());
        }
    }

    /// Writes what is buffered.
    pub(crate) fn flush(&self) {
        if let Err(err) = self.file.lock().unwrap_or_else(PoisonError::into_inner).flush() {
            eprintln!("warning: cannot write {}: {err}; a re-run will make some images again", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths and file:// are folders; a bad object store URL and unknown
    /// schemes are refused in one line.
    #[test]
    fn destinations() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a");
        assert!(open_store(plain.to_str().unwrap(), None).is_ok() && plain.is_dir());
        let url = format!("file://{}", dir.path().join("b").display());
        assert!(open_store(&url, None).is_ok() && dir.path().join("b").is_dir());
        let err = open_store("s3:///prefix", None).unwrap_err().to_string();
        assert!(err.contains("bucket"), "{err}");
        assert!(open_store("ftp://x", None).unwrap_err().to_string().contains("unknown scheme"));
    }

    /// Clean removes what a run writes and nothing else.
    #[test]
    fn clean_removes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path().to_str().unwrap(), None).unwrap();
        store.put("a_thumbnail.jpg", b"x").unwrap();
        store.put("a/crop-000.jpg", b"x").unwrap();
        store.put("b/crop-001.jpg", b"x").unwrap();
        store.put("b/notes.txt", b"mine").unwrap();
        store.put("photo.jpg", b"mine").unwrap();
        std::fs::write(dir.path().join(COMPLETE_FILE), "").unwrap();
        store.prepare_records(true).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        left.sort();
        assert_eq!(left, ["b", "photo.jpg"]);
        assert!(dir.path().join("b/notes.txt").exists() && !dir.path().join("b/crop-001.jpg").exists());
    }

    /// Lines with the same outputs are complete; others and torn lines are not.
    #[test]
    fn completed_images_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Completed::open(dir.path(), "thumbnail 128x128").unwrap();
        ledger.record("a", 1);
        ledger.record("b", 1);
        ledger.flush();
        let other = Completed::open(dir.path(), "crops grid 4").unwrap();
        other.record("c", 4);
        other.flush();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(COMPLETE_FILE))
            .unwrap()
            .write_all(b"{\"image\":\"d\",\"ma")
            .unwrap();
        let complete = Completed::read(dir.path(), "thumbnail 128x128").unwrap();
        assert_eq!(complete, HashSet::from(["a".to_string(), "b".to_string()]));
    }
}
