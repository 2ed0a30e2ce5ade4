//! # multithreading_run (not written yet)
//!
//! This crate is a member of the workspace so that its name and place are
//! fixed, but its methodology has not been written yet. Running it says so
//! and exits with status 2 rather than pretending to work.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("error: multithreading_run is not written yet; use normal_run for now");
    ExitCode::from(2)
}
