//! # dataset_summary: what a download folder holds
//!
//! The original assignment's "explore the dataset" step. For a folder a
//! download run filled (and its `metadata.jsonl`, if an API source wrote
//! one), prints a markdown summary: how many images, total and median
//! bytes, the width and height distribution, orientations, the most common
//! colours, the top authors and the failures by kind; and draws one PNG
//! chart, a histogram of file sizes. A section with nothing to show is left
//! out.
//!
//! The images are the folder's loose image files and the samples of a
//! dataset `pipeline_run --output-format` wrote there: the images inside
//! its WebDataset shards (`NNNNN.tar`) and its Parquet shards
//! (`NNNNN.parquet` with a `jpg` column); its `NNNNN_stats.json` give the
//! number of input rows.
//!
//! Dimensions come from each image's header (nothing is decoded); colours
//! and authors from the metadata (Unsplash records carry a dominant colour,
//! Imgur's do not). Failures come from a run's `--json` report with
//! `--report`, else from the `failures.jsonl` every run leaves beside its
//! images (a sharded job's in `_shards/*/` too), else from the metadata's
//! `error` fields.
//!
//! **Running.**
//! ```text
//! cargo run --release -p normal_run -- --count 50 --json > run.json
//! cargo run --release -p dataset_summary -- --dir images --report run.json --chart sizes.png
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use arrow_array::cast::AsArray;
use clap::Parser;
use common::ItemError;
use common::fetch::FetchError;
use common::run::{FAILURES_FILE, METADATA_FILE};
use common::sources::PhotoRecord;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
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

/// Digits of a dataset shard's number in its file names (`00000.tar`).
const SHARD_DIGITS: usize = 5;

/// The column of a Parquet shard that holds each sample's image.
const IMAGE_COLUMN: &str = "jpg";

/// Where a sharded job keeps each task's records (`_shards/<I>/`).
const TASK_RECORDS: &str = "_shards";

/// Summarise a folder of downloaded images as markdown, with a size chart.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The folder a download run filled: loose images, or a dataset's shards
    #[arg(long, value_name = "DIR", default_value = "images")]
    dir: PathBuf,

    /// The run's metadata [default: DIR/metadata.jsonl if present]
    #[arg(long, value_name = "FILE")]
    metadata: Option<PathBuf>,

    /// A run's `--json` report, for its failures [default: DIR/failures.jsonl]
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

/// A dataset's shards found in the folder.
#[derive(Debug, Default)]
struct Shards {
    /// Shard files (`NNNNN.tar`, `NNNNN.parquet`) by format: `tar`, `parquet`.
    files: Vec<(String, usize)>,
    /// Input rows, as the shards' stats count them.
    rows: u64,
}

/// Reads the folder, the metadata and the failures, draws the chart and
/// returns the markdown.
fn summarise(cli: &Cli) -> anyhow::Result<String> {
    // The images: loose files, and the samples inside a dataset's shards.
    let mut images = scan_folder(&cli.dir)?;
    let (samples, shards) = read_shards(&cli.dir)?;
    let loose = images.len();
    images.extend(samples);

    // The metadata: the last record of each id (a folder several runs wrote).
    let metadata_path = cli.metadata.clone().unwrap_or_else(|| cli.dir.join(METADATA_FILE));
    let records =
        if cli.metadata.is_some() || metadata_path.is_file() { read_metadata(&metadata_path)? } else { vec![] };

    // The failures, by kind: the report's if given, else the run's
    // failures.jsonl, else the metadata's.
    let failures = match &cli.report {
        Some(path) => report_failures(path)?,
        None => match ledger_failures(&cli.dir)? {
            Some(kinds) => kinds,
            None => records.iter().filter_map(|r| r.error.clone()).collect(),
        },
    };
    if images.is_empty() && shards.files.is_empty() && records.is_empty() && failures.is_empty() {
        anyhow::bail!(
            "{} holds no images, dataset shards, {FAILURES_FILE} or {METADATA_FILE}: pass the folder (or \
             --store folder) a run wrote with --dir",
            cli.dir.display()
        );
    }

    draw_size_histogram(&images, &cli.chart).with_context(|| format!("cannot draw {}", cli.chart.display()))?;
    let found = Found { images: &images, loose, shards: &shards, records: &records, failures: &failures };
    Ok(markdown(&cli.dir, &found, &cli.chart))
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

/// The samples of the dataset shards in `dir` (`NNNNN.tar`, and
/// `NNNNN.parquet` with an image column; a WebDataset's Parquet files hold
/// its metadata only), and what the shards are.
fn read_shards(dir: &Path) -> anyhow::Result<(Vec<ImageFile>, Shards)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut images = Vec::new();
    let mut shards = Shards::default();
    let mut count = |format: &str| match shards.files.iter_mut().find(|(seen, _)| seen == format) {
        Some((_, files)) => *files += 1,
        None => shards.files.push((format.to_string(), 1)),
    };
    let mut rows = 0;
    for name in &names {
        let path = dir.join(name);
        let Some((stem, extension)) = name.split_once('.') else { continue };
        let numbered = |stem: &str| stem.len() == SHARD_DIGITS && stem.bytes().all(|b| b.is_ascii_digit());
        if numbered(stem) && extension == "tar" {
            images.extend(tar_images(&path).with_context(|| format!("cannot read the shard {}", path.display()))?);
            count("tar");
        } else if numbered(stem) && extension == "parquet" {
            if let Some(samples) =
                parquet_images(&path).with_context(|| format!("cannot read the shard {}", path.display()))?
            {
                images.extend(samples);
                count("parquet");
            }
        } else if stem.strip_suffix("_stats").is_some_and(numbered) && extension == "json" {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let stats: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            rows += stats.get("count").and_then(serde_json::Value::as_u64).unwrap_or(0);
        }
    }
    shards.rows = rows;
    Ok((images, shards))
}

/// An image held in memory (a shard's sample): its size, and its
/// dimensions from its header.
fn image_in_memory(bytes: &[u8]) -> ImageFile {
    let reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok();
    ImageFile { bytes: bytes.len() as u64, size: reader.and_then(|reader| reader.into_dimensions().ok()) }
}

/// The images in a WebDataset tar (`KEY.jpg` beside `KEY.json` and
/// `KEY.txt`), read one at a time.
fn tar_images(path: &Path) -> anyhow::Result<Vec<ImageFile>> {
    let mut archive = tar::Archive::new(File::open(path)?);
    let mut images = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().to_ascii_lowercase();
        if name.rsplit_once('.').is_some_and(|(_, extension)| IMAGE_EXTENSIONS.contains(&extension)) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            images.push(image_in_memory(&bytes));
        }
    }
    Ok(images)
}

/// The images in a Parquet shard's image column, one batch at a time;
/// `None` for a Parquet file without one (a WebDataset's metadata).
fn parquet_images(path: &Path) -> anyhow::Result<Option<Vec<ImageFile>>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let Some(column) = builder.schema().fields().iter().position(|field| field.name() == IMAGE_COLUMN) else {
        return Ok(None);
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [column]);
    let mut images = Vec::new();
    for batch in builder.with_projection(mask).build()? {
        let batch = batch?;
        let Some(column) = batch.column(0).as_binary_opt::<i32>() else {
            anyhow::bail!("its {IMAGE_COLUMN:?} column does not hold bytes");
        };
        images.extend(column.iter().flatten().map(image_in_memory));
    }
    Ok(Some(images))
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

/// The kind of each failure in a run's `--json` report.
fn report_failures(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: common::RunReport =
        serde_json::from_str(text.trim()).with_context(|| format!("{} is not a --json report", path.display()))?;
    Ok(report.failures.iter().map(|failure| kind_of(failure.error.as_ref(), &failure.reason)).collect())
}

/// One line of `failures.jsonl`, as far as it is read here.
#[derive(Debug, serde::Deserialize)]
struct FailureLine {
    reason: String,
    /// `None` in a line an older version wrote.
    #[serde(default)]
    error: Option<ItemError>,
}

/// The kind of each failure in the `failures.jsonl` of `dir` and of a
/// sharded job's tasks (`_shards/<I>/failures.jsonl`); `None` when there is
/// no such file (a run with no failures removes it).
fn ledger_failures(dir: &Path) -> anyhow::Result<Option<Vec<String>>> {
    let mut files = vec![dir.join(FAILURES_FILE)];
    if let Ok(tasks) = std::fs::read_dir(dir.join(TASK_RECORDS)) {
        let mut task_files: Vec<PathBuf> =
            tasks.filter_map(|task| Some(task.ok()?.path().join(FAILURES_FILE))).collect();
        task_files.sort();
        files.extend(task_files);
    }
    let mut kinds = Vec::new();
    let mut found = false;
    for path in files.iter().filter(|path| path.is_file()) {
        found = true;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let line: FailureLine =
                serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), number + 1))?;
            kinds.push(kind_of(line.error.as_ref(), &line.reason));
        }
    }
    Ok(found.then_some(kinds))
}

/// A failure's kind, for counting: `HTTP 404`, `timeout`, `no such host`...;
/// the reason itself when the error is not known by type.
fn kind_of(error: Option<&ItemError>, reason: &str) -> String {
    match error {
        Some(ItemError::Fetch(FetchError::Status(status))) => format!("HTTP {status}"),
        Some(ItemError::Fetch(error)) => error.kind().replace('_', " "),
        Some(ItemError::Transform(_)) => "undecodable image".into(),
        Some(ItemError::Store(_)) => "not stored".into(),
        Some(ItemError::Abandoned(_)) => "abandoned".into(),
        None => reason.to_string(),
    }
}

/// What [`summarise`] found, for [`markdown`].
struct Found<'a> {
    /// Every image: loose files first, then the shards' samples.
    images: &'a [ImageFile],
    /// How many of them are loose files.
    loose: usize,
    shards: &'a Shards,
    records: &'a [PhotoRecord],
    /// Each failure's kind.
    failures: &'a [String],
}

/// The summary as markdown tables; a table with nothing to show is left out.
fn markdown(dir: &Path, found: &Found<'_>, chart: &Path) -> String {
    let Found { images, loose, shards, records, failures } = *found;
    let mut sizes: Vec<u64> = images.iter().map(|i| i.bytes).collect();
    sizes.sort_unstable();
    let total: u64 = sizes.iter().sum();
    let dims: Vec<(u32, u32)> = images.iter().filter_map(|i| i.size).collect();
    let mut out = format!("# Dataset summary: {}\n\n| | |\n|---|---|\n", dir.display());
    out += &format!("| Images | {} |\n", images.len());
    if !shards.files.is_empty() {
        let files: Vec<String> =
            shards.files.iter().map(|(format, count)| format!("{count} {format} shard{}", plural(*count))).collect();
        out += &format!("| In dataset shards | {} ({}) |\n", images.len() - loose, files.join(", "));
    }
    if shards.rows > 0 {
        out += &format!("| Input rows (shard stats) | {} |\n", shards.rows);
    }
    out += &format!("| Total size | {} |\n", human_bytes(total));
    out += &format!("| Median size | {} |\n", sizes.get(sizes.len() / 2).map_or("-".into(), |m| human_bytes(*m)));
    out += &format!("| Unreadable headers | {} |\n", images.len() - dims.len());
    out += &format!("| Metadata records | {} |\n", records.len());
    out += &format!("| Failures | {} |\n\n", failures.len());

    let mut widths: Vec<u32> = dims.iter().map(|d| d.0).collect();
    let mut heights: Vec<u32> = dims.iter().map(|d| d.1).collect();
    widths.sort_unstable();
    heights.sort_unstable();
    if !dims.is_empty() {
        out += "## Width and height (pixels)\n\n| | min | median | max |\n|---|---|---|---|\n";
        for (name, values) in [("width", &widths), ("height", &heights)] {
            let at = |i: usize| values.get(i).map_or("-".to_string(), u32::to_string);
            out += &format!("| {name} | {} | {} | {} |\n", at(0), at(values.len() / 2), at(values.len() - 1));
        }
        out += "\n";
    }
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
    out += &table("Failures by kind", "Kind", failures.iter().cloned());
    out += &format!("Size histogram: `{}`\n", chart.display());
    out
}

/// A "value | count" table of the [`TOP`] most common values; nothing when
/// there are none (a URL list's run has no colours or authors to show).
fn table(title: &str, column: &str, values: impl Iterator<Item = String>) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    if counts.is_empty() {
        return String::new();
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

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
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
        assert_eq!(table("T", "V", std::iter::empty()), "", "nothing to show, no section");
    }
}
