//! The engine's components of a player (its avatar, view, conduct, handoff
//! and grace period), and the API's replicated ones, re-exported. None of
//! these cross the wire; the replication system reads them into snapshots.

use std::collections::VecDeque;

use bevy_ecs::component::Component;

use crate::net::ClientKey;

pub use tickforge_api::{Fields, Kind, NetEntity, Position, Replicated};

/// A player's avatar: who controls it.
#[derive(Debug, Clone, PartialEq, Eq, Component)]
pub struct Avatar {
    /// The connection whose inputs move it.
    pub client: ClientKey,
    /// Account id from the connect token.
    pub account_id: u64,
    /// Account name from the connect token.
    pub name: String,
    /// Unix milliseconds when the connection was made.
    pub connected_at_ms: i64,
    /// The lease epoch this server holds the player under; every save
    /// carries it, and the database refuses it once the lease moves on.
    pub epoch: i64,
}

/// How a player has behaved: inputs and chat the server had to refuse.
#[derive(Debug, Clone, Component)]
pub struct Conduct {
    /// Inputs the game's rule found invalid (NaN, say; replaced by its idle input;
    /// past [`Conduct::MAX_INVALID_INPUTS`] the client is dropped).
    pub invalid_inputs: u32,
    /// Finite inputs longer than any device sends (replaced by "stand
    /// still" and flagged, never a reason to drop the client).
    pub implausible_inputs: u32,
    /// Inputs discarded because the client sent faster than real time.
    pub excess_inputs: u32,
    /// Chat lines dropped by the rate limit.
    pub chat_dropped: u32,
    /// Chat lines that may still be sent now (token bucket).
    pub chat_tokens: f32,
}

impl Default for Conduct {
    fn default() -> Self {
        Self {
            invalid_inputs: 0,
            implausible_inputs: 0,
            excess_inputs: 0,
            chat_dropped: 0,
            chat_tokens: Self::CHAT_BURST,
        }
    }
}

impl Conduct {
    /// Chat lines per second allowed on average.
    pub const CHAT_RATE: f32 = 2.0;
    /// Chat lines allowed in a burst: ten seconds at [`Conduct::CHAT_RATE`].
    /// When a link goes quiet for a while (a blackout, a lossy stretch), the
    /// reliable channel delivers the lines held back all at once when it
    /// recovers; an honest sender's backlog is at most what it sent in the
    /// connection timeout (10 s), so it passes whole, while a sustained
    /// flood is still held to the rate.
    pub const CHAT_BURST: f32 = 20.0;
    /// Non-finite inputs tolerated before the client is dropped.
    pub const MAX_INVALID_INPUTS: u32 = 300;

    /// Everything refused so far.
    pub fn flags(&self) -> u32 {
        self.invalid_inputs + self.implausible_inputs + self.excess_inputs + self.chat_dropped
    }
}

/// Per-client replication state: what was sent, what was acknowledged, and
/// how long each entity has waited for bandwidth.
#[derive(Debug, Default, Component)]
pub struct ClientView {
    /// Recently sent entity sets, oldest first (bounded).
    pub history: VecDeque<(u32, tickforge_shared::snapshot::KnownSet)>,
    /// Newest snapshot tick the client acknowledged.
    pub acked: Option<u32>,
    /// Priority accumulators of entities waiting to be sent.
    pub priority: tickforge_shared::protocol::IdMap<f32>,
    /// The set last dropped from `history`, whose allocation the next
    /// snapshot reuses.
    pub spare: Option<tickforge_shared::snapshot::KnownSet>,
    /// The packed entity set's buffer, reused from snapshot to snapshot.
    pub payload: Vec<u8>,
    /// The encoded message's buffer: each snapshot is split off it and
    /// handed to renet, and its space is taken back once renet has sent it.
    pub message: bytes::BytesMut,
}

impl ClientView {
    /// Sent sets kept as possible baselines: half a second at 30 Hz, more
    /// than a round trip and its jitter (an acknowledgement older than
    /// that gets a full snapshot).
    pub const HISTORY: usize = 16;

    /// Remembers the set sent at `tick` as a possible baseline, dropping
    /// the oldest past [`ClientView::HISTORY`] and every set older than the
    /// acknowledged one: acknowledgements only move forward, so those can
    /// never be a baseline again (this keeps the history as long as the
    /// acknowledgement lag, a few sets, rather than always the most).
    pub fn remember(&mut self, tick: u32, set: tickforge_shared::snapshot::KnownSet) {
        while self.history.len() >= Self::HISTORY
            || self.history.front().is_some_and(|(t, _)| self.acked.is_some_and(|a| *t < a))
        {
            self.spare = self.history.pop_front().map(|(_, set)| set);
        }
        self.history.push_back((tick, set));
    }
}

/// An avatar being handed to another server: frozen (no input moves it, no
/// save is written — its lease has moved or is moving) until its client
/// leaves for the target or `deadline` (a tick) passes.
#[derive(Debug, Clone, PartialEq, Component)]
pub struct Transferring {
    /// The tick it was frozen.
    pub frozen_at: u64,
    /// When the avatar is dropped if the client has not left (tick number).
    pub deadline: u64,
    /// Whether the client has been sent its token for the target.
    pub sent: bool,
    /// The state frozen and handed over (the transfer token carries it).
    pub save: crate::store::PlayerState,
}

/// The avatar of a player whose connection timed out: it stays in the
/// world, still, for the grace period (others see it idle), so a player who
/// comes back in time gets exactly this state. At `until` (a tick) it is
/// saved, its lease released, and it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct Lingering {
    /// The tick its grace period ends.
    pub until: u64,
}
