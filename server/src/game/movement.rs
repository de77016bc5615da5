//! Movement: buffered player inputs and NPC wandering, both through the
//! shared `sim::step`, so the client's prediction runs the same code.

use bevy_ecs::prelude::*;
use tickforge_shared::protocol::{ClientMessage, InputCmd, MAX_INPUTS_PER_MESSAGE};
use tickforge_shared::sim::{self, Intent, IntentVerdict, Vec2};

use super::NetIds;
use super::components::{ClientView, Conduct, InputQueue, Kinematics, Npc};
use super::rng::SplitMix64;
use crate::game::components::NetEntity;
use crate::game::players::Roster;
use crate::net::{Inbox, NetEvent, NetServer};
use crate::tick::TickInfo;

/// The inputs' sets inside [`crate::tick::Phase::ApplyInputs`], in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputSet {
    /// Input messages into each avatar's queue.
    Queue,
    /// This tick's slot applied to each avatar.
    Apply,
}

/// Speed of wandering NPCs as a fraction of the top speed.
const NPC_PACE: f32 = 0.4;

/// Moves input messages from the inbox into each avatar's queue, and
/// records which snapshot the client has (its delta baseline).
pub fn queue_inputs(
    tick: Res<TickInfo>,
    inbox: Res<Inbox>,
    roster: Res<Roster>,
    mut net: ResMut<NetServer>,
    mut avatars: Query<(&mut InputQueue, &mut ClientView, &mut Conduct)>,
) {
    for event in &inbox.events {
        let NetEvent::Message { client, message: ClientMessage::Input { ack_tick, inputs }, .. } = event else {
            continue;
        };
        if inputs.len() > MAX_INPUTS_PER_MESSAGE {
            tracing::debug!(client = client.0, len = inputs.len(), "oversized input message ignored");
            continue;
        }
        let Some((mut queue, mut view, mut conduct)) = roster.entity(*client).and_then(|e| avatars.get_mut(e).ok())
        else {
            continue;
        };
        // 0 means "nothing yet"; an ack from the future is a lie; one older
        // than the last is stale.
        if *ack_tick > 0 && u64::from(*ack_tick) <= tick.tick && view.acked.is_none_or(|a| *ack_tick > a) {
            view.acked = Some(*ack_tick);
        }
        for cmd in inputs {
            // The shared rule: directions are clamped to unit length; what
            // no device sends is refused as "stand still" and flagged.
            let (intent, verdict) = Intent::check(cmd.move_x, cmd.move_y);
            let cmd = InputCmd { move_x: intent.vector().x, move_y: intent.vector().y, ..*cmd };
            let before = queue.newest();
            let discarded = queue.push(cmd);
            // Count each refused input once (redundant copies repeat it).
            if cmd.seq > before {
                match verdict {
                    IntentVerdict::Accepted => {}
                    IntentVerdict::Implausible => conduct.implausible_inputs += 1,
                    IntentVerdict::NonFinite => conduct.invalid_inputs += 1,
                }
            }
            conduct.excess_inputs += discarded;
        }
        if conduct.invalid_inputs > Conduct::MAX_INVALID_INPUTS {
            tracing::warn!(client = client.0, "dropping client after repeated non-finite inputs");
            conduct.invalid_inputs = 0;
            net.kick(*client, "invalid input");
        }
    }
}

/// Avatars their players move: not frozen for a handoff, not lingering.
type Playing = (Without<super::components::Transferring>, Without<super::components::Lingering>);

/// Applies this tick's input slot(s) to each avatar.
pub fn apply_inputs(tick: Res<TickInfo>, mut avatars: Query<(&mut Kinematics, &mut InputQueue), Playing>) {
    for (mut body, mut queue) in &mut avatars {
        let dt = tick.dt;
        let mut state = body.0;
        for intent in queue.next_intents() {
            state = sim::step(state, intent, dt);
        }
        if state != body.0 {
            body.0 = state;
        }
    }
}

/// NPCs pick a new heading now and then and walk.
pub fn wander(tick: Res<TickInfo>, mut npcs: Query<(&mut Kinematics, &mut Npc)>) {
    for (mut body, mut npc) in &mut npcs {
        if npc.ticks_left == 0 {
            let angle = npc.rng.next_f32() * std::f32::consts::TAU;
            let pace = if npc.rng.next_f32() < 0.2 { 0.0 } else { NPC_PACE };
            npc.intent = Intent::new(angle.cos() * pace, angle.sin() * pace);
            npc.ticks_left = 30 + (npc.rng.next_f32() * 90.0) as u32;
        }
        npc.ticks_left -= 1;
        body.0 = sim::step(body.0, npc.intent, tick.dt);
    }
}

/// Spawns `count` NPCs at seeded random positions.
pub fn spawn_npcs(world: &mut World, count: u32, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for _ in 0..count {
        let pos = Vec2::new(rng.next_f32() * sim::WORLD_WIDTH, rng.next_f32() * sim::WORLD_HEIGHT);
        let id = world.resource_mut::<NetIds>().allocate();
        world.spawn((
            NetEntity(id),
            Kinematics(sim::Body { pos, vel: Vec2::ZERO }),
            Npc { rng: SplitMix64::new(rng.next_u64()), intent: Intent::IDLE, ticks_left: 0 },
        ));
    }
}
