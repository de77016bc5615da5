//! # tickforge-rally
//!
//! The smallest complete Tickforge game, the README's "Write your own
//! game": players steer to a beacon; whoever reaches it scores and the
//! beacon jumps elsewhere. The score is saved with the account and ranks
//! the leaderboard. One file: the shared simulation, the server part
//! (feature `server`) and the client side (feature `client`).

use serde::{Deserialize, Serialize};
use tickforge_shared::protocol::EntityKind;
use tickforge_shared::schema::{KindSpec, Schema};
use tickforge_shared::sim::{Body, InputVerdict, Simulation, Vec2};

/// Players' entities.
pub const RACER: EntityKind = EntityKind(0);
/// The beacon.
pub const BEACON: EntityKind = EntityKind(1);
/// How close counts as reaching the beacon.
pub const REACH: f32 = 30.0;

/// What a client sends each tick: where it steers, each axis in [-1, 1].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Steer {
    /// Right is positive.
    pub x: f32,
    /// Down is positive.
    pub y: f32,
}

/// A player's own state: how it moves and its score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Racer {
    /// Position and velocity.
    pub body: Body,
    /// Beacons reached.
    pub score: u32,
}

/// The shared simulation: the server steps it, the client predicts with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RallySim;

impl Simulation for RallySim {
    type Input = Steer;
    type State = Racer;
    const WORLD: Vec2 = Vec2::new(1000.0, 1000.0);
    const PLAYER_KIND: EntityKind = RACER;

    /// Non-finite input is refused; anything else is clamped into the unit square.
    fn check(input: Steer) -> (Steer, InputVerdict) {
        if !input.x.is_finite() || !input.y.is_finite() {
            return (Steer::default(), InputVerdict::Invalid);
        }
        (Steer { x: input.x.clamp(-1.0, 1.0), y: input.y.clamp(-1.0, 1.0) }, InputVerdict::Accepted)
    }

    fn step(state: Racer, input: Steer, dt: f32) -> Racer {
        let target = Vec2::new(input.x, input.y) * 200.0;
        Racer { body: state.body.steer(target, 800.0, dt, Self::WORLD), ..state }
    }

    fn position(state: &Racer) -> Vec2 {
        state.body.pos
    }

    fn schema() -> Schema {
        Schema::new(vec![KindSpec::new("racer"), KindSpec::new("beacon")]).expect("a valid schema")
    }
}

/// The server part: the beacon, scoring, what is saved.
#[cfg(feature = "server")]
pub mod server {
    use bevy_ecs::prelude::*;
    use bevy_ecs::query::QueryItem;
    use bevy_ecs::system::EntityCommands;
    use tickforge_api::{Arrival, Controlled, Game, NetIds, Phase, Position, Replicated, Setup, SplitMix64};

    use super::*;

    /// The game, as the engine runs it.
    pub struct Rally;

    /// Marks the beacon; holds where it jumps next.
    #[derive(Component)]
    pub struct Beacon(SplitMix64);

    impl Game for Rally {
        const NAME: &'static str = "rally";
        type Sim = RallySim;
        type Saved = u32;
        type SaveData = &'static Controlled<RallySim>;

        fn install(world: &mut World, schedule: &mut Schedule, _setup: Setup) {
            let id = world.resource_mut::<NetIds>().allocate();
            world.spawn((Replicated::new(id, BEACON, Vec2::new(500.0, 500.0)), Beacon(SplitMix64::new(7))));
            schedule.add_systems(score.in_set(Phase::Simulate));
        }

        fn spawn_player(_: &mut EntityCommands<'_>, account_id: u64, saved: Option<u32>, _: Arrival) -> Racer {
            let mut rng = SplitMix64::new(account_id);
            let pos = Vec2::new(rng.next_f32() * 1000.0, rng.next_f32() * 1000.0);
            Racer { body: Body { pos, vel: Vec2::ZERO }, score: saved.unwrap_or(0) }
        }

        fn save(racer: QueryItem<'_, '_, Self::SaveData>) -> u32 {
            racer.0.score
        }

        fn rank(score: &u32) -> i64 {
            i64::from(*score)
        }
    }

    /// A racer on the beacon scores; the beacon jumps.
    fn score(mut racers: Query<&mut Controlled<RallySim>>, mut beacon: Query<(&mut Position, &mut Beacon)>) {
        let Ok((mut at, mut beacon)) = beacon.single_mut() else { return };
        for mut racer in &mut racers {
            if racer.0.body.pos.distance(at.0) < REACH {
                racer.0.score += 1;
                at.0 = Vec2::new(beacon.0.next_f32() * 1000.0, beacon.0.next_f32() * 1000.0);
            }
        }
    }
}

/// The client side: drawing, keys, the bot.
#[cfg(feature = "client")]
pub mod client {
    use tickforge_client_core::game::{ClientGame, Controls, Painter, Rgba, Scene};
    use tickforge_client_core::world::ClientWorld;

    use super::*;

    /// The game, as its clients play it.
    pub struct RallyClient;

    impl ClientGame for RallyClient {
        type Sim = RallySim;
        type Bot = ();
        const NAME: &'static str = "rally";

        fn draw(scene: &Scene<'_, RallySim>, painter: &mut dyn Painter) {
            for entity in scene.drawn {
                if entity.kind == BEACON {
                    painter.ring(entity.pos, painter.px(REACH, 8.0), 3.0, Rgba::rgb(255, 80, 80));
                } else {
                    let own = scene.own == Some(entity.id);
                    painter.disc(entity.pos, 8.0, if own { Rgba::GOLD } else { Rgba::WHITE });
                    painter.label(entity.pos, 12.0, scene.name(entity.id), Rgba::WHITE);
                }
            }
        }

        fn hud(own: &Racer, _tick_rate: u16) -> String {
            format!("beacons {}", own.score)
        }

        fn input(controls: &Controls, _: Option<&Racer>) -> Steer {
            Self::steer(controls.steer)
        }

        fn steer(steer: Vec2) -> Steer {
            Steer { x: steer.x, y: steer.y }
        }

        fn score(own: &Racer) -> u32 {
            own.score
        }

        /// Heads for the beacon, whatever its script says.
        fn bot(_: &mut (), steer: Vec2, world: &ClientWorld<RallySim>) -> Steer {
            let (Some(me), Some(beacon)) = (world.own_state(), world.entities.iter().find(|e| e.kind == BEACON)) else {
                return Self::steer(steer);
            };
            let to = beacon.pos - me.pos;
            Self::steer(to * (1.0 / to.length().max(1.0)))
        }
    }
}
