//! The client side of the game transport: renet over netcode.io UDP.
//! All renet and netcode types stay in this module.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use renet::RenetClient;
use renet_netcode::{ClientAuthentication, ConnectToken, NetcodeClientTransport};
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
    transport: NetcodeClientTransport,
    /// Payloads that failed to decode (a server bug or corruption).
    pub malformed: u64,
    /// A payload has arrived, so netcode is connected even if renet only
    /// learns it on the next update; sending is safe from then on.
    established: bool,
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
        let transport = NetcodeClientTransport::new(now, ClientAuthentication::Secure { connect_token: token }, socket)
            .map_err(|e| NetError::Token(e.to_string()))?;
        Ok(Self { renet: RenetClient::new(connection_config()), transport, malformed: 0, established: false })
    }

    /// Advances time, reads the socket and returns every message received.
    pub fn update(&mut self, dt: Duration, out: &mut Vec<ServerMessage>) -> Result<(), NetError> {
        self.renet.update(dt);
        // Messages that arrived with the final packets are still delivered.
        let transport = self.transport.update(dt, &mut self.renet);
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
        transport.map_err(|e| NetError::Disconnected(e.to_string()))
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
        self.transport.send_packets(&mut self.renet).map_err(|e| NetError::Disconnected(e.to_string()))
    }

    /// Handshake complete.
    pub fn is_connected(&self) -> bool {
        (self.renet.is_connected() || self.established) && !self.is_disconnected()
    }

    /// The connection has ended.
    pub fn is_disconnected(&self) -> bool {
        self.renet.is_disconnected() || self.transport.disconnect_reason().is_some()
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

    /// Says goodbye to the server at once.
    pub fn disconnect(&mut self) {
        self.transport.disconnect();
    }
}
