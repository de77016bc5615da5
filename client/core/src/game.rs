//! A game's client side: how its entities and its HUD are drawn, how the
//! player's keys and pointer become its input, and how a bot plays it.
//!
//! A game implements [`ClientGame`] once, in its own crate, and every
//! Tickforge client runs it: the graphical window draws through a
//! [`Painter`] (the engine's camera maps world units to pixels, draws the
//! floor, the HUD strip, the chat and the notices), the headless client
//! and the load bots play it through [`ClientGame::bot`], replays show it
//! with the same drawing. The engine's client never names a game: a
//! registry in the client application picks one by name.

use tickforge_shared::protocol::NetId;
use tickforge_shared::schema::Schema;
use tickforge_shared::sim::{Simulation, Vec2};

use crate::interpolate::Drawn;
use crate::world::ClientWorld;

/// A colour, 8 bits a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgba {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Opacity (255: opaque).
    pub a: u8,
}

impl Rgba {
    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b, a: 255 }
    }

    /// White.
    pub const WHITE: Rgba = Rgba::rgb(255, 255, 255);
    /// The own player's colour in both games: gold.
    pub const GOLD: Rgba = Rgba::rgb(255, 203, 0);
}

/// Where a game draws: positions in world units (the client's camera maps
/// them to the screen), sizes in pixels so that small things stay
/// visible at any zoom ([`Painter::px`] converts world sizes).
pub trait Painter {
    /// Pixels per world unit now.
    fn scale(&self) -> f32;

    /// A world length in pixels, at least `min_px`.
    fn px(&self, units: f32, min_px: f32) -> f32 {
        (units * self.scale()).max(min_px)
    }

    /// A filled disc.
    fn disc(&mut self, center: Vec2, radius_px: f32, color: Rgba);

    /// A circle's outline.
    fn ring(&mut self, center: Vec2, radius_px: f32, width_px: f32, color: Rgba);

    /// A straight line.
    fn line(&mut self, from: Vec2, to: Vec2, width_px: f32, color: Rgba);

    /// A filled rectangle `size_px` wide and high whose top-left corner is
    /// `offset_px` from `anchor` (a health bar above a ship).
    fn rect(&mut self, anchor: Vec2, offset_px: (f32, f32), size_px: (f32, f32), color: Rgba);

    /// A line of text centred on `anchor`, its baseline `above_px` above it.
    fn label(&mut self, anchor: Vec2, above_px: f32, text: &str, color: Rgba);
}

/// What there is to draw this frame.
pub struct Scene<'a, S: Simulation> {
    /// The entities at their interpolated positions (the own player at its
    /// predicted one).
    pub drawn: &'a [Drawn],
    /// The game's replicated kinds and fields, to read [`Drawn::fields`].
    pub schema: &'a Schema,
    /// The player's own entity, if it is known (none in a replay's free camera).
    pub own: Option<NetId>,
    /// The own player's exact state (none in replays, which hold only what
    /// every viewer sees).
    pub own_state: Option<&'a S::State>,
    /// The players' names by entity.
    pub names: &'a dyn Fn(NetId) -> Option<&'a str>,
}

impl<S: Simulation> Scene<'_, S> {
    /// The name of player `id`, or `?` while the roster has not said.
    pub fn name(&self, id: NetId) -> &str {
        (self.names)(id).unwrap_or("?")
    }
}

/// The player's controls this tick.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Controls {
    /// The movement keys: each axis -1, 0 or 1 (right and down positive).
    pub steer: Vec2,
    /// Where the pointer is, in world units (none when it is outside the window).
    pub pointer: Option<Vec2>,
    /// The fire button is held.
    pub fire: bool,
}

/// A game as its clients play it. All functions: the client holds no game
/// object, only the bot's state ([`ClientGame::Bot`]).
pub trait ClientGame: 'static {
    /// The game's shared simulation (its input, its player state, its step).
    type Sim: Simulation;
    /// What one bot remembers between ticks.
    type Bot: Default + Send;
    /// The game's name, as the server's `--game` and the login's `"game"` know it.
    const NAME: &'static str;

    /// Draws the entities (the client has drawn the floor; it draws the
    /// HUD strip, the chat and the notices over them).
    fn draw(scene: &Scene<'_, Self::Sim>, painter: &mut dyn Painter);

    /// The game's part of the HUD line, from the own player's exact state
    /// (`score 3`, `health 75  kills 2`); `tick_rate` is the server's, to
    /// tell tick counts as seconds.
    fn hud(own: &<Self::Sim as Simulation>::State, tick_rate: u16) -> String;

    /// The input the player's controls ask for; `own` is its state.
    fn input(controls: &Controls, own: Option<&<Self::Sim as Simulation>::State>) -> <Self::Sim as Simulation>::Input;

    /// The input that moves along `steer` and does nothing else (scripted
    /// movement, and the headless client's deliberate cheats, which send it
    /// unchecked).
    fn steer(steer: Vec2) -> <Self::Sim as Simulation>::Input;

    /// The number the game ranks its players by (its leaderboard's score).
    fn score(own: &<Self::Sim as Simulation>::State) -> u32;

    /// A bot's input this tick: `steer` is the movement its script asks
    /// for, `world` what it sees. By default it just moves.
    fn bot(bot: &mut Self::Bot, steer: Vec2, world: &ClientWorld<Self::Sim>) -> <Self::Sim as Simulation>::Input {
        let _ = (bot, world);
        Self::steer(steer)
    }
}
