//! The arena's server part, a [`Game`] on the engine's public API
//! (`tickforge-api`) alone: NPCs that wander, orbs that score, what of an
//! avatar persists and how an avatar starts from it.

pub mod npcs;
pub mod orbs;

use bevy_ecs::prelude::*;
use bevy_ecs::query::QueryItem;
use bevy_ecs::system::EntityCommands;
use serde::{Deserialize, Serialize};
use tickforge_api::{Arrival, Controlled, Game, Phase, Setup, SplitMix64};
use tickforge_shared::sim::{Body, Vec2};

use crate::sim::{ArenaSim, ArenaState, WORLD_HEIGHT, WORLD_WIDTH};

/// The arena's sets inside [`Phase::Simulate`], in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArenaSet {
    /// NPCs walk.
    Wander,
    /// Avatars on orbs collect them.
    Collect,
}

/// The reference game.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arena;

/// An arena player's saved state: where it is, how it moves, its orbs.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ArenaSaved {
    /// Position x in world units.
    pub x: f32,
    /// Position y in world units.
    pub y: f32,
    /// Velocity x in units per second (a handoff moves it exactly).
    #[serde(default)]
    pub vx: f32,
    /// Velocity y in units per second.
    #[serde(default)]
    pub vy: f32,
    /// Orbs collected.
    #[serde(default)]
    pub score: u32,
}

impl Game for Arena {
    const NAME: &'static str = "arena";
    type Sim = ArenaSim;
    type Saved = ArenaSaved;
    type SaveData = &'static Controlled<ArenaSim>;

    /// `setup.npcs` wandering NPCs and `setup.pickups` orbs, each placed
    /// from a fixed seed (the same world every start).
    fn install(world: &mut World, schedule: &mut Schedule, setup: Setup) {
        npcs::spawn_npcs(world, setup.npcs, 0x7469_636b);
        orbs::spawn_orbs(world, setup.pickups, 0x6f72_6273);
        schedule.configure_sets((ArenaSet::Wander, ArenaSet::Collect).chain().in_set(Phase::Simulate));
        schedule.add_systems((npcs::wander.in_set(ArenaSet::Wander), orbs::collect.in_set(ArenaSet::Collect)));
    }

    /// Play goes on exactly from a handed-over state, velocity and all; a
    /// state from the database is where the player left, at rest (it does
    /// not glide on from a velocity it had when it was saved); a first
    /// visit starts at the account's own spawn point.
    fn spawn_player(
        _player: &mut EntityCommands<'_>,
        account_id: u64,
        saved: Option<ArenaSaved>,
        arrival: Arrival,
    ) -> ArenaState {
        let (pos, vel, score) = match saved {
            Some(s) if arrival == Arrival::HandedOver => (Vec2::new(s.x, s.y), Vec2::new(s.vx, s.vy), s.score),
            Some(s) => (Vec2::new(s.x, s.y), Vec2::ZERO, s.score),
            None => (spawn_point(account_id), Vec2::ZERO, 0),
        };
        // A hand-edited document may hold anything: only a finite position
        // inside the world is taken.
        let pos = if pos.is_finite() {
            Vec2::new(pos.x.clamp(0.0, WORLD_WIDTH), pos.y.clamp(0.0, WORLD_HEIGHT))
        } else {
            spawn_point(account_id)
        };
        let vel = if vel.is_finite() { vel } else { Vec2::ZERO };
        ArenaState { body: Body { pos, vel }, score }
    }

    fn save(state: QueryItem<'_, '_, Self::SaveData>) -> ArenaSaved {
        let ArenaState { body: Body { pos, vel }, score } = state.0;
        ArenaSaved { x: pos.x, y: pos.y, vx: vel.x, vy: vel.y, score }
    }

    fn rank(saved: &ArenaSaved) -> i64 {
        i64::from(saved.score)
    }
}

/// Where a first-time account's avatar appears: spread over the middle of
/// the world, the same place for the same account.
fn spawn_point(account_id: u64) -> Vec2 {
    let mut rng = SplitMix64::new(account_id);
    Vec2::new(WORLD_WIDTH * (0.25 + 0.5 * rng.next_f32()), WORLD_HEIGHT * (0.25 + 0.5 * rng.next_f32()))
}
