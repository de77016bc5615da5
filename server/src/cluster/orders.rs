//! Orders for this app server from the rest of the cluster: the commands
//! table is the truth (an auth node's kick or broadcast, another server's
//! claim on a player who logged in there), taken by a poll four times a
//! second through the store — the tick never waits for the answer. The
//! same poll reports saves the database refused because the player's lease
//! moved on; such a player is dropped without another save.

use bevy_ecs::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use tickforge_shared::protocol::{Channel, ServerMessage};

use super::Registration;
use super::handoff::Drain;
use crate::game::components::{Avatar, NetEntity, Transferring};
use crate::game::players::Joins;
use crate::game::roster::Roster;
use crate::net::{ClientKey, NetServer};
use crate::store::StoreOutbox;
use crate::store::{Polled, ServerCommand, StoreCommand};
use crate::tick::TickInfo;

/// Polls a second.
pub const POLLS_PER_SECOND: u64 = 4;

/// What a player moving to another server is told.
pub const LOGGED_IN_ELSEWHERE: &str = "logged in elsewhere";

/// The poll's channel and whether an answer is outstanding.
#[derive(Debug, Resource)]
pub struct Orders {
    tx: Sender<Polled>,
    rx: Receiver<Polled>,
    waiting: bool,
}

impl Default for Orders {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self { tx, rx, waiting: false }
    }
}

/// Applies answered orders and asks for new ones.
#[allow(clippy::too_many_arguments)]
pub fn apply_orders(
    mut commands: Commands,
    tick: Res<TickInfo>,
    mut orders: ResMut<Orders>,
    mut net: ResMut<NetServer>,
    mut roster: ResMut<Roster>,
    mut joins: ResMut<Joins>,
    mut outbox: ResMut<StoreOutbox>,
    registration: Res<Registration>,
    mut drain: ResMut<Drain>,
    linger: Res<crate::game::players::Linger>,
    mut lingering: Query<&mut crate::game::components::Lingering>,
    avatars: Query<(&NetEntity, &Avatar, Option<&Transferring>)>,
) {
    while let Ok(polled) = orders.rx.try_recv() {
        orders.waiting = false;
        if let Some(active) = &polled.active_colour {
            drain.observe_colour(&registration, active);
        }
        for (account_id, epoch) in polled.fenced {
            let client = ClientKey(account_id);
            let Some(entity) = roster.entity(client) else { continue };
            let Ok((net_id, avatar, transferring)) = avatars.get(entity) else { continue };
            // A handed-over avatar's lease moved on purpose; it leaves by itself.
            if avatar.epoch > epoch || transferring.is_some() {
                continue;
            }
            tracing::warn!(account = account_id, "player's lease moved to another server; dropping without a save");
            roster.remove(client);
            net.broadcast(Channel::Reliable, &ServerMessage::PlayerLeft { id: net_id.0 });
            net.kick(client, LOGGED_IN_ELSEWHERE);
            commands.entity(entity).despawn();
        }
        for order in polled.commands {
            match order {
                ServerCommand::Kick { account_id, reason } => {
                    let client = ClientKey(account_id);
                    if crate::game::players::stop_lingering(&linger, &mut lingering, account_id) {
                        tracing::info!(account = account_id, %reason, "kicked by operator while lingering");
                    } else if roster.entity(client).is_some() || joins.cancel(client) {
                        tracing::info!(account = account_id, %reason, "kicked by operator");
                        net.kick(client, &reason);
                    }
                }
                ServerCommand::Broadcast { text } => {
                    net.broadcast(Channel::Reliable, &ServerMessage::Notice { text });
                }
                ServerCommand::Release { account_id } => {
                    let client = ClientKey(account_id);
                    if crate::game::players::stop_lingering(&linger, &mut lingering, account_id) {
                        // Saved and released this tick; the claim elsewhere then succeeds.
                        tracing::info!(account = account_id, "lingering player logged in elsewhere");
                    } else if roster.entity(client).is_some() {
                        // The disconnect saves the player and releases the lease in one write.
                        tracing::info!(account = account_id, "player logged in elsewhere; saving and letting go");
                        net.kick(client, LOGGED_IN_ELSEWHERE);
                    } else {
                        if joins.cancel(client) {
                            net.kick(client, LOGGED_IN_ELSEWHERE);
                        }
                        outbox.push(StoreCommand::ReleaseLease {
                            account_id,
                            server_id: joins.server_id().to_owned(),
                            epoch: None,
                        });
                    }
                }
            }
        }
    }
    let every = ((1.0 / tick.dt) / POLLS_PER_SECOND as f32).round().max(1.0) as u64;
    if !orders.waiting && tick.tick.is_multiple_of(every) {
        orders.waiting = true;
        let reply = orders.tx.clone();
        outbox.push(StoreCommand::PollCommands { server_id: joins.server_id().to_owned(), reply });
    }
}
