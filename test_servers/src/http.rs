//! The few plain HTTP/1.1 requests the setup makes itself: "does it
//! answer?", creating a SeaweedFS bucket through its filer, creating an
//! Azurite container. A blocking socket and `Connection: close` are enough
//! for that, and keep an HTTP client out of this crate.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long one request may take; the caller retries until its deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// A response: its status and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The body as text, for messages and simple checks.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with an empty body to 127.0.0.1:`port` and reads the
/// whole response.
pub(crate) fn request(port: u16, method: &str, path: &str, headers: &[(&str, String)]) -> io::Result<Response> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, REQUEST_TIMEOUT)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    // "HTTP/1.1 201 Created": the status is the second word.
    let status = raw
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| std::str::from_utf8(code).ok()?.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response"))?;
    // The body follows the first empty line. The servers asked here answer
    // with a Content-Length (and close), never in chunks.
    let body = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|at| raw[at + 4..].to_vec()).unwrap_or_default();
    Ok(Response { status, body })
}
