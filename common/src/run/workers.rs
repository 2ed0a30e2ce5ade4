//! [`Worker`]: one worker process of a binary that re-runs itself with
//! `--worker`, fed one JSON line at a time, and the plumbing around it.
//!
//! Every multi-process run hands out work the same way: a message as a
//! JSON line on a worker's stdin, its reply as a JSON line on its stdout. How they hand it out (the loop, the retries of
//! an image whose worker died) is their methodology and stays in them;
//! starting a worker, its pipes and reaping it are here, once.
//!
//! One thread per worker reads its stdout into a shared channel, and one
//! more drains its stderr (prefixed `worker N:`), so no pipe can fill up and
//! deadlock parent and child.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::Sender;
use std::thread;

/// A line from worker `worker`'s stdout, or `None` once it closed (the
/// worker exited or died).
#[derive(Debug)]
pub struct Reply {
    /// Which worker: its index in the order they were started.
    pub worker: usize,
    /// The line, without its newline.
    pub line: Option<String>,
}

/// One worker process, and what it was handed last (`T`: the caller's
/// record of the message, such as the image and how often it was tried).
#[derive(Debug)]
pub struct Worker<T> {
    child: Child,
    /// `None` once the worker is retired: it gets no more work.
    stdin: Option<ChildStdin>,
    in_flight: Option<T>,
}

impl<T> Worker<T> {
    /// Re-runs this binary with its own flags plus `--worker`, and starts
    /// the threads that read its stdout into `replies` (as worker `id`) and
    /// drain its stderr.
    pub fn spawn(id: usize, replies: &Sender<Reply>) -> io::Result<Worker<T>> {
        let program = std::env::current_exe()?;
        let mut child = Command::new(program)
            .args(std::env::args_os().skip(1))
            .arg("--worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let replies = replies.clone();
        thread::spawn(move || read_replies(id, stdout, &replies));
        thread::spawn(move || {
            for line in stderr.map(BufReader::new).into_iter().flat_map(BufRead::lines).map_while(Result::ok) {
                eprintln!("worker {id}: {line}");
            }
        });
        Ok(Worker { stdin: child.stdin.take(), child, in_flight: None })
    }

    /// Alive and holding nothing: ready for a message.
    pub fn is_idle(&self) -> bool {
        self.stdin.is_some() && self.in_flight.is_none()
    }

    /// Holding a message it has not answered.
    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Sends `message(&attempt)` as one JSON line and holds `attempt` until
    /// the reply; gives `attempt` back (and retires the worker) if the pipe
    /// is closed.
    pub fn hand<M: serde::Serialize + ?Sized>(&mut self, attempt: T, message: impl FnOnce(&T) -> &M) -> Result<(), T> {
        let sent = match (&mut self.stdin, serde_json::to_string(message(&attempt))) {
            (Some(stdin), Ok(line)) => writeln!(stdin, "{line}").and_then(|()| stdin.flush()).is_ok(),
            _ => false,
        };
        if !sent {
            self.retire();
            return Err(attempt);
        }
        self.in_flight = Some(attempt);
        Ok(())
    }

    /// What this worker was holding, now answered (or lost with it).
    pub fn take(&mut self) -> Option<T> {
        self.in_flight.take()
    }

    /// Hands this worker no more work.
    pub fn retire(&mut self) {
        self.stdin = None;
    }

    /// Closes stdin (the worker's signal to exit) and reaps the process, so
    /// none is left behind.
    pub fn finish(mut self) {
        self.stdin = None;
        let _ = self.child.wait();
    }

    /// Ends the worker now, dropping what it was doing (a run that was
    /// stopped), and reaps it. Its writes are atomic: what it had not
    /// stored is simply not there; a reply it had written is still in the
    /// pipe, and reaches the replies channel before its `None`.
    pub fn kill(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards each stdout line of worker `id`, then `None` when it closes.
fn read_replies(id: usize, stdout: Option<ChildStdout>, replies: &Sender<Reply>) {
    for line in stdout.map(BufReader::new).into_iter().flat_map(BufRead::lines).map_while(Result::ok) {
        if replies.send(Reply { worker: id, line: Some(line) }).is_err() {
            return;
        }
    }
    let _ = replies.send(Reply { worker: id, line: None });
}
