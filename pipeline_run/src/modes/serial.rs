//! # serial: one image at a time, one stage at a time
//!
//! **Methodology.** One loop on one thread: take the next image, download
//! it, make its thumbnail and crops, store each object in turn, and only
//! then look at the next image. The baseline the other modes are measured
//! against, and the original benchmark's serial approach.
//!
//! **When to use it.** A handful of images, debugging one image's way
//! through the stages, or a destination that must see one write at a time.
//!
//! **Trade-offs.** Nothing to synchronise, and the trace reads like a
//! staircase: every stage of every image waits for the one before. The
//! run takes the sum of every download's latency, every decode and every
//! upload; with 50 crops an image, the uploads alone are 50 round trips to
//! the store per image, which is why the original's conclusion was that
//! uploads must be parallel.

use crate::modes::Run;
use crate::record::PipelineReport;
use crate::work::Uploads;

/// Runs every image through every stage, one after the other.
pub(crate) fn run_serially(run: Run) -> PipelineReport {
    let Run { images, work, ledger, .. } = run;

    // The methodology: one loop; each image's objects stored one by one.
    for (task, image) in images.enumerate() {
        ledger.queued(task);
        let done = work.process(&image, ledger.started, Uploads::OneByOne);
        ledger.record(task, &image, done, 0.0);
    }

    ledger.finish()
}
