//! # resize_serial: make thumbnails of a folder of images, one after the other
//!
//! **Methodology.** Serial: one loop on one core. Read an image, make its
//! thumbnail, write it, and only then look at the next one. One
//! [`Thumbnailer`] serves the whole run, so its resizer and its file and
//! pixel buffers are allocated once and reused for every image.
//!
//! **When to use it.** A folder of a few hundred images (it makes 600-800
//! thumbnails a second of 1080-px JPEGs on one core, about as fast as
//! libjpeg-turbo can decode them), a machine whose other cores are busy, or
//! when you need the simplest code to debug one image.
//!
//! **Trade-offs.** Making a thumbnail is almost all *computing* (decoding
//! JPEG blocks, filtering pixels), not waiting: a loop keeps one core busy
//! and leaves the others idle. The speed comes from doing less work per
//! image instead: JPEGs are decoded straight to 1/2, 1/4 or 1/8 of their
//! size (shrink-on-load), which is most of what makes this faster than
//! Pillow's `thumbnail()`. `resize_parallel` runs the same loop body on
//! every core; the diff between the two `main.rs` files is the lesson.
//!
//! **Running.**
//! ```text
//! cargo run --release -p resize_serial -- --input images --output thumbnails
//! cargo run --release -p resize_serial -- --size 256x256 --crop --format webp --json
//! ```

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::{ResizeArgs, ResizeJob, ResizeReport, Thumbnailer};

/// The serial methodology uses one thread, whatever is asked.
const THREADS: usize = 1;

/// Make thumbnails of a folder of images on one core.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: ResizeArgs,
}

fn main() -> ExitCode {
    let Cli { args } = Cli::parse();
    common::conclude(resize_serially(&args), args.flags.json)
}

/// Makes every thumbnail in turn and reports what happened.
fn resize_serially(args: &ResizeArgs) -> anyhow::Result<ResizeReport> {
    if args.threads.is_some_and(|threads| threads.get() != THREADS) {
        eprintln!("resize_serial uses one thread; --threads is ignored (resize_parallel uses it)");
    }

    // Everything but the methodology: list the images, prepare the folder.
    let ResizeJob { tasks, spec, out, tally } =
        ResizeJob::prepare("resize_serial", args, THREADS).context("cannot start the run")?;

    // The methodology: one thumbnailer, one image at a time.
    let mut thumbnailer = Thumbnailer::new(spec);
    for task in &tasks {
        let outcome = task.make(&mut thumbnailer, &out);
        tally.record(task, outcome);
    }

    Ok(tally.finish())
}
