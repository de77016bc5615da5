//! ECS components of the reference game. None of these cross the wire; the
//! replication system copies them into `tickforge_shared::protocol` types.

use std::collections::VecDeque;

use bevy_ecs::component::Component;
use tickforge_shared::protocol::{InputCmd, NetId};
use tickforge_shared::sim::{Body, Intent};

use super::rng::SplitMix64;
use crate::net::ClientKey;

/// Stable network id of a replicated entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct NetEntity(pub NetId);

/// Position and velocity, moved only by `tickforge_shared::sim::step`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Component)]
pub struct Kinematics(pub Body);

/// A player's avatar: who controls it.
#[derive(Debug, Clone, PartialEq, Eq, Component)]
pub struct Avatar {
    /// The connection whose inputs move it.
    pub client: ClientKey,
    /// Account id from the connect token.
    pub account_id: u64,
    /// Account name from the connect token.
    pub name: String,
    /// Unix milliseconds when the connection was made.
    pub connected_at_ms: i64,
}

/// Inputs received but not yet applied, one per tick, in sequence order.
#[derive(Debug, Clone, Default, Component)]
pub struct InputQueue {
    pending: VecDeque<InputCmd>,
    /// Highest sequence applied (acknowledged back in snapshots).
    last_applied: u32,
    /// Repeated when no new input arrived in time.
    last_intent: Intent,
}

impl InputQueue {
    /// Inputs buffered beyond this are too old to matter; the oldest go.
    pub const CAPACITY: usize = 8;

    /// Buffers one input if it is newer than anything seen.
    pub fn push(&mut self, cmd: InputCmd) {
        let newest = self.pending.back().map_or(self.last_applied, |c| c.seq);
        if cmd.seq <= newest {
            return;
        }
        self.pending.push_back(cmd);
        while self.pending.len() > Self::CAPACITY {
            if let Some(dropped) = self.pending.pop_front() {
                self.last_applied = dropped.seq;
            }
        }
    }

    /// The intent for this tick: the next buffered input, or the last one again.
    pub fn next_intent(&mut self) -> Intent {
        if let Some(cmd) = self.pending.pop_front() {
            self.last_applied = cmd.seq;
            self.last_intent = Intent::new(cmd.move_x, cmd.move_y);
        }
        self.last_intent
    }

    /// Highest input sequence applied so far.
    pub fn last_applied(&self) -> u32 {
        self.last_applied
    }
}

/// Orbs an avatar has collected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Component)]
pub struct Score(pub u32);

/// A collectible orb (static until collected, then it reappears elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Component)]
pub struct Orb;

/// A wandering non-player entity.
#[derive(Debug, Clone, Component)]
pub struct Npc {
    /// Its own random stream, so NPCs are independent and reproducible.
    pub rng: SplitMix64,
    /// Where it is heading.
    pub intent: Intent,
    /// Ticks until it picks a new heading.
    pub ticks_left: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(seq: u32) -> InputCmd {
        InputCmd { seq, move_x: seq as f32 / 100.0, move_y: 0.0 }
    }

    #[test]
    fn applies_each_input_once_in_order_and_repeats_when_starved() {
        let mut queue = InputQueue::default();
        for seq in [1, 2, 2, 1, 3] {
            queue.push(cmd(seq));
        }
        let xs: Vec<f32> = (0..5).map(|_| queue.next_intent().vector().x).collect();
        assert_eq!(xs, [0.01, 0.02, 0.03, 0.03, 0.03]);
        assert_eq!(queue.last_applied(), 3);
        queue.push(cmd(2));
        assert_eq!(queue.next_intent().vector().x, 0.03, "an old input is not replayed");
    }

    #[test]
    fn buffer_is_bounded() {
        let mut queue = InputQueue::default();
        for seq in 1..=100 {
            queue.push(cmd(seq));
        }
        assert_eq!(queue.pending.len(), InputQueue::CAPACITY);
        queue.next_intent();
        assert_eq!(queue.last_applied(), 100 - InputQueue::CAPACITY as u32 + 1);
    }
}
