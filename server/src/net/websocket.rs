//! The game over WebSocket, for browsers: `GET /ws` upgrades, and from then
//! on one binary message carries one netcode datagram each way, so the
//! connect token, the handshake, replay protection, renet's channels and
//! the payload guard apply exactly as over UDP.
//!
//! Two halves. The [`WsGate`] takes connections on the side thread (tokio)
//! — past the listener's connection gate (`net::conn_gate`: a cap in all
//! and per address, header and idle timeouts, its place given back once
//! the upgrade is done) — and does the HTTP upgrade there: it checks the
//! page's `Origin` and, behind a trusted proxy, takes the forwarded client
//! address (`net::forwarded`), bounds
//! how many links are open in all and how many from one address have not
//! finished the netcode handshake (as netcode bounds half-open
//! connections), and answers 403 or 503 otherwise. An upgraded link's
//! socket then goes to [`WsLinks`], the tick thread's end, which reads and
//! writes it without blocking, as the UDP socket is read and written: each
//! tick reads what every link has (at most the per-peer budget), and the
//! datagrams the tick sends are written out once at its end. A link is
//! closed for a text or oversized message, more than [`MESSAGES_PER_SEC`]
//! messages or [`BYTES_PER_SEC`] bytes a second, no netcode handshake
//! within [`HANDSHAKE_LIMIT`], [`IDLE_LIMIT`] of silence, or more than
//! [`SEND_BUFFER_BYTES`] it has not read (a browser too slow to keep up is
//! dropped, never waited for). No task, wake-up or lock per datagram.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};

use super::conn_gate::{ConnGate, ConnPermit};
use super::forwarded::{AddrKey, TrustedProxies};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::shutdown::Shutdown;

/// Links from one address that have not finished the netcode handshake,
/// at most (loopback peers — this host, or a local proxy — are not held
/// to it; a trusted proxy's clients count by their forwarded address).
pub const HALF_OPEN_PER_ADDR: usize = 16;
/// A link that has not finished the netcode handshake this long after
/// opening is closed.
pub const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// A link with nothing received for this long is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(15);
/// Messages one link may send in a second (a client sends about 60).
pub const MESSAGES_PER_SEC: u32 = 300;
/// Bytes one link may send in a second.
pub const BYTES_PER_SEC: usize = 256 * 1024;
/// Largest message or frame taken (a netcode datagram is at most 1200 bytes).
pub const MAX_MESSAGE_BYTES: usize = tickforge_netcode::MAX_PACKET_BYTES;
/// Bytes written to a link and not yet taken by its peer, at most; past
/// this the link is dropped as too slow.
pub const SEND_BUFFER_BYTES: usize = 256 * 1024;
/// What a link's writes gather before they go out (a tick's datagrams
/// are smaller; the end of the tick sends them anyway).
const WRITE_BATCH_BYTES: usize = 16 * 1024;
/// A link's read buffer.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How long the HTTP upgrade may take.
const UPGRADE_LIMIT: Duration = Duration::from_secs(5);

/// Counters of the WebSocket path, for metrics.
#[derive(Debug, Default)]
pub struct WsMetrics {
    /// Links opened.
    pub opened: AtomicU64,
    /// Upgrades refused for their page origin.
    pub refused_origin: AtomicU64,
    /// Upgrades refused because too many links were open.
    pub refused_busy: AtomicU64,
    /// Links closed for a text, oversized or malformed message.
    pub closed_bad: AtomicU64,
    /// Links closed for silence, or for no handshake in time.
    pub closed_idle: AtomicU64,
    /// Links closed for sending too much.
    pub closed_flood: AtomicU64,
    /// Links dropped because they did not read what was sent to them.
    pub dropped_slow: AtomicU64,
    /// Links open now.
    pub open: AtomicU64,
}

/// How the gate lets links in.
#[derive(Debug, Clone, Default)]
pub struct GatePolicy {
    /// Links open at once, at most.
    pub max_links: usize,
    /// Page origins taken (clients without an `Origin` are not browsers,
    /// and are taken).
    pub allowed_origins: Vec<String>,
    /// Proxies whose forwarding header names the client.
    pub trusted_proxies: TrustedProxies,
}

/// The side thread's half: takes connections and upgrades them.
#[derive(Clone)]
pub struct WsGate {
    links: crossbeam_channel::Sender<NewLink>,
    /// Addresses whose half-open link finished its handshake or ended.
    released_tx: crossbeam_channel::Sender<AddrKey>,
    released: crossbeam_channel::Receiver<AddrKey>,
    next_link: Arc<AtomicU64>,
    /// Half-open links per address (only the gate touches it).
    half_open: Arc<Mutex<HashMap<AddrKey, usize>>>,
    policy: Arc<GatePolicy>,
    metrics: Arc<WsMetrics>,
}

impl std::fmt::Debug for WsGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsGate").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// A link, as the gate hands it to the tick thread.
struct NewLink {
    link: u64,
    remote: SocketAddr,
    socket: WebSocket<TcpStream>,
    ticket: Ticket,
}

/// A link's place in the gate's counts, given back when it ends (and its
/// place among the half-open ones when its handshake is done). Dropping
/// it takes no lock: the address goes back through a channel.
struct Ticket {
    half_open: Option<AddrKey>,
    released: crossbeam_channel::Sender<AddrKey>,
    metrics: Arc<WsMetrics>,
}

impl Ticket {
    /// The handshake is done: the address may open another.
    fn establish(&mut self) {
        if let Some(ip) = self.half_open.take() {
            let _ = self.released.send(ip);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.establish();
        self.metrics.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Both halves, sharing `metrics`.
pub fn channel(policy: GatePolicy, metrics: Arc<WsMetrics>) -> (WsGate, WsLinks) {
    // Bounded by the links' own bound, and read every tick.
    let (links_tx, links_rx) = crossbeam_channel::unbounded();
    let (released_tx, released) = crossbeam_channel::unbounded();
    let gate = WsGate {
        links: links_tx,
        released_tx,
        released,
        next_link: Arc::new(AtomicU64::new(1)),
        half_open: Arc::new(Mutex::new(HashMap::new())),
        policy: Arc::new(policy),
        metrics: metrics.clone(),
    };
    (gate, WsLinks { new: links_rx, links: HashMap::new(), gone: Vec::new(), metrics })
}

/// Whether a page at `origin` may open a link (`None`: not a browser).
fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    match origin {
        None => true,
        Some(origin) => allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)),
    }
}

impl WsGate {
    /// Takes a place for a link from `ip`, if there is room.
    fn admit(&self, ip: IpAddr) -> Option<Ticket> {
        let mut half_open = self.half_open.lock().unwrap_or_else(|p| p.into_inner());
        for done in self.released.try_iter() {
            if let Some(n) = half_open.get_mut(&done) {
                *n -= 1;
                if *n == 0 {
                    half_open.remove(&done);
                }
            }
        }
        let open = self.metrics.open.load(Ordering::Relaxed) as usize;
        let counted = !ip.is_loopback();
        let key = AddrKey::of(ip);
        let mine = half_open.get(&key).copied().unwrap_or(0);
        if open >= self.policy.max_links || (counted && mine >= HALF_OPEN_PER_ADDR) {
            return None;
        }
        if counted {
            half_open.insert(key, mine + 1);
        }
        self.metrics.open.fetch_add(1, Ordering::Relaxed);
        Some(Ticket {
            half_open: counted.then_some(key),
            released: self.released_tx.clone(),
            metrics: self.metrics.clone(),
        })
    }

    /// The client's address: the TCP peer's, or behind a trusted proxy the
    /// one it forwarded.
    fn client_addr(&self, remote: SocketAddr, request: &Request) -> SocketAddr {
        self.policy.trusted_proxies.client(remote, request.headers())
    }

    /// Judges an upgrade request: the path, the origin, the room.
    fn judge(&self, remote: SocketAddr, request: &Request) -> Result<(SocketAddr, Ticket), Box<ErrorResponse>> {
        let refuse = |status: u16, text: &str| {
            let mut response = ErrorResponse::new(Some(format!("{text}\n")));
            *response.status_mut() = tungstenite::http::StatusCode::from_u16(status).unwrap_or_default();
            Box::new(response)
        };
        if request.uri().path() != "/ws" {
            return Err(refuse(404, "the game socket is /ws"));
        }
        let remote = self.client_addr(remote, request);
        let origin = request.headers().get("origin").map(|v| v.to_str().unwrap_or("\u{0}"));
        if !origin_allowed(&self.policy.allowed_origins, origin) {
            self.metrics.refused_origin.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%remote, origin = ?origin, "WebSocket from a page of another origin refused");
            return Err(refuse(403, "origin not allowed"));
        }
        let Some(ticket) = self.admit(remote.ip()) else {
            self.metrics.refused_busy.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%remote, "too many WebSocket links; refused");
            let mut response = refuse(503, "too many connections");
            response.headers_mut().insert("retry-after", tungstenite::http::HeaderValue::from_static("5"));
            return Err(response);
        };
        Ok((remote, ticket))
    }

    /// Upgrades one connection and hands it to the tick thread.
    // The callback's error type is tungstenite's.
    #[allow(clippy::result_large_err)]
    async fn upgrade(self, stream: tokio::net::TcpStream, peer: SocketAddr, permit: ConnPermit) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let gate = self.clone();
        let callback = move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
            let judged = gate.judge(peer, request).map_err(|refusal| *refusal)?;
            let _ = tx.send(judged);
            Ok(response)
        };
        let config = link_config();
        let upgraded = tokio::time::timeout(
            UPGRADE_LIMIT,
            tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)),
        )
        .await;
        let (Ok(Ok(upgraded)), Ok((remote, ticket))) = (upgraded, rx.await) else {
            tracing::debug!(%peer, "WebSocket upgrade refused or failed");
            return;
        };
        // From here the tick thread reads and writes the socket itself.
        let socket = match upgraded.into_inner().into_std().and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(socket) => WebSocket::from_raw_socket(socket, Role::Server, Some(config)),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "cannot hand the WebSocket over");
                return;
            }
        };
        // Upgraded: from here the link counts among the links (its ticket).
        drop(permit);
        let link = self.next_link.fetch_add(1, Ordering::Relaxed);
        self.metrics.opened.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(link, %remote, "WebSocket link open");
        let _ = self.links.send(NewLink { link, remote, socket, ticket });
    }
}

/// Frame and message limits, and the write buffer's bound.
fn link_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
        .max_write_buffer_size(SEND_BUFFER_BYTES)
        // A tick's datagrams go out together, at its end (`WsLinks::flush`).
        .write_buffer_size(WRITE_BATCH_BYTES)
        // A tick's worth of a link's messages at a time, not 128 KiB per link.
        .read_buffer_size(READ_BUFFER_BYTES)
}

/// The WebSocket listener, for the side thread.
#[derive(Debug)]
pub struct Listener {
    /// The bound socket.
    pub listener: std::net::TcpListener,
    /// Who it lets in.
    pub gate: WsGate,
    /// Bounds on connections not yet upgraded (in all, and per address):
    /// beyond them a connection is closed at once.
    pub connections: Arc<ConnGate>,
}

impl Listener {
    /// Takes connections until `shutdown`; each upgrade runs on its own task.
    pub async fn serve(self, shutdown: Shutdown) {
        let listener = match tokio::net::TcpListener::from_std(self.listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot use the WebSocket listener");
                shutdown.trigger();
                return;
            }
        };
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = shutdown.wait() => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = self.connections.admit(peer.ip()) else { continue };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(self.gate.clone().upgrade(stream, peer, permit));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "WebSocket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// A link's messages and bytes in the current second.
#[derive(Debug)]
struct Rate {
    since: Instant,
    messages: u32,
    bytes: usize,
}

impl Rate {
    fn new(now: Instant) -> Self {
        Self { since: now, messages: 0, bytes: 0 }
    }

    /// Counts a message of `len` bytes; `false` past this second's allowance.
    fn take(&mut self, now: Instant, len: usize) -> bool {
        if now.duration_since(self.since) >= Duration::from_secs(1) {
            *self = Self::new(now);
        }
        self.messages += 1;
        self.bytes += len;
        self.messages <= MESSAGES_PER_SEC && self.bytes <= BYTES_PER_SEC
    }
}

/// One open link, on the tick thread.
struct Link {
    socket: WebSocket<TcpStream>,
    remote: SocketAddr,
    ticket: Ticket,
    opened: Instant,
    last_heard: Instant,
    established: bool,
    rate: Rate,
}

/// Why a link is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The peer left, or the socket failed.
    Gone,
    /// Closed with a code and reason.
    Close(CloseCode, &'static str),
}

/// The tick thread's half: the open links.
pub struct WsLinks {
    new: crossbeam_channel::Receiver<NewLink>,
    links: HashMap<u64, Link>,
    /// Links closed or dropped since the last [`WsLinks::take_gone`].
    gone: Vec<(u64, SocketAddr)>,
    metrics: Arc<WsMetrics>,
}

impl std::fmt::Debug for WsLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsLinks").field("links", &self.links.len()).finish_non_exhaustive()
    }
}

impl WsLinks {
    /// Takes the new links, then reads every link without waiting: up to
    /// `per_link` datagrams each, appended to `out` as (link, address,
    /// bytes). Links that broke a rule or fell silent are closed.
    pub fn receive(&mut self, per_link: usize, out: &mut Vec<(u64, SocketAddr, tungstenite::Bytes)>) {
        let now = Instant::now();
        for new in self.new.try_iter() {
            let link = Link {
                socket: new.socket,
                remote: new.remote,
                ticket: new.ticket,
                opened: now,
                last_heard: now,
                established: false,
                rate: Rate::new(now),
            };
            self.links.insert(new.link, link);
        }
        let mut ended = Vec::new();
        for (&id, link) in &mut self.links {
            if let Some(ending) = read_link(id, link, now, per_link, out, &self.metrics) {
                ended.push((id, ending));
            }
        }
        for (id, ending) in ended {
            self.end(id, ending);
        }
    }

    /// Closes (with a close frame, best effort) and forgets a link.
    fn end(&mut self, id: u64, ending: Ending) {
        let Some(mut link) = self.links.remove(&id) else { return };
        if let Ending::Close(code, reason) = ending {
            let _ = link.socket.close(Some(CloseFrame { code, reason: reason.into() }));
            let _ = link.socket.flush();
        }
        tracing::debug!(link = id, remote = %link.remote, ?ending, "WebSocket link closed");
        self.gone.push((id, link.remote));
    }

    /// The link's netcode handshake is done: it is no longer half-open.
    pub fn established(&mut self, id: u64) {
        if let Some(link) = self.links.get_mut(&id) {
            link.established = true;
            link.ticket.establish();
        }
    }

    /// Queues a datagram to a link (written out by [`WsLinks::flush`]). A
    /// link holding more than [`SEND_BUFFER_BYTES`] unread is dropped;
    /// `false` if the link is gone.
    pub fn send(&mut self, id: u64, datagram: &[u8]) -> bool {
        let Some(link) = self.links.get_mut(&id) else { return false };
        match link.socket.write(Message::Binary(tungstenite::Bytes::copy_from_slice(datagram))) {
            Ok(()) => true,
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                self.metrics.dropped_slow.fetch_add(1, Ordering::Relaxed);
                tracing::info!(link = id, "WebSocket client too slow to read; dropping it");
                self.end(id, Ending::Gone);
                false
            }
            Err(e) if would_block(&e) => true,
            Err(_) => {
                self.end(id, Ending::Gone);
                false
            }
        }
    }

    /// Writes what every link has queued, as far as each socket takes it.
    pub fn flush(&mut self) {
        let mut failed = Vec::new();
        for (&id, link) in &mut self.links {
            match link.socket.flush() {
                Ok(()) => {}
                Err(e) if would_block(&e) => {}
                Err(_) => failed.push(id),
            }
        }
        for id in failed {
            self.end(id, Ending::Gone);
        }
    }

    /// Links closed or dropped since the last call (their netcode
    /// connections end now rather than at their timeout).
    pub fn take_gone(&mut self) -> Vec<(u64, SocketAddr)> {
        std::mem::take(&mut self.gone)
    }

    /// Links open.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// No link is open.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// Whether a WebSocket error only means "not now".
fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// Reads one link's waiting messages; why it must end, if it must.
fn read_link(
    id: u64,
    link: &mut Link,
    now: Instant,
    per_link: usize,
    out: &mut Vec<(u64, SocketAddr, tungstenite::Bytes)>,
    metrics: &WsMetrics,
) -> Option<Ending> {
    for _ in 0..per_link {
        match link.socket.read() {
            Ok(Message::Binary(bytes)) => {
                link.last_heard = now;
                if bytes.is_empty() {
                    metrics.closed_bad.fetch_add(1, Ordering::Relaxed);
                    return Some(Ending::Close(CloseCode::Size, "a datagram is 1..=1200 bytes"));
                }
                if !link.rate.take(now, bytes.len()) {
                    metrics.closed_flood.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(link = id, remote = %link.remote, "WebSocket link sends too much; closing");
                    return Some(Ending::Close(CloseCode::Policy, "too many messages"));
                }
                out.push((id, link.remote, bytes));
            }
            Ok(Message::Text(_)) => {
                metrics.closed_bad.fetch_add(1, Ordering::Relaxed);
                return Some(Ending::Close(CloseCode::Unsupported, "binary messages only"));
            }
            Ok(Message::Close(_)) => return Some(Ending::Gone),
            Ok(_) => link.last_heard = now,
            Err(e) if would_block(&e) => break,
            // Oversized, fragmented past the limit, bad framing or UTF-8.
            Err(tungstenite::Error::Capacity(_)) => {
                metrics.closed_bad.fetch_add(1, Ordering::Relaxed);
                return Some(Ending::Close(CloseCode::Size, "a datagram is 1..=1200 bytes"));
            }
            Err(tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_)) => {
                metrics.closed_bad.fetch_add(1, Ordering::Relaxed);
                return Some(Ending::Close(CloseCode::Protocol, "bad frame"));
            }
            Err(_) => return Some(Ending::Gone),
        }
    }
    if !link.established && now.duration_since(link.opened) > HANDSHAKE_LIMIT {
        metrics.closed_idle.fetch_add(1, Ordering::Relaxed);
        return Some(Ending::Close(CloseCode::Policy, "no netcode handshake in time"));
    }
    if now.duration_since(link.last_heard) > IDLE_LIMIT {
        metrics.closed_idle.fetch_add(1, Ordering::Relaxed);
        return Some(Ending::Close(CloseCode::Normal, "idle"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_links: usize) -> GatePolicy {
        GatePolicy { max_links, ..GatePolicy::default() }
    }

    #[test]
    fn only_the_allowed_page_origins_and_non_browsers_get_in() {
        let allowed = vec!["http://127.0.0.1:7000".to_owned(), "https://play.example/".to_owned()];
        assert!(origin_allowed(&allowed, None));
        assert!(origin_allowed(&allowed, Some("http://127.0.0.1:7000")));
        assert!(origin_allowed(&allowed, Some("https://PLAY.example")));
        assert!(!origin_allowed(&allowed, Some("http://127.0.0.1:7001")));
        assert!(!origin_allowed(&allowed, Some("null")));
        assert!(!origin_allowed(&[], Some("http://127.0.0.1:7000")));
    }

    #[test]
    fn links_are_bounded_in_all_and_half_open_ones_per_address() {
        let (gate, _links) = channel(policy(3), Arc::default());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = gate.admit(a).expect("room");
        let _second = gate.admit(a).expect("room");
        let _third = gate.admit(b).expect("room");
        assert!(gate.admit(b).is_none(), "three in all");
        drop(first);
        assert!(gate.admit(b).is_some(), "an ended link's place is free again");

        let (many, _links) = channel(policy(usize::MAX), Arc::default());
        let mut tickets: Vec<_> = (0..HALF_OPEN_PER_ADDR).map(|_| many.admit(a).expect("room")).collect();
        assert!(many.admit(a).is_none(), "{HALF_OPEN_PER_ADDR} half-open per address");
        assert!(many.admit(b).is_some(), "another address has its own");
        tickets[0].establish();
        let another = many.admit(a).expect("an established link no longer counts as half-open");
        assert!(many.admit(a).is_none());
        drop(another);
        drop(tickets);
        let loopback: IpAddr = [127, 0, 0, 1].into();
        let local: Vec<_> = (0..HALF_OPEN_PER_ADDR * 2).map(|_| many.admit(loopback).expect("room")).collect();
        assert_eq!(local.len(), HALF_OPEN_PER_ADDR * 2, "this host (or a local proxy) is not held to it");
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_nobody_else_can() {
        let proxy: IpAddr = [10, 0, 0, 9].into();
        let trusted_proxies = TrustedProxies { addrs: vec![proxy.into()], ..TrustedProxies::default() };
        let policy = GatePolicy { max_links: 8, trusted_proxies, ..GatePolicy::default() };
        let (gate, _links) = channel(policy, Arc::default());
        let request = Request::builder().uri("/ws").header("x-forwarded-for", "1.2.3.4, 203.0.113.7").body(()).unwrap();
        let via_proxy = gate.client_addr(SocketAddr::new(proxy, 5000), &request);
        assert_eq!(via_proxy.ip(), "203.0.113.7".parse::<IpAddr>().unwrap(), "the address the proxy appended");
        let direct: SocketAddr = ([198, 51, 100, 1], 5000).into();
        assert_eq!(gate.client_addr(direct, &request), direct, "a header from anyone else means nothing");
    }

    #[test]
    fn upgrades_elsewhere_than_ws_or_from_other_pages_are_refused() {
        let policy = GatePolicy { max_links: 8, allowed_origins: vec!["http://127.0.0.1:7000".into()], ..policy(8) };
        let (gate, _links) = channel(policy, Arc::default());
        let peer: SocketAddr = ([10, 0, 0, 1], 5000).into();
        let request =
            |path: &str, origin: &str| Request::builder().uri(path).header("origin", origin).body(()).unwrap();
        let status = |r: Result<(SocketAddr, Ticket), Box<ErrorResponse>>| r.err().map(|e| e.status().as_u16());
        assert_eq!(status(gate.judge(peer, &request("/other", "http://127.0.0.1:7000"))), Some(404));
        assert_eq!(status(gate.judge(peer, &request("/ws", "http://evil.example"))), Some(403));
        assert_eq!(status(gate.judge(peer, &request("/ws", "http://127.0.0.1:7000"))), None);
    }

    #[test]
    fn a_link_sending_too_much_in_a_second_is_stopped() {
        let now = Instant::now();
        let mut rate = Rate::new(now);
        assert!((0..MESSAGES_PER_SEC).all(|_| rate.take(now, 10)));
        assert!(!rate.take(now, 10));
        assert!(rate.take(now + Duration::from_secs(1), 10), "a new second, a new allowance");
        let mut bytes = Rate::new(now);
        assert!(bytes.take(now, BYTES_PER_SEC));
        assert!(!bytes.take(now, 1));
    }
}
