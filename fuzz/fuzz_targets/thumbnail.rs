//! Fuzz target: the thumbnail maker, on any bytes, for any spec.
//!
//! `cargo +nightly fuzz run thumbnail` (or `scripts/fuzz.sh`). The first
//! two bytes choose the spec (output format, fit or crop, box size, a small
//! or large file limit); the rest is the image. `make_thumbnail` must never
//! panic (libjpeg's errors are caught inside it, per file), must refuse a
//! file over its size limit and a frame over its pixel limit, and what it
//! returns must decode, in the asked format, and fit the box.

#![no_main]

use std::io::Cursor;

use common::thumbnail::{BoxSize, FitMode, Limits, OutputFormat, ThumbnailError, ThumbnailSpec, make_thumbnail};
use image::{ImageFormat, ImageReader};
use libfuzzer_sys::fuzz_target;

/// Pixels allowed: far below the default so a "bomb" the fuzzer writes is
/// refused quickly rather than decoded slowly; the check is the same code.
const MAX_PIXELS: u64 = 1 << 20;

fuzz_target!(|input: &[u8]| {
    let [choice, side, image @ ..] = input else {
        return;
    };
    let (format, expected) = match choice % 3 {
        0 => (OutputFormat::Jpg, ImageFormat::Jpeg),
        1 => (OutputFormat::Png, ImageFormat::Png),
        _ => (OutputFormat::Webp, ImageFormat::WebP),
    };
    let mode = if choice & 4 == 0 { FitMode::Fit } else { FitMode::Crop };
    let max_file_bytes = if choice & 8 == 0 { 1 << 20 } else { 512 };
    let size = BoxSize { width: u32::from(side % 64) + 1, height: u32::from(side / 64) * 16 + 1 };
    let limits = Limits { max_file_bytes, max_pixels: MAX_PIXELS, max_scans: 100 };
    let spec = ThumbnailSpec { size, mode, format, quality: 75, limits };

    let made = make_thumbnail(image, &spec);
    if image.len() as u64 > max_file_bytes {
        assert!(matches!(made, Err(ThumbnailError::TooLarge { .. })), "{made:?}");
    }
    let Ok(thumbnail) = made else {
        return;
    };
    // What `image` reads in the header must be within the pixel limit too.
    let header = ImageReader::new(Cursor::new(image)).with_guessed_format().ok().and_then(|r| r.into_dimensions().ok());
    if let Some((width, height)) = header {
        assert!(u64::from(width) * u64::from(height) <= MAX_PIXELS, "{width}x{height} accepted");
    }
    assert_eq!(image::guess_format(&thumbnail).ok(), Some(expected));
    let decoded = image::load_from_memory(&thumbnail).expect("the thumbnail decodes");
    assert!(
        decoded.width() <= size.width && decoded.height() <= size.height,
        "{}x{} for {size:?}",
        decoded.width(),
        decoded.height()
    );
});
