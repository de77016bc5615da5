//! The roster: which avatar each connected player controls. Kept by the
//! players feature, read by every feature that acts for a connection.

use std::collections::HashMap;

use bevy_ecs::prelude::*;

use crate::net::ClientKey;

/// Which entity each connection controls.
#[derive(Debug, Default, Resource)]
pub struct Roster {
    by_client: HashMap<ClientKey, Entity>,
}

impl Roster {
    /// The avatar of a connection.
    pub fn entity(&self, client: ClientKey) -> Option<Entity> {
        self.by_client.get(&client).copied()
    }

    /// Records a new avatar.
    pub fn insert(&mut self, client: ClientKey, entity: Entity) {
        self.by_client.insert(client, entity);
    }

    /// Forgets a connection; returns its avatar.
    pub fn remove(&mut self, client: ClientKey) -> Option<Entity> {
        self.by_client.remove(&client)
    }

    /// Number of players.
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    /// Whether nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }
}
