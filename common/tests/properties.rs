//! Property tests of the four functions that read hostile input: the file
//! name an item is stored under, the URL-list readers, the JPEG marker
//! reader and the thumbnail maker. Stable Rust's counterpart of the fuzz
//! targets in `fuzz/` (which need nightly): fewer and less clever inputs,
//! but run by every `cargo test`.
//!
//! Each property states a promise for *every* input of a kind, and
//! `proptest` tries a few dozen to a few hundred generated ones; a failure
//! is shrunk to a minimal input, printed, and replayed first by the next
//! run (from `properties.proptest-regressions`, next to this file). Once
//! the function is fixed, the input becomes a plain regression test at the
//! end of this file, where it is readable and always runs, and that file
//! is deleted.
//!
//! `cargo test -p common --test properties` (a few seconds).

#![allow(clippy::unwrap_used)] // a test that cannot write its temp file should panic

use std::io::{Cursor, Write};
use std::path::{Component, Path};
use std::sync::OnceLock;

use common::fuzzing::{JpegMarkersError, file_name, read_jpeg_markers};
use common::sources::open_url_list;
use common::thumbnail::{BoxSize, FitMode, Limits, OutputFormat, ThumbnailError, ThumbnailSpec, make_thumbnail};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use proptest::prelude::*;

/// The formats a download can have.
const FORMATS: [ImageFormat; 6] =
    [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Tiff];

/// Longest name: stem (64) + `-` + hash (16) + `.` + the longest extension (4).
const MAX_NAME: usize = 64 + 1 + 16 + 1 + 4;

/// The URL-list names, one per reader; each is also read gzip-compressed.
const LIST_NAMES: [&str; 4] = ["urls.txt", "urls.csv", "urls.tsv", "urls.jsonl"];

/// Cases for the properties that decode or encode images (the default 256
/// would take most of a minute in a debug build).
const IMAGE_CASES: u32 = 48;

// ---------------------------------------------------------------- helpers

/// A URL-like string: mostly URL characters, with the ones that make
/// trouble in a path (`/`, `\`, `.`, `%`, NUL, non-ASCII) well represented.
fn url_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "(https?://)?[a-z.]{0,12}(/(\\.\\.|\\.|[a-zA-Z0-9%._~\\\\-]{0,12}|ü|\u{0}|\u{feff})){0,6}(\\?[a-z=&/.]{0,10})?(#.{0,4})?",
        any::<String>(),
    ]
}

fn format() -> impl Strategy<Value = ImageFormat> {
    proptest::sample::select(&FORMATS[..])
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Reads `bytes` as the URL list `name` as a run does (to the end or the
/// first error): the URLs, and whether it ended with an error. `None` if
/// the list was refused when opened (a CSV without the column).
fn read_list(name: &str, bytes: &[u8]) -> Option<(Vec<String>, bool)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let listing = open_url_list(&path, None).ok()?;
    let mut urls = Vec::new();
    for item in listing {
        match item {
            Ok(item) => urls.push(item.url),
            Err(_) => return Some((urls, true)),
        }
    }
    Some((urls, false))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

/// A `width`x`height` JPEG with some detail in it.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let pixels = RgbImage::from_fn(width, height, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]));
    encode(&DynamicImage::ImageRgb8(pixels), ImageFormat::Jpeg)
}

/// `jpeg` with an EXIF block (APP1 segment) right after its start marker
/// whose only tag is orientation 6 (rotate 90 degrees clockwise).
fn with_exif_orientation(jpeg: &[u8]) -> Vec<u8> {
    const EXIF: &[u8] = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0";
    let length = u16::try_from(EXIF.len() + 2).unwrap().to_be_bytes();
    [&jpeg[..2], &[0xFF, 0xE1], &length, EXIF, &jpeg[2..]].concat()
}

/// A few small valid images (made once): the starting points of the
/// corruption strategies, one per path through the thumbnail maker.
fn valid_images() -> &'static [Vec<u8>] {
    static IMAGES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let rgb = DynamicImage::ImageRgb8(RgbImage::from_fn(24, 18, |x, y| Rgb([(x * 10) as u8, (y * 14) as u8, 90])));
        vec![
            jpeg(40, 30),
            with_exif_orientation(&jpeg(40, 30)),
            encode(&rgb, ImageFormat::Png),
            encode(&rgb, ImageFormat::Gif),
            encode(&rgb, ImageFormat::Bmp),
        ]
    })
}

/// A valid image with up to 8 bytes overwritten, and perhaps cut short
/// (anywhere, or right after a `0xFF`, where a JPEG reader looks at the
/// next byte for a marker): what a flaky download or a hostile server
/// hands over.
fn corrupted_image() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![Just(0xFF), Just(0x00), any::<u8>()];
    let edits = proptest::collection::vec((any::<prop::sample::Index>(), byte), 0..8);
    let cut = proptest::option::of((any::<bool>(), any::<prop::sample::Index>()));
    (0..valid_images().len(), edits, cut).prop_map(|(which, edits, cut)| {
        let mut bytes = valid_images()[which].clone();
        for (at, byte) in edits {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        match cut {
            Some((false, at)) => bytes.truncate(at.index(bytes.len())),
            Some((true, at)) => {
                let after_ff: Vec<usize> = (1..=bytes.len()).filter(|&end| bytes[end - 1] == 0xFF).collect();
                if !after_ff.is_empty() {
                    bytes.truncate(after_ff[at.index(after_ff.len())]);
                }
            }
            None => {}
        }
        bytes
    })
}

fn spec() -> impl Strategy<Value = ThumbnailSpec> {
    let format = prop_oneof![Just(OutputFormat::Jpg), Just(OutputFormat::Png), Just(OutputFormat::Webp)];
    let mode = prop_oneof![
        Just(FitMode::Fit),
        Just(FitMode::Crop),
        Just(FitMode::Cover),
        Just(FitMode::Pad),
        Just(FitMode::Original)
    ];
    (1..80u32, 1..80u32, format, mode).prop_map(|(width, height, format, mode)| ThumbnailSpec {
        size: BoxSize { width, height },
        mode,
        format,
        limits: Limits { max_pixels: 1 << 20, ..Limits::default() },
        ..ThumbnailSpec::default()
    })
}

/// Checks what `make_thumbnail` promises for any input: an error, or a
/// thumbnail in the asked format that decodes and is sized as its mode
/// says: inside the box (`Fit`, `Crop`), exactly the box (`Pad`), covering
/// it with one side on it (`Cover`), anything (`Original`).
fn check_thumbnail(bytes: &[u8], spec: &ThumbnailSpec) -> Result<(), TestCaseError> {
    let Ok(thumbnail) = make_thumbnail(bytes, spec) else {
        return Ok(());
    };
    let expected = match spec.format {
        OutputFormat::Jpg => ImageFormat::Jpeg,
        OutputFormat::Png => ImageFormat::Png,
        OutputFormat::Webp => ImageFormat::WebP,
    };
    prop_assert_eq!(image::guess_format(&thumbnail).ok(), Some(expected));
    let decoded = image::load_from_memory(&thumbnail).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (width, height, BoxSize { width: box_w, height: box_h }) = (decoded.width(), decoded.height(), spec.size);
    match spec.mode {
        FitMode::Fit | FitMode::Crop => prop_assert!(width <= box_w && height <= box_h),
        FitMode::Pad => prop_assert_eq!((width, height), (box_w, box_h)),
        FitMode::Cover => prop_assert!(width >= box_w && height >= box_h && (width == box_w || height == box_h)),
        FitMode::Original => {}
    }
    Ok(())
}

// ------------------------------------------------------------- file name

proptest! {
    /// Any URL, stem and format give one path component of safe characters,
    /// with no leading dot, a bounded length and the format's extension,
    /// and the same name every time.
    #[test]
    fn file_names_are_one_safe_component(url in url_like(), stem in proptest::option::of(url_like()), format in format()) {
        let name = file_name(&url, stem.as_deref(), format);
        prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{:?}", name);
        prop_assert!(!name.starts_with('.') && name.len() <= MAX_NAME, "{:?}", name);
        let components: Vec<_> = Path::new(&name).components().collect();
        prop_assert!(matches!(components[..], [Component::Normal(_)]), "{:?}", name);
        prop_assert!(name.ends_with(&format!(".{}", format.extensions_str()[0])), "{:?}", name);
        prop_assert_eq!(&name, &file_name(&url, stem.as_deref(), format));
    }

    /// Two different URLs never share a name (the hash of the whole URL is
    /// in it), even when their last path segments are the same.
    #[test]
    fn different_urls_get_different_names(a in url_like(), b in url_like(), segment in "[a-z0-9.]{0,8}") {
        let (a, b) = (format!("{a}/{segment}"), format!("{b}/{segment}"));
        prop_assume!(a != b);
        prop_assert_ne!(file_name(&a, None, ImageFormat::Jpeg), file_name(&b, None, ImageFormat::Jpeg));
    }
}

// ------------------------------------------------------------- URL lists

proptest! {
    /// Any bytes, read as every format and gzip-compressed too: no reader
    /// panics, every URL is non-empty and trimmed, and there are no more
    /// URLs than lines (ended by LF or CR).
    #[test]
    fn url_lists_survive_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assume!(!bytes.starts_with(&[0x1f, 0x8b]));
        // A CR alone ends a CSV or TSV row too (old Mac files): it counts as a line.
        let lines = bytes.split(|&b| b == b'\n' || b == b'\r').count();
        let compressed = gzip(&bytes);
        for name in LIST_NAMES {
            for (name, bytes) in [(name.to_string(), &bytes), (format!("{name}.gz"), &compressed)] {
                let Some((urls, _)) = read_list(&name, bytes) else { continue };
                prop_assert!(urls.len() <= lines, "{}: {} URLs from {} lines", name, urls.len(), lines);
                for url in urls {
                    prop_assert!(!url.is_empty() && url == url.trim(), "{}: {:?}", name, url);
                }
            }
        }
    }

    /// Gzip changes nothing: a list and its gzip-compressed copy give the
    /// same URLs, and both end with an error or neither does.
    #[test]
    fn gzip_is_transparent(bytes in proptest::collection::vec(any::<u8>(), 0..400), which in 0..LIST_NAMES.len()) {
        prop_assume!(!bytes.starts_with(&[0x1f, 0x8b]));
        let name = LIST_NAMES[which];
        prop_assert_eq!(read_list(name, &bytes), read_list(&format!("{name}.gz"), &gzip(&bytes)));
    }

    /// A text list gives back exactly its URLs, whatever the blank lines,
    /// `#` comments, padding, CRLF endings and byte-order mark around them.
    #[test]
    fn text_lists_give_back_their_urls(
        lines in proptest::collection::vec(("[a-z]{1,6}://[a-z]{1,6}/[!-~]{0,10}", "[ \t\u{feff}]{0,2}", "[ \t\r]{0,2}", 0..4u8), 0..20),
    ) {
        let mut text = String::new();
        let mut expected = Vec::new();
        for (url, before, after, kind) in &lines {
            match kind {
                0 => text.push_str(&format!("{before}\n")),
                1 => text.push_str(&format!("{before}# {url}{after}\n")),
                _ => {
                    text.push_str(&format!("{before}{url}{after}\n"));
                    expected.push(url.clone());
                }
            }
        }
        prop_assert_eq!(read_list("urls.txt", text.as_bytes()), Some((expected, false)));
    }

    /// A CSV written by a CSV writer (quotes, commas and line breaks in the
    /// other columns) gives back its URL column, row by row.
    #[test]
    fn csv_gives_back_its_url_column(rows in proptest::collection::vec(("[a-z]{1,6}://[a-z/.]{1,12}", ".{0,12}"), 0..12)) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["title", "url"]).unwrap();
        for (url, title) in &rows {
            writer.write_record([title, url]).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let expected: Vec<String> = rows.iter().map(|(url, _)| url.clone()).collect();
        prop_assert_eq!(read_list("urls.csv", &bytes), Some((expected, false)));
    }
}

// ------------------------------------------------------- JPEG marker reader

proptest! {
    /// Any bytes, and corrupted JPEGs: the marker reader ends without a
    /// panic, and accepts only a frame with pixels, a valid orientation and
    /// at least one scan (so a scan limit of 0 refuses it).
    #[test]
    fn marker_reader_survives_any_bytes(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256).prop_map(|b| [&[0xFF, 0xD8][..], &b].concat()),
            corrupted_image(),
        ],
    ) {
        if let Ok(info) = read_jpeg_markers(&bytes, 100) {
            prop_assert!(info.width > 0 && info.height > 0 && (1..=8).contains(&info.orientation), "{:?}", info);
            prop_assert_eq!(read_jpeg_markers(&bytes, 0), Err(JpegMarkersError::TooManyScans));
        }
    }

    /// On JPEGs of every size, the marker reader reads the size the encoder wrote.
    #[test]
    fn marker_reader_reads_the_frame_size(width in 1..300u32, height in 1..300u32) {
        let info = read_jpeg_markers(&jpeg(width, height), 100).unwrap();
        prop_assert_eq!((info.width, info.height, info.components), (width, height, 3));
    }
}

// ------------------------------------------------------- thumbnail maker

proptest! {
    #![proptest_config(ProptestConfig::with_cases(IMAGE_CASES))]

    /// Corrupted images of every format, and bytes that only start like a
    /// JPEG: an error for this file, or a thumbnail that decodes and fits
    /// the box; never a panic (libjpeg's errors are caught per file).
    #[test]
    fn thumbnail_of_hostile_bytes_fails_cleanly(
        bytes in prop_oneof![
            corrupted_image(),
            proptest::collection::vec(any::<u8>(), 0..256).prop_map(|b| [&[0xFF, 0xD8, 0xFF][..], &b].concat()),
        ],
        spec in spec(),
    ) {
        check_thumbnail(&bytes, &spec)?;
    }

    /// A real JPEG of any size becomes a thumbnail that fits any box, in
    /// either mode and every output format.
    #[test]
    fn thumbnails_fit_the_box(width in 1..400u32, height in 1..400u32, spec in spec()) {
        let bytes = jpeg(width, height);
        prop_assert!(make_thumbnail(&bytes, &spec).is_ok());
        check_thumbnail(&bytes, &spec)?;
    }

    /// The limits hold: a file over the byte limit, or a frame over the
    /// pixel limit, is refused before it is decoded.
    #[test]
    fn limits_are_respected(width in 1..200u32, height in 1..200u32, spec in spec()) {
        let bytes = jpeg(width, height);
        let small_file = ThumbnailSpec { limits: Limits { max_file_bytes: bytes.len() as u64 - 1, ..spec.limits }, ..spec };
        let is_too_large = matches!(make_thumbnail(&bytes, &small_file), Err(ThumbnailError::TooLarge { .. }));
        prop_assert!(is_too_large);
        let pixels = u64::from(width) * u64::from(height);
        let few_pixels = ThumbnailSpec { limits: Limits { max_pixels: pixels - 1, ..spec.limits }, ..spec };
        let is_too_many = matches!(make_thumbnail(&bytes, &few_pixels), Err(ThumbnailError::TooManyPixels { .. }));
        prop_assert!(is_too_many);
    }
}

/// The EXIF fixture is read: the corruption strategies start from a JPEG
/// whose orientation is 6, so a broken orientation tag is among their inputs.
#[test]
fn exif_fixture_is_read() {
    assert_eq!(read_jpeg_markers(&valid_images()[1], 100).unwrap().orientation, 6);
}

// ------------------------------------------- regressions: inputs that broke a function

/// Found by `text_lists_give_back_their_urls`: a byte-order mark before an
/// indented comment made the comment a URL (`"\t# a://a/"`), because the
/// mark was stripped only after the whitespace was trimmed.
#[test]
fn byte_order_mark_before_an_indented_comment() {
    let text = "\u{feff}\t# a://a/\n\u{feff} http://h/1.jpg\n";
    assert_eq!(read_list("urls.txt", text.as_bytes()), Some((vec!["http://h/1.jpg".to_string()], false)));
}

/// Found by the `thumbnail` fuzz target (35 bytes, minimised): a GIF whose
/// header claims 814x0 pixels decoded to an empty image, and `--crop`'s
/// size math panicked on it (`clamp(1, 0)`) instead of failing this file.
#[test]
fn gif_without_pixels_is_refused() {
    let gif = b"GIF89a\x2e\x03\x00\x00\x80\x09\x00\x00\x00\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x04\x00\x02\x00\x00\x02\x4a\x00\x00\x00\x3b";
    for mode in [FitMode::Crop, FitMode::Fit, FitMode::Cover, FitMode::Pad, FitMode::Original] {
        let spec = ThumbnailSpec { mode, ..ThumbnailSpec::default() };
        let made = make_thumbnail(gif, &spec);
        assert!(matches!(made, Err(ThumbnailError::Corrupt { format: "GIF", .. })), "{mode:?}: {made:?}");
    }
}

/// Found by the `url_list` fuzz target: 6 URLs from a CSV of 5 lines. Not a
/// bug of the reader but of the fuzz target's line count: a CR alone ends a
/// CSV row (old Mac files), so it ends a line in the count now too.
#[test]
fn carriage_returns_end_csv_rows() {
    let csv = b"url\rhttp://h/1.jpg\rhttp://h/2.jpg\r";
    let expected = vec!["http://h/1.jpg".to_string(), "http://h/2.jpg".to_string()];
    assert_eq!(read_list("urls.csv", csv), Some((expected, false)));
}
