//! `webdataset`: `NNNNN.tar`, each sample as `KEY.jpg`, `KEY.json` (its
//! metadata row) and `KEY.txt` (its caption, when there is one), side by
//! side in key order: the layout the `webdataset` readers iterate.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::ShardFormat;
use crate::dataset::Row;

pub(crate) struct WebDataset;

impl ShardFormat for WebDataset {
    fn name(&self) -> &'static str {
        "webdataset"
    }

    fn sample_files(&self) -> &'static [&'static str] {
        &[".tar"]
    }

    fn write(&self, rows: &mut [Row], earlier: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
        let earlier = match earlier.first() {
            Some(tar) => members(tar)?,
            None => Members::new(),
        };
        Ok(vec![tar_of(rows, &earlier)?])
    }
}

/// The files of an earlier tar of a shard, by key (the name up to its
/// first dot), each key's as name and bytes, in their order.
type Members = BTreeMap<String, Vec<(String, Vec<u8>)>>;

/// The members of a tar, by key, each key's in their order.
fn members(tar: &[u8]) -> io::Result<Members> {
    let mut members = Members::new();
    for entry in tar::Archive::new(tar).entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        let key = path.split('.').next().unwrap_or_default().to_string();
        members.entry(key).or_default().push((path, bytes));
    }
    Ok(members)
}

/// The tar of a shard's `rows`, in their order: each success as
/// `KEY.jpg`, `KEY.json` and `KEY.txt` (its caption, when there is one),
/// from the image the row holds (taken out of it), or else the files
/// `earlier` has of its key, as they were.
fn tar_of(rows: &mut [Row], earlier: &Members) -> io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for row in rows.iter_mut().filter(|row| row.is_success()) {
        match row.jpeg.take() {
            Some(jpeg) => {
                append(&mut tar, &format!("{}.jpg", row.key), &jpeg)?;
                append(&mut tar, &format!("{}.json", row.key), &serde_json::to_vec(&*row).map_err(io::Error::other)?)?;
                if let Some(caption) = &row.caption {
                    append(&mut tar, &format!("{}.txt", row.key), caption.as_bytes())?;
                }
            }
            None => {
                for (path, bytes) in earlier.get(&row.key).into_iter().flatten() {
                    append(&mut tar, path, bytes)?;
                }
            }
        }
    }
    tar.into_inner()
}

/// One file of a tar: a plain file, mode 0644, dated at the epoch, so the
/// same samples make the same bytes.
fn append(tar: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, bytes)
}
