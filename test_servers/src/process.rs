//! Starting a server, waiting for it, and killing it on drop.
//!
//! Every server runs in its own process group (so a wrapper script and what
//! it starts die together), in a fresh temporary folder that is also its
//! `TMPDIR` (where SeaweedFS writes its logs), with its output in a file of
//! that folder: when a server does not come up, the panic shows the end of
//! that file instead of a bare timeout.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::START_TIMEOUT;

/// How often to ask a starting server whether it is ready.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How many times to start a server whose port another process took
/// between our choosing it and the server binding it.
const START_ATTEMPTS: usize = 3;

/// The name of the server's output file in its folder.
const LOG_NAME: &str = "server.log";

/// A running server: killed, with its whole process group, when dropped.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    /// Files the server leaves outside its folder (SeaweedFS's sockets in
    /// `/tmp`), removed after it is killed.
    leftovers: Vec<PathBuf>,
    // Dropped after the process is killed (fields drop after `drop` runs).
    folder: TempDir,
}

impl ServerProcess {
    /// The last lines the server printed, for a failure message.
    pub(crate) fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.folder.path().join(LOG_NAME)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl ServerProcess {
    /// Kills the server's whole process group (SIGKILL: what a crashed or
    /// unplugged server looks like to a client) and waits for it; its
    /// folder, with its data, stays for [`ServerProcess::restart`].
    pub(crate) fn kill(&mut self) {
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's folder (its data, its log).
    pub(crate) fn folder(&self) -> &Path {
        self.folder.path()
    }

    /// Starts the server again, killed first if it still runs, with
    /// `command` (built for the same folder and ports: the data it had is
    /// there again) and waits until `ready` says it is, as [`start`] does.
    pub(crate) fn restart(&mut self, name: &str, mut command: Command, ready: impl Fn() -> bool) {
        self.kill();
        let log = File::options().append(true).open(self.folder.path().join(LOG_NAME)).expect("the server's log file");
        let log_err = log.try_clone().expect("cannot duplicate the log file handle");
        command
            .current_dir(self.folder.path())
            .env("TMPDIR", self.folder.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        self.child = command.spawn().unwrap_or_else(|e| panic!("cannot restart {name}: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} exited with {status} on restart:\n{}", self.log_tail());
            }
            if Instant::now() > deadline {
                panic!("{name} did not answer within {START_TIMEOUT:?} of its restart:\n{}", self.log_tail());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SIGKILL, not SIGTERM: SeaweedFS takes about 25 s to shut down
        // gracefully, and nothing of a test server's data needs saving.
        self.kill();
        for path in &self.leftovers {
            let _ = fs::remove_file(path);
        }
    }
}

/// `count` distinct free ports on 127.0.0.1. Each is free when chosen; the
/// server binds it a moment later, which another process can win (then the
/// server exits, and [`start`] tries again with new ports).
pub(crate) fn free_ports(count: usize) -> Vec<u16> {
    // Hold every listener until all are chosen, so no port comes back twice.
    let listeners: Vec<TcpListener> =
        (0..count).map(|_| TcpListener::bind("127.0.0.1:0").expect("cannot bind a free port on 127.0.0.1")).collect();
    listeners.iter().map(|l| l.local_addr().expect("a bound listener has an address").port()).collect()
}

/// Starts a server and waits until `ready` says it is.
///
/// `command` builds the command line for a folder and a set of `ports`
/// ports; `leftovers` names the files the server leaves outside its folder
/// for those ports (removed when it is killed, also when it failed to
/// start); `ready` is asked every [`POLL_INTERVAL`] with those ports and
/// returns `Ok(true)` once the server is ready to use, `Ok(false)` while
/// it is not yet, or `Err` when it answered in a way that cannot get
/// better. Panics (a failed test, not a skipped one) when the server exits
/// on every attempt or is not ready within [`START_TIMEOUT`].
pub(crate) fn start(
    name: &str,
    ports: usize,
    command: impl Fn(&Path, &[u16]) -> Command,
    leftovers: impl Fn(&[u16]) -> Vec<PathBuf>,
    ready: impl Fn(&[u16]) -> Result<bool, String>,
) -> (ServerProcess, Vec<u16>) {
    let mut last_log = String::new();
    for _ in 0..START_ATTEMPTS {
        let folder = tempfile::Builder::new()
            .prefix(&format!("test-server-{name}-"))
            .tempdir()
            .expect("cannot create a temporary folder");
        let ports = free_ports(ports);
        let log = File::create(folder.path().join(LOG_NAME)).expect("cannot create the server's log file");
        let log_err = log.try_clone().expect("cannot duplicate the log file handle");
        let mut command = command(folder.path(), &ports);
        command
            .current_dir(folder.path())
            .env("TMPDIR", folder.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let child =
            command.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", command.get_program()));
        let mut server = ServerProcess { child, leftovers: leftovers(&ports), folder };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                // Most likely a port taken meanwhile: try again with new ones.
                last_log = format!("{name} exited with {status}:\n{}", server.log_tail());
                break;
            }
            match ready(&ports) {
                Ok(true) => return (server, ports),
                Ok(false) => {}
                Err(why) => panic!("{name} started but is not usable: {why}\n{}", server.log_tail()),
            }
            if Instant::now() > deadline {
                panic!("{name} did not answer within {START_TIMEOUT:?}:\n{}", server.log_tail());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
    panic!("{name} did not start in {START_ATTEMPTS} attempts; last: {last_log}");
}
