//! The bar chart of the medians: one horizontal bar per binary, one panel for
//! the downloads, one for the thumbnails and one for the pipelines that do
//! both (their times differ by an order of magnitude, so one axis would
//! flatten a group), each bar labelled with its time and speedup.
//!
//! Drawn through the package's shared [`canvas`] (plotters into a buffer,
//! PNG by `image`, the bundled font).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use results_matrix::canvas::{self, FONT_FAMILY};

use crate::{BASELINES, Header, Kind, Row};

/// The chart's width in pixels: readable in a README at full column width.
const WIDTH: u32 = 960;

/// Pixels per bar, and for each panel's title and axis: five download, two
/// resize and four pipeline bars make a chart about 860 pixels tall.
const BAR_HEIGHT: u32 = 44;
const PANEL_EXTRA: u32 = 110;
const TITLE_HEIGHT: u32 = 50;

/// Pixels left of the axis for the binaries' names.
const NAME_ROOM: u32 = 300;

/// A bar's thickness, as a share of the space between two bars.
const BAR_THICKNESS: f64 = 0.64;

/// Room right of the longest bar for its "12.34 s  5.0x" label.
const LABEL_ROOM: f64 = 1.35;

/// The gap between a bar's end and its label, as a share of the axis.
const TEXT_GAP: f64 = 0.01;

const BAR_COLOUR: RGBColor = RGBColor(70, 110, 170);
const BASELINE_COLOUR: RGBColor = RGBColor(190, 110, 60);

/// Draws the medians of `rows` into a PNG at `path`.
pub(crate) fn draw_timings(rows: &[Row], header: &Header, path: &Path) -> anyhow::Result<()> {
    let panels: Vec<(&str, Vec<&Row>)> = [
        (Kind::Download, "Download"),
        (Kind::Resize, "Thumbnails"),
        (Kind::Pipeline, "Download + thumbnail (pipeline)"),
    ]
    .into_iter()
    .map(|(kind, name)| (name, rows.iter().filter(|row| row.kind == kind).collect::<Vec<_>>()))
    .filter(|(_, rows)| !rows.is_empty())
    .collect();
    let heights: Vec<u32> = panels.iter().map(|(_, rows)| rows.len() as u32 * BAR_HEIGHT + PANEL_EXTRA).collect();
    let height = TITLE_HEIGHT + heights.iter().sum::<u32>();

    canvas::draw_png(path, (WIDTH, height), |root| {
        let title = format!(
            "{} images, median of {} runs ({} cores, {})",
            header.count,
            header.repeat,
            header.cores,
            match (header.latency_ms, header.jitter_ms) {
                (Some(ms), Some(jitter)) => format!("origin {ms} ± {jitter} ms latency"),
                (Some(ms), None) => format!("origin {ms} ms latency"),
                _ => "real network".to_string(),
            },
        );
        let mut rest = root.titled(&title, (FONT_FAMILY, 24))?;
        for ((name, rows), panel_height) in panels.iter().zip(&heights) {
            let (panel, below) = rest.split_vertically(*panel_height);
            draw_panel(&panel, name, rows, header.count)?;
            rest = below;
        }
        Ok(())
    })
}

/// One group's bars, the serial baseline first and in its own colour.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    name: &str,
    rows: &[&Row],
    count: usize,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let longest = rows.iter().map(|row| row.median_seconds).filter(|s| s.is_finite()).fold(0.0, f64::max);
    let x_max = (longest * LABEL_ROOM).max(0.01);
    let bars = rows.len();
    // Row 0 (the baseline) at the top: plotters counts y upwards. A plain
    // f64 axis with the names drawn beside it, not a segmented one: plotters'
    // segmented axis cannot hold a single bar.
    let position = |index: usize| (bars - 1 - index) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{name} of {count} images: median time (s), shorter is faster"), (FONT_FAMILY, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(NAME_ROOM)
        .build_cartesian_2d(0.0..x_max, -0.5..bars as f64 - 0.5)?;
    chart.configure_mesh().disable_y_mesh().y_labels(0).x_desc("seconds").label_style((FONT_FAMILY, 15)).draw()?;
    chart.draw_series(rows.iter().enumerate().filter(|(_, row)| row.median_seconds.is_finite()).map(|(i, row)| {
        let is_baseline = BASELINES.iter().any(|(_, baseline)| *baseline == row.label);
        let colour = if is_baseline { BASELINE_COLOUR } else { BAR_COLOUR };
        let y = position(i);
        Rectangle::new([(0.0, y - BAR_THICKNESS / 2.0), (row.median_seconds, y + BAR_THICKNESS / 2.0)], colour.filled())
    }))?;
    // Each bar's time and speedup, just past its end.
    chart.draw_series(rows.iter().enumerate().map(|(i, row)| {
        let speedup = row.speedup.map_or(String::new(), |s| format!("   {s:.1}x"));
        let text = if row.median_seconds.is_finite() {
            format!("{:.2} s{speedup}", row.median_seconds)
        } else {
            "no successful run".to_string()
        };
        let x = if row.median_seconds.is_finite() { row.median_seconds } else { 0.0 } + x_max * TEXT_GAP;
        Text::new(
            text,
            (x, position(i)),
            TextStyle::from((FONT_FAMILY, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    }))?;
    // Each bar's binary, left of the axis: on the panel, in its pixels.
    let (left, top) = area.get_base_pixel();
    let name_style = TextStyle::from((FONT_FAMILY, 15).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, row) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, position(i)));
        area.draw(&Text::new(row.label.clone(), (x - left - 8, y - top), name_style.clone()))?;
    }
    Ok(())
}
