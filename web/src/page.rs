//! One player in the page, playing game `G` ([`Page`]): the client core's
//! session on the browser's WebSocket, the page's keys and pointer made
//! the game's input ([`ClientGame::input`]), and each frame drawn as the
//! native window draws it — the floor, the game's entities through the
//! canvas painter ([`ClientGame::draw`]), the HUD with the game's part
//! ([`ClientGame::hud`]), the chat and the notices.
//!
//! [`Play`] is the same player with the game's type out of sight, for the
//! page's one `Game` object.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;
use tickforge_client_core::game::{ClientGame, Controls, Scene};
use tickforge_client_core::interpolate::Drawn;
use tickforge_client_core::login::Login;
use tickforge_client_core::session::Session;
use tickforge_shared::sim::{Simulation, Vec2};
use web_sys::HtmlCanvasElement;

use crate::draw::{Canvas, View};
use crate::transport::WebDialer;

/// How long "moved to …" stays up after a move between servers.
const MOVED_NOTICE: Duration = Duration::from_secs(2);

/// What the page's player does, whichever game it plays.
pub trait Play {
    /// A key went down or up (`KeyboardEvent.code`); `true` if it is one
    /// of the game's (WASD, arrows, Space), so the page keeps it.
    fn key(&mut self, code: &str, down: bool) -> bool;
    /// The pointer is at canvas pixel (`x`, `y`); none: it left the canvas.
    fn pointer(&mut self, at: Option<(f64, f64)>);
    /// The main mouse button went down or up.
    fn button(&mut self, down: bool);
    /// Lets go of every key and button (the page lost focus).
    fn release(&mut self);
    /// Whether the session has been welcomed and shown the own player.
    fn playing(&self) -> bool;
    /// Says a chat line.
    fn chat(&mut self, text: &str);
    /// Reads the network, sends the inputs due, and draws; the session's
    /// end as an error, once.
    fn frame(&mut self, now: Duration) -> Result<(), String>;
    /// The last frame's update and draw, in ms.
    fn split(&self) -> [f64; 2];
    /// A login wanted now to bring a lost session back, as JSON.
    fn login_wanted(&mut self) -> Option<String>;
    /// The page logged in again.
    fn logged_in(&mut self, login: &Login, now: Duration) -> Result<(), String>;
    /// The page's login failed in a way worth another try.
    fn login_failed(&mut self, reason: &str, now: Duration) -> Result<(), String>;
    /// The game as JSON ([`Status`]).
    fn status(&self) -> String;
    /// Leaves the server politely.
    fn leave(&mut self);
}

/// Which movement keys and buttons are held.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    up: bool,
    down: bool,
    left: bool,
    right: bool,
    space: bool,
    button: bool,
}

impl Held {
    fn steer(self) -> Vec2 {
        let axis = |minus: bool, plus: bool| f32::from(u8::from(plus)) - f32::from(u8::from(minus));
        Vec2::new(axis(self.left, self.right), axis(self.up, self.down))
    }
}

/// Another player, as the status reports it.
#[derive(Serialize)]
struct Seen<'a> {
    name: &'a str,
    x: f32,
    y: f32,
}

/// What [`Play::status`] reports (for the page's tests and the curious).
#[derive(Serialize)]
struct Status<'a> {
    game: &'static str,
    connected: bool,
    welcomed: bool,
    server: String,
    tick: u32,
    rtt_ms: f64,
    entities: usize,
    score: u32,
    /// The game's part of the HUD line.
    hud: Option<String>,
    own: Option<[f32; 2]>,
    /// The other players in view.
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

/// One player in the page playing game `G`.
pub struct Page<G: ClientGame> {
    session: Session<WebDialer, G::Sim>,
    canvas: Canvas,
    element: HtmlCanvasElement,
    held: Held,
    /// The pointer in canvas pixels, while it is over the canvas.
    pointer: Option<(f64, f64)>,
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

impl<G: ClientGame> Page<G> {
    /// Connects with `login`, drawing on `element` through `canvas`.
    pub fn new(element: HtmlCanvasElement, canvas: Canvas, login: &Login, now: Duration) -> Result<Self, String> {
        let session = Session::from_login(WebDialer, login, now).map_err(|e| e.to_string())?;
        let world = G::Sim::WORLD;
        Ok(Self {
            session,
            canvas,
            element,
            held: Held::default(),
            pointer: None,
            next_input: now,
            last_frame: now,
            drawn: Vec::new(),
            center: Vec2::new(world.x / 2.0, world.y / 2.0),
            error: None,
            moving_to: None,
            arrived: None,
            split: [0.0; 2],
            performance: web_sys::window().and_then(|w| w.performance()),
        })
    }

    fn now_ms(&self) -> f64 {
        self.performance.as_ref().map_or(0.0, web_sys::Performance::now)
    }

    fn view(&self) -> View {
        View::follow(self.center, f64::from(self.element.width()), f64::from(self.element.height()))
    }

    /// The player's controls now.
    fn controls(&self) -> Controls {
        Controls {
            steer: self.held.steer(),
            pointer: self.pointer.and_then(|(x, y)| self.view().to_world(x, y)),
            fire: self.held.space || self.held.button,
        }
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
        let view = self.view();
        let world = &self.session.world;
        let canvas = &mut self.canvas;
        canvas.floor(&view, G::Sim::WORLD);
        let own_state = world.own.as_ref().map(|o| &o.state);
        let names = |id| world.names.get(&id).map(String::as_str);
        let scene =
            Scene { drawn: &self.drawn, schema: &world.schema.0, own: world.own_entity, own_state, names: &names };
        G::draw(&scene, &mut canvas.painter(&view));
        let (server, rtt, entities) = (self.session.server_addr(), self.session.rtt_ms(), self.drawn.len());
        canvas.hud(&view, |text| {
            if let Some(own) = own_state {
                write!(text, "{}   ", G::hud(own, world.tick_rate))?;
            }
            write!(
                text,
                "server {server}   tick {}   rtt {rtt:.0} ms   entities {entities}   players {}   (WebSocket)",
                world.server_tick,
                world.names.len()
            )
        });
        canvas.chat(&view, world.chat.iter().map(|(from, text)| (from.as_str(), text.as_str())));
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
            self.canvas.notice(&view, &text);
        }
    }
}

impl<G: ClientGame> Play for Page<G> {
    fn key(&mut self, code: &str, down: bool) -> bool {
        let held = match code {
            "KeyW" | "ArrowUp" => &mut self.held.up,
            "KeyS" | "ArrowDown" => &mut self.held.down,
            "KeyA" | "ArrowLeft" => &mut self.held.left,
            "KeyD" | "ArrowRight" => &mut self.held.right,
            "Space" => &mut self.held.space,
            _ => return false,
        };
        *held = down;
        true
    }

    fn pointer(&mut self, at: Option<(f64, f64)>) {
        self.pointer = at;
    }

    fn button(&mut self, down: bool) {
        self.held.button = down;
    }

    fn release(&mut self) {
        self.held = Held::default();
    }

    fn playing(&self) -> bool {
        self.session.is_playing()
    }

    fn chat(&mut self, text: &str) {
        if !text.trim().is_empty() {
            self.session.send_chat(text);
        }
    }

    fn frame(&mut self, now: Duration) -> Result<(), String> {
        let began = self.now_ms();
        if self.error.is_none() {
            if let Err(e) = self.session.update(now) {
                self.error = Some(e.to_string());
                self.draw(now);
                return Err(e.to_string());
            }
            // Inputs at the server's tick rate (known from the welcome on),
            // whatever the frame rate; a page that was hidden does not
            // send the backlog.
            if self.session.world.tick_rate > 0 {
                let tick = Duration::from_secs_f32(self.session.tick_dt());
                if now.saturating_sub(self.next_input) > tick * 8 || self.next_input > now + tick {
                    self.next_input = now;
                }
                let controls = self.controls();
                while self.next_input <= now {
                    self.next_input += tick;
                    let input = G::input(&controls, self.session.world.own.as_ref().map(|o| &o.state));
                    self.session.send_input(input, now);
                }
            }
        }
        let updated = self.now_ms();
        self.draw(now);
        self.split = [updated - began, self.now_ms() - updated];
        Ok(())
    }

    fn split(&self) -> [f64; 2] {
        self.split
    }

    fn login_wanted(&mut self) -> Option<String> {
        let comeback = self.session.login_wanted()?;
        Some(
            serde_json::json!({
                "resume_token": comeback.resume_token,
                "unreachable": comeback.unreachable.to_string(),
            })
            .to_string(),
        )
    }

    fn logged_in(&mut self, login: &Login, now: Duration) -> Result<(), String> {
        self.session.logged_in(login, now).map_err(|e| e.to_string())
    }

    fn login_failed(&mut self, reason: &str, now: Duration) -> Result<(), String> {
        self.session.login_failed(reason, now).map_err(|e| e.to_string())
    }

    fn status(&self) -> String {
        let world = &self.session.world;
        let avatars = self
            .drawn
            .iter()
            .filter(|d| d.kind == G::Sim::PLAYER_KIND && Some(d.id) != world.own_entity)
            .filter_map(|d| world.names.get(&d.id).map(|name| Seen { name, x: d.pos.x, y: d.pos.y }))
            .collect();
        let own = world.own.as_ref().map(|o| &o.state);
        let conn = self.session.connection();
        let status = Status {
            game: G::NAME,
            connected: self.session.is_connected(),
            welcomed: world.own_entity.is_some(),
            server: self.session.server_addr().to_string(),
            tick: world.server_tick,
            rtt_ms: self.session.rtt_ms(),
            entities: self.drawn.len(),
            score: own.map_or(0, G::score),
            hud: own.map(|own| G::hud(own, world.tick_rate)),
            own: own.map(|state| {
                let pos = G::Sim::position(state);
                [pos.x, pos.y]
            }),
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

    fn leave(&mut self) {
        self.session.disconnect();
    }
}
