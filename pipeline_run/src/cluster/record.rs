//! A task's record, `_shards/<I>.json` in the store: what the task did,
//! and of which job. Stored last, atomically, once the task has gone
//! through its whole share; a task whose record is of the same job is
//! done, failures and all.

use std::collections::BTreeMap;
use std::process::ExitCode;

use common::ItemError;
use common::run::{Failure, RunReport, SOME_FAILED_EXIT, Summary};

use super::TASKS_FOLDER;
use super::identity::Input;
use super::task::Task;
use crate::record::PipelineReport;
use crate::store::Store;

/// Failures kept in a record; every one is in the task's `failures.jsonl`.
const FAILURES_RECORDED: usize = 100;

/// `_shards/<I>.json`: what one task did, and of which job. The JSON
/// names are those records already written have (`shard`, `shard_count`,
/// from when a task was called a shard), so they stay readable.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TaskRecord {
    #[serde(rename = "shard")]
    pub(crate) task: usize,
    #[serde(rename = "shard_count")]
    pub(crate) task_count: usize,
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
    /// Images an earlier, interrupted run of the task had made.
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

impl TaskRecord {
    /// The record of a run of `task` that went through its whole share.
    pub(crate) fn new(task: Task, input: &Input, made: &str, run: &RunReport, objects: usize, mode: &str) -> Self {
        let finished_unix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
        TaskRecord {
            task: task.index,
            task_count: task.count,
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

    /// Whether this record is of the job `task` of `input` making `made`.
    pub(crate) fn is_of(&self, task: Task, input: &Input, made: &str) -> bool {
        self.task == task.index && self.task_count == task.count && self.input == input.digest && self.made == made
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

/// A task found done: what the run says instead of running.
#[derive(Debug, serde::Serialize)]
pub(crate) struct AlreadyDone {
    pub(crate) already_done: bool,
    #[serde(flatten)]
    pub(crate) record: TaskRecord,
}

impl Summary for AlreadyDone {
    fn failure_lines(&self) -> Vec<String> {
        Vec::new()
    }

    fn summary_line(&self) -> String {
        let TaskRecord { task, task_count, requested, failed, .. } = &self.record;
        format!(
            "task {task} of {task_count} is done already ({requested} images, {failed} failed, recorded in \
             {TASKS_FOLDER}/{task}.json); nothing to do (--force makes it again)"
        )
    }

    fn exit_code(&self) -> ExitCode {
        // The record's failures stay failures.
        if self.record.failed > 0 { ExitCode::from(SOME_FAILED_EXIT) } else { ExitCode::SUCCESS }
    }
}

/// What a task's run says: its report, or that it was done already.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum TaskRun {
    Ran(PipelineReport),
    Done(AlreadyDone),
}

impl Summary for TaskRun {
    fn failure_lines(&self) -> Vec<String> {
        match self {
            TaskRun::Ran(report) => report.failure_lines(),
            TaskRun::Done(done) => done.failure_lines(),
        }
    }

    fn warnings(&self) -> Vec<String> {
        match self {
            TaskRun::Ran(report) => report.warnings(),
            TaskRun::Done(done) => done.warnings(),
        }
    }

    fn summary_line(&self) -> String {
        match self {
            TaskRun::Ran(report) => report.summary_line(),
            TaskRun::Done(done) => done.summary_line(),
        }
    }

    fn exit_code(&self) -> ExitCode {
        match self {
            TaskRun::Ran(report) => report.exit_code(),
            TaskRun::Done(done) => done.exit_code(),
        }
    }
}

/// Reads one task's record from the store, if there is one (a record that
/// cannot be read counts as none: the task runs again).
pub(crate) fn read_record(store: &Store, task: Task) -> Option<TaskRecord> {
    let bytes = store.read(&task.record_key()).ok()??;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record is of its job only: another input, count or output is not.
    #[test]
    fn a_record_knows_its_job() {
        let input = Input { label: "urls".into(), digest: "abc".into() };
        let task = Task { index: 1, count: 4 };
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
        let record = TaskRecord::new(task, &input, "quality 85", &run, 3, "async");
        assert!(record.is_of(task, &input, "quality 85"));
        assert!(!record.is_of(Task { index: 1, count: 5 }, &input, "quality 85"));
        assert!(!record.is_of(task, &Input { digest: "abd".into(), ..input.clone() }, "quality 85"));
        assert!(!record.is_of(task, &input, "quality 90"));
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<TaskRecord>(&json).unwrap(), record);
    }
}
