//! [`RetryPolicy`]: whether a failed fetch is tried again, and after how long.
//!
//! Only failures that time can cure are retried: a timeout, a connection
//! reset or a body cut short, 408, 429 and 5xx; never a 404, an HTML page
//! or a redirect loop, which would fail the same way again. The wait is
//! exponential backoff with full jitter (a random wait between zero and
//! `base x 2^n`, capped): many workers that failed together do not come back
//! together. A server's `Retry-After` is honoured, up to a cap, because a
//! host that says when to come back knows better than any formula.
//!
//! The policy decides; each downloader sleeps its own way (a thread sleeps,
//! a task awaits a timer), so no methodology can retry differently.

use std::time::Duration;

use super::Refusal;

/// Retries after the first attempt when `--retries` is not given: enough to
/// ride out a restart or a burst of 503s, few enough that a dead host costs
/// four timeouts, not forty.
pub const DEFAULT_RETRIES: u32 = 3;

/// The first backoff's upper bound; doubled for each retry after it.
const BASE_DELAY: Duration = Duration::from_millis(250);

/// No backoff waits longer than this.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// No `Retry-After` is waited longer than this: a host that asks for an
/// hour is better reported failed (and retried with `--retry-failed`) than
/// waited for with a worker held.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// When to try a failed fetch again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries after the first; 0 never retries.
    pub retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { retries: DEFAULT_RETRIES }
    }
}

impl RetryPolicy {
    /// How long to wait before the next attempt, after `attempts` attempts
    /// ended with `refusal`; `None` when it should not be tried again.
    pub fn next_delay(&self, attempts: u32, refusal: &Refusal) -> Option<Duration> {
        if attempts > self.retries || !refusal.error.is_retryable() {
            return None;
        }
        let ceiling = BASE_DELAY.saturating_mul(1 << attempts.saturating_sub(1).min(16)).min(MAX_DELAY);
        let jitter = ceiling.mul_f64(fastrand::f64());
        Some(match refusal.retry_after {
            // The host's word, plus a little jitter so that the many requests
            // it refused at once do not all return in the same millisecond.
            Some(after) => after.min(MAX_RETRY_AFTER) + jitter.min(BASE_DELAY),
            None => jitter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchError;

    fn refusal(error: FetchError, retry_after: Option<u64>) -> Refusal {
        Refusal { error, retry_after: retry_after.map(Duration::from_secs) }
    }

    /// Retryable failures are retried `retries` times, no more; the others never.
    #[test]
    fn retries_only_what_time_can_cure() {
        let policy = RetryPolicy { retries: 2 };
        let busy = refusal(FetchError::Status(503), None);
        assert!(policy.next_delay(1, &busy).is_some());
        assert!(policy.next_delay(2, &busy).is_some());
        assert_eq!(policy.next_delay(3, &busy), None);
        for permanent in
            [FetchError::Status(404), FetchError::NotAnImage("<html>".into()), FetchError::RedirectLoop("x".into())]
        {
            assert_eq!(policy.next_delay(1, &refusal(permanent, None)), None);
        }
        assert_eq!(RetryPolicy { retries: 0 }.next_delay(1, &busy), None);
    }

    /// Backoff stays under its doubling ceiling and the cap; Retry-After is
    /// honoured, capped.
    #[test]
    fn backoff_is_bounded_and_retry_after_honoured() {
        let policy = RetryPolicy { retries: 30 };
        let reset = refusal(FetchError::Network("reset".into()), None);
        for _ in 0..100 {
            assert!(policy.next_delay(1, &reset).unwrap() <= BASE_DELAY);
            assert!(policy.next_delay(3, &reset).unwrap() <= BASE_DELAY * 4);
            assert!(policy.next_delay(30, &reset).unwrap() <= MAX_DELAY);
        }
        let wait = policy.next_delay(1, &refusal(FetchError::Status(429), Some(2))).unwrap();
        assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_secs(2) + BASE_DELAY, "{wait:?}");
        let capped = policy.next_delay(1, &refusal(FetchError::Status(429), Some(86_400))).unwrap();
        assert!(capped <= MAX_RETRY_AFTER + BASE_DELAY, "{capped:?}");
    }
}
