//! The headless runner: scripted movement for a fixed time, one JSON line
//! of stats per second on stdout and a final summary line.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;
use tickforge_client_core::game::ClientGame;
use tickforge_shared::sim::{Simulation, Vec2};

use crate::chatcheck::ChatCheck;
use crate::moves::{Cheat, Mover};
use crate::session::{GameSession, SessionError};

/// Per-second stats line.
#[derive(Debug, Clone, Serialize)]
pub struct SecondStats {
    /// Seconds since the run started.
    pub t: u64,
    /// Handshake complete.
    pub connected: bool,
    /// Newest server tick seen.
    pub server_tick: u32,
    /// Round-trip time.
    pub rtt_ms: f64,
    /// Entities in the newest snapshot.
    pub entities: usize,
    /// Players on the roster.
    pub players: usize,
    /// Snapshots applied during this second.
    pub snapshots_per_s: u64,
    /// Bytes received per second.
    pub bytes_in_per_s: f64,
    /// Our avatar's position.
    pub own_position: Option<[f32; 2]>,
    /// Our score.
    pub score: u32,
    /// Own-avatar corrections beyond one quantization step, so far.
    pub mispredictions: Mispredictions,
    /// Sum of own-avatar correction distances during this second (world units).
    pub correction_distance: f32,
    /// Current interpolation delay.
    pub interp_delay_ms: f64,
    /// Time during this second with no newer snapshot to interpolate toward.
    pub extrapolating_ms: f64,
    /// Snapshots dropped (unknown baseline or undecodable), so far.
    pub bad_snapshots: u64,
}

/// Own-avatar mispredictions.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Mispredictions {
    /// Corrections larger than one quantization step.
    pub count: u64,
    /// Largest correction, in world units.
    pub max_distance: f32,
}

/// How much another player's avatar was seen to move.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OtherPlayer {
    /// Distance between first and last seen positions.
    pub moved: f32,
    /// Snapshots it appeared in.
    pub seen_in: u64,
}

/// The final line.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always true: marks the summary line.
    pub summary: bool,
    /// Whether the client connected at all.
    pub connected: bool,
    /// Snapshots applied in total.
    pub snapshots: u64,
    /// Seconds run.
    pub duration_s: f64,
    /// Most entities seen in one snapshot.
    pub max_entities: usize,
    /// Our avatar's position when play started.
    pub start_position: Option<[f32; 2]>,
    /// Our avatar's last position.
    pub own_position: Option<[f32; 2]>,
    /// How far our avatar travelled: the server's positions of it, one
    /// snapshot to the next, summed (world units).
    pub path_length: f32,
    /// Our final score.
    pub score: u32,
    /// Own-avatar mispredictions over the run.
    pub mispredictions: Mispredictions,
    /// Most extrapolation in any one second, in milliseconds.
    pub max_extrapolating_ms: f64,
    /// Longest stretch with remote entities held still (past the
    /// extrapolation limit), in milliseconds.
    pub longest_freeze_ms: f64,
    /// Other players' avatars, by name.
    pub others: HashMap<String, OtherPlayer>,
    /// Numbered chat lines (from `--chat-rate` senders) received.
    pub chat_received: u64,
    /// Numbered chat lines that arrived out of order or with a gap (the
    /// reliable channel must deliver each sender's lines exactly in order).
    pub chat_out_of_order: u64,
    /// Times the connection was lost and the client came back by itself.
    pub reconnects: u32,
    /// Times a draining server moved the client to another (blue-green).
    pub transfers: u32,
    /// Moves after which the own avatar did not start exactly where the old
    /// server froze it.
    pub transfer_mismatches: u32,
    /// The longest time without the world during a move, in milliseconds.
    pub longest_transfer_pause_ms: f64,
    /// The longest time without the world (last snapshot before a loss to
    /// the welcome after it), in milliseconds.
    pub longest_outage_ms: f64,
    /// The most play a loss took back: the age of the state the client came
    /// back to, relative to the last it saw, in milliseconds.
    pub longest_rewind_ms: f64,
    /// Why the run ended early, if it did.
    pub error: Option<String>,
}

impl Summary {
    /// Whether the run counts as a success (connected and saw the world).
    pub fn ok(&self) -> bool {
        self.connected && self.snapshots > 0 && self.error.is_none()
    }
}

fn pos(v: Vec2) -> [f32; 2] {
    [v.x, v.y]
}

/// What the headless run does besides moving.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Behaviour {
    /// Misbehave on purpose.
    pub cheat: Option<Cheat>,
    /// Numbered chat lines to send per second (0: none).
    pub chat_rate: f32,
}

/// Plays game `G` for `duration` as its bot does ([`ClientGame::bot`],
/// moving as `mover` says), writing stats lines to `out`.
pub fn run<G: ClientGame>(
    session: &mut GameSession<G>,
    mover: &mut Mover,
    behaviour: Behaviour,
    duration: Duration,
    out: &mut impl Write,
) -> Summary {
    let cheat = behaviour.cheat;
    let start = Instant::now();
    let mut summary = Summary {
        summary: true,
        connected: false,
        snapshots: 0,
        duration_s: 0.0,
        max_entities: 0,
        start_position: None,
        own_position: None,
        path_length: 0.0,
        score: 0,
        mispredictions: Mispredictions { count: 0, max_distance: 0.0 },
        max_extrapolating_ms: 0.0,
        longest_freeze_ms: 0.0,
        others: HashMap::new(),
        chat_received: 0,
        chat_out_of_order: 0,
        reconnects: 0,
        longest_outage_ms: 0.0,
        longest_rewind_ms: 0.0,
        transfers: 0,
        transfer_mismatches: 0,
        longest_transfer_pause_ms: 0.0,
        error: None,
    };
    let mut first_seen: HashMap<String, Vec2> = HashMap::new();
    let tick_rate = session.world.tick_rate.max(1);
    let dt = Duration::from_secs(1) / u32::from(tick_rate);
    // A speed cheat sends inputs faster than the tick rate.
    let send_every = match cheat {
        Some(Cheat::Speed(factor)) => dt.div_f32(factor),
        _ => dt,
    };
    summary.start_position = session.world.own_state().map(|e| pos(e.pos));
    let mut next_tick = start;
    let mut next_report = start + Duration::from_secs(1);
    let mut snapshots_at_report = 0;
    let mut last_update = start;
    let mut seen_tick = 0;
    let mut last_own: Option<Vec2> = None;
    let mut correction_at_report = 0.0f32;
    let mut chat = ChatCheck::new();
    let mut extrapolating_at_report = Duration::ZERO;
    let mut bot = G::Bot::default();

    while start.elapsed() < duration {
        let now = Instant::now();
        if let Err(e) = session.update() {
            summary.error = Some(e.to_string());
            break;
        }
        let frame_dt = now - last_update;
        last_update = now;
        summary.connected |= session.is_connected();
        session.frame(frame_dt);

        if now >= next_tick {
            let (x, y) = mover.next(tick_rate);
            if cheat == Some(Cheat::Flood) {
                session.send_chat("flood");
            }
            if let Some(line) = chat.due(start.elapsed().as_secs_f32(), behaviour.chat_rate) {
                session.send_chat(&line);
            }
            // The honest path checks input before sending; the input
            // cheats send what no honest client would.
            match cheat {
                Some(Cheat::Teleport) => session.send_raw_input(x * 1000.0, y * 1000.0 + 1000.0),
                Some(Cheat::Nan) => session.send_raw_input(f32::NAN, f32::NAN),
                _ => {
                    let input = G::bot(&mut bot, Vec2::new(x, y), &session.world);
                    session.send(input);
                }
            }
            next_tick += send_every;
        }

        // Numbered lines from each sender must arrive as 1, 2, 3, ...
        for (from, text) in session.world.chat_new.drain(..) {
            chat.observe(&from, &text);
        }

        if session.reconnects != summary.reconnects || session.transfers != summary.transfers {
            // Back on a (maybe other) server: its ticks, our position and
            // the world's counters start over.
            summary.reconnects = session.reconnects;
            summary.transfers = session.transfers;
            seen_tick = 0;
            last_own = None;
            snapshots_at_report = 0;
            correction_at_report = 0.0;
        }
        let world = &session.world;
        if world.server_tick != seen_tick {
            seen_tick = world.server_tick;
            if let Some(own) = world.own_state() {
                if let Some(last) = last_own {
                    summary.path_length += last.distance(own.pos);
                }
                last_own = Some(own.pos);
            }
            summary.max_entities = summary.max_entities.max(world.entities.len());
            for (id, name) in &world.names {
                if Some(*id) == world.own_entity {
                    continue;
                }
                let Some(state) = world.entities.get(id).filter(|e| e.kind == G::Sim::PLAYER_KIND) else {
                    continue;
                };
                let origin = *first_seen.entry(name.clone()).or_insert(state.pos);
                let entry = summary.others.entry(name.clone()).or_insert(OtherPlayer { moved: 0.0, seen_in: 0 });
                entry.moved = origin.distance(state.pos);
                entry.seen_in += 1;
            }
        }

        if now >= next_report {
            let line = SecondStats {
                t: start.elapsed().as_secs(),
                connected: session.is_connected(),
                server_tick: world.server_tick,
                rtt_ms: (session.rtt_ms() * 10.0).round() / 10.0,
                entities: world.entities.len(),
                players: world.names.len(),
                snapshots_per_s: world.snapshots.saturating_sub(snapshots_at_report),
                bytes_in_per_s: session.bytes_in_per_s().round(),
                own_position: world.own_state().map(|e| pos(e.pos)),
                score: session.score(),
                mispredictions: Mispredictions {
                    count: session.predictor.mispredictions,
                    max_distance: session.predictor.max_correction,
                },
                correction_distance: session.predictor.correction_total - correction_at_report,
                interp_delay_ms: (session.feel.interp_delay_ms * 10.0).round() / 10.0,
                extrapolating_ms: (session.feel.extrapolating - extrapolating_at_report).as_secs_f64() * 1000.0,
                bad_snapshots: world.bad_snapshots,
            };
            snapshots_at_report = world.snapshots;
            correction_at_report = session.predictor.correction_total;
            extrapolating_at_report = session.feel.extrapolating;
            summary.max_extrapolating_ms = summary.max_extrapolating_ms.max(line.extrapolating_ms);
            let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
            let _ = out.flush();
            next_report += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(2).min(next_tick.saturating_duration_since(Instant::now())));
    }

    summary.chat_received = chat.received;
    summary.chat_out_of_order = chat.out_of_order;
    summary.snapshots = session.snapshots_total();
    summary.own_position = session.world.own_state().map(|e| pos(e.pos));
    summary.score = session.score();
    summary.longest_freeze_ms = session.feel.longest_freeze.as_secs_f64() * 1000.0;
    summary.reconnects = session.reconnects;
    summary.transfers = session.transfers;
    summary.transfer_mismatches = session.transfer_mismatches;
    summary.longest_transfer_pause_ms = (session.longest_transfer_pause.as_secs_f64() * 1000.0).round();
    summary.longest_outage_ms = (session.longest_outage.as_secs_f64() * 1000.0).round();
    summary.longest_rewind_ms = (session.longest_rewind.as_secs_f64() * 1000.0).round();
    summary.mispredictions =
        Mispredictions { count: session.predictor.mispredictions, max_distance: session.predictor.max_correction };
    summary.duration_s = (start.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    summary
}

/// Turns a startup failure into a summary, so scripts always get one line.
pub fn failed(error: &SessionError) -> Summary {
    Summary {
        summary: true,
        connected: false,
        snapshots: 0,
        duration_s: 0.0,
        max_entities: 0,
        start_position: None,
        own_position: None,
        path_length: 0.0,
        score: 0,
        mispredictions: Mispredictions { count: 0, max_distance: 0.0 },
        max_extrapolating_ms: 0.0,
        longest_freeze_ms: 0.0,
        others: HashMap::new(),
        chat_received: 0,
        chat_out_of_order: 0,
        reconnects: 0,
        longest_outage_ms: 0.0,
        longest_rewind_ms: 0.0,
        transfers: 0,
        transfer_mismatches: 0,
        longest_transfer_pause_ms: 0.0,
        error: Some(error.to_string()),
    }
}
