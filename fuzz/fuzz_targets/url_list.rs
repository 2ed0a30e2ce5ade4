//! Fuzz target: the URL-list readers (text, CSV, TSV, JSON lines, each also
//! gzip-compressed), on any bytes.
//!
//! `cargo +nightly fuzz run url_list` (or `scripts/fuzz.sh`). The first
//! byte picks a name (so a reader) and whether to gzip the rest, which is
//! written to that file and read as a run reads it: up to the end or the
//! first error. No reader may
//! panic, every URL it yields is non-empty and trimmed, and it yields no
//! more URLs than the file has lines (ended by LF or CR).

#![no_main]

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use common::sources::open_url_list;
use libfuzzer_sys::fuzz_target;

/// One name per format: the reader is chosen by the file name.
const NAMES: [&str; 4] = ["urls.txt", "urls.csv", "urls.tsv", "urls.jsonl"];

/// The first bytes of a gzip stream (sniffed whatever the name).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// One folder for the whole run: a new one each input would be most of the work.
fn folder() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp folder")).path()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip to memory");
    encoder.finish().expect("gzip to memory")
}

/// Reads `bytes` as the file `name`, checking each URL; `lines` bounds their number.
fn read_as(name: &str, bytes: &[u8], lines: Option<usize>) {
    let path = folder().join(name);
    std::fs::write(&path, bytes).expect("write the input");
    // A missing column is refused up front: an error, not a crash.
    let Ok(listing) = open_url_list(&path, None) else {
        return;
    };
    let mut urls = 0;
    for item in listing {
        let Ok(item) = item else {
            break; // as `run::Images` does: the first error ends the list
        };
        assert!(!item.url.is_empty() && item.url == item.url.trim(), "{name}: URL {:?}", item.url);
        urls += 1;
        if let Some(lines) = lines {
            assert!(urls <= lines, "{name}: {urls} URLs from {lines} lines");
        }
    }
}

fuzz_target!(|input: &[u8]| {
    // The first byte picks the reader and whether the file is gzipped (one
    // file an input: the file system, not the reader, is the slow part).
    let [choice, bytes @ ..] = input else {
        return;
    };
    let name = NAMES[usize::from(choice % 4)];
    // A CR alone ends a CSV or TSV row too (old Mac files): it counts as a line.
    let lines = bytes.split(|&b| b == b'\n' || b == b'\r').count();
    if choice & 4 == 0 {
        // Bytes that are gzip themselves are decompressed: no line count then.
        read_as(name, bytes, (!bytes.starts_with(&GZIP_MAGIC)).then_some(lines));
    } else {
        read_as(&format!("{name}.gz"), &gzip(bytes), Some(lines));
    }
});
