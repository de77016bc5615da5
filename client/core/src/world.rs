//! The client's picture of the world, built only from server messages.
//!
//! Snapshots are decoded against the baseline they name (kept in
//! [`ClientWorld::history`]), which also feeds interpolation. A snapshot
//! that arrives late, or whose baseline is gone, or that does not decode,
//! is dropped and counted — never applied half-way.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;

use tickforge_shared::codec;
use tickforge_shared::protocol::{EntityKind, NetId, OwnState, ServerMessage, Snapshot};
use tickforge_shared::schema::Schema;
use tickforge_shared::sim::{Simulation, Vec2};
use tickforge_shared::snapshot::{self, KnownSet};

/// Chat lines kept for display.
pub const CHAT_HISTORY: usize = 8;

/// Undrained chat lines kept.
pub const CHAT_BACKLOG: usize = 4096;

/// Decoded snapshots kept as baselines and for interpolation.
pub const SNAPSHOT_HISTORY: usize = 64;

/// A move to another server, as the old server asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The connect token for the target.
    pub connect_token: Vec<u8>,
    /// The target's registry id.
    pub server: String,
    /// The target's WebSocket URLs.
    pub ws: Vec<String>,
    /// How long the own avatar had been frozen when the request was sent.
    pub frozen: std::time::Duration,
}

/// An entity as last received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewEntity {
    /// Id.
    pub id: NetId,
    /// Kind.
    pub kind: EntityKind,
    /// Position (quantized; exact for the own avatar).
    pub pos: Vec2,
    /// Its kind's packed fields (none for the own avatar, whose exact
    /// state the client has instead).
    pub fields: u32,
}

/// The newest snapshot's entities and our own avatar, in id order: made
/// from the decoded set (already in id order) without hashing, and found
/// by id with a binary search.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entities(Vec<ViewEntity>);

impl Entities {
    /// The entity with this id.
    pub fn get(&self, id: &NetId) -> Option<&ViewEntity> {
        self.0.binary_search_by_key(id, |e| e.id).ok().map(|i| &self.0[i])
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each, in id order.
    pub fn iter(&self) -> std::slice::Iter<'_, ViewEntity> {
        self.0.iter()
    }

    /// Replaces them with `set`'s and `own` (which the set never holds).
    fn refill(&mut self, set: &KnownSet, own: Option<ViewEntity>) {
        self.0.clear();
        self.0.extend(set.iter().map(|k| ViewEntity { id: k.id, kind: k.kind, pos: k.pos(), fields: k.fields }));
        if let Some(own) = own {
            match self.0.binary_search_by_key(&own.id, |e| e.id) {
                Ok(i) => self.0[i] = own,
                Err(i) => self.0.insert(i, own),
            }
        }
    }
}

impl std::ops::Index<&NetId> for Entities {
    type Output = ViewEntity;

    fn index(&self, id: &NetId) -> &ViewEntity {
        self.get(id).expect("no entity with this id")
    }
}

impl<'a> IntoIterator for &'a Entities {
    type Item = &'a ViewEntity;
    type IntoIter = std::slice::Iter<'a, ViewEntity>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The schema of simulation `S`, built once per world.
#[derive(Debug, Clone)]
pub struct GameSchema<S>(pub Schema, PhantomData<S>);

impl<S: Simulation> Default for GameSchema<S> {
    fn default() -> Self {
        Self(S::schema(), PhantomData)
    }
}

/// Everything the client knows about the world of simulation `S`.
#[derive(Debug, Default, Clone)]
pub struct ClientWorld<S: Simulation> {
    /// The game's entity kinds and fields, what snapshots decode with.
    pub schema: GameSchema<S>,
    /// Our avatar, once welcomed.
    pub own_entity: Option<NetId>,
    /// Our account id.
    pub account_id: Option<u64>,
    /// Server simulation rate.
    pub tick_rate: u16,
    /// Tick of the newest snapshot applied.
    pub server_tick: u32,
    /// Highest input sequence the server says it applied.
    pub ack_input_seq: u32,
    /// Entities of the newest snapshot, and our own avatar.
    pub entities: Entities,
    /// Decoded snapshots, oldest first.
    pub history: VecDeque<(u32, KnownSet)>,
    /// The set last dropped from `history`, to decode the next one into.
    spare: KnownSet,
    /// Our player exactly as the server last had it.
    pub own: Option<OwnState<S::State>>,
    /// The newest own state and its input ack, not yet reconciled.
    pub fresh_own: Option<(OwnState<S::State>, u32)>,
    /// Ticks of snapshots applied since last taken (for the clock).
    pub fresh_ticks: Vec<u32>,
    /// Player names by avatar.
    pub names: HashMap<NetId, String>,
    /// Recent chat lines and notices: (from, text); notices come from "server".
    pub chat: VecDeque<(String, String)>,
    /// Every chat line and notice since the consumer last drained it
    /// (at most [`CHAT_BACKLOG`]; older ones go first).
    pub chat_new: VecDeque<(String, String)>,
    /// The id of the last chat line received: a line at or before it is
    /// one already shown (sent again after a reconnect), and is dropped.
    pub chat_last_id: Option<u64>,
    /// The highest `seq` of our own lines seen come back numbered.
    pub own_chat_seen: Option<u64>,
    /// Chat lines dropped because they had been received already.
    pub chat_repeats: u64,
    /// Why the server said it is dropping us.
    pub disconnect_reason: Option<String>,
    /// A move to another server the server asked for.
    pub transfer: Option<Transfer>,
    /// How old the state the own avatar started from was (the welcome says).
    pub state_age: std::time::Duration,
    /// Snapshots applied so far.
    pub snapshots: u64,
    /// Snapshots dropped: unknown baseline or undecodable payload.
    pub bad_snapshots: u64,
}

impl<S: Simulation> ClientWorld<S> {
    /// Applies one server message.
    pub fn apply(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Welcome { your_entity, account_id, tick, tick_rate, players, state_age_ms } => {
                self.own_entity = Some(your_entity);
                self.state_age = std::time::Duration::from_millis(u64::from(state_age_ms));
                self.account_id = Some(account_id);
                self.tick_rate = tick_rate;
                self.server_tick = self.server_tick.max(tick);
                self.names = players.into_iter().map(|p| (p.id, p.name)).collect();
            }
            ServerMessage::PlayerJoined(player) => {
                self.names.insert(player.id, player.name);
            }
            ServerMessage::PlayerLeft { id } => {
                self.names.remove(&id);
            }
            ServerMessage::Chat { id, from, seq, text } => {
                if self.chat_last_id.is_some_and(|last| id <= last) {
                    self.chat_repeats += 1;
                    return;
                }
                self.chat_last_id = Some(id);
                let own_name = self.own_entity.and_then(|e| self.names.get(&e));
                if own_name == Some(&from) {
                    self.own_chat_seen = Some(self.own_chat_seen.map_or(seq, |s| s.max(seq)));
                }
                self.push_chat(from, text);
            }
            ServerMessage::Notice { text } => self.push_chat("server".into(), text),
            ServerMessage::Transfer { connect_token, server, frozen_ms, ws } => {
                self.push_chat("server".into(), format!("moving to {server}"));
                let frozen = std::time::Duration::from_millis(u64::from(frozen_ms));
                self.transfer = Some(Transfer { connect_token, server, ws, frozen });
            }
            ServerMessage::Disconnecting { reason } => {
                self.push_chat("server".into(), format!("disconnecting: {reason}"));
                self.disconnect_reason = Some(reason);
            }
        }
    }

    /// Applies a snapshot as it came on the snapshot channel.
    pub fn apply_snapshot_bytes(&mut self, bytes: &[u8]) {
        match codec::decode::<Snapshot<S::State>>(bytes) {
            Ok(snapshot) => self.apply_snapshot(snapshot),
            Err(e) => {
                self.bad_snapshots += 1;
                tracing::warn!(error = %e, "malformed snapshot");
            }
        }
    }

    /// Applies one snapshot.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot<S::State>) {
        // Unreliable channel: an older snapshot arriving late is dropped.
        if self.snapshots > 0 && snapshot.tick <= self.server_tick {
            return;
        }
        let empty = Vec::new();
        let baseline_tick = snapshot.baseline_tick.unwrap_or(0);
        let baseline = match snapshot.baseline_tick {
            None => &empty,
            Some(tick) => match self.history.iter().find(|(t, _)| *t == tick) {
                Some((_, set)) => set,
                None => {
                    self.bad_snapshots += 1;
                    tracing::debug!(tick, "snapshot against a baseline we no longer have");
                    return;
                }
            },
        };
        let mut set = std::mem::take(&mut self.spare);
        if let Err(e) =
            snapshot::decode_into(&self.schema.0, baseline, baseline_tick, &snapshot.payload, snapshot.tick, &mut set)
        {
            self.bad_snapshots += 1;
            tracing::warn!(error = %e, "undecodable snapshot");
            self.spare = set;
            return;
        }
        let own = snapshot.own.map(|own| ViewEntity {
            id: own.id,
            kind: S::PLAYER_KIND,
            pos: S::position(&own.state),
            fields: 0,
        });
        self.entities.refill(&set, own);
        if let Some(own) = snapshot.own {
            self.fresh_own = Some((own, snapshot.ack_input_seq));
        }
        if self.history.len() == SNAPSHOT_HISTORY
            && let Some((_, oldest)) = self.history.pop_front()
        {
            self.spare = oldest;
        }
        self.history.push_back((snapshot.tick, set));
        self.server_tick = snapshot.tick;
        self.ack_input_seq = snapshot.ack_input_seq;
        self.own = snapshot.own;
        self.fresh_ticks.push(snapshot.tick);
        self.snapshots += 1;
    }

    fn push_chat(&mut self, from: String, text: String) {
        if self.chat_new.len() == CHAT_BACKLOG {
            self.chat_new.pop_front();
        }
        self.chat_new.push_back((from.clone(), text.clone()));
        self.chat.push_back((from, text));
        while self.chat.len() > CHAT_HISTORY {
            self.chat.pop_front();
        }
    }

    /// The tick to acknowledge: the newest snapshot actually decoded (0 before any).
    pub fn acked_tick(&self) -> u32 {
        self.history.back().map_or(0, |(tick, _)| *tick)
    }

    /// Our avatar's latest authoritative state.
    pub fn own_state(&self) -> Option<ViewEntity> {
        self.own.map(|o| ViewEntity { id: o.id, kind: S::PLAYER_KIND, pos: S::position(&o.state), fields: 0 })
    }

    /// The avatar of the player called `name`.
    pub fn avatar_of(&self, name: &str) -> Option<&ViewEntity> {
        let id = self.names.iter().find(|(_, n)| n.as_str() == name).map(|(id, _)| *id)?;
        self.entities.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_shared::sim::{Body, InputVerdict};
    use tickforge_shared::snapshot::Known;

    /// A game that never moves.
    #[derive(Debug, Clone, Copy, Default)]
    struct Still;

    impl Simulation for Still {
        type Input = ();
        type State = Body;
        const WORLD: Vec2 = Vec2::new(100.0, 100.0);

        fn check(input: ()) -> ((), InputVerdict) {
            (input, InputVerdict::Accepted)
        }

        fn step(body: Body, (): (), _dt: f32) -> Body {
            body
        }

        fn position(body: &Body) -> Vec2 {
            body.pos
        }

        fn schema() -> tickforge_shared::schema::Schema {
            tickforge_shared::schema::Schema::new(vec![tickforge_shared::schema::KindSpec::new("body")]).unwrap()
        }

        const PLAYER_KIND: tickforge_shared::protocol::EntityKind = tickforge_shared::protocol::EntityKind(0);
    }

    fn snapshot(tick: u32, baseline: Option<(u32, &KnownSet)>, x: f32) -> Snapshot<Body> {
        let target = vec![Known::new(NetId(1), EntityKind(0), Vec2::new(x, 0.0))];
        let (payload, _) = snapshot::encode(
            &Still::schema(),
            baseline.map_or(&[][..], |b| b.1),
            baseline.map_or(0, |b| b.0),
            &target,
            tick,
        );
        Snapshot { tick, baseline_tick: baseline.map(|b| b.0), ack_input_seq: tick, own: None, payload }
    }

    #[test]
    fn deltas_apply_and_late_or_orphan_snapshots_are_dropped() {
        let mut world = ClientWorld::<Still>::default();
        world.apply_snapshot(snapshot(10, None, 1.0));
        let base = world.history.back().unwrap().1.clone();
        world.apply_snapshot(snapshot(12, Some((10, &base)), 2.0));
        assert_eq!(world.entities[&NetId(1)].pos.x, 2.0);
        world.apply_snapshot(snapshot(11, None, 9.0));
        assert_eq!(world.server_tick, 12, "late snapshot ignored");
        world.apply_snapshot(snapshot(13, Some((3, &base)), 3.0));
        assert_eq!(world.bad_snapshots, 1, "unknown baseline");
        world.apply_snapshot_bytes(&[0xff; 3]);
        assert_eq!(world.bad_snapshots, 2, "undecodable");
        assert_eq!(world.entities[&NetId(1)].pos.x, 2.0);
        assert_eq!(world.snapshots, 2);
    }
}
