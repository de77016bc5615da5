//! Player progress between the ECS and the store: the one place components
//! become [`PlayerState`] rows, and the periodic write-behind.

use bevy_ecs::prelude::*;

use super::components::{Avatar, Kinematics, Score, Transferring};
use crate::schedule::StoreOutbox;
use crate::store::{PlayerSave, PlayerState, unix_millis};
use crate::tick::TickInfo;

/// How often (in ticks) every player's state is handed to the store.
#[derive(Debug, Clone, Copy, Resource)]
pub struct SaveEvery(pub u64);

/// The write for one avatar, under its lease; `release` when it leaves.
pub fn save_of(avatar: &Avatar, body: &Kinematics, score: &Score, release: bool) -> PlayerSave {
    let state = PlayerState {
        account_id: avatar.account_id,
        x: body.0.pos.x,
        y: body.0.pos.y,
        vx: body.0.vel.x,
        vy: body.0.vel.y,
        score: score.0,
        last_seen_ms: unix_millis(),
    };
    PlayerSave { state, epoch: avatar.epoch, release }
}

/// Every [`SaveEvery`] ticks, queues each player's newest state — each
/// player on its own tick of the interval (by account), so a thousand
/// players are a few saves a tick rather than a thousand on one.
pub fn save_periodically(
    tick: Res<TickInfo>,
    every: Res<SaveEvery>,
    mut outbox: ResMut<StoreOutbox>,
    avatars: Query<(&Avatar, &Kinematics, &Score), Without<Transferring>>,
) {
    let every = every.0.max(1);
    if tick.tick == 0 {
        return;
    }
    let phase = tick.tick % every;
    for (avatar, body, score) in &avatars {
        if avatar.account_id % every == phase {
            outbox.save(save_of(avatar, body, score, false));
        }
    }
}

/// Queues every player's state and lets go of their leases (clean shutdown).
pub fn save_all(world: &mut World) {
    let states: Vec<PlayerSave> = world
        .query_filtered::<(&Avatar, &Kinematics, &Score), Without<Transferring>>()
        .iter(world)
        .map(|(avatar, body, score)| save_of(avatar, body, score, true))
        .collect();
    let mut outbox = world.resource_mut::<StoreOutbox>();
    for state in states {
        outbox.save(state);
    }
}
