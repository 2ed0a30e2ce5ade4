//! A stop that stops: Ctrl-C (SIGINT), SIGTERM (what a cluster sends
//! before it kills a task) or SIGHUP ends the run within a couple of
//! seconds. Listing stops at once; requests under way are dropped (an async
//! task is dropped at its next `.await`; a thread's blocked read returns
//! when the blocking client's sockets are shut down, and its retry waits
//! are cut short; worker processes are killed); nothing half-written is left, because every
//! write is atomic; and the run still reports what it did, with
//! `interrupted: true` and the status a shell gives that signal (130 for
//! SIGINT, 143 for SIGTERM, 129 for SIGHUP). A second signal ends the
//! process at once: whoever asks twice does not want to wait.
//!
//! The flag is a value the caller owns and passes on, not a global: a test
//! can make its own and stop it by hand. Which signal came is the one
//! process-wide fact, as signals are.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use event_listener::{Event, Listener};

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT: u8 = 130;

/// Exit status of a run stopped by SIGTERM (128 + 15).
const TERMINATED_EXIT: u8 = 143;

/// Exit status of a run stopped by SIGHUP (128 + 1).
const HANGUP_EXIT: u8 = 129;

/// The exit status of the signal that stopped this process, if one did.
static SIGNAL_EXIT: AtomicU8 = AtomicU8::new(0);

/// The exit status an interrupted run ends with: that of the signal that
/// stopped it (130 if it was stopped by hand, as by Ctrl-C).
pub(crate) fn interrupted_exit() -> u8 {
    match SIGNAL_EXIT.load(Ordering::Relaxed) {
        0 => INTERRUPTED_EXIT,
        code => code,
    }
}

/// A flag set once to ask a run to stop; cheap to clone and share. Threads
/// and tasks can wait for it ([`StopFlag::wait_timeout`],
/// [`StopFlag::stopped`]) as well as look at it.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    /// Notified once, when the flag is set.
    set: Event,
}

impl StopFlag {
    /// A flag nobody has set.
    pub fn new() -> Self {
        StopFlag::default()
    }

    /// A flag that SIGINT (Ctrl-C), SIGTERM or SIGHUP sets; a second signal
    /// ends the process at once, with that signal's status.
    ///
    /// The signals are read on a thread of their own by tokio's signal
    /// driver (a safe API, and already built; `ctrlc`, used before, cannot
    /// tell SIGTERM from SIGINT). If they cannot be hooked, the flag is a
    /// plain one that only [`StopFlag::stop`] sets.
    pub fn on_ctrl_c() -> Self {
        let flag = StopFlag::new();
        let handler_flag = flag.clone();
        let (ready, hooked) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
                return;
            };
            runtime.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let hooks =
                    (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()));
                let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) = hooks else {
                    return;
                };
                let _ = ready.send(());
                loop {
                    let code = tokio::select! {
                        _ = interrupt.recv() => INTERRUPTED_EXIT,
                        _ = terminate.recv() => TERMINATED_EXIT,
                        _ = hangup.recv() => HANGUP_EXIT,
                    };
                    if handler_flag.is_stopped() {
                        std::process::exit(i32::from(code));
                    }
                    SIGNAL_EXIT.store(code, Ordering::Relaxed);
                    eprintln!("\ninterrupted: dropping the downloads under way (signal again to quit now)");
                    handler_flag.stop();
                }
            });
        });
        // Hooked before the run starts, so no early signal kills it unreported.
        if spawned.is_ok() {
            let _ = hooked.recv_timeout(Duration::from_secs(5));
        }
        flag
    }

    /// For a worker process: ignore Ctrl-C and SIGTERM and let the parent
    /// decide. A terminal sends SIGINT to the whole process group (and a
    /// cluster SIGTERM); the parent stops handing out work and ends its
    /// workers itself (`Worker::kill`). A worker whose parent is gone sees
    /// its stdin close, so none is orphaned for longer than one image.
    pub fn leave_ctrl_c_to_parent() {
        drop(ctrlc::set_handler(|| {}));
    }

    /// Asks the run to stop, and wakes whoever waits for that.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::Relaxed);
        self.0.set.notify(usize::MAX);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::Relaxed)
    }

    /// Waits (blocking this thread) up to `timeout` for a stop; true if one
    /// came. A thread's retry wait, which a stop cuts short.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let listener = self.0.set.listen();
        if self.is_stopped() {
            return true;
        }
        listener.wait_timeout(timeout);
        self.is_stopped()
    }

    /// Waits (blocking this thread) until a stop is asked for.
    pub fn wait(&self) {
        while !self.wait_timeout(Duration::from_secs(3600)) {}
    }

    /// Completes when a stop is asked for (on any runtime): an async run
    /// races its downloads against it, and drops them when it wins.
    pub async fn stopped(&self) {
        loop {
            let listener = self.0.set.listen();
            if self.is_stopped() {
                return;
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waiters, blocking and async, wake when the flag is set, not before.
    #[test]
    fn waiters_wake_on_stop() {
        let flag = StopFlag::new();
        assert!(!flag.wait_timeout(Duration::from_millis(20)));
        let waiting = flag.clone();
        let thread = std::thread::spawn(move || waiting.wait_timeout(Duration::from_secs(30)));
        let task = flag.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        flag.stop();
        assert!(thread.join().unwrap());
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), task.stopped()).await.unwrap() });
    }
}
