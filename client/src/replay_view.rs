//! Graphical replay playback.
//!
//! Space plays or pauses; Up and Down double or halve the speed (0.25× to
//! 8×); Left and Right jump 5 s back or ahead; Home goes to the start; a
//! click or drag on the timeline bar seeks; Tab follows the next player,
//! Escape frees the camera (it then shows the world's centre).

use std::collections::VecDeque;
use std::time::Instant;

use macroquad::prelude::*;
use tickforge_client_core::game::{ClientGame, Scene};
use tickforge_shared::protocol::NetId;
use tickforge_shared::replay::{Event, State};
use tickforge_shared::sim::Simulation;

use crate::interpolate::Drawn;
use crate::playback::ReplayFile;
use crate::render::{MAX_FPS, View, draw_chat, draw_floor, draw_hud, draw_scene, window};

/// Slowest and fastest playback.
const SPEEDS: (f32, f32) = (0.25, 8.0);
/// Height of the timeline bar, in pixels.
const BAR_HEIGHT: f32 = 18.0;

/// Opens the window and plays `replay`, a recording of game `G`, from
/// `from` (or its start).
pub fn run<G: ClientGame>(replay: ReplayFile, from: Option<u32>, title: String) {
    macroquad::Window::from_config(window(title), play::<G>(replay, from));
}

/// Playback position and controls.
struct Player {
    replay: ReplayFile,
    state: State,
    playing: bool,
    speed: f32,
    /// Fractional ticks owed to the clock.
    owed: f64,
    follow: Option<NetId>,
    chat: VecDeque<(String, String)>,
    error: Option<String>,
}

impl Player {
    fn seek(&mut self, tick: u32) {
        let tick = tick.clamp(self.replay.first_tick(), self.replay.last_tick());
        match self.replay.seek(tick) {
            Ok(state) => {
                self.state = state;
                self.chat.clear();
                self.owed = 0.0;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn step(&mut self) -> bool {
        match self.replay.next_state() {
            Some(Ok(state)) => {
                for event in &state.events {
                    if let Event::Chat { from, text } = event {
                        self.chat.push_back((from.clone(), text.clone()));
                        if self.chat.len() > 6 {
                            self.chat.pop_front();
                        }
                    }
                }
                self.state = state;
                true
            }
            Some(Err(e)) => {
                self.error = Some(e.to_string());
                false
            }
            None => false,
        }
    }

    fn controls(&mut self, rate: f64) {
        if is_key_pressed(KeyCode::Space) {
            self.playing = !self.playing;
        }
        if is_key_pressed(KeyCode::Up) {
            self.speed = (self.speed * 2.0).min(SPEEDS.1);
        }
        if is_key_pressed(KeyCode::Down) {
            self.speed = (self.speed / 2.0).max(SPEEDS.0);
        }
        let jump = (5.0 * rate) as u32;
        if is_key_pressed(KeyCode::Left) {
            self.seek(self.state.tick.saturating_sub(jump));
        }
        if is_key_pressed(KeyCode::Right) {
            self.seek(self.state.tick.saturating_add(jump));
        }
        if is_key_pressed(KeyCode::Home) {
            self.seek(self.replay.first_tick());
        }
        if is_key_pressed(KeyCode::Tab) {
            let ids: Vec<NetId> = self.state.players.keys().copied().collect();
            let next = match self.follow.and_then(|f| ids.iter().position(|id| *id == f)) {
                Some(i) => ids.get(i + 1).or(ids.first()).copied(),
                None => ids.first().copied(),
            };
            self.follow = next;
        }
        if is_key_pressed(KeyCode::Escape) {
            self.follow = None;
        }
        if is_mouse_button_down(MouseButton::Left) {
            let (x, y) = mouse_position();
            if y >= screen_height() - BAR_HEIGHT {
                let (first, last) = (self.replay.first_tick(), self.replay.last_tick());
                let at = (x / screen_width()).clamp(0.0, 1.0);
                let tick = first + ((last - first) as f32 * at) as u32;
                if tick != self.state.tick {
                    self.seek(tick);
                }
            }
        }
    }
}

async fn play<G: ClientGame>(mut replay: ReplayFile, from: Option<u32>) {
    let first = match from {
        Some(tick) => replay.seek(tick.max(replay.first_tick())),
        None => replay.seek(replay.first_tick()),
    };
    let (state, error) = match first {
        Ok(state) => (state, None),
        Err(e) => (State::default(), Some(e.to_string())),
    };
    let rate = f64::from(replay.header.tick_rate.max(1));
    let schema = replay.header.schema.clone();
    let mut player =
        Player { replay, state, playing: true, speed: 1.0, owed: 0.0, follow: None, chat: VecDeque::new(), error };
    let mut last = Instant::now();
    let mut drawn: Vec<Drawn> = Vec::new();
    loop {
        let now = Instant::now();
        let dt = (now - last).as_secs_f64();
        last = now;
        player.controls(rate);
        if player.playing && player.error.is_none() {
            player.owed += dt * rate * f64::from(player.speed);
            while player.owed >= 1.0 {
                player.owed -= 1.0;
                if !player.step() {
                    player.playing = false;
                    player.owed = 0.0;
                    break;
                }
            }
        }
        drawn.clear();
        drawn.extend(player.state.entities.iter().map(|k| Drawn {
            id: k.id,
            kind: k.kind,
            pos: k.pos(),
            fields: k.fields,
        }));
        let world = G::Sim::WORLD;
        let center = player
            .follow
            .and_then(|id| drawn.iter().find(|d| d.id == id))
            .map_or(tickforge_shared::sim::Vec2::new(world.x / 2.0, world.y / 2.0), |d| d.pos);
        let view = View::follow(center);
        draw_floor(&view, world);
        let players = &player.state.players;
        let names = |id| players.get(&id).map(String::as_str);
        let scene = Scene { drawn: &drawn, schema: &schema, own: player.follow, own_state: None, names: &names };
        draw_scene::<G>(&view, &scene);
        let (first, last_tick) = (player.replay.first_tick(), player.replay.last_tick());
        let following = player.follow.and_then(|id| players.get(&id)).map_or("free camera", String::as_str);
        draw_hud(&format!(
            "{}  tick {} / {}   {:.1} s   speed {}x   entities {}   players {}   {}",
            if player.playing { "playing" } else { "paused" },
            player.state.tick,
            last_tick,
            f64::from(player.state.tick.saturating_sub(first)) / rate,
            player.speed,
            drawn.len(),
            players.len(),
            following,
        ));
        draw_chat(player.chat.iter().map(|(f, t)| (f.as_str(), t.as_str())), screen_height() - BAR_HEIGHT - 10.0);
        // The timeline: recorded span, keyframes, and where we are.
        let bar_y = screen_height() - BAR_HEIGHT;
        draw_rectangle(0.0, bar_y, screen_width(), BAR_HEIGHT, Color::from_rgba(0, 0, 0, 200));
        let span = (last_tick - first).max(1) as f32;
        for (tick, _) in player.replay.keyframes() {
            let x = (tick - first) as f32 / span * screen_width();
            draw_line(x, bar_y, x, bar_y + 5.0, 1.0, GRAY);
        }
        let done = (player.state.tick.saturating_sub(first)) as f32 / span * screen_width();
        draw_rectangle(0.0, bar_y + 6.0, done, BAR_HEIGHT - 10.0, Color::from_rgba(90, 160, 255, 255));
        if let Some(error) = &player.error {
            let size = measure_text(error, None, 22, 1.0);
            draw_text(error, (screen_width() - size.width) / 2.0, screen_height() / 2.0, 22.0, RED);
        }
        let spare = (std::time::Duration::from_secs(1) / MAX_FPS).saturating_sub(now.elapsed());
        std::thread::sleep(spare);
        next_frame().await;
    }
}
