//! The auth API: register, login, health.
//!
//! Runs on the side thread's tokio runtime. Talks to the store through
//! [`StoreHandle`] and hashes on the bounded [`password::Hasher`] pool; the
//! tick loop is never involved. A successful login answers a netcode connect
//! token that carries the account's identity, sealed with the private key.
//!
//! | route               | answers |
//! |---------------------|---------|
//! | `POST /v1/register` | 201 `{account_id, username}`, 409 taken, 400 invalid |
//! | `POST /v1/login`    | 200 `{connect_token, expires_at, servers}`, 401 `{"error":"invalid credentials"}` |
//! | `GET /v1/leaderboard?limit=N` | 200 `{"leaders":[{username, score}]}` (saved scores) |
//! | `GET /healthz`      | 200 `{"status":"ok"}` |

pub mod password;
pub mod validate;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::net::identity::Identity;
use crate::net::token::TokenIssuer;
use crate::store::{AccessEvent, AccessKind, StoreError, StoreHandle};
use password::Hasher;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// Accounts and the access log.
    pub store: StoreHandle,
    /// Password hashing pool.
    pub hasher: Hasher,
    /// Connect-token sealing.
    pub tokens: TokenIssuer,
}

/// Credentials, as both register and login take them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Account name.
    pub username: String,
    /// Plain-text password (only ever hashed, never stored or logged).
    pub password: String,
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
}

/// The auth routes.
pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/v1/register", post(register))
        .route("/v1/login", post(login))
        .route("/v1/leaderboard", get(leaderboard))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A JSON error body with a status.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The one answer for every bad credential, so none can be told apart.
fn invalid_credentials() -> Response {
    error(StatusCode::UNAUTHORIZED, "invalid credentials")
}

fn store_failure(e: &StoreError) -> Response {
    match e {
        StoreError::Busy => error(StatusCode::SERVICE_UNAVAILABLE, "server busy, try again"),
        _ => {
            tracing::error!(error = %e, "store failure in auth API");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn parse_credentials(body: &[u8]) -> Result<Credentials, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("expected JSON {{\"username\": \"...\", \"password\": \"...\"}}: {e}"))
}

fn log_access(state: &AuthState, event: AccessEvent) {
    if let Err(refused) = state.store.try_send(crate::store::StoreCommand::LogAccess(event)) {
        tracing::error!(error = %refused.error(), "access log row lost: store queue unavailable");
    }
}

/// Most lines one leaderboard request may ask for.
pub const LEADERBOARD_MAX: u32 = 100;

async fn leaderboard(State(state): State<AuthState>, Query(params): Query<HashMap<String, String>>) -> Response {
    let limit = match params.get("limit").map(|l| l.parse::<u32>()) {
        None => 10,
        Some(Ok(n)) if (1..=LEADERBOARD_MAX).contains(&n) => n,
        Some(_) => return error(StatusCode::BAD_REQUEST, "limit must be a number from 1 to 100"),
    };
    match state.store.leaderboard(limit).await {
        Ok(leaders) => Json(json!({ "leaders": leaders })).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn register(State(state): State<AuthState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Bytes) -> Response {
    let creds = match parse_credentials(&body) {
        Ok(c) => c,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    if let Err(msg) = validate::username(&creds.username).and(validate::password(&creds.password)) {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    let hash = match state.hasher.hash(creds.password).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "hashing failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    match state.store.create_account(&creds.username, hash).await {
        Ok(account_id) => {
            tracing::info!(account = account_id, username = %creds.username, "account registered");
            log_access(
                &state,
                AccessEvent::now(AccessKind::Register, Some(account_id), Some(&creds.username), Some(peer)),
            );
            (StatusCode::CREATED, Json(json!({ "account_id": account_id, "username": creds.username }))).into_response()
        }
        Err(StoreError::UsernameTaken) => error(StatusCode::CONFLICT, "username taken"),
        Err(e) => store_failure(&e),
    }
}

async fn login(State(state): State<AuthState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Bytes) -> Response {
    let creds = match parse_credentials(&body) {
        Ok(c) => c,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    // Malformed names cannot exist, but still cost a hash: same time, same answer.
    let account = if validate::username(&creds.username).is_ok() {
        match state.store.find_account(&creds.username).await {
            Ok(a) => a,
            Err(e) => return store_failure(&e),
        }
    } else {
        None
    };
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let ok = state.hasher.verify(creds.password, stored).await;
    let account = match account {
        Some(account) if ok => account,
        _ => {
            tracing::info!(username = %creds.username, %peer, "login failed");
            log_access(
                &state,
                AccessEvent::now(AccessKind::LoginFailed, account.map(|a| a.id), Some(&creds.username), Some(peer)),
            );
            return invalid_credentials();
        }
    };
    let identity = Identity { account_id: account.id, name: account.username.clone() };
    let token = match state.tokens.issue(&identity) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot issue connect token");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    log_access(&state, AccessEvent::now(AccessKind::LoginOk, Some(account.id), Some(&account.username), Some(peer)));
    tracing::info!(account = account.id, username = %account.username, "login ok");
    Json(LoginResponse {
        connect_token: base64::engine::general_purpose::STANDARD.encode(&token.bytes),
        expires_at: token.expires_at,
        servers: state.tokens.servers().iter().map(ToString::to_string).collect(),
    })
    .into_response()
}
