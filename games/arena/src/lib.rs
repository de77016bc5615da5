//! # tickforge-arena
//!
//! The reference game: avatars their players steer, NPCs that wander,
//! orbs to collect. [`sim`] is its shared part — the input a client
//! sends, the one rule that validates it and the movement step — which
//! the server runs to decide and the client runs to predict. With the
//! `server` feature, [`server`] is its `Game`; with `client`, `client` is
//! how it is drawn and played (a `ClientGame`).

pub mod sim;

pub use sim::{AVATAR, ArenaSim, ArenaState, Move, NPC, ORB};

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub mod client;
