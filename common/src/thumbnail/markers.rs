//! A JPEG's table of contents, read before a single pixel is decoded.
//!
//! One pass over the marker segments (no decoding, no allocation beyond the
//! EXIF block) tells the JPEG path of `decode.rs` everything it must know
//! *before* handing the bytes to libjpeg: the frame size (to refuse a
//! decompression bomb before libjpeg allocates for it), the number of
//! progressive scans (a file with thousands of scans makes libjpeg redo the
//! whole image thousands of times), whether the file ends with its
//! end-of-image marker (libjpeg only *warns* about a truncated file and pads
//! it with grey; we refuse it, as Pillow does), the component count (CMYK
//! goes the slow, correct way) and the EXIF orientation.
//!
//! Entropy-coded data can be skipped with a byte search because JPEG stuffs
//! every `0xFF` data byte as `FF 00`: any other `FF xx` there is a marker.

use memchr::memchr;

/// What the markers of a JPEG say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JpegInfo {
    /// Frame width in pixels.
    pub(crate) width: u32,
    /// Frame height in pixels.
    pub(crate) height: u32,
    /// 1 (greyscale), 3 (YCbCr or RGB) or 4 (CMYK or YCCK).
    pub(crate) components: u8,
    /// EXIF orientation, 1 (upright) to 8; 1 when there is none.
    pub(crate) orientation: u8,
}

/// Why the markers cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MarkerProblem {
    /// The data ends before the end-of-image marker.
    Truncated(&'static str),
    /// More progressive scans than allowed.
    TooManyScans,
    /// Not a well-formed JPEG.
    Corrupt(&'static str),
}

/// Start of image, end of image, start of scan, and the EXIF segment.
const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP1: u8 = 0xE1;

/// Reads the markers of `bytes`, allowing at most `max_scans` scans.
pub(crate) fn read_markers(bytes: &[u8], max_scans: usize) -> Result<JpegInfo, MarkerProblem> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != SOI {
        return Err(MarkerProblem::Corrupt("no start-of-image marker"));
    }
    let mut frame: Option<(u32, u32, u8)> = None;
    let mut orientation = None;
    let mut scans = 0;
    let mut pos = 2;
    loop {
        // Find the next marker; libjpeg skips stray bytes before one too.
        let Some(offset) = memchr(0xFF, &bytes[pos..]) else {
            return Err(MarkerProblem::Truncated("ends before its end-of-image marker"));
        };
        pos += offset;
        while pos < bytes.len() && bytes[pos] == 0xFF {
            pos += 1; // fill bytes
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(MarkerProblem::Truncated("ends inside a marker"));
        };
        pos += 1;
        match marker {
            EOI => break,
            // Standalone markers: restart markers, TEM, and a stuffed zero.
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(length) = bytes.get(pos..pos + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            return Err(MarkerProblem::Truncated("ends inside a segment header"));
        };
        if length < 2 {
            return Err(MarkerProblem::Corrupt("a segment length is impossible"));
        }
        let Some(segment) = bytes.get(pos + 2..pos + length) else {
            return Err(MarkerProblem::Truncated("ends inside a segment"));
        };
        match marker {
            // Start of frame (all kinds, but not DHT C4, JPG C8, DAC CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && frame.is_none() => {
                if segment.len() < 6 {
                    return Err(MarkerProblem::Corrupt("the frame header is too short"));
                }
                let height = u32::from(u16::from_be_bytes([segment[1], segment[2]]));
                let width = u32::from(u16::from_be_bytes([segment[3], segment[4]]));
                if width == 0 || height == 0 {
                    return Err(MarkerProblem::Corrupt("the frame has no pixels"));
                }
                frame = Some((width, height, segment[5]));
            }
            APP1 if orientation.is_none() => orientation = exif_orientation(segment),
            SOS => {
                if frame.is_none() {
                    return Err(MarkerProblem::Corrupt("a scan comes before the frame header"));
                }
                scans += 1;
                if scans > max_scans {
                    return Err(MarkerProblem::TooManyScans);
                }
            }
            _ => {}
        }
        pos += length;
        // After a scan header come the entropy-coded data: skip to the next
        // marker that is neither a stuffed zero nor a restart marker.
        if marker == SOS {
            loop {
                let Some(offset) = memchr(0xFF, &bytes[pos..]) else {
                    return Err(MarkerProblem::Truncated("ends inside the image data"));
                };
                pos += offset;
                match bytes.get(pos + 1) {
                    None => return Err(MarkerProblem::Truncated("ends inside the image data")),
                    Some(0x00 | 0xD0..=0xD7 | 0xFF) => pos += 1,
                    Some(_) => break,
                }
            }
        }
    }
    let Some((width, height, components)) = frame else {
        return Err(MarkerProblem::Corrupt("no frame header"));
    };
    if scans == 0 {
        return Err(MarkerProblem::Corrupt("no image data"));
    }
    Ok(JpegInfo { width, height, components, orientation: orientation.unwrap_or(1) })
}

/// The orientation tag of an APP1 segment, if it is EXIF and has one.
fn exif_orientation(segment: &[u8]) -> Option<u8> {
    let tiff = segment.strip_prefix(b"Exif\0\0")?;
    let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let value = field.value.get_uint(0)?;
    u8::try_from(value).ok().filter(|o| (1..=8).contains(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal baseline JPEG made by the `image` crate.
    fn small_jpeg() -> Vec<u8> {
        let mut bytes = Vec::new();
        let pixels = image::RgbImage::from_pixel(40, 30, image::Rgb([200, 30, 30]));
        pixels.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
        bytes
    }

    /// The frame size and component count are read; no EXIF means upright.
    #[test]
    fn reads_the_frame() {
        let info = read_markers(&small_jpeg(), 10).unwrap();
        assert_eq!(info, JpegInfo { width: 40, height: 30, components: 3, orientation: 1 });
    }

    /// Every cut of a JPEG is refused, never read past its end.
    #[test]
    fn every_truncation_is_refused() {
        let bytes = small_jpeg();
        for len in 0..bytes.len() {
            assert!(read_markers(&bytes[..len], 10).is_err(), "cut at {len} accepted");
        }
    }

    /// The scan limit counts scans.
    #[test]
    fn scan_limit_applies() {
        assert_eq!(read_markers(&small_jpeg(), 0), Err(MarkerProblem::TooManyScans));
    }
}
