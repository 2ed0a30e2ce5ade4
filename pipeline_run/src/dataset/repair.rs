//! Repairing a dataset in place: `--retry-failed` with `--output-format
//! webdataset|parquet`.
//!
//! **What is retried.** The failed rows of the *complete* shards (those
//! whose stats object exists), as each shard's metadata (`NNNNN.parquet`)
//! lists them: the store is the truth, not `failures.jsonl`. Each row is
//! made again under its own key (the same URL, the same place); no other
//! row costs a request. A shard with no stats is not complete and is not
//! repaired: a run without `--retry-failed` makes it, whole.
//!
//! **What is rewritten.** Exactly the shards that gain a sample: the new
//! samples and the old ones together, in key order (the tar a run without
//! those failures would have written; the old samples' files are copied
//! as they were), the metadata with every row as it was but the retried
//! ones (saved now, or failed with their new reason), the stats recounted.
//! A shard none of whose retried rows was saved is not touched, byte for
//! byte; its rows still failing carry their new reason in `failures.jsonl`
//! and the report only.
//!
//! **Never half-written.** A shard is up to three objects (tar, metadata,
//! stats) and no store writes three objects at once. So the new ones are
//! first staged under `_repair/`, the stats last (staged stats say the
//! staged shard is whole); then the shard's stats are deleted, the new tar
//! and metadata put in place, the new stats last, and the staged copies
//! deleted. At every moment a shard whose stats exist is whole (the old
//! one or the new one); a run that dies part way leaves a staged shard,
//! which the next run, with `--retry-failed` or not, puts in place before
//! it lists anything ([`complete_interrupted`]). Staged objects without
//! their stats are a repair that died before its shard was staged whole:
//! they are deleted, and the old shard is still there. The price: a
//! rewritten shard is uploaded twice, and a repair holds a shard's old and
//! new tar in memory at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::{Context, bail};
use common::run::FAILURES_FILE;
use common::sources::{Listing, RowFields};
use common::store::{SinkError, Store as Destination};
use common::{Item, ItemError};
use serde_json::Value;

use super::table::{self, Row};
use super::writer::{OpenShard, Stats, unmade};
use super::{Keys, METADATA, STATS, shard_file, stats_key};
use crate::formats::Format;
use crate::store::Store;

/// Where a repair stages the new version of a shard before putting it in place.
pub(crate) const REPAIR_PREFIX: &str = "_repair";

/// The objects of a shard of `format`, by the suffix after its number,
/// in the order they are put in place: the stats last, since they say the
/// shard is whole.
fn shard_files(format: Format) -> Vec<&'static str> {
    let samples = format.shards().sample_files().iter().copied();
    samples.chain([METADATA, STATS]).collect()
}

/// What `--json` and the summary say of a repair.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub(crate) struct RepairSummary {
    /// Shards whose stats exist, so that their failed rows were retried.
    pub(crate) complete_shards: usize,
    /// Shards with a tar or metadata and no stats: not repaired (a run
    /// without `--retry-failed` makes them whole).
    pub(crate) incomplete_shards: Vec<String>,
    /// Failed rows of the complete shards, made again.
    pub(crate) retried: usize,
    /// Of those, the samples saved and stored in their shard.
    pub(crate) repaired: usize,
    /// Of those, the rows still failing (with their new reason).
    pub(crate) still_failing: usize,
    /// The shards written again: those that gained a sample.
    pub(crate) shards_rewritten: Vec<String>,
}

/// The failed rows of a store's complete shards, found before a repair,
/// with what the run needs to keep `failures.jsonl` whole.
#[derive(Debug)]
pub(crate) struct Damaged {
    items: Vec<Item>,
    pub(crate) found: RepairSummary,
    /// The keys of the rows retried.
    retried: HashSet<String>,
    /// `failures.jsonl` as it was before the repair.
    earlier_failures: Option<Vec<u8>>,
}

impl Damaged {
    /// Reads the stats of every shard in `store` and the metadata of those
    /// with failed rows. Refused in one line: shards of another format or
    /// size than the flags say, made with other thumbnail flags than
    /// `made` (a shard would mix two sizes), or a dataset with hashes or
    /// EXIF repaired with `--compute-hash false` or `--extract-exif false`
    /// (its rows would lack theirs).
    pub(crate) fn find(
        store: &Store,
        keys: Keys,
        (format, made): (Format, &str),
        (compute_hash, extract_exif): (bool, bool),
    ) -> anyhow::Result<Self> {
        let objects = store.objects();
        let mut shards: BTreeMap<u64, BTreeSet<&'static str>> = BTreeMap::new();
        for (key, _) in objects.list("").context("cannot list --store")? {
            if let Some((number, suffix)) = shard_file(&key) {
                shards.entry(number).or_default().insert(suffix);
            }
        }
        let mut damaged = Damaged {
            items: Vec::new(),
            found: RepairSummary::default(),
            retried: HashSet::new(),
            earlier_failures: store.records().get(FAILURES_FILE).context("cannot read failures.jsonl")?,
        };
        for (shard, files) in shards {
            let name = Keys::shard_name(shard);
            let complete = shard_files(format).iter().all(|suffix| files.contains(suffix));
            if !complete {
                damaged.found.incomplete_shards.push(name);
                continue;
            }
            let stats = read(objects, &stats_key(shard))?;
            let stats: Value = serde_json::from_slice(&stats).with_context(|| format!("{name}{STATS} is not JSON"))?;
            if stats["format"].as_str() != Some(format.name()) {
                bail!(
                    "--store holds {} shards ({name}{STATS}), not {}: repair them with --output-format {0}",
                    stats["format"].as_str().unwrap_or("unknown"),
                    format.name()
                );
            }
            if stats["shard_size"].as_u64() != Some(keys.shard_size) {
                bail!(
                    "the shards in --store are of {} rows ({name}{STATS}): repair them with --shard-size {0}",
                    stats["shard_size"]
                );
            }
            if let Some(earlier) = stats["made"].as_str()
                && earlier != made
            {
                bail!(
                    "the shards in --store were made with {earlier:?} ({name}{STATS}), these flags make {made:?}: \
                     repair them with the flags that made them"
                );
            }
            damaged.found.complete_shards += 1;
            if stats["failed"].as_u64() == Some(0) {
                continue;
            }
            let (spec, rows) = table::read_rows(read(objects, &format!("{name}.parquet"))?)
                .map_err(|err| anyhow::anyhow!("cannot read {name}.parquet: {err}"))?;
            if spec.sha256 && !compute_hash {
                bail!("the metadata of {name}.parquet has a sha256 column: repair it without --compute-hash false");
            }
            if spec.exif && !extract_exif {
                bail!("the metadata of {name}.parquet has an exif column: repair it without --extract-exif false");
            }
            for row in rows.into_iter().filter(|row| !row.is_success()) {
                let number = row_of(keys, &row.key).filter(|&number| keys.shard_of_row(number) == shard);
                let Some(number) = number else {
                    bail!(
                        "{name}.parquet has a row keyed {:?}, not one of shard {name} of {} rows",
                        row.key,
                        keys.shard_size
                    );
                };
                let fields = RowFields { row: Some(number), ..RowFields::default() };
                damaged.retried.insert(row.key.clone());
                damaged.items.push(Item {
                    url: row.url,
                    stem: Some(row.key),
                    record: None,
                    fields: Some(Box::new(fields)),
                });
            }
        }
        Ok(damaged)
    }

    /// The rows to make again, in key order (so each shard's rows come
    /// together, as the dataset writer expects), and the report's label for them.
    pub(crate) fn listing(&mut self, location: &str) -> (Listing, String) {
        let label = format!("failed samples of {} complete shard(s) in {location}", self.found.complete_shards);
        (Box::new(std::mem::take(&mut self.items).into_iter().map(Ok)), label)
    }

    /// After the run: `failures.jsonl` holds the failures of this run (the
    /// rows still failing) and keeps the earlier lines of rows it did not
    /// retry (those of shards not complete), which a run that only
    /// retried some rows must not forget.
    pub(crate) fn keep_other_failures(&self, records: &Destination) -> Result<(), SinkError> {
        let Some(earlier) = &self.earlier_failures else { return Ok(()) };
        let mut lines: BTreeSet<(String, String)> = BTreeSet::new();
        let now = records.get(FAILURES_FILE)?.unwrap_or_default();
        let mut kept = false;
        for (from_earlier, text) in [(false, &now), (true, earlier)] {
            for line in String::from_utf8_lossy(text).lines() {
                let Ok(parsed) = serde_json::from_str::<Value>(line) else { continue };
                let retried = parsed["stem"].as_str().is_some_and(|key| self.retried.contains(key));
                if from_earlier && retried {
                    continue;
                }
                kept |= from_earlier;
                lines.insert((parsed["url"].as_str().unwrap_or_default().to_string(), line.to_string()));
            }
        }
        if !kept {
            return Ok(());
        }
        let text: String = lines.into_iter().flat_map(|(_, line)| [line, "\n".to_string()]).collect();
        records.put(FAILURES_FILE, text.as_bytes()).map(drop)
    }
}

/// The object `key` of the store, which its listing holds.
fn read(store: &Destination, key: &str) -> anyhow::Result<Vec<u8>> {
    store.get(key).with_context(|| format!("cannot read {key}"))?.with_context(|| format!("{key} is gone from --store"))
}

/// The input row a key names (its shard and index), if it is a key of shards of this size.
fn row_of(keys: Keys, key: &str) -> Option<u64> {
    let number: u64 = key.parse().ok()?;
    let scale = 10u64.checked_pow(keys.row_digits)?;
    let (shard, index) = (number / scale, number % scale);
    let row = shard.checked_mul(keys.shard_size)?.checked_add(index)?;
    (index < keys.shard_size && keys.key(row) == key).then_some(row)
}

/// Writes shard `shard` (of `shard_size` rows) again with the retried rows
/// of `open` over its old ones: see the module docs. Only called when one
/// of them was saved.
pub(super) fn rewrite(
    store: &Destination,
    (shard, shard_size): (u64, u64),
    format: Format,
    open: OpenShard,
) -> Result<(), ItemError> {
    let (retried, started, bytes) = open.into_parts();
    let name = Keys::shard_name(shard);
    let get = |key: &str| -> Result<Vec<u8>, ItemError> {
        store.get(key).map_err(ItemError::Store)?.ok_or_else(|| {
            ItemError::Abandoned(format!(
                "{key} is gone from the store; a run without --retry-failed makes the shard again"
            ))
        })
    };
    let (spec, mut rows) =
        table::read_rows(get(&format!("{name}.parquet"))?).map_err(|err| unmade("metadata", &err))?;
    let mut retried: HashMap<String, Row> = retried.into_iter().map(|row| (row.key.clone(), row)).collect();
    for row in &mut rows {
        let Some(new) = retried.remove(&row.key) else { continue };
        // The row keeps its key, URL, caption and columns; its outcome is new.
        row.status = new.status;
        row.error_kind = new.error_kind;
        row.error_message = new.error_message;
        (row.width, row.height) = (new.width, new.height);
        (row.original_width, row.original_height) = (new.original_width, new.original_height);
        row.sha256 = new.sha256.filter(|_| spec.sha256);
        row.exif = new.exif.filter(|_| spec.exif);
        row.jpeg = new.jpeg;
    }
    if let Some(key) = retried.keys().next() {
        return Err(unmade("metadata", &format!("row {key} is not in {name}.parquet")));
    }
    let shards = format.shards();
    let earlier: Vec<Vec<u8>> =
        shards.sample_files().iter().map(|suffix| get(&format!("{name}{suffix}"))).collect::<Result<_, _>>()?;
    let samples = shards.write(&mut rows, &earlier).map_err(|err| unmade("samples", &err.to_string()))?;
    let mut files: Vec<(&str, Vec<u8>)> = shards.sample_files().iter().copied().zip(samples).collect();
    files.push((METADATA, table::parquet_bytes(&rows, &spec).map_err(|err| unmade("metadata", &err))?));
    // The shard's bytes so far, and this repair's; its times are the repair's.
    let earlier: Value = serde_json::from_slice(&get(&stats_key(shard))?).unwrap_or_default();
    let bytes = earlier["bytes"].as_u64().unwrap_or(0) + bytes;
    let mut stats = Stats::of(&rows, (shard, shard_size), format, started, bytes);
    stats.made = earlier["made"].as_str().map(str::to_string);
    files.push((STATS, stats.to_json()?));
    replace(store, &name, &files).map_err(ItemError::Store)
}

/// The staged copy of a shard's file.
fn staged(name: &str, suffix: &str) -> String {
    format!("{REPAIR_PREFIX}/{name}{suffix}")
}

/// Stages `files` (suffix and bytes, the stats last), then puts them in
/// place. A staging that fails leaves the old shard as it was.
fn replace(store: &Destination, name: &str, files: &[(&str, Vec<u8>)]) -> Result<(), SinkError> {
    for (done, (suffix, bytes)) in files.iter().enumerate() {
        if let Err(error) = store.put(&staged(name, suffix), bytes) {
            for (suffix, _) in &files[..done] {
                let _ = store.delete(&staged(name, suffix));
            }
            return Err(error);
        }
    }
    put_in_place(store, name, files)
}

/// Puts a staged shard in place: its stats deleted first and put last, so
/// that a shard whose stats exist is never a mix; then the staged copies
/// deleted, their stats first (without them, the others are leftovers).
fn put_in_place(store: &Destination, name: &str, files: &[(&str, Vec<u8>)]) -> Result<(), SinkError> {
    store.delete(&format!("{name}{STATS}"))?;
    for (suffix, bytes) in files {
        store.put(&format!("{name}{suffix}"), bytes)?;
    }
    store.delete(&staged(name, STATS))?;
    for (suffix, _) in files {
        store.delete(&staged(name, suffix))?;
    }
    Ok(())
}

/// Before a dataset run lists its store: puts in place every shard an
/// earlier repair staged whole and did not finish putting in place (of
/// the shards `takes` says are this run's), and deletes what a repair that
/// died earlier left staged in part. Returns the shards put in place.
pub(crate) fn complete_interrupted(store: &Destination, takes: impl Fn(u64) -> bool) -> Result<Vec<String>, SinkError> {
    let mut staged_files: BTreeMap<u64, BTreeSet<&'static str>> = BTreeMap::new();
    for (key, _) in store.list(REPAIR_PREFIX)? {
        if let Some((number, suffix)) = key.strip_prefix(&format!("{REPAIR_PREFIX}/")).and_then(shard_file) {
            staged_files.entry(number).or_default().insert(suffix);
        }
    }
    let mut finished = Vec::new();
    for (number, suffixes) in staged_files.into_iter().filter(|(number, _)| takes(*number)) {
        let name = Keys::shard_name(number);
        if !suffixes.contains(STATS) {
            for suffix in suffixes {
                store.delete(&staged(&name, suffix))?;
            }
            continue;
        }
        let mut files = Vec::new();
        for suffix in super::shard_suffixes().into_iter().filter(|suffix| suffixes.contains(suffix)) {
            // Gone since the listing: another run put it in place.
            let Some(bytes) = store.get(&staged(&name, suffix))? else { break };
            files.push((suffix, bytes));
        }
        if files.len() == suffixes.len() {
            put_in_place(store, &name, &files)?;
            finished.push(name);
        }
    }
    tidy(store);
    Ok(finished)
}

/// In a local folder, removes `_repair/` once it is empty (an object store
/// has no folders to leave behind).
pub(super) fn tidy(store: &Destination) {
    if let Some(folder) = store.as_local() {
        let _ = std::fs::remove_dir(folder.path().join(REPAIR_PREFIX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_files_and_keys() {
        assert_eq!(shard_file("00012.tar"), Some((12, ".tar")));
        assert_eq!(shard_file("00012_stats.json"), Some((12, STATS)));
        assert_eq!(shard_file("123456.parquet"), Some((123_456, ".parquet")));
        for other in ["0012.tar", "00012.tar.gz", "a/00012.tar", "failures.jsonl", "00012_thumbnail.jpg"] {
            assert_eq!(shard_file(other), None, "{other}");
        }
        let keys = Keys::new(3);
        assert_eq!(row_of(keys, "000021"), Some(7));
        assert_eq!(row_of(keys, "000025"), None, "index 5 is not in a shard of 3");
        assert_eq!(row_of(keys, "00002"), None, "a key of another size");
        assert_eq!(row_of(Keys::new(10_000), "000030042"), Some(30_042));
    }

    /// Staged files without their stats are deleted; a staged shard with
    /// its stats is put in place, its stats last, and `_repair/` is left empty.
    #[test]
    fn an_interrupted_repair_is_put_in_place_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Destination::open(dir.path().to_str().unwrap()).unwrap();
        for (key, bytes) in [("00000.tar", "old tar"), ("00000.parquet", "old"), ("00000_stats.json", "old")] {
            store.put(key, bytes.as_bytes()).unwrap();
        }
        store.put("_repair/00000.tar", b"half").unwrap();
        store.put("_repair/00001.tar", b"new tar").unwrap();
        store.put("_repair/00001.parquet", b"new").unwrap();
        store.put("_repair/00001_stats.json", b"new").unwrap();
        // As if the run died after deleting the old stats of shard 1.
        store.put("00001.tar", b"old tar").unwrap();
        assert!(complete_interrupted(&store, |number| number != 1).unwrap().is_empty());
        assert_eq!(store.get("_repair/00001_stats.json").unwrap().as_deref(), Some(&b"new"[..]), "not ours");
        assert_eq!(complete_interrupted(&store, |_| true).unwrap(), ["00001"]);
        assert_eq!(store.get("00000.tar").unwrap().as_deref(), Some(&b"old tar"[..]), "a half-staged shard is dropped");
        assert_eq!(store.get("00001.tar").unwrap().as_deref(), Some(&b"new tar"[..]));
        assert_eq!(store.get("00001_stats.json").unwrap().as_deref(), Some(&b"new"[..]));
        assert!(store.list(REPAIR_PREFIX).unwrap().is_empty());
        assert!(!dir.path().join(REPAIR_PREFIX).exists(), "an empty _repair/ is removed");
    }
}
