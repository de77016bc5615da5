//! The tick's phases, in one place.
//!
//! Every tick runs these [`Phase`]s in order (DESIGN §3):
//!
//! 1. `Receive`      read the socket into the [`Inbox`]
//! 2. `Admit`        spawn avatars for new connections, remove departed ones
//! 3. `ApplyInputs`  queue inputs, relay chat, apply one input per avatar
//! 4. `Simulate`     move everything else (NPCs)
//! 5. `Replicate`    build per-client snapshots
//! 6. `Send`         flush the transport
//! 7. `Persist`      hand writes to the store thread, publish metrics
//!
//! Sets are chained and the schedule is built with ambiguity detection as an
//! error, so two systems can never race for the same data in unknown order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};

use crate::game::components::NetEntity;
use crate::game::{movement, players, replicate};
use crate::net::{ClientKey, NetEvent, NetServer};
use crate::store::{AccessEvent, StoreCommand, StoreHandle};
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
/// commands that do not fit its queue now wait here for the next tick, and
/// access-log rows are never dropped.
#[derive(Debug, Resource)]
pub struct StoreOutbox {
    store: StoreHandle,
    pending: VecDeque<StoreCommand>,
}

impl StoreOutbox {
    /// An outbox in front of `store`.
    pub fn new(store: StoreHandle) -> Self {
        Self { store, pending: VecDeque::new() }
    }

    /// Queues an access-log row.
    pub fn push_access(&mut self, event: AccessEvent) {
        self.pending.push_back(StoreCommand::LogAccess(event));
    }

    /// Hands as much as fits to the store thread without blocking.
    pub fn flush(&mut self) {
        while let Some(command) = self.pending.pop_front() {
            if let Err(refused) = self.store.try_send(command) {
                tracing::debug!(error = %refused.error(), waiting = self.pending.len() + 1, "store busy; keeping writes for next tick");
                self.pending.push_front(*refused.command);
                break;
            }
        }
    }

    /// Hands everything over, blocking: for shutdown only, never on a tick.
    pub fn drain_blocking(&mut self) {
        while let Some(command) = self.pending.pop_front() {
            if let Err(refused) = self.store.try_send(command) {
                if refused.closed {
                    tracing::error!(lost = self.pending.len() + 1, "store closed before the outbox drained");
                    return;
                }
                self.pending.push_front(*refused.command);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }

    /// Writes still waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
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
        players::admit.in_set(Phase::Admit),
        (movement::queue_inputs, players::chat, movement::apply_inputs).chain().in_set(Phase::ApplyInputs),
        movement::wander.in_set(Phase::Simulate),
        replicate::send_snapshots.in_set(Phase::Replicate),
        send.in_set(Phase::Send),
        (persist, publish_metrics).chain().in_set(Phase::Persist),
    ));
    schedule
}
