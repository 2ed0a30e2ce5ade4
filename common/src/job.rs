//! Setting up a download run: everything that is not the methodology.
//!
//! [`DownloadJob::prepare`] reads the config, picks and opens the source
//! (starting the embedded origin if that is the source), prepares the output
//! folder and the HTTP client, and hooks Ctrl-C. What is left for a binary's
//! `main.rs` is the one thing that differs between methodologies: how the
//! [`Images`] are handed to [`Downloader::save`], and how many at once.

use std::time::Duration;

use thiserror::Error;

use crate::cli::{DEFAULT_COUNT, DownloadArgs};
use crate::config::{Config, ConfigError};
use crate::download::Downloader;
use crate::fetch::{FetchOptions, Fetcher};
use crate::files::{FilesError, OutputDir};
use crate::imgur::imgur_list;
use crate::metadata::{METADATA_FILE, MetadataLog, metadata_list};
use crate::report::{Tally, TallySetup};
use crate::source::{self, Images, Listing, SourceError, SourceKind};
use crate::stop::StopFlag;
use crate::unsplash::unsplash_list;
use crate::url_list::open_url_list;

/// Why a run could not start. Every message says what to fix.
#[derive(Debug, Error)]
pub enum SetupError {
    /// A flag's value cannot be used.
    #[error("{0}")]
    Usage(String),
    /// The config file or environment is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The source cannot be opened.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The output folder cannot be used.
    #[error(transparent)]
    Files(#[from] FilesError),
}

/// A download run, ready to go: what to download, how to download one, and
/// where the outcomes are counted.
#[derive(Debug)]
pub struct DownloadJob {
    /// The images to download, read lazily from the source.
    pub images: Images,
    /// Fetches and saves one image (blocking).
    pub downloader: Downloader,
    /// Counts outcomes and makes the report.
    pub tally: Tally,
}

/// A source, opened.
struct OpenSource {
    listing: Listing,
    label: String,
    limit: Option<usize>,
    keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
    /// API sources' records, written to `<out>/metadata.jsonl` as images are recorded.
    metadata: Option<MetadataLog>,
}

impl DownloadJob {
    /// Prepares a run of the binary `run` with `concurrency` downloads at once.
    pub fn prepare(run: &str, args: &DownloadArgs, concurrency: usize) -> Result<Self, SetupError> {
        let options = fetch_options(args)?;
        let config = Config::load(args.config.as_deref(), |name| std::env::var(name).ok())?;
        let kind = choose_source(args, &config);
        // Open the source before touching the output folder, so a typo in
        // --urls does not cost the images of the last run.
        let source = open_source(kind, args, &config)?;
        let metadata_writes = source.metadata.is_some() && !rereads_own_metadata(args)?;
        let out = OutputDir::prepare(&args.out, args.clean)?;
        let stop = StopFlag::on_ctrl_c();
        let images = Images::new(source.listing, source.limit, stop.clone());
        let tally = Tally::start(TallySetup {
            run: run.to_string(),
            source: source.label,
            concurrency,
            expected: source.limit,
            listing_problem: images.problem(),
            stop,
            keep_alive: source.keep_alive,
        });
        let tally = match source.metadata {
            Some(log) if metadata_writes => {
                log.open(out.path())
                    .map_err(|cause| FilesError::Write { path: out.path().join(METADATA_FILE), cause })?;
                tally.with_metadata(log)
            }
            _ => tally,
        };
        let downloader = Downloader::new(Fetcher::new(options), out);
        Ok(DownloadJob { images, downloader, tally })
    }
}

/// The downloader for a worker process of a multi-process run: the same
/// client and output folder as the parent's, and nothing else (the parent
/// lists the images, cleaned the folder and keeps the tally).
pub fn worker_downloader(args: &DownloadArgs) -> Result<Downloader, SetupError> {
    let out = OutputDir::prepare(&args.out, false)?;
    Ok(Downloader::new(Fetcher::new(fetch_options(args)?), out))
}

/// The `--timeout` flag as fetch options.
fn fetch_options(args: &DownloadArgs) -> Result<FetchOptions, SetupError> {
    let timeout = Duration::try_from_secs_f64(args.timeout).ok().filter(|t| !t.is_zero()).ok_or_else(|| {
        SetupError::Usage(format!("--timeout must be a positive number of seconds, not {}", args.timeout))
    })?;
    if args.max_bytes == 0 {
        return Err(SetupError::Usage("--max-bytes must be at least 1".into()));
    }
    Ok(FetchOptions { timeout, max_bytes: args.max_bytes })
}

/// `--source`, or the default: `urls` if `--urls` is given, else the first
/// API with a key configured, else the embedded origin.
pub fn choose_source(args: &DownloadArgs, config: &Config) -> SourceKind {
    if let Some(kind) = args.source {
        kind
    } else if args.urls.is_some() {
        SourceKind::Urls
    } else if args.from.is_some() {
        SourceKind::Metadata
    } else if config.unsplash.access_key.is_some() {
        SourceKind::Unsplash
    } else if config.imgur.client_id.is_some() {
        SourceKind::Imgur
    } else {
        SourceKind::Origin
    }
}

fn open_source(kind: SourceKind, args: &DownloadArgs, config: &Config) -> Result<OpenSource, SetupError> {
    match kind {
        SourceKind::Urls => {
            let path = args.urls.as_deref().ok_or(SourceError::MissingUrlFile)?;
            Ok(OpenSource {
                listing: open_url_list(path, args.url_column.as_deref())?,
                label: format!("urls {}", path.display()),
                limit: args.count,
                keep_alive: None,
                metadata: None,
            })
        }
        SourceKind::Origin => {
            let count = args.count.unwrap_or(DEFAULT_COUNT);
            let settings = &config.origin;
            let origin = origin::start(origin::OriginConfig {
                count,
                latency: settings.latency,
                jitter: settings.jitter,
                photos_dir: settings.photos_dir.clone(),
                ..origin::OriginConfig::default()
            })
            .map_err(SourceError::Origin)?;
            let label = format!(
                "origin {} ({} ± {} ms)",
                origin.base_url(),
                settings.latency.as_millis(),
                settings.jitter.as_millis()
            );
            Ok(OpenSource {
                listing: source::origin_list(origin.base_url(), count),
                label,
                limit: Some(count),
                keep_alive: Some(Box::new(origin)),
                metadata: None,
            })
        }
        SourceKind::Unsplash => {
            let count = args.count.unwrap_or(DEFAULT_COUNT);
            let log = MetadataLog::new();
            Ok(OpenSource {
                listing: unsplash_list(&config.unsplash, args.quality, count, log.clone())?,
                label: format!("unsplash {} ({} photos)", config.unsplash.api_base, args.quality.name()),
                limit: Some(count),
                keep_alive: None,
                metadata: Some(log),
            })
        }
        SourceKind::Imgur => {
            let count = args.count.unwrap_or(DEFAULT_COUNT);
            let log = MetadataLog::new();
            Ok(OpenSource {
                listing: imgur_list(&config.imgur, count, log.clone())?,
                label: format!("imgur {}/3/gallery/{}", config.imgur.api_base, config.imgur.gallery),
                limit: Some(count),
                keep_alive: None,
                metadata: Some(log),
            })
        }
        SourceKind::Metadata => {
            let path = args.from.as_deref().ok_or(SourceError::MissingMetadataFile)?;
            let log = MetadataLog::new();
            Ok(OpenSource {
                listing: metadata_list(path, log.clone())?,
                label: format!("metadata {}", path.display()),
                limit: args.count,
                keep_alive: None,
                metadata: Some(log),
            })
        }
    }
}

/// Whether `--from` is the very `metadata.jsonl` this run would write to.
/// Then its records are already there and are not written again (appending
/// to the file being read would never end), and `--clean`, which would
/// delete it, is refused.
fn rereads_own_metadata(args: &DownloadArgs) -> Result<bool, SetupError> {
    let Some(from) = &args.from else {
        return Ok(false);
    };
    let same = match (from.canonicalize(), args.out.join(METADATA_FILE).canonicalize()) {
        (Ok(from), Ok(own)) => from == own,
        _ => false,
    };
    if same && args.clean {
        return Err(SetupError::Usage(format!(
            "--clean would delete {}, which --from reads; copy it elsewhere first or drop --clean",
            from.display()
        )));
    }
    Ok(same)
}
