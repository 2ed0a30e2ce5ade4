//! Setting up a download run: everything that is not the methodology.
//!
//! [`DownloadJob::prepare`] reads the config, picks and opens the source
//! (starting the embedded origin if that is the source), prepares the output
//! folder and the HTTP client, and hooks Ctrl-C. What is left for a binary's
//! `main.rs` is the one thing that differs between methodologies: how the
//! [`Images`] are handed to [`Downloader::download`], and how many at once.
//! Each [`Outcome`] goes to the job's [`Tally`], which counts it, writes it
//! to the ledger and makes the [`RunReport`].

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use thiserror::Error;

use super::download::Downloader;
use super::items::Images;
use super::ledger::{Ledger, METADATA_FILE};
use super::outcome::{Failed, ItemError, Outcome};
use super::report::{Failure, RunReport};
use super::stop::StopFlag;
use super::tally::Counter;
use crate::cli::{DEFAULT_COUNT, DownloadArgs};
use crate::config::{Config, ConfigError};
use crate::fetch::{FetchOptions, Fetcher, HostLimits, RetryPolicy};
use crate::formats;
use crate::sink::{LocalDir, SinkError};
use crate::sources::{
    Item, Listing, SourceError, SourceKind, imgur_list, metadata_list, open_url_list, origin_list, unsplash_list,
};

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
    Sink(#[from] SinkError),
}

/// A download run, ready to go: what to download, how to download one, and
/// where the outcomes are counted.
#[derive(Debug)]
pub struct DownloadJob {
    /// The images to download, read lazily from the source.
    pub images: Images,
    /// Fetches and stores one image (blocking).
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
    /// Whether its items carry API records, for `<out>/metadata.jsonl`.
    has_records: bool,
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
        let metadata_writes = source.has_records && !rereads_own_metadata(args)?;
        let out = download_folder(&args.out, args.flags.clean)?;
        let ledger = if metadata_writes {
            let path = out.path().join(METADATA_FILE);
            Ledger::with_metadata(out.path()).map_err(|cause| SinkError::write(&path, &cause))?
        } else {
            Ledger::default()
        };
        let stop = StopFlag::on_ctrl_c();
        let images = Images::new(source.listing, source.limit, stop.clone());
        let tally = Tally {
            counter: Counter::start(run, source.limit),
            run: run.to_string(),
            source: source.label,
            concurrency,
            listing_problem: images.problem(),
            stop,
            keep_alive: source.keep_alive,
            ledger,
            retried: AtomicUsize::new(0),
            stopped: Mutex::new(None),
        };
        let downloader = Downloader::new(Fetcher::new(options), out)
            .with_retries(retry_policy(args))
            .with_hosts(HostLimits::new(args.per_host.map(NonZeroUsize::get)));
        Ok(DownloadJob { images, downloader, tally })
    }
}

/// The downloader for a worker process of a multi-process run: the same
/// client and output folder as the parent's, and nothing else (the parent
/// lists the images, cleaned the folder and keeps the tally).
pub fn worker_downloader(args: &DownloadArgs) -> Result<Downloader, SetupError> {
    let out = download_folder(&args.out, false)?;
    // Each worker process has limits of its own: one image at a time each,
    // so a host sees at most as many requests as there are workers.
    Ok(Downloader::new(Fetcher::new(fetch_options(args)?), out)
        .with_retries(retry_policy(args))
        .with_hosts(HostLimits::new(args.per_host.map(NonZeroUsize::get))))
}

/// The `--retries` flag as a policy.
fn retry_policy(args: &DownloadArgs) -> RetryPolicy {
    RetryPolicy { retries: args.retries }
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
fn choose_source(args: &DownloadArgs, config: &Config) -> SourceKind {
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
                has_records: false,
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
                listing: origin_list(origin.base_url(), count),
                label,
                limit: Some(count),
                keep_alive: Some(Box::new(origin)),
                has_records: false,
            })
        }
        SourceKind::Unsplash => {
            let count = args.count.unwrap_or(DEFAULT_COUNT);
            Ok(OpenSource {
                listing: unsplash_list(&config.unsplash, args.unsplash_size, count)?,
                label: format!("unsplash {} ({} photos)", config.unsplash.api_base, args.unsplash_size.name()),
                limit: Some(count),
                keep_alive: None,
                has_records: true,
            })
        }
        SourceKind::Imgur => {
            let count = args.count.unwrap_or(DEFAULT_COUNT);
            Ok(OpenSource {
                listing: imgur_list(&config.imgur, count)?,
                label: format!("imgur {}/3/gallery/{}", config.imgur.api_base, config.imgur.gallery),
                limit: Some(count),
                keep_alive: None,
                has_records: true,
            })
        }
        SourceKind::Metadata => {
            let path = args.from.as_deref().ok_or(SourceError::MissingMetadataFile)?;
            Ok(OpenSource {
                listing: metadata_list(path)?,
                label: format!("metadata {}", path.display()),
                limit: args.count,
                keep_alive: None,
                has_records: true,
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
    if same && args.flags.clean {
        return Err(SetupError::Usage(format!(
            "--clean would delete {}, which --from reads; copy it elsewhere first or drop --clean",
            from.display()
        )));
    }
    Ok(same)
}

/// The output folder of a download run, created if needed; with `clean`,
/// emptied first of what a download run writes there (images, the metadata
/// and partial files), and of nothing else.
pub fn download_folder(path: &Path, clean: bool) -> Result<LocalDir, SinkError> {
    LocalDir::prepare(path, clean, is_ours)
}

/// Files a download run may have written into its output folder, which
/// `--clean` removes: images and the metadata.
fn is_ours(name: &str) -> bool {
    /// What a download whose format has no extension of its own was saved as.
    const UNKNOWN_FORMAT: &str = "img";
    name.rsplit_once('.').is_some_and(|(_, extension)| {
        formats::is_image_extension(extension)
            || extension.eq_ignore_ascii_case(UNKNOWN_FORMAT)
            || extension.eq_ignore_ascii_case("jsonl")
    })
}

/// The running count of one download run, shared by all its workers
/// (`&Tally` is enough: it locks inside).
#[derive(Debug)]
pub struct Tally {
    counter: Counter<Failure>,
    run: String,
    source: String,
    concurrency: usize,
    listing_problem: Arc<Mutex<Option<String>>>,
    stop: StopFlag,
    /// Whatever must outlive the downloads (the embedded origin's server).
    keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
    ledger: Ledger,
    /// Items that took more than one attempt, saved or not.
    retried: AtomicUsize,
    /// Why the run stopped itself (a full disk), if it did.
    stopped: Mutex<Option<String>>,
}

impl Tally {
    /// Records what became of `item`: counted, and written to the ledger.
    pub fn record(&self, item: &Item, outcome: Outcome) {
        self.ledger.record(item, &outcome);
        let attempts = match &outcome {
            Ok(saved) => saved.attempts,
            Err(failed) => failed.attempts,
        };
        if attempts > 1 {
            self.retried.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(Failed { error: ItemError::Store(SinkError::Write { disk_full: true, .. }), .. }) = &outcome {
            self.stop_on_full_disk(&outcome);
        }
        match outcome {
            Ok(saved) => self.counter.stored(saved.bytes),
            Err(failed) => self.counter.failed(Failure {
                url: item.url.clone(),
                reason: failed.to_string(),
                error: Some(failed.error),
                attempts: failed.attempts,
            }),
        }
    }

    /// A full disk fails every later write too: stop listing at the first
    /// one, let the items under way end, and say so once.
    fn stop_on_full_disk(&self, outcome: &Outcome) {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        if stopped.is_none()
            && let Err(failed) = outcome
        {
            *stopped = Some(format!("the disk is full ({failed}); free some space and run again"));
            self.stop.stop();
        }
    }

    /// Stops the clock and the progress bar and makes the report.
    pub fn finish(self) -> RunReport {
        let counts = self.counter.finish();
        let listing_error = self.listing_problem.lock().unwrap_or_else(PoisonError::into_inner).take();
        let stopped = self.stopped.into_inner().unwrap_or_else(PoisonError::into_inner);
        drop(self.keep_alive);
        RunReport {
            run: self.run,
            source: self.source,
            requested: counts.files + counts.failures.len(),
            files: counts.files,
            failed: counts.failures.len(),
            retried: self.retried.into_inner(),
            bytes: counts.bytes,
            seconds: counts.seconds,
            concurrency: self.concurrency,
            failures: counts.failures,
            listing_error,
            interrupted: self.stop.is_stopped() && stopped.is_none(),
            stopped,
        }
    }
}
