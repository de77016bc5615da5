//! Joining, leaving and chatting.
//!
//! A new connection first becomes a *pending join*: the store is asked to
//! give this server the player's lease and its saved progress, and the
//! avatar appears only when the answer reaches [`Joins`] — the tick never
//! waits for the database. While another live server still holds the
//! player (a login elsewhere moving here), the claim is repeated until that
//! server has saved and let go, or is dead; a store error retries a second
//! later. The player is never given a blank state that would overwrite
//! saved progress. Leaving saves the player and releases the lease in one
//! write.

use std::collections::HashMap;
use std::net::SocketAddr;

use bevy_ecs::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use tickforge_shared::protocol::{Channel, ClientMessage, MAX_CHAT_CHARS, NetId, PlayerInfo, ServerMessage};
use tickforge_shared::sim::{self, Body, Vec2};

use super::NetIds;
use super::chat::{ChatCursor, ChatRelay};
use super::components::{
    Avatar, ClientView, Conduct, InputQueue, Kinematics, Lingering, NetEntity, Score, Transferring,
};
use super::progress;
use super::rng::SplitMix64;
use crate::net::identity::Identity;
use crate::net::{ClientKey, NetEvent, NetServer};
use crate::schedule::{Inbox, Roster, StoreOutbox};
use crate::store::{AccessEvent, AccessKind, ChatLine, Claim, Claimed, PlayerState, StoreCommand, unix_millis};
use crate::tick::TickInfo;

/// A connection whose saved state is being loaded.
#[derive(Debug, Clone)]
pub struct PendingJoin {
    /// Who, from the token.
    pub identity: Identity,
    /// Where from.
    pub addr: Option<SocketAddr>,
    /// When a failed load is tried again (tick number).
    pub retry_at: Option<u64>,
    /// Unix milliseconds of the handshake.
    pub connected_at_ms: i64,
    /// Tick after which waiting for another server to let go gives up.
    pub deadline: u64,
    /// Whether its state came live in a transfer token (a handoff), not
    /// from the database.
    pub carried: bool,
}

/// Longest wait for another server to save and release a player moving
/// here, in seconds: past the time that server would take to count as dead.
pub const TAKEOVER_LIMIT_SECS: u64 = 15;

/// Connections waiting for their saved state, and the inbox the store answers into.
#[derive(Debug, Resource)]
pub struct Joins {
    pending: HashMap<ClientKey, PendingJoin>,
    /// The registry id leases are claimed for.
    server_id: String,
    tx: Sender<Claimed>,
    rx: Receiver<Claimed>,
    /// Handed-over states taken in, (account, epoch) → tick: a transfer
    /// token works once (netcode lets a token be used again from the same
    /// address; an old state must not come back with it).
    handed_in: HashMap<(u64, i64), u64>,
}

/// How long a taken-in transfer is remembered, in seconds (past any token's life).
const HANDED_IN_MEMORY_SECS: f32 = 120.0;

impl Joins {
    /// Joins for the server registered as `server_id`.
    pub fn new(server_id: String) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self { pending: HashMap::new(), server_id, tx, rx, handed_in: HashMap::new() }
    }

    /// The registry id this server claims leases for.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// Drops a pending join (the player is wanted elsewhere); whether there was one.
    pub fn cancel(&mut self, client: ClientKey) -> bool {
        self.pending.remove(&client).is_some()
    }

    /// Connections still loading.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is loading.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn request(&self, outbox: &mut StoreOutbox, account_id: u64) {
        let server_id = self.server_id.clone();
        outbox.push(StoreCommand::ClaimPlayer { account_id, server_id, reply: self.tx.clone() });
    }
}

/// Avatars of players whose connection timed out, waiting for them.
#[derive(Debug, Default, Resource)]
pub struct Linger {
    /// The grace period in ticks (0: none, a timed-out player leaves at once).
    pub ticks: u64,
    /// The lingering avatar of each account.
    by_account: HashMap<u64, Entity>,
}

impl Linger {
    /// A grace period of `ticks`.
    pub fn new(ticks: u64) -> Self {
        Self { ticks, by_account: HashMap::new() }
    }

    /// Players lingering now.
    pub fn len(&self) -> usize {
        self.by_account.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_account.is_empty()
    }

    /// The lingering avatar of an account.
    pub fn of(&self, account_id: u64) -> Option<Entity> {
        self.by_account.get(&account_id).copied()
    }
}

/// Where a first-time account's avatar appears: spread over the middle of
/// the world, the same place for the same account.
fn spawn_point(account_id: u64) -> Vec2 {
    let mut rng = SplitMix64::new(account_id);
    Vec2::new(sim::WORLD_WIDTH * (0.25 + 0.5 * rng.next_f32()), sim::WORLD_HEIGHT * (0.25 + 0.5 * rng.next_f32()))
}

/// Starts loads for new connections and removes departed players (saving them).
#[allow(clippy::too_many_arguments)]
pub fn admit(
    mut commands: Commands,
    inbox: Res<Inbox>,
    mut net: ResMut<NetServer>,
    mut roster: ResMut<Roster>,
    mut joins: ResMut<Joins>,
    mut outbox: ResMut<StoreOutbox>,
    tick: Res<TickInfo>,
    mut linger: ResMut<Linger>,
    metrics: Res<crate::schedule::SharedMetrics>,
    avatars: Query<(&NetEntity, &Avatar, &Kinematics, &Score, Option<&Transferring>)>,
) {
    let limit_ticks = (TAKEOVER_LIMIT_SECS as f32 / tick.dt).ceil() as u64;
    for event in &inbox.events {
        match event {
            NetEvent::Connected { client, identity, carried, addr, websocket } => {
                let over = if *websocket { "websocket" } else { "udp" };
                tracing::info!(account = identity.account_id, name = %identity.name, peer = ?addr, over, "player connected");
                outbox.push_access(AccessEvent::now(
                    AccessKind::Connect,
                    Some(identity.account_id),
                    Some(&identity.name),
                    *addr,
                ));
                match carried {
                    // Handed over by a draining server, which moved the
                    // lease here: the token holds the claim's answer.
                    Some(c) => {
                        let memory = (HANDED_IN_MEMORY_SECS / tick.dt) as u64;
                        joins.handed_in.retain(|_, at| tick.tick.saturating_sub(*at) < memory);
                        if joins.handed_in.insert((identity.account_id, c.epoch), tick.tick).is_some() {
                            tracing::warn!(account = identity.account_id, "a transfer token used twice; refused");
                            net.kick(*client, "this transfer was used already; log in again");
                            continue;
                        }
                        let state = PlayerState {
                            account_id: identity.account_id,
                            x: c.x,
                            y: c.y,
                            vx: c.vx,
                            vy: c.vy,
                            score: c.score,
                            last_seen_ms: unix_millis(),
                        };
                        let result = Ok(Claim::Granted { epoch: c.epoch, saved: Some(state) });
                        let _ = joins.tx.send(Claimed { account_id: identity.account_id, result });
                    }
                    None => joins.request(&mut outbox, identity.account_id),
                }
                joins.pending.insert(
                    *client,
                    PendingJoin {
                        identity: identity.clone(),
                        addr: *addr,
                        retry_at: None,
                        connected_at_ms: unix_millis(),
                        deadline: tick.tick + limit_ticks,
                        carried: carried.is_some(),
                    },
                );
            }
            NetEvent::Disconnected { client, reason, link_lost } => {
                if let Some(pending) = joins.pending.remove(client) {
                    log_leave(&mut outbox, &pending.identity.name, pending.identity.account_id, reason);
                    continue;
                }
                let Some(entity) = roster.remove(*client) else { continue };
                if let Ok((_, avatar, _, _, None)) = avatars.get(entity)
                    && *link_lost
                    && linger.ticks > 0
                {
                    tracing::info!(account = avatar.account_id, name = %avatar.name, %reason, "player's link lost; its avatar lingers");
                    commands.entity(entity).insert(Lingering { until: tick.tick + linger.ticks });
                    linger.by_account.insert(avatar.account_id, entity);
                    continue;
                }
                if let Ok((net_id, avatar, body, score, transferring)) = avatars.get(entity) {
                    net.broadcast(Channel::Reliable, &ServerMessage::PlayerLeft { id: net_id.0 });
                    // A player handed over left for its new server: the
                    // state and the lease are there already.
                    match transferring {
                        None => outbox.save(progress::save_of(avatar, body, score, true)),
                        Some(t) => {
                            let ms = ((tick.tick.saturating_sub(t.frozen_at)) as f32 * tick.dt * 1000.0) as u64;
                            metrics.0.handoff_longest_ms.fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    log_leave(&mut outbox, &avatar.name, avatar.account_id, reason);
                }
                commands.entity(entity).despawn();
            }
            NetEvent::Message { .. } => {}
        }
    }
}

fn log_leave(outbox: &mut StoreOutbox, name: &str, account_id: u64, reason: &str) {
    tracing::info!(account = account_id, name, %reason, "player disconnected");
    outbox.push_access(AccessEvent::now(AccessKind::Disconnect, Some(account_id), Some(name), None));
}

/// Spawns avatars whose lease and saved state have arrived, and repeats
/// claims that failed or found the player still held elsewhere.
#[allow(clippy::too_many_arguments)]
pub fn spawn_loaded(
    mut commands: Commands,
    tick: Res<TickInfo>,
    mut net: ResMut<NetServer>,
    mut roster: ResMut<Roster>,
    mut joins: ResMut<Joins>,
    mut ids: ResMut<NetIds>,
    mut outbox: ResMut<StoreOutbox>,
    mut linger: ResMut<Linger>,
    mut avatars: Query<(&NetEntity, &mut Avatar)>,
) {
    let retry_ticks = (1.0 / tick.dt).ceil() as u64;
    while let Ok(claimed) = joins.rx.try_recv() {
        let client = ClientKey(claimed.account_id);
        let Some(pending) = joins.pending.get_mut(&client) else {
            if let Ok(Claim::Granted { epoch, .. }) = claimed.result {
                keep_or_release(&roster, &mut avatars, &mut outbox, &joins.server_id, claimed.account_id, epoch);
            }
            continue;
        };
        let (epoch, saved) = match claimed.result {
            Ok(Claim::Granted { epoch, saved }) => (epoch, saved),
            Ok(Claim::Held { by }) if tick.tick < pending.deadline => {
                tracing::debug!(account = claimed.account_id, holder = %by, "player still held elsewhere; waiting");
                pending.retry_at = Some(tick.tick + retry_ticks / 4 + 1);
                continue;
            }
            Ok(Claim::Held { by }) => {
                tracing::warn!(account = claimed.account_id, holder = %by, "the player's other session did not end");
                joins.pending.remove(&client);
                net.kick(client, "your session elsewhere has not ended yet; try again shortly");
                continue;
            }
            Err(error) => {
                tracing::warn!(account = claimed.account_id, %error, "cannot claim player; retrying");
                pending.retry_at = Some(tick.tick + retry_ticks);
                continue;
            }
        };
        let Some(pending) = joins.pending.remove(&client) else { continue };
        let connected_at_ms = pending.connected_at_ms;
        let identity = pending.identity;
        // Back within the grace period: the avatar that waited, exactly as
        // it was. Its chat goes on from where the client says it got to
        // (`ClientMessage::ChatFrom`, see `chat`).
        if let Some(entity) = linger.by_account.remove(&identity.account_id)
            && let Ok((net_id, mut avatar)) = avatars.get_mut(entity)
        {
            avatar.epoch = avatar.epoch.max(epoch);
            avatar.connected_at_ms = connected_at_ms;
            let id = net_id.0;
            tracing::info!(account = identity.account_id, "player back within the grace period");
            let players = avatars.iter().map(|(n, a)| PlayerInfo { id: n.0, name: a.name.clone() }).collect();
            welcome(&mut net, &tick, client, id, identity.account_id, players, 0);
            commands
                .entity(entity)
                .remove::<(Lingering, ChatCursor)>()
                .insert((InputQueue::default(), ClientView::default()));
            roster.insert(client, entity);
            continue;
        }
        // Play goes on exactly from a handed-over state, velocity and all;
        // a state from the database is where the player left, at rest (it
        // does not glide on from a velocity it had when it was saved).
        let (pos, vel, score) = match saved {
            Some(state) if pending.carried => (Vec2::new(state.x, state.y), Vec2::new(state.vx, state.vy), state.score),
            Some(state) => (Vec2::new(state.x, state.y), Vec2::ZERO, state.score),
            None => (spawn_point(identity.account_id), Vec2::ZERO, 0),
        };
        // A handed-over state is live, not a save.
        let state_age_ms = match saved {
            Some(s) if !pending.carried => u32::try_from((unix_millis() - s.last_seen_ms).max(0)).unwrap_or(u32::MAX),
            _ => 0,
        };
        let id = ids.allocate();
        let info = PlayerInfo { id, name: identity.name.clone() };
        let mut players: Vec<PlayerInfo> =
            avatars.iter().map(|(n, a)| PlayerInfo { id: n.0, name: a.name.clone() }).collect();
        players.push(info.clone());
        net.broadcast(Channel::Reliable, &ServerMessage::PlayerJoined(info));
        welcome(&mut net, &tick, client, id, identity.account_id, players, state_age_ms);
        // No chat until the client says where its chat stands (`chat`).
        let entity = commands
            .spawn((
                NetEntity(id),
                Kinematics(Body { pos, vel }),
                Avatar { client, account_id: identity.account_id, name: identity.name, connected_at_ms, epoch },
                InputQueue::default(),
                ClientView::default(),
                Conduct::default(),
                Score(score),
            ))
            .id();
        roster.insert(client, entity);
    }
    let due: Vec<u64> = joins
        .pending
        .values_mut()
        .filter(|p| p.retry_at.is_some_and(|at| at <= tick.tick))
        .map(|p| {
            p.retry_at = None;
            p.identity.account_id
        })
        .collect();
    for account_id in due {
        joins.request(&mut outbox, account_id);
    }
}

/// Lets a connection play and tells it who it is and how the world runs.
fn welcome(
    net: &mut NetServer,
    tick: &TickInfo,
    client: ClientKey,
    id: NetId,
    account_id: u64,
    players: Vec<PlayerInfo>,
    state_age_ms: u32,
) {
    net.set_playing(client);
    let tick_rate = (1.0 / tick.dt).round() as u16;
    let tick = tick.tick as u32;
    let message = ServerMessage::Welcome { your_entity: id, account_id, tick, tick_rate, players, state_age_ms };
    net.send(client, Channel::Reliable, &message);
}

/// Ends grace periods that ran out (or were cut short, `until` = 0, by an
/// order): the avatar is saved with its lease released, and goes.
pub fn end_lingering(
    mut commands: Commands,
    tick: Res<TickInfo>,
    mut net: ResMut<NetServer>,
    mut linger: ResMut<Linger>,
    mut outbox: ResMut<StoreOutbox>,
    avatars: Query<(Entity, &NetEntity, &Avatar, &Kinematics, &Score, &Lingering)>,
) {
    for (entity, net_id, avatar, body, score, lingering) in &avatars {
        if lingering.until > tick.tick {
            continue;
        }
        net.broadcast(Channel::Reliable, &ServerMessage::PlayerLeft { id: net_id.0 });
        outbox.save(progress::save_of(avatar, body, score, true));
        log_leave(&mut outbox, &avatar.name, avatar.account_id, "timed out; the grace period ended");
        linger.by_account.remove(&avatar.account_id);
        commands.entity(entity).despawn();
    }
}

/// Cuts a lingering avatar's grace period short (a login elsewhere, a
/// kick): [`end_lingering`] saves and removes it this tick.
pub fn stop_lingering(linger: &Linger, lingering: &mut Query<&mut Lingering>, account_id: u64) -> bool {
    let Some(entity) = linger.of(account_id) else { return false };
    match lingering.get_mut(entity) {
        Ok(mut l) => {
            l.until = 0;
            true
        }
        Err(_) => false,
    }
}

/// A lease granted for a player no longer waiting for it: an avatar already
/// here moves to the newer epoch (both claims were this server's); without
/// one, the lease is let go at once, so no one waits for a ghost.
fn keep_or_release(
    roster: &Roster,
    avatars: &mut Query<(&NetEntity, &mut Avatar)>,
    outbox: &mut StoreOutbox,
    server_id: &str,
    account_id: u64,
    epoch: i64,
) {
    let avatar = roster.entity(ClientKey(account_id)).and_then(|e| avatars.get_mut(e).ok());
    match avatar {
        Some((_, mut avatar)) => avatar.epoch = avatar.epoch.max(epoch),
        None => {
            outbox.push(StoreCommand::ReleaseLease { account_id, server_id: server_id.to_owned(), epoch: Some(epoch) })
        }
    }
}

/// Hands valid chat lines to the cluster's relay ([`super::chat`]), with
/// the sender's name from the token, and starts each connection's chat
/// where its client says it got to.
///
/// Each player may send [`Conduct::CHAT_RATE`] lines a second on average
/// (bursts of [`Conduct::CHAT_BURST`]); lines beyond that are dropped,
/// counted, and the sender told once per burst.
#[allow(clippy::too_many_arguments)]
pub fn chat(
    mut commands: Commands,
    tick: Res<TickInfo>,
    inbox: Res<Inbox>,
    roster: Res<Roster>,
    metrics: Res<crate::schedule::SharedMetrics>,
    mut net: ResMut<NetServer>,
    mut relay: ResMut<ChatRelay>,
    mut avatars: Query<(&Avatar, &mut Conduct, Option<&ChatCursor>)>,
    mut last_refill: Local<Option<std::time::Duration>>,
) {
    // Refill by real time, not by ticks run: skipped ticks (an overloaded
    // server) must not make the limit stricter than its stated rate.
    let since = tick.elapsed.saturating_sub(last_refill.replace(tick.elapsed).unwrap_or(tick.elapsed));
    let refill = Conduct::CHAT_RATE * since.as_secs_f32();
    for (_, mut conduct, _) in &mut avatars {
        conduct.chat_tokens = (conduct.chat_tokens + refill).min(Conduct::CHAT_BURST);
    }
    // Connections given their cursor this tick (the component lands after
    // the system, so a second `ChatFrom` in one tick must not catch up again).
    let mut started: Vec<Entity> = Vec::new();
    for event in &inbox.events {
        let NetEvent::Message { client, message, .. } = event else { continue };
        let (seq, text) = match message {
            ClientMessage::Chat { seq, text } => (*seq, text),
            ClientMessage::ChatFrom { after } => {
                let Some(entity) = roster.entity(*client) else { continue };
                // Once per connection: the lines after the last one the
                // client has, then the rest as they come.
                if let Ok((_, _, None)) = avatars.get(entity)
                    && !started.contains(&entity)
                {
                    started.push(entity);
                    let cursor = match after {
                        Some(after) => relay.catch_up(&mut net, *client, *after),
                        None => relay.position(),
                    };
                    commands.entity(entity).insert(ChatCursor(cursor));
                }
                continue;
            }
            ClientMessage::Input { .. } => continue,
        };
        let Some((avatar, mut conduct, _)) = roster.entity(*client).and_then(|e| avatars.get_mut(e).ok()) else {
            continue;
        };
        if conduct.chat_tokens < 1.0 {
            if conduct.chat_dropped % 20 == 0 {
                net.send(*client, Channel::Reliable, &ServerMessage::Notice { text: "slow down: chat dropped".into() });
            }
            conduct.chat_dropped += 1;
            metrics.0.chat_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        conduct.chat_tokens -= 1.0;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS || text.chars().any(char::is_control) {
            net.send(*client, Channel::Reliable, &ServerMessage::Notice { text: "chat line rejected".into() });
            continue;
        }
        let line = ChatLine {
            account_id: avatar.account_id,
            from: avatar.name.clone(),
            text: text.to_owned(),
            client_seq: seq,
        };
        relay.say(line, &metrics);
    }
}
