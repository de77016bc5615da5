//! The tick's phases and what every system knows about the current tick.
//!
//! Every tick runs the [`Phase`]s in order:
//!
//! 1. `Receive`: read the socket into the inbox.
//! 2. `Admit`: connections come and go, saved state arrives, orders apply.
//! 3. `ApplyInputs`: queue and apply players' inputs; chat.
//! 4. `Simulate`: everything not driven by a player — a game's own systems.
//! 5. `Replicate`: build per-client snapshots.
//! 6. `Send`: flush the transport.
//! 7. `Persist`: hand copies to other threads (store, admin, recorder).
//!
//! A game puts its systems into named sets of its own inside a phase
//! (usually `Simulate`) and orders them with `.chain()`, `.after()` or
//! `.before()`. The schedule is built with ambiguity detection as an
//! error: two systems can never touch the same data in an unknown order.

use std::time::Duration;

use bevy_ecs::prelude::*;

/// The ordered phases of a tick.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Read the network.
    Receive,
    /// Connections come and go.
    Admit,
    /// Player inputs and chat.
    ApplyInputs,
    /// Everything not driven by a player.
    Simulate,
    /// Per-client snapshots.
    Replicate,
    /// Flush the network.
    Send,
    /// Hand copies to other threads.
    Persist,
}

/// The current tick, as every system sees it.
#[derive(Debug, Clone, Copy, Resource)]
pub struct TickInfo {
    /// Tick number (contiguous, starts at 0).
    pub tick: u64,
    /// Fixed step length in seconds.
    pub dt: f32,
    /// Time since the server started (monotonic).
    pub elapsed: Duration,
}
