//! Collectible orbs: touching one scores a point and it reappears elsewhere.

use bevy_ecs::prelude::*;
use tickforge_api::{Controlled, NetIds, Position, Replicated, SplitMix64};
use tickforge_shared::sim::Vec2;

use crate::sim::{AVATAR_RADIUS, ArenaSim, ArenaState, ORB, ORB_RADIUS, WORLD_HEIGHT, WORLD_WIDTH};

/// A collectible orb (static until collected, then it reappears elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Component)]
pub struct Orb;

/// Random stream for orb placement.
#[derive(Debug, Resource)]
pub struct OrbRng(pub SplitMix64);

fn random_spot(rng: &mut SplitMix64) -> Vec2 {
    let margin = ORB_RADIUS * 2.0;
    Vec2::new(
        margin + rng.next_f32() * (WORLD_WIDTH - 2.0 * margin),
        margin + rng.next_f32() * (WORLD_HEIGHT - 2.0 * margin),
    )
}

/// Places `count` orbs.
pub fn spawn_orbs(world: &mut World, count: u32, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for _ in 0..count {
        let pos = random_spot(&mut rng);
        let id = world.resource_mut::<NetIds>().allocate();
        world.spawn((Replicated::new(id, ORB, pos), Orb));
    }
    world.insert_resource(OrbRng(rng));
}

/// Scores a point for each orb an avatar touches and moves the orb away.
pub fn collect(
    mut rng: ResMut<OrbRng>,
    mut avatars: Query<&mut Controlled<ArenaSim>>,
    mut orbs: Query<&mut Position, With<Orb>>,
) {
    // Squared distances: no square root per avatar and orb.
    let reach2 = (AVATAR_RADIUS + ORB_RADIUS) * (AVATAR_RADIUS + ORB_RADIUS);
    for mut avatar in &mut avatars {
        let ArenaState { body, .. } = avatar.0;
        for mut orb in &mut orbs {
            if body.pos.distance_squared(orb.0) <= reach2 {
                avatar.0.score += 1;
                orb.0 = random_spot(&mut rng.0);
            }
        }
    }
}
