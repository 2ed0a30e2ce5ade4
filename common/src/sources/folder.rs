//! A folder of images already on disk as a listing (an `--input DIR`
//! flag): the original benchmark's "local" variant, where the images are
//! read from disk instead of downloaded.
//!
//! Each image file (by extension, not hidden, not searched recursively) is
//! one [`Item`] whose `url` is its path and whose stem is its file stem, so
//! what a run makes of `photo.jpg` is named after `photo`. Two files with
//! one stem (`a.jpg`, `a.png`) get the extension in their stems (`a_jpg`,
//! `a_png`), as the thumbnail binaries name their thumbnails, so neither
//! overwrites the other's objects. The folder is listed once and sorted, so
//! every run and every methodology sees the same items in the same order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Item, Listing, SourceError};
use crate::formats;

/// Lists the images of `folder`, sorted by file name.
pub fn folder_list(folder: &Path) -> Result<Listing, SourceError> {
    let unreadable = |cause| SourceError::InputFolder { path: folder.to_path_buf(), cause };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let hidden = path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.'));
        let is_image = path.extension().is_some_and(|e| formats::is_image_extension(&e.to_string_lossy()));
        if is_image && !hidden && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let stem_of = |path: &Path| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut stems: HashMap<String, usize> = HashMap::new();
    for path in &paths {
        *stems.entry(stem_of(path)).or_default() += 1;
    }
    let items: Vec<Item> = paths
        .iter()
        .map(|path| {
            let stem = stem_of(path);
            let stem = if stems.get(&stem).copied().unwrap_or(0) > 1 {
                let extension = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{stem}_{extension}")
            } else {
                stem
            };
            Item { url: path.display().to_string(), stem: Some(stem), record: None, fields: None }
        })
        .collect();
    Ok(Box::new(items.into_iter().map(Ok)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only image files are listed, sorted, with unique stems.
    #[test]
    fn lists_images_with_unique_stems() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.JPG", "a.jpg", "a.png", "notes.txt", ".hidden.jpg", "c.webp"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.jpg")).unwrap();
        let items: Vec<Item> = folder_list(dir.path()).unwrap().map(Result::unwrap).collect();
        let stems: Vec<&str> = items.iter().filter_map(|i| i.stem.as_deref()).collect();
        assert_eq!(stems, ["a_jpg", "a_png", "b", "c"]);
        assert_eq!(items[2].url, dir.path().join("b.JPG").display().to_string());
        assert!(folder_list(&dir.path().join("missing")).is_err());
    }
}
