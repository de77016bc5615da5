//! # tickforge-shared
//!
//! Everything the server and the client must agree on, and nothing else:
//!
//! - [`protocol`]: the wire messages, channels, [`protocol::PROTOCOL_ID`];
//! - [`codec`]: the one place bytes become messages (bincode with a size limit);
//! - [`sim`]: what a game's shared simulation is to the engine ([`sim::Simulation`]);
//! - [`schema`]: a game's entity kinds and their replicated fields;
//! - [`snapshot`]: quantized, bit-packed, delta-encoded world state;
//! - [`bundle`]: several renet packets in one netcode payload.
//!
//! This crate does no IO and reads no clock: time comes in as `dt`.

pub mod bundle;
pub mod codec;
pub mod protocol;
pub mod replay;
pub mod schema;
pub mod sim;
pub mod snapshot;
