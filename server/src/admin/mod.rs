//! The admin surface, on its own listener (`--admin`, loopback by default).
//!
//! | route | does |
//! |---|---|
//! | `GET /admin/status` | tick timing over the last minute (and 10 s), players, entities, traffic, store queue, uptime |
//! | `GET /admin/players` | each player's address, RTT, loss, traffic, connected since |
//! | `GET /admin/cluster` | every app server: colour, state, players, capacity, heartbeat age; the active colour |
//! | `POST /admin/deploy` `{"colour"}` | sets the active colour: new logins go there, the other colour's servers drain (moving their players live) |
//! | `POST /admin/kick` `{"username"}` | disconnects the player on whichever server holds it, who is told why |
//! | `POST /admin/broadcast` `{"text"}` | a notice to every player on every live server |
//! | `POST /admin/record/start` `{"file"}` | record a replay to `<data-dir>/replays/FILE` (default `replay-<unix>.replay`) |
//! | `POST /admin/record/stop` | stop recording; the file gets its index |
//! | `GET /metrics` | Prometheus text (no token needed) |
//!
//! Every `/admin` route needs `Authorization: Bearer <token>`; without a
//! configured token they answer 503 and say how to turn them on. Kicks and
//! broadcasts are orders in the database's commands table, so any node
//! (auth or app) reaches every app server; replay recording is this
//! process's own and reaches its tick loop over a channel it drains without
//! blocking (a node without a world answers 409).

pub mod exporter;
pub mod process;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use crossbeam_channel::Sender;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::json;
use tickforge_shared::protocol::MAX_CHAT_CHARS;
use tokio::sync::oneshot;

use crate::auth::error;
use crate::operator::live::{AdminCommand, LiveStats};
use crate::secrets::AdminToken;
use crate::store::StoreHandle;
use crate::tick::TickMetrics;

/// What admin handlers share.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The bearer token; `None` turns the admin routes off.
    pub token: Option<AdminToken>,
    /// Tick loop figures.
    pub tick: Arc<TickMetrics>,
    /// Per-player figures.
    pub live: Arc<LiveStats>,
    /// Store queue depth.
    pub store: StoreHandle,
    /// Commands to this process's tick loop (`None`: no world here).
    pub commands: Option<Sender<AdminCommand>>,
    /// Prometheus registry.
    pub registry: Arc<Registry>,
    /// Configured tick rate.
    pub tick_rate: u16,
    /// For uptime.
    pub started: Instant,
    /// Where operator-started replays are written.
    pub replays_dir: std::path::PathBuf,
}

/// The admin routes and `/metrics`.
pub fn router(state: AdminState) -> Router {
    let admin = Router::new()
        .route("/admin/status", get(status))
        .route("/admin/players", get(players))
        .route("/admin/cluster", get(cluster))
        .route("/admin/deploy", post(deploy))
        .route("/admin/kick", post(kick))
        .route("/admin/broadcast", post(broadcast))
        .route("/admin/record/start", post(record_start))
        .route("/admin/record/stop", post(record_stop))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    admin.route("/metrics", get(metrics)).layer(DefaultBodyLimit::max(4096)).with_state(state)
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lets a request through only with the right bearer token.
async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin API is off: start the server with --admin-token or TICKFORGE_ADMIN_TOKEN",
        );
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| same(g.as_bytes(), token.expose().as_bytes())) {
        return next.run(request).await;
    }
    let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn status(State(state): State<AdminState>) -> Response {
    let t = &state.tick;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let ms = |us: u64| us as f64 / 1000.0;
    Json(json!({
        "tick_rate": state.tick_rate,
        "tick": load(&t.tick),
        "tick_ms": { "p50": ms(load(&t.window_p50_us)), "p99": ms(load(&t.window_p99_us)), "max": ms(load(&t.window_max_us)) },
        "tick_ms_10s": { "p50": ms(load(&t.recent_p50_us)), "p99": ms(load(&t.recent_p99_us)), "max": ms(load(&t.recent_max_us)) },
        "overruns": load(&t.overruns),
        "skipped_ticks": load(&t.skipped),
        "players": load(&t.players),
        "entities": load(&t.entities),
        "bytes_in_per_s": load(&t.bytes_in_per_s),
        "bytes_out_per_s": load(&t.bytes_out_per_s),
        "store_queue_depth": state.store.queue_depth(),
        "malformed_messages": load(&t.malformed),
        "out_of_phase_messages": load(&t.out_of_phase),
        "uptime_s": (state.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    }))
    .into_response()
}

/// The registry as the database holds it: every server with its colour,
/// state, load and heartbeat age, and the active colour.
async fn cluster(State(state): State<AdminState>) -> Response {
    match state.store.cluster().await {
        Ok(view) => {
            let servers: Vec<serde_json::Value> = view
                .servers
                .iter()
                .map(|s| {
                    let alive = s.row.state != crate::store::ServerState::Stopped
                        && s.heartbeat_age_ms <= crate::cluster::DEAD_AFTER_MS;
                    json!({
                        "id": s.row.id,
                        "colour": s.row.colour,
                        "game": s.row.game,
                        "state": s.row.state.as_str(),
                        "players": s.row.players,
                        "capacity": s.row.capacity,
                        "heartbeat_age_ms": s.heartbeat_age_ms,
                        "alive": alive,
                        "build": s.row.build,
                        "public_addr": s.row.public_addr,
                    })
                })
                .collect();
            let database = database_json(&state.store);
            Json(json!({ "active_colour": view.active_colour, "servers": servers, "database": database }))
                .into_response()
        }
        // The registry cannot be read (a commit stalled ahead of it, the
        // database down): still say what the database looks like, which is
        // usually why.
        Err(e) => {
            let (status, message) = store_answer(&e);
            (status, Json(json!({ "error": message, "database": database_json(&state.store) }))).into_response()
        }
    }
}

/// The database as this server sees it: for PostgreSQL the primary, its
/// standbys and lag, whether a standby streams (`replicated`), whether
/// commits wait for one (`synchronous`), `degraded` when standbys are
/// wanted and none does, `stalled` when commits wait for a standby that
/// does not stream; for SQLite just the backend.
fn database_json(store: &crate::store::StoreHandle) -> serde_json::Value {
    if !store.is_shared() {
        return json!({ "backend": "sqlite" });
    }
    match store.database_health() {
        Some(health) => json!({
            "backend": "postgres",
            "reachable": health.reachable,
            "primary": health.primary,
            "synchronous": health.synchronous,
            "replicated": health.replicated,
            "degraded": health.degraded,
            "stalled": health.stalled,
            "commits_waiting": health.commits_waiting,
            "wanted_standbys": health.wanted,
            "synchronous_standby_names": health.synchronous_standby_names,
            "standbys": health.standbys,
            "max_lag_bytes": health.max_lag_bytes(),
        }),
        None => json!({ "backend": "postgres", "reachable": null }),
    }
}

async fn players(State(state): State<AdminState>) -> Response {
    Json(json!({ "players": state.live.players() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KickBody {
    username: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastBody {
    text: String,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    colour: String,
}

/// Blue-green: the colour new logins go to. Servers of the other colour
/// learn it within a quarter second (their order poll) and drain.
async fn deploy(State(state): State<AdminState>, body: Bytes) -> Response {
    let body: DeployBody = match parse(&body) {
        Ok(b) => b,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let colour = match body.colour.parse::<crate::cluster::Colour>() {
        Ok(colour) => colour,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    match state.store.deploy(colour.as_str()).await {
        Ok(()) => {
            tracing::info!(colour = colour.as_str(), "active colour set");
            Json(json!({ "active_colour": colour.as_str() })).into_response()
        }
        Err(e) => store_unavailable(&e),
    }
}

async fn kick(State(state): State<AdminState>, body: Bytes) -> Response {
    let body: KickBody = match parse(&body) {
        Ok(b) => b,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let reason = body.reason.unwrap_or_else(|| "kicked by an operator".into());
    match state.store.kick(&body.username, &reason).await {
        Ok(Some(server)) => Json(json!({ "kicked": body.username, "server": server })).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such player connected"),
        Err(e) => store_unavailable(&e),
    }
}

async fn broadcast(State(state): State<AdminState>, body: Bytes) -> Response {
    let body: BroadcastBody = match parse(&body) {
        Ok(b) => b,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS {
        return error(StatusCode::BAD_REQUEST, "text must be 1 to 200 characters");
    }
    match state.store.broadcast(text).await {
        Ok(servers) => (StatusCode::ACCEPTED, Json(json!({ "sent": true, "servers": servers }))).into_response(),
        Err(e) => store_unavailable(&e),
    }
}

/// The answer when the store cannot take an order.
fn store_unavailable(e: &crate::store::StoreError) -> Response {
    let (status, message) = store_answer(e);
    error(status, message)
}

/// The status and message for a store failure.
fn store_answer(e: &crate::store::StoreError) -> (StatusCode, &'static str) {
    if e.is_unavailable() {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable, try again shortly");
    }
    match e {
        crate::store::StoreError::Busy | crate::store::StoreError::Closed => {
            (StatusCode::SERVICE_UNAVAILABLE, "server busy, try again")
        }
        crate::store::StoreError::Deadline(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "the database is not answering in time; try again shortly")
        }
        e => {
            tracing::error!(error = %e, "admin order failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// The answer on a node without a world.
fn no_world() -> Response {
    error(StatusCode::CONFLICT, "this node runs no world (role auth)")
}

#[derive(serde::Deserialize, Default)]
struct RecordBody {
    file: Option<String>,
}

/// A replay file name: letters, digits, `.`, `_`, `-`; no leading dot.
fn valid_replay_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

async fn record_start(State(state): State<AdminState>, body: Bytes) -> Response {
    let body: RecordBody = if body.is_empty() {
        RecordBody::default()
    } else {
        match parse(&body) {
            Ok(b) => b,
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        }
    };
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let name = body.file.unwrap_or_else(|| format!("replay-{unix}.replay"));
    if !valid_replay_name(&name) {
        return error(
            StatusCode::BAD_REQUEST,
            "file must be a plain name (letters, digits, . _ -), saved under the data dir's replays/",
        );
    }
    let dir = state.replays_dir.clone();
    let made = tokio::task::spawn_blocking(move || std::fs::create_dir_all(dir)).await;
    if let Err(e) = made.map_err(std::io::Error::other).and_then(|r| r) {
        tracing::error!(error = %e, "cannot create the replays directory");
        return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot create the replays directory");
    }
    let path = state.replays_dir.join(&name);
    let Some(commands) = &state.commands else { return no_world() };
    let (reply, answer) = oneshot::channel();
    if commands.try_send(AdminCommand::RecordStart { path: path.clone(), reply }).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "server busy, try again");
    }
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(Ok(Ok(()))) => Json(json!({ "recording": path.display().to_string() })).into_response(),
        Ok(Ok(Err(message))) => error(StatusCode::INTERNAL_SERVER_ERROR, &message),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "tick loop did not answer"),
    }
}

async fn record_stop(State(state): State<AdminState>) -> Response {
    let Some(commands) = &state.commands else { return no_world() };
    let (reply, answer) = oneshot::channel();
    if commands.try_send(AdminCommand::RecordStop { reply }).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "server busy, try again");
    }
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(Ok(Some(path))) => Json(json!({ "stopped": path.display().to_string() })).into_response(),
        Ok(Ok(None)) => error(StatusCode::CONFLICT, "not recording"),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "tick loop did not answer"),
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        tracing::error!(error = %e, "cannot encode metrics");
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}
