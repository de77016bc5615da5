//! The games the page plays: the one place in the page that names them
//! (as `client/src/games.rs` is for the native client). Everything else
//! is generic over [`ClientGame`]; [`start`] picks the game the login
//! answer names.

use std::time::Duration;

use tickforge_arena::client::ArenaClient;
use tickforge_client_core::game::ClientGame;
use tickforge_client_core::login::Login;
use tickforge_rally::client::RallyClient;
use tickforge_skirmish::client::SkirmishClient;
use web_sys::HtmlCanvasElement;

use crate::draw::Canvas;
use crate::page::{Page, Play};

/// The names of the games the page plays, in order; the first is the one
/// played when the login answer names none.
pub const GAMES: [&str; 3] = [ArenaClient::NAME, SkirmishClient::NAME, RallyClient::NAME];

/// A player of the game `login` names, drawing on `element` through `canvas`.
pub fn start(
    element: HtmlCanvasElement,
    canvas: Canvas,
    login: &Login,
    now: Duration,
) -> Result<Box<dyn Play>, String> {
    fn page<G: ClientGame>(
        element: HtmlCanvasElement,
        canvas: Canvas,
        login: &Login,
        now: Duration,
    ) -> Result<Box<dyn Play>, String> {
        Ok(Box::new(Page::<G>::new(element, canvas, login, now)?))
    }
    match login.game.as_deref().unwrap_or(GAMES[0]) {
        ArenaClient::NAME => page::<ArenaClient>(element, canvas, login, now),
        SkirmishClient::NAME => page::<SkirmishClient>(element, canvas, login, now),
        RallyClient::NAME => page::<RallyClient>(element, canvas, login, now),
        other => Err(format!("this page does not play '{other}' (it plays {})", GAMES.join(", "))),
    }
}
