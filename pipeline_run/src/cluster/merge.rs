//! `pipeline_run merge --store DEST`: the job's summary, added up from its
//! tasks' records; exit 0 when every task is done, 3 when some images
//! failed, 4 while tasks are missing.

use std::collections::BTreeMap;
use std::process::ExitCode;

use common::run::{Failure, SOME_FAILED_EXIT, Summary};

use super::TASKS_FOLDER;
use super::record::TaskRecord;
use crate::store::Store;

/// `merge`'s exit status while tasks are missing (3 stays "some images
/// failed", as in a run).
pub(crate) const MISSING_TASKS_EXIT: u8 = 4;

/// Reads every record of `store` (`_shards/<I>.json`: files of a folder,
/// objects of a bucket), by index. A record that cannot be read is
/// reported, not fatal.
fn read_records(store: &Store) -> anyhow::Result<(BTreeMap<usize, TaskRecord>, Vec<String>)> {
    let mut records = BTreeMap::new();
    let mut unreadable = Vec::new();
    for name in store.list(TASKS_FOLDER)? {
        let Some(index) = name.strip_suffix(".json").and_then(|stem| stem.parse::<usize>().ok()) else { continue };
        let key = format!("{TASKS_FOLDER}/{name}");
        match store.read(&key).map_err(|e| format!("{e:#}")).and_then(|bytes| {
            serde_json::from_slice::<TaskRecord>(&bytes.unwrap_or_default()).map_err(|e| e.to_string())
        }) {
            Ok(record) if record.task == index => {
                records.insert(index, record);
            }
            Ok(record) => unreadable.push(format!("{name} records task {}", record.task)),
            Err(err) => unreadable.push(format!("{name}: {err}")),
        }
    }
    Ok((records, unreadable))
}

/// `pipeline_run merge`'s flags: the job's summary from its task records.
#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// The store the tasks wrote into (a folder or file://folder)
    #[arg(long, value_name = "DEST")]
    store: String,

    /// How many tasks the job has [default: the count the newest record says]
    #[arg(long, value_name = "N", alias = "shard-count")]
    task_count: Option<usize>,

    /// Print the summary as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

/// `pipeline_run merge`: prints the job's summary; exit 0 every task done,
/// 3 some images failed, 4 tasks missing (or no record readable at all).
pub(crate) fn run(args: &MergeArgs) -> ExitCode {
    match merge(args) {
        Ok(report) => common::conclude(Ok::<_, anyhow::Error>(report), args.json),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(MISSING_TASKS_EXIT)
        }
    }
}

/// The job's summary.
#[derive(Debug, serde::Serialize)]
pub(crate) struct MergeReport {
    store: String,
    /// The JSON names are the older ones (`shard_count`, `failed_shards`)
    /// that scripts reading `merge --json` already know.
    #[serde(rename = "shard_count")]
    task_count: usize,
    input: Option<String>,
    input_label: Option<String>,
    made: Option<String>,
    /// Tasks recorded for this job.
    recorded: usize,
    /// Tasks with no record of this job yet.
    missing: Vec<usize>,
    /// Tasks done with failed images.
    #[serde(rename = "failed_shards")]
    failed_tasks: Vec<usize>,
    /// Tasks whose record is of another input or task count (counted missing).
    stale: Vec<usize>,
    /// Record files that could not be read.
    unreadable: Vec<String>,
    requested: usize,
    files: usize,
    skipped: usize,
    failed: usize,
    /// Failed images by kind, over every recorded task.
    failed_by_kind: BTreeMap<String, usize>,
    objects_stored: usize,
    /// Objects the store holds now, counted by listing it (records left out).
    objects_present: usize,
    bytes: u64,
    /// The slowest task's seconds.
    seconds_max: f64,
    /// Every task's seconds added up.
    seconds_sum: f64,
    failures: Vec<Failure>,
    complete: bool,
}

/// Reads the records of `--store` and adds up those of the job (the
/// task count given, the input and outputs of the newest record).
fn merge(cli: &MergeArgs) -> anyhow::Result<MergeReport> {
    let store = crate::store::open_existing(&cli.store)?;
    let (records, unreadable) = read_records(&store)?;
    let newest = records
        .values()
        .filter(|record| cli.task_count.is_none_or(|count| record.task_count == count))
        .max_by_key(|record| record.finished_unix);
    let Some(task_count) = cli.task_count.or(newest.map(|record| record.task_count)) else {
        anyhow::bail!(
            "no task records in {}/{TASKS_FOLDER} yet (has any task finished?); --task-count N lists the missing ones",
            store.location()
        );
    };
    if task_count == 0 {
        anyhow::bail!("--task-count must be at least 1");
    }
    let job = newest.map(|record| (record.input.clone(), record.made.clone(), record.input_label.clone()));
    let mut report = MergeReport {
        store: cli.store.clone(),
        task_count,
        input: job.as_ref().map(|(input, ..)| input.clone()),
        input_label: job.as_ref().map(|(.., label)| label.clone()),
        made: job.as_ref().map(|(_, made, _)| made.clone()),
        recorded: 0,
        missing: Vec::new(),
        failed_tasks: Vec::new(),
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
    for index in 0..task_count {
        let record = records.get(&index);
        let ours = record.filter(|record| {
            record.task_count == task_count
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
            report.failed_tasks.push(index);
            report.failures.extend(record.failures.iter().cloned());
        }
    }
    report.complete = report.missing.is_empty() && report.failed_tasks.is_empty();
    Ok(report)
}

/// The objects `store` holds, counted from one listing: not the records
/// (`_shards/`, `_records/`, the `.jsonl` ledgers).
fn count_objects(store: &Store) -> anyhow::Result<usize> {
    let keys = store.objects().list("")?;
    let record = |key: &str| {
        key.starts_with(&format!("{TASKS_FOLDER}/"))
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
        let list = |tasks: &[usize]| tasks.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        let mut lines = Vec::new();
        if !self.missing.is_empty() {
            lines.push(format!("missing tasks: {} (not finished, or never run)", list(&self.missing)));
        }
        if !self.stale.is_empty() {
            lines.push(format!("records of another input or task count (re-run these tasks): {}", list(&self.stale)));
        }
        if !self.failed_tasks.is_empty() {
            lines.push(format!(
                "tasks with failed images: {} (each one's failures are in {TASKS_FOLDER}/<I>/failures.jsonl; \
                 running the task again retries them)",
                list(&self.failed_tasks)
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
            count = self.task_count,
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
            ExitCode::from(MISSING_TASKS_EXIT)
        } else if !self.failed_tasks.is_empty() {
            ExitCode::from(SOME_FAILED_EXIT)
        } else {
            ExitCode::SUCCESS
        }
    }
}
