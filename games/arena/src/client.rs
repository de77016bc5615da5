//! The arena as its clients play it: orbs, NPCs and avatars with their
//! names (the own one gold and ringed), the score in the HUD, the
//! movement keys as its input. Its bots just move as their script says.

use tickforge_client_core::game::{ClientGame, Controls, Painter, Rgba, Scene};
use tickforge_shared::sim::Vec2;

use crate::sim::{AVATAR_RADIUS, ORB_RADIUS};
use crate::{AVATAR, ArenaSim, ArenaState, Move, NPC, ORB};

const ORB_COLOUR: Rgba = Rgba::rgb(255, 120, 220);
const NPC_COLOUR: Rgba = Rgba::rgb(120, 200, 140);
const OTHER_COLOUR: Rgba = Rgba::rgb(90, 160, 255);

/// The arena's client side.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArenaClient;

impl ClientGame for ArenaClient {
    type Sim = ArenaSim;
    type Bot = ();
    const NAME: &'static str = "arena";

    /// Orbs, then NPCs, then avatars, then the avatars' names.
    fn draw(scene: &Scene<'_, ArenaSim>, painter: &mut dyn Painter) {
        let of = |kind| scene.drawn.iter().filter(move |e| e.kind == kind);
        let orb = painter.px(ORB_RADIUS, 3.0);
        for entity in of(ORB) {
            painter.disc(entity.pos, orb, ORB_COLOUR);
        }
        let npc = painter.px(10.0, 3.0);
        for entity in of(NPC) {
            painter.disc(entity.pos, npc, NPC_COLOUR);
        }
        let r = painter.px(AVATAR_RADIUS, 6.0);
        for entity in of(AVATAR) {
            let own = scene.own == Some(entity.id);
            if own {
                painter.ring(entity.pos, r + 4.0, 2.0, Rgba::WHITE);
            }
            painter.disc(entity.pos, r, if own { Rgba::GOLD } else { OTHER_COLOUR });
        }
        // The names after all the discs: over every avatar, and the discs
        // of one colour in a row (a painter may fill them as one path).
        for entity in of(AVATAR) {
            painter.label(entity.pos, r + 6.0, scene.name(entity.id), Rgba::WHITE);
        }
    }

    fn hud(own: &ArenaState, _tick_rate: u16) -> String {
        format!("score {}", own.score)
    }

    fn input(controls: &Controls, _own: Option<&ArenaState>) -> Move {
        Self::steer(controls.steer)
    }

    fn steer(steer: Vec2) -> Move {
        Move { x: steer.x, y: steer.y }
    }

    fn score(own: &ArenaState) -> u32 {
        own.score
    }
}
