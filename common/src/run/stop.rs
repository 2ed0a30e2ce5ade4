//! Clean interruption: Ctrl-C or SIGTERM (what a cluster sends before it
//! kills a task) stops listing new images; downloads already under way
//! finish and are saved, and the run reports what it did.
//!
//! The flag is a value the caller owns and passes on, not a global: a test
//! can make its own and stop it by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT: u8 = 130;

/// A flag set once to ask a run to stop; cheap to clone and share.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag nobody has set.
    pub fn new() -> Self {
        StopFlag::default()
    }

    /// A flag that Ctrl-C, SIGTERM or SIGHUP sets. A second one ends the process at once
    /// (status 130): whoever presses it twice does not want to wait, and the
    /// atomic writes guarantee no half file is left under a final name.
    ///
    /// A process has one Ctrl-C handler; if one is installed already, the
    /// flag returned is a plain one that only [`StopFlag::stop`] sets.
    pub fn on_ctrl_c() -> Self {
        let flag = StopFlag::new();
        let handler_flag = flag.clone();
        let installed = ctrlc::set_handler(move || {
            if handler_flag.is_stopped() {
                std::process::exit(i32::from(INTERRUPTED_EXIT));
            }
            eprintln!("\ninterrupted: finishing the downloads under way (Ctrl-C again to quit now)");
            handler_flag.stop();
        });
        drop(installed);
        flag
    }

    /// For a worker process: ignore Ctrl-C and SIGTERM and let the parent
    /// decide. A terminal sends SIGINT to the whole process group (and a
    /// cluster SIGTERM); a worker that died of it would lose the download it
    /// had under way, while the parent stops handing out work, lets each
    /// worker finish its current one and then closes its stdin. A worker
    /// whose parent is gone sees its stdin close too, so none is orphaned
    /// for longer than one image.
    pub fn leave_ctrl_c_to_parent() {
        drop(ctrlc::set_handler(|| {}));
    }

    /// Asks the run to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
