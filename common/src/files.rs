//! The output folder: safe, unique file names and atomic writes.
//!
//! A URL is input from the internet, so the name it gets on disk is built
//! from an allow-list of characters (never `/`, never a leading dot, so never
//! `..`), cut to a sane length, and made unique by a hash of the whole URL.
//! A file appears under its final name only once it is complete: it is
//! written to a hidden temporary file in the same folder and renamed, which
//! is atomic on every file system we target, so a crash, a full disk or a
//! dropped connection never leaves half an image that looks whole.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use image::ImageFormat;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::download::Saved;
use crate::fetch::Fetched;
use crate::source::ImageRef;

/// Longest stem taken from a URL, in bytes: file systems allow 255 bytes a
/// name, and a readable name needs far fewer.
const MAX_STEM: usize = 64;

/// Hex digits of the URL hash in a name: 64 bits, so two URLs of a
/// ten-million-image run collide with a probability of about 3 in a million.
const HASH_HEX: usize = 16;

/// Prefix of temporary files; `--clean` removes leftovers of a killed run.
const PARTIAL_PREFIX: &str = ".partial-";

/// An error preparing or writing the output folder.
#[derive(Debug, Error)]
pub enum FilesError {
    /// The folder could not be created or read.
    #[error("cannot use output folder {path}: {cause}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// The task writing a file panicked (a bug, reported rather than lost).
    #[error("writing a file failed unexpectedly: {0}")]
    Panicked(String),
    /// A file could not be written.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file's final path.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
}

/// The folder images are saved into.
#[derive(Debug, Clone)]
pub struct OutputDir {
    path: PathBuf,
}

impl OutputDir {
    /// Creates the folder if needed; with `clean`, first removes the files an
    /// earlier run wrote (images, thumbnails, metadata and partial files).
    ///
    /// Cleaning deliberately leaves anything else alone (subfolders, notes,
    /// other file types): `--out ~ --clean` must not be able to empty a home.
    pub fn prepare(path: &Path, clean: bool) -> Result<Self, FilesError> {
        Self::prepare_cleaning(path, clean, is_ours)
    }

    /// As [`OutputDir::prepare`], but with `clean` removing only the files
    /// whose name `is_ours` accepts (and partial files of a killed run): the
    /// thumbnail binaries remove `*_thumbnail.*` and leave the images alone,
    /// even when the input and output folders are the same.
    pub fn prepare_cleaning(path: &Path, clean: bool, is_ours: impl Fn(&str) -> bool) -> Result<Self, FilesError> {
        let folder_error = |cause| FilesError::Folder { path: path.to_path_buf(), cause };
        fs::create_dir_all(path).map_err(folder_error)?;
        if clean {
            for entry in fs::read_dir(path).map_err(folder_error)? {
                let entry = entry.map_err(folder_error)?;
                let is_file = entry.file_type().map_err(folder_error)?.is_file();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if is_file && (name.starts_with(PARTIAL_PREFIX) || is_ours(&name)) {
                    fs::remove_file(entry.path()).map_err(folder_error)?;
                }
            }
        }
        Ok(OutputDir { path: path.to_path_buf() })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves a fetched image under its safe, unique name (see [`file_name`]).
    /// Every methodology, blocking or async, saves through this one call, so
    /// all of them write the same bytes under the same names.
    pub fn save_image(&self, image: &ImageRef, fetched: &Fetched) -> Result<Saved, FilesError> {
        let name = file_name(&image.url, image.stem.as_deref(), fetched.format);
        let path = self.write_atomic(&name, &fetched.bytes)?;
        Ok(Saved { path, bytes: fetched.bytes.len() as u64 })
    }

    /// Writes `bytes` to `name` in this folder, atomically: readers see
    /// either no file or the whole file, never part of it.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, FilesError> {
        let path = self.path.join(name);
        let write_error = |cause| FilesError::Write { path: path.clone(), cause };
        let mut partial =
            tempfile::Builder::new().prefix(PARTIAL_PREFIX).tempfile_in(&self.path).map_err(write_error)?;
        partial.write_all(bytes).map_err(write_error)?;
        // No fsync: a power cut may lose the newest images, but the rename
        // still never exposes a partial one, and syncing every small file
        // would cost more than the download. Dropping `partial` on an error
        // above deletes the temporary file.
        partial.persist(&path).map_err(|err| write_error(err.error))?;
        Ok(path)
    }
}

/// The file name an image from `url` is saved under.
///
/// `stem` is a name the source vouches for (an Unsplash photo id); without
/// one the stem comes from the URL's last path segment plus a hash of the
/// whole URL, so that `a.com/x/1.jpg` and `b.com/y/1.jpg` never collide. The
/// extension is the image's real format, whatever the URL claims.
pub fn file_name(url: &str, stem: Option<&str>, format: ImageFormat) -> String {
    let extension = format.extensions_str().first().copied().unwrap_or("img");
    match stem {
        Some(stem) => format!("{}.{extension}", safe_stem(stem)),
        None => {
            let digest = Sha256::digest(url.as_bytes());
            let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..HASH_HEX].to_string();
            format!("{}-{hash}.{extension}", safe_stem(last_segment_stem(url)))
        }
    }
}

/// The last non-empty path segment of a URL, without query, fragment or extension.
fn last_segment_stem(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or("");
    let after_scheme = without_query.split_once("://").map_or(without_query, |(_, rest)| rest);
    let path = after_scheme.split_once('/').map_or("", |(_, path)| path);
    let segment = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    segment.rsplit_once('.').map_or(segment, |(stem, _)| stem)
}

/// Keeps `[A-Za-z0-9_-]` and single dots inside the name, replaces the rest
/// with `_`, drops leading dots and cuts to [`MAX_STEM`] bytes. Percent
/// escapes are *not* decoded, so `%2e%2e%2f` stays harmless text.
fn safe_stem(raw: &str) -> String {
    let mut stem = String::with_capacity(raw.len().min(MAX_STEM));
    for c in raw.chars() {
        if stem.len() >= MAX_STEM {
            break;
        }
        let keep =
            c.is_ascii_alphanumeric() || c == '-' || c == '_' || (c == '.' && !stem.is_empty() && !stem.ends_with('.'));
        stem.push(if keep { c } else { '_' });
    }
    let stem = stem.trim_end_matches('.').trim_start_matches(['.', '_']).to_string();
    if stem.is_empty() { "image".to_string() } else { stem }
}

/// Files a run of this workspace may have written into an output folder.
fn is_ours(name: &str) -> bool {
    const EXTENSIONS: [&str; 10] = ["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "img", "jsonl"];
    if name.starts_with(PARTIAL_PREFIX) {
        return true;
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    extension.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile URLs give names that stay inside the folder and are unique.
    #[test]
    fn names_are_safe_and_unique() {
        let hostile = [
            "http://h/../../etc/passwd",
            "http://h/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "http://h/a/..",
            "http://h/.hidden.jpg",
            "http://h/x\0y.jpg",
            "http://h/C:\\Windows\\system32.jpg",
            "http://h/",
            "http://h",
            "http://h/..?q=/../../x",
            "http://h/über/ſmile.jpg",
        ];
        let long = format!("http://h/{}.jpg", "a".repeat(5000));
        let mut names = std::collections::HashSet::new();
        for url in hostile.iter().copied().chain([long.as_str()]) {
            let name = file_name(url, None, ImageFormat::Jpeg);
            assert!(!name.contains('/') && !name.contains('\\') && !name.contains('\0'), "{name}");
            assert!(!name.starts_with('.'), "{name}");
            assert!(name.len() <= MAX_STEM + HASH_HEX + 6, "{name}");
            assert_eq!(Path::new(&name).components().count(), 1, "{name}");
            assert!(names.insert(name.clone()), "duplicate name {name} for {url}");
        }
    }

    /// Same last segment on different hosts: different names.
    #[test]
    fn same_segment_different_urls_do_not_collide() {
        let a = file_name("http://a.com/x/1.jpg", None, ImageFormat::Jpeg);
        let b = file_name("http://b.com/y/1.jpg", None, ImageFormat::Jpeg);
        assert!(a.starts_with("1-") && b.starts_with("1-"));
        assert_ne!(a, b);
    }

    /// The extension follows the real format, not the URL.
    #[test]
    fn extension_is_the_real_format() {
        assert!(file_name("http://h/photo.jpg", None, ImageFormat::Png).ends_with(".png"));
        assert_eq!(file_name("http://h/x?id=9", Some("AbC-9_z"), ImageFormat::Jpeg), "AbC-9_z.jpg");
        assert_eq!(file_name("http://h/x", Some("../../x"), ImageFormat::Jpeg), "x.jpg");
    }
}
