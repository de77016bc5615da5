//! Wire protocol: channels, message enums and the protocol id.
//!
//! Wire types are plain data with stable ids ([`NetId`]); no ECS type ever
//! crosses the wire. Decoding goes through [`crate::codec`] only.

use std::time::Duration;

use renet::{ChannelConfig, ConnectionConfig, SendType};
use serde::{Deserialize, Serialize};

/// Version of the wire format. Bump it whenever any message changes shape.
pub const PROTOCOL_VERSION: u32 = 8;

/// netcode.io protocol id: "tickforg" in ASCII with the version folded in.
/// A client built for another wire format cannot complete the handshake.
pub const PROTOCOL_ID: u64 = u64::from_be_bytes(*b"tickforg") ^ PROTOCOL_VERSION as u64;

/// How many of its latest inputs a client repeats in every input packet, so
/// that one lost packet loses no input.
pub const INPUT_REDUNDANCY: usize = 4;

/// The most inputs one [`InputMessage`] may carry.
pub const MAX_INPUTS_PER_MESSAGE: usize = 16;

/// Longest chat line, in characters.
pub const MAX_CHAT_CHARS: usize = 200;

/// Logical channels. Each id maps to one renet channel (see [`connection_config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Channel {
    /// Reliable, ordered, both ways: welcome, roster, chat, notices, kicks.
    Reliable = 0,
    /// Unreliable, server → client: world snapshots ([`Snapshot`], and
    /// nothing else).
    Snapshot = 1,
    /// Unreliable, client → server: the game's inputs ([`InputMessage`],
    /// and nothing else; redundant, see [`INPUT_REDUNDANCY`]).
    Input = 2,
}

impl From<Channel> for u8 {
    fn from(channel: Channel) -> Self {
        channel as u8
    }
}

/// The renet connection configuration both sides must share.
pub fn connection_config() -> ConnectionConfig {
    let reliable = ChannelConfig {
        channel_id: Channel::Reliable.into(),
        max_memory_usage_bytes: 4 * 1024 * 1024,
        send_type: SendType::ReliableOrdered { resend_time: Duration::from_millis(200) },
    };
    ConnectionConfig {
        available_bytes_per_tick: 128 * 1024,
        server_channels_config: vec![
            reliable.clone(),
            ChannelConfig {
                channel_id: Channel::Snapshot.into(),
                max_memory_usage_bytes: 2 * 1024 * 1024,
                send_type: SendType::Unreliable,
            },
        ],
        client_channels_config: vec![
            reliable,
            ChannelConfig {
                channel_id: Channel::Input.into(),
                max_memory_usage_bytes: 64 * 1024,
                send_type: SendType::Unreliable,
            },
        ],
    }
}

/// Stable network id of a replicated entity (never an ECS `Entity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NetId(pub u32);

/// A map keyed by entity id, hashed by one multiplication (ids are small
/// sequential numbers the server hands out: a client cannot choose them).
pub type IdMap<V> = std::collections::HashMap<NetId, V, std::hash::BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdMap`]: Fibonacci hashing of the 32-bit id.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = (self.0 ^ u64::from(id)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// What a replicated entity is: its kind's number in the game's
/// [`crate::schema::Schema`] (which names it and lists its fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct EntityKind(pub u8);

/// One tick's input from a client: the game's input (`I`, a
/// [`crate::sim::Simulation::Input`]) with the engine's sequencing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputCmd<I> {
    /// Sequence number, +1 per client tick; the server applies each once, in order.
    pub seq: u32,
    /// The server tick the client believed it was when sampling this input.
    pub tick: u32,
    /// How far behind `tick` the world the player was looking at was (its
    /// interpolation time), in sixteenths of a tick: lag compensation
    /// judges the input against the world as it was at `tick - view_lag/16`.
    pub view_lag: u16,
    /// What the player did.
    pub input: I,
}

impl<I> InputCmd<I> {
    /// The server tick (fractional) the player was looking at.
    pub fn view_tick(&self) -> f64 {
        f64::from(self.tick) - f64::from(self.view_lag) / 16.0
    }
}

/// What a client sends on [`Channel::Input`]: its latest inputs, newest
/// last, and the snapshot it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputMessage<I> {
    /// Newest snapshot tick decoded, the server's delta baseline (0: none yet).
    pub ack_tick: u32,
    /// Up to [`MAX_INPUTS_PER_MESSAGE`] commands with increasing `seq`.
    pub inputs: Vec<InputCmd<I>>,
}

/// A connected player, as the roster shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerInfo {
    /// The player's avatar entity.
    pub id: NetId,
    /// Account name.
    pub name: String,
}

/// A client's own player, exactly as the server simulated it (for
/// reconciliation): the game's [`crate::sim::Simulation::State`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OwnState<S> {
    /// The player's entity.
    pub id: NetId,
    /// Its state.
    pub state: S,
}

/// What one client can see at one tick, delta-encoded (see
/// [`crate::snapshot`]); `S` is the game's own-player state. Sent alone on
/// [`Channel::Snapshot`].
///
/// `P` holds the payload: a `Vec<u8>` as decoded; the server encodes from
/// `&[u8]` (its per-client buffer) and `&S`, which put the same bytes on
/// the wire without copying either into the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot<S, P = Vec<u8>> {
    /// Server tick the state belongs to.
    pub tick: u32,
    /// The acknowledged snapshot this one is relative to; `None` = full state.
    pub baseline_tick: Option<u32>,
    /// Highest input sequence the server has applied for this client.
    pub ack_input_seq: u32,
    /// This client's own player, exact.
    pub own: Option<OwnState<S>>,
    /// The packed entity set (every visible entity but the client's own).
    pub payload: P,
}

/// Client → server messages on [`Channel::Reliable`] (inputs go on
/// [`Channel::Input`] as an [`InputMessage`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// A chat line ([`Channel::Reliable`]).
    Chat {
        /// The sender's own number for the line, increasing: it keeps the
        /// line until it comes back numbered ([`ServerMessage::Chat`] with
        /// this `seq`) and says it again after a reconnect or a move; the
        /// cluster takes each (account, `seq`) once.
        seq: u64,
        /// At most [`MAX_CHAT_CHARS`] characters.
        text: String,
    },
    /// Where this connection's chat starts ([`Channel::Reliable`], first
    /// after the welcome): the lines after `after`, the last one the
    /// client got (`None`: it has none; from now on). Until it says, the
    /// server sends it no chat.
    ChatFrom {
        /// The id of the last line received.
        after: Option<u64>,
    },
}

/// The [`ServerMessage::Disconnecting`] reason of a server that is shutting
/// down: not the player's doing, so clients come back (elsewhere) by themselves.
pub const SHUTTING_DOWN: &str = "server shutting down";

/// Server → client messages on [`Channel::Reliable`] (snapshots go on
/// [`Channel::Snapshot`] as a [`Snapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// First message after connecting: who you are and how the world runs.
    Welcome {
        /// Your avatar.
        your_entity: NetId,
        /// Your account id (from the connect token).
        account_id: u64,
        /// Server tick at the time of sending.
        tick: u32,
        /// Simulation rate in Hz.
        tick_rate: u16,
        /// Everybody connected, you included.
        players: Vec<PlayerInfo>,
        /// How old the state your avatar starts from is, in milliseconds:
        /// the time since it was saved when it was loaded from the
        /// database (after a crash, the play since that save is lost); 0
        /// when it is live (a waiting avatar, a handoff) or new.
        state_age_ms: u32,
    },
    /// Someone connected.
    PlayerJoined(PlayerInfo),
    /// Someone disconnected; their avatar is gone.
    PlayerLeft {
        /// The avatar that was removed.
        id: NetId,
    },
    /// A chat line from a player, numbered by the cluster.
    Chat {
        /// The line's id: gapless and increasing across the cluster.
        id: u64,
        /// Sender's account name.
        from: String,
        /// The sender's own number for it ([`ClientMessage::Chat`]).
        seq: u64,
        /// The line.
        text: String,
    },
    /// A message from the server to everyone (or to you).
    Notice {
        /// Human-readable text.
        text: String,
    },
    /// Move to another game server ([`Channel::Reliable`]): this server is
    /// draining; the player's exact state is already on the target. The
    /// client connects with the token by itself and plays on there.
    Transfer {
        /// A netcode connect token for the target (and fallbacks).
        connect_token: Vec<u8>,
        /// The target's registry id, for the notice.
        server: String,
        /// How long the avatar had been frozen for the move when this was
        /// sent, in milliseconds (the client counts the pause from then).
        frozen_ms: u32,
        /// The target's WebSocket URLs (`ws://host:port/ws`), for clients
        /// that play over WebSocket (empty when it serves none).
        ws: Vec<String>,
    },
    /// The server is about to drop the connection, and why.
    Disconnecting {
        /// Human-readable reason.
        reason: String,
    },
}
