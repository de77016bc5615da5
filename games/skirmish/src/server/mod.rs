//! The skirmish as a [`Game`], on the engine's public API (`tickforge-api`)
//! alone.
//!
//! Each tick, in [`Phase::Simulate`]:
//!
//! 1. **launch** — a ship whose state counted a new shot launches it from
//!    its nose. The shot remembers how far behind the present its shooter
//!    was looking (the engine's [`Viewing`]), within the rewind window; a
//!    shooter claiming to look further back than that gets no rewind at
//!    all;
//! 2. **fly** — shots move; each is checked against the other ships *where
//!    its shooter saw them*: their positions that many ticks ago, from the
//!    engine's [`Rewind`]. A hit takes [`SHOT_DAMAGE`]; the last one
//!    destroys the ship (a death for its player, a kill for the shooter);
//! 3. **respawn** — a destroyed ship waits [`RESPAWN_TICKS`], then comes
//!    back whole at a fresh spot;
//! 4. **publish** — ships' aim and health go to their replicated fields.

use bevy_ecs::prelude::*;
use bevy_ecs::query::QueryItem;
use bevy_ecs::system::EntityCommands;
use serde::{Deserialize, Serialize};
use tickforge_api::{
    Arrival, Controlled, Game, NetIds, Phase, Position, Replicated, Rewind, Rewound, Setup, SplitMix64, TickInfo,
    Viewing, field,
};
use tickforge_shared::sim::{Body, Vec2};

use crate::sim::{
    Heading, Health, MAX_HEALTH, MAX_SPEED, RESPAWN_TICKS, SHIP_RADIUS, SHOT, SHOT_DAMAGE, SHOT_SPEED, SHOT_TICKS,
    ShipState, SkirmishSim, WORLD_HEIGHT, WORLD_WIDTH,
};

/// The skirmish.
#[derive(Debug, Clone, Copy, Default)]
pub struct Skirmish;

/// A skirmish player's saved state: its tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SkirmishSaved {
    /// Ships this player destroyed.
    #[serde(default)]
    pub kills: u32,
    /// Times this player's ship was destroyed.
    #[serde(default)]
    pub deaths: u32,
}

/// Shots of a ship already launched (its state counts them fired).
#[derive(Debug, Clone, Copy, Default, Component)]
pub struct Gun {
    launched: u32,
}

/// A projectile in flight.
#[derive(Debug, Clone, Copy, Component)]
pub struct Shot {
    /// Velocity, units per second.
    pub vel: Vec2,
    /// The ship that fired it.
    pub owner: Entity,
    /// Ticks left before it fades.
    pub ticks_left: u32,
    /// How many ticks behind the present its shooter saw the others
    /// (0: no rewind).
    pub behind: f64,
}

/// The skirmish's sets inside [`Phase::Simulate`], in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkirmishSet {
    /// New shots leave their ships.
    Launch,
    /// Shots move and hit.
    Fly,
    /// Destroyed ships come back.
    Respawn,
    /// Aim and health to the replicated fields.
    Publish,
}

/// Random spots for respawns.
#[derive(Debug, Resource)]
pub struct SpawnRng(pub SplitMix64);

impl Game for Skirmish {
    const NAME: &'static str = "skirmish";
    type Sim = SkirmishSim;
    type Saved = SkirmishSaved;
    type SaveData = &'static Controlled<SkirmishSim>;

    /// No NPCs or pickups: the ships are the players'.
    fn install(world: &mut World, schedule: &mut Schedule, _setup: Setup) {
        world.insert_resource(SpawnRng(SplitMix64::new(0x736b_6972)));
        schedule.configure_sets(
            (SkirmishSet::Launch, SkirmishSet::Fly, SkirmishSet::Respawn, SkirmishSet::Publish)
                .chain()
                .in_set(Phase::Simulate),
        );
        schedule.add_systems((
            launch.in_set(SkirmishSet::Launch),
            fly.in_set(SkirmishSet::Fly),
            respawn.in_set(SkirmishSet::Respawn),
            publish.in_set(SkirmishSet::Publish),
        ));
        field::<Heading>(schedule);
        field::<Health>(schedule);
    }

    /// A ship starts whole at the account's own spot, with its saved kills
    /// and deaths.
    fn spawn_player(
        player: &mut EntityCommands<'_>,
        account_id: u64,
        saved: Option<SkirmishSaved>,
        _arrival: Arrival,
    ) -> ShipState {
        let saved = saved.unwrap_or_default();
        player.insert((Gun::default(), Heading(0), Health(MAX_HEALTH), Rewound));
        let mut rng = SplitMix64::new(account_id);
        ShipState {
            body: Body { pos: spot(&mut rng), vel: Vec2::ZERO },
            kills: saved.kills,
            deaths: saved.deaths,
            ..ShipState::default()
        }
    }

    fn save(ship: QueryItem<'_, '_, Self::SaveData>) -> SkirmishSaved {
        SkirmishSaved { kills: ship.0.kills, deaths: ship.0.deaths }
    }

    fn rank(saved: &SkirmishSaved) -> i64 {
        i64::from(saved.kills)
    }
}

/// A spot well inside the world.
fn spot(rng: &mut SplitMix64) -> Vec2 {
    Vec2::new(WORLD_WIDTH * (0.1 + 0.8 * rng.next_f32()), WORLD_HEIGHT * (0.1 + 0.8 * rng.next_f32()))
}

/// Launches each ship's new shots.
fn launch(
    mut commands: Commands,
    tick: Res<TickInfo>,
    rewind: Res<Rewind>,
    mut ids: ResMut<NetIds>,
    mut ships: Query<(Entity, &Controlled<SkirmishSim>, &mut Gun, Option<&Viewing>)>,
) {
    for (entity, ship, mut gun, viewing) in &mut ships {
        let state = ship.0;
        if state.shots == gun.launched {
            continue;
        }
        gun.launched = state.shots;
        if !state.alive() {
            continue;
        }
        let facing = state.facing();
        let nose = Vec2::new(state.body.pos.x + facing.x * SHIP_RADIUS, state.body.pos.y + facing.y * SHIP_RADIUS);
        let behind = viewing.and_then(|v| rewind.behind(tick.tick, v)).unwrap_or(0.0);
        commands.spawn((
            Replicated::new(ids.allocate(), SHOT, nose),
            Shot {
                vel: Vec2::new(facing.x * SHOT_SPEED, facing.y * SHOT_SPEED),
                owner: entity,
                ticks_left: SHOT_TICKS,
                behind,
            },
        ));
    }
}

/// Moves shots, and hits the ships they reach where their shooters saw them.
fn fly(
    mut commands: Commands,
    tick: Res<TickInfo>,
    rewind: Res<Rewind>,
    mut shots: Query<(Entity, &mut Shot, &mut Position)>,
    mut ships: Query<(Entity, &mut Controlled<SkirmishSim>), Without<Shot>>,
) {
    let reach2 = SHIP_RADIUS * SHIP_RADIUS;
    // A ship can have moved at most this far from where it was seen,
    // per tick of rewind: farther ones are skipped before the history.
    let per_tick = MAX_SPEED * tick.dt;
    for (entity, mut shot, mut pos) in &mut shots {
        let from = pos.0;
        pos.0 = Vec2::new(pos.0.x + shot.vel.x * tick.dt, pos.0.y + shot.vel.y * tick.dt);
        shot.ticks_left = shot.ticks_left.saturating_sub(1);
        let outside = !(0.0..=WORLD_WIDTH).contains(&pos.0.x) || !(0.0..=WORLD_HEIGHT).contains(&pos.0.y);
        // This tick's flight, from `from` to `pos`, is a tick of the
        // shooter's view: others are taken at its middle, that far back.
        let then = tick.tick as f64 - shot.behind + 0.5;
        let mut hit = None;
        let near = SHIP_RADIUS + SHOT_SPEED * tick.dt + per_tick * (shot.behind as f32 + 1.0);
        for (target, ship) in &ships {
            if target == shot.owner || !ship.0.alive() || ship.0.body.pos.distance_squared(pos.0) > near * near {
                continue;
            }
            let seen = rewind.position(target, then).unwrap_or(ship.0.body.pos);
            // Along the tick's whole flight, so a fast shot cannot pass through.
            if nearest_on(from, pos.0, seen).distance_squared(seen) <= reach2 {
                hit = Some(target);
                break;
            }
        }
        if let Some(target) = hit {
            let destroyed = {
                let (_, mut ship) = ships.get_mut(target).expect("the target was just found");
                ship.0.health = ship.0.health.saturating_sub(SHOT_DAMAGE);
                if ship.0.health == 0 {
                    ship.0.respawn = RESPAWN_TICKS;
                    ship.0.body.vel = Vec2::ZERO;
                    ship.0.deaths += 1;
                }
                ship.0.health == 0
            };
            if destroyed && let Ok((_, mut shooter)) = ships.get_mut(shot.owner) {
                shooter.0.kills += 1;
            }
        }
        if hit.is_some() || outside || shot.ticks_left == 0 {
            commands.entity(entity).despawn();
        }
    }
}

/// The point of the segment `a`–`b` nearest to `p`.
fn nearest_on(a: Vec2, b: Vec2, p: Vec2) -> Vec2 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return a;
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    Vec2::new(a.x + dx * t, a.y + dy * t)
}

/// Counts destroyed ships down and brings them back whole elsewhere.
fn respawn(mut rng: ResMut<SpawnRng>, mut ships: Query<(&mut Controlled<SkirmishSim>, &mut Position)>) {
    for (mut ship, mut pos) in &mut ships {
        if ship.0.alive() {
            continue;
        }
        ship.0.respawn = ship.0.respawn.saturating_sub(1);
        if ship.0.respawn == 0 {
            let at = spot(&mut rng.0);
            ship.0 = ShipState { body: Body { pos: at, vel: Vec2::ZERO }, health: MAX_HEALTH, ..ship.0 };
            pos.0 = at;
        }
    }
}

/// Ships' aim and health into their replicated fields (only when changed,
/// so unchanged fields cost nothing).
fn publish(mut ships: Query<(&Controlled<SkirmishSim>, &mut Heading, &mut Health)>) {
    for (ship, mut heading, mut health) in &mut ships {
        heading.set_if_neq(Heading::of(ship.0.aim));
        health.set_if_neq(Health(ship.0.health));
    }
}
