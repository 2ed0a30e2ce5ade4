//! The one command-line contract every download binary shares.
//!
//! Each binary flattens [`DownloadArgs`] into its own `clap` parser, so the
//! flags cannot drift between methodologies:
//!
//! ```text
//! --count N  --out DIR  --urls FILE  --source origin|urls|unsplash|imgur|metadata
//! --config FILE  --clean  --json  --concurrency N  --timeout SECS  --max-bytes N
//! --quality raw|full|regular|small|thumb  --from FILE  --url-column NAME
//! ```

use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::source::SourceKind;
use crate::thumbnail::{BoxSize, DEFAULT_QUALITY, FitMode, Limits, OutputFormat, ThumbnailSpec};
use crate::unsplash::Quality;

/// How many images a run downloads when `--count` is not given and the
/// source is not a URL list: the size of the original assignments' runs.
pub const DEFAULT_COUNT: usize = 100;

/// Flags shared by every download binary.
#[derive(Debug, Clone, clap::Args)]
pub struct DownloadArgs {
    /// How many images to download [default: 100; with --urls or --from, every one listed]
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,

    /// Folder to save images into (created if missing)
    #[arg(long, value_name = "DIR", default_value = "images")]
    pub out: PathBuf,

    /// File of image URLs: one a line (# comments skipped), or .csv/.tsv with a url column, or
    /// .jsonl with a url field; gzip-compressed too
    #[arg(long, value_name = "FILE")]
    pub urls: Option<PathBuf>,

    /// Where images come from [default: urls if --urls is given, metadata if --from is, else the
    /// first API with a key configured, else the embedded origin]
    #[arg(long, value_enum)]
    pub source: Option<SourceKind>,

    /// Config file with API keys [default: config.ini if present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Remove images left by an earlier run from the output folder first
    #[arg(long)]
    pub clean: bool,

    /// Print one JSON summary on stdout (the human summary stays on stderr)
    #[arg(long)]
    pub json: bool,

    /// How many downloads at once (each binary has its own default)
    #[arg(long, value_name = "N")]
    pub concurrency: Option<NonZeroUsize>,

    /// Give up on one image after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub timeout: f64,

    /// Refuse an image larger than this many bytes [default: 64 MiB]
    #[arg(long, value_name = "N", default_value_t = crate::fetch::DEFAULT_MAX_BYTES)]
    pub max_bytes: u64,

    /// Which Unsplash size to download (raw, full, regular = 1080 px wide, small, thumb)
    #[arg(long, value_enum, default_value_t = Quality::Regular)]
    pub quality: Quality,

    /// metadata.jsonl of an earlier Unsplash or Imgur run, to download again without API calls
    /// (implies --source metadata)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// The column (CSV, TSV) or field (JSON lines) of --urls that holds the URL [default: url]
    #[arg(long, value_name = "NAME")]
    pub url_column: Option<String>,
}

impl DownloadArgs {
    /// The concurrency asked for, or the methodology's default.
    pub fn concurrency_or(&self, default: usize) -> usize {
        self.concurrency.map_or(default, NonZeroUsize::get)
    }
}

/// Flags shared by the two thumbnail binaries (`resize_serial` and
/// `resize_parallel`), so their contract cannot drift either:
///
/// ```text
/// --input DIR  --output DIR  --size WxH  --crop  --format jpg|png|webp
/// --quality N  --clean  --json  --threads N (resize_parallel only)
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct ResizeArgs {
    /// Folder of images to make thumbnails of (not searched recursively)
    #[arg(long, value_name = "DIR", default_value = "images")]
    pub input: PathBuf,

    /// Folder to write `<name>_thumbnail.<ext>` files into (created if missing)
    #[arg(long, value_name = "DIR", default_value = "thumbnails")]
    pub output: PathBuf,

    /// The box: thumbnails fit inside it (or fill it with --crop); never upscaled
    #[arg(long, value_name = "WxH", default_value = "128x128")]
    pub size: BoxSize,

    /// Fill the box exactly, cutting the centre out, instead of fitting inside it
    #[arg(long)]
    pub crop: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Jpg)]
    pub format: OutputFormat,

    /// JPEG quality, 1-100
    #[arg(long, value_name = "N", default_value_t = DEFAULT_QUALITY,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,

    /// Remove thumbnails an earlier run wrote into the output folder first
    /// (only `*_thumbnail.*` files and partial files; nothing else)
    #[arg(long)]
    pub clean: bool,

    /// Print one JSON summary on stdout (the human summary stays on stderr)
    #[arg(long)]
    pub json: bool,

    /// Worker threads [default: every core]; resize_serial always uses one
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

impl ResizeArgs {
    /// What the thumbnails look like, as the flags say.
    pub fn spec(&self) -> ThumbnailSpec {
        ThumbnailSpec {
            size: self.size,
            mode: if self.crop { FitMode::Crop } else { FitMode::Fit },
            format: self.format,
            quality: self.quality,
            limits: Limits::default(),
        }
    }
}
