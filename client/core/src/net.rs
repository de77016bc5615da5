//! The client side of the game transport: renet over our netcode.io layer
//! ([`tickforge_netcode::Client`]) on any [`Transport`]. All renet and
//! netcode types stay in this module. Time is the caller's: every call
//! that needs it takes `now`, from any fixed origin. The goodbye is sent
//! several times: one lost disconnect packet would otherwise keep the
//! account "connected" on the server until it times out, and a quick
//! reconnect would be refused.

use std::net::SocketAddr;
use std::time::Duration;

use renet::RenetClient;
use tickforge_netcode::{Client, ConnectToken, MAX_PACKET_BYTES};
use tickforge_shared::protocol::{Channel, ServerMessage, connection_config};
use tickforge_shared::{bundle, codec};

use crate::transport::{Dialer, Endpoint, Transport};

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The connect token from the login could not be read.
    #[error("invalid connect token: {0}")]
    Token(String),
    /// Socket trouble.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    /// The connection ended.
    #[error("connection ended: {0}")]
    Disconnected(String),
}

/// A connection to a game server.
pub struct Connection<T: Transport> {
    renet: RenetClient,
    netcode: Client,
    transport: T,
    buffer: Box<[u8; MAX_PACKET_BYTES]>,
    /// `now` at the start: origin of the netcode clock.
    epoch: Duration,
    /// `now` at the last update (renet advances by the difference).
    last_update: Duration,
    /// Payloads that failed to decode (a server bug or corruption).
    pub malformed: u64,
    /// Messages received on the reliable channel (welcome, roster, chat,
    /// notices): what was delivered, as load reports count it.
    pub reliable_received: u64,
    /// Datagrams received, and their bytes (framing not counted).
    pub datagrams_in: (u64, u64),
    /// Datagrams sent, and their bytes (framing not counted).
    pub datagrams_out: (u64, u64),
    /// When packets were last sent (netcode clock).
    last_flush: Option<Duration>,
    /// Bundles a flush's renet packets into payloads.
    packer: bundle::Packer,
}

impl<T: Transport> Drop for Connection<T> {
    /// Whatever ends the connection (an error, a timeout, the end of the
    /// program), the server is told at once rather than left to time out.
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl<T: Transport> std::fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("connected", &self.is_connected()).finish_non_exhaustive()
    }
}

/// A `send` for the netcode core that writes to the transport, counting
/// datagrams and bytes into `sent`.
fn sender<'a, T: Transport>(transport: &'a mut T, sent: &'a mut (u64, u64)) -> impl FnMut(SocketAddr, &[u8]) + 'a {
    move |addr, bytes| {
        sent.0 += 1;
        sent.1 += bytes.len() as u64;
        transport.send(addr, bytes);
    }
}

/// Reads a connect token, as the login or a transfer gave it.
pub fn read_token(token: &[u8]) -> Result<ConnectToken, NetError> {
    ConnectToken::read(token).map_err(|e| NetError::Token(e.to_string()))
}

impl<T: Transport> Connection<T> {
    /// Opens a transport with `dialer` to the server the token names (or
    /// one of `ws`, its WebSocket URLs) and starts the handshake.
    pub fn dial<D: Dialer<Transport = T>>(
        dialer: &mut D,
        token: &[u8],
        ws: &[String],
        now: Duration,
    ) -> Result<Self, NetError> {
        let token = read_token(token)?;
        let server = Endpoint { udp: token.server_addresses[0], ws: ws.to_vec() };
        let transport = dialer.dial(&server)?;
        Ok(Self::new(token, transport, now))
    }

    /// Starts the handshake over an open transport.
    pub fn new(token: ConnectToken, transport: T, now: Duration) -> Self {
        Self {
            renet: RenetClient::new(connection_config()),
            netcode: Client::new(token, Duration::ZERO),
            transport,
            buffer: Box::new([0; MAX_PACKET_BYTES]),
            epoch: now,
            last_update: now,
            malformed: 0,
            reliable_received: 0,
            datagrams_in: (0, 0),
            datagrams_out: (0, 0),
            last_flush: None,
            packer: bundle::Packer::new(),
        }
    }

    fn clock(&self, now: Duration) -> Duration {
        now.saturating_sub(self.epoch)
    }

    /// Advances time, reads the transport and returns every message
    /// received: the reliable channel's decoded into `out`, the snapshot
    /// channel's as they came into `snapshots` (the game's world decodes
    /// them).
    pub fn update(
        &mut self,
        now: Duration,
        out: &mut Vec<ServerMessage>,
        snapshots: &mut Vec<renet::Bytes>,
    ) -> Result<(), NetError> {
        self.renet.update(now.saturating_sub(self.last_update));
        self.last_update = self.last_update.max(now);
        // Messages that arrived with the final packets are still delivered.
        let transport = self.pump(now);
        while let Some(bytes) = self.renet.receive_message(Channel::Reliable) {
            match codec::decode::<ServerMessage>(&bytes) {
                Ok(message) => {
                    self.reliable_received += 1;
                    out.push(message);
                }
                Err(e) => {
                    self.malformed += 1;
                    tracing::warn!(error = %e, "malformed server message");
                }
            }
        }
        while let Some(bytes) = self.renet.receive_message(Channel::Snapshot) {
            snapshots.push(bytes);
        }
        transport
    }

    /// Reads the transport into netcode and renet, and lets netcode send
    /// its handshake and keep-alive packets.
    fn pump(&mut self, now: Duration) -> Result<(), NetError> {
        let now = self.clock(now);
        // An ending seen last time is reported now, so the messages that
        // came with it were delivered first.
        if let Some(reason) = self.netcode.disconnect_reason() {
            self.renet.disconnect_due_to_transport();
            return Err(NetError::Disconnected(reason.to_string()));
        }
        if self.renet.is_disconnected() {
            self.disconnect();
            return Err(NetError::Disconnected("connection closed".into()));
        }
        let server = self.netcode.server_addr();
        loop {
            let len = match self.transport.recv(&mut self.buffer[..]) {
                Ok(Some((len, None))) => len,
                Ok(Some((len, Some(from)))) if from == server => len,
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.datagrams_in.0 += 1;
            self.datagrams_in.1 += len as u64;
            match self.netcode.process(now, &mut self.buffer[..len]) {
                Ok(Some(payload)) => {
                    for packet in bundle::unpack(payload) {
                        match packet {
                            Ok(packet) => self.renet.process_packet(packet),
                            Err(e) => {
                                self.malformed += 1;
                                tracing::warn!(error = %e, "malformed payload");
                                break;
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(refused) => tracing::trace!(%refused, "datagram ignored"),
            }
        }
        self.netcode.update(now, &mut sender(&mut self.transport, &mut self.datagrams_out));
        if self.netcode.is_connected() {
            self.renet.set_connected();
        } else if self.netcode.is_connecting() {
            self.renet.set_connecting();
        }
        Ok(())
    }

    /// Queues a message (a `ClientMessage` on [`Channel::Reliable`], an
    /// `InputMessage` on [`Channel::Input`]); before the handshake
    /// completes it is dropped.
    pub fn send<M: serde::Serialize>(&mut self, channel: Channel, message: &M) {
        match codec::encode(message) {
            Ok(bytes) if self.is_connected() => self.renet.send_message(channel, bytes),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot encode message"),
        }
    }

    /// Sends everything queued.
    pub fn flush(&mut self, now: Duration) -> Result<(), NetError> {
        if let Some(reason) = self.netcode.disconnect_reason() {
            return Err(NetError::Disconnected(reason.to_string()));
        }
        if !self.netcode.is_connected() {
            return Ok(());
        }
        let now = self.clock(now);
        self.last_flush = Some(now);
        let mut send = sender(&mut self.transport, &mut self.datagrams_out);
        let packets = self.renet.get_packets_to_send();
        let netcode = &mut self.netcode;
        self.packer
            .pack(packets.iter().map(Vec::as_slice), |payload| netcode.send_payload(now, payload, &mut send))
            .map_err(|e| NetError::Disconnected(e.to_string()))?;
        Ok(())
    }

    /// Sends what is queued if nothing was sent for `every`. A caller that
    /// reads the network more often than it has something to say uses
    /// this: every send carries an acknowledgement packet, so flushing on
    /// each read would send one per read.
    pub fn flush_due(&mut self, now: Duration, every: Duration) -> Result<(), NetError> {
        match self.last_flush {
            Some(at) if self.clock(now).saturating_sub(at) < every && self.netcode.disconnect_reason().is_none() => {
                Ok(())
            }
            _ => self.flush(now),
        }
    }

    /// Whether the server closed the connection (sent its goodbye) rather
    /// than fell silent. A server that closes one says why first; one that
    /// does not has let a newer connection of the same account take over,
    /// or its reason was lost.
    pub fn closed_by_server(&self) -> bool {
        self.netcode.disconnect_reason() == Some(tickforge_netcode::client::DisconnectReason::ClosedByServer)
    }

    /// Handshake complete.
    pub fn is_connected(&self) -> bool {
        self.netcode.is_connected() && !self.renet.is_disconnected()
    }

    /// The connection has ended.
    pub fn is_disconnected(&self) -> bool {
        self.renet.is_disconnected() || self.netcode.disconnect_reason().is_some()
    }

    /// The game server this connection talks to (the token's first, or a
    /// fallback it moved on to).
    pub fn server_addr(&self) -> SocketAddr {
        self.netcode.server_addr()
    }

    /// The transport under the connection.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Round-trip time in milliseconds.
    pub fn rtt_ms(&self) -> f64 {
        self.renet.rtt() * 1000.0
    }

    /// Bytes per second received.
    pub fn bytes_in_per_s(&self) -> f64 {
        self.renet.bytes_received_per_sec()
    }

    /// Bytes per second sent.
    pub fn bytes_out_per_s(&self) -> f64 {
        self.renet.bytes_sent_per_sec()
    }

    /// Says goodbye to the server at once, several times over (a lost
    /// goodbye would block a quick reconnect until the server times out).
    pub fn disconnect(&mut self) {
        self.netcode.disconnect(&mut sender(&mut self.transport, &mut self.datagrams_out));
    }
}
