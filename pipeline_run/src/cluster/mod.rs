//! The cluster: one run of `pipeline_run` as one *task* of a cluster
//! engine's job (a Slurm job array, a Kubernetes Indexed Job; recipes in
//! `deploy/`). A task is one process's share of the input; a *shard* is
//! only ever an output file of a dataset (`--shard-size`).
//!
//! - `task.rs`: which task this is (`--task-index I --task-count N`, or the
//!   engine's environment), and which items are its share.
//! - `identity.rs`: the job's identity: a digest of its input, and what is
//!   made of each image.
//! - `record.rs`: a task's record in the store, written last, which makes
//!   a task run again with the same job do nothing.
//! - `merge.rs`: `pipeline_run merge`, the job's summary from the records.
//!
//! **Records.** A task keeps its ledger (`failures.jsonl`,
//! `metadata.jsonl`, the segments of `_records/`) in the store, under
//! `_shards/<I>/`, its own, so tasks writing into one store at once never
//! share a record (their objects are disjoint by construction), and a task
//! re-run on another node or from another directory sees them. When it has
//! gone through its whole share it stores, last, `_shards/<I>.json`:
//! counts, failures, seconds, and the identity of the job. A task whose
//! record has the same identity is done, failures and all: running it
//! again changes nothing (a record is never replaced by one that knows
//! less), and `--force` makes it again. A record of another input or task
//! count is not this job's and is overwritten when the task finishes. A
//! task killed part way has no record, and its re-run (from anywhere)
//! skips the images the store holds and its records list. (The folder
//! keeps the name `_shards/` that stores already written have.)

pub(crate) mod identity;
pub(crate) mod merge;
pub(crate) mod record;
pub(crate) mod task;

/// The folder of task records in a store (named when tasks were called
/// shards; stores already written have it).
pub(crate) const TASKS_FOLDER: &str = "_shards";
