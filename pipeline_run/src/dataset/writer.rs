//! [`Dataset`]: the output shards being made, and their publishing.
//!
//! Every mode records each image's outcome in the parent (see
//! `record.rs`), so one `Dataset` sees every row, from whichever thread or
//! worker process made it. It keeps the shards still open in memory and
//! stores one whole when its last row is in: the listing has moved past
//! it and every row it listed is recorded.
//!
//! A sample is saved only once its shard is stored. So for webdataset and
//! parquet, the outcome of a made sample is held with its shard (given
//! to [`Dataset::add`]) and settled when the shard is stored (saved) or
//! could not be (failed, with the store's reason), or when the run ends
//! before the shard is whole (failed: not stored); the run ledger counts
//! the settled outcomes ([`Dataset::take_settled`]). A shard that could
//! not be stored whole leaves none of its files behind.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Failed, Item, ItemError, Outcome};
use serde_json::{Map, Value};

use super::repair::{self, RepairSummary};
use super::table::{self, FAILED_TO_DOWNLOAD, FAILED_TO_RESIZE, Row, SUCCESS, TableSpec};
use super::{Keys, Sample, failure_kind, stats_key};
use crate::formats::Format;
use crate::store::Store;

/// The shards of a run, as they are made.
#[derive(Debug)]
pub(crate) struct Dataset {
    format: Format,
    keys: Keys,
    store: Store,
    /// Before every file name: `_shards/<I>/` for a cluster task's loose
    /// files (their rows are spread over every task), else nothing.
    prefix: String,
    spec: TableSpec,
    /// What is made of each image (thumbnail size and fit, quality), for
    /// the stats: a repair with other flags is refused.
    made: Option<String>,
    /// With `--retry-failed`: the rows are the failed ones of complete
    /// shards, written into them (see `repair.rs`), and what was found.
    repair: Option<RepairSummary>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Rows listed so far, per shard.
    listed: BTreeMap<u64, u64>,
    /// The shard the listing is in: every shard before it is listed whole.
    listing: u64,
    /// Shards with rows recorded and not yet stored.
    open: BTreeMap<u64, OpenShard>,
    /// Shards stored by this run, by name.
    written: Vec<String>,
    /// Shards that could not be stored, one line each.
    errors: Vec<String>,
    /// Outcomes of held samples whose shard was stored or lost, for the
    /// run ledger to count.
    settled: Vec<(Item, Outcome)>,
}

/// A shard being made: its rows, each success with its image, in memory
/// until the shard is stored (the tar is made then, in key order).
pub(super) struct OpenShard {
    rows: Vec<Row>,
    /// The outcomes of its made samples, held until it is stored.
    held: Vec<(Item, Outcome)>,
    started: SystemTime,
    /// Bytes of the images in it.
    bytes: u64,
}

impl std::fmt::Debug for OpenShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenShard").field("rows", &self.rows.len()).finish_non_exhaustive()
    }
}

/// What the run's report says of the dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct DatasetSummary {
    pub(crate) format: Format,
    pub(crate) shard_size: u64,
    /// Shards this run stored.
    pub(crate) shards_written: usize,
    /// Shards left unstored because the run stopped early: made again next time.
    pub(crate) shards_unfinished: usize,
    /// Shards that could not be stored, one line each.
    pub(crate) errors: Vec<String>,
    /// With `--retry-failed`: what was retried, repaired, and rewritten.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) repair: Option<RepairSummary>,
}

impl Dataset {
    /// A dataset in `format` of shards of `keys`' size, stored into `store`
    /// under `prefix`, whose rows have a caption (`caption`), the `saved`
    /// columns and, with `hash` and `exif`, a sha256 and the EXIF tags.
    pub(crate) fn new(
        format: Format,
        keys: Keys,
        (store, prefix): (Store, String),
        caption: bool,
        saved: &[String],
        (hash, exif): (bool, bool),
    ) -> Self {
        let spec = TableSpec {
            caption,
            names: format.shards().names_column(),
            saved: saved.to_vec(),
            sha256: hash,
            exif,
            images: format.shards().images_column(),
        };
        Dataset { format, keys, store, prefix, spec, made: None, repair: None, state: Mutex::default() }
    }

    /// The same dataset, whose stats say that `made` is what is made of each image.
    pub(crate) fn making(self, made: &str) -> Self {
        Dataset { made: Some(made.to_string()), ..self }
    }

    /// The same dataset, repairing the complete shards `found` holds
    /// rather than making shards: each row given is a failed one made
    /// again, and its shard is written again only when one of them is
    /// saved.
    pub(crate) fn repairing(self, found: RepairSummary) -> Self {
        Dataset { repair: Some(found), ..self }
    }

    pub(crate) fn keys(&self) -> Keys {
        self.keys
    }

    /// Input row `row` was listed. When the listing enters a new shard, the
    /// shards before it are listed whole, and any whose rows are all
    /// recorded already is stored.
    pub(crate) fn listed(&self, row: u64) {
        let shard = self.keys.shard_of_row(row);
        let ready = {
            let mut state = self.lock();
            *state.listed.entry(shard).or_default() += 1;
            if shard > state.listing {
                state.listing = shard;
                state.take_ready(|open| open < shard)
            } else {
                Vec::new()
            }
        };
        self.publish_all(ready);
    }

    /// Records what became of `item` (`sample`: what was made of it).
    /// With `held` (a made sample of webdataset or parquet), its outcome is
    /// held with its shard until the shard is stored: see the module docs.
    pub(crate) fn add(&self, item: &Item, outcome: &Outcome, sample: Option<Sample>, held: Option<Outcome>) {
        let Some(mut row) = self.row(item) else { return };
        match (outcome, sample) {
            (Ok(_), Some(sample)) => {
                row.width = sample.width;
                row.height = sample.height;
                row.original_width = Some(sample.original_width);
                row.original_height = Some(sample.original_height);
                row.sha256 = sample.sha256;
                row.exif = sample.exif;
                row.jpeg = sample.jpeg;
            }
            (Ok(_), None) => {
                row.status = FAILED_TO_RESIZE.into();
                row.error_kind = Some("no_image".into());
                row.error_message = Some("no image was made of it".into());
            }
            (Err(failed), _) => {
                // The established tool's two kinds of failure: the image
                // was not had, or it was had and could not be made (or was
                // refused); ours, finer, beside them.
                let transform = matches!(failed.error, ItemError::Transform(_));
                row.status = if transform { FAILED_TO_RESIZE } else { FAILED_TO_DOWNLOAD }.into();
                row.error_kind = Some(failure_kind(failed));
                row.error_message = Some(failed.reason());
            }
        }
        self.push(row, held.map(|outcome| (item.clone(), outcome)));
    }

    /// `files`: records a row an earlier run completed (its objects are
    /// stored; its sizes are in that run's metadata).
    pub(crate) fn skipped(&self, item: &Item) {
        if let Some(mut row) = self.row(item) {
            row.from_earlier = true;
            self.push(row, None);
        }
    }

    /// The row of `item`, as a success with nothing known yet.
    fn row(&self, item: &Item) -> Option<Row> {
        let number = Keys::row(item)?;
        Some(Row {
            key: self.keys.key(number),
            name: self.spec.names.then(|| common::run::image_name(item)),
            url: item.url.clone(),
            caption: item.fields.as_ref().and_then(|fields| fields.caption.clone()),
            status: SUCCESS.into(),
            error_kind: None,
            error_message: None,
            width: None,
            height: None,
            original_width: None,
            original_height: None,
            exif: None,
            sha256: None,
            columns: self.saved_columns(item),
            jpeg: None,
            from_earlier: false,
        })
    }

    /// The outcomes settled since the last call, to be counted.
    pub(crate) fn take_settled(&self) -> Vec<(Item, Outcome)> {
        std::mem::take(&mut self.lock().settled)
    }

    /// Whether a made sample's outcome waits for its shard (webdataset,
    /// parquet) rather than counting at once (files: its objects are stored).
    pub(crate) fn holds_samples(&self) -> bool {
        self.format.shards().holds_images()
    }

    /// Adds a row to its shard, and stores the shards that are ready.
    fn push(&self, row: Row, held: Option<(Item, Outcome)>) {
        let Ok(number) = row.key.parse::<u64>() else { return };
        let shard = number / 10u64.saturating_pow(self.keys.row_digits);
        let ready = {
            let mut state = self.lock();
            let open = state.open.entry(shard).or_insert_with(OpenShard::new);
            // Held before the shard can be taken as ready: its last row's
            // outcome must settle with it.
            open.held.extend(held);
            open.add(row);
            let listing = state.listing;
            state.take_ready(|open| open < listing)
        };
        self.publish_all(ready);
    }

    /// Stores the shards still open when the run went through its whole
    /// share (`whole`); a run that stopped early leaves them unwritten.
    pub(crate) fn finish(&self, whole: bool) -> DatasetSummary {
        let (ready, unfinished) = {
            let mut state = self.lock();
            let ready = if whole { state.take_ready(|_| true) } else { Vec::new() };
            let unfinished = std::mem::take(&mut state.open);
            // Made, never stored: failed, and made again by the next run.
            let next =
                if self.repair.is_some() { "the next --retry-failed repairs it" } else { "the next run makes it" };
            for (shard, open) in &unfinished {
                let why =
                    format!("not stored: the run ended before shard {} was whole; {next}", Keys::shard_name(*shard));
                let lost = open
                    .held
                    .iter()
                    .map(|(item, outcome)| (item.clone(), lose(outcome, ItemError::Abandoned(why.clone()))));
                let lost: Vec<_> = lost.collect();
                state.settled.extend(lost);
            }
            (ready, unfinished.len())
        };
        self.publish_all(ready);
        if self.repair.is_some() {
            repair::tidy(self.store.objects());
        }
        let mut state = self.lock();
        // By number, whichever thread stored which first.
        state.written.sort();
        DatasetSummary {
            format: self.format,
            shard_size: self.keys.shard_size,
            shards_written: state.written.len(),
            shards_unfinished: unfinished,
            errors: state.errors.clone(),
            repair: self.repair.clone().map(|found| RepairSummary { shards_rewritten: state.written.clone(), ..found }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The saved columns of the item, in `--save-columns` order (missing: null).
    fn saved_columns(&self, item: &Item) -> Map<String, Value> {
        let mut columns = Map::new();
        for name in &self.spec.saved {
            let value =
                item.fields.as_ref().and_then(|fields| fields.columns.get(name).cloned()).unwrap_or(Value::Null);
            columns.insert(name.clone(), value);
        }
        columns
    }

    fn publish_all(&self, ready: Vec<(u64, OpenShard)>) {
        for (shard, mut open) in ready {
            let held = std::mem::take(&mut open.held);
            let result = match self.repair {
                // No row saved this time: the shard stays as it is, byte for byte.
                Some(_) if !open.rows.iter().any(Row::is_success) => Ok(None),
                Some(_) => repair::rewrite(self.store.objects(), (shard, self.keys.shard_size), self.format, open)
                    .map(|()| Some(Keys::shard_name(shard))),
                None => self.publish(shard, open).map(|()| Some(Keys::shard_name(shard))),
            };
            let mut state = self.lock();
            match result {
                Ok(written) => {
                    state.written.extend(written);
                    state.settled.extend(held);
                }
                Err(error) => {
                    state.errors.push(format!("shard {} was not stored: {error}", Keys::shard_name(shard)));
                    let lost = held.into_iter().map(|(item, outcome)| {
                        let lost = lose(&outcome, error.clone());
                        (item, lost)
                    });
                    state.settled.extend(lost);
                }
            }
        }
    }

    /// Stores a whole shard: its samples, its metadata, its stats last. If
    /// any of them cannot be stored, those stored already are deleted
    /// (best effort): a shard is whole in the store, or absent.
    fn publish(&self, shard: u64, open: OpenShard) -> Result<(), ItemError> {
        let OpenShard { mut rows, started, bytes, .. } = open;
        let name = format!("{}{}", self.prefix, Keys::shard_name(shard));
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        // In key order, whatever order the rows were made in: every mode
        // writes the same tar, and a repair writes the tar a run with no
        // failure would have.
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        let shards = self.format.shards();
        let samples = shards.write(&mut rows, &[]).map_err(|err| unmade("samples", &err.to_string()))?;
        for (suffix, bytes) in shards.sample_files().iter().zip(samples) {
            files.push((format!("{name}{suffix}"), bytes));
        }
        self.fill_in_earlier(&format!("{name}.parquet"), &mut rows);
        let parquet = table::parquet_bytes(&rows, &self.spec).map_err(|err| unmade("metadata", &err))?;
        files.push((format!("{name}.parquet"), parquet));
        let mut stats = Stats::of(&rows, (shard, self.keys.shard_size), self.format, started, bytes);
        stats.made.clone_from(&self.made);
        files.push((format!("{}{}", self.prefix, stats_key(shard)), stats.to_json()?));
        let mut stored: Vec<&str> = Vec::new();
        for (key, bytes) in &files {
            if let Err(error) = self.store.put(key, bytes) {
                for key in stored {
                    let _ = self.store.objects().delete(key);
                }
                return Err(ItemError::Store(error));
            }
            stored.push(key);
        }
        Ok(())
    }
}

impl Dataset {
    /// `files`: a row an earlier run completed takes what that run's
    /// metadata of the shard said of it (sizes, EXIF, hash), when it is there.
    fn fill_in_earlier(&self, key: &str, rows: &mut [Row]) {
        if !rows.iter().any(|row| row.from_earlier) {
            return;
        }
        let Ok(Some(bytes)) = self.store.read(key) else { return };
        let Ok(earlier) = table::read_outcomes(bytes) else { return };
        for row in rows.iter_mut().filter(|row| row.from_earlier) {
            if let Some(outcome) = earlier.get(&row.key).filter(|outcome| outcome.status == SUCCESS) {
                (row.width, row.height) = (outcome.width, outcome.height);
                (row.original_width, row.original_height) = (outcome.original_width, outcome.original_height);
                row.exif.clone_from(&outcome.exif);
                row.sha256.clone_from(&outcome.sha256);
            }
        }
    }
}

/// A shard's file that could not be made (a bug, or memory), as a failure of its samples.
pub(super) fn unmade(what: &str, err: &str) -> ItemError {
    ItemError::Abandoned(format!("cannot make the shard's {what}: {err}"))
}

/// `outcome`, a made sample's, as failed with `error`: its shard was not stored.
fn lose(outcome: &Outcome, error: ItemError) -> Outcome {
    let attempts = match outcome {
        Ok(saved) => saved.attempts,
        Err(failed) => failed.attempts,
    };
    Err(Failed { error, attempts })
}

impl State {
    /// Removes the open shards that `listed_whole` says are listed whole
    /// and whose listed rows are all recorded.
    fn take_ready(&mut self, listed_whole: impl Fn(u64) -> bool) -> Vec<(u64, OpenShard)> {
        let ready: Vec<u64> = self
            .open
            .iter()
            .filter(|(shard, open)| {
                listed_whole(**shard) && self.listed.get(shard).is_some_and(|&n| open.rows.len() as u64 >= n)
            })
            .map(|(shard, _)| *shard)
            .collect();
        ready.into_iter().filter_map(|shard| self.open.remove(&shard).map(|open| (shard, open))).collect()
    }
}

impl OpenShard {
    fn new() -> Self {
        OpenShard { rows: Vec::new(), held: Vec::new(), started: SystemTime::now(), bytes: 0 }
    }

    /// Adds a row (a success with its image).
    fn add(&mut self, row: Row) {
        if let Some(jpeg) = &row.jpeg {
            self.bytes += jpeg.len() as u64;
        }
        self.rows.push(row);
    }

    /// The rows, the time it was started at and the bytes of its images.
    pub(super) fn into_parts(self) -> (Vec<Row>, SystemTime, u64) {
        (self.rows, self.started, self.bytes)
    }
}

/// `NNNNN_stats.json`: the established tool's fields with its meanings
/// (`count` to `status_dict`), then ours.
#[derive(Debug, serde::Serialize)]
pub(super) struct Stats {
    /// Input rows in the shard.
    count: usize,
    successes: usize,
    /// Rows whose image could not be had (any failure but the transform's).
    failed_to_download: usize,
    /// Rows whose image came but was refused or could not be made.
    failed_to_resize: usize,
    /// `end_time - start_time`, in seconds.
    duration: f64,
    /// When the shard's first row was recorded and when the shard was
    /// made, in seconds since the Unix epoch (for a repair, its own).
    start_time: f64,
    end_time: f64,
    /// Rows by outcome: `success`, or the failure's error message.
    status_dict: BTreeMap<String, usize>,
    shard: String,
    format: Format,
    /// Rows a full shard has (`--shard-size`).
    shard_size: u64,
    /// `failed_to_download + failed_to_resize`.
    failed: usize,
    /// The failed rows by kind (the metadata's `error_kind`).
    error_kinds: BTreeMap<String, usize>,
    /// What was made of each image: thumbnail size and fit, quality, format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) made: Option<String>,
    /// Bytes of the images.
    bytes: u64,
    first_key: Option<String>,
    last_key: Option<String>,
}

impl Stats {
    /// The stats of a shard of `rows`, whose making started at `started`
    /// and ends now, and whose images are `bytes` long.
    pub(super) fn of(
        rows: &[Row],
        (shard, shard_size): (u64, u64),
        format: Format,
        started: SystemTime,
        bytes: u64,
    ) -> Self {
        let (mut status_dict, mut error_kinds) = (BTreeMap::new(), BTreeMap::new());
        let (mut successes, mut failed_to_resize) = (0, 0);
        for row in rows {
            let outcome = if row.is_success() { SUCCESS } else { row.error_message.as_deref().unwrap_or("unknown") };
            *status_dict.entry(outcome.to_string()).or_default() += 1;
            if let Some(kind) = &row.error_kind {
                *error_kinds.entry(kind.clone()).or_default() += 1;
            }
            successes += usize::from(row.is_success());
            failed_to_resize += usize::from(row.status == FAILED_TO_RESIZE);
        }
        let since_epoch = |time: SystemTime| time.duration_since(UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64());
        let (start_time, end_time) = (since_epoch(started), since_epoch(SystemTime::now()));
        Stats {
            count: rows.len(),
            successes,
            failed_to_download: rows.len() - successes - failed_to_resize,
            failed_to_resize,
            duration: (end_time - start_time).max(0.0),
            start_time,
            end_time,
            status_dict,
            shard: Keys::shard_name(shard),
            format,
            shard_size,
            failed: rows.len() - successes,
            error_kinds,
            made: None,
            bytes,
            first_key: rows.first().map(|row| row.key.clone()),
            last_key: rows.last().map(|row| row.key.clone()),
        }
    }

    /// As stored.
    pub(super) fn to_json(&self) -> Result<Vec<u8>, ItemError> {
        serde_json::to_vec_pretty(self).map_err(|err| unmade("stats", &err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use common::run::Saved;
    use common::sources::RowFields;

    use super::*;
    use crate::store::open_store;

    /// Row `row`, made: a tiny "JPEG" and its sizes.
    fn made(dataset: &Dataset, row: u64) {
        let fields = RowFields { row: Some(row), ..RowFields::default() };
        let item = Item { fields: Some(Box::new(fields)), ..Item::from_url(format!("http://h/{row}.jpg")) };
        let saved = Saved { key: row.to_string(), bytes: 3, format: "jpg".into(), attempts: 1 };
        let sample = Sample { jpeg: Some(vec![1, 2, 3]), width: Some(1), height: Some(1), ..Sample::default() };
        dataset.listed(row);
        dataset.add(&item, &Ok(saved.clone()), Some(sample), Some(Ok(saved)));
    }

    /// A run that did not go through its whole share stores none of the
    /// shards it was making (they would be short), and its samples settle
    /// as failed; one that did stores them, and they settle as saved.
    #[test]
    fn only_a_whole_run_stores_its_last_shard() {
        for run_was_whole in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = open_store(&dir.path().to_string_lossy(), None).unwrap();
            let dataset =
                Dataset::new(Format::Webdataset, Keys::new(4), (store, String::new()), false, &[], (false, false));
            made(&dataset, 0);
            made(&dataset, 1);
            let summary = dataset.finish(run_was_whole);
            let mut files: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into())
                .collect();
            files.sort();
            let settled = dataset.take_settled();
            assert_eq!(settled.len(), 2, "every held sample settles once");
            if run_was_whole {
                assert_eq!(files, ["00000.parquet", "00000.tar", "00000_stats.json"]);
                assert_eq!((summary.shards_written, summary.shards_unfinished), (1, 0));
                assert!(settled.iter().all(|(_, outcome)| outcome.is_ok()), "{settled:?}");
            } else {
                assert!(files.is_empty(), "a stopped run stored {files:?}");
                assert_eq!((summary.shards_written, summary.shards_unfinished), (0, 1));
                assert!(settled.iter().all(|(_, outcome)| outcome.is_err()), "a sample not stored counted saved");
            }
        }
    }
}
