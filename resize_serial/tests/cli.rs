//! `resize_serial` as a user runs it: a real process on real files in a
//! temporary folder, good images mixed with broken ones.

#![allow(clippy::unwrap_used)] // a test that cannot write its temp dir should panic

use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Output};

use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_resize_serial");

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

fn photo(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
    }))
}

/// Six good images in six formats; returns their names.
fn write_good_images(dir: &Path) -> Vec<&'static str> {
    let files = [
        ("photo.jpg", encode(&photo(1600, 900), ImageFormat::Jpeg)),
        ("portrait.JPEG", encode(&photo(600, 1000), ImageFormat::Jpeg)),
        (
            "logo.png",
            encode(&DynamicImage::ImageRgba8(RgbaImage::from_pixel(300, 300, Rgba([0, 0, 255, 90]))), ImageFormat::Png),
        ),
        ("still.webp", encode(&photo(400, 300), ImageFormat::WebP)),
        ("anim.gif", encode(&photo(200, 100), ImageFormat::Gif)),
        ("scan.tiff", encode(&photo(256, 512), ImageFormat::Tiff)),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    files.iter().map(|(name, _)| *name).collect()
}

/// Four broken "images", each for a different reason.
fn write_bad_images(dir: &Path) {
    let jpeg = encode(&photo(800, 600), ImageFormat::Jpeg);
    std::fs::write(dir.join("cut.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(dir.join("empty.jpg"), b"").unwrap();
    std::fs::write(dir.join("page.jpg"), b"<html><body>Rate limit exceeded</body></html>").unwrap();
    let mut bomb = encode(&photo(64, 64), ImageFormat::Jpeg);
    let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]); // 60000x60000
    std::fs::write(dir.join("bomb.jpg"), bomb).unwrap();
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn json_of(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let json: Value = serde_json::from_str(lines.next().expect("one JSON line")).expect("valid JSON");
    assert_eq!(lines.next(), None, "exactly one line on stdout");
    json
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Good images become thumbnails of the right size; each broken one is
/// listed with its reason while the rest go on; exit status 3.
#[test]
fn broken_files_are_listed_and_the_rest_made() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    write_good_images(&input);
    write_bad_images(&input);
    std::fs::write(input.join("notes.txt"), "not an image, not touched").unwrap();

    let result = run(&["--input", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--json"]);
    assert_eq!(result.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&result.stderr));
    let json = json_of(&result);
    assert_eq!(
        (json["run"].as_str(), json["files"].as_u64(), json["failed"].as_u64()),
        (Some("resize_serial"), Some(6), Some(4))
    );
    assert_eq!(json["threads"], 1);
    let reasons: Vec<(String, String)> = json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason_of = |name: &str| reasons.iter().find(|(n, _)| n == name).map(|(_, r)| r.clone()).unwrap();
    assert!(reason_of("cut.jpg").contains("truncated"), "{reasons:?}");
    assert!(reason_of("empty.jpg").contains("empty"), "{reasons:?}");
    assert!(reason_of("page.jpg").contains("HTML"), "{reasons:?}");
    assert!(reason_of("bomb.jpg").contains("decompression bomb"), "{reasons:?}");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("failed: ") && stderr.contains("cut.jpg"), "{stderr}");

    assert_eq!(
        names_in(&output),
        [
            "anim_thumbnail.jpg",
            "logo_thumbnail.jpg",
            "photo_thumbnail.jpg",
            "portrait_thumbnail.jpg",
            "scan_thumbnail.jpg",
            "still_thumbnail.jpg"
        ]
    );
    let size_of = |name: &str| image::open(output.join(name)).unwrap().dimensions();
    assert_eq!(size_of("photo_thumbnail.jpg"), (128, 72));
    assert_eq!(size_of("portrait_thumbnail.jpg"), (77, 128));
    assert_eq!(size_of("anim_thumbnail.jpg"), (128, 64));
    assert_eq!(size_of("scan_thumbnail.jpg"), (64, 128));
}

/// `--crop --format png --size` are applied; all good means exit 0.
#[test]
fn crop_png_and_size_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    write_good_images(&input);
    let result = run(&[
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--crop",
        "--format",
        "png",
        "--size",
        "64x48",
    ]);
    assert_eq!(result.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&result.stderr));
    for name in names_in(&output) {
        assert!(name.ends_with("_thumbnail.png"), "{name}");
        let image = image::open(output.join(&name)).unwrap();
        assert_eq!(image.dimensions(), (64, 48), "{name}");
    }
    assert_eq!(names_in(&output).len(), 6);
}

/// With the output folder the same as the input, `--clean` removes only
/// thumbnails (an old one included), never the images or other files, and
/// thumbnails are never made of thumbnails.
#[test]
fn clean_removes_only_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    let images = write_good_images(dir.path());
    std::fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
    std::fs::write(dir.path().join("gone_thumbnail.jpg"), b"stale").unwrap();
    for _ in 0..2 {
        let result = run(&["--input", folder, "--output", folder, "--clean", "--json"]);
        assert_eq!(result.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&result.stderr));
        assert_eq!(json_of(&result)["files"], 6);
    }
    let names = names_in(dir.path());
    assert!(!names.contains(&"gone_thumbnail.jpg".to_string()), "{names:?}");
    for kept in images.iter().chain(&["notes.txt"]) {
        assert!(names.contains(&kept.to_string()), "{kept} removed: {names:?}");
    }
    assert_eq!(names.len(), 6 + 1 + 6, "{names:?}");
}

/// Usage mistakes exit 2 with one line saying what to fix.
#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let result = run(&["--input", missing.to_str().unwrap(), "--output", dir.path().to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--input"), "{stderr}");
    for bad in [["--size", "0x10"], ["--size", "128128"], ["--quality", "0"], ["--format", "gif"]] {
        assert_eq!(run(&bad).status.code(), Some(2), "{bad:?}");
    }
}
