//! The games this client plays: the one place in the client that names
//! them. Everything else — the window, the headless runner, the bots, the
//! replay viewer — is generic over [`ClientGame`], and [`with_game`] picks
//! the implementation by the name the server and the login use.

pub use tickforge_arena::client::ArenaClient;
pub use tickforge_client_core::game::ClientGame;
pub use tickforge_rally::client::RallyClient;
pub use tickforge_skirmish::client::SkirmishClient;

use crate::session::GameSession;

/// The game a client plays when neither `--game` nor the server says.
pub const DEFAULT_GAME: &str = ArenaClient::NAME;

/// The names of the games this client plays, in order.
pub const GAMES: [&str; 3] = [ArenaClient::NAME, SkirmishClient::NAME, RallyClient::NAME];

/// A session of the default game, the arena (what most tests and tools play).
pub type ArenaSession = GameSession<ArenaClient>;

/// Work to do with a game's client side, whichever game it is.
pub trait WithGame {
    /// What the work gives back.
    type Output;
    /// Does the work for game `G`.
    fn run<G: ClientGame>(self) -> Self::Output;
}

/// A game name this client does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown game '{0}' (this client plays {games})", games = GAMES.join(", "))]
pub struct UnknownGame(pub String);

/// Runs `work` for the game called `name`.
pub fn with_game<W: WithGame>(name: &str, work: W) -> Result<W::Output, UnknownGame> {
    match name {
        ArenaClient::NAME => Ok(work.run::<ArenaClient>()),
        SkirmishClient::NAME => Ok(work.run::<SkirmishClient>()),
        RallyClient::NAME => Ok(work.run::<RallyClient>()),
        other => Err(UnknownGame(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl WithGame for Name {
        type Output = &'static str;
        fn run<G: ClientGame>(self) -> &'static str {
            G::NAME
        }
    }

    #[test]
    fn every_listed_game_is_found_by_its_name_and_others_are_refused() {
        for game in GAMES {
            assert_eq!(with_game(game, Name), Ok(game));
        }
        let refused = with_game("chess", Name).unwrap_err();
        assert_eq!(refused.to_string(), "unknown game 'chess' (this client plays arena, skirmish, rally)");
    }
}
