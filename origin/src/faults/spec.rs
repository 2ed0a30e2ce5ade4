//! The fault spec: which share of the ids gets which fault, the settings of
//! the faults, and the seeded choice of a fault for one id and attempt.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Fault, FaultKind, MAX_FAILING_ATTEMPTS};

/// `Retry-After` when the spec does not say: one second is the smallest
/// delay the standard header can express, and short enough for demos.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Redirects in a `redirect` chain: more than one, so a client that follows
/// only one redirect fails, and within the 5 to 10 that HTTP clients follow
/// by default (ureq 10, reqwest 10, curl's `-L` 50).
pub const DEFAULT_REDIRECT_HOPS: u32 = 3;

/// How long a `stall` keeps its connection silent: longer than any sane
/// client timeout, yet bounded so a client that never gives up cannot hold
/// a server task forever.
pub const DEFAULT_STALL: Duration = Duration::from_secs(60);

/// The pause before each byte of a `drip`: ten bytes a second, so even a
/// thumbnail takes minutes and only a deadline on the whole download (not
/// one between reads) escapes it.
pub const DEFAULT_DRIP_INTERVAL: Duration = Duration::from_millis(100);

/// The size of a `large` body: 80 MiB, ten times a big camera JPEG, so any
/// sensible body limit refuses it and a client without one visibly suffers.
pub const DEFAULT_LARGE_BYTES: u64 = 80 * 1024 * 1024;

/// Mixed into the seed so the fault roll of an id is unrelated to its
/// latency and photo, which derive from the same seed and id.
const FAULT_SALT: u64 = 0x6661_756C_7473_2121; // "faults!!"

/// Which faults the origin injects on `/images/{id}.jpg`, and their settings.
///
/// Parse it from text (`"500=5,429=4,cap=8".parse()`, see the [module
/// docs](crate::faults) for the syntax) or start from the default, which
/// injects nothing. The shares of the kinds are private so that they always
/// add up to at most 100%; the settings are public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// Percent of the ids each kind gets, indexed like [`FaultKind::ALL`].
    percents: [u8; FaultKind::ALL.len()],
    /// Decides which ids get which fault; the same seed, the same faults.
    pub seed: u64,
    /// Serve at most this many image requests at once, answering the rest
    /// `429` with `Retry-After`; `None` serves any number.
    pub cap: Option<usize>,
    /// What `Retry-After` says on a `429` or `503` (see the module docs for
    /// how a fraction of a second is written).
    pub retry_after: Duration,
    /// The number of `302`s in a `redirect` chain (at least 1).
    pub redirect_hops: u32,
    /// How long a `stall` stays silent before dropping the connection.
    pub stall: Duration,
    /// The pause before each byte of a `drip`.
    pub drip_interval: Duration,
    /// The size of a `large` body in bytes.
    pub large_bytes: u64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            percents: [0; FaultKind::ALL.len()],
            seed: 0,
            cap: None,
            retry_after: DEFAULT_RETRY_AFTER,
            redirect_hops: DEFAULT_REDIRECT_HOPS,
            stall: DEFAULT_STALL,
            drip_interval: DEFAULT_DRIP_INTERVAL,
            large_bytes: DEFAULT_LARGE_BYTES,
        }
    }
}

/// Why a fault spec was refused: one line naming what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpecError(String);

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FaultSpecError {}

impl FaultSpec {
    /// Percent of the ids that get `kind`.
    pub fn percent(&self, kind: FaultKind) -> u8 {
        self.percents[kind as usize]
    }

    /// Gives `kind` `percent` percent of the ids, refusing a total over 100.
    pub fn set_percent(&mut self, kind: FaultKind, percent: u8) -> Result<(), FaultSpecError> {
        let others: u32 = self.total_percent() - u32::from(self.percent(kind));
        if others + u32::from(percent) > 100 {
            return Err(FaultSpecError(format!(
                "fault percentages add up to {}%, more than 100",
                others + u32::from(percent)
            )));
        }
        self.percents[kind as usize] = percent;
        Ok(())
    }

    /// The percent of the ids that get some fault.
    pub fn total_percent(&self) -> u32 {
        self.percents.iter().map(|&p| u32::from(p)).sum()
    }

    /// True if the origin behaves as if there were no spec: no fault and no cap.
    pub fn is_empty(&self) -> bool {
        self.total_percent() == 0 && self.cap.is_none()
    }

    /// The fault image `id` gets, if any, and for how many attempts.
    ///
    /// It depends only on the seed, the id and the shares: one roll in
    /// `0..100` per id picks the kind (the shares are laid end to end in the
    /// order of [`FaultKind::ALL`]), and the same roll fixes how many
    /// attempts a transient kind spoils (1 or 2). The mapping may change
    /// between versions of this crate, so tests ask this function rather
    /// than hard-coding ids.
    pub fn fault_for(&self, id: usize) -> Option<Fault> {
        let roll = mix(mix(self.seed ^ FAULT_SALT) ^ id as u64);
        let share = (roll % 100) as u32;
        let mut end = 0;
        let kind = FaultKind::ALL.into_iter().find(|&kind| {
            end += u32::from(self.percent(kind));
            share < end
        })?;
        let attempts = kind.is_transient().then(|| 1 + ((roll >> 32) % u64::from(MAX_FAILING_ATTEMPTS)) as u32);
        Some(Fault { kind, attempts })
    }

    /// What attempt `attempt` (0 for the first) at image `id` gets: a fault,
    /// or `None` for the real photo.
    pub fn fault_at(&self, id: usize, attempt: u32) -> Option<FaultKind> {
        self.fault_for(id).filter(|fault| fault.applies_to(attempt)).map(|fault| fault.kind)
    }
}

/// The finaliser of SplitMix64: every input bit flips about half the output
/// bits, so neighbouring ids and seeds get unrelated rolls. Written out
/// rather than taken from `fastrand` because the mapping must never change
/// under a dependency update.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    /// Parses `KIND=PERCENT` and `SETTING=VALUE` items separated by commas;
    /// an empty text or `none` is no faults.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut spec = FaultSpec::default();
        let mut seen: Vec<&str> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty() && *item != "none") {
            let Some((key, value)) = item.split_once('=').map(|(k, v)| (k.trim(), v.trim())) else {
                return Err(FaultSpecError(format!("fault spec item `{item}` needs a value, as in `{item}=5`")));
            };
            if seen.contains(&key) {
                return Err(FaultSpecError(format!("fault spec gives `{key}` twice")));
            }
            seen.push(key);
            let bad = |what: &str| FaultSpecError(format!("fault spec `{item}`: {what}"));
            if let Some(kind) = FaultKind::from_name(key) {
                let percent = value
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| bad("the value must be a whole percentage from 0 to 100"))?;
                spec.set_percent(kind, percent)?;
                continue;
            }
            match key {
                "cap" => {
                    let cap = value.parse::<usize>().ok().filter(|n| *n > 0);
                    spec.cap = Some(cap.ok_or_else(|| bad("the cap must be a whole number of requests, at least 1"))?);
                }
                "retry-after" => {
                    let secs = value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0);
                    let secs =
                        secs.ok_or_else(|| bad("the value must be seconds from 0 to 86400, such as 1 or 0.25"))?;
                    // To the millisecond, which is what the header will say.
                    spec.retry_after = Duration::from_millis((secs * 1000.0).round() as u64);
                }
                "hops" => {
                    let hops = value.parse::<u32>().ok().filter(|n| (1..=100).contains(n));
                    spec.redirect_hops = hops.ok_or_else(|| bad("the number of redirects must be from 1 to 100"))?;
                }
                "stall-ms" => spec.stall = Duration::from_millis(millis(value).ok_or_else(|| bad("not milliseconds"))?),
                "drip-ms" => {
                    let ms = millis(value).filter(|ms| *ms > 0);
                    spec.drip_interval = Duration::from_millis(ms.ok_or_else(|| bad("milliseconds, at least 1"))?);
                }
                "large-bytes" => {
                    spec.large_bytes = value.parse().map_err(|_| bad("the value must be a whole number of bytes"))?;
                }
                _ => {
                    let kinds: Vec<&str> = FaultKind::ALL.iter().map(|kind| kind.name()).collect();
                    return Err(FaultSpecError(format!(
                        "unknown fault kind `{key}` (kinds: {}; settings: cap, retry-after, hops, stall-ms, \
                         drip-ms, large-bytes)",
                        kinds.join(", ")
                    )));
                }
            }
        }
        Ok(spec)
    }
}

fn millis(value: &str) -> Option<u64> {
    value.parse().ok()
}

impl fmt::Display for FaultSpec {
    /// The spec as text that parses back to it, less the seed: the kinds with
    /// a share, then the settings that differ from the defaults; `none` if
    /// there is nothing to say.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = FaultKind::ALL
            .into_iter()
            .filter(|&kind| self.percent(kind) > 0)
            .map(|kind| format!("{kind}={}", self.percent(kind)))
            .collect();
        let default = FaultSpec::default();
        if let Some(cap) = self.cap {
            items.push(format!("cap={cap}"));
        }
        if self.retry_after != default.retry_after {
            items.push(format!("retry-after={}", super::retry_after_value(self.retry_after)));
        }
        if self.redirect_hops != default.redirect_hops {
            items.push(format!("hops={}", self.redirect_hops));
        }
        if self.stall != default.stall {
            items.push(format!("stall-ms={}", self.stall.as_millis()));
        }
        if self.drip_interval != default.drip_interval {
            items.push(format!("drip-ms={}", self.drip_interval.as_millis()));
        }
        if self.large_bytes != default.large_bytes {
            items.push(format!("large-bytes={}", self.large_bytes));
        }
        if items.is_empty() { f.write_str("none") } else { f.write_str(&items.join(",")) }
    }
}
