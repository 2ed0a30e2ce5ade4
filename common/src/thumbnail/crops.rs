//! Crops: rectangles cut out of one decoded image, each encoded as a JPEG.
//!
//! The original benchmark cuts about 50 crops of 300-500 px out of every
//! image and uploads each. Crops are taken from the image at full size
//! (no shrink on load: a crop is a part of the photo at its own
//! resolution), in the upright frame the viewer sees (EXIF orientation
//! applied first), and encoded with the thumbnails' JPEG encoder at their
//! quality, so both kinds of output look alike.
//!
//! [`make_crops`] is a pure function of the decoded pixels and the
//! rectangles; [`super::Thumbnailer::make_outputs`] decodes once and calls
//! it, and makes the thumbnail from the same decode. A rectangle is clipped
//! to the image; one that is empty after clipping gives `None`, so a crop's
//! index (and so its name) stays the index of its rectangle.

use image::DynamicImage;
use image::metadata::Orientation;

use super::encode::{encode_jpeg, flatten_on_white};
use super::{Frame, ThumbnailError};

/// A rectangle of an image, in pixels of the upright image: `x`, `y` its
/// top-left corner, then its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl CropRect {
    /// The part of this rectangle inside a `width`x`height` image, if any.
    pub fn clipped(self, width: u32, height: u32) -> Option<CropRect> {
        let right = self.x.saturating_add(self.width).min(width);
        let bottom = self.y.saturating_add(self.height).min(height);
        (self.x < right && self.y < bottom).then(|| CropRect {
            x: self.x,
            y: self.y,
            width: right - self.x,
            height: bottom - self.y,
        })
    }
}

/// Which crops to make of each image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crops<'a> {
    /// None: a thumbnail only.
    None,
    /// These rectangles, in this order.
    Rects(&'a [CropRect]),
    /// This many cells of a regular grid over the image ([`grid`]).
    Grid(u32),
}

/// `count` rectangles that tile a `width`x`height` image: `rows` about the
/// square root of `count`, the cells spread over the rows as evenly as
/// possible (the first rows get one more when it does not divide), each row
/// cut into equal cells. Together they cover the image exactly, in reading
/// order. A cell narrower than a pixel (more cells than pixels) is empty.
pub fn grid(width: u32, height: u32, count: u32) -> Vec<CropRect> {
    if count == 0 {
        return Vec::new();
    }
    let rows = (f64::from(count).sqrt().round() as u32).clamp(1, count);
    let (base, extra) = (count / rows, count % rows);
    // Edges by integer division of u64 products: exact, and the last edge
    // is the image's side.
    let edge = |index: u32, parts: u32, side: u32| (u64::from(index) * u64::from(side) / u64::from(parts)) as u32;
    let mut rects = Vec::with_capacity(count as usize);
    for row in 0..rows {
        let cells = base + u32::from(row < extra);
        let (top, bottom) = (edge(row, rows, height), edge(row + 1, rows, height));
        for cell in 0..cells {
            let (left, right) = (edge(cell, cells, width), edge(cell + 1, cells, width));
            rects.push(CropRect { x: left, y: top, width: right - left, height: bottom - top });
        }
    }
    rects
}

/// Cuts every rectangle of `rects` out of the decoded image (`pixels`, as
/// `frame` describes them) and encodes it as a JPEG of `quality`; `None`
/// for a rectangle that is empty once clipped to the image.
pub(super) fn make_crops(
    pixels: &[u8],
    frame: Frame,
    rects: &[CropRect],
    quality: u8,
) -> Result<Vec<Option<Vec<u8>>>, ThumbnailError> {
    let upright = Upright::new(pixels, frame)?;
    let (width, height, channels) = (upright.width, upright.height, upright.channels);
    let mut cut = Vec::new();
    rects
        .iter()
        .map(|rect| {
            let Some(rect) = rect.clipped(width, height) else { return Ok(None) };
            // The rectangle's rows, one after the other.
            cut.clear();
            let row_bytes = width as usize * channels;
            for y in rect.y..rect.y + rect.height {
                let start = y as usize * row_bytes + rect.x as usize * channels;
                cut.extend_from_slice(&upright.pixels[start..start + rect.width as usize * channels]);
            }
            let rgb = if channels == 4 { flatten_on_white(&cut) } else { std::mem::take(&mut cut) };
            let jpeg = encode_jpeg(&rgb, rect.width as usize, rect.height as usize, quality)
                .map_err(ThumbnailError::Encode)?;
            if channels == 3 {
                cut = rgb; // give the buffer back for the next crop
            }
            Ok(Some(jpeg))
        })
        .collect()
}

/// The decoded pixels the right way up: borrowed as they are when the
/// image needs no turning (nearly always), else a turned copy.
struct Upright<'a> {
    pixels: std::borrow::Cow<'a, [u8]>,
    width: u32,
    height: u32,
    channels: usize,
}

impl<'a> Upright<'a> {
    fn new(pixels: &'a [u8], frame: Frame) -> Result<Self, ThumbnailError> {
        let Frame { width, height, channels, orientation, .. } = frame;
        let len = width as usize * height as usize * usize::from(channels);
        let pixels = pixels.get(..len).ok_or_else(|| ThumbnailError::Encode("the decoded buffer is short".into()))?;
        if orientation == Orientation::NoTransforms {
            return Ok(Upright { pixels: pixels.into(), width, height, channels: usize::from(channels) });
        }
        let wrong_size = || ThumbnailError::Encode("the decoded buffer has the wrong size".into());
        let mut image = if channels == 4 {
            image::RgbaImage::from_raw(width, height, pixels.to_vec()).map(DynamicImage::ImageRgba8)
        } else {
            image::RgbImage::from_raw(width, height, pixels.to_vec()).map(DynamicImage::ImageRgb8)
        }
        .ok_or_else(wrong_size)?;
        image.apply_orientation(orientation);
        let (width, height) = (image.width(), image.height());
        Ok(Upright { pixels: image.into_bytes().into(), width, height, channels: usize::from(channels) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid covers the image exactly, once, with `count` cells.
    #[test]
    fn grid_tiles_the_image() {
        for (width, height, count) in [(1080, 720, 50), (100, 100, 1), (640, 480, 5), (7, 3, 4), (1000, 10, 13)] {
            let rects = grid(width, height, count);
            assert_eq!(rects.len(), count as usize);
            let mut covered = vec![0u8; (width * height) as usize];
            for rect in &rects {
                for y in rect.y..rect.y + rect.height {
                    for x in rect.x..rect.x + rect.width {
                        covered[(y * width + x) as usize] += 1;
                    }
                }
            }
            assert!(covered.iter().all(|&n| n == 1), "{width}x{height} / {count}");
        }
        assert!(grid(10, 10, 0).is_empty());
    }

    /// Clipping keeps the part inside the image; nothing inside is `None`.
    #[test]
    fn clipping() {
        let rect = CropRect { x: 90, y: 5, width: 50, height: 10 };
        assert_eq!(rect.clipped(100, 100), Some(CropRect { x: 90, y: 5, width: 10, height: 10 }));
        assert_eq!(rect.clipped(90, 100), None);
        assert_eq!(CropRect { x: 0, y: 0, width: 0, height: 5 }.clipped(10, 10), None);
        assert_eq!(CropRect { x: u32::MAX, y: 0, width: u32::MAX, height: 1 }.clipped(10, 10), None);
    }

    /// Crops come out with the clipped rectangle's size and its pixels; an
    /// empty one is `None`.
    #[test]
    fn crops_have_the_rectangles_pixels() {
        let (width, height) = (64u32, 48u32);
        let mut pixels = Vec::new();
        for y in 0..height {
            for x in 0..width {
                pixels.extend_from_slice(&[if x < 32 { 250 } else { 5 }, if y < 24 { 250 } else { 5 }, 128]);
            }
        }
        let frame =
            Frame { width, height, channels: 3, orientation: Orientation::NoTransforms, source: (width, height) };
        let rects = [
            CropRect { x: 0, y: 0, width: 16, height: 16 },
            CropRect { x: 40, y: 30, width: 100, height: 100 },
            CropRect { x: 64, y: 0, width: 5, height: 5 },
        ];
        let crops = make_crops(&pixels, frame, &rects, 90).unwrap();
        assert!(crops[2].is_none());
        let first = image::load_from_memory(crops[0].as_ref().unwrap()).unwrap().into_rgb8();
        assert_eq!(first.dimensions(), (16, 16));
        assert!(first.get_pixel(8, 8)[0] > 200 && first.get_pixel(8, 8)[1] > 200);
        let second = image::load_from_memory(crops[1].as_ref().unwrap()).unwrap().into_rgb8();
        assert_eq!(second.dimensions(), (24, 18));
        assert!(second.get_pixel(12, 9)[0] < 50 && second.get_pixel(12, 9)[1] < 50);
    }
}
