//! The tick's phases, in one place.
//!
//! Every tick runs these [`Phase`]s in order (DESIGN §3):
//!
//! 1. `Receive`: read the socket into the [`Inbox`].
//! 2. `Admit`: request saved state for new players, spawn avatars when it
//!    arrives, save and remove departed ones, apply operator commands.
//! 3. `ApplyInputs`: queue inputs, relay chat (through the store), apply one input per avatar.
//! 4. `Simulate`: move everything else (NPCs), collect orbs.
//! 5. `Replicate`: build per-client snapshots.
//! 6. `Send`: flush the transport.
//! 7. `Persist`: periodic save, the registry heartbeat, hand writes to the
//!    store thread, publish metrics and the per-player table.
//!
//! Sets are chained and the schedule is built with ambiguity detection as an
//! error, so two systems can never race for the same data in unknown order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};

use crate::admin;
use crate::game::components::NetEntity;
use crate::game::{movement, orbs, players, progress, replicate};
use crate::net::{ClientKey, NetEvent, NetServer};
use crate::store::{AccessEvent, PlayerSave, Refused, StoreCommand, StoreHandle};
use crate::tick::{TickInfo, TickMetrics};

/// The ordered phases of a tick.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Read the network.
    Receive,
    /// Connections come and go.
    Admit,
    /// Player inputs and chat.
    ApplyInputs,
    /// Everything not driven by a player.
    Simulate,
    /// Per-client snapshots.
    Replicate,
    /// Flush the network.
    Send,
    /// Hand copies to other threads.
    Persist,
}

/// This tick's network events, filled in `Receive`, read by later phases.
#[derive(Debug, Default, Resource)]
pub struct Inbox {
    /// Events in arrival order.
    pub events: Vec<NetEvent>,
}

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
        let entry = self.dirty.entry(save.state.account_id).or_insert(save);
        let release = entry.release && entry.epoch == save.epoch;
        *entry = PlayerSave { release: release || save.release, ..save };
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

/// The lock-free figures the HTTP side reads.
#[derive(Debug, Clone, Resource)]
pub struct SharedMetrics(pub Arc<TickMetrics>);

fn receive(
    tick: Res<TickInfo>,
    mut net: ResMut<NetServer>,
    mut inbox: ResMut<Inbox>,
    mut last: Local<Option<std::time::Duration>>,
) {
    inbox.events.clear();
    // Real time since the last receive: netcode's timeouts and token expiry
    // must follow the clock even when ticks were skipped.
    let dt = last.map_or(std::time::Duration::ZERO, |prev| tick.elapsed.saturating_sub(prev));
    *last = Some(tick.elapsed);
    if let Err(error) = net.receive(dt, &mut inbox.events) {
        tracing::error!(%error, "network receive failed");
    }
}

fn send(mut net: ResMut<NetServer>) {
    net.flush();
}

fn persist(mut outbox: ResMut<StoreOutbox>) {
    outbox.flush();
}

fn publish_metrics(metrics: Res<SharedMetrics>, roster: Res<Roster>, entities: Query<(), With<NetEntity>>) {
    metrics.0.players.store(roster.len() as u64, Ordering::Relaxed);
    metrics.0.entities.store(entities.iter().count() as u64, Ordering::Relaxed);
}

/// Builds the tick schedule with every system in its phase.
pub fn build_schedule() -> Schedule {
    let mut schedule = Schedule::default();
    schedule.set_build_settings(ScheduleBuildSettings { ambiguity_detection: LogLevel::Error, ..Default::default() });
    schedule.configure_sets(
        (
            Phase::Receive,
            Phase::Admit,
            Phase::ApplyInputs,
            Phase::Simulate,
            Phase::Replicate,
            Phase::Send,
            Phase::Persist,
        )
            .chain(),
    );
    schedule.add_systems((
        receive.in_set(Phase::Receive),
        (
            players::admit,
            players::spawn_loaded,
            crate::cluster::orders::apply_orders,
            players::end_lingering,
            crate::cluster::handoff::hand_over,
            admin::tick::apply_commands,
        )
            .chain()
            .in_set(Phase::Admit),
        (movement::queue_inputs, players::chat, crate::game::chat::relay_chat, movement::apply_inputs)
            .chain()
            .in_set(Phase::ApplyInputs),
        (movement::wander, orbs::collect).chain().in_set(Phase::Simulate),
        replicate::send_snapshots.in_set(Phase::Replicate),
        send.in_set(Phase::Send),
        (
            progress::save_periodically,
            crate::cluster::heartbeat,
            persist,
            publish_metrics,
            admin::tick::publish,
            crate::record::record,
        )
            .chain()
            .in_set(Phase::Persist),
    ));
    schedule
}
