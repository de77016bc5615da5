//! The skirmish as its clients play it: ships with their noses along
//! their aim and a health bar over them, shots in flight, the own ship's
//! health, kills, deaths and gun in the HUD; the movement keys steer, the
//! pointer aims, the mouse button or Space fires. Its bots aim at the
//! nearest ship with lead and fire when it is in range.

use tickforge_client_core::game::{ClientGame, Controls, Painter, Rgba, Scene};
use tickforge_client_core::world::ClientWorld;
use tickforge_shared::protocol::NetId;
use tickforge_shared::sim::{Simulation, Vec2};

use crate::sim::{FIRE_COOLDOWN, MAX_HEALTH, SHIP_RADIUS, SHOT_SPEED, SHOT_TICKS, lead};
use crate::{Command, Heading, Health, SHIP, SHOT, ShipState, SkirmishSim};

const OTHER_COLOUR: Rgba = Rgba::rgb(90, 160, 255);
const WRECK_COLOUR: Rgba = Rgba::rgb(110, 110, 120);
const SHOT_COLOUR: Rgba = Rgba::rgb(255, 140, 40);
const BAR_BACK: Rgba = Rgba::rgb(60, 20, 20);
const BAR_FILL: Rgba = Rgba::rgb(80, 220, 90);

/// How much of a shot's reach a bot fires within (a margin for a target
/// that moves away).
const BOT_REACH: f32 = 0.6;

/// The skirmish's client side.
#[derive(Debug, Clone, Copy, Default)]
pub struct SkirmishClient;

/// What a bot remembers: its target where it last saw it (to lead it).
#[derive(Debug, Clone, Copy, Default)]
pub struct SkirmishBot {
    last: Option<(NetId, u32, Vec2)>,
}

impl ClientGame for SkirmishClient {
    type Sim = SkirmishSim;
    type Bot = SkirmishBot;
    const NAME: &'static str = "skirmish";

    /// Shots, then ships: each a disc with a nose along its aim, a health
    /// bar and its player's name over it; a destroyed one a grey ring.
    fn draw(scene: &Scene<'_, SkirmishSim>, painter: &mut dyn Painter) {
        let shot = painter.px(5.0, 3.5);
        for entity in scene.drawn.iter().filter(|e| e.kind == SHOT) {
            painter.disc(entity.pos, shot, SHOT_COLOUR);
        }
        let r = painter.px(SHIP_RADIUS, 7.0);
        for entity in scene.drawn.iter().filter(|e| e.kind == SHIP) {
            let own = scene.own == Some(entity.id);
            let (aim, health) = match scene.own_state.filter(|_| own) {
                Some(state) => (state.aim, state.health),
                None => (
                    scene.schema.get::<Heading>(SHIP, entity.fields).unwrap_or_default().radians(),
                    scene.schema.get::<Health>(SHIP, entity.fields).unwrap_or_default().0,
                ),
            };
            if health == 0 {
                painter.ring(entity.pos, r, 2.0, WRECK_COLOUR);
                painter.label(entity.pos, r + 6.0, scene.name(entity.id), WRECK_COLOUR);
                continue;
            }
            if own {
                painter.ring(entity.pos, r + 4.0, 2.0, Rgba::WHITE);
            }
            let colour = if own { Rgba::GOLD } else { OTHER_COLOUR };
            painter.disc(entity.pos, r, colour);
            let nose = entity.pos + Vec2::new(aim.cos(), aim.sin()) * ((r + 8.0) / painter.scale().max(1e-3));
            painter.line(entity.pos, nose, 4.0, colour);
            let width = 2.0 * r + 8.0;
            let fill = f32::from(health) / f32::from(MAX_HEALTH);
            painter.rect(entity.pos, (-width / 2.0, -r - 10.0), (width, 5.0), BAR_BACK);
            painter.rect(entity.pos, (-width / 2.0, -r - 10.0), (width * fill, 5.0), BAR_FILL);
            painter.label(entity.pos, r + 14.0, scene.name(entity.id), Rgba::WHITE);
        }
    }

    fn hud(own: &ShipState, tick_rate: u16) -> String {
        let gun = if !own.alive() {
            format!("destroyed: back in {:.1} s", f32::from(own.respawn) / f32::from(tick_rate.max(1)))
        } else if own.cooldown == 0 {
            "gun ready".to_owned()
        } else {
            format!("gun {}%", 100 - u32::from(own.cooldown) * 100 / u32::from(FIRE_COOLDOWN))
        };
        format!("health {}   kills {}   deaths {}   {gun}", own.health, own.kills, own.deaths)
    }

    /// Steers with the keys and aims at the pointer (holding the aim when
    /// the pointer is away).
    fn input(controls: &Controls, own: Option<&ShipState>) -> Command {
        let aim = match (controls.pointer, own) {
            (Some(pointer), Some(own)) if pointer.distance(own.body.pos) > 1.0 => {
                let to = pointer - own.body.pos;
                to.y.atan2(to.x)
            }
            (_, own) => own.map_or(0.0, |o| o.aim),
        };
        Command { x: controls.steer.x, y: controls.steer.y, aim, fire: controls.fire }
    }

    fn steer(steer: Vec2) -> Command {
        Command { x: steer.x, y: steer.y, ..Command::IDLE }
    }

    /// Kills rank a skirmish player.
    fn score(own: &ShipState) -> u32 {
        own.kills
    }

    /// Moves as its script says, aims where the nearest live ship will be
    /// when a shot gets there (its speed from the last two sightings), and
    /// fires when it is in range.
    fn bot(bot: &mut SkirmishBot, steer: Vec2, world: &ClientWorld<SkirmishSim>) -> Command {
        let Some(own) = world.own.as_ref().map(|o| o.state) else { return Self::steer(steer) };
        let me = SkirmishSim::position(&own);
        let schema = &world.schema.0;
        let target = world
            .entities
            .iter()
            .filter(|e| e.kind == SHIP && Some(e.id) != world.own_entity)
            .filter(|e| schema.get::<Health>(SHIP, e.fields).is_some_and(|h| h.0 > 0))
            .min_by(|a, b| a.pos.distance(me).total_cmp(&b.pos.distance(me)));
        let Some(target) = target else {
            bot.last = None;
            return Command { aim: own.aim, ..Self::steer(steer) };
        };
        let tick = world.server_tick;
        let dt = 1.0 / f32::from(world.tick_rate.max(1));
        let velocity = match bot.last {
            Some((id, then, pos)) if id == target.id && tick > then => {
                (target.pos - pos) * (1.0 / ((tick - then) as f32 * dt))
            }
            _ => Vec2::ZERO,
        };
        if bot.last.is_none_or(|(id, then, _)| id != target.id || tick > then) {
            bot.last = Some((target.id, tick, target.pos));
        }
        let range = BOT_REACH * SHOT_SPEED * SHOT_TICKS as f32 * dt;
        let in_range = target.pos.distance(me) < range;
        Command { x: steer.x, y: steer.y, aim: lead(me, target.pos, velocity), fire: in_range && own.cooldown == 0 }
    }
}
