//! Training-dataset output: `--output-format webdataset|parquet`, the
//! layouts model trainers read, as the established Python tool
//! (img2dataset) writes them.
//!
//! **Rows and keys.** The input's rows are numbered as they are listed,
//! and cut into output shards of `--shard-size` rows. A row's key is its
//! shard number and its index in the shard, zero-padded as one number of
//! 9 digits with the default size (`000030042`: shard 3, row 42), so a key
//! names the same input row on every run, whatever finished first.
//!
//! **What a shard is.** For shard `NNNNN`, in every format,
//! `NNNNN.parquet` has one row per input row, successes and failures
//! alike (key, url, status, error message, sizes, sha256, the saved
//! columns), and `NNNNN_stats.json` counts them by status. Where the
//! samples themselves go (loose objects, a tar, the table's `jpg` column)
//! is the format's: see `crate::formats`, one module each.
//!
//! **Nothing half-written.** A shard is built in memory while its rows are
//! made (so `--shard-size` bounds the memory: ten thousand 256-pixel JPEGs
//! make an 87 MB tar, and a run's peak RSS was 141 MB against 61 MB for
//! loose files) and stored when its last row is recorded, each file
//! atomically (the store's put: a local file appears whole under its name,
//! an object is one PUT), the stats last. A run that is stopped leaves the
//! shards it was making unwritten, never a partial tar; a shard whose stats
//! exist is complete, and a re-run skips its rows without a request (they
//! count as skipped); a short shard (the input's last, or one `--count`
//! cut) is made again whole, since a re-run may list more of it. `--force`
//! makes every shard again.
//!
//! **Repair** (`repair.rs`): `--retry-failed` makes the failed rows of
//! complete shards again and writes again exactly the shards that gain a
//! sample, keys unchanged, never leaving a shard half-written.
//!
//! **Sharded jobs.** A cluster task (`--shard-index I --shard-count N`)
//! takes the output shards whose number is `I` modulo `N`, whole, so two
//! tasks never write one shard.

mod exif;
pub(crate) mod repair;
mod table;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use common::sources::ListColumns;
use common::thumbnail::FitMode;
use common::{Failed, Item, ItemError};

pub(crate) use exif::exif_json;
pub(crate) use table::Row;
pub(crate) use writer::{Dataset, DatasetSummary};

use crate::formats::Format;
use crate::store::{CompleteIndex, Listing, Store};

/// Rows per output shard when `--shard-size` is not given (the established tool's default).
pub(crate) const DEFAULT_SHARD_SIZE: u64 = 10_000;

/// Digits of a shard's number in its file names and keys.
const SHARD_DIGITS: usize = 5;

/// Every column of a shard's metadata (`NNNNN.parquet`) and field of a
/// sample's `KEY.json` that the dataset writes itself, whether or not this
/// run's flags make it (`exif`, `sha256`, `name`, `jpg`...). Kept in one
/// place: reading a table back, the columns not named here are the saved
/// ones; and a saved column
/// (`--save-columns`) may not take one of these names. A second `width`
/// beside ours made a `KEY.json` with the key twice (`json.loads` keeps the
/// source's value, not the thumbnail's) and a parquet pyarrow refuses
/// ("Multiple matches for FieldRef.Name(width)"), so the run refuses it
/// before any download rather than write a dataset no reader agrees on.
pub(crate) const RESERVED_COLUMNS: [&str; 14] = [
    "key",
    "name",
    "url",
    "caption",
    "status",
    "error_kind",
    "error_message",
    "width",
    "height",
    "original_width",
    "original_height",
    "sha256",
    "exif",
    "jpg",
];

/// The flags that shape a dataset.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DatasetArgs {
    /// How samples are written: loose objects, WebDataset tar shards, or Parquet shards; each
    /// with per-shard metadata (NNNNN.parquet, NNNNN_stats.json) [default: files, without the
    /// per-shard metadata, as before the flag existed]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) output_format: Option<Format>,

    /// Input rows per output shard (with --output-format) [default: 10000, img2dataset's; a shard is
    /// held in memory until it is stored, so this bounds the memory too]
    #[arg(hide_default_value = true, long, value_name = "N", default_value_t = DEFAULT_SHARD_SIZE, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(crate) shard_size: u64,

    /// How the image is fitted to --thumbnail WxH: no (kept at its size), keep_ratio (smaller side
    /// to the box), keep_ratio_largest (fit inside), center_crop (fill, centre cut), border (fit,
    /// then pad) [default: keep_ratio_largest, or center_crop with --crop]
    #[arg(long, value_name = "MODE", conflicts_with = "crop", value_parser = |name: &str| name.parse::<FitMode>())]
    pub(crate) resize_mode: Option<FitMode>,

    /// Refuse images whose smaller side is under N pixels, the original's (with --output-format)
    #[arg(long, value_name = "N", default_value_t = 0, requires = "output_format")]
    pub(crate) min_image_size: u32,

    /// Refuse images whose longer side is more than R times the shorter (with --output-format)
    #[arg(long, value_name = "R", requires = "output_format")]
    pub(crate) max_aspect_ratio: Option<f64>,

    /// Record the SHA-256 of each downloaded image (its original bytes) in the metadata, as
    /// img2dataset does by default; `--compute-hash false` leaves it out (with --output-format)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value_t = true, default_missing_value = "true",
          action = clap::ArgAction::Set, requires = "output_format")]
    pub(crate) compute_hash: bool,

    /// Record each image's EXIF tags (camera, exposure, GPS...) as JSON in the metadata's `exif`
    /// column, as img2dataset does by default; `--extract-exif false` leaves them out (with
    /// --output-format)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value_t = true, default_missing_value = "true",
          action = clap::ArgAction::Set, requires = "output_format")]
    pub(crate) extract_exif: bool,

    /// The column or field of --urls that holds each image's caption (datasets; CSV, TSV, JSON
    /// lines, Parquet)
    #[arg(long, value_name = "NAME", conflicts_with = "input")]
    pub(crate) caption_column: Option<String>,

    /// Columns or fields of --urls carried into each image's metadata (datasets), comma-separated,
    /// each under its own name; not one the dataset writes itself (key, name, url, caption, status,
    /// error_kind, error_message, width, height, original_width, original_height, sha256, exif, jpg)
    #[arg(long, value_name = "A,B", value_delimiter = ',', conflicts_with = "input")]
    pub(crate) save_columns: Vec<String>,
}

impl DatasetArgs {
    /// The format written.
    pub(crate) fn format(&self) -> Format {
        self.output_format.unwrap_or(Format::Files)
    }

    /// Whether samples go into shards (webdataset, parquet), not loose objects.
    pub(crate) fn is_sharded(&self) -> bool {
        self.format().shards().holds_images()
    }

    /// Refuses saved columns that would write a name twice into a sample's
    /// metadata: one the dataset writes itself ([`RESERVED_COLUMNS`]), or
    /// one named twice in `--save-columns`. The caption column may also be
    /// saved under its own name (the caption is written as `caption`, so
    /// the two never clash) unless that name is itself reserved. An error
    /// is one line: the clash, and the way out.
    pub(crate) fn check_saved_columns(&self) -> Result<(), String> {
        for (index, name) in self.save_columns.iter().enumerate() {
            if name == "caption" && self.caption_column.is_some() {
                return Err(format!(
                    "--save-columns caption: the caption is written as `caption` already (--caption-column {}); \
                     leave caption out of --save-columns",
                    self.caption_column.as_deref().unwrap_or_default()
                ));
            }
            if RESERVED_COLUMNS.contains(&name.as_str()) {
                return Err(format!(
                    "--save-columns {name}: `{name}` is a field the dataset writes itself ({}); leave {name} out \
                     of --save-columns, or rename that column of --urls",
                    RESERVED_COLUMNS.join(", ")
                ));
            }
            if self.save_columns[..index].contains(name) {
                return Err(format!("--save-columns names {name} twice; name each column once"));
            }
        }
        Ok(())
    }

    /// The columns of a URL list this run reads: `--url-column`'s (one of
    /// the shared flags), and a dataset's caption and saved columns; a
    /// dataset numbers its rows, so every row of a list is an item.
    pub(crate) fn list_columns(&self, url_column: Option<&str>) -> ListColumns {
        ListColumns {
            url: url_column.map(str::to_string),
            caption: self.caption_column.clone(),
            save: self.save_columns.clone(),
            every_row: self.output_format.is_some(),
        }
    }
}

/// What the transform checks and notes of each image of a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SampleRules {
    pub(crate) min_image_size: u32,
    pub(crate) max_aspect_ratio: Option<f64>,
    pub(crate) compute_hash: bool,
    pub(crate) extract_exif: bool,
    /// Whether the thumbnail goes into the sample (webdataset, parquet)
    /// instead of being stored as an object (files).
    pub(crate) keep_images: bool,
}

impl SampleRules {
    /// Refuses an original of `width` x `height` that the flags rule out.
    pub(crate) fn check(&self, (width, height): (u32, u32), attempts: u32) -> Result<(), Failed> {
        let refuse = |why: String| Err(Failed { error: ItemError::Transform(why), attempts });
        let (small, large) = (width.min(height), width.max(height));
        if small < self.min_image_size {
            return refuse(format!(
                "image too small: {width}x{height}, under --min-image-size {}",
                self.min_image_size
            ));
        }
        if let Some(ratio) = self.max_aspect_ratio
            && f64::from(large) > ratio * f64::from(small.max(1))
        {
            return refuse(format!("aspect ratio of {width}x{height} is over --max-aspect-ratio {ratio}"));
        }
        Ok(())
    }
}

/// One made sample: what the metadata says of the image, and the image
/// itself when the dataset holds it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sample {
    /// The JPEG, for webdataset and parquet (base64 when a worker process
    /// sends it: JSON has no bytes); `None` when it was stored as an object.
    #[serde(default, with = "base64_bytes")]
    pub(crate) jpeg: Option<Vec<u8>>,
    /// The thumbnail's size, when one was made.
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    /// The original's size, upright.
    pub(crate) original_width: u32,
    pub(crate) original_height: u32,
    /// Of the downloaded bytes, with `--compute-hash`.
    pub(crate) sha256: Option<String>,
    /// The original's EXIF tags as JSON, with `--extract-exif`.
    #[serde(default)]
    pub(crate) exif: Option<String>,
}

impl Sample {
    /// Whether the dataset holds the image (webdataset, parquet), so no object is stored.
    pub(crate) fn is_kept(&self) -> bool {
        self.jpeg.is_some()
    }
}

/// Bytes as a base64 string in JSON (or null).
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    #[allow(clippy::ref_option)] // the signature serde's `with` asks for
    pub(super) fn serialize<S: serde::Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_some(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = serde::Deserialize::deserialize(deserializer)?;
        text.map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Row numbers, shard numbers and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keys {
    pub(crate) shard_size: u64,
    /// Digits of a row's index in its shard: enough for `shard_size - 1`.
    pub(crate) row_digits: u32,
}

impl Keys {
    pub(crate) fn new(shard_size: u64) -> Self {
        // As the established tool: ceil(log10(size)) digits, so 10,000 rows take 4.
        let mut row_digits = 0;
        while 10u64.saturating_pow(row_digits) < shard_size {
            row_digits += 1;
        }
        Keys { shard_size: shard_size.max(1), row_digits }
    }

    /// The shard of input row `row`.
    pub(crate) fn shard_of_row(self, row: u64) -> u64 {
        row / self.shard_size
    }

    /// The key of input row `row`: its shard and index as one zero-padded number.
    pub(crate) fn key(self, row: u64) -> String {
        let (shard, index) = (row / self.shard_size, row % self.shard_size);
        let number = shard.saturating_mul(10u64.saturating_pow(self.row_digits)).saturating_add(index);
        format!("{number:0width$}", width = SHARD_DIGITS + self.row_digits as usize)
    }

    /// A shard's file name stem: `00003`.
    pub(crate) fn shard_name(shard: u64) -> String {
        format!("{shard:0SHARD_DIGITS$}")
    }

    /// The input row of the item, as numbered when it was listed.
    pub(crate) fn row(item: &Item) -> Option<u64> {
        item.fields.as_ref()?.row
    }
}

/// The suffix of a shard's metadata table, which every format writes.
const METADATA: &str = ".parquet";

/// The suffix of a shard's stats, which every format writes, last.
const STATS: &str = "_stats.json";

/// The stats file of a shard: written last, so its presence means the shard is complete.
pub(crate) fn stats_key(shard: u64) -> String {
    format!("{}{STATS}", Keys::shard_name(shard))
}

/// The suffixes of a shard's files, of every format, in the order they
/// are stored: the samples, the metadata, the stats last.
fn shard_suffixes() -> Vec<&'static str> {
    Format::every_sample_file().chain([METADATA, STATS]).collect()
}

/// `00012.tar` → (12, ".tar"): a shard's file at the top of the store.
pub(crate) fn shard_file(key: &str) -> Option<(u64, &'static str)> {
    let digits = key.bytes().take_while(u8::is_ascii_digit).count();
    if digits < SHARD_DIGITS {
        return None;
    }
    let suffix = shard_suffixes().into_iter().find(|&suffix| &key[digits..] == suffix)?;
    Some((key[..digits].parse().ok()?, suffix))
}

/// Which shards an earlier run completed: those whose every object the
/// store's listing (read once when the run started) holds, and whose stats
/// (read once per such shard) count a full shard.
#[derive(Debug)]
pub(crate) struct Published {
    store: Store,
    keys: Keys,
    format: Format,
    listing: Listing,
    known: Mutex<HashMap<u64, bool>>,
}

impl Published {
    pub(crate) fn new(store: Store, keys: Keys, format: Format, listing: Listing) -> Self {
        Published { store, keys, format, listing, known: Mutex::default() }
    }

    /// Whether shard `shard` is complete in the store: the listing holds
    /// its sample files (the tar of webdataset), its metadata and its stats, and the stats
    /// count a full shard of this size. A short shard (the input's last,
    /// or one `--count` cut) is made again whole, since this run may list
    /// more of it; a store that cannot be read says no. Either way a shard
    /// is made again rather than lost.
    pub(crate) fn contains(&self, shard: u64) -> bool {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        *known.entry(shard).or_insert_with(|| {
            let name = Keys::shard_name(shard);
            let mut suffixes = self.format.shards().sample_files().iter().chain(&[METADATA, STATS]);
            if !suffixes.all(|suffix| self.listing.contains(&format!("{name}{suffix}"))) {
                return false;
            }
            let Ok(Some(bytes)) = self.store.read(&stats_key(shard)) else { return false };
            let stats: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let size = self.keys.shard_size;
            stats["shard_size"].as_u64() == Some(size) && stats["count"].as_u64() == Some(size)
        })
    }
}

/// What the run does to each listed item, after the `--count` cap and
/// before the task's share and the resume (so it sees every listed item
/// once, in order).
pub(crate) type PrepareItem = Box<dyn FnMut(Item) -> Item + Send>;

/// Whether an item is a cluster task's, shared by the numbering and the listing's filter.
pub(crate) type Takes = Arc<dyn Fn(&Item) -> bool + Send + Sync>;

/// What the run does to each listed item: numbers it (its row in the
/// input; for webdataset and parquet its name becomes the row's key, so the
/// key names the sample everywhere) and tells the writer how many of each
/// shard's rows are this run's, as they are listed. `takes` is the cluster
/// task's share, when there is one.
pub(crate) fn numbering(dataset: &Arc<Dataset>, takes: Option<Takes>) -> PrepareItem {
    let dataset = Arc::clone(dataset);
    let mut row = 0u64;
    Box::new(move |mut item: Item| {
        item.fields.get_or_insert_default().row = Some(row);
        if dataset.holds_samples() {
            item.stem = Some(dataset.keys().key(row));
        }
        if takes.as_ref().is_none_or(|takes| takes(&item)) {
            dataset.listed(row);
        }
        row += 1;
        item
    })
}

/// What a repair does to each listed row (`repair.rs`): it has its number
/// and key already; the writer is told it is listed.
pub(crate) fn relisting(dataset: &Arc<Dataset>) -> PrepareItem {
    let dataset = Arc::clone(dataset);
    Box::new(move |item: Item| {
        if let Some(row) = Keys::row(&item) {
            dataset.listed(row);
        }
        item
    })
}

/// The items of a cluster task's share, for webdataset and parquet: those
/// of the output shards it `takes_shard` (by number modulo the task count:
/// whole shards, never split, so a shard is one task's).
pub(crate) fn share(keys: Keys, takes_shard: impl Fn(u64) -> bool + Send + Sync + 'static) -> Takes {
    Arc::new(move |item| Keys::row(item).is_some_and(|row| takes_shard(keys.shard_of_row(row))))
}

/// The rows an earlier run completed, for webdataset and parquet: those of
/// published shards.
pub(crate) fn complete_index(keys: Keys, published: Arc<Published>) -> CompleteIndex {
    Box::new(move |item: &Item| {
        let row = Keys::row(item)?;
        published.contains(keys.shard_of_row(row)).then(|| keys.key(row))
    })
}

/// The kind of a failure, for the `status` column: the fetch error's kind
/// (`status`, `timeout`, `not_an_image`, `disallowed`...), else the stage
/// that failed (`transform`, `store`, `abandoned`).
pub(crate) fn failure_kind(failed: &Failed) -> String {
    match &failed.error {
        ItemError::Fetch(error) => error.kind(),
        ItemError::Transform(_) => "transform",
        ItemError::Store(_) => "store",
        ItemError::Abandoned(_) => "abandoned",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use common::fetch::FetchError;

    use super::*;

    /// Keys as the established tool makes them: 5 shard digits, then
    /// ceil(log10(size)) row digits.
    #[test]
    fn keys_are_shard_and_row() {
        let keys = Keys::new(10_000);
        assert_eq!(keys.key(0), "000000000");
        assert_eq!(keys.key(30_042), "000030042");
        assert_eq!(keys.shard_of_row(30_042), 3);
        let small = Keys::new(3);
        assert_eq!(small.key(7), "000021");
        assert_eq!(small.shard_of_row(7), 2);
        assert_eq!(Keys::new(1).key(5), "00005");
        assert_eq!(Keys::shard_name(12), "00012");
    }

    #[test]
    fn failure_kinds_name_the_variants() {
        let failed = Failed::from(FetchError::Status(404));
        assert_eq!(failure_kind(&failed), "status");
        let failed = Failed::from(ItemError::Transform("Bad image".into()));
        assert_eq!(failure_kind(&failed), "transform");
        let failed = Failed::from(FetchError::NotAnImage("text/html".into()));
        assert_eq!(failure_kind(&failed), "not_an_image");
    }

    /// A saved column may not repeat a field the dataset writes, nor
    /// another saved column; the caption column may be saved under its
    /// own name (it is written as `caption`).
    #[test]
    fn saved_columns_cannot_clash() {
        use clap::Parser;
        let check = |extra: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from(["x"].iter().chain(extra)).unwrap();
            cli.pipeline.dataset.check_saved_columns()
        };
        assert_eq!(check(&["--save-columns", "similarity,punsafe"]), Ok(()));
        assert_eq!(check(&["--caption-column", "text", "--save-columns", "text"]), Ok(()));
        let clash = check(&["--save-columns", "similarity,width,height"]).unwrap_err();
        assert!(clash.starts_with("--save-columns width: `width` is a field the dataset writes"), "{clash}");
        assert!(check(&["--save-columns", "exif"]).unwrap_err().contains("leave exif out"));
        let twice = check(&["--save-columns", "id,score,id"]).unwrap_err();
        assert_eq!(twice, "--save-columns names id twice; name each column once");
        let caption = check(&["--caption-column", "caption", "--save-columns", "caption"]).unwrap_err();
        assert!(caption.contains("written as `caption` already"), "{caption}");
        for name in RESERVED_COLUMNS {
            assert!(check(&["--save-columns", name]).is_err(), "{name}");
        }
    }

    #[test]
    fn rules_refuse_small_and_stretched_images() {
        let rules = SampleRules {
            min_image_size: 100,
            max_aspect_ratio: Some(3.0),
            compute_hash: false,
            extract_exif: false,
            keep_images: true,
        };
        assert!(rules.check((200, 150), 1).is_ok());
        assert!(rules.check((99, 500), 1).unwrap_err().to_string().contains("too small"));
        assert!(rules.check((1000, 300), 1).unwrap_err().to_string().contains("aspect ratio"));
    }
}
