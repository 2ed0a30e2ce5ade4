//! [`HostLimits`]: how many requests each host gets at once, adapted to
//! what the host says.
//!
//! A bulk download aims hundreds of requests at a handful of hosts, and a
//! host that serves only a few at a time answers the rest with 429 or 503.
//! Retrying them all is not polite and not fast: every refusal costs a
//! round trip and a backoff. So each host gets a limit of its own that
//! adapts much as TCP's congestion window does (additive increase,
//! multiplicative decrease):
//!
//! - it starts at `--per-host N`, or unlimited (the run's own concurrency
//!   is then the only bound, so a host that never refuses costs nothing);
//! - a 429 or 503 halves it, once per round (the other refusals of
//!   requests sent before the cut do not cut it again), and every refusal
//!   also brings it down to the requests still in flight there: when a
//!   hundred requests meet a host that serves eight, the ninety-two quick
//!   refusals leave the limit at the eight the host is serving;
//! - but only once the host has shown it is overloaded, by refusing at
//!   least [`OVERLOADED`] of the last [`WINDOW`] or so requests sent there;
//!   from then on it is known to have a limit and every refusal counts. A
//!   host that refuses one URL now and then (a rate limit on one path, a
//!   flaky backend) is not overloaded: the first version cut on every
//!   refusal, and a 2000-URL run with 6% such URLs took 90 s instead of 7;
//!   a second averaged over *answers*, and was fooled at the start of every
//!   run, where refusals (no body) come back first. Staying strict once
//!   overloaded is what keeps a capped host's refusals few: judged by the
//!   share alone, the limit creeps up until a quarter is refused again
//!   (seen: 137 429s where strict AIMD draws 101, and images lost);
//! - each success grows it by `1/limit` (one more request at once per round
//!   of successes), up to `--per-host`.
//!
//! Rejected: TCP's slow start (begin at a few and double), which is politer
//! still but adds several round trips to every run against a host that
//! never refuses, the common case.
//!
//! Waiting for a slot works from a thread (blocking) and from a task on any
//! runtime (async), through one `event-listener` event per set of limits,
//! so every methodology is polite the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use event_listener::{Event, Listener};

use super::FetchError;

/// About how many of a host's latest requests the refusal share is taken
/// over (older ones fade out geometrically). Long enough that 10% random
/// refusals, retries included, stay well under [`OVERLOADED`]; short enough
/// that a host's overload is believed within one burst of requests.
const WINDOW: f64 = 64.0;

/// The share of requests refused at which a host counts as overloaded. A
/// host that serves 8 of a burst of 100 refuses 92%, and is believed after
/// about 13 refusals; a run whose URLs fail one in ten refuses 10-15%.
const OVERLOADED: f64 = 0.25;

/// A share is not trusted over fewer requests than this: the first three
/// refusals of a run are not 100% of anything yet.
const MIN_SAMPLE: f64 = 16.0;

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

#[derive(Debug)]
struct Host {
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

    /// Waits (blocking this thread) for a slot at `url`'s host.
    pub fn acquire_blocking(&self, url: &url::Url) -> Slot {
        let host = host_key(url);
        loop {
            if let Some(slot) = self.try_acquire(&host) {
                return slot;
            }
            let listener = self.shared.freed.listen();
            if let Some(slot) = self.try_acquire(&host) {
                return slot;
            }
            listener.wait();
        }
    }

    /// Waits (without blocking the runtime) for a slot at `url`'s host.
    pub async fn acquire(&self, url: &url::Url) -> Slot {
        let host = host_key(url);
        loop {
            if let Some(slot) = self.try_acquire(&host) {
                return slot;
            }
            // Listen before the second look, so a slot freed in between
            // cannot be missed.
            let listener = self.shared.freed.listen();
            if let Some(slot) = self.try_acquire(&host) {
                return slot;
            }
            listener.await;
        }
    }

    /// A host's current limit (for tests and reports).
    pub fn limit_of(&self, url: &url::Url) -> Option<f64> {
        self.lock().get(&host_key(url)).map(|host| host.limit)
    }

    fn try_acquire(&self, key: &str) -> Option<Slot> {
        let cap = self.shared.cap;
        let mut hosts = self.lock();
        let host = hosts.entry(key.to_string()).or_insert_with(|| Host {
            limit: cap,
            in_flight: 0,
            round: 0,
            sent: 0.0,
            refused: 0.0,
            overloaded: false,
        });
        if (host.in_flight as f64) >= host.limit.floor().max(1.0) {
            return None;
        }
        host.in_flight += 1;
        let fade = 1.0 - 1.0 / WINDOW;
        host.sent = host.sent * fade + 1.0;
        host.refused *= fade;
        Some(Slot { limits: self.clone(), host: key.to_string(), round: host.round, released: false })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Host>> {
        self.shared.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Slot {
    /// Gives the slot back, adapting the host's limit to how the request
    /// ended: a refusal (429, 503) cuts it while the host refuses often, a
    /// success grows it, anything else (a 404, a timeout) leaves it.
    pub fn release(mut self, result: Result<(), &FetchError>) {
        self.give_back(result);
    }

    fn give_back(&mut self, result: Result<(), &FetchError>) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        let cap = self.limits.shared.cap;
        let mut hosts = self.limits.lock();
        if let Some(host) = hosts.get_mut(&self.host) {
            host.in_flight = host.in_flight.saturating_sub(1);
            let refused = matches!(result, Err(FetchError::Status(429 | 503)));
            if refused {
                host.refused += 1.0;
            }
            if refused && !host.overloaded && host.refused / host.sent.max(MIN_SAMPLE) >= OVERLOADED {
                host.overloaded = true;
            }
            if refused && host.overloaded {
                let mut limit = host.limit.min(host.in_flight.max(1) as f64);
                if self.round == host.round {
                    limit /= 2.0;
                    host.round += 1;
                }
                host.limit = limit.max(1.0);
            } else if result.is_ok() && host.limit.is_finite() {
                host.limit = (host.limit + 1.0 / host.limit).min(cap);
            }
        }
        drop(hosts);
        self.limits.shared.freed.notify(usize::MAX);
    }
}

impl Drop for Slot {
    /// A slot dropped without a word (a panic, a cancelled task) is given
    /// back as if nothing was learnt, so a host is never left short.
    fn drop(&mut self) {
        self.give_back(Err(&FetchError::Network("slot dropped".into())));
    }
}

/// Which host a URL's requests count against: scheme, host and port.
fn host_key(url: &url::Url) -> String {
    format!("{}://{}:{}", url.scheme(), url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    /// Unlimited until the host refuses a real share of its requests; then
    /// a refusal halves once per round and clamps to what is in flight;
    /// successes grow it by 1/limit; the cap holds; hosts are separate.
    #[test]
    fn limits_adapt_per_host() {
        let limits = HostLimits::new(None);
        let a = url("http://a/x.jpg");
        let slots: Vec<Slot> = (0..100).map(|_| limits.acquire_blocking(&a)).collect();
        assert_eq!(limits.limit_of(&a), Some(f64::INFINITY));
        let mut slots = slots.into_iter();
        // A dozen refusals of a hundred requests could be a dozen bad URLs.
        for _ in 0..12 {
            slots.next().unwrap().release(Err(&FetchError::Status(429)));
        }
        assert_eq!(limits.limit_of(&a), Some(f64::INFINITY));
        // The thirteenth makes a quarter (of the ~50 the fading count keeps):
        // overloaded. 87 still in flight, halved once.
        slots.next().unwrap().release(Err(&FetchError::Status(429)));
        assert_eq!(limits.limit_of(&a), Some(43.5));
        // The rest of the round's quick refusals bring it down to what the host serves.
        for _ in 0..79 {
            slots.next().unwrap().release(Err(&FetchError::Status(429)));
        }
        assert_eq!(limits.limit_of(&a), Some(8.0));
        assert!(limits.try_acquire(&host_key(&a)).is_none(), "eight in flight, limit eight");
        assert!(limits.try_acquire(&host_key(&url("http://b:81/"))).is_some(), "another host is not limited");
        // Successes grow it by 1/limit; a 404 teaches nothing.
        slots.next().unwrap().release(Ok(()));
        assert_eq!(limits.limit_of(&a), Some(8.125));
        slots.next().unwrap().release(Err(&FetchError::Status(404)));
        assert_eq!(limits.limit_of(&a), Some(8.125));
        drop(slots);
        // A refusal of the next round halves again.
        limits.acquire_blocking(&a).release(Err(&FetchError::Status(503)));
        assert_eq!(limits.limit_of(&a), Some(1.0), "clamped to the 1 in flight, then halved, never below one");
        let capped = HostLimits::new(Some(2));
        let c = url("http://c/");
        let two = [capped.acquire_blocking(&c), capped.acquire_blocking(&c)];
        assert!(capped.try_acquire(&host_key(&c)).is_none(), "--per-host 2");
        two.into_iter().for_each(|slot| slot.release(Ok(())));
        assert_eq!(capped.limit_of(&c), Some(2.0));
    }

    /// A host that refuses one URL in ten (a rate limit on one path) is
    /// never throttled, however the refusals fall: here they come in runs
    /// of five, as the first answers of a burst do. Refusing a quarter of
    /// what it is sent, it is.
    #[test]
    fn scattered_refusals_do_not_throttle_a_host() {
        let limits = HostLimits::new(Some(64));
        let a = url("http://a/");
        for _ in 0..40 {
            let slots: Vec<Slot> = (0..50).map(|_| limits.acquire_blocking(&a)).collect();
            for (index, slot) in slots.into_iter().enumerate() {
                slot.release(if index < 5 { Err(&FetchError::Status(429)) } else { Ok(()) });
            }
        }
        assert_eq!(limits.limit_of(&a), Some(64.0));
        let slots: Vec<Slot> = (0..40).map(|_| limits.acquire_blocking(&a)).collect();
        let mut slots = slots.into_iter();
        for _ in 0..8 {
            slots.next().unwrap().release(Err(&FetchError::Status(503)));
        }
        assert_eq!(limits.limit_of(&a), Some(64.0), "eight of the last forty could still be bad URLs");
        let cut = (0..20).find(|_| {
            slots.next().unwrap().release(Err(&FetchError::Status(503)));
            limits.limit_of(&a) < Some(64.0)
        });
        assert!(cut.is_some(), "a quarter refused is overload");
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
}
