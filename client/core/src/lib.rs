//! # tickforge-client-core
//!
//! Everything a Tickforge client does that is not input/output, shared by
//! the native client, the bots and the browser page: the login answer
//! ([`login`]), the connection — renet over our netcode.io layer — on any
//! datagram [`transport`] ([`net`]), the world built from server messages
//! ([`world`]), the own avatar's prediction ([`predict`]), the others'
//! interpolation ([`interpolate`]), and the playing [`session`] with its
//! moves between servers and its way back after a loss. A game's client
//! side — drawing, controls, bots — implements [`game::ClientGame`]. No clock, sleep,
//! socket or thread inside: every call takes `now`, and a driver brings
//! the transports and the logins. Builds for `wasm32-unknown-unknown`.

pub mod game;
pub mod interpolate;
pub mod login;
pub mod net;
pub mod predict;
pub mod session;
pub mod transport;
pub mod world;
