//! `serve_s3`: SeaweedFS's S3 gateway on a free 127.0.0.1 port, for the
//! benchmark scripts, started exactly as the tests start it.
//!
//! Prints the environment that points a client at it, one `NAME=VALUE`
//! line each, then `URL=s3://bucket/` and `READY`; runs until its standard
//! input closes (the script that started it exits, or closes the pipe), then
//! kills the server. Exits 1 with one line when SeaweedFS is not installed
//! (`scripts/install_test_servers.sh`).
//!
//! ```text
//! cargo run --release -p test_servers --bin serve_s3
//! ```

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(server) = test_servers::s3() else {
        return ExitCode::FAILURE;
    };
    let mut out = std::io::stdout().lock();
    for (name, value) in server.env() {
        let _ = writeln!(out, "{name}={value}");
    }
    let _ = writeln!(out, "URL={}", server.url(""));
    let _ = writeln!(out, "READY");
    let _ = out.flush();
    drop(out);
    // Until the other end hangs up; the server dies with `server`.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(server);
    ExitCode::SUCCESS
}
