//! `--respect-robots-txt`: each host's `/robots.txt`, asked for once a run
//! and obeyed, for all three clients.
//!
//! Off by default, as img2dataset has it: a list of image URLs is not a
//! crawl, and most hosts' robots.txt speak to crawlers of pages. On, a host
//! that says `Disallow` for a path gets no request for it.
//!
//! # The rules, in one place
//! - **One file per host**, as RFC 9309 (2.3) says: the scheme, host and
//!   port of a URL (`http://h`, `https://h` and `http://h:8080` are three).
//! - **Once a run.** The first request to a host fetches its robots.txt;
//!   requests that come meanwhile (threads or tasks, on any runtime) wait
//!   for that one fetch instead of each making their own (single flight: an
//!   `async_lock::OnceCell` per host, which a thread waits on by blocking
//!   and a task by awaiting); every later one reads the answer kept. A
//!   fetch dropped half-way (a stopped run) leaves the host to the next
//!   request. The cache lives in the client, so the processes of a
//!   multi-process run each keep their own: a host is asked once per
//!   worker process. One cache across
//!   processes would cost a round trip to the parent for each URL; a few
//!   more requests for a small file cost less.
//! - **Its own deadline**: [`ROBOTS_TIMEOUT`], or `--timeout` if shorter,
//!   for the whole fetch (redirects and body); `--connect-timeout` bounds
//!   the connection as for an image. Redirects are followed as for images
//!   (at most 10, a loop fails at once); the request names itself with
//!   `--user-agent`; a stop ends it as it ends an image's. It is made
//!   inside the host slot ([`super::HostLimits`]) of the request that asks
//!   first, so the host scheduler counts it as that request; a refusal it
//!   meets (429, 503) is not fed back to the scheduler.
//! - **Its own size cap**: [`robotxt::BYTE_LIMIT`], 500 KiB, what Google
//!   reads and RFC 9309 (2.5) asks crawlers to read at least. Reading stops
//!   there and what was read is obeyed, up to its last whole line (a rule
//!   cut in half never applies); the rest of the file is never read.
//! - **What the answer means:**
//!
//!   | robots.txt | the host's images |
//!   |---|---|
//!   | 2xx | as its rules say (a page of HTML or garbage has none: all allowed) |
//!   | 404, 410, any other 4xx (401, 403 too) | all allowed: there is no robots.txt (RFC 9309 2.3.1.3) |
//!   | 5xx, a timeout, a refused or broken connection, a redirect loop | all allowed |
//!
//!   The last row parts from RFC 9309 (2.3.1.4), which has a crawler
//!   assume everything disallowed while the file is unreachable: a crawler
//!   comes back tomorrow, a run does not; a robots.txt down for a moment
//!   would fail all of a host's images for good (a refusal is never
//!   retried).
//! - **Matching** is robotxt's, to RFC 9309: the group whose `User-agent`
//!   is our product token (`--user-agent` up to its first `/` or space,
//!   `thumbnails-rs` by default), compared without regard to case, else the
//!   `*` group; the longest matching rule wins, `Allow` on a tie; `*` and
//!   `$` in patterns; percent-encoding normalised.
//! - **A refusal** is [`FetchError::RobotsTxt`], of kind `disallowed` like
//!   an `X-Robots-Tag` opt-out: no request for the image is sent, and it is
//!   never retried. Every URL a request goes to is checked, each against
//!   its own host's robots.txt: a redirect to another host (an image
//!   host's CDN) is that host's to allow, and its robots.txt is asked for
//!   before the hop, within the image's attempt.
//!
//! Why robotxt: written to RFC 9309, released this year, and light (bstr,
//! thiserror, url). texting_robots brings regex and nom and has had no
//! release for years (0.2.2, still on thiserror 1 and bstr 0.2); robotstxt
//! (Google's C++ parser, ported) parses the whole file again for every URL
//! and has had no release since 2021.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_lock::OnceCell;
use robotxt::Robots;

use super::rules::{Redirects, is_redirect};
use super::{FetchError, FetchOptions};
use crate::text::shorten;

/// The longest a robots.txt fetch may take (never more than `--timeout`):
/// a small text file from a host that answers comes in well under a second,
/// and a host that does not answer should not hold its first image longer.
pub const ROBOTS_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes of a robots.txt read at most: the 500 KiB that are obeyed, and one
/// more, by which the parser tells that the last line was cut.
pub(crate) const ROBOTS_MAX_BYTES: u64 = robotxt::BYTE_LIMIT as u64 + 1;

/// What fetching a robots.txt came to, as a client saw it.
#[derive(Debug)]
pub(crate) enum RobotsFetch {
    /// A 2xx, with the first [`ROBOTS_MAX_BYTES`] of its body at most.
    Found(Vec<u8>),
    /// Another status, after any redirects.
    Status(u16),
    /// No answer: a timeout, a refused or broken connection, a loop (what
    /// went wrong does not matter: any of them allows everything).
    Failed,
}

/// The run's robots.txt answers, per host: cheap to clone, clones share
/// them. Does nothing when `--respect-robots-txt` is off.
#[derive(Debug, Clone, Default)]
pub(crate) struct RobotsTxt {
    /// `None` when off.
    shared: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    /// The product token rules are matched against.
    token: String,
    /// One fetch's deadline.
    timeout: Duration,
    /// Per host (`scheme://host:port`), its rules once fetched.
    hosts: Mutex<HashMap<String, Arc<OnceCell<HostRules>>>>,
}

/// What a host's robots.txt says to us, and where it was read.
#[derive(Debug)]
struct HostRules {
    robots_url: url::Url,
    robots: Robots,
}

impl RobotsTxt {
    /// The cache of a client made with `options`: working if they say
    /// `respect_robots_txt`, doing nothing otherwise.
    pub(crate) fn new(options: &FetchOptions) -> Self {
        if !options.respect_robots_txt {
            return RobotsTxt::default();
        }
        let shared = Shared {
            token: product_token(&options.user_agent).to_string(),
            timeout: ROBOTS_TIMEOUT.min(options.timeout),
            hosts: Mutex::default(),
        };
        RobotsTxt { shared: Some(Arc::new(shared)) }
    }

    /// Whether `url` may be fetched, from a thread: asks its host's
    /// robots.txt first if no one has (`fetch` gets its URL and deadline),
    /// or waits for the request that is asking.
    pub(crate) fn check_blocking(
        &self,
        url: &url::Url,
        fetch: impl FnOnce(url::Url, Duration) -> RobotsFetch + Unpin,
    ) -> Result<(), FetchError> {
        let Some((shared, cell, robots_url)) = self.cell(url) else {
            return Ok(());
        };
        let rules = cell.get_or_init_blocking(|| {
            let answer = fetch(robots_url.clone(), shared.timeout);
            shared.rules(robots_url, answer)
        });
        rules.check(url)
    }

    /// [`RobotsTxt::check_blocking`] from a task, on any runtime.
    pub(crate) async fn check<F: Future<Output = RobotsFetch>>(
        &self,
        url: &url::Url,
        fetch: impl FnOnce(url::Url, Duration) -> F,
    ) -> Result<(), FetchError> {
        let Some((shared, cell, robots_url)) = self.cell(url) else {
            return Ok(());
        };
        let rules = cell
            .get_or_init(|| async {
                let answer = fetch(robots_url.clone(), shared.timeout).await;
                shared.rules(robots_url, answer)
            })
            .await;
        rules.check(url)
    }

    /// The cell of `url`'s host and the URL of its robots.txt, or `None`
    /// if nothing is checked (off, or a URL with no robots.txt).
    fn cell(&self, url: &url::Url) -> Option<(&Shared, Arc<OnceCell<HostRules>>, url::Url)> {
        let shared = self.shared.as_deref()?;
        let robots_url = robotxt::robots_url(url).ok()?;
        let key = url.origin().ascii_serialization();
        let mut hosts = shared.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let cell = Arc::clone(hosts.entry(key).or_default());
        Some((shared, cell, robots_url))
    }
}

impl Shared {
    /// The rules an answer stands for: a file's, or allow-all (see the
    /// table in the module's docs).
    fn rules(&self, robots_url: url::Url, answer: RobotsFetch) -> HostRules {
        let robots = match answer {
            RobotsFetch::Found(text) => Robots::parse(&text, self.token.as_str()),
            // No robots.txt (RFC 9309 2.3.1.3): no rules.
            RobotsFetch::Status(400..=499) => Robots::allow_all(),
            // Unreachable, where RFC 9309 (2.3.1.4) would disallow all: see
            // the module's docs for why not here.
            RobotsFetch::Status(_) | RobotsFetch::Failed => Robots::allow_all(),
        };
        HostRules { robots_url, robots }
    }
}

impl HostRules {
    /// `Ok` if the rules allow `url`, else the refusal naming the rule.
    fn check(&self, url: &url::Url) -> Result<(), FetchError> {
        if self.robots.is_url_allowed(url) {
            return Ok(());
        }
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let rule = self.robots.matching_rule(path).map_or_else(|| "/".to_string(), |rule| rule.pattern().to_string());
        let group = self.robots.user_agent();
        Err(FetchError::RobotsTxt(shorten(&format!("`Disallow: {rule}` for {group} in {}", self.robots_url))))
    }
}

/// What to do after a response's head: follow its redirect, read its
/// body, or stop with this answer. The same for every client.
enum Next {
    Follow(url::Url),
    ReadBody,
    Answer(RobotsFetch),
}

/// [`Next`] for a response of `status` (with its `Location`) to `url`.
fn after_head(redirects: &mut Redirects, url: &url::Url, status: u16, location: Option<&str>) -> Next {
    if is_redirect(status) {
        return match redirects.follow(url, status, location) {
            Ok(next) => Next::Follow(next),
            Err(_) => Next::Answer(RobotsFetch::Failed),
        };
    }
    if (200..300).contains(&status) { Next::ReadBody } else { Next::Answer(RobotsFetch::Status(status)) }
}

/// GET `url` (a robots.txt) within `timeout` on the blocking client's
/// agent: its connect timeout, user agent, and a stop's shut-down apply.
pub(crate) fn get_blocking(agent: &ureq::Agent, mut url: url::Url, timeout: Duration) -> RobotsFetch {
    use std::io::Read;
    let deadline = Instant::now() + timeout;
    let mut redirects = Redirects::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return RobotsFetch::Failed;
        }
        let request = agent.get(url.as_str()).config().timeout_global(Some(left)).build();
        let mut response = match request.call() {
            Ok(response) => response,
            Err(_) => return RobotsFetch::Failed,
        };
        let location = response.headers().get("location").and_then(|value| value.to_str().ok());
        match after_head(&mut redirects, &url, response.status().as_u16(), location) {
            Next::Follow(next) => url = next,
            Next::Answer(answer) => return answer,
            Next::ReadBody => {
                let mut text = Vec::new();
                let body = response.body_mut().with_config().limit(u64::MAX).reader();
                return match body.take(ROBOTS_MAX_BYTES).read_to_end(&mut text) {
                    Ok(_) => RobotsFetch::Found(text),
                    Err(_) => RobotsFetch::Failed,
                };
            }
        }
    }
}

/// [`get_blocking`] on the tokio client (`reqwest`).
pub(crate) async fn get_tokio(client: &reqwest::Client, mut url: url::Url, timeout: Duration) -> RobotsFetch {
    let deadline = Instant::now() + timeout;
    let mut redirects = Redirects::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return RobotsFetch::Failed;
        }
        let mut response = match client.get(url.clone()).timeout(left).send().await {
            Ok(response) => response,
            Err(_) => return RobotsFetch::Failed,
        };
        let location = response.headers().get("location").and_then(|value| value.to_str().ok());
        match after_head(&mut redirects, &url, response.status().as_u16(), location) {
            Next::Follow(next) => url = next,
            Next::Answer(answer) => return answer,
            Next::ReadBody => {
                let mut text = Vec::new();
                while (text.len() as u64) < ROBOTS_MAX_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            let room = ROBOTS_MAX_BYTES as usize - text.len();
                            text.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        }
                        Ok(None) => break,
                        Err(_) => return RobotsFetch::Failed,
                    }
                }
                return RobotsFetch::Found(text);
            }
        }
    }
}

/// [`get_blocking`] on the async-std client (`surf`), which has no
/// deadline of its own: one async-std timeout holds the whole fetch.
#[cfg(feature = "async-std")]
pub(crate) async fn get_surf(client: &surf::Client, url: url::Url, timeout: Duration) -> RobotsFetch {
    use futures_util::AsyncReadExt;
    let fetch = async {
        let mut url = url;
        let mut redirects = Redirects::default();
        loop {
            let mut response = match client.get(url.as_str()).await {
                Ok(response) => response,
                Err(_) => return RobotsFetch::Failed,
            };
            let location = response.header("location").map(|values| values.last().as_str().to_string());
            match after_head(&mut redirects, &url, u16::from(response.status()), location.as_deref()) {
                Next::Follow(next) => url = next,
                Next::Answer(answer) => return answer,
                Next::ReadBody => {
                    let mut text = Vec::new();
                    let body = response.take_body().into_reader();
                    return match body.take(ROBOTS_MAX_BYTES).read_to_end(&mut text).await {
                        Ok(_) => RobotsFetch::Found(text),
                        Err(_) => RobotsFetch::Failed,
                    };
                }
            }
        }
    };
    async_std::future::timeout(timeout, fetch).await.unwrap_or(RobotsFetch::Failed)
}

/// The product token of a `User-Agent` (RFC 9309 2.2.1: what a robots.txt
/// group names): `thumbnails-rs` of `thumbnails-rs/0.1.0 (+https://...)`.
fn product_token(user_agent: &str) -> &str {
    let token = user_agent.trim().split(['/', ' ', '\t']).next().unwrap_or("");
    if token.is_empty() { "*" } else { token }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(user_agent: &str) -> RobotsTxt {
        let options =
            FetchOptions { respect_robots_txt: true, user_agent: user_agent.into(), ..FetchOptions::default() };
        RobotsTxt::new(&options)
    }

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    /// The product token is the User-Agent's first word, before its version.
    #[test]
    fn product_tokens() {
        assert_eq!(product_token("thumbnails-rs/0.1.0 (+https://example.invalid)"), "thumbnails-rs");
        assert_eq!(product_token(" MyBot "), "MyBot");
        assert_eq!(product_token("my bot/2"), "my");
        assert_eq!(product_token("/1.0"), "*");
    }

    /// A file's rules decide (longest match, our group over `*`), and every
    /// other answer allows all; each host's file is asked for once.
    #[test]
    fn answers_and_rules() {
        let text = "User-agent: *\nDisallow: /a\nAllow: /a/ok\n\nUser-agent: ThumbNails-RS\nDisallow: /b\n";
        let found = || RobotsFetch::Found(text.as_bytes().to_vec());
        let robots = cache("thumbnails-rs/1.0");
        let mut fetches = 0;
        let mut check = |address: &str| {
            robots.check_blocking(&url(address), |robots_url, timeout| {
                assert_eq!(robots_url.path(), "/robots.txt");
                assert_eq!(timeout, ROBOTS_TIMEOUT);
                fetches += 1;
                found()
            })
        };
        // Our group applies, not `*`'s.
        assert!(check("http://h/a/x").is_ok());
        let refused = check("http://h/b/x.jpg?q=1").unwrap_err();
        assert_eq!(refused.kind(), "disallowed");
        assert!(!refused.is_retryable());
        assert_eq!(
            refused.to_string(),
            "the site's robots.txt disallows it: `Disallow: /b` for thumbnails-rs in http://h/robots.txt"
        );
        assert!(check("https://h/b").is_err(), "another scheme, another file");
        assert!(check("http://h:8080/b").is_err(), "another port, another file");
        assert_eq!(fetches, 3);

        // Another client falls to `*`: the longest match wins.
        let other = cache("otherbot");
        let found_other = |address: &str| other.check_blocking(&url(address), |_, _| found());
        assert!(found_other("http://h/a/x").is_err());
        assert!(found_other("http://h/a/ok/x").is_ok());
        assert!(found_other("http://h/b").is_ok());

        for answer in [
            || RobotsFetch::Status(404),
            || RobotsFetch::Status(403),
            || RobotsFetch::Status(500),
            || RobotsFetch::Failed,
            || RobotsFetch::Found(b"\x89PNG garbage <html>".to_vec()),
        ] {
            let robots = cache("thumbnails-rs");
            assert_eq!(robots.check_blocking(&url("http://h/b"), |_, _| answer()), Ok(()));
        }
    }

    /// Off, nothing is fetched; the deadline is never above `--timeout`.
    #[test]
    fn off_and_deadline() {
        let off = RobotsTxt::new(&FetchOptions::default());
        assert_eq!(off.check_blocking(&url("http://h/x"), |_, _| panic!("fetched while off")), Ok(()));
        let options =
            FetchOptions { respect_robots_txt: true, timeout: Duration::from_secs(2), ..FetchOptions::default() };
        let short = RobotsTxt::new(&options);
        let mut deadline = None;
        let _ = short.check_blocking(&url("http://h/x"), |_, timeout| {
            deadline = Some(timeout);
            RobotsFetch::Status(404)
        });
        assert_eq!(deadline, Some(Duration::from_secs(2)));
    }

    /// A file beyond the cap is obeyed up to its last whole line.
    #[test]
    fn a_huge_file_is_cut_at_a_line() {
        let mut text = b"User-agent: *\nDisallow: /early\n".to_vec();
        while text.len() < ROBOTS_MAX_BYTES as usize - 20 {
            text.extend_from_slice(b"# padding\n");
        }
        text.extend_from_slice(b"Disallow: /late/and/cut/in/half\n");
        text.truncate(ROBOTS_MAX_BYTES as usize);
        let robots = cache("thumbnails-rs");
        let check = |address: &str| robots.check_blocking(&url(address), |_, _| RobotsFetch::Found(text.clone()));
        assert!(check("http://h/early").is_err());
        assert!(check("http://h/late").is_ok(), "a cut line is no rule");
    }

    /// Threads that ask at once wait for one fetch.
    #[test]
    fn one_fetch_for_many_threads() {
        let robots = cache("thumbnails-rs");
        let fetches = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    let result = robots.check_blocking(&url("http://h/private/x"), |_, _| {
                        fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        RobotsFetch::Found(b"User-agent: *\nDisallow: /private\n".to_vec())
                    });
                    assert!(result.is_err());
                });
            }
        });
        assert_eq!(fetches.into_inner(), 1);
    }
}
