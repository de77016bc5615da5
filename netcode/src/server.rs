//! The server state machine: connection requests, challenges, slots,
//! keep-alives, timeouts and payloads, following the netcode.io standard's
//! server rules in their order. IO-free: the caller passes the time (Unix
//! time as a `Duration`) and a `send` closure for outgoing datagrams.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::packet::{self, Header, Kind, Refused};
use crate::replay::Window;
use crate::token::{ChallengeToken, PrivateToken};
use crate::{
    DISCONNECT_COPIES, KEY_BYTES, MAC_BYTES, MAX_CLIENTS, MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES, PRIVATE_TOKEN_BYTES,
    SEND_INTERVAL, USER_DATA_BYTES, VERSION_INFO, crypto::random_bytes,
};

/// First server-wide sequence (challenge and denied packets). Connections
/// count their own packets from 0 under the same key, so the two ranges
/// never share a nonce.
pub const GLOBAL_SEQUENCE_START: u64 = 1 << 63;
/// How long a half-open connection waits when its token sets no timeout.
pub const PENDING_TIMEOUT_FALLBACK: Duration = Duration::from_secs(10);
/// Half-open connections allowed per client slot.
pub const PENDING_PER_SLOT: usize = 4;

/// Who a datagram came from and goes to: a UDP address, or whatever id a
/// stream transport gives its connections. The state machine only
/// compares and hashes it.
pub trait Peer: Copy + Eq + std::hash::Hash + std::fmt::Debug {}

impl<T: Copy + Eq + std::hash::Hash + std::fmt::Debug> Peer for T {}

/// Where `send` delivers a datagram.
pub type Sink<'s, P = SocketAddr> = &'s mut dyn FnMut(P, &[u8]);

/// How a server is set up.
#[derive(Clone)]
pub struct ServerConfig {
    /// The game's protocol id; other ids are refused.
    pub protocol_id: u64,
    /// Client slots (at most [`MAX_CLIENTS`]).
    pub max_clients: usize,
    /// This server's public addresses; a token must name one.
    pub public_addresses: Vec<SocketAddr>,
    /// Key shared with whatever issues connect tokens.
    pub private_key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for ServerConfig {
    /// The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("protocol_id", &self.protocol_id)
            .field("max_clients", &self.max_clients)
            .field("public_addresses", &self.public_addresses)
            .finish_non_exhaustive()
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// The client sent a disconnect packet.
    ClientLeft,
    /// Nothing arrived from the client within its timeout.
    TimedOut,
    /// The server closed it.
    Closed,
}

/// Something the application must hear about.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerEvent<'a, P = SocketAddr> {
    /// A client finished the handshake.
    Connected {
        /// Its id, from the connect token.
        client_id: u64,
        /// Its address.
        addr: P,
        /// The token's user data.
        user_data: Box<[u8; USER_DATA_BYTES]>,
        /// The address of an older connection of the same client id that
        /// this one replaced (closed with disconnect packets): a newer
        /// token proves a newer login, and the old connection is most
        /// likely a client that left without a goodbye and is still
        /// timing out.
        replaced: Option<P>,
    },
    /// A payload arrived from a connected client.
    Payload {
        /// Whose.
        client_id: u64,
        /// The decrypted payload.
        payload: &'a [u8],
    },
    /// A connection ended.
    Disconnected {
        /// Whose.
        client_id: u64,
        /// Its address.
        addr: P,
        /// Why.
        reason: Departure,
    },
}

/// A payload could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such connected client.
    #[error("client not connected")]
    NotConnected,
    /// Empty or over [`MAX_PAYLOAD_BYTES`].
    #[error("payload of {0} bytes (allowed 1..={MAX_PAYLOAD_BYTES})")]
    Size(usize),
}

/// A half-open connection: challenged, waiting for the response.
struct Pending {
    client_id: u64,
    send_key: [u8; KEY_BYTES],
    receive_key: [u8; KEY_BYTES],
    timeout: Option<Duration>,
    expire_timestamp: u64,
    last_received: Duration,
}

/// A connected client in its slot.
struct Connection<P> {
    client_id: u64,
    addr: P,
    send_key: [u8; KEY_BYTES],
    receive_key: [u8; KEY_BYTES],
    timeout: Option<Duration>,
    last_received: Duration,
    last_sent: Duration,
    sequence: u64,
    /// A keep-alive or payload has arrived since the handshake; until then
    /// every payload is preceded by a keep-alive, so a lost handshake
    /// keep-alive cannot strand the client.
    confirmed: bool,
    replay: Window,
    user_data: [u8; USER_DATA_BYTES],
}

/// Where a connect token was first used.
struct TokenUse<P> {
    addr: P,
    expire_timestamp: u64,
    first_seen: Duration,
}

/// A netcode.io server endpoint.
pub struct Server<P: Peer = SocketAddr> {
    protocol_id: u64,
    public_addresses: Vec<SocketAddr>,
    private_key: [u8; KEY_BYTES],
    slots: Vec<Option<Connection<P>>>,
    by_addr: HashMap<P, usize>,
    by_id: HashMap<u64, usize>,
    pending: HashMap<P, Pending>,
    token_uses: HashMap<[u8; MAC_BYTES], TokenUse<P>>,
    challenge_key: [u8; KEY_BYTES],
    challenge_sequence: u64,
    global_sequence: u64,
    out: Box<[u8; MAX_PACKET_BYTES]>,
}

impl<P: Peer> std::fmt::Debug for Server<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("connected", &self.by_id.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn timeout(seconds: i32) -> Option<Duration> {
    u64::try_from(seconds).ok().filter(|&s| s > 0).map(Duration::from_secs)
}

/// Seals one packet into `out` and hands it to `send`.
#[allow(clippy::too_many_arguments)]
fn emit<P: Peer>(
    out: &mut [u8; MAX_PACKET_BYTES],
    send: Sink<'_, P>,
    addr: P,
    kind: Kind,
    sequence: u64,
    body: &[u8],
    protocol_id: u64,
    key: &[u8; KEY_BYTES],
) {
    match packet::seal(out, kind, sequence, body, protocol_id, key) {
        Some(len) => send(addr, &out[..len]),
        None => tracing::error!(?kind, "cannot seal packet"),
    }
}

/// Sends `conn` a keep-alive naming its slot.
fn keep_alive<P: Peer>(
    out: &mut [u8; MAX_PACKET_BYTES],
    send: Sink<'_, P>,
    conn: &mut Connection<P>,
    slot: usize,
    max_clients: u32,
    protocol_id: u64,
) {
    let body = packet::keep_alive_body(slot as u32, max_clients);
    emit(out, send, conn.addr, Kind::KeepAlive, conn.sequence, &body, protocol_id, &conn.send_key);
    conn.sequence += 1;
}

impl<P: Peer> Server<P> {
    /// A server with no clients.
    pub fn new(config: ServerConfig) -> Self {
        let max_clients = config.max_clients.clamp(1, MAX_CLIENTS);
        Self {
            protocol_id: config.protocol_id,
            public_addresses: config.public_addresses,
            private_key: config.private_key,
            slots: (0..max_clients).map(|_| None).collect(),
            by_addr: HashMap::new(),
            by_id: HashMap::new(),
            pending: HashMap::new(),
            token_uses: HashMap::new(),
            challenge_key: random_bytes(),
            challenge_sequence: 0,
            global_sequence: GLOBAL_SEQUENCE_START,
            out: Box::new([0; MAX_PACKET_BYTES]),
        }
    }

    /// Client slots.
    pub fn max_clients(&self) -> usize {
        self.slots.len()
    }

    /// Connected clients.
    pub fn connected(&self) -> usize {
        self.by_id.len()
    }

    /// Half-open connections.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Connect tokens remembered against reuse from another address.
    pub fn remembered_tokens(&self) -> usize {
        self.token_uses.len()
    }

    /// Ids of connected clients.
    pub fn client_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_id.keys().copied()
    }

    /// The client connected from `peer`, if any.
    pub fn client_at(&self, peer: P) -> Option<u64> {
        self.by_addr.get(&peer).and_then(|&slot| self.slots[slot].as_ref()).map(|c| c.client_id)
    }

    /// A connected client's address.
    pub fn client_addr(&self, client_id: u64) -> Option<P> {
        self.connection(client_id).map(|c| c.addr)
    }

    /// A connected client's token user data.
    pub fn user_data(&self, client_id: u64) -> Option<[u8; USER_DATA_BYTES]> {
        self.connection(client_id).map(|c| c.user_data)
    }

    fn connection(&self, client_id: u64) -> Option<&Connection<P>> {
        self.by_id.get(&client_id).and_then(|&slot| self.slots[slot].as_ref())
    }

    fn max_pending(&self) -> usize {
        self.slots.len() * PENDING_PER_SLOT
    }

    fn max_token_uses(&self) -> usize {
        self.slots.len() * PENDING_PER_SLOT * 2
    }

    /// Handles one datagram from `addr`. `Ok(None)` means it was handled
    /// (and perhaps answered) with nothing for the application; `Err` says
    /// which rule made the server ignore it.
    pub fn process<'a>(
        &mut self,
        now: Duration,
        addr: P,
        datagram: &'a mut [u8],
        send: Sink<'_, P>,
    ) -> Result<Option<ServerEvent<'a, P>>, Refused> {
        let header = packet::header(datagram)?;
        if let Some(&slot) = self.by_addr.get(&addr) {
            return self.on_connected(now, slot, header, datagram);
        }
        match header.kind {
            Kind::Request => self.on_request(now, addr, datagram, send).map(|()| None),
            Kind::Response if self.pending.contains_key(&addr) => self.on_response(now, addr, header, datagram, send),
            _ if self.pending.contains_key(&addr) => Err(Refused::OutOfPhase),
            _ => Err(Refused::UnknownSender),
        }
    }

    fn on_connected<'a>(
        &mut self,
        now: Duration,
        slot: usize,
        header: Header,
        datagram: &'a mut [u8],
    ) -> Result<Option<ServerEvent<'a, P>>, Refused> {
        match header.kind {
            Kind::KeepAlive | Kind::Payload | Kind::Disconnect => {}
            Kind::Request | Kind::Response => return Err(Refused::AlreadyConnected),
            Kind::Denied | Kind::Challenge => return Err(Refused::OutOfPhase),
        }
        let Some(conn) = self.slots[slot].as_mut() else { return Err(Refused::UnknownSender) };
        if !conn.replay.fresh(header.sequence) {
            return Err(Refused::Replayed);
        }
        let body = packet::open(datagram, &header, self.protocol_id, &conn.receive_key)?;
        conn.replay.accept(header.sequence);
        conn.last_received = now;
        match header.kind {
            Kind::KeepAlive => {
                conn.confirmed = true;
                Ok(None)
            }
            Kind::Payload => {
                conn.confirmed = true;
                Ok(Some(ServerEvent::Payload { client_id: conn.client_id, payload: body }))
            }
            _ => {
                let (client_id, addr) = (conn.client_id, conn.addr);
                self.free(slot);
                Ok(Some(ServerEvent::Disconnected { client_id, addr, reason: Departure::ClientLeft }))
            }
        }
    }

    fn on_request(&mut self, now: Duration, addr: P, datagram: &[u8], send: Sink<'_, P>) -> Result<(), Refused> {
        let request = packet::read_request(datagram)?;
        if request.version != VERSION_INFO {
            return Err(Refused::Version);
        }
        if request.protocol_id != self.protocol_id {
            return Err(Refused::ProtocolId);
        }
        if request.expire_timestamp <= now.as_secs() {
            return Err(Refused::Expired);
        }
        let token = PrivateToken::open(
            request.private_data,
            self.protocol_id,
            request.expire_timestamp,
            &request.xnonce,
            &self.private_key,
        )
        .map_err(|_| Refused::Forged)?;
        if !token.server_addresses.iter().any(|a| self.public_addresses.contains(a)) {
            return Err(Refused::NotInHostList);
        }
        // A client id connected from another address is not refused: the
        // handshake goes on, and a valid response replaces that connection
        // (see `on_response`). The same token from another address is
        // refused below.
        let replaces = self.by_id.contains_key(&token.client_id);
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&request.private_data[PRIVATE_TOKEN_BYTES - MAC_BYTES..]);
        self.remember_token(now, mac, addr, request.expire_timestamp)?;
        if !replaces && self.by_id.len() >= self.slots.len() {
            let sequence = self.next_global();
            emit(&mut self.out, send, addr, Kind::Denied, sequence, &[], self.protocol_id, &token.server_to_client_key);
            return Ok(());
        }
        if !self.pending.contains_key(&addr) && self.pending.len() >= self.max_pending() {
            return Err(Refused::PendingFull);
        }
        self.pending.insert(
            addr,
            Pending {
                client_id: token.client_id,
                send_key: token.server_to_client_key,
                receive_key: token.client_to_server_key,
                timeout: timeout(token.timeout_seconds),
                expire_timestamp: request.expire_timestamp,
                last_received: now,
            },
        );
        self.challenge_sequence += 1;
        let sealed = ChallengeToken { client_id: token.client_id, user_data: token.user_data }
            .seal(self.challenge_sequence, &self.challenge_key);
        let body = packet::challenge_body(self.challenge_sequence, &sealed);
        let sequence = self.next_global();
        emit(
            &mut self.out,
            send,
            addr,
            Kind::Challenge,
            sequence,
            &body,
            self.protocol_id,
            &token.server_to_client_key,
        );
        Ok(())
    }

    /// A token may be used again only from the address that first used it.
    fn remember_token(
        &mut self,
        now: Duration,
        mac: [u8; MAC_BYTES],
        addr: P,
        expire_timestamp: u64,
    ) -> Result<(), Refused> {
        if let Some(used) = self.token_uses.get(&mac) {
            return if used.addr == addr { Ok(()) } else { Err(Refused::TokenReused) };
        }
        if self.token_uses.len() >= self.max_token_uses() {
            self.token_uses.retain(|_, u| u.expire_timestamp > now.as_secs());
        }
        if self.token_uses.len() >= self.max_token_uses()
            && let Some(oldest) = self.token_uses.iter().min_by_key(|(_, u)| u.first_seen).map(|(k, _)| *k)
        {
            self.token_uses.remove(&oldest);
        }
        self.token_uses.insert(mac, TokenUse { addr, expire_timestamp, first_seen: now });
        Ok(())
    }

    fn on_response<'a>(
        &mut self,
        now: Duration,
        addr: P,
        header: Header,
        datagram: &'a mut [u8],
        send: Sink<'_, P>,
    ) -> Result<Option<ServerEvent<'a, P>>, Refused> {
        let Some(pending) = self.pending.get(&addr) else { return Err(Refused::UnknownSender) };
        let body = packet::open(datagram, &header, self.protocol_id, &pending.receive_key)?;
        let (sequence, sealed) = packet::read_challenge(body).ok_or(Refused::Length)?;
        let challenge = ChallengeToken::open(sealed, sequence, &self.challenge_key).map_err(|_| Refused::Forged)?;
        if challenge.client_id != pending.client_id {
            return Err(Refused::Forged);
        }
        let Some(pending) = self.pending.remove(&addr) else { return Err(Refused::UnknownSender) };
        // The response proves this sender holds the keys of a token newer
        // than the connected one's: the newer session wins.
        let replaced = match self.by_id.get(&pending.client_id) {
            Some(&old) => self.close(old, &mut *send),
            None => None,
        };
        let Some(slot) = self.slots.iter().position(Option::is_none) else {
            let sequence = self.next_global();
            emit(&mut self.out, send, addr, Kind::Denied, sequence, &[], self.protocol_id, &pending.send_key);
            return Ok(None);
        };
        let mut conn = Connection {
            client_id: pending.client_id,
            addr,
            send_key: pending.send_key,
            receive_key: pending.receive_key,
            timeout: pending.timeout,
            last_received: now,
            last_sent: now,
            sequence: 0,
            confirmed: false,
            replay: Window::default(),
            user_data: challenge.user_data,
        };
        let body = packet::keep_alive_body(slot as u32, self.slots.len() as u32);
        emit(&mut self.out, send, addr, Kind::KeepAlive, conn.sequence, &body, self.protocol_id, &conn.send_key);
        conn.sequence += 1;
        self.slots[slot] = Some(conn);
        self.by_addr.insert(addr, slot);
        self.by_id.insert(pending.client_id, slot);
        Ok(Some(ServerEvent::Connected {
            client_id: pending.client_id,
            addr,
            user_data: Box::new(challenge.user_data),
            replaced,
        }))
    }

    fn next_global(&mut self) -> u64 {
        let sequence = self.global_sequence;
        self.global_sequence = self.global_sequence.wrapping_add(1).max(GLOBAL_SEQUENCE_START);
        sequence
    }

    fn free(&mut self, slot: usize) -> Option<Connection<P>> {
        let conn = self.slots.get_mut(slot)?.take()?;
        self.by_addr.remove(&conn.addr);
        self.by_id.remove(&conn.client_id);
        Some(conn)
    }

    /// Seals and sends a payload to a connected client (after a keep-alive
    /// while the client has not yet confirmed the connection).
    pub fn send_payload(
        &mut self,
        now: Duration,
        client_id: u64,
        payload: &[u8],
        send: Sink<'_, P>,
    ) -> Result<(), SendError> {
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SendError::Size(payload.len()));
        }
        let slot = *self.by_id.get(&client_id).ok_or(SendError::NotConnected)?;
        let max_clients = self.slots.len() as u32;
        let conn = self.slots[slot].as_mut().ok_or(SendError::NotConnected)?;
        if !conn.confirmed {
            keep_alive(&mut self.out, send, conn, slot, max_clients, self.protocol_id);
        }
        emit(&mut self.out, send, conn.addr, Kind::Payload, conn.sequence, payload, self.protocol_id, &conn.send_key);
        conn.sequence += 1;
        conn.last_sent = now;
        Ok(())
    }

    /// Expires half-open connections and silent clients, and sends
    /// keep-alives to clients nothing was sent to lately. Ended
    /// connections are appended to `departed` as `(client_id, addr, reason)`.
    pub fn update(&mut self, now: Duration, send: Sink<'_, P>, departed: &mut Vec<(u64, P, Departure)>) {
        let now_secs = now.as_secs();
        self.pending.retain(|_, p| {
            now.saturating_sub(p.last_received) <= p.timeout.unwrap_or(PENDING_TIMEOUT_FALLBACK)
                && p.expire_timestamp > now_secs
        });
        if self.token_uses.len() > self.max_token_uses() / 2 {
            self.token_uses.retain(|_, u| u.expire_timestamp > now_secs);
        }
        let max_clients = self.slots.len() as u32;
        for slot in 0..self.slots.len() {
            let Some(conn) = self.slots[slot].as_mut() else { continue };
            if conn.timeout.is_some_and(|t| now.saturating_sub(conn.last_received) > t) {
                if let Some(conn) = self.free(slot) {
                    departed.push((conn.client_id, conn.addr, Departure::TimedOut));
                }
                continue;
            }
            if now.saturating_sub(conn.last_sent) >= SEND_INTERVAL {
                keep_alive(&mut self.out, send, conn, slot, max_clients, self.protocol_id);
                conn.last_sent = now;
            }
        }
    }

    /// Closes a connection, telling the client with redundant disconnect packets.
    pub fn disconnect(&mut self, client_id: u64, send: Sink<'_, P>) -> Option<P> {
        let slot = *self.by_id.get(&client_id)?;
        self.close(slot, send)
    }

    /// Frees `slot`, sending its client redundant disconnect packets.
    fn close(&mut self, slot: usize, send: Sink<'_, P>) -> Option<P> {
        let mut conn = self.free(slot)?;
        for _ in 0..DISCONNECT_COPIES {
            emit(
                &mut self.out,
                send,
                conn.addr,
                Kind::Disconnect,
                conn.sequence,
                &[],
                self.protocol_id,
                &conn.send_key,
            );
            conn.sequence += 1;
        }
        Some(conn.addr)
    }

    /// Closes every connection.
    pub fn disconnect_all(&mut self, send: Sink<'_, P>) -> Vec<(u64, P)> {
        let ids: Vec<u64> = self.by_id.keys().copied().collect();
        ids.into_iter().filter_map(|id| self.disconnect(id, send).map(|addr| (id, addr))).collect()
    }
}
