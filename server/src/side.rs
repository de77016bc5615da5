//! The side thread: a small named tokio runtime for HTTP (auth API, admin
//! API, metrics) and signal handling. The tick loop never awaits anything
//! here; the two meet only through channels and lock-free metrics.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::auth::PeerAddr;
use crate::auth::tls::TlsListener;
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
}

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
    let Service { name, listener, app, tls } = service;
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(service = name, error = %e, "cannot use listener");
            shutdown.trigger();
            return;
        }
    };
    let stop = shutdown.clone();
    let service = app.into_make_service_with_connect_info::<PeerAddr>();
    let result = match tls {
        Some(config) => match TlsListener::new(listener, config) {
            Ok(tls) => axum::serve(tls, service).with_graceful_shutdown(async move { stop.wait().await }).await,
            Err(e) => Err(e),
        },
        None => {
            axum::serve(crate::auth::tls::NoDelayListener(listener), service)
                .with_graceful_shutdown(async move { stop.wait().await })
                .await
        }
    };
    if let Err(e) = result {
        tracing::error!(service = name, error = %e, "HTTP service failed");
        shutdown.trigger();
    }
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
