//! Setting up and counting a thumbnail run: everything but the methodology.
//!
//! [`ResizeJob::prepare`] lists the input folder, pairs every image with the
//! name its thumbnail gets, prepares the output folder and starts a
//! [`ResizeTally`]. [`ResizeTask::make`] is the loop body: read the image,
//! make its thumbnail, store it. What is left for a binary's `main.rs` is
//! the one thing that differs between `resize_serial` and
//! `resize_parallel`: how the tasks are handed out, and on how many cores.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::job::SetupError;
use super::report::{ResizeFailure, ResizeReport};
use super::tally::BaseTally;
use crate::cli::ResizeArgs;
use crate::formats;
use crate::store::{LocalDir, SinkError};
use crate::thumbnail::{ThumbnailError, ThumbnailSpec, Thumbnailer, thumbnail_name};

/// What every thumbnail's file stem ends with.
const THUMBNAIL_SUFFIX: &str = "_thumbnail";

/// One image to make a thumbnail of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResizeTask {
    /// The image.
    pub input: PathBuf,
    /// The thumbnail's file name in the output folder.
    pub output_name: String,
}

impl ResizeTask {
    /// The loop body: reads the image, makes its thumbnail with
    /// `thumbnailer` (whose buffers are reused from one image to the next)
    /// and writes it atomically into `out`. Returns the thumbnail's size.
    pub fn make(&self, thumbnailer: &mut Thumbnailer, out: &LocalDir) -> Result<u64, ResizeError> {
        let thumbnail = thumbnailer.make_from_file(&self.input)?;
        out.write_atomic(&self.output_name, &thumbnail)?;
        Ok(thumbnail.len() as u64)
    }
}

/// Why one image got no thumbnail.
#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    /// It could not be read or made into a thumbnail.
    #[error(transparent)]
    Thumbnail(#[from] ThumbnailError),
    /// The thumbnail could not be written.
    #[error(transparent)]
    Store(#[from] SinkError),
}

/// A thumbnail run, ready to go.
#[derive(Debug)]
pub struct ResizeJob {
    /// The images, in file-name order.
    pub tasks: Vec<ResizeTask>,
    /// What the thumbnails look like.
    pub spec: ThumbnailSpec,
    /// Where they go.
    pub out: LocalDir,
    /// Counts outcomes and makes the report.
    pub tally: ResizeTally,
}

impl ResizeJob {
    /// Prepares a run of the binary `run` on `threads` threads.
    pub fn prepare(run: &str, args: &ResizeArgs, threads: usize) -> Result<Self, SetupError> {
        let spec = args.thumbnail.spec();
        // List the input before touching the output, so a typo in --input
        // does not cost the thumbnails of the last run.
        let tasks = list_images(&args.input, &spec)?;
        let out = LocalDir::prepare(&args.output, args.flags.clean, is_thumbnail)?;
        let tally = ResizeTally::start(run, threads, tasks.len());
        Ok(ResizeJob { tasks, spec, out, tally })
    }
}

/// The images of `input` (by extension, not hidden, not thumbnails we made),
/// sorted by name, each with its thumbnail's name.
///
/// `a.jpg` and `a.png` would both become `a_thumbnail.jpg`; such stems get
/// the source extension too (`a_jpg_thumbnail.jpg`), so no thumbnail
/// silently overwrites another.
pub(crate) fn list_images(input: &Path, spec: &ThumbnailSpec) -> Result<Vec<ResizeTask>, SetupError> {
    let unreadable = |err: std::io::Error| {
        SetupError::Usage(format!("cannot read the input folder {}: {err} (pass --input DIR)", input.display()))
    };
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(input).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // By extension (any case); anything else there (notes, metadata,
        // subfolders) is left alone. The format itself is read from the
        // bytes, so a misnamed file is still caught.
        let is_image = path.extension().is_some_and(|e| formats::is_image_extension(&e.to_string_lossy()));
        if is_image && !name.starts_with('.') && !is_thumbnail(&name) && path.is_file() {
            inputs.push(path);
        }
    }
    inputs.sort();
    let mut stems: HashMap<String, usize> = HashMap::new();
    for path in &inputs {
        *stems.entry(stem_of(path)).or_default() += 1;
    }
    let tasks = inputs
        .into_iter()
        .map(|input| {
            let output_name = if stems.get(&stem_of(&input)).copied().unwrap_or(0) > 1 {
                let extension = input.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{}_{extension}{THUMBNAIL_SUFFIX}.{}", stem_of(&input), spec.format.extension())
            } else {
                thumbnail_name(&input, spec.format)
            };
            ResizeTask { input, output_name }
        })
        .collect();
    Ok(tasks)
}

fn stem_of(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A file this tool writes: `<stem>_thumbnail.<jpg|png|webp>`.
fn is_thumbnail(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, extension)| {
        stem.ends_with(THUMBNAIL_SUFFIX) && ["jpg", "png", "webp"].contains(&extension)
    })
}

/// The running count of one thumbnail run, shared by all its workers
/// (`&ResizeTally` is enough: it locks inside).
#[derive(Debug)]
pub struct ResizeTally {
    base: BaseTally<ResizeFailure>,
    run: String,
    threads: usize,
}

impl ResizeTally {
    /// Starts the clock and the progress bar (drawn on stderr only when it
    /// is a terminal).
    pub fn start(run: &str, threads: usize, images: usize) -> Self {
        ResizeTally { base: BaseTally::start(run, Some(images)), run: run.into(), threads }
    }

    /// Records the outcome of one image: the thumbnail's size, or why not.
    pub fn record(&self, task: &ResizeTask, outcome: Result<u64, ResizeError>) {
        match outcome {
            Ok(bytes) => self.base.stored(bytes),
            Err(err) => {
                let kind = match err {
                    ResizeError::Thumbnail(_) => "undecodable",
                    ResizeError::Store(_) => "store",
                };
                let reason = crate::text::one_line(&err.to_string());
                self.base.failed(ResizeFailure { path: task.input.display().to_string(), reason }, kind.into());
            }
        }
    }

    /// Stops the clock and the progress bar and makes the report; failures
    /// are listed in file-name order whatever order the workers finished in.
    pub fn finish(self) -> ResizeReport {
        let mut counts = self.base.finish();
        counts.failures.sort_by(|a, b| a.path.cmp(&b.path));
        ResizeReport {
            run: self.run,
            files: counts.files,
            failed: counts.failures.len(),
            bytes: counts.bytes,
            seconds: counts.seconds,
            threads: self.threads,
            failures: counts.failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only images are listed; thumbnails, hidden files and notes are not;
    /// two images with one stem get distinct thumbnail names.
    #[test]
    fn lists_images_with_unique_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.JPG", "a.jpg", "a.png", "notes.txt", ".hidden.jpg", "x_thumbnail.jpg", "c.webp"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.jpg")).unwrap();
        let tasks = list_images(dir.path(), &ThumbnailSpec::default()).unwrap();
        let names: Vec<&str> = tasks.iter().map(|t| t.output_name.as_str()).collect();
        assert_eq!(names, ["a_jpg_thumbnail.jpg", "a_png_thumbnail.jpg", "b_thumbnail.jpg", "c_thumbnail.jpg"]);
    }

    /// Only our own output counts as ours for --clean.
    #[test]
    fn thumbnails_are_recognised() {
        assert!(is_thumbnail("a_thumbnail.jpg") && is_thumbnail("a_thumbnail.webp"));
        assert!(!is_thumbnail("a.jpg") && !is_thumbnail("thumbnail.jpg") && !is_thumbnail("a_thumbnail.txt"));
    }
}
