//! [`ByteBudget`]: one limit on the bytes of bodies held in memory at
//! once, for a run that keeps what it downloads in memory (one that
//! decodes from memory; the download binaries stream to files and need
//! none).
//!
//! # The design
//! A body held in memory holds a [`Reservation`] of the budget for as long
//! as its bytes live (the [`super::Fetched`] carries it; dropping that
//! gives the bytes back and wakes whoever waits). A request reserves:
//!
//! - its whole `Content-Length` up front, when the headers declare one
//!   (after the rules accepted it: no larger than `--max-bytes`);
//! - otherwise as its bytes arrive, in steps that double what it holds
//!   (at least [`STEP`], at most `--max-bytes`), so that a large body is
//!   reallocated a few times, not once a chunk, and what it holds is what
//!   its buffer really takes.
//!
//! A request with no room waits, without holding its thread or the
//! runtime: a thread blocks on an event, a task awaits it.
//!
//! **Why this cannot stall.** Bodies without a `Content-Length` grow; if
//! every request in flight held part of the budget and waited for more,
//! none could finish and none would give any back. So the budget keeps
//! `--max-bytes` of *headroom* that only the oldest holder may use (the
//! request that has held bytes the longest): the others grow only while
//! everything held stays under `total − headroom`. The oldest holder can
//! therefore always grow to `--max-bytes`, the largest body the rules
//! accept: it finishes (or fails on its own limits), gives its bytes back,
//! and the next oldest becomes the one with headroom. Bytes held after the
//! download (waiting for a transform, being decoded) are given back when
//! that work ends, which waits for nothing here. Total held never exceeds
//! the budget.
//!
//! A wait still counts against the request's own `--timeout`, which bounds
//! one attempt from the request to the last body byte (see the deadlines
//! in `fetch/mod.rs`): a request that waits too long fails as a timeout
//! and is retried like one.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use event_listener::{Event, Listener};

/// The smallest step a body without `Content-Length` reserves: a few
/// chunks of the network, so a small image reserves once.
pub(crate) const STEP: u64 = 256 * 1024;

/// A limit on the bytes of bodies held in memory at once, shared by every
/// client and thread of a run (clones share it). The default is unlimited.
#[derive(Debug, Clone, Default)]
pub struct ByteBudget {
    shared: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    total: u64,
    /// Kept for the oldest holder (the largest body the rules accept).
    headroom: u64,
    state: Mutex<State>,
    /// Notified whenever bytes are given back.
    freed: Event,
}

#[derive(Debug, Default)]
struct State {
    held: u64,
    /// The tickets of the reservations holding bytes, in the order they
    /// first got some: the first is the oldest holder.
    holders: std::collections::BTreeSet<u64>,
    next_ticket: u64,
}

impl ByteBudget {
    /// A budget of `total` bytes for bodies of at most `largest` bytes
    /// each (`--max-bytes`), which the budget must be able to hold.
    pub fn new(total: u64, largest: u64) -> Result<Self, String> {
        if total < largest {
            return Err(format!(
                "the in-flight budget ({total} bytes) must hold at least one body of the largest size \
                 accepted (--max-bytes, {largest} bytes)"
            ));
        }
        let state = Mutex::new(State::default());
        Ok(ByteBudget { shared: Some(Arc::new(Shared { total, headroom: largest, state, freed: Event::new() })) })
    }

    /// No limit: reservations always succeed at once.
    pub fn unlimited() -> Self {
        ByteBudget::default()
    }

    /// Its size in bytes (`None`: unlimited).
    pub fn total(&self) -> Option<u64> {
        self.shared.as_ref().map(|shared| shared.total)
    }

    /// The bytes held now (0 when unlimited).
    pub fn held(&self) -> u64 {
        self.shared.as_ref().map_or(0, |shared| shared.lock().held)
    }

    /// A reservation holding nothing yet.
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation { budget: self.clone(), ticket: None, bytes: 0 }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Part of a [`ByteBudget`], held while a body's bytes live; given back
/// when dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    budget: ByteBudget,
    /// Set when it first holds bytes: its place among the holders.
    ticket: Option<u64>,
    bytes: u64,
}

impl Reservation {
    /// The bytes it holds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grows to hold `to` bytes if there is room now, by the rule of the
    /// module docs.
    fn try_grow(&mut self, to: u64) -> bool {
        let Some(shared) = &self.budget.shared else {
            self.bytes = self.bytes.max(to);
            return true;
        };
        if to <= self.bytes {
            return true;
        }
        let mut state = shared.lock();
        let oldest = match self.ticket {
            Some(ticket) => state.holders.first() == Some(&ticket),
            None => state.holders.is_empty(),
        };
        let limit = if oldest { shared.total } else { shared.total - shared.headroom };
        if state.held + (to - self.bytes) > limit {
            return false;
        }
        state.held += to - self.bytes;
        self.bytes = to;
        if self.ticket.is_none() {
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.holders.insert(ticket);
            self.ticket = Some(ticket);
        }
        true
    }

    /// Grows to hold `to` bytes, blocking this thread until there is room
    /// or until `deadline`; false if the deadline came first.
    pub(crate) fn grow_blocking(&mut self, to: u64, deadline: Instant) -> bool {
        loop {
            if self.try_grow(to) {
                return true;
            }
            let Some(shared) = &self.budget.shared else { return true };
            // Listen before looking again, so bytes freed in between wake us.
            let listener = shared.freed.listen();
            if self.try_grow(to) {
                return true;
            }
            if listener.wait_deadline(deadline).is_none() && Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Grows to hold `to` bytes, waiting (without blocking the runtime) for
    /// room. Bounded by the caller: the attempt's `--timeout` drops it.
    pub(crate) async fn grow(&mut self, to: u64) {
        loop {
            if self.try_grow(to) {
                return;
            }
            let Some(shared) = &self.budget.shared else { return };
            let listener = shared.freed.listen();
            if self.try_grow(to) {
                return;
            }
            listener.await;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(shared) = &self.budget.shared else { return };
        if let Some(ticket) = self.ticket.take() {
            let mut state = shared.lock();
            state.held -= self.bytes;
            state.holders.remove(&ticket);
            drop(state);
            shared.freed.notify(usize::MAX);
        }
    }
}

/// How many bytes a body that has `held` reserved and needs `needed` in
/// all should hold next: the double of what it holds, at least `needed`
/// and [`STEP`], at most `largest` (`--max-bytes`, never below `needed`).
pub(crate) fn next_size(held: u64, needed: u64, largest: u64) -> u64 {
    (held.saturating_mul(2)).max(STEP).max(needed).min(largest.max(needed))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Reservations add up to at most the total; the oldest holder may use
    /// the headroom the others may not; dropping gives back and lets a
    /// waiter in.
    #[test]
    fn the_oldest_holder_always_has_room() {
        let budget = ByteBudget::new(100, 40).unwrap();
        let mut first = budget.reservation();
        let mut second = budget.reservation();
        let mut third = budget.reservation();
        assert!(first.try_grow(10));
        assert!(second.try_grow(50), "others may fill up to total - headroom");
        assert!(!third.try_grow(1), "the headroom is the oldest's");
        assert!(first.try_grow(40), "the oldest grows to the largest body");
        assert_eq!(budget.held(), 90);
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(!third.grow_blocking(5, soon), "no room before the deadline");
        drop(first);
        assert_eq!(budget.held(), 50);
        assert!(third.try_grow(10), "up to total - headroom");
        assert!(!third.try_grow(11), "the headroom is second's now, the oldest holder");
        assert!(second.try_grow(90));
        drop(second);
        assert!(third.grow_blocking(100, Instant::now()), "alone, the whole budget");
        drop(third);
        assert_eq!(budget.held(), 0);
        assert!(ByteBudget::new(10, 11).is_err());
    }

    /// A thread waiting for room gets it when another gives its bytes back.
    #[test]
    fn a_waiter_wakes_when_bytes_are_given_back() {
        let budget = ByteBudget::new(100, 50).unwrap();
        let mut oldest = budget.reservation();
        assert!(oldest.try_grow(100));
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || {
                let mut mine = budget.reservation();
                mine.grow_blocking(30, Instant::now() + Duration::from_secs(30))
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        drop(oldest);
        assert!(waiter.join().unwrap());
    }

    /// The stall the headroom prevents: eight bodies of unknown length,
    /// each needing the largest size (40 of a budget of 100), all start
    /// together and then grow a little at a time. Without the headroom
    /// they would share the budget out and all wait for more, until their
    /// deadlines; with it the oldest always finishes and makes room.
    #[test]
    fn growing_bodies_cannot_stall_each_other() {
        let budget = ByteBudget::new(100, 40).unwrap();
        let started = std::sync::Barrier::new(8);
        let deadline = Instant::now() + Duration::from_secs(20);
        let finished = std::thread::scope(|scope| {
            let bodies: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        let mut body = budget.reservation();
                        assert!(body.grow_blocking(5, deadline));
                        started.wait();
                        // A pause between steps lets the others grow too, as
                        // bodies arriving side by side do (the rule must hold
                        // whatever the order; the pause makes a stall likely
                        // where it would not).
                        (10..=40).step_by(5).all(|size| {
                            std::thread::sleep(Duration::from_millis(2));
                            body.grow_blocking(size, deadline)
                        })
                    })
                })
                .collect();
            bodies.into_iter().map(|body| body.join().unwrap()).filter(|&done| done).count()
        });
        assert_eq!(finished, 8, "every body grew to the largest size before its deadline");
        assert_eq!(budget.held(), 0);
    }

    /// Growth doubles, within the step and the largest body.
    #[test]
    fn growth_steps() {
        assert_eq!(next_size(0, 10, 1 << 30), STEP);
        assert_eq!(next_size(STEP, STEP + 1, 1 << 30), 2 * STEP);
        assert_eq!(next_size(STEP, 5 * STEP, 1 << 30), 5 * STEP);
        assert_eq!(next_size(1 << 29, (1 << 29) + 1, 1 << 29 | 5), 1 << 29 | 5);
        assert_eq!(next_size(0, 10, 4), 10, "never below what is needed");
    }
}
