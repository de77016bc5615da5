//! A playing session, IO-free: per call read the network, update the
//! world and send inputs (each packet repeating the last few). Time is the
//! driver's `now` (from any fixed origin); the network is a [`Dialer`]'s
//! transports; logging in is the driver's too.
//!
//! A session that may log in again ([`Session::set_rejoinable`]) comes
//! back by itself when its connection is lost (no word from the server for
//! [`LINK_DEAD_AFTER`], or it shut down): it gives the link up and asks
//! its driver to log in again ([`Session::login_wanted`]) — through the
//! same auth URL, so a cluster's director places it on a live server —
//! then connects ([`Session::logged_in`]) and plays on, for up to
//! [`REJOIN_LIMIT`]. Meanwhile [`Session::update`] answers `Ok` and inputs
//! are not sent; [`Session::rejoining`] says so. A server that says why it
//! dropped the player (kicked, logged in elsewhere) is final.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tickforge_shared::protocol::{
    Channel, ClientMessage, INPUT_REDUNDANCY, InputCmd, InputMessage, MAX_CHAT_CHARS, OwnState, ServerMessage,
};
use tickforge_shared::sim::{Simulation, Vec2};

use crate::interpolate::{self, Drawn, ServerClock};
use crate::login::Login;
use crate::net::{Connection, NetError};
use crate::predict::Predictor;
use crate::transport::Dialer;
use crate::world::ClientWorld;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The transport failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The handshake, or the welcome after it, did not come in time.
    #[error("no connection to the game server within {0:?} (handshake done: {1}; is the server reachable?)")]
    ConnectTimeout(Duration, bool),
    /// The connection was lost without the server saying why (or the server
    /// shut down); a rejoinable session comes back by itself until [`REJOIN_LIMIT`].
    #[error("connection lost: {0}")]
    Lost(String),
}

/// Chat lines a session keeps until they come back numbered (the server's
/// chat burst, so saying them all again on a new connection is never
/// refused as a flood); past it the oldest is given up.
pub const CHAT_HELD: usize = 20;

/// Two closes without a reason this close together mean another session
/// of the account is taking the connection over.
const TAKEN_OVER_WINDOW: Duration = Duration::from_secs(30);

/// How long a lost session keeps trying to come back.
pub const REJOIN_LIMIT: Duration = Duration::from_secs(60);

/// How long after a failed attempt to come back the next one starts.
pub const REJOIN_RETRY: Duration = Duration::from_secs(1);

/// Silence after which a session that can log in again gives its link up
/// (long before the netcode timeout): a server sends snapshots many times
/// a second, so this long without one is a dead link or a dead server.
pub const LINK_DEAD_AFTER: Duration = Duration::from_secs(3);

/// What the driver is asked to do to bring a lost session back: log in
/// again, with the resume token if there is one (no password sent), else
/// — or if it is refused — with the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comeback {
    /// The short-lived resume token of the last login.
    pub resume_token: Option<String>,
    /// The server the link to was lost (the director tries it last).
    pub unreachable: SocketAddr,
}

/// Where the session is with its server.
#[derive(Debug)]
enum Link {
    /// Connected or connecting to the server of the last login.
    Live,
    /// Lost; the driver is logging in again.
    Rejoining {
        /// When the connection was given up.
        since: Duration,
        /// What to ask the driver for, once `at` has come.
        ask: Option<(Duration, Comeback)>,
    },
}

/// The usual gap between snapshots, in ticks (median of recent gaps).
fn snapshot_interval_ticks<S: Simulation>(world: &ClientWorld<S>) -> f64 {
    let mut gaps: Vec<u32> = world.history.iter().zip(world.history.iter().skip(1)).map(|(a, b)| b.0 - a.0).collect();
    if gaps.is_empty() {
        return 1.0;
    }
    gaps.sort_unstable();
    f64::from(gaps[gaps.len() / 2].max(1))
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

/// A connected (or connecting) player of a game whose shared simulation is `S`.
pub struct Session<D: Dialer, S: Simulation> {
    dialer: D,
    conn: Connection<D::Transport>,
    /// What the server has told us.
    pub world: ClientWorld<S>,
    /// The own player's prediction.
    pub predictor: Predictor<S>,
    clock: ServerClock,
    /// The usual gap between snapshots, in ticks (worked out once per
    /// snapshot applied, not per frame and input).
    interval_ticks: f64,
    /// Interpolation figures.
    pub feel: FeelStats,
    next_seq: u32,
    recent: VecDeque<InputCmd<S::Input>>,
    scratch: Vec<ServerMessage>,
    snapshot_scratch: Vec<renet::Bytes>,
    drawn: Vec<Drawn>,
    /// Our chat lines not yet seen come back numbered, oldest first, with
    /// their `seq`: said again on the next connection until they are.
    unconfirmed: VecDeque<(u64, String)>,
    /// How many of them went out on this connection.
    chat_sent_here: usize,
    /// Whether this connection was told where our chat stands.
    chat_from_sent: bool,
    /// The next line's `seq`: random high half (this session's own), count below.
    chat_seq: u64,
    /// Lines given up before they came back (more than [`CHAT_HELD`] unconfirmed).
    pub chat_given_up: u64,
    /// When a server last closed the connection without saying why.
    closed_silently: Option<Duration>,
    /// Whether the driver can log in again after a loss.
    rejoinable: bool,
    /// The short-lived token to log in again without the password (used
    /// first; the password only if it is refused).
    resume_token: Option<String>,
    link: Link,
    /// `now` at the last update.
    now: Duration,
    /// When the server was last heard from with a snapshot.
    last_heard: Duration,
    /// When the current outage began (the last snapshot before it).
    outage_from: Option<Duration>,
    /// Snapshots applied on connections before the current one.
    snapshots_earlier: u64,
    /// The server this session is being moved to, and since when.
    moving: Option<(String, Duration)>,
    /// The own avatar's last state on the server before the latest move.
    pub before_move: Option<OwnState<S::State>>,
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

impl<D: Dialer, S: Simulation> std::fmt::Debug for Session<D, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("conn", &self.conn).field("link", &self.link).finish_non_exhaustive()
    }
}

impl<D: Dialer, S: Simulation> Session<D, S> {
    /// Opens a transport with `dialer` and starts the handshake with a
    /// connect token (`ws`: the server's WebSocket URLs, for dialers that
    /// use them).
    pub fn connect(mut dialer: D, token: &[u8], ws: &[String], now: Duration) -> Result<Self, SessionError> {
        let conn = Connection::dial(&mut dialer, token, ws, now)?;
        Ok(Self {
            dialer,
            conn,
            rejoinable: false,
            resume_token: None,
            link: Link::Live,
            now,
            last_heard: now,
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
            world: ClientWorld::default(),
            predictor: Predictor::default(),
            clock: ServerClock::default(),
            interval_ticks: 1.0,
            feel: FeelStats::default(),
            next_seq: 1,
            recent: VecDeque::with_capacity(INPUT_REDUNDANCY),
            scratch: Vec::new(),
            snapshot_scratch: Vec::new(),
            unconfirmed: VecDeque::new(),
            chat_sent_here: 0,
            chat_from_sent: false,
            chat_seq: u64::from(u32::from_le_bytes(tickforge_netcode::random_bytes::<4>())) << 32 | 1,
            chat_given_up: 0,
            closed_silently: None,
            drawn: Vec::new(),
        })
    }

    /// Starts the handshake with the server a login chose; the session
    /// comes back by itself after a loss (the driver logs in again when
    /// [`Session::login_wanted`] says so).
    pub fn from_login(dialer: D, login: &Login, now: Duration) -> Result<Self, SessionError> {
        let mut session = Self::connect(dialer, &login.connect_token, &login.ws, now)?;
        session.rejoinable = true;
        session.resume_token = login.resume_token.clone();
        Ok(session)
    }

    /// Whether the session comes back after a loss (its driver can log in again).
    pub fn set_rejoinable(&mut self, rejoinable: bool) {
        self.rejoinable = rejoinable;
    }

    /// Whether the session has been welcomed and shown the own avatar.
    pub fn is_playing(&self) -> bool {
        self.world.own_entity.is_some() && self.world.own.is_some()
    }

    /// The handshake is done (for a timeout's message).
    pub fn handshake_done(&self) -> bool {
        self.conn.is_connected()
    }

    /// The server the session is moving to (a handoff in progress).
    pub fn moving(&self) -> Option<&str> {
        self.moving.as_ref().map(|(server, _)| server.as_str())
    }

    /// The server asked us to move: connect to the target with its token
    /// (dropping the old connection says goodbye), and start afresh there.
    /// The pause is counted from when the server froze the own avatar.
    fn move_to(&mut self, transfer: crate::world::Transfer) -> Result<(), SessionError> {
        let crate::world::Transfer { connect_token, server, ws, frozen } = transfer;
        tracing::info!(%server, "moving to another server");
        self.conn = match Connection::dial(&mut self.dialer, &connect_token, &ws, self.now) {
            Ok(conn) => conn,
            // The target cannot be reached this way: the cluster places
            // the player again (its state is saved there).
            Err(e) if self.rejoinable => {
                tracing::warn!(%server, error = %e, "cannot reach the server moved to; logging in again");
                self.start_rejoin();
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // Snapshots that came with the transfer are applied: this is the
        // frozen state the new server starts from.
        self.before_move = self.world.own;
        self.fresh_world();
        let now = self.now;
        self.outage_from.get_or_insert(now.checked_sub(frozen).unwrap_or(now));
        self.moving = Some((server, now));
        Ok(())
    }

    /// Forgets the world of the last server (counting its snapshots).
    fn fresh_world(&mut self) {
        // The new link's silence counts from its start.
        self.last_heard = self.now;
        self.snapshots_earlier += self.world.snapshots;
        // The chat is the cluster's: it goes on where it was (the new
        // connection is told where, and our unconfirmed lines go again);
        // the score is the player's (the new server's first snapshot
        // confirms it).
        let old = std::mem::take(&mut self.world);
        self.world.chat = old.chat;
        self.world.chat_new = old.chat_new;
        self.world.chat_last_id = old.chat_last_id;
        self.world.own_chat_seen = old.own_chat_seen;
        self.world.chat_repeats = old.chat_repeats;
        self.chat_sent_here = 0;
        self.chat_from_sent = false;
        self.predictor = Predictor::default();
        self.clock = ServerClock::default();
        self.interval_ticks = 1.0;
        self.next_seq = 1;
        self.recent.clear();
    }

    /// Whether the session is coming back after a lost connection (and
    /// since when, on the driver's clock).
    pub fn rejoining(&self) -> Option<Duration> {
        match &self.link {
            Link::Rejoining { since, .. } => Some(*since),
            Link::Live => self.outage_from,
        }
    }

    /// Gives up the lost connection and asks the driver to log in again.
    fn start_rejoin(&mut self) {
        let comeback = Comeback { resume_token: self.resume_token.take(), unreachable: self.conn.server_addr() };
        self.outage_from.get_or_insert(self.last_heard);
        self.link = Link::Rejoining { since: self.now, ask: Some((self.now, comeback)) };
    }

    /// A login the driver should make now to bring the session back
    /// (asked once per attempt; answer with [`Session::logged_in`] or
    /// [`Session::login_failed`]).
    pub fn login_wanted(&mut self) -> Option<Comeback> {
        let Link::Rejoining { ask, .. } = &mut self.link else { return None };
        match ask {
            Some((at, _)) if *at <= self.now => ask.take().map(|(_, comeback)| comeback),
            _ => None,
        }
    }

    /// The driver logged in again: connect afresh to the server it chose
    /// (one that cannot be reached counts as a failed login: another
    /// follows, with the resume token this login gave).
    pub fn logged_in(&mut self, login: &Login, now: Duration) -> Result<(), SessionError> {
        self.now = self.now.max(now);
        tracing::info!(servers = ?login.servers, "logged in again; reconnecting");
        self.resume_token = login.resume_token.clone();
        self.conn = match Connection::dial(&mut self.dialer, &login.connect_token, &login.ws, self.now) {
            Ok(conn) => conn,
            Err(e) => return self.login_failed(&format!("cannot reach the server: {e}"), now),
        };
        self.fresh_world();
        self.moving = None;
        self.link = Link::Live;
        Ok(())
    }

    /// The driver's login failed in a way worth another try (the auth API
    /// unreachable or busy). Another is asked for after [`REJOIN_RETRY`]
    /// while [`REJOIN_LIMIT`] lasts; after that the session is lost.
    pub fn login_failed(&mut self, reason: &str, now: Duration) -> Result<(), SessionError> {
        self.now = self.now.max(now);
        let outage = self.outage_from.map_or(Duration::ZERO, |from| self.now.saturating_sub(from));
        if outage >= REJOIN_LIMIT {
            return Err(SessionError::Lost(format!("could not log in again within {REJOIN_LIMIT:?}: {reason}")));
        }
        if let Link::Rejoining { since, ask } = &mut self.link {
            let at = (*since + REJOIN_RETRY).max(self.now);
            *since = at;
            let comeback = Comeback { resume_token: self.resume_token.take(), unreachable: self.conn.server_addr() };
            *ask = Some((at, comeback));
        }
        Ok(())
    }

    /// Reads the network and applies what arrived. A lost connection of a
    /// rejoinable session starts the way back instead of failing.
    pub fn update(&mut self, now: Duration) -> Result<(), SessionError> {
        self.now = self.now.max(now);
        if matches!(self.link, Link::Rejoining { .. }) {
            return Ok(());
        }
        match self.update_live() {
            Err(SessionError::Lost(reason))
                if self.rejoinable
                    && self.outage_from.map_or(Duration::ZERO, |from| self.now.saturating_sub(from)) < REJOIN_LIMIT =>
            {
                tracing::warn!(%reason, "connection lost; logging in again");
                self.start_rejoin();
                Ok(())
            }
            other => other,
        }
    }

    fn update_live(&mut self) -> Result<(), SessionError> {
        let now = self.now;
        let snapshots = self.world.snapshots;
        let welcomed = self.world.own_entity.is_some();
        let received = self.conn.update(now, &mut self.scratch, &mut self.snapshot_scratch);
        for message in self.scratch.drain(..) {
            self.world.apply(message);
        }
        for bytes in self.snapshot_scratch.drain(..) {
            self.world.apply_snapshot_bytes(&bytes);
        }
        // A welcome after a long claim is word from the server too.
        if !welcomed && self.world.own_entity.is_some() {
            self.last_heard = now;
        }
        let seconds = now.as_secs_f64();
        if self.world.tick_rate > 0 {
            // Until the welcome says the tick rate, ticks cannot be timed.
            self.clock.dt = self.tick_dt() as f64;
            for tick in self.world.fresh_ticks.drain(..) {
                self.clock.observe(tick, seconds);
            }
        }
        if let Some((own, ack)) = self.world.fresh_own.take() {
            self.predictor.reconcile(own.state, ack, self.tick_dt());
        }
        if let Some(transfer) = self.world.transfer.take() {
            return self.move_to(transfer);
        }
        self.flush_chat();
        if self.world.snapshots != snapshots {
            self.interval_ticks = snapshot_interval_ticks(&self.world);
            self.last_heard = now;
            if self.world.own_entity.is_some()
                && let Some(from) = self.outage_from.take()
            {
                let outage = now.saturating_sub(from);
                if let Some((server, _)) = self.moving.take() {
                    self.transfers += 1;
                    // The new server must start exactly where the old one froze.
                    if let (Some(before), Some(now)) = (&self.before_move, &self.world.own)
                        && before.state != now.state
                    {
                        self.transfer_mismatches += 1;
                        tracing::warn!(?before, ?now, "moved, but not to the state the old server froze");
                    }
                    self.longest_transfer_pause = self.longest_transfer_pause.max(outage);
                    tracing::info!(%server, pause = ?outage, "moved; playing on");
                } else {
                    self.reconnects += 1;
                    self.longest_outage = self.longest_outage.max(outage);
                    // The state was saved `state_age` before the welcome;
                    // the last one seen was `outage` before it.
                    let rewind = self.world.state_age.saturating_sub(outage);
                    self.longest_rewind = self.longest_rewind.max(rewind);
                    tracing::info!(?outage, ?rewind, "back in the world");
                }
            }
        }
        // Checked after reading: a client that itself stalled has read
        // what waited in its transport by now.
        if self.rejoinable && self.world.own_entity.is_some() && self.silence(now) > LINK_DEAD_AFTER {
            return Err(SessionError::Lost(format!("no word from the server for {} s", LINK_DEAD_AFTER.as_secs())));
        }
        // Inputs go out as they are made (`send_input` flushes, with the
        // acknowledgements and chat in the same datagram); reads in between
        // send only when no input has gone out for two ticks (a client that
        // stopped sending inputs still acknowledges its snapshots). One tick
        // would race the inputs: one late by a hair would follow its own
        // acknowledgements in a datagram of their own.
        let every = Duration::from_secs_f32(self.tick_dt().min(1.0 / 30.0)) * 2;
        let outcome = received.and_then(|()| self.conn.flush_due(now, every));
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
                        .replace(now)
                        .is_some_and(|at| now.saturating_sub(at) < TAKEN_OVER_WINDOW) =>
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

    /// How far behind the newest snapshot the others are drawn, in seconds:
    /// two snapshot intervals (one lost snapshot does not starve the
    /// interpolation), or more when the measured `jitter` asks for it.
    fn interp_delay(&self, jitter: f64) -> f64 {
        let interval = self.interval_ticks * f64::from(self.tick_dt());
        (2.0 * interval).max(interval + 2.0 * jitter) + 0.005
    }

    /// How far behind the newest snapshot the player sees the others now,
    /// in sixteenths of a tick: what every input says, for lag compensation.
    pub fn view_lag(&mut self) -> u16 {
        self.clock.offset_and_jitter().map_or(0, |(_, jitter)| {
            let ticks = self.interp_delay(jitter) / f64::from(self.tick_dt());
            (ticks * 16.0).round().clamp(0.0, f64::from(u16::MAX)) as u16
        })
    }

    /// Sends this tick's input (with the previous few repeated) and applies
    /// it to the own player's prediction at once. Raw input (two keys give
    /// (1, 1)) goes through the game's [`Simulation::check`] first, so the
    /// server gets an input it accepts as is and the prediction applies
    /// exactly what the server will; input the rule refuses is sent as
    /// the rule's replacement.
    pub fn send_input(&mut self, input: S::Input, now: Duration) {
        self.send_raw_input(S::check(input).0, now);
    }

    /// Sends the input as given, unchecked (the headless cheat modes use
    /// this to test the server). The prediction applies what the server's
    /// check will make of it.
    pub fn send_raw_input(&mut self, input: S::Input, now: Duration) {
        self.send_cmd(input, None, now);
    }

    /// Sends a checked input claiming the player looked `view_lag`
    /// sixteenths of a tick into the past (a cheat: the honest claim is the
    /// interpolation delay, which [`Session::send_input`] sends). The tests
    /// of lag compensation's window use it.
    pub fn send_input_claiming(&mut self, input: S::Input, view_lag: u16, now: Duration) {
        self.send_cmd(S::check(input).0, Some(view_lag), now);
    }

    /// Sends `input` as given, with the honest view lag or `claimed`.
    fn send_cmd(&mut self, input: S::Input, claimed: Option<u16>, now: Duration) {
        self.now = self.now.max(now);
        // Nothing to steer before the welcome (after a move or a rejoin the
        // new server's avatar is not ours yet): inputs sent then would move
        // it before the client predicts it, away from the state it loaded.
        if matches!(self.link, Link::Rejoining { .. }) || self.world.own_entity.is_none() {
            return;
        }
        let seconds = self.now.as_secs_f64();
        let tick = self.clock.server_tick_now(seconds).map_or(self.world.server_tick, |t| t.max(0.0) as u32);
        // What the player sees is that far behind: the interpolation
        // delay, which lag compensation rewinds the others by.
        let view_lag = claimed.unwrap_or_else(|| self.view_lag());
        let cmd = InputCmd { seq: self.next_seq, tick, view_lag, input };
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.recent.len() == INPUT_REDUNDANCY {
            self.recent.pop_front();
        }
        self.recent.push_back(cmd);
        self.predictor.input(cmd.seq, S::check(input).0, self.tick_dt());
        let message = InputMessage { ack_tick: self.world.acked_tick(), inputs: self.recent.iter().copied().collect() };
        self.conn.send(Channel::Input, &message);
        // A connection that just ended is reported by the next update,
        // which knows whether to come back.
        if let Err(e) = self.conn.flush(self.now) {
            tracing::debug!(error = %e, "input not sent");
        }
    }

    /// Says a chat line (cut to the protocol limit). It is kept until it
    /// comes back numbered: said while the session is between servers
    /// (moving, coming back) it goes out after the welcome there, and one
    /// said to a server that died before it numbered the line goes again
    /// to the next (the cluster takes it once).
    pub fn send_chat(&mut self, text: &str) {
        let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
        if self.unconfirmed.len() == CHAT_HELD {
            self.unconfirmed.pop_front();
            self.chat_sent_here = self.chat_sent_here.saturating_sub(1);
            self.chat_given_up += 1;
            tracing::warn!("chat line given up: {CHAT_HELD} lines said and not yet seen back");
        }
        self.unconfirmed.push_back((self.chat_seq, text));
        self.chat_seq += 1;
        self.flush_chat();
    }

    /// Forgets the lines seen come back, and on a welcomed connection says
    /// where our chat stands (once) and sends the lines it has not had.
    fn flush_chat(&mut self) {
        if let Some(seen) = self.world.own_chat_seen {
            while self.unconfirmed.front().is_some_and(|(seq, _)| *seq <= seen) {
                self.unconfirmed.pop_front();
                self.chat_sent_here = self.chat_sent_here.saturating_sub(1);
            }
        }
        if !self.is_welcomed() {
            return;
        }
        if !self.chat_from_sent {
            self.chat_from_sent = true;
            self.conn.send(Channel::Reliable, &ClientMessage::ChatFrom { after: self.world.chat_last_id });
        }
        for (seq, text) in self.unconfirmed.iter().skip(self.chat_sent_here) {
            self.conn.send(Channel::Reliable, &ClientMessage::Chat { seq: *seq, text: text.clone() });
        }
        self.chat_sent_here = self.unconfirmed.len();
    }

    /// Our chat lines said and not yet seen come back numbered.
    pub fn chat_unconfirmed(&self) -> usize {
        self.unconfirmed.len()
    }

    /// Whether the server has welcomed this connection (inputs and chat go through).
    fn is_welcomed(&self) -> bool {
        matches!(self.link, Link::Live) && self.conn.is_connected() && self.world.own_entity.is_some()
    }

    /// What to draw at `now`: remote entities interpolated at the adaptive
    /// delay, the own avatar predicted and smoothed. `frame_dt` is the
    /// time since the last call.
    pub fn frame(&mut self, frame_dt: Duration, now: Duration) -> &[Drawn] {
        self.predictor.smooth(frame_dt.as_secs_f32());
        let seconds = now.as_secs_f64();
        let dt = self.tick_dt() as f64;
        let Some((offset, jitter)) = self.clock.offset_and_jitter() else {
            self.drawn.clear();
            return &self.drawn;
        };
        let delay = self.interp_delay(jitter);
        self.feel.interp_delay_ms = delay * 1000.0;
        let render_tick = (seconds - offset - delay) / dt;
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
            self.drawn.push(Drawn { id: own, kind: S::PLAYER_KIND, pos, fields: 0 });
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

    /// How long since the last snapshot arrived, at `now`.
    pub fn silence(&self, now: Duration) -> Duration {
        now.saturating_sub(self.last_heard)
    }

    /// Snapshots applied over the whole session, every connection counted.
    pub fn snapshots_total(&self) -> u64 {
        self.snapshots_earlier + self.world.snapshots
    }

    /// The game server this session plays on (or is connecting to).
    pub fn server_addr(&self) -> SocketAddr {
        self.conn.server_addr()
    }

    /// The current connection.
    pub fn connection(&self) -> &Connection<D::Transport> {
        &self.conn
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
