//! For the fuzz targets (`fuzz/`) and the property tests
//! (`common/tests/properties.rs`) only: not part of the API.
//!
//! Two of the functions that read hostile input are internal to this crate
//! (the file name an item is stored under, and the JPEG marker reader), and
//! the fuzzers and property tests are other crates. Rather than make those
//! functions public, this hidden module wraps them thinly, in plain types,
//! so the normal API stays as small as it was. The other two functions under
//! test, [`crate::sources::open_url_list`] and
//! [`crate::thumbnail::make_thumbnail`], are public already.

use image::ImageFormat;

use crate::thumbnail::markers::{MarkerProblem, read_markers};

/// The file name an image from `url` is stored under: `run`'s own function.
pub fn file_name(url: &str, stem: Option<&str>, format: ImageFormat) -> String {
    crate::run::names::file_name(url, stem, format)
}

/// What a JPEG's markers say (the marker reader's result, as plain data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegMarkers {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Colour components in the frame.
    pub components: u8,
    /// EXIF orientation, 1 to 8.
    pub orientation: u8,
}

/// Why the marker reader refused the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegMarkersError {
    /// The data ends early.
    Truncated(&'static str),
    /// More scans than `max_scans`.
    TooManyScans,
    /// Not a well-formed JPEG.
    Corrupt(&'static str),
}

/// Reads the markers of the JPEG in `bytes`, allowing at most `max_scans`
/// scans: the thumbnail maker's first step, without any decoding.
pub fn read_jpeg_markers(bytes: &[u8], max_scans: usize) -> Result<JpegMarkers, JpegMarkersError> {
    match read_markers(bytes, max_scans) {
        Ok(info) => Ok(JpegMarkers {
            width: info.width,
            height: info.height,
            components: info.components,
            orientation: info.orientation,
        }),
        Err(MarkerProblem::Truncated(reason)) => Err(JpegMarkersError::Truncated(reason)),
        Err(MarkerProblem::TooManyScans) => Err(JpegMarkersError::TooManyScans),
        Err(MarkerProblem::Corrupt(reason)) => Err(JpegMarkersError::Corrupt(reason)),
    }
}
