//! NPC wandering, through the arena's shared step (the one players move by).

use bevy_ecs::prelude::*;
use tickforge_api::{NetIds, Position, Replicated, SplitMix64, TickInfo};
use tickforge_shared::sim::{Body, Vec2};

use crate::sim::{self, Move, NPC, WORLD_HEIGHT, WORLD_WIDTH};

/// Position and velocity of a body the game moves itself (an NPC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Component)]
pub struct Kinematics(pub Body);

/// A wandering non-player entity.
#[derive(Debug, Clone, Component)]
pub struct Npc {
    /// Its own random stream, so NPCs are independent and reproducible.
    pub rng: SplitMix64,
    /// Where it is heading.
    pub heading: Move,
    /// Ticks until it picks a new heading.
    pub ticks_left: u32,
}

/// Speed of wandering NPCs as a fraction of the top speed.
const NPC_PACE: f32 = 0.4;

/// NPCs pick a new heading now and then and walk.
pub fn wander(tick: Res<TickInfo>, mut npcs: Query<(&mut Kinematics, &mut Position, &mut Npc)>) {
    for (mut body, mut position, mut npc) in &mut npcs {
        if npc.ticks_left == 0 {
            let angle = npc.rng.next_f32() * std::f32::consts::TAU;
            let pace = if npc.rng.next_f32() < 0.2 { 0.0 } else { NPC_PACE };
            npc.heading = Move::new(angle.cos() * pace, angle.sin() * pace);
            npc.ticks_left = 30 + (npc.rng.next_f32() * 90.0) as u32;
        }
        npc.ticks_left -= 1;
        body.0 = sim::step(body.0, npc.heading, tick.dt);
        position.0 = body.0.pos;
    }
}

/// Spawns `count` NPCs at seeded random positions.
pub fn spawn_npcs(world: &mut World, count: u32, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for _ in 0..count {
        let pos = Vec2::new(rng.next_f32() * WORLD_WIDTH, rng.next_f32() * WORLD_HEIGHT);
        let id = world.resource_mut::<NetIds>().allocate();
        world.spawn((
            Replicated::new(id, NPC, pos),
            Kinematics(Body { pos, vel: Vec2::ZERO }),
            Npc { rng: SplitMix64::new(rng.next_u64()), heading: Move::IDLE, ticks_left: 0 },
        ));
    }
}
