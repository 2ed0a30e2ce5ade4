//! The parent's side of every mode: each image's [`Done`] goes to the
//! tally (common's: saved, skipped or failed) and to the ledger (its
//! completion in the store's `_records/`, its failure in `failures.jsonl`,
//! its dataset row), its events to the `--trace` file, and its busy seconds
//! and objects are added up for the report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::Context;
use common::run::{Summary, Tally};
use common::{Item, RunReport};

use crate::cli::Mode;
use crate::dataset::{Dataset, DatasetSummary};
use crate::store::ImageLedger;
use crate::work::{Busy, Done, EventKind};

/// The run's tally and ledger, as every mode writes to them: counts and
/// records every image of a run; shared by every worker (`&RunLedger` is
/// enough: it locks inside, for microseconds per image).
#[derive(Debug)]
pub(crate) struct RunLedger {
    tally: Tally,
    completed: ImageLedger,
    trace: Option<Trace>,
    totals: Mutex<Totals>,
    mode: Mode,
    /// The run's clock: every event's time is seconds since this.
    pub(crate) started: Instant,
    store: String,
    /// For `--output-format webdataset|parquet`: where each row goes.
    dataset: Option<Arc<Dataset>>,
}

/// What the report adds up over the images.
#[derive(Debug, Default)]
struct Totals {
    objects: usize,
    empty_crops: usize,
    busy: Busy,
}

impl RunLedger {
    pub(crate) fn new(tally: Tally, completed: ImageLedger, trace: Option<Trace>, mode: Mode, store: String) -> Self {
        let totals = Mutex::default();
        RunLedger { tally, completed, trace, totals, mode, started: Instant::now(), store, dataset: None }
    }

    /// The same ledger, handing every row to `dataset`.
    pub(crate) fn with_dataset(self, dataset: Arc<Dataset>) -> Self {
        RunLedger { dataset: Some(dataset), ..self }
    }

    /// Image `task` entered the pipeline now.
    pub(crate) fn queued(&self, task: usize) {
        if let Some(trace) = &self.trace {
            trace.write(self.mode, task, EventKind::Queued, self.started.elapsed().as_secs_f64(), None);
        }
    }

    /// Records what became of image `task`, whose events were timed
    /// `shift` seconds after the run's clock (0 when timed against it; a
    /// worker process times them from when it got the image).
    pub(crate) fn record(&self, task: usize, item: &Item, mut done: Done, shift: f64) {
        if let Some(trace) = &self.trace {
            for event in &done.events {
                trace.write(self.mode, task, event.event, event.t + shift, event.key.as_deref());
            }
        }
        // A webdataset or parquet sample counts once its shard is stored
        // (the dataset holds its outcome until then); anything else now.
        let held = done.outcome.is_ok() && self.dataset.as_ref().is_some_and(|dataset| dataset.holds_samples());
        {
            let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
            if !held {
                totals.objects += done.objects;
            }
            totals.empty_crops += done.empty_crops;
            totals.busy.download += done.busy.download;
            totals.busy.transform += done.busy.transform;
            totals.busy.store += done.busy.store;
        }
        // A row whose shard holds its image is complete when the shard is
        // stored; a loose file's image as soon as its objects are.
        if let Ok(saved) = &done.outcome
            && self.dataset.as_ref().is_none_or(|dataset| !dataset.holds_samples())
        {
            self.completed.record(&saved.key, done.objects);
        }
        if let Some(dataset) = &self.dataset {
            let sample = done.sample.take();
            if held {
                let outcome = done.outcome;
                dataset.add(item, &outcome, sample, Some(outcome.clone()));
            } else {
                dataset.add(item, &done.outcome, sample, None);
                self.tally.record(item, done.outcome);
            }
            self.count_settled();
        } else {
            self.tally.record(item, done.outcome);
        }
    }

    /// Counts the samples whose shard was stored (saved) or lost (failed)
    /// since the last call.
    fn count_settled(&self) {
        let Some(dataset) = &self.dataset else { return };
        for (item, outcome) in dataset.take_settled() {
            if outcome.is_ok() {
                self.totals.lock().unwrap_or_else(PoisonError::into_inner).objects += 1;
            }
            self.tally.record(&item, outcome);
        }
    }

    /// Flushes the ledgers and the trace and makes the report.
    /// Whether the run was asked to stop: a mode that waits on worker
    /// processes drops them then.
    pub(crate) fn is_stopped(&self) -> bool {
        self.tally.is_stopped()
    }

    pub(crate) fn finish(self) -> PipelineReport {
        self.completed.flush();
        if let Some(trace) = &self.trace {
            trace.flush();
        }
        // The last shards are stored only when the run went through its
        // whole share: a stopped run would publish them short. Their
        // samples are counted before the tally closes.
        let whole = self.tally.went_through();
        let mut dataset = self.dataset.as_ref().map(|dataset| dataset.finish(whole));
        self.count_settled();
        let totals = self.totals.into_inner().unwrap_or_else(PoisonError::into_inner);
        let run = self.tally.finish();
        // A repair's rows are the failed ones retried: saved is repaired.
        if let Some(repair) = dataset.as_mut().and_then(|dataset| dataset.repair.as_mut()) {
            (repair.retried, repair.repaired, repair.still_failing) = (run.requested, run.files, run.failed);
        }
        PipelineReport {
            run,
            dataset,
            mode: self.mode,
            store: self.store,
            objects_stored: totals.objects,
            empty_crops: totals.empty_crops,
            stage_seconds: totals.busy,
            shard_record: None,
        }
    }
}

/// `--trace FILE`: one JSON line per event, through one buffer, so tracing
/// costs a lock and a `format!` per event and no system call until the
/// buffer is full.
#[derive(Debug)]
pub(crate) struct Trace {
    file: Mutex<BufWriter<File>>,
}

/// One line of the trace.
#[derive(Debug, serde::Serialize)]
struct TraceLine<'a> {
    mode: Mode,
    task: usize,
    event: EventKind,
    t: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
}

impl Trace {
    pub(crate) fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("cannot create --trace {}", path.display()))?;
        Ok(Trace { file: Mutex::new(BufWriter::new(file)) })
    }

    fn write(&self, mode: Mode, task: usize, event: EventKind, t: f64, key: Option<&str>) {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        // A trace that cannot be written is lost, not the run: errors show at flush.
        let _ = serde_json::to_writer(&mut *file, &TraceLine { mode, task, event, t, key });
        let _ = file.write_all(b"\n");
    }

    fn flush(&self) {
        if let Err(err) = self.file.lock().unwrap_or_else(PoisonError::into_inner).flush() {
            eprintln!("warning: cannot write the trace: {err}");
        }
    }
}

/// The summary of a pipeline run: the download report, plus what this run
/// adds. The `--json` object has every field of the download binaries'
/// report at its top level, and these.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PipelineReport {
    #[serde(flatten)]
    run: RunReport,
    mode: Mode,
    /// Where the objects went.
    store: String,
    /// Objects (thumbnails and crops) the store confirmed.
    objects_stored: usize,
    /// Crops not made because they were empty once clipped to their image.
    empty_crops: usize,
    /// Busy seconds of each stage, summed over images (and over the
    /// uploads of one image): more than the wall time when stages overlap.
    stage_seconds: Busy,
    /// A shard's record, once stored (its key).
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_record: Option<String>,
    /// `--output-format webdataset|parquet`: the shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset: Option<DatasetSummary>,
}

impl PipelineReport {
    /// The download report inside.
    pub(crate) fn run(&self) -> &RunReport {
        &self.run
    }

    /// Objects the store confirmed.
    pub(crate) fn objects(&self) -> usize {
        self.objects_stored
    }

    /// Notes that the run's shard record was stored under `key`.
    pub(crate) fn recorded(&mut self, key: String) {
        self.shard_record = Some(key);
    }
}

impl Summary for PipelineReport {
    fn failure_lines(&self) -> Vec<String> {
        self.run.failure_lines()
    }

    fn warnings(&self) -> Vec<String> {
        let mut warnings = self.run.warnings();
        if let Some(dataset) = &self.dataset {
            warnings.extend(dataset.errors.iter().cloned());
            if let Some(repair) = dataset.repair.as_ref().filter(|repair| !repair.incomplete_shards.is_empty()) {
                warnings.push(format!(
                    "not repaired, not complete (no stats): shard(s) {}; a run without --retry-failed makes them whole",
                    repair.incomplete_shards.join(", ")
                ));
            }
            if dataset.shards_unfinished > 0 {
                warnings.push(format!(
                    "{} shard(s) were not finished and were not written; the next run makes them",
                    dataset.shards_unfinished
                ));
            }
        }
        if self.empty_crops > 0 {
            warnings.push(format!("{} crop(s) were outside their image and were not made", self.empty_crops));
        }
        warnings
    }

    fn summary_line(&self) -> String {
        let Busy { download, transform, store } = self.stage_seconds;
        let mut line = format!(
            "{}\n{} objects stored in {} ({}); busy seconds: download {download:.2}, transform {transform:.2}, store {store:.2}",
            self.run.summary_line(),
            self.objects_stored,
            self.store,
            self.mode.name(),
        );
        match self.dataset.as_ref().map(|dataset| (dataset, &dataset.repair)) {
            Some((dataset, Some(repair))) => {
                let rewritten =
                    if repair.shards_rewritten.is_empty() { "none".into() } else { repair.shards_rewritten.join(", ") };
                line += &format!(
                    "\nrepair of {complete} complete {format} shard(s): {retried} failed sample(s) retried, \
                     {repaired} repaired, {failing} still failing; shard(s) rewritten: {rewritten}",
                    complete = repair.complete_shards,
                    format = dataset.format.name(),
                    retried = repair.retried,
                    repaired = repair.repaired,
                    failing = repair.still_failing,
                );
            }
            Some((dataset, None)) => {
                line += &format!(
                    "\n{} {} shard(s) of {} rows written",
                    dataset.shards_written,
                    dataset.format.name(),
                    dataset.shard_size
                );
            }
            None => {}
        }
        if let Some(key) = &self.shard_record {
            line += &format!("\nshard recorded in {key}");
        }
        line
    }

    fn exit_code(&self) -> ExitCode {
        // A shard that could not be stored lost its rows' work: like failed images.
        if self.dataset.as_ref().is_some_and(|dataset| !dataset.errors.is_empty())
            && self.run.exit_code() == ExitCode::SUCCESS
        {
            return ExitCode::from(common::run::SOME_FAILED_EXIT);
        }
        self.run.exit_code()
    }
}
