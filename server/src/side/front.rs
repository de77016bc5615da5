//! What every HTTP request passes before a route sees it, on every
//! listener (auth, admin):
//!
//! - **who it is from**: the client's address ([`ClientAddr`]) — the TCP
//!   peer, or behind a trusted proxy the address it forwarded
//!   ([`crate::net::forwarded`]); the limiter, the access log and the
//!   bounds below all use it;
//! - **requests in flight per client address**, at most the per-address
//!   connection bound (behind a proxy one connection carries many clients,
//!   so this is where each of them is bounded): beyond, 429 at once;
//! - **a deadline on the whole request** (reading the body included): past
//!   it, 503 with `Retry-After`;
//! - **JSON errors**: an error answer that is not JSON already (a route
//!   that does not exist, a method it does not take, a body too large, an
//!   extractor's rejection) gets `{"error": …}` like every other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use super::serve::Peer;
use crate::net::forwarded::{AddrKey, TrustedProxies};

/// The client a request is from: the TCP peer, or the address a trusted
/// proxy forwarded (port 0: proxies do not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Counters of the front door, for `/metrics`.
#[derive(Debug, Default)]
pub struct FrontMetrics {
    /// Requests refused because their client had as many in flight as it may.
    pub refused_in_flight: AtomicU64,
    /// Requests answered 503 because they took longer than the deadline.
    pub timed_out: AtomicU64,
}

/// The front door's policy and counts, shared by a process's listeners.
#[derive(Debug)]
pub struct FrontDoor {
    proxies: TrustedProxies,
    per_addr: u32,
    deadline: Duration,
    in_flight: Mutex<HashMap<AddrKey, u32>>,
    metrics: Arc<FrontMetrics>,
}

impl FrontDoor {
    /// A front door: `per_addr` requests in flight per client address, each
    /// answered within `deadline`.
    pub fn new(proxies: TrustedProxies, per_addr: usize, deadline: Duration, metrics: Arc<FrontMetrics>) -> Arc<Self> {
        let per_addr = u32::try_from(per_addr).unwrap_or(u32::MAX);
        Arc::new(Self { proxies, per_addr, deadline, in_flight: Mutex::default(), metrics })
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<AddrKey, u32>> {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a place for a request of `key`, if it has one left.
    fn enter(self: &Arc<Self>, key: AddrKey) -> Option<InFlight> {
        let mut in_flight = self.in_flight();
        let n = in_flight.entry(key).or_default();
        if *n >= self.per_addr {
            return None;
        }
        *n += 1;
        Some(InFlight { door: self.clone(), key })
    }
}

/// A request's place among its client's in flight.
struct InFlight {
    door: Arc<FrontDoor>,
    key: AddrKey,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.door.in_flight();
        if let Some(n) = in_flight.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

/// `routes` behind the front door.
pub fn wrap(routes: Router, door: Arc<FrontDoor>) -> Router {
    routes
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(door, admit))
}

/// A JSON error body with a status.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Names the client, bounds its requests in flight, and answers within the deadline.
async fn admit(State(door): State<Arc<FrontDoor>>, mut request: Request, next: Next) -> Response {
    let Some(Peer(peer)) = request.extensions().get::<Peer>().copied() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "request without a connection");
    };
    let client = door.proxies.client(peer, request.headers());
    let Some(place) = door.enter(AddrKey::of(client.ip())) else {
        door.metrics.refused_in_flight.fetch_add(1, Ordering::Relaxed);
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests in flight from your address",
            Duration::from_secs(1),
        );
    };
    request.extensions_mut().insert(ClientAddr(client));
    let answer = tokio::time::timeout(door.deadline, next.run(request)).await;
    drop(place);
    match answer {
        Ok(response) => response,
        Err(_) => {
            door.metrics.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(client = %client, deadline = ?door.deadline, "request took too long; answered 503");
            retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "the request took too long; try again shortly",
                Duration::from_secs(2),
            )
        }
    }
}

/// A JSON error that says when to try again (`Retry-After` in whole
/// seconds, at least 1).
pub fn retry_later(status: StatusCode, message: &str, after: Duration) -> Response {
    let mut response = error(status, message);
    let secs = after.as_secs_f64().ceil().max(1.0) as u64;
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Largest error body turned into JSON (the framework's rejections are a line).
const ERROR_TEXT_BYTES: usize = 1024;

/// Gives an error answer that is not JSON a JSON body: its own text, or the
/// status's name when it has none.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, ERROR_TEXT_BYTES).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        text => text.to_owned(),
    };
    let body = serde_json::json!({ "error": message }).to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
