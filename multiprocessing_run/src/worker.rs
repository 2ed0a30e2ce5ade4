//! The worker side of `multiprocessing_run`: one process, one image at a time.
//!
//! The parent starts this same binary with `--worker` and its own flags.
//! Protocol, one JSON value a line: the parent writes an image
//! (`{"url": …, "stem": …, "record": …}`) on stdin; the worker downloads and stores it,
//! then writes its typed outcome (`common::Outcome` as JSON: where it was
//! stored and how many bytes, or the error and its attempts) on stdout.
//! End of stdin means "no more work": the worker exits. Messages for people
//! go to stderr, which the parent drains and prefixes.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use common::{DownloadArgs, Item, StopFlag};

/// Serves the parent until stdin closes; exit status 2 if the worker cannot
/// start (the parent then sees its stdout close and reassigns the work).
pub(crate) fn serve_parent(args: &DownloadArgs) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: &DownloadArgs) -> anyhow::Result<()> {
    // Ctrl-C reaches every process of the terminal's group; the parent
    // decides when to stop, and this worker finishes its image meanwhile.
    StopFlag::leave_ctrl_c_to_parent();
    let downloader = common::run::worker_downloader(args).context("worker cannot start")?;
    let mut replies = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line.context("cannot read from the parent")?;
        let image: Item = serde_json::from_str(&line).context("unreadable message from the parent")?;
        let outcome = downloader.download(&image);
        serde_json::to_writer(&mut replies, &outcome).context("cannot encode a reply")?;
        // Flush every line: the parent waits for it before sending more.
        replies.write_all(b"\n").and_then(|()| replies.flush()).context("the parent closed the pipe")?;
    }
    Ok(())
}
