//! `dataset_summary` on a real folder: images of known sizes written to a
//! temporary folder, a metadata.jsonl and a run report beside them.

#![allow(clippy::unwrap_used)] // a test that cannot write its temp dir should panic

use std::path::Path;
use std::process::Command;

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_dataset_summary");

fn write_image(dir: &Path, name: &str, width: u32, height: u32, format: image::ImageFormat) {
    let picture = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    picture.save_with_format(dir.join(name), format).unwrap();
}

fn record(id: &str, file: Option<&str>, color: &str, author: &str, error: Option<&str>) -> String {
    json!({
        "source": "unsplash", "id": id, "width": 4000, "height": 3000, "color": color,
        "description": null, "likes": 1, "author": author, "page_url": null,
        "url": format!("http://h/{id}"), "file": file, "error": error,
    })
    .to_string()
}

/// Counts, orientations, colours, authors and failures come out as
/// markdown tables, and the chart is a PNG of the documented size.
#[test]
fn summarises_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    write_image(&photos, "a.jpg", 60, 40, image::ImageFormat::Jpeg);
    write_image(&photos, "b.jpg", 60, 40, image::ImageFormat::Jpeg);
    write_image(&photos, "c.png", 30, 50, image::ImageFormat::Png);
    write_image(&photos, "d.png", 20, 20, image::ImageFormat::Png);
    std::fs::write(photos.join("notes.txt"), "not an image").unwrap();
    let lines = [
        record("a", Some("a.jpg"), "#0c2640", "Ann", None),
        record("b", Some("b.jpg"), "#102a50", "Ann", None),
        record("c", Some("c.png"), "#f3f3f3", "Bo", None),
        record("x", None, "#f3f3f3", "Cy", Some("HTTP status 404")),
        record("y", None, "#f3f3f3", "Cy", Some("HTTP status 404")),
    ];
    std::fs::write(photos.join("metadata.jsonl"), lines.join("\n") + "\n").unwrap();

    let chart = dir.path().join("sizes.png");
    let output = Command::new(BIN)
        .args(["--dir", photos.to_str().unwrap(), "--chart", chart.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for row in [
        "| Images | 4 |",
        "| Metadata records | 5 |",
        "| Failures | 2 |",
        "| width | 20 | 60 | 60 |",
        "| 60x40 | 2 |",
        "| landscape | 2 |",
        "| portrait | 1 |",
        "| square | 1 |",
        "| blue | 2 |",
        "| white | 3 |",
        "| Ann | 2 |",
        "| HTTP status 404 | 2 |",
    ] {
        assert!(text.contains(row), "{row:?} missing from:\n{text}");
    }
    assert!(!text.contains("| Cy |"), "authors count saved photos only:\n{text}");
    let picture = image::open(&chart).unwrap();
    assert_eq!((picture.width(), picture.height()), (800, 480));

    // A report's failures replace the metadata's.
    let report = json!({"run":"normal_run","source":"s","requested":3,"files":2,"failed":1,"bytes":1,"seconds":1.0,
        "concurrency":1,"failures":[{"url":"http://h/z","reason":"timed out after 1 s"}],"listing_error":null,"interrupted":false});
    std::fs::write(dir.path().join("run.json"), report.to_string()).unwrap();
    let output = Command::new(BIN)
        .args(["--dir", photos.to_str().unwrap(), "--chart", chart.to_str().unwrap(), "--report"])
        .arg(dir.path().join("run.json"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("| timed out after 1 s | 1 |") && !text.contains("404"), "{text}");

    let output = Command::new(BIN).args(["--dir", "/nonexistent/folder"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/folder"));
}

/// A JPEG of `width` x `height` pixels, in memory.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, _| image::Rgb([(x * 3) as u8, 40, 90]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut bytes, image::ImageFormat::Jpeg).unwrap();
    bytes.into_inner()
}

/// Writes a WebDataset shard as `pipeline_run --output-format webdataset`
/// does: each sample as `KEY.jpg`, `KEY.json` and `KEY.txt`.
fn write_tar(path: &Path, samples: &[(&str, Vec<u8>)]) {
    let mut tar = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (key, image) in samples {
        for (extension, bytes) in [("jpg", image.clone()), ("json", b"{}".to_vec()), ("txt", b"a caption".to_vec())] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("{key}.{extension}"), bytes.as_slice()).unwrap();
        }
    }
    tar.finish().unwrap();
}

/// Writes a Parquet shard: key, url, status and, with `images`, the `jpg`
/// column (null for a failed row), as `pipeline_run` writes them.
fn write_parquet(path: &Path, rows: &[(&str, Option<Vec<u8>>)], images: bool) {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
    let keys: StringArray = rows.iter().map(|(key, _)| Some(*key)).collect();
    let urls: StringArray = rows.iter().map(|(key, _)| Some(format!("http://h/{key}.jpg"))).collect();
    let status: StringArray =
        rows.iter().map(|(_, jpg)| Some(if jpg.is_some() { "success" } else { "status" })).collect();
    let mut columns: Vec<(&str, ArrayRef)> =
        vec![("key", Arc::new(keys)), ("url", Arc::new(urls)), ("status", Arc::new(status))];
    if images {
        let jpg: BinaryArray = rows.iter().map(|(_, jpg)| jpg.as_deref()).collect();
        columns.push(("jpg", Arc::new(jpg)));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// `failures.jsonl` lines as a run writes them: the typed error beside its reason.
fn failure_lines(errors: &[common::fetch::FetchError]) -> String {
    errors
        .iter()
        .enumerate()
        .map(|(n, error)| {
            let error = common::ItemError::Fetch(error.clone());
            json!({"url": format!("http://h/{n}"), "stem": null, "record": null, "reason": error.to_string(),
                   "error": error, "attempts": 1, "status": null})
            .to_string()
                + "\n"
        })
        .collect()
}

/// `dataset_summary --dir DIR`: whether it succeeded, its stdout and stderr.
fn summary(dir: &Path) -> (bool, String, String) {
    let elsewhere = tempfile::tempdir().unwrap();
    let chart = elsewhere.path().join("sizes.png");
    let output =
        Command::new(BIN).args(["--dir", dir.to_str().unwrap(), "--chart", chart.to_str().unwrap()]).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), out.into_owned(), err.into_owned())
}

fn assert_rows(text: &str, rows: &[&str]) {
    for row in rows {
        assert!(text.contains(row), "{row:?} missing from:\n{text}");
    }
}

/// A WebDataset folder: the images inside the tars are counted and
/// measured, the stats give the input rows, and `failures.jsonl` the
/// failures by kind without `--report`; a URL list's run has no colours or
/// authors, so those sections are left out, not printed as "none".
#[test]
fn reads_a_webdataset_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_tar(
        &dir.path().join("00000.tar"),
        &[("000000000", jpeg(64, 48)), ("000000001", jpeg(64, 48)), ("000000003", jpeg(30, 50))],
    );
    write_tar(&dir.path().join("00001.tar"), &[("000010000", jpeg(64, 48))]);
    write_parquet(&dir.path().join("00000.parquet"), &[("000000000", None)], false);
    std::fs::write(dir.path().join("00000_stats.json"), json!({"count": 4, "successes": 3}).to_string()).unwrap();
    std::fs::write(dir.path().join("00001_stats.json"), json!({"count": 2, "successes": 1}).to_string()).unwrap();
    std::fs::write(
        dir.path().join("failures.jsonl"),
        failure_lines(&[
            common::fetch::FetchError::Status(404),
            common::fetch::FetchError::NoSuchHost("gone.example".into()),
        ]),
    )
    .unwrap();

    let (ok, text, err) = summary(dir.path());
    assert!(ok, "{err}");
    assert_rows(
        &text,
        &[
            "| Images | 4 |",
            "| In dataset shards | 4 (2 tar shards) |",
            "| Input rows (shard stats) | 6 |",
            "| Failures | 2 |",
            "| 64x48 | 3 |",
            "| width | 30 | 64 | 64 |",
            "| HTTP 404 | 1 |",
            "| no such host | 1 |",
        ],
    );
    assert!(!text.contains("none") && !text.contains("colours") && !text.contains("authors"), "{text}");
}

/// A Parquet dataset folder: the images in the shards' `jpg` column.
#[test]
fn reads_a_parquet_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("00000.parquet"),
        &[("000000000", Some(jpeg(40, 40))), ("000000001", None), ("000000002", Some(jpeg(20, 60)))],
        true,
    );
    std::fs::write(dir.path().join("00000_stats.json"), json!({"count": 3}).to_string()).unwrap();
    let (ok, text, err) = summary(dir.path());
    assert!(ok, "{err}");
    assert_rows(&text, &["| Images | 2 |", "| In dataset shards | 2 (1 parquet shard) |", "| square | 1 |"]);
    assert_rows(&text, &["| portrait | 1 |", "| Failures | 0 |"]);
    assert!(!text.contains("Failures by kind"), "no failures, no section:\n{text}");
}

/// A folder whose run saved nothing: its ten failures counted by kind from
/// `failures.jsonl` (not "Failures | 0"), and no image sections; a folder
/// holding nothing a run writes is an error that says so.
#[test]
fn counts_failures_without_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut errors = vec![common::fetch::FetchError::Status(404); 7];
    errors.extend(vec![common::fetch::FetchError::Timeout(std::time::Duration::from_secs(5)); 3]);
    std::fs::write(dir.path().join("failures.jsonl"), failure_lines(&errors)).unwrap();
    let (ok, text, err) = summary(dir.path());
    assert!(ok, "{err}");
    assert_rows(&text, &["| Images | 0 |", "| Failures | 10 |", "| HTTP 404 | 7 |", "| timeout | 3 |"]);
    assert!(!text.contains("Width and height") && !text.contains("Orientation"), "{text}");

    let empty = tempfile::tempdir().unwrap();
    let (ok, _, err) = summary(empty.path());
    assert!(!ok && err.contains("holds no images"), "{err}");
}
