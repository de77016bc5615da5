//! [`Game`]: what a game declares so the engine can run it with
//! accounts, persistence, handoffs and replays.
//!
//! A game is a type implementing [`Game`]. The engine owns the player's
//! life (connection, lease, avatar entity, saves, handoff, grace period);
//! the game says which components make up its part of a player, and what
//! of them persists.
//!
//! # Persistent state
//!
//! [`Game::Saved`] is the game's per-account state (any serde type). The
//! engine loads it when it claims the player's lease, saves it every
//! `save_every_ticks`, when the player leaves, in a handoff (and carries it
//! in the transfer token, when it fits) — always under the lease's epoch,
//! so a server that lost the player can never overwrite it. It is stored
//! as a JSON document per (account, game), on SQLite and PostgreSQL alike;
//! mark new fields `#[serde(default)]` and old saves keep loading. A saved
//! document that no longer parses is never overwritten: the player is
//! refused with a clear message and the document stays as it was.

use bevy_ecs::prelude::{Schedule, World};
use bevy_ecs::query::{QueryItem, ReadOnlyQueryData};
use bevy_ecs::system::EntityCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tickforge_shared::sim::Simulation;

/// How a player's saved state came to the server that spawns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Loaded from the database: where the player left, some time ago.
    Loaded,
    /// Handed over live by a draining server: play goes on exactly.
    HandedOver,
}

/// The world's population as the operator sets it (`--npcs`, `--orbs`):
/// a game takes what applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// Computer-driven characters.
    pub npcs: u32,
    /// Things lying about to be picked up.
    pub pickups: u32,
}

/// A game the engine runs.
pub trait Game: Send + Sync + 'static {
    /// The game's name: what `--game` takes, what the cluster registry
    /// shows, the key of its saved state and leaderboard.
    const NAME: &'static str;

    /// The game's shared simulation: its input, its rule for it, the
    /// player's own state and the step the client predicts with. The
    /// engine keeps each player's [`Simulation::State`] in a
    /// [`crate::Controlled`] component and steps it with
    /// the player's inputs.
    type Sim: Simulation;

    /// A player's persistent state in this game.
    type Saved: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// What [`Game::save`] reads of a player's entity (components, read only).
    type SaveData: ReadOnlyQueryData + 'static;

    /// Adds the game's resources, entities and systems (in sets inside
    /// the engine's [`crate::Phase`]s).
    fn install(world: &mut World, schedule: &mut Schedule, setup: Setup);

    /// A player's starting state and the game's components on its new
    /// avatar entity, from its saved state (`None`: its first visit). The
    /// engine adds the state as the entity's
    /// [`crate::Controlled`] component.
    fn spawn_player(
        player: &mut EntityCommands<'_>,
        account_id: u64,
        saved: Option<Self::Saved>,
        arrival: Arrival,
    ) -> <Self::Sim as Simulation>::State;

    /// The state to persist, read from the player's entity.
    fn save(data: QueryItem<'_, '_, Self::SaveData>) -> Self::Saved;

    /// The player's place on the game's leaderboard (higher is better).
    fn rank(saved: &Self::Saved) -> i64 {
        let _ = saved;
        0
    }
}
