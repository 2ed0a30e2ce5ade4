//! The ledger: what a run writes beside its output as outcomes arrive.
//!
//! For API sources, `<out>/metadata.jsonl` keeps what the API said of every
//! photo it listed, with the saved file's name or the reason it was not
//! saved (API calls are the scarce thing; a later run re-downloads from the
//! file with `--source metadata --from FILE`). The record travels with its
//! item and the file name with its outcome, so a line is written the moment
//! the outcome is recorded, from any methodology, with nothing looked up.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use super::outcome::Outcome;
use crate::sources::{Item, PhotoRecord};
use crate::store::{SinkError, Store};

/// The file name of the metadata inside the output folder.
pub const METADATA_FILE: &str = "metadata.jsonl";

/// Where a run's outcomes are written besides the tally.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// `metadata.jsonl`, open for appending, and its path; `None` for a run
    /// whose items carry no records (or that reads its own file again).
    metadata: Option<(PathBuf, Mutex<File>)>,
    /// An object store's `metadata.jsonl`: the store, and the lines of this
    /// run, added to the object at the end.
    kept: Option<(Store, Mutex<Vec<String>>)>,
    /// Set after the first write error, so it is reported once, not per line.
    write_failed: AtomicBool,
}

impl Ledger {
    /// A ledger that appends records to `<dir>/metadata.jsonl`, after what
    /// an earlier run left there (`--clean` removes it first).
    pub(crate) fn with_metadata(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(METADATA_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Ledger { metadata: Some((path, Mutex::new(file))), kept: None, write_failed: AtomicBool::new(false) })
    }

    /// A ledger that adds records to `metadata.jsonl` in `store`: appended
    /// to as they come in a folder, added at [`Ledger::finish`] elsewhere.
    pub(crate) fn in_store(store: &Store) -> Result<Self, SinkError> {
        match store.as_local() {
            Some(dir) => Self::with_metadata(dir.path()).map_err(|cause| SinkError::write(dir.path(), &cause)),
            None => Ok(Ledger { kept: Some((store.clone(), Mutex::default())), ..Ledger::default() }),
        }
    }

    /// Adds the lines kept for an object store to its `metadata.jsonl`
    /// (nothing to do for a folder, whose file is written as lines come).
    pub(crate) fn finish(&self) {
        let Some((store, lines)) = &self.kept else { return };
        let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner));
        if lines.is_empty() {
            return;
        }
        let added = store.get(METADATA_FILE).and_then(|earlier| {
            let mut text = earlier.unwrap_or_default();
            for line in lines {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
            }
            store.put(METADATA_FILE, &text)
        });
        if let Err(err) = added {
            eprintln!("warning: cannot write {}/{METADATA_FILE}: {err}", store.location());
        }
    }

    /// Writes `item`'s record, if it has one, with its outcome.
    pub(crate) fn record(&self, item: &Item, outcome: &Outcome) {
        match outcome {
            Ok(saved) => self.write(item, Some(saved.key.clone()), None),
            Err(failed) => self.write(item, None, Some(failed.to_string())),
        }
    }

    /// Writes `item`'s record, if it has one, with the file an earlier run
    /// saved it as (a re-run skipped it). The ledger is a log: a reader
    /// takes the last line of each id, as `dataset_summary` and the
    /// metadata source do.
    pub(crate) fn record_complete(&self, item: &Item, key: &str) {
        self.write(item, Some(key.to_string()), None);
    }

    fn write(&self, item: &Item, file: Option<String>, error: Option<String>) {
        let Some(record) = &item.record else { return };
        if let Some((_, lines)) = &self.kept {
            let record = PhotoRecord { file, error, ..(**record).clone() };
            if let Ok(line) = serde_json::to_string(&record) {
                lines.lock().unwrap_or_else(PoisonError::into_inner).push(line);
            }
            return;
        }
        let Some((path, handle)) = &self.metadata else {
            return;
        };
        let record = PhotoRecord { file, error, ..(**record).clone() };
        let written = serde_json::to_string(&record).map_err(std::io::Error::from).and_then(|line| {
            let mut handle = handle.lock().unwrap_or_else(PoisonError::into_inner);
            handle.write_all(format!("{line}\n").as_bytes())
        });
        if let Err(err) = written
            && !self.write_failed.swap(true, Ordering::Relaxed)
        {
            eprintln!("warning: cannot write {}: {err}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchError;
    use crate::run::outcome::Saved;

    fn item(id: &str) -> Item {
        let record = PhotoRecord {
            source: "unsplash".into(),
            id: id.into(),
            width: Some(4000),
            height: Some(3000),
            color: Some("#a0b0c0".into()),
            description: None,
            likes: Some(3),
            author: Some("Ann".into()),
            page_url: None,
            url: format!("http://h/{id}"),
            file: None,
            error: None,
        };
        Item { url: record.url.clone(), stem: Some(id.into()), record: Some(Box::new(record)), fields: None }
    }

    /// A record is written with its outcome: the saved file's name, or the
    /// reason it failed, or the file an earlier run saved; items without a
    /// record write nothing.
    #[test]
    fn records_are_written_with_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::with_metadata(dir.path()).unwrap();
        let saved = Saved { key: "a1.png".into(), bytes: 3, format: "png".into(), attempts: 1 };
        ledger.record(&item("a1"), &Ok(saved));
        ledger.record(&item("b2"), &Err(FetchError::Status(404).into()));
        ledger.record(&Item::from_url("http://h/unknown"), &Err(FetchError::Status(500).into()));
        ledger.record_complete(&item("c3"), "c3.webp");
        let text = std::fs::read_to_string(dir.path().join(METADATA_FILE)).unwrap();
        let lines: Vec<PhotoRecord> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[2].file.as_deref(), lines[2].error.as_deref()), (Some("c3.webp"), None));
        assert_eq!(lines[0].file.as_deref(), Some("a1.png"));
        assert_eq!(lines[1].error.as_deref(), Some("HTTP status 404"));
        assert_eq!(lines[1].file, None);
    }
}
