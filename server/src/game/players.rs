//! Joining, leaving and lingering: the roster of who plays here.
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
use std::sync::atomic::Ordering;

use bevy_ecs::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use tickforge_shared::protocol::{Channel, NetId, PlayerInfo, ServerMessage};
use tickforge_shared::sim::Simulation;

use super::NetIds;
use super::components::{Avatar, ClientView, Conduct, Lingering, NetEntity, Replicated, Transferring};
use super::input::{Controlled, InputQueue, Viewing};
use super::progress;
use super::roster::Roster;
use crate::api::{self, Arrival, Game};
use crate::net::Inbox;
use crate::net::identity::Identity;
use crate::net::{ClientKey, NetEvent, NetServer};
use crate::store::{AccessEvent, AccessKind, Claim, Claimed, PlayerState, StoreCommand, unix_millis};
use crate::store::{StoreOutbox, StoreSet};
use crate::tick::{Phase, SharedMetrics, TickInfo};

/// A player's input queue in game `G`.
type Inputs<G> = InputQueue<<<G as Game>::Sim as Simulation>::Input>;

/// The players' sets inside the phases, in this order within `Admit`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayersSet {
    /// New connections start loading; departed players are saved and go ([`Phase::Admit`]).
    Admit,
    /// Avatars whose state arrived appear ([`Phase::Admit`], after `Admit`).
    Spawn,
    /// Grace periods that ran out end ([`Phase::Admit`], after `Spawn`).
    Linger,
    /// The periodic save ([`Phase::Persist`], before the store's flush).
    Save,
    /// Player and entity counts for `/metrics` ([`Phase::Persist`]).
    Publish,
}

/// What the players feature needs from the configuration.
#[derive(Debug, Clone)]
pub struct PlayersSetup {
    /// The registry id leases are claimed for.
    pub server_id: String,
    /// The grace period of a lost link, in ticks (0: none).
    pub linger_ticks: u64,
    /// Ticks between two periodic saves of a player.
    pub save_every_ticks: u64,
}

/// Installs joining, leaving, lingering and saving for game `G`: the
/// [`Roster`], the [`Joins`] and [`Linger`] resources and their systems.
pub fn install<G: Game>(world: &mut World, schedule: &mut Schedule, setup: PlayersSetup) {
    world.init_resource::<Roster>();
    world.insert_resource(Joins::new(setup.server_id, G::NAME));
    world.insert_resource(Linger::new(setup.linger_ticks));
    world.insert_resource(progress::SaveEvery(setup.save_every_ticks));
    schedule.configure_sets((PlayersSet::Admit, PlayersSet::Spawn, PlayersSet::Linger).chain().in_set(Phase::Admit));
    schedule.configure_sets(PlayersSet::Save.in_set(Phase::Persist).before(StoreSet::Flush));
    schedule.configure_sets(PlayersSet::Publish.in_set(Phase::Persist));
    schedule.add_systems((
        admit::<G>.in_set(PlayersSet::Admit),
        spawn_loaded::<G>.in_set(PlayersSet::Spawn),
        end_lingering::<G>.in_set(PlayersSet::Linger),
        progress::save_periodically::<G>.in_set(PlayersSet::Save),
        publish_metrics.in_set(PlayersSet::Publish),
    ));
}

fn publish_metrics(metrics: Res<SharedMetrics>, roster: Res<Roster>, entities: Query<(), With<NetEntity>>) {
    metrics.0.players.store(roster.len() as u64, Ordering::Relaxed);
    metrics.0.entities.store(entities.iter().count() as u64, Ordering::Relaxed);
}

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
    /// The game whose state is loaded.
    game: &'static str,
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
    /// Joins for the server registered as `server_id`, running `game`.
    pub fn new(server_id: String, game: &'static str) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self { pending: HashMap::new(), server_id, game, tx, rx, handed_in: HashMap::new() }
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
        let game = self.game;
        outbox.push(StoreCommand::ClaimPlayer { account_id, server_id, game, reply: self.tx.clone() });
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

/// Starts loads for new connections and removes departed players (saving them).
#[allow(clippy::too_many_arguments)]
pub fn admit<G: Game>(
    mut commands: Commands,
    inbox: Res<Inbox>,
    mut net: ResMut<NetServer>,
    mut roster: ResMut<Roster>,
    mut joins: ResMut<Joins>,
    mut outbox: ResMut<StoreOutbox>,
    tick: Res<TickInfo>,
    mut linger: ResMut<Linger>,
    metrics: Res<SharedMetrics>,
    avatars: Query<(&NetEntity, &Avatar, G::SaveData, Option<&Transferring>)>,
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
                            game: joins.game,
                            document: c.document.clone(),
                            rank: 0,
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
                if let Ok((_, avatar, _, None)) = avatars.get(entity)
                    && *link_lost
                    && linger.ticks > 0
                {
                    tracing::info!(account = avatar.account_id, name = %avatar.name, %reason, "player's link lost; its avatar lingers");
                    commands.entity(entity).insert(Lingering { until: tick.tick + linger.ticks });
                    linger.by_account.insert(avatar.account_id, entity);
                    continue;
                }
                if let Ok((net_id, avatar, data, transferring)) = avatars.get(entity) {
                    net.broadcast(Channel::Reliable, &ServerMessage::PlayerLeft { id: net_id.0 });
                    // A player handed over left for its new server: the
                    // state and the lease are there already.
                    match transferring {
                        None => {
                            if let Some(save) = progress::save_of::<G>(avatar, data, true) {
                                outbox.save(save);
                            }
                        }
                        Some(t) => {
                            let ms = ((tick.tick.saturating_sub(t.frozen_at)) as f32 * tick.dt * 1000.0) as u64;
                            metrics.0.handoff_longest_ms.fetch_max(ms, Ordering::Relaxed);
                        }
                    }
                    log_leave(&mut outbox, &avatar.name, avatar.account_id, reason);
                }
                commands.entity(entity).despawn();
            }
            NetEvent::Message { .. } | NetEvent::Input { .. } => {}
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
pub fn spawn_loaded<G: Game>(
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
        let identity = pending.identity.clone();
        // Back within the grace period: the avatar that waited, exactly as
        // it was. Its chat goes on from where the client says it got to
        // (`ClientMessage::ChatFrom`; the chat let go of its cursor when it
        // began to linger).
        if let Some(entity) = linger.by_account.remove(&identity.account_id)
            && let Ok((net_id, mut avatar)) = avatars.get_mut(entity)
        {
            avatar.epoch = avatar.epoch.max(epoch);
            avatar.connected_at_ms = connected_at_ms;
            let id = net_id.0;
            tracing::info!(account = identity.account_id, "player back within the grace period");
            let players = avatars.iter().map(|(n, a)| PlayerInfo { id: n.0, name: a.name.clone() }).collect();
            welcome(&mut net, &tick, client, id, identity.account_id, players, 0);
            commands.entity(entity).remove::<Lingering>().insert((
                Inputs::<G>::default(),
                ClientView::default(),
                Viewing::default(),
            ));
            roster.insert(client, entity);
            continue;
        }
        // A document that does not parse is never overwritten with a blank
        // state: the player is refused, the lease let go, the row kept. (One
        // carried in a transfer token is loaded from the database instead,
        // where the handoff wrote it.)
        let game_state = match saved.as_ref().map(|s| api::parse::<G>(&s.document)).transpose() {
            Ok(state) => state,
            Err(error) if pending.carried => {
                tracing::warn!(account = identity.account_id, %error, "carried state unreadable; loading it instead");
                joins.request(&mut outbox, identity.account_id);
                joins.pending.insert(client, PendingJoin { carried: false, ..pending });
                continue;
            }
            Err(error) => {
                tracing::error!(account = identity.account_id, game = G::NAME, %error, "saved state unreadable; player refused");
                net.kick(client, "your saved state cannot be read here; it is kept as it was");
                let server_id = joins.server_id.clone();
                outbox.push(StoreCommand::ReleaseLease {
                    account_id: identity.account_id,
                    server_id,
                    epoch: Some(epoch),
                });
                continue;
            }
        };
        let arrival = if pending.carried { Arrival::HandedOver } else { Arrival::Loaded };
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
        let account_id = identity.account_id;
        let mut player = commands.spawn((
            Avatar { client, account_id, name: identity.name, connected_at_ms, epoch },
            Inputs::<G>::default(),
            ClientView::default(),
            Viewing::default(),
            Conduct::default(),
        ));
        let state = G::spawn_player(&mut player, account_id, game_state, arrival);
        let at = <G::Sim as Simulation>::position(&state);
        player.insert((Controlled::<G::Sim>(state), Replicated::new(id, <G::Sim as Simulation>::PLAYER_KIND, at)));
        let entity = player.id();
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
pub fn end_lingering<G: Game>(
    mut commands: Commands,
    tick: Res<TickInfo>,
    mut net: ResMut<NetServer>,
    mut linger: ResMut<Linger>,
    mut outbox: ResMut<StoreOutbox>,
    avatars: Query<(Entity, &NetEntity, &Avatar, G::SaveData, &Lingering)>,
) {
    for (entity, net_id, avatar, data, lingering) in &avatars {
        if lingering.until > tick.tick {
            continue;
        }
        net.broadcast(Channel::Reliable, &ServerMessage::PlayerLeft { id: net_id.0 });
        if let Some(save) = progress::save_of::<G>(avatar, data, true) {
            outbox.save(save);
        }
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
