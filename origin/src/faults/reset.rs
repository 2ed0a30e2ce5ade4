//! Connections a fault can end with a TCP reset (`RST`), as a host that
//! crashes or a middlebox that gives up does, rather than with the orderly
//! close (`FIN`) every other way of ending a response here gives.
//!
//! hyper owns the socket, so a handler cannot reach it: the origin serves
//! on [`ResettableListener`], whose connections carry a [`Reset`] switch
//! that the handler gets as its connect info. Once the switch is thrown,
//! the connection's next write fails and, when hyper drops it, the socket
//! is closed with `SO_LINGER` 0, which the kernel turns into an `RST`: the
//! client's next read says "connection reset by peer". Thrown before the
//! response, not one byte of it is sent; thrown from within a body, the
//! bytes already written have gone out first.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The switch that ends one connection with a reset; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Reset(Arc<AtomicBool>);

impl Reset {
    /// Ends the connection with an `RST`: its next write fails, and it is
    /// closed abortively when hyper drops it.
    pub(crate) fn now(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_thrown(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// tokio's listener, its connections wrapped in [`ResettableStream`].
#[derive(Debug)]
pub struct ResettableListener(pub TcpListener);

impl Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept: it retries what a failed accept can cure.
        let (stream, address) = Listener::accept(&mut self.0).await;
        (ResettableStream { stream, reset: Reset::default() }, address)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Each request's handler can throw its connection's switch.
impl Connected<IncomingStream<'_, ResettableListener>> for Reset {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        stream.io().reset.clone()
    }
}

/// A connection whose [`Reset`] switch, once thrown, fails every write and
/// makes its close an `RST`.
#[derive(Debug)]
pub struct ResettableStream {
    stream: TcpStream,
    reset: Reset,
}

impl ResettableStream {
    /// `Some(error)` once the switch is thrown, with `SO_LINGER` set to 0 so
    /// that closing the socket resets it.
    fn refused(&self) -> Option<io::Error> {
        self.reset.is_thrown().then(|| {
            let _ = self.stream.set_zero_linger();
            io::Error::new(io::ErrorKind::ConnectionReset, "origin reset the connection")
        })
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        // A body that ends in an error drops the connection without another
        // write: the linger must be set before the socket is closed.
        let _ = self.refused();
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(err) = self.refused() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.refused() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(err) = self.refused() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(err) = self.refused() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
