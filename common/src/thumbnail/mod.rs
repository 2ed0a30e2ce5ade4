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
//!    smallest scale that still leaves twice the target size (1/4 or 1/2),
//!    as Pillow's `draft` and libvips do, or three times for 1/8, whose
//!    block means are softer: the rule in `spec.rs`, its quality measured
//!    against a full decode by `scripts/bench_quality.sh`. A thumbnail is
//!    never scaled up from a decode smaller than itself. The pure-Rust
//!    decoder of `image` cannot scale the DCT: it decodes all 16 times the
//!    pixels of a 1/4 decode and then has to filter them all down.
//! 3. **Other formats** (PNG, WebP, GIF's first frame, BMP, TIFF, and CMYK
//!    JPEGs, which libjpeg hands back unconverted) go through `image`,
//!    converted to 8-bit RGB or RGBA.
//! 4. **Resize** with `fast_image_resize` (SIMD, Catmull-Rom, alpha-correct)
//!    to the size the [`FitMode`] gives: ours (`Fit`, `Crop`, never
//!    upscaled) or img2dataset's (`Cover`, `Pad`, `Original`, which scale a
//!    small image up as it does). A JPEG is never shrunk on load below that
//!    size, so `Original` and an upscale decode at full size.
//! 5. **Orientation** from EXIF is applied to the small image (cheap), so a
//!    phone photo's thumbnail is upright.
//! 6. **Encode** (after `Pad`'s white border): JPEG with libjpeg-turbo's
//!    fastest settings (transparency flattened onto white), or PNG, or
//!    lossless WebP.
//!
//! The result depends only on the input bytes and the [`ThumbnailSpec`]:
//! one thread or many, the same bytes come out.
//!
//! # Layout
//! One file per step, in the order [`Thumbnailer::make_thumbnail`] calls
//! them; only this file is public.
//! - `spec.rs`: [`ThumbnailSpec`] and its parts ([`BoxSize`], [`FitMode`],
//!   [`OutputFormat`], [`Limits`]), and the pure size math: Pillow's
//!   thumbnail size, the crop size, the DCT scale.
//! - `markers.rs`: a JPEG's markers read without decoding (frame size, scan
//!   count, truncation, EXIF orientation), so the limits come first.
//! - `decode.rs`: bytes to pixels, JPEG shrunk on load by libjpeg-turbo,
//!   every other format through `image`.
//! - `resize.rs`: pixels to the thumbnail's size with `fast_image_resize`.
//! - `encode.rs`: orientation, then JPEG, PNG or WebP bytes.
//! - `crops.rs`: rectangles cut out of one full-size decode, each a JPEG
//!   ([`Thumbnailer::make_outputs`] makes them and the thumbnail from one
//!   decode).
//!
//! Where the bytes come from and where they go is the caller's business:
//! this module reads a file at most ([`Thumbnailer::make_from_file`]) and
//! writes none (the run stores what it returns).

mod crops;
mod decode;
mod encode;
pub(crate) mod markers;
mod resize;
mod spec;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use fast_image_resize::Resizer;
use image::metadata::Orientation;
use thiserror::Error;

pub use crops::{CropRect, Crops, grid};
use decode::DecodeSize;
pub use spec::{BoxSize, DEFAULT_QUALITY, FitMode, Limits, OutputFormat, ThumbnailSpec};

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
}

/// Makes one thumbnail of the image in `bytes`.
///
/// For many images, keep a [`Thumbnailer`] instead: it reuses its buffers.
pub fn make_thumbnail(bytes: &[u8], spec: &ThumbnailSpec) -> Result<Vec<u8>, ThumbnailError> {
    Thumbnailer::new(*spec).make_thumbnail(bytes)
}

/// The thumbnail's file name for `input`: `<stem>_thumbnail.<ext>`.
pub(crate) fn thumbnail_name(input: &Path, format: OutputFormat) -> String {
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

/// What a pixel buffer holds as it goes from one step to the next: 8-bit
/// RGB (3 channels) or RGBA (4), rows top to bottom, and the EXIF
/// orientation still to apply. The pixels stay in the [`Thumbnailer`]'s
/// buffers; only this description is passed along.
#[derive(Debug, Clone, Copy)]
struct Frame {
    width: u32,
    height: u32,
    channels: u8,
    orientation: Orientation,
    /// The image's size as the file stores it (before any shrink on load
    /// and before orientation).
    source: (u32, u32),
}

impl Frame {
    /// The image's size as the viewer sees it, from the file.
    fn original(&self) -> (u32, u32) {
        spec::upright_size(self.source.0, self.source.1, self.orientation)
    }
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

    /// Reads `input`, refusing a file over [`Limits::max_file_bytes`] before
    /// reading it, and makes its thumbnail.
    pub fn make_from_file(&mut self, input: &Path) -> Result<Vec<u8>, ThumbnailError> {
        // The input buffer is lent out and put back, so its capacity serves
        // the next image too, whatever happened to this one.
        let mut bytes = std::mem::take(&mut self.input);
        let made =
            read_limited(input, self.spec.limits.max_file_bytes, &mut bytes).and_then(|()| self.make_thumbnail(&bytes));
        self.input = bytes;
        made
    }

    /// Makes the thumbnail of the image in `bytes`.
    pub fn make_thumbnail(&mut self, bytes: &[u8]) -> Result<Vec<u8>, ThumbnailError> {
        self.thumbnail_and_sizes(bytes).map(|(thumbnail, _)| thumbnail.bytes)
    }

    /// The thumbnail of the image in `bytes` (shrunk on load when it is a
    /// JPEG), with its frame.
    fn thumbnail_and_sizes(&mut self, bytes: &[u8]) -> Result<(Made, Frame), ThumbnailError> {
        self.check_size(bytes)?;
        let frame = decode::decode(bytes, &self.spec, DecodeSize::ForThumbnail, &mut self.decoded)?;
        Ok((self.thumbnail_of_decoded(frame)?, frame))
    }

    /// Makes, from one decode of the image in `bytes`, its thumbnail (if
    /// `thumbnail`) and its `crops`, each a JPEG at the spec's quality.
    ///
    /// With no crops this is [`Thumbnailer::make_thumbnail`] (a JPEG is
    /// shrunk on load). With crops the image is decoded once at full size,
    /// the crops are cut from it and the thumbnail is resized from it too,
    /// so its bytes can differ slightly from a shrunk-on-load thumbnail's.
    /// With neither, only the header is read, for [`Outputs::original`]
    /// (and checked: a file that is not an image is an error).
    pub fn make_outputs(&mut self, bytes: &[u8], thumbnail: bool, crops: Crops<'_>) -> Result<Outputs, ThumbnailError> {
        if crops == Crops::None {
            if thumbnail {
                let (made, frame) = self.thumbnail_and_sizes(bytes)?;
                return Ok(Outputs {
                    thumbnail: Some(made.bytes),
                    crops: Vec::new(),
                    original: frame.original(),
                    size: Some(made.size),
                });
            }
            self.check_size(bytes)?;
            let (width, height, orientation) = decode::probe(bytes, &self.spec.limits)?;
            let original = spec::upright_size(width, height, orientation);
            return Ok(Outputs { thumbnail: None, crops: Vec::new(), original, size: None });
        }
        self.check_size(bytes)?;
        let frame = decode::decode(bytes, &self.spec, DecodeSize::Full, &mut self.decoded)?;
        let grid_rects;
        let rects = match crops {
            Crops::Rects(rects) => rects,
            Crops::Grid(count) => {
                // The grid is over the upright image, as the viewer sees it.
                let (width, height) = spec::upright_size(frame.width, frame.height, frame.orientation);
                grid_rects = grid(width, height, count);
                &grid_rects
            }
            Crops::None => &[],
        };
        let crops = crops::make_crops(&self.decoded, frame, rects, self.spec.quality)?;
        let made = if thumbnail { Some(self.thumbnail_of_decoded(frame)?) } else { None };
        Ok(Outputs {
            size: made.as_ref().map(|made| made.size),
            thumbnail: made.map(|made| made.bytes),
            crops,
            original: frame.original(),
        })
    }

    /// Refuses an empty input or one over the file size limit.
    fn check_size(&self, bytes: &[u8]) -> Result<(), ThumbnailError> {
        let limit = self.spec.limits.max_file_bytes;
        if bytes.is_empty() {
            return Err(ThumbnailError::Empty);
        }
        if bytes.len() as u64 > limit {
            return Err(ThumbnailError::TooLarge { size: bytes.len() as u64, limit });
        }
        Ok(())
    }

    /// Resizes and encodes what was decoded into `self.decoded`.
    fn thumbnail_of_decoded(&mut self, frame: Frame) -> Result<Made, ThumbnailError> {
        let (bytes, size) = if self.spec.mode == FitMode::Original {
            // Not resized at all, not even copied through the resizer.
            let len = frame.width as usize * frame.height as usize * usize::from(frame.channels);
            let pixels = self.decoded.get(..len).ok_or_else(|| ThumbnailError::Encode("short decode".into()))?;
            encode::encode(pixels, frame, &self.spec)?
        } else {
            let (frame, pixels) =
                resize::resize(&mut self.resizer, frame, &self.decoded, &self.spec, &mut self.resized)?;
            encode::encode(pixels, frame, &self.spec)?
        };
        Ok(Made { bytes, size })
    }
}

/// One thumbnail made: its file, and the width and height it shows.
struct Made {
    bytes: Vec<u8>,
    size: (u32, u32),
}

/// What [`Thumbnailer::make_outputs`] made of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// The thumbnail, if one was asked for.
    pub thumbnail: Option<Vec<u8>>,
    /// One entry per crop rectangle, in order: the JPEG, or `None` for a
    /// rectangle that was empty once clipped to the image.
    pub crops: Vec<Option<Vec<u8>>>,
    /// The source image's width and height in pixels, upright (EXIF
    /// orientation applied), as the file has them: not the size a JPEG was
    /// shrunk to on load (img2dataset's `original_width`, `original_height`).
    pub original: (u32, u32),
    /// The thumbnail's width and height in pixels, when one was made.
    pub size: Option<(u32, u32)>,
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
