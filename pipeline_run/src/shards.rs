//! Shards: one run of `pipeline_run` as one task of a cluster engine's
//! job (a Slurm job array, a Kubernetes Indexed Job).
//!
//! **Assignment.** `--shard-index I --shard-count N` takes the items whose
//! key hashes to `I`: the first 8 bytes of the SHA-256 of the key, read as
//! a big-endian integer, modulo `N`. The key is the stem the source vouches
//! for (the origin's `origin-NNNNN`, an API's photo id) or else the URL, so
//! the same image lands in the same shard on every machine and every run
//! (the embedded origin's port changes from run to run; its stems do not).
//! SHA-256 and not Rust's own hasher, which is seeded at random per
//! process. The filter is applied while the listing is read, so a shard
//! of ten million URLs holds one at a time, like an unsharded run; every
//! shard reads the whole list, which costs a read of the file, not a
//! request per URL.
//!
//! **Where the index comes from.** The flag, else `SLURM_ARRAY_TASK_ID`,
//! else `JOB_COMPLETION_INDEX` (Kubernetes). The count: the flag, else
//! `PIPELINE_SHARD_COUNT`, else (with Slurm's index) `SLURM_ARRAY_TASK_COUNT`.
//! A Slurm task resubmitted alone (`sbatch --array=3`) sees a task count
//! of 1, so the batch script passes the count explicitly.
//!
//! **Records.** A shard keeps its ledgers (`failures.jsonl`,
//! `metadata.jsonl`, the segments of `_records/`) in the store, under
//! `_shards/<I>/`, its own, so shards writing into one store at once never
//! share a record (their objects are disjoint by construction), and a
//! shard re-run on another node or from another directory sees them. When
//! it has gone through its whole share it stores, last, `_shards/<I>.json`:
//! counts, failures, seconds, and the identity of the job (a digest of the
//! input, the shard count, what is made of each image). A shard whose
//! record has the same identity is done, failures and all: running it
//! again changes nothing (a record is never replaced by one that knows
//! less), and `--force` makes it again. A record of another input or shard
//! count is not this job's and is overwritten when the shard finishes. A
//! shard killed part way has no record, and its re-run (from anywhere)
//! skips the images the store holds and its records list.
//!
//! **Merge.** `pipeline_run merge --store DEST` reads every record and adds
//! them up: see [`merge`].

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use common::run::{Failure, RunReport, SOME_FAILED_EXIT, Summary};

use crate::record::PipelineReport;
use crate::store::Store;
use common::sources::SourceKind;
use common::{DownloadArgs, Item, ItemError};
use sha2::{Digest, Sha256};

/// The folder of shard records in a store.
pub(crate) const SHARDS_FOLDER: &str = "_shards";

/// `merge`'s exit status while shards are missing (3 stays "some images
/// failed", as in a run).
pub(crate) const MISSING_SHARDS_EXIT: u8 = 4;

/// Failures kept in a record; every one is in the shard's `failures.jsonl`.
const FAILURES_RECORDED: usize = 100;

/// The sharding flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ShardArgs {
    /// Make only this shard of the input, 0-based [default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX]
    #[arg(long, value_name = "I")]
    shard_index: Option<usize>,

    /// Cut the input into N shards by a hash of each image's key [default: $PIPELINE_SHARD_COUNT, else $SLURM_ARRAY_TASK_COUNT]
    #[arg(long, value_name = "N")]
    shard_count: Option<usize>,
}

/// One shard of a job: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) index: usize,
    pub(crate) count: usize,
}

impl Shard {
    /// The shard the flags and the environment (`env`) name, if any; a
    /// contradiction or an unreadable value is one line for the user.
    pub(crate) fn resolve(args: &ShardArgs, env: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
        let number = |name: &str| -> Result<Option<usize>, String> {
            match env(name) {
                None => Ok(None),
                Some(value) => value
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={value:?} is not a whole number (a shard index or count)")),
            }
        };
        let (index, from) = match args.shard_index {
            Some(index) => (Some(index), "--shard-index"),
            None => match number("SLURM_ARRAY_TASK_ID")? {
                Some(index) => (Some(index), "SLURM_ARRAY_TASK_ID"),
                None => (number("JOB_COMPLETION_INDEX")?, "JOB_COMPLETION_INDEX"),
            },
        };
        let count = match args.shard_count {
            Some(count) => Some(count),
            None => match number("PIPELINE_SHARD_COUNT")? {
                Some(count) => Some(count),
                None if from == "SLURM_ARRAY_TASK_ID" => number("SLURM_ARRAY_TASK_COUNT")?,
                None => None,
            },
        };
        match (index, count) {
            (None, None) => Ok(None),
            (None, Some(count)) => Err(format!(
                "a shard count ({count}) needs a shard index: --shard-index I, or SLURM_ARRAY_TASK_ID or \
                 JOB_COMPLETION_INDEX in the environment"
            )),
            (Some(index), None) => Err(format!(
                "shard index {index} (from {from}) needs a shard count: --shard-count N or PIPELINE_SHARD_COUNT"
            )),
            (Some(_), Some(0)) => Err("the shard count must be at least 1".into()),
            (Some(index), Some(count)) if index >= count => Err(format!(
                "shard index {index} (from {from}) is not below the shard count {count}: shards are 0 to {} \
                 (a Slurm array of them is --array=0-{})",
                count - 1,
                count - 1
            )),
            (Some(index), Some(count)) => Ok(Some(Shard { index, count })),
        }
    }

    /// Whether `item` is this shard's.
    pub(crate) fn takes(self, item: &Item) -> bool {
        shard_of(item_key(item), self.count) == self.index
    }

    /// Whether output shard `number` of a dataset (`--output-format
    /// webdataset|parquet`) is this task's: whole shards, by number modulo
    /// the count, so two tasks never write one shard.
    pub(crate) fn takes_number(self, number: u64) -> bool {
        let count = u64::try_from(self.count.max(1)).unwrap_or(u64::MAX);
        u64::try_from(self.index).is_ok_and(|index| number % count == index)
    }

    /// The record's key in the store.
    pub(crate) fn record_key(self) -> String {
        format!("{SHARDS_FOLDER}/{}.json", self.index)
    }

    /// The prefix of this shard's ledgers in the store: `_shards/<I>`.
    pub(crate) fn records_prefix(self) -> String {
        format!("{SHARDS_FOLDER}/{}", self.index)
    }
}

/// What decides an item's shard: the stem its source vouches for, else its URL.
fn item_key(item: &Item) -> &str {
    item.stem.as_deref().unwrap_or(&item.url)
}

/// The shard of `key` among `count`: SHA-256's first 8 bytes, big-endian, mod `count`.
pub(crate) fn shard_of(key: &str, count: usize) -> usize {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    let count = u64::try_from(count.max(1)).unwrap_or(u64::MAX);
    usize::try_from(u64::from_be_bytes(first) % count).unwrap_or(0)
}

/// What the job's input is, for people, and a digest that changes when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Input {
    pub(crate) label: String,
    pub(crate) digest: String,
}

/// Identifies the input the flags name: a URL list or metadata file by
/// the SHA-256 of its bytes (read streaming), a folder by its path, any
/// other source by its name; each with `--count` and `--url-column`.
pub(crate) fn identify(args: &DownloadArgs, input: Option<&Path>) -> anyhow::Result<Input> {
    // `shown` names the file for people; the digest is of `label`, which
    // does not, so tasks whose nodes keep the list at other paths agree.
    let mut shown = None;
    let label = if let Some(dir) = input {
        let path = dir.canonicalize().with_context(|| format!("cannot read --input {}", dir.display()))?;
        format!("folder {}", path.display())
    } else if let Some(path) = args.urls.as_deref().filter(|_| matches!(args.source, None | Some(SourceKind::Urls))) {
        let digest = file_digest(path, "--urls")?;
        shown = Some(format!("urls {} sha256:{}", path.display(), &digest[..16]));
        format!("urls sha256:{digest}")
    } else if let Some(path) = args.from.as_deref() {
        let digest = file_digest(path, "--from")?;
        shown = Some(format!("metadata {} sha256:{}", path.display(), &digest[..16]));
        format!("metadata sha256:{digest}")
    } else {
        match args.source {
            Some(kind) => format!("source {kind:?}").to_lowercase(),
            None => "default source".into(),
        }
    };
    let mut described = label.clone();
    if let Some(count) = args.count {
        described += &format!(", count {count}");
    }
    if let Some(column) = &args.url_column {
        described += &format!(", column {column}");
    }
    // A dataset's rows carry these columns: another choice is another job.
    if let Some(column) = &args.caption_column {
        described += &format!(", caption {column}");
    }
    if !args.save_columns.is_empty() {
        described += &format!(", saved {}", args.save_columns.join(","));
    }
    let digest = hex(&Sha256::digest(described.as_bytes()));
    let label = match shown {
        Some(shown) => described.replacen(&label, &shown, 1),
        None => described,
    };
    Ok(Input { label, digest })
}

/// The SHA-256 of a file's bytes, read streaming.
fn file_digest(path: &Path, flag: &str) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot read {flag} {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {flag} {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// `_shards/<I>.json`: what one shard did, and of which job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ShardRecord {
    pub(crate) shard: usize,
    pub(crate) shard_count: usize,
    /// The digest of the input ([`Input::digest`]).
    pub(crate) input: String,
    /// The input, for people.
    pub(crate) input_label: String,
    /// What is made of each image (thumbnail, crops, quality).
    pub(crate) made: String,
    /// Images of the share, done now or before.
    pub(crate) requested: usize,
    /// Images made by the run that wrote the record.
    pub(crate) files: usize,
    /// Images an earlier, interrupted run of the shard had made.
    pub(crate) skipped: usize,
    pub(crate) failed: usize,
    pub(crate) objects_stored: usize,
    pub(crate) bytes: u64,
    /// Wall seconds of the run that wrote the record.
    pub(crate) seconds: f64,
    pub(crate) mode: String,
    /// The first failures (all are in `_shards/<I>/failures.jsonl`).
    pub(crate) failures: Vec<Failure>,
    /// Every failure, counted by kind (`status`, `timeout`, `store`, ...).
    #[serde(default)]
    pub(crate) failed_by_kind: BTreeMap<String, usize>,
    /// When the record was written, in seconds since 1970.
    pub(crate) finished_unix: u64,
}

impl ShardRecord {
    /// The record of a run of `shard` that went through its whole share.
    pub(crate) fn new(shard: Shard, input: &Input, made: &str, run: &RunReport, objects: usize, mode: &str) -> Self {
        let finished_unix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
        ShardRecord {
            shard: shard.index,
            shard_count: shard.count,
            input: input.digest.clone(),
            input_label: input.label.clone(),
            made: made.to_string(),
            requested: run.requested,
            files: run.files,
            skipped: run.skipped,
            failed: run.failed,
            objects_stored: objects,
            bytes: run.bytes,
            seconds: run.seconds,
            mode: mode.to_string(),
            failures: run.failures.iter().take(FAILURES_RECORDED).cloned().collect(),
            failed_by_kind: run.failures.iter().fold(BTreeMap::new(), |mut kinds, failure| {
                *kinds.entry(kind_of(failure)).or_default() += 1;
                kinds
            }),
            finished_unix,
        }
    }

    /// Whether this record is of the job `shard` of `input` making `made`.
    pub(crate) fn is_of(&self, shard: Shard, input: &Input, made: &str) -> bool {
        self.shard == shard.index && self.shard_count == shard.count && self.input == input.digest && self.made == made
    }
}

/// The kind of a failure, for counting: the fetch error's kind (`status`,
/// `timeout`, `not_an_image`, ...), else the stage that failed.
fn kind_of(failure: &Failure) -> String {
    match &failure.error {
        Some(ItemError::Fetch(error)) => error.kind().to_string(),
        Some(ItemError::Transform(_)) => "transform".into(),
        Some(ItemError::Store(_)) => "store".into(),
        Some(ItemError::Abandoned(_)) => "abandoned".into(),
        None => "other".into(),
    }
}

/// A shard found done: what the run says instead of running.
#[derive(Debug, serde::Serialize)]
pub(crate) struct AlreadyDone {
    pub(crate) already_done: bool,
    #[serde(flatten)]
    pub(crate) record: ShardRecord,
}

impl Summary for AlreadyDone {
    fn failure_lines(&self) -> Vec<String> {
        Vec::new()
    }

    fn summary_line(&self) -> String {
        let ShardRecord { shard, shard_count, requested, failed, .. } = &self.record;
        format!(
            "shard {shard} of {shard_count} is done already ({requested} images, {failed} failed, recorded in \
             {SHARDS_FOLDER}/{shard}.json); nothing to do (--force makes it again)"
        )
    }

    fn exit_code(&self) -> ExitCode {
        // The record's failures stay failures.
        if self.record.failed > 0 { ExitCode::from(SOME_FAILED_EXIT) } else { ExitCode::SUCCESS }
    }
}

/// What a shard's run says: its report, or that it was done already.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum ShardRun {
    Ran(PipelineReport),
    Done(AlreadyDone),
}

impl Summary for ShardRun {
    fn failure_lines(&self) -> Vec<String> {
        match self {
            ShardRun::Ran(report) => report.failure_lines(),
            ShardRun::Done(done) => done.failure_lines(),
        }
    }

    fn warnings(&self) -> Vec<String> {
        match self {
            ShardRun::Ran(report) => report.warnings(),
            ShardRun::Done(done) => done.warnings(),
        }
    }

    fn summary_line(&self) -> String {
        match self {
            ShardRun::Ran(report) => report.summary_line(),
            ShardRun::Done(done) => done.summary_line(),
        }
    }

    fn exit_code(&self) -> ExitCode {
        match self {
            ShardRun::Ran(report) => report.exit_code(),
            ShardRun::Done(done) => done.exit_code(),
        }
    }
}

/// Reads every record of `store` (`_shards/<I>.json`: files of a folder,
/// objects of a bucket), by index. A record that cannot be read is
/// reported, not fatal.
fn read_records(store: &Store) -> anyhow::Result<(BTreeMap<usize, ShardRecord>, Vec<String>)> {
    let mut records = BTreeMap::new();
    let mut unreadable = Vec::new();
    for name in store.list(SHARDS_FOLDER)? {
        let Some(index) = name.strip_suffix(".json").and_then(|stem| stem.parse::<usize>().ok()) else { continue };
        let key = format!("{SHARDS_FOLDER}/{name}");
        match store.read(&key).map_err(|e| format!("{e:#}")).and_then(|bytes| {
            serde_json::from_slice::<ShardRecord>(&bytes.unwrap_or_default()).map_err(|e| e.to_string())
        }) {
            Ok(record) if record.shard == index => {
                records.insert(index, record);
            }
            Ok(record) => unreadable.push(format!("{name} records shard {}", record.shard)),
            Err(err) => unreadable.push(format!("{name}: {err}")),
        }
    }
    Ok((records, unreadable))
}

/// Reads one shard's record from the store, if there is one (a record that
/// cannot be read counts as none: the shard runs again).
pub(crate) fn read_record(store: &Store, shard: Shard) -> Option<ShardRecord> {
    let bytes = store.read(&shard.record_key()).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// `pipeline_run merge`: the job's summary from its shard records.
#[derive(Debug, clap::Parser)]
#[command(name = "pipeline_run merge", about = "Add up the shard records of a sharded job in --store DEST")]
pub(crate) struct MergeCli {
    /// The store the shards wrote into (a folder or file://folder)
    #[arg(long, value_name = "DEST")]
    store: String,

    /// How many shards the job has [default: the count the newest record says]
    #[arg(long, value_name = "N")]
    shard_count: Option<usize>,

    /// Print the summary as one JSON object on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

/// The job's summary.
#[derive(Debug, serde::Serialize)]
pub(crate) struct MergeReport {
    store: String,
    shard_count: usize,
    input: Option<String>,
    input_label: Option<String>,
    made: Option<String>,
    /// Shards recorded for this job.
    recorded: usize,
    /// Shards with no record of this job yet.
    missing: Vec<usize>,
    /// Shards done with failed images.
    failed_shards: Vec<usize>,
    /// Shards whose record is of another input or shard count (counted missing).
    stale: Vec<usize>,
    /// Record files that could not be read.
    unreadable: Vec<String>,
    requested: usize,
    files: usize,
    skipped: usize,
    failed: usize,
    /// Failed images by kind, over every recorded shard.
    failed_by_kind: BTreeMap<String, usize>,
    objects_stored: usize,
    /// Objects the store holds now, counted by listing it (records left out).
    objects_present: usize,
    bytes: u64,
    /// The slowest shard's seconds.
    seconds_max: f64,
    /// Every shard's seconds added up.
    seconds_sum: f64,
    failures: Vec<Failure>,
    complete: bool,
}

/// Reads the records of `--store` and adds up those of the job (the
/// shard count given, the input and outputs of the newest record).
pub(crate) fn merge(cli: &MergeCli) -> anyhow::Result<MergeReport> {
    let store = crate::store::open_existing(&cli.store)?;
    let (records, unreadable) = read_records(&store)?;
    let newest = records
        .values()
        .filter(|record| cli.shard_count.is_none_or(|count| record.shard_count == count))
        .max_by_key(|record| record.finished_unix);
    let Some(shard_count) = cli.shard_count.or(newest.map(|record| record.shard_count)) else {
        anyhow::bail!(
            "no shard records in {}/{SHARDS_FOLDER} yet (has any shard finished?); --shard-count N lists the missing ones",
            store.location()
        );
    };
    if shard_count == 0 {
        anyhow::bail!("--shard-count must be at least 1");
    }
    let job = newest.map(|record| (record.input.clone(), record.made.clone(), record.input_label.clone()));
    let mut report = MergeReport {
        store: cli.store.clone(),
        shard_count,
        input: job.as_ref().map(|(input, ..)| input.clone()),
        input_label: job.as_ref().map(|(.., label)| label.clone()),
        made: job.as_ref().map(|(_, made, _)| made.clone()),
        recorded: 0,
        missing: Vec::new(),
        failed_shards: Vec::new(),
        stale: Vec::new(),
        unreadable,
        requested: 0,
        files: 0,
        skipped: 0,
        failed: 0,
        failed_by_kind: BTreeMap::new(),
        objects_stored: 0,
        objects_present: count_objects(&store)?,
        bytes: 0,
        seconds_max: 0.0,
        seconds_sum: 0.0,
        failures: Vec::new(),
        complete: false,
    };
    for index in 0..shard_count {
        let record = records.get(&index);
        let ours = record.filter(|record| {
            record.shard_count == shard_count
                && job.as_ref().is_some_and(|(input, made, _)| record.input == *input && record.made == *made)
        });
        let Some(record) = ours else {
            if record.is_some() {
                report.stale.push(index);
            }
            report.missing.push(index);
            continue;
        };
        report.recorded += 1;
        report.requested += record.requested;
        report.files += record.files;
        report.skipped += record.skipped;
        report.failed += record.failed;
        for (kind, count) in &record.failed_by_kind {
            *report.failed_by_kind.entry(kind.clone()).or_default() += count;
        }
        report.objects_stored += record.objects_stored;
        report.bytes += record.bytes;
        report.seconds_max = report.seconds_max.max(record.seconds);
        report.seconds_sum += record.seconds;
        if record.failed > 0 {
            report.failed_shards.push(index);
            report.failures.extend(record.failures.iter().cloned());
        }
    }
    report.complete = report.missing.is_empty() && report.failed_shards.is_empty();
    Ok(report)
}

/// The objects `store` holds, counted from one listing: not the records
/// (`_shards/`, `_records/`, the `.jsonl` ledgers).
fn count_objects(store: &Store) -> anyhow::Result<usize> {
    let keys = store.objects().list("")?;
    let record = |key: &str| {
        key.starts_with(&format!("{SHARDS_FOLDER}/"))
            || key.starts_with(&format!("{}/", crate::store::RECORDS_PREFIX))
            || key.starts_with(&format!("{}/", crate::dataset::repair::REPAIR_PREFIX))
            || key.ends_with(".jsonl")
    };
    Ok(keys.iter().filter(|(key, _)| !record(key)).count())
}

/// Bytes as megabytes, for people (a summary line needs no exact count).
#[allow(clippy::cast_precision_loss)]
fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

impl Summary for MergeReport {
    fn failure_lines(&self) -> Vec<String> {
        self.failures.iter().map(|failure| format!("{} — {}", failure.url, failure.reason)).collect()
    }

    fn warnings(&self) -> Vec<String> {
        let list = |shards: &[usize]| shards.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        let mut lines = Vec::new();
        if !self.missing.is_empty() {
            lines.push(format!("missing shards: {} (not finished, or never run)", list(&self.missing)));
        }
        if !self.stale.is_empty() {
            lines.push(format!("records of another input or shard count (re-run these shards): {}", list(&self.stale)));
        }
        if !self.failed_shards.is_empty() {
            lines.push(format!(
                "shards with failed images: {} (each one's failures are in {SHARDS_FOLDER}/<I>/failures.jsonl; \
                 running the shard again retries them)",
                list(&self.failed_shards)
            ));
        }
        for problem in &self.unreadable {
            lines.push(format!("unreadable record: {problem}"));
        }
        lines
    }

    fn summary_line(&self) -> String {
        let kinds: Vec<String> = self.failed_by_kind.iter().map(|(kind, count)| format!("{count} {kind}")).collect();
        let kinds = if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) };
        format!(
            "{store}: input {input}\n\
             tasks: {recorded} of {count} done, {missing} missing\n\
             images: {requested} tried = {stored} stored + {failed} failed{kinds}\n\
             store: {present} objects present ({megabytes:.1} MB uploaded by the tasks); slowest task {max:.2} s, \
             all tasks {sum:.2} s",
            store = self.store,
            input = self.input_label.as_deref().unwrap_or("(no task recorded yet)"),
            recorded = self.recorded,
            count = self.shard_count,
            missing = self.missing.len(),
            requested = self.requested,
            stored = self.files + self.skipped,
            failed = self.failed,
            present = self.objects_present,
            megabytes = megabytes(self.bytes),
            max = self.seconds_max,
            sum = self.seconds_sum,
        )
    }

    fn exit_code(&self) -> ExitCode {
        if !self.missing.is_empty() {
            ExitCode::from(MISSING_SHARDS_EXIT)
        } else if !self.failed_shards.is_empty() {
            ExitCode::from(SOME_FAILED_EXIT)
        } else {
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(index: Option<usize>, count: Option<usize>) -> ShardArgs {
        ShardArgs { shard_index: index, shard_count: count }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_string())
    }

    /// Every key lands in exactly one shard, the shards together hold
    /// every key, and no shard is left nearly empty.
    #[test]
    fn shards_are_disjoint_and_complete() {
        let keys: Vec<String> = (0..4000).map(|id| format!("http://example.com/photos/{id}.jpg")).collect();
        for count in [1, 2, 3, 8, 13] {
            let mut seen = vec![0usize; count];
            for key in &keys {
                let owners: Vec<usize> =
                    (0..count).filter(|&index| Shard { index, count }.takes(&Item::from_url(key.clone()))).collect();
                assert_eq!(owners.len(), 1, "{key} among {count}: {owners:?}");
                seen[owners[0]] += 1;
            }
            assert_eq!(seen.iter().sum::<usize>(), keys.len());
            let fair = keys.len() / count;
            assert!(seen.iter().all(|&n| n > fair / 2), "{count} shards: {seen:?}");
        }
    }

    /// The assignment is a fixed function: these values never change (a
    /// change would send a half-done job's images to other shards).
    #[test]
    fn assignment_is_stable() {
        let got: Vec<usize> = ["a", "http://example.com/1.jpg", "origin-00000", "origin-00001"]
            .iter()
            .map(|key| shard_of(key, 8))
            .collect();
        // SHA-256("a") starts ca978112ca1bbdca: 0xca978112ca1bbdca % 8 = 2.
        assert_eq!(got[0], 2);
        // As Python computes them: int.from_bytes(sha256(key).digest()[:8], "big") % 8.
        assert_eq!(got, [2, 6, 4, 5], "the assignment changed");
        // A stem decides over the URL, so ports do not matter.
        let at = |port: u16| Item {
            url: format!("http://127.0.0.1:{port}/images/7.jpg"),
            stem: Some("origin-00007".into()),
            record: None,
            fields: None,
        };
        let shard = Shard { index: shard_of("origin-00007", 4), count: 4 };
        assert!(shard.takes(&at(8080)) && shard.takes(&at(40123)));
    }

    /// The flags, then Slurm's variables, then Kubernetes'; contradictions
    /// are refused in one line.
    #[test]
    fn the_shard_comes_from_flags_or_the_environment() {
        let none: &[(&str, &str)] = &[];
        assert_eq!(Shard::resolve(&args(None, None), env(none)), Ok(None));
        assert_eq!(Shard::resolve(&args(Some(2), Some(4)), env(none)), Ok(Some(Shard { index: 2, count: 4 })));
        let slurm = [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_COUNT", "8")];
        assert_eq!(Shard::resolve(&args(None, None), env(&slurm)), Ok(Some(Shard { index: 5, count: 8 })));
        // A task resubmitted alone says count 1; the flag wins.
        let alone = [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_COUNT", "1")];
        assert_eq!(Shard::resolve(&args(None, Some(8)), env(&alone)), Ok(Some(Shard { index: 5, count: 8 })));
        let k8s = [("JOB_COMPLETION_INDEX", "3"), ("PIPELINE_SHARD_COUNT", "4")];
        assert_eq!(Shard::resolve(&args(None, None), env(&k8s)), Ok(Some(Shard { index: 3, count: 4 })));
        // Kubernetes does not say the count: without one, refused.
        let err = Shard::resolve(&args(None, None), env(&[("JOB_COMPLETION_INDEX", "3")])).unwrap_err();
        assert!(err.contains("needs a shard count"), "{err}");
        let err = Shard::resolve(&args(Some(1), None), env(none)).unwrap_err();
        assert!(err.contains("needs a shard count"), "{err}");
        let err = Shard::resolve(&args(None, Some(4)), env(none)).unwrap_err();
        assert!(err.contains("needs a shard index"), "{err}");
        let err = Shard::resolve(&args(Some(4), Some(4)), env(none)).unwrap_err();
        assert!(err.contains("not below the shard count 4") && err.contains("--array=0-3"), "{err}");
        let err = Shard::resolve(&args(Some(0), Some(0)), env(none)).unwrap_err();
        assert!(err.contains("at least 1"), "{err}");
        let err = Shard::resolve(&args(None, None), env(&[("JOB_COMPLETION_INDEX", "x")])).unwrap_err();
        assert!(err.contains("JOB_COMPLETION_INDEX=\"x\""), "{err}");
        assert!(!err.contains('\n'));
    }

    /// A record is of its job only: another input, count or output is not.
    #[test]
    fn a_record_knows_its_job() {
        let input = Input { label: "urls".into(), digest: "abc".into() };
        let shard = Shard { index: 1, count: 4 };
        let run = RunReport {
            run: "pipeline_run/async".into(),
            source: "urls".into(),
            requested: 3,
            files: 3,
            skipped: 0,
            failed: 0,
            retried: 0,
            bytes: 10,
            seconds: 1.0,
            concurrency: 1,
            failures: Vec::new(),
            listing_error: None,
            interrupted: false,
            stopped: None,
            misconfigured: false,
        };
        let record = ShardRecord::new(shard, &input, "quality 85", &run, 3, "async");
        assert!(record.is_of(shard, &input, "quality 85"));
        assert!(!record.is_of(Shard { index: 1, count: 5 }, &input, "quality 85"));
        assert!(!record.is_of(shard, &Input { digest: "abd".into(), ..input.clone() }, "quality 85"));
        assert!(!record.is_of(shard, &input, "quality 90"));
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<ShardRecord>(&json).unwrap(), record);
    }
}
