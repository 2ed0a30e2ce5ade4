//! Fuzz target: the JPEG marker reader, on any bytes.
//!
//! `cargo +nightly fuzz run jpeg_markers` (or `scripts/fuzz.sh`). It must
//! never panic or read out of bounds (a panic or a sanitizer report is a
//! crash), end (libFuzzer's `-timeout` catches a loop), and only accept a
//! frame with pixels, an orientation from 1 to 8, and at least one scan.

#![no_main]

use common::fuzzing::{JpegMarkersError, read_jpeg_markers};
use libfuzzer_sys::fuzz_target;

/// The thumbnail maker's default scan limit.
const MAX_SCANS: usize = 100;

fuzz_target!(|bytes: &[u8]| {
    let Ok(info) = read_jpeg_markers(bytes, MAX_SCANS) else {
        return;
    };
    assert!(info.width > 0 && info.height > 0, "{info:?}");
    assert!((1..=8).contains(&info.orientation), "{info:?}");
    // Accepted means it has a scan (so no scan is too many) and the limit
    // is only a limit (a higher one reads the same).
    assert_eq!(read_jpeg_markers(bytes, 0), Err(JpegMarkersError::TooManyScans));
    assert_eq!(read_jpeg_markers(bytes, usize::MAX), Ok(info));
});
