//! A site's wishes against a real origin on 127.0.0.1, through each of the
//! three clients (`ureq`, `reqwest`, `surf`) built from the command line as
//! the binaries build them.
//!
//! - `X-Robots-Tag` opt-outs: by default an image whose site says `noai`
//!   (or `img2dataset: noai`) is refused as `disallowed`, once, never
//!   retried; with `--disallowed-header-directives ''` it is downloaded.
//! - `--respect-robots-txt`, against each of the origin's robots.txt
//!   behaviours (allowing, disallowing some paths, missing, 500, slow,
//!   endless, moved), with several requests at once: one robots.txt request per
//!   host, no request for a disallowed image, and a missing or broken file
//!   allows everything; without the flag no robots.txt is asked for.

#![allow(clippy::unwrap_used)] // a test that cannot start its origin should panic

use std::time::Duration;

use clap::Parser;
use common::fetch::FetchError;
use common::run::{AsyncDownloader, Downloader, worker_downloader};
use common::{DownloadArgs, Failed, Item, ItemError};
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
    let polite = SurfDownloader::like(&downloader(&[], polite_dir.path())).unwrap();
    let ignoring =
        SurfDownloader::like(&downloader(&["--disallowed-header-directives", ""], ignoring_dir.path())).unwrap();
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

/// Images on each robots.txt origin: ids 10 and 11 are the ones the
/// origin's `disallow` file refuses (it refuses `/images/1*` but allows
/// `/images/1.jpg`, a longer match).
const ROBOTS_IMAGES: usize = 12;

/// Whether the origin's `disallow` file refuses image `id`.
fn refused_by_disallow(id: usize) -> bool {
    id.to_string().starts_with('1') && id != 1
}

/// How many requests each client makes at once: enough that the first
/// ones arrive together and must share one robots.txt fetch.
const AT_ONCE: usize = 4;

/// `--timeout` of the robots.txt runs, which also bounds the robots.txt
/// fetch (its own limit, 5 s, is longer).
const ROBOTS_RUN_TIMEOUT_S: u64 = 2;

fn robots_origin(robots: origin::RobotsFile) -> RunningOrigin {
    origin::start(OriginConfig {
        count: ROBOTS_IMAGES,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 96,
        height: 64,
        robots,
        ..OriginConfig::default()
    })
    .unwrap()
}

/// The clients, as the binaries build them.
#[derive(Debug, Clone, Copy)]
enum Client {
    Ureq,
    Reqwest,
    Surf,
}

const CLIENTS: [Client; 3] = [Client::Ureq, Client::Reqwest, Client::Surf];

/// What one client made of every image of `origin` with `flags` (and
/// `--respect-robots-txt` when `respect`), `AT_ONCE` at a time: attempts
/// or the failure, by id, and how long it took.
fn fetch_all(
    client: Client,
    origin: &RunningOrigin,
    respect: bool,
    flags: &[&str],
) -> (Vec<Result<u32, Failed>>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let timeout = ROBOTS_RUN_TIMEOUT_S.to_string();
    let mut all = vec!["--timeout", &timeout];
    all.extend(flags);
    if respect {
        all.push("--respect-robots-txt");
    }
    let blocking = downloader(&all, dir.path());
    let items: Vec<Item> = (0..ROBOTS_IMAGES)
        .map(|id| Item { stem: Some(format!("image-{id}")), ..Item::from_url(origin.image_url(id)) })
        .collect();
    let started = std::time::Instant::now();
    let results = match client {
        Client::Ureq => {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let results = std::sync::Mutex::new(vec![None; ROBOTS_IMAGES]);
            std::thread::scope(|scope| {
                for _ in 0..AT_ONCE {
                    scope.spawn(|| {
                        loop {
                            let id = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let Some(item) = items.get(id) else { break };
                            let result = blocking.fetch(item).map(|(_, attempts)| attempts);
                            results.lock().unwrap()[id] = Some(result);
                        }
                    });
                }
            });
            results.into_inner().unwrap().into_iter().map(Option::unwrap).collect()
        }
        Client::Reqwest => {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async {
                let downloader = AsyncDownloader::like(&blocking);
                let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
                let fetches = items.iter().map(|item| {
                    let (downloader, semaphore) = (downloader.clone(), semaphore.clone());
                    async move {
                        let _permit = semaphore.acquire().await.unwrap();
                        downloader.fetch(item).await.map(|(_, attempts)| attempts)
                    }
                });
                futures_util::future::join_all(fetches).await
            })
        }
        Client::Surf => {
            let downloader = common::run::SurfDownloader::like(&blocking).unwrap();
            async_std::task::block_on(async {
                let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
                let downloads = items.iter().map(|item| {
                    let (downloader, semaphore) = (downloader.clone(), semaphore.clone());
                    async move {
                        let _permit = semaphore.acquire().await.unwrap();
                        downloader.download(item).await.map(|saved| saved.attempts)
                    }
                });
                futures_util::future::join_all(downloads).await
            })
        }
    };
    (results, started.elapsed())
}

/// Checks that every image of a run was fetched at the first attempt, but
/// those `refused` says, which failed `disallowed` naming robots.txt, after
/// no request for them.
fn check_run(label: &str, origin: &RunningOrigin, results: &[Result<u32, Failed>], refused: impl Fn(usize) -> bool) {
    for (id, result) in results.iter().enumerate() {
        match (refused(id), result) {
            (false, Ok(attempts)) => assert_eq!(*attempts, 1, "{label}: image {id}"),
            (true, Err(Failed { error: ItemError::Fetch(error), attempts })) => {
                assert_eq!(error.kind(), "disallowed", "{label}: image {id}: {error}");
                assert!(matches!(error, FetchError::RobotsTxt(_)), "{label}: image {id}: {error:?}");
                let reason = error.to_string();
                assert!(reason.contains("robots.txt") && reason.contains("Disallow: /images/1"), "{label}: {reason}");
                assert_eq!(*attempts, 1, "{label}: image {id} is never retried");
                assert_eq!(origin.attempts(id), 0, "{label}: image {id} was requested");
            }
            (refused, other) => panic!("{label}: image {id}: expected refused = {refused}, got {other:?}"),
        }
    }
    let stats = origin.stats();
    let allowed = (0..ROBOTS_IMAGES).filter(|&id| !refused(id)).count() as u64;
    assert_eq!(stats.image_requests, allowed, "{label}: one request per allowed image, none for the others");
}

/// A robots.txt that allows us everything: every image is downloaded, and
/// the file is asked for once however many requests start together. The
/// same file refuses everything to a client named `blockedbot`, whose
/// `--user-agent` picks its own group.
#[test]
fn an_allowing_robots_txt_is_asked_once() {
    for client in CLIENTS {
        let origin = robots_origin(origin::RobotsFile::allowing());
        let (results, _) = fetch_all(client, &origin, true, &[]);
        check_run(&format!("{client:?}"), &origin, &results, |_| false);
        assert_eq!(origin.stats().robots_requests, 1, "{client:?}: one robots.txt request per host");

        let origin = robots_origin(origin::RobotsFile::allowing());
        let (results, _) = fetch_all(client, &origin, true, &["--user-agent", "BlockedBot/2.0 (+https://x.invalid)"]);
        for result in &results {
            let error = match result {
                Err(Failed { error: ItemError::Fetch(error), .. }) => error,
                other => panic!("{client:?}: blockedbot got {other:?}"),
            };
            assert!(error.to_string().contains("`Disallow: /` for blockedbot"), "{client:?}: {error}");
        }
        assert_eq!(origin.stats().image_requests, 0, "{client:?}");
        assert_eq!(origin.stats().robots_requests, 1, "{client:?}");
    }
}

/// A robots.txt that disallows some paths: those images fail `disallowed`
/// at once, never retried (`--retries 3`), with no request sent; the rest
/// are downloaded; the file is asked for once.
#[test]
fn disallowed_paths_fail_without_a_request() {
    for client in CLIENTS {
        let origin = robots_origin(origin::RobotsFile::disallowing());
        let (results, _) = fetch_all(client, &origin, true, &[]);
        check_run(&format!("{client:?}"), &origin, &results, refused_by_disallow);
        assert_eq!(origin.stats().robots_requests, 1, "{client:?}");
    }
}

/// A robots.txt that has moved (a `302`) is followed, as an image's
/// redirect is, and its rules apply: one fetch, two requests (the hops).
#[test]
fn a_moved_robots_txt_is_followed() {
    for client in CLIENTS {
        let origin = robots_origin(origin::RobotsFile::Moved);
        let (results, _) = fetch_all(client, &origin, true, &[]);
        check_run(&format!("{client:?}"), &origin, &results, refused_by_disallow);
        assert_eq!(origin.stats().robots_requests, 2, "{client:?}: the 302 and the file");
    }
}

/// Without the flag no robots.txt is asked for, and what it would refuse
/// is downloaded.
#[test]
fn without_the_flag_robots_txt_is_never_asked_for() {
    for client in CLIENTS {
        let origin = robots_origin(origin::RobotsFile::disallowing());
        let (results, _) = fetch_all(client, &origin, false, &[]);
        check_run(&format!("{client:?}"), &origin, &results, |_| false);
        assert_eq!(origin.stats().robots_requests, 0, "{client:?}");
    }
}

/// A missing robots.txt (404) and a broken one (500) allow everything,
/// asked for once.
#[test]
fn a_missing_or_broken_robots_txt_allows_everything() {
    for robots in [origin::RobotsFile::Missing, origin::RobotsFile::Status(500), origin::RobotsFile::Status(403)] {
        for client in CLIENTS {
            let label = format!("{client:?} {robots:?}");
            let origin = robots_origin(robots.clone());
            let (results, _) = fetch_all(client, &origin, true, &[]);
            check_run(&label, &origin, &results, |_| false);
            assert_eq!(origin.stats().robots_requests, 1, "{label}");
        }
    }
}

/// A robots.txt slower than its deadline (here `--timeout`, 2 s) allows
/// everything, and costs that deadline once: the requests that came
/// meanwhile waited for the one fetch. (It would have disallowed all.)
#[test]
fn a_slow_robots_txt_costs_its_deadline_once() {
    for client in CLIENTS {
        let origin = robots_origin(origin::RobotsFile::Slow(Duration::from_secs(60)));
        let (results, took) = fetch_all(client, &origin, true, &[]);
        check_run(&format!("{client:?}"), &origin, &results, |_| false);
        assert_eq!(origin.stats().robots_requests, 1, "{client:?}");
        // Once 2 s, with room for a loaded machine; a fetch per request
        // would take 12 x 2 s / 4 at once = 6 s.
        eprintln!("{client:?}: {took:.2?} against a robots.txt deadline of {ROBOTS_RUN_TIMEOUT_S} s");
        assert!(took < Duration::from_secs(ROBOTS_RUN_TIMEOUT_S + 3), "{client:?}: {took:?}");
    }
}

/// A robots.txt that never ends is read to its 500 KiB cap, and what was
/// read is obeyed: its first lines (the `disallow` file) refuse images 10
/// and 11, the rest are downloaded.
#[test]
fn an_endless_robots_txt_is_read_to_its_cap() {
    for client in CLIENTS {
        let origin = robots_origin(origin::RobotsFile::Endless);
        let (results, _) = fetch_all(client, &origin, true, &[]);
        check_run(&format!("{client:?}"), &origin, &results, refused_by_disallow);
        assert_eq!(origin.stats().robots_requests, 1, "{client:?}");
    }
}

/// A redirect to another host is checked against that host's robots.txt:
/// a host with none (the first) that sends every image to an origin whose
/// robots.txt disallows some paths gets those refused, in every client,
/// with no request for the image at the second host; an allowed path is
/// followed and downloaded. Each client asks each host's robots.txt once.
#[test]
fn a_redirect_to_another_host_obeys_that_hosts_robots_txt() {
    use common::fetch::{AsyncFetcher, FetchOptions, Fetcher, SurfFetcher};
    let target = robots_origin(origin::RobotsFile::disallowing());
    let (refused, allowed) = (10, 2);
    assert!(refused_by_disallow(refused) && !refused_by_disallow(allowed));
    let redirector = redirecting_host(target.base_url().to_string());
    let options = FetchOptions { respect_robots_txt: true, ..FetchOptions::default() };
    let url = |id: usize| format!("http://{redirector}/images/{id}.jpg");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for client in CLIENTS {
        let before = target.stats();
        let results: Vec<Result<(), FetchError>> = match client {
            Client::Ureq => {
                let fetcher = Fetcher::new(options.clone());
                [refused, allowed].map(|id| fetcher.fetch(&url(id)).map(drop)).into()
            }
            Client::Reqwest => {
                let fetcher = AsyncFetcher::new(options.clone());
                runtime.block_on(async {
                    vec![fetcher.fetch(&url(refused)).await.map(drop), fetcher.fetch(&url(allowed)).await.map(drop)]
                })
            }
            Client::Surf => {
                let fetcher = SurfFetcher::new(options.clone()).unwrap();
                async_std::task::block_on(async {
                    vec![fetcher.fetch(&url(refused)).await.map(drop), fetcher.fetch(&url(allowed)).await.map(drop)]
                })
            }
        };
        let after = target.stats();
        assert!(
            matches!(&results[0], Err(FetchError::RobotsTxt(rule)) if rule.contains(target.base_url())),
            "{client:?}: {:?}",
            results[0]
        );
        assert!(results[1].is_ok(), "{client:?}: {:?}", results[1]);
        assert_eq!(after.image_requests - before.image_requests, 1, "{client:?}: only the allowed image");
        assert_eq!(after.robots_requests - before.robots_requests, 1, "{client:?}: the target's, once");
    }
}

/// A host with no robots.txt (404) that answers every other request with
/// a `302` to the same path at `target`; its address.
fn redirecting_host(target: String) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
            let reply = if path == "/robots.txt" {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
            } else {
                format!(
                    "HTTP/1.1 302 Found\r\nlocation: {target}{path}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
            };
            let _ = reader.get_mut().write_all(reply.as_bytes());
        }
    });
    address
}
