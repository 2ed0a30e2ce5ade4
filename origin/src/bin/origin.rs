//! # origin (binary): the local image host as a program of its own
//!
//! Runs the origin until killed, for benchmarks that want the server in a
//! process apart from the client under test, and for trying the download
//! binaries against `--urls`:
//!
//! ```text
//! cargo run --release -p origin -- --port 0 --count 200 --latency-ms 100 --jitter-ms 50
//! ```
//!
//! The first line on stdout is the base URL (`http://127.0.0.1:PORT`), printed
//! once the photo cache is warm and the port accepts connections.
//!
//! A host that fails on demand, the same way on every run with the same seed
//! (the kinds, their settings and how long each lasts are in the docs of
//! `origin::faults`):
//!
//! ```text
//! cargo run --release -p origin -- --seed 7 \
//!     --faults "500=5,503=3,429=4,reset=2,truncate=2,stall=1,drip=1,html=2,redirect=2,loop=1,large=1,cap=8"
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use origin::{FaultSpec, Origin, OriginConfig, RobotsFile};

/// Serve photo-like JPEGs on 127.0.0.1 with realistic latency.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind (loopback unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Serve images 0..N.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Mean delay before each image, in milliseconds.
    #[arg(long, default_value_t = 200)]
    latency_ms: u64,
    /// Each image's delay varies by up to this much either way, in milliseconds.
    #[arg(long, default_value_t = 100)]
    jitter_ms: u64,
    /// Bandwidth per response in bytes a second (unlimited if absent).
    #[arg(long, value_name = "BYTES_PER_SEC")]
    rate: Option<u64>,
    /// Serve the photos in this folder instead of generated ones.
    #[arg(long, value_name = "PHOTOS")]
    dir: Option<PathBuf>,
    /// Width of generated photos.
    #[arg(long, default_value_t = 1080)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    /// Height of generated photos.
    height: u32,
    /// Fail a share of the image requests, e.g. "500=5,429=4,reset=2,cap=8".
    ///
    /// KIND=PERCENT gives a kind that percent of the ids (at most 100 in all).
    /// Kinds that fail only the first 1 or 2 attempts at an id, then serve the
    /// photo: 500, 503 and 429 (both with Retry-After), reset (chunked body cut
    /// off), truncate (body shorter than its Content-Length), stall (headers,
    /// then silence), drip (one byte at a time), rst-before (a TCP reset instead of
    /// a response), rst-midway (a TCP reset a third into the body). Kinds that fail
    /// every attempt: 404, html (a web page), loop (redirect loop), large (an oversized
    /// JPEG-looking body of large-bytes), endless (a JPEG-looking body that never ends).
    /// redirect: a chain of 302s ending at the photo.
    /// noai: the photo with X-Robots-Tag: noai (an AI opt-out), on every attempt.
    /// Settings: cap=N (beyond N image requests at once, answer 429 at once),
    /// retry-after=SECS (default 1; a fraction is sent as a decimal),
    /// hops=N (redirects in a chain, default 3), stall-ms=MS (default 60000),
    /// drip-ms=MS (pause per byte, default 100), large-bytes=N (default 80 MiB).
    #[arg(long, value_name = "SPEC", default_value = "none", verbatim_doc_comment)]
    faults: FaultSpec,
    /// What /robots.txt answers: missing (404), allow (everything, but not to blockedbot),
    /// disallow (images whose id starts with 1, but image 1), a status such as 500, slow or
    /// slow=MS (a disallow-all file after 30 s or MS), huge (a file that never ends), moved (a
    /// 302 to the disallow file).
    #[arg(long, value_name = "BEHAVIOUR", default_value = "missing")]
    robots: RobotsFile,
    /// Varies which images fail and how, the generated photos and the delays.
    #[arg(long, default_value_t = OriginConfig::default().seed)]
    seed: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("origin: {err}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> std::io::Result<()> {
    let mut config = OriginConfig {
        count: cli.count,
        latency: Duration::from_millis(cli.latency_ms),
        jitter: Duration::from_millis(cli.jitter_ms),
        rate: cli.rate,
        photos_dir: cli.dir,
        width: cli.width,
        height: cli.height,
        seed: cli.seed,
        faults: cli.faults,
        robots: cli.robots,
    };
    // One seed for everything the origin varies, so `--seed` alone repeats a run.
    config.faults.seed = cli.seed;
    if !config.faults.is_empty() {
        eprintln!("origin: injecting faults {} with seed {}", config.faults, config.faults.seed);
    }
    let listener = tokio::net::TcpListener::bind((cli.host.as_str(), cli.port)).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let origin = Origin::new(config, base_url.clone())?;
    // Generate every photo before announcing the URL, so a benchmark's first
    // requests measure latency, not JPEG encoding.
    origin::warm_up(&origin).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{base_url}")?;
    stdout.flush()?;
    drop(stdout);
    origin::serve(listener, origin, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
