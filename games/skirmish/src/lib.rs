//! # tickforge-skirmish
//!
//! A second game on Tickforge, written against the public API only: ships
//! that steer, aim and fire. [`sim`] is its shared part — the command a
//! client sends each tick, the rule that checks it and the step both sides
//! run. With the `server` feature, [`server`] is its `Game`: projectiles
//! the server simulates, hits decided against where the shooter saw its
//! target (lag compensation), health, death and respawn, and kills and
//! deaths kept per account. With `client`, `client` is how it is drawn,
//! controlled and played by bots (a `ClientGame`).

pub mod sim;

pub use sim::{Command, Heading, Health, SHIP, SHOT, ShipState, SkirmishSim};

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub mod client;
