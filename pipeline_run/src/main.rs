//! # pipeline_run: download → thumbnail or crops → store, in four methodologies
//!
//! **What it does.** For every image of a source (the download binaries'
//! sources, or `--input DIR` for images already on disk): download it,
//! decode it once, make its thumbnail and/or its crops (each a JPEG), and
//! store every object (`<name>_thumbnail.jpg`, `<name>/crop-NNN.jpg`) into
//! `--store DEST`, or the samples of a training dataset (`dataset/`:
//! `--output-format webdataset|parquet`, shards of `--shard-size` rows).
//! Unlike the download binaries, the job is both IO-bound (downloads,
//! uploads) and CPU-bound (decode, resize, encode), so how the stages
//! overlap is what decides the wall time.
//!
//! **Methodology.** `--mode` picks one of four, each one module of
//! `modes/` with its own header: `serial` (one loop), `threads` (worker
//! threads and a pool of upload threads), `processes` (worker processes,
//! each with upload threads) and `async` (tokio for the network, rayon for
//! the CPU, bounded channels between the stages). What one image goes
//! through is the same in all four (`work.rs`); so are the items
//! (`items.rs`), the tally, ledger and report (`record.rs`, `store.rs`,
//! and `common`). This file is parse (`cli.rs`) → plan (`plan.rs`) → run.
//!
//! **When to use it.** The production path: thousands of images to
//! thumbnails (or crops, or a dataset) in a shared place, without keeping
//! the originals; beyond one machine, as the tasks of a cluster job
//! (`cluster/`: `--task-index I --task-count N`, or Slurm's and
//! Kubernetes' index; recipes in `deploy/`; `merge` adds the tasks up).
//!
//! **Trade-offs.** See each mode. Across them: the serial mode's time is
//! the sum of every stage of every image; the others overlap the waits,
//! and only the async mode also overlaps the CPU with the network without
//! a thread per image in flight.
//!
//! **Running.**
//! ```text
//! cargo run --release -p pipeline_run -- --count 200 --mode async --store out
//! cargo run --release -p pipeline_run -- --urls urls.txt --crops-grid 50 --mode threads --uploads 10
//! cargo run --release -p pipeline_run -- --urls laion.parquet --caption-column caption \
//!     --output-format webdataset --thumbnail 256x256 --resize-mode border --store shards
//! cargo run --release -p pipeline_run -- --urls urls.txt --store /shared/out --task-index 3 --task-count 8
//! cargo run --release -p pipeline_run -- merge --store /shared/out --json
//! ```
//! Exit status: 0 done, 2 unusable flags or input, 3 some images failed,
//! 130 interrupted; `merge`: 0 every task done, 3 some images failed,
//! 4 tasks missing.

mod cli;
mod cluster;
mod crop_specs;
mod dataset;
mod formats;
mod items;
mod modes;
mod plan;
mod record;
mod store;
mod work;

use std::process::ExitCode;

use anyhow::Context;
use common::run::USAGE_EXIT;

use crate::cli::{Command, Mode};
use crate::cluster::identity;
use crate::cluster::record::{AlreadyDone, TaskRecord, TaskRun, read_record};
use crate::cluster::task::Task;
use crate::plan::Plan;
use crate::record::{PipelineReport, RunLedger, Trace};
use crate::store::ImageLedger;
use crate::work::{Source, Work};

fn main() -> ExitCode {
    // Parse: clap refuses what it can say (status 2), and `merge` is a
    // subcommand of its own.
    let cli = cli::parse();
    if let Some(Command::Merge(merge)) = &cli.command {
        return cluster::merge::run(merge);
    }
    if cli.worker {
        return modes::processes::serve_parent(&cli);
    }
    // Plan: every other rule, checked once; the run's parts, made once.
    let plan = match Plan::new(&cli) {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(USAGE_EXIT);
        }
    };
    // Run: the whole input, or one task's share of it.
    let json = cli.args.flags.json;
    match plan.task {
        None => common::conclude(run(&plan), json),
        Some(task) => common::conclude(run_task(&plan, task), json),
    }
}

/// One task of a cluster job: skipped when its record says this job's
/// share is done (with or without failures: `--force` makes it again);
/// else run, and recorded in `_shards/<I>.json` (stored last, atomically)
/// when the run went through its whole share.
fn run_task(plan: &Plan, task: Task) -> anyhow::Result<TaskRun> {
    let input = identity::identify(&plan.args, &plan.columns, plan.input.as_deref())?;
    // A finished task is done, failures and all: running it again changes
    // nothing (a record is never replaced by one that knows less).
    if !plan.args.force
        && let Some(record) = read_record(&plan.store, task)
        && record.is_of(task, &input, &plan.made)
    {
        return Ok(TaskRun::Done(AlreadyDone { already_done: true, record }));
    }
    let mut report = run(plan)?;
    let run = report.run();
    if !run.interrupted && run.stopped.is_none() && run.listing_error.is_none() {
        let record = TaskRecord::new(task, &input, &plan.made, run, report.objects(), plan.mode.name());
        let bytes = serde_json::to_vec_pretty(&record).context("cannot encode the task record")?;
        plan.store.put(&task.record_key(), &bytes).context("cannot store the task record")?;
        report.recorded(task.record_key());
    }
    Ok(TaskRun::Ran(report))
}

/// Sets the run up as the plan says and hands it to the mode.
fn run(plan: &Plan) -> anyhow::Result<PipelineReport> {
    let store = plan.run_store()?;
    // One request before any download: a missing bucket, refused
    // credentials or an endpoint that does not answer end the run here
    // (exit 2), not after every image was downloaded for nothing.
    store.check()?;
    let listed = items::list(plan, &store)?;
    let trace = plan.trace.as_deref().map(Trace::create).transpose()?;
    let images_done = ImageLedger::open(store.records(), &plan.made);
    let mut ledger = RunLedger::new(listed.tally, images_done, trace, plan.mode, store.location());
    if let Some(dataset) = listed.dataset {
        ledger = ledger.with_dataset(dataset);
    }
    let source = match plan.input {
        Some(_) => Source::Disk { max_bytes: plan.args.max_bytes },
        None => Source::Network(Box::new(listed.downloader.with_budget(plan.budget(1)?))),
    };
    let records = store.records().clone();
    let work = Work { source, transform: plan.transform.clone(), store };
    let (concurrency, uploads) = (plan.concurrency, plan.uploads);
    let run = modes::Run { images: listed.images, work, ledger, concurrency, uploads };
    let report = match plan.mode {
        Mode::Serial => modes::serial::run_serially(run),
        Mode::Threads => modes::threads::run_with_threads(run)?,
        Mode::Processes => modes::processes::run_with_processes(run)?,
        Mode::Async => modes::async_mode::run_async(run)?,
    };
    if let Some(damaged) = &listed.damaged
        && let Err(err) = damaged.keep_other_failures(&records)
    {
        eprintln!("warning: cannot keep the failures of shards not repaired in failures.jsonl: {err}");
    }
    Ok(report)
}
