//! `failures.jsonl`: every item a run could not save, so that
//! `--retry-failed` can run exactly those again.
//!
//! One JSON object a line, one line per failed item:
//!
//! ```text
//! {"url":…,"stem":…,"record":…,"reason":…,"error":…,"attempts":…,"status":…}
//! ```
//!
//! `stem` and `record` are the item's own (`null` for a URL list), so a
//! retry saves it under the same name with the same metadata as a first run
//! would have; `reason` is the error in one line and `error` the same typed
//! (e.g. `{"Fetch":{"Status":503}}`); `status` is the HTTP status of the
//! last attempt, if it got one.
//!
//! The file is written whole at the end of a run, through the run's store
//! (an atomic put: a folder's temporary file renamed, a bucket's one `PUT`;
//! never half-written), sorted by URL so that every methodology writes the
//! same bytes for the same failures, and removed when a run has none, so a
//! failure a later run cured does not linger. A run cut short by Ctrl-C has
//! not tried everything, so it adds its failures to the file instead of
//! replacing it: nothing an earlier run failed is forgotten, and an entry
//! saved since is skipped by the next `--retry-failed` without a request. A
//! run killed outright leaves the file as it was.

use super::outcome::{Failed, ItemError};
use crate::fetch::FetchError;
use crate::sources::{Item, PhotoRecord};
use crate::store::{SinkError, Store};
use std::collections::HashSet;

/// The file name of the failures inside the output folder.
pub const FAILURES_FILE: &str = "failures.jsonl";

/// A failure as the tally keeps it until the end of the run: the item whole
/// (its URL, stem and record) and what ended it.
#[derive(Debug)]
pub(crate) struct FailedItem {
    /// The item, as its source listed it.
    pub(crate) item: Item,
    /// Why it was not saved, and after how many attempts.
    pub(crate) failed: Failed,
}

/// One line of `failures.jsonl`.
#[derive(Debug, serde::Serialize)]
struct FailureLine<'a> {
    url: &'a str,
    stem: Option<&'a str>,
    record: Option<&'a PhotoRecord>,
    reason: String,
    error: &'a ItemError,
    attempts: u32,
    status: Option<u16>,
}

/// What an earlier line is read for when a cut-short run merges: its URL.
#[derive(Debug, serde::Deserialize)]
struct EarlierLine {
    url: String,
}

/// Writes `failures.jsonl` into the store `out` for a run that ended with
/// `failures`; with `merge` (the run was cut short), the lines already
/// there for other URLs are kept. No failures and nothing to keep: the
/// object is deleted.
pub(crate) fn write_failures(out: &Store, failures: &[FailedItem], merge: bool) -> Result<(), SinkError> {
    let path = std::path::PathBuf::from(format!("{}/{FAILURES_FILE}", out.location()));
    let mut lines: Vec<(String, String)> = Vec::with_capacity(failures.len());
    for FailedItem { item, failed } in failures {
        let line = FailureLine {
            url: &item.url,
            stem: item.stem.as_deref(),
            record: item.record.as_deref(),
            reason: failed.reason(),
            error: &failed.error,
            attempts: failed.attempts,
            status: match failed.error {
                ItemError::Fetch(FetchError::Status(status)) => Some(status),
                _ => None,
            },
        };
        let line = serde_json::to_string(&line).map_err(|err| SinkError::write(&path, &std::io::Error::from(err)))?;
        lines.push((item.url.clone(), line));
    }
    if merge {
        let earlier = String::from_utf8_lossy(&out.get(FAILURES_FILE)?.unwrap_or_default()).into_owned();
        let tried_again: HashSet<String> = lines.iter().map(|(url, _)| url.clone()).collect();
        for line in earlier.lines() {
            if let Ok(EarlierLine { url }) = serde_json::from_str(line)
                && !tried_again.contains(&url)
            {
                lines.push((url, line.to_string()));
            }
        }
    }
    if lines.is_empty() {
        return out.delete(FAILURES_FILE);
    }
    // By URL, then by the whole line (a URL listed twice), so the bytes do
    // not depend on the order in which outcomes arrived.
    lines.sort_unstable();
    let text: String = lines.into_iter().flat_map(|(_, line)| [line, "\n".to_string()]).collect();
    out.put(FAILURES_FILE, text.as_bytes()).map(drop)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn failed(url: &str, error: FetchError) -> FailedItem {
        FailedItem { item: Item::from_url(url), failed: Failed { error: error.into(), attempts: 2 } }
    }

    fn urls(out: &Store) -> Vec<String> {
        let text = String::from_utf8(out.get(FAILURES_FILE).unwrap().unwrap()).unwrap();
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["url"].as_str().unwrap().to_string()).collect()
    }

    /// Lines are sorted by URL whatever the order of the outcomes, carry the
    /// typed error and the last status; a run with no failures removes the
    /// file, and a run cut short keeps the lines of URLs it did not retry.
    #[test]
    fn written_sorted_replaced_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let out = Store::open(&dir.path().to_string_lossy()).unwrap();
        let first =
            [failed("http://h/b", FetchError::Status(503)), failed("http://h/a", FetchError::Network("x".into()))];
        write_failures(&out, &first, false).unwrap();
        assert_eq!(urls(&out), ["http://h/a", "http://h/b"]);
        let text = std::fs::read_to_string(dir.path().join(FAILURES_FILE)).unwrap();
        let b: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!((b["status"].as_u64(), b["attempts"].as_u64()), (Some(503), Some(2)), "{b}");
        assert_eq!(
            (&b["error"]["Fetch"]["Status"], &b["reason"], &b["stem"]),
            (&Value::from(503), &Value::from("HTTP status 503"), &Value::Null)
        );

        write_failures(&out, &[failed("http://h/c", FetchError::Status(404))], true).unwrap();
        assert_eq!(urls(&out), ["http://h/a", "http://h/b", "http://h/c"], "a cut-short run forgets nothing");
        write_failures(&out, &[failed("http://h/c", FetchError::Status(404))], false).unwrap();
        assert_eq!(urls(&out), ["http://h/c"], "a whole run replaces the file");
        write_failures(&out, &[], false).unwrap();
        assert!(!dir.path().join(FAILURES_FILE).exists(), "no failures, no file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file left");
    }
}
