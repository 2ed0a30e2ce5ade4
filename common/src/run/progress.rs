//! The progress line a run draws while it works, and what its failures mean
//! when it ends.
//!
//! A bar with the total, the percentage and an ETA whenever the number of
//! items is known before the run (`--count`, a text list counted first, a
//! Parquet list's footer); a spinner otherwise. Rates are whole images a
//! second, and nothing is coloured: a colour is one more way to be
//! unreadable (indicatif's `{per_sec:.0}` reads the `.0` as a style, palette
//! colour 0, which is black: invisible on a dark terminal). The live
//! message counts failures by kind (`12 failed: 8 HTTP 404, 3 timeout, 1
//! DNS`), and at the end of a run [`dominant_failure`] says in one line
//! what the most common kind means, when one kind is most of them.
//!
//! Drawn on stderr only when it is a terminal: logs and pipes get the
//! report and nothing else (indicatif hides a bar whose stderr is not a
//! terminal).

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use super::outcome::ItemError;
use crate::fetch::FetchError;

/// How often the progress bar redraws: often enough to look alive, rarely
/// enough to cost nothing next to a download.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Failure kinds named one by one on the live line; the rest are summed as
/// "other", so the line fits an 80-column terminal beside the bar.
const LIVE_KINDS: usize = 3;

/// Fewer failures than this say nothing about their cause: each is listed
/// on its own line at the end anyway.
const DOMINANT_MIN_FAILURES: usize = 10;

/// A cause is worth a sentence when it is more than half of the failures:
/// then fixing it fixes most of them.
const DOMINANT_SHARE: f64 = 0.5;

/// Whether the progress bar will be seen: stderr is a terminal. A run that
/// nobody watches skips the work that only the bar needs (counting a list's
/// lines first).
pub(crate) fn is_drawn() -> bool {
    std::io::stderr().is_terminal()
}

/// The progress bar of the run `run` on stderr: a bar when `expected` items
/// are known, a spinner otherwise.
pub(crate) fn progress_bar(run: &str, expected: Option<usize>) -> ProgressBar {
    let progress = match expected {
        Some(len) => ProgressBar::new(len as u64).with_style(style(true)),
        None => ProgressBar::new_spinner().with_style(style(false)),
    };
    progress.set_prefix(run.to_string());
    progress.enable_steady_tick(PROGRESS_TICK);
    progress
}

/// The look of the bar (`bar`) or of the spinner: no colour, the rate in
/// whole images a second.
fn style(bar: bool) -> ProgressStyle {
    let (template, fallback) = if bar {
        ("{prefix} [{bar:30}] {pos}/{len} {percent}% {rate} eta {eta} {msg}", ProgressStyle::default_bar())
    } else {
        ("{prefix} {spinner} {pos} images, {rate} {msg}", ProgressStyle::default_spinner())
    };
    let style = ProgressStyle::with_template(template).unwrap_or(fallback);
    style.progress_chars("=> ").with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
        let _ = write!(out, "{:.0} images/s", state.per_sec());
    })
}

/// The failures of a run so far, by kind, for the live line.
#[derive(Debug, Default)]
pub(crate) struct FailureKinds {
    /// Each kind's label and count, in the order first seen.
    counts: Vec<(Cow<'static, str>, usize)>,
}

impl FailureKinds {
    /// Counts one failure of the kind `label`.
    pub(crate) fn add(&mut self, label: Cow<'static, str>) {
        match self.counts.iter_mut().find(|(seen, _)| *seen == label) {
            Some((_, count)) => *count += 1,
            None => self.counts.push((label, 1)),
        }
    }

    /// The live line: `12 failed: 8 HTTP 404, 3 timeout, 1 DNS`, the most
    /// common kinds first.
    pub(crate) fn live_line(&self) -> String {
        let total: usize = self.counts.iter().map(|(_, count)| count).sum();
        let mut counts: Vec<&(Cow<'static, str>, usize)> = self.counts.iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut parts: Vec<String> =
            counts.iter().take(LIVE_KINDS).map(|(label, count)| format!("{count} {label}")).collect();
        let other: usize = counts.iter().skip(LIVE_KINDS).map(|(_, count)| count).sum();
        if other > 0 {
            parts.push(format!("{other} other"));
        }
        format!("{total} failed: {}", parts.join(", "))
    }
}

/// The short name of a failure's kind on the live line: `HTTP 404`,
/// `timeout`, `DNS`...
pub(crate) fn live_label(error: &ItemError) -> Cow<'static, str> {
    match error {
        ItemError::Fetch(FetchError::Status(status)) => Cow::Owned(format!("HTTP {status}")),
        ItemError::Fetch(error) => Cow::Borrowed(Cause::of(error).label()),
        ItemError::Transform(_) => Cow::Borrowed("undecodable"),
        ItemError::Store(_) => Cow::Borrowed("store"),
        ItemError::Abandoned(_) => Cow::Borrowed("abandoned"),
    }
}

/// The one line that says what the failures of a run mean, when one cause
/// is most of them (more than [`DOMINANT_SHARE`] of at least
/// [`DOMINANT_MIN_FAILURES`]): e.g. `61% of failures are DNS lookups: ...`.
pub(crate) fn dominant_failure<'a>(errors: impl IntoIterator<Item = &'a ItemError>) -> Option<String> {
    let mut counts: Vec<(Cause, usize)> = Vec::new();
    let mut total = 0;
    for error in errors {
        total += 1;
        let cause = match error {
            ItemError::Fetch(error) => Cause::of(error),
            ItemError::Transform(_) => Cause::Undecodable,
            ItemError::Store(_) => Cause::Store,
            ItemError::Abandoned(_) => Cause::Abandoned,
        };
        match counts.iter_mut().find(|(seen, _)| *seen == cause) {
            Some((_, count)) => *count += 1,
            None => counts.push((cause, 1)),
        }
    }
    let (cause, count) = counts.into_iter().max_by_key(|(_, count)| *count)?;
    let share = count as f64 / total as f64;
    (total >= DOMINANT_MIN_FAILURES && share > DOMINANT_SHARE)
        .then(|| format!("{:.0}% of failures are {}: {}", share * 100.0, cause.what(), cause.meaning()))
}

/// What a failure says of its cause, coarser than its error: every 5xx is
/// one cause (the hosts are failing), whatever the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Gone,
    Refused,
    RateLimited,
    ServerError,
    OtherStatus,
    Timeout,
    ConnectTimeout,
    Dns,
    ConnectionRefused,
    Tls,
    TooLarge,
    NotAnImage,
    Network,
    Redirects,
    OptedOut,
    InvalidUrl,
    Undecodable,
    Store,
    Abandoned,
}

impl Cause {
    fn of(error: &FetchError) -> Self {
        match error {
            FetchError::Status(404 | 410) => Cause::Gone,
            FetchError::Status(401 | 403) => Cause::Refused,
            FetchError::Status(429) => Cause::RateLimited,
            FetchError::Status(500..=599) => Cause::ServerError,
            FetchError::Status(_) => Cause::OtherStatus,
            FetchError::Timeout(_) => Cause::Timeout,
            FetchError::ConnectTimeout(_) => Cause::ConnectTimeout,
            FetchError::NoSuchHost(_) => Cause::Dns,
            FetchError::ConnectionRefused(_) => Cause::ConnectionRefused,
            FetchError::Tls(_) => Cause::Tls,
            FetchError::TooLarge { .. } => Cause::TooLarge,
            FetchError::NotAnImage(_) => Cause::NotAnImage,
            FetchError::Network(_) => Cause::Network,
            FetchError::RedirectLoop(_) | FetchError::TooManyRedirects(_) => Cause::Redirects,
            FetchError::Disallowed(_) | FetchError::RobotsTxt(_) => Cause::OptedOut,
            FetchError::InvalidUrl(_) => Cause::InvalidUrl,
        }
    }

    /// Its name on the live line (a status is named by its code instead).
    fn label(self) -> &'static str {
        match self {
            Cause::Gone | Cause::Refused | Cause::RateLimited | Cause::ServerError | Cause::OtherStatus => "HTTP",
            Cause::Timeout => "timeout",
            Cause::ConnectTimeout => "connect timeout",
            Cause::Dns => "DNS",
            Cause::ConnectionRefused => "refused",
            Cause::Tls => "TLS",
            Cause::TooLarge => "too large",
            Cause::NotAnImage => "not an image",
            Cause::Network => "network",
            Cause::Redirects => "redirects",
            Cause::OptedOut => "opted out",
            Cause::InvalidUrl => "invalid URL",
            Cause::Undecodable => "undecodable",
            Cause::Store => "store",
            Cause::Abandoned => "abandoned",
        }
    }

    /// What the failures are, after "61% of failures are".
    fn what(self) -> &'static str {
        match self {
            Cause::Gone => "HTTP 404 or 410 (not found)",
            Cause::Refused => "HTTP 401 or 403 (forbidden)",
            Cause::RateLimited => "HTTP 429 (too many requests)",
            Cause::ServerError => "HTTP 5xx (server errors)",
            Cause::OtherStatus => "other HTTP error statuses",
            Cause::Timeout => "timeouts",
            Cause::ConnectTimeout => "connection timeouts",
            Cause::Dns => "DNS lookups",
            Cause::ConnectionRefused => "refused connections",
            Cause::Tls => "TLS failures",
            Cause::TooLarge => "images over --max-bytes",
            Cause::NotAnImage => "answers that are not images",
            Cause::Network => "network errors",
            Cause::Redirects => "redirect loops",
            Cause::OptedOut => "opt-outs",
            Cause::InvalidUrl => "invalid URLs",
            Cause::Undecodable => "images that cannot be decoded",
            Cause::Store => "writes the destination refused",
            Cause::Abandoned => "items a dead worker left",
        }
    }

    /// What that means, and what to do about it if anything.
    fn meaning(self) -> &'static str {
        match self {
            Cause::Gone => "the images are gone from their hosts (lists rot); retrying will not bring them back",
            Cause::Refused => {
                "the hosts refuse us; some refuse unknown clients or hot-linking (see --user-agent), \
                 others refuse crawlers on purpose"
            }
            Cause::RateLimited => "hosts ask us to slow down; lower --per-host or --concurrency, then --retry-failed",
            Cause::ServerError => "the hosts were failing or overloaded; --retry-failed later may save these",
            Cause::OtherStatus => "the hosts answered with errors; the failures above show each code",
            Cause::Timeout => {
                "answers did not complete within --timeout; the hosts or this machine's link are slow \
                 (raise --timeout, or lower --concurrency)"
            }
            Cause::ConnectTimeout => {
                "hosts did not accept a connection within --connect-timeout; they are down, or a firewall \
                 drops the packets"
            }
            Cause::Dns => {
                "the names do not resolve; the list's domains may have expired, or the resolver may be \
                 overloaded (lower --concurrency, or use a caching resolver)"
            }
            Cause::ConnectionRefused => "nothing listens there any more, or the hosts are turning clients away",
            Cause::Tls => "expired, self-signed or mismatched certificates; retrying will not help",
            Cause::TooLarge => "raise --max-bytes if such large images are wanted",
            Cause::NotAnImage => "often an HTML error or login page served in the image's place",
            Cause::Network => {
                "connections broke off; this machine's network may be saturated (lower --concurrency, \
                 then --retry-failed)"
            }
            Cause::Redirects => "the hosts are misconfigured; retrying will not help",
            Cause::OptedOut => "the sites ask not to be used so (X-Robots-Tag or robots.txt): their choice",
            Cause::InvalidUrl => "check that --url-column names the list's URL column",
            Cause::Undecodable => "the files are corrupt or in a format the thumbnail maker cannot read",
            Cause::Store => "check the destination's free space, permissions or credentials",
            Cause::Abandoned => "a worker process died; the lines above say how",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::{ProgressDrawTarget, TermLike};

    use super::*;

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What a bar (or spinner) in our style shows after 10 of `len` items
    /// in 3 s, one of them a 404.
    fn drawn(len: Option<u64>) -> String {
        let screen = Screen::default();
        let progress = ProgressBar::with_draw_target(len, ProgressDrawTarget::term_like(Box::new(screen.clone())))
            .with_style(style(len.is_some()))
            .with_elapsed(Duration::from_secs(3));
        progress.set_prefix("test_run");
        let mut kinds = FailureKinds::default();
        kinds.add(live_label(&ItemError::Fetch(FetchError::Status(404))));
        progress.set_message(kinds.live_line());
        progress.inc(10);
        progress.abandon();
        screen.0.lock().unwrap().clone()
    }

    /// The bar shows the total, the percentage and the ETA; the rate is a
    /// whole number (10 in 3 s: 3, not 3.3333); nothing is coloured (no
    /// escape sequence at all, so no palette colour 0 either).
    #[test]
    fn bar_and_spinner_are_plain_with_whole_rates() {
        let bar = drawn(Some(40));
        assert!(bar.contains("test_run [") && bar.contains("10/40 25% 3 images/s eta"), "{bar:?}");
        assert!(bar.contains("1 failed: 1 HTTP 404"), "{bar:?}");
        let spinner = drawn(None);
        assert!(spinner.contains("10 images, 3 images/s 1 failed"), "{spinner:?}");
        for text in [bar, spinner] {
            assert!(!text.contains("\x1b[38;5;0m") && !text.contains('\x1b'), "{text:?}");
        }
    }

    /// The live line counts failures by kind, the most common first, and
    /// sums the kinds past the third.
    #[test]
    fn live_line_counts_by_kind() {
        let mut kinds = FailureKinds::default();
        let errors = [
            (FetchError::Status(404), 8),
            (FetchError::Timeout(Duration::from_secs(1)), 3),
            (FetchError::NoSuchHost("h".into()), 1),
        ];
        for (error, times) in &errors {
            for _ in 0..*times {
                kinds.add(live_label(&ItemError::Fetch(error.clone())));
            }
        }
        assert_eq!(kinds.live_line(), "12 failed: 8 HTTP 404, 3 timeout, 1 DNS");
        kinds.add(live_label(&ItemError::Fetch(FetchError::Status(503))));
        kinds.add(live_label(&ItemError::Transform("bad".into())));
        assert_eq!(kinds.live_line(), "14 failed: 8 HTTP 404, 3 timeout, 1 DNS, 2 other");
    }

    /// One line when one cause is more than half of at least ten failures;
    /// nothing for fewer failures or a mix. Every 5xx is one cause.
    #[test]
    fn dominant_cause_is_one_line() {
        let dns = ItemError::Fetch(FetchError::NoSuchHost("h".into()));
        let gone = ItemError::Fetch(FetchError::Status(404));
        let mut errors = vec![dns.clone(); 11];
        errors.extend(vec![gone.clone(); 7]);
        let line = dominant_failure(&errors).unwrap();
        assert!(line.starts_with("61% of failures are DNS lookups: ") && line.contains("resolver"), "{line}");
        assert!(!line.contains('\n'));
        assert_eq!(dominant_failure(&errors[..9]), None, "9 failures are too few to say");
        let half = [vec![dns; 6], vec![gone; 6]].concat();
        assert_eq!(dominant_failure(&half), None, "half is not most");
        let servers: Vec<ItemError> =
            [500, 502, 503, 504, 500, 502, 503, 504, 500, 502].map(|s| ItemError::Fetch(FetchError::Status(s))).into();
        let line = dominant_failure(&servers).unwrap();
        assert!(line.starts_with("100% of failures are HTTP 5xx"), "{line}");
    }
}
