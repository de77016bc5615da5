//! A playing session: login, connect, then per tick read the network,
//! update the world and send inputs (each packet repeating the last few).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tickforge_shared::protocol::{Channel, ClientMessage, INPUT_REDUNDANCY, InputCmd, MAX_CHAT_CHARS, ServerMessage};

use crate::login::{AuthClient, LoginError};
use crate::net::{Connection, NetError};
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
    /// The handshake did not finish in time.
    #[error("no connection to the game server within {0:?} (is UDP reachable?)")]
    ConnectTimeout(Duration),
}

/// How to log in.
#[derive(Debug, Clone)]
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

/// A connected (or connecting) player.
#[derive(Debug)]
pub struct Session {
    conn: Connection,
    /// What the server has told us.
    pub world: ClientWorld,
    next_seq: u32,
    recent: VecDeque<InputCmd>,
    scratch: Vec<ServerMessage>,
}

impl Session {
    /// Logs in (registering first if asked) and starts the UDP handshake.
    pub fn login(options: &LoginOptions) -> Result<Self, SessionError> {
        let auth = match &options.ca_cert {
            Some(pem) => AuthClient::with_ca_pem(&options.server_url, pem)?,
            None => AuthClient::new(&options.server_url),
        };
        let login = if options.register {
            auth.register_and_login(&options.username, &options.password)?
        } else {
            auth.login(&options.username, &options.password)?
        };
        Self::connect(&login.connect_token)
    }

    /// Starts the UDP handshake with a connect token.
    pub fn connect(token: &[u8]) -> Result<Self, SessionError> {
        Ok(Self {
            conn: Connection::connect(token)?,
            world: ClientWorld::default(),
            next_seq: 1,
            recent: VecDeque::with_capacity(INPUT_REDUNDANCY),
            scratch: Vec::new(),
        })
    }

    /// Pumps the network until connected and welcomed, or `timeout`.
    pub fn wait_connected(&mut self, timeout: Duration) -> Result<(), SessionError> {
        let start = Instant::now();
        let step = Duration::from_millis(5);
        while self.world.own_entity.is_none() {
            if start.elapsed() > timeout {
                return Err(SessionError::ConnectTimeout(timeout));
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

    /// Sends this tick's input, with the previous few repeated.
    pub fn send_input(&mut self, move_x: f32, move_y: f32) -> Result<(), SessionError> {
        let cmd = InputCmd { seq: self.next_seq, move_x, move_y };
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.recent.len() == INPUT_REDUNDANCY {
            self.recent.pop_front();
        }
        self.recent.push_back(cmd);
        let message = ClientMessage::Input { inputs: self.recent.iter().copied().collect() };
        self.conn.send(Channel::Input, &message);
        self.conn.flush()?;
        Ok(())
    }

    /// Sends a chat line (cut to the protocol limit).
    pub fn send_chat(&mut self, text: &str) {
        let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
        self.conn.send(Channel::Reliable, &ClientMessage::Chat { text });
    }

    /// Whether the handshake is done.
    pub fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }

    /// Round-trip time in milliseconds.
    pub fn rtt_ms(&self) -> f64 {
        self.conn.rtt_ms()
    }

    /// Bytes per second received.
    pub fn bytes_in_per_s(&self) -> f64 {
        self.conn.bytes_in_per_s()
    }

    /// Leaves the server politely.
    pub fn disconnect(&mut self) {
        self.conn.disconnect();
    }
}
