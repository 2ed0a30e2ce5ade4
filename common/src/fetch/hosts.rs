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
//! - but only while refusals are a real share of the host's answers (a
//!   moving average of at least [`OVERLOADED`]): a host that refuses one
//!   URL now and then (a rate limit on one path, a flaky backend) is not
//!   overloaded, and halving the whole host for it cost a 2000-URL run with
//!   6% such URLs 90 s instead of 9 (the first version cut on every one);
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

/// How much one answer moves a host's refusal average: about the last
/// sixteen answers count. Shorter, and three unlucky single-URL refusals in
/// a row throttle a healthy host (a simulation of 8% random refusals cut
/// some thirty times in 2300 answers at 1/8); longer, and an overloaded
/// host is believed only after dozens of refusals.
const REFUSAL_WEIGHT: f64 = 1.0 / 16.0;

/// The refusal average at which a host counts as overloaded: five refusals
/// in a row from a clean record, or one answer in four for a while. 8%
/// random refusals reach it about three times in 2300 answers.
const OVERLOADED: f64 = 0.25;

/// Where a new host's average starts: at the threshold, so a host that
/// refuses before it has answered anything is believed at once (a burst of
/// a hundred first requests at a host that serves eight draws 12 refusals
/// this way, 107 when five refusals had to come first), and a host with a
/// record of good answers is not thrown off by one refusal.
const UNKNOWN_HOST: f64 = OVERLOADED;

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
    /// Moving average of the host's answers that were refusals (0 to 1).
    refusals: f64,
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
            refusals: UNKNOWN_HOST,
        });
        if (host.in_flight as f64) >= host.limit.floor().max(1.0) {
            return None;
        }
        host.in_flight += 1;
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
            // Only answers count towards the average: a timeout or a reset
            // says nothing about how busy the host is.
            if result.is_ok() || matches!(result, Err(FetchError::Status(_))) {
                host.refusals += REFUSAL_WEIGHT * (f64::from(u8::from(refused)) - host.refusals);
            }
            if refused && host.refusals >= OVERLOADED {
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

    /// Unlimited until the host refuses often; then a refusal halves once
    /// per round and clamps to what is in flight; successes grow it by
    /// 1/limit; the cap holds; hosts are separate.
    #[test]
    fn limits_adapt_per_host() {
        let limits = HostLimits::new(None);
        let a = url("http://a/x.jpg");
        let slots: Vec<Slot> = (0..100).map(|_| limits.acquire_blocking(&a)).collect();
        assert_eq!(limits.limit_of(&a), Some(f64::INFINITY));
        let mut slots = slots.into_iter();
        // A refusal before any answer is believed: 99 still in flight, halved once.
        slots.next().unwrap().release(Err(&FetchError::Status(429)));
        assert_eq!(limits.limit_of(&a), Some(49.5));
        // The rest of the round's quick refusals bring it down to what the host serves.
        for _ in 0..91 {
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

    /// A host that has answered well and then refuses one URL in twenty (a
    /// rate limit on one path) is never throttled; three refusals in a row
    /// more could be three unlucky URLs, the fourth is not.
    #[test]
    fn scattered_refusals_do_not_throttle_a_host() {
        let limits = HostLimits::new(Some(64));
        let a = url("http://a/");
        for answer in 1..2000 {
            let slot = limits.acquire_blocking(&a);
            slot.release(if answer % 20 == 7 { Err(&FetchError::Status(429)) } else { Ok(()) });
        }
        assert_eq!(limits.limit_of(&a), Some(64.0));
        let slots: Vec<Slot> = (0..10).map(|_| limits.acquire_blocking(&a)).collect();
        let mut slots = slots.into_iter();
        for _ in 0..3 {
            slots.next().unwrap().release(Err(&FetchError::Status(503)));
        }
        assert_eq!(limits.limit_of(&a), Some(64.0));
        slots.next().unwrap().release(Err(&FetchError::Status(503)));
        assert_eq!(limits.limit_of(&a), Some(3.0), "clamped to the 6 in flight, halved");
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
