//! `resize_parallel` against `resize_serial`: the same folder must give the
//! same thumbnails, byte for byte, whatever the number of threads.

#![allow(clippy::unwrap_used)] // a test that cannot write its temp dir should panic

mod support;

use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Output};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::Value;
use support::binary;

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

/// Twenty-four images of different sizes and formats, and two broken ones.
fn write_folder(dir: &Path) {
    for i in 0..24u32 {
        let (width, height) = (200 + i * 61, 150 + (i * 53) % 700);
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            Rgb([((x + i) % 256) as u8, ((y * 3) % 256) as u8, ((x * y) % 256) as u8])
        }));
        let (format, extension) = match i % 5 {
            0 => (ImageFormat::Png, "png"),
            1 => (ImageFormat::WebP, "webp"),
            _ => (ImageFormat::Jpeg, "jpg"),
        };
        std::fs::write(dir.join(format!("img{i:02}.{extension}")), encode(&image, format)).unwrap();
    }
    let alpha = DynamicImage::ImageRgba8(RgbaImage::from_pixel(500, 300, Rgba([200, 0, 0, 100])));
    std::fs::write(dir.join("alpha.png"), encode(&alpha, ImageFormat::Png)).unwrap();
    std::fs::write(dir.join("broken.jpg"), [0xFF, 0xD8, 0xFF, 0xDB, 0, 67]).unwrap();
    std::fs::write(dir.join("page.png"), "<html>nope</html>").unwrap();
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("binary runs")
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Byte-identical output to `resize_serial` for every flag combination, with
/// the same failures listed in the same order, on 2 and on 3 threads.
#[test]
fn output_is_identical_to_serial() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write_folder(&input);
    let flag_sets: [&[&str]; 3] = [&[], &["--crop", "--format", "png"], &["--size", "64x200", "--format", "webp"]];
    for (n, flags) in flag_sets.iter().enumerate() {
        let serial_out = dir.path().join(format!("serial{n}"));
        let serial = run(
            &binary("resize_serial"),
            &[&["--input", input.to_str().unwrap(), "--output", serial_out.to_str().unwrap(), "--json"], *flags]
                .concat(),
        );
        assert_eq!(serial.status.code(), Some(3));
        let expected = files_of(&serial_out);
        assert_eq!(expected.len(), 25);
        let serial_json: Value = serde_json::from_slice(&serial.stdout).unwrap();
        for threads in ["2", "3"] {
            let parallel_out = dir.path().join(format!("parallel{n}-{threads}"));
            let parallel = run(
                &binary("resize_parallel"),
                &[
                    &[
                        "--input",
                        input.to_str().unwrap(),
                        "--output",
                        parallel_out.to_str().unwrap(),
                        "--json",
                        "--threads",
                        threads,
                    ],
                    *flags,
                ]
                .concat(),
            );
            assert_eq!(parallel.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&parallel.stderr));
            let json: Value = serde_json::from_slice(&parallel.stdout).unwrap();
            assert_eq!(json["threads"].as_u64().unwrap().to_string(), threads);
            assert_eq!(json["files"], serial_json["files"]);
            assert_eq!(json["failures"], serial_json["failures"]);
            let actual = files_of(&parallel_out);
            assert_eq!(actual.len(), expected.len());
            for ((name, bytes), (expected_name, expected_bytes)) in actual.iter().zip(&expected) {
                assert_eq!(name, expected_name);
                assert!(bytes == expected_bytes, "{name} differs from resize_serial's with flags {flags:?}");
            }
        }
    }
}
