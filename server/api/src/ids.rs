//! Network ids for replicated entities.

use bevy_ecs::prelude::*;
use tickforge_shared::protocol::NetId;

/// Hands out network ids; never reuses one within a run. A game takes one
/// for every replicated entity it spawns ([`crate::Replicated::new`]).
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
