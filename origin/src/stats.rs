//! What the origin counts about its image (and robots.txt) requests, so that a test can check
//! a client's manners from the server's side ("fewer 429s than images",
//! "never more than 4 at once", "3 attempts at image 7").
//!
//! Atomics for the tallies, which every request touches; a std `Mutex`, not
//! tokio's, for the attempts per id, because the lock is never held across
//! an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A snapshot of the origin's tallies of `/images/{id}.jpg` requests (for
/// ids that exist).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginStats {
    /// Image requests received, including those refused by the cap.
    pub image_requests: u64,
    /// Real photos sent with `200`, directly or at the end of a redirect chain.
    pub photos_served: u64,
    /// Attempts that got a fault from the spec (the cap's `429`s not included).
    pub faults_injected: u64,
    /// `429 Too Many Requests` sent, by the `429` fault and by the cap.
    pub too_many_requests: u64,
    /// Requests refused because the cap was reached.
    pub capped: u64,
    /// The most image requests that were in flight at once (from arrival
    /// until the body was sent or abandoned); refused ones are not counted.
    pub peak_in_flight: usize,
    /// `/robots.txt` requests received (a polite client makes one a run).
    pub robots_requests: u64,
}

/// The live tallies behind [`OriginStats`], shared by every request.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) image_requests: AtomicU64,
    pub(crate) photos_served: AtomicU64,
    pub(crate) faults_injected: AtomicU64,
    pub(crate) too_many_requests: AtomicU64,
    pub(crate) capped: AtomicU64,
    pub(crate) robots_requests: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    /// Attempts so far per id, for the faults that depend on the attempt.
    attempts: Mutex<HashMap<usize, u32>>,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> OriginStats {
        OriginStats {
            image_requests: self.image_requests.load(Ordering::Relaxed),
            photos_served: self.photos_served.load(Ordering::Relaxed),
            faults_injected: self.faults_injected.load(Ordering::Relaxed),
            too_many_requests: self.too_many_requests.load(Ordering::Relaxed),
            capped: self.capped.load(Ordering::Relaxed),
            peak_in_flight: self.peak_in_flight.load(Ordering::Relaxed),
            robots_requests: self.robots_requests.load(Ordering::Relaxed),
        }
    }

    /// Counts one more attempt at `id` and returns its number, 0 for the first.
    pub(crate) fn next_attempt(&self, id: usize) -> u32 {
        // A poisoned map is still a map of counts: a panic elsewhere cannot
        // leave a count half-written.
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = attempts.entry(id).or_insert(0);
        *count += 1;
        *count - 1
    }

    /// How many attempts at `id` the origin has seen.
    pub(crate) fn attempts(&self, id: usize) -> u32 {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner).get(&id).copied().unwrap_or(0)
    }

    /// Takes an in-flight slot, or `None` if `cap` are taken already. The
    /// compare-and-swap loop never counts a refused request, even for an
    /// instant, so a refusal cannot cause another.
    pub(crate) fn admit(self: &Arc<Self>, cap: Option<usize>) -> Option<InFlight> {
        let mut now = self.in_flight.load(Ordering::Relaxed);
        loop {
            if cap.is_some_and(|cap| now >= cap) {
                return None;
            }
            match self.in_flight.compare_exchange_weak(now, now + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => now = actual,
            }
        }
        self.peak_in_flight.fetch_max(now + 1, Ordering::Relaxed);
        Some(InFlight(Arc::clone(self)))
    }
}

/// One image request in flight; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Counters>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
