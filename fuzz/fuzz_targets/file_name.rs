//! Fuzz target: the file name an item is stored under, for any URL, stem and format.
//!
//! `cargo +nightly fuzz run file_name` (or `scripts/fuzz.sh`). Checks the
//! promises of `run/names.rs`: one path component of `[A-Za-z0-9._-]`, no
//! leading dot, bounded length, the format's extension, deterministic, and
//! (without a stem) different URLs give different names.

#![no_main]

use std::path::{Component, Path};

use common::fuzzing::file_name;
use image::ImageFormat;
use libfuzzer_sys::fuzz_target;

/// The formats a download can have (the crate's `formats::IMAGE_FORMATS`).
const FORMATS: [ImageFormat; 6] =
    [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Tiff];

/// Stem (64) + `-` + hash (16) + `.` + the longest extension (4).
const MAX_NAME: usize = 64 + 1 + 16 + 1 + 4;

fuzz_target!(|input: (&str, Option<&str>, u8)| {
    let (url, stem, format) = input;
    let format = FORMATS[usize::from(format) % FORMATS.len()];
    let name = file_name(url, stem, format);

    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{name:?}");
    assert!(!name.starts_with('.') && name.len() <= MAX_NAME, "{name:?}");
    let components: Vec<_> = Path::new(&name).components().collect();
    assert!(matches!(components[..], [Component::Normal(_)]), "{name:?}");
    let extension = format.extensions_str()[0];
    assert!(name.ends_with(&format!(".{extension}")), "{name:?} for {format:?}");
    assert_eq!(name, file_name(url, stem, format), "not deterministic");
    if stem.is_none() {
        let other = format!("{url}x");
        assert_ne!(name, file_name(&other, None, format), "{url:?} and {other:?} share a name");
    }
});
