//! Output formats: what holds a shard's samples (`--output-format`).
//!
//! Every format shares the dataset's shape (`dataset/`): input rows cut
//! into shards of `--shard-size`, each shard with its metadata table
//! (`NNNNN.parquet`, one row per input row) and its stats
//! (`NNNNN_stats.json`, stored last). A format adds only where the
//! samples go, through [`ShardFormat`]:
//! - [`files`]: each image as its own object, named after it;
//! - [`webdataset`]: `NNNNN.tar`, each sample as `KEY.jpg`, `KEY.json`, `KEY.txt`;
//! - [`parquet`]: the images in the metadata table's `jpg` column.
//!
//! **Adding a format** is one module here and one variant of [`Format`]:
//! nothing else in the crate names a format. A TFRecord writer, say:
//!
//! ```ignore
//! // formats/tfrecord.rs
//! pub(crate) struct TfRecord;
//!
//! impl ShardFormat for TfRecord {
//!     fn name(&self) -> &'static str { "tfrecord" }
//!     fn sample_files(&self) -> &'static [&'static str] { &[".tfrecord"] }
//!     fn write(&self, rows: &mut [Row], earlier: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
//!         // Each success as a length-prefixed, CRC-checked tf.train.Example
//!         // (its jpg, key and caption); a success with no image (a repair's
//!         // old rows) copied from the record of its key in earlier[0].
//!     }
//! }
//!
//! // formats/mod.rs: `mod tfrecord;`, then in `Format`
//! //     /// TFRecord shards of tf.train.Example, with Parquet metadata per shard.
//! //     Tfrecord,
//! // and in `Format::shards`: `Format::Tfrecord => &tfrecord::TfRecord,`.
//! ```
//!
//! The run (resume, repair, `--clean`, the cluster tasks' shares) then
//! finds a tfrecord shard's files by [`ShardFormat::sample_files`], and
//! the writer holds its images in memory until the shard is stored, as
//! for the other formats that keep them ([`ShardFormat::holds_images`]).

mod files;
mod parquet;
mod webdataset;

use std::io;

use crate::dataset::Row;

/// How the samples are written (`--output-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// One object per thumbnail or crop, named after the image (as before).
    Files,
    /// Tar shards of samples (KEY.jpg, KEY.json, KEY.txt), with Parquet metadata per shard.
    Webdataset,
    /// Parquet shards, one row per input row, the image in a binary column.
    Parquet,
}

impl Format {
    /// What writes this format's shards.
    pub(crate) fn shards(self) -> &'static dyn ShardFormat {
        match self {
            Format::Files => &files::Files,
            Format::Webdataset => &webdataset::WebDataset,
            Format::Parquet => &parquet::Parquet,
        }
    }

    /// As `--output-format` and the stats name it.
    pub(crate) fn name(self) -> &'static str {
        self.shards().name()
    }

    /// The sample files of every format, by suffix: a store's dataset
    /// files are known by them, whichever format wrote them.
    pub(crate) fn every_sample_file() -> impl Iterator<Item = &'static str> {
        <Format as clap::ValueEnum>::value_variants()
            .iter()
            .flat_map(|format| format.shards().sample_files().iter().copied())
    }
}

/// One output format: what its shards hold besides the metadata table
/// and the stats that every format writes.
pub(crate) trait ShardFormat: Sync {
    /// As `--output-format` and the stats name it.
    fn name(&self) -> &'static str;

    /// Whether a shard holds its samples' images, so a made image waits in
    /// memory with its shard and counts as saved once the shard is stored;
    /// otherwise each image is stored as its own object when it is made,
    /// and is named after the image rather than the row's key.
    fn holds_images(&self) -> bool {
        true
    }

    /// The suffixes (after the shard's number) of the files that hold the
    /// samples, besides `.parquet` and `_stats.json`: `.tar` for
    /// webdataset. They are stored in this order, before the metadata.
    fn sample_files(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether the metadata table has a `name` column: the objects' name,
    /// for a format that stores each image as its own object.
    fn names_column(&self) -> bool {
        false
    }

    /// Whether the metadata table holds the images, in a `jpg` column.
    fn images_column(&self) -> bool {
        false
    }

    /// The shard's sample files, one for each of [`Self::sample_files`],
    /// of its `rows` (in key order): each success's image is taken out of
    /// its row; a success without one (a repair's rows that were saved
    /// before) is copied from `earlier`, the shard's files as they were
    /// stored (empty when the shard is new).
    fn write(&self, rows: &mut [Row], earlier: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
        let _ = (rows, earlier);
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// Each format's name is its flag's value, and each writes one file per suffix it names.
    #[test]
    fn names_and_files_agree() {
        for format in Format::value_variants() {
            let value = format.to_possible_value().unwrap();
            assert_eq!(value.get_name(), format.name());
            let files = format.shards().write(&mut [], &[]).unwrap();
            assert_eq!(files.len(), format.shards().sample_files().len(), "{}", format.name());
        }
        assert_eq!(Format::every_sample_file().collect::<Vec<_>>(), [".tar"]);
    }
}
