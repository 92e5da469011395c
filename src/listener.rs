//! What a client connection may do before its request has been read. Pingora bounds each read
//! of a request's header with one timeout, so a client that sends a header line every few
//! seconds could hold a connection (and its buffers) indefinitely. Here every connection's
//! stream is wrapped before Pingora reads from it:
//!
//! - a **header deadline**: a request's header must be complete within `header_read_timeout`
//!   of its first byte (of the connection's start, for the first request); past it, reads fail
//!   and Pingora closes the connection;
//! - a **bound on pending connections**: at most `max_pending` connections may be waiting for a
//!   header at once; a new connection beyond that is closed at once (counted).
//!
//! The wrapper watches the bytes only while a header is awaited (for the blank line that ends
//! it); after that, reads and writes pass straight through.

use crate::metrics;
use async_trait::async_trait;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType, ALPN,
};
use pingora_core::server::ShutdownWatch;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The limits, shared by every connection of a listener.
#[derive(Debug)]
pub struct Limits {
    pub header_deadline: Duration,
    pub max_pending: usize,
    pending: AtomicUsize,
}

impl Limits {
    pub fn new(header_deadline: Duration, max_pending: usize) -> Arc<Self> {
        Arc::new(Self {
            header_deadline,
            max_pending,
            pending: AtomicUsize::new(0),
        })
    }

    /// Connections waiting for a request header now.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    fn enter(&self) -> bool {
        let before = self.pending.fetch_add(1, Ordering::AcqRel);
        if before >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        metrics::PENDING_HEADERS.set((before + 1) as i64);
        true
    }

    fn leave(&self) {
        let after = self.pending.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::PENDING_HEADERS.set(after as i64);
    }
}

/// Where a connection is in its request/response cycle, as far as reads show.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a header; the clock runs. `tail` holds the last bytes read, to see a
    /// blank line split across reads.
    Header { tail: [u8; 3] },
    /// The header is in; body reads and the answer pass through.
    Message { wrote: bool },
}

/// A downstream stream with a header deadline.
pub struct Guarded {
    inner: Stream,
    limits: Arc<Limits>,
    phase: Phase,
    /// Set while a header is awaited: when it must be complete.
    timer: Option<Pin<Box<Sleep>>>,
    counted: bool,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("phase", &self.phase)
            .finish()
    }
}

/// Does `bytes`, read after `tail`, complete a header (a blank line: `\r\n\r\n` or `\n\n`)?
/// Returns the updated tail.
fn header_ends(tail: [u8; 3], bytes: &[u8]) -> (bool, [u8; 3]) {
    let mut window = Vec::with_capacity(3 + bytes.len());
    window.extend_from_slice(&tail);
    window.extend_from_slice(bytes);
    let done = memchr::memmem::find(&window, b"\r\n\r\n").is_some()
        || memchr::memmem::find(&window, b"\n\n").is_some();
    let mut next = [0u8; 3];
    let n = window.len();
    next.copy_from_slice(&window[n - 3..]);
    (done, next)
}

impl Guarded {
    /// `None`: too many connections wait for a header already; this one is turned away.
    pub fn new(inner: Stream, limits: Arc<Limits>) -> Option<Self> {
        if !limits.enter() {
            metrics::CONNECTIONS_REFUSED
                .with_label_values(&["pending_headers"])
                .inc();
            return None;
        }
        let deadline = Instant::now() + limits.header_deadline;
        Some(Self {
            inner,
            limits,
            phase: Phase::Header { tail: [0; 3] },
            timer: Some(Box::pin(tokio::time::sleep_until(deadline))),
            counted: true,
        })
    }

    fn header_done(&mut self) {
        self.phase = Phase::Message { wrote: false };
        self.timer = None;
        if std::mem::take(&mut self.counted) {
            self.limits.leave();
        }
    }

    /// The next request on a kept-alive connection starts: its header is awaited again.
    fn next_header(&mut self) {
        self.phase = Phase::Header { tail: [0; 3] };
        self.timer = Some(Box::pin(tokio::time::sleep_until(
            Instant::now() + self.limits.header_deadline,
        )));
        // Kept-alive connections count against the bound only while their header dribbles in;
        // a full bound does not cut a connection that already had one request answered.
        self.counted = self.limits.enter();
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.counted {
            self.limits.leave();
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(timer) = this.timer.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                metrics::CONNECTIONS_REFUSED
                    .with_label_values(&["header_timeout"])
                    .inc();
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request header not complete within header_read_timeout_ms",
                )));
            }
        }
        let filled = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = &buf.filled()[filled..];
            if !new.is_empty() {
                if let Phase::Message { wrote: true } = this.phase {
                    // Bytes after an answer went out: the next request's header begins.
                    this.next_header();
                }
                if let Phase::Header { tail } = this.phase {
                    let (done, tail) = header_ends(tail, new);
                    if done {
                        this.header_done();
                    } else {
                        this.phase = Phase::Header { tail };
                    }
                }
            }
        }
        res
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Phase::Message { wrote } = &mut self.phase {
            *wrote = true;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Phase::Message { wrote } = &mut self.phase {
            *wrote = true;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {
    fn get_ssl(&self) -> Option<&pingora_core::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<pingora_core::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<pingora_core::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<pingora_core::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
    fn set_proxy_digest(&mut self, digest: pingora_core::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<pingora_core::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }
    fn set_socket_digest(&mut self, digest: pingora_core::protocols::SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for Guarded {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

/// A `ServerApp` (the Pingora proxy) behind the guard.
pub struct GuardedApp<A> {
    pub inner: Arc<A>,
    pub limits: Arc<Limits>,
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for GuardedApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let guarded = Guarded::new(stream, self.limits.clone())?;
        self.inner.process_new(Box::new(guarded), shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_blank_line_ends_a_header_wherever_the_reads_split_it() {
        let text = b"POST /v1/x HTTP/1.1\r\nHost: a\r\n\r\nbody";
        let end = memchr::memmem::find(text, b"\r\n\r\n").unwrap() + 4;
        for cut in 1..text.len() {
            let (first, tail) = header_ends([0; 3], &text[..cut]);
            let (second, _) = header_ends(tail, &text[cut..]);
            assert_eq!(first, cut >= end, "cut {cut}");
            assert!(first || second, "cut {cut}");
        }
        assert!(!header_ends([0; 3], b"GET / HTTP/1.1\r\nHost: a\r\n").0);
        assert!(header_ends([0; 3], b"GET / HTTP/1.0\n\n").0);
    }

    /// An in-memory connection that Pingora's stream traits accept.
    #[derive(Debug)]
    struct Pipe(tokio::io::DuplexStream);

    impl AsyncRead for Pipe {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Pipe {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    #[async_trait]
    impl Shutdown for Pipe {
        async fn shutdown(&mut self) {}
    }
    impl UniqueID for Pipe {
        fn id(&self) -> UniqueIDType {
            0
        }
    }
    impl Ssl for Pipe {}
    impl GetTimingDigest for Pipe {
        fn get_timing_digest(&self) -> Vec<Option<pingora_core::protocols::TimingDigest>> {
            Vec::new()
        }
    }
    impl GetProxyDigest for Pipe {
        fn get_proxy_digest(
            &self,
        ) -> Option<Arc<pingora_core::protocols::raw_connect::ProxyDigest>> {
            None
        }
    }
    impl GetSocketDigest for Pipe {
        fn get_socket_digest(&self) -> Option<Arc<pingora_core::protocols::SocketDigest>> {
            None
        }
    }
    #[async_trait]
    impl Peek for Pipe {}

    fn stream() -> (tokio::io::DuplexStream, Stream) {
        let (client, server) = tokio::io::duplex(1 << 16);
        (client, Box::new(Pipe(server)))
    }

    #[test]
    fn a_header_that_dribbles_past_the_deadline_fails_the_read() {
        block_on(async {
            let limits = Limits::new(Duration::from_millis(100), 10);
            let (mut client, server) = stream();
            let mut g = Guarded::new(server, limits.clone()).unwrap();
            assert_eq!(limits.pending(), 1);
            client.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
            let mut buf = [0u8; 64];
            assert!(g.read(&mut buf).await.is_ok());
            // The client sends nothing more: the read fails at the deadline, not after it.
            let started = Instant::now();
            let err = g.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(started.elapsed() < Duration::from_secs(2));
            drop(g);
            assert_eq!(limits.pending(), 0, "counted while pending only");
        });
    }

    #[test]
    fn a_complete_header_stops_the_clock_until_the_next_request() {
        block_on(async {
            let limits = Limits::new(Duration::from_millis(50), 10);
            let (mut client, server) = stream();
            let mut g = Guarded::new(server, limits.clone()).unwrap();
            client
                .write_all(b"GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 128];
            assert!(g.read(&mut buf).await.unwrap() > 0);
            assert_eq!(limits.pending(), 0);
            // A slow body or a long answer is not the header's business.
            tokio::time::sleep(Duration::from_millis(120)).await;
            client.write_all(b"late body").await.unwrap();
            assert_eq!(g.read(&mut buf).await.unwrap(), 9);
            g.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            // The next request's header starts the clock again.
            client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            assert!(g.read(&mut buf).await.unwrap() > 0);
            assert_eq!(limits.pending(), 1);
            let err = g.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn connections_beyond_the_bound_are_turned_away() {
        block_on(async {
            let limits = Limits::new(Duration::from_secs(10), 2);
            let (_c1, s1) = stream();
            let (_c2, s2) = stream();
            let (_c3, s3) = stream();
            let g1 = Guarded::new(s1, limits.clone()).unwrap();
            let _g2 = Guarded::new(s2, limits.clone()).unwrap();
            assert!(Guarded::new(s3, limits.clone()).is_none());
            drop(g1);
            let (_c4, s4) = stream();
            assert!(Guarded::new(s4, limits.clone()).is_some(), "room again");
        });
    }
}
