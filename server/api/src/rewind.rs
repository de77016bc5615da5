//! Lag compensation, an engine service: a bounded history of where
//! entities were, and what each player was looking at.
//!
//! A client draws others where they were a little while ago (its
//! interpolation time) and says, with every input, how far behind that was
//! ([`tickforge_shared::protocol::InputCmd::view_lag`]). The engine keeps
//! each player's [`Viewing`] current as it applies the inputs, and the
//! positions of every [`Rewound`] entity for the last
//! [`Rewind::window_ticks`] ticks. A game judging a player's action (a
//! shot) against others asks [`Rewind::behind`] how far back that player
//! saw — nothing beyond the window: a client claiming to see further back
//! than that gets no rewind at all — and [`Rewind::position`] where an
//! entity was then.

use std::collections::{HashMap, VecDeque};

use bevy_ecs::prelude::*;
use tickforge_shared::sim::Vec2;

use crate::components::Position;
use crate::phase::TickInfo;

/// Marks an entity whose recent positions are kept for lag compensation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Component)]
pub struct Rewound;

/// What a player's client was showing when it sent the input applied
/// last: the server tick (fractional) of the world it drew. The engine
/// keeps it on every player's entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Component)]
pub struct Viewing {
    /// The server tick the client was looking at (`None` before its first input).
    pub tick: Option<f64>,
}

/// The last ticks' positions of every [`Rewound`] entity.
#[derive(Debug, Default, Resource)]
pub struct Rewind {
    window_ticks: u32,
    /// (tick, positions by entity), oldest first.
    frames: VecDeque<(u64, HashMap<Entity, Vec2>)>,
}

impl Rewind {
    /// A history reaching `window_ticks` back (0: no rewind).
    pub fn new(window_ticks: u32) -> Self {
        Self { window_ticks, frames: VecDeque::new() }
    }

    /// How far back a player may be rewound, in ticks.
    pub fn window_ticks(&self) -> u32 {
        self.window_ticks
    }

    /// How many ticks behind `now` the player `viewing` saw the world, if
    /// that is within the window (0 for a client claiming to see the
    /// future); `None` when it claims more than the window (no rewind) or
    /// has sent no input yet.
    pub fn behind(&self, now: u64, viewing: &Viewing) -> Option<f64> {
        let behind = (now as f64 - viewing.tick?).max(0.0);
        (behind <= f64::from(self.window_ticks)).then_some(behind)
    }

    /// Where `entity` was at `tick` (fractional: between two recorded ticks
    /// it is interpolated, as a client draws it); `None` if it is not
    /// [`Rewound`] or `tick` is outside the history.
    pub fn position(&self, entity: Entity, tick: f64) -> Option<Vec2> {
        // Frames are recorded every tick: the one at or after `tick` is
        // found by its distance from the oldest.
        let first = self.frames.front()?.0 as f64;
        let after = (tick - first).ceil();
        if !(0.0..self.frames.len() as f64).contains(&after) {
            return None;
        }
        let after = after as usize;
        let (tb, b) = &self.frames[after];
        let to = *b.get(&entity)?;
        if *tb as f64 == tick {
            return Some(to);
        }
        if after == 0 {
            return None; // older than the history
        }
        let (ta, a) = &self.frames[after - 1];
        let Some(from) = a.get(&entity) else { return Some(to) };
        let t = ((tick - *ta as f64) / (*tb as f64 - *ta as f64)) as f32;
        Some(Vec2::new(from.x + (to.x - from.x) * t, from.y + (to.y - from.y) * t))
    }

    /// Records this tick's positions and forgets what is out of the window.
    pub fn record(&mut self, tick: u64, positions: impl Iterator<Item = (Entity, Vec2)>) {
        if self.window_ticks == 0 {
            return;
        }
        let keep = self.window_ticks as usize + 2;
        let mut frame =
            if self.frames.len() >= keep { self.frames.pop_front().map(|f| f.1) } else { None }.unwrap_or_default();
        frame.clear();
        frame.extend(positions);
        self.frames.push_back((tick, frame));
    }
}

/// Installs the history (`window_ticks` long) and its recording, after
/// the game's simulation: a tick's positions are the ones its snapshots
/// show.
pub fn install(world: &mut World, schedule: &mut Schedule, window_ticks: u32) {
    world.insert_resource(Rewind::new(window_ticks));
    schedule.add_systems(record.in_set(crate::ReplicateSet::Fields));
}

/// Records the positions of the [`Rewound`] entities.
fn record(tick: Res<TickInfo>, mut rewind: ResMut<Rewind>, entities: Query<(Entity, &Position), With<Rewound>>) {
    rewind.record(tick.tick, entities.iter().map(|(e, p)| (e, p.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(n: u32) -> Entity {
        Entity::from_raw_u32(n).unwrap()
    }

    #[test]
    fn positions_come_back_interpolated_within_the_window_only() {
        let mut rewind = Rewind::new(10);
        for tick in 100..=120u64 {
            rewind.record(tick, [(entity(1), Vec2::new(tick as f32 * 2.0, 0.0))].into_iter());
        }
        assert_eq!(rewind.position(entity(1), 115.0), Some(Vec2::new(230.0, 0.0)));
        assert_eq!(rewind.position(entity(1), 115.5), Some(Vec2::new(231.0, 0.0)));
        assert_eq!(rewind.position(entity(1), 105.0), None, "older than the window");
        assert_eq!(rewind.position(entity(1), 121.0), None, "the future is not recorded");
        assert_eq!(rewind.position(entity(2), 115.0), None, "not rewound");
    }

    #[test]
    fn a_claim_beyond_the_window_gets_no_rewind() {
        let rewind = Rewind::new(15);
        let at = |tick: f64| Viewing { tick: Some(tick) };
        assert_eq!(rewind.behind(200, &at(190.5)), Some(9.5));
        assert_eq!(rewind.behind(200, &at(185.0)), Some(15.0));
        assert_eq!(rewind.behind(200, &at(184.0)), None, "more than the window: no benefit");
        assert_eq!(rewind.behind(200, &at(210.0)), Some(0.0), "the future is the present");
        assert_eq!(rewind.behind(200, &Viewing::default()), None, "no input yet");
    }
}
