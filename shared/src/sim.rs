//! What a game's simulation is to the engine.
//!
//! A game's shared step — the same code on the server, which decides, and
//! on the client, which predicts its own player with it — implements
//! [`Simulation`]: the input a client sends each tick, the rule that
//! validates it, the player's own exact state and the step that moves it.
//! Steps are pure: inputs and `dt` in, new state out, no clock, no
//! randomness. [`Vec2`] and [`Body`] are the plain math most games share.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::protocol::EntityKind;
use crate::schema::Schema;

/// A 2-D vector in world units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Vec2 {
    /// Horizontal component.
    pub x: f32,
    /// Vertical component (down is positive).
    pub y: f32,
}

impl Vec2 {
    /// The zero vector.
    pub const ZERO: Vec2 = Vec2 { x: 0.0, y: 0.0 };

    /// Builds a vector.
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    /// Euclidean length.
    pub fn length(self) -> f32 {
        self.x.hypot(self.y)
    }

    /// Squared distance to another point (no square root: for comparisons).
    pub fn distance_squared(self, other: Vec2) -> f32 {
        let (dx, dy) = (self.x - other.x, self.y - other.y);
        dx * dx + dy * dy
    }

    /// Distance to another point.
    pub fn distance(self, other: Vec2) -> f32 {
        Vec2::new(self.x - other.x, self.y - other.y).length()
    }

    /// Whether both components are finite numbers.
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

impl std::ops::Add for Vec2 {
    type Output = Vec2;
    fn add(self, other: Vec2) -> Vec2 {
        Vec2::new(self.x + other.x, self.y + other.y)
    }
}

impl std::ops::Sub for Vec2 {
    type Output = Vec2;
    fn sub(self, other: Vec2) -> Vec2 {
        Vec2::new(self.x - other.x, self.y - other.y)
    }
}

impl std::ops::Mul<f32> for Vec2 {
    type Output = Vec2;
    fn mul(self, factor: f32) -> Vec2 {
        Vec2::new(self.x * factor, self.y * factor)
    }
}

/// Seconds per tick at `tick_rate` Hz: the one `dt` both the server's
/// simulation and the client's prediction step with, so they agree to the
/// bit.
pub fn tick_dt(tick_rate: u16) -> f32 {
    1.0 / f32::from(tick_rate.max(1))
}

/// Anything that moves: position and velocity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// Position in world units.
    pub pos: Vec2,
    /// Velocity in world units per second.
    pub vel: Vec2,
}

impl Body {
    /// Advances by `dt` seconds, steering toward velocity `target`: the
    /// velocity changes by at most `acceleration × dt` (units/s²), the
    /// position integrates it and stays inside `[0, world.x] × [0,
    /// world.y]`, where the velocity into the wall is cancelled. The
    /// movement model both shipped games step with; deterministic to the
    /// bit.
    pub fn steer(self, target: Vec2, acceleration: f32, dt: f32, world: Vec2) -> Body {
        let dv = Vec2::new(target.x - self.vel.x, target.y - self.vel.y);
        let max_dv = acceleration * dt;
        let dv_len = dv.length();
        let mut vel = if dv_len > max_dv && dv_len > 0.0 {
            let k = max_dv / dv_len;
            Vec2::new(self.vel.x + dv.x * k, self.vel.y + dv.y * k)
        } else {
            target
        };
        let mut pos = Vec2::new(self.pos.x + vel.x * dt, self.pos.y + vel.y * dt);
        if !(0.0..=world.x).contains(&pos.x) {
            pos.x = pos.x.clamp(0.0, world.x);
            vel.x = 0.0;
        }
        if !(0.0..=world.y).contains(&pos.y) {
            pos.y = pos.y.clamp(0.0, world.y);
            vel.y = 0.0;
        }
        Body { pos, vel }
    }
}

/// What a game's input rule made of a raw input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputVerdict {
    /// Used as the rule made it (clamped into range, for instance).
    Accepted,
    /// Well-formed but beyond what any input device sends (a cheat):
    /// replaced by the rule's harmless input and counted, never a reason
    /// to drop the sender.
    Implausible,
    /// Not a valid input at all (NaN, for instance): replaced and counted;
    /// repeated, the sender is dropped.
    Invalid,
}

/// A game's shared simulation: what its client sends each tick and how
/// that moves the player, the same on both sides.
///
/// The engine keeps everything around it: input sequencing, redundancy
/// and the jitter buffer on the server (one input per tick, in order,
/// however they arrive; a client sending faster than real time gains
/// nothing), counting refused inputs per player, sending each player its
/// own [`Simulation::State`] exactly in every snapshot, and on the client
/// predicting with [`Simulation::step`] and reconciling with that state.
///
/// The implementing type is a marker (a unit struct deriving `Debug`,
/// `Clone`, `Copy` and `Default`); the engine's types are generic over it.
pub trait Simulation: Debug + Clone + Copy + Default + Send + Sync + 'static {
    /// What a client sends each tick (a few of them per packet, for
    /// redundancy). Its [`Default`] is "no input".
    type Input: Copy + Default + PartialEq + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// A player's own state, as the client predicts it and the server
    /// sends it back exactly (everything the client knows exactly about
    /// itself).
    type State: Copy + Default + PartialEq + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The world's size in units: positions run over `[0, WORLD.x]` ×
    /// `[0, WORLD.y]`, within the positional codec's range
    /// ([`crate::snapshot::EXTENT`]).
    const WORLD: Vec2;

    /// The one rule for raw input, run by the client before it predicts
    /// and sends and by the server on what arrives. It must be
    /// idempotent — checking an accepted input gives it back bit for bit
    /// — so the client predicts with exactly what the server applies.
    fn check(input: Self::Input) -> (Self::Input, InputVerdict);

    /// Advances a player's state by `dt` seconds under a checked input.
    fn step(state: Self::State, input: Self::Input, dt: f32) -> Self::State;

    /// Where the player is (its view's centre, what interest management
    /// and prediction errors are measured by).
    fn position(state: &Self::State) -> Vec2;

    /// The game's entity kinds and their replicated fields: what both
    /// sides encode and decode snapshots with (built once per world and
    /// per session).
    fn schema() -> Schema;

    /// The kind (in [`Simulation::schema`]) players' own entities have.
    const PLAYER_KIND: EntityKind;
}
