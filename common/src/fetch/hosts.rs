//! [`HostLimits`]: the per-host scheduler. How many requests each host gets
//! at once, and from when, adapted to what the host says.
//!
//! A bulk download aims hundreds of requests at a handful of hosts, and a
//! host that serves only a few at a time answers the rest with 429 or 503.
//! Retrying them all is not polite and not fast; but cutting a host down to
//! one request at a time is worse: a run then waits on every slow URL of
//! that host in turn (seen: 200 URLs with a few stalls and drips took
//! 235-315 s at `--concurrency 100`, against an image's bound of 20 s). So
//! each host has a limit of its own and a "not before" time, and the policy
//! below is the whole of it: every rule is here, nowhere else.
//!
//! # The policy, signal by signal
//!
//! | the host's answer | what it changes |
//! |---|---|
//! | an image (2xx) | the limit grows by `1/limit` (one more at once per round of successes), up to `--per-host` |
//! | 429 or 503 with `Retry-After` | the host is paused: no request to it starts before now + `Retry-After` (at most [`MAX_PAUSE`]); then as below |
//! | 429, 503 or a refused connection | counts as a refusal: once the host is overloaded, the limit halves (once per round) and drops to what is in flight, never below [`FLOOR`] |
//! | a timeout, a stall, a drip, a reset, a short body | nothing: **slowness is not overload**, it holds one slot for at most its own deadline |
//! | 404 and other 4xx, an HTML page, a bad URL, a DNS or TLS failure | nothing: the URL is wrong, not the host busy |
//!
//! - The limit starts at `--per-host N`, or unlimited (the run's own
//!   concurrency is then the only bound, so a host that never refuses costs
//!   nothing).
//! - A host is *overloaded* once it has refused at least [`OVERLOADED`] of
//!   the last [`WINDOW`] or so requests sent there; from then on every
//!   refusal counts. A host that refuses some URLs whatever the load (a rate
//!   limit on one path, a flaky backend: the fault mix refuses 20-30% of
//!   its requests that way) is paced by its `Retry-After`, not throttled; a
//!   host at its capacity refuses most of a burst (92 of 100 for a host that
//!   serves 8) and is believed within a dozen refusals. The first version
//!   cut on every refusal (a 2000-URL run with 6% such URLs took 90 s
//!   instead of 7); a threshold of a quarter still tripped on the fault
//!   mix and brought its limit to 1-2.
//! - Once overloaded, every refusal also brings the limit down to the
//!   requests still in flight there: when a hundred requests meet a host
//!   that serves eight, the quick refusals leave the limit near the eight
//!   it serves. Staying strict once overloaded is what keeps a capped
//!   host's refusals few (judged by the share alone, the limit creeps up
//!   until a quarter is refused again).
//! - The pause is per host, not per request: the server said when to come
//!   back, and every request to it respects that, the retried one and the
//!   fresh ones alike. A request waiting for the pause holds no slot.
//!
//! Rejected: TCP's slow start (begin at a few and double), which is politer
//! still but adds several round trips to every run against a host that
//! never refuses, the common case; and counting a slow request as a sign of
//! overload (it is how a stalled or dripping URL starved whole runs).
//!
//! The state machine ([`Host`]) takes the time as an argument, so the
//! policy is tested on a simulated clock; waiting works from a thread
//! (blocking) and from a task on any runtime (async, with the caller's own
//! timer for a pause), through one `event-listener` event per set of limits.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use event_listener::{Event, Listener};

use super::{FetchError, Refusal};

/// About how many of a host's latest requests the refusal share is taken
/// over (older ones fade out geometrically). Long enough that 10% random
/// refusals, retries included, stay well under [`OVERLOADED`]; short enough
/// that a host's overload is believed within one burst of requests.
const WINDOW: f64 = 64.0;

/// The share of requests refused at which a host counts as overloaded: half.
/// A host that serves 8 of a burst of 100 refuses 92%; a host whose URLs
/// are refused one in five whatever the load (the fault mix: 10% 429 twice,
/// 10% 503 once) refuses 20-30%, and must not be throttled for it.
const OVERLOADED: f64 = 0.5;

/// A share is not trusted over fewer requests than this: the first three
/// refusals of a run are not 100% of anything yet.
const MIN_SAMPLE: f64 = 16.0;

/// No refusal takes a host's limit below this many requests at once
/// (unless `--per-host` is lower): a host held to one or two is held by its
/// slowest URLs, one after another. A host that really serves fewer refuses
/// the excess at once, cheaply, and its `Retry-After` paces the retries.
pub const FLOOR: usize = 4;

/// The longest pause a `Retry-After` imposes on a host: one that asks for
/// an hour is better reported failed than waited for. The same cap as a
/// retry's own wait.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Per-host limits shared by every worker of a run. Cheap to clone; clones
/// share the same hosts.
#[derive(Debug, Clone)]
pub struct HostLimits {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// `--per-host`: no host's limit grows past this.
    cap: f64,
    hosts: Mutex<HashMap<String, Host>>,
    /// Notified whenever a slot frees or a limit grows.
    freed: Event,
}

/// One host's state: the policy of the module header, on a clock that the
/// caller passes in (`now`), so that tests can simulate it.
#[derive(Debug, Clone)]
struct Host {
    /// `--per-host` (infinite when not given).
    cap: f64,
    /// Requests allowed at once; fractional, so that additive increase can
    /// add a fraction per success.
    limit: f64,
    in_flight: usize,
    /// Bumped at every halving; a refusal halves only if its request was
    /// sent in the current round.
    round: u64,
    /// Requests sent lately, and how many of them were refused: counts
    /// that fade by `1 / WINDOW` at every new request.
    sent: f64,
    refused: f64,
    /// Whether the host has been seen overloaded: from then on it is
    /// known to have a limit, and every refusal counts (once per round).
    overloaded: bool,
    /// No request starts before this: the host's latest `Retry-After`.
    not_before: Option<Instant>,
}

/// Why a request may not start yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The host asked for a pause until then.
    Until(Instant),
    /// Every slot is taken: wait for one to be given back.
    Slot,
}

/// What a finished request tells of its host (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Served,
    Refused {
        retry_after: Option<Duration>,
    },
    /// Slow, broken or wrong: nothing about the host's load.
    Nothing,
}

impl Answer {
    fn of(result: Result<(), &Refusal>) -> Answer {
        match result {
            Ok(()) => Answer::Served,
            Err(Refusal { error: FetchError::Status(429 | 503), retry_after }) => {
                Answer::Refused { retry_after: *retry_after }
            }
            Err(Refusal { error: FetchError::ConnectionRefused(_), retry_after }) => {
                Answer::Refused { retry_after: *retry_after }
            }
            Err(_) => Answer::Nothing,
        }
    }
}

impl Host {
    fn new(cap: f64) -> Self {
        Host { cap, limit: cap, in_flight: 0, round: 0, sent: 0.0, refused: 0.0, overloaded: false, not_before: None }
    }

    /// The lowest the limit goes: [`FLOOR`], or `--per-host` if lower.
    fn floor(&self) -> f64 {
        (FLOOR as f64).min(self.cap)
    }

    /// Takes a slot at `now`, returning the round it was taken in, or says
    /// what to wait for.
    fn take(&mut self, now: Instant) -> Result<u64, Wait> {
        if let Some(until) = self.not_before {
            if now < until {
                return Err(Wait::Until(until));
            }
            self.not_before = None;
        }
        if (self.in_flight as f64) >= self.limit.floor().max(1.0) {
            return Err(Wait::Slot);
        }
        self.in_flight += 1;
        let fade = 1.0 - 1.0 / WINDOW;
        self.sent = self.sent * fade + 1.0;
        self.refused *= fade;
        Ok(self.round)
    }

    /// Gives back a slot taken in `round`, learning from `answer` at `now`.
    fn give_back(&mut self, round: u64, answer: Answer, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match answer {
            Answer::Served => {
                if self.limit.is_finite() {
                    self.limit = (self.limit + 1.0 / self.limit).min(self.cap);
                }
            }
            Answer::Refused { retry_after } => {
                if let Some(after) = retry_after {
                    let until = now + after.min(MAX_PAUSE);
                    self.not_before = Some(self.not_before.map_or(until, |earlier| earlier.max(until)));
                }
                self.refused += 1.0;
                if !self.overloaded && self.refused / self.sent.max(MIN_SAMPLE) >= OVERLOADED {
                    self.overloaded = true;
                }
                if self.overloaded {
                    let mut limit = self.limit.min(self.in_flight.max(1) as f64);
                    if round == self.round {
                        limit /= 2.0;
                        self.round += 1;
                    }
                    self.limit = limit.max(self.floor());
                }
            }
            Answer::Nothing => {}
        }
    }
}

/// One request's slot at its host, taken by [`HostLimits::acquire`] and
/// given back, with what the host answered, by [`Slot::release`].
#[derive(Debug)]
pub struct Slot {
    limits: HostLimits,
    host: String,
    round: u64,
    released: bool,
}

impl HostLimits {
    /// Limits with no host allowed more than `cap` requests at once (`None`:
    /// as many as the host takes).
    pub fn new(cap: Option<usize>) -> Self {
        let cap = cap.map_or(f64::INFINITY, |cap| cap.max(1) as f64);
        HostLimits { shared: Arc::new(Shared { cap, hosts: Mutex::default(), freed: Event::new() }) }
    }

    /// Waits (blocking this thread) for a slot at `url`'s host, and for the
    /// end of its pause if it asked for one.
    pub fn acquire_blocking(&self, url: &url::Url) -> Slot {
        let host = host_key(url);
        loop {
            // Listen before looking, so a slot freed in between cannot be missed.
            let listener = self.shared.freed.listen();
            match self.try_acquire(&host, Instant::now()) {
                Ok(slot) => return slot,
                Err(Wait::Until(until)) => std::thread::sleep(until.saturating_duration_since(Instant::now())),
                Err(Wait::Slot) => {
                    listener.wait();
                }
            }
        }
    }

    /// Waits (without blocking the runtime) for a slot at `url`'s host, and
    /// for the end of its pause, sleeping with `sleep` (each runtime has its
    /// own timer: `tokio::time::sleep`, `async_std::task::sleep`).
    pub async fn acquire<F: Future<Output = ()>>(&self, url: &url::Url, sleep: impl Fn(Duration) -> F) -> Slot {
        let host = host_key(url);
        loop {
            let listener = self.shared.freed.listen();
            match self.try_acquire(&host, Instant::now()) {
                Ok(slot) => return slot,
                Err(Wait::Until(until)) => sleep(until.saturating_duration_since(Instant::now())).await,
                Err(Wait::Slot) => listener.await,
            }
        }
    }

    /// A host's current limit (for tests and reports).
    pub fn limit_of(&self, url: &url::Url) -> Option<f64> {
        self.lock().get(&host_key(url)).map(|host| host.limit)
    }

    fn try_acquire(&self, key: &str, now: Instant) -> Result<Slot, Wait> {
        let cap = self.shared.cap;
        let mut hosts = self.lock();
        let host = hosts.entry(key.to_string()).or_insert_with(|| Host::new(cap));
        let round = host.take(now)?;
        Ok(Slot { limits: self.clone(), host: key.to_string(), round, released: false })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Host>> {
        self.shared.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Slot {
    /// Gives the slot back, adapting the host as the module's table says to
    /// how the request ended (`Err` carries the server's `Retry-After`).
    pub fn release(mut self, result: Result<(), &Refusal>) {
        self.give_back(Answer::of(result));
    }

    fn give_back(&mut self, answer: Answer) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        if let Some(host) = self.limits.lock().get_mut(&self.host) {
            host.give_back(self.round, answer, Instant::now());
        }
        self.limits.shared.freed.notify(usize::MAX);
    }
}

impl Drop for Slot {
    /// A slot dropped without a word (a panic, a cancelled task, a run
    /// stopping) is given back as if nothing was learnt, so a host is never
    /// left short.
    fn drop(&mut self) {
        self.give_back(Answer::Nothing);
    }
}

/// Which host a URL's requests count against: scheme, host and port.
fn host_key(url: &url::Url) -> String {
    format!("{}://{}:{}", url.scheme(), url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    fn refused(code: u16, retry_after: Option<u64>) -> Refusal {
        Refusal { error: FetchError::Status(code), retry_after: retry_after.map(Duration::from_secs) }
    }

    /// Unlimited until the host refuses half its requests; then a refusal
    /// halves once per round and clamps to what is in flight, never below
    /// the floor; successes grow it by 1/limit; the cap holds; hosts are
    /// separate.
    #[test]
    fn limits_adapt_per_host() {
        let limits = HostLimits::new(None);
        let a = url("http://a/x.jpg");
        let slots: Vec<Slot> = (0..100).map(|_| limits.acquire_blocking(&a)).collect();
        assert_eq!(limits.limit_of(&a), Some(f64::INFINITY));
        let mut slots = slots.into_iter();
        // A quarter of a burst refused could be a quarter of bad URLs.
        for _ in 0..25 {
            slots.next().unwrap().release(Err(&refused(429, None)));
        }
        assert_eq!(limits.limit_of(&a), Some(f64::INFINITY));
        // Half (of the ~50 the fading count keeps): overloaded; the 74 still
        // in flight, halved once.
        let cut = (0..10).find(|_| {
            slots.next().unwrap().release(Err(&refused(429, None)));
            limits.limit_of(&a) < Some(f64::INFINITY)
        });
        assert!(cut.is_some(), "half refused is overload");
        let first_cut = limits.limit_of(&a).unwrap();
        assert!((30.0..40.0).contains(&first_cut), "{first_cut}");
        // The rest of the round's quick refusals bring it down to what the
        // host serves, and no lower than the floor.
        let mut left: Vec<Slot> = slots.collect();
        let serving = left.split_off(left.len() - 8);
        for slot in left {
            slot.release(Err(&refused(429, None)));
        }
        assert_eq!(limits.limit_of(&a), Some(8.0));
        assert!(limits.try_acquire(&host_key(&a), Instant::now()).is_err(), "eight in flight, limit eight");
        assert!(limits.try_acquire(&host_key(&url("http://b:81/")), Instant::now()).is_ok(), "another host is free");
        // Successes grow it by 1/limit; a 404 or a timeout teaches nothing.
        let mut serving = serving.into_iter();
        serving.next().unwrap().release(Ok(()));
        assert_eq!(limits.limit_of(&a), Some(8.125));
        serving.next().unwrap().release(Err(&refused(404, None)));
        serving.next().unwrap().release(Err(&FetchError::Timeout(Duration::from_secs(5)).into()));
        assert_eq!(limits.limit_of(&a), Some(8.125));
        drop(serving);
        // A refusal of the next round halves again, down to the floor.
        limits.acquire_blocking(&a).release(Err(&refused(503, None)));
        assert_eq!(limits.limit_of(&a), Some(FLOOR as f64), "clamped, halved, but never below the floor");
        let capped = HostLimits::new(Some(2));
        let c = url("http://c/");
        let two = [capped.acquire_blocking(&c), capped.acquire_blocking(&c)];
        assert!(capped.try_acquire(&host_key(&c), Instant::now()).is_err(), "--per-host 2");
        two.into_iter().for_each(|slot| slot.release(Ok(())));
        assert_eq!(capped.limit_of(&c), Some(2.0));
    }

    /// A host that refuses one URL in five (a rate limit on some paths) is
    /// never throttled, however the refusals fall: here they come first in
    /// every burst, as quick answers do. Refusing most of what it is sent, it is.
    #[test]
    fn scattered_refusals_do_not_throttle_a_host() {
        let limits = HostLimits::new(Some(64));
        let a = url("http://a/");
        for _ in 0..40 {
            let slots: Vec<Slot> = (0..50).map(|_| limits.acquire_blocking(&a)).collect();
            let busy = refused(429, None);
            for (index, slot) in slots.into_iter().enumerate() {
                slot.release(if index < 10 { Err(&busy) } else { Ok(()) });
            }
        }
        assert_eq!(limits.limit_of(&a), Some(64.0));
        let slots: Vec<Slot> = (0..40).map(|_| limits.acquire_blocking(&a)).collect();
        let mut slots = slots.into_iter();
        for _ in 0..15 {
            slots.next().unwrap().release(Err(&refused(503, None)));
        }
        assert_eq!(limits.limit_of(&a), Some(64.0), "fifteen of the last forty could still be bad URLs");
        let cut = (0..25).find(|_| {
            slots.next().unwrap().release(Err(&refused(503, None)));
            limits.limit_of(&a) < Some(64.0)
        });
        assert!(cut.is_some(), "most refused is overload");
    }

    /// A Retry-After pauses the whole host, not only the refused request:
    /// nobody starts there before it has passed; other hosts are not paused.
    #[test]
    fn retry_after_pauses_every_request_to_the_host() {
        let start = Instant::now();
        let mut host = Host::new(f64::INFINITY);
        let round = host.take(start).unwrap();
        host.give_back(round, Answer::Refused { retry_after: Some(Duration::from_secs(2)) }, start);
        let paused = start + Duration::from_secs(2);
        assert_eq!(host.take(start + Duration::from_secs(1)), Err(Wait::Until(paused)));
        // A shorter Retry-After later does not shorten the pause; a huge one is capped.
        host.give_back(0, Answer::Refused { retry_after: Some(Duration::from_millis(10)) }, start);
        assert_eq!(host.take(start), Err(Wait::Until(paused)));
        assert!(host.take(paused).is_ok());
        host.give_back(0, Answer::Refused { retry_after: Some(Duration::from_secs(86_400)) }, paused);
        assert_eq!(host.take(paused), Err(Wait::Until(paused + MAX_PAUSE)));
        // Through the shared limits: the refusal pauses host a, not host b.
        let limits = HostLimits::new(None);
        let (a, b) = (url("http://a/"), url("http://b/"));
        limits.acquire_blocking(&a).release(Err(&refused(429, Some(30))));
        assert!(matches!(limits.try_acquire(&host_key(&a), Instant::now()), Err(Wait::Until(_))));
        assert!(limits.try_acquire(&host_key(&b), Instant::now()).is_ok());
    }

    /// Threads waiting for a slot get one as slots are given back, and never
    /// more at once than the limit.
    #[test]
    fn waiting_threads_respect_the_limit() {
        let limits = HostLimits::new(Some(3));
        let a = url("http://a/");
        let busy = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..12 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let slot = limits.acquire_blocking(&a);
                        let now = busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        std::thread::yield_now();
                        busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        slot.release(Ok(()));
                    }
                });
            }
        });
        assert!(peak.into_inner() <= 3);
    }

    /// How one simulated request ends, and after how long.
    #[derive(Debug, Clone, Copy)]
    enum Reply {
        /// An image after this many milliseconds.
        Fine(u64),
        /// A stall or drip: nothing until the deadline (5 s) ends it.
        Slow,
        /// 429 or 503 at once, with this Retry-After in milliseconds.
        Refused(u64),
    }

    const DEADLINE_MS: u64 = 5_000;

    fn reply() -> impl Strategy<Value = Reply> {
        prop_oneof![
            6 => (1u64..200).prop_map(Reply::Fine),
            2 => Just(Reply::Slow),
            2 => (0u64..2_000).prop_map(Reply::Refused),
        ]
    }

    /// A run of `replies` against `host` on a simulated clock (milliseconds
    /// after `start`, from `now`): `workers` clients, each taking the next
    /// request when free; requests that must wait queue in order, and the
    /// first in line is tried whenever a slot frees or a pause ends. Checks,
    /// for every request, that once first in line it waits no longer than
    /// the host's pause or the slowest request ahead of it (in flight then),
    /// and that the limit never goes below the floor. Returns the time the
    /// last request ended.
    fn simulate(
        host: &mut Host,
        start: Instant,
        mut now: u64,
        replies: &[Reply],
        workers: usize,
    ) -> Result<u64, TestCaseError> {
        let ms = |t: u64| start + Duration::from_millis(t);
        let since_start = |at: Instant| at.duration_since(start).as_millis() as u64;
        // (end time, round, answer) of the requests in flight.
        let mut in_flight: Vec<(u64, u64, Answer)> = Vec::new();
        let mut queue: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        let mut next = 0;
        // For the request first in line: when it got there, when the
        // slowest request then in flight ends, and the latest pause it met.
        let mut head: Option<(u64, u64, u64)> = None;
        let mut done = 0;
        while done < replies.len() {
            while next < replies.len() && queue.len() + in_flight.len() < workers {
                queue.push_back(next);
                next += 1;
            }
            while let Some(&index) = queue.front() {
                let (since, slowest, pause) = *head
                    .get_or_insert_with(|| (now, in_flight.iter().map(|(end, ..)| *end).max().unwrap_or(now), now));
                match host.take(ms(now)) {
                    Ok(round) => {
                        prop_assert!(
                            now <= since.max(slowest).max(pause),
                            "request {index}: first in line at {since} ms, started at {now} ms, though the \
                             slowest ahead ended at {slowest} ms and the pause at {pause} ms"
                        );
                        head = None;
                        let (duration, answer) = match replies[index] {
                            Reply::Fine(t) => (t, Answer::Served),
                            Reply::Slow => (DEADLINE_MS, Answer::Nothing),
                            Reply::Refused(after) => {
                                (1, Answer::Refused { retry_after: Some(Duration::from_millis(after)) })
                            }
                        };
                        in_flight.push((now + duration, round, answer));
                        queue.pop_front();
                    }
                    Err(wait) => {
                        if let (Wait::Until(until), Some(head)) = (wait, head.as_mut()) {
                            head.2 = head.2.max(since_start(until));
                        }
                        break;
                    }
                }
            }
            // On to the next event: a request ending, or a pause ending.
            let next_end = in_flight.iter().map(|(end, ..)| *end).min();
            let pause = host.not_before.map(since_start).filter(|&until| until > now);
            now = match (next_end, pause) {
                (Some(end), Some(until)) => end.min(until),
                (Some(end), None) => end,
                (None, Some(until)) => until,
                (None, None) => {
                    prop_assert!(queue.is_empty(), "nothing in flight, no pause, yet {} wait", queue.len());
                    now
                }
            };
            let (ended, going): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|(end, ..)| *end <= now);
            in_flight = going;
            for (_, round, answer) in ended {
                host.give_back(round, answer, ms(now));
                done += 1;
            }
            prop_assert!(host.limit >= host.floor(), "limit {} under the floor {}", host.limit, host.floor());
        }
        Ok(now)
    }

    proptest! {
        /// On a simulated clock, with any mix of slow, refused and fine
        /// responses at any concurrency and `--per-host`: a request first
        /// in line waits no longer than the host's pause or the slowest
        /// request ahead of it; the limit stays at or above the floor; slow
        /// replies alone never lower it; and once refusals stop, successes
        /// bring it back to `--per-host`.
        #[test]
        fn the_scheduler_never_starves_a_host(
            replies in proptest::collection::vec(reply(), 1..300),
            workers in 1usize..120,
            cap in 1usize..24,
        ) {
            let start = Instant::now();
            let mut host = Host::new(cap as f64);
            let end = simulate(&mut host, start, 0, &replies, workers)?;
            if !replies.iter().any(|reply| matches!(reply, Reply::Refused(_))) {
                prop_assert_eq!(host.limit, cap as f64, "slowness is not overload");
            }
            let fine = vec![Reply::Fine(10); 40 * cap];
            simulate(&mut host, start, end, &fine, workers)?;
            prop_assert_eq!(host.limit, cap as f64, "the limit grows back once refusals stop");
        }
    }

    /// With no `--per-host`, a host cut to the floor grows back by one
    /// request at once per round of successes, without bound.
    #[test]
    fn an_unlimited_host_grows_back() {
        let start = Instant::now();
        let mut host = Host::new(f64::INFINITY);
        let burst: Vec<Reply> = (0..100).map(|i| if i < 92 { Reply::Refused(0) } else { Reply::Fine(40) }).collect();
        let end = simulate(&mut host, start, 0, &burst, 100).unwrap();
        assert!(host.limit <= 10.0, "a host refusing 92 of 100 is cut: {}", host.limit);
        simulate(&mut host, start, end, &vec![Reply::Fine(10); 400], 100).unwrap();
        assert!(host.limit >= 25.0, "400 successes later: {}", host.limit);
    }
}
