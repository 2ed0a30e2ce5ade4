//! A task: one process's share of a cluster job, `--task-index I
//! --task-count N`, or the index and count a cluster engine (Slurm,
//! Kubernetes) puts in the environment.
//!
//! **Assignment.** Task `I` of `N` takes the items whose key hashes to
//! `I`: the first 8 bytes of the SHA-256 of the key, read as a big-endian
//! integer, modulo `N`. The key is the stem the source vouches for (the
//! origin's `origin-NNNNN`, an API's photo id) or else the URL, so the same
//! image lands in the same task on every machine and every run (the
//! embedded origin's port changes from run to run; its stems do not).
//! SHA-256 and not Rust's own hasher, which is seeded at random per
//! process. The filter is applied while the listing is read, so a task of
//! ten million URLs holds one at a time, like a run of the whole input;
//! every task reads the whole list, which costs a read of the file, not a
//! request per URL. A dataset's output shards go to tasks whole
//! ([`Task::takes_number`]), so two tasks never write one shard.
//!
//! **Where the index comes from.** The flag, else `SLURM_ARRAY_TASK_ID`,
//! else `JOB_COMPLETION_INDEX` (Kubernetes). The count: the flag, else
//! `PIPELINE_TASK_COUNT` (or the older `PIPELINE_SHARD_COUNT`), else (with
//! Slurm's index) `SLURM_ARRAY_TASK_COUNT`. A Slurm task resubmitted alone
//! (`sbatch --array=3`) sees a task count of 1, so the batch script passes
//! the count explicitly.

use common::Item;
use sha2::{Digest, Sha256};

use super::TASKS_FOLDER;

/// The cluster flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TaskArgs {
    /// Make only this task's share of the input, 0-based [default: $SLURM_ARRAY_TASK_ID, else
    /// $JOB_COMPLETION_INDEX]
    #[arg(long, value_name = "I", alias = "shard-index")]
    task_index: Option<usize>,

    /// Share the input among N tasks by a hash of each image's key [default: $PIPELINE_TASK_COUNT,
    /// else $SLURM_ARRAY_TASK_COUNT]
    #[arg(long, value_name = "N", alias = "shard-count")]
    task_count: Option<usize>,
}

/// One task of a job: task `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) index: usize,
    pub(crate) count: usize,
}

impl Task {
    /// The task the flags and the environment (`env`) name, if any; a
    /// contradiction or an unreadable value is one line for the user.
    pub(crate) fn resolve(args: &TaskArgs, env: impl Fn(&str) -> Option<String>) -> Result<Option<Task>, String> {
        let number = |name: &str| -> Result<Option<usize>, String> {
            match env(name) {
                None => Ok(None),
                Some(value) => value
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={value:?} is not a whole number (a task index or count)")),
            }
        };
        let (index, from) = match args.task_index {
            Some(index) => (Some(index), "--task-index"),
            None => match number("SLURM_ARRAY_TASK_ID")? {
                Some(index) => (Some(index), "SLURM_ARRAY_TASK_ID"),
                None => (number("JOB_COMPLETION_INDEX")?, "JOB_COMPLETION_INDEX"),
            },
        };
        let count = match args.task_count {
            Some(count) => Some(count),
            None => {
                match number("PIPELINE_TASK_COUNT")?.map_or_else(|| number("PIPELINE_SHARD_COUNT"), |n| Ok(Some(n)))? {
                    Some(count) => Some(count),
                    None if from == "SLURM_ARRAY_TASK_ID" => number("SLURM_ARRAY_TASK_COUNT")?,
                    None => None,
                }
            }
        };
        match (index, count) {
            (None, None) => Ok(None),
            (None, Some(count)) => Err(format!(
                "a task count ({count}) needs a task index: --task-index I, or SLURM_ARRAY_TASK_ID or \
                 JOB_COMPLETION_INDEX in the environment"
            )),
            (Some(index), None) => Err(format!(
                "task index {index} (from {from}) needs a task count: --task-count N or PIPELINE_TASK_COUNT"
            )),
            (Some(_), Some(0)) => Err("the task count must be at least 1".into()),
            (Some(index), Some(count)) if index >= count => Err(format!(
                "task index {index} (from {from}) is not below the task count {count}: tasks are 0 to {} \
                 (a Slurm array of them is --array=0-{})",
                count - 1,
                count - 1
            )),
            (Some(index), Some(count)) => Ok(Some(Task { index, count })),
        }
    }

    /// Whether `item` is this task's.
    pub(crate) fn takes(self, item: &Item) -> bool {
        task_of(item_key(item), self.count) == self.index
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
        format!("{TASKS_FOLDER}/{}.json", self.index)
    }

    /// The prefix of this task's ledgers in the store: `_shards/<I>`.
    pub(crate) fn records_prefix(self) -> String {
        format!("{TASKS_FOLDER}/{}", self.index)
    }
}

/// What decides an item's task: the stem its source vouches for, else its URL.
fn item_key(item: &Item) -> &str {
    item.stem.as_deref().unwrap_or(&item.url)
}

/// The task of `key` among `count`: SHA-256's first 8 bytes, big-endian, mod `count`.
pub(crate) fn task_of(key: &str, count: usize) -> usize {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    let count = u64::try_from(count.max(1)).unwrap_or(u64::MAX);
    usize::try_from(u64::from_be_bytes(first) % count).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(index: Option<usize>, count: Option<usize>) -> TaskArgs {
        TaskArgs { task_index: index, task_count: count }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_string())
    }

    /// Every key lands in exactly one task, the tasks together hold
    /// every key, and no task is left nearly empty.
    #[test]
    fn tasks_are_disjoint_and_complete() {
        let keys: Vec<String> = (0..4000).map(|id| format!("http://example.com/photos/{id}.jpg")).collect();
        for count in [1, 2, 3, 8, 13] {
            let mut seen = vec![0usize; count];
            for key in &keys {
                let owners: Vec<usize> =
                    (0..count).filter(|&index| Task { index, count }.takes(&Item::from_url(key.clone()))).collect();
                assert_eq!(owners.len(), 1, "{key} among {count}: {owners:?}");
                seen[owners[0]] += 1;
            }
            assert_eq!(seen.iter().sum::<usize>(), keys.len());
            let fair = keys.len() / count;
            assert!(seen.iter().all(|&n| n > fair / 2), "{count} tasks: {seen:?}");
        }
    }

    /// The assignment is a fixed function: these values never change (a
    /// change would send a half-done job's images to other tasks).
    #[test]
    fn assignment_is_stable() {
        let got: Vec<usize> = ["a", "http://example.com/1.jpg", "origin-00000", "origin-00001"]
            .iter()
            .map(|key| task_of(key, 8))
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
        let task = Task { index: task_of("origin-00007", 4), count: 4 };
        assert!(task.takes(&at(8080)) && task.takes(&at(40123)));
    }

    /// The flags, then Slurm's variables, then Kubernetes'; contradictions
    /// are refused in one line.
    #[test]
    fn the_task_comes_from_flags_or_the_environment() {
        let none: &[(&str, &str)] = &[];
        assert_eq!(Task::resolve(&args(None, None), env(none)), Ok(None));
        assert_eq!(Task::resolve(&args(Some(2), Some(4)), env(none)), Ok(Some(Task { index: 2, count: 4 })));
        let slurm = [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_COUNT", "8")];
        assert_eq!(Task::resolve(&args(None, None), env(&slurm)), Ok(Some(Task { index: 5, count: 8 })));
        // A task resubmitted alone says count 1; the flag wins.
        let alone = [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_COUNT", "1")];
        assert_eq!(Task::resolve(&args(None, Some(8)), env(&alone)), Ok(Some(Task { index: 5, count: 8 })));
        let k8s = [("JOB_COMPLETION_INDEX", "3"), ("PIPELINE_TASK_COUNT", "4")];
        assert_eq!(Task::resolve(&args(None, None), env(&k8s)), Ok(Some(Task { index: 3, count: 4 })));
        // The older name of the variable still works.
        let k8s = [("JOB_COMPLETION_INDEX", "3"), ("PIPELINE_SHARD_COUNT", "4")];
        assert_eq!(Task::resolve(&args(None, None), env(&k8s)), Ok(Some(Task { index: 3, count: 4 })));
        // Kubernetes does not say the count: without one, refused.
        let err = Task::resolve(&args(None, None), env(&[("JOB_COMPLETION_INDEX", "3")])).unwrap_err();
        assert!(err.contains("needs a task count"), "{err}");
        let err = Task::resolve(&args(Some(1), None), env(none)).unwrap_err();
        assert!(err.contains("needs a task count"), "{err}");
        let err = Task::resolve(&args(None, Some(4)), env(none)).unwrap_err();
        assert!(err.contains("needs a task index"), "{err}");
        let err = Task::resolve(&args(Some(4), Some(4)), env(none)).unwrap_err();
        assert!(err.contains("not below the task count 4") && err.contains("--array=0-3"), "{err}");
        let err = Task::resolve(&args(Some(0), Some(0)), env(none)).unwrap_err();
        assert!(err.contains("at least 1"), "{err}");
        let err = Task::resolve(&args(None, None), env(&[("JOB_COMPLETION_INDEX", "x")])).unwrap_err();
        assert!(err.contains("JOB_COMPLETION_INDEX=\"x\""), "{err}");
        assert!(!err.contains('\n'));
    }
}
