//! A PNG drawn by `plotters` into a memory buffer and encoded by `image`,
//! with the DejaVu Sans font `dataset_summary` bundles (included from its
//! folder, not copied), so neither binary needs a system font or a graphics
//! library.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The family name every chart asks for; [`draw_png`] registers the bundled
/// font under it.
pub const FONT_FAMILY: &str = "sans-serif";

/// The font, shared with `dataset_summary` (DejaVu Sans; licence beside it).
const FONT: &[u8] = include_bytes!("../../dataset_summary/assets/DejaVuSans.ttf");

/// A plotters drawing area over an RGB buffer, as [`draw_png`] hands it out.
pub type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws a `width` x `height` picture with `draw` on a white canvas and
/// saves it as a PNG at `path`.
pub fn draw_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("the bundled font cannot be read"))?;
    let mut pixels = vec![0_u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let picture = image::RgbImage::from_raw(width, height, pixels).context("chart buffer has the wrong size")?;
    picture.save_with_format(path, image::ImageFormat::Png)?;
    Ok(())
}
