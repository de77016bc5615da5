//! `/healthz` (the process answers) and `/readyz` (it takes players now),
//! on every listener of every role: orchestrators probe whichever port
//! they reach.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::readiness::{Readiness, Ready};
use crate::shutdown::Shutdown;

/// What the probes read.
#[derive(Debug, Clone)]
struct Probe {
    readiness: Readiness,
    shutdown: Shutdown,
}

/// The two probe routes.
pub fn routes(readiness: Readiness, shutdown: Shutdown) -> Router {
    Router::new()
        .route("/healthz", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(ready))
        .with_state(Probe { readiness, shutdown })
}

/// 200 `{"status":"ready"}`, or 503 with `starting` or `draining`.
async fn ready(State(probe): State<Probe>) -> Response {
    let ready = if probe.shutdown.is_triggered() { Ready::Draining } else { probe.readiness.get() };
    let status = if ready == Ready::Ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(json!({ "status": ready.as_str() }))).into_response()
}
