//! The side thread: a small named tokio runtime for HTTP (auth API) and
//! signal handling. The tick loop never awaits anything here; the two meet
//! only through the store's channels and lock-free metrics.

use std::net::TcpListener;
use std::thread::JoinHandle;

use crate::shutdown::Shutdown;

/// The running side thread.
#[derive(Debug)]
pub struct SideThread {
    thread: Option<JoinHandle<()>>,
}

impl SideThread {
    /// Starts the runtime on its own thread and serves `app` on `listener`
    /// until `shutdown` fires. `hash_workers` bounds the blocking pool.
    pub fn start(
        listener: TcpListener,
        app: axum::Router,
        shutdown: Shutdown,
        hash_workers: usize,
        handle_signals: bool,
    ) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(hash_workers + 1)
            .thread_name("tickforge-http")
            .enable_io()
            .enable_time()
            .build()?;
        let thread = std::thread::Builder::new().name("tickforge-side".into()).spawn(move || {
            runtime.block_on(async move {
                if handle_signals {
                    tokio::spawn(watch_signals(shutdown.clone()));
                }
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot use HTTP listener");
                        shutdown.trigger();
                        return;
                    }
                };
                let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
                let stop = shutdown.clone();
                if let Err(e) =
                    axum::serve(listener, service).with_graceful_shutdown(async move { stop.wait().await }).await
                {
                    tracing::error!(error = %e, "HTTP server failed");
                    shutdown.trigger();
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
