//! Decoding: the bytes of an image file to 8-bit RGB or RGBA pixels, at
//! the smallest size the thumbnail can be made from.
//!
//! Two paths, chosen by the file's magic bytes:
//!
//! - **JPEG** (nearly every photo): the markers are read first
//!   ([`super::markers`]) so a bomb, a truncated file or a scan flood is
//!   refused before libjpeg allocates anything; then libjpeg-turbo decodes
//!   straight to 1/2, 1/4 or 1/8 of the size (shrink on load) at the
//!   [`dct_scale`] that keeps the anti-aliasing headroom.
//! - **Everything else** (PNG, WebP, GIF's first frame, BMP, TIFF, and CMYK
//!   JPEGs, which libjpeg hands back unconverted) through `image`, at full
//!   size, with our pixel limit checked on the header and `image`'s own
//!   memory limit guarding the decoding.
//!
//! Either way the result is a [`Frame`] describing the pixels written into
//! the caller's buffer, which a [`Thumbnailer`](super::Thumbnailer) keeps
//! from one image to the next.

use std::io::{self, Cursor};
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::markers::{MarkerProblem, read_markers};
use super::spec::{Limits, ThumbnailSpec, dct_scale, target_size};
use super::{Frame, ThumbnailError};

/// Bytes a decoded pixel can take (16-bit RGBA), for `image`'s memory limit.
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// How large a JPEG is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DecodeSize {
    /// Shrunk on load as far as the thumbnail allows.
    ForThumbnail,
    /// At full size (crops are cut from the full image).
    Full,
}

/// Decodes the image in `bytes` into `pixels`, shrunk on load when it is a
/// JPEG and `size` allows, and says what is there.
pub(super) fn decode(
    bytes: &[u8],
    spec: &ThumbnailSpec,
    size: DecodeSize,
    pixels: &mut Vec<u8>,
) -> Result<Frame, ThumbnailError> {
    let format = image::guess_format(bytes).map_err(|_| ThumbnailError::NotAnImage(describe(bytes)))?;
    match format {
        ImageFormat::Jpeg => decode_jpeg(bytes, spec, size, pixels),
        ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Bmp | ImageFormat::Tiff => {
            decode_with_image(bytes, format, &spec.limits, pixels)
        }
        other => {
            let name = other.extensions_str().first().copied().unwrap_or("this").to_uppercase();
            Err(ThumbnailError::NotAnImage(format!("{name} images are not supported")))
        }
    }
}

/// The JPEG fast path: markers checked, then libjpeg-turbo decodes at the
/// smallest DCT scale that keeps the headroom.
fn decode_jpeg(
    bytes: &[u8],
    spec: &ThumbnailSpec,
    size: DecodeSize,
    decoded: &mut Vec<u8>,
) -> Result<Frame, ThumbnailError> {
    let limits = spec.limits;
    let info = read_markers(bytes, limits.max_scans).map_err(|problem| match problem {
        MarkerProblem::Truncated(reason) => ThumbnailError::Truncated { format: "JPEG", reason: reason.into() },
        MarkerProblem::TooManyScans => ThumbnailError::TooManyScans(limits.max_scans),
        MarkerProblem::Corrupt(reason) => ThumbnailError::Corrupt { format: "JPEG", reason: reason.into() },
    })?;
    check_pixels(info.width, info.height, &limits)?;
    if info.components == 4 {
        // CMYK or YCCK: libjpeg returns raw ink values, `image` converts.
        return decode_with_image(bytes, ImageFormat::Jpeg, &limits, decoded);
    }
    let orientation = Orientation::from_exif(info.orientation).unwrap_or(Orientation::NoTransforms);
    let (width, height) = target_size(info.width, info.height, orientation, spec);
    let numerator = match size {
        // A target as large as the image (`Original`, or an upscale) gets
        // 8/8: shrinking never goes below the target.
        DecodeSize::ForThumbnail => dct_scale(info.width, info.height, width, height),
        DecodeSize::Full => 8,
    };
    // libjpeg reports a fatal error by unwinding (the `mozjpeg` crate's
    // error manager resumes a Rust unwind through the C frames); catching
    // it here turns a corrupt file into an error for this file alone.
    // This needs `panic = "unwind"`, the default, which we keep.
    let result = catch_unwind(AssertUnwindSafe(|| -> io::Result<(usize, usize)> {
        let mut decompress = mozjpeg::Decompress::builder().from_mem(bytes)?;
        decompress.scale(numerator);
        let mut started = decompress.rgb()?;
        let (width, height) = (started.width(), started.height());
        decoded.resize(width * height * 3, 0);
        started.read_scanlines_into::<u8>(&mut decoded[..width * height * 3])?;
        started.finish()?;
        Ok((width, height))
    }));
    let corrupt = |reason: String| ThumbnailError::Corrupt { format: "JPEG", reason };
    let (width, height) = match result {
        Ok(Ok(size)) => size,
        Ok(Err(err)) => return Err(corrupt(err.to_string())),
        Err(panic) => return Err(corrupt(panic_message(panic.as_ref()))),
    };
    let (width, height) = (u32::try_from(width), u32::try_from(height));
    let (Ok(width), Ok(height)) = (width, height) else {
        return Err(corrupt("impossible decoded size".into()));
    };
    Ok(Frame { width, height, channels: 3, orientation, source: (info.width, info.height) })
}

/// The image's stored size and orientation from its header alone, checked
/// as [`decode`] checks them, for a caller that makes nothing of the pixels.
pub(super) fn probe(bytes: &[u8], limits: &Limits) -> Result<(u32, u32, Orientation), ThumbnailError> {
    let format = image::guess_format(bytes).map_err(|_| ThumbnailError::NotAnImage(describe(bytes)))?;
    let name = format_name(format);
    if format == ImageFormat::Jpeg {
        let info = read_markers(bytes, limits.max_scans).map_err(|problem| match problem {
            MarkerProblem::Truncated(reason) => ThumbnailError::Truncated { format: name, reason: reason.into() },
            MarkerProblem::TooManyScans => ThumbnailError::TooManyScans(limits.max_scans),
            MarkerProblem::Corrupt(reason) => ThumbnailError::Corrupt { format: name, reason: reason.into() },
        })?;
        check_pixels(info.width, info.height, limits)?;
        let orientation = Orientation::from_exif(info.orientation).unwrap_or(Orientation::NoTransforms);
        return Ok((info.width, info.height, orientation));
    }
    if name == "image" {
        let name = format.extensions_str().first().copied().unwrap_or("this").to_uppercase();
        return Err(ThumbnailError::NotAnImage(format!("{name} images are not supported")));
    }
    let corrupt = |err: image::ImageError| ThumbnailError::Corrupt { format: name, reason: err.to_string() };
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format).into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ThumbnailError::Corrupt { format: name, reason: format!("{width}x{height}: no pixels") });
    }
    check_pixels(width, height, limits)?;
    Ok((width, height, decoder.orientation().unwrap_or(Orientation::NoTransforms)))
}

/// Every other format, through `image`, to 8-bit RGB or RGBA.
fn decode_with_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
    decoded: &mut Vec<u8>,
) -> Result<Frame, ThumbnailError> {
    let name = format_name(format);
    let corrupt = |err: image::ImageError| match err {
        image::ImageError::Limits(_) => {
            ThumbnailError::Corrupt { format: name, reason: format!("over the memory limit: {err}") }
        }
        other => ThumbnailError::Corrupt { format: name, reason: other.to_string() },
    };
    // Opening a decoder reads only the header; our pixel limit comes
    // first (so a bomb gets the same clear error in every format), then
    // `image`'s own memory limit guards the decoding itself.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    // A GIF's header can claim 814x0 pixels and `image` decodes that to an
    // empty image; the size math of `spec.rs` needs a side of at least 1
    // (`--crop` panicked on it), and there is nothing to make a thumbnail of.
    // (JPEG's markers refuse a frame without pixels the same way.)
    if width == 0 || height == 0 {
        return Err(ThumbnailError::Corrupt { format: name, reason: format!("{width}x{height}: no pixels") });
    }
    check_pixels(width, height, limits)?;
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL));
    decoder.set_limits(image_limits).map_err(corrupt)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    let (pixels, channels) =
        if image.color().has_alpha() { (image.into_rgba8().into_raw(), 4) } else { (image.into_rgb8().into_raw(), 3) };
    // `image` hands back a buffer of its own: it replaces ours.
    *decoded = pixels;
    Ok(Frame { width, height, channels, orientation, source: (width, height) })
}

/// Refuses a frame over the pixel limit.
fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), ThumbnailError> {
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ThumbnailError::TooManyPixels { width, height, limit: limits.max_pixels });
    }
    Ok(())
}

/// The message libjpeg's error manager unwound with (the JPEG encoder in
/// `encode.rs` catches libjpeg's unwinding the same way).
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("libjpeg failed");
    text.trim_start_matches("libjpeg fatal error: ").to_string()
}

/// A short name for messages: `PNG`, `JPEG`, ...
fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Gif => "GIF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        _ => "image",
    }
}

/// What a file that is not an image looks like, for the error message: an
/// HTML error page saved as `.jpg` is the usual suspect.
fn describe(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('<') {
        "HTML or XML text (an error page saved as an image?)".into()
    } else if head.iter().all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace() || b >= 0x80) {
        "text, not image data".into()
    } else {
        let magic: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("unknown format (starts with {})", magic.join(" "))
    }
}
