//! # tickforge-client
//!
//! The native client around the IO-free core (`tickforge-client-core`):
//! logs in over HTTP ([`login`]), plays over UDP ([`net`], the core's
//! transport driver), drives the core's playing [`session`] on the
//! system clock, and
//! shows it in a window (`render`, feature `graphics`) or drives it
//! headless with scripted movement ([`headless`], [`moves`]); [`bots`]
//! runs many headless clients in one process for load tests. They are
//! generic over the game's client side (`ClientGame`); [`games`] is the
//! one place that names the games. The world,
//! prediction and interpolation are the core's ([`world`], [`predict`],
//! [`interpolate`]).

pub use tickforge_client_core::{interpolate, predict, world};

pub mod bots;
pub mod chatcheck;
pub mod games;
pub mod headless;
pub mod login;
pub mod moves;
pub mod net;
pub mod playback;
#[cfg(feature = "graphics")]
pub mod render;
#[cfg(feature = "graphics")]
pub mod replay_view;
pub mod session;
