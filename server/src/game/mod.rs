//! The features every game gets from the engine: players and their
//! roster, inputs, chat, replication and saved progress. Systems here
//! read the [`crate::net::Inbox`] and write through
//! [`crate::net::NetServer`]; they never touch sockets or the database.
//! Games themselves live in their own crates, on `tickforge-api`.

pub mod chat;
pub mod components;
pub mod input;
pub mod players;
pub mod progress;
pub mod replicate;
pub mod roster;

pub use tickforge_api::NetIds;
