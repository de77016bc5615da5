//! The graphical client: a macroquad window drawing the world.
//!
//! WASD or arrows move, the mouse aims, the left button or Space fires
//! (for games that aim and fire); Enter opens the chat line, Enter again
//! sends it, Escape cancels. The frame rate is capped at [`MAX_FPS`];
//! inputs go out at the server's tick rate whatever the frame rate. The
//! window draws the floor, the HUD strip, the chat and the notices; the
//! game draws its entities through a [`Painter`] ([`ClientGame::draw`]).

use std::time::{Duration, Instant};

use macroquad::prelude::*;
use tickforge_client_core::game::{ClientGame, Controls, Painter, Rgba, Scene};
use tickforge_shared::sim::Simulation;

use crate::interpolate::Drawn;

use crate::session::GameSession;

/// Frame-rate cap.
pub const MAX_FPS: u32 = 60;

/// Height of the HUD strip at the top, in pixels.
const HUD_HEIGHT: f32 = 28.0;

/// Opens the window and plays game `G` until it is closed or the connection ends.
pub fn run<G: ClientGame>(session: GameSession<G>, title: String) {
    macroquad::Window::from_config(window(title), play(session));
}

/// The window both the game and the replay viewer open.
pub(crate) fn window(title: String) -> Conf {
    Conf { window_title: title, window_width: 1024, window_height: 800, window_resizable: true, ..Default::default() }
}

/// Maps world units to screen pixels: the camera follows the own avatar and
/// shows a little more than the server's view radius around it.
pub(crate) struct View {
    scale: f32,
    origin: Vec2,
}

/// How long "moved to …" stays up after a move between servers.
const MOVED_NOTICE: Duration = Duration::from_secs(2);

/// World units visible across the shorter screen side.
const VISIBLE_SPAN: f32 = 1300.0;

impl View {
    pub(crate) fn follow(center: tickforge_shared::sim::Vec2) -> Self {
        let avail = (screen_width()).min(screen_height() - HUD_HEIGHT).max(1.0);
        let scale = avail / VISIBLE_SPAN;
        let screen_center = vec2(screen_width() / 2.0, HUD_HEIGHT + (screen_height() - HUD_HEIGHT) / 2.0);
        Self { scale, origin: screen_center - vec2(center.x, center.y) * scale }
    }

    pub(crate) fn to_screen(&self, p: tickforge_shared::sim::Vec2) -> Vec2 {
        self.origin + vec2(p.x, p.y) * self.scale
    }

    /// The world point under screen point `p`.
    fn to_world(&self, p: Vec2) -> tickforge_shared::sim::Vec2 {
        let w = (p - self.origin) / self.scale.max(1e-6);
        tickforge_shared::sim::Vec2::new(w.x, w.y)
    }
}

/// A game's drawing on the window, through the camera.
struct WindowPainter<'a>(&'a View);

fn colour(c: Rgba) -> Color {
    Color::from_rgba(c.r, c.g, c.b, c.a)
}

impl Painter for WindowPainter<'_> {
    fn scale(&self) -> f32 {
        self.0.scale
    }

    fn disc(&mut self, center: tickforge_shared::sim::Vec2, radius_px: f32, color: Rgba) {
        let p = self.0.to_screen(center);
        draw_circle(p.x, p.y, radius_px, colour(color));
    }

    fn ring(&mut self, center: tickforge_shared::sim::Vec2, radius_px: f32, width_px: f32, color: Rgba) {
        let p = self.0.to_screen(center);
        draw_circle_lines(p.x, p.y, radius_px, width_px, colour(color));
    }

    fn line(&mut self, from: tickforge_shared::sim::Vec2, to: tickforge_shared::sim::Vec2, width_px: f32, color: Rgba) {
        let (a, b) = (self.0.to_screen(from), self.0.to_screen(to));
        draw_line(a.x, a.y, b.x, b.y, width_px, colour(color));
    }

    fn rect(&mut self, anchor: tickforge_shared::sim::Vec2, offset_px: (f32, f32), size_px: (f32, f32), color: Rgba) {
        let p = self.0.to_screen(anchor);
        draw_rectangle(p.x + offset_px.0, p.y + offset_px.1, size_px.0, size_px.1, colour(color));
    }

    fn label(&mut self, anchor: tickforge_shared::sim::Vec2, above_px: f32, text: &str, color: Rgba) {
        let p = self.0.to_screen(anchor);
        let size = measure_text(text, None, 18, 1.0);
        draw_text(text, p.x - size.width / 2.0, p.y - above_px, 18.0, colour(color));
    }
}

/// The player's controls now; `view` maps the pointer into the world.
fn controls(view: &View) -> Controls {
    let pressed = |keys: &[KeyCode]| keys.iter().any(|k| is_key_down(*k));
    let x = f32::from(u8::from(pressed(&[KeyCode::D, KeyCode::Right])))
        - f32::from(u8::from(pressed(&[KeyCode::A, KeyCode::Left])));
    let y = f32::from(u8::from(pressed(&[KeyCode::S, KeyCode::Down])))
        - f32::from(u8::from(pressed(&[KeyCode::W, KeyCode::Up])));
    let (mx, my) = mouse_position();
    let inside = (0.0..screen_width()).contains(&mx) && (HUD_HEIGHT..screen_height()).contains(&my);
    Controls {
        steer: tickforge_shared::sim::Vec2::new(x, y),
        pointer: inside.then(|| view.to_world(vec2(mx, my))),
        fire: is_mouse_button_down(MouseButton::Left) || is_key_down(KeyCode::Space),
    }
}

async fn play<G: ClientGame>(mut session: GameSession<G>) {
    let frame_budget = Duration::from_secs(1) / MAX_FPS;
    let mut chat_line: Option<String> = None;
    let mut input_clock = Instant::now();
    let mut status: Option<String> = None;
    let mut last_frame = Instant::now();
    let world = G::Sim::WORLD;
    let mut center = tickforge_shared::sim::Vec2::new(world.x / 2.0, world.y / 2.0);
    let mut last_drawn: Vec<Drawn> = Vec::new();
    // The server being moved to, then (for a moment) the one arrived on.
    let mut moving_to: Option<String> = None;
    let mut arrived: Option<(String, Instant)> = None;

    loop {
        let frame_start = Instant::now();
        if status.is_none()
            && let Err(e) = session.update()
        {
            status = Some(e.to_string());
        }

        // Chat line editing.
        match &mut chat_line {
            None if is_key_pressed(KeyCode::Enter) => {
                chat_line = Some(String::new());
                while get_char_pressed().is_some() {}
            }
            Some(line) => {
                while let Some(c) = get_char_pressed() {
                    if !c.is_control() {
                        line.push(c);
                    }
                }
                if is_key_pressed(KeyCode::Backspace) {
                    line.pop();
                }
                if is_key_pressed(KeyCode::Escape) {
                    chat_line = None;
                } else if is_key_pressed(KeyCode::Enter) {
                    if !line.trim().is_empty() {
                        session.send_chat(line);
                    }
                    chat_line = None;
                }
            }
            None => {}
        }

        // Inputs at the server's tick rate.
        let tick = Duration::from_secs(1) / u32::from(session.world.tick_rate.max(1));
        let controls = if chat_line.is_some() { Controls::default() } else { controls(&View::follow(center)) };
        while input_clock + tick <= frame_start {
            input_clock += tick;
            if status.is_none() {
                let input = G::input(&controls, session.world.own.as_ref().map(|o| &o.state));
                session.send(input);
            }
        }

        let mut drawn = session.frame(frame_start - last_frame).to_vec();
        // Moving between servers: the last picture stays up (frozen, as the
        // avatar is) until the new server's world arrives.
        if drawn.is_empty() && session.moving().is_some() {
            drawn.clone_from(&last_drawn);
        } else {
            last_drawn.clone_from(&drawn);
        }
        last_frame = frame_start;
        match session.moving() {
            Some(server) => moving_to = Some(server.to_owned()),
            None => {
                if let Some(server) = moving_to.take() {
                    arrived = Some((server, frame_start));
                }
            }
        }
        // A lost connection comes back by itself; say so meanwhile. A move
        // takes a fraction of a second: where to stays up a moment longer.
        let notice = match (&status, session.rejoining()) {
            (None, _) if session.moving().is_some() => {
                Some(format!("moving to {}...", session.moving().unwrap_or_default()))
            }
            (None, None) if arrived.as_ref().is_some_and(|(_, at)| at.elapsed() < MOVED_NOTICE) => {
                arrived.as_ref().map(|(server, _)| format!("moved to {server}"))
            }
            (None, Some(since)) => Some(format!("connection lost: reconnecting... ({} s)", since.elapsed().as_secs())),
            (None, None) if session.world.own_entity.is_some() && session.silence() > Duration::from_secs(2) => {
                Some(format!("no word from the server for {} s...", session.silence().as_secs()))
            }
            _ => status.clone(),
        };
        // While moving between servers the own avatar is briefly unknown:
        // the camera stays where it was rather than jump.
        if let Some(pos) = session.own_display_pos() {
            center = pos;
        }
        draw(&session, &drawn, center, chat_line.as_deref(), notice.as_deref());
        if let Some(rest) = frame_budget.checked_sub(frame_start.elapsed()) {
            std::thread::sleep(rest);
        }
        next_frame().await;
    }
}

fn draw<G: ClientGame>(
    session: &GameSession<G>,
    drawn: &[Drawn],
    center: tickforge_shared::sim::Vec2,
    chat_line: Option<&str>,
    status: Option<&str>,
) {
    let world = &session.world;
    let view = View::follow(center);
    draw_floor(&view, G::Sim::WORLD);
    let own_state = world.own.as_ref().map(|o| &o.state);
    let names = |id| world.names.get(&id).map(String::as_str);
    let scene = Scene { drawn, schema: &world.schema.0, own: world.own_entity, own_state, names: &names };
    draw_scene::<G>(&view, &scene);
    draw_hud(&format!(
        "{}   server {}   tick {}   rtt {:.0} ms   interp {:.0} ms   entities {}   players {}   fps {}",
        own_state.map_or_else(String::new, |own| G::hud(own, world.tick_rate)),
        session.server_addr(),
        world.server_tick,
        session.rtt_ms(),
        session.feel.interp_delay_ms,
        drawn.len(),
        world.names.len(),
        get_fps()
    ));

    let mut y = screen_height() - 14.0;
    if let Some(line) = chat_line {
        draw_text(format!("> {line}_"), 12.0, y, 20.0, YELLOW);
        y -= 22.0;
    }
    draw_chat(world.chat.iter().map(|(from, text)| (from.as_str(), text.as_str())), y);
    if let Some(status) = status {
        let size = measure_text(status, None, 24, 1.0);
        // Above the own avatar (drawn at the centre), not over it.
        let y = HUD_HEIGHT + (screen_height() - HUD_HEIGHT) * 0.3;
        draw_text(status, (screen_width() - size.width) / 2.0, y, 24.0, RED);
    } else if world.own_entity.is_none() {
        draw_text("connecting…", 12.0, HUD_HEIGHT + 24.0, 20.0, GRAY);
    }
}

/// The HUD strip.
pub(crate) fn draw_hud(text: &str) {
    draw_rectangle(0.0, 0.0, screen_width(), HUD_HEIGHT, Color::from_rgba(0, 0, 0, 200));
    draw_text(text, 10.0, 20.0, 20.0, WHITE);
}

/// Chat lines, newest at the bottom, upward from `y`.
pub(crate) fn draw_chat<'a>(lines: impl DoubleEndedIterator<Item = (&'a str, &'a str)>, mut y: f32) {
    for (from, text) in lines.rev() {
        draw_text(format!("{from}: {text}"), 12.0, y, 18.0, LIGHTGRAY);
        y -= 20.0;
    }
}

/// The background, the world's floor (`world` units wide and high) and
/// its grid.
pub(crate) fn draw_floor(view: &View, world: tickforge_shared::sim::Vec2) {
    clear_background(Color::from_rgba(18, 20, 28, 255));
    let top_left = view.to_screen(tickforge_shared::sim::Vec2::ZERO);
    let (w, h) = (world.x * view.scale, world.y * view.scale);
    draw_rectangle(top_left.x, top_left.y, w, h, Color::from_rgba(30, 34, 46, 255));
    draw_rectangle_lines(top_left.x, top_left.y, w, h, 2.0, GRAY);
    // Grid lines every 100 units make movement visible.
    let grid = Color::from_rgba(40, 46, 60, 255);
    for i in 1..(world.x / 100.0).ceil() as u32 {
        let a = view.to_screen(tickforge_shared::sim::Vec2::new(i as f32 * 100.0, 0.0));
        draw_line(a.x, top_left.y, a.x, top_left.y + h, 1.0, grid);
    }
    for i in 1..(world.y / 100.0).ceil() as u32 {
        let b = view.to_screen(tickforge_shared::sim::Vec2::new(0.0, i as f32 * 100.0));
        draw_line(top_left.x, b.y, top_left.x + w, b.y, 1.0, grid);
    }
}

/// Game `G`'s entities, drawn by the game.
pub(crate) fn draw_scene<G: ClientGame>(view: &View, scene: &Scene<'_, G::Sim>) {
    G::draw(scene, &mut WindowPainter(view));
}
