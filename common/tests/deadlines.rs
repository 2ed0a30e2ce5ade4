//! Deadlines that hold, in every client (`ureq`, `reqwest`, `surf`): a
//! drip or a stall after the headers ends at `--timeout`, a host that
//! never answers the SYN at `--connect-timeout`, each failure naming the
//! deadline that fired with its own value; and the failures no retry can
//! cure (a name that does not resolve, a certificate refused) are typed as
//! such.

#![allow(clippy::unwrap_used)] // a test that cannot start its server should panic

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::fetch::FetchError;
use common::fetch::{AsyncFetcher, FetchOptions, Fetcher, SurfFetcher};
use origin::{FaultSpec, OriginConfig, RunningOrigin};

/// The clients, each trying once the URL `url(n)` gives it (client `n`:
/// an origin's fault spoils the first attempts at an id, so each client
/// gets an id of its own).
fn attempt_with_every_client(options: &FetchOptions, url: impl Fn(usize) -> String) -> Vec<(&'static str, FetchError)> {
    let ureq = Fetcher::new(options.clone()).fetch(&url(0)).unwrap_err();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reqwest = runtime.block_on(AsyncFetcher::new(options.clone()).fetch(&url(1))).unwrap_err();
    let surf = async_std::task::block_on(SurfFetcher::new(options.clone()).unwrap().fetch(&url(2))).unwrap_err();
    vec![("ureq", ureq), ("reqwest", reqwest), ("surf", surf)]
}

/// An origin whose every image gets `faults`.
fn faulty(faults: &str) -> RunningOrigin {
    origin::start(OriginConfig {
        count: 4,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        width: 320,
        height: 240,
        faults: faults.parse::<FaultSpec>().unwrap(),
        ..OriginConfig::default()
    })
    .unwrap()
}

/// A drip (one byte every 50 ms: a live connection that never finishes)
/// and a stall after the headers both end at `--timeout` in every client,
/// which says so with its value; generous bound: twice the deadline.
#[test]
fn timeout_bounds_the_whole_attempt() {
    let options = FetchOptions { timeout: Duration::from_millis(1500), ..FetchOptions::default() };
    for faults in ["drip=100,drip-ms=50", "stall=100,stall-ms=30000"] {
        let origin = faulty(faults);
        let started = Instant::now();
        for (client, error) in attempt_with_every_client(&options, |id| origin.image_url(id)) {
            assert_eq!(error, FetchError::Timeout(options.timeout), "{client} {faults}");
            assert!(error.to_string().contains("1.5 s (--timeout"), "{client}: {error}");
        }
        let took = started.elapsed();
        assert!(took < 3 * 2 * options.timeout, "{faults}: three attempts took {took:?}");
    }
}

/// A host that accepts no connection (a listener whose queue is full, so
/// its SYNs go unanswered) fails at `--connect-timeout`, named so, long
/// before `--timeout`, in every client; each one within a generous 5 s of
/// its 0.7 s (the attempt's `--timeout` is 20 s).
#[test]
fn connect_timeout_bounds_the_connection() {
    let (address, _held) = unanswering_host();
    let options = FetchOptions {
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_millis(700),
        ..FetchOptions::default()
    };
    let url = format!("http://{address}/x.jpg");
    for (client, error, took) in attempt_with_every_client_timed(&options, &url) {
        assert_eq!(error, FetchError::ConnectTimeout(options.connect_timeout), "{client} after {took:?}");
        assert!(error.to_string().contains("0.7 s (--connect-timeout)"), "{client}: {error}");
        assert!(error.is_retryable());
        assert!(took < Duration::from_secs(5), "{client}: {took:?}");
    }
}

/// An HTTPS host that accepts the connection and then says nothing (no
/// TLS handshake) fails at `--connect-timeout` too in the surf client,
/// whose connect deadline holds TCP and TLS together.
#[test]
fn connect_timeout_bounds_the_tls_handshake_in_surf() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let options = FetchOptions {
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_millis(700),
        ..FetchOptions::default()
    };
    let started = Instant::now();
    let url = format!("https://localhost:{port}/x.jpg");
    let error = async_std::task::block_on(SurfFetcher::new(options.clone()).unwrap().fetch(&url)).unwrap_err();
    assert_eq!(error, FetchError::ConnectTimeout(options.connect_timeout), "after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    drop(silent);
}

/// [`attempt_with_every_client`] on one URL, with the time each took.
fn attempt_with_every_client_timed(options: &FetchOptions, url: &str) -> Vec<(&'static str, FetchError, Duration)> {
    let started = Instant::now();
    let ureq = Fetcher::new(options.clone()).fetch(url).unwrap_err();
    let ureq_took = started.elapsed();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let reqwest = runtime.block_on(AsyncFetcher::new(options.clone()).fetch(url)).unwrap_err();
    let reqwest_took = started.elapsed();
    let started = Instant::now();
    let surf = async_std::task::block_on(SurfFetcher::new(options.clone()).unwrap().fetch(url)).unwrap_err();
    vec![("ureq", ureq, ureq_took), ("reqwest", reqwest, reqwest_took), ("surf", surf, started.elapsed())]
}

/// A name that does not exist (`.invalid` never resolves, RFC 6761) is
/// `NoSuchHost`, never retried; a closed port is a refused connection,
/// retried; the same in every client.
#[test]
fn dns_failures_and_refusals_are_typed() {
    let options = FetchOptions { timeout: Duration::from_secs(5), ..FetchOptions::default() };
    for (client, error) in attempt_with_every_client(&options, |_| "http://no-such-host.invalid/a.jpg".into()) {
        assert!(
            matches!(&error, FetchError::NoSuchHost(host) if host == "no-such-host.invalid"),
            "{client}: {error:?}"
        );
        assert!(!error.is_retryable(), "{client}");
    }
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    for (client, error) in attempt_with_every_client(&options, |_| format!("http://{closed}/a.jpg")) {
        assert!(matches!(error, FetchError::ConnectionRefused(_)), "{client}: {error:?}");
        assert!(error.is_retryable(), "{client}");
    }
}

/// A listening address whose accept queue is full, so that a new
/// connection's SYN goes unanswered, and the connections that fill it.
fn unanswering_host() -> (SocketAddr, (TcpListener, Vec<TcpStream>)) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..2000 {
        match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Ok(stream) => held.push(stream),
            Err(_) => return (address, (listener, held)),
        }
    }
    panic!("the accept queue of {address} never filled");
}

/// Every client names itself as `--user-agent` says, and by default as
/// the project and its version.
#[test]
fn every_client_sends_the_user_agent() {
    for (agent, expected) in
        [(None, format!("thumbnails-rs/{}", env!("CARGO_PKG_VERSION"))), (Some("probe/1.0"), "probe/1.0".into())]
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            (0..3)
                .map(|_| {
                    let (mut stream, _) = listener.accept().unwrap();
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && std::io::Read::read(&mut stream, &mut byte).unwrap() == 1 {
                        head.push(byte[0]);
                    }
                    let reply = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                    std::io::Write::write_all(&mut stream, reply).unwrap();
                    String::from_utf8_lossy(&head).to_ascii_lowercase()
                })
                .collect::<Vec<String>>()
        });
        let mut options = FetchOptions::default();
        if let Some(agent) = agent {
            options.user_agent = agent.to_string();
        }
        let errors = attempt_with_every_client(&options, |_| format!("http://{address}/a.jpg"));
        assert!(errors.iter().all(|(_, error)| *error == FetchError::Status(404)), "{errors:?}");
        for head in server.join().unwrap() {
            assert!(head.contains(&format!("user-agent: {}\r\n", expected.to_ascii_lowercase())), "{head}");
        }
    }
}

/// An HTTPS host whose certificate no one vouches for (self-signed, made
/// here with rcgen) is a TLS failure in every client: typed `Tls`, kind
/// `tls`, not retryable (the same certificate would be refused again), the
/// reason naming the certificate; one connection each.
#[test]
fn a_refused_certificate_is_tls_and_never_retried() {
    let (address, connections) = untrusted_https_host();
    let options = FetchOptions::default();
    // By name: surf's TLS (webpki) takes no IP address as a server name.
    let port = address.port();
    let errors = attempt_with_every_client(&options, |id| format!("https://localhost:{port}/{id}.jpg"));
    for (client, error) in &errors {
        assert!(matches!(error, FetchError::Tls(_)), "{client}: {error:?}");
        assert!(!error.is_retryable(), "{client}");
        assert_eq!(error.kind(), "tls", "{client}");
        assert!(error.to_string().to_lowercase().contains("certificate"), "{client}: {error}");
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), errors.len());
}

/// A TLS server on 127.0.0.1 with a fresh self-signed certificate, which
/// counts the connections it is offered and answers each with a handshake.
fn untrusted_https_host() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key.into())
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(mut connection) = rustls::ServerConnection::new(config) else { return };
                // The client refuses the certificate and hangs up: the
                // handshake's error here is expected.
                while connection.is_handshaking() {
                    if connection.complete_io(&mut stream).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (address, connections)
}
