//! The items a run takes, set up once before any work: listed (a source,
//! `--input DIR`, or the failed rows of a dataset to repair), numbered (a
//! dataset names rows by their place in the input), shared out (a cluster
//! task takes its share, a dataset's by whole shards) and resumed (what an
//! earlier run completed, as the store's listing confirms, is skipped and
//! counted). `common` lists and caps; each step here is a `map` or a
//! `filter` on its plain iterator.

use std::sync::Arc;

use anyhow::Context;
use common::run::{Downloader, JobSource, Tally};
use common::{DownloadArgs, DownloadJob, Item};

use crate::dataset::repair::Damaged;
use crate::dataset::{self, Dataset, Keys, Published};
use crate::modes::Items;
use crate::plan::Plan;
use crate::store::{CompleteIndex, ImageLedger, Listing, Store};

/// A run's items, and what was set up with them.
pub(crate) struct Listed {
    /// The images to make, lazily: numbered, shared out, resumed.
    pub(crate) images: Items,
    /// Fetches one image (the job's client, with its limits).
    pub(crate) downloader: Downloader,
    /// The run's counts, which the skipped items are told to already.
    pub(crate) tally: Tally,
    /// The dataset the run writes, if `--output-format` asks for one.
    pub(crate) dataset: Option<Arc<Dataset>>,
    /// With `--retry-failed` on a dataset, what it repairs.
    pub(crate) damaged: Option<Damaged>,
}

/// Lists the run's items from `store` (the run's own: a task's records are
/// its own), as the plan says.
pub(crate) fn list(plan: &Plan, store: &Store) -> anyhow::Result<Listed> {
    let mut args = plan.download_args(store);
    let mut listing = match &plan.input {
        Some(dir) => Some((common::sources::folder_list(dir)?, format!("folder {}", dir.display()))),
        None => None,
    };
    let (task, flags) = (plan.task, &plan.dataset);
    let keys = Keys::new(flags.shard_size);
    // A repair that died part way is put in place before anything is
    // listed, so every shard is the old or the new one (`dataset/repair.rs`).
    if flags.is_sharded() {
        let ours = |number| task.is_none_or(|task| task.takes_number(number));
        let finished = dataset::repair::complete_interrupted(store.objects(), ours)
            .context("cannot put in place the repair an earlier run staged in _repair/")?;
        for name in finished {
            eprintln!("shard {name}: put in place, as an earlier --retry-failed had staged it in _repair/");
        }
    }
    // --retry-failed repairs a dataset in place: the listing is the failed
    // rows of its complete shards, as their metadata says. The first run's
    // --urls and --count may be on the command line; neither is read.
    let damaged = if flags.is_sharded() && args.retry_failed {
        let mut damaged =
            Damaged::find(store, keys, (flags.format(), plan.made.as_str()), (flags.compute_hash, flags.extract_exif))?;
        listing = Some(damaged.listing(&store.location()));
        if let Some(note) = args.retry_note(&store.location()) {
            eprintln!("{note}");
        }
        args = DownloadArgs { retry_failed: false, count: None, ..args };
        Some(damaged)
    } else {
        None
    };
    let dataset = plan.dataset(store, damaged.as_ref().map(|damaged| damaged.found.clone()));
    let takes = task.map(|task| -> dataset::Takes {
        if flags.is_sharded() {
            dataset::share(keys, move |number| task.takes_number(number))
        } else {
            Arc::new(move |item| task.takes(item))
        }
    });
    // The source opens before the records store is prepared (so a typo in
    // --urls costs nothing); --retry-failed reads the failures it holds.
    let retried = if args.retry_failed { Some(store.prepare_records(false)?) } else { None };
    let source = match (&retried, listing) {
        (None, Some((listing, label))) => JobSource::listed(listing, label, &args),
        _ => JobSource::open(&args, &plan.columns, retried.as_ref()),
    }
    .context("cannot start the run")?;
    let source = if takes.is_some() { source.shared() } else { source };
    let records = match retried {
        Some(records) => records,
        None => store.prepare_records(args.flags.clean).context("cannot start the run")?,
    };
    // What an earlier run completed, read once; a clean store has nothing.
    let complete = if args.force || args.flags.clean || damaged.is_some() {
        None
    } else {
        Some(complete_index(plan, store, &records, dataset.as_ref())?)
    };
    let run_name = format!("pipeline_run/{}", plan.mode.name());
    let DownloadJob { images, downloader, tally } =
        DownloadJob::start(&run_name, &args, plan.concurrency, source, records).context("cannot start the run")?;
    // Each listed item is numbered (a dataset), then taken if it is this
    // task's, then skipped if an earlier run completed it.
    let mut number = dataset.as_ref().map(|dataset| match damaged {
        Some(_) => dataset::relisting(dataset),
        None => dataset::numbering(dataset, takes.clone()),
    });
    let skips = tally.skips();
    let images = images
        .map(move |item| match &mut number {
            Some(number) => number(item),
            None => item,
        })
        .filter(move |item| takes.as_ref().is_none_or(|takes| takes(item)))
        .filter(move |item| match complete.as_ref().and_then(|complete| complete(item)) {
            Some(key) => {
                skips.record(item, &key);
                false
            }
            None => true,
        });
    Ok(Listed { images: Box::new(images), downloader, tally, dataset, damaged })
}

/// What an earlier run into the store completed, as the listing of the
/// store (read once, before any work) confirms: whole published shards of
/// a dataset, or images whose record the listing holds every object of.
fn complete_index(
    plan: &Plan,
    store: &Store,
    records: &common::store::Store,
    dataset: Option<&Arc<Dataset>>,
) -> anyhow::Result<CompleteIndex> {
    let listing = Listing::read(store.objects()).context("cannot start the run")?;
    let flags = &plan.dataset;
    if flags.is_sharded() {
        let keys = Keys::new(flags.shard_size);
        let published = Arc::new(Published::new(store.clone(), keys, flags.format(), listing));
        return Ok(dataset::complete_index(keys, published));
    }
    // A record of a complete image is a hint the listing checks.
    let complete = ImageLedger::read(records, &plan.made).context("cannot start the run")?;
    let dataset = dataset.cloned();
    let thumbnail = plan.transform.thumbnail;
    Ok(Box::new(move |item: &Item| {
        let name = common::run::image_name(item);
        let done = complete.get(&name).is_some_and(|&objects| listing.holds_image(&name, thumbnail, objects));
        // Loose files resume image by image; the shard's metadata still lists the row.
        if done && let Some(dataset) = &dataset {
            dataset.skipped(item);
        }
        done.then_some(name)
    }))
}
