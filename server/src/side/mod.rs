//! The side thread: a small named tokio runtime for HTTP (auth API, admin
//! API, metrics) and signal handling. The tick loop never awaits anything
//! here; the two meet only through channels and lock-free metrics.
//!
//! Every listener is bounded the same way: [`serve`] (connections in all
//! and per address, header and idle timeouts), [`front`] (the client's
//! address behind proxies, requests in flight per address, a deadline per
//! request, JSON errors), [`health`] (`/healthz`, `/readyz`), and
//! [`budget`] (the descriptors HTTP may hold at most).

pub mod budget;
pub mod front;
pub mod health;
pub mod serve;

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::net::conn_gate::ConnGate;
use crate::shutdown::Shutdown;

/// How long requests in flight may take to finish after the shutdown.
pub const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One HTTP service to run: where, what, and whether over TLS.
#[derive(Debug)]
pub struct Service {
    /// Name for logs.
    pub name: &'static str,
    /// A bound listener.
    pub listener: TcpListener,
    /// The routes.
    pub app: axum::Router,
    /// TLS configuration, if the service speaks HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Its connection bounds.
    pub gate: Arc<ConnGate>,
    /// Its header and idle timeouts.
    pub timeouts: serve::Timeouts,
}

/// `routes` as a listener serves them: with the probes, behind the front door.
pub fn http_app(routes: axum::Router, door: &Arc<front::FrontDoor>, probes: &axum::Router) -> axum::Router {
    front::wrap(routes.merge(probes.clone()), door.clone())
}

/// A task that runs on the side thread until the shutdown (it must end
/// by itself once the shutdown fires).
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The running side thread.
#[derive(Debug)]
pub struct SideThread {
    thread: Option<JoinHandle<()>>,
}

impl SideThread {
    /// Starts the runtime on its own thread and serves every service until
    /// `shutdown` fires. `hash_workers` sizes the blocking pool.
    pub fn start(
        services: Vec<Service>,
        websocket: Option<crate::net::websocket::Listener>,
        background: Vec<Task>,
        shutdown: Shutdown,
        hash_workers: usize,
        handle_signals: bool,
    ) -> std::io::Result<Self> {
        for service in &services {
            service.listener.set_nonblocking(true)?;
        }
        if let Some(ws) = &websocket {
            ws.listener.set_nonblocking(true)?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(hash_workers)
            .thread_name("tickforge-http")
            .enable_io()
            .enable_time()
            .build()?;
        let thread = std::thread::Builder::new().name("tickforge-side".into()).spawn(move || {
            runtime.block_on(async move {
                if handle_signals {
                    tokio::spawn(watch_signals(shutdown.clone()));
                }
                let mut tasks = tokio::task::JoinSet::new();
                for service in services {
                    tasks.spawn(serve(service, shutdown.clone()));
                }
                if let Some(ws) = websocket {
                    tasks.spawn(ws.serve(shutdown.clone()));
                }
                for task in background {
                    tasks.spawn(task);
                }
                // After the shutdown, requests in flight get a bounded
                // time to finish; a client holding its connection open
                // cannot keep the process alive.
                let drained = async move { while tasks.join_next().await.is_some() {} };
                let limit = async {
                    shutdown.wait().await;
                    tokio::time::sleep(DRAIN_LIMIT).await;
                };
                tokio::select! {
                    () = drained => {}
                    () = limit => tracing::warn!(limit = ?DRAIN_LIMIT, "HTTP requests still open at shutdown; closing them"),
                }
            });
        })?;
        Ok(Self { thread: Some(thread) })
    }

    /// Waits for the runtime to finish (after shutdown was triggered).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(service: Service, shutdown: Shutdown) {
    let Service { name, listener, app, tls, gate, timeouts } = service;
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(service = name, error = %e, "cannot use listener");
            shutdown.trigger();
            return;
        }
    };
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    serve::serve(listener, gate, app, tls, timeouts, shutdown).await;
}

/// Triggers shutdown on SIGINT or SIGTERM.
async fn watch_signals(shutdown: Shutdown) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        _ = shutdown.wait() => return,
    }
    shutdown.trigger();
}
