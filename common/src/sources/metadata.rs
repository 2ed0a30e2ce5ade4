//! [`PhotoRecord`]: what an API said about a photo, a line of
//! `metadata.jsonl`; and the source that lists such a file again.
//!
//! API calls are the scarce thing (Unsplash demo apps get 50 an hour), so
//! what a listing learnt travels with each item, and the run writes it to
//! `<out>/metadata.jsonl` with the item's outcome (the saved file's name, or
//! why it was not saved). A later run re-downloads from that file with
//! `--source metadata --from FILE` and spends no API call at all.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{Item, Listing, SourceError};

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

/// `--source metadata --from FILE`: lists the photos of a `metadata.jsonl`
/// again, each under its id, without calling any API. Each item carries its
/// record, so the new folder gets its own metadata. A photo listed twice
/// (the file of several runs) is downloaded once; lines that are not
/// records are skipped and counted, and the count ends the listing as an
/// error so the run says so.
pub(crate) fn metadata_list(path: &Path) -> Result<Listing, SourceError> {
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
                    let (url, stem) = (record.url.clone(), Some(record.id.clone()));
                    let record = PhotoRecord { file: None, error: None, ..record };
                    return Some(Ok(Item { url, stem, record: Some(Box::new(record)), fields: None }));
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
            self.first = Some(format!("line {number}: {}", crate::text::shorten(reason)));
        }
    }

    /// At the end of a list: the error to end the listing with, once, if
    /// any line was skipped.
    pub(crate) fn take_error(&mut self, path: &Path, what: &str) -> Option<Result<Item, SourceError>> {
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

    /// The metadata source lists each id once, under its id, and reports
    /// bad lines at the end instead of stopping at them.
    #[test]
    fn metadata_source_dedupes_and_counts_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.jsonl");
        let line = |id: &str| serde_json::to_string(&record(id)).unwrap();
        std::fs::write(&path, format!("{}\nnot json\n{}\n\n{}\n", line("a"), line("b"), line("a"))).unwrap();
        let items: Vec<_> = metadata_list(&path).unwrap().collect();
        assert_eq!(items.len(), 3);
        let first = items[0].as_ref().unwrap();
        assert_eq!((first.url.as_str(), first.stem.as_deref()), ("http://h/a", Some("a")));
        assert_eq!(first.record.as_ref().map(|r| r.author.as_deref()), Some(Some("Ann")));
        assert_eq!(items[1].as_ref().unwrap().stem.as_deref(), Some("b"));
        let err = items[2].as_ref().unwrap_err().to_string();
        assert!(err.contains("1 line") && err.contains("line 2"), "{err}");
    }
}
