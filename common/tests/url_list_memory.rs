//! A URL list is streamed, not loaded: reading a one-million-line list
//! (plain text, gzip-compressed CSV, and Parquet in row groups of 100,000
//! rows with a caption column) must leave the process's peak
//! memory where it was. The peak is the kernel's own count (`VmHWM` in
//! `/proc/self/status`), so this test is Linux-only, and it is alone in its
//! file so that no other test shares (and inflates) the process.
//!
//! Run it with `--nocapture` to see the numbers:
//! `cargo test -p common --test url_list_memory -- --nocapture`

#![allow(clippy::unwrap_used)] // a test that cannot write its temp file should panic
#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use common::sources::open_url_list;

/// Lines in each generated list: the "1 million".
const LINES: usize = 1_000_000;

/// Growth of the peak resident memory allowed while a list is read. Reading
/// a list whole would need at least its size (70-90 MB here), so a streaming
/// reader passes with room to spare and a loading one cannot.
const MAX_GROWTH_BYTES: u64 = 16 * 1024 * 1024;

/// The peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Asks the kernel to restart the peak count from the current use, where it
/// allows (Linux 4.0+); otherwise the peak so far stays the baseline.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn url(i: usize) -> String {
    format!("http://127.0.0.1:9/images/{i}.jpg?ixid=M3wxMjA3fDB8MXxhbGx8{i:08}&fm=jpg&w=1080")
}

/// Reads the list at `path` to its end; returns (URLs, bytes of URLs, peak growth).
fn read_all(path: &Path) -> (usize, u64, u64) {
    reset_peak();
    let before = peak_rss();
    let mut count = 0;
    let mut bytes = 0;
    for item in open_url_list(path, None).unwrap() {
        let image = item.unwrap();
        count += 1;
        bytes += image.url.len() as u64;
    }
    (count, bytes, peak_rss().saturating_sub(before))
}

/// One million URLs, as plain text and as gzip-compressed CSV, read with
/// flat memory: the peak grows by less than [`MAX_GROWTH_BYTES`] while
/// far more than that is read.
#[test]
fn million_line_lists_are_streamed() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("urls.txt");
    let mut out = BufWriter::new(File::create(&text).unwrap());
    for i in 0..LINES {
        writeln!(out, "{}", url(i)).unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();

    let csv = dir.path().join("photos.csv.gz");
    let file = File::create(&csv).unwrap();
    let mut out = BufWriter::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    writeln!(out, "id,title,url").unwrap();
    for i in 0..LINES {
        writeln!(out, "{i},\"photo {i}, by someone\",{}", url(i)).unwrap();
    }
    out.into_inner().unwrap().finish().unwrap();

    let parquet = dir.path().join("laion.parquet");
    write_parquet(&parquet);

    for (name, path) in [("plain text", &text), ("gzipped CSV", &csv), ("Parquet", &parquet)] {
        let (count, bytes, growth) = read_all(path);
        let on_disk = std::fs::metadata(path).unwrap().len();
        eprintln!(
            "{name}: {count} URLs ({:.1} MB of URLs, file {:.1} MB) read with peak memory growth {:.1} MB",
            bytes as f64 / 1e6,
            on_disk as f64 / 1e6,
            growth as f64 / 1e6
        );
        assert_eq!(count, LINES, "{name}");
        assert!(bytes > 4 * MAX_GROWTH_BYTES, "the list must be far larger than the allowance");
        assert!(growth < MAX_GROWTH_BYTES, "{name}: peak memory grew by {growth} bytes");
    }
}

/// The same URLs as a Parquet file with a caption column, in row groups of
/// 100,000 rows (written 10,000 rows at a time, so writing stays small too).
fn write_parquet(path: &Path) {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    let properties = WriterProperties::builder().set_max_row_group_row_count(Some(100_000)).build();
    let mut writer: Option<ArrowWriter<File>> = None;
    for start in (0..LINES).step_by(10_000) {
        let urls: StringArray = (start..start + 10_000).map(|i| Some(url(i))).collect();
        let captions: StringArray = (start..start + 10_000).map(|i| Some(format!("photo {i}, by someone"))).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![("url", Arc::new(urls)), ("caption", Arc::new(captions))];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let writer = writer.get_or_insert_with(|| {
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(properties.clone())).unwrap()
        });
        writer.write(&batch).unwrap();
    }
    writer.unwrap().close().unwrap();
}
