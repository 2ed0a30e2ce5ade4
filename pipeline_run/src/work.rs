//! One image's way through the pipeline, the same in every mode:
//! download (or read from disk) → transform (one decode: thumbnail and
//! crops) → store every object.
//!
//! A mode decides how many images go at once and on what; what happens to
//! one image is here, once. The serial, threads and processes modes call
//! [`Work::process`], the whole chain on the calling thread with the
//! objects stored through [`Uploads`]; the async mode calls the stages one
//! by one ([`Work::transform`], [`Store::put_async`]) because it runs each
//! on its own kind of thread. Either way the result is a [`Done`]: the
//! image's typed [`Outcome`] with what the run counts and traces of it.

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::fetch::{FetchError, Fetched, check_image};
use common::run::Saved;
use common::store::{SinkError, Stored};
use common::thumbnail::{Crops, Outputs, ThumbnailSpec, Thumbnailer};
use common::{Downloader, Failed, Item, ItemError, Outcome};
use sha2::{Digest, Sha256};

use crate::crop_specs::CropSpecs;
use crate::dataset::{Sample, SampleRules};
use crate::store::Store;

/// Where the images come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Downloaded, with retries and per-host limits.
    Network(Box<Downloader>),
    /// Read from disk (`--input DIR`; the item's `url` is the file's path),
    /// refusing a file over `max_bytes`.
    Disk { max_bytes: u64 },
}

/// What is made of each image.
#[derive(Debug, Clone)]
pub(crate) struct Transform {
    /// The thumbnail's box and fit, and the JPEG quality of every output.
    pub(crate) spec: ThumbnailSpec,
    /// Whether a thumbnail is made.
    pub(crate) thumbnail: bool,
    /// Which crops are made.
    pub(crate) crops: CropPlan,
    /// With `--output-format`: the checks, and what each row's metadata
    /// notes; for webdataset and parquet, the thumbnail is kept as the
    /// image's sample instead of stored.
    pub(crate) dataset: Option<SampleRules>,
}

/// Which crops are made of each image.
#[derive(Debug, Clone)]
pub(crate) enum CropPlan {
    None,
    /// Those of `--crops FILE.csv`.
    Listed(Arc<CropSpecs>),
    /// `--crops-grid N`.
    Grid(u32),
}

/// The objects made of one image, keys and bytes, in key order.
#[derive(Debug)]
pub(crate) struct Made {
    pub(crate) objects: Vec<(String, Vec<u8>)>,
    /// Crops that were empty once clipped to the image, so not made.
    pub(crate) empty_crops: usize,
    /// With `--output-format`: the row's sample (with its image for
    /// webdataset and parquet, which the dataset writer stores: no objects then).
    pub(crate) sample: Option<Sample>,
}

/// An event of an image's timeline, for `--trace`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Event {
    pub(crate) event: EventKind,
    /// Seconds since the clock the image was timed against.
    pub(crate) t: f64,
    /// The object, for `stored`.
    pub(crate) key: Option<String>,
}

/// What happened to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EventKind {
    Queued,
    Downloaded,
    Transformed,
    Stored,
    Failed,
}

/// Seconds an image kept each stage busy.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Busy {
    pub(crate) download: f64,
    pub(crate) transform: f64,
    pub(crate) store: f64,
}

/// What became of one image: its outcome (for the tally: `Saved` carries
/// the image's name and the bytes of all its objects), and what the run
/// counts and traces of it. Serialisable: a worker process sends it back
/// whole.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Done {
    pub(crate) outcome: Outcome,
    /// Objects stored (also those of an image that failed part way).
    pub(crate) objects: usize,
    pub(crate) empty_crops: usize,
    pub(crate) busy: Busy,
    pub(crate) events: Vec<Event>,
    /// For a dataset: the image made, handed to the dataset writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sample: Option<Sample>,
}

impl Done {
    /// An image not done yet: nothing noted, and an outcome that says so
    /// until a stage sets the real one.
    pub(crate) fn start() -> Self {
        let outcome = Err(Failed { error: ItemError::Abandoned("not finished".into()), attempts: 0 });
        Done { outcome, objects: 0, empty_crops: 0, busy: Busy::default(), events: Vec::new(), sample: None }
    }

    /// Notes `event` at `at`, timed against `clock`.
    pub(crate) fn event(&mut self, event: EventKind, clock: Instant, at: Instant, key: Option<String>) {
        self.events.push(Event { event, t: at.saturating_duration_since(clock).as_secs_f64(), key });
    }

    /// Ends the image as failed at `at`.
    pub(crate) fn fail(mut self, failed: Failed, clock: Instant, at: Instant) -> Self {
        self.event(EventKind::Failed, clock, at, None);
        self.outcome = Err(failed);
        self
    }
}

/// The stages, shared by every thread of a mode (`&Work` is enough).
#[derive(Debug, Clone)]
pub(crate) struct Work {
    pub(crate) source: Source,
    pub(crate) transform: Transform,
    pub(crate) store: Store,
}

/// How [`Work::process`] stores an image's objects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Uploads<'a> {
    /// One after the other, on the calling thread.
    OneByOne,
    /// Handed to a pool of upload threads, all at once; the caller waits
    /// for the last.
    Pool(&'a UploadPool),
}

impl Work {
    /// The whole chain for one image on the calling thread: download,
    /// transform, store every object, each timed against `clock`.
    pub(crate) fn process(&self, item: &Item, clock: Instant, uploads: Uploads<'_>) -> Done {
        let mut done = Done::start();
        let started = Instant::now();
        let (fetched, attempts) = match self.download(item) {
            Ok(fetched) => fetched,
            Err(failed) => return done.fail(failed, clock, Instant::now()),
        };
        let downloaded = Instant::now();
        done.busy.download = (downloaded - started).as_secs_f64();
        done.event(EventKind::Downloaded, clock, downloaded, None);

        let made = match self.transform(&common::run::image_name(item), &fetched.bytes, attempts) {
            Ok(made) => made,
            Err(failed) => return done.fail(failed, clock, Instant::now()),
        };
        // The downloaded bytes, and their share of the in-flight budget, go.
        drop(fetched);
        let transformed = Instant::now();
        done.busy.transform = (transformed - downloaded).as_secs_f64();
        done.event(EventKind::Transformed, clock, transformed, None);
        done.empty_crops = made.empty_crops;
        if made.sample.as_ref().is_some_and(Sample::is_kept) {
            return self.keep(done, item, made.sample, attempts, clock);
        }

        let stored = match uploads {
            Uploads::OneByOne => made.objects.into_iter().map(|(key, bytes)| self.upload(key, &bytes)).collect(),
            Uploads::Pool(pool) => pool.upload_all(made.objects),
        };
        self.finish(done, item, stored, made.sample, attempts, clock)
    }

    /// The download stage: the image's bytes (holding their share of the
    /// in-flight budget until dropped) and the attempts they took.
    pub(crate) fn download(&self, item: &Item) -> Result<(Fetched, u32), Failed> {
        match &self.source {
            Source::Network(downloader) => downloader.fetch(item),
            Source::Disk { max_bytes } => read_image(Path::new(&item.url), *max_bytes).map(|fetched| (fetched, 1)),
        }
    }

    /// The transform stage: the thumbnail and crops of the image `name`
    /// (whose bytes took `attempts` to fetch), keyed, from one decode, with
    /// this thread's thumbnailer.
    pub(crate) fn transform(&self, name: &str, bytes: &[u8], attempts: u32) -> Result<Made, Failed> {
        let Transform { spec, thumbnail, crops, dataset } = &self.transform;
        let listed;
        let crops = match crops {
            CropPlan::None => Crops::None,
            CropPlan::Grid(count) => Crops::Grid(*count),
            CropPlan::Listed(specs) => {
                listed = specs.for_image(name);
                if listed.is_empty() { Crops::None } else { Crops::Rects(&listed) }
            }
        };
        let outputs = with_thumbnailer(*spec, |thumbnailer| thumbnailer.make_outputs(bytes, *thumbnail, crops))
            .map_err(|err| Failed { error: ItemError::Transform(err.to_string()), attempts })?;
        let mut sample = dataset.as_ref().map(|rules| sample_of(&outputs, bytes, rules, attempts)).transpose()?;
        if let (Some(sample), Some(rules)) = (&mut sample, dataset)
            && rules.keep_images
        {
            sample.jpeg = outputs.thumbnail;
            return Ok(Made { objects: Vec::new(), empty_crops: 0, sample: Some(std::mem::take(sample)) });
        }
        let mut objects = Vec::with_capacity(outputs.crops.len() + 1);
        if let Some(thumbnail) = outputs.thumbnail {
            objects.push((format!("{name}_thumbnail.jpg"), thumbnail));
        }
        let mut empty_crops = 0;
        for (index, crop) in outputs.crops.into_iter().enumerate() {
            match crop {
                Some(jpeg) => objects.push((format!("{name}/crop-{index:03}.jpg"), jpeg)),
                None => empty_crops += 1,
            }
        }
        Ok(Made { objects, empty_crops, sample })
    }

    /// The end of a dataset image, in every mode: its sample is kept for
    /// the dataset writer (which stores whole shards), not stored alone.
    pub(crate) fn keep(
        &self,
        mut done: Done,
        item: &Item,
        sample: Option<Sample>,
        attempts: u32,
        clock: Instant,
    ) -> Done {
        let key = common::run::image_name(item);
        let bytes = sample.as_ref().and_then(|sample| sample.jpeg.as_ref()).map_or(0, |jpeg| jpeg.len() as u64);
        done.objects = 1;
        done.event(EventKind::Stored, clock, Instant::now(), Some(format!("{key}.jpg")));
        done.outcome = Ok(Saved { key, bytes, format: "jpg".into(), attempts });
        done.sample = sample;
        done
    }

    /// Stores one object, blocking, timed.
    pub(crate) fn upload(&self, key: String, bytes: &[u8]) -> Uploaded {
        let started = Instant::now();
        let result = self.store.put(&key, bytes);
        Uploaded { key, result, at: Instant::now(), busy: started.elapsed() }
    }

    /// The end of the store stage, in every mode: one `stored` event per
    /// object confirmed, and the image's outcome: saved when every object
    /// was, else the first store error.
    pub(crate) fn finish(
        &self,
        mut done: Done,
        item: &Item,
        stored: Vec<Uploaded>,
        sample: Option<Sample>,
        attempts: u32,
        clock: Instant,
    ) -> Done {
        let mut bytes = 0;
        let mut first_error = None;
        for Uploaded { key, result, at, busy } in stored {
            done.busy.store += busy.as_secs_f64();
            match result {
                Ok(Stored { bytes: size, .. }) => {
                    done.objects += 1;
                    bytes += size;
                    done.event(EventKind::Stored, clock, at, Some(key));
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            return done.fail(Failed { error: ItemError::Store(error), attempts }, clock, Instant::now());
        }
        let key = common::run::image_name(item);
        done.outcome = Ok(Saved { key, bytes, format: "jpg".into(), attempts });
        done.sample = sample;
        done
    }
}

/// One object's store: its key, the store's answer, when it came, and how
/// long the put took.
#[derive(Debug)]
pub(crate) struct Uploaded {
    pub(crate) key: String,
    pub(crate) result: Result<Stored, SinkError>,
    pub(crate) at: Instant,
    pub(crate) busy: Duration,
}

/// What a row's metadata says of its image: the thumbnail's and the
/// original's sizes, the SHA-256 of the bytes downloaded (`--compute-hash`)
/// and their EXIF tags (`--extract-exif`), once the rules passed the
/// original's size. No image yet.
fn sample_of(outputs: &Outputs, bytes: &[u8], rules: &SampleRules, attempts: u32) -> Result<Sample, Failed> {
    rules.check(outputs.original, attempts)?;
    let (width, height) = match outputs.size {
        Some((width, height)) => (Some(width), Some(height)),
        None => (None, None),
    };
    let (original_width, original_height) = outputs.original;
    let sha256 = rules.compute_hash.then(|| hex::encode(Sha256::digest(bytes)));
    let exif = if rules.extract_exif { crate::dataset::exif_json(bytes) } else { None };
    Ok(Sample { jpeg: None, width, height, original_width, original_height, sha256, exif })
}

/// Reads an image from disk, refusing a file over `max_bytes` before
/// reading it and one that is not an image by its bytes. (Not held to the
/// in-flight budget, which bounds what the network sends.)
fn read_image(path: &Path, max_bytes: u64) -> Result<Fetched, Failed> {
    let unreadable = |err: std::io::Error| Failed::from(ItemError::Abandoned(format!("cannot read the file: {err}")));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > max_bytes {
        return Err(FetchError::TooLarge { limit: max_bytes }.into());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max_bytes).read_to_end(&mut bytes).map_err(unreadable)?;
    let format = check_image(&bytes)?;
    Ok(Fetched::unbudgeted(bytes, format))
}

thread_local! {
    /// Each thread's thumbnailer, whose buffers serve image after image.
    static THUMBNAILER: RefCell<Option<Thumbnailer>> = const { RefCell::new(None) };
}

/// Runs `make` with this thread's thumbnailer for `spec` (made on first use).
fn with_thumbnailer<R>(spec: ThumbnailSpec, make: impl FnOnce(&mut Thumbnailer) -> R) -> R {
    THUMBNAILER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_some_and(|thumbnailer| *thumbnailer.spec() != spec) {
            *slot = None;
        }
        make(slot.get_or_insert_with(|| Thumbnailer::new(spec)))
    })
}

/// One object for an upload thread, and where to send its result.
struct UploadJob {
    key: String,
    bytes: Vec<u8>,
    done: Sender<Uploaded>,
}

/// A fixed pool of upload threads shared by every worker of a mode: at
/// most `threads` objects are stored at once, whoever made them. The
/// queue is bounded too, so a worker that made 50 crops waits for room
/// instead of piling them all up in memory.
#[derive(Debug)]
pub(crate) struct UploadPool {
    jobs: Option<SyncSender<UploadJob>>,
    threads: Vec<JoinHandle<()>>,
    /// For the rare case that no thread could be started.
    work: Work,
}

impl UploadPool {
    /// Starts `threads` upload threads storing through `work`'s store.
    pub(crate) fn start(work: &Work, threads: usize) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<UploadJob>(threads);
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..threads)
            .filter_map(|index| {
                let (queue, work) = (Arc::clone(&queue), work.clone());
                thread::Builder::new().name(format!("upload-{index}")).spawn(move || upload_jobs(&queue, &work)).ok()
            })
            .collect();
        UploadPool { jobs: Some(jobs), threads, work: work.clone() }
    }

    /// Stores every object on the pool and waits for all of them.
    pub(crate) fn upload_all(&self, objects: Vec<(String, Vec<u8>)>) -> Vec<Uploaded> {
        let (done, results) = mpsc::channel();
        let mut sent = 0;
        for (key, bytes) in objects {
            match self.jobs.as_ref().map(|jobs| jobs.send(UploadJob { key, bytes, done: done.clone() })) {
                Some(Ok(())) => sent += 1,
                // No upload thread left: store it here.
                Some(Err(mpsc::SendError(job))) => {
                    let _ = done.send(self.work.upload(job.key, &job.bytes));
                    sent += 1;
                }
                None => {}
            }
        }
        drop(done);
        let mut uploaded: Vec<Uploaded> = results.iter().take(sent).collect();
        // A thread that died mid-put (a bug) answered nothing: that object
        // is not stored, and the image must not count as complete.
        for _ in uploaded.len()..sent {
            let result = Err(SinkError::Panicked("an upload thread stopped".into()));
            uploaded.push(Uploaded { key: String::new(), result, at: Instant::now(), busy: Duration::ZERO });
        }
        uploaded
    }
}

impl Drop for UploadPool {
    /// Closes the queue and waits for the threads, so no upload outlives the run.
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// An upload thread: stores jobs until the pool is dropped.
fn upload_jobs(queue: &Mutex<Receiver<UploadJob>>, work: &Work) {
    loop {
        // The guard is a temporary: the lock is released before storing.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(UploadJob { key, bytes, done }) = next else { return };
        let _ = done.send(work.upload(key, &bytes));
    }
}

impl std::fmt::Debug for UploadJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadJob").field("key", &self.key).finish_non_exhaustive()
    }
}
