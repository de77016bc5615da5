//! # tickforge-web
//!
//! Tickforge in a web page: the client core (`tickforge-client-core`) on a
//! browser WebSocket ([`transport`]), drawn on a Canvas 2D ([`draw`]) like
//! the native client. The page's script (`web/static/play.js`) does the
//! login over `fetch`, feeds keys and chat in, and calls [`Game::frame`]
//! on every animation frame; the core does the rest — handshake, prediction,
//! interpolation, moves between servers. When a lost session wants to log
//! in again, [`Game::login_wanted`] says so and the script answers with
//! [`Game::logged_in`] or [`Game::login_failed`].

pub mod draw;
pub mod transport;

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;
use tickforge_arena::sim::{WORLD_HEIGHT, WORLD_WIDTH};
use tickforge_arena::{ArenaSim, Move};
use tickforge_client_core::interpolate::Drawn;
use tickforge_client_core::session::Session;
use tickforge_shared::sim::Vec2;
use wasm_bindgen::prelude::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use transport::WebDialer;

/// Milliseconds from `performance.now()` as the core's clock.
fn clock(now_ms: f64) -> Duration {
    Duration::from_secs_f64(now_ms.max(0.0) / 1000.0)
}

/// Which movement keys are held.
#[derive(Debug, Default, Clone, Copy)]
struct Keys {
    up: bool,
    down: bool,
    left: bool,
    right: bool,
}

impl Keys {
    fn intent(self) -> (f32, f32) {
        let axis = |minus: bool, plus: bool| f32::from(u8::from(plus)) - f32::from(u8::from(minus));
        (axis(self.left, self.right), axis(self.up, self.down))
    }
}

/// Another avatar, as the status reports it.
#[derive(Serialize)]
struct Seen<'a> {
    name: &'a str,
    x: f32,
    y: f32,
}

/// What [`Game::status`] reports (for the page's tests and the curious).
#[derive(Serialize)]
struct Status<'a> {
    connected: bool,
    welcomed: bool,
    server: String,
    tick: u32,
    rtt_ms: f64,
    entities: usize,
    score: u32,
    own: Option<[f32; 2]>,
    avatars: Vec<Seen<'a>>,
    transfers: u32,
    reconnects: u32,
    moving: Option<&'a str>,
    bytes_in_per_s: f64,
    bytes_out_per_s: f64,
    datagrams_in: u64,
    datagram_bytes_in: u64,
    chat: Vec<(&'a str, &'a str)>,
    error: Option<&'a str>,
}

/// One player in the page.
#[wasm_bindgen]
pub struct Game {
    session: Session<WebDialer, ArenaSim>,
    painter: draw::Painter,
    canvas: HtmlCanvasElement,
    keys: Keys,
    /// When the next input is due.
    next_input: Duration,
    /// The last frame's `now`.
    last_frame: Duration,
    drawn: Vec<Drawn>,
    center: Vec2,
    error: Option<String>,
    /// The server being moved to, while the move lasts.
    moving_to: Option<String>,
    /// The server moved to, and when (for the "moved to" notice).
    arrived: Option<(String, Duration)>,
    /// The last frame's update and draw, in milliseconds.
    split: [f64; 2],
    performance: Option<web_sys::Performance>,
}

/// How long "moved to …" stays up after a move between servers.
const MOVED_NOTICE: Duration = Duration::from_secs(2);

#[wasm_bindgen]
impl Game {
    /// Connects with the body of a `200` login answer (JSON), drawing on `canvas`.
    #[wasm_bindgen(constructor)]
    pub fn new(canvas: HtmlCanvasElement, login_json: &str, now_ms: f64) -> Result<Game, JsError> {
        let login = tickforge_client_core::login::parse_login(login_json).map_err(|e| JsError::new(&e))?;
        let now = clock(now_ms);
        let session = Session::from_login(WebDialer, &login, now).map_err(|e| JsError::new(&e.to_string()))?;
        // Opaque: the arena covers the canvas, and nothing is blended with the page.
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"alpha".into(), &false.into());
        let ctx = canvas
            .get_context_with_context_options("2d", &options)
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
            .ok_or_else(|| JsError::new("no 2D canvas context"))?;
        Ok(Game {
            session,
            painter: draw::Painter::new(ctx),
            canvas,
            keys: Keys::default(),
            next_input: now,
            last_frame: now,
            drawn: Vec::new(),
            center: Vec2::new(WORLD_WIDTH / 2.0, WORLD_HEIGHT / 2.0),
            error: None,
            moving_to: None,
            arrived: None,
            split: [0.0; 2],
            performance: web_sys::window().and_then(|w| w.performance()),
        })
    }

    /// A key went down or up (`KeyboardEvent.code`); `true` if it is one
    /// of the game's (WASD, arrows), so the page keeps it from scrolling.
    pub fn key(&mut self, code: &str, down: bool) -> bool {
        let held = match code {
            "KeyW" | "ArrowUp" => &mut self.keys.up,
            "KeyS" | "ArrowDown" => &mut self.keys.down,
            "KeyA" | "ArrowLeft" => &mut self.keys.left,
            "KeyD" | "ArrowRight" => &mut self.keys.right,
            _ => return false,
        };
        *held = down;
        true
    }

    /// Whether the session has been welcomed and shown the own avatar.
    pub fn playing(&self) -> bool {
        self.session.is_playing()
    }

    /// Lets go of every key (the page lost focus).
    pub fn release_keys(&mut self) {
        self.keys = Keys::default();
    }

    /// Says a chat line.
    pub fn chat(&mut self, text: &str) {
        if !text.trim().is_empty() {
            self.session.send_chat(text);
        }
    }

    /// Reads the network, sends the inputs due, and draws. Returns the
    /// session's end as an error, once.
    pub fn frame(&mut self, now_ms: f64) -> Result<(), JsError> {
        let now = clock(now_ms);
        let began = self.performance.as_ref().map_or(0.0, web_sys::Performance::now);
        if self.error.is_none() {
            if let Err(e) = self.session.update(now) {
                self.error = Some(e.to_string());
                self.draw(now);
                return Err(JsError::new(&e.to_string()));
            }
            // Inputs at the server's tick rate (known from the welcome on),
            // whatever the frame rate; a page that was hidden does not
            // send the backlog.
            if self.session.world.tick_rate > 0 {
                let tick = Duration::from_secs_f32(self.session.tick_dt());
                if now.saturating_sub(self.next_input) > tick * 8 || self.next_input > now + tick {
                    self.next_input = now;
                }
                let (x, y) = self.keys.intent();
                while self.next_input <= now {
                    self.next_input += tick;
                    self.session.send_input(Move { x, y }, now);
                }
            }
        }
        let updated = self.performance.as_ref().map_or(0.0, web_sys::Performance::now);
        self.draw(now);
        let drawn = self.performance.as_ref().map_or(0.0, web_sys::Performance::now);
        self.split = [updated - began, drawn - updated];
        Ok(())
    }

    /// The last frame's update (network, world, inputs), in ms.
    pub fn update_ms(&self) -> f64 {
        self.split[0]
    }

    /// The last frame's draw, in ms.
    pub fn draw_ms(&self) -> f64 {
        self.split[1]
    }

    fn draw(&mut self, now: Duration) {
        let frame_dt = now.saturating_sub(self.last_frame);
        self.last_frame = now;
        let moving = self.session.moving().is_some();
        match self.session.moving() {
            Some(server) => self.moving_to = Some(server.to_owned()),
            None => {
                if let Some(server) = self.moving_to.take() {
                    self.arrived = Some((server, now));
                }
            }
        }
        let drawn = self.session.frame(frame_dt, now);
        // Moving between servers: the last picture stays up.
        if !drawn.is_empty() || !moving {
            self.drawn.clear();
            self.drawn.extend_from_slice(drawn);
        }
        if let Some(pos) = self.session.own_display_pos() {
            self.center = pos;
        }
        let view = draw::View::follow(self.center, f64::from(self.canvas.width()), f64::from(self.canvas.height()));
        let world = &self.session.world;
        let painter = &mut self.painter;
        painter.arena(&view);
        painter.entities(&view, &self.drawn, |id| world.names.get(&id).map(String::as_str), world.own_entity);
        let (server, rtt, entities) = (self.session.server_addr(), self.session.rtt_ms(), self.drawn.len());
        painter.hud(&view, |text| {
            write!(
                text,
                "score {}   server {server}   tick {}   rtt {rtt:.0} ms   entities {entities}   players {}   (WebSocket)",
                world.own.map_or(0, |o| o.state.score),
                world.server_tick,
                world.names.len()
            )
        });
        painter.chat(&view, world.chat.iter().map(|(from, text)| (from.as_str(), text.as_str())));
        let notice = match (&self.error, self.session.moving(), self.session.rejoining()) {
            (Some(error), _, _) => Some(error.clone()),
            (None, Some(server), _) => Some(format!("moving to {server}...")),
            (None, None, Some(since)) => {
                Some(format!("connection lost: reconnecting... ({} s)", now.saturating_sub(since).as_secs()))
            }
            (None, None, None)
                if self.arrived.as_ref().is_some_and(|(_, at)| now.saturating_sub(*at) < MOVED_NOTICE) =>
            {
                self.arrived.as_ref().map(|(server, _)| format!("moved to {server}"))
            }
            (None, None, None) if world.own_entity.is_none() => Some("connecting...".to_owned()),
            _ => None,
        };
        if let Some(text) = notice {
            self.painter.notice(&view, &text);
        }
    }

    /// A login the page should make now to bring a lost session back, as
    /// JSON `{"resume_token": …|null, "unreachable": "ip:port"}`; or nothing.
    pub fn login_wanted(&mut self) -> Option<String> {
        let comeback = self.session.login_wanted()?;
        Some(
            serde_json::json!({
                "resume_token": comeback.resume_token,
                "unreachable": comeback.unreachable.to_string(),
            })
            .to_string(),
        )
    }

    /// The page logged in again (the body of the `200` answer).
    pub fn logged_in(&mut self, login_json: &str, now_ms: f64) -> Result<(), JsError> {
        let login = tickforge_client_core::login::parse_login(login_json).map_err(|e| JsError::new(&e))?;
        self.session.logged_in(&login, clock(now_ms)).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The page's login failed in a way worth another try (unreachable, busy).
    pub fn login_failed(&mut self, reason: &str, now_ms: f64) -> Result<(), JsError> {
        self.session.login_failed(reason, clock(now_ms)).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The game as JSON: connection, HUD figures, the own position, the
    /// other avatars in view, moves and reconnects, bytes in.
    pub fn status(&self) -> String {
        let world = &self.session.world;
        let avatars = self
            .drawn
            .iter()
            .filter(|d| d.kind == tickforge_arena::AVATAR && Some(d.id) != world.own_entity)
            .filter_map(|d| world.names.get(&d.id).map(|name| Seen { name, x: d.pos.x, y: d.pos.y }))
            .collect();
        let conn = self.session.connection();
        let status = Status {
            connected: self.session.is_connected(),
            welcomed: world.own_entity.is_some(),
            server: self.session.server_addr().to_string(),
            tick: world.server_tick,
            rtt_ms: self.session.rtt_ms(),
            entities: self.drawn.len(),
            score: world.own.map_or(0, |o| o.state.score),
            own: world.own.map(|o| [o.state.body.pos.x, o.state.body.pos.y]),
            avatars,
            transfers: self.session.transfers,
            reconnects: self.session.reconnects,
            moving: self.session.moving(),
            bytes_in_per_s: conn.bytes_in_per_s(),
            bytes_out_per_s: conn.bytes_out_per_s(),
            datagrams_in: conn.datagrams_in.0,
            datagram_bytes_in: conn.datagrams_in.1,
            chat: world.chat.iter().map(|(from, text)| (from.as_str(), text.as_str())).collect(),
            error: self.error.as_deref(),
        };
        serde_json::to_string(&status).unwrap_or_default()
    }

    /// Leaves the server politely.
    pub fn leave(&mut self) {
        self.session.disconnect();
    }
}
