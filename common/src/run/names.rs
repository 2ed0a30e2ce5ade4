//! The name an item is stored under: safe, unique and stable.
//!
//! A URL is input from the internet, so the name it gets on disk (or as an
//! object key) is built from an allow-list of characters (never `/`, never a
//! leading dot, so never `..`), cut to a sane length, and made unique by a
//! hash of the whole URL. The same item gets the same name in every run and
//! every methodology, which is what makes their outputs comparable byte for
//! byte and a re-run able to find what an earlier one stored.

use image::ImageFormat;
use sha2::{Digest, Sha256};

use crate::formats;

/// Longest stem taken from a URL, in bytes: file systems allow 255 bytes a
/// name, and a readable name needs far fewer.
const MAX_STEM: usize = 64;

/// Hex digits of the URL hash in a name: 64 bits, so two URLs of a
/// ten-million-image run collide with a probability of about 3 in a million.
const HASH_HEX: usize = 16;

/// The file name an image from `url` is saved under: its [`name_stem`] and
/// the extension of its real format, whatever the URL claims.
pub(crate) fn file_name(url: &str, stem: Option<&str>, format: ImageFormat) -> String {
    format!("{}.{}", name_stem(url, stem), formats::extension(format))
}

/// The name of `item`'s image without an extension: what a download run
/// saves it as (plus the extension), and what a run that makes other
/// objects of it names them after (`<name>_thumbnail.jpg`, `<name>/crop-000.jpg`).
/// Safe as a file name and as one part of an object key.
pub fn image_name(item: &crate::sources::Item) -> String {
    name_stem(&item.url, item.stem.as_deref())
}

/// The name an image from `url` is saved under, without its extension.
///
/// `stem` is a name the source vouches for (an Unsplash photo id); without
/// one the stem comes from the URL's last path segment plus a hash of the
/// whole URL, so that `a.com/x/1.jpg` and `b.com/y/1.jpg` never collide.
/// It is known before anything is fetched (the extension is not: it comes
/// from the bytes), which is what lets a re-run skip an image whose file is
/// there without asking for it.
pub(crate) fn name_stem(url: &str, stem: Option<&str>) -> String {
    match stem {
        Some(stem) => safe_stem(stem),
        None => {
            let digest = Sha256::digest(url.as_bytes());
            let hash = &hex::encode(digest)[..HASH_HEX];
            format!("{}-{hash}", safe_stem(last_segment_stem(url)))
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

#[cfg(test)]
mod tests {
    use std::path::Path;

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

    /// A file name is its stem, a dot and an extension without dots, so the
    /// stem of a saved file is what comes before its last dot, even when the
    /// stem has dots of its own.
    #[test]
    fn file_name_is_stem_and_extension() {
        for (url, stem) in [("http://h/a.b.c.jpg", None), ("http://h/x", Some("v1.2")), ("http://h/", None)] {
            let name = file_name(url, stem, ImageFormat::Png);
            assert_eq!(name.rsplit_once('.'), Some((name_stem(url, stem).as_str(), "png")), "{name}");
        }
    }
}
