//! The tick's side of the store: writes wait in the [`StoreOutbox`] and are
//! handed to the store thread without blocking, once a tick, in
//! [`StoreSet::Flush`] at the end of [`Phase::Persist`]. Every system that
//! queues writes in `Persist` runs `.before(StoreSet::Flush)`.

use std::collections::{HashMap, VecDeque};

use bevy_ecs::prelude::*;

use super::{AccessEvent, PlayerSave, Refused, StoreCommand, StoreHandle};
use crate::tick::Phase;

/// The store's sets inside the phases.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreSet {
    /// Hand this tick's writes to the store thread (in [`Phase::Persist`]).
    Flush,
}

/// Writes waiting for the store thread. The tick never blocks on the store:
/// what does not fit its queue now waits here for the next tick.
///
/// Player states are coalesced (newest per account wins) and always handed
/// over before the FIFO queue, so a save queued before a load of the same
/// account reaches the store first. Access-log rows are never dropped.
#[derive(Debug, Resource)]
pub struct StoreOutbox {
    store: StoreHandle,
    /// Newest unsaved state per account.
    dirty: HashMap<u64, PlayerSave>,
    /// Everything else, in order.
    pending: VecDeque<StoreCommand>,
    /// Times the store queue was full (a tick had to keep writes back).
    pub backpressure: u64,
    /// The store thread has stopped; nothing more can be written.
    closed: bool,
}

impl StoreOutbox {
    /// An outbox in front of `store`.
    pub fn new(store: StoreHandle) -> Self {
        Self { store, dirty: HashMap::new(), pending: VecDeque::new(), backpressure: 0, closed: false }
    }

    /// Queues a command.
    pub fn push(&mut self, command: StoreCommand) {
        self.pending.push_back(command);
    }

    /// Queues an access-log row.
    pub fn push_access(&mut self, event: AccessEvent) {
        self.push(StoreCommand::LogAccess(event));
    }

    /// Records a player's newest state (replacing any unsaved older one;
    /// a release is never replaced by a plain save of the same lease).
    pub fn save(&mut self, save: PlayerSave) {
        use std::collections::hash_map::Entry;
        match self.dirty.entry(save.state.account_id) {
            Entry::Vacant(slot) => {
                slot.insert(save);
            }
            Entry::Occupied(mut slot) => {
                let release = slot.get().release && slot.get().epoch == save.epoch;
                *slot.get_mut() = PlayerSave { release: release || save.release, ..save };
            }
        }
    }

    fn send(&mut self, command: StoreCommand) -> Result<(), Refused> {
        self.store.try_send(command).inspect_err(|refused| {
            self.backpressure += 1;
            self.closed |= refused.closed;
        })
    }

    /// Hands as much as fits to the store thread without blocking.
    pub fn flush(&mut self) {
        if !self.dirty.is_empty() {
            let saves: Vec<PlayerSave> = self.dirty.drain().map(|(_, s)| s).collect();
            if let Err(refused) = self.send(StoreCommand::SavePlayers(saves)) {
                if let StoreCommand::SavePlayers(saves) = *refused.command {
                    for save in saves {
                        self.dirty.entry(save.state.account_id).or_insert(save);
                    }
                }
                return;
            }
        }
        while let Some(command) = self.pending.pop_front() {
            if let Err(refused) = self.send(command) {
                tracing::debug!(error = %refused.error(), waiting = self.len(), "store busy; keeping writes for next tick");
                self.pending.push_front(*refused.command);
                break;
            }
        }
    }

    /// Hands everything over, waiting for room: for shutdown only, never on a tick.
    pub fn drain_blocking(&mut self) {
        while !self.is_empty() {
            self.flush();
            if self.is_empty() {
                break;
            }
            if self.closed {
                tracing::error!(lost = self.len(), "store closed before the outbox drained");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Writes still waiting.
    pub fn len(&self) -> usize {
        self.pending.len() + self.dirty.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.dirty.is_empty()
    }
}

fn flush(mut outbox: ResMut<StoreOutbox>) {
    outbox.flush();
}

/// Puts the outbox in front of `store` and its flush at the end of the tick.
pub fn install(world: &mut World, schedule: &mut Schedule, store: StoreHandle) {
    world.insert_resource(StoreOutbox::new(store));
    schedule.add_systems(flush.in_set(StoreSet::Flush).in_set(Phase::Persist));
}
