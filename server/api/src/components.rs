//! The components every replicated entity has, and the state a player's
//! inputs drive. None of these cross the wire as they are: the engine's
//! replication reads them into snapshots.

use bevy_ecs::bundle::Bundle;
use bevy_ecs::component::Component;
use tickforge_shared::protocol::{EntityKind, NetId};
use tickforge_shared::sim::{Simulation, Vec2};

/// Stable network id of a replicated entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct NetEntity(pub NetId);

/// Where a replicated entity is: what interest management, the
/// positional codec and replays read. A game keeps it current for its
/// entities; a player's follows its [`Controlled`] state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Component)]
pub struct Position(pub Vec2);

/// What a replicated entity is: its kind in the game's schema
/// ([`tickforge_shared::sim::Simulation::schema`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct Kind(pub EntityKind);

/// A replicated entity's fields, packed as its kind's schema lays them
/// out. The engine fills it from the game's field components
/// ([`crate::field`]); the snapshot codec deltas it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Component)]
pub struct Fields(pub u32);

/// Everything an entity needs to be replicated: its id, position, kind
/// and (empty until its field components are packed) fields.
#[derive(Bundle)]
pub struct Replicated {
    /// Its network id.
    pub id: NetEntity,
    /// Where it is.
    pub position: Position,
    /// What it is.
    pub kind: Kind,
    /// Its packed fields.
    pub fields: Fields,
}

impl Replicated {
    /// An entity of `kind` with id `id` at `pos`.
    pub fn new(id: NetId, kind: EntityKind, pos: Vec2) -> Self {
        Self { id: NetEntity(id), position: Position(pos), kind: Kind(kind), fields: Fields::default() }
    }
}

/// The state a player's inputs drive ([`Simulation::State`]): stepped by
/// the engine with the game's [`Simulation::step`] once per input, sent to
/// its owner exactly in every snapshot. The game's own systems may change
/// it too (a score, a respawn); its [`Position`] follows.
#[derive(Component)]
pub struct Controlled<S: Simulation>(pub S::State);

impl<S: Simulation> std::fmt::Debug for Controlled<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Controlled").field(&self.0).finish()
    }
}

impl<S: Simulation> Clone for Controlled<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Simulation> Copy for Controlled<S> {}
