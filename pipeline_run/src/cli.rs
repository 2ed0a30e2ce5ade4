//! The flags, as clap parses them: the download flags every binary shares
//! (`common::cli`), this binary's own, the dataset flags (`dataset/`), the
//! cluster flags (`cluster/task.rs`) and the `merge` subcommand. The rules
//! clap can say (`conflicts_with`, `requires`) are said here; the few it
//! cannot (they depend on the environment or on a value) are checked once,
//! in `Plan::new`.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use common::DownloadArgs;
use common::thumbnail::{BoxSize, DEFAULT_QUALITY};

use crate::cluster::merge::MergeArgs;
use crate::cluster::task::TaskArgs;
use crate::dataset::DatasetArgs;

/// `--max-inflight-bytes` when not given: 512 MiB of downloaded images in
/// memory at once, eight of the largest accepted (`--max-bytes`, 64 MiB)
/// or thousands of ordinary photos, so the default concurrency never waits
/// on it for real images while a hostile list cannot take gigabytes.
const DEFAULT_INFLIGHT_BYTES: u64 = 512 * 1024 * 1024;

/// Download images, make thumbnails or crops, and store them.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) args: DownloadArgs,

    #[command(flatten)]
    pub(crate) pipeline: PipelineArgs,

    #[command(flatten)]
    pub(crate) task: TaskArgs,

    /// Run as a worker process fed by a parent over stdin (internal).
    #[arg(long, hide = true)]
    pub(crate) worker: bool,

    /// Whether `--out` was given: the download binaries' folder, which this
    /// binary does not use (its records go in `--store`).
    #[arg(skip)]
    pub(crate) out_given: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Add up the task records of a cluster job in --store DEST
    Merge(MergeArgs),
}

/// The flags of this binary beyond the download flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PipelineArgs {
    /// How the stages run: one loop, threads, worker processes or async tasks [default: async, the
    /// fastest here: downloads, thumbnails and uploads overlap, 100 downloads in flight for a few KB
    /// each, and the decoding on one thread per core]
    ///
    /// With 100 ms of latency, async took 0.38x the time of downloading everything and then making
    /// the thumbnails, threads and processes 0.45x (docs/PIPELINE.md). Processes are not the
    /// default: in Python they were the way past the GIL for the CPU stage, in Rust threads
    /// already are, and each worker adds a process start and one image at a time; they are for
    /// isolation (a decoder that crashes takes one worker down). What --concurrency counts, and its
    /// default, by mode: serial 1; threads 10 worker threads; processes
    /// one worker process per core and at least 5 (each holds one image at a time, and an image waits on its
    /// download and uploads much of the time, so fewer leave cores idle: 5 is multiprocessing_run's pool);
    /// async 100 images in flight, decoded on one thread per core.
    #[arg(long, value_enum, default_value_t = Mode::Async, hide_default_value = true)]
    pub(crate) mode: Mode,

    /// Read the images from this folder instead of downloading them
    #[arg(long, value_name = "DIR", conflicts_with_all = ["urls", "source", "from"])]
    pub(crate) input: Option<PathBuf>,

    /// Where objects go: a folder, file://folder, s3://bucket/prefix, gs://bucket/prefix or
    /// az://container/prefix; the run's records (failures.jsonl, metadata.jsonl, _records/) go
    /// there too, and a re-run resumes from what it holds
    ///
    /// Credentials and endpoints come from the environment, as the object_store crate reads them
    /// (every AWS_*, GOOGLE_* or AZURE_* variable it knows):
    ///   s3://  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_REGION or
    ///          AWS_DEFAULT_REGION; another endpoint (MinIO, R2...): AWS_ENDPOINT or AWS_ENDPOINT_URL,
    ///          and AWS_ALLOW_HTTP=true for plain http
    ///   gs://  GOOGLE_SERVICE_ACCOUNT (a key file's path) or GOOGLE_SERVICE_ACCOUNT_KEY (its JSON),
    ///          or GOOGLE_APPLICATION_CREDENTIALS; another endpoint: GOOGLE_BASE_URL
    ///   az://  AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, or AZURE_STORAGE_SAS_KEY,
    ///          or AZURE_STORAGE_CLIENT_ID, AZURE_STORAGE_CLIENT_SECRET and AZURE_STORAGE_TENANT_ID;
    ///          another endpoint: AZURE_STORAGE_ENDPOINT, and AZURE_ALLOW_HTTP=true for plain http
    /// One request to the store before any download: a missing bucket or a refused credential is
    /// one line, exit 2.
    #[arg(long, value_name = "DEST", default_value = "output", verbatim_doc_comment)]
    pub(crate) store: String,

    /// Keep the run's records (failures.jsonl, metadata.jsonl, _records/) in this local folder
    /// instead of in --store [default: in --store, beside the objects]
    #[arg(long, value_name = "DIR")]
    pub(crate) records: Option<PathBuf>,

    /// Make a thumbnail fitting this box [default: 128x128 when no crops are asked for]
    #[arg(long, value_name = "WxH")]
    pub(crate) thumbnail: Option<BoxSize>,

    /// Make the thumbnail fill its box exactly, cutting the centre out
    #[arg(long)]
    pub(crate) crop: bool,

    /// Cut the crops listed in this CSV (rows image,x,y,w,h or x,y,w,h) out of each image
    #[arg(long, value_name = "FILE.csv")]
    pub(crate) crops: Option<PathBuf>,

    /// Cut each image into N crops on a regular grid
    #[arg(long, value_name = "N", conflicts_with = "crops")]
    pub(crate) crops_grid: Option<NonZeroUsize>,

    /// JPEG quality of thumbnails and crops, 1-100 [default: 85: where artefacts stop showing at
    /// thumbnail size, about 4 KB a 128-px thumbnail]
    #[arg(hide_default_value = true, long, value_name = "N", default_value_t = DEFAULT_QUALITY, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub(crate) jpeg_quality: u8,

    /// Objects stored at once (per worker process in --mode processes) [default: 10, the original
    /// benchmark's upload pool]
    #[arg(long, value_name = "N")]
    pub(crate) uploads: Option<NonZeroUsize>,

    /// Bytes of downloaded images held in memory at once [default: 512 MiB]
    ///
    /// Bounds the bodies of every download in flight and every image downloaded and waiting for, or in, its
    /// thumbnail (not the decoded pixels or the outputs). A download waits for room, within its --timeout;
    /// one known to be large (Content-Length) reserves its size up front. At least --max-bytes. In --mode
    /// processes each worker gets an equal share, at least --max-bytes (one image at a time must fit).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_INFLIGHT_BYTES, hide_default_value = true)]
    pub(crate) max_inflight_bytes: u64,

    /// Write every image's events (queued, downloaded, transformed, stored, failed) as JSON lines
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
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
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Serial => "serial",
            Mode::Threads => "threads",
            Mode::Processes => "processes",
            Mode::Async => "async",
        }
    }
}

/// The command line, parsed; a flag clap refuses exits here, with status 2.
pub(crate) fn parse() -> Cli {
    // `--out` is the download binaries' folder; here records go beside the
    // objects, in `--store`, so the flag is hidden (and refused by the plan).
    let command = Cli::command()
        .mut_arg("out", |arg| arg.hide(true))
        .mut_arg("retry_failed", |arg| {
            arg.help(
                "Run again exactly the images the last run into --store failed (its failures.jsonl); with \
                 --output-format webdataset|parquet, repair the dataset in place: retry the failed rows of its \
                 complete shards and write again only the shards that gain a sample, every key kept. Add it to \
                 the first run's command line as it was: its --urls, --source, --from and --count are not read",
            )
        })
        // pipeline_run reads Parquet lists too (the `parquet` feature of `common`).
        .mut_arg("urls", |arg| {
            arg.help(
                "File of image URLs, its format by its name: one URL a line (# comments skipped); .csv or .tsv \
                 with a url column; .jsonl or .ndjson with a url field; any of them gzipped (.gz); .parquet with a \
                 url column (read a row group at a time)",
            )
        })
        .mut_arg("concurrency", |arg| {
            arg.help(
                "Images at once: threads, worker processes or downloads in flight, as --mode says [default: \
                 serial 1, threads 10, processes one per core and at least 5, async 100: see --mode]",
            )
        })
        .mut_arg("force", |arg| {
            arg.help(
                "Make images again that an earlier run into --store completed (by default they are skipped, \
                 with no request)",
            )
        });
    let matches = command.get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    cli.out_given = matches.value_source("out") == Some(clap::parser::ValueSource::CommandLine);
    cli
}
