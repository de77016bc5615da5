//! Running a server on a background thread, for tools and tests that embed
//! one (the binary runs the tick loop on its main thread instead).

use std::net::SocketAddr;
use std::thread::JoinHandle;

use crate::{Config, Server, ServerError, Shutdown};

/// A whole single-process server (`--role all`) ticking on its own
/// thread. Dropping it shuts it down.
#[derive(Debug)]
pub struct EmbeddedServer {
    http_addr: SocketAddr,
    admin_addr: SocketAddr,
    udp_addr: SocketAddr,
    ws_addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl EmbeddedServer {
    /// Binds with `config` (role `all`) and starts ticking on a thread
    /// named `tickforge-tick`.
    pub fn start(config: Config) -> Result<Self, ServerError> {
        let server = Server::bind(config, false)?;
        let (Some(http_addr), Some(udp_addr), Some(ws_addr)) =
            (server.http_addr(), server.udp_addr(), server.ws_addr())
        else {
            return Err(ServerError::NotWhole(server.role().as_str()));
        };
        let admin_addr = server.admin_addr();
        let shutdown = server.shutdown_handle();
        let thread = std::thread::Builder::new()
            .name("tickforge-tick".into())
            .spawn(move || server.run())
            .map_err(ServerError::Thread)?;
        Ok(Self { http_addr, admin_addr, udp_addr, ws_addr, shutdown, thread: Some(thread) })
    }

    /// The auth API address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The auth API base URL, e.g. `http://127.0.0.1:40123`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The admin API base URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// The game UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The game WebSocket address (path `/ws`).
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// Shuts down cleanly and waits; returns how the tick loop ended.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.join()
    }

    fn join(&mut self) -> Result<(), ServerError> {
        self.shutdown.trigger();
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| Err(ServerError::Panicked)),
            None => Ok(()),
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        let _ = self.join();
    }
}
