//! The reference game: avatars moved by their owners' inputs, NPCs that
//! wander, chat. Systems here read the [`crate::schedule::Inbox`] and write
//! through [`crate::net::NetServer`]; they never touch sockets or the database.

pub mod chat;
pub mod components;
pub mod movement;
pub mod orbs;
pub mod players;
pub mod progress;
pub mod replicate;
pub mod rng;

use bevy_ecs::resource::Resource;
use tickforge_shared::protocol::NetId;

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
