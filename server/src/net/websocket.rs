//! The game over WebSocket, for browsers: `GET /ws` upgrades, and from then
//! on one binary message carries one netcode datagram each way, so the
//! connect token, the handshake, replay protection, renet's channels and
//! the payload guard apply exactly as over UDP.
//!
//! Two halves meet through channels. The [`WsGate`] serves the upgrades on
//! the side thread (tokio): it checks the page's `Origin`, bounds how many
//! links are open in all and how many from one address have not finished
//! the netcode handshake (as netcode bounds half-open connections), caps
//! frame and message sizes and each link's message rate, closes text and
//! oversized messages, links that do not finish the handshake within
//! [`HANDSHAKE_LIMIT`] and links that fall silent. [`WsLinks`] is the tick
//! thread's end: it reads what the links received without waiting, and
//! hands each link's datagrams to a bounded queue — a browser too slow to
//! drain it is dropped, never waited for. Links' openings and closings
//! travel apart from their datagrams (at most two per link), so a flood of
//! datagrams never loses one.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::auth::PeerAddr;
use crate::shutdown::Shutdown;

/// Datagrams queued toward one link, at most; a fuller queue drops the link.
pub const SEND_QUEUE: usize = 256;
/// Datagrams from every link waiting for the tick, at most (more are
/// dropped, as a full socket buffer drops them).
pub const INBOX: usize = 16 * 1024;
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

/// What a link tells the tick thread.
#[derive(Debug)]
pub enum WsEvent {
    /// A link opened; datagrams for it go to `outbox`.
    Opened {
        /// Its number.
        link: u64,
        /// The address it came from.
        remote: SocketAddr,
        /// Its send queue.
        outbox: mpsc::Sender<Vec<u8>>,
        /// Set by the tick thread once its netcode handshake is done.
        established: Arc<AtomicBool>,
    },
    /// A datagram arrived on a link.
    Datagram {
        /// Its number.
        link: u64,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// A link closed.
    Closed {
        /// Its number.
        link: u64,
    },
}

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
    /// Links dropped because their send queue was full.
    pub dropped_slow: AtomicU64,
    /// Datagrams dropped because the tick's inbox was full.
    pub inbox_full: AtomicU64,
    /// Links open now.
    pub open: AtomicU64,
}

/// The side thread's half: serves `/ws` upgrades.
#[derive(Clone)]
pub struct WsGate {
    events: crossbeam_channel::Sender<WsEvent>,
    control: crossbeam_channel::Sender<WsEvent>,
    next_link: Arc<AtomicU64>,
    per_addr: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_links: usize,
    allowed_origins: Arc<Vec<String>>,
    trusted_proxies: Arc<Vec<IpAddr>>,
    metrics: Arc<WsMetrics>,
    shutdown: Shutdown,
}

impl std::fmt::Debug for WsGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsGate").field("allowed_origins", &self.allowed_origins).finish_non_exhaustive()
    }
}

/// The tick thread's half: the open links and what they received.
pub struct WsLinks {
    events: crossbeam_channel::Receiver<WsEvent>,
    control: crossbeam_channel::Receiver<WsEvent>,
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

/// One open link, as the tick thread sees it.
struct Link {
    outbox: mpsc::Sender<Vec<u8>>,
    remote: SocketAddr,
    established: Arc<AtomicBool>,
}

/// How the gate lets links in.
#[derive(Debug, Clone, Default)]
pub struct GatePolicy {
    /// Links open at once, at most.
    pub max_links: usize,
    /// Page origins taken (clients without an `Origin` are not browsers,
    /// and are taken).
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Both halves, sharing `metrics`.
pub fn channel(policy: GatePolicy, metrics: Arc<WsMetrics>, shutdown: Shutdown) -> (WsGate, WsLinks) {
    let (tx, rx) = crossbeam_channel::bounded(INBOX);
    // Two events per link, and links are bounded: no bound needed here.
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let gate = WsGate {
        events: tx,
        control: control_tx,
        next_link: Arc::new(AtomicU64::new(1)),
        per_addr: Arc::new(Mutex::new(HashMap::new())),
        max_links: policy.max_links,
        allowed_origins: Arc::new(policy.allowed_origins),
        trusted_proxies: Arc::new(policy.trusted_proxies),
        metrics: metrics.clone(),
        shutdown,
    };
    (gate, WsLinks { events: rx, control: control_rx, links: HashMap::new(), gone: Vec::new(), metrics })
}

impl WsLinks {
    /// The next datagram a link received, without waiting: the link, the
    /// address it came from, the bytes.
    pub fn try_recv(&mut self) -> Option<(u64, SocketAddr, Vec<u8>)> {
        self.read_control();
        loop {
            let WsEvent::Datagram { link, bytes } = self.events.try_recv().ok()? else { continue };
            // A link's opening is sent before its first datagram: one not
            // seen yet is on the control channel now.
            if !self.links.contains_key(&link) {
                self.read_control();
            }
            // A link dropped as slow may still have datagrams queued.
            if let Some(open) = self.links.get(&link) {
                return Some((link, open.remote, bytes));
            }
        }
    }

    /// Applies the links' openings and closings.
    fn read_control(&mut self) {
        while let Ok(event) = self.control.try_recv() {
            match event {
                WsEvent::Opened { link, remote, outbox, established } => {
                    self.links.insert(link, Link { outbox, remote, established });
                }
                WsEvent::Closed { link } => {
                    if let Some(open) = self.links.remove(&link) {
                        self.gone.push((link, open.remote));
                    }
                }
                WsEvent::Datagram { .. } => {}
            }
        }
    }

    /// The link's netcode handshake is done: it is no longer half-open.
    pub fn established(&self, link: u64) {
        if let Some(open) = self.links.get(&link) {
            open.established.store(true, Ordering::Relaxed);
        }
    }

    /// Links closed or dropped since the last call (their netcode
    /// connections end now rather than at their timeout).
    pub fn take_gone(&mut self) -> Vec<(u64, SocketAddr)> {
        self.read_control();
        std::mem::take(&mut self.gone)
    }

    /// Queues a datagram to a link. A link whose queue is full is dropped
    /// (its task closes the socket); `false` if the link is gone.
    pub fn send(&mut self, link: u64, datagram: &[u8]) -> bool {
        let Some(open) = self.links.get(&link) else { return false };
        let remote = open.remote;
        match open.outbox.try_send(datagram.to_vec()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped_slow.fetch_add(1, Ordering::Relaxed);
                tracing::info!(link, queue = SEND_QUEUE, "WebSocket client too slow to read; dropping it");
                self.links.remove(&link);
                self.gone.push((link, remote));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.links.remove(&link);
                self.gone.push((link, remote));
                false
            }
        }
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

/// The router of the WebSocket listener: `GET /ws`.
pub fn router(gate: WsGate) -> axum::Router {
    axum::Router::new().route("/ws", axum::routing::get(upgrade)).with_state(gate)
}

/// Whether a page at `origin` may open a link (`None`: not a browser).
fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    match origin {
        None => true,
        Some(origin) => allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)),
    }
}

/// Counts a link in all, and against its address while it is half-open.
struct Slot {
    per_addr: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// The address it counts against while half-open (`None`: not held
    /// to the per-address bound, or no longer half-open).
    half_open: Option<IpAddr>,
    metrics: Arc<WsMetrics>,
}

impl Slot {
    /// The handshake is done: the address may open another.
    fn establish(&mut self) {
        if let Some(ip) = self.half_open.take() {
            let mut per_addr = self.per_addr.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = per_addr.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_addr.remove(&ip);
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.establish();
        self.metrics.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WsGate {
    /// Takes a slot for a link from `ip`, if there is room.
    fn take_slot(&self, ip: IpAddr) -> Option<Slot> {
        let mut per_addr = self.per_addr.lock().unwrap_or_else(|p| p.into_inner());
        let open = self.metrics.open.load(Ordering::Relaxed) as usize;
        let counted = !ip.is_loopback();
        let mine = per_addr.get(&ip).copied().unwrap_or(0);
        if open >= self.max_links || (counted && mine >= HALF_OPEN_PER_ADDR) {
            return None;
        }
        if counted {
            per_addr.insert(ip, mine + 1);
        }
        self.metrics.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot { per_addr: self.per_addr.clone(), half_open: counted.then_some(ip), metrics: self.metrics.clone() })
    }

    /// The client's address: the TCP peer's, or for a trusted proxy the
    /// last address it appended to `X-Forwarded-For`.
    fn client_addr(&self, remote: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusted_proxies.contains(&remote.ip()) {
            return remote;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        forwarded.map_or(remote, |ip| SocketAddr::new(ip, remote.port()))
    }
}

async fn upgrade(
    State(gate): State<WsGate>,
    ConnectInfo(PeerAddr(remote)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let remote = gate.client_addr(remote, &headers);
    let origin = headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("\u{0}"));
    if !origin_allowed(&gate.allowed_origins, origin) {
        gate.metrics.refused_origin.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%remote, origin = ?origin, "WebSocket from a page of another origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let Some(slot) = gate.take_slot(remote.ip()) else {
        gate.metrics.refused_busy.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%remote, "too many WebSocket links; refused");
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], "too many connections\n")
            .into_response();
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run_link(gate, socket, remote, slot))
}

/// One link's life: its datagrams to the tick thread, the tick thread's
/// to it, until either side ends, it falls silent, or the server stops.
async fn run_link(gate: WsGate, mut socket: WebSocket, remote: SocketAddr, mut slot: Slot) {
    let link = gate.next_link.fetch_add(1, Ordering::Relaxed);
    let (outbox, mut queued) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
    let established = Arc::new(AtomicBool::new(false));
    gate.metrics.opened.fetch_add(1, Ordering::Relaxed);
    if gate.control.send(WsEvent::Opened { link, remote, outbox, established: established.clone() }).is_err() {
        return;
    }
    tracing::debug!(link, %remote, "WebSocket link open");
    let handshake_by = tokio::time::Instant::now() + HANDSHAKE_LIMIT;
    let mut rate = Rate::default();
    let why = loop {
        if slot.half_open.is_some() && established.load(Ordering::Relaxed) {
            slot.establish();
        }
        let half_open = !established.load(Ordering::Relaxed);
        tokio::select! {
            () = tokio::time::sleep_until(handshake_by), if half_open => {
                gate.metrics.closed_idle.fetch_add(1, Ordering::Relaxed);
                break Some((1008, "no netcode handshake in time"));
            }
            received = tokio::time::timeout(IDLE_LIMIT, socket.recv()) => match received {
                Err(_) => {
                    gate.metrics.closed_idle.fetch_add(1, Ordering::Relaxed);
                    break Some((1000, "idle"));
                }
                Ok(None | Some(Ok(Message::Close(_)))) => break None,
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    if bytes.is_empty() || bytes.len() > MAX_MESSAGE_BYTES {
                        gate.metrics.closed_bad.fetch_add(1, Ordering::Relaxed);
                        break Some((1009, "a datagram is 1..=1200 bytes"));
                    }
                    if !rate.take(bytes.len()) {
                        gate.metrics.closed_flood.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(link, %remote, "WebSocket link sends too much; closing");
                        break Some((1008, "too many messages"));
                    }
                    if gate.events.try_send(WsEvent::Datagram { link, bytes: bytes.to_vec() }).is_err() {
                        gate.metrics.inbox_full.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Some(Ok(Message::Text(_)))) => {
                    gate.metrics.closed_bad.fetch_add(1, Ordering::Relaxed);
                    break Some((1003, "binary messages only"));
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                // Oversized, fragmented past the limit, bad framing or UTF-8.
                Ok(Some(Err(e))) => {
                    gate.metrics.closed_bad.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(link, error = %e, "bad WebSocket frame; closing");
                    break None;
                }
            },
            datagram = queued.recv() => match datagram {
                Some(bytes) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        break None;
                    }
                }
                // The tick thread dropped the link (too slow) or stopped.
                None => break Some((1013, "dropped")),
            },
            () = gate.shutdown.wait() => break Some((1001, "server shutting down")),
        }
    };
    if let Some((code, reason)) = why {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(frame)))).await;
    }
    let _ = gate.control.send(WsEvent::Closed { link });
    drop(slot);
    tracing::debug!(link, %remote, "WebSocket link closed");
}

/// A link's messages and bytes in the current second.
#[derive(Debug)]
struct Rate {
    since: tokio::time::Instant,
    messages: u32,
    bytes: usize,
}

impl Default for Rate {
    fn default() -> Self {
        Self { since: tokio::time::Instant::now(), messages: 0, bytes: 0 }
    }
}

impl Rate {
    /// Counts a message of `len` bytes; `false` past this second's allowance.
    fn take(&mut self, len: usize) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.since) >= Duration::from_secs(1) {
            *self = Self { since: now, messages: 0, bytes: 0 };
        }
        self.messages += 1;
        self.bytes += len;
        self.messages <= MESSAGES_PER_SEC && self.bytes <= BYTES_PER_SEC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn policy(max_links: usize) -> GatePolicy {
        GatePolicy { max_links, ..GatePolicy::default() }
    }

    #[test]
    fn links_are_bounded_in_all_and_half_open_ones_per_address() {
        let (gate, _links) = channel(policy(3), Arc::default(), Shutdown::new());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = gate.take_slot(a).expect("room");
        let _second = gate.take_slot(a).expect("room");
        let _third = gate.take_slot(b).expect("room");
        assert!(gate.take_slot(b).is_none(), "three in all");
        drop(first);
        assert!(gate.take_slot(b).is_some(), "a closed link's slot is free again");

        let (many, _links) = channel(policy(usize::MAX), Arc::default(), Shutdown::new());
        let mut slots: Vec<_> = (0..HALF_OPEN_PER_ADDR).map(|_| many.take_slot(a).expect("room")).collect();
        assert!(many.take_slot(a).is_none(), "{HALF_OPEN_PER_ADDR} half-open per address");
        assert!(many.take_slot(b).is_some(), "another address has its own");
        slots[0].establish();
        let another = many.take_slot(a).expect("an established link no longer counts as half-open");
        assert!(many.take_slot(a).is_none());
        drop(another);
        drop(slots);
        let loopback: IpAddr = [127, 0, 0, 1].into();
        let local: Vec<_> = (0..HALF_OPEN_PER_ADDR * 2).map(|_| many.take_slot(loopback).expect("room")).collect();
        assert_eq!(local.len(), HALF_OPEN_PER_ADDR * 2, "this host (or a local proxy) is not held to it");
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_nobody_else_can() {
        let proxy: IpAddr = [10, 0, 0, 9].into();
        let policy = GatePolicy { max_links: 8, trusted_proxies: vec![proxy], ..GatePolicy::default() };
        let (gate, _links) = channel(policy, Arc::default(), Shutdown::new());
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 203.0.113.7".parse().unwrap());
        let via_proxy = gate.client_addr(SocketAddr::new(proxy, 5000), &headers);
        assert_eq!(via_proxy.ip(), "203.0.113.7".parse::<IpAddr>().unwrap(), "the address the proxy appended");
        let direct: SocketAddr = ([198, 51, 100, 1], 5000).into();
        assert_eq!(gate.client_addr(direct, &headers), direct, "a header from anyone else means nothing");
    }

    #[test]
    fn a_link_sending_too_much_in_a_second_is_stopped() {
        let mut rate = Rate::default();
        assert!((0..MESSAGES_PER_SEC).all(|_| rate.take(10)));
        assert!(!rate.take(10));
        let mut bytes = Rate::default();
        assert!(bytes.take(BYTES_PER_SEC));
        assert!(!bytes.take(1));
    }

    #[test]
    fn a_slow_link_is_dropped_not_waited_for() {
        let (gate, mut links) = channel(policy(8), Arc::default(), Shutdown::new());
        let (outbox, _never_read) = mpsc::channel(SEND_QUEUE);
        let remote: SocketAddr = ([127, 0, 0, 1], 5).into();
        let established = Arc::new(AtomicBool::new(false));
        gate.control.send(WsEvent::Opened { link: 7, remote, outbox, established: established.clone() }).unwrap();
        gate.events.try_send(WsEvent::Datagram { link: 7, bytes: vec![1] }).unwrap();
        assert_eq!(links.try_recv(), Some((7, remote, vec![1])));
        links.established(7);
        assert!(established.load(Ordering::Relaxed), "the link's task hears the handshake is done");
        for _ in 0..SEND_QUEUE {
            assert!(links.send(7, &[0; 100]));
        }
        assert!(!links.send(7, &[0; 100]), "the queue is full: the link goes");
        assert!(links.is_empty());
        assert_eq!(links.take_gone(), vec![(7, remote)]);
        assert_eq!(links.metrics.dropped_slow.load(Ordering::Relaxed), 1);
        gate.events.try_send(WsEvent::Datagram { link: 7, bytes: vec![2] }).unwrap();
        assert_eq!(links.try_recv(), None, "nothing more from a dropped link");
        gate.control.send(WsEvent::Closed { link: 7 }).unwrap();
        assert_eq!(links.try_recv(), None);
        assert!(links.take_gone().is_empty(), "a dropped link is gone once");
    }

    #[test]
    fn a_flood_of_datagrams_loses_no_opening_or_closing() {
        let (gate, mut links) = channel(policy(8), Arc::default(), Shutdown::new());
        let remote: SocketAddr = ([127, 0, 0, 1], 5).into();
        let (outbox, _rx) = mpsc::channel(SEND_QUEUE);
        gate.control.send(WsEvent::Opened { link: 1, remote, outbox, established: Arc::default() }).unwrap();
        while gate.events.try_send(WsEvent::Datagram { link: 1, bytes: vec![0] }).is_ok() {}
        let (outbox, _rx2) = mpsc::channel(SEND_QUEUE);
        gate.control.send(WsEvent::Opened { link: 2, remote, outbox, established: Arc::default() }).unwrap();
        gate.control.send(WsEvent::Closed { link: 1 }).unwrap();
        assert_eq!(links.take_gone(), vec![(1, remote)], "the closing got through the full inbox");
        assert_eq!(links.len(), 1, "and so did the other link's opening");
    }
}
