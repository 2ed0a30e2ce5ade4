//! [`Names`]: one name lookup per host for the whole run, shared by the
//! clients.
//!
//! A million URLs over a thousand hosts should cost about a thousand
//! lookups, not a million: the first request to a host resolves its name,
//! and every later one (on any thread or task) gets the same addresses.
//! Concurrent first requests wait for the one lookup under way instead of
//! each starting their own. A name that does not exist (NXDOMAIN) is
//! remembered too, and fails as [`FetchError::NoSuchHost`], which is never
//! retried; a lookup that failed for another reason (no answer from the
//! DNS server) is forgotten, so the retry asks again.
//!
//! The lookup is the system's (`getaddrinfo`, through std), so `/etc/hosts`
//! and the system's DNS settings apply as for any program. Rejected:
//! reqwest's `hickory-dns` resolver, which would serve reqwest alone (the
//! `ureq` client takes this cache through its resolver hook, reqwest through
//! `dns_resolver`, and surf through the connection `surf.rs` makes for
//! it, since surf has no resolver hook).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::FetchError;
use crate::text::shorten;

/// What one lookup found.
type Answer = Result<Arc<[IpAddr]>, FetchError>;

/// The run's name cache: cheap to clone; clones share the answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    answers: Arc<Mutex<HashMap<String, Arc<OnceLock<Answer>>>>>,
    /// Lookups made (for tests: one per host).
    lookups: Arc<std::sync::atomic::AtomicUsize>,
}

impl Names {
    /// The addresses of `host` (blocking: call it from a thread, or from an
    /// async runtime's blocking pool). An IP address is its own answer.
    pub(crate) fn lookup(&self, host: &str) -> Answer {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Arc::from([ip]));
        }
        let cell = {
            let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(answers.entry(host.to_ascii_lowercase()).or_default())
        };
        let answer = cell
            .get_or_init(|| {
                self.lookups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                resolve(host)
            })
            .clone();
        if matches!(answer, Err(FetchError::Network(_))) {
            // Not an answer about the name: let the next request ask again.
            let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
            if answers.get(&host.to_ascii_lowercase()).is_some_and(|cached| Arc::ptr_eq(cached, &cell)) {
                answers.remove(&host.to_ascii_lowercase());
            }
        }
        answer
    }

    /// How many lookups were made so far.
    #[cfg(test)]
    pub(crate) fn lookups(&self) -> usize {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// One system lookup of `host`: its addresses, [`FetchError::NoSuchHost`]
/// if the name does not exist, or [`FetchError::Network`] if the lookup
/// itself failed.
fn resolve(host: &str) -> Answer {
    match (host, 0).to_socket_addrs() {
        Ok(addresses) => {
            let ips: Vec<IpAddr> = addresses.map(|address: SocketAddr| address.ip()).collect();
            if ips.is_empty() { Err(FetchError::NoSuchHost(shorten(host))) } else { Ok(Arc::from(ips)) }
        }
        Err(err) => {
            // std reports getaddrinfo's errors as text only: EAI_NONAME and
            // EAI_NODATA are the answers "no such name" (glibc's and BSD's
            // wording); anything else (EAI_AGAIN: no answer) is not.
            let text = err.to_string();
            let no_such_name = ["Name or service not known", "No address associated", "nodename nor servname"]
                .iter()
                .any(|wording| text.contains(wording));
            if no_such_name {
                Err(FetchError::NoSuchHost(shorten(host)))
            } else {
                Err(FetchError::Network(format!("cannot look up {}: {text}", shorten(host))))
            }
        }
    }
}

/// The cache as `ureq`'s resolver.
#[derive(Debug)]
pub(crate) struct UreqNames(pub(crate) Names);

impl ureq::unversioned::resolver::Resolver for UreqNames {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or_else(|| ureq::Error::BadUri(format!("no host in {uri}")))?;
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let ips = match self.0.lookup(host) {
            Ok(ips) => ips,
            Err(FetchError::NoSuchHost(_)) => return Err(ureq::Error::HostNotFound),
            Err(other) => return Err(ureq::Error::Io(std::io::Error::other(other.to_string()))),
        };
        let mut addresses = self.empty();
        // ureq keeps at most 16 addresses of a name.
        for ip in ips.iter().take(16) {
            addresses.push(SocketAddr::new(*ip, port));
        }
        Ok(addresses)
    }
}

/// The cache as `reqwest`'s resolver: the blocking lookup runs on tokio's
/// blocking pool, never on the runtime's thread.
#[derive(Debug)]
pub(crate) struct ReqwestNames(pub(crate) Names);

impl reqwest::dns::Resolve for ReqwestNames {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let names = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let answer = tokio::task::spawn_blocking(move || names.lookup(&host)).await?;
            let ips = answer.map_err(LookupFailed)?;
            // Port 0: the connector puts the URL's port in.
            let addresses: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A lookup's failure inside a client's error chain, found again there by
/// [`lookup_failure`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct LookupFailed(pub(crate) FetchError);

/// The lookup failure somewhere in `error`'s chain of sources, if any.
pub(crate) fn lookup_failure(error: &(dyn std::error::Error + 'static)) -> Option<FetchError> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(LookupFailed(failure)) = error.downcast_ref::<LookupFailed>() {
            return Some(failure.clone());
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One lookup per name however many ask at once; an IP address needs
    /// none; a `.invalid` name (RFC 6761: never resolves) is no such host,
    /// remembered.
    #[test]
    fn one_lookup_per_host() {
        let names = Names::default();
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| assert!(names.lookup("localhost").is_ok()));
            }
        });
        assert_eq!(names.lookups(), 1);
        assert_eq!(names.lookup("127.0.0.1").unwrap()[0], IpAddr::from([127, 0, 0, 1]));
        assert_eq!(names.lookup("[::1]").unwrap()[0], "::1".parse::<IpAddr>().unwrap());
        assert_eq!(names.lookups(), 1);
        for _ in 0..3 {
            assert!(matches!(names.lookup("no-such-host.invalid"), Err(FetchError::NoSuchHost(_))));
        }
        assert_eq!(names.lookups(), 2);
    }
}
