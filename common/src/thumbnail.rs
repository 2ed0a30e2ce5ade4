//! Thumbnails: the bytes of one image in, the bytes of a small image out.
//!
//! [`make_thumbnail`] is the whole job for one image; a [`Thumbnailer`] does
//! the same but keeps its resizer and pixel buffers from one image to the
//! next, so a worker that makes thousands of thumbnails allocates for the
//! first few only. The steps, and why each is the fast one:
//!
//! 1. **Limits first.** The file size, then the frame size read from the
//!    header, are checked before anything is allocated for the pixels, so a
//!    decompression bomb (a few KB claiming 30000x30000 pixels) is refused
//!    with an error instead of taking the machine's memory.
//! 2. **JPEG: shrink on load.** A JPEG stores 8x8 blocks of frequencies, and
//!    libjpeg-turbo (through the `mozjpeg` crate) can decode them straight to
//!    1/2, 1/4 or 1/8 of the size, doing a fraction of the work. We take the
//!    smallest scale that still leaves at least [`ANTIALIAS_HEADROOM`] times
//!    the target size, as Pillow's `draft` and libvips do, so the final
//!    resize still has pixels to average. The pure-Rust decoder of `image`
//!    cannot scale the DCT: it decodes all 16 times the pixels of a 1/4
//!    decode and then has to filter them all down.
//! 3. **Other formats** (PNG, WebP, GIF's first frame, BMP, TIFF, and CMYK
//!    JPEGs, which libjpeg hands back unconverted) go through `image`,
//!    converted to 8-bit RGB or RGBA.
//! 4. **Resize** with `fast_image_resize` (SIMD, Catmull-Rom, alpha-correct).
//! 5. **Orientation** from EXIF is applied to the small image (cheap), so a
//!    phone photo's thumbnail is upright.
//! 6. **Encode**: JPEG with libjpeg-turbo's fastest settings (transparency
//!    flattened onto white), or PNG, or lossless WebP.
//!
//! The result depends only on the input bytes and the [`ThumbnailSpec`]:
//! one thread or many, the same bytes come out.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::str::FromStr;

use fast_image_resize::images::{Image as ResizeImage, ImageRef as ResizeImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader};
use thiserror::Error;

use crate::jpeg_markers::{MarkerProblem, read_markers};
use crate::sink::{LocalDir as OutputDir, SinkError as FilesError};

/// The box of the original assignments: Pillow's `thumbnail((128, 128))`.
pub const DEFAULT_SIZE: BoxSize = BoxSize { width: 128, height: 128 };

/// JPEG quality of thumbnails: 85 is where artefacts stop being visible at
/// thumbnail size, while the file stays about 4 KB.
pub const DEFAULT_QUALITY: u8 = 85;

/// The largest box side accepted: far above any thumbnail, low enough that a
/// typo such as `--size 128128` is caught instead of silently meaning "keep
/// the full size".
pub const MAX_BOX_SIDE: u32 = 8192;

/// Largest input file read, in bytes: a 100-megapixel camera JPEG is about
/// 50 MB, so 128 MiB takes every real photo and refuses what is not one.
pub const MAX_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Largest frame (width x height) decoded: Pillow's `MAX_IMAGE_PIXELS`, which
/// its users know; at 4 bytes a pixel it bounds one worker at about 360 MB.
pub const MAX_PIXELS: u64 = 89_478_485;

/// Most scans a progressive JPEG may have. Encoders write about 10 (mozjpeg's
/// scan optimisation up to about 20); libjpeg re-decodes the image once per
/// scan, so a crafted file with thousands of scans is a CPU bomb.
pub const MAX_SCANS: usize = 100;

/// How many times the target size a shrink-on-load decode must still leave:
/// the anti-aliasing headroom of Pillow's `reducing_gap=2.0` and libvips.
pub const ANTIALIAS_HEADROOM: u32 = 2;

/// The resampling filter: Catmull-Rom, the bicubic that Pillow's
/// `thumbnail()` uses too. Lanczos3 is a touch sharper but computes a sine
/// per filter weight, which measured 5% of the whole run on 1080-px photos.
const FILTER: FilterType = FilterType::CatmullRom;

/// Bytes a decoded pixel can take (16-bit RGBA), for `image`'s memory limit.
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// The box a thumbnail must fit in, or fill with `--crop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl FromStr for BoxSize {
    type Err = String;

    /// `WIDTHxHEIGHT` (`128x96`), or one number for a square (`128`).
    fn from_str(text: &str) -> Result<Self, String> {
        let side = |s: &str| s.trim().parse::<u32>().ok().filter(|n| (1..=MAX_BOX_SIDE).contains(n));
        let parsed = match text.split_once(['x', 'X']) {
            Some((w, h)) => side(w).zip(side(h)),
            None => side(text).map(|n| (n, n)),
        };
        parsed.map(|(width, height)| BoxSize { width, height }).ok_or_else(|| {
            format!("expected WIDTHxHEIGHT such as 128x128, each side from 1 to {MAX_BOX_SIDE}, not {text:?}")
        })
    }
}

/// How the image is fitted to the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitMode {
    /// Fit inside the box, keeping the aspect ratio (Pillow's `thumbnail`).
    Fit,
    /// Fill exactly the box, cutting the centre out.
    Crop,
}

/// The file format thumbnails are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// JPEG at `--quality` (transparency flattened onto white).
    #[value(alias = "jpeg")]
    Jpg,
    /// PNG, lossless, keeps transparency.
    Png,
    /// WebP, lossless, keeps transparency (`--quality` does not apply).
    Webp,
}

impl OutputFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        }
    }
}

/// What is refused before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file, in bytes.
    pub max_file_bytes: u64,
    /// Largest frame, in pixels (width x height, read from the header).
    pub max_pixels: u64,
    /// Most scans in a progressive JPEG.
    pub max_scans: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: MAX_FILE_BYTES, max_pixels: MAX_PIXELS, max_scans: MAX_SCANS }
    }
}

/// Everything that decides what a thumbnail looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailSpec {
    /// The box.
    pub size: BoxSize,
    /// Fit inside it or fill it.
    pub mode: FitMode,
    /// The output format.
    pub format: OutputFormat,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// What is refused.
    pub limits: Limits,
}

impl Default for ThumbnailSpec {
    fn default() -> Self {
        ThumbnailSpec {
            size: DEFAULT_SIZE,
            mode: FitMode::Fit,
            format: OutputFormat::Jpg,
            quality: DEFAULT_QUALITY,
            limits: Limits::default(),
        }
    }
}

/// Why one image could not be made into a thumbnail.
#[derive(Debug, Error)]
pub enum ThumbnailError {
    /// The input file could not be read.
    #[error("cannot read the file: {0}")]
    Read(io::Error),
    /// The file is empty.
    #[error("empty file (0 bytes)")]
    Empty,
    /// The file is larger than [`Limits::max_file_bytes`].
    #[error("file of {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not an image format this tool reads.
    #[error("not an image: {0}")]
    NotAnImage(String),
    /// The header claims more pixels than [`Limits::max_pixels`].
    #[error("{width}x{height} pixels is over the {limit}-pixel limit (a decompression bomb?)")]
    TooManyPixels {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// The limit.
        limit: u64,
    },
    /// A progressive JPEG with more scans than [`Limits::max_scans`].
    #[error("progressive JPEG with more than {0} scans (refused: each scan re-decodes the image)")]
    TooManyScans(usize),
    /// The file ends early.
    #[error("truncated {format}: {reason}")]
    Truncated {
        /// E.g. `JPEG`.
        format: &'static str,
        /// Where it ends.
        reason: String,
    },
    /// The decoder refused the data.
    #[error("corrupt {format}: {reason}")]
    Corrupt {
        /// E.g. `PNG`.
        format: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The thumbnail could not be resized or encoded (a bug, not bad input).
    #[error("cannot make the thumbnail: {0}")]
    Encode(String),
    /// The thumbnail could not be written.
    #[error(transparent)]
    Write(#[from] FilesError),
}

/// Makes one thumbnail of the image in `bytes`.
///
/// For many images, keep a [`Thumbnailer`] instead: it reuses its buffers.
pub fn make_thumbnail(bytes: &[u8], spec: &ThumbnailSpec) -> Result<Vec<u8>, ThumbnailError> {
    Thumbnailer::new(*spec).make_thumbnail(bytes)
}

/// The thumbnail's file name for `input`: `<stem>_thumbnail.<ext>`.
pub fn thumbnail_name(input: &Path, format: OutputFormat) -> String {
    let stem = input.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy());
    format!("{stem}_thumbnail.{}", format.extension())
}

/// Makes thumbnails one after the other, reusing its resizer (and its
/// filter coefficients and scratch rows) and its input, pixel and output
/// buffers. One per thread: it is `Send` but not meant to be shared.
///
/// libjpeg's decompressor itself is made per image: the `mozjpeg` crate
/// cannot point a finished one at new data, and making one is a few small
/// allocations (under 1% of a run in `perf`).
pub struct Thumbnailer {
    spec: ThumbnailSpec,
    resizer: Resizer,
    /// The input file.
    input: Vec<u8>,
    /// The decoded (shrunk-on-load) image.
    decoded: Vec<u8>,
    /// The resized image.
    resized: Vec<u8>,
}

impl std::fmt::Debug for Thumbnailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnailer").field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// Decoded pixels: 8-bit RGB (3 channels) or RGBA (4), rows top to bottom.
#[derive(Debug, Clone, Copy)]
struct Frame {
    width: u32,
    height: u32,
    channels: u8,
    orientation: Orientation,
}

impl Thumbnailer {
    /// A thumbnailer for `spec`; it allocates nothing until the first image.
    pub fn new(spec: ThumbnailSpec) -> Self {
        Thumbnailer { spec, resizer: Resizer::new(), input: Vec::new(), decoded: Vec::new(), resized: Vec::new() }
    }

    /// What the thumbnails look like.
    pub fn spec(&self) -> &ThumbnailSpec {
        &self.spec
    }

    /// Reads `input`, makes its thumbnail and writes it atomically into `out`
    /// as `output_name`. Returns the thumbnail's size in bytes.
    pub fn make_file(&mut self, input: &Path, out: &OutputDir, output_name: &str) -> Result<u64, ThumbnailError> {
        let mut bytes = std::mem::take(&mut self.input);
        let made =
            read_limited(input, self.spec.limits.max_file_bytes, &mut bytes).and_then(|()| self.make_thumbnail(&bytes));
        self.input = bytes;
        let thumbnail = made?;
        out.write_atomic(output_name, &thumbnail)?;
        Ok(thumbnail.len() as u64)
    }

    /// Makes the thumbnail of the image in `bytes`.
    pub fn make_thumbnail(&mut self, bytes: &[u8]) -> Result<Vec<u8>, ThumbnailError> {
        let limits = self.spec.limits;
        if bytes.is_empty() {
            return Err(ThumbnailError::Empty);
        }
        if bytes.len() as u64 > limits.max_file_bytes {
            return Err(ThumbnailError::TooLarge { size: bytes.len() as u64, limit: limits.max_file_bytes });
        }
        let format = image::guess_format(bytes).map_err(|_| ThumbnailError::NotAnImage(describe(bytes)))?;
        let frame = match format {
            ImageFormat::Jpeg => self.decode_jpeg(bytes)?,
            ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Bmp | ImageFormat::Tiff => {
                self.decode_with_image(bytes, format)?
            }
            other => {
                let name = other.extensions_str().first().copied().unwrap_or("this").to_uppercase();
                return Err(ThumbnailError::NotAnImage(format!("{name} images are not supported")));
            }
        };
        let spec = self.spec;
        let (frame, pixels) = self.resize(frame)?;
        encode(pixels, frame, &spec)
    }

    /// The JPEG fast path: markers checked, then libjpeg-turbo decodes at the
    /// smallest DCT scale that keeps the headroom.
    fn decode_jpeg(&mut self, bytes: &[u8]) -> Result<Frame, ThumbnailError> {
        let limits = self.spec.limits;
        let info = read_markers(bytes, limits.max_scans).map_err(|problem| match problem {
            MarkerProblem::Truncated(reason) => ThumbnailError::Truncated { format: "JPEG", reason: reason.into() },
            MarkerProblem::TooManyScans => ThumbnailError::TooManyScans(limits.max_scans),
            MarkerProblem::Corrupt(reason) => ThumbnailError::Corrupt { format: "JPEG", reason: reason.into() },
        })?;
        check_pixels(info.width, info.height, &limits)?;
        if info.components == 4 {
            // CMYK or YCCK: libjpeg returns raw ink values, `image` converts.
            return self.decode_with_image(bytes, ImageFormat::Jpeg);
        }
        let orientation = Orientation::from_exif(info.orientation).unwrap_or(Orientation::NoTransforms);
        let (width, height) = target_size(info.width, info.height, orientation, &self.spec);
        let numerator = dct_scale(info.width, info.height, width, height);
        let decoded = &mut self.decoded;
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
        Ok(Frame { width, height, channels: 3, orientation })
    }

    /// Every other format, through `image`, to 8-bit RGB or RGBA.
    fn decode_with_image(&mut self, bytes: &[u8], format: ImageFormat) -> Result<Frame, ThumbnailError> {
        let limits = self.spec.limits;
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
        check_pixels(width, height, &limits)?;
        let mut image_limits = image::Limits::default();
        image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL));
        decoder.set_limits(image_limits).map_err(corrupt)?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
        let (pixels, channels) = if image.color().has_alpha() {
            (image.into_rgba8().into_raw(), 4)
        } else {
            (image.into_rgb8().into_raw(), 3)
        };
        self.decoded = pixels;
        Ok(Frame { width, height, channels, orientation })
    }

    /// Resizes the decoded frame to the target size (for `crop`, from the
    /// centred region of the box's aspect ratio) into `self.resized`.
    fn resize(&mut self, frame: Frame) -> Result<(Frame, &[u8]), ThumbnailError> {
        let (width, height) = target_size(frame.width, frame.height, frame.orientation, &self.spec);
        let pixel_type = if frame.channels == 4 { PixelType::U8x4 } else { PixelType::U8x3 };
        let channels = usize::from(frame.channels);
        let source_len = frame.width as usize * frame.height as usize * channels;
        let failed = |err: &dyn std::fmt::Display| ThumbnailError::Encode(err.to_string());
        let source = ResizeImageRef::new(frame.width, frame.height, &self.decoded[..source_len], pixel_type)
            .map_err(|e| failed(&e))?;
        self.resized.resize(width as usize * height as usize * channels, 0);
        let mut target =
            ResizeImage::from_slice_u8(width, height, &mut self.resized, pixel_type).map_err(|e| failed(&e))?;
        let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FILTER));
        if self.spec.mode == FitMode::Crop {
            options = options.fit_into_destination(None);
        }
        self.resizer.resize(&source, &mut target, &options).map_err(|e| failed(&e))?;
        Ok((Frame { width, height, ..frame }, &self.resized))
    }
}

/// Reads a file into `bytes`, refusing one over `limit` before reading it.
fn read_limited(path: &Path, limit: u64, bytes: &mut Vec<u8>) -> Result<(), ThumbnailError> {
    let file = File::open(path).map_err(ThumbnailError::Read)?;
    let size = file.metadata().map_err(ThumbnailError::Read)?.len();
    if size > limit {
        return Err(ThumbnailError::TooLarge { size, limit });
    }
    bytes.clear();
    // `take`: a file that grows while we read it still stops at the limit.
    file.take(limit.saturating_add(1)).read_to_end(bytes).map_err(ThumbnailError::Read)?;
    if bytes.len() as u64 > limit {
        return Err(ThumbnailError::TooLarge { size: bytes.len() as u64, limit });
    }
    Ok(())
}

/// Refuses a frame over the pixel limit.
fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), ThumbnailError> {
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ThumbnailError::TooManyPixels { width, height, limit: limits.max_pixels });
    }
    Ok(())
}

/// Whether an orientation swaps width and height.
fn is_transposed(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// The thumbnail's size *as stored*, before orientation: computed in the
/// upright frame the viewer sees (so a portrait phone photo fits the box
/// as a portrait), then swapped back if the orientation transposes.
fn target_size(width: u32, height: u32, orientation: Orientation, spec: &ThumbnailSpec) -> (u32, u32) {
    let BoxSize { width: box_w, height: box_h } = spec.size;
    let (box_w, box_h) = if is_transposed(orientation) { (box_h, box_w) } else { (box_w, box_h) };
    match spec.mode {
        FitMode::Fit => fit_size(width, height, box_w, box_h),
        FitMode::Crop => crop_size(width, height, box_w, box_h),
    }
}

/// Pillow's `Image.thumbnail` size: fit inside the box, keep the aspect
/// ratio, never upscale, and round each side to whichever of floor and ceil
/// keeps the aspect ratio closer (Pillow's `round_aspect`, ties to floor).
fn fit_size(width: u32, height: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    if box_w >= width && box_h >= height {
        return (width, height);
    }
    let aspect = f64::from(width) / f64::from(height);
    let (x, y) = (f64::from(box_w), f64::from(box_h));
    let round_aspect = |number: f64, key: &dyn Fn(f64) -> f64| {
        let (floor, ceil) = (number.floor(), number.ceil());
        (if key(ceil) < key(floor) { ceil } else { floor }).max(1.0)
    };
    let (x, y) = if x / y >= aspect {
        (round_aspect(y * aspect, &|n| (aspect - n / y).abs()), y)
    } else {
        (x, round_aspect(x / aspect, &|n| if n == 0.0 { 0.0 } else { (aspect - x / n).abs() }))
    };
    // Both are whole numbers from 1 to the box side, so the casts are exact.
    (x as u32, y as u32)
}

/// `--crop`: exactly the box; an image smaller than the box gives the
/// largest centred region of the box's shape, not upscaled.
fn crop_size(width: u32, height: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    if width >= box_w && height >= box_h {
        return (box_w, box_h);
    }
    let scale = (f64::from(width) / f64::from(box_w)).min(f64::from(height) / f64::from(box_h));
    let side = |box_side: u32, limit: u32| ((f64::from(box_side) * scale).round() as u32).clamp(1, limit);
    (side(box_w, width), side(box_h, height))
}

/// The DCT scale numerator (out of 8) for a `width`x`height` JPEG made into
/// a `target_w`x`target_h` thumbnail: the smallest that keeps both decoded
/// sides at least [`ANTIALIAS_HEADROOM`] times the target's.
fn dct_scale(width: u32, height: u32, target_w: u32, target_h: u32) -> u8 {
    let enough = |numerator: u32| {
        // libjpeg rounds a scaled side up.
        width.div_ceil(8 / numerator) >= ANTIALIAS_HEADROOM * target_w
            && height.div_ceil(8 / numerator) >= ANTIALIAS_HEADROOM * target_h
    };
    [1u8, 2, 4].into_iter().find(|&n| enough(u32::from(n))).unwrap_or(8)
}

/// Orientation, transparency and the output encoder.
fn encode(pixels: &[u8], frame: Frame, spec: &ThumbnailSpec) -> Result<Vec<u8>, ThumbnailError> {
    let failed = |err: &dyn std::fmt::Display| ThumbnailError::Encode(err.to_string());
    let Frame { width, height, channels, orientation } = frame;
    let mut image = if channels == 4 {
        image::RgbaImage::from_raw(width, height, pixels.to_vec()).map(DynamicImage::ImageRgba8)
    } else {
        image::RgbImage::from_raw(width, height, pixels.to_vec()).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| failed(&"the resized buffer has the wrong size"))?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let mut out = Vec::with_capacity(16 * 1024);
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
    Ok(out)
}

/// RGBA to RGB over a white background (JPEG has no transparency, and
/// white is what a transparent logo is usually drawn on).
fn flatten_on_white(rgba: &[u8]) -> Vec<u8> {
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
fn encode_jpeg(rgb: &[u8], width: usize, height: usize, quality: u8) -> Result<Vec<u8>, String> {
    let result = catch_unwind(AssertUnwindSafe(|| -> io::Result<Vec<u8>> {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        compress.set_fastest_defaults();
        compress.set_size(width, height);
        compress.set_quality(f32::from(quality));
        compress.set_optimize_coding(false);
        let mut started = compress.start_compress(Vec::with_capacity(16 * 1024))?;
        started.write_scanlines(rgb)?;
        started.finish()
    }));
    match result {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => Err(panic_message(panic.as_ref())),
    }
}

/// The message libjpeg's error manager unwound with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pillow's sizes, checked against `Image.thumbnail((128, 128))`.
    #[test]
    fn fit_matches_pillow() {
        assert_eq!(fit_size(1620, 1080, 128, 128), (128, 85));
        assert_eq!(fit_size(1080, 1620, 128, 128), (85, 128));
        assert_eq!(fit_size(1920, 1080, 128, 128), (128, 72));
        assert_eq!(fit_size(50, 300, 128, 128), (21, 128));
        assert_eq!(fit_size(100, 60, 128, 128), (100, 60));
        assert_eq!(fit_size(10000, 1, 128, 128), (128, 1));
    }

    /// Crop fills the box, or the largest centred box shape of a small image.
    #[test]
    fn crop_sizes() {
        assert_eq!(crop_size(1620, 1080, 128, 128), (128, 128));
        assert_eq!(crop_size(50, 30, 128, 128), (30, 30));
        assert_eq!(crop_size(300, 50, 128, 64), (100, 50));
    }

    /// The DCT scale keeps at least twice the target on both sides.
    #[test]
    fn dct_scale_keeps_headroom() {
        assert_eq!(dct_scale(1620, 1080, 128, 85), 2); // 1/4: 405x270 (1/8 would be 203 wide)
        assert_eq!(dct_scale(4000, 3000, 128, 96), 1); // 1/8: 500x375
        assert_eq!(dct_scale(1620, 1080, 128, 128), 2); // crop: the short side 270 >= 256
        assert_eq!(dct_scale(1080, 1000, 128, 128), 4); // crop: 1/4 leaves 250 < 256
        assert_eq!(dct_scale(300, 200, 128, 85), 8); // 1/2 leaves 150 < 256
    }

    /// Box sizes parse, and typos are refused.
    #[test]
    fn box_size_parses() {
        assert_eq!("128x96".parse(), Ok(BoxSize { width: 128, height: 96 }));
        assert_eq!("64".parse(), Ok(BoxSize { width: 64, height: 64 }));
        for bad in ["0x10", "128128", "x", "12x", "-1x5", ""] {
            assert!(bad.parse::<BoxSize>().is_err(), "{bad}");
        }
    }
}
