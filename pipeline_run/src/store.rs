//! Where the objects go (`--store DEST`), and what a run remembers there.
//!
//! Every mode stores through one [`Store`]: `common`'s store (a folder,
//! `file://`, `s3://`, `gs://`, `az://`; this file never asks which), with
//! a blocking put for threads and processes and an async one for the async
//! mode, which must never block its runtime. The run's records (the
//! ledger: `failures.jsonl`, `metadata.jsonl`, the segments of
//! `_records/`) live in the same store, beside the objects, so a re-run
//! from any directory or machine sees what the first one did; `--records
//! DIR` puts them in a local folder instead. Nothing else is ever written
//! into the working directory.
//!
//! **Resume is what the store holds.** Before any work the run lists the
//! store once ([`Listing`]) and reads its records of complete images: an
//! image is skipped only when a record says it was completed with the same
//! outputs *and* the listing holds every object that record counts (its
//! thumbnail, and as many crops). A record is a hint the listing checks:
//! objects deleted since (a bucket emptied) are made again, and objects
//! with no record (a run killed before it wrote one) are made again too.
//!
//! **Records of complete images.** An object store cannot append, so each
//! run writes its own segment objects, `_records/complete-<run>-<n>.jsonl`,
//! one JSON line per image whose objects are all stored: its name, a
//! description of what was made of it (thumbnail size, crops) and how many
//! objects. The first is stored with the run's first complete image, then
//! one every [`SEGMENT_SECONDS`] (or [`SEGMENT_LINES`] lines), and the last
//! at the end, so a run killed outright loses at most that much (those
//! images are made again). A re-run reads all the segments back (and a
//! `complete.jsonl` an older version left).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::run::{FAILURES_FILE, METADATA_FILE, SetupError};
use common::store::{LocalDir, SinkError, Store as Destination, Stored};

/// The ledger of images whose objects are all stored, as older versions
/// kept it (one file, appended to); still read, never written.
pub(crate) const COMPLETE_FILE: &str = "complete.jsonl";

/// The prefix of the records of complete images, in the records store.
pub(crate) const RECORDS_PREFIX: &str = "_records";

/// A segment of complete images is stored at least this often while a run
/// goes: a run killed outright makes again at most this long's images, and
/// a day-long run leaves some 17,000 small objects (a PUT each: nothing
/// next to its images').
const SEGMENT_SECONDS: Duration = Duration::from_secs(5);

/// ... or once it has this many lines (about 100 bytes each), so a fast
/// run's segments stay small enough to read back in one request each.
const SEGMENT_LINES: usize = 10_000;

/// What an earlier run completed, read once when a run starts: for an item,
/// the key to report it under if it is complete (then it is skipped).
pub(crate) type CompleteIndex = Box<dyn Fn(&common::Item) -> Option<String> + Send>;

/// A destination for objects, and the store of the run's records.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    objects: Destination,
    /// Where `failures.jsonl`, `metadata.jsonl` and `_records/` go: the
    /// objects' store (a cluster task: its `_shards/<I>/`), or `--records DIR`.
    records: Destination,
}

/// Opens `--store DEST` (a folder, created if missing; `file://`, `s3://`,
/// `gs://`, `az://`), with its records there or in the folder `records`.
pub(crate) fn open_store(dest: &str, records: Option<&Path>) -> anyhow::Result<Store> {
    let objects = Destination::open(dest).context("cannot open --store")?;
    let records = match records {
        Some(folder) => {
            Destination::local(LocalDir::prepare(folder, false, |_| false).context("cannot open --records")?)
        }
        None => objects.clone(),
    };
    Ok(Store { objects, records })
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

impl Store {
    /// Stores one object, blocking until the store confirmed it.
    pub(crate) fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError> {
        self.objects.put(key, bytes)
    }

    /// Stores one object without blocking the async runtime (a folder's
    /// write on tokio's blocking pool, which the async mode's `--uploads`
    /// bound keeps small; an object store's request awaited).
    pub(crate) async fn put_async(&self, key: String, bytes: Vec<u8>) -> Result<Stored, SinkError> {
        self.objects.put_async(key, bytes).await
    }

    /// Where objects go, for people.
    pub(crate) fn location(&self) -> String {
        self.objects.location()
    }

    /// The objects' store.
    pub(crate) fn objects(&self) -> &Destination {
        &self.objects
    }

    /// The records' store.
    pub(crate) fn records(&self) -> &Destination {
        &self.records
    }

    /// The same store, keeping its records under `prefix/` of the records
    /// store (a cluster task's own `_shards/<I>`), so tasks running at once
    /// share no record.
    pub(crate) fn with_records_within(self, prefix: &str) -> anyhow::Result<Self> {
        let records = self.records.within(prefix).context("cannot open the task's records")?;
        Ok(Store { records, ..self })
    }

    /// The object under `key` (`_shards/3.json`), if the store has it.
    pub(crate) fn read(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.objects.get(key)?)
    }

    /// The names of the objects directly under `prefix/` (`_shards`).
    pub(crate) fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let inside = format!("{prefix}/");
        Ok(self
            .objects
            .list(prefix)?
            .iter()
            .filter_map(|(key, _)| key.strip_prefix(&inside))
            .filter(|name| !name.contains('/'))
            .map(str::to_string)
            .collect())
    }

    /// One request at the start: can the destination be used at all (the
    /// bucket exists, the credentials are accepted, the endpoint answers)?
    pub(crate) fn check(&self) -> Result<(), SinkError> {
        self.objects.check()
    }

    /// The records store, prepared: with `clean`, emptied first of what a
    /// run writes (in a folder: thumbnails, crop subfolders, dataset
    /// shards; everywhere: the ledgers) and of nothing else.
    pub(crate) fn prepare_records(&self, clean: bool) -> Result<Destination, SetupError> {
        if !clean {
            return Ok(self.records.clone());
        }
        if let Some(folder) = self.objects.as_local() {
            remove_crop_folders(folder.path())?;
            LocalDir::prepare(folder.path(), true, is_ours)?;
        }
        if let Some(folder) = self.records.as_local() {
            LocalDir::prepare(folder.path(), true, is_ours)?;
        }
        for (key, _) in self.records.list(RECORDS_PREFIX)? {
            self.records.delete(&key)?;
        }
        // What a repair staged: its shards are gone.
        for (key, _) in self.objects.list(crate::dataset::repair::REPAIR_PREFIX)? {
            self.objects.delete(&key)?;
        }
        for key in [FAILURES_FILE, METADATA_FILE, COMPLETE_FILE] {
            self.records.delete(key)?;
        }
        Ok(self.records.clone())
    }
}

/// Files a run writes at the top of a local store, which `--clean` removes.
fn is_ours(name: &str) -> bool {
    name == COMPLETE_FILE
        || name == FAILURES_FILE
        || name == METADATA_FILE
        || name.strip_suffix(".jpg").is_some_and(|stem| stem.ends_with("_thumbnail"))
        || crate::dataset::shard_file(name).is_some()
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
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
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

/// What the store holds, listed once when a run starts: for each image,
/// whether its thumbnail is there and how many of its crops; and every
/// other key (dataset shards, records).
#[derive(Debug, Default)]
pub(crate) struct Listing {
    images: HashMap<String, Present>,
    others: HashSet<String>,
}

/// An image's objects found in the store.
#[derive(Debug, Default, Clone, Copy)]
struct Present {
    thumbnail: bool,
    crops: usize,
}

impl Listing {
    /// Lists `store` once (every page of an object store; a folder walked).
    /// Memory: one entry per image (its crops are counted, not kept) and
    /// one per other object.
    pub(crate) fn read(store: &Destination) -> Result<Self, SinkError> {
        let mut listing = Listing::default();
        for (key, _) in store.list("")? {
            if let Some(name) = key.strip_suffix("_thumbnail.jpg").filter(|name| !name.contains('/')) {
                listing.images.entry(name.to_string()).or_default().thumbnail = true;
            } else if let Some((name, crop)) = key.split_once('/')
                && is_crop(crop)
            {
                listing.images.entry(name.to_string()).or_default().crops += 1;
            } else {
                listing.others.insert(key);
            }
        }
        Ok(listing)
    }

    /// Whether the store holds the object `key` (not a thumbnail or crop).
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.others.contains(key)
    }

    /// Whether image `name`'s `objects` objects are all in the store: its
    /// thumbnail when one is made (`thumbnail`), and the rest in crops.
    pub(crate) fn holds_image(&self, name: &str, thumbnail: bool, objects: usize) -> bool {
        let present = self.images.get(name).copied().unwrap_or_default();
        (!thumbnail || present.thumbnail) && present.crops + usize::from(thumbnail) >= objects
    }
}

/// The ledger of complete images: this run's records, stored as segments
/// of `_records/` (see the module docs).
#[derive(Debug)]
pub(crate) struct ImageLedger {
    records: Destination,
    /// What is made of each image, as the records say it.
    made: String,
    /// This run's name in its segments' keys: when it started, and its process.
    run: String,
    pending: Mutex<Segment>,
}

/// The lines of the segment being filled.
#[derive(Debug)]
struct Segment {
    lines: String,
    count: usize,
    started: Instant,
    /// Segments stored so far.
    stored: usize,
}

/// One line of a segment (and of an older `complete.jsonl`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CompleteLine {
    image: String,
    made: String,
    objects: usize,
}

impl ImageLedger {
    /// The records of this run, stored into `records`; `made` describes the
    /// outputs of this run's transform.
    pub(crate) fn open(records: &Destination, made: &str) -> Self {
        /// Ledgers opened by this process, so two in one millisecond differ.
        static OPENED: AtomicUsize = AtomicUsize::new(0);
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let opened = OPENED.fetch_add(1, Ordering::Relaxed);
        let run = format!("{}-{}-{opened}", since.as_millis(), std::process::id());
        let pending = Segment { lines: String::new(), count: 0, started: Instant::now(), stored: 0 };
        ImageLedger { records: records.clone(), made: made.to_string(), run, pending: Mutex::new(pending) }
    }

    /// The images earlier runs completed with the same outputs, and how
    /// many objects each one has: every segment (and an older
    /// `complete.jsonl`) read back. A torn line is not JSON and is ignored.
    pub(crate) fn read(records: &Destination, made: &str) -> Result<HashMap<String, usize>, SinkError> {
        let mut keys: Vec<String> = records
            .list(RECORDS_PREFIX)?
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.ends_with(".jsonl"))
            .collect();
        keys.sort();
        keys.insert(0, COMPLETE_FILE.to_string());
        let mut complete = HashMap::new();
        for key in keys {
            let Some(bytes) = records.get(&key)? else { continue };
            for line in bytes.split(|&b| b == b'\n') {
                if let Ok(line) = serde_json::from_slice::<CompleteLine>(line)
                    && line.made == made
                {
                    complete.insert(line.image, line.objects);
                }
            }
        }
        Ok(complete)
    }

    /// Records that every one of the `objects` objects of `image` is stored.
    pub(crate) fn record(&self, image: &str, objects: usize) {
        let line = CompleteLine { image: image.to_string(), made: self.made.clone(), objects };
        let Ok(line) = serde_json::to_string(&line) else { return };
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.lines += &line;
        pending.lines.push('\n');
        pending.count += 1;
        if pending.stored == 0 || pending.count >= SEGMENT_LINES || pending.started.elapsed() >= SEGMENT_SECONDS {
            self.store(&mut pending);
        }
    }

    /// Stores what is pending.
    pub(crate) fn flush(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        self.store(&mut pending);
    }

    /// Stores the pending lines as the run's next segment (under the lock:
    /// one put every few seconds, which the other workers wait for).
    fn store(&self, pending: &mut Segment) {
        if pending.count > 0 {
            let key = format!("{RECORDS_PREFIX}/complete-{}-{:04}.jsonl", self.run, pending.stored);
            if let Err(err) = self.records.put(&key, pending.lines.as_bytes()) {
                eprintln!("warning: cannot store {key}: {err}; a re-run will make these images again");
            }
            pending.stored += 1;
        }
        pending.lines.clear();
        pending.count = 0;
        pending.started = Instant::now();
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
        let err = format!("{:#}", open_store("s3:///prefix", None).unwrap_err());
        assert!(err.contains("bucket"), "{err}");
        let err = format!("{:#}", open_store("ftp://x", None).unwrap_err());
        assert!(err.contains("unknown scheme"), "{err}");
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
        let completed = ImageLedger::open(store.records(), "x");
        completed.record("a", 2);
        completed.flush();
        store.prepare_records(true).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        left.sort();
        assert_eq!(left, ["_records", "b", "photo.jpg"]);
        assert!(dir.path().join("b/notes.txt").exists() && !dir.path().join("b/crop-001.jpg").exists());
        assert!(store.records().list(RECORDS_PREFIX).unwrap().is_empty());
    }

    /// Records with the same outputs are read back from every segment (and
    /// an older complete.jsonl); others and torn lines are not.
    #[test]
    fn completed_images_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let records = Destination::open(dir.path().to_str().unwrap()).unwrap();
        let ledger = ImageLedger::open(&records, "thumbnail 128x128");
        ledger.record("a", 1);
        ledger.flush();
        ledger.record("b", 3);
        ledger.flush();
        let other = ImageLedger::open(&records, "crops grid 4");
        other.record("c", 4);
        other.flush();
        records
            .put(
                COMPLETE_FILE,
                b"{\"image\":\"e\",\"made\":\"thumbnail 128x128\",\"objects\":1}\n{\"image\":\"d\",\"ma",
            )
            .unwrap();
        let complete = ImageLedger::read(&records, "thumbnail 128x128").unwrap();
        let expected: HashMap<String, usize> = [("a", 1), ("b", 3), ("e", 1)].map(|(k, v)| (k.to_string(), v)).into();
        assert_eq!(complete, expected);
        assert_eq!(records.list(RECORDS_PREFIX).unwrap().len(), 3, "one segment a flush");
    }

    /// An image is held only when its thumbnail and enough crops are listed.
    #[test]
    fn the_listing_decides() {
        let dir = tempfile::tempdir().unwrap();
        let store = Destination::open(dir.path().to_str().unwrap()).unwrap();
        for key in ["a_thumbnail.jpg", "a/crop-000.jpg", "a/crop-001.jpg", "b/crop-000.jpg", "00000.tar"] {
            store.put(key, b"x").unwrap();
        }
        let listing = Listing::read(&store).unwrap();
        assert!(listing.holds_image("a", true, 3));
        assert!(!listing.holds_image("a", true, 4));
        assert!(!listing.holds_image("b", true, 2), "no thumbnail");
        assert!(listing.holds_image("b", false, 1));
        assert!(!listing.holds_image("c", true, 1));
        assert!(listing.contains("00000.tar") && !listing.contains("a_thumbnail.jpg"));
    }
}
