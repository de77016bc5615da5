//! `tickforge-server`: the dedicated server binary.
//!
//! Parses flags into a [`Config`], binds, prints the bound addresses and
//! runs the tick loop on the main thread until SIGINT/SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tickforge_server::auth::limiter::LimitConfig;
use tickforge_server::auth::tls::TlsFiles;
use tickforge_server::cluster::{Colour, Role};
use tickforge_server::config::{HashParams, HttpLimits};
use tickforge_server::game::replicate::ReplicationConfig;
use tickforge_server::net::forwarded::{ProxyHeader, ProxyNet, TrustedProxies};
use tickforge_server::secrets::{AdminToken, PrivateKey};
use tickforge_server::store::DatabaseUrl;
use tickforge_server::{Config, Server};

/// Tickforge dedicated server: auth API over HTTP, the world over UDP.
///
/// Every flag can also come from its environment variable (shown below)
/// or from the --config file: a flag wins over its variable, which wins
/// over the file, which wins over the default.
// No `Debug`: the arguments hold the admin token and the private key.
#[derive(clap::Parser)]
#[command(name = "tickforge-server", version)]
struct Args {
    /// What this process runs: all (auth API + world, the default), auth
    /// (the HTTP API and the director, no world) or app (a world, no auth
    /// API). Split roles share one PostgreSQL database and one netcode key.
    #[arg(long, default_value = "all")]
    role: Role,
    /// Directory for the private key and (by default) the SQLite database.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// The netcode private key, shared by every server of a cluster: a file
    /// of 64 hex digits, mode 600 (or --private-key). Default: one made on
    /// first start in <data-dir>/private.key.
    #[arg(long, value_name = "FILE", conflicts_with = "private_key")]
    key_file: Option<PathBuf>,
    /// The netcode private key itself, 64 hex digits. Prefer the
    /// environment variable.
    #[arg(long, value_name = "HEX", env = "TICKFORGE_PRIVATE_KEY", hide_env_values = true)]
    private_key: Option<String>,
    /// Database: sqlite://PATH (default: <data-dir>/tickforge.db) or
    /// postgres://USER:PASSWORD@HOST:PORT/DB. Prefer the environment
    /// variable when the URL holds a password.
    #[arg(long, env = "TICKFORGE_DATABASE_URL", hide_env_values = true, value_parser = DatabaseUrl::parse)]
    database: Option<DatabaseUrl>,
    /// Auth API listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7000")]
    http: SocketAddr,
    /// Admin API and /metrics listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7002")]
    admin: SocketAddr,
    /// Bearer token for the admin API (at least 16 characters); without one
    /// the admin routes are off. Prefer the environment variable.
    #[arg(long, env = "TICKFORGE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Serve the auth API over HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Game UDP listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7001")]
    udp: SocketAddr,
    /// Address written into connect tokens (default: the bound UDP address).
    #[arg(long)]
    public_addr: Option<SocketAddr>,
    /// Game WebSocket listen address, path /ws (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7003")]
    ws: SocketAddr,
    /// The WebSocket URL logins name for this server (default: ws://<bound --ws>/ws).
    #[arg(long)]
    public_ws: Option<String>,
    /// A page origin whose WebSocket connections are taken (repeatable;
    /// default: this process's auth API origin).
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// A proxy (an IP address, or a network of them: 10.244.0.0/16) whose
    /// forwarding header names the client, for the auth API, the admin API
    /// and WebSocket links alike (repeatable): the limiter, the access log
    /// and the per-address bounds use that address.
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<ProxyNet>,
    /// The header the trusted proxies write the client's address into:
    /// x-forwarded-for or forwarded (RFC 7239). Only that one is read.
    #[arg(long, default_value = "x-forwarded-for")]
    proxy_header: ProxyHeader,
    /// Connections the auth API holds at once (more are closed at once;
    /// scaled down if the open-file limit cannot hold them).
    #[arg(long, default_value_t = HttpLimits::default().max_connections)]
    http_max_connections: usize,
    /// Connections one client address holds at once on each HTTP listener
    /// (behind a trusted proxy: requests in flight per forwarded address).
    #[arg(long, default_value_t = HttpLimits::default().max_per_address)]
    http_max_per_address: usize,
    /// Seconds a request head (or a TLS handshake) may take.
    #[arg(long, default_value_t = HttpLimits::default().header_timeout.as_secs_f64())]
    http_header_timeout: f64,
    /// Seconds a kept-alive HTTP connection may sit idle between requests.
    #[arg(long, default_value_t = HttpLimits::default().idle_timeout.as_secs_f64())]
    http_idle_timeout: f64,
    /// Seconds a request waits for the database before it is answered 503
    /// with Retry-After (a stalled commit, a hanging database).
    #[arg(long, default_value_t = tickforge_server::store::DEFAULT_DEADLINE.as_secs_f64())]
    store_deadline: f64,
    /// Days access-log rows are kept (deleted in small batches off the hot path); 0 keeps them for ever.
    #[arg(long, default_value_t = 30)]
    access_log_days: u32,
    /// Accounts one client address may create per hour (0: no limit).
    #[arg(long, default_value_t = LimitConfig::default().registrations_per_hour)]
    max_registrations_per_hour: u32,
    /// Where the browser client's build is (served at /play/; build it with scripts/build-web.sh).
    #[arg(long, default_value = "web/dist")]
    web_dir: PathBuf,
    /// Simulation rate in Hz.
    #[arg(long, default_value_t = 30)]
    tick_rate: u16,
    /// The game the world runs.
    #[arg(long, default_value = tickforge_server::games::DEFAULT,
          value_parser = clap::builder::PossibleValuesParser::new(tickforge_server::games::NAMES))]
    game: String,
    /// Number of wandering NPCs.
    #[arg(long, default_value_t = 200)]
    npcs: u32,
    /// Number of collectible orbs.
    #[arg(long, default_value_t = 40)]
    orbs: u32,
    /// Seconds between saves of every player's state.
    #[arg(long, default_value_t = 5.0)]
    save_interval: f64,
    /// Entities farther than this from a player are not sent to it (world units).
    #[arg(long, default_value_t = 600.0)]
    view_radius: f32,
    /// Snapshots per second sent to each player (at most the tick rate).
    #[arg(long)]
    snapshot_rate: Option<u16>,
    /// Most snapshot payload bytes per player per snapshot.
    #[arg(long, default_value_t = 1000)]
    snapshot_budget: usize,
    /// How far back lag compensation may rewind the world to where a
    /// player saw it, in milliseconds (a player claiming to see further
    /// back gets no rewind; 0 turns it off).
    #[arg(long, default_value_t = 1000)]
    rewind_ms: u64,
    /// Maximum simultaneous players (at most 4096).
    #[arg(long, default_value_t = 1024)]
    max_players: usize,
    /// One system call per UDP datagram instead of batches (`sendmmsg`,
    /// `recvmmsg` and GSO on Linux): for comparison, or a kernel without them.
    #[arg(long, env = "TICKFORGE_NO_UDP_BATCHING")]
    no_udp_batching: bool,
    /// Threads that build a tick's snapshots, 1 or 2 (default: 2 where the
    /// server may run on two cores; the output is the same bytes either way).
    #[arg(long, env = "TICKFORGE_SNAPSHOT_THREADS", value_parser = clap::value_parser!(u8).range(1..=2))]
    snapshot_threads: Option<u8>,
    /// Seconds the avatar of a player whose connection timed out stays in
    /// the world (idle) for it to come back to exactly (0: none).
    #[arg(long, default_value_t = 15)]
    linger_secs: u64,
    /// Connect token lifetime in seconds.
    #[arg(long, default_value_t = 30)]
    token_ttl: u64,
    /// Argon2id memory cost in KiB (at least 19456).
    #[arg(long, default_value_t = HashParams::OWASP_MIN.m_kib)]
    argon2_m_kib: u32,
    /// Argon2id iterations (at least 2).
    #[arg(long, default_value_t = HashParams::OWASP_MIN.t)]
    argon2_t: u32,
    /// Argon2id parallelism (at least 1).
    #[arg(long, default_value_t = HashParams::OWASP_MIN.p)]
    argon2_p: u32,
    /// Password hashes computed at once.
    #[arg(long, default_value_t = 1)]
    hash_workers: usize,
    /// Requests that may wait for a hashing thread before the API answers 503.
    #[arg(long, default_value_t = 16)]
    hash_queue: usize,
    /// Failed logins of one account from one address before that address is
    /// locked out of that account (no one else is).
    #[arg(long, default_value_t = 5)]
    max_account_failures: u32,
    /// Failed logins from one address (any accounts) before it is locked out.
    #[arg(long, default_value_t = 20)]
    max_ip_failures: u32,
    /// Record a replay of the run to FILE (play it with `tickforge-client --replay FILE`).
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
    /// Registry id of this app server (default: derived from the public address).
    #[arg(long)]
    server_id: Option<String>,
    /// Deployment colour this server registers with: blue or green.
    #[arg(long, default_value = "blue")]
    colour: Colour,
    /// Players the registry offers on this server (default: --max-players).
    #[arg(long)]
    capacity: Option<usize>,
    /// First lockout length in seconds (doubles for repeated lockouts, up to 16x).
    #[arg(long, default_value_t = 60)]
    lockout_secs: u64,
    /// Log lines as human text or as one JSON object each (`RUST_LOG` filters either).
    #[arg(long, value_enum, default_value = "text")]
    log_format: tickforge_cli::LogFormat,
}

fn main() -> std::process::ExitCode {
    // Logs go through a non-blocking writer: a slow or blocked stderr drops
    // lines (lossy) instead of stalling the tick thread. The guard flushes
    // what is buffered when it drops.
    let args: Args = tickforge_cli::parse("TICKFORGE_");
    let (log_writer, log_guard) = tracing_appender::non_blocking(std::io::stderr());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tickforge_cli::logging::init(args.log_format, "info", log_writer, ansi);
    let outcome = run(args);
    // A fatal error is a log line like any other (JSON under --log-format json).
    if let Err(e) = &outcome {
        tracing::error!(error = %format!("{e:#}"), "tickforge-server stopped");
    }
    drop(log_guard);
    if outcome.is_ok() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}

/// Starts the server `args` describe and runs it until it stops.
fn run(args: Args) -> anyhow::Result<()> {
    let private_key = match (&args.private_key, &args.key_file) {
        (Some(hex), _) => Some(PrivateKey::from_hex(hex).context("--private-key (TICKFORGE_PRIVATE_KEY)")?),
        (None, Some(path)) => Some(PrivateKey::from_file(path).context("--key-file")?),
        (None, None) => None,
    };
    let config = Config {
        role: args.role,
        data_dir: args.data_dir,
        database: args.database,
        http_addr: args.http,
        admin_addr: args.admin,
        admin_token: args.admin_token.map(AdminToken::new).transpose().context("--admin-token")?,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => None,
        },
        udp_addr: args.udp,
        public_addr: args.public_addr,
        ws_addr: args.ws,
        public_ws: args.public_ws,
        allowed_origins: args.allowed_origins,
        web_dir: args.web_dir,
        trusted_proxies: TrustedProxies { addrs: args.trusted_proxies, header: args.proxy_header },
        http: HttpLimits {
            max_connections: args.http_max_connections,
            max_per_address: args.http_max_per_address,
            header_timeout: Duration::try_from_secs_f64(args.http_header_timeout).context("--http-header-timeout")?,
            idle_timeout: Duration::try_from_secs_f64(args.http_idle_timeout).context("--http-idle-timeout")?,
        },
        store_deadline: Duration::try_from_secs_f64(args.store_deadline).context("--store-deadline")?,
        access_log_retention: (args.access_log_days > 0)
            .then(|| Duration::from_secs(u64::from(args.access_log_days) * 86_400)),
        tick_rate: args.tick_rate,
        game: args.game,
        npcs: args.npcs,
        orbs: args.orbs,
        save_interval: Duration::try_from_secs_f64(args.save_interval).context("--save-interval")?,
        replication: ReplicationConfig {
            view_radius: args.view_radius.max(1.0),
            every_ticks: u64::from(
                args.tick_rate / args.snapshot_rate.unwrap_or(args.tick_rate).clamp(1, args.tick_rate.max(1)),
            ),
            budget_bytes: args.snapshot_budget.max(64),
        },
        rewind: Duration::from_millis(args.rewind_ms),
        max_players: args.max_players,
        snapshot_threads: args.snapshot_threads.map(usize::from),
        udp_batching: if args.no_udp_batching {
            tickforge_server::net::datagrams::Batching::Off
        } else {
            tickforge_server::net::datagrams::Batching::On
        },
        server_id: args.server_id,
        colour: args.colour,
        capacity: args.capacity,
        token_ttl: Duration::from_secs(args.token_ttl),
        linger: Duration::from_secs(args.linger_secs),
        hash_params: HashParams { m_kib: args.argon2_m_kib, t: args.argon2_t, p: args.argon2_p },
        hash_workers: args.hash_workers,
        hash_queue: args.hash_queue,
        login_limits: LimitConfig {
            account_failures: args.max_account_failures.max(1),
            ip_failures: args.max_ip_failures.max(1),
            lockout: Duration::from_secs(args.lockout_secs),
            registrations_per_hour: args.max_registrations_per_hour,
            ..LimitConfig::default()
        },
        private_key,
        record: args.record,
        ..Config::default()
    };
    let config_tls = config.tls.is_some();
    let server = Server::bind(config, true).context("cannot start server")?;
    {
        // One line that scripts read: key=value for what this role bound.
        let mut line = String::from("tickforge-server");
        let scheme = if config_tls { "https" } else { "http" };
        if let Some(http) = server.http_addr() {
            line += &format!(" http={http}");
        }
        line += &format!(" admin={}", server.admin_addr());
        if let (Some(udp), Some(public)) = (server.udp_addr(), server.public_addr()) {
            line += &format!(" udp={udp} public={public}");
        }
        if let Some(ws) = server.ws_addr() {
            line += &format!(" ws={ws}");
        }
        if let Some(http) = server.http_addr() {
            line += &format!(" api={scheme}://{http}");
        }
        line += &format!(" role={}", server.role().as_str());
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    server.run().context("server stopped with an error")?;
    Ok(())
}
