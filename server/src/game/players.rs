//! Joining, leaving and chatting.

use bevy_ecs::prelude::*;
use tickforge_shared::protocol::{Channel, ClientMessage, MAX_CHAT_CHARS, PlayerInfo, ServerMessage};
use tickforge_shared::sim::{self, Body, Vec2};

use super::NetIds;
use super::components::{Avatar, InputQueue, Kinematics, NetEntity};
use super::rng::SplitMix64;
use crate::net::{NetEvent, NetServer};
use crate::schedule::{Inbox, Roster, StoreOutbox};
use crate::store::{AccessEvent, AccessKind};
use crate::tick::TickInfo;

/// Where an account's avatar appears: spread over the middle of the world,
/// the same place for the same account.
fn spawn_point(account_id: u64) -> Vec2 {
    let mut rng = SplitMix64::new(account_id);
    Vec2::new(sim::WORLD_WIDTH * (0.25 + 0.5 * rng.next_f32()), sim::WORLD_HEIGHT * (0.25 + 0.5 * rng.next_f32()))
}

/// Spawns avatars for new connections and removes those of departed ones.
#[allow(clippy::too_many_arguments)]
pub fn admit(
    mut commands: Commands,
    inbox: Res<Inbox>,
    tick: Res<TickInfo>,
    mut net: ResMut<NetServer>,
    mut roster: ResMut<Roster>,
    mut ids: ResMut<NetIds>,
    mut outbox: ResMut<StoreOutbox>,
    avatars: Query<(&NetEntity, &Avatar)>,
) {
    for event in &inbox.events {
        match event {
            NetEvent::Connected { client, identity, addr } => {
                let id = ids.allocate();
                let info = PlayerInfo { id, name: identity.name.clone() };
                let mut players: Vec<PlayerInfo> = avatars
                    .iter()
                    .filter(|(_, a)| roster.entity(a.client).is_some())
                    .map(|(n, a)| PlayerInfo { id: n.0, name: a.name.clone() })
                    .collect();
                players.push(info.clone());
                net.broadcast(Channel::Reliable, &ServerMessage::PlayerJoined(info));
                net.send(
                    *client,
                    Channel::Reliable,
                    &ServerMessage::Welcome {
                        your_entity: id,
                        account_id: identity.account_id,
                        tick: tick.tick as u32,
                        tick_rate: (1.0 / tick.dt).round() as u16,
                        players,
                    },
                );
                let entity = commands
                    .spawn((
                        NetEntity(id),
                        Kinematics(Body { pos: spawn_point(identity.account_id), vel: Vec2::ZERO }),
                        Avatar { client: *client, account_id: identity.account_id, name: identity.name.clone() },
                        InputQueue::default(),
                    ))
                    .id();
                roster.insert(*client, entity);
                tracing::info!(account = identity.account_id, name = %identity.name, peer = ?addr, "player connected");
                outbox.push_access(AccessEvent::now(
                    AccessKind::Connect,
                    Some(identity.account_id),
                    Some(&identity.name),
                    *addr,
                ));
            }
            NetEvent::Disconnected { client, reason } => {
                let Some(entity) = roster.remove(*client) else { continue };
                if let Ok((net_id, avatar)) = avatars.get(entity) {
                    net.broadcast(Channel::Reliable, &ServerMessage::PlayerLeft { id: net_id.0 });
                    tracing::info!(account = avatar.account_id, name = %avatar.name, %reason, "player disconnected");
                    outbox.push_access(AccessEvent::now(
                        AccessKind::Disconnect,
                        Some(avatar.account_id),
                        Some(&avatar.name),
                        None,
                    ));
                }
                commands.entity(entity).despawn();
            }
            NetEvent::Message { .. } => {}
        }
    }
}

/// Relays valid chat lines to everyone, with the sender's name from the token.
pub fn chat(inbox: Res<Inbox>, roster: Res<Roster>, mut net: ResMut<NetServer>, avatars: Query<&Avatar>) {
    for event in &inbox.events {
        let NetEvent::Message { client, message: ClientMessage::Chat { text }, .. } = event else {
            continue;
        };
        let Some(avatar) = roster.entity(*client).and_then(|e| avatars.get(e).ok()) else {
            continue;
        };
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS || text.chars().any(char::is_control) {
            net.send(*client, Channel::Reliable, &ServerMessage::Notice { text: "chat line rejected".into() });
            continue;
        }
        net.broadcast(Channel::Reliable, &ServerMessage::Chat { from: avatar.name.clone(), text: text.to_owned() });
    }
}
