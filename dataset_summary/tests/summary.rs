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
