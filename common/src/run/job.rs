//! Setting up a download run: everything that is not the methodology.
//!
//! [`DownloadJob::prepare`] reads the config, picks and opens the source
//! (starting the embedded origin if that is the source), prepares the output
//! folder and the HTTP client, and hooks Ctrl-C. What is left for a binary's
//! `main.rs` is the one thing that differs between methodologies: how the
//! [`Images`] are handed to [`Downloader::download`], and how many at once.
//! Each [`Outcome`] goes to the job's [`Tally`], which counts it, writes it
//! to the ledger and makes the [`RunReport`].
//!
//! Accounting: every listed URL ends as saved, skipped or failed. Skipped
//! items (complete already, see `resume.rs`) never reach a methodology: the
//! [`Images`] hold them back and tell the tally, which counts them and
//! writes their records. Failed ones are kept whole until the end of the
//! run, when the tally writes `<out>/failures.jsonl` for `--retry-failed`.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::download::Downloader;
use super::failures::FAILURES_FILE;
use super::items::Images;
use super::ledger::{Ledger, METADATA_FILE};
use super::progress;
use super::resume::CompleteFiles;
use super::stop::StopFlag;
use super::tally::{SharedTally, Tally};
use crate::cli::{DEFAULT_COUNT, DownloadArgs};
use crate::config::{Config, ConfigError};
use crate::fetch::{FetchOptions, Fetcher, HostLimits, RetryPolicy};
use crate::formats;
use crate::sources::{
    ListColumns, Listing, SourceError, SourceKind, count_items, failures_list, failures_list_of, imgur_list,
    metadata_list, open_list, origin_list, unsplash_list,
};
use crate::store::{LocalDir, SinkError, Store};

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

/// A run's source, opened before its records store is touched (so a typo
/// in `--urls` does not cost the last run's records), and what the run
/// needs to know of it.
pub struct JobSource {
    listing: Listing,
    label: String,
    limit: Option<usize>,
    /// Whether the progress bar may show a total (not for a share of the
    /// source, whose size is not known before listing).
    total_known: bool,
    /// How many items it will list, when that is known before listing
    /// (a text list's lines, a Parquet list's rows): the progress bar's
    /// total with `limit`.
    total: Option<usize>,
    keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
    /// Whether its items carry API records to write to
    /// `<out>/metadata.jsonl` (not when they are read from that very file).
    has_records: bool,
}

impl std::fmt::Debug for JobSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSource").field("label", &self.label).field("limit", &self.limit).finish_non_exhaustive()
    }
}

impl JobSource {
    /// The source the flags name, its lists read through `columns`; with
    /// `--retry-failed`, the `failures.jsonl` of `records` (the store the
    /// failed run kept its records in), which must then be given.
    pub fn open(args: &DownloadArgs, columns: &ListColumns, records: Option<&Store>) -> Result<Self, SetupError> {
        fetch_options(args)?; // unusable fetch flags end the run before anything is read or cleaned
        let config = Config::load(args.config.as_deref(), |name| std::env::var(name).ok())?;
        if args.retry_failed {
            let records = records.ok_or_else(|| SetupError::Usage("--retry-failed needs a records store".into()))?;
            let source = open_failures(args, records)?;
            if let Some(note) = args.retry_note(&records.location()) {
                eprintln!("{note}");
            }
            return Ok(source);
        }
        // Checked now, before the caller prepares (and maybe cleans) the folder `--from` is in.
        let rereads = rereads_own_metadata(args)?;
        let source = open_source(choose_source(args, &config), args, &config, columns)?;
        Ok(JobSource { has_records: source.has_records && !rereads, ..source })
    }

    /// Items listed by the caller instead (images on disk, rows to
    /// repair), under `label` in the report, capped by `--count`.
    pub fn listed(listing: Listing, label: String, args: &DownloadArgs) -> Result<Self, SetupError> {
        fetch_options(args)?; // as in `open`: unusable flags end the run before anything is cleaned
        Ok(JobSource {
            listing,
            label,
            limit: args.count,
            total_known: true,
            total: None,
            keep_alive: None,
            has_records: false,
        })
    }

    /// The same source, for a run that takes only a share of it: its size
    /// is not known before listing, so the progress shows no total.
    pub fn shared(self) -> Self {
        JobSource { total_known: false, ..self }
    }
}

/// The columns of a URL list a download run reads: `--url-column`'s.
fn url_columns(args: &DownloadArgs) -> ListColumns {
    ListColumns { url: args.url_column.clone(), ..ListColumns::default() }
}

impl DownloadJob {
    /// Prepares a run of the binary `run` with `concurrency` downloads at
    /// once, into the folder `--out`, skipping what an earlier run into it
    /// completed. Hooks Ctrl-C and SIGTERM to the run's [`StopFlag`].
    pub fn prepare(run: &str, args: &DownloadArgs, concurrency: usize) -> Result<Self, SetupError> {
        let records = if args.retry_failed { Some(Store::local(download_folder(&args.out, false)?)) } else { None };
        let source = JobSource::open(args, &url_columns(args), records.as_ref())?;
        let out = match records {
            Some(records) => records,
            None => Store::local(download_folder(&args.out, args.flags.clean)?),
        };
        let mut job = Self::start(run, args, concurrency, source, out.clone())?;
        // What an earlier run completed, read once; a clean folder has nothing.
        if !args.force && !args.flags.clean {
            let complete = match out.as_local() {
                Some(folder) => CompleteFiles::read(folder)?,
                None => CompleteFiles::default(),
            };
            let skips = job.tally.skips();
            job.images = job.images.skipping(move |item| match complete.find(item) {
                Some(key) => {
                    skips.record(item, &key);
                    true
                }
                None => false,
            });
        }
        Ok(job)
    }

    /// Starts a run of the binary `run` with `concurrency` downloads at
    /// once, of `source`, keeping its records (`metadata.jsonl`,
    /// `failures.jsonl`) in `out`, which the caller prepared. Nothing is
    /// skipped: a caller with a resume of its own filters the [`Images`]
    /// and tells [`Tally::skips`] what it skips. The downloader stores into
    /// `out`; a run that stores elsewhere uses only its [`Downloader::fetch`].
    pub fn start(
        run: &str,
        args: &DownloadArgs,
        concurrency: usize,
        source: JobSource,
        out: Store,
    ) -> Result<Self, SetupError> {
        let options = fetch_options(args)?;
        let ledger = if source.has_records { Ledger::in_store(&out)? } else { Ledger::default() };
        let expected = match (source.limit, source.total) {
            _ if !source.total_known => None,
            (Some(limit), Some(total)) => Some(limit.min(total)),
            (limit, total) => limit.or(total),
        };
        // The one process-wide thing `common` does (see the crate docs).
        let stop = StopFlag::on_ctrl_c();
        let images = Images::new(source.listing, source.limit, stop.clone());
        let tally = Tally {
            shared: Arc::new(SharedTally::new(run, expected, ledger)),
            out: out.clone(),
            run: run.to_string(),
            source: source.label,
            concurrency,
            listing_problem: images.problem(),
            stop,
            keep_alive: source.keep_alive,
        };
        let downloader = Downloader::new(Fetcher::new(options), out)
            .with_retries(retry_policy(args))
            .with_hosts(HostLimits::new(args.per_host.map(NonZeroUsize::get)))
            .with_stop(tally.stop.clone());
        Ok(DownloadJob { images, downloader, tally })
    }
}

/// The downloader for a worker process of a multi-process run: the same
/// client and output folder as the parent's, and nothing else (the parent
/// lists the images, cleaned the folder and keeps the tally).
pub fn worker_downloader(args: &DownloadArgs) -> Result<Downloader, SetupError> {
    worker_downloader_into(args, Store::local(download_folder(&args.out, false)?))
}

/// [`worker_downloader`], storing into `out` (which it does not prepare:
/// a run that only fetches with it touches no folder of `--out`).
pub fn worker_downloader_into(args: &DownloadArgs, out: Store) -> Result<Downloader, SetupError> {
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

/// The `--timeout`, `--connect-timeout`, `--max-bytes`, `--user-agent`,
/// `--disallowed-header-directives` and `--respect-robots-txt` flags as
/// fetch options.
fn fetch_options(args: &DownloadArgs) -> Result<FetchOptions, SetupError> {
    let seconds = |flag: &str, value: f64| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| SetupError::Usage(format!("{flag} must be a positive number of seconds, not {value}")))
    };
    let timeout = seconds("--timeout", args.timeout)?;
    let connect_timeout = seconds("--connect-timeout", args.connect_timeout)?;
    if args.max_bytes == 0 {
        return Err(SetupError::Usage("--max-bytes must be at least 1".into()));
    }
    let user_agent = match &args.user_agent {
        // A header value is visible ASCII and spaces, on one line.
        Some(text) if text.trim().is_empty() || !text.chars().all(|c| c == ' ' || c.is_ascii_graphic()) => {
            return Err(SetupError::Usage(
                "--user-agent must be printable ASCII on one line, such as `mybot/1.0 (+https://example.org)`".into(),
            ));
        }
        Some(text) => text.trim().to_string(),
        None => crate::config::USER_AGENT.to_string(),
    };
    Ok(FetchOptions {
        timeout,
        connect_timeout,
        user_agent,
        max_bytes: args.max_bytes,
        disallowed_directives: args.disallowed_directives(),
        respect_robots_txt: args.respect_robots_txt,
        budget: crate::fetch::ByteBudget::unlimited(),
    })
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

fn open_source(
    kind: SourceKind,
    args: &DownloadArgs,
    config: &Config,
    columns: &ListColumns,
) -> Result<JobSource, SetupError> {
    // Only a list has columns to take a caption or more from.
    if kind != SourceKind::Urls
        && let Some(flag) = columns.columns_flag()
    {
        let what = format!("--source {}", format!("{kind:?}").to_lowercase());
        return Err(SourceError::NoColumns { flag, what }.into());
    }
    match kind {
        SourceKind::Urls => {
            let path = args.urls.as_deref().ok_or(SourceError::MissingUrlFile)?;
            Ok(JobSource {
                total_known: true,
                // Counted first only for a bar someone sees: a pass over
                // the list (under a second a million lines) that a log has
                // no use for.
                total: if progress::is_drawn() { count_items(path, args.count) } else { None },
                listing: open_list(path, columns)?,
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
            Ok(JobSource {
                total_known: true,
                total: None,
                listing: origin_list(origin.base_url(), count),
                label,
                limit: Some(count),
                keep_alive: Some(Box::new(origin)),
                has_records: false,
            })
        }
        SourceKind::Unsplash => {
            let count = args.count.unwrap_or(DEFAULT_COUNT);
            Ok(JobSource {
                total_known: true,
                total: None,
                listing: unsplash_list(&config.unsplash, args.unsplash_size, count)?,
                label: format!("unsplash {} ({} photos)", config.unsplash.api_base, args.unsplash_size.name()),
                limit: Some(count),
                keep_alive: None,
                has_records: true,
            })
        }
        SourceKind::Imgur => {
            let count = args.count.unwrap_or(DEFAULT_COUNT);
            Ok(JobSource {
                total_known: true,
                total: None,
                listing: imgur_list(&config.imgur, count)?,
                label: format!("imgur {}/3/gallery/{}", config.imgur.api_base, config.imgur.gallery),
                limit: Some(count),
                keep_alive: None,
                has_records: true,
            })
        }
        SourceKind::Metadata => {
            let path = args.from.as_deref().ok_or(SourceError::MissingMetadataFile)?;
            Ok(JobSource {
                total_known: true,
                total: None,
                listing: metadata_list(path)?,
                label: format!("metadata {}", path.display()),
                limit: args.count,
                keep_alive: None,
                has_records: true,
            })
        }
    }
}

/// `--retry-failed`: the failures file of the records store `out` as the
/// source. Its items carry API records if the failed run's did, which its
/// `metadata.jsonl` beside them says.
fn open_failures(args: &DownloadArgs, out: &Store) -> Result<JobSource, SetupError> {
    let path = match out.as_local() {
        Some(folder) => folder.path().join(FAILURES_FILE),
        None => PathBuf::from(format!("{}/{FAILURES_FILE}", out.location())),
    };
    if args.flags.clean {
        return Err(SetupError::Usage(format!(
            "--clean would delete {}, which --retry-failed reads; drop --clean",
            path.display()
        )));
    }
    let listing = match out.as_local() {
        Some(_) => failures_list(&path)?,
        None => match out.get(FAILURES_FILE)? {
            Some(bytes) => failures_list_of(bytes, path.clone()),
            None => return Err(SourceError::NoFailures { path }.into()),
        },
    };
    Ok(JobSource {
        total_known: true,
        total: None,
        listing,
        label: format!("failures {}", path.display()),
        limit: None,
        keep_alive: None,
        has_records: out.head(METADATA_FILE)?.is_some(),
    })
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
/// `--clean` removes: images, the metadata and the failures (by name: a
/// list of URLs kept in the folder is the user's, whatever its extension).
fn is_ours(name: &str) -> bool {
    /// What a download whose format has no extension of its own was saved as.
    const UNKNOWN_FORMAT: &str = "img";
    name == METADATA_FILE
        || name == FAILURES_FILE
        || name.rsplit_once('.').is_some_and(|(_, extension)| {
            formats::is_image_extension(extension) || extension.eq_ignore_ascii_case(UNKNOWN_FORMAT)
        })
}
