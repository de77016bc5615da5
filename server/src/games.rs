//! The games this binary runs (`--game`): their names, the default first,
//! and the one place a name becomes a game type — the only module of the
//! engine that names a game (the layer test holds it to that). Each game
//! is its own crate on `tickforge-api`.

use tickforge_arena::server::Arena;
use tickforge_rally::server::Rally;
use tickforge_skirmish::server::Skirmish;

use crate::api::Game;

/// Every game this binary runs, by [`Game::NAME`]; the first is the default.
pub const NAMES: &[&str] = &[Arena::NAME, Skirmish::NAME, Rally::NAME];

/// The default game.
pub const DEFAULT: &str = NAMES[0];

/// The registered name equal to `name`, if this binary runs that game.
pub fn named(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|known| *known == name)
}

/// Calls `run` with the game named `name` as its type parameter.
pub fn with_game<R>(name: &str, run: impl GameFn<R>) -> Option<R> {
    match name {
        Arena::NAME => Some(run.call::<Arena>()),
        Skirmish::NAME => Some(run.call::<Skirmish>()),
        Rally::NAME => Some(run.call::<Rally>()),
        _ => None,
    }
}

/// Something generic over a [`Game`], chosen at run time by [`with_game`].
pub trait GameFn<R> {
    /// Runs for game `G`.
    fn call<G: Game>(self) -> R;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl GameFn<&'static str> for Name {
        fn call<G: Game>(self) -> &'static str {
            G::NAME
        }
    }

    #[test]
    fn every_name_is_its_game() {
        for name in NAMES {
            assert_eq!(with_game(name, Name), Some(*name));
            assert_eq!(named(name), Some(*name));
        }
        assert_eq!(with_game("chess", Name), None);
        assert_eq!(named("chess"), None);
    }
}
