//! What the core needs from a network: a way to send and receive whole
//! netcode datagrams ([`Transport`]), and a way to open one to a server
//! ([`Dialer`]). A UDP socket is one; a WebSocket, whose every binary
//! message is one datagram, is another. Drivers live outside the core.

use std::io;
use std::net::SocketAddr;

/// A datagram link to one game server.
pub trait Transport {
    /// Sends one datagram toward `to` (the connect token's server; a
    /// stream transport has one peer and ignores it). Failures are the
    /// transport's to log: netcode resends what matters.
    fn send(&mut self, to: SocketAddr, datagram: &[u8]);

    /// Reads one waiting datagram into `buf`, without blocking: its length
    /// and who sent it (`None`: the stream's own peer). `Ok(None)` when
    /// nothing waits. An error means the link is gone.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SocketAddr>)>>;
}

/// Where a game server can be reached: the UDP address the connect token
/// names, and the WebSocket URLs the login (or transfer) listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The token's first server address.
    pub udp: SocketAddr,
    /// `ws://…/ws` URLs of the same server (may be empty).
    pub ws: Vec<String>,
}

/// Opens transports (a new one for each connection: a move to another
/// server, or a new login after a loss).
pub trait Dialer {
    /// The transport it opens.
    type Transport: Transport;

    /// Opens a link to `server`.
    fn dial(&mut self, server: &Endpoint) -> io::Result<Self::Transport>;
}
