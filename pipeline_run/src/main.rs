//! # pipeline_run: download → thumbnail or crops → store, in four methodologies
//!
//! **What it does.** For every image of a source (the download binaries'
//! sources, or `--input DIR` for images already on disk): download it,
//! decode it once, make its thumbnail and/or its crops (each a JPEG), and
//! store every object (`<name>_thumbnail.jpg`, `<name>/crop-NNN.jpg`) into
//! `--store DEST`. Unlike the download binaries, the job is both IO-bound
//! (downloads, uploads) and CPU-bound (decode, resize, encode), so how the
//! stages overlap is what decides the wall time.
//!
//! **Methodology.** `--mode` picks one of four, each one module of
//! `modes/` with its own header: `serial` (one loop), `threads` (worker
//! threads and a pool of upload threads), `processes` (worker processes,
//! each with upload threads) and `async` (tokio for the network, rayon for
//! the CPU, bounded channels between the stages). What one image goes
//! through is the same in all four (`work.rs`); so are the counting, the
//! resume and the report (`record.rs`, `store.rs`, and `common`).
//!
//! **When to use it.** The production path: thousands of images to
//! thumbnails (or crops) in a shared place, without keeping the originals.
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
//! cargo run --release -p pipeline_run -- --input images --crops crops.csv --thumbnail 256x256 --trace t.jsonl
//! ```
//!
//! **Training datasets** (`dataset/`): `--output-format webdataset|parquet`
//! writes the layouts model trainers read: shards of `--shard-size` input
//! rows (`00000.tar` of `KEY.jpg`/`KEY.json`/`KEY.txt`, or `00000.parquet`
//! with the image in a column), each with one metadata row per input row
//! and `00000_stats.json`; a Parquet URL list's captions and columns are
//! carried along (`--caption-column`, `--save-columns`).
//! ```text
//! pipeline_run --urls laion.parquet --caption-column caption --save-columns similarity \
//!     --output-format webdataset --thumbnail 256x256 --resize-mode border --store shards
//! ```
//! `--retry-failed` (without `--urls`) then repairs such a dataset in place:
//! it fetches again the failed rows of its complete shards and writes again
//! exactly the shards that gain a sample (`dataset/repair.rs`).
//!
//! **Sharded, as tasks of a cluster engine** (`shards.rs`; recipes in
//! `deploy/`): `--shard-index I --shard-count N` makes one shard of the
//! input (the index can come from `SLURM_ARRAY_TASK_ID` or Kubernetes'
//! `JOB_COMPLETION_INDEX`), records it in `_shards/<I>.json` of the store,
//! and does nothing when run again once done; `merge` adds the records up.
//! ```text
//! pipeline_run --urls urls.txt --store /shared/out --shard-index 3 --shard-count 8
//! pipeline_run merge --store /shared/out [--json]
//! ```
//! Exit status: 0 done, 2 unusable flags or input, 3 some images failed,
//! 130 interrupted; `merge`: 0 every shard done, 3 some images failed,
//! 4 shards missing.

mod crop_specs;
mod dataset;
mod modes;
mod record;
mod shards;
mod store;
mod work;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser};
use common::fetch::ByteBudget;
use common::run::{CompleteIndex, Layout, USAGE_EXIT};
use common::thumbnail::{BoxSize, DEFAULT_QUALITY, FitMode, Limits, OutputFormat, ThumbnailSpec};
use common::{DownloadArgs, DownloadJob, Item};
use sha2::{Digest, Sha256};

use crate::crop_specs::CropSpecs;
use crate::dataset::repair::{Damaged, RepairSummary};
use crate::dataset::{Dataset, DatasetArgs, Format, Keys, Published, SampleRules};
use crate::record::{PipelineReport, Recorder, Trace};
use crate::shards::{AlreadyDone, Input, MergeCli, Shard, ShardArgs, ShardRecord, ShardRun};
use crate::store::{Completed, Listing, Store, open_store};
use crate::work::{CropPlan, Source, Transform, Work};

/// The thumbnail made when neither `--thumbnail` nor crops are asked for:
/// the original assignments' 128x128 box.
const DEFAULT_THUMBNAIL: BoxSize = BoxSize { width: 128, height: 128 };

/// Uploads at once when `--uploads` is not given: the original benchmark's
/// upload pool.
const DEFAULT_UPLOADS: usize = 10;

/// `--max-inflight-bytes` when not given: 512 MiB of downloaded images in
/// memory at once, eight of the largest accepted (`--max-bytes`, 64 MiB)
/// or thousands of ordinary photos, so the default concurrency never waits
/// on it for real images while a hostile list cannot take gigabytes.
const DEFAULT_INFLIGHT_BYTES: u64 = 512 * 1024 * 1024;

/// Download images, make thumbnails or crops, and store them.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    after_help = "`pipeline_run merge --store DEST` adds up the shard records of a sharded job (see --help there)."
)]
struct Cli {
    #[command(flatten)]
    args: DownloadArgs,

    #[command(flatten)]
    pipeline: PipelineArgs,

    #[command(flatten)]
    shard: ShardArgs,

    /// Run as a worker process fed by a parent over stdin (internal).
    #[arg(long, hide = true)]
    worker: bool,
}

/// The flags of this binary beyond the download flags.
#[derive(Debug, Clone, clap::Args)]
struct PipelineArgs {
    /// How the stages run: one loop, threads, worker processes or async tasks
    ///
    /// What --concurrency counts, and its default, by mode: serial 1; threads 10 worker threads; processes
    /// one worker process per core and at least 5 (each holds one image at a time, and an image waits on its
    /// download and uploads much of the time, so fewer leave cores idle: 5 is multiprocessing_run's pool);
    /// async 100 images in flight, decoded on one thread per core.
    #[arg(long, value_enum, default_value_t = Mode::Async)]
    mode: Mode,

    /// Read the images from this folder instead of downloading them
    #[arg(long, value_name = "DIR", conflicts_with_all = ["urls", "source", "from"])]
    input: Option<PathBuf>,

    /// Where objects go: a folder, file://folder, s3://bucket/prefix, gs://bucket/prefix or
    /// az://container/prefix; the run's records (failures.jsonl, metadata.jsonl, _records/) go
    /// there too, and a re-run resumes from what it holds
    #[arg(long, value_name = "DEST", default_value = "output")]
    store: String,

    /// Keep the run's records (failures.jsonl, metadata.jsonl, _records/) in this local folder
    /// instead of in --store [default: in --store, beside the objects]
    #[arg(long, value_name = "DIR")]
    records: Option<PathBuf>,

    /// Make a thumbnail fitting this box [default: 128x128 when no crops are asked for]
    #[arg(long, value_name = "WxH")]
    thumbnail: Option<BoxSize>,

    /// Make the thumbnail fill its box exactly, cutting the centre out
    #[arg(long)]
    crop: bool,

    /// Cut the crops listed in this CSV (rows image,x,y,w,h or x,y,w,h) out of each image
    #[arg(long, value_name = "FILE.csv")]
    crops: Option<PathBuf>,

    /// Cut each image into N crops on a regular grid
    #[arg(long, value_name = "N", conflicts_with = "crops")]
    crops_grid: Option<NonZeroUsize>,

    /// JPEG quality of thumbnails and crops, 1-100
    #[arg(long, value_name = "N", default_value_t = DEFAULT_QUALITY, value_parser = clap::value_parser!(u8).range(1..=100))]
    jpeg_quality: u8,

    /// Objects stored at once (per worker process in --mode processes)
    #[arg(long, value_name = "N")]
    uploads: Option<NonZeroUsize>,

    /// Bytes of downloaded images held in memory at once [default: 512 MiB]
    ///
    /// Bounds the bodies of every download in flight and every image downloaded and waiting for, or in, its
    /// thumbnail (not the decoded pixels or the outputs). A download waits for room, within its --timeout;
    /// one known to be large (Content-Length) reserves its size up front. At least --max-bytes. In --mode
    /// processes each worker gets an equal share, at least --max-bytes (one image at a time must fit).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_INFLIGHT_BYTES)]
    max_inflight_bytes: u64,

    /// Write every image's events (queued, downloaded, transformed, stored, failed) as JSON lines
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,

    #[command(flatten)]
    dataset: DatasetArgs,
}

/// The four methodologies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    Serial,
    Threads,
    Processes,
    Async,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Serial => "serial",
            Mode::Threads => "threads",
            Mode::Processes => "processes",
            Mode::Async => "async",
        }
    }
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|first| first == "merge") {
        let merge = MergeCli::parse_from(std::env::args_os().skip(1));
        return match shards::merge(&merge) {
            Ok(report) => common::conclude(Ok::<_, anyhow::Error>(report), merge.json),
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(shards::MISSING_SHARDS_EXIT)
            }
        };
    }
    // `--out` is the download binaries' folder; here records go beside the
    // objects, in `--store`, so the flag is hidden and refused.
    let command = Cli::command().mut_arg("out", |arg| arg.hide(true)).mut_arg("retry_failed", |arg| {
        arg.help(
            "Run again exactly the images the last run into --store failed (its failures.jsonl); with \
             --output-format webdataset|parquet, repair the dataset in place: retry the failed rows of its \
             complete shards and write again only the shards that gain a sample, every key kept",
        )
    });
    let matches = command.get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if matches.value_source("out") == Some(clap::parser::ValueSource::CommandLine) {
        eprintln!("error: pipeline_run stores into --store DEST and keeps its records there; --out is not used");
        return ExitCode::from(USAGE_EXIT);
    }
    let shard = match cli_shard(&cli) {
        Ok(shard) => shard,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(USAGE_EXIT);
        }
    };
    if cli.pipeline.input.is_some() && (cli.args.caption_column.is_some() || !cli.args.save_columns.is_empty()) {
        eprintln!("error: --caption-column and --save-columns read a URL list's columns; --input DIR has none");
        return ExitCode::from(USAGE_EXIT);
    }
    let flags = &cli.pipeline.dataset;
    if flags.output_format.is_none()
        && (flags.min_image_size > 0 || flags.max_aspect_ratio.is_some() || flags.compute_hash)
    {
        eprintln!(
            "error: --min-image-size, --max-aspect-ratio and --compute-hash go with --output-format (files, webdataset or parquet)"
        );
        return ExitCode::from(USAGE_EXIT);
    }
    if cli.pipeline.dataset.is_sharded() && cli.args.retry_failed && cli.args.flags.clean {
        eprintln!("error: --clean would delete the shards that --retry-failed repairs; drop --clean");
        return ExitCode::from(USAGE_EXIT);
    }
    if cli.worker {
        return modes::processes::serve_parent(&cli);
    }
    match shard {
        None => common::conclude(run(&cli, None), cli.args.flags.json),
        Some(shard) => common::conclude(run_shard(&cli, shard), cli.args.flags.json),
    }
}

/// The shard the flags and environment name; with one, the flags that
/// cannot go with it refused.
fn cli_shard(cli: &Cli) -> Result<Option<Shard>, String> {
    let shard = Shard::resolve(&cli.shard, |name| std::env::var(name).ok())?;
    if shard.is_some() {
        if cli.args.flags.clean {
            return Err("--clean cannot go with shards: one shard would delete the others' objects; \
                        empty the store once before the job"
                .into());
        }
        // A task's record counts its failures; a retry of some of them
        // would leave the record, and merge's sums, wrong.
        if cli.args.retry_failed {
            return Err("--retry-failed cannot go with a cluster task (--shard-index): its record would no longer \
                        add up; --force makes the task again"
                .into());
        }
    }
    Ok(shard)
}

/// One shard: skipped when its record says this job's share is done
/// (with or without failures: `--force` makes it again); else run, and
/// recorded in `_shards/<I>.json` (stored last, atomically) when the run
/// went through its whole share.
fn run_shard(cli: &Cli, shard: Shard) -> anyhow::Result<ShardRun> {
    let input = shards::identify(&cli.args, cli.pipeline.input.as_deref())?;
    let (_, made) = transform(&cli.pipeline)?;
    let store = open_store(&cli.pipeline.store, cli.pipeline.records.as_deref())?;
    // A finished task is done, failures and all: running it again changes
    // nothing (a record is never replaced by one that knows less); --force
    // makes it again.
    if !cli.args.force
        && let Some(record) = shards::read_record(&store, shard)
        && record.is_of(shard, &input, &made)
    {
        return Ok(ShardRun::Done(AlreadyDone { already_done: true, record }));
    }
    let mut report = run(cli, Some((shard, &input)))?;
    let run = report.run();
    if !run.interrupted && run.stopped.is_none() && run.listing_error.is_none() {
        let record = ShardRecord::new(shard, &input, &made, run, report.objects(), cli.pipeline.mode.name());
        let bytes = serde_json::to_vec_pretty(&record).context("cannot encode the shard record")?;
        store.put(&shard.record_key(), &bytes).context("cannot store the shard record")?;
        report.recorded(shard.record_key());
    }
    Ok(ShardRun::Ran(report))
}

/// Sets the run up and hands it to the mode; a shard's run takes only its
/// share of the input and keeps its ledgers in its own folder.
fn run(cli: &Cli, shard: Option<(Shard, &Input)>) -> anyhow::Result<PipelineReport> {
    let mode = cli.pipeline.mode;
    let concurrency = cli.args.concurrency_or(modes::default_concurrency(mode));
    let uploads = cli.pipeline.uploads.map_or(DEFAULT_UPLOADS, NonZeroUsize::get);
    let run_name = format!("pipeline_run/{}", mode.name());
    inflight_budget(cli, 1)?; // a budget that cannot hold one image is a usage error, before anything starts

    // The transform and the store come first: a bad crops file or an
    // unknown store ends the run before anything is listed.
    let (transform, made) = transform(&cli.pipeline)?;
    let store =
        sharded(open_store(&cli.pipeline.store, cli.pipeline.records.as_deref())?, shard.map(|(shard, _)| shard))?;
    // One request before any download: a missing bucket, refused
    // credentials or an endpoint that does not answer end the run here
    // (exit 2), not after every image was downloaded for nothing.
    store.check()?;
    let args = records_args(&cli.args, &store);
    let mut listing = match &cli.pipeline.input {
        Some(dir) => Some((common::sources::folder_list(dir)?, format!("folder {}", dir.display()))),
        None => None,
    };
    // A dataset names rows by their place in the input, resumes by whole
    // shards and shares whole shards among cluster tasks (`dataset/`).
    let shard = shard.map(|(shard, _)| shard);
    let sharded_output = cli.pipeline.dataset.is_sharded();
    let keys = Keys::new(cli.pipeline.dataset.shard_size);
    // A repair that died part way is put in place before anything is
    // listed, so every shard is the old or the new one (`dataset/repair.rs`).
    if sharded_output {
        let ours = |number| shard.is_none_or(|shard| shard.takes_number(number));
        let finished = dataset::repair::complete_interrupted(store.objects(), ours)
            .context("cannot put in place the repair an earlier run staged in _repair/")?;
        for name in finished {
            eprintln!("shard {name}: put in place, as an earlier --retry-failed had staged it in _repair/");
        }
    }
    // --retry-failed repairs a dataset in place: the listing is the failed
    // rows of its complete shards, as their metadata says.
    let mut damaged = if sharded_output && cli.args.retry_failed {
        let format = (cli.pipeline.dataset.format(), made.as_str());
        Some(Damaged::find(&store, keys, format, cli.pipeline.dataset.compute_hash)?)
    } else {
        None
    };
    let args = match &mut damaged {
        Some(damaged) => {
            listing = Some(damaged.listing(&store.location()));
            DownloadArgs { retry_failed: false, ..args }
        }
        None => args,
    };
    let dataset = dataset(cli, (&store, &made), shard, damaged.as_ref().map(|damaged| damaged.found.clone()));
    let takes = shard.map(|shard| -> dataset::Takes {
        if sharded_output {
            dataset::share(keys, move |number| shard.takes_number(number))
        } else {
            Arc::new(move |item| shard.takes(item))
        }
    });
    let layout = Layout {
        listing,
        folder: &|clean| store.prepare_records(clean),
        complete: &|records| {
            if damaged.is_some() {
                return Ok(Box::new(|_: &Item| None));
            }
            // Resume is what the store holds: listed once, before any work.
            let listing = Listing::read(store.objects())?;
            if sharded_output {
                let published = Arc::new(Published::new(store.clone(), keys, cli.pipeline.dataset.format(), listing));
                return Ok(dataset::complete_index(keys, published));
            }
            // A record of a complete image is a hint the listing checks.
            let complete = Completed::read(records, &made)?;
            let dataset = dataset.clone();
            let thumbnail = transform.thumbnail;
            let index: CompleteIndex = Box::new(move |item: &Item| {
                let name = common::run::image_name(item);
                let done = complete.get(&name).is_some_and(|&objects| listing.holds_image(&name, thumbnail, objects));
                // Loose files resume image by image; the shard's metadata still lists the row.
                if done && let Some(dataset) = &dataset {
                    dataset.skipped(item);
                }
                done.then_some(name)
            });
            Ok(index)
        },
        share: takes.clone().map(|takes| -> common::run::ShareFilter { Box::new(move |item| takes(item)) }),
        prepare: dataset.as_ref().map(|dataset| match damaged {
            Some(_) => dataset::relisting(dataset),
            None => dataset::numbering(dataset, takes.clone()),
        }),
    };
    let DownloadJob { images, downloader, tally } =
        DownloadJob::prepare_with(&run_name, &args, concurrency, layout).context("cannot start the run")?;
    let completed = Completed::open(store.records(), &made);
    let trace = cli.pipeline.trace.as_deref().map(Trace::create).transpose()?;
    let mut recorder = Recorder::new(tally, completed, trace, mode, store.location());
    if let Some(dataset) = dataset {
        recorder = recorder.with_dataset(dataset);
    }
    let source = match cli.pipeline.input {
        Some(_) => Source::Disk { max_bytes: args.max_bytes },
        None => Source::Network(Box::new(downloader.with_budget(inflight_budget(cli, 1)?))),
    };
    let records = store.records().clone();
    let work = Work { source, transform, store };
    let run = modes::Run { images, work, recorder, concurrency, uploads };
    let report = match mode {
        Mode::Serial => modes::serial::run_serially(run),
        Mode::Threads => modes::threads::run_with_threads(run)?,
        Mode::Processes => modes::processes::run_with_processes(run)?,
        Mode::Async => modes::async_mode::run_async(run)?,
    };
    if let Some(damaged) = &damaged
        && let Err(err) = damaged.keep_other_failures(&records)
    {
        eprintln!("warning: cannot keep the failures of shards not repaired in failures.jsonl: {err}");
    }
    Ok(report)
}

/// The dataset the flags ask for (`--output-format`), stored into
/// `store`; `None` without the flag (loose files, no shard metadata). A
/// cluster task's loose files have their rows spread over every task, so
/// its shard metadata goes in `_shards/<I>/`.
///
/// With `repair` (what `--retry-failed` found), it repairs the complete
/// shards instead of making shards.
fn dataset(
    cli: &Cli,
    (store, made): (&Store, &str),
    shard: Option<Shard>,
    repair: Option<RepairSummary>,
) -> Option<Arc<Dataset>> {
    let flags = &cli.pipeline.dataset;
    let format = flags.output_format?;
    let keys = Keys::new(flags.shard_size);
    let prefix = match shard {
        Some(shard) if format == Format::Files => format!("{}/{}/", shards::SHARDS_FOLDER, shard.index),
        _ => String::new(),
    };
    let caption = cli.args.caption_column.is_some();
    let store = (store.clone(), prefix);
    let dataset = Dataset::new(format, keys, store, caption, &cli.args.save_columns, flags.compute_hash).making(made);
    Some(Arc::new(match repair {
        Some(found) => dataset.repairing(found),
        None => dataset,
    }))
}

/// What a worker process of `--mode processes` needs: the same stages as
/// the parent's (its own client, the same transform and store), and how
/// many upload threads to start. The parent lists, cleans and counts.
fn worker_work(cli: &Cli) -> anyhow::Result<(Work, usize)> {
    let (transform, _) = transform(&cli.pipeline)?;
    let shard = cli_shard(cli).map_err(anyhow::Error::msg)?;
    let store = sharded(open_store(&cli.pipeline.store, cli.pipeline.records.as_deref())?, shard)?;
    let args = records_args(&cli.args, &store);
    let source = match cli.pipeline.input {
        Some(_) => Source::Disk { max_bytes: args.max_bytes },
        None => {
            // Processes share no memory: each worker keeps its share of the budget.
            let workers = cli.args.concurrency_or(modes::default_concurrency(Mode::Processes));
            let downloader = common::run::worker_downloader_into(&args, store.objects().clone())?;
            Source::Network(Box::new(downloader.with_budget(inflight_budget(cli, workers)?)))
        }
    };
    let uploads = cli.pipeline.uploads.map_or(DEFAULT_UPLOADS, NonZeroUsize::get);
    Ok((Work { source, transform, store }, uploads))
}

/// `--max-inflight-bytes` as the budget of one of `sharers` processes (an
/// equal share, at least `--max-bytes`: a worker holds one image at a time,
/// and the largest accepted must fit). The rule the budget keeps is in
/// `common::fetch::ByteBudget`'s module docs.
fn inflight_budget(cli: &Cli, sharers: usize) -> anyhow::Result<ByteBudget> {
    let (total, largest) = (cli.pipeline.max_inflight_bytes, cli.args.max_bytes);
    if total < largest {
        anyhow::bail!("--max-inflight-bytes ({total}) must be at least --max-bytes ({largest}): one image must fit");
    }
    let share = (total / sharers.max(1) as u64).max(largest);
    ByteBudget::new(share, largest).map_err(anyhow::Error::msg)
}

/// The store, with its records in the shard's own `_shards/<I>/` when
/// there is one.
fn sharded(store: Store, shard: Option<Shard>) -> anyhow::Result<Store> {
    match shard {
        Some(shard) => store.with_records_within(&shard.records_prefix()),
        None => Ok(store),
    }
}

/// The download flags as `common` should see them: `--out` is the records
/// folder when the records are in one (`common` checks that `--from` is not
/// the very `metadata.jsonl` the run writes to); an object store's records
/// are read and written through the store alone.
fn records_args(args: &DownloadArgs, store: &Store) -> DownloadArgs {
    match store.records().as_local() {
        Some(folder) => DownloadArgs { out: folder.path().to_path_buf(), ..args.clone() },
        None => args.clone(),
    }
}

/// What is made of each image, from the flags, and a description of it for
/// the records of complete images (a re-run asking for other outputs makes them again).
fn transform(args: &PipelineArgs) -> anyhow::Result<(Transform, String)> {
    let crops = match (&args.crops, args.crops_grid) {
        (Some(path), _) => CropPlan::Listed(Arc::new(CropSpecs::read(path)?)),
        (None, Some(count)) => {
            let Ok(count) = u32::try_from(count.get()) else { bail!("--crops-grid {count} is too many") };
            CropPlan::Grid(count)
        }
        (None, None) => CropPlan::None,
    };
    let size = match (args.thumbnail, &crops) {
        (Some(size), _) => Some(size),
        (None, CropPlan::None) => Some(DEFAULT_THUMBNAIL),
        (None, _) => None,
    };
    let dataset = &args.dataset;
    let is_dataset = dataset.is_sharded();
    if is_dataset && !matches!(crops, CropPlan::None) {
        bail!(
            "--output-format {} makes one image per input row: --crops and --crops-grid go with --output-format files",
            dataset.format().name()
        );
    }
    let mode = match (dataset.resize_mode, args.crop) {
        (Some(mode), _) => mode,
        (None, true) => FitMode::Crop,
        (None, false) => FitMode::Fit,
    };
    let spec = ThumbnailSpec {
        size: size.unwrap_or(DEFAULT_THUMBNAIL),
        mode,
        format: OutputFormat::Jpg,
        quality: args.jpeg_quality,
        limits: Limits::default(),
    };
    let mut made = format!("quality {}", args.jpeg_quality);
    if let Some(BoxSize { width, height }) = size {
        let fit = match dataset.resize_mode {
            Some(mode) => mode.img2dataset_name(),
            None if args.crop => "crop",
            None => "fit",
        };
        made += &format!(", thumbnail {width}x{height} {fit}");
    }
    if is_dataset {
        made += &format!(", {} shards of {}", dataset.format().name(), dataset.shard_size);
    }
    match (&crops, &args.crops) {
        (CropPlan::Grid(count), _) => made += &format!(", crops grid {count}"),
        (CropPlan::Listed(_), Some(path)) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read --crops {}", path.display()))?;
            let digest = hex::encode(&Sha256::digest(&bytes)[..8]);
            made += &format!(", crops csv {digest}");
        }
        _ => {}
    }
    if let Some(ratio) = dataset.max_aspect_ratio
        && (ratio.is_nan() || ratio < 1.0)
    {
        bail!("--max-aspect-ratio must be a number of at least 1, not {ratio}");
    }
    let rules = dataset.output_format.is_some().then_some(SampleRules {
        min_image_size: dataset.min_image_size,
        max_aspect_ratio: dataset.max_aspect_ratio,
        compute_hash: dataset.compute_hash,
        keep_images: is_dataset,
    });
    Ok((Transform { spec, thumbnail: size.is_some(), crops, dataset: rules }, made))
}
