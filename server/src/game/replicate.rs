//! Snapshot building: every client gets the full visible state each tick,
//! with the sequence of its own last applied input for reconciliation.

use bevy_ecs::prelude::*;
use tickforge_shared::protocol::{Channel, EntityKind, EntityState, ServerMessage, Snapshot};

use super::components::{Avatar, InputQueue, Kinematics, NetEntity, Npc, Orb, Score};
use crate::net::NetServer;
use crate::tick::TickInfo;

/// Sends each connected avatar's owner a snapshot of the world.
pub fn send_snapshots(
    tick: Res<TickInfo>,
    mut net: ResMut<NetServer>,
    entities: Query<(&NetEntity, &Kinematics, Has<Npc>, Has<Orb>)>,
    owners: Query<(&Avatar, &InputQueue, &Score)>,
    mut scratch: Local<Vec<EntityState>>,
) {
    if owners.is_empty() {
        return;
    }
    scratch.clear();
    scratch.extend(entities.iter().map(|(id, body, is_npc, is_orb)| EntityState {
        id: id.0,
        kind: match (is_npc, is_orb) {
            (true, _) => EntityKind::Npc,
            (_, true) => EntityKind::Orb,
            _ => EntityKind::Avatar,
        },
        pos: body.0.pos,
        vel: body.0.vel,
    }));
    let snapshot =
        Snapshot { tick: tick.tick as u32, ack_input_seq: 0, your_score: 0, entities: std::mem::take(&mut *scratch) };
    let mut message = ServerMessage::Snapshot(snapshot);
    for (avatar, queue, score) in &owners {
        if let ServerMessage::Snapshot(snapshot) = &mut message {
            snapshot.ack_input_seq = queue.last_applied();
            snapshot.your_score = score.0;
        }
        net.send(avatar.client, Channel::Snapshot, &message);
    }
    // Keep the allocation for the next tick.
    if let ServerMessage::Snapshot(snapshot) = message {
        *scratch = snapshot.entities;
    }
}
