//! The game API, as the engine sees it: the `tickforge-api` crate (what a
//! game implements and builds on; a game depends on that crate alone),
//! and the engine's own helpers around it.

pub use tickforge_api::*;

/// The engine's side of [`Game::save`]: a player's state as the store keeps it.
pub(crate) fn document<G: Game>(saved: &G::Saved) -> Result<String, serde_json::Error> {
    serde_json::to_string(saved)
}

/// A stored document as the game's state.
pub(crate) fn parse<G: Game>(document: &str) -> Result<G::Saved, serde_json::Error> {
    serde_json::from_str(document)
}
