//! The native driver of the core's playing session
//! ([`tickforge_client_core::session::Session`]): the clock (`Instant`),
//! the transports ([`NativeDialer`]) and the logins over HTTP, on a
//! background thread when a lost session comes back.
//!
//! A session that logged in with a password comes back by itself when its
//! connection is lost: the core asks for a login ([`core::Session::login_wanted`]),
//! this driver makes it — with the resume token first, then the password —
//! through the same auth URL, so a cluster's director places it on a live
//! server, for up to [`REJOIN_LIMIT`]. Meanwhile [`Session::update`]
//! answers `Ok` and inputs are not sent.

use std::ops::{Deref, DerefMut};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tickforge_client_core::game::ClientGame;
use tickforge_client_core::session::{self as core, Comeback};
pub use tickforge_client_core::session::{CHAT_HELD, FeelStats, LINK_DEAD_AFTER, REJOIN_LIMIT};
use tickforge_shared::sim::{Simulation, Vec2};

pub use crate::games::ArenaSession as Session;

use crate::login::{AuthClient, Login, LoginError};
use crate::net::{NativeDialer, NetError, TransportKind};

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
    /// The server placed the player in another game than this session plays.
    #[error("the server placed this player in the game '{placed}', not '{plays}' (run with --game {placed})")]
    WrongGame {
        /// The game the login answer names.
        placed: String,
        /// The game this session plays.
        plays: &'static str,
    },
}

impl From<core::SessionError> for SessionError {
    fn from(e: core::SessionError) -> Self {
        match e {
            core::SessionError::Net(e) => Self::Net(e),
            core::SessionError::ConnectTimeout(after, handshake) => Self::ConnectTimeout(after, handshake),
            core::SessionError::Lost(reason) => Self::Lost(reason),
        }
    }
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
    /// The game to play (`None`: the server's default).
    pub game: Option<String>,
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

impl LoginOptions {
    fn auth(&self) -> Result<AuthClient, LoginError> {
        let auth = match &self.ca_cert {
            Some(pem) => AuthClient::with_ca_pem(&self.server_url, pem)?,
            None => AuthClient::new(&self.server_url),
        };
        Ok(auth.for_game(self.game.clone()))
    }
}

/// Logs in again after a loss: with the resume token when there is one
/// (no password sent), else — or if it is refused — with the password.
fn come_back(options: &LoginOptions, comeback: &Comeback) -> Result<Login, LoginError> {
    if let Some(token) = &comeback.resume_token {
        match options.auth()?.resume(token, Some(comeback.unreachable)) {
            Ok(login) => return Ok(login),
            Err(LoginError::InvalidCredentials) => {
                tracing::info!("resume token refused; logging in with the password");
            }
            Err(e) => return Err(e),
        }
    }
    login_patiently(&LoginOptions { register: false, ..options.clone() }, REJOIN_LIMIT)
}

/// Logs in with `options` (registering first if asked), waiting out busy
/// servers for up to a minute: the answer says which game the player was
/// placed in ([`Login::game`]), for [`GameSession::from_login`].
pub fn login(options: &LoginOptions) -> Result<Login, SessionError> {
    Ok(login_patiently(options, Duration::from_secs(60))?)
}

/// Logs in with `options`, waiting out busy servers, for up to `limit`.
/// With `register`, the account is made first — and a registration the
/// server refused as busy is tried again as a registration: nothing was
/// registered, so logging in instead could only fail. A registration
/// refused because this address has made its accounts for the hour may
/// still be of an account that exists (`--register` on every run): then
/// the login goes ahead, and only if it finds no such account is the
/// limit the answer.
fn login_patiently(options: &LoginOptions, limit: Duration) -> Result<Login, LoginError> {
    let auth = options.auth()?;
    let deadline = Instant::now() + limit;
    let login = || patiently(deadline, || auth.login(&options.username, &options.password));
    if options.register {
        match patiently(deadline, || auth.ensure_account(&options.username, &options.password)) {
            Ok(()) => {}
            Err(limited @ LoginError::Limited { .. }) => {
                return match login() {
                    Err(LoginError::InvalidCredentials) => Err(limited),
                    other => other,
                };
            }
            Err(e) => return Err(e),
        }
    }
    login()
}

/// Runs `attempt` until it is not a "try again later" (a busy server, too
/// many requests at once, a short lockout), waiting as told, while that
/// ends before `deadline`.
fn patiently<T>(deadline: Instant, mut attempt: impl FnMut() -> Result<T, LoginError>) -> Result<T, LoginError> {
    loop {
        match attempt() {
            Err(LoginError::Busy { retry_after } | LoginError::Limited { retry_after, .. })
                if Instant::now() + retry_after < deadline =>
            {
                std::thread::sleep(retry_after);
            }
            other => return other,
        }
    }
}

/// A connected (or connecting) player of game `G`: the core session, its
/// clock, and the login running in the background while it comes back. It
/// derefs to the core for the world, the prediction and the figures.
pub struct GameSession<G: ClientGame> {
    core: core::Session<NativeDialer, G::Sim>,
    /// The origin of the core's clock.
    origin: Instant,
    /// How to log in again (`None`: a session from a bare token).
    options: Option<LoginOptions>,
    /// The login running for a comeback.
    login: Option<mpsc::Receiver<Result<Login, LoginError>>>,
}

impl<G: ClientGame> std::fmt::Debug for GameSession<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("core", &self.core).finish_non_exhaustive()
    }
}

impl<G: ClientGame> Deref for GameSession<G> {
    type Target = core::Session<NativeDialer, G::Sim>;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl<G: ClientGame> DerefMut for GameSession<G> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.core
    }
}

impl<G: ClientGame> GameSession<G> {
    /// Logs in (registering first if asked) and starts the UDP handshake.
    /// The session remembers how, to come back after a lost connection.
    pub fn login(options: &LoginOptions) -> Result<Self, SessionError> {
        Self::login_over(options, TransportKind::Udp)
    }

    /// As [`Session::login`], playing over `transport`.
    pub fn login_over(options: &LoginOptions, transport: TransportKind) -> Result<Self, SessionError> {
        Self::from_login(options, transport, &login(options)?)
    }

    /// Starts the handshake with what a [`login`] with `options` answered,
    /// playing over `transport`; refused if the server placed the player
    /// in another game.
    pub fn from_login(options: &LoginOptions, transport: TransportKind, login: &Login) -> Result<Self, SessionError> {
        if let Some(placed) = login.game.as_deref().filter(|g| *g != G::NAME) {
            return Err(SessionError::WrongGame { placed: placed.to_owned(), plays: G::NAME });
        }
        let origin = Instant::now();
        let core = core::Session::from_login(NativeDialer { transport }, login, Duration::ZERO)?;
        Ok(Self { core, origin, options: Some(options.clone()), login: None })
    }

    /// Starts the handshake with a bare connect token (no coming back).
    pub fn connect(token: &[u8]) -> Result<Self, SessionError> {
        let core = core::Session::connect(NativeDialer::default(), token, &[], Duration::ZERO)?;
        Ok(Self { core, origin: Instant::now(), options: None, login: None })
    }

    /// The core's clock now.
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Pumps the network until connected, welcomed and shown the own
    /// avatar (the first snapshot), or `timeout`.
    pub fn wait_connected(&mut self, timeout: Duration) -> Result<(), SessionError> {
        let start = Instant::now();
        let step = Duration::from_millis(5);
        while !self.core.is_playing() {
            if start.elapsed() > timeout {
                return Err(SessionError::ConnectTimeout(timeout, self.core.handshake_done()));
            }
            self.update()?;
            std::thread::sleep(step);
        }
        Ok(())
    }

    /// Reads the network and applies what arrived. A lost connection of a
    /// password session starts the way back instead of failing.
    pub fn update(&mut self) -> Result<(), SessionError> {
        let now = self.now();
        self.core.update(now)?;
        self.drive_login(now)
    }

    /// Starts the login the core asks for, and hands it its answer.
    fn drive_login(&mut self, now: Duration) -> Result<(), SessionError> {
        if let Some(comeback) = self.core.login_wanted()
            && let Some(options) = self.options.clone()
        {
            let (tx, rx) = mpsc::sync_channel(1);
            std::thread::spawn(move || {
                let _ = tx.send(come_back(&options, &comeback));
            });
            self.login = Some(rx);
        }
        let Some(rx) = &self.login else { return Ok(()) };
        let answer = match rx.try_recv() {
            Ok(answer) => answer,
            Err(mpsc::TryRecvError::Empty) => return Ok(()),
            Err(mpsc::TryRecvError::Disconnected) => {
                Err(LoginError::Transport { url: String::new(), reason: "login thread ended".into() })
            }
        };
        self.login = None;
        match answer {
            Ok(login) => Ok(self.core.logged_in(&login, now)?),
            // Worth another round while the limit lasts: the auth API was
            // unreachable or had no room yet.
            Err(e @ (LoginError::Transport { .. } | LoginError::Busy { .. } | LoginError::Limited { .. })) => {
                Ok(self.core.login_failed(&e.to_string(), now)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the session is coming back after a lost connection (and since when).
    pub fn rejoining(&self) -> Option<Instant> {
        self.core.rejoining().map(|since| self.origin + since)
    }

    /// How long since the last snapshot arrived.
    pub fn silence(&self) -> Duration {
        self.core.silence(self.now())
    }

    /// Sends this tick's input (see [`core::Session::send_input`]).
    pub fn send(&mut self, input: <G::Sim as Simulation>::Input) {
        let now = self.now();
        self.core.send_input(input, now);
    }

    /// Sends the input as given, unchecked (the headless cheat modes).
    pub fn send_unchecked(&mut self, input: <G::Sim as Simulation>::Input) {
        let now = self.now();
        self.core.send_raw_input(input, now);
    }

    /// Sends a checked input claiming to have seen the world `view_lag`
    /// sixteenths of a tick ago (see [`core::Session::send_input_claiming`]).
    pub fn send_claiming(&mut self, input: <G::Sim as Simulation>::Input, view_lag: u16) {
        let now = self.now();
        self.core.send_input_claiming(input, view_lag, now);
    }

    /// What to draw now (see [`core::Session::frame`]).
    pub fn frame(&mut self, frame_dt: Duration) -> &[tickforge_client_core::interpolate::Drawn] {
        let now = self.now();
        self.core.frame(frame_dt, now)
    }

    /// The game's score of the own player ([`ClientGame::score`]), as the server last said.
    pub fn score(&self) -> u32 {
        self.world.own.as_ref().map_or(0, |o| G::score(&o.state))
    }

    /// Moves toward `(move_x, move_y)` this tick and does nothing else
    /// ([`ClientGame::steer`]).
    pub fn send_input(&mut self, move_x: f32, move_y: f32) {
        self.send(G::steer(Vec2::new(move_x, move_y)));
    }

    /// Sends that move as given, unchecked (the headless cheat modes).
    pub fn send_raw_input(&mut self, move_x: f32, move_y: f32) {
        self.send_unchecked(G::steer(Vec2::new(move_x, move_y)));
    }
}
