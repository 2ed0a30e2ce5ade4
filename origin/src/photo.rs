//! Deterministic, photo-like JPEGs.
//!
//! A flat colour or a gradient would compress to a few kilobytes and decode
//! far faster than a photo, which would make every benchmark in the workspace
//! lie. So each picture is built from the ingredients that give photographs
//! their statistics: a sky-to-ground composition with a wavy horizon, smooth
//! fractal texture (large soft regions with fine detail on top), objects with
//! hard edges, and per-pixel sensor noise. At 1080x720 and quality 85 the
//! result is 80-250 KB, like a web photo of that size.

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

/// JPEG quality of generated photos: what photo sites commonly serve.
const JPEG_QUALITY: u8 = 85;

/// Amplitude of the per-pixel sensor noise, in 8-bit levels. It is the knob
/// that sets the file size: 0 gives ~40 KB at 1080x720, 6 gives ~150 KB.
const SENSOR_NOISE: f32 = 6.0;

/// Generates photo `seed` at `width` x `height` and encodes it as a baseline JPEG.
///
/// The same arguments always give the same bytes (within one build of the
/// `image` crate), so a client can compare what it saved with what was served.
pub fn generate_jpeg(seed: u64, width: u32, height: u32) -> Vec<u8> {
    let pixels = render(seed, width, height);
    let mut jpeg = Vec::with_capacity(pixels.len() / 8);
    // Encoding into a Vec cannot fail for a well-formed RGB buffer.
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .write_image(&pixels, width, height, ExtendedColorType::Rgb8)
        .unwrap_or_else(|err| panic!("encoding a {width}x{height} RGB buffer failed: {err}"));
    jpeg
}

/// Paints the scene into an RGB8 buffer.
fn render(seed: u64, width: u32, height: u32) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (w, h) = (width as usize, height as usize);

    // Composition: a sky colour at the top, a horizon band, ground below it.
    let sky_top = random_colour(&mut rng, 0.45, 0.9);
    let sky_horizon = random_colour(&mut rng, 0.6, 1.0);
    let ground_near = random_colour(&mut rng, 0.1, 0.45);
    let ground_far = random_colour(&mut rng, 0.25, 0.6);
    let horizon = h as f32 * (0.35 + 0.3 * rng.f32());

    // Texture: one fractal field for luminance, two coarse ones for colour drift.
    let detail = fractal_noise(&mut rng, w, h, 192.0, 6);
    let tint = fractal_noise(&mut rng, w, h, 384.0, 2);
    let ridge = fractal_noise(&mut rng, w, 1, 160.0, 4);

    let objects: Vec<Blob> = (0..rng.usize(3..9)).map(|_| Blob::random(&mut rng, w, h)).collect();

    let mut pixels = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let texture = detail[y * w + x]; // roughly -1..1
            let drift = tint[y * w + x];
            let line = horizon + 60.0 * ridge[x];
            let yf = y as f32;
            let mut rgb = if yf < line {
                // Sky: a vertical gradient with soft clouds.
                let t = yf / line.max(1.0);
                let base = mix(sky_top, sky_horizon, t);
                let cloud = (texture * 0.5 + 0.5).powi(3) * 0.35;
                mix(base, [1.0, 1.0, 1.0], cloud)
            } else {
                // Ground: darker, much more texture, nearer is darker.
                let t = ((yf - line) / (h as f32 - line).max(1.0)).min(1.0);
                let base = mix(ground_far, ground_near, t);
                scale(base, 1.0 + 0.45 * texture)
            };
            for blob in objects.iter().filter(|b| b.spans_row(yf)) {
                if let Some(shade) = blob.cover(x as f32, yf) {
                    rgb = scale(blob.colour, shade * (1.0 + 0.25 * texture));
                }
            }
            let rgb = [rgb[0] * (1.0 + 0.12 * drift), rgb[1], rgb[2] * (1.0 - 0.12 * drift)];
            let pixel = &mut pixels[(y * w + x) * 3..][..3];
            for (out, channel) in pixel.iter_mut().zip(rgb) {
                let noise = (rng.f32() - 0.5) * 2.0 * SENSOR_NOISE;
                *out = (channel * 255.0 + noise).clamp(0.0, 255.0) as u8;
            }
        }
    }
    pixels
}

/// A random colour whose channels lie in `lo..hi` (0..1).
fn random_colour(rng: &mut fastrand::Rng, lo: f32, hi: f32) -> [f32; 3] {
    [0; 3].map(|_| lo + (hi - lo) * rng.f32())
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

fn scale(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|v| v * k)
}

/// An object in the scene: an ellipse with a hard edge and a shaded side, the
/// kind of high-contrast boundary that costs a JPEG coder real bits.
#[derive(Debug)]
struct Blob {
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
    colour: [f32; 3],
}

impl Blob {
    fn random(rng: &mut fastrand::Rng, w: usize, h: usize) -> Self {
        let size = (w.min(h) as f32) * (0.05 + 0.2 * rng.f32());
        Blob {
            cx: rng.f32() * w as f32,
            cy: h as f32 * (0.3 + 0.7 * rng.f32()),
            rx: size * (0.6 + rng.f32()),
            ry: size * (0.6 + rng.f32()),
            colour: random_colour(rng, 0.05, 0.95),
        }
    }

    fn spans_row(&self, y: f32) -> bool {
        (y - self.cy).abs() <= self.ry
    }

    /// The shade (0.5..1.1) if (x, y) lies inside, lit from the top left.
    fn cover(&self, x: f32, y: f32) -> Option<f32> {
        let dx = (x - self.cx) / self.rx;
        let dy = (y - self.cy) / self.ry;
        let r2 = dx * dx + dy * dy;
        (r2 <= 1.0).then(|| 1.1 - 0.3 * (dx + dy + 1.4).max(0.0) * 0.5 - 0.3 * r2)
    }
}

/// Fractal value noise over a `w` x `h` field: octaves of smoothly
/// interpolated random lattices, each twice as fine and half as strong as the
/// one before. Computed a whole row at a time with per-column weights worked
/// out once, which keeps generation of a 1080x720 photo in tens of ms.
fn fractal_noise(rng: &mut fastrand::Rng, w: usize, h: usize, coarsest: f32, octaves: u32) -> Vec<f32> {
    let mut field = vec![0.0f32; w * h];
    let (mut cell, mut weight, mut norm) = (coarsest, 1.0f32, 0.0f32);
    for _ in 0..octaves {
        let cols = (w as f32 / cell) as usize + 2;
        let rows = (h as f32 / cell) as usize + 2;
        let lattice: Vec<f32> = (0..cols * rows).map(|_| rng.f32() * 2.0 - 1.0).collect();
        let columns: Vec<(usize, f32)> = (0..w)
            .map(|x| {
                let fx = x as f32 / cell;
                (fx as usize, smooth(fx.fract()))
            })
            .collect();
        for y in 0..h {
            let fy = y as f32 / cell;
            let (iy, ty) = (fy as usize, smooth(fy.fract()));
            let upper = &lattice[iy * cols..][..cols];
            let lower = &lattice[(iy + 1) * cols..][..cols];
            for (out, &(ix, tx)) in field[y * w..][..w].iter_mut().zip(&columns) {
                let top = upper[ix] + (upper[ix + 1] - upper[ix]) * tx;
                let bottom = lower[ix] + (lower[ix + 1] - lower[ix]) * tx;
                *out += (top + (bottom - top) * ty) * weight;
            }
        }
        norm += weight;
        cell /= 2.0;
        weight *= 0.55;
    }
    field.iter_mut().for_each(|v| *v /= norm);
    field
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}
