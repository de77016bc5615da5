//! A playing session: login, connect, then per tick read the network,
//! update the world and send inputs (each packet repeating the last few).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tickforge_shared::protocol::{Channel, ClientMessage, INPUT_REDUNDANCY, InputCmd, MAX_CHAT_CHARS, ServerMessage};
use tickforge_shared::sim::{Body, Intent, Vec2};

use crate::interpolate::{self, Drawn, ServerClock};
use crate::login::{AuthClient, LoginError};
use crate::net::{Connection, NetError};
use crate::predict::Predictor;
use crate::world::ClientWorld;

/// Why a session could not start or ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Login or registration failed.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// The transport failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The handshake, or the welcome after it, did not come in time.
    #[error("no connection to the game server within {0:?} (handshake done: {1}; is UDP reachable?)")]
    ConnectTimeout(Duration, bool),
}

/// The usual gap between snapshots, in ticks (median of recent gaps).
fn snapshot_interval_ticks(world: &ClientWorld) -> f64 {
    let mut gaps: Vec<u32> = world.history.iter().zip(world.history.iter().skip(1)).map(|(a, b)| b.0 - a.0).collect();
    if gaps.is_empty() {
        return 1.0;
    }
    gaps.sort_unstable();
    f64::from(gaps[gaps.len() / 2].max(1))
}

/// How to log in.
#[derive(Clone)]
pub struct LoginOptions {
    /// Auth API base URL.
    pub server_url: String,
    /// Account name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Create the account first if it does not exist.
    pub register: bool,
    /// PEM CA certificate(s) to trust for an HTTPS auth server.
    pub ca_cert: Option<Vec<u8>>,
}

/// Netcode figures the session keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FeelStats {
    /// Current interpolation delay in milliseconds.
    pub interp_delay_ms: f64,
    /// Total time spent with no newer snapshot to interpolate toward.
    pub extrapolating: Duration,
    /// The current stretch with entities held still (past the extrapolation limit).
    pub freeze: Duration,
    /// The longest such stretch so far.
    pub longest_freeze: Duration,
}

impl std::fmt::Debug for LoginOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOptions")
            .field("server_url", &self.server_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("register", &self.register)
            .finish_non_exhaustive()
    }
}

/// A connected (or connecting) player.
#[derive(Debug)]
pub struct Session {
    conn: Connection,
    /// What the server has told us.
    pub world: ClientWorld,
    /// The own avatar's prediction.
    pub predictor: Predictor,
    clock: ServerClock,
    started: Instant,
    /// Interpolation figures.
    pub feel: FeelStats,
    next_seq: u32,
    recent: VecDeque<InputCmd>,
    scratch: Vec<ServerMessage>,
    drawn: Vec<Drawn>,
}

impl Session {
    /// Logs in (registering first if asked) and starts the UDP handshake.
    pub fn login(options: &LoginOptions) -> Result<Self, SessionError> {
        let auth = match &options.ca_cert {
            Some(pem) => AuthClient::with_ca_pem(&options.server_url, pem)?,
            None => AuthClient::new(&options.server_url),
        };
        // A busy server (its hashing queue full) says when to come back;
        // wait as told, for up to a minute, instead of giving up at once.
        let deadline = Instant::now() + Duration::from_secs(60);
        let login = loop {
            let attempt = if options.register {
                auth.register_and_login(&options.username, &options.password)
            } else {
                auth.login(&options.username, &options.password)
            };
            match attempt {
                Err(LoginError::Busy { retry_after }) if Instant::now() + retry_after < deadline => {
                    std::thread::sleep(retry_after);
                }
                other => break other?,
            }
        };
        Self::connect(&login.connect_token)
    }

    /// Starts the UDP handshake with a connect token.
    pub fn connect(token: &[u8]) -> Result<Self, SessionError> {
        Ok(Self {
            conn: Connection::connect(token)?,
            world: ClientWorld::default(),
            predictor: Predictor::default(),
            clock: ServerClock::default(),
            started: Instant::now(),
            feel: FeelStats::default(),
            next_seq: 1,
            recent: VecDeque::with_capacity(INPUT_REDUNDANCY),
            scratch: Vec::new(),
            drawn: Vec::new(),
        })
    }

    /// Pumps the network until connected and welcomed, or `timeout`.
    pub fn wait_connected(&mut self, timeout: Duration) -> Result<(), SessionError> {
        let start = Instant::now();
        let step = Duration::from_millis(5);
        while self.world.own_entity.is_none() {
            if start.elapsed() > timeout {
                return Err(SessionError::ConnectTimeout(timeout, self.conn.is_connected()));
            }
            self.update(step)?;
            std::thread::sleep(step);
        }
        Ok(())
    }

    /// Reads the network and applies what arrived.
    pub fn update(&mut self, dt: Duration) -> Result<(), SessionError> {
        let received = self.conn.update(dt, &mut self.scratch);
        for message in self.scratch.drain(..) {
            self.world.apply(message);
        }
        let now = self.started.elapsed().as_secs_f64();
        if self.world.tick_rate > 0 {
            // Until the welcome says the tick rate, ticks cannot be timed.
            self.clock.dt = self.tick_dt() as f64;
            for tick in self.world.fresh_ticks.drain(..) {
                self.clock.observe(tick, now);
            }
        }
        if let Some((own, ack)) = self.world.fresh_own.take() {
            self.predictor.reconcile(Body { pos: own.pos, vel: own.vel }, ack, self.tick_dt());
        }
        let outcome = received.and_then(|()| self.conn.flush());
        let ended = outcome.is_err() || self.conn.is_disconnected();
        match (ended, &self.world.disconnect_reason) {
            // The server said why before it closed: that is the better reason.
            (true, Some(reason)) => Err(NetError::Disconnected(reason.clone()).into()),
            (true, None) => {
                Err(outcome.err().unwrap_or_else(|| NetError::Disconnected("connection lost".into())).into())
            }
            (false, _) => Ok(()),
        }
    }

    /// Seconds per server tick.
    pub fn tick_dt(&self) -> f32 {
        tickforge_shared::sim::tick_dt(self.world.tick_rate)
    }

    /// Sends this tick's input (with the previous few repeated) and applies
    /// it to the own avatar's prediction at once. Raw input (two keys give
    /// (1, 1)) goes through the shared [`Intent::check`] first, so the
    /// server gets a direction it accepts as is and the prediction applies
    /// exactly what the server will; input the rule refuses is sent as
    /// standing still.
    pub fn send_input(&mut self, move_x: f32, move_y: f32) -> Result<(), SessionError> {
        let wire = Intent::new(move_x, move_y).vector();
        self.send_raw_input(wire.x, wire.y)
    }

    /// Sends the values as given, unchecked (the headless cheat modes use
    /// this to test the server). The prediction applies what the server's
    /// check will make of them.
    pub fn send_raw_input(&mut self, move_x: f32, move_y: f32) -> Result<(), SessionError> {
        let now = self.started.elapsed().as_secs_f64();
        let tick = self.clock.server_tick_now(now).map_or(self.world.server_tick, |t| t.max(0.0) as u32);
        let cmd = InputCmd { seq: self.next_seq, tick, move_x, move_y };
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.recent.len() == INPUT_REDUNDANCY {
            self.recent.pop_front();
        }
        self.recent.push_back(cmd);
        self.predictor.input(cmd.seq, Intent::new(move_x, move_y), self.tick_dt());
        let message =
            ClientMessage::Input { ack_tick: self.world.acked_tick(), inputs: self.recent.iter().copied().collect() };
        self.conn.send(Channel::Input, &message);
        self.conn.flush()?;
        Ok(())
    }

    /// Sends a chat line (cut to the protocol limit).
    pub fn send_chat(&mut self, text: &str) {
        let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
        self.conn.send(Channel::Reliable, &ClientMessage::Chat { text });
    }

    /// What to draw now: remote entities interpolated at the adaptive delay,
    /// the own avatar predicted and smoothed. `frame_dt` is the time since
    /// the last call.
    pub fn frame(&mut self, frame_dt: Duration) -> &[Drawn] {
        self.predictor.smooth(frame_dt.as_secs_f32());
        let now = self.started.elapsed().as_secs_f64();
        let dt = self.tick_dt() as f64;
        let Some((offset, jitter)) = self.clock.offset_and_jitter() else {
            self.drawn.clear();
            return &self.drawn;
        };
        // Two snapshot intervals (one lost snapshot does not starve the
        // interpolation), or more when the measured jitter asks for it.
        let interval = snapshot_interval_ticks(&self.world) * dt;
        let delay = (2.0 * interval).max(interval + 2.0 * jitter) + 0.005;
        self.feel.interp_delay_ms = delay * 1000.0;
        let render_tick = (now - offset - delay) / dt;
        match interpolate::sample(&self.world.history, render_tick, &mut self.drawn) {
            interpolate::Sampled::Interpolated => self.feel.freeze = Duration::ZERO,
            interpolate::Sampled::Extrapolated => self.feel.extrapolating += frame_dt,
            interpolate::Sampled::Held => {
                self.feel.extrapolating += frame_dt;
                self.feel.freeze += frame_dt;
                self.feel.longest_freeze = self.feel.longest_freeze.max(self.feel.freeze);
            }
        }
        if let (Some(own), Some(pos)) = (self.world.own_entity, self.predictor.display_pos()) {
            self.drawn.retain(|d| d.id != own);
            self.drawn.push(Drawn { id: own, kind: tickforge_shared::protocol::EntityKind::Avatar, pos });
        }
        &self.drawn
    }

    /// The own avatar's drawn position.
    pub fn own_display_pos(&self) -> Option<Vec2> {
        self.predictor.display_pos()
    }

    /// Whether the handshake is done.
    pub fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }

    /// Round-trip time in milliseconds.
    pub fn rtt_ms(&self) -> f64 {
        self.conn.rtt_ms()
    }

    /// Messages received on the reliable channel so far.
    pub fn reliable_received(&self) -> u64 {
        self.conn.reliable_received
    }

    /// Bytes per second received.
    pub fn bytes_in_per_s(&self) -> f64 {
        self.conn.bytes_in_per_s()
    }

    /// Bytes per second sent.
    pub fn bytes_out_per_s(&self) -> f64 {
        self.conn.bytes_out_per_s()
    }

    /// Leaves the server politely.
    pub fn disconnect(&mut self) {
        self.conn.disconnect();
    }
}
