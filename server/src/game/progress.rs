//! Player progress between the ECS and the store: the one place a game's
//! state ([`Game::save`]) becomes a [`PlayerState`] document, and the
//! periodic write-behind.

use bevy_ecs::prelude::*;
use bevy_ecs::query::QueryItem;

use super::components::{Avatar, Transferring};
use crate::api::{self, Game};
use crate::store::StoreOutbox;
use crate::store::{PlayerSave, PlayerState, unix_millis};
use crate::tick::TickInfo;

/// How often (in ticks) every player's state is handed to the store.
#[derive(Debug, Clone, Copy, Resource)]
pub struct SaveEvery(pub u64);

/// The write for one avatar, under its lease; `release` when it leaves.
/// `None` (logged) if the game's state cannot be written as a document:
/// the last good save stays.
pub fn save_of<G: Game>(avatar: &Avatar, data: QueryItem<'_, '_, G::SaveData>, release: bool) -> Option<PlayerSave> {
    let saved = G::save(data);
    match api::document::<G>(&saved) {
        Ok(document) => {
            let state = PlayerState {
                account_id: avatar.account_id,
                game: G::NAME,
                document,
                rank: G::rank(&saved),
                last_seen_ms: unix_millis(),
            };
            Some(PlayerSave { state, epoch: avatar.epoch, release })
        }
        Err(error) => {
            tracing::error!(account = avatar.account_id, game = G::NAME, %error, "player state not serialisable; not saved");
            None
        }
    }
}

/// Every [`SaveEvery`] ticks, queues each player's newest state — each
/// player on its own tick of the interval (by account), so a thousand
/// players are a few saves a tick rather than a thousand on one.
pub fn save_periodically<G: Game>(
    tick: Res<TickInfo>,
    every: Res<SaveEvery>,
    mut outbox: ResMut<StoreOutbox>,
    avatars: Query<(&Avatar, G::SaveData), Without<Transferring>>,
) {
    let every = every.0.max(1);
    if tick.tick == 0 {
        return;
    }
    let phase = tick.tick % every;
    for (avatar, data) in &avatars {
        if avatar.account_id % every == phase
            && let Some(save) = save_of::<G>(avatar, data, false)
        {
            outbox.save(save);
        }
    }
}

/// Queues every player's state and lets go of their leases (clean shutdown).
pub fn save_all<G: Game>(world: &mut World) {
    let states: Vec<PlayerSave> = world
        .query_filtered::<(&Avatar, G::SaveData), Without<Transferring>>()
        .iter(world)
        .filter_map(|(avatar, data)| save_of::<G>(avatar, data, true))
        .collect();
    let mut outbox = world.resource_mut::<StoreOutbox>();
    for state in states {
        outbox.save(state);
    }
}
