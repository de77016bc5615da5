//! The skirmish's shared simulation: a ship steers, aims and fires.
//!
//! The server runs it to decide and the client to predict its own ship.
//! Pure: inputs and `dt` in, new state out. Hits, damage, death and
//! respawn are the server's alone (see the `server` module); the step
//! only moves, aims and counts shots.

use serde::{Deserialize, Serialize};
use tickforge_shared::protocol::EntityKind;
use tickforge_shared::schema::{Field, KindSpec, Schema};
use tickforge_shared::sim::{Body, InputVerdict, Simulation, Vec2};

/// A player's ship.
pub const SHIP: EntityKind = EntityKind(0);
/// A projectile in flight.
pub const SHOT: EntityKind = EntityKind(1);

/// World width in units.
pub const WORLD_WIDTH: f32 = 1600.0;
/// World height in units.
pub const WORLD_HEIGHT: f32 = 1200.0;
/// Top speed of a ship, units per second.
pub const MAX_SPEED: f32 = 220.0;
/// How fast a ship's velocity turns toward the commanded one, units/s².
pub const ACCELERATION: f32 = 1500.0;
/// A ship's radius (what a shot must come within).
pub const SHIP_RADIUS: f32 = 18.0;
/// A shot's speed, units per second.
pub const SHOT_SPEED: f32 = 900.0;
/// How long a shot flies, in ticks.
pub const SHOT_TICKS: u32 = 45;
/// Ticks between two shots of one ship.
pub const FIRE_COOLDOWN: u8 = 8;
/// A ship's full health.
pub const MAX_HEALTH: u8 = 100;
/// Health one hit takes.
pub const SHOT_DAMAGE: u8 = 25;
/// Ticks a destroyed ship waits before it respawns.
pub const RESPAWN_TICKS: u16 = 60;
/// Longest raw move read as a direction (as the arena's).
pub const MAX_RAW_MOVE: f32 = 2.0;

const TAU: f32 = std::f32::consts::TAU;

/// What a client sends each tick: where to go, where to aim, whether to fire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Horizontal move in [-1, 1].
    pub x: f32,
    /// Vertical move in [-1, 1] (positive is down).
    pub y: f32,
    /// Aim, radians in `[0, 2π)` (0 is +x, a quarter turn is +y).
    pub aim: f32,
    /// Fire when the gun is ready.
    pub fire: bool,
}

impl Command {
    /// No move, no fire, aiming along +x.
    pub const IDLE: Command = Command { x: 0.0, y: 0.0, aim: 0.0, fire: false };

    /// The one rule for a raw command, on both sides:
    ///
    /// - a finite move up to [`MAX_RAW_MOVE`] long is clamped to unit
    ///   length; a longer one is [`InputVerdict::Implausible`];
    /// - any finite aim is wrapped into `[0, 2π)`;
    /// - NaN or infinity anywhere is [`InputVerdict::Invalid`].
    ///
    /// Refused commands are [`Command::IDLE`]. Idempotent: checking an
    /// accepted command gives it back bit for bit.
    pub fn check(self) -> (Command, InputVerdict) {
        let v = Vec2::new(self.x, self.y);
        if !v.is_finite() || !self.aim.is_finite() {
            return (Self::IDLE, InputVerdict::Invalid);
        }
        let len = v.length();
        if len > MAX_RAW_MOVE {
            return (Self::IDLE, InputVerdict::Implausible);
        }
        let (x, y) = if len > 1.0 + 1e-6 { (self.x / len, self.y / len) } else { (self.x, self.y) };
        let mut aim = self.aim.rem_euclid(TAU);
        if aim >= TAU {
            aim = 0.0; // a tiny negative angle rounds up to 2π
        }
        (Command { x, y, aim, fire: self.fire }, InputVerdict::Accepted)
    }

    /// A checked command ([`Command::check`] without the verdict).
    pub fn new(x: f32, y: f32, aim: f32, fire: bool) -> Self {
        Command { x, y, aim, fire }.check().0
    }
}

/// A player's ship, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShipState {
    /// Position and velocity.
    pub body: Body,
    /// Where it aims, radians.
    pub aim: f32,
    /// Health; 0 is destroyed (it neither moves nor fires).
    pub health: u8,
    /// Ticks until the gun is ready.
    pub cooldown: u8,
    /// Shots fired so far (the server launches one per increase).
    pub shots: u32,
    /// Ticks until a destroyed ship respawns (the server counts down).
    pub respawn: u16,
    /// Ships this player destroyed (the server counts; it persists).
    pub kills: u32,
    /// Times this player's ship was destroyed (the server counts; it persists).
    pub deaths: u32,
}

impl Default for ShipState {
    fn default() -> Self {
        Self {
            body: Body::default(),
            aim: 0.0,
            health: MAX_HEALTH,
            cooldown: 0,
            shots: 0,
            respawn: 0,
            kills: 0,
            deaths: 0,
        }
    }
}

impl ShipState {
    /// Whether it is in play.
    pub fn alive(&self) -> bool {
        self.health > 0
    }

    /// The unit vector it aims along.
    pub fn facing(&self) -> Vec2 {
        Vec2::new(self.aim.cos(), self.aim.sin())
    }
}

/// Moves a body toward `x, y` × [`MAX_SPEED`] by at most [`ACCELERATION`]
/// × `dt`, inside the world.
fn steer(body: Body, x: f32, y: f32, dt: f32) -> Body {
    body.steer(Vec2::new(x * MAX_SPEED, y * MAX_SPEED), ACCELERATION, dt, SkirmishSim::WORLD)
}

/// A ship's aim as replicated to others: 256 steps a turn (on the server
/// a component of every ship).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(bevy_ecs::component::Component))]
pub struct Heading(pub u8);

impl Heading {
    /// The step nearest to `aim` (radians).
    pub fn of(aim: f32) -> Self {
        Heading(((aim.rem_euclid(TAU) / TAU * 256.0).round() as u32 % 256) as u8)
    }

    /// The angle it stands for, radians.
    pub fn radians(self) -> f32 {
        f32::from(self.0) / 256.0 * TAU
    }
}

impl Field for Heading {
    const NAME: &'static str = "heading";
    const BITS: u32 = 8;
    fn pack(self) -> u32 {
        u32::from(self.0)
    }
    fn unpack(bits: u32) -> Self {
        Heading(bits as u8)
    }
}

/// A ship's health as replicated to others (0 to [`MAX_HEALTH`]; on the
/// server a component of every ship).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(bevy_ecs::component::Component))]
pub struct Health(pub u8);

impl Field for Health {
    const NAME: &'static str = "health";
    const BITS: u32 = 7;
    fn pack(self) -> u32 {
        u32::from(self.0.min(MAX_HEALTH))
    }
    fn unpack(bits: u32) -> Self {
        Health((bits as u8).min(MAX_HEALTH))
    }
}

/// The skirmish's shared simulation, as the engine runs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SkirmishSim;

impl Simulation for SkirmishSim {
    type Input = Command;
    type State = ShipState;
    const WORLD: Vec2 = Vec2::new(WORLD_WIDTH, WORLD_HEIGHT);
    const PLAYER_KIND: EntityKind = SHIP;

    fn check(input: Command) -> (Command, InputVerdict) {
        input.check()
    }

    /// A live ship steers, takes the commanded aim, and fires when its
    /// gun is ready (counting the shot); a destroyed one stays put.
    fn step(state: ShipState, input: Command, dt: f32) -> ShipState {
        if !state.alive() {
            return ShipState { body: Body { vel: Vec2::ZERO, ..state.body }, ..state };
        }
        let body = steer(state.body, input.x, input.y, dt);
        let mut next = ShipState { body, aim: input.aim, cooldown: state.cooldown.saturating_sub(1), ..state };
        if input.fire && next.cooldown == 0 {
            next.shots = next.shots.wrapping_add(1);
            next.cooldown = FIRE_COOLDOWN;
        }
        next
    }

    fn position(state: &ShipState) -> Vec2 {
        state.body.pos
    }

    /// Ships (with their heading and health) and shots (position only).
    fn schema() -> Schema {
        Schema::new(vec![KindSpec::new("ship").with::<Heading>().with::<Health>(), KindSpec::new("shot")])
            .expect("the skirmish's kinds are a valid schema")
    }
}

/// The aim (radians) from a ship at `from` whose shot meets a target now
/// at `at` moving at `velocity` (units a second): the shot leaves the nose,
/// a ship's radius ahead, at [`SHOT_SPEED`]; the flight time is refined a
/// few times. What the bots aim with, and the tests that aim as they do.
pub fn lead(from: Vec2, at: Vec2, velocity: Vec2) -> f32 {
    let flight = |to: Vec2| (to.distance(from) - SHIP_RADIUS).max(0.0) / SHOT_SPEED;
    let mut t = flight(at);
    for _ in 0..4 {
        t = flight(at + velocity * t);
    }
    let to = at + velocity * t - from;
    to.y.atan2(to.x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DT: f32 = 1.0 / 30.0;

    #[test]
    fn a_ready_gun_fires_once_then_cools_down() {
        let mut s = ShipState::default();
        let fire = Command::new(0.0, 0.0, 1.0, true);
        s = SkirmishSim::step(s, fire, DT);
        assert_eq!((s.shots, s.cooldown), (1, FIRE_COOLDOWN));
        for _ in 0..FIRE_COOLDOWN - 1 {
            s = SkirmishSim::step(s, fire, DT);
        }
        assert_eq!(s.shots, 1, "still cooling down");
        s = SkirmishSim::step(s, fire, DT);
        assert_eq!(s.shots, 2, "ready again after the cooldown");
        assert_eq!(s.aim, 1.0);
    }

    #[test]
    fn a_destroyed_ship_neither_moves_nor_fires() {
        let dead = ShipState {
            health: 0,
            body: Body { pos: Vec2::new(5.0, 5.0), vel: Vec2::new(9.0, 0.0) },
            ..ShipState::default()
        };
        let s = SkirmishSim::step(dead, Command::new(1.0, 0.0, 0.0, true), DT);
        assert_eq!((s.body.pos, s.body.vel, s.shots), (Vec2::new(5.0, 5.0), Vec2::ZERO, 0));
    }

    #[test]
    fn a_shot_aimed_with_lead_meets_a_moving_target_and_one_aimed_at_it_does_not() {
        let (from, at, vel) = (Vec2::new(100.0, 100.0), Vec2::new(600.0, 100.0), Vec2::new(0.0, 200.0));
        // The closest the shot comes to the target over its flight.
        let closest = |aim: f32| {
            let dir = Vec2::new(aim.cos(), aim.sin());
            (0..SHOT_TICKS * 10)
                .map(|i| {
                    let t = i as f32 * DT / 10.0;
                    let shot = from + dir * (SHIP_RADIUS + SHOT_SPEED * t);
                    shot.distance(at + vel * t)
                })
                .fold(f32::INFINITY, f32::min)
        };
        assert!(closest(lead(from, at, vel)) < 2.0, "led: {}", closest(lead(from, at, vel)));
        assert!(closest(lead(from, at, Vec2::ZERO)) > SHIP_RADIUS, "aimed where it is now");
    }

    #[test]
    fn bad_commands_are_refused_and_counted() {
        assert_eq!(Command { aim: f32::NAN, ..Command::IDLE }.check(), (Command::IDLE, InputVerdict::Invalid));
        assert_eq!(Command { x: f32::INFINITY, ..Command::IDLE }.check().1, InputVerdict::Invalid);
        assert_eq!(Command { x: 3.0, ..Command::IDLE }.check(), (Command::IDLE, InputVerdict::Implausible));
        assert_eq!(Command { aim: -1e-8, ..Command::IDLE }.check().0.aim, 0.0);
    }

    #[test]
    fn heading_and_health_codecs_round_trip_and_accept_any_bits() {
        for aim in [0.0, 1.0, 3.0, 6.2] {
            let h = Heading::of(aim);
            assert_eq!(Heading::unpack(h.pack()), h);
            assert!((h.radians() - aim).abs() < TAU / 256.0 || (h.radians() - aim).abs() > TAU - TAU / 256.0);
        }
        assert_eq!(Health::unpack(127), Health(MAX_HEALTH), "a hostile 7-bit value is capped");
        assert_eq!(Health::unpack(Health(40).pack()), Health(40));
        assert!(SkirmishSim::schema().slot_of::<Health>(SHIP).is_some());
    }

    proptest! {
        #[test]
        fn the_rule_is_idempotent(x in -3.0f32..3.0, y in -3.0f32..3.0, aim in -100.0f32..100.0, fire: bool) {
            let (once, _) = Command { x, y, aim, fire }.check();
            prop_assert_eq!(once.check(), (once, InputVerdict::Accepted));
            prop_assert!((0.0..TAU).contains(&once.aim));
        }
    }
}
