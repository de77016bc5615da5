//! # tickforge-web
//!
//! Tickforge in a web page: the client core (`tickforge-client-core`) on a
//! browser WebSocket ([`transport`]), drawn on a Canvas 2D ([`draw`]) like
//! the native client, playing whichever game the login answer names
//! ([`games`], through the game's `ClientGame`). The page's script
//! (`web/static/play.js`) does the login over `fetch`, feeds keys, the
//! pointer and chat in, and calls [`Game::frame`] on every animation
//! frame; the core does the rest — handshake, prediction, interpolation,
//! moves between servers. When a lost session wants to log in again,
//! [`Game::login_wanted`] says so and the script answers with
//! [`Game::logged_in`] or [`Game::login_failed`].

pub mod draw;
pub mod games;
pub mod page;
pub mod transport;

use std::time::Duration;

use wasm_bindgen::prelude::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use page::Play;

/// Milliseconds from `performance.now()` as the core's clock.
fn clock(now_ms: f64) -> Duration {
    Duration::from_secs_f64(now_ms.max(0.0) / 1000.0)
}

/// The login answer's body (JSON), parsed.
fn login(login_json: &str) -> Result<tickforge_client_core::login::Login, JsError> {
    tickforge_client_core::login::parse_login(login_json).map_err(|e| JsError::new(&e))
}

/// One player in the page.
#[wasm_bindgen]
pub struct Game {
    play: Box<dyn Play>,
}

#[wasm_bindgen]
impl Game {
    /// Connects with the body of a `200` login answer (JSON), drawing on
    /// `canvas`; plays the game the answer names.
    #[wasm_bindgen(constructor)]
    pub fn new(canvas: HtmlCanvasElement, login_json: &str, now_ms: f64) -> Result<Game, JsError> {
        let login = login(login_json)?;
        // Opaque: the floor covers the canvas, and nothing is blended with the page.
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"alpha".into(), &false.into());
        let ctx = canvas
            .get_context_with_context_options("2d", &options)
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
            .ok_or_else(|| JsError::new("no 2D canvas context"))?;
        let play = games::start(canvas, draw::Canvas::new(ctx), &login, clock(now_ms)).map_err(|e| JsError::new(&e))?;
        Ok(Game { play })
    }

    /// A key went down or up (`KeyboardEvent.code`); `true` if it is one
    /// of the game's (WASD, arrows, Space), so the page keeps it from scrolling.
    pub fn key(&mut self, code: &str, down: bool) -> bool {
        self.play.key(code, down)
    }

    /// The pointer moved to canvas pixel (`x`, `y`).
    pub fn pointer(&mut self, x: f64, y: f64) {
        self.play.pointer(Some((x, y)));
    }

    /// The pointer left the canvas.
    pub fn pointer_left(&mut self) {
        self.play.pointer(None);
    }

    /// The main mouse button went down or up.
    pub fn button(&mut self, down: bool) {
        self.play.button(down);
    }

    /// Whether the session has been welcomed and shown the own player.
    pub fn playing(&self) -> bool {
        self.play.playing()
    }

    /// Lets go of every key and button (the page lost focus).
    pub fn release_keys(&mut self) {
        self.play.release();
    }

    /// Says a chat line.
    pub fn chat(&mut self, text: &str) {
        self.play.chat(text);
    }

    /// Reads the network, sends the inputs due, and draws. Returns the
    /// session's end as an error, once.
    pub fn frame(&mut self, now_ms: f64) -> Result<(), JsError> {
        self.play.frame(clock(now_ms)).map_err(|e| JsError::new(&e))
    }

    /// The last frame's update (network, world, inputs), in ms.
    pub fn update_ms(&self) -> f64 {
        self.play.split()[0]
    }

    /// The last frame's draw, in ms.
    pub fn draw_ms(&self) -> f64 {
        self.play.split()[1]
    }

    /// A login the page should make now to bring a lost session back, as
    /// JSON `{"resume_token": …|null, "unreachable": "ip:port"}`; or nothing.
    pub fn login_wanted(&mut self) -> Option<String> {
        self.play.login_wanted()
    }

    /// The page logged in again (the body of the `200` answer).
    pub fn logged_in(&mut self, login_json: &str, now_ms: f64) -> Result<(), JsError> {
        self.play.logged_in(&login(login_json)?, clock(now_ms)).map_err(|e| JsError::new(&e))
    }

    /// The page's login failed in a way worth another try (unreachable, busy).
    pub fn login_failed(&mut self, reason: &str, now_ms: f64) -> Result<(), JsError> {
        self.play.login_failed(reason, clock(now_ms)).map_err(|e| JsError::new(&e))
    }

    /// The game as JSON: its name, connection, HUD figures, the own
    /// position, the other players in view, moves and reconnects, bytes in.
    pub fn status(&self) -> String {
        self.play.status()
    }

    /// Leaves the server politely.
    pub fn leave(&mut self) {
        self.play.leave();
    }
}
