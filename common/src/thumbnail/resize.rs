//! Resizing: the decoded pixels down to the thumbnail's exact size, with
//! `fast_image_resize` (SIMD convolution, alpha-correct).
//!
//! The [`Resizer`] is kept by the [`Thumbnailer`](super::Thumbnailer) from
//! one image to the next: it caches its filter coefficients and scratch rows,
//! which for images of one size is most of the setup.

use fast_image_resize::images::{Image as ResizeImage, ImageRef as ResizeImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::spec::{FitMode, ThumbnailSpec, target_size};
use super::{Frame, ThumbnailError};

/// The resampling filter: Catmull-Rom, the bicubic that Pillow's
/// `thumbnail()` uses too. Lanczos3 is a touch sharper but computes a sine
/// per filter weight, which measured 5% of the whole run on 1080-px photos.
const FILTER: FilterType = FilterType::CatmullRom;

/// Resizes the `decoded` frame to the target size (for `crop`, from the
/// centred region of the box's aspect ratio) into `resized`, and returns
/// the new frame with its pixels.
pub(super) fn resize<'a>(
    resizer: &mut Resizer,
    frame: Frame,
    decoded: &[u8],
    spec: &ThumbnailSpec,
    resized: &'a mut Vec<u8>,
) -> Result<(Frame, &'a [u8]), ThumbnailError> {
    let (width, height) = target_size(frame.width, frame.height, frame.orientation, spec);
    // Fit and Crop never grow an image, but `Cover` of a 10000x1 strip
    // would be 1,280,000 pixels wide: the output is held to the input's
    // pixel limit before it is allocated.
    if u64::from(width) * u64::from(height) > spec.limits.max_pixels {
        return Err(ThumbnailError::TooManyPixels { width, height, limit: spec.limits.max_pixels });
    }
    let pixel_type = if frame.channels == 4 { PixelType::U8x4 } else { PixelType::U8x3 };
    let channels = usize::from(frame.channels);
    let source_len = frame.width as usize * frame.height as usize * channels;
    let failed = |err: &dyn std::fmt::Display| ThumbnailError::Encode(err.to_string());
    let source =
        ResizeImageRef::new(frame.width, frame.height, &decoded[..source_len], pixel_type).map_err(|e| failed(&e))?;
    resized.resize(width as usize * height as usize * channels, 0);
    let mut target = ResizeImage::from_slice_u8(width, height, resized, pixel_type).map_err(|e| failed(&e))?;
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FILTER));
    if spec.mode == FitMode::Crop {
        options = options.fit_into_destination(None);
    }
    resizer.resize(&source, &mut target, &options).map_err(|e| failed(&e))?;
    Ok((Frame { width, height, ..frame }, resized))
}
