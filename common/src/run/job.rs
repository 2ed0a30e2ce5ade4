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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use thiserror::Error;

use super::download::Downloader;
use super::failures::{FAILURES_FILE, FailedItem, write_failures};
use super::items::{Images, PrepareItem, ShareFilter};
use super::ledger::{Ledger, METADATA_FILE};
use super::outcome::{Failed, ItemError, Outcome};
use super::progress::{self, live_label};
use super::report::{Failure, RunReport};
use super::resume::CompleteFiles;
use super::stop::StopFlag;
use super::tally::Counter;
use crate::cli::{DEFAULT_COUNT, DownloadArgs};
use crate::config::{Config, ConfigError};
use crate::fetch::{FetchOptions, Fetcher, HostLimits, RetryPolicy};
use crate::formats;
use crate::sources::{
    Item, ListColumns, Listing, SourceError, SourceKind, count_items, failures_list, failures_list_of, imgur_list,
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

/// A source, opened.
struct OpenSource {
    listing: Listing,
    label: String,
    limit: Option<usize>,
    /// How many items it will list, when that is known before listing
    /// (a text list's lines, a Parquet list's rows): the progress bar's
    /// total with `limit`.
    total: Option<usize>,
    keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
    /// Whether its items carry API records, for `<out>/metadata.jsonl`.
    has_records: bool,
}

/// What an earlier run completed, read once when a run starts: for an item,
/// the key to report it under if it is complete (then it is skipped).
pub type CompleteIndex = Box<dyn Fn(&Item) -> Option<String> + Send>;

/// How a run that stores something other than the downloads themselves
/// (`pipeline_run`: thumbnails and crops) is set up differently from a
/// download run. [`DownloadJob::prepare`] is [`DownloadJob::prepare_with`]
/// the download folder's layout.
pub struct Layout<'a> {
    /// Items to list instead of the source the flags name (`pipeline_run
    /// --input DIR`: images on disk), with the label the report gives them.
    pub listing: Option<(Listing, String)>,
    /// Prepares the store where the run keeps its records
    /// (`failures.jsonl`, `metadata.jsonl`); told whether `--clean` asks to
    /// empty it of what the run writes. Called once the source is open
    /// (with `--retry-failed`, before: its `failures.jsonl` is the source).
    pub folder: &'a dyn Fn(bool) -> Result<Store, SetupError>,
    /// Reads what an earlier run into that store completed. Not called
    /// with `--force` or `--clean`.
    pub complete: &'a dyn Fn(&Store) -> Result<CompleteIndex, SetupError>,
    /// The items of the listing this run takes (`pipeline_run`'s shard of
    /// the input), applied after the `--count` cap; the others are neither
    /// made nor counted. `None` takes them all.
    pub share: Option<ShareFilter>,
    /// What is done to each listed item before the share and the skip
    /// (`pipeline_run` names a dataset's rows by their place in the input;
    /// with it, a URL list gives every row, see [`ListColumns::every_row`]).
    /// `None` leaves items as listed.
    pub prepare: Option<PrepareItem>,
}

impl std::fmt::Debug for Layout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("listing", &self.listing.as_ref().map(|(_, label)| label))
            .field("shared", &self.share.is_some())
            .finish_non_exhaustive()
    }
}

impl DownloadJob {
    /// Prepares a run of the binary `run` with `concurrency` downloads at once.
    pub fn prepare(run: &str, args: &DownloadArgs, concurrency: usize) -> Result<Self, SetupError> {
        let layout = Layout {
            listing: None,
            folder: &|clean| Ok(Store::local(download_folder(&args.out, clean)?)),
            complete: &|out| {
                let complete = match out.as_local() {
                    Some(folder) => CompleteFiles::read(folder)?,
                    None => CompleteFiles::default(),
                };
                Ok(Box::new(move |item: &Item| complete.find(item)))
            },
            share: None,
            prepare: None,
        };
        Self::prepare_with(run, args, concurrency, layout)
    }

    /// Prepares a run of the binary `run` with `concurrency` downloads at
    /// once, whose records and resume are as `layout` says. The downloader
    /// stores into the records folder; a run that stores elsewhere uses
    /// only its [`Downloader::fetch`].
    pub fn prepare_with(
        run: &str,
        args: &DownloadArgs,
        concurrency: usize,
        layout: Layout<'_>,
    ) -> Result<Self, SetupError> {
        let options = fetch_options(args)?;
        let config = Config::load(args.config.as_deref(), |name| std::env::var(name).ok())?;
        // Open the source before touching the output folder, so a typo in
        // --urls does not cost the images of the last run (and so that
        // --retry-failed has opened the failures file before the run replaces it).
        // --retry-failed reads the failures the records store holds (it
        // cannot go with --clean, so preparing the store first empties nothing).
        let records = if args.retry_failed { Some((layout.folder)(false)?) } else { None };
        let source = if let Some(records) = &records {
            open_failures(args, records)?
        } else if let Some((listing, label)) = layout.listing {
            OpenSource { listing, label, limit: args.count, total: None, keep_alive: None, has_records: false }
        } else {
            // A run that numbers rows needs every row of the list in its place.
            let every_row = layout.prepare.is_some();
            open_source(choose_source(args, &config), args, &config, every_row)?
        };
        let metadata_writes = source.has_records && !rereads_own_metadata(args)?;
        let out = match records {
            Some(records) => records,
            None => (layout.folder)(args.flags.clean)?,
        };
        let ledger = if metadata_writes { Ledger::in_store(&out)? } else { Ledger::default() };
        // What an earlier run completed, read once; a clean folder has nothing.
        let complete = if args.force || args.flags.clean { None } else { Some((layout.complete)(&out)?) };
        // A share's size is not known before listing: no total to show.
        let expected = match (source.limit, source.total) {
            _ if layout.share.is_some() => None,
            (Some(limit), Some(total)) => Some(limit.min(total)),
            (limit, total) => limit.or(total),
        };
        let accounts = Arc::new(Accounts {
            counter: Counter::start(run, expected),
            ledger,
            retried: AtomicUsize::new(0),
            stopped: Mutex::new(None),
        });
        let stop = StopFlag::on_ctrl_c();
        let mut images = Images::new(source.listing, source.limit, stop.clone());
        if let Some(prepare) = layout.prepare {
            images = images.preparing(prepare);
        }
        if let Some(share) = layout.share {
            images = images.taking(share);
        }
        if let Some(complete) = complete {
            let accounts = Arc::clone(&accounts);
            images = images.skipping(move |item| match complete(item) {
                Some(key) => {
                    accounts.skipped(item, &key);
                    true
                }
                None => false,
            });
        }
        let tally = Tally {
            accounts,
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
    every_row: bool,
) -> Result<OpenSource, SetupError> {
    // Only a list has columns to take a caption or more from.
    if kind != SourceKind::Urls
        && let Some(flag) = ListColumns::from_flags(args).columns_flag()
    {
        let what = format!("--source {}", format!("{kind:?}").to_lowercase());
        return Err(SourceError::NoColumns { flag, what }.into());
    }
    match kind {
        SourceKind::Urls => {
            let path = args.urls.as_deref().ok_or(SourceError::MissingUrlFile)?;
            let columns = ListColumns { every_row, ..ListColumns::from_flags(args) };
            Ok(OpenSource {
                listing: open_list(path, &columns)?,
                label: format!("urls {}", path.display()),
                limit: args.count,
                // Counted first only for a bar someone sees: a pass over
                // the list (under a second a million lines) that a log has
                // no use for.
                total: if progress::is_drawn() { count_items(path, args.count) } else { None },
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
                total: None,
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
                total: None,
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
                total: None,
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
                total: None,
                keep_alive: None,
                has_records: true,
            })
        }
    }
}

/// `--retry-failed`: the failures file of the records store `out` as the
/// source. Its items carry API records if the failed run's did, which its
/// `metadata.jsonl` beside them says.
fn open_failures(args: &DownloadArgs, out: &Store) -> Result<OpenSource, SetupError> {
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
    Ok(OpenSource {
        listing,
        label: format!("failures {}", path.display()),
        limit: None,
        total: None,
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

/// The running count of one download run, shared by all its workers
/// (`&Tally` is enough: it locks inside).
#[derive(Debug)]
pub struct Tally {
    /// What outcomes and skipped items are written to; shared with the
    /// [`Images`], which tell it the items they skip.
    accounts: Arc<Accounts>,
    /// The records store, where `failures.jsonl` goes at the end.
    out: Store,
    run: String,
    source: String,
    concurrency: usize,
    listing_problem: Arc<Mutex<Option<String>>>,
    stop: StopFlag,
    /// Whatever must outlive the downloads (the embedded origin's server).
    keep_alive: Option<Box<dyn std::fmt::Debug + Send + Sync>>,
}

/// The counts and the ledger, which the workers (outcomes) and the listing
/// (skipped items) both write to.
#[derive(Debug)]
struct Accounts {
    counter: Counter<FailedItem>,
    ledger: Ledger,
    /// Items that took more than one attempt, saved or not.
    retried: AtomicUsize,
    /// Why the run stopped itself (a full disk, a destination refusing
    /// us), if it did, and whether the fix is the configuration.
    stopped: Mutex<Option<(String, bool)>>,
}

impl Accounts {
    /// Records `item` as skipped: an earlier run saved it as `key`.
    fn skipped(&self, item: &Item, key: &str) {
        self.ledger.record_complete(item, key);
        self.counter.skipped();
    }
}

impl Tally {
    /// Records what became of `item`: counted, and written to the ledger.
    pub fn record(&self, item: &Item, outcome: Outcome) {
        let accounts = &*self.accounts;
        accounts.ledger.record(item, &outcome);
        let attempts = match &outcome {
            Ok(saved) => saved.attempts,
            Err(failed) => failed.attempts,
        };
        if attempts > 1 {
            accounts.retried.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(Failed { error: ItemError::Store(error), .. }) = &outcome
            && error.is_fatal()
        {
            self.stop_on_fatal_store_error(&outcome);
        }
        match outcome {
            Ok(saved) => accounts.counter.stored(saved.bytes),
            Err(failed) => {
                let kind = live_label(&failed.error);
                accounts.counter.failed(FailedItem { item: item.clone(), failed }, kind);
            }
        }
    }

    /// A full disk (or a store that refuses our credentials) fails every
    /// later write too: stop listing at the first, let the items under way
    /// end, and say so once.
    fn stop_on_fatal_store_error(&self, outcome: &Outcome) {
        let mut stopped = self.accounts.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        if stopped.is_none()
            && let Err(failed) = outcome
        {
            let (what, fix, configuration) = match &failed.error {
                ItemError::Store(SinkError::Write { disk_full: true, .. }) => {
                    ("the disk is full", "free some space", false)
                }
                // Its message names the problem and the fix itself.
                ItemError::Store(error @ SinkError::Unusable { .. }) => {
                    *stopped = Some((format!("{error}; then run again"), false));
                    self.stop.stop();
                    return;
                }
                _ => ("the destination refuses every object", "fix the destination or its credentials", true),
            };
            *stopped = Some((format!("{what} ({failed}); {fix} and run again"), configuration));
            self.stop.stop();
        }
    }

    /// Whether the run was asked to stop (a signal, or a fatal store
    /// error): a methodology that waits on its workers drops them then.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Whether the run has gone through its whole listing so far: not
    /// stopped (Ctrl-C, a fatal store error) and no listing error. A run
    /// that has not must not publish what it was making as whole.
    pub fn went_through(&self) -> bool {
        !self.stop.is_stopped() && self.listing_problem.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// Stops the clock and the progress bar, writes `failures.jsonl` and
    /// makes the report.
    pub fn finish(self) -> RunReport {
        let counts = self.accounts.counter.finish();
        let listing_error = self.listing_problem.lock().unwrap_or_else(PoisonError::into_inner).take();
        let stopped = self.accounts.stopped.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(self.keep_alive);
        let interrupted = self.stop.is_stopped();
        self.accounts.ledger.finish();
        if let Err(err) = write_failures(&self.out, &counts.failures, interrupted) {
            eprintln!("warning: {err}; --retry-failed will not see this run's failures");
        }
        let failures: Vec<Failure> = counts
            .failures
            .into_iter()
            .map(|FailedItem { item, failed }| Failure {
                url: item.url,
                reason: failed.reason(),
                error: Some(failed.error),
                attempts: failed.attempts,
            })
            .collect();
        RunReport {
            run: self.run,
            source: self.source,
            requested: counts.files + counts.skipped + failures.len(),
            files: counts.files,
            skipped: counts.skipped,
            failed: failures.len(),
            retried: self.accounts.retried.load(Ordering::Relaxed),
            bytes: counts.bytes,
            seconds: counts.seconds,
            concurrency: self.concurrency,
            failures,
            listing_error,
            interrupted: interrupted && stopped.is_none(),
            misconfigured: stopped.as_ref().is_some_and(|(_, configuration)| *configuration),
            stopped: stopped.map(|(why, _)| why),
        }
    }
}
