//! # dataset_summary: what a download folder holds
//!
//! The original assignment's "explore the dataset" step. For a folder a
//! download run filled (and its `metadata.jsonl`, if an API source wrote
//! one), prints a markdown summary: how many images, total and median
//! bytes, the width and height distribution, orientations, the most common
//! colours, the top authors and the failures by reason; and draws one PNG
//! chart, a histogram of file sizes.
//!
//! Dimensions come from each file's header (nothing is decoded); colours and
//! authors from the metadata (Unsplash records carry a dominant colour,
//! Imgur's do not); failures from the metadata's `error` fields and, with
//! `--report`, from a run's `--json` report.
//!
//! **Running.**
//! ```text
//! cargo run --release -p normal_run -- --count 50 --json > run.json
//! cargo run --release -p dataset_summary -- --dir images --report run.json --chart sizes.png
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::run::METADATA_FILE;
use common::sources::PhotoRecord;
use plotters::prelude::*;

/// Rows in the "top" tables (colours, authors, sizes, reasons): enough to
/// see the shape of a dataset, few enough to read at a glance.
const TOP: usize = 10;

/// Bars in the size histogram: fine enough to show the spread of a few
/// thousand photos, coarse enough that each bar holds several.
const SIZE_BINS: usize = 20;

/// The chart's size in pixels: readable in a README or an issue.
const CHART_SIZE: (u32, u32) = (800, 480);

/// The chart's font, bundled so the binary draws text on a machine with no
/// fonts and no font libraries (DejaVu Sans; licence in `assets/`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// File extensions counted as images: what the download binaries save.
const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff"];

/// Summarise a folder of downloaded images as markdown, with a size chart.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The folder a download run filled
    #[arg(long, value_name = "DIR", default_value = "images")]
    dir: PathBuf,

    /// The run's metadata [default: DIR/metadata.jsonl if present]
    #[arg(long, value_name = "FILE")]
    metadata: Option<PathBuf>,

    /// A run's `--json` report, for its failures
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Where to write the size histogram (PNG)
    #[arg(long, value_name = "FILE", default_value = "dataset_sizes.png")]
    chart: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match summarise(&cli) {
        Ok(markdown) => {
            print!("{markdown}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// One image file in the folder.
#[derive(Debug)]
struct ImageFile {
    bytes: u64,
    /// Width and height from the header; `None` if it cannot be read.
    size: Option<(u32, u32)>,
}

/// Reads the folder, the metadata and the report, draws the chart and
/// returns the markdown.
fn summarise(cli: &Cli) -> anyhow::Result<String> {
    // The files: sizes and dimensions.
    let images = scan_folder(&cli.dir)?;

    // The metadata: the last record of each id (a folder several runs wrote).
    let metadata_path = cli.metadata.clone().unwrap_or_else(|| cli.dir.join(METADATA_FILE));
    let records =
        if cli.metadata.is_some() || metadata_path.is_file() { read_metadata(&metadata_path)? } else { vec![] };

    // The failures, by reason: the report's if given, else the metadata's.
    let reasons = match &cli.report {
        Some(path) => report_failures(path)?,
        None => records.iter().filter_map(|r| r.error.clone()).collect(),
    };

    draw_size_histogram(&images, &cli.chart).with_context(|| format!("cannot draw {}", cli.chart.display()))?;
    Ok(markdown(&cli.dir, &images, &records, &reasons, &cli.chart))
}

fn scan_folder(dir: &Path) -> anyhow::Result<Vec<ImageFile>> {
    let mut images = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))? {
        let path = entry.with_context(|| format!("cannot read folder {}", dir.display()))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let is_image = !name.starts_with('.')
            && name.rsplit_once('.').is_some_and(|(_, extension)| IMAGE_EXTENSIONS.contains(&extension));
        if !is_image || !path.is_file() {
            continue;
        }
        let bytes = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?.len();
        images.push(ImageFile { bytes, size: image::image_dimensions(&path).ok() });
    }
    Ok(images)
}

fn read_metadata(path: &Path) -> anyhow::Result<Vec<PhotoRecord>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut latest: HashMap<String, PhotoRecord> = HashMap::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let record: PhotoRecord =
            serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), number + 1))?;
        latest.insert(record.id.clone(), record);
    }
    let mut records: Vec<PhotoRecord> = latest.into_values().collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(records)
}

fn report_failures(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: common::RunReport =
        serde_json::from_str(text.trim()).with_context(|| format!("{} is not a --json report", path.display()))?;
    Ok(report.failures.into_iter().map(|failure| failure.reason).collect())
}

/// The summary as markdown tables.
fn markdown(dir: &Path, images: &[ImageFile], records: &[PhotoRecord], reasons: &[String], chart: &Path) -> String {
    let mut sizes: Vec<u64> = images.iter().map(|i| i.bytes).collect();
    sizes.sort_unstable();
    let total: u64 = sizes.iter().sum();
    let dims: Vec<(u32, u32)> = images.iter().filter_map(|i| i.size).collect();
    let mut out = format!("# Dataset summary: {}\n\n| | |\n|---|---|\n", dir.display());
    out += &format!("| Images | {} |\n", images.len());
    out += &format!("| Total size | {} |\n", human_bytes(total));
    out += &format!("| Median size | {} |\n", sizes.get(sizes.len() / 2).map_or("-".into(), |m| human_bytes(*m)));
    out += &format!("| Unreadable headers | {} |\n", images.len() - dims.len());
    out += &format!("| Metadata records | {} |\n", records.len());
    out += &format!("| Failures | {} |\n\n", reasons.len());

    let mut widths: Vec<u32> = dims.iter().map(|d| d.0).collect();
    let mut heights: Vec<u32> = dims.iter().map(|d| d.1).collect();
    widths.sort_unstable();
    heights.sort_unstable();
    out += "## Width and height (pixels)\n\n| | min | median | max |\n|---|---|---|---|\n";
    for (name, values) in [("width", &widths), ("height", &heights)] {
        let at = |i: usize| values.get(i).map_or("-".to_string(), u32::to_string);
        out += &format!("| {name} | {} | {} | {} |\n", at(0), at(values.len() / 2), at(values.len().wrapping_sub(1)));
    }
    out += "\n";
    out += &table("Most common sizes", "Width x height", dims.iter().map(|(w, h)| format!("{w}x{h}")));

    let orientation = dims.iter().map(|(w, h)| match w.cmp(h) {
        std::cmp::Ordering::Greater => "landscape".to_string(),
        std::cmp::Ordering::Less => "portrait".to_string(),
        std::cmp::Ordering::Equal => "square".to_string(),
    });
    out += &table("Orientation", "Orientation", orientation);
    out += &table("Most common colours", "Colour", records.iter().filter_map(|r| r.color.as_deref().map(colour_name)));
    out +=
        &table("Top authors", "Author", records.iter().filter(|r| r.file.is_some()).filter_map(|r| r.author.clone()));
    out += &table("Failures by reason", "Reason", reasons.iter().cloned());
    out += &format!("Size histogram: `{}`\n", chart.display());
    out
}

/// A "value | count" table of the [`TOP`] most common values, or a note
/// that there are none.
fn table(title: &str, column: &str, values: impl Iterator<Item = String>) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    if counts.is_empty() {
        return format!("## {title}\n\nnone\n\n");
    }
    let mut rows: Vec<(String, usize)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = format!("## {title}\n\n| {column} | Images |\n|---|---|\n");
    for (value, count) in rows.iter().take(TOP) {
        out += &format!("| {} | {count} |\n", value.replace('|', "\\|"));
    }
    if rows.len() > TOP {
        out += &format!("| ({} more) | {} |\n", rows.len() - TOP, rows[TOP..].iter().map(|r| r.1).sum::<usize>());
    }
    out + "\n"
}

/// A `#rrggbb` colour as a plain name: black, white or grey by brightness and
/// saturation, else one of eight hues. Exact hex values rarely repeat, names do.
fn colour_name(hex: &str) -> String {
    let digits = hex.trim_start_matches('#');
    let channel =
        |i: usize| digits.get(i..i + 2).and_then(|c| u8::from_str_radix(c, 16).ok()).map(|c| f64::from(c) / 255.0);
    let (Some(r), Some(g), Some(b)) = (channel(0), channel(2), channel(4)) else {
        return "unknown".to_string();
    };
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let chroma = max - min;
    // Dark navy (#0c2640) is still blue; only near-black is black.
    if max < 0.15 {
        return "black".into();
    }
    if min > 0.9 {
        return "white".into();
    }
    if chroma < 0.12 {
        return "grey".into();
    }
    let hue = if max == r {
        60.0 * ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / chroma + 2.0)
    } else {
        60.0 * ((r - g) / chroma + 4.0)
    };
    let name = match hue {
        h if h < 15.0 => "red",
        h if h < 45.0 => "orange / brown",
        h if h < 70.0 => "yellow",
        h if h < 160.0 => "green",
        h if h < 200.0 => "cyan",
        h if h < 260.0 => "blue",
        h if h < 320.0 => "purple",
        h if h < 345.0 => "pink",
        _ => "red",
    };
    name.to_string()
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// Draws the histogram of file sizes (kB) into a PNG at `path`.
fn draw_size_histogram(images: &[ImageFile], path: &Path) -> anyhow::Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("the bundled font cannot be read"))?;
    // The bars span the sizes present, not 0..max: photos of one kind
    // cluster, and a range from zero would squeeze them into one bar.
    let kb: Vec<f64> = images.iter().map(|i| i.bytes as f64 / 1e3).collect();
    let smallest = kb.iter().copied().fold(f64::INFINITY, f64::min);
    let low = if smallest.is_finite() { smallest } else { 0.0 };
    let high = kb.iter().copied().fold(low, f64::max).max(low + 1.0);
    let width = (high - low) / SIZE_BINS as f64;
    let mut bins = [0_usize; SIZE_BINS];
    for value in &kb {
        bins[(((value - low) / width) as usize).min(SIZE_BINS - 1)] += 1;
    }
    let tallest = bins.iter().copied().max().unwrap_or(0).max(1);

    let (w, h) = CHART_SIZE;
    let mut pixels = vec![0_u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("File sizes of {} images", images.len()), ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(low..high, 0..tallest + tallest / 10 + 1)?;
        chart.configure_mesh().x_desc("size (kB)").y_desc("images").label_style(("sans-serif", 14)).draw()?;
        chart.draw_series(bins.iter().enumerate().map(|(i, &count)| {
            let left = low + i as f64 * width;
            Rectangle::new([(left, 0), (left + width * 0.95, count)], RGBColor(70, 110, 170).filled())
        }))?;
        root.present()?;
    }
    let picture = image::RgbImage::from_raw(w, h, pixels).context("chart buffer has the wrong size")?;
    picture.save_with_format(path, image::ImageFormat::Png)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Colours get the names a person would give them.
    #[test]
    fn colours_are_named() {
        assert_eq!(colour_name("#0c2640"), "blue");
        assert_eq!(colour_name("#f3f3f3"), "white");
        assert_eq!(colour_name("#0d0d0d"), "black");
        assert_eq!(colour_name("#8c8c8c"), "grey");
        assert_eq!(colour_name("#d98026"), "orange / brown");
        assert_eq!(colour_name("#26a640"), "green");
        assert_eq!(colour_name("nonsense"), "unknown");
    }

    /// Tables are sorted by count, then name, and cut at TOP.
    #[test]
    fn tables_sort_and_cut() {
        let values = ["b", "a", "b"].iter().map(|s| s.to_string()).chain((0..20).map(|i| format!("x{i:02}")));
        let text = table("T", "V", values);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| V")).collect();
        assert_eq!(rows[0], "| b | 2 |");
        assert_eq!(rows[1], "| a | 1 |");
        assert_eq!(rows.len(), TOP + 1);
        assert_eq!(rows[TOP], "| (12 more) | 12 |");
    }
}
