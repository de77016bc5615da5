//! The datagram driver around our netcode.io core
//! ([`tickforge_netcode::Server`]): the UDP socket and the WebSocket links
//! ([`super::websocket`]) feed one netcode server, which keys connections
//! by a transport-neutral [`PeerId`]; the payload [`super::guard`] stands
//! in front of renet, and a per-tick receive budget bounds both.
//!
//! Each receive reads at most [`RECV_PACKETS`] datagrams and [`RECV_BYTES`]
//! bytes in total, and at most [`RECV_PACKETS_PER_ADDR`] datagrams and
//! [`RECV_BYTES_PER_ADDR`] bytes from any one peer, so a flood cannot
//! stretch a tick; the rest waits in the socket buffer (and is dropped by
//! the kernel if it overflows) or in the links' inbox.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use renet::RenetServer;
use tickforge_netcode::packet::{self, Kind};
use tickforge_netcode::{MAX_PACKET_BYTES, Refused, Server, ServerConfig, ServerEvent, USER_DATA_BYTES};
use tickforge_shared::bundle;

use super::datagrams::{Batching, Inbox, Outbox};
use super::guard;
use super::websocket::WsLinks;

/// Who a datagram came from and goes to, whatever carried it: the id the
/// netcode layer keys connections (and replay protection, and token
/// reuse) by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerId {
    /// A UDP address.
    Udp(SocketAddr),
    /// A WebSocket link: its number, and the address it came from.
    Ws {
        /// The link's number (unique for the process's life).
        link: u64,
        /// The TCP peer.
        remote: SocketAddr,
    },
}

impl PeerId {
    /// The network address behind the peer (for logs, access logs and limits).
    pub fn addr(self) -> SocketAddr {
        match self {
            Self::Udp(addr) | Self::Ws { remote: addr, .. } => addr,
        }
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Udp(addr) => write!(f, "{addr}"),
            Self::Ws { link, remote } => write!(f, "{remote} (ws #{link})"),
        }
    }
}

/// Most datagrams read per tick.
pub const RECV_PACKETS: usize = 4096;
/// Most bytes read per tick.
pub const RECV_BYTES: usize = 4 * 1024 * 1024;
/// Most datagrams read per tick from one address.
pub const RECV_PACKETS_PER_ADDR: u32 = 64;
/// Most bytes read per tick from one address.
pub const RECV_BYTES_PER_ADDR: usize = 64 * 1024;

/// What the driver refused or cut short, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams the netcode layer ignored (malformed, forged, replayed,
    /// out of phase, from unknown senders).
    pub bad_datagrams: u64,
    /// Connection requests and challenge responses left unanswered, by
    /// reason (indexed by [`Refused::index`]).
    pub handshake_refused: [u64; Refused::ALL.len()],
    /// Connections replaced by a newer connection of the same client id.
    pub replaced: u64,
    /// Decrypted payloads refused by the payload check.
    pub bad_payloads: u64,
    /// Datagrams skipped because their sender used up its share of a tick.
    pub over_budget: u64,
    /// Datagrams read (UDP and WebSocket), and their bytes.
    pub received: Traffic,
    /// Datagrams sent (UDP and WebSocket), and their bytes.
    pub sent: Traffic,
}

/// A count of datagrams and their bytes (netcode packets, without the
/// transport's headers).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams.
    pub datagrams: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Traffic {
    fn add(&mut self, bytes: usize) {
        self.datagrams += 1;
        self.bytes += bytes as u64;
    }
}

/// A payload the guard refused, and whose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offence {
    /// The connection it came from.
    pub client_id: u64,
    /// Why.
    pub refusal: guard::Refusal,
}

/// Owns the socket, the WebSocket links' tick end, and the netcode server.
pub struct Transport {
    socket: UdpSocket,
    ws: Option<WsLinks>,
    /// The links' datagrams of this tick, before netcode sees them.
    ws_batch: Vec<(u64, SocketAddr, tungstenite::Bytes)>,
    netcode: Server<PeerId>,
    /// UDP datagrams read and not yet processed.
    inbox: Inbox,
    /// UDP datagrams queued this update or send, flushed at its end.
    outbox: Outbox,
    /// A WebSocket datagram being processed (decrypted in place).
    buffer: Vec<u8>,
    per_addr: HashMap<PeerId, (u32, usize)>,
    departed: Vec<(u64, PeerId, tickforge_netcode::server::Departure)>,
    /// Client ids whose connection was replaced during the last update.
    replaced: Vec<u64>,
    /// Client ids whose connection timed out during the last update.
    timed_out: Vec<u64>,
    stats: TransportStats,
    /// Datagrams sent (apart from `stats`, which the sends cannot borrow).
    sent: Traffic,
    /// Bundles each client's renet packets of a tick into payloads.
    packer: bundle::Packer,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").field("stats", &self.stats).finish_non_exhaustive()
    }
}

/// The netcode layer's clock: Unix time, which connect-token expiry uses.
fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// A `send` for the netcode core that queues to the UDP outbox (counted
/// when flushed) or writes to the link, counting into `sent`.
fn sender<'a>(
    outbox: &'a mut Outbox,
    ws: &'a mut Option<WsLinks>,
    sent: &'a mut Traffic,
) -> impl FnMut(PeerId, &[u8]) + 'a {
    move |peer, bytes| match peer {
        PeerId::Udp(addr) => outbox.push(addr, bytes),
        PeerId::Ws { link, .. } => {
            if let Some(ws) = ws.as_mut() {
                ws.send(link, bytes);
                sent.add(bytes.len());
            }
        }
    }
}

impl Transport {
    /// Wraps a bound socket, and the WebSocket links if there are any;
    /// UDP datagrams batched or not.
    pub fn new(config: ServerConfig, socket: UdpSocket, ws: Option<WsLinks>, batching: Batching) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let outbox = Outbox::new(&socket, batching);
        tracing::debug!(?batching, gso = outbox.gso(), "UDP datagram batching");
        Ok(Self {
            inbox: Inbox::new(batching, MAX_PACKET_BYTES),
            outbox,
            socket,
            ws,
            ws_batch: Vec::new(),
            netcode: Server::new(config),
            buffer: vec![0; MAX_PACKET_BYTES],
            per_addr: HashMap::new(),
            departed: Vec::new(),
            replaced: Vec::new(),
            timed_out: Vec::new(),
            stats: TransportStats::default(),
            sent: Traffic::default(),
            packer: bundle::Packer::new(),
        })
    }

    /// Refusal counters so far.
    pub fn stats(&self) -> TransportStats {
        TransportStats { sent: self.sent, ..self.stats }
    }

    /// The token user data of a connected client.
    pub fn user_data(&self, client_id: u64) -> Option<[u8; USER_DATA_BYTES]> {
        self.netcode.user_data(client_id)
    }

    /// Whether `client_id`'s connection was replaced by a newer one during
    /// the last update (its departure is not a real goodbye).
    pub fn was_replaced(&self, client_id: u64) -> bool {
        self.replaced.contains(&client_id)
    }

    /// Whether `client_id`'s connection timed out (nothing heard from it)
    /// during the last update, rather than ending with a goodbye.
    pub fn timed_out(&self, client_id: u64) -> bool {
        self.timed_out.contains(&client_id)
    }

    /// A connected client's peer.
    pub fn client_peer(&self, client_id: u64) -> Option<PeerId> {
        self.netcode.client_addr(client_id)
    }

    /// WebSocket links open now.
    pub fn ws_links(&self) -> usize {
        self.ws.as_ref().map_or(0, WsLinks::len)
    }

    /// Reads this tick's share of the socket and the links, feeds renet,
    /// and runs the netcode timers. Payloads the guard refuses are
    /// returned as offences.
    pub fn update(&mut self, renet: &mut RenetServer, offences: &mut Vec<Offence>) -> io::Result<()> {
        let now = unix_now();
        self.per_addr.clear();
        self.replaced.clear();
        self.timed_out.clear();
        let (mut packets, mut bytes) = (0usize, 0usize);
        // Taken out while its datagrams are processed (what is left of a
        // batch when the budget runs out stays in it for the next update).
        let mut inbox = std::mem::take(&mut self.inbox);
        while packets < RECV_PACKETS && bytes < RECV_BYTES {
            let (datagram, addr) = match inbox.next(&self.socket) {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => {
                    self.inbox = inbox;
                    return Err(e);
                }
            };
            packets += 1;
            bytes += datagram.len();
            self.stats.received.add(datagram.len());
            self.receive(now, PeerId::Udp(addr), datagram, renet, offences);
        }
        self.inbox = inbox;
        // What is left of the budget goes to the links (the rest waits in
        // their sockets).
        let mut batch = std::mem::take(&mut self.ws_batch);
        if let Some(ws) = self.ws.as_mut() {
            ws.receive(RECV_PACKETS_PER_ADDR as usize, &mut batch);
        }
        for (link, remote, datagram) in batch.drain(..) {
            if packets >= RECV_PACKETS || bytes >= RECV_BYTES {
                self.stats.over_budget += 1;
                continue;
            }
            // The link takes nothing longer; a datagram cannot be longer either.
            let len = datagram.len().min(MAX_PACKET_BYTES);
            let mut buffer = std::mem::take(&mut self.buffer);
            buffer[..len].copy_from_slice(&datagram[..len]);
            packets += 1;
            bytes += len;
            self.stats.received.add(len);
            self.receive(now, PeerId::Ws { link, remote }, &mut buffer[..len], renet, offences);
            self.buffer = buffer;
        }
        self.ws_batch = batch;
        let mut send = sender(&mut self.outbox, &mut self.ws, &mut self.sent);
        self.netcode.update(now, &mut send, &mut self.departed);
        for (client_id, _, departure) in self.departed.drain(..) {
            if departure == tickforge_netcode::server::Departure::TimedOut {
                self.timed_out.push(client_id);
            }
            renet.remove_connection(client_id);
        }
        for client_id in renet.disconnections_id() {
            self.netcode.disconnect(client_id, &mut send);
            renet.remove_connection(client_id);
        }
        drop(send);
        // A closed link is a lost link: its player lingers, as after a
        // timeout, without waiting for one.
        let gone = self.ws.as_mut().map(WsLinks::take_gone).unwrap_or_default();
        for (link, remote) in gone {
            let Some(client_id) = self.netcode.client_at(PeerId::Ws { link, remote }) else { continue };
            let mut send = sender(&mut self.outbox, &mut self.ws, &mut self.sent);
            self.netcode.disconnect(client_id, &mut send);
            self.timed_out.push(client_id);
            renet.remove_connection(client_id);
        }
        self.flush_udp();
        Ok(())
    }

    /// Sends the UDP datagrams queued so far, counting them.
    fn flush_udp(&mut self) {
        let done = self.outbox.flush(&self.socket);
        self.sent.datagrams += done.datagrams;
        self.sent.bytes += done.bytes;
    }

    /// One datagram, `data`, from `peer`.
    fn receive(
        &mut self,
        now: Duration,
        peer: PeerId,
        data: &mut [u8],
        renet: &mut RenetServer,
        offences: &mut Vec<Offence>,
    ) {
        let len = data.len();
        let seen = self.per_addr.entry(peer).or_insert((0, 0));
        seen.0 += 1;
        seen.1 += len;
        if seen.0 > RECV_PACKETS_PER_ADDR || seen.1 > RECV_BYTES_PER_ADDR {
            self.stats.over_budget += 1;
            return;
        }
        let handshake = matches!(packet::header(data).map(|h| h.kind), Ok(Kind::Request | Kind::Response));
        let mut send = sender(&mut self.outbox, &mut self.ws, &mut self.sent);
        let outcome = self.netcode.process(now, peer, data, &mut send);
        drop(send);
        match outcome {
            Ok(None) => {}
            Ok(Some(ServerEvent::Connected { client_id, replaced, .. })) => {
                if let Some(old) = replaced {
                    tracing::info!(client = client_id, %peer, old_peer = %old, "a newer connection replaces the older one");
                    self.stats.replaced += 1;
                    self.replaced.push(client_id);
                    renet.remove_connection(client_id);
                }
                if let (PeerId::Ws { link, .. }, Some(ws)) = (peer, self.ws.as_mut()) {
                    ws.established(link);
                }
                renet.add_connection(client_id);
            }
            Ok(Some(ServerEvent::Payload { client_id, payload })) => {
                for packet in bundle::unpack(payload) {
                    match packet.map_err(|_| guard::Refusal::Malformed).and_then(|p| guard::payload(p).map(|()| p)) {
                        Ok(packet) => {
                            let _ = renet.process_packet_from(packet, client_id);
                        }
                        Err(refusal) => {
                            self.stats.bad_payloads += 1;
                            offences.push(Offence { client_id, refusal });
                            break;
                        }
                    }
                }
            }
            Ok(Some(ServerEvent::Disconnected { client_id, .. })) => renet.remove_connection(client_id),
            Err(refused) if handshake => {
                self.stats.bad_datagrams += 1;
                self.stats.handshake_refused[refused.index()] += 1;
                tracing::debug!(%peer, reason = %refused.name(), "connection handshake packet refused");
            }
            Err(refused) => {
                self.stats.bad_datagrams += 1;
                tracing::trace!(%peer, %refused, "datagram ignored");
            }
        }
    }

    /// Seals and sends everything renet has queued.
    pub fn send(&mut self, renet: &mut RenetServer) {
        let now = unix_now();
        let mut send = sender(&mut self.outbox, &mut self.ws, &mut self.sent);
        for client_id in renet.clients_id() {
            let Ok(packets) = renet.get_packets_to_send(client_id) else { continue };
            let netcode = &mut self.netcode;
            let sealed = self.packer.pack(packets.iter().map(Vec::as_slice), |payload| {
                netcode.send_payload(now, client_id, payload, &mut send)
            });
            if let Err(e) = sealed {
                tracing::debug!(client = client_id, error = %e, "cannot seal payload");
            }
        }
        drop(send);
        // The tick's datagrams go out together.
        self.flush_udp();
        if let Some(ws) = self.ws.as_mut() {
            ws.flush();
        }
    }

    /// Sends every client disconnect packets now and forgets them.
    pub fn disconnect_all(&mut self, renet: &mut RenetServer) {
        let mut send = sender(&mut self.outbox, &mut self.ws, &mut self.sent);
        for (client_id, _) in self.netcode.disconnect_all(&mut send) {
            renet.remove_connection(client_id);
        }
        drop(send);
        self.flush_udp();
        if let Some(ws) = self.ws.as_mut() {
            ws.flush();
        }
    }
}
