//! Writes the seed corpora of the fuzz targets in `fuzz/`: small, valid
//! inputs for the fuzzer to mutate, made here rather than committed as
//! binary files.
//!
//! A fuzzer that starts from nothing needs a long time to write its first
//! valid JPEG; one that starts from a few tiny ones (baseline, progressive,
//! greyscale, CMYK, with an EXIF orientation) and one file of every other
//! format explores their corners within seconds. Every seed is under 1 KB.
//!
//! Running: `cargo run -p common --example fuzz_seeds -- fuzz/corpus`
//! (`scripts/fuzz.sh` does it before fuzzing).

#![allow(clippy::unwrap_used)] // a generator that cannot encode its own seed should stop

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use mozjpeg::ColorSpaceExt;

/// The seed images' size: large enough for a few 8x8 blocks and chroma
/// subsampling, small enough that every seed stays under 1 KB.
const SIDE: (u32, u32) = (16, 12);

/// An EXIF block (little-endian TIFF) whose only tag is orientation 6
/// (rotate 90 degrees clockwise).
const EXIF_ROTATE_90: &[u8] = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0";

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));

    // The file-name target reads its input as a URL, a stem and a format.
    write_seeds(
        &out.join("file_name"),
        &[
            ("url", b"https://images.example.com/photos/1080/sunset.jpg?w=640#top".to_vec()),
            ("hostile", b"http://h/../../%2e%2e/.hidden\\x\0y.jpg".to_vec()),
        ],
    );

    // The URL-list target's first byte picks the reader (0 text, 1 CSV,
    // 2 TSV, 3 JSON lines; +4 gzipped), the rest is the list.
    let lists: [(&str, u8, &[u8]); 4] = [
        ("text", 0, b"# urls\nhttp://h/1.jpg\n\n  http://h/2.jpg  \r\n"),
        ("csv", 1, b"id,title,url\n1,\"a, \"\"b\"\"\",http://h/1.jpg\n2,short\n"),
        ("tsv", 2, b"name\turl\na \"q\thttp://h/1.jpg\nb\t\n"),
        ("jsonl", 3, "\u{feff}{\"url\": \" http://h/1.jpg\"}\n{\"url\": 3}\nnot json\n".as_bytes()),
    ];
    let lists: Vec<(String, Vec<u8>)> = lists
        .iter()
        .flat_map(|&(name, choice, list)| {
            let plain = (name.to_string(), [&[choice][..], list].concat());
            let gzipped = (format!("{name}-gz"), [&[choice + 4][..], list].concat());
            [plain, gzipped]
        })
        .collect();
    write_seeds(&out.join("url_list"), &lists);

    // The marker reader and the thumbnail maker read images.
    let jpegs = [
        ("baseline", encode(&DynamicImage::ImageRgb8(gradient()), ImageFormat::Jpeg)),
        ("progressive", mozjpeg_encode(mozjpeg::ColorSpace::JCS_RGB, true, None)),
        ("exif", mozjpeg_encode(mozjpeg::ColorSpace::JCS_RGB, false, Some(EXIF_ROTATE_90))),
        ("grey", mozjpeg_encode(mozjpeg::ColorSpace::JCS_GRAYSCALE, false, None)),
        ("cmyk", mozjpeg_encode(mozjpeg::ColorSpace::JCS_CMYK, false, None)),
    ];
    write_seeds(&out.join("jpeg_markers"), &jpegs);
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(SIDE.0, SIDE.1, |x, y| Rgba([40, 90, 200, (x * y) as u8])));
    // GIF (a 256-colour palette), BMP and TIFF are not compressed much: 4x3 pixels.
    let tiny = DynamicImage::ImageRgb8(RgbImage::from_fn(4, 3, |x, y| Rgb([(x * 60) as u8, (y * 80) as u8, 7])));
    let others = [
        ("png", encode(&rgba, ImageFormat::Png)),
        ("webp", encode(&rgba, ImageFormat::WebP)),
        ("gif", encode(&tiny, ImageFormat::Gif)),
        ("bmp", encode(&tiny, ImageFormat::Bmp)),
        ("tiff", encode(&tiny, ImageFormat::Tiff)),
    ];
    // The thumbnail target's first two bytes choose the spec: here a JPEG
    // into an 8x17 box, fitted, with the large file limit.
    let thumbnails: Vec<(&str, Vec<u8>)> =
        jpegs.iter().chain(&others).map(|(name, bytes)| (*name, [&[0u8, 71][..], bytes].concat())).collect();
    write_seeds(&out.join("thumbnail"), &thumbnails);
    println!("seed corpora written under {}", out.display());
}

/// A smooth gradient: compresses to a few hundred bytes in every format.
fn gradient() -> RgbImage {
    RgbImage::from_fn(SIDE.0, SIDE.1, |x, y| Rgb([(x * 16) as u8, (y * 20) as u8, 128]))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

/// What `image` cannot write: progressive, CMYK, or with an EXIF block.
fn mozjpeg_encode(color_space: mozjpeg::ColorSpace, progressive: bool, exif: Option<&[u8]>) -> Vec<u8> {
    let components = color_space.num_components();
    // A horizontal gradient, the same in every channel.
    let pixels: Vec<u8> = (0..SIDE.0 as usize * SIDE.1 as usize * components)
        .map(|i| (i / components % SIDE.0 as usize * 16) as u8)
        .collect();
    let mut compress = mozjpeg::Compress::new(color_space);
    compress.set_size(SIDE.0 as usize, SIDE.1 as usize);
    compress.set_quality(50.0);
    if progressive {
        compress.set_progressive_mode();
    }
    let mut started = compress.start_compress(Vec::new()).unwrap();
    if let Some(exif) = exif {
        started.write_marker(mozjpeg::Marker::APP(1), exif);
    }
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

/// Writes each seed to `folder/seed-<name>`.
fn write_seeds(folder: &Path, seeds: &[(impl AsRef<str>, Vec<u8>)]) {
    std::fs::create_dir_all(folder).unwrap();
    for (name, bytes) in seeds {
        let name = name.as_ref();
        assert!(bytes.len() < 1024, "seed {name} is {} bytes", bytes.len());
        std::fs::write(folder.join(format!("seed-{name}")), bytes).unwrap();
    }
}
