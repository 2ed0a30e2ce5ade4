//! The plan: the flags, checked once and turned into what a run takes
//! (ripgrep's `hiargs`). Clap has refused what it can (`cli.rs`); here are
//! the rules that depend on the environment or on a value, each once, and
//! then the source, the transform, the store, the output format, the
//! cluster task and the limits, made once. Every mode, the worker
//! processes and a cluster task's record take them from here.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use common::DownloadArgs;
use common::fetch::ByteBudget;
use common::sources::ListColumns;
use common::thumbnail::{BoxSize, FitMode, Limits, OutputFormat, ThumbnailSpec};
use sha2::{Digest, Sha256};

use crate::cli::{Cli, Mode, PipelineArgs};
use crate::cluster::task::Task;
use crate::crop_specs::CropSpecs;
use crate::dataset::repair::RepairSummary;
use crate::dataset::{Dataset, DatasetArgs, Keys, SampleRules};
use crate::modes;
use crate::store::{Store, open_store};
use crate::work::{CropPlan, Source, Transform, Work};

/// The thumbnail made when neither `--thumbnail` nor crops are asked for:
/// the original assignments' 128x128 box.
const DEFAULT_THUMBNAIL: BoxSize = BoxSize { width: 128, height: 128 };

/// Uploads at once when `--uploads` is not given: the original benchmark's
/// upload pool.
const DEFAULT_UPLOADS: usize = 10;

/// A run, planned from its flags.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The download flags (the source, the fetch rules, resume).
    pub(crate) args: DownloadArgs,
    /// `--input DIR`: images on disk instead of a source.
    pub(crate) input: Option<PathBuf>,
    /// The columns of a URL list the run reads.
    pub(crate) columns: ListColumns,
    /// What is made of each image, and its canonical description (records
    /// of complete images and task records name it).
    pub(crate) transform: Transform,
    pub(crate) made: String,
    /// Where objects go; its records are the task's own with a task.
    pub(crate) store: Store,
    /// The output format and the dataset flags.
    pub(crate) dataset: DatasetArgs,
    /// This process's task of a cluster job, if it is one.
    pub(crate) task: Option<Task>,
    pub(crate) mode: Mode,
    /// Images at once, and objects stored at once.
    pub(crate) concurrency: usize,
    pub(crate) uploads: usize,
    /// `--max-inflight-bytes`.
    max_inflight_bytes: u64,
    /// `--trace FILE`.
    pub(crate) trace: Option<PathBuf>,
}

impl Plan {
    /// Checks the rules clap cannot say, then makes the run's parts; an
    /// error is one line for the user (status 2).
    pub(crate) fn new(cli: &Cli) -> anyhow::Result<Plan> {
        let (args, flags) = (&cli.args, &cli.pipeline);
        if cli.out_given {
            bail!("pipeline_run stores into --store DEST and keeps its records there; --out is not used");
        }
        // Before anything is listed, fetched or stored: a clash would make
        // every sample's metadata unreadable.
        flags.dataset.check_saved_columns().map_err(anyhow::Error::msg)?;
        let task = Task::resolve(&cli.task, |name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;
        if task.is_some() && args.flags.clean {
            bail!(
                "--clean cannot go with a cluster task: one task would delete the others' objects; empty the store \
                 once before the job"
            );
        }
        // A task's record counts its failures; a retry of some of them
        // would leave the record, and merge's sums, wrong.
        if task.is_some() && args.retry_failed {
            bail!(
                "--retry-failed cannot go with a cluster task (--task-index): its record would no longer add up; \
                 --force makes the task again"
            );
        }
        if flags.dataset.is_sharded() && args.retry_failed && args.flags.clean {
            bail!("--clean would delete the shards that --retry-failed repairs; drop --clean");
        }
        // A budget that cannot hold one image is a usage error, before anything starts.
        inflight_budget(flags.max_inflight_bytes, args.max_bytes, 1)?;
        // The transform and the store come next: a bad crops file or an
        // unknown store ends the run before anything is listed.
        let (transform, made) = transform(flags)?;
        let store = open_store(&flags.store, flags.records.as_deref())?;
        let mode = flags.mode;
        Ok(Plan {
            args: args.clone(),
            input: flags.input.clone(),
            columns: flags.dataset.list_columns(args.url_column.as_deref()),
            transform,
            made,
            store,
            dataset: flags.dataset.clone(),
            task,
            mode,
            concurrency: args.concurrency_or(modes::default_concurrency(mode)),
            uploads: flags.uploads.map_or(DEFAULT_UPLOADS, NonZeroUsize::get),
            max_inflight_bytes: flags.max_inflight_bytes,
            trace: flags.trace.clone(),
        })
    }

    /// The store as the run uses it: a task keeps its records in its own
    /// `_shards/<I>/`.
    pub(crate) fn run_store(&self) -> anyhow::Result<Store> {
        match self.task {
            Some(task) => self.store.clone().with_records_within(&task.records_prefix()),
            None => Ok(self.store.clone()),
        }
    }

    /// `--max-inflight-bytes` as the budget of one of `sharers` processes
    /// (an equal share, at least `--max-bytes`: a worker holds one image at
    /// a time, and the largest accepted must fit). The rule the budget
    /// keeps is in `common::fetch::ByteBudget`'s module docs.
    pub(crate) fn budget(&self, sharers: usize) -> anyhow::Result<ByteBudget> {
        inflight_budget(self.max_inflight_bytes, self.args.max_bytes, sharers)
    }

    /// The download flags as `common` should see them: `--out` is the
    /// records folder when the records are in one (`common` checks that
    /// `--from` is not the very `metadata.jsonl` the run writes to); an
    /// object store's records are read and written through the store alone.
    pub(crate) fn download_args(&self, store: &Store) -> DownloadArgs {
        match store.records().as_local() {
            Some(folder) => DownloadArgs { out: folder.path().to_path_buf(), ..self.args.clone() },
            None => self.args.clone(),
        }
    }

    /// The dataset the flags ask for (`--output-format`), stored into
    /// `store`; `None` without the flag (loose files, no shard metadata). A
    /// cluster task's loose files have their rows spread over every task,
    /// so its shard metadata goes in `_shards/<I>/`. With `repair` (what
    /// `--retry-failed` found), it repairs the complete shards instead.
    pub(crate) fn dataset(&self, store: &Store, repair: Option<RepairSummary>) -> Option<Arc<Dataset>> {
        let flags = &self.dataset;
        let format = flags.output_format?;
        let keys = Keys::new(flags.shard_size);
        let prefix = match self.task {
            Some(task) if !format.shards().holds_images() => format!("{}/", task.records_prefix()),
            _ => String::new(),
        };
        let caption = flags.caption_column.is_some();
        let store = (store.clone(), prefix);
        let dataset =
            Dataset::new(format, keys, store, caption, &flags.save_columns, (flags.compute_hash, flags.extract_exif))
                .making(&self.made);
        Some(Arc::new(match repair {
            Some(found) => dataset.repairing(found),
            None => dataset,
        }))
    }

    /// What a worker process of `--mode processes` needs: the same stages
    /// as the parent's (its own client, the same transform and store), and
    /// how many upload threads to start. The parent lists, cleans and counts.
    pub(crate) fn worker_work(&self) -> anyhow::Result<(Work, usize)> {
        let store = self.run_store()?;
        let args = self.download_args(&store);
        let source = match self.input {
            Some(_) => Source::Disk { max_bytes: args.max_bytes },
            None => {
                // Processes share no memory: each worker keeps its share of the budget.
                let downloader = common::run::worker_downloader_into(&args, store.objects().clone())?;
                Source::Network(Box::new(downloader.with_budget(self.budget(self.concurrency)?)))
            }
        };
        Ok((Work { source, transform: self.transform.clone(), store }, self.uploads))
    }
}

/// See [`Plan::budget`].
fn inflight_budget(total: u64, largest: u64, sharers: usize) -> anyhow::Result<ByteBudget> {
    if total < largest {
        bail!("--max-inflight-bytes ({total}) must be at least --max-bytes ({largest}): one image must fit");
    }
    let share = (total / sharers.max(1) as u64).max(largest);
    ByteBudget::new(share, largest).map_err(anyhow::Error::msg)
}

/// What is made of each image, typed: the identity of the outputs, which
/// records of complete images and task records name (a re-run asking for
/// other outputs makes them again).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct Made {
    quality: u8,
    /// The box and how the image is fitted to it (`fit`, `crop`, or an
    /// img2dataset resize mode).
    thumbnail: Option<((u32, u32), &'static str)>,
    /// The dataset format's name and its rows per shard.
    shards: Option<(&'static str, u64)>,
    crops: MadeCrops,
}

/// The crops of [`Made`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
enum MadeCrops {
    None,
    Grid(u32),
    /// A CSV of crops, by the first 8 bytes of its SHA-256.
    Csv(String),
}

impl Made {
    /// The canonical text: the one records already written hold, so a job
    /// that started before this code is the same job after it.
    fn canonical(&self) -> String {
        let mut text = format!("quality {}", self.quality);
        if let Some(((width, height), fit)) = self.thumbnail {
            text += &format!(", thumbnail {width}x{height} {fit}");
        }
        if let Some((format, size)) = self.shards {
            text += &format!(", {format} shards of {size}");
        }
        match &self.crops {
            MadeCrops::Grid(count) => text += &format!(", crops grid {count}"),
            MadeCrops::Csv(digest) => text += &format!(", crops csv {digest}"),
            MadeCrops::None => {}
        }
        text
    }
}

/// What is made of each image, from the flags, and its canonical description.
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
    let fit = match dataset.resize_mode {
        Some(mode) => mode.img2dataset_name(),
        None if args.crop => "crop",
        None => "fit",
    };
    let made = Made {
        quality: args.jpeg_quality,
        thumbnail: size.map(|size| ((size.width, size.height), fit)),
        shards: is_dataset.then(|| (dataset.format().name(), dataset.shard_size)),
        crops: match (&crops, &args.crops) {
            (CropPlan::Grid(count), _) => MadeCrops::Grid(*count),
            (CropPlan::Listed(_), Some(path)) => {
                let bytes = std::fs::read(path).with_context(|| format!("cannot read --crops {}", path.display()))?;
                MadeCrops::Csv(hex::encode(&Sha256::digest(&bytes)[..8]))
            }
            _ => MadeCrops::None,
        },
    };
    if let Some(ratio) = dataset.max_aspect_ratio
        && (ratio.is_nan() || ratio < 1.0)
    {
        bail!("--max-aspect-ratio must be a number of at least 1, not {ratio}");
    }
    let rules = dataset.output_format.is_some().then_some(SampleRules {
        min_image_size: dataset.min_image_size,
        max_aspect_ratio: dataset.max_aspect_ratio,
        compute_hash: dataset.compute_hash,
        extract_exif: dataset.extract_exif,
        keep_images: is_dataset,
    });
    Ok((Transform { spec, thumbnail: size.is_some(), crops, dataset: rules }, made.canonical()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical text of what is made is the text records already
    /// written hold: a change would make every image of a resumed run, and
    /// every finished task of a running job, again.
    #[test]
    fn the_canonical_text_is_stable() {
        let made = Made {
            quality: 85,
            thumbnail: Some(((256, 256), "border")),
            shards: Some(("webdataset", 10_000)),
            crops: MadeCrops::None,
        };
        assert_eq!(made.canonical(), "quality 85, thumbnail 256x256 border, webdataset shards of 10000");
        let crops = Made { thumbnail: None, shards: None, crops: MadeCrops::Grid(4), ..made.clone() };
        assert_eq!(crops.canonical(), "quality 85, crops grid 4");
        let csv = Made { crops: MadeCrops::Csv("0123456789abcdef".into()), ..made };
        assert!(csv.canonical().ends_with(", webdataset shards of 10000, crops csv 0123456789abcdef"));
    }
}
