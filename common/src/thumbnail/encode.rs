//! Encoding: the resized pixels, turned upright, to the bytes of the
//! thumbnail file.
//!
//! Orientation is applied here, to the small image, because rotating 128x85
//! pixels costs nothing while rotating the full photo would cost a copy of
//! it. JPEG goes through libjpeg-turbo (the `mozjpeg` crate) with its fastest
//! settings; PNG and lossless WebP through `image`.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{DynamicImage, ExtendedColorType, ImageEncoder};

use super::decode::panic_message;
use super::spec::{BoxSize, FitMode, OutputFormat, ThumbnailSpec, pad_offset};
use super::{Frame, ThumbnailError};

/// Room for a typical thumbnail file (about 4 KB as JPEG, more as PNG), so
/// the encoder rarely has to grow its output.
const OUTPUT_CAPACITY: usize = 16 * 1024;

/// The `Pad` border's colour, on every channel: white, img2dataset's.
const BORDER: u8 = u8::MAX;

/// Orientation, the `Pad` border, transparency and the output encoder; the
/// bytes, and the width and height they show.
pub(super) fn encode(
    pixels: &[u8],
    frame: Frame,
    spec: &ThumbnailSpec,
) -> Result<(Vec<u8>, (u32, u32)), ThumbnailError> {
    let failed = |err: &dyn std::fmt::Display| ThumbnailError::Encode(err.to_string());
    let Frame { width, height, channels, orientation, .. } = frame;
    let mut image = if channels == 4 {
        image::RgbaImage::from_raw(width, height, pixels.to_vec()).map(DynamicImage::ImageRgba8)
    } else {
        image::RgbImage::from_raw(width, height, pixels.to_vec()).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| failed(&"the resized buffer has the wrong size"))?;
    image.apply_orientation(orientation);
    if spec.mode == FitMode::Pad {
        // After orientation: the odd pixel of the border goes right and
        // below as the viewer sees it, as albumentations puts it.
        image = pad(image, spec.size);
    }
    let (width, height) = (image.width(), image.height());
    let mut out = Vec::with_capacity(OUTPUT_CAPACITY);
    match spec.format {
        OutputFormat::Jpg => {
            let rgb = match image {
                DynamicImage::ImageRgba8(rgba) => flatten_on_white(rgba.as_raw()),
                other => other.into_rgb8().into_raw(),
            };
            out = encode_jpeg(&rgb, width as usize, height as usize, spec.quality).map_err(|e| failed(&e))?;
        }
        OutputFormat::Png => {
            let color = if channels == 4 { ExtendedColorType::Rgba8 } else { ExtendedColorType::Rgb8 };
            image::codecs::png::PngEncoder::new(&mut out)
                .write_image(image.as_bytes(), width, height, color)
                .map_err(|e| failed(&e))?;
        }
        OutputFormat::Webp => {
            let color = if channels == 4 { ExtendedColorType::Rgba8 } else { ExtendedColorType::Rgb8 };
            image::codecs::webp::WebPEncoder::new_lossless(&mut out)
                .write_image(image.as_bytes(), width, height, color)
                .map_err(|e| failed(&e))?;
        }
    }
    Ok((out, (width, height)))
}

/// The `Pad` mode's border: `image` centred on a white canvas the size of
/// the box (opaque white with an alpha channel too), as img2dataset's
/// `border` pads with `[255, 255, 255]`.
fn pad(image: DynamicImage, size: BoxSize) -> DynamicImage {
    let (width, height) = (image.width().max(size.width), image.height().max(size.height));
    let (left, top) = (pad_offset(image.width(), width), pad_offset(image.height(), height));
    if (width, height) == (image.width(), image.height()) {
        return image;
    }
    let mut canvas = match image {
        DynamicImage::ImageRgba8(_) => DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            width,
            height,
            image::Rgba([BORDER, BORDER, BORDER, u8::MAX]),
        )),
        _ => DynamicImage::ImageRgb8(image::RgbImage::from_pixel(width, height, image::Rgb([BORDER; 3]))),
    };
    image::imageops::replace(&mut canvas, &image, i64::from(left), i64::from(top));
    canvas
}

/// RGBA to RGB over a white background (JPEG has no transparency, and
/// white is what a transparent logo is usually drawn on).
pub(super) fn flatten_on_white(rgba: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
    for pixel in rgba.chunks_exact(4) {
        let alpha = u32::from(pixel[3]);
        for &channel in &pixel[..3] {
            let blended = (u32::from(channel) * alpha + 255 * (255 - alpha) + 127) / 255;
            rgb.push(u8::try_from(blended).unwrap_or(u8::MAX));
        }
    }
    rgb
}

/// Baseline JPEG with libjpeg-turbo's fastest settings: mozjpeg's trellis
/// and scan search cost milliseconds and save little on a 128-px image, and
/// even optimised Huffman tables (a second pass, about 5% smaller) measured
/// 7% of the whole run, so they are off, as in Pillow's default `save`.
pub(super) fn encode_jpeg(rgb: &[u8], width: usize, height: usize, quality: u8) -> Result<Vec<u8>, String> {
    // libjpeg fails by unwinding, caught as in `decode.rs`.
    let result = catch_unwind(AssertUnwindSafe(|| -> io::Result<Vec<u8>> {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        compress.set_fastest_defaults();
        compress.set_size(width, height);
        compress.set_quality(f32::from(quality));
        compress.set_optimize_coding(false);
        let mut started = compress.start_compress(Vec::with_capacity(OUTPUT_CAPACITY))?;
        started.write_scanlines(rgb)?;
        started.finish()
    }));
    match result {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => Err(panic_message(panic.as_ref())),
    }
}
