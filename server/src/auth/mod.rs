//! The auth API: register, login, leaderboard, health.
//!
//! Runs on the side thread's tokio runtime. Talks to the store through
//! [`StoreHandle`] and hashes on the bounded [`password::Hasher`] pool; the
//! tick loop is never involved. A successful login answers a netcode connect
//! token that carries the account's identity, sealed with the private key.
//!
//! | route | answers |
//! |---|---|
//! | `POST /v1/register` | 201 `{account_id, username}`, 409 taken, 400 invalid |
//! | `POST /v1/login` | 200 `{connect_token, expires_at, servers}`, 401 `{"error":"invalid credentials"}`, 429 locked out |
//! | `POST /v1/resume` `{resume_token}` | 200 like login (a new resume token; the old one is spent), 401 `{"error":"invalid resume token"}`, 429 locked out |
//! | `POST /v1/logout` `{resume_token}` | 204: every resume token of the account revoked |
//! | `POST /v1/password` `{username, password, new_password}` | 204: changed, every resume token revoked; 401/429 as login; 400 invalid |
//! | `GET /v1/leaderboard?game=G&limit=N` | 200 `{"game", "leaders":[{username, score}]}` (the game's saved ranks; default game: the first) |
//!
//! Every route may also answer 503 with `Retry-After` when the hashing
//! queue or the store queue is full or the store does not answer within
//! its deadline, and 413 for a body over [`MAX_BODY_BYTES`]. Requests are
//! keyed by the client's address ([`ClientAddr`]: behind a trusted proxy,
//! the one it forwarded). `/healthz` and `/readyz` are the side's
//! (`side::health`), on every listener.

pub mod limiter;
pub mod page;
pub mod password;
pub mod tls;
pub mod validate;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::net::identity::Identity;
use crate::net::token::TokenIssuer;
pub use crate::side::front::error;
use crate::side::front::{ClientAddr, retry_later};
use crate::store::{AccessEvent, AccessKind, StoreCommand, StoreError, StoreHandle};
use limiter::Limiter;
use password::{HashError, Hasher};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// What the logs and the access log say for a name that is not a valid username.
const INVALID_NAME: &str = "<invalid name>";

/// Most lines one leaderboard request may ask for.
pub const LEADERBOARD_MAX: u32 = 100;

/// Counters the auth API keeps, for `/metrics`.
#[derive(Debug, Default)]
pub struct AuthMetrics {
    /// Successful logins.
    pub logins_ok: AtomicU64,
    /// Failed logins (bad credentials).
    pub logins_failed: AtomicU64,
    /// Logins refused because the account or IP was locked out.
    pub logins_locked: AtomicU64,
    /// Accounts created.
    pub registrations: AtomicU64,
    /// Registrations refused: the address made too many accounts.
    pub registrations_limited: AtomicU64,
    /// Requests answered 503 because a queue was full.
    pub busy: AtomicU64,
    /// Logins answered 503 because no game server had room.
    pub no_room: AtomicU64,
    /// Director placement time (one store round trip).
    pub placement: crate::metrics::Histogram,
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// Accounts and the access log.
    pub store: StoreHandle,
    /// Password hashing pool.
    pub hasher: Hasher,
    /// Connect-token sealing.
    pub tokens: TokenIssuer,
    /// Where logins play.
    pub placement: Placement,
    /// Failed-login limits.
    pub limiter: Arc<Limiter>,
    /// Counters.
    pub metrics: Arc<AuthMetrics>,
    /// The games this binary runs ([`crate::api::Game::NAME`]), the
    /// default first.
    pub games: Arc<[&'static str]>,
}

/// How a login chooses its game server.
#[derive(Debug, Clone)]
pub enum Placement {
    /// Always these (a single process: its own addresses).
    Fixed {
        /// Game addresses for the token.
        servers: Vec<std::net::SocketAddr>,
        /// The server's WebSocket URLs.
        ws: Vec<String>,
    },
    /// The director: the least-loaded live server of the active colour,
    /// chosen and reserved in the database (`--role auth`).
    Director,
}

/// Credentials, as register takes them (a login also names its game: [`LoginBody`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Account name.
    pub username: String,
    /// Plain-text password (only ever hashed, never stored or logged).
    pub password: String,
}

/// A login's body: credentials and, optionally, the game to play.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Account name.
    pub username: String,
    /// Plain-text password (only ever hashed, never stored or logged).
    pub password: String,
    /// The game ([`crate::api::Game::NAME`]); default: the server's first.
    #[serde(default)]
    pub game: Option<String>,
}

/// Body of a successful login.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Standard base64 of the 2048-byte netcode connect token.
    pub connect_token: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
    /// Game servers the token is valid for.
    pub servers: Vec<String>,
    /// WebSocket URLs of the chosen server (`ws://host:port/ws`), for
    /// browsers: one binary message per netcode datagram, same token.
    #[serde(default)]
    pub ws: Vec<String>,
    /// Log in again without the password, once, until `resume_expires_at`
    /// (`None` if it could not be stored).
    pub resume_token: Option<String>,
    /// Unix seconds after which the resume token is refused.
    pub resume_expires_at: Option<u64>,
    /// The game the token's server runs.
    #[serde(default)]
    pub game: String,
}

/// How long a resume token is valid.
pub const RESUME_TTL: Duration = Duration::from_secs(600);

/// A resume token as a request carries it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeBody {
    resume_token: String,
    /// The game server (`ip:port`) the client lost its link to: the
    /// director tries it last.
    #[serde(default)]
    unreachable: Option<String>,
    /// The game to play (default: the server's first).
    #[serde(default)]
    game: Option<String>,
}

/// The stored form of a resume token: its BLAKE2b-512 hash, hex.
fn resume_hash(token: &str) -> String {
    use blake2::Digest;
    blake2::Blake2b512::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The auth routes.
pub fn router(state: AuthState, page_dir: std::path::PathBuf) -> Router {
    Router::new()
        .merge(page::routes(page_dir))
        .route("/v1/register", post(register))
        .route("/v1/login", post(login))
        .route("/v1/resume", post(resume))
        .route("/v1/logout", post(logout))
        .route("/v1/password", post(change_password))
        .route("/v1/leaderboard", get(leaderboard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The one answer for every bad credential, so none can be told apart.
fn invalid_credentials() -> Response {
    error(StatusCode::UNAUTHORIZED, "invalid credentials")
}

fn busy(state: &AuthState) -> Response {
    state.metrics.busy.fetch_add(1, Ordering::Relaxed);
    retry_later(StatusCode::SERVICE_UNAVAILABLE, "server busy, try again shortly", Duration::from_secs(1))
}

fn store_failure(state: &AuthState, e: &StoreError) -> Response {
    match e {
        StoreError::Busy => busy(state),
        StoreError::Closed => retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "server shutting down, try again shortly",
            Duration::from_secs(5),
        ),
        StoreError::Deadline(after) => {
            tracing::warn!(?after, "the store did not answer in time; answering 503");
            retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering in time (commits may be waiting for a standby); try again shortly",
                Duration::from_secs(5),
            )
        }
        e if e.is_unavailable() => {
            tracing::warn!(error = %e, "database unreachable; answering 503");
            retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable, try again shortly",
                Duration::from_secs(2),
            )
        }
        _ => {
            tracing::error!(error = %e, "store failure in auth API");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn hash_failure(state: &AuthState, e: &HashError) -> Response {
    match e {
        HashError::Busy => busy(state),
        _ => {
            tracing::error!(error = %e, "password hashing failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn parse_credentials(body: &[u8]) -> Result<Credentials, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("expected JSON {{\"username\": \"...\", \"password\": \"...\"}}: {e}"))
}

/// Queues an access-log row; if the store queue is full, a task keeps
/// trying (the row is never dropped while the store runs).
fn log_access(state: &AuthState, event: AccessEvent) {
    let Err(refused) = state.store.try_send(StoreCommand::LogAccess(event)) else { return };
    if refused.closed {
        tracing::error!("access log row lost: the store has stopped");
        return;
    }
    let store = state.store.clone();
    let mut command = *refused.command;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            match store.try_send(command) {
                Ok(()) => return,
                Err(refused) if refused.closed => {
                    tracing::error!("access log row lost: the store has stopped");
                    return;
                }
                Err(refused) => command = *refused.command,
            }
        }
    });
}

/// The game a request names (`None`: the default, the first), if this
/// binary runs it; else why not.
fn game_named(state: &AuthState, name: Option<&str>) -> Result<&'static str, String> {
    let known = || state.games.join(", ");
    match name {
        None => state.games.first().copied().ok_or_else(|| "no game is served here".to_owned()),
        Some(name) => state
            .games
            .iter()
            .copied()
            .find(|g| *g == name)
            .ok_or_else(|| format!("unknown game {name:?}; this server runs: {}", known())),
    }
}

async fn leaderboard(State(state): State<AuthState>, Query(params): Query<HashMap<String, String>>) -> Response {
    let limit = match params.get("limit").map(|l| l.parse::<u32>()) {
        None => 10,
        Some(Ok(n)) if (1..=LEADERBOARD_MAX).contains(&n) => n,
        Some(_) => return error(StatusCode::BAD_REQUEST, "limit must be a number from 1 to 100"),
    };
    let game = match game_named(&state, params.get("game").map(String::as_str)) {
        Ok(game) => game,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    match state.store.leaderboard(game, limit).await {
        Ok(leaders) => Json(json!({ "game": game, "leaders": leaders })).into_response(),
        Err(e) => store_failure(&state, &e),
    }
}

async fn register(
    State(state): State<AuthState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    body: Bytes,
) -> Response {
    let creds = match parse_credentials(&body) {
        Ok(c) => c,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let username = match validate::normalize_username(&creds.username) {
        Ok(name) => name,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    if let Err(msg) = validate::password(&creds.password) {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    // Every well-formed attempt counts (a taken name too: trying names is
    // how one would learn which exist).
    if let Err(wait) = state.limiter.register(peer.ip(), Instant::now()) {
        state.metrics.registrations_limited.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%peer, "registration refused: this address made too many accounts");
        return retry_later(StatusCode::TOO_MANY_REQUESTS, "too many accounts made from your address; try later", wait);
    }
    let hash = match state.hasher.hash(creds.password).await {
        Ok(h) => h,
        Err(e) => return hash_failure(&state, &e),
    };
    match state.store.create_account(&username, hash).await {
        Ok(account_id) => {
            state.metrics.registrations.fetch_add(1, Ordering::Relaxed);
            tracing::info!(account = account_id, %username, "account registered");
            log_access(&state, AccessEvent::now(AccessKind::Register, Some(account_id), Some(&username), Some(peer)));
            (StatusCode::CREATED, Json(json!({ "account_id": account_id, "username": username }))).into_response()
        }
        Err(StoreError::UsernameTaken) => error(StatusCode::CONFLICT, "username taken"),
        Err(e) => store_failure(&state, &e),
    }
}

async fn login(
    State(state): State<AuthState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    body: Bytes,
) -> Response {
    let login: LoginBody = match serde_json::from_slice(&body) {
        Ok(login) => login,
        Err(e) => {
            let expected = r#"expected JSON {"username": "...", "password": "...", "game"?: "..."}"#;
            return error(StatusCode::BAD_REQUEST, &format!("{expected}: {e}"));
        }
    };
    // The game first: a login for a game nobody runs here checks no password.
    let game = match game_named(&state, login.game.as_deref()) {
        Ok(game) => game,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let account = match verify(&state, peer, &login.username, login.password).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    log_access(&state, AccessEvent::now(AccessKind::LoginOk, Some(account.id), Some(&account.username), Some(peer)));
    admit(&state, &account, None, game).await
}

/// Checks a name and password as a login does — the lockout, the same
/// work and the same 401 for an unknown name and a wrong password, failures
/// counted and logged — and answers the account.
async fn verify(
    state: &AuthState,
    peer: std::net::SocketAddr,
    name: &str,
    password: String,
) -> Result<crate::store::AccountRow, Response> {
    // A name that cannot exist is still checked (same time, same answer),
    // but never logged or stored as typed: it may be a misplaced password.
    let username = validate::normalize_username(name).ok();
    let key = username.as_deref().unwrap_or(INVALID_NAME);
    let attempt = match state.limiter.attempt(key, peer.ip(), Instant::now()) {
        Ok(attempt) => attempt,
        Err(wait) => return Err(locked_out(state, peer, Some(key), wait)),
    };
    let account = match &username {
        Some(name) => state.store.find_account(name).await.map_err(|e| store_failure(state, &e))?,
        None => None,
    };
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let ok = state.hasher.verify(password, stored).await.map_err(|e| hash_failure(state, &e))?;
    match account {
        Some(account) if ok => {
            attempt.succeeded();
            Ok(account)
        }
        _ => {
            attempt.failed(Instant::now());
            state.metrics.logins_failed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(username = %key, %peer, "login failed");
            log_access(state, AccessEvent::now(AccessKind::LoginFailed, account.map(|a| a.id), Some(key), Some(peer)));
            Err(invalid_credentials())
        }
    }
}

/// The answer to an attempt refused by a lockout: counted, summed for the
/// access log (one row per address and name per interval, not one each),
/// logged at debug level (a flood must not flood the log).
fn locked_out(state: &AuthState, peer: std::net::SocketAddr, name: Option<&str>, wait: Duration) -> Response {
    state.metrics.logins_locked.fetch_add(1, Ordering::Relaxed);
    state.limiter.refused(peer, name, Instant::now());
    tracing::debug!(username = ?name, %peer, "refused: locked out");
    retry_later(StatusCode::TOO_MANY_REQUESTS, "too many attempts, try again later", wait)
}

/// How often the refusals a lockout summed are written to the access log.
pub const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(10);

/// Writes the summed lockout refusals to the access log every
/// [`REFUSALS_LOGGED_EVERY`], and once more at shutdown.
pub async fn log_refusals(state: AuthState, shutdown: crate::shutdown::Shutdown) {
    loop {
        let stop = tokio::select! {
            () = tokio::time::sleep(REFUSALS_LOGGED_EVERY) => false,
            () = shutdown.wait() => true,
        };
        for refused in state.limiter.take_refusals() {
            let mut event =
                AccessEvent::now(AccessKind::LoginLocked, None, refused.username.as_deref(), Some(refused.peer));
            event.repeats = refused.count;
            log_access(&state, event);
        }
        if stop {
            return;
        }
    }
}

/// A password change: the old password as a login checks it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    username: String,
    password: String,
    new_password: String,
}

/// Changes the password (checked like a login) and revokes every resume
/// token of the account, in one transaction; answers 204.
async fn change_password(
    State(state): State<AuthState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    body: Bytes,
) -> Response {
    let change: PasswordChange = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            let expected = r#"expected JSON {"username": "...", "password": "...", "new_password": "..."}"#;
            return error(StatusCode::BAD_REQUEST, &format!("{expected}: {e}"));
        }
    };
    if let Err(msg) = validate::password(&change.new_password) {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    let account = match verify(&state, peer, &change.username, change.password).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let hash = match state.hasher.hash(change.new_password).await {
        Ok(h) => h,
        Err(e) => return hash_failure(&state, &e),
    };
    match state.store.set_password(account.id, hash).await {
        Ok(()) => {
            tracing::info!(account = account.id, "password changed; resume tokens revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => store_failure(&state, &e),
    }
}

/// A login's answer for `account` (after a password or a resume token):
/// the director's servers, a connect token, a fresh resume token.
async fn admit(
    state: &AuthState,
    account: &crate::store::AccountRow,
    avoid: Option<String>,
    game: &'static str,
) -> Response {
    let identity = Identity { account_id: account.id, name: account.username.clone() };
    let (servers, ws) = match &state.placement {
        Placement::Fixed { servers, ws } => (servers.clone(), ws.clone()),
        Placement::Director => match direct(state, account.id, avoid, game).await {
            Ok(servers) => servers,
            Err(response) => return response,
        },
    };
    let token = match state.tokens.issue(&identity, &servers) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot issue connect token");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let resume: String =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tickforge_netcode::random_bytes::<32>());
    let resume_expires_at = token.expires_at - state.tokens.ttl().as_secs() + RESUME_TTL.as_secs();
    let expires_ms = i64::try_from(resume_expires_at).unwrap_or(i64::MAX).saturating_mul(1000);
    let stored = state.store.issue_resume(account.id, resume_hash(&resume), expires_ms).await;
    if let Err(e) = &stored {
        tracing::warn!(account = account.id, error = %e, "resume token not stored; answering without one");
    }
    state.metrics.logins_ok.fetch_add(1, Ordering::Relaxed);
    tracing::info!(account = account.id, username = %account.username, "login ok");
    Json(LoginResponse {
        connect_token: base64::engine::general_purpose::STANDARD.encode(&token.bytes),
        expires_at: token.expires_at,
        servers: servers.iter().map(ToString::to_string).collect(),
        ws,
        resume_token: stored.is_ok().then_some(resume),
        resume_expires_at: stored.is_ok().then_some(resume_expires_at),
        game: game.to_owned(),
    })
    .into_response()
}

/// Resume requests from one address being checked at once, at most (a
/// crashed server's players behind one NAT fit; a flood waits its turn).
const RESUMES_IN_FLIGHT: u32 = 256;

/// What the logs and the limiter say for a resume attempt with a bad token.
const RESUME_KEY: &str = "<resume token>";

/// Log in again with a resume token instead of the password. It works once
/// (the answer carries the next one), never past its expiry, and never
/// around a lockout: a locked address, or one locked out of the token's
/// account, gets 429 as a login would — and the token stays good (a
/// refused request never spends it). Bad tokens count as failures of the
/// address.
async fn resume(
    State(state): State<AuthState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    body: Bytes,
) -> Response {
    let body: ResumeBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("expected JSON {{\"resume_token\": \"...\"}}: {e}")),
    };
    let game = match game_named(&state, body.game.as_deref()) {
        Ok(game) => game,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    // A token is 256 random bits: parallel guesses gain nothing, so only an
    // address that keeps failing is held back (a whole crashed server's
    // players resuming at once from behind one NAT are not).
    let _slot = match state.limiter.secret_attempt(peer.ip(), Instant::now(), RESUMES_IN_FLIGHT) {
        Ok(slot) => slot,
        Err(limiter::Held::Locked(wait)) => return locked_out(&state, peer, None, wait),
        Err(limiter::Held::Busy) => {
            return retry_later(StatusCode::SERVICE_UNAVAILABLE, "busy, try again shortly", Duration::from_secs(1));
        }
    };
    let hash = resume_hash(body.resume_token.trim());
    // Whose it is first, spent only once the lockouts let it through.
    let account = match state.store.resume(hash.clone(), false).await {
        Ok(account) => account,
        Err(e) => return store_failure(&state, &e),
    };
    let Some(account) = account else { return bad_resume(&state, peer) };
    if let Err(wait) = state.limiter.check(&account.username, peer.ip(), Instant::now()) {
        return locked_out(&state, peer, Some(&account.username), wait);
    }
    let account = match state.store.resume(hash, true).await {
        Ok(Some(account)) => account,
        // Spent by a request just before this one.
        Ok(None) => return bad_resume(&state, peer),
        Err(e) => return store_failure(&state, &e),
    };
    log_access(&state, AccessEvent::now(AccessKind::Resume, Some(account.id), Some(&account.username), Some(peer)));
    // Only a well-formed address is a hint (it is compared with the registry's).
    let avoid = body.unreachable.and_then(|a| a.parse::<std::net::SocketAddr>().ok()).map(|a| a.to_string());
    admit(&state, &account, avoid, game).await
}

/// A resume token that is unknown, spent, expired or made up.
fn bad_resume(state: &AuthState, peer: std::net::SocketAddr) -> Response {
    state.limiter.ip_failure(peer.ip(), Instant::now());
    state.metrics.logins_failed.fetch_add(1, Ordering::Relaxed);
    tracing::info!(%peer, "resume refused: unknown, spent or expired token");
    log_access(state, AccessEvent::now(AccessKind::LoginFailed, None, Some(RESUME_KEY), Some(peer)));
    error(StatusCode::UNAUTHORIZED, "invalid resume token")
}

/// Ends the session for good: the token is spent and every other resume
/// token of the account revoked. Answers 204 whatever the token was.
async fn logout(State(state): State<AuthState>, body: Bytes) -> Response {
    let body: ResumeBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("expected JSON {{\"resume_token\": \"...\"}}: {e}")),
    };
    match state.store.resume(resume_hash(body.resume_token.trim()), true).await {
        Ok(Some(account)) => {
            if state.store.try_send(StoreCommand::RevokeResume { account_id: account.id }).is_err() {
                tracing::warn!(account = account.id, "store busy: other resume tokens not revoked");
            }
            tracing::info!(account = account.id, "logged out");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => store_failure(&state, &e),
    }
}

/// The director's choice for a login: up to three servers, a slot reserved
/// on the first for the token's lifetime; 503 with `Retry-After` when every
/// server is full (or none is up).
async fn direct(
    state: &AuthState,
    account_id: u64,
    avoid: Option<String>,
    game: &'static str,
) -> Result<(Vec<std::net::SocketAddr>, Vec<String>), Response> {
    let started = Instant::now();
    let placed =
        state.store.place(account_id, game, state.tokens.ttl(), avoid).await.map_err(|e| store_failure(state, &e))?;
    state.metrics.placement.observe(started.elapsed());
    // A registry row names an address that does not parse only if written by hand: skip it.
    let servers: Vec<std::net::SocketAddr> = placed.iter().filter_map(|p| p.public_addr.parse().ok()).collect();
    if servers.is_empty() {
        state.metrics.no_room.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(account = account_id, game, "no game server has room; answering 503");
        return Err(retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "no game server has room, try again shortly",
            Duration::from_secs(5),
        ));
    }
    tracing::debug!(account = account_id, server = %placed[0].server_id, "placed");
    // Browsers go to the first (the one with the reserved slot).
    let ws = placed.iter().take(1).filter(|p| !p.ws_url.is_empty()).map(|p| p.ws_url.clone()).collect();
    Ok((servers, ws))
}
