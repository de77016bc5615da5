//! Blue-green: a server whose colour stops being the active one drains,
//! and moves its players live instead of waiting for them to leave. (A
//! server started in the inactive colour is a standby: `ready`, taking
//! players once its colour is switched to.)
//!
//! It freezes a batch of players (their inputs stop moving them, no more
//! saves; the next batch once this one is answered) and asks the store for
//! a [`StoreCommand::Handoff`]: the director picks a server of the active
//! colour, the frozen state is saved under the current lease and the lease
//! moves there under a new epoch, in one transaction. With the answer, the
//! player gets a fresh connect token for the target in
//! [`ServerMessage::Transfer`] — carrying that exact state, the epoch and
//! its chat position — and its client moves by itself; the target starts
//! the player from the token. The frozen avatar
//! goes when its client leaves, or at a deadline (the state is in the
//! database either way). A server with no room anywhere keeps its players
//! and tries again; an empty draining server stops (exit 0).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bevy_ecs::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use tickforge_shared::protocol::{Channel, ClientMessage, ServerMessage};

use super::Registration;
use crate::api::Game;
use crate::game::chat::{ChatCursor, ChatRelay};
use crate::game::components::{Avatar, NetEntity, Transferring};
use crate::game::players::Joins;
use crate::game::progress;
use crate::game::roster::Roster;
use crate::net::identity::{Carried, Identity};
use crate::net::token::TokenIssuer;
use crate::net::{ClientKey, NetEvent, NetServer};
use crate::shutdown::Shutdown;
use crate::store::StoreOutbox;
use crate::store::{HandedOff, StoreCommand};
use crate::tick::SharedMetrics;
use crate::tick::TickInfo;

/// Players frozen and handed over per tick.
pub const BATCH: usize = 16;

/// How long a handed-over avatar waits for its client to leave, in seconds.
pub const LEAVE_DEADLINE_SECS: f32 = 10.0;

/// What a player is told when its handed-over avatar is dropped at the deadline.
pub const MOVED: &str = "moved to another server";

/// The draining state and the handoffs in flight.
#[derive(Debug, Resource)]
pub struct Drain {
    /// This server's colour was active and no longer is.
    pub draining: bool,
    /// This server's colour has been the active one since it started.
    /// Until then it is a standby (`ready`, placed on once its colour is
    /// switched to), never draining.
    was_active: bool,
    /// Accounts whose handoff the store is working on.
    in_flight: HashSet<u64>,
    /// Handoffs done, waiting for the player's last chat lines to be
    /// numbered before the client is sent on, and the tick they came back.
    done: Vec<(HandedOff, u64)>,
    /// Tick before which no new handoff starts (after "no room").
    pause_until: u64,
    tx: Sender<HandedOff>,
    rx: Receiver<HandedOff>,
    /// Seals tokens for the targets (every role holds the key).
    tokens: TokenIssuer,
    /// Stops the process once nobody is left.
    shutdown: Shutdown,
}

impl Drain {
    /// Not draining yet; tokens from `tokens`; `shutdown` ends the process when empty.
    pub fn new(tokens: TokenIssuer, shutdown: Shutdown) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self {
            draining: false,
            was_active: false,
            in_flight: HashSet::new(),
            done: Vec::new(),
            pause_until: 0,
            tx,
            rx,
            tokens,
            shutdown,
        }
    }

    /// Learns the active colour (from the order poll): a switch away from
    /// this server's colour starts the drain, a switch back ends it.
    pub fn observe_colour(&mut self, registration: &Registration, active: &str) {
        let mine = registration.row.colour == active;
        self.was_active |= mine;
        let draining = !mine && self.was_active;
        if draining != self.draining {
            if draining {
                tracing::info!(colour = %registration.row.colour, %active, "not the active colour: draining");
            } else {
                tracing::info!(colour = %registration.row.colour, "the active colour again: taking players");
            }
        }
        self.draining = draining;
    }
}

/// Players not (yet) handed over: neither frozen for a move nor lingering.
type Staying = (Without<Transferring>, Without<crate::game::components::Lingering>);

/// Starts handoffs, sends tokens when the store has moved a player, drops
/// frozen avatars whose client never left, and stops an empty draining server.
#[allow(clippy::too_many_arguments)]
pub fn hand_over<G: Game>(
    mut commands: Commands,
    tick: Res<TickInfo>,
    mut drain: ResMut<Drain>,
    mut net: ResMut<NetServer>,
    mut roster: ResMut<Roster>,
    joins: Res<Joins>,
    mut outbox: ResMut<StoreOutbox>,
    metrics: Res<SharedMetrics>,
    relay: Res<ChatRelay>,
    inbox: Res<crate::net::Inbox>,
    mut moving: Query<(Entity, &NetEntity, &Avatar, &mut Transferring)>,
    staying: Query<(Entity, &Avatar, G::SaveData), Staying>,
) {
    let per_second = (1.0 / tick.dt).round().max(1.0);
    let deadline = tick.tick + (LEAVE_DEADLINE_SECS * per_second) as u64;
    while let Ok(handed) = drain.rx.try_recv() {
        drain.done.push((handed, tick.tick));
    }
    // A line the player said on this server must be numbered before it can
    // say the next on the target: until then (for at most a second: the
    // database may be down) a moved player's client waits here.
    let chat_wait = per_second as u64;
    // Lines that arrived this tick are not with the relay yet (chat runs later).
    let chatting: HashSet<u64> = if drain.done.is_empty() {
        HashSet::new()
    } else {
        inbox
            .events
            .iter()
            .filter_map(|e| match e {
                NetEvent::Message { client, message: ClientMessage::Chat { .. }, .. } => Some(client.0),
                _ => None,
            })
            .collect()
    };
    let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut drain.done).into_iter().partition(|(h, since)| {
        let busy = relay.is_posting(h.account_id) || chatting.contains(&h.account_id);
        !matches!(h.result, Ok(Some(_))) || !busy || tick.tick >= since + chat_wait
    });
    drain.done = waiting;
    for (handed, _) in ready {
        drain.in_flight.remove(&handed.account_id);
        let client = ClientKey(handed.account_id);
        let Some(entity) = roster.entity(client) else { continue };
        let Ok((_, _, avatar, mut transferring)) = moving.get_mut(entity) else { continue };
        let moved = match handed.result {
            Ok(Some(moved)) => moved,
            Ok(None) => {
                tracing::info!(
                    account = handed.account_id,
                    "no server of the active colour has room; keeping the player"
                );
                commands.entity(entity).remove::<Transferring>();
                drain.pause_until = tick.tick + per_second as u64;
                continue;
            }
            Err(error) => {
                // Nothing moved: unfreeze and try again later.
                tracing::warn!(account = handed.account_id, %error, "handoff failed; keeping the player");
                commands.entity(entity).remove::<Transferring>();
                continue;
            }
        };
        // The token is good on the lease's new holder only, and carries
        // the state the handoff saved, so the target needs no load.
        let target: Vec<SocketAddr> = moved.to.public_addr.parse().into_iter().collect();
        let identity = Identity { account_id: avatar.account_id, name: avatar.name.clone() };
        let carried = Carried { epoch: moved.epoch, document: transferring.save.document.clone() };
        let frozen_ms = ((tick.tick.saturating_sub(transferring.frozen_at)) as f32 * tick.dt * 1000.0) as u32;
        match drain.tokens.issue_carrying(&identity, Some(&carried), &target) {
            Ok(token) => {
                let server = moved.to.server_id;
                let moved_ws = [moved.to.ws_url].into_iter().filter(|url| !url.is_empty()).collect();
                let transfer = ServerMessage::Transfer { connect_token: token.bytes, server, frozen_ms, ws: moved_ws };
                net.send(client, Channel::Reliable, &transfer);
                // Its chat goes on from the target.
                commands.entity(entity).remove::<ChatCursor>();
                transferring.sent = true;
                transferring.deadline = deadline;
                metrics.0.handoffs.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // The lease has moved already: the player must go there by logging in again.
                tracing::error!(account = handed.account_id, error = %e, "cannot seal a transfer token");
                net.kick(client, MOVED);
            }
        }
    }
    // Frozen avatars whose client has not left by the deadline.
    for (entity, net_id, avatar, transferring) in &moving {
        if transferring.sent && transferring.deadline <= tick.tick {
            tracing::info!(account = avatar.account_id, "handed-over player never left; dropping its avatar");
            metrics.0.handoffs_abandoned.fetch_add(1, Ordering::Relaxed);
            roster.remove(avatar.client);
            net.broadcast(Channel::Reliable, &ServerMessage::PlayerLeft { id: net_id.0 });
            net.kick(avatar.client, MOVED);
            commands.entity(entity).despawn();
        }
    }
    if !drain.draining {
        return;
    }
    if roster.is_empty() && joins.is_empty() && drain.in_flight.is_empty() {
        if !drain.shutdown.is_triggered() {
            // scripts/deploy.sh reads this line for its report.
            tracing::info!(
                moved = metrics.0.handoffs.load(Ordering::Relaxed),
                abandoned = metrics.0.handoffs_abandoned.load(Ordering::Relaxed),
                longest_handoff_ms = metrics.0.handoff_longest_ms.load(Ordering::Relaxed),
                "drained: nobody left; stopping"
            );
            drain.shutdown.trigger();
        }
        return;
    }
    // One batch at a time: a player is frozen only while its own handoff
    // is in the store's hands, not while it queues behind the others.
    if tick.tick < drain.pause_until || !drain.in_flight.is_empty() {
        return;
    }
    let ttl_ms = i64::try_from(drain.tokens.ttl().as_millis()).unwrap_or(i64::MAX);
    let mut started = 0;
    for (entity, avatar, data) in &staying {
        if started == BATCH {
            break;
        }
        if drain.in_flight.contains(&avatar.account_id) {
            continue;
        }
        // Frozen from this tick on: what is saved is what the target loads.
        let Some(save) = progress::save_of::<G>(avatar, data, false) else { continue };
        commands.entity(entity).insert(Transferring {
            frozen_at: tick.tick,
            deadline: u64::MAX,
            sent: false,
            save: save.state.clone(),
        });
        drain.in_flight.insert(avatar.account_id);
        outbox.push(StoreCommand::Handoff { save, ttl_ms, reply: drain.tx.clone() });
        started += 1;
    }
}
