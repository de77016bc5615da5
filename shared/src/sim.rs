//! The deterministic movement step.
//!
//! The server runs it to decide where everything is; the client runs the very
//! same function to predict its own avatar. It is pure: inputs and `dt` in,
//! new body out, no clock, no randomness.

use serde::{Deserialize, Serialize};

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

/// Seconds per tick at `tick_rate` Hz: the one `dt` both the server's
/// simulation and the client's prediction step with, so they agree to the
/// bit.
pub fn tick_dt(tick_rate: u16) -> f32 {
    1.0 / f32::from(tick_rate.max(1))
}

/// Anything that moves: position and velocity.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Body {
    /// Position in world units.
    pub pos: Vec2,
    /// Velocity in world units per second.
    pub vel: Vec2,
}

/// Longest raw intent read as a direction. Two keys held at once give
/// (1, 1), a stick with a square gate up to the same √2; anything longer
/// comes from no input device (see [`Intent::check`]).
pub const MAX_RAW_INTENT: f32 = 2.0;

/// Slack over unit length that still counts as unit length: a vector
/// normalised in `f32` can come out a few ulps long, and normalising it
/// again must not change its bits (the client predicts with what it sends).
const UNIT_SLACK: f32 = 1e-6;

/// What [`Intent::check`] made of a raw movement input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentVerdict {
    /// A direction: used as is, or clamped to unit length (no speed gain).
    Accepted,
    /// Finite but longer than [`MAX_RAW_INTENT`]: no device sends that
    /// (the `teleport` cheat does). Refused as standing still and flagged,
    /// but harmless, so it never gets the sender dropped.
    Implausible,
    /// NaN or infinite: refused as standing still; repeated, the sender is
    /// dropped.
    NonFinite,
}

/// A movement intent, already validated: finite, length at most 1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Intent(Vec2);

impl Intent {
    /// No movement.
    pub const IDLE: Intent = Intent(Vec2::ZERO);

    /// The one rule for raw movement input, used by the client before it
    /// predicts and sends and by the server on what arrives:
    ///
    /// - a finite vector up to [`MAX_RAW_INTENT`] long is a direction,
    ///   clamped to unit length (a diagonal is no faster);
    /// - a longer finite vector is [`IntentVerdict::Implausible`];
    /// - NaN or infinity is [`IntentVerdict::NonFinite`].
    ///
    /// Refused input is [`Intent::IDLE`]. The rule is idempotent:
    /// checking an accepted intent's own vector gives it back bit for bit,
    /// so what the client predicts with is exactly what the server applies.
    pub fn check(x: f32, y: f32) -> (Intent, IntentVerdict) {
        let v = Vec2::new(x, y);
        if !v.is_finite() {
            return (Self::IDLE, IntentVerdict::NonFinite);
        }
        let len = v.length();
        if len > MAX_RAW_INTENT {
            return (Self::IDLE, IntentVerdict::Implausible);
        }
        let intent = if len > 1.0 + UNIT_SLACK { Intent(Vec2::new(x / len, y / len)) } else { Intent(v) };
        (intent, IntentVerdict::Accepted)
    }

    /// [`Intent::check`] without the verdict.
    pub fn new(x: f32, y: f32) -> Self {
        Self::check(x, y).0
    }

    /// The clamped direction vector.
    pub fn vector(self) -> Vec2 {
        self.0
    }
}

/// Advances one body by `dt` seconds under `intent`.
///
/// Velocity moves toward `intent × MAX_SPEED` by at most `ACCELERATION × dt`;
/// position integrates velocity and is clamped to the world, where the
/// velocity component into the wall is cancelled.
pub fn step(body: Body, intent: Intent, dt: f32) -> Body {
    let target = Vec2::new(intent.0.x * MAX_SPEED, intent.0.y * MAX_SPEED);
    let dv = Vec2::new(target.x - body.vel.x, target.y - body.vel.y);
    let max_dv = ACCELERATION * dt;
    let dv_len = dv.length();
    let vel = if dv_len > max_dv && dv_len > 0.0 {
        let k = max_dv / dv_len;
        Vec2::new(body.vel.x + dv.x * k, body.vel.y + dv.y * k)
    } else {
        target
    };
    let mut pos = Vec2::new(body.pos.x + vel.x * dt, body.pos.y + vel.y * dt);
    let mut vel = vel;
    if !(0.0..=WORLD_WIDTH).contains(&pos.x) {
        pos.x = pos.x.clamp(0.0, WORLD_WIDTH);
        vel.x = 0.0;
    }
    if !(0.0..=WORLD_HEIGHT).contains(&pos.y) {
        pos.y = pos.y.clamp(0.0, WORLD_HEIGHT);
        vel.y = 0.0;
    }
    Body { pos, vel }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f32 = 1.0 / 30.0;

    #[test]
    fn idle_body_stays_put() {
        let body = Body { pos: Vec2::new(10.0, 10.0), vel: Vec2::ZERO };
        assert_eq!(step(body, Intent::IDLE, DT), body);
    }

    #[test]
    fn a_diagonal_is_no_faster_than_a_straight_line() {
        let mut body = Body { pos: Vec2::new(1000.0, 1000.0), vel: Vec2::ZERO };
        for _ in 0..60 {
            body = step(body, Intent::new(1.0, 1.0), DT);
            assert!(body.vel.length() <= MAX_SPEED * 1.0001, "{:?}", body.vel);
        }
        assert!((body.vel.length() - MAX_SPEED).abs() < 0.01);
        assert_eq!(body.vel.x, body.vel.y, "along the diagonal");
    }

    #[test]
    fn the_intent_rule() {
        let accepted = |x: f32, y: f32| {
            let (intent, verdict) = Intent::check(x, y);
            assert_eq!(verdict, IntentVerdict::Accepted, "({x}, {y})");
            intent.vector()
        };
        assert_eq!(accepted(0.3, -0.4), Vec2::new(0.3, -0.4), "short vectors are kept");
        let d = accepted(1.0, 1.0);
        assert!((d.length() - 1.0).abs() < 1e-6 && d.x == d.y, "{d:?}");
        assert_eq!(accepted(0.9, 0.9), d, "any diagonal of the same direction is the same intent");
        assert!((accepted(-1.4, 1.4).length() - 1.0).abs() < 1e-6);
        assert_eq!(Intent::check(1000.0, 2000.0), (Intent::IDLE, IntentVerdict::Implausible));
        assert_eq!(Intent::check(f32::NAN, 1.0), (Intent::IDLE, IntentVerdict::NonFinite));
        assert_eq!(Intent::check(f32::INFINITY, 0.0), (Intent::IDLE, IntentVerdict::NonFinite));
        assert_eq!(Intent::check(f32::MAX, f32::MAX), (Intent::IDLE, IntentVerdict::Implausible));
    }

    proptest::proptest! {
        /// What the client sends after checking, the server's check gives
        /// back bit for bit: prediction and server apply the same intent.
        #[test]
        fn the_rule_is_idempotent(x in -2.0f32..2.0, y in -2.0f32..2.0) {
            let (first, _) = Intent::check(x, y);
            let again = Intent::check(first.vector().x, first.vector().y);
            proptest::prop_assert_eq!(again, (first, IntentVerdict::Accepted));
            proptest::prop_assert!(first.vector().length() <= 1.0 + UNIT_SLACK);
        }
    }

    #[test]
    fn world_edges_hold() {
        let mut body = Body { pos: Vec2::new(5.0, 5.0), vel: Vec2::ZERO };
        for _ in 0..30 {
            body = step(body, Intent::new(-1.0, -1.0), DT);
        }
        assert_eq!(body.pos, Vec2::ZERO);
        assert_eq!(body.vel, Vec2::ZERO);
    }

    #[test]
    fn step_is_deterministic() {
        let run = || {
            let mut body = Body { pos: Vec2::new(300.0, 700.0), vel: Vec2::ZERO };
            for i in 0..1000 {
                let a = i as f32 * 0.01;
                body = step(body, Intent::new(a.cos(), a.sin()), DT);
            }
            body
        };
        assert_eq!(run(), run());
    }
}
