//! The client side of the game transport: renet over our netcode.io layer
//! ([`tickforge_netcode::Client`]) on a UDP socket. All renet and netcode
//! types stay in this module. The goodbye is sent several times: one lost
//! disconnect packet would otherwise keep the account "connected" on the
//! server until it times out, and a quick reconnect would be refused.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use renet::RenetClient;
use tickforge_netcode::{Client, ConnectToken, MAX_PACKET_BYTES};
use tickforge_shared::codec;
use tickforge_shared::protocol::{Channel, ClientMessage, ServerMessage, connection_config};

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The connect token from the login could not be read.
    #[error("invalid connect token: {0}")]
    Token(String),
    /// Socket trouble.
    #[error("udp socket: {0}")]
    Io(#[from] std::io::Error),
    /// The connection ended.
    #[error("connection ended: {0}")]
    Disconnected(String),
}

/// A connection to a game server.
pub struct Connection {
    renet: RenetClient,
    netcode: Client,
    socket: UdpSocket,
    buffer: Box<[u8; MAX_PACKET_BYTES]>,
    /// Origin of the netcode clock.
    epoch: Instant,
    /// Payloads that failed to decode (a server bug or corruption).
    pub malformed: u64,
    /// Messages received on the reliable channel (welcome, roster, chat,
    /// notices): what was delivered, as load reports count it.
    pub reliable_received: u64,
    /// When packets were last sent (netcode clock).
    last_flush: Option<Duration>,
}

impl Drop for Connection {
    /// Whatever ends the connection (an error, a timeout, the end of the
    /// program), the server is told at once rather than left to time out.
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("connected", &self.is_connected()).finish_non_exhaustive()
    }
}

/// A `send` for the netcode core that writes to the socket.
fn sender(socket: &UdpSocket) -> impl FnMut(SocketAddr, &[u8]) + '_ {
    move |addr, bytes| {
        if let Err(e) = socket.send_to(bytes, addr) {
            tracing::debug!(%addr, error = %e, "send failed");
        }
    }
}

impl Connection {
    /// Starts the handshake with the server the token names.
    pub fn connect(token: &[u8]) -> Result<Self, NetError> {
        let token = ConnectToken::read(token).map_err(|e| NetError::Token(e.to_string()))?;
        let server = token.server_addresses[0];
        let bind: SocketAddr =
            if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { "[::]:0".parse().expect("valid") };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            renet: RenetClient::new(connection_config()),
            netcode: Client::new(token, Duration::ZERO),
            socket,
            buffer: Box::new([0; MAX_PACKET_BYTES]),
            epoch: Instant::now(),
            malformed: 0,
            reliable_received: 0,
            last_flush: None,
        })
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Advances time, reads the socket and returns every message received.
    pub fn update(&mut self, dt: Duration, out: &mut Vec<ServerMessage>) -> Result<(), NetError> {
        self.renet.update(dt);
        // Messages that arrived with the final packets are still delivered.
        let transport = self.pump();
        for channel in [Channel::Reliable, Channel::Snapshot] {
            while let Some(bytes) = self.renet.receive_message(channel) {
                match codec::decode::<ServerMessage>(&bytes) {
                    Ok(message) => {
                        self.reliable_received += u64::from(channel == Channel::Reliable);
                        out.push(message);
                    }
                    Err(e) => {
                        self.malformed += 1;
                        tracing::warn!(error = %e, "malformed server message");
                    }
                }
            }
        }
        transport
    }

    /// Reads the socket into netcode and renet, and lets netcode send its
    /// handshake and keep-alive packets.
    fn pump(&mut self) -> Result<(), NetError> {
        let now = self.now();
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
            let len = match self.socket.recv_from(&mut self.buffer[..]) {
                Ok((len, from)) if from == server => len,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            match self.netcode.process(now, &mut self.buffer[..len]) {
                Ok(Some(payload)) => self.renet.process_packet(payload),
                Ok(None) => {}
                Err(refused) => tracing::trace!(%refused, "datagram ignored"),
            }
        }
        self.netcode.update(now, &mut sender(&self.socket));
        if self.netcode.is_connected() {
            self.renet.set_connected();
        } else if self.netcode.is_connecting() {
            self.renet.set_connecting();
        }
        Ok(())
    }

    /// Queues a message; before the handshake completes it is dropped.
    pub fn send(&mut self, channel: Channel, message: &ClientMessage) {
        match codec::encode(message) {
            Ok(bytes) if self.is_connected() => self.renet.send_message(channel, bytes),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot encode message"),
        }
    }

    /// Sends everything queued.
    pub fn flush(&mut self) -> Result<(), NetError> {
        if let Some(reason) = self.netcode.disconnect_reason() {
            return Err(NetError::Disconnected(reason.to_string()));
        }
        if !self.netcode.is_connected() {
            return Ok(());
        }
        let now = self.now();
        self.last_flush = Some(now);
        let mut send = sender(&self.socket);
        for packet in self.renet.get_packets_to_send() {
            self.netcode.send_payload(now, &packet, &mut send).map_err(|e| NetError::Disconnected(e.to_string()))?;
        }
        Ok(())
    }

    /// Sends what is queued if nothing was sent for `every`. A caller that
    /// reads the network more often than it has something to say uses
    /// this: every send carries an acknowledgement packet, so flushing on
    /// each read would send one per read.
    pub fn flush_due(&mut self, every: Duration) -> Result<(), NetError> {
        match self.last_flush {
            Some(at) if self.now().saturating_sub(at) < every && self.netcode.disconnect_reason().is_none() => Ok(()),
            _ => self.flush(),
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
        self.netcode.disconnect(&mut sender(&self.socket));
    }
}
