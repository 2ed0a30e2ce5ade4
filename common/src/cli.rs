//! The one command-line contract every binary shares.
//!
//! Each binary flattens these `clap` structs into its own parser, so the
//! flags cannot drift between methodologies:
//!
//! ```text
//! OutputFlags:    --clean  --json
//! DownloadArgs:   --count N  --out DIR  --urls FILE  --source origin|urls|unsplash|imgur|metadata
//!                 --config FILE  --concurrency N  --per-host N  --timeout SECS  --connect-timeout SECS
//!                 --retries N  --max-bytes N  --user-agent TEXT
//!                 --unsplash-size raw|full|regular|small|thumb  --from FILE  --url-column NAME
//!                 --force  --retry-failed  --disallowed-header-directives LIST  --respect-robots-txt
//! ThumbnailArgs:  --size WxH  --crop  --format jpg|png|webp  --jpeg-quality N
//! ResizeArgs:     --input DIR  --output DIR  --threads N  (+ ThumbnailArgs, OutputFlags)
//! ```
//!
//! `--quality` is kept as an alias of `--unsplash-size` in the download
//! binaries and of `--jpeg-quality` in the thumbnail binaries, where it has
//! always meant that.
//!
//! Flags that one binary alone uses (a dataset's `--caption-column`, for
//! instance) live in that binary, so no binary's `--help` lists a flag it
//! ignores.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::sources::{Quality, SourceKind};
use crate::thumbnail::{BoxSize, DEFAULT_QUALITY, FitMode, Limits, OutputFormat, ThumbnailSpec};

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

    /// File of image URLs, its format by its name: one URL a line (# comments skipped); .csv or
    /// .tsv with a url column; .jsonl or .ndjson with a url field; any of them gzipped (.gz)
    #[arg(long, value_name = "FILE")]
    pub urls: Option<PathBuf>,

    /// Where images come from [default: urls if --urls is given, metadata if --from is, else the
    /// first API with a key configured, else the embedded origin]
    #[arg(long, value_enum)]
    pub source: Option<SourceKind>,

    /// Config file with API keys [default: config.ini if present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub flags: OutputFlags,

    /// How the downloads name themselves to servers (the User-Agent header) [default: this
    /// project and its version, thumbnails-rs/VERSION]
    #[arg(long, value_name = "TEXT")]
    pub user_agent: Option<String>,

    /// How many downloads at once (each binary has its own default, in its --help)
    #[arg(long, value_name = "N")]
    pub concurrency: Option<NonZeroUsize>,

    /// Give up on one attempt at an image after this many seconds, from the request to the last
    /// byte of the body
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub timeout: f64,

    /// Give up connecting to a host (name lookup, TCP, TLS) after this many seconds [within
    /// --timeout]
    #[arg(long, value_name = "SECS", default_value_t = crate::fetch::DEFAULT_CONNECT_TIMEOUT.as_secs_f64())]
    pub connect_timeout: f64,

    /// Try a failed image again this many times, for failures time can cure (5xx, 429, timeouts,
    /// resets), with backoff; 0 never retries
    #[arg(long, value_name = "N", default_value_t = crate::fetch::DEFAULT_RETRIES)]
    pub retries: u32,

    /// At most this many requests at once to one host [default: as many as --concurrency, fewer
    /// while a host answers 429 or 503: the limit adapts]
    #[arg(long, value_name = "N")]
    pub per_host: Option<NonZeroUsize>,

    /// Refuse an image larger than this many bytes [default: 64 MiB: Unsplash's raw photos reach
    /// ~40 MB; beyond that a body is a mistake or an attack, not a photo]
    #[arg(long, value_name = "N", default_value_t = crate::fetch::DEFAULT_MAX_BYTES, hide_default_value = true)]
    pub max_bytes: u64,

    /// Which Unsplash size to download (raw, full, regular = 1080 px wide, small, thumb)
    #[arg(long, alias = "quality", value_enum, default_value_t = Quality::Regular)]
    pub unsplash_size: Quality,

    /// metadata.jsonl of an earlier Unsplash or Imgur run, to download again without API calls
    /// (implies --source metadata)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// The column (CSV, TSV) or field (JSON lines) of --urls that holds the URL [default: url]
    #[arg(long, value_name = "NAME")]
    pub url_column: Option<String>,

    /// Download images again that an earlier run into --out completed (by default they are
    /// skipped, with no request)
    #[arg(long)]
    pub force: bool,

    /// Run again exactly the images the last run into --out failed, as its failures.jsonl lists
    /// them (same names, same metadata); the first run's command line may stay as it was: its
    /// --urls, --source, --from and --count are then not read
    #[arg(long)]
    pub retry_failed: bool,

    /// Refuse an image whose X-Robots-Tag header has one of these directives (comma-separated;
    /// also when aimed at thumbnails-rs or img2dataset, as in `img2dataset: noai`): the site's
    /// opt-out, as img2dataset honours it. An empty value ('') turns the check off
    #[arg(long, value_name = "LIST", default_value = DEFAULT_DISALLOWED_DIRECTIVES)]
    pub disallowed_header_directives: String,

    /// Ask each host's /robots.txt first (once a run; 5 s and 500 KiB at most) and refuse the
    /// images it disallows to --user-agent's name (failed as `disallowed`, never retried, no
    /// request sent); a missing or broken robots.txt allows everything
    #[arg(long)]
    pub respect_robots_txt: bool,
}

/// `--disallowed-header-directives` when not given: img2dataset's default
/// ([`crate::fetch::IMG2DATASET_DISALLOWED_DIRECTIVES`]).
const DEFAULT_DISALLOWED_DIRECTIVES: &str = "noai,noimageai,noindex,noimageindex";

impl DownloadArgs {
    /// The flags that choose and cap the input, as given. With
    /// `--retry-failed` they are the first run's, left on its command line
    /// so that "the same command plus `--retry-failed`" works: the failures
    /// come from the records, and these are not read.
    pub fn input_flags_given(&self) -> Vec<&'static str> {
        let given = [
            ("--urls", self.urls.is_some()),
            ("--source", self.source.is_some()),
            ("--from", self.from.is_some()),
            ("--count", self.count.is_some()),
        ];
        given.into_iter().filter_map(|(flag, given)| given.then_some(flag)).collect()
    }

    /// The one line a `--retry-failed` run prints when the first run's
    /// input flags are on its command line: where the failures come from,
    /// and that those flags are not read (`None` when none is given).
    pub fn retry_note(&self, records: &str) -> Option<String> {
        let unread = self.input_flags_given();
        let verb = if unread.len() == 1 { "is" } else { "are" };
        (self.retry_failed && !unread.is_empty()).then(|| {
            format!(
                "--retry-failed: retrying the failures recorded in {records}; {} {verb} not read",
                unread.join(", ")
            )
        })
    }

    /// The concurrency asked for, or the methodology's default.
    pub fn concurrency_or(&self, default: usize) -> usize {
        self.concurrency.map_or(default, NonZeroUsize::get)
    }

    /// `--disallowed-header-directives` as a list: trimmed, lower-case,
    /// empty items dropped (so `''` is no check at all).
    pub fn disallowed_directives(&self) -> Vec<String> {
        self.disallowed_header_directives
            .split(',')
            .map(|directive| directive.trim().to_ascii_lowercase())
            .filter(|directive| !directive.is_empty())
            .collect()
    }
}

/// The output flags every binary has: start clean, report as JSON.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputFlags {
    /// Remove what an earlier run wrote into the output folder first (only
    /// the files this binary writes, and partial files; nothing else)
    #[arg(long)]
    pub clean: bool,

    /// Print one JSON summary on stdout (the human summary stays on stderr)
    #[arg(long)]
    pub json: bool,
}

/// What the thumbnails look like: the flags of every binary that makes them.
#[derive(Debug, Clone, clap::Args)]
pub struct ThumbnailArgs {
    /// The box: thumbnails fit inside it (or fill it with --crop); never upscaled
    #[arg(long, value_name = "WxH", default_value = "128x128")]
    pub size: BoxSize,

    /// Fill the box exactly, cutting the centre out, instead of fitting inside it
    #[arg(long)]
    pub crop: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Jpg)]
    pub format: OutputFormat,

    /// JPEG quality, 1-100 [default: 85: where artefacts stop showing at thumbnail size, about 4 KB a
    /// 128-px thumbnail]
    #[arg(long, alias = "quality", value_name = "N", default_value_t = DEFAULT_QUALITY, hide_default_value = true,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub jpeg_quality: u8,
}

impl ThumbnailArgs {
    /// What the thumbnails look like, as the flags say.
    pub fn spec(&self) -> ThumbnailSpec {
        ThumbnailSpec {
            size: self.size,
            mode: if self.crop { FitMode::Crop } else { FitMode::Fit },
            format: self.format,
            quality: self.jpeg_quality,
            limits: Limits::default(),
        }
    }
}

/// Flags shared by the two thumbnail binaries (`resize_serial` and
/// `resize_parallel`), so their contract cannot drift either.
#[derive(Debug, Clone, clap::Args)]
pub struct ResizeArgs {
    /// Folder of images to make thumbnails of (not searched recursively)
    #[arg(long, value_name = "DIR", default_value = "images")]
    pub input: PathBuf,

    /// Folder to write `<name>_thumbnail.<ext>` files into (created if missing)
    #[arg(long, value_name = "DIR", default_value = "thumbnails")]
    pub output: PathBuf,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub thumbnail: ThumbnailArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub flags: OutputFlags,

    /// Worker threads [default: every core]; resize_serial always uses one
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Download {
        #[command(flatten)]
        args: DownloadArgs,
    }

    #[derive(Debug, Parser)]
    struct Resize {
        #[command(flatten)]
        args: ResizeArgs,
    }

    /// The shared flags are every download binary's: none that one binary
    /// alone reads (the dataset flags live in that binary), so a teaching
    /// binary's `--help` lists none of them.
    #[test]
    fn no_flag_of_one_binary_alone() {
        let help = Download::command().render_long_help().to_string();
        assert!(help.contains("--url-column"), "{help}");
        for flag in ["--caption-column", "--save-columns", "--output-format", "--shard-size"] {
            assert!(!help.contains(flag), "{flag} is in the shared flags");
        }
    }

    /// `--disallowed-header-directives` defaults to img2dataset's four, takes
    /// a list, and `''` turns the check off.
    #[test]
    fn disallowed_directives_flag() {
        let parsed = |extra: &[&str]| Download::try_parse_from(["x"].iter().chain(extra)).unwrap().args;
        assert_eq!(parsed(&[]).disallowed_directives(), crate::fetch::IMG2DATASET_DISALLOWED_DIRECTIVES);
        let listed = parsed(&["--disallowed-header-directives", " NoAI, ,noindex "]);
        assert_eq!(listed.disallowed_directives(), ["noai", "noindex"]);
        assert!(parsed(&["--disallowed-header-directives", ""]).disallowed_directives().is_empty());
    }

    /// `--retry-failed` is a source of its own, and takes the first run's
    /// command line as it was: its input flags are accepted, and the note
    /// says they are not read.
    #[test]
    fn retry_failed_takes_the_first_runs_command_line() {
        let args = Download::try_parse_from(["x", "--retry-failed", "--out", "o", "--force"]).unwrap().args;
        assert!(args.retry_failed && args.force);
        assert_eq!(args.retry_note("o"), None, "nothing to say when no input flag is given");
        let first = ["x", "--urls", "u.txt", "--count", "3", "--out", "o"];
        let again = Download::try_parse_from(first.iter().chain(&["--retry-failed"])).unwrap().args;
        assert_eq!(
            again.retry_note("o").as_deref(),
            Some("--retry-failed: retrying the failures recorded in o; --urls, --count are not read")
        );
        let first = Download::try_parse_from(first).unwrap().args;
        assert_eq!(first.retry_note("o"), None, "only a retry says it");
    }
}
