//! The reference game: avatars moved by their owners' inputs, NPCs that
//! wander, orbs to collect; and, for now beside it, the features every game
//! needs (players, chat, replication). Systems here read the
//! [`crate::net::Inbox`] and write through [`crate::net::NetServer`]; they
//! never touch sockets or the database.

pub mod arena;
pub mod chat;
pub mod components;
pub mod input;
pub mod movement;
pub mod orbs;
pub mod players;
pub mod progress;
pub mod replicate;
pub mod rng;
pub mod roster;

use bevy_ecs::prelude::*;
use tickforge_shared::protocol::NetId;

use crate::tick::Phase;

/// The arena's sets inside [`Phase::Simulate`], in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArenaSet {
    /// NPCs walk.
    Wander,
    /// Avatars on orbs collect them.
    Collect,
}

/// What the arena needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ArenaSetup {
    /// Wandering NPCs.
    pub npcs: u32,
    /// Orbs to collect.
    pub orbs: u32,
}

/// Installs the arena: its NPCs and orbs, and their systems.
pub fn install(world: &mut World, schedule: &mut Schedule, setup: ArenaSetup) {
    movement::spawn_npcs(world, setup.npcs, 0x7469_636b);
    orbs::spawn_orbs(world, setup.orbs, 0x6f72_6273);
    schedule.configure_sets((ArenaSet::Wander, ArenaSet::Collect).chain().in_set(Phase::Simulate));
    schedule.add_systems((movement::wander.in_set(ArenaSet::Wander), orbs::collect.in_set(ArenaSet::Collect)));
}

/// Hands out network ids; never reuses one within a run.
#[derive(Debug, Default, Resource)]
pub struct NetIds {
    next: u32,
}

impl NetIds {
    /// A fresh id.
    pub fn allocate(&mut self) -> NetId {
        self.next += 1;
        NetId(self.next)
    }
}
