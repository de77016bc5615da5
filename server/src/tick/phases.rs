//! The tick's phases, in one place.
//!
//! Every tick runs these [`Phase`]s in order (DESIGN §3):
//!
//! 1. `Receive`: read the socket into the inbox.
//! 2. `Admit`: connections come and go, saved state arrives, orders apply.
//! 3. `ApplyInputs`: queue and apply players' inputs; chat.
//! 4. `Simulate`: everything not driven by a player.
//! 5. `Replicate`: build per-client snapshots.
//! 6. `Send`: flush the transport.
//! 7. `Persist`: hand copies to other threads (store, admin, recorder).
//!
//! Features put their systems into named sets of their own inside a phase
//! and order them against other features' sets with `.after()` /
//! `.before()`; nothing is ordered only by its position in a list. The
//! schedule is built with ambiguity detection as an error, so two systems
//! can never touch the same data in an unknown order.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};

pub use tickforge_api::Phase;

/// An empty tick schedule: the phases in order, ambiguity an error.
pub fn schedule() -> Schedule {
    let mut schedule = Schedule::default();
    schedule.set_build_settings(ScheduleBuildSettings { ambiguity_detection: LogLevel::Error, ..Default::default() });
    schedule.configure_sets(
        (
            Phase::Receive,
            Phase::Admit,
            Phase::ApplyInputs,
            Phase::Simulate,
            Phase::Replicate,
            Phase::Send,
            Phase::Persist,
        )
            .chain(),
    );
    schedule
}
