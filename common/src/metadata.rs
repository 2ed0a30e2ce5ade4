//! `<out>/metadata.jsonl`: what an API said about every photo it listed.
//!
//! API calls are the scarce thing (Unsplash demo apps get 50 an hour), so
//! what a listing learnt is kept: one JSON object a line per listed photo,
//! with the saved file's name, or the reason it was not saved. A later run
//! re-downloads from it with `--source metadata --from FILE` and spends no
//! API call at all.
//!
//! The saved name is only known after the download (its extension is the
//! image's real format), so a record is written when the run *records* the
//! outcome, not when the photo is listed: the listing hands the record to a
//! [`MetadataLog`], keyed by URL, and [`MetadataLog::recorded`] writes it
//! once the outcome is known. Only images in flight are held in memory.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use image::ImageFormat;

use crate::files::file_name;
use crate::source::{ImageRef, Listing, SourceError};

/// The file name of the metadata inside the output folder.
pub const METADATA_FILE: &str = "metadata.jsonl";

/// Formats a saved image may have; searched, in this order, to find the
/// file of an image whose outcome arrived without a path (worker processes
/// report only bytes).
const SAVED_FORMATS: [ImageFormat; 6] =
    [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP, ImageFormat::Gif, ImageFormat::Bmp, ImageFormat::Tiff];

/// One photo as an API described it: a line of `metadata.jsonl`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhotoRecord {
    /// The API: `unsplash` or `imgur`.
    pub source: String,
    /// The API's id for the photo; also the saved file's stem.
    pub id: String,
    /// Width in pixels of the original, as the API says.
    pub width: Option<u32>,
    /// Height in pixels of the original, as the API says.
    pub height: Option<u32>,
    /// The photo's dominant colour as `#rrggbb` (Unsplash only).
    pub color: Option<String>,
    /// Description, or alt text, or title.
    pub description: Option<String>,
    /// Likes (Unsplash) or up-votes (Imgur).
    pub likes: Option<u64>,
    /// The author's display name (Unsplash) or account (Imgur).
    pub author: Option<String>,
    /// The photo's page, for credit.
    pub page_url: Option<String>,
    /// The image URL that was downloaded.
    pub url: String,
    /// The saved file's name in the output folder; `None` if not saved.
    pub file: Option<String>,
    /// Why it was not saved, if it was not.
    pub error: Option<String>,
}

/// Collects listed photos' records and writes each one with its outcome.
/// Cheap to clone; clones share one file and one table.
///
/// Records wait keyed by image URL, which every API gives each photo its
/// own of; only images between listing and outcome are held.
#[derive(Debug, Clone, Default)]
pub struct MetadataLog {
    inner: Arc<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    /// Records listed but whose outcome is not known yet, by image URL.
    pending: Mutex<HashMap<String, PhotoRecord>>,
    /// The output folder and the open file; `None` until [`MetadataLog::open`].
    writer: Mutex<Option<(PathBuf, File)>>,
    /// Set after the first write error, so it is reported once, not per line.
    write_failed: AtomicBool,
}

impl MetadataLog {
    /// A log with nowhere to write yet.
    pub fn new() -> Self {
        MetadataLog::default()
    }

    /// Starts writing to `<dir>/metadata.jsonl`, appending to what an earlier
    /// run left there (`--clean` removes it first). Returns the file's path.
    pub fn open(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join(METADATA_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        *self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner) = Some((dir.to_path_buf(), file));
        Ok(path)
    }

    /// A listing calls this for every photo it hands on.
    pub fn listed(&self, record: PhotoRecord) {
        self.inner.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(record.url.clone(), record);
    }

    /// The run calls this with each image's outcome: the saved file (if the
    /// caller knows it) or why it failed. Writes the record, if the image
    /// came from this log's listing; does nothing otherwise.
    pub fn recorded(&self, url: &str, outcome: Result<Option<&Path>, &str>) {
        let Some(mut record) = self.inner.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(url) else {
            return;
        };
        let mut writer = self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((dir, file)) = writer.as_mut() else {
            return;
        };
        match outcome {
            Ok(path) => {
                record.file = match path {
                    Some(path) => path.file_name().map(|name| name.to_string_lossy().into_owned()),
                    None => find_saved(dir, &record),
                };
                record.error = None;
            }
            Err(reason) => {
                record.file = None;
                record.error = Some(reason.to_string());
            }
        }
        let written = serde_json::to_string(&record)
            .map_err(std::io::Error::from)
            .and_then(|line| file.write_all(format!("{line}\n").as_bytes()));
        if let Err(err) = written
            && !self.inner.write_failed.swap(true, Ordering::Relaxed)
        {
            eprintln!("warning: cannot write {}: {err}", dir.join(METADATA_FILE).display());
        }
    }
}

/// The name under which the image of `record` was saved, found on disk.
fn find_saved(dir: &Path, record: &PhotoRecord) -> Option<String> {
    SAVED_FORMATS
        .iter()
        .map(|format| file_name(&record.url, Some(&record.id), *format))
        .find(|name| dir.join(name).is_file())
}

/// `--source metadata --from FILE`: lists the photos of a `metadata.jsonl`
/// again, each under its id, without calling any API. Records are handed
/// to `log` so the new folder gets its own metadata. A photo listed twice
/// (the file of several runs) is downloaded once; lines that are not
/// records are skipped and counted, and the count ends the listing as an
/// error so the run says so.
pub fn metadata_list(path: &Path, log: MetadataLog) -> Result<Listing, SourceError> {
    let file = File::open(path).map_err(|cause| SourceError::MetadataFile { path: path.to_path_buf(), cause })?;
    let path = path.to_path_buf();
    let mut seen = HashSet::new();
    let mut bad = BadLines::default();
    let mut lines = BufReader::new(file).split(b'\n').enumerate();
    let listing = std::iter::from_fn(move || {
        loop {
            let Some((index, line)) = lines.next() else {
                return bad.take_error(&path, "metadata records");
            };
            let line = match line {
                Ok(line) => line,
                Err(cause) => return Some(Err(SourceError::MetadataFile { path: path.clone(), cause })),
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<PhotoRecord>(&line) {
                Ok(record) if seen.insert(record.id.clone()) => {
                    let image = ImageRef { url: record.url.clone(), stem: Some(record.id.clone()) };
                    log.listed(PhotoRecord { file: None, error: None, ..record });
                    return Some(Ok(image));
                }
                Ok(_) => continue,
                Err(err) => bad.note(index + 1, &err.to_string()),
            }
        }
    });
    Ok(Box::new(listing))
}

/// Lines of a list that could not be read, counted so one bad line does not
/// stop a ten-million-line list, and reported once at its end.
#[derive(Debug, Default)]
pub(crate) struct BadLines {
    count: usize,
    first: Option<String>,
    reported: bool,
}

impl BadLines {
    /// Counts line `number` (1-based) as unreadable because of `reason`.
    pub(crate) fn note(&mut self, number: usize, reason: &str) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(format!("line {number}: {}", crate::fetch::shorten(reason)));
        }
    }

    /// At the end of a list: the error to end the listing with, once, if
    /// any line was skipped.
    pub(crate) fn take_error(&mut self, path: &Path, what: &str) -> Option<Result<ImageRef, SourceError>> {
        if self.count == 0 || self.reported {
            return None;
        }
        self.reported = true;
        Some(Err(SourceError::BadLines {
            path: path.to_path_buf(),
            count: self.count,
            what: what.to_string(),
            first: self.first.clone().unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> PhotoRecord {
        PhotoRecord {
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
        }
    }

    /// A record is written with its outcome: the file found on disk for a
    /// saved image, the reason for a failed one; unknown URLs are ignored.
    #[test]
    fn records_are_written_with_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a1.png"), b"png").unwrap();
        let log = MetadataLog::new();
        log.open(dir.path()).unwrap();
        log.listed(record("a1"));
        log.listed(record("b2"));
        log.recorded("http://h/a1", Ok(None));
        log.recorded("http://h/b2", Err("HTTP status 404"));
        log.recorded("http://h/unknown", Ok(None));
        let text = std::fs::read_to_string(dir.path().join(METADATA_FILE)).unwrap();
        let lines: Vec<PhotoRecord> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].file.as_deref(), Some("a1.png"));
        assert_eq!(lines[1].error.as_deref(), Some("HTTP status 404"));
        assert_eq!(lines[1].file, None);
    }

    /// The metadata source lists each id once, under its id, and reports
    /// bad lines at the end instead of stopping at them.
    #[test]
    fn metadata_source_dedupes_and_counts_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.jsonl");
        let line = |id: &str| serde_json::to_string(&record(id)).unwrap();
        std::fs::write(&path, format!("{}\nnot json\n{}\n\n{}\n", line("a"), line("b"), line("a"))).unwrap();
        let log = MetadataLog::new();
        let items: Vec<_> = metadata_list(&path, log).unwrap().collect();
        assert_eq!(items.len(), 3);
        let first = items[0].as_ref().unwrap();
        assert_eq!((first.url.as_str(), first.stem.as_deref()), ("http://h/a", Some("a")));
        assert_eq!(items[1].as_ref().unwrap().stem.as_deref(), Some("b"));
        let err = items[2].as_ref().unwrap_err().to_string();
        assert!(err.contains("1 line") && err.contains("line 2"), "{err}");
    }
}
