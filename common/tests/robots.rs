//! `X-Robots-Tag` opt-outs against a real origin on 127.0.0.1, through each
//! of the three clients (`ureq`, `reqwest`, `surf`) built from the command
//! line as the binaries build them: by default an image whose site says
//! `noai` (or `img2dataset: noai`) is refused as `disallowed`, once, never
//! retried; with `--disallowed-header-directives ''` it is downloaded.

#![allow(clippy::unwrap_used)] // a test that cannot start its origin should panic

use std::time::Duration;

use clap::Parser;
use common::run::{AsyncDownloader, Downloader, worker_downloader};
use common::{DownloadArgs, Failed, FetchError, Item, ItemError};
use origin::{OriginConfig, RunningOrigin};

/// The download flags alone, as every binary flattens them.
#[derive(Debug, Parser)]
struct Flags {
    #[command(flatten)]
    download: DownloadArgs,
}

/// Images: half the ids are served with `X-Robots-Tag: noai`.
const IMAGES: usize = 12;

fn noai_origin() -> RunningOrigin {
    let mut faults: origin::FaultSpec = "noai=50".parse().unwrap();
    faults.seed = 5;
    origin::start(OriginConfig {
        count: IMAGES,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 96,
        height: 64,
        faults,
        ..OriginConfig::default()
    })
    .unwrap()
}

/// The URLs to try, each with whether the default refuses it: an id that
/// gets `noai`, one that does not, and `/faults/robots/...` with a directive
/// aimed at img2dataset (obeyed), at another crawler (not ours to obey), and
/// a harmless one.
fn cases(origin: &RunningOrigin) -> Vec<(String, Option<&'static str>)> {
    let mut spec: origin::FaultSpec = "noai=50".parse().unwrap();
    spec.seed = 5;
    let refused = (0..IMAGES).find(|&id| spec.fault_for(id).is_some()).unwrap();
    let served = (0..IMAGES).find(|&id| spec.fault_for(id).is_none()).unwrap();
    let base = origin.base_url();
    vec![
        (origin.image_url(refused), Some("noai")),
        (origin.image_url(served), None),
        (format!("{base}/faults/robots/img2dataset%3A%20NoImageAI%2C%20nofollow"), Some("img2dataset: noimageai")),
        (format!("{base}/faults/robots/googlebot%3A%20noindex"), None),
        (format!("{base}/faults/robots/nofollow%2C%20noarchive"), None),
    ]
}

/// The blocking downloader the binaries would build from `flags`, writing
/// into a folder of its own.
fn downloader(flags: &[&str], out: &std::path::Path) -> Downloader {
    let out = out.to_str().unwrap();
    let base = ["x", "--out", out, "--retries", "3"];
    let args = base.iter().chain(flags);
    worker_downloader(&Flags::try_parse_from(args).unwrap().download).unwrap()
}

/// Checks one client's result for one case: refused with `disallowed`
/// after one attempt, or fetched whole.
fn check(url: &str, refused: Option<&str>, result: Result<u32, Failed>, client: &str) {
    match (refused, result) {
        (Some(said), Err(Failed { error: ItemError::Fetch(error), attempts })) => {
            assert_eq!(error, FetchError::Disallowed(said.into()), "{client} {url}");
            assert_eq!(error.kind(), "disallowed");
            assert_eq!(attempts, 1, "{client} {url}: an opt-out is never retried");
        }
        (None, Ok(attempts)) => assert_eq!(attempts, 1, "{client} {url}"),
        (refused, other) => panic!("{client} {url}: expected refused = {refused:?}, got {other:?}"),
    }
}

/// The blocking client (`ureq`): refused by default, fetched with `''`.
#[test]
fn blocking_client_honours_x_robots_tag() {
    let origin = noai_origin();
    let dir = tempfile::tempdir().unwrap();
    let polite = downloader(&[], dir.path());
    let ignoring = downloader(&["--disallowed-header-directives", ""], dir.path());
    for (url, refused) in cases(&origin) {
        let item = Item::from_url(url.clone());
        check(&url, refused, polite.fetch(&item).map(|(_, attempts)| attempts), "ureq");
        let (fetched, _) = ignoring.fetch(&item).unwrap();
        assert_eq!(fetched.format, image::ImageFormat::Jpeg, "{url}");
    }
}

/// The tokio client (`reqwest`): the same.
#[test]
fn tokio_client_honours_x_robots_tag() {
    let origin = noai_origin();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let polite = AsyncDownloader::like(&downloader(&[], dir.path()));
        let ignoring = AsyncDownloader::like(&downloader(&["--disallowed-header-directives", ""], dir.path()));
        for (url, refused) in cases(&origin) {
            let item = Item::from_url(url.clone());
            check(&url, refused, polite.fetch(&item).await.map(|(_, attempts)| attempts), "reqwest");
            let (fetched, _) = ignoring.fetch(&item).await.unwrap();
            assert_eq!(fetched.format, image::ImageFormat::Jpeg, "{url}");
        }
    });
}

/// The async-std client (`surf`): the same, through a whole download (it
/// has no fetch-only half): the refused image leaves no file behind.
#[test]
fn surf_client_honours_x_robots_tag() {
    use common::run::SurfDownloader;
    let origin = noai_origin();
    let (polite_dir, ignoring_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let polite = SurfDownloader::like(&downloader(&[], polite_dir.path()), 4).unwrap();
    let ignoring =
        SurfDownloader::like(&downloader(&["--disallowed-header-directives", ""], ignoring_dir.path()), 4).unwrap();
    async_std::task::block_on(async {
        for (index, (url, refused)) in cases(&origin).into_iter().enumerate() {
            let item = Item { stem: Some(format!("image-{index}")), ..Item::from_url(url.clone()) };
            check(&url, refused, polite.download(&item).await.map(|saved| saved.attempts), "surf");
            ignoring.download(&item).await.unwrap();
        }
    });
    let count = |dir: &tempfile::TempDir| std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(count(&ignoring_dir), 5);
    assert_eq!(count(&polite_dir), 3);
}
