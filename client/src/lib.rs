//! # tickforge-client
//!
//! Logs in over HTTP ([`login`]), plays over renet/netcode UDP ([`net`]),
//! keeps the latest world state ([`world`]) in a [`session::Session`] that
//! predicts the own avatar ([`predict`]) and interpolates the rest
//! ([`interpolate`]), and
//! shows it in a window (`render`, feature `graphics`) or drives it
//! headless with scripted movement ([`headless`], [`moves`]); [`bots`]
//! runs many headless clients in one process for load tests.

pub mod bots;
pub mod chatcheck;
pub mod headless;
pub mod interpolate;
pub mod login;
pub mod moves;
pub mod net;
pub mod playback;
pub mod predict;
#[cfg(feature = "graphics")]
pub mod render;
#[cfg(feature = "graphics")]
pub mod replay_view;
pub mod session;
pub mod world;
