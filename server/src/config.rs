//! Server configuration: every knob the binary exposes, with embedded
//! defaults so `tickforge-server` runs with no file and no setup.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Largest number of simultaneous players the netcode layer supports.
pub const MAX_PLAYERS_LIMIT: usize = tickforge_netcode::MAX_CLIENTS;

/// Argon2id cost parameters (the hasher's own type; configured here).
pub use crate::auth::password::HashParams;

/// Bounds every HTTP listener (auth, admin, the WebSocket upgrade) holds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections the auth listener holds at once (the admin listener
    /// holds at most [`ADMIN_CONNECTIONS`]); more are closed at once.
    pub max_connections: usize,
    /// Connections (and, behind a proxy, requests in flight) one client
    /// address holds at once on a listener.
    pub max_per_address: usize,
    /// How long a request head (or a TLS handshake) may take.
    pub header_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
}

/// Connections the admin listener holds at most (operators and scrapers).
pub const ADMIN_CONNECTIONS: usize = 128;

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 2048,
            max_per_address: 64,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// What this process does: everything, the auth API, or a world.
    pub role: crate::cluster::Role,
    /// Where the private key (and, by default, the SQLite database) live.
    pub data_dir: PathBuf,
    /// The database; `None`: SQLite at `<data_dir>/tickforge.db`.
    pub database: Option<crate::store::DatabaseUrl>,
    /// Auth API listen address (port 0 = any free port).
    pub http_addr: SocketAddr,
    /// Admin API and metrics listen address (port 0 = any free port).
    pub admin_addr: SocketAddr,
    /// Bearer token for the admin API; without one the admin routes are off.
    pub admin_token: Option<crate::secrets::AdminToken>,
    /// Serve the auth API over HTTPS with these files.
    pub tls: Option<crate::auth::tls::TlsFiles>,
    /// Game UDP listen address (port 0 = any free port).
    pub udp_addr: SocketAddr,
    /// Address written into connect tokens; defaults to the bound UDP address.
    pub public_addr: Option<SocketAddr>,
    /// Game WebSocket listen address, path `/ws` (port 0 = any free port).
    pub ws_addr: SocketAddr,
    /// The WebSocket URL logins name for this server; defaults to
    /// `ws://<bound address>/ws`.
    pub public_ws: Option<String>,
    /// Page origins whose WebSocket connections are taken (a browser sends
    /// its page's; clients that send none are taken). Empty: the auth
    /// API's own origin when this process serves it, else none.
    pub allowed_origins: Vec<String>,
    /// Where the browser client's build is (served at `/play/`).
    pub web_dir: PathBuf,
    /// Proxies whose forwarding header names the client (HTTP and WebSocket).
    pub trusted_proxies: crate::net::forwarded::TrustedProxies,
    /// Bounds of the HTTP listeners.
    pub http: HttpLimits,
    /// How long a request waits for the store before it is answered 503.
    pub store_deadline: Duration,
    /// How long access-log rows are kept (`None`: for ever).
    pub access_log_retention: Option<Duration>,
    /// Simulation rate in Hz.
    pub tick_rate: u16,
    /// The game the world runs (a name in [`crate::games::NAMES`]).
    pub game: String,
    /// Number of wandering NPCs.
    pub npcs: u32,
    /// Number of collectible orbs.
    pub orbs: u32,
    /// How often every player's state is handed to the store.
    pub save_interval: Duration,
    /// Interest radius, snapshot rate and per-client budget.
    pub replication: crate::game::replicate::ReplicationConfig,
    /// How far back lag compensation may rewind the world for a player
    /// (`--rewind-ms`; zero: never).
    pub rewind: Duration,
    /// Connection limit.
    pub max_players: usize,
    /// Registry id of this app server; `None`: derived from the public address.
    pub server_id: Option<String>,
    /// Deployment colour this server registers with.
    pub colour: crate::cluster::Colour,
    /// Players the registry says it takes; `None`: `max_players`.
    pub capacity: Option<usize>,
    /// How long the avatar of a player whose connection timed out waits for it.
    pub linger: Duration,
    /// How long a connect token stays valid after login.
    pub token_ttl: Duration,
    /// Seconds of silence before netcode drops a connection.
    pub connection_timeout_secs: i32,
    /// Password hashing cost.
    pub hash_params: HashParams,
    /// Threads allowed to hash passwords at once.
    pub hash_workers: usize,
    /// Requests allowed to wait for a hashing thread before 503.
    pub hash_queue: usize,
    /// Failed-login limits and lockout.
    pub login_limits: crate::auth::limiter::LimitConfig,
    /// A private key given from the environment (otherwise read from or
    /// generated into the data dir).
    pub private_key: Option<crate::secrets::PrivateKey>,
    /// Record a replay of the whole run to this file.
    pub record: Option<PathBuf>,
    /// Whether UDP datagrams go out and come in batched (`sendmmsg`,
    /// `recvmmsg`, GSO on Linux) or one system call each.
    pub udp_batching: crate::net::datagrams::Batching,
    /// Threads building a tick's snapshots (1 or 2); `None`: 2 where the
    /// process may run on two cores or more.
    pub snapshot_threads: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            role: crate::cluster::Role::All,
            data_dir: PathBuf::from("data"),
            database: None,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 7000)),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 7002)),
            admin_token: None,
            tls: None,
            udp_addr: SocketAddr::from(([127, 0, 0, 1], 7001)),
            public_addr: None,
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 7003)),
            public_ws: None,
            allowed_origins: Vec::new(),
            web_dir: PathBuf::from("web/dist"),
            trusted_proxies: crate::net::forwarded::TrustedProxies::default(),
            http: HttpLimits::default(),
            store_deadline: crate::store::DEFAULT_DEADLINE,
            access_log_retention: Some(Duration::from_secs(30 * 86_400)),
            tick_rate: 30,
            game: crate::games::DEFAULT.to_owned(),
            npcs: 200,
            orbs: 40,
            save_interval: Duration::from_secs(5),
            replication: crate::game::replicate::ReplicationConfig::default(),
            rewind: Duration::from_secs(1),
            max_players: 1024,
            udp_batching: crate::net::datagrams::Batching::On,
            snapshot_threads: None,
            server_id: None,
            colour: crate::cluster::Colour::Blue,
            capacity: None,
            linger: Duration::from_secs(15),
            token_ttl: Duration::from_secs(30),
            connection_timeout_secs: 10,
            hash_params: HashParams::default(),
            hash_workers: 1,
            hash_queue: 16,
            login_limits: crate::auth::limiter::LimitConfig::default(),
            private_key: None,
            record: None,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A game this binary does not run.
    #[error("unknown game {0:?}; this binary runs: {known}", known = crate::games::NAMES.join(", "))]
    UnknownGame(String),
    /// Tick rate outside 1..=240 Hz.
    #[error("tick rate must be between 1 and 240 Hz, got {0}")]
    TickRate(u16),
    /// More players than netcode allows.
    #[error("max players must be between 1 and {MAX_PLAYERS_LIMIT}, got {0}")]
    MaxPlayers(usize),
    /// Hash cost below the OWASP minimum.
    #[error("argon2id parameters m={0} KiB, t={1}, p={2} are below the minimum m=19456, t=2, p=1")]
    WeakHash(u32, u32, u32),
    /// Save interval of zero.
    #[error("save interval must be positive")]
    SaveInterval,
    /// No hashing threads.
    #[error("hash workers must be at least 1")]
    HashWorkers,
    /// A capacity the server could not hold.
    #[error("capacity must be between 1 and --max-players ({max}), got {capacity}")]
    Capacity {
        /// Asked for.
        capacity: usize,
        /// The connection limit.
        max: usize,
    },
    /// A split role on a database it cannot share, or without the shared key.
    #[error("--role {role} {needs}")]
    Role {
        /// The role.
        role: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// A server id that cannot name a registry row.
    #[error("server id must be 1 to 64 characters of letters, digits, '.', ':', '_' or '-'")]
    ServerId,
    /// An HTTP bound or timeout of zero.
    #[error("HTTP bounds and timeouts must be positive: {0}")]
    Http(&'static str),
    /// A store deadline of zero.
    #[error("the store deadline must be positive")]
    StoreDeadline,
}

impl Config {
    /// The database this server uses: `--database`, or SQLite in the data dir.
    pub fn database_url(&self) -> crate::store::DatabaseUrl {
        self.database.clone().unwrap_or_else(|| crate::store::DatabaseUrl::in_data_dir(&self.data_dir))
    }

    /// Loopback on free ports with `data_dir`: for tests and embedding.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            udp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }

    /// The page origins whose WebSocket connections are taken: the ones
    /// configured, else the auth API's own (`http_addr`, if this process
    /// serves it on a specified address; on loopback also as `localhost`).
    pub fn ws_origins(&self, http_addr: Option<SocketAddr>) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_owned()).collect();
        }
        let Some(http) = http_addr else { return Vec::new() };
        if http.ip().is_unspecified() {
            tracing::warn!(%http, "the auth API listens on every address: its page's origin is unknown; set --allowed-origin");
            return Vec::new();
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut origins = vec![format!("{scheme}://{http}")];
        if http.ip().is_loopback() {
            origins.push(format!("{scheme}://localhost:{}", http.port()));
        }
        origins
    }

    /// The WebSocket URL logins name: `--public-ws`, else the bound
    /// address; bound to every address, the public address's host with
    /// the bound port.
    pub fn ws_url(&self, ws_addr: SocketAddr, public_addr: SocketAddr) -> String {
        if let Some(url) = &self.public_ws {
            return url.clone();
        }
        let mut host = ws_addr;
        if host.ip().is_unspecified() {
            host.set_ip(public_addr.ip());
            if host.ip().is_unspecified() {
                tracing::warn!(%ws_addr, "the WebSocket listens on every address: set --public-ws so browsers can reach it");
            }
        }
        format!("ws://{host}/ws")
    }

    /// Checks the values that would otherwise fail later, or silently weaken security.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if crate::games::named(&self.game).is_none() {
            return Err(ConfigError::UnknownGame(self.game.clone()));
        }
        if !(1..=240).contains(&self.tick_rate) {
            return Err(ConfigError::TickRate(self.tick_rate));
        }
        if !(1..=MAX_PLAYERS_LIMIT).contains(&self.max_players) {
            return Err(ConfigError::MaxPlayers(self.max_players));
        }
        let h = self.hash_params;
        let min = HashParams::OWASP_MIN;
        if h.m_kib < min.m_kib || h.t < min.t || h.p < min.p {
            return Err(ConfigError::WeakHash(h.m_kib, h.t, h.p));
        }
        if self.save_interval.is_zero() {
            return Err(ConfigError::SaveInterval);
        }
        if let Some(capacity) = self.capacity
            && !(1..=self.max_players).contains(&capacity)
        {
            return Err(ConfigError::Capacity { capacity, max: self.max_players });
        }
        let id_ok = |id: &str| {
            (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || ".:_-".contains(c))
        };
        if self.server_id.as_deref().is_some_and(|id| !id_ok(id)) {
            return Err(ConfigError::ServerId);
        }
        if self.hash_workers == 0 {
            return Err(ConfigError::HashWorkers);
        }
        let http = self.http;
        for (value, name) in [
            (http.max_connections, "--http-max-connections"),
            (http.max_per_address, "--http-max-per-address"),
            (http.header_timeout.as_millis() as usize, "--http-header-timeout"),
            (http.idle_timeout.as_millis() as usize, "--http-idle-timeout"),
        ] {
            if value == 0 {
                return Err(ConfigError::Http(name));
            }
        }
        if self.store_deadline.is_zero() {
            return Err(ConfigError::StoreDeadline);
        }
        if self.role != crate::cluster::Role::All {
            let role = self.role.as_str();
            if !self.database_url().is_shared() {
                return Err(ConfigError::Role {
                    role,
                    needs: "shares one database with the rest of the cluster: give --database postgres://… \
                            (or TICKFORGE_DATABASE_URL); embedded SQLite is for --role all",
                });
            }
            if self.private_key.is_none() {
                return Err(ConfigError::Role {
                    role,
                    needs: "needs the cluster's shared netcode key: set TICKFORGE_PRIVATE_KEY or --key-file \
                            (the same on every node)",
                });
            }
        }
        Ok(())
    }

    /// The save interval in ticks (at least one).
    pub fn save_every_ticks(&self) -> u64 {
        (self.save_interval.as_secs_f64() * f64::from(self.tick_rate)).round().max(1.0) as u64
    }

    /// The longest any HTTP request may take in all (reading its body,
    /// hashing, waiting on the store): past the store's deadline, with
    /// room for the rest.
    pub fn request_deadline(&self) -> Duration {
        self.store_deadline + Duration::from_secs(10)
    }

    /// The fixed tick period.
    pub fn tick_period(&self) -> Duration {
        Duration::from_secs(1) / u32::from(self.tick_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn weak_hash_params_are_refused() {
        let config = Config { hash_params: HashParams { m_kib: 4096, t: 2, p: 1 }, ..Config::default() };
        assert!(matches!(config.validate(), Err(ConfigError::WeakHash(..))));
    }

    #[test]
    fn split_roles_need_a_shared_database_and_a_shared_key() {
        let key = Some(crate::secrets::PrivateKey::from_hex(&"ab".repeat(32)).unwrap());
        let pg = Some(crate::store::DatabaseUrl::parse("postgres://u@127.0.0.1:5432/db").unwrap());
        for role in [crate::cluster::Role::Auth, crate::cluster::Role::App] {
            let on_sqlite = Config { role, private_key: key.clone(), ..Config::default() };
            let error = on_sqlite.validate().unwrap_err().to_string();
            assert!(error.contains("--database postgres://"), "{error}");
            let no_key = Config { role, database: pg.clone(), ..Config::default() };
            let error = no_key.validate().unwrap_err().to_string();
            assert!(error.contains("TICKFORGE_PRIVATE_KEY"), "{error}");
            Config { role, database: pg.clone(), private_key: key.clone(), ..Config::default() }.validate().unwrap();
        }
        Config::default().validate().unwrap();
    }

    #[test]
    fn too_many_players_are_refused() {
        let config = Config { max_players: MAX_PLAYERS_LIMIT + 1, ..Config::default() };
        assert!(matches!(config.validate(), Err(ConfigError::MaxPlayers(_))));
    }
}
