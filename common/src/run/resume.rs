//! Resume: what an earlier run into the same folder already completed.
//!
//! A re-run (after a crash, a `kill -9`, a Ctrl-C, or to add images to a
//! folder) fetches only what is missing. Files are written atomically, so a
//! file under its final name is whole, and a temporary file never has a
//! final name. The run reads the folder once, when it starts, and an item
//! whose file is there is skipped before any request is made.
//!
//! A final name is a stem and an extension, and the extension comes from
//! the image's bytes, which are not known before the fetch. So the index is
//! by stem ([`name_stem`], which every item has before it is fetched): one
//! look-up in memory per item, never a probe of the disk for each possible
//! extension. `--force` turns the skip off; `--clean` starts from an empty
//! folder, where there is nothing to skip.

use std::collections::HashMap;

use super::names::name_stem;
use crate::formats;
use crate::sources::Item;
use crate::store::{LocalDir, SinkError};

/// The complete files of an output folder, by stem, as read when the run
/// started.
///
/// Memory: one entry per file, about 80 bytes with a typical 30-40 byte
/// stem, so a folder of a million images costs some 80 MB, read in one
/// pass. That is fine up to a few million; a folder of tens of millions
/// would want an index of its own (for instance a sorted file the sink
/// writes beside the images) instead of a set in memory.
#[derive(Debug, Default)]
pub(crate) struct CompleteFiles {
    /// Stem to extension; the extension is one a run writes (`jpg`, `png`, ...).
    by_stem: HashMap<Box<str>, &'static str>,
}

impl CompleteFiles {
    /// Reads `out` once. Only names a download run writes count: a stem, a
    /// dot and the extension of an accepted format as the run spells it
    /// (`a.jpg`, not `a.JPEG` or `notes.txt`).
    pub(crate) fn read(out: &LocalDir) -> Result<Self, SinkError> {
        let mut by_stem = HashMap::new();
        out.for_each_complete_file(|name| {
            if let Some((stem, extension)) = name.rsplit_once('.')
                && let Some(extension) = formats::as_saved_extension(extension)
            {
                by_stem.insert(Box::from(stem), extension);
            }
        })?;
        Ok(CompleteFiles { by_stem })
    }

    /// The name of `item`'s file, if an earlier run completed it.
    pub(crate) fn find(&self, item: &Item) -> Option<String> {
        let stem = name_stem(&item.url, item.stem.as_deref());
        self.by_stem.get(stem.as_str()).map(|extension| format!("{stem}.{extension}"))
    }
}

#[cfg(test)]
mod tests {
    use image::ImageFormat;

    use super::*;
    use crate::run::names::file_name;

    /// An item is found by its stem whatever its format; partial files,
    /// other spellings and other files are not complete images.
    #[test]
    fn finds_saved_items_by_stem() {
        let dir = tempfile::tempdir().unwrap();
        let out = LocalDir::prepare(dir.path(), false, |_| false).unwrap();
        let png = Item::from_url("http://h/photos/v1.2/a.b.jpg?w=9");
        let api = Item { stem: Some("AbC".into()), ..Item::from_url("http://api/x") };
        let cases = [
            (file_name(&png.url, None, ImageFormat::Png), "png"),
            ("AbC.webp".to_string(), "api"),
            (".partial-AbC".to_string(), "partial"),
            ("missing-0000000000000000.JPG".to_string(), "upper case"),
            ("metadata.jsonl".to_string(), "not an image"),
        ];
        for (name, _) in &cases {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let complete = CompleteFiles::read(&out).unwrap();
        assert_eq!(complete.find(&png), Some(cases[0].0.clone()));
        assert_eq!(complete.find(&api).as_deref(), Some("AbC.webp"));
        assert_eq!(complete.find(&Item::from_url("http://h/photos/a.b.jpg")), None, "another URL, another hash");
        assert_eq!(complete.by_stem.len(), 2, "{:?}", complete.by_stem);
    }
}
