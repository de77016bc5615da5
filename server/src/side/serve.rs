//! One HTTP listener: accept, bound, serve.
//!
//! The accept loop asks the listener's [`ConnGate`] for a place before it
//! reads a byte: a connection beyond the bounds (in all, per address) is
//! closed at once. Each admitted connection is its own task, holding its
//! place until it ends: a TLS handshake, if any, within the header
//! timeout; then HTTP/1.1 (hyper) with
//!
//! - a **header timeout**: a request's head must arrive whole within
//!   [`Timeouts::header`] of the connection being ready for one (hyper's
//!   own timer), so half a request line holds nothing for long;
//! - an **idle timeout**: a connection that has sent nothing since its last
//!   answer for [`Timeouts::idle`] is closed (keep-alive has a limit);
//! - at shutdown, each connection finishes the request it is serving and
//!   closes.
//!
//! Requests reach the router with the TCP peer in their extensions
//! ([`Peer`]); [`super::front`] turns it into the client's address.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::net::conn_gate::{ConnGate, ConnPermit, ListenerMetrics};
use crate::shutdown::Shutdown;

/// Most bytes of one request head (line and headers) hyper buffers.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long a connection may take over each part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A TLS handshake, or a request head from the moment the connection is ready for one.
    pub header: Duration,
    /// Silence between one answer and the next request.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { header: Duration::from_secs(10), idle: Duration::from_secs(5) }
    }
}

/// The TCP peer of a request, as the connection saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Accepts on `listener` until `shutdown`, then waits for the open
/// connections to finish their requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gate: Arc<ConnGate>,
    app: Router,
    tls: Option<TlsAcceptor>,
    timeouts: Timeouts,
    shutdown: Shutdown,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut accept_errors_logged: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.wait() => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors (the budget should prevent it) or a
                // connection reset before it was taken: wait a moment.
                if accept_errors_logged.is_none_or(|at| at.elapsed() >= crate::net::conn_gate::LOG_EVERY) {
                    tracing::warn!(listener = gate.name(), error = %e, "accept failed");
                    accept_errors_logged = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = gate.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let connection = Connection {
            permit,
            peer,
            app: app.clone(),
            timeouts,
            metrics: gate.metrics().clone(),
            shutdown: shutdown.clone(),
        };
        connections.spawn(connection.run(stream, tls.clone()));
    }
    while connections.join_next().await.is_some() {}
}

/// One admitted connection.
struct Connection {
    /// Its place in the listener's counts, held until it ends.
    permit: ConnPermit,
    peer: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    metrics: Arc<ListenerMetrics>,
    shutdown: Shutdown,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        // A small answer (or a WebSocket datagram) goes out at once.
        let _ = stream.set_nodelay(true);
        match tls {
            None => self.http(stream).await,
            Some(acceptor) => match tokio::time::timeout(self.timeouts.header, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => self.http(tls).await,
                Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
                Err(_) => {
                    self.metrics.closed_header_timeout.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                }
            },
        }
    }

    async fn http<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, io: S) {
        let Connection { permit, peer, app, timeouts, metrics, shutdown } = self;
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched { inner: io, activity: activity.clone() });
        let service = Handler { app, peer, activity: activity.clone() };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(timeouts.header)
            .max_buf_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            let idle_left = timeouts.idle.saturating_sub(activity.idle_for());
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        if e.is_timeout() {
                            metrics.closed_header_timeout.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                    break;
                }
                () = shutdown.wait(), if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = tokio::time::sleep(idle_left.max(Duration::from_millis(50))), if !closing => {
                    if activity.idle_for() >= timeouts.idle {
                        metrics.closed_idle.fetch_add(1, Ordering::Relaxed);
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        drop(permit);
    }
}

/// What a connection has been doing: requests being answered, bytes read,
/// and since when it has been waiting for the next request.
struct Activity {
    started: Instant,
    in_flight: AtomicU32,
    reads: AtomicU64,
    /// `reads` when the connection last fell idle (its last answer).
    reads_at_idle: AtomicU64,
    /// When it last fell idle, in milliseconds since `started`.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            in_flight: AtomicU32::new(0),
            reads: AtomicU64::new(0),
            reads_at_idle: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// How long it has sent nothing with no request being answered (zero
    /// while one is, or once a byte of the next one came).
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0
            || self.reads.load(Ordering::Relaxed) != self.reads_at_idle.load(Ordering::Relaxed)
        {
            return Duration::ZERO;
        }
        Duration::from_millis(self.now_ms().saturating_sub(self.idle_since_ms.load(Ordering::Relaxed)))
    }

    fn begin(self: &Arc<Self>) -> Answering {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Answering(self.clone())
    }
}

/// A request being answered; when it ends, the connection is idle from then.
struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        let a = &self.0;
        a.reads_at_idle.store(a.reads.load(Ordering::Relaxed), Ordering::Relaxed);
        a.idle_since_ms.store(a.now_ms(), Ordering::Relaxed);
        a.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's stream, counting reads that brought bytes.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Hands each request to the router with its [`Peer`], and marks the
/// connection busy while it is answered.
struct Handler {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Handler {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let answering = self.activity.begin();
        let mut request: Request = request.map(Body::new);
        request.extensions_mut().insert(Peer(self.peer));
        let mut app = self.app.clone();
        Box::pin(async move {
            let response = tower_service::Service::call(&mut app, request).await;
            drop(answering);
            response
        })
    }
}
