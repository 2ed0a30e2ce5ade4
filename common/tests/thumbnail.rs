//! `make_thumbnail` on images the tests make themselves: sizes, formats,
//! orientation, colour models, and every kind of bad input.

#![allow(clippy::unwrap_used)] // a test that cannot encode its own fixture should panic

use std::io::Cursor;

use common::run::{ResizeError, ResizeTask};
use common::thumbnail::{
    BoxSize, Crops, FitMode, Limits, OutputFormat, ThumbnailError, ThumbnailSpec, Thumbnailer, make_thumbnail,
};
use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

const RED: [u8; 3] = [220, 20, 20];
const GREEN: [u8; 3] = [20, 200, 20];
const BLUE: [u8; 3] = [20, 20, 220];
const YELLOW: [u8; 3] = [230, 230, 20];

/// Four flat quadrants, red green / blue yellow, so any flip or rotation shows.
fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb(match (x < width / 2, y < height / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => YELLOW,
        })
    })
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(&DynamicImage::ImageRgb8(quadrants(width, height)), ImageFormat::Jpeg)
}

fn spec(mode: FitMode, format: OutputFormat) -> ThumbnailSpec {
    ThumbnailSpec { mode, format, ..ThumbnailSpec::default() }
}

fn thumbnail(bytes: &[u8], spec: &ThumbnailSpec) -> DynamicImage {
    let out = make_thumbnail(bytes, spec).unwrap();
    image::load_from_memory(&out).unwrap()
}

/// Whether two colours are within `tolerance` on every channel.
fn near(actual: [u8; 3], expected: [u8; 3], tolerance: u8) -> bool {
    actual.iter().zip(expected).all(|(&a, e)| a.abs_diff(e) <= tolerance)
}

/// The colour at a fraction of the width and height.
fn colour_at(image: &DynamicImage, fx: f64, fy: f64) -> [u8; 3] {
    let x = (f64::from(image.width()) * fx) as u32;
    let y = (f64::from(image.height()) * fy) as u32;
    let p = image.get_pixel(x, y);
    [p[0], p[1], p[2]]
}

/// The four quadrant colours of a thumbnail, clockwise from top left.
fn corners(image: &DynamicImage) -> [[u8; 3]; 4] {
    [colour_at(image, 0.2, 0.2), colour_at(image, 0.8, 0.2), colour_at(image, 0.8, 0.8), colour_at(image, 0.2, 0.8)]
}

fn assert_quadrants(image: &DynamicImage, expected: [[u8; 3]; 4], what: &str) {
    let actual = corners(image);
    for (a, e) in actual.iter().zip(expected) {
        assert!(near(*a, e, 40), "{what}: corners {actual:?}, expected {expected:?}");
    }
}

/// Pillow's `thumbnail` sizes for landscape, portrait, square, a photo big
/// enough for 1/8 shrink-on-load, and a tiny image that is not upscaled;
/// through the JPEG fast path and through PNG.
#[test]
fn fit_sizes_are_exact() {
    let cases = [
        ((1600, 900), (128, 72)),
        ((900, 1600), (72, 128)),
        ((1000, 1000), (128, 128)),
        ((3000, 2000), (128, 85)),
        ((50, 30), (50, 30)),
        ((128, 20), (128, 20)),
    ];
    for ((w, h), expected) in cases {
        let source = DynamicImage::ImageRgb8(quadrants(w, h));
        for format in [ImageFormat::Jpeg, ImageFormat::Png] {
            let out = thumbnail(&encode(&source, format), &ThumbnailSpec::default());
            assert_eq!(out.dimensions(), expected, "{w}x{h} {format:?}");
            if w >= 100 {
                assert_quadrants(&out, [RED, GREEN, YELLOW, BLUE], &format!("{w}x{h} {format:?}"));
            }
        }
    }
}

/// `--crop` fills the box exactly; a small image gives the largest centred
/// square it holds, not an upscaled one.
#[test]
fn crop_sizes_are_exact() {
    let crop = spec(FitMode::Crop, OutputFormat::Jpg);
    for ((w, h), expected) in
        [((1600, 900), (128, 128)), ((900, 1600), (128, 128)), ((1000, 1000), (128, 128)), ((50, 30), (30, 30))]
    {
        for format in [ImageFormat::Jpeg, ImageFormat::Png] {
            let source = DynamicImage::ImageRgb8(quadrants(w, h));
            let out = thumbnail(&encode(&source, format), &crop);
            assert_eq!(out.dimensions(), expected, "{w}x{h} {format:?}");
        }
    }
    // The centre is kept: a wide image with black margins loses them.
    let wide = RgbImage::from_fn(1600, 400, |x, _| Rgb(if (600..1000).contains(&x) { RED } else { [0, 0, 0] }));
    let out = thumbnail(&encode(&DynamicImage::ImageRgb8(wide), ImageFormat::Jpeg), &crop);
    assert!(near(colour_at(&out, 0.05, 0.5), RED, 40) && near(colour_at(&out, 0.95, 0.5), RED, 40));
    // A non-square box.
    let boxed = ThumbnailSpec { size: BoxSize { width: 200, height: 100 }, ..crop };
    assert_eq!(thumbnail(&jpeg(900, 1600), &boxed).dimensions(), (200, 100));
}

/// Every input format the tool reads gives a correct thumbnail.
#[test]
fn every_input_format() {
    let source = DynamicImage::ImageRgb8(quadrants(640, 360));
    for format in [ImageFormat::Png, ImageFormat::WebP, ImageFormat::Gif, ImageFormat::Bmp, ImageFormat::Tiff] {
        let out = thumbnail(&encode(&source, format), &ThumbnailSpec::default());
        assert_eq!(out.dimensions(), (128, 72), "{format:?}");
        assert_quadrants(&out, [RED, GREEN, YELLOW, BLUE], &format!("{format:?}"));
    }
}

/// Every output format is what it says, at the right size.
#[test]
fn every_output_format() {
    let bytes = jpeg(640, 360);
    for (format, expected) in [
        (OutputFormat::Jpg, ImageFormat::Jpeg),
        (OutputFormat::Png, ImageFormat::Png),
        (OutputFormat::Webp, ImageFormat::WebP),
    ] {
        let out = make_thumbnail(&bytes, &spec(FitMode::Fit, format)).unwrap();
        assert_eq!(image::guess_format(&out).unwrap(), expected);
        assert_eq!(image::load_from_memory(&out).unwrap().dimensions(), (128, 72));
    }
}

/// An APP1 EXIF segment holding only an orientation tag, spliced in after SOI.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian TIFF, IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding, no next IFD
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(segment.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// EXIF orientations 1-8 are applied: the thumbnail looks like the stored
/// image turned the way `image`'s `apply_orientation` (the EXIF standard)
/// turns it, and portrait-turned photos fit the box as portraits.
#[test]
fn exif_orientations_are_applied() {
    let stored = quadrants(600, 400);
    let bytes = jpeg(600, 400);
    for orientation in 1..=8u8 {
        let mut expected = DynamicImage::ImageRgb8(stored.clone());
        expected.apply_orientation(Orientation::from_exif(orientation).unwrap());
        let out = thumbnail(&with_orientation(&bytes, u16::from(orientation)), &ThumbnailSpec::default());
        let size = if orientation >= 5 { (85, 128) } else { (128, 85) };
        assert_eq!(out.dimensions(), size, "orientation {orientation}");
        assert_quadrants(&out, corners(&expected), &format!("orientation {orientation}"));
    }
}

/// A CMYK JPEG (Adobe's inverted convention, as Photoshop writes it) comes
/// out in the right colours, through `image`'s conversion.
#[test]
fn cmyk_jpeg() {
    let (width, height) = (400, 300);
    // Red is C=0 M=100% Y=100% K=0; Adobe stores ink inverted: 255 0 0 255.
    let pixels: Vec<u8> = (0..width * height).flat_map(|_| [255u8, 0, 0, 255]).collect();
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    compress.set_size(width, height);
    compress.set_quality(90.0);
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    let bytes = started.finish().unwrap();
    let out = thumbnail(&bytes, &ThumbnailSpec::default());
    assert_eq!(out.dimensions(), (128, 96));
    let colour = colour_at(&out, 0.5, 0.5);
    assert!(colour[0] > 200 && colour[1] < 60 && colour[2] < 60, "CMYK red came out {colour:?}");
}

/// A greyscale JPEG keeps its grey.
#[test]
fn greyscale_jpeg() {
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(800, 600, image::Luma([100])));
    let out = thumbnail(&encode(&grey, ImageFormat::Jpeg), &ThumbnailSpec::default());
    assert_eq!(out.dimensions(), (128, 96));
    assert!(near(colour_at(&out, 0.5, 0.5), [100, 100, 100], 3));
}

/// 16-bit PNGs are read, and transparency is flattened onto white for JPEG
/// but kept for PNG.
#[test]
fn sixteen_bit_and_transparent_png() {
    let deep = image::ImageBuffer::<Rgb<u16>, _>::from_pixel(300, 200, Rgb([65535u16, 0, 0]));
    let out = thumbnail(&encode(&DynamicImage::ImageRgb16(deep), ImageFormat::Png), &ThumbnailSpec::default());
    assert_eq!(out.dimensions(), (128, 85));
    assert!(near(colour_at(&out, 0.5, 0.5), [255, 0, 0], 8));

    let clear = DynamicImage::ImageRgba8(RgbaImage::from_pixel(300, 200, Rgba([0, 0, 0, 0])));
    let png = encode(&clear, ImageFormat::Png);
    let as_jpeg = thumbnail(&png, &ThumbnailSpec::default());
    assert!(near(colour_at(&as_jpeg, 0.5, 0.5), [255, 255, 255], 3), "transparent is white in JPEG");
    let as_png = thumbnail(&png, &spec(FitMode::Fit, OutputFormat::Png));
    assert_eq!(as_png.get_pixel(10, 10)[3], 0, "transparency kept in PNG");
}

/// A CRC-32 (PNG's), for the hand-made bomb below.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32(&body).to_be_bytes());
    chunk
}

/// A PNG of a few dozen bytes whose header claims 30000x30000 RGB pixels.
fn png_bomb() -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&30000u32.to_be_bytes());
    header.extend_from_slice(&30000u32.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &header));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A small JPEG whose frame header is patched to claim 60000x60000 pixels.
fn jpeg_bomb() -> Vec<u8> {
    let mut bytes = jpeg(64, 64);
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    bytes
}

fn error_of(bytes: &[u8], spec: &ThumbnailSpec) -> ThumbnailError {
    make_thumbnail(bytes, spec).expect_err("bad input must be refused")
}

/// Bad input gives a clear error for that image, never a panic and never a
/// huge allocation: the bombs are refused from their headers.
#[test]
fn bad_input_is_refused_clearly() {
    let default = ThumbnailSpec::default();
    let good = jpeg(800, 600);

    let truncated = error_of(&good[..good.len() / 2], &default);
    assert!(matches!(truncated, ThumbnailError::Truncated { .. }), "{truncated}");
    assert!(truncated.to_string().contains("truncated JPEG"), "{truncated}");

    assert!(matches!(error_of(&[], &default), ThumbnailError::Empty));

    let html = b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n";
    let not_image = error_of(html, &default);
    assert!(not_image.to_string().contains("HTML"), "{not_image}");

    for bomb in [png_bomb(), jpeg_bomb()] {
        let err = error_of(&bomb, &default);
        assert!(matches!(err, ThumbnailError::TooManyPixels { .. }), "{err}");
        assert!(err.to_string().contains("decompression bomb"), "{err}");
    }

    // libjpeg's own fatal errors (here: a quantisation table that was never
    // defined) are caught and become an error for this image.
    let mut undefined_table = good.clone();
    let sof = undefined_table.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    undefined_table[sof + 12] = 3; // the first component's table number
    let corrupt = error_of(&undefined_table, &default);
    assert!(corrupt.to_string().contains("Quantization table"), "{corrupt}");
    assert!(matches!(corrupt, ThumbnailError::Corrupt { .. }), "{corrupt}");

    // A progressive JPEG has several scans; a limit of one refuses it.
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    compress.set_size(64, 64);
    compress.set_progressive_mode();
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&[128u8; 64 * 64 * 3]).unwrap();
    let progressive = started.finish().unwrap();
    let one_scan = ThumbnailSpec { limits: Limits { max_scans: 1, ..Limits::default() }, ..default };
    assert!(matches!(error_of(&progressive, &one_scan), ThumbnailError::TooManyScans(1)));
    assert!(make_thumbnail(&progressive, &default).is_ok());

    let small_limit = ThumbnailSpec { limits: Limits { max_file_bytes: 100, ..Limits::default() }, ..default };
    assert!(matches!(error_of(&good, &small_limit), ThumbnailError::TooLarge { .. }));

    // Garbage after a JPEG signature, and a PNG cut anywhere before the end
    // of its pixel data (a missing IEND alone loses nothing, so it passes).
    assert!(make_thumbnail(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3], &default).is_err());
    let png = encode(&DynamicImage::ImageRgb8(quadrants(40, 30)), ImageFormat::Png);
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    let idat_len = u32::from_be_bytes(png[idat - 4..idat].try_into().unwrap()) as usize;
    for len in (1..idat + 4 + idat_len).step_by(3) {
        assert!(make_thumbnail(&png[..len], &default).is_err(), "PNG cut at {len} accepted");
    }
}

/// A reused thumbnailer gives the same bytes as a fresh one, whatever came
/// before (its buffers carry nothing from one image to the next).
#[test]
fn reuse_changes_nothing() {
    let inputs = [
        jpeg(1600, 900),
        encode(&DynamicImage::ImageRgb8(quadrants(300, 500)), ImageFormat::Png),
        jpeg(50, 30),
        jpeg(3000, 2000),
        jpeg(900, 1600),
    ];
    for mode in [FitMode::Fit, FitMode::Crop, FitMode::Cover, FitMode::Pad, FitMode::Original] {
        let spec = spec(mode, OutputFormat::Jpg);
        let mut reused = Thumbnailer::new(spec);
        for input in &inputs {
            assert_eq!(reused.make_thumbnail(input).unwrap(), make_thumbnail(input, &spec).unwrap());
        }
    }
}

/// The file-level wrapper reads, makes and writes atomically, and refuses a
/// file over the size limit before reading it.
#[test]
fn make_file_writes_the_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.jpg");
    std::fs::write(&input, jpeg(1600, 900)).unwrap();
    let out = common::store::LocalDir::prepare(&dir.path().join("out"), false, |_| false).unwrap();
    let mut thumbnailer = Thumbnailer::new(ThumbnailSpec::default());
    let task = |input: &std::path::Path, output_name: &str| ResizeTask {
        input: input.into(),
        output_name: output_name.into(),
    };
    let bytes = task(&input, "photo_thumbnail.jpg").make(&mut thumbnailer, &out).unwrap();
    let written = std::fs::read(dir.path().join("out/photo_thumbnail.jpg")).unwrap();
    assert_eq!(written.len() as u64, bytes);
    assert_eq!(written, make_thumbnail(&std::fs::read(&input).unwrap(), &ThumbnailSpec::default()).unwrap());
    let missing = task(&dir.path().join("nope.jpg"), "nope_thumbnail.jpg").make(&mut thumbnailer, &out);
    assert!(matches!(missing, Err(ResizeError::Thumbnail(ThumbnailError::Read(_)))));
}

/// img2dataset's modes, on landscape, portrait and small images, through
/// the JPEG fast path and through PNG: `Cover` (`keep_ratio`) puts the
/// short side on the box and keeps the whole image, `Pad` (`border`) is the
/// box exactly, `Original` (`no`) the image's own size; small images are
/// scaled up, as img2dataset's default `resize_only_if_bigger=False` does.
#[test]
fn img2dataset_mode_sizes() {
    let cases = [
        (FitMode::Cover, [(228, 128), (128, 228), (213, 128)]),
        (FitMode::Pad, [(128, 128), (128, 128), (128, 128)]),
        (FitMode::Original, [(1600, 900), (900, 1600), (50, 30)]),
    ];
    for (mode, expected) in cases {
        for ((w, h), expected) in [(1600, 900), (900, 1600), (50, 30)].into_iter().zip(expected) {
            let source = DynamicImage::ImageRgb8(quadrants(w, h));
            for format in [ImageFormat::Jpeg, ImageFormat::Png] {
                let bytes = encode(&source, format);
                let out = thumbnail(&bytes, &spec(mode, OutputFormat::Jpg));
                let what = format!("{mode:?} {w}x{h} {format:?}");
                assert_eq!(out.dimensions(), expected, "{what}");
                if mode != FitMode::Pad {
                    // Nothing cut: the four quadrants fill the four corners.
                    assert_quadrants(&out, [RED, GREEN, YELLOW, BLUE], &what);
                }
                let made = Thumbnailer::new(spec(mode, OutputFormat::Jpg)).make_outputs(&bytes, true, Crops::None);
                let made = made.unwrap();
                assert_eq!((made.original, made.size), ((w, h), Some(expected)), "{what}");
            }
        }
    }
}

/// `Pad` centres the fitted image on a white border, the odd pixel after
/// it: exact white in a PNG, near white in a JPEG; and the image is inside.
#[test]
fn pad_border_is_white() {
    let pad = spec(FitMode::Pad, OutputFormat::Png);
    // 1600x900 fits as 128x72: 28 rows of border above, 28 below.
    let wide = thumbnail(&jpeg(1600, 900), &pad).into_rgb8();
    assert_eq!(wide.dimensions(), (128, 128));
    for x in 0..128 {
        for y in (0..28).chain(100..128) {
            assert_eq!(wide.get_pixel(x, y).0, [255, 255, 255], "({x}, {y})");
        }
    }
    assert!(near(wide.get_pixel(10, 40).0, RED, 40) && near(wide.get_pixel(117, 88).0, YELLOW, 40));
    // 30x50 is scaled up to 77x128: 25 columns before, 26 after.
    let tall = thumbnail(&jpeg(30, 50), &pad).into_rgb8();
    for y in 0..128 {
        for x in (0..25).chain(102..128) {
            assert_eq!(tall.get_pixel(x, y).0, [255, 255, 255], "({x}, {y})");
        }
    }
    assert!(!near(tall.get_pixel(25, 10).0, [255, 255, 255], 40) && !near(tall.get_pixel(101, 120).0, [255; 3], 40));
    // As a JPEG, and a portrait EXIF photo padded upright.
    let turned = with_orientation(&jpeg(600, 400), 6);
    let jpeg_out = thumbnail(&turned, &spec(FitMode::Pad, OutputFormat::Jpg)).into_rgb8();
    assert_eq!(jpeg_out.dimensions(), (128, 128));
    for (x, y) in [(2, 2), (2, 125), (125, 64), (10, 64)] {
        assert!(near(jpeg_out.get_pixel(x, y).0, [255, 255, 255], 8), "({x}, {y}): {:?}", jpeg_out.get_pixel(x, y));
    }
    assert!(!near(jpeg_out.get_pixel(64, 64).0, [255, 255, 255], 40));
}

/// `Outputs::original` is the file's upright size: turned by EXIF, and not
/// the size a JPEG was shrunk to on load (3000x2000 decodes at 1/8 for a
/// 128 box), whether a thumbnail, crops or nothing at all is made.
#[test]
fn outputs_report_the_original_size() {
    let big = jpeg(3000, 2000);
    let turned = with_orientation(&jpeg(600, 400), 6);
    let png = encode(&DynamicImage::ImageRgb8(quadrants(300, 500)), ImageFormat::Png);
    let mut thumbnailer = Thumbnailer::new(ThumbnailSpec::default());
    let cases = [(&big, (3000, 2000), (128, 85)), (&turned, (400, 600), (85, 128)), (&png, (300, 500), (77, 128))];
    for (bytes, original, size) in cases {
        for crops in [Crops::None, Crops::Grid(4)] {
            let made = thumbnailer.make_outputs(bytes, true, crops).unwrap();
            assert_eq!((made.original, made.size), (original, Some(size)), "{crops:?}");
            assert_eq!(image::load_from_memory(made.thumbnail.as_ref().unwrap()).unwrap().dimensions(), size);
            let bare = thumbnailer.make_outputs(bytes, false, crops).unwrap();
            assert_eq!((bare.original, bare.size, bare.thumbnail), (original, None, None), "{crops:?}");
        }
    }
    // Nothing to make still reads (and checks) the header.
    assert!(matches!(thumbnailer.make_outputs(b"<html>", false, Crops::None), Err(ThumbnailError::NotAnImage(_))));
}

/// An image `Cover` would blow up past the pixel limit is refused, not
/// allocated: a 4000x1 strip covering a 128 box would be 512000x128.
#[test]
fn cover_is_held_to_the_pixel_limit() {
    let strip = encode(&DynamicImage::ImageRgb8(quadrants(4000, 1)), ImageFormat::Png);
    let limits = Limits { max_pixels: 10_000_000, ..Limits::default() };
    let cover = ThumbnailSpec { limits, ..spec(FitMode::Cover, OutputFormat::Jpg) };
    assert!(matches!(make_thumbnail(&strip, &cover), Err(ThumbnailError::TooManyPixels { .. })));
}

/// A photo-like test image: a colour gradient, waves from 60 down to 5
/// pixels long (detail a thumbnail must average away without moiré) and
/// hard-edged blocks, with a little deterministic noise.
fn detailed(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let waves = 30.0 * (fx / 9.5).sin() * (fy / 60.0).cos() + 20.0 * ((fx + 2.0 * fy) / 2.2).sin();
        let block = if (x / 97 + y / 61) % 3 == 0 { 50.0 } else { 0.0 };
        let noise = f64::from((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 17) - 8.0;
        let channel = |base: f64, slope: f64| {
            (base + slope * fx / f64::from(width) + waves + block + noise).clamp(0.0, 255.0) as u8
        };
        Rgb([channel(90.0, 80.0), channel(120.0, -40.0), channel(60.0, 100.0)])
    })
}

/// PSNR in dB of `made` against `reference`, over every channel.
fn psnr(made: &RgbImage, reference: &RgbImage) -> f64 {
    let squared: f64 =
        made.as_raw().iter().zip(reference.as_raw()).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    let mse = squared / made.as_raw().len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// Thumbnails stay close to a careful reference (the JPEG decoded at full
/// size, resized with Lanczos3 to the thumbnail's size): at each shrink-on-
/// load scale the rule picks (1/8, 1/4, 1/2 and full size here), the PSNR is
/// above a floor set 1 dB under what was measured (34.6, 38.3, 41.1 and
/// 34.8 dB). Decoding the 1080-px image at 1/8 instead of 1/4 gives 32.5 dB. `scripts/bench_quality.sh`
/// measures the same on real photos against Pillow and img2dataset.
#[test]
fn thumbnails_stay_close_to_a_full_decode() {
    // (size, the scale the rule picks, the floor in dB)
    let cases =
        [((3200, 2000), "1/8", 33.6), ((1080, 675), "1/4", 37.3), ((600, 400), "1/2", 40.0), ((400, 250), "8/8", 33.7)];
    for ((width, height), scale, floor) in cases {
        let mut source = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut source, 92)
            .encode_image(&detailed(width, height))
            .unwrap();
        let made = thumbnail(&source, &ThumbnailSpec::default()).into_rgb8();
        let full = image::load_from_memory(&source).unwrap();
        let reference =
            full.resize_exact(made.width(), made.height(), image::imageops::FilterType::Lanczos3).into_rgb8();
        let measured = psnr(&made, &reference);
        eprintln!("{width}x{height} at {scale}: {measured:.2} dB");
        assert!(measured >= floor, "{width}x{height} at {scale}: {measured:.2} dB, under the {floor} dB floor");
    }
}
