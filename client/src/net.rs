//! The client side of the game transport: renet over netcode.io UDP.
//! All renet and netcode types stay in this module. The socket is driven
//! here directly (around renetcode's `NetcodeClient`), so the goodbye can be
//! sent several times: one lost disconnect packet would otherwise keep the
//! account "connected" on the server until it times out, and a quick
//! reconnect would be refused.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use renet::RenetClient;
use renetcode::{ClientAuthentication, ConnectToken, NETCODE_MAX_PACKET_BYTES, NetcodeClient};
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

/// Copies of the disconnect packet sent when leaving.
const DISCONNECT_COPIES: usize = 5;

/// A connection to a game server.
pub struct Connection {
    renet: RenetClient,
    netcode: NetcodeClient,
    socket: UdpSocket,
    buffer: Box<[u8; NETCODE_MAX_PACKET_BYTES]>,
    /// Payloads that failed to decode (a server bug or corruption).
    pub malformed: u64,
    /// A payload has arrived, so netcode is connected even if renet only
    /// learns it on the next update; sending is safe from then on.
    established: bool,
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

impl Connection {
    /// Starts the handshake with the server the token names.
    pub fn connect(token: &[u8]) -> Result<Self, NetError> {
        let token = ConnectToken::read(&mut &token[..]).map_err(|e| NetError::Token(e.to_string()))?;
        let server = *token
            .server_addresses
            .iter()
            .flatten()
            .next()
            .ok_or_else(|| NetError::Token("no server address".into()))?;
        let bind: SocketAddr =
            if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { "[::]:0".parse().expect("valid") };
        let socket = UdpSocket::bind(bind)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        socket.set_nonblocking(true)?;
        let netcode = NetcodeClient::new(now, ClientAuthentication::Secure { connect_token: token })
            .map_err(|e| NetError::Token(e.to_string()))?;
        Ok(Self {
            renet: RenetClient::new(connection_config()),
            netcode,
            socket,
            buffer: Box::new([0; NETCODE_MAX_PACKET_BYTES]),
            malformed: 0,
            established: false,
        })
    }

    /// Advances time, reads the socket and returns every message received.
    pub fn update(&mut self, dt: Duration, out: &mut Vec<ServerMessage>) -> Result<(), NetError> {
        self.renet.update(dt);
        // Messages that arrived with the final packets are still delivered.
        let transport = self.pump(dt);
        for channel in [Channel::Reliable, Channel::Snapshot] {
            while let Some(bytes) = self.renet.receive_message(channel) {
                self.established = true;
                match codec::decode::<ServerMessage>(&bytes) {
                    Ok(message) => out.push(message),
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
    fn pump(&mut self, dt: Duration) -> Result<(), NetError> {
        if let Some(reason) = self.netcode.disconnect_reason() {
            self.renet.disconnect_due_to_transport();
            return Err(NetError::Disconnected(format!("{reason:?}")));
        }
        if self.renet.is_disconnected() {
            self.disconnect();
            return Err(NetError::Disconnected("connection closed".into()));
        }
        if self.netcode.is_connected() {
            self.renet.set_connected();
        } else if self.netcode.is_connecting() {
            self.renet.set_connecting();
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
            if let Some(payload) = self.netcode.process_packet(&mut self.buffer[..len]) {
                self.renet.process_packet(payload);
            }
        }
        if let Some((packet, addr)) = self.netcode.update(dt) {
            self.socket.send_to(packet, addr)?;
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
            return Err(NetError::Disconnected(format!("{reason:?}")));
        }
        if !self.netcode.is_connected() {
            return Ok(());
        }
        for packet in self.renet.get_packets_to_send() {
            let (addr, datagram) =
                self.netcode.generate_payload_packet(&packet).map_err(|e| NetError::Disconnected(e.to_string()))?;
            self.socket.send_to(datagram, addr)?;
        }
        Ok(())
    }

    /// Handshake complete.
    pub fn is_connected(&self) -> bool {
        (self.renet.is_connected() || self.established) && !self.is_disconnected()
    }

    /// The connection has ended.
    pub fn is_disconnected(&self) -> bool {
        self.renet.is_disconnected() || self.netcode.is_disconnected()
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
        if self.netcode.is_disconnected() {
            return;
        }
        if let Ok((addr, packet)) = self.netcode.disconnect() {
            for _ in 0..DISCONNECT_COPIES {
                let _ = self.socket.send_to(packet, addr);
            }
        }
    }
}
