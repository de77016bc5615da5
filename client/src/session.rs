//! A playing session: login, connect, then per tick read the network,
//! update the world and send inputs (each packet repeating the last few).
//!
//! A session that logged in with a password comes back by itself when its
//! connection is lost (no word from the server for [`LINK_DEAD_AFTER`], or
//! it shut down): it gives the link up and logs in
//! again on a background thread — through the same auth URL, so a cluster's
//! director places it on a live server — connects, and plays on, for up to
//! [`REJOIN_LIMIT`]. Meanwhile [`Session::update`] answers `Ok` and inputs
//! are not sent; [`Session::rejoining`] says so. A server that says why it
//! dropped the player (kicked, logged in elsewhere) is final.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tickforge_shared::protocol::{
    Channel, ClientMessage, INPUT_REDUNDANCY, InputCmd, MAX_CHAT_CHARS, OwnState, ServerMessage,
};
use tickforge_shared::sim::{Body, Intent, Vec2};

use crate::interpolate::{self, Drawn, ServerClock};
use crate::login::{AuthClient, Login, LoginError};
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
    /// The connection was lost without the server saying why (or the server
    /// shut down); a password session comes back by itself until [`REJOIN_LIMIT`].
    #[error("connection lost: {0}")]
    Lost(String),
}

/// Chat lines a session between servers keeps for the next one (the
/// server's chat burst).
pub const CHAT_HELD: usize = 20;

/// Two closes without a reason this close together mean another session
/// of the account is taking the connection over.
const TAKEN_OVER_WINDOW: Duration = Duration::from_secs(30);

/// How long a lost session keeps trying to come back.
pub const REJOIN_LIMIT: Duration = Duration::from_secs(60);

/// Silence after which a session that can log in again gives its link up
/// (long before the netcode timeout): a server sends snapshots many times
/// a second, so this long without one is a dead link or a dead server.
pub const LINK_DEAD_AFTER: Duration = Duration::from_secs(3);

/// Where the session is with its server.
#[derive(Debug)]
enum Link {
    /// Connected or connecting to the server of the last login.
    Live,
    /// Lost; a login runs on a background thread.
    Rejoining {
        /// When the connection was given up.
        since: Instant,
        /// The login's answer.
        login: std::sync::mpsc::Receiver<Result<Login, LoginError>>,
    },
}

/// Logs in again after a loss: with the resume token when there is one
/// (no password sent), else — or if it is refused — with the password.
fn come_back(
    options: &LoginOptions,
    resume: Option<&str>,
    unreachable: std::net::SocketAddr,
) -> Result<Login, SessionError> {
    if let Some(token) = resume {
        let auth = match &options.ca_cert {
            Some(pem) => AuthClient::with_ca_pem(&options.server_url, pem)?,
            None => AuthClient::new(&options.server_url),
        };
        match auth.resume(token, Some(unreachable)) {
            Ok(login) => return Ok(login),
            Err(LoginError::InvalidCredentials) => {
                tracing::info!("resume token refused; logging in with the password");
            }
            Err(e) => return Err(e.into()),
        }
    }
    login_patiently(&LoginOptions { register: false, ..options.clone() }, REJOIN_LIMIT)
}

/// Logs in with `options`, waiting out busy servers, for up to `limit`.
fn login_patiently(options: &LoginOptions, limit: Duration) -> Result<Login, SessionError> {
    let auth = match &options.ca_cert {
        Some(pem) => AuthClient::with_ca_pem(&options.server_url, pem)?,
        None => AuthClient::new(&options.server_url),
    };
    let deadline = Instant::now() + limit;
    let mut register = options.register;
    loop {
        let attempt = if register {
            auth.register_and_login(&options.username, &options.password)
        } else {
            auth.login(&options.username, &options.password)
        };
        match attempt {
            // A busy server (its hashing queue full, or no game server
            // with room) says when to come back: wait as told.
            Err(LoginError::Busy { retry_after }) if Instant::now() + retry_after < deadline => {
                std::thread::sleep(retry_after);
            }
            other => return Ok(other?),
        }
        // Registered already, or about to be: from now on only log in.
        register = false;
    }
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
    /// Chat said between servers, for the next one.
    held_chat: VecDeque<String>,
    /// When a server last closed the connection without saying why.
    closed_silently: Option<Instant>,
    /// How to log in again (`None`: a session from a bare token).
    options: Option<LoginOptions>,
    /// The short-lived token to log in again without the password (used
    /// first; the password only if it is refused).
    resume_token: Option<String>,
    link: Link,
    /// When the server was last heard from with a snapshot.
    last_heard: Instant,
    /// When the current outage began (the last snapshot before it).
    outage_from: Option<Instant>,
    /// Snapshots applied on connections before the current one.
    snapshots_earlier: u64,
    /// The server this session is being moved to, and since when.
    moving: Option<(String, Instant)>,
    /// The own avatar's last state on the server before the latest move.
    pub before_move: Option<tickforge_shared::protocol::OwnState>,
    /// Times the session came back after losing its connection.
    pub reconnects: u32,
    /// Times a server moved the session to another (blue-green handoff).
    pub transfers: u32,
    /// Moves after which the new server's first state of the own avatar
    /// differed from the old server's last (position or velocity).
    pub transfer_mismatches: u32,
    /// The longest time without the world during a move, from the last
    /// snapshot on the old server to the first on the new one.
    pub longest_transfer_pause: Duration,
    /// The longest time without the world, from the last snapshot before
    /// a loss to the welcome after it.
    pub longest_outage: Duration,
    /// The most play a loss took back: how long before the last state seen
    /// the state the session came back to was (zero: exactly where it was).
    pub longest_rewind: Duration,
}

impl Session {
    /// Logs in (registering first if asked) and starts the UDP handshake.
    /// The session remembers how, to come back after a lost connection.
    pub fn login(options: &LoginOptions) -> Result<Self, SessionError> {
        let login = login_patiently(options, Duration::from_secs(60))?;
        let mut session = Self::connect(&login.connect_token)?;
        session.options = Some(options.clone());
        session.resume_token = login.resume_token;
        Ok(session)
    }

    /// Starts the UDP handshake with a connect token.
    pub fn connect(token: &[u8]) -> Result<Self, SessionError> {
        Ok(Self {
            options: None,
            resume_token: None,
            link: Link::Live,
            last_heard: Instant::now(),
            outage_from: None,
            snapshots_earlier: 0,
            moving: None,
            before_move: None,
            transfers: 0,
            transfer_mismatches: 0,
            longest_transfer_pause: Duration::ZERO,
            reconnects: 0,
            longest_outage: Duration::ZERO,
            longest_rewind: Duration::ZERO,
            conn: Connection::connect(token)?,
            world: ClientWorld::default(),
            predictor: Predictor::default(),
            clock: ServerClock::default(),
            started: Instant::now(),
            feel: FeelStats::default(),
            next_seq: 1,
            recent: VecDeque::with_capacity(INPUT_REDUNDANCY),
            scratch: Vec::new(),
            held_chat: VecDeque::new(),
            closed_silently: None,
            drawn: Vec::new(),
        })
    }

    /// Pumps the network until connected, welcomed and shown the own
    /// avatar (the first snapshot), or `timeout`.
    pub fn wait_connected(&mut self, timeout: Duration) -> Result<(), SessionError> {
        let start = Instant::now();
        let step = Duration::from_millis(5);
        while self.world.own_entity.is_none() || self.world.own.is_none() {
            if start.elapsed() > timeout {
                return Err(SessionError::ConnectTimeout(timeout, self.conn.is_connected()));
            }
            self.update(step)?;
            std::thread::sleep(step);
        }
        Ok(())
    }

    /// The server the session is moving to (a handoff in progress).
    pub fn moving(&self) -> Option<&str> {
        self.moving.as_ref().map(|(server, _)| server.as_str())
    }

    /// The server asked us to move: connect to the target with its token
    /// (dropping the old connection says goodbye), and start afresh there.
    /// The pause is counted from when the server froze the own avatar.
    fn move_to(&mut self, transfer: crate::world::Transfer) -> Result<(), SessionError> {
        let crate::world::Transfer { connect_token, server, frozen } = transfer;
        tracing::info!(%server, "moving to another server");
        self.conn = Connection::connect(&connect_token)?;
        // Snapshots that came with the transfer are applied: this is the
        // frozen state the new server starts from.
        self.before_move = self.world.own;
        self.fresh_world();
        let now = Instant::now();
        self.outage_from.get_or_insert(now.checked_sub(frozen).unwrap_or(now));
        self.moving = Some((server, now));
        Ok(())
    }

    /// Forgets the world of the last server (counting its snapshots).
    fn fresh_world(&mut self) {
        // The new link's silence counts from its start.
        self.last_heard = Instant::now();
        self.snapshots_earlier += self.world.snapshots;
        // The chat is the cluster's: it goes on where it was; the score is
        // the player's (the new server's first snapshot confirms it).
        let chat = std::mem::take(&mut self.world.chat);
        let chat_new = std::mem::take(&mut self.world.chat_new);
        let score = self.world.score;
        self.world = ClientWorld { chat, chat_new, score, ..ClientWorld::default() };
        self.predictor = Predictor::default();
        self.clock = ServerClock::default();
        self.next_seq = 1;
        self.recent.clear();
    }

    /// Whether the session is coming back after a lost connection (and since when).
    pub fn rejoining(&self) -> Option<Instant> {
        match &self.link {
            Link::Rejoining { since, .. } => Some(*since),
            Link::Live if self.outage_from.is_some() => self.outage_from,
            Link::Live => None,
        }
    }

    /// Gives up the lost connection and logs in again in the background.
    fn start_rejoin(&mut self, options: LoginOptions) {
        let (tx, login) = std::sync::mpsc::sync_channel(1);
        let resume = self.resume_token.take();
        let lost = self.conn.server_addr();
        std::thread::spawn(move || {
            let result = come_back(&options, resume.as_deref(), lost).map_err(|e| match e {
                SessionError::Login(e) => e,
                other => LoginError::Transport { url: options.server_url.clone(), reason: other.to_string() },
            });
            let _ = tx.send(result);
        });
        self.outage_from.get_or_insert(self.last_heard);
        self.link = Link::Rejoining { since: Instant::now(), login };
    }

    /// While rejoining: waits for the login, then connects afresh.
    fn poll_rejoin(&mut self) -> Result<(), SessionError> {
        let Link::Rejoining { since, login } = &self.link else { return Ok(()) };
        let since = *since;
        let answer = match login.try_recv() {
            Ok(answer) => answer,
            Err(std::sync::mpsc::TryRecvError::Empty) => return Ok(()),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                Err(LoginError::Transport { url: String::new(), reason: "login thread ended".into() })
            }
        };
        let outage = self.outage_from.map_or(Duration::ZERO, |from| from.elapsed());
        match answer {
            Ok(login) => {
                tracing::info!(servers = ?login.servers, "logged in again; reconnecting");
                self.resume_token = login.resume_token.clone();
                self.conn = Connection::connect(&login.connect_token)?;
                self.fresh_world();
                self.moving = None;
                self.link = Link::Live;
                Ok(())
            }
            // Worth another round while the limit lasts: the auth API was
            // unreachable or had no room yet.
            Err(LoginError::Transport { .. } | LoginError::Busy { .. }) if outage < REJOIN_LIMIT => {
                if since.elapsed() >= Duration::from_secs(1)
                    && let Some(options) = self.options.clone()
                {
                    self.start_rejoin(options);
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the network and applies what arrived. A lost connection of a
    /// password session starts the way back instead of failing.
    pub fn update(&mut self, dt: Duration) -> Result<(), SessionError> {
        if matches!(self.link, Link::Rejoining { .. }) {
            return self.poll_rejoin();
        }
        match self.update_live(dt) {
            Err(SessionError::Lost(reason))
                if self.options.is_some()
                    && self.outage_from.map_or(Duration::ZERO, |from| from.elapsed()) < REJOIN_LIMIT =>
            {
                tracing::warn!(%reason, "connection lost; logging in again");
                if let Some(options) = self.options.clone() {
                    self.start_rejoin(options);
                }
                Ok(())
            }
            other => other,
        }
    }

    fn update_live(&mut self, dt: Duration) -> Result<(), SessionError> {
        let snapshots = self.world.snapshots;
        let welcomed = self.world.own_entity.is_some();
        let received = self.conn.update(dt, &mut self.scratch);
        for message in self.scratch.drain(..) {
            self.world.apply(message);
        }
        // A welcome after a long claim is word from the server too.
        if !welcomed && self.world.own_entity.is_some() {
            self.last_heard = Instant::now();
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
        if let Some(transfer) = self.world.transfer.take() {
            return self.move_to(transfer);
        }
        if self.is_welcomed() {
            while let Some(text) = self.held_chat.pop_front() {
                self.conn.send(Channel::Reliable, &ClientMessage::Chat { text });
            }
        }
        if self.world.snapshots != snapshots {
            self.last_heard = Instant::now();
            if self.world.own_entity.is_some()
                && let Some(from) = self.outage_from.take()
            {
                if let Some((server, _)) = self.moving.take() {
                    self.transfers += 1;
                    // The new server must start exactly where the old one froze.
                    let exact = |a: &OwnState, b: &OwnState| (a.pos, a.vel) == (b.pos, b.vel);
                    if let (Some(before), Some(now)) = (&self.before_move, &self.world.own)
                        && !exact(before, now)
                    {
                        self.transfer_mismatches += 1;
                        tracing::warn!(?before, ?now, "moved, but not to the state the old server froze");
                    }
                    self.longest_transfer_pause = self.longest_transfer_pause.max(from.elapsed());
                    tracing::info!(%server, pause = ?from.elapsed(), "moved; playing on");
                } else {
                    self.reconnects += 1;
                    self.longest_outage = self.longest_outage.max(from.elapsed());
                    // The state was saved `state_age` before the welcome;
                    // the last one seen was `outage` before it.
                    let rewind = self.world.state_age.saturating_sub(from.elapsed());
                    self.longest_rewind = self.longest_rewind.max(rewind);
                    tracing::info!(outage = ?from.elapsed(), ?rewind, "back in the world");
                }
            }
        }
        // Checked after reading: a client that itself stalled has read
        // what waited in its socket by now.
        if self.options.is_some() && self.world.own_entity.is_some() && self.last_heard.elapsed() > LINK_DEAD_AFTER {
            return Err(SessionError::Lost(format!("no word from the server for {} s", LINK_DEAD_AFTER.as_secs())));
        }
        // Inputs go out as they are made (`send_input` flushes); reads in
        // between send only what is due: acknowledgements, chat.
        let every = Duration::from_secs_f32(self.tick_dt().min(1.0 / 30.0));
        let outcome = received.and_then(|()| self.conn.flush_due(every));
        let ended = outcome.is_err() || self.conn.is_disconnected();
        match (ended, &self.world.disconnect_reason) {
            // A server shutting down hands its players to the rest of the cluster.
            (true, Some(reason)) if reason == tickforge_shared::protocol::SHUTTING_DOWN => {
                Err(SessionError::Lost(reason.clone()))
            }
            // The server said why before it closed: that is the better reason.
            (true, Some(reason)) => Err(NetError::Disconnected(reason.clone()).into()),
            // Closed without a word twice in a short while: another session
            // of this account keeps taking the connection over, and coming
            // back would only take it back. (Once is a lost reason: come back.)
            (true, None)
                if self.conn.closed_by_server()
                    && self
                        .closed_silently
                        .replace(Instant::now())
                        .is_some_and(|at| at.elapsed() < TAKEN_OVER_WINDOW) =>
            {
                Err(NetError::Disconnected("another session of this account took the connection over".into()).into())
            }
            (true, None) => {
                Err(SessionError::Lost(outcome.err().map_or_else(|| "connection closed".to_owned(), |e| e.to_string())))
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
        // Nothing to steer before the welcome (after a move or a rejoin the
        // new server's avatar is not ours yet): inputs sent then would move
        // it before the client predicts it, away from the state it loaded.
        if matches!(self.link, Link::Rejoining { .. }) || self.world.own_entity.is_none() {
            return Ok(());
        }
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
        // A connection that just ended is reported by the next update,
        // which knows whether to come back.
        if let Err(e) = self.conn.flush() {
            tracing::debug!(error = %e, "input not sent");
        }
        Ok(())
    }

    /// Sends a chat line (cut to the protocol limit). Said while the
    /// session is between servers (moving, coming back), it waits for the
    /// welcome there (the last [`CHAT_HELD`] lines are kept).
    pub fn send_chat(&mut self, text: &str) {
        let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
        if self.is_welcomed() && self.held_chat.is_empty() {
            self.conn.send(Channel::Reliable, &ClientMessage::Chat { text });
            return;
        }
        if self.held_chat.len() == CHAT_HELD {
            self.held_chat.pop_front();
        }
        self.held_chat.push_back(text);
    }

    /// Whether the server has welcomed this connection (inputs and chat go through).
    fn is_welcomed(&self) -> bool {
        matches!(self.link, Link::Live) && self.conn.is_connected() && self.world.own_entity.is_some()
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

    /// Whether the handshake is done (and the session is not rejoining).
    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Live) && self.conn.is_connected()
    }

    /// How long since the last snapshot arrived.
    pub fn silence(&self) -> Duration {
        self.last_heard.elapsed()
    }

    /// Snapshots applied over the whole session, every connection counted.
    pub fn snapshots_total(&self) -> u64 {
        self.snapshots_earlier + self.world.snapshots
    }

    /// The game server this session plays on (or is connecting to).
    pub fn server_addr(&self) -> std::net::SocketAddr {
        self.conn.server_addr()
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
