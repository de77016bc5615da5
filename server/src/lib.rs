//! # tickforge-server
//!
//! An authoritative real-time server: the main thread runs a fixed-rate
//! bevy_ecs tick loop ([`tick`], [`game`]) over renet/netcode
//! UDP ([`net`]); a side thread serves the HTTP auth API ([`auth`], [`side`]);
//! a store thread owns the database, embedded SQLite or a shared PostgreSQL
//! ([`store`]); [`cluster`] registers the server. See ARCHITECTURE.md for
//! the map.
//!
//! Embedding: [`Server::bind`] opens everything and reports the bound
//! addresses; [`Server::run`] runs the tick loop on the calling thread until
//! the [`Shutdown`] fires, then shuts down cleanly.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod embedded;
pub mod game;
pub mod games;
pub mod metrics;
pub mod net;
pub mod operator;
pub mod readiness;
pub mod record;
pub mod secrets;
pub mod shutdown;
pub mod side;
pub mod store;
pub mod tick;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::schedule::Schedule;
use bevy_ecs::world::World;
use tickforge_shared::sim::Simulation;

pub use config::Config;
pub use shutdown::Shutdown;

use net::NetServer;
use store::{Store, StoreOutbox};
use tick::{SharedMetrics, TickInfo, TickMetrics};

/// Bytes the game socket's receive buffer asks for.
pub const UDP_RECV_BUFFER: usize = 4 << 20;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The data dir could not be created.
    #[error("data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The private key could not be loaded.
    #[error(transparent)]
    Key(#[from] secrets::KeyError),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A socket could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The transport could not start.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// Password hashing could not be set up.
    #[error(transparent)]
    Hash(#[from] auth::password::HashError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] auth::tls::TlsError),
    /// The tick schedule is inconsistent (a bug).
    #[error("tick schedule: {0}")]
    Schedule(String),
    /// The tick thread panicked (a bug).
    #[error("tick thread panicked")]
    Panicked,
    /// An embedding that needs the whole server got a split role.
    #[error("an embedded server runs every part (--role all), not --role {0}")]
    NotWhole(&'static str),
    /// A thread could not be started.
    #[error("cannot start thread: {0}")]
    Thread(std::io::Error),
    /// The open-file limit cannot hold the core's descriptors and the
    /// least the HTTP listeners need.
    #[error(
        "the open-file limit ({limit}) leaves too little beside the {core} descriptors the core keeps \
         (raise it with `ulimit -n`, or lower --max-players)"
    )]
    Descriptors {
        /// The limit in force.
        limit: u64,
        /// What the core keeps.
        core: u64,
    },
}

/// The world half of a process (roles `all` and `app`): the tick loop's
/// world and schedule, the UDP addresses, and the WebSocket listener.
struct GameWorld {
    udp_addr: SocketAddr,
    public_addr: SocketAddr,
    ws_addr: SocketAddr,
    /// The URL logins name for browsers.
    ws_url: String,
    /// The `/ws` listener, for the side thread.
    ws_service: Option<net::websocket::Listener>,
    world: World,
    schedule: Schedule,
    /// Saves every player of the world's game (a clean stop).
    save_all: fn(&mut World),
}

/// A bound, ready server. Call [`Server::run`] to start ticking.
pub struct Server {
    config: Config,
    http_addr: Option<SocketAddr>,
    admin_addr: SocketAddr,
    app: Option<GameWorld>,
    store: Store,
    side: side::SideThread,
    shutdown: Shutdown,
    metrics: Arc<TickMetrics>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("role", &self.config.role)
            .field("http_addr", &self.http_addr)
            .field("admin_addr", &self.admin_addr)
            .field("udp_addr", &self.udp_addr())
            .field("public_addr", &self.public_addr())
            .finish_non_exhaustive()
    }
}

/// The accept queue an HTTP listener asks the kernel for (clamped to
/// `net.core.somaxconn`): room for a burst of connections while the accept
/// loop closes a flood's, so a bystander's connection is not dropped and
/// left to its SYN retry.
const LISTEN_BACKLOG: i32 = 4096;

fn bind_tcp(what: &'static str, addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind = || -> std::io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        Ok(socket.into())
    };
    let listener = bind().map_err(|source| ServerError::Bind { what, addr, source })?;
    let bound = listener.local_addr().map_err(|source| ServerError::Bind { what, addr, source })?;
    Ok((listener, bound))
}

/// What the WebSocket listener takes: the page origins it lets in, its
/// counters, its connection bounds, and the process's readiness.
struct WsSetup {
    origins: Vec<String>,
    metrics: Arc<net::websocket::WsMetrics>,
    connections: Arc<net::conn_gate::ConnGate>,
    readiness: readiness::Readiness,
}

/// The WebSocket links a world holds at most: every player slot, and as
/// many again on their way in.
fn max_ws_links(config: &Config) -> usize {
    config.max_players.saturating_mul(2).max(64)
}

/// What the world is built from: every shared part of the process.
struct WorldParts<'a> {
    config: &'a Config,
    key: &'a secrets::PrivateKey,
    store: &'a Store,
    metrics: &'a Arc<TickMetrics>,
    live: Arc<operator::live::LiveStats>,
    admin_rx: crossbeam_channel::Receiver<operator::live::AdminCommand>,
    shutdown: &'a Shutdown,
    ws: WsSetup,
}

impl games::GameFn<Result<GameWorld, ServerError>> for WorldParts<'_> {
    fn call<G: api::Game>(self) -> Result<GameWorld, ServerError> {
        let WorldParts { config, key, store, metrics, live, admin_rx, shutdown, ws } = self;
        bind_world::<G>(config, key, store, metrics, live, admin_rx, shutdown, ws)
    }
}

/// Binds the game socket and builds the world of game `G` (roles `all` and `app`).
// The world takes every shared part of the process; grouping them would only rename them.
#[allow(clippy::too_many_arguments)]
fn bind_world<G: api::Game>(
    config: &Config,
    key: &secrets::PrivateKey,
    store: &Store,
    metrics: &Arc<TickMetrics>,
    live: Arc<operator::live::LiveStats>,
    admin_rx: crossbeam_channel::Receiver<operator::live::AdminCommand>,
    shutdown: &Shutdown,
    ws: WsSetup,
) -> Result<GameWorld, ServerError> {
    let WsSetup { origins: ws_origins, metrics: ws_metrics, connections: ws_connections, readiness } = ws;
    let udp = UdpSocket::bind(config.udp_addr).map_err(|source| ServerError::Bind {
        what: "UDP",
        addr: config.udp_addr,
        source,
    })?;
    // Hundreds of clients' packets arrive between two reads (a tick): the
    // default receive buffer holds a couple of hundred, and the kernel
    // drops the rest. The system caps this at net.core.rmem_max.
    let socket = socket2::SockRef::from(&udp);
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::warn!(error = %e, "cannot enlarge the UDP receive buffer");
    }
    // Linux doubles what it grants (bookkeeping) and caps it silently.
    let granted = socket.recv_buffer_size().unwrap_or(0);
    if granted < UDP_RECV_BUFFER {
        tracing::info!(granted, asked = UDP_RECV_BUFFER, "UDP receive buffer capped by the system (net.core.rmem_max)");
    }
    let udp_addr =
        udp.local_addr().map_err(|source| ServerError::Bind { what: "UDP", addr: config.udp_addr, source })?;
    let public_addr = config.public_addr.unwrap_or(udp_addr);
    if public_addr.ip().is_unspecified() {
        tracing::warn!(%public_addr, "tokens name an unspecified address; set --public-addr so clients can reach the server");
    }
    let (ws_listener, ws_addr) = bind_tcp("WebSocket", config.ws_addr)?;
    let ws_url = config.ws_url(ws_addr, public_addr);
    if config.tls.is_some() && config.public_ws.is_none() {
        tracing::warn!(%ws_addr, "an HTTPS page may only open wss://: terminate TLS for the WebSocket in front and set --public-ws wss://…");
    }
    if ws_origins.is_empty() {
        tracing::warn!(%ws_addr, "no --allowed-origin: browsers' WebSocket connections are refused");
    }
    let policy = net::websocket::GatePolicy {
        max_links: max_ws_links(config),
        allowed_origins: ws_origins,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let (gate, links) = net::websocket::channel(policy, ws_metrics);
    let ws_service = net::websocket::Listener { listener: ws_listener, gate, connections: ws_connections };
    let net = NetServer::new(udp, Some(links), public_addr, key, config.max_players, config.udp_batching)?;
    let server_id = config.server_id.clone().unwrap_or_else(|| cluster::default_server_id(public_addr));

    let mut world = World::new();
    world.insert_resource(SharedMetrics(metrics.clone()));
    world.insert_resource(TickInfo {
        tick: 0,
        dt: tickforge_shared::sim::tick_dt(config.tick_rate),
        elapsed: Duration::ZERO,
    });
    world.insert_resource(readiness);
    let mut schedule = tick::phases::schedule();
    net::install(&mut world, &mut schedule, net);
    store::install(&mut world, &mut schedule, store.handle());
    game::replicate::install::<G::Sim>(&mut world, &mut schedule, config.replication);
    if let Some(threads) = config.snapshot_threads {
        world.insert_resource(game::replicate::SnapshotThreads(threads.clamp(1, 2)));
    }
    game::input::install::<G::Sim>(&mut schedule);
    let rewind_ticks = (config.rewind.as_secs_f64() * f64::from(config.tick_rate)).round() as u32;
    api::rewind::install(&mut world, &mut schedule, rewind_ticks);
    let linger_ticks = (config.linger.as_secs_f64() * f64::from(config.tick_rate)).round() as u64;
    let setup = game::players::PlayersSetup {
        server_id: server_id.clone(),
        linger_ticks,
        save_every_ticks: config.save_every_ticks(),
    };
    game::players::install::<G>(&mut world, &mut schedule, setup);
    game::chat::install(&mut world, &mut schedule);
    let registration = cluster::Registration {
        row: store::ServerRow {
            id: server_id,
            colour: config.colour.as_str().to_owned(),
            build: cluster::BUILD.to_owned(),
            public_addr: public_addr.to_string(),
            ws_url: ws_url.clone(),
            game: G::NAME.to_owned(),
            capacity: config.capacity.unwrap_or(config.max_players) as u32,
            players: 0,
            state: store::ServerState::Starting,
        },
    };
    // Bound, not yet ticking; the tick loop's heartbeat says `ready`. A
    // single process is alone on its database: every lease left from a
    // crash is its own.
    let register =
        store::StoreCommand::Register { row: registration.row.clone(), exclusive: config.role == cluster::Role::All };
    if store.handle().try_send(register).is_err() {
        tracing::warn!("store queue full at start: the first heartbeat waits for the tick loop");
    }
    let tokens = net::token::TokenIssuer::new(key.clone(), config.token_ttl, config.connection_timeout_secs);
    cluster::install::<G>(&mut world, &mut schedule, registration, tokens, shutdown.clone());
    let mut recorder = record::Recorder::new(G::NAME, <G::Sim as Simulation>::WORLD, <G::Sim as Simulation>::schema());
    if let Some(path) = &config.record {
        recorder.start(path.clone(), config.tick_rate).map_err(ServerError::Thread)?;
        tracing::info!(path = %path.display(), "recording a replay");
    }
    record::install(&mut world, &mut schedule, recorder);
    operator::install(&mut world, &mut schedule, admin_rx, live);
    G::install(&mut world, &mut schedule, api::Setup { npcs: config.npcs, pickups: config.orbs });
    schedule.initialize(&mut world).map_err(|e| ServerError::Schedule(format!("{e:?}")))?;
    let save_all = game::progress::save_all::<G>;
    Ok(GameWorld { udp_addr, public_addr, ws_addr, ws_url, ws_service: Some(ws_service), world, schedule, save_all })
}

/// The connection bounds of each listener the role serves, fitted into
/// the process's descriptors (see [`side::budget`]).
struct Gates {
    auth: Option<Arc<net::conn_gate::ConnGate>>,
    admin: Arc<net::conn_gate::ConnGate>,
    /// The WebSocket listener's connections not yet upgraded (a world only).
    ws: Option<Arc<net::conn_gate::ConnGate>>,
}

impl Gates {
    fn all(&self) -> Vec<Arc<net::conn_gate::ConnGate>> {
        self.auth.iter().chain([&self.admin]).chain(self.ws.iter()).cloned().collect()
    }
}

/// Raises the open-file limit and sizes every listener's bounds so that
/// all of them together leave the core its descriptors.
fn connection_gates(config: &Config) -> Result<Gates, ServerError> {
    use net::conn_gate::{ConnGate, ConnLimits};
    let limit = side::budget::raise_open_files();
    let world = config.role.runs_world();
    let ws_links = if world { max_ws_links(config) } else { 0 };
    let core = side::budget::CORE_RESERVE + ws_links as u64;
    let mut wanted = vec![config::ADMIN_CONNECTIONS.min(config.http.max_connections)];
    if config.role.serves_auth() {
        wanted.push(config.http.max_connections);
    }
    if world {
        wanted.push(ws_links);
    }
    let fitted = side::budget::fit(limit, core, &wanted).ok_or(ServerError::Descriptors { limit, core })?;
    if fitted != wanted {
        tracing::warn!(
            limit,
            core,
            ?wanted,
            ?fitted,
            "open-file limit too low for the HTTP bounds; bounds scaled down"
        );
    }
    let per_addr = config.http.max_per_address;
    let gate = |name, total: usize| {
        ConnGate::new(name, ConnLimits { total, per_addr: per_addr.min(total) }, config.trusted_proxies.clone())
    };
    let mut fitted = fitted.into_iter();
    let admin = gate("admin", fitted.next().unwrap_or(side::budget::MIN_PER_LISTENER));
    let auth = config.role.serves_auth().then(|| gate("auth", fitted.next().unwrap_or(side::budget::MIN_PER_LISTENER)));
    let ws = world.then(|| gate("websocket", fitted.next().unwrap_or(side::budget::MIN_PER_LISTENER)));
    Ok(Gates { auth, admin, ws })
}

impl Server {
    /// Opens the data dir, database and key, binds what the role serves
    /// (auth API, game UDP, admin), starts the store and side threads.
    /// With `handle_signals`, SIGINT/SIGTERM trigger the shutdown.
    pub fn bind(config: Config, handle_signals: bool) -> Result<Self, ServerError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| ServerError::DataDir { path: config.data_dir.display().to_string(), source })?;
        let key = match &config.private_key {
            Some(key) => key.clone(),
            None => secrets::PrivateKey::load_or_create(&config.data_dir)?,
        };
        let database = config.database_url();
        let options =
            store::StoreOptions { deadline: config.store_deadline, access_log_retention: config.access_log_retention };
        let store = Store::open_with(&database, options)?;
        tracing::info!(%database, role = config.role.as_str(), "store open");

        let shutdown = Shutdown::new();
        let readiness = readiness::Readiness::default();
        let metrics = Arc::new(TickMetrics::default());
        let live = Arc::new(operator::live::LiveStats::default());
        let (admin_tx, admin_rx) = crossbeam_channel::bounded(256);
        let gates = connection_gates(&config)?;
        let http = if config.role.serves_auth() { Some(bind_tcp("HTTP", config.http_addr)?) } else { None };
        let http_addr = http.as_ref().map(|(_, bound)| *bound);
        let ws_metrics = Arc::new(net::websocket::WsMetrics::default());
        let mut app = match &gates.ws {
            Some(connections) => {
                let ws = WsSetup {
                    origins: config.ws_origins(http_addr),
                    metrics: ws_metrics.clone(),
                    connections: connections.clone(),
                    readiness: readiness.clone(),
                };
                let parts = WorldParts {
                    config: &config,
                    key: &key,
                    store: &store,
                    metrics: &metrics,
                    live: live.clone(),
                    admin_rx,
                    shutdown: &shutdown,
                    ws,
                };
                let world = games::with_game(&config.game, parts)
                    .ok_or_else(|| config::ConfigError::UnknownGame(config.game.clone()))??;
                Some(world)
            }
            None => None,
        };

        let front_metrics = Arc::new(side::front::FrontMetrics::default());
        let door = side::front::FrontDoor::new(
            config.trusted_proxies.clone(),
            config.http.max_per_address,
            config.request_deadline(),
            front_metrics.clone(),
        );
        let probes = side::health::routes(readiness.clone(), shutdown.clone());
        let timeouts = side::serve::Timeouts { header: config.http.header_timeout, idle: config.http.idle_timeout };
        let mut services = Vec::new();
        let mut background: Vec<side::Task> = Vec::new();
        let websocket = app.as_mut().and_then(|a| a.ws_service.take());
        let auth_metrics = Arc::new(auth::AuthMetrics::default());
        if let (Some((http, _)), Some(gate)) = (http, &gates.auth) {
            let tls = config.tls.as_ref().map(auth::tls::load).transpose()?;
            let placement = match &app {
                Some(app) => auth::Placement::Fixed { servers: vec![app.public_addr], ws: vec![app.ws_url.clone()] },
                None => auth::Placement::Director,
            };
            let auth_state = auth::AuthState {
                store: store.handle(),
                hasher: auth::password::Hasher::new(config.hash_params, config.hash_workers, config.hash_queue)?,
                tokens: net::token::TokenIssuer::new(key, config.token_ttl, config.connection_timeout_secs),
                placement,
                limiter: Arc::new(auth::limiter::Limiter::new(config.login_limits)),
                metrics: auth_metrics.clone(),
                // One process runs its own game; the director places on any.
                games: match &app {
                    Some(_) => Arc::from([games::named(&config.game).unwrap_or(games::DEFAULT)]),
                    None => Arc::from(games::NAMES),
                },
            };
            background.push(Box::pin(auth::log_refusals(auth_state.clone(), shutdown.clone())));
            services.push(side::Service {
                name: "auth",
                listener: http,
                app: side::http_app(auth::router(auth_state, config.web_dir.clone()), &door, &probes),
                tls,
                gate: gate.clone(),
                timeouts,
            });
        }
        if app.is_none() {
            // An auth node takes logins once it is bound.
            readiness.set(readiness::Ready::Ready);
        }
        let (admin, admin_addr) = bind_tcp("admin", config.admin_addr)?;
        let exporter = admin::exporter::Exporter {
            tick: metrics.clone(),
            store: store.metrics(),
            store_handle: store.handle(),
            auth: auth_metrics,
            ws: ws_metrics,
            listeners: gates.all(),
            front: front_metrics,
        };
        let admin_state = admin::AdminState {
            token: config.admin_token.clone(),
            tick: metrics.clone(),
            live,
            store: store.handle(),
            commands: app.is_some().then_some(admin_tx),
            registry: Arc::new(admin::exporter::registry(exporter)),
            tick_rate: config.tick_rate,
            started: Instant::now(),
            replays_dir: config.data_dir.join("replays"),
        };
        if config.admin_token.is_none() {
            tracing::warn!(%admin_addr, "no admin token: admin routes are off (only /metrics is served)");
        }
        services.push(side::Service {
            name: "admin",
            listener: admin,
            app: side::http_app(admin::router(admin_state), &door, &probes),
            tls: None,
            gate: gates.admin.clone(),
            timeouts,
        });
        let side = side::SideThread::start(
            services,
            websocket,
            background,
            shutdown.clone(),
            config.hash_workers,
            handle_signals,
        )
        .map_err(ServerError::Thread)?;

        tracing::info!(
            role = config.role.as_str(),
            http = ?http_addr,
            %admin_addr,
            udp = ?app.as_ref().map(|a| a.udp_addr),
            ws = ?app.as_ref().map(|a| a.ws_addr),
            public = ?app.as_ref().map(|a| a.public_addr),
            data_dir = %config.data_dir.display(),
            "server bound"
        );
        Ok(Self { config, http_addr, admin_addr, app, store, side, shutdown, metrics })
    }

    /// The bound auth API address (`None` for `--role app`).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The bound admin API address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The bound game WebSocket address (`None` for `--role auth`).
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.app.as_ref().map(|a| a.ws_addr)
    }

    /// The WebSocket URL logins name for this server (`None` for `--role auth`).
    pub fn ws_url(&self) -> Option<&str> {
        self.app.as_ref().map(|a| a.ws_url.as_str())
    }

    /// The bound game UDP address (`None` for `--role auth`).
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.app.as_ref().map(|a| a.udp_addr)
    }

    /// The address connect tokens name (`None` for `--role auth`).
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.app.as_ref().map(|a| a.public_addr)
    }

    /// What this process does.
    pub fn role(&self) -> cluster::Role {
        self.config.role
    }

    /// A handle that stops [`Server::run`] when triggered.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Tick figures, readable from any thread.
    pub fn metrics(&self) -> Arc<TickMetrics> {
        self.metrics.clone()
    }

    /// Runs one tick now, outside the timed loop (for benchmarks; a no-op
    /// without a world).
    pub fn step(&mut self) {
        let Some(app) = &mut self.app else { return };
        {
            let mut info = app.world.resource_mut::<TickInfo>();
            info.tick += 1;
            let dt = Duration::from_secs_f32(info.dt);
            info.elapsed += dt;
        }
        app.schedule.run(&mut app.world);
    }

    /// Runs the tick loop on this thread until shutdown (or, without a
    /// world, waits for it), then tells clients, flushes the store and
    /// stops every thread.
    pub fn run(self) -> Result<(), ServerError> {
        let Server { config, app, store, side, shutdown, metrics, .. } = self;
        match app {
            Some(GameWorld { mut world, mut schedule, save_all, .. }) => {
                let start = Instant::now();
                tracing::info!(tick_rate = config.tick_rate, npcs = config.npcs, "tick loop running");
                tick::run_loop(
                    start,
                    config.tick_rate,
                    &metrics,
                    || shutdown.is_triggered(),
                    |n, elapsed| {
                        {
                            let mut info = world.resource_mut::<TickInfo>();
                            info.tick = n;
                            info.elapsed = elapsed;
                        }
                        schedule.run(&mut world);
                    },
                );
                tracing::info!("shutting down: telling clients, flushing the store");
                shutdown.trigger();
                leave_world(&mut world, save_all);
            }
            None => {
                while !shutdown.is_triggered() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                tracing::info!("shutting down: finishing requests, flushing the store");
            }
        }
        // In reverse order of start: the HTTP services (started after the
        // store) finish their requests in flight against a store that is
        // still open, so a registration is answered only after it
        // committed; then the store drains its queue and closes.
        side.join();
        store.shutdown();
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// A clean stop of the world: clients told, everyone saved (their leases
/// let go) and logged out, the registry row `stopped`, the outbox handed over.
fn leave_world(world: &mut World, save_all: fn(&mut World)) {
    world.resource_mut::<NetServer>().shutdown(tickforge_shared::protocol::SHUTTING_DOWN);
    world.resource_mut::<record::Recorder>().finish();
    world.resource::<readiness::Readiness>().set(readiness::Ready::Draining);
    save_all(world);
    let leaving: Vec<_> = world
        .query::<&game::components::Avatar>()
        .iter(world)
        .map(|a| store::AccessEvent::now(store::AccessKind::Disconnect, Some(a.account_id), Some(&a.name), None))
        .collect();
    let stopped = world.resource::<cluster::Registration>().row(0, store::ServerState::Stopped);
    let mut outbox = world.resource_mut::<StoreOutbox>();
    for event in leaving {
        outbox.push_access(event);
    }
    outbox.push(store::StoreCommand::Heartbeat(stopped));
    outbox.drain_blocking();
}
