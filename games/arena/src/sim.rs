//! The arena's shared simulation: its input, the rule that validates it,
//! and the deterministic movement step.
//!
//! The server runs it to decide where everything is; the client runs the
//! very same functions to predict its own avatar. They are pure: inputs and
//! `dt` in, new state out, no clock, no randomness.

use serde::{Deserialize, Serialize};
use tickforge_shared::protocol::EntityKind;
use tickforge_shared::schema::{KindSpec, Schema};
use tickforge_shared::sim::{Body, InputVerdict, Simulation, Vec2};

/// A player's avatar.
pub const AVATAR: EntityKind = EntityKind(0);
/// A wandering non-player entity.
pub const NPC: EntityKind = EntityKind(1);
/// A collectible orb: touching it scores a point.
pub const ORB: EntityKind = EntityKind(2);

/// World width in units; x runs over `[0, WORLD_WIDTH]`.
pub const WORLD_WIDTH: f32 = 2000.0;
/// World height in units; y runs over `[0, WORLD_HEIGHT]`.
pub const WORLD_HEIGHT: f32 = 2000.0;
/// Top speed of anything moved by an input, in units per second.
pub const MAX_SPEED: f32 = 250.0;
/// How fast velocity turns toward the intended velocity, in units/s².
pub const ACCELERATION: f32 = 2000.0;
/// Radius of an avatar, in units.
pub const AVATAR_RADIUS: f32 = 16.0;
/// Radius of a collectible orb, in units.
pub const ORB_RADIUS: f32 = 10.0;

/// Longest raw move read as a direction. Two keys held at once give
/// (1, 1), a stick with a square gate up to the same √2; anything longer
/// comes from no input device (see [`Move::check`]).
pub const MAX_RAW_MOVE: f32 = 2.0;

/// Slack over unit length that still counts as unit length: a vector
/// normalised in `f32` can come out a few ulps long, and normalising it
/// again must not change its bits (the client predicts with what it sends).
const UNIT_SLACK: f32 = 1e-6;

/// What a client sends each tick: where it wants to go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Move {
    /// Horizontal intent in [-1, 1].
    pub x: f32,
    /// Vertical intent in [-1, 1] (positive is down, as on screen).
    pub y: f32,
}

impl Move {
    /// No movement.
    pub const IDLE: Move = Move { x: 0.0, y: 0.0 };

    /// The one rule for raw movement input, used by the client before it
    /// predicts and sends and by the server on what arrives:
    ///
    /// - a finite vector up to [`MAX_RAW_MOVE`] long is a direction,
    ///   clamped to unit length (a diagonal is no faster);
    /// - a longer finite vector is [`InputVerdict::Implausible`];
    /// - NaN or infinity is [`InputVerdict::Invalid`].
    ///
    /// Refused input is [`Move::IDLE`]. The rule is idempotent: checking
    /// an accepted move gives it back bit for bit, so what the client
    /// predicts with is exactly what the server applies.
    pub fn check(self) -> (Move, InputVerdict) {
        let v = Vec2::new(self.x, self.y);
        if !v.is_finite() {
            return (Self::IDLE, InputVerdict::Invalid);
        }
        let len = v.length();
        if len > MAX_RAW_MOVE {
            return (Self::IDLE, InputVerdict::Implausible);
        }
        let checked = if len > 1.0 + UNIT_SLACK { Move { x: self.x / len, y: self.y / len } } else { self };
        (checked, InputVerdict::Accepted)
    }

    /// A checked move toward `(x, y)` ([`Move::check`] without the verdict).
    pub fn new(x: f32, y: f32) -> Self {
        Move { x, y }.check().0
    }
}

/// Advances one body by `dt` seconds under a checked move.
///
/// Velocity moves toward `move × MAX_SPEED` by at most `ACCELERATION × dt`;
/// position integrates velocity and is clamped to the world, where the
/// velocity component into the wall is cancelled.
pub fn step(body: Body, intent: Move, dt: f32) -> Body {
    body.steer(Vec2::new(intent.x * MAX_SPEED, intent.y * MAX_SPEED), ACCELERATION, dt, ArenaSim::WORLD)
}

/// A player's own avatar, exactly: how it moves and what it has collected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ArenaState {
    /// Position and velocity.
    pub body: Body,
    /// Orbs collected (the step leaves it alone; the server counts).
    pub score: u32,
}

/// The arena's shared simulation, as the engine runs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArenaSim;

impl Simulation for ArenaSim {
    type Input = Move;
    type State = ArenaState;
    const WORLD: Vec2 = Vec2::new(WORLD_WIDTH, WORLD_HEIGHT);
    const PLAYER_KIND: EntityKind = AVATAR;

    fn check(input: Move) -> (Move, InputVerdict) {
        input.check()
    }

    fn step(state: ArenaState, input: Move, dt: f32) -> ArenaState {
        ArenaState { body: step(state.body, input, dt), ..state }
    }

    fn position(state: &ArenaState) -> Vec2 {
        state.body.pos
    }

    /// Three kinds, only positions: [`AVATAR`], [`NPC`], [`ORB`].
    fn schema() -> Schema {
        Schema::new(vec![KindSpec::new("avatar"), KindSpec::new("npc"), KindSpec::new("orb")])
            .expect("the arena's kinds are a valid schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f32 = 1.0 / 30.0;

    #[test]
    fn idle_body_stays_put() {
        let body = Body { pos: Vec2::new(10.0, 10.0), vel: Vec2::ZERO };
        assert_eq!(step(body, Move::IDLE, DT), body);
    }

    #[test]
    fn a_diagonal_is_no_faster_than_a_straight_line() {
        let mut body = Body { pos: Vec2::new(1000.0, 1000.0), vel: Vec2::ZERO };
        for _ in 0..60 {
            body = step(body, Move::new(1.0, 1.0), DT);
            assert!(body.vel.length() <= MAX_SPEED * 1.0001, "{:?}", body.vel);
        }
        assert!((body.vel.length() - MAX_SPEED).abs() < 0.01);
        assert_eq!(body.vel.x, body.vel.y, "along the diagonal");
    }

    #[test]
    fn the_move_rule() {
        let accepted = |x: f32, y: f32| {
            let (checked, verdict) = Move { x, y }.check();
            assert_eq!(verdict, InputVerdict::Accepted, "({x}, {y})");
            Vec2::new(checked.x, checked.y)
        };
        assert_eq!(accepted(0.3, -0.4), Vec2::new(0.3, -0.4), "short vectors are kept");
        let d = accepted(1.0, 1.0);
        assert!((d.length() - 1.0).abs() < 1e-6 && d.x == d.y, "{d:?}");
        assert_eq!(accepted(0.9, 0.9), d, "any diagonal of the same direction is the same move");
        assert!((accepted(-1.4, 1.4).length() - 1.0).abs() < 1e-6);
        assert_eq!(Move { x: 1000.0, y: 2000.0 }.check(), (Move::IDLE, InputVerdict::Implausible));
        assert_eq!(Move { x: f32::NAN, y: 1.0 }.check(), (Move::IDLE, InputVerdict::Invalid));
        assert_eq!(Move { x: f32::INFINITY, y: 0.0 }.check(), (Move::IDLE, InputVerdict::Invalid));
        assert_eq!(Move { x: f32::MAX, y: f32::MAX }.check(), (Move::IDLE, InputVerdict::Implausible));
    }

    proptest::proptest! {
        /// What the client sends after checking, the server's check gives
        /// back bit for bit: prediction and server apply the same move.
        #[test]
        fn the_rule_is_idempotent(x in -2.0f32..2.0, y in -2.0f32..2.0) {
            let (first, _) = Move { x, y }.check();
            proptest::prop_assert_eq!(first.check(), (first, InputVerdict::Accepted));
            proptest::prop_assert!(Vec2::new(first.x, first.y).length() <= 1.0 + UNIT_SLACK);
        }
    }

    #[test]
    fn world_edges_hold() {
        let mut body = Body { pos: Vec2::new(5.0, 5.0), vel: Vec2::ZERO };
        for _ in 0..30 {
            body = step(body, Move::new(-1.0, -1.0), DT);
        }
        assert_eq!(body.pos, Vec2::ZERO);
        assert_eq!(body.vel, Vec2::ZERO);
    }

    #[test]
    fn step_is_deterministic_and_leaves_the_score_alone() {
        let run = || {
            let mut state = ArenaState { body: Body { pos: Vec2::new(300.0, 700.0), vel: Vec2::ZERO }, score: 7 };
            for i in 0..1000 {
                let a = i as f32 * 0.01;
                state = ArenaSim::step(state, Move::new(a.cos(), a.sin()), DT);
            }
            state
        };
        assert_eq!(run(), run());
        assert_eq!(run().score, 7);
    }
}
