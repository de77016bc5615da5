//! The client state machine: connection request, challenge response,
//! keep-alives, timeouts and fallback to the token's next server. IO-free:
//! the caller passes the time (any monotonic clock) and a `send` closure.

use std::net::SocketAddr;
use std::time::Duration;

use crate::packet::{self, Kind, Refused};
use crate::replay::Window;
use crate::server::{SendError, Sink};
use crate::token::ConnectToken;
use crate::{CHALLENGE_TOKEN_BYTES, DISCONNECT_COPIES, MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES, SEND_INTERVAL};

/// Why the client is no longer connected or connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DisconnectReason {
    /// The token expired before a server accepted it.
    #[error("connect token expired")]
    TokenExpired,
    /// No server answered the connection request.
    #[error("connection request timed out")]
    RequestTimedOut,
    /// The server did not finish the handshake.
    #[error("challenge response timed out")]
    ResponseTimedOut,
    /// The server went silent.
    #[error("connection timed out")]
    TimedOut,
    /// The server is full.
    #[error("connection denied")]
    Denied,
    /// The server closed the connection.
    #[error("disconnected by the server")]
    ClosedByServer,
    /// This side closed the connection.
    #[error("disconnected by the client")]
    ClosedByClient,
}

/// Where the client is in the connection process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Sending connection requests.
    SendingRequest,
    /// Sending challenge responses.
    SendingResponse,
    /// Connected.
    Connected,
    /// Finished, for the reason given.
    Disconnected(DisconnectReason),
}

/// A netcode.io client.
pub struct Client {
    token: ConnectToken,
    state: ClientState,
    server_index: usize,
    started: Duration,
    last_received: Duration,
    last_sent: Option<Duration>,
    sequence: u64,
    replay: Window,
    challenge: (u64, [u8; CHALLENGE_TOKEN_BYTES]),
    client_index: u32,
    max_clients: u32,
    out: Box<[u8; MAX_PACKET_BYTES]>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state)
            .field("server", &self.server_addr())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts connecting with `token` to its first server.
    pub fn new(token: ConnectToken, now: Duration) -> Self {
        Self {
            token,
            state: ClientState::SendingRequest,
            server_index: 0,
            started: now,
            last_received: now,
            last_sent: None,
            sequence: 0,
            replay: Window::default(),
            challenge: (0, [0; CHALLENGE_TOKEN_BYTES]),
            client_index: 0,
            max_clients: 0,
            out: Box::new([0; MAX_PACKET_BYTES]),
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// Connected.
    pub fn is_connected(&self) -> bool {
        self.state == ClientState::Connected
    }

    /// Still in the handshake.
    pub fn is_connecting(&self) -> bool {
        matches!(self.state, ClientState::SendingRequest | ClientState::SendingResponse)
    }

    /// Why it ended, once it has.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self.state {
            ClientState::Disconnected(reason) => Some(reason),
            _ => None,
        }
    }

    /// The server being connected to.
    pub fn server_addr(&self) -> SocketAddr {
        self.token.server_addresses[self.server_index.min(self.token.server_addresses.len() - 1)]
    }

    /// The slot the server gave this client, and the server's slot count.
    pub fn slot(&self) -> (u32, u32) {
        (self.client_index, self.max_clients)
    }

    fn timeout(&self) -> Option<Duration> {
        u64::try_from(self.token.timeout_seconds).ok().filter(|&s| s > 0).map(Duration::from_secs)
    }

    /// Handles a datagram from the server; returns a payload if it carried one.
    pub fn process<'a>(&mut self, now: Duration, datagram: &'a mut [u8]) -> Result<Option<&'a [u8]>, Refused> {
        let header = packet::header(datagram)?;
        if matches!(header.kind, Kind::Request | Kind::Response) {
            return Err(Refused::OutOfPhase);
        }
        if header.kind.replay_protected() && !self.replay.fresh(header.sequence) {
            return Err(Refused::Replayed);
        }
        let body = packet::open(datagram, &header, self.token.protocol_id, &self.token.server_to_client_key)?;
        if header.kind.replay_protected() {
            self.replay.accept(header.sequence);
        }
        match (header.kind, self.state) {
            (Kind::Denied, ClientState::SendingRequest | ClientState::SendingResponse) => {
                self.state = ClientState::Disconnected(DisconnectReason::Denied);
            }
            (Kind::Challenge, ClientState::SendingRequest) => {
                let (sequence, token) = packet::read_challenge(body).ok_or(Refused::Length)?;
                self.challenge = (sequence, *token);
                self.state = ClientState::SendingResponse;
                self.last_sent = None;
            }
            (Kind::KeepAlive, ClientState::SendingResponse) => {
                let (index, max) = packet::read_keep_alive(body).ok_or(Refused::Length)?;
                (self.client_index, self.max_clients) = (index, max);
                self.state = ClientState::Connected;
            }
            (Kind::KeepAlive, ClientState::Connected) => {}
            (Kind::Payload, ClientState::Connected) => {
                self.last_received = now;
                return Ok(Some(body));
            }
            (Kind::Disconnect, ClientState::Connected) => {
                self.state = ClientState::Disconnected(DisconnectReason::ClosedByServer);
            }
            _ => return Err(Refused::OutOfPhase),
        }
        self.last_received = now;
        Ok(None)
    }

    /// Checks timeouts and sends this moment's handshake or keep-alive packet.
    pub fn update(&mut self, now: Duration, send: Sink<'_>) {
        self.check_timeouts(now);
        let due = self.last_sent.is_none_or(|t| now.saturating_sub(t) >= SEND_INTERVAL);
        if !due {
            return;
        }
        let server = self.server_addr();
        let protocol_id = self.token.protocol_id;
        match self.state {
            ClientState::SendingRequest => {
                let len = packet::write_request(
                    &mut self.out,
                    protocol_id,
                    self.token.expire_timestamp,
                    &self.token.xnonce,
                    &self.token.private_data,
                );
                send(server, &self.out[..len]);
            }
            ClientState::SendingResponse => {
                let body = packet::challenge_body(self.challenge.0, &self.challenge.1);
                self.seal_and_send(Kind::Response, &body, send);
            }
            ClientState::Connected => {
                let body = packet::keep_alive_body(self.client_index, self.max_clients);
                self.seal_and_send(Kind::KeepAlive, &body, send);
            }
            ClientState::Disconnected(_) => return,
        }
        self.last_sent = Some(now);
    }

    fn seal_and_send(&mut self, kind: Kind, body: &[u8], send: Sink<'_>) {
        let server = self.server_addr();
        match packet::seal(
            &mut self.out,
            kind,
            self.sequence,
            body,
            self.token.protocol_id,
            &self.token.client_to_server_key,
        ) {
            Some(len) => {
                self.sequence += 1;
                send(server, &self.out[..len]);
            }
            None => tracing::error!(?kind, "cannot seal packet"),
        }
    }

    fn check_timeouts(&mut self, now: Duration) {
        let silent = self.timeout().is_some_and(|t| now.saturating_sub(self.last_received) > t);
        match self.state {
            ClientState::SendingRequest | ClientState::SendingResponse => {
                let lifetime = self.token.expire_timestamp.saturating_sub(self.token.create_timestamp);
                if now.saturating_sub(self.started).as_secs() >= lifetime {
                    self.state = ClientState::Disconnected(DisconnectReason::TokenExpired);
                } else if silent {
                    if self.server_index + 1 < self.token.server_addresses.len() {
                        self.server_index += 1;
                        self.state = ClientState::SendingRequest;
                        self.last_received = now;
                        self.last_sent = None;
                    } else {
                        self.state = ClientState::Disconnected(if self.state == ClientState::SendingRequest {
                            DisconnectReason::RequestTimedOut
                        } else {
                            DisconnectReason::ResponseTimedOut
                        });
                    }
                }
            }
            ClientState::Connected if silent => self.state = ClientState::Disconnected(DisconnectReason::TimedOut),
            _ => {}
        }
    }

    /// Seals and sends a payload; only while connected.
    pub fn send_payload(&mut self, now: Duration, payload: &[u8], send: Sink<'_>) -> Result<(), SendError> {
        if self.state != ClientState::Connected {
            return Err(SendError::NotConnected);
        }
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SendError::Size(payload.len()));
        }
        self.seal_and_send(Kind::Payload, payload, send);
        self.last_sent = Some(now);
        Ok(())
    }

    /// Leaves: redundant disconnect packets if connected, then disconnected.
    pub fn disconnect(&mut self, send: Sink<'_>) {
        if self.state == ClientState::Connected {
            for _ in 0..DISCONNECT_COPIES {
                self.seal_and_send(Kind::Disconnect, &[], send);
            }
        }
        if !matches!(self.state, ClientState::Disconnected(_)) {
            self.state = ClientState::Disconnected(DisconnectReason::ClosedByClient);
        }
    }
}
