//! # tickforge-api
//!
//! The engine's public face for games: what a game implements, and the
//! components, phases and services it builds on. A game's server part
//! depends on this crate (and [`tickforge_shared`]) only; it never sees
//! the engine's internals, and the engine runs it with accounts,
//! persistence, the netcode, interest management, replays and the
//! cluster's live handoff.
//!
//! - [`Game`]: the game's name, its [`tickforge_shared::sim::Simulation`]
//!   (input, the rule that checks it, the player's exact state and the
//!   step both sides run), its persistent state, how a player starts from
//!   it, and its systems ([`Game::install`]);
//! - [`components`]: [`Replicated`] (id, [`Position`], [`Kind`],
//!   [`Fields`]) on everything clients see, [`Controlled`] on players;
//! - [`phase`]: the tick's [`Phase`]s a game's systems go into, and
//!   [`TickInfo`];
//! - [`replicate`]: [`field`] replicates a game's own values (its
//!   [`tickforge_shared::schema::Field`] components);
//! - [`rewind`]: lag compensation — where [`Rewound`] entities were, and
//!   how far back each player was looking ([`Viewing`], [`Rewind`]);
//! - [`NetIds`] for new entities, [`SplitMix64`] for game decisions.

pub mod components;
pub mod game;
pub mod ids;
pub mod phase;
pub mod replicate;
pub mod rewind;
pub mod rng;

pub use components::{Controlled, Fields, Kind, NetEntity, Position, Replicated};
pub use game::{Arrival, Game, Setup};
pub use ids::NetIds;
pub use phase::{Phase, TickInfo};
pub use replicate::{EntitySchema, ReplicateSet, field};
pub use rewind::{Rewind, Rewound, Viewing};
pub use rng::SplitMix64;
