//! The two pictures: one mode's timeline (every event of every task) and
//! the comparison of the modes (work done so far against time).
//!
//! Both are drawn on the package's shared canvas. A trace of 2000 images
//! with 50 crops each holds about 100,000 events, so a mark is a few pixels
//! and a task's row may be less than one pixel tall: the picture is read as
//! bands of colour (when downloads, transforms and uploads happened, and
//! how many at once), not as single dots.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use results_matrix::canvas::{self, Canvas, FONT_FAMILY};

use crate::trace::{EventKind, ModeTrace};

/// Both pictures' size in pixels: readable in a README at full column width,
/// and tall enough that 2000 tasks get a third of a pixel each.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 800;

/// The strip under the timeline's title that holds the legend.
const LEGEND_HEIGHT: u32 = 36;

/// Pixels between the starts of two legend entries: room for "transformed (100000)".
const LEGEND_SPACING: i32 = 220;

/// The largest half-height of a mark, in pixels: with few tasks a mark
/// grows to fill its row, up to a 9-pixel square, and no further (bigger
/// squares would hide their neighbours along the time axis).
const MAX_MARK_HALF: i32 = 4;

/// A mark's share of its task's row, so neighbouring rows keep a gap.
const MARK_ROW_SHARE: f64 = 0.4;

/// Room right of the last event, as a share of the wall time, so the last
/// marks are not cut by the axis.
const TIME_ROOM: f64 = 1.02;

/// One colour per event kind, in [`EventKind::ALL`] order (matplotlib's
/// default palette, which the original plots used): distinct for most
/// readers and on a projector.
const KIND_COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),  // queued: blue
    RGBColor(255, 127, 14),  // downloaded: orange
    RGBColor(44, 160, 44),   // transformed: green
    RGBColor(148, 103, 189), // stored: purple
    RGBColor(214, 39, 40),   // failed: red
];

/// The thin line from a task's first event to its last: light, so marks
/// drawn over it stay the story.
const SPAN_COLOUR: RGBColor = RGBColor(205, 205, 205);

/// The comparison's lines: the last mode drawn is this wide, and each one
/// drawn before it a pixel wider, so two modes whose runs match (serial and
/// one worker process, both waiting on the same latencies) show as one line
/// edged in the other's colour, not as one mode missing.
const LINE_WIDTH: u32 = 2;

/// The mesh behind the marks: just enough to read times off.
const MESH_COLOUR: RGBColor = RGBColor(230, 230, 230);

/// The modes' colours in the comparison, by name so a mode keeps its colour
/// whichever others are drawn beside it: serial in the bar chart's baseline
/// orange, then threads, processes, async; other modes take the rest in turn.
const MODE_COLOURS: [(&str, RGBColor); 4] = [
    ("serial", RGBColor(190, 110, 60)),
    ("threads", RGBColor(70, 110, 170)),
    ("processes", RGBColor(90, 160, 90)),
    ("async", RGBColor(170, 60, 150)),
];
const OTHER_MODE_COLOURS: [RGBColor; 3] = [RGBColor(90, 90, 90), RGBColor(200, 170, 40), RGBColor(60, 170, 190)];

/// Draws every event of `trace` into a PNG at `path`.
pub(crate) fn draw_timeline(trace: &ModeTrace, path: &Path) -> anyhow::Result<()> {
    let wall = trace.wall_seconds();
    let title = format!(
        "{}: {} images, {} objects stored, {} failed, wall time {wall:.2} s",
        trace.mode,
        trace.images(),
        trace.count(EventKind::Stored),
        trace.count(EventKind::Failed),
    );
    // Tasks as integers, one row each, with an empty row either side so a
    // one-task trace is not drawn on the axis.
    let first_task = trace.events.iter().map(|event| event.task).min().unwrap_or(0) as i64;
    let last_task = trace.events.iter().map(|event| event.task).max().unwrap_or(0) as i64;

    canvas::draw_png(path, (WIDTH, HEIGHT), |root| {
        let root = root.titled(&title, (FONT_FAMILY, 24))?;
        let (legend, plot) = root.split_vertically(LEGEND_HEIGHT);
        draw_kind_legend(&legend, trace)?;

        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..(wall * TIME_ROOM).max(0.001), (first_task - 1)..(last_task + 1))?;
        chart
            .configure_mesh()
            .x_desc("seconds since the run started")
            .y_desc("task (image index)")
            .y_label_formatter(&|task| {
                if (first_task..=last_task).contains(task) { task.to_string() } else { String::new() }
            })
            .bold_line_style(MESH_COLOUR)
            .light_line_style(TRANSPARENT)
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 16))
            .draw()?;

        // How tall a task's row is on screen decides how big a mark can be.
        let (_, rows_pixels) = chart.plotting_area().get_pixel_range();
        let row_height = f64::from(rows_pixels.end - rows_pixels.start) / (last_task - first_task + 3) as f64;
        let half = ((row_height * MARK_ROW_SHARE) as i32).min(MAX_MARK_HALF);
        // At least 3 pixels wide, so a one-pixel-tall row still shows its
        // marks; the bitmap fills a rectangle's far corner exclusively, hence
        // the `+ 1`s below for a mark centred on its event.
        let half_width = half.max(1);

        // Each task's span under its marks.
        chart.draw_series(
            task_spans(trace).into_iter().map(|(task, start, end)| {
                PathElement::new(vec![(start, task as i64), (end, task as i64)], SPAN_COLOUR)
            }),
        )?;
        // The marks, the most numerous kind first so the rarer ones (a
        // failure, a download among fifty uploads) are drawn on top.
        let mut kinds: Vec<(EventKind, RGBColor)> = EventKind::ALL.into_iter().zip(KIND_COLOURS).collect();
        kinds.sort_by_key(|(kind, _)| std::cmp::Reverse(trace.count(*kind)));
        for (kind, colour) in kinds {
            // A failure is rare and the news: never smaller than 5 x 3 pixels.
            let (width, height) =
                if kind == EventKind::Failed { (half_width.max(2), half.max(1)) } else { (half_width, half) };
            chart.draw_series(trace.events.iter().filter(|event| event.kind == kind).map(|event| {
                EmptyElement::at((event.seconds, event.task as i64))
                    + Rectangle::new([(-width, -height), (width + 1, height + 1)], colour.filled())
            }))?;
        }
        Ok(())
    })
}

/// The legend strip: a square of each kind's colour, its name and count.
fn draw_kind_legend(area: &Canvas<'_>, trace: &ModeTrace) -> anyhow::Result<()> {
    let style = TextStyle::from((FONT_FAMILY, 16).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let middle = LEGEND_HEIGHT as i32 / 2;
    for (index, (kind, colour)) in EventKind::ALL.into_iter().zip(KIND_COLOURS).enumerate() {
        let left = 90 + index as i32 * LEGEND_SPACING;
        area.draw(&Rectangle::new([(left, middle - 7), (left + 14, middle + 7)], colour.filled()))?;
        let text = format!("{} ({})", kind.name(), trace.count(kind));
        area.draw(&Text::new(text, (left + 22, middle), style.clone()))?;
    }
    Ok(())
}

/// Each task's first and last event: (task, start, end).
fn task_spans(trace: &ModeTrace) -> Vec<(u64, f64, f64)> {
    let mut spans = std::collections::BTreeMap::new();
    for event in &trace.events {
        let span = spans.entry(event.task).or_insert((event.seconds, event.seconds));
        span.0 = span.0.min(event.seconds);
        span.1 = span.1.max(event.seconds);
    }
    spans.into_iter().map(|(task, (start, end))| (task, start, end)).collect()
}

/// Draws the modes side by side into a PNG at `path`: objects stored so far
/// (which mode finishes first) above images downloaded so far (how early
/// each mode fetches, and so how far its downloads overlap its uploads).
pub(crate) fn draw_comparison(traces: &[ModeTrace], path: &Path) -> anyhow::Result<()> {
    let wall = traces.iter().map(ModeTrace::wall_seconds).fold(0.0, f64::max);
    let x_max = (wall * TIME_ROOM).max(0.001);
    canvas::draw_png(path, (WIDTH, HEIGHT), |root| {
        let root = root.titled("Pipeline modes compared: work done against time", (FONT_FAMILY, 24))?;
        let (upper, lower) = root.split_vertically((HEIGHT - 40) / 2);
        draw_cumulative(&upper, traces, EventKind::Stored, "Objects stored so far", x_max, true)?;
        draw_cumulative(&lower, traces, EventKind::Downloaded, "Images downloaded so far", x_max, false)?;
        Ok(())
    })
}

/// One panel: how many events of `kind` each mode had reached at each time,
/// as a step line per mode.
fn draw_cumulative(
    area: &Canvas<'_>,
    traces: &[ModeTrace],
    kind: EventKind,
    caption: &str,
    x_max: f64,
    with_legend: bool,
) -> anyhow::Result<()> {
    let most = traces.iter().map(|trace| trace.count(kind)).max().unwrap_or(0) as u64;
    // Headroom above the highest line so it does not run along the frame.
    let y_max = most + most / 20 + 1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT_FAMILY, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the run started")
        .bold_line_style(MESH_COLOUR)
        .light_line_style(TRANSPARENT)
        .label_style((FONT_FAMILY, 15))
        .axis_desc_style((FONT_FAMILY, 16))
        .draw()?;
    let mut others = OTHER_MODE_COLOURS.iter().cycle();
    for (index, trace) in traces.iter().enumerate() {
        let colour = MODE_COLOURS
            .iter()
            .find(|(mode, _)| *mode == trace.mode)
            .map(|(_, colour)| *colour)
            .or_else(|| others.next().copied())
            .unwrap_or(BLACK);
        // One path, not plotters' LineSeries (a feature the workspace does not build).
        let width = LINE_WIDTH + (traces.len() - 1 - index) as u32;
        let line = PathElement::new(steps(&trace.times(kind), trace.wall_seconds()), colour.stroke_width(width));
        let series = chart.draw_series(std::iter::once(line))?;
        if with_legend {
            let label = format!(
                "{}: {:.2} s, {} images, {} objects",
                trace.mode,
                trace.wall_seconds(),
                trace.images(),
                trace.count(EventKind::Stored)
            );
            series.label(label).legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled()));
        }
    }
    if with_legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT_FAMILY, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()?;
    }
    Ok(())
}

/// A step line through sorted event times: the count rises by one at each
/// event and stays flat until the next, and until the mode's last event.
fn steps(times: &[f64], end: f64) -> Vec<(f64, u64)> {
    let mut points = Vec::with_capacity(times.len() * 2 + 2);
    points.push((0.0, 0));
    for (done, &time) in times.iter().enumerate() {
        points.push((time, done as u64));
        points.push((time, done as u64 + 1));
    }
    points.push((end, times.len() as u64));
    points
}
