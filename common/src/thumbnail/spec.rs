//! What a thumbnail should look like, and the pure size math that follows.
//!
//! Everything here is plain data and arithmetic, no pixels: the box, the fit
//! mode, the output format, the limits, and from them the thumbnail's exact
//! size and the DCT scale a JPEG is decoded at. Kept apart from the codecs so
//! the sizes (which must match Pillow's to the pixel) are tested on numbers.

use std::str::FromStr;

use image::metadata::Orientation;

/// The box of the original assignments: Pillow's `thumbnail((128, 128))`.
const DEFAULT_SIZE: BoxSize = BoxSize { width: 128, height: 128 };

/// JPEG quality of thumbnails: 85 is where artefacts stop being visible at
/// thumbnail size, while the file stays about 4 KB.
pub const DEFAULT_QUALITY: u8 = 85;

/// The largest box side accepted: far above any thumbnail, low enough that a
/// typo such as `--size 128128` is caught instead of silently meaning "keep
/// the full size".
const MAX_BOX_SIDE: u32 = 8192;

/// Largest input file read, in bytes: a 100-megapixel camera JPEG is about
/// 50 MB, so 128 MiB takes every real photo and refuses what is not one.
const MAX_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Largest frame (width x height) decoded: Pillow's `MAX_IMAGE_PIXELS`, which
/// its users know; at 4 bytes a pixel it bounds one worker at about 360 MB.
const MAX_PIXELS: u64 = 89_478_485;

/// Most scans a progressive JPEG may have. Encoders write about 10 (mozjpeg's
/// scan optimisation up to about 20); libjpeg re-decodes the image once per
/// scan, so a crafted file with thousands of scans is a CPU bomb.
const MAX_SCANS: usize = 100;

/// How many times the target size a 1/2 or 1/4 shrink-on-load decode must
/// still leave: the anti-aliasing headroom of Pillow's `reducing_gap=2.0`
/// and libvips. Measured (`scripts/bench_quality.sh`): 1/4 of a 1080-px
/// photo (2.1x a 128-px thumbnail) then Catmull-Rom beats img2dataset's full
/// decode + `INTER_AREA` on PSNR and SSIM against a full-decode Lanczos.
const ANTIALIAS_HEADROOM: u64 = 2;

/// The headroom a 1/8 decode needs. At 1/8 libjpeg-turbo keeps only each
/// 8x8 block's DC coefficient (the block's mean: a box filter), which is
/// softer than a Lanczos reference. Measured on the corpus of 1080-px
/// photos with boxes from 128 down to 27 px (results/BENCHMARKS.md): 1/8
/// then bicubic loses to a full decode + `INTER_AREA` by 1.8 dB PSNR at
/// 1.05x the target (a 128-px box, what the issue proposed), 0.15 dB at
/// 2.25x, and ties it at 3x (29.03 dB both, SSIM 0.9664 against 0.9658).
const EIGHTH_HEADROOM: u64 = 3;

/// The shrink-on-load scales libjpeg-turbo's scaled IDCT offers, as
/// numerators out of 8, smallest first, each with the headroom it needs
/// (8/8, full size, is the fallback).
const DCT_SCALES: [(u8, u64); 3] = [(1, EIGHTH_HEADROOM), (2, ANTIALIAS_HEADROOM), (4, ANTIALIAS_HEADROOM)];

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
///
/// `Fit` and `Crop` are this workspace's own (Pillow's `thumbnail`, and a
/// centre cut), and never upscale. `Cover`, `Pad` and `Original` are
/// img2dataset's `keep_ratio`, `border` and `no`, with its default
/// `resize_only_if_bigger=False`: an image smaller than the box is scaled
/// *up* to it, as img2dataset does. Its `FromStr` reads img2dataset's five
/// `--resize_mode` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitMode {
    /// Fit inside the box, keeping the aspect ratio (Pillow's `thumbnail`),
    /// never upscaled.
    Fit,
    /// Fill exactly the box, cutting the centre out; an image smaller than
    /// the box gives the largest centred region of the box's shape.
    Crop,
    /// Cover the box, keeping the aspect ratio, with nothing cut: the side
    /// that fills the box least is scaled to it, the other overhangs
    /// (img2dataset's `keep_ratio`; for a square box, the smaller side
    /// becomes the box's side). Upscales a smaller image.
    Cover,
    /// Fit inside the box keeping the aspect ratio, then pad to exactly the
    /// box, centred, with white (img2dataset's `border`). Upscales a smaller
    /// image.
    Pad,
    /// No resize: the upright image at its own size, re-encoded
    /// (img2dataset's `no`).
    Original,
}

impl FitMode {
    /// img2dataset's name for this mode (`Fit` is its `keep_ratio_largest`,
    /// `Crop` its `center_crop`, which differ from ours only in upscaling).
    pub fn img2dataset_name(self) -> &'static str {
        match self {
            FitMode::Fit => "keep_ratio_largest",
            FitMode::Crop => "center_crop",
            FitMode::Cover => "keep_ratio",
            FitMode::Pad => "border",
            FitMode::Original => "no",
        }
    }
}

impl FromStr for FitMode {
    type Err = String;

    /// img2dataset's `--resize_mode` names: `no`, `keep_ratio`,
    /// `keep_ratio_largest`, `center_crop`, `border`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "no" => Ok(FitMode::Original),
            "keep_ratio" => Ok(FitMode::Cover),
            "keep_ratio_largest" => Ok(FitMode::Fit),
            "center_crop" => Ok(FitMode::Crop),
            "border" => Ok(FitMode::Pad),
            other => Err(format!(
                "unknown resize mode {other:?}: expected no, keep_ratio, keep_ratio_largest, center_crop or border"
            )),
        }
    }
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
    /// 128 MiB, Pillow's 89,478,485 pixels, and 100 scans.
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
    /// A 128x128 box, fitted, JPEG at [`DEFAULT_QUALITY`], default limits.
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
pub(super) fn target_size(width: u32, height: u32, orientation: Orientation, spec: &ThumbnailSpec) -> (u32, u32) {
    let BoxSize { width: box_w, height: box_h } = spec.size;
    let (box_w, box_h) = if is_transposed(orientation) { (box_h, box_w) } else { (box_w, box_h) };
    match spec.mode {
        FitMode::Fit => fit_size(width, height, box_w, box_h),
        FitMode::Crop => crop_size(width, height, box_w, box_h),
        FitMode::Cover => scaled_size(width, height, f64::max(ratio(box_w, width), ratio(box_h, height))),
        FitMode::Pad => {
            let (w, h) = scaled_size(width, height, f64::min(ratio(box_w, width), ratio(box_h, height)));
            (w.min(box_w), h.min(box_h))
        }
        FitMode::Original => (width, height),
    }
}

/// The upright size of a `width`x`height` image stored with `orientation`.
pub(super) fn upright_size(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    if is_transposed(orientation) { (height, width) } else { (width, height) }
}

/// `side / of` in floating point, as albumentations computes its scale.
fn ratio(side: u32, of: u32) -> f64 {
    f64::from(side) / f64::from(of)
}

/// Each side times `scale`, rounded half to even and at least 1: exactly
/// albumentations' `SmallestMaxSize` / `LongestMaxSize` (Python's `round`),
/// which img2dataset's `keep_ratio` and `border` call.
fn scaled_size(width: u32, height: u32, scale: f64) -> (u32, u32) {
    // The float-to-int cast saturates; the pixel limit refuses absurd sizes
    // before anything is allocated (`resize.rs`).
    let side = |n: u32| (f64::from(n) * scale).round_ties_even().max(1.0) as u32;
    (side(width), side(height))
}

/// The `Pad` border: the inner image's offset in the box, centred, the odd
/// pixel going after it (albumentations' `PadIfNeeded`: `int(gap / 2)`
/// before).
pub(super) fn pad_offset(inner: u32, side: u32) -> u32 {
    side.saturating_sub(inner) / 2
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
/// a `target_w`x`target_h` thumbnail. The rule, per image: the smallest
/// scale `n/8` whose shrunk image is still at least its headroom times the
/// target on both sides, exactly (`side * n / 8 >= headroom * target`,
/// before libjpeg rounds a scaled side up): 1/8 needs 3x
/// ([`EIGHTH_HEADROOM`]), 1/4 and 1/2 need 2x ([`ANTIALIAS_HEADROOM`]),
/// and otherwise the full size. A thumbnail is therefore never scaled up
/// from a decode smaller than itself.
pub(super) fn dct_scale(width: u32, height: u32, target_w: u32, target_h: u32) -> u8 {
    let enough = |numerator: u8, headroom: u64| {
        let scaled = |side: u32| u64::from(side) * u64::from(numerator);
        scaled(width) >= 8 * headroom * u64::from(target_w) && scaled(height) >= 8 * headroom * u64::from(target_h)
    };
    DCT_SCALES.into_iter().find(|&(n, headroom)| enough(n, headroom)).map_or(8, |(n, _)| n)
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

    /// The DCT scale: 1/8 with 3x the target left, 1/4 and 1/2 with 2x.
    #[test]
    fn dct_scale_keeps_headroom() {
        assert_eq!(dct_scale(1080, 675, 128, 80), 2); // 1/4: 270x169; 1/8 would be 135x84 (1.05x)
        assert_eq!(dct_scale(1620, 1080, 128, 85), 2); // 1/4: 405x270; 1/8 would be 202x135 (1.6x)
        assert_eq!(dct_scale(3072, 2048, 128, 85), 1); // 1/8: 384x256, exactly 3x the width
        assert_eq!(dct_scale(3064, 2048, 128, 85), 2); // 1/8: 383 < 384
        assert_eq!(dct_scale(4000, 3000, 128, 96), 1); // 1/8: 500x375
        assert_eq!(dct_scale(1620, 1080, 128, 128), 2); // crop: the short side 270 >= 256
        assert_eq!(dct_scale(1080, 1000, 128, 128), 4); // crop: 1/4 leaves 250 < 256
        assert_eq!(dct_scale(300, 200, 128, 85), 8); // 1/2 leaves 150 < 256
        assert_eq!(dct_scale(u32::MAX, u32::MAX, 8192, 8192), 1); // no overflow
    }

    proptest::proptest! {
        /// For any image, box and fit mode, the scale chosen never leaves
        /// fewer decoded pixels than the thumbnail has (no upscale from a
        /// decode that is too small: the full size is the only exception,
        /// for `Cover`, `Pad` and `Original`, which scale a small image up),
        /// it keeps the headroom of its scale, and no smaller scale would.
        #[test]
        fn dct_scale_never_upscales(
            width in 1u32..8000, height in 1u32..8000,
            box_w in 1u32..600, box_h in 1u32..600, mode in 0usize..5,
        ) {
            let modes = [FitMode::Fit, FitMode::Crop, FitMode::Cover, FitMode::Pad, FitMode::Original];
            let size = BoxSize { width: box_w, height: box_h };
            let spec = ThumbnailSpec { mode: modes[mode], size, ..ThumbnailSpec::default() };
            let (target_w, target_h) = target_size(width, height, Orientation::NoTransforms, &spec);
            let n = dct_scale(width, height, target_w, target_h);
            let decoded = |n: u8, side: u32| f64::from(side) * f64::from(n) / 8.0;
            let keeps = |n: u8, headroom: f64| {
                decoded(n, width) >= headroom * f64::from(target_w)
                    && decoded(n, height) >= headroom * f64::from(target_h)
            };
            let headroom = |n: u8| if n == 1 { 3.0 } else { 2.0 };
            let what = format!("{width}x{height} -> {target_w}x{target_h} at {n}/8");
            proptest::prop_assert!(n == 8 || keeps(n, 1.0), "upscaled: {what}");
            proptest::prop_assert!(n == 8 || keeps(n, headroom(n)), "headroom: {what}");
            for smaller in [1u8, 2, 4].into_iter().filter(|&s| s < n) {
                proptest::prop_assert!(!keeps(smaller, headroom(smaller)), "{smaller}/8 was enough: {what}");
            }
        }
    }

    /// `Cover` covers the box with no cut (the short side to the box), `Pad`
    /// fits inside it, both scaling up a small image, rounding as
    /// albumentations does; `Original` keeps the size. A transposing
    /// orientation swaps the box.
    #[test]
    fn img2dataset_sizes() {
        let sized = |mode, w, h, box_w, box_h| {
            let spec =
                ThumbnailSpec { mode, size: BoxSize { width: box_w, height: box_h }, ..ThumbnailSpec::default() };
            target_size(w, h, Orientation::NoTransforms, &spec)
        };
        assert_eq!(sized(FitMode::Cover, 1620, 1080, 128, 128), (192, 128));
        assert_eq!(sized(FitMode::Cover, 1080, 1620, 128, 128), (128, 192));
        assert_eq!(sized(FitMode::Cover, 50, 30, 128, 128), (213, 128));
        assert_eq!(sized(FitMode::Cover, 300, 100, 200, 100), (300, 100));
        assert_eq!(sized(FitMode::Pad, 1620, 1080, 128, 128), (128, 85));
        assert_eq!(sized(FitMode::Pad, 30, 50, 128, 128), (77, 128));
        assert_eq!(sized(FitMode::Pad, 300, 100, 200, 100), (200, 67));
        assert_eq!(sized(FitMode::Original, 30, 50, 128, 128), (30, 50));
        // Python's round: 2.5 -> 2 (half to even), not 3.
        assert_eq!(scaled_size(5, 4, 0.5), (2, 2));
        let portrait = ThumbnailSpec { mode: FitMode::Cover, ..ThumbnailSpec::default() };
        assert_eq!(target_size(1620, 1080, Orientation::Rotate90, &portrait), (192, 128));
        assert_eq!((pad_offset(85, 128), pad_offset(128, 128), pad_offset(200, 128)), (21, 0, 0));
    }

    /// img2dataset's five resize-mode names, and nothing else.
    #[test]
    fn img2dataset_names() {
        for mode in [FitMode::Fit, FitMode::Crop, FitMode::Cover, FitMode::Pad, FitMode::Original] {
            assert_eq!(mode.img2dataset_name().parse(), Ok(mode));
        }
        assert_eq!("keep_ratio".parse(), Ok(FitMode::Cover));
        assert_eq!("center_crop".parse(), Ok(FitMode::Crop));
        assert!("crop".parse::<FitMode>().is_err());
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
