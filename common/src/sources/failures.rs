//! `--retry-failed`: the items a run into the same folder failed, listed
//! again from its `failures.jsonl`.
//!
//! Each line carries the item as its source listed it (URL, stem, API
//! record), so a retry saves it under the same name and writes the same
//! metadata as a first run would have. The rest of a line (the reason, the
//! typed error, the attempts) is for people and tools, and ignored here.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};

use super::metadata::BadLines;
use super::{Item, Listing, PhotoRecord, SourceError};

/// What this source reads of a line of `failures.jsonl`.
#[derive(Debug, serde::Deserialize)]
struct FailedEntry {
    url: String,
    #[serde(default)]
    stem: Option<String>,
    #[serde(default)]
    record: Option<Box<PhotoRecord>>,
}

/// Lists the items of the failures file at `path`, in its order. The file
/// is opened now, so a run that replaces it at its end still reads every
/// line; a missing file is [`SourceError::NoFailures`].
pub(crate) fn failures_list(path: &Path) -> Result<Listing, SourceError> {
    let file = File::open(path).map_err(|cause| match cause.kind() {
        ErrorKind::NotFound => SourceError::NoFailures { path: path.to_path_buf() },
        _ => SourceError::FailuresFile { path: path.to_path_buf(), cause },
    })?;
    Ok(failures_of(BufReader::new(file), path.to_path_buf()))
}

/// Lists the items of a failures file read already (from a store, where
/// `path` is its key or URL, for messages).
pub(crate) fn failures_list_of(bytes: Vec<u8>, path: PathBuf) -> Listing {
    failures_of(std::io::Cursor::new(bytes), path)
}

/// The items of the failures file `reader` reads.
fn failures_of(reader: impl BufRead + Send + 'static, path: PathBuf) -> Listing {
    let mut bad = BadLines::default();
    let mut lines = reader.split(b'\n').enumerate();
    let listing = std::iter::from_fn(move || {
        loop {
            let Some((index, line)) = lines.next() else {
                return bad.take_error(&path, "failure records");
            };
            let line = match line {
                Ok(line) => line,
                Err(cause) => return Some(Err(SourceError::FailuresFile { path: path.clone(), cause })),
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<FailedEntry>(&line) {
                Ok(FailedEntry { url, stem, record }) => return Some(Ok(Item { url, stem, record, fields: None })),
                Err(err) => bad.note(index + 1, &err.to_string()),
            }
        }
    });
    Box::new(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items come back whole (URL, stem, record), the other fields are
    /// ignored, and a missing file says what `--retry-failed` needs.
    #[test]
    fn lists_items_back_and_explains_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failures.jsonl");
        let lines = [
            r#"{"url":"http://h/a","stem":null,"record":null,"reason":"HTTP status 404","error":{"Fetch":{"Status":404}},"attempts":1,"status":404}"#,
            "oops",
            r#"{"url":"http://h/b","stem":"b1","record":null,"reason":"x","attempts":3}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let items: Vec<_> = failures_list(&path).unwrap().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap(), &Item::from_url("http://h/a"));
        assert_eq!(items[1].as_ref().unwrap().stem.as_deref(), Some("b1"));
        assert!(items[2].as_ref().unwrap_err().to_string().contains("line 2"));

        let missing = failures_list(&dir.path().join("none.jsonl")).err().unwrap().to_string();
        assert!(missing.contains("none.jsonl") && missing.contains("--retry-failed"), "{missing}");
    }
}
