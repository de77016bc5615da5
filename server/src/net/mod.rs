//! The game transport: renet channels over netcode.io UDP.
//!
//! Every renet and netcode type stays inside this module. The rest of the
//! server sees [`NetServer`] with our own [`ClientKey`], [`NetEvent`] and
//! the messages of `tickforge_shared::protocol`. Identity comes from the
//! connect token only ([`identity`]).

pub mod conn_gate;
pub mod datagrams;
pub mod discipline;
pub mod forwarded;
pub mod guard;
pub mod identity;
mod systems;
pub mod token;
pub mod transport;
pub mod websocket;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use renet::{RenetServer, ServerEvent};
use tickforge_netcode::ServerConfig;
use tickforge_shared::codec;
use tickforge_shared::protocol::{Channel, ClientMessage, PROTOCOL_ID, ServerMessage, connection_config};

use crate::secrets::PrivateKey;
use discipline::{Phase, Verdict};
use identity::{Carried, Identity};
pub use systems::{Inbox, NetSet, install};
use transport::{Offence, Transport, TransportStats};

/// Malformed or out-of-phase messages tolerated from one client before it is dropped.
pub const MAX_MALFORMED: u32 = 10;
/// Messages a joining client may send before its welcome without it
/// counting against it (3 s of inputs at 30 Hz: its state is loading).
pub const JOINING_GRACE: u32 = 90;

/// Our handle for a connected client (the netcode client id, which is the account id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(pub u64);

/// What happened on the network since the last receive.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    /// A client finished the handshake with a valid token.
    Connected {
        /// The connection.
        client: ClientKey,
        /// Who it is, from the token.
        identity: Identity,
        /// The exact state a draining server handed over with the token.
        carried: Option<Carried>,
        /// Its network address (UDP, or the WebSocket's TCP peer).
        addr: Option<SocketAddr>,
        /// It plays over WebSocket.
        websocket: bool,
    },
    /// A client is gone.
    Disconnected {
        /// The connection.
        client: ClientKey,
        /// Why, for logs.
        reason: String,
        /// The link was lost, not closed: nothing was heard from the client
        /// for its timeout (a dropped link, a crash, a closed lid), or the
        /// same player came back on a new connection before the old one
        /// timed out — no goodbye, no kick.
        link_lost: bool,
    },
    /// A well-formed message from a connected client ([`Channel::Reliable`]).
    Message {
        /// Sender.
        client: ClientKey,
        /// The decoded message.
        message: ClientMessage,
    },
    /// An input message from a playing client ([`Channel::Input`]), for
    /// the game's input feature to decode (a failure to goes back through
    /// [`NetServer::malformed`]).
    Input {
        /// Sender.
        client: ClientKey,
        /// The message as it came.
        bytes: renet::Bytes,
    },
}

/// Per-connection bookkeeping.
#[derive(Debug)]
struct ClientState {
    addr: Option<SocketAddr>,
    websocket: bool,
    phase: Phase,
    /// Malformed payloads and out-of-phase messages seen; past
    /// [`MAX_MALFORMED`] the client is dropped.
    malformed: u32,
    /// Messages that arrived before the welcome.
    early: u32,
}

/// Link figures for one client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkStats {
    /// Round-trip time in milliseconds.
    pub rtt_ms: f64,
    /// Fraction of packets lost.
    pub packet_loss: f64,
    /// Bytes per second sent to it.
    pub bytes_out_per_s: f64,
    /// Bytes per second received from it.
    pub bytes_in_per_s: f64,
}

/// Transport errors the tick loop can see.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The UDP socket failed.
    #[error("udp socket: {0}")]
    Io(#[from] std::io::Error),
    /// The transport failed in another way.
    #[error("transport: {0}")]
    Transport(String),
}

/// The server side of the game transport (an ECS resource of the tick loop).
#[derive(bevy_ecs::resource::Resource)]
pub struct NetServer {
    renet: RenetServer,
    transport: Transport,
    clients: HashMap<ClientKey, ClientState>,
    offences: Vec<Offence>,
    /// Total malformed payloads, for metrics.
    malformed_total: u64,
    /// Total out-of-phase messages, for metrics.
    out_of_phase_total: u64,
    /// Reliable messages queued, counted per recipient, for metrics.
    reliable_sent: u64,
    /// Messages broadcast since the last [`NetServer::take_broadcasts`] (for replays).
    broadcasts: Vec<ServerMessage>,
}

impl std::fmt::Debug for NetServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetServer").field("clients", &self.clients.len()).finish_non_exhaustive()
    }
}

impl NetServer {
    /// Wraps a bound UDP socket, and the WebSocket links' tick end if any.
    /// `public_addr` must match the address in tokens.
    pub fn new(
        socket: UdpSocket,
        ws: Option<websocket::WsLinks>,
        public_addr: SocketAddr,
        key: &PrivateKey,
        max_clients: usize,
        batching: datagrams::Batching,
    ) -> Result<Self, NetError> {
        let config = ServerConfig {
            protocol_id: PROTOCOL_ID,
            max_clients,
            public_addresses: vec![public_addr],
            private_key: key.0,
        };
        let transport = Transport::new(config, socket, ws, batching)?;
        Ok(Self {
            renet: RenetServer::new(connection_config()),
            transport,
            clients: HashMap::new(),
            offences: Vec::new(),
            malformed_total: 0,
            out_of_phase_total: 0,
            reliable_sent: 0,
            broadcasts: Vec::new(),
        })
    }

    /// Advances time by `dt`, reads the socket and appends what happened to `events`.
    pub fn receive(&mut self, dt: Duration, events: &mut Vec<NetEvent>) -> Result<(), NetError> {
        self.renet.update(dt);
        self.transport.update(&mut self.renet, &mut self.offences)?;
        // Payloads the guard refused count like malformed messages.
        for offence in std::mem::take(&mut self.offences) {
            tracing::debug!(client = offence.client_id, refusal = %offence.refusal, "payload refused");
            if let Some(state) = self.clients.get_mut(&ClientKey(offence.client_id)) {
                state.malformed += 1;
                self.malformed_total += 1;
            }
        }

        while let Some(event) = self.renet.get_event() {
            match event {
                ServerEvent::ClientConnected { client_id } => self.admit(client_id, events),
                ServerEvent::ClientDisconnected { client_id, reason } => {
                    let client = ClientKey(client_id);
                    let replaced = self.transport.was_replaced(client_id);
                    let reason =
                        if replaced { "replaced by a newer connection".to_owned() } else { reason.to_string() };
                    let link_lost = replaced || self.transport.timed_out(client_id);
                    if self.clients.remove(&client).is_some() {
                        events.push(NetEvent::Disconnected { client, reason, link_lost });
                    }
                }
            }
        }

        for (&client, state) in &mut self.clients {
            for channel in [Channel::Reliable, Channel::Input] {
                while let Some(bytes) = self.renet.receive_message(client.0, channel) {
                    match discipline::judge(state.phase, channel) {
                        Verdict::Deliver if channel == Channel::Input => events.push(NetEvent::Input { client, bytes }),
                        Verdict::Deliver => match codec::decode::<ClientMessage>(&bytes) {
                            Ok(message) => events.push(NetEvent::Message { client, message }),
                            Err(e) => {
                                state.malformed += 1;
                                self.malformed_total += 1;
                                tracing::debug!(client = client.0, error = %e, "malformed message");
                            }
                        },
                        Verdict::Early => {
                            state.early += 1;
                            if state.early > JOINING_GRACE {
                                state.malformed += 1;
                                self.out_of_phase_total += 1;
                            }
                        }
                        Verdict::Violation(why) => {
                            state.malformed += 1;
                            self.out_of_phase_total += 1;
                            tracing::debug!(client = client.0, why, "out-of-phase message");
                        }
                    }
                }
            }
        }
        let offenders: Vec<ClientKey> =
            self.clients.iter().filter(|(_, s)| s.malformed > MAX_MALFORMED).map(|(c, _)| *c).collect();
        for client in offenders {
            tracing::warn!(client = client.0, "dropping client after repeated malformed or out-of-phase messages");
            self.drop_offender(client);
        }
        Ok(())
    }

    fn admit(&mut self, client_id: u64, events: &mut Vec<NetEvent>) {
        let data = self.transport.user_data(client_id);
        let identity = data.as_ref().and_then(Identity::from_user_data);
        let carried = data.as_ref().and_then(Carried::read);
        match identity {
            Some(identity) if identity.account_id == client_id => {
                let client = ClientKey(client_id);
                let peer = self.transport.client_peer(client_id);
                let addr = peer.map(transport::PeerId::addr);
                let websocket = matches!(peer, Some(transport::PeerId::Ws { .. }));
                self.clients
                    .insert(client, ClientState { addr, websocket, phase: Phase::Joining, malformed: 0, early: 0 });
                events.push(NetEvent::Connected { client, identity, carried, addr, websocket });
            }
            _ => {
                tracing::warn!(client = client_id, "connect token carries no valid identity; dropping");
                self.renet.disconnect(client_id);
            }
        }
    }

    /// Counts a message from `client` that did not decode (an input the
    /// game's feature could not read); past [`MAX_MALFORMED`] the client
    /// is dropped at the next receive.
    pub fn malformed(&mut self, client: ClientKey, error: &dyn std::fmt::Display) {
        if let Some(state) = self.clients.get_mut(&client) {
            state.malformed += 1;
            self.malformed_total += 1;
            tracing::debug!(client = client.0, %error, "malformed message");
        }
    }

    /// Queues a message for one client: a [`ServerMessage`] on
    /// [`Channel::Reliable`], a `Snapshot` on [`Channel::Snapshot`].
    pub fn send<M: serde::Serialize>(&mut self, client: ClientKey, channel: Channel, message: &M) {
        match codec::encode(message) {
            Ok(bytes) => self.send_raw(client, channel, bytes),
            Err(e) => tracing::error!(error = %e, "cannot encode server message"),
        }
    }

    /// Queues already-encoded bytes for one client (for messages shared by many).
    pub fn send_raw(&mut self, client: ClientKey, channel: Channel, bytes: impl Into<renet::Bytes>) {
        if self.renet.is_connected(client.0) {
            if channel == Channel::Reliable {
                self.reliable_sent += 1;
            }
            self.renet.send_message(client.0, channel, bytes);
        }
    }

    /// Queues one message for several clients, encoded once (a replay
    /// records it like a broadcast).
    pub fn multicast(&mut self, channel: Channel, message: &ServerMessage, clients: &[ClientKey]) {
        match codec::encode(message) {
            Ok(bytes) => {
                let bytes = renet::Bytes::from(bytes);
                for client in clients {
                    self.send_raw(*client, channel, bytes.clone());
                }
                if channel == Channel::Reliable {
                    self.broadcasts.push(message.clone());
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode server message"),
        }
    }

    /// Queues a message for every connected client.
    pub fn broadcast(&mut self, channel: Channel, message: &ServerMessage) {
        match codec::encode(message) {
            Ok(bytes) => {
                if channel == Channel::Reliable {
                    self.reliable_sent += self.renet.connected_clients() as u64;
                    self.broadcasts.push(message.clone());
                }
                self.renet.broadcast_message(channel, bytes);
            }
            Err(e) => tracing::error!(error = %e, "cannot encode server message"),
        }
    }

    /// Tells a client why, then drops it.
    pub fn kick(&mut self, client: ClientKey, reason: &str) {
        self.send(client, Channel::Reliable, &ServerMessage::Disconnecting { reason: reason.to_owned() });
        self.flush();
        self.renet.disconnect(client.0);
    }

    /// Sends everything queued.
    pub fn flush(&mut self) {
        self.transport.send(&mut self.renet);
    }

    /// Tells every client why, sends it, and closes every connection.
    pub fn shutdown(&mut self, reason: &str) {
        self.broadcast(Channel::Reliable, &ServerMessage::Disconnecting { reason: reason.to_owned() });
        self.flush();
        self.transport.disconnect_all(&mut self.renet);
        self.clients.clear();
    }

    /// Drops a client whose messages are malformed, once (it leaves the
    /// client table at the next receive).
    fn drop_offender(&mut self, client: ClientKey) {
        if let Some(state) = self.clients.get_mut(&client) {
            state.malformed = 0;
        }
        self.kick(client, "too many malformed or out-of-phase messages");
    }

    /// Connected clients, in no particular order.
    pub fn clients(&self) -> impl Iterator<Item = ClientKey> + '_ {
        self.clients.keys().copied()
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Clients connected over WebSocket.
    pub fn ws_players(&self) -> usize {
        self.clients.values().filter(|c| c.websocket).count()
    }

    /// A client's network address.
    pub fn client_addr(&self, client: ClientKey) -> Option<SocketAddr> {
        self.clients.get(&client).and_then(|c| c.addr)
    }

    /// A client's link figures.
    pub fn link_stats(&self, client: ClientKey) -> Option<LinkStats> {
        let info = self.renet.network_info(client.0).ok()?;
        Some(LinkStats {
            rtt_ms: info.rtt * 1000.0,
            packet_loss: info.packet_loss,
            bytes_out_per_s: info.bytes_sent_per_second,
            bytes_in_per_s: info.bytes_received_per_second,
        })
    }

    /// The avatar of `client` is in the world: its messages are delivered from now on.
    pub fn set_playing(&mut self, client: ClientKey) {
        if let Some(state) = self.clients.get_mut(&client) {
            state.phase = Phase::Playing;
        }
    }

    /// The reliable messages broadcast since the last call (joins, leaves,
    /// chat, notices), oldest first.
    pub fn take_broadcasts(&mut self) -> Vec<ServerMessage> {
        std::mem::take(&mut self.broadcasts)
    }

    /// Reliable messages queued so far, counted once per recipient.
    pub fn reliable_sent_total(&self) -> u64 {
        self.reliable_sent
    }

    /// Total messages refused for their channel or phase.
    pub fn out_of_phase_total(&self) -> u64 {
        self.out_of_phase_total
    }

    /// Total malformed payloads and messages received from connected clients.
    pub fn malformed_total(&self) -> u64 {
        self.malformed_total
    }

    /// What the socket driver refused.
    pub fn transport_stats(&self) -> TransportStats {
        self.transport.stats()
    }
}
