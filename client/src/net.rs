//! The native drivers of the client core's transports: a UDP socket
//! ([`UdpLink`]) or a WebSocket as a browser uses it ([`WsLink`], one
//! binary message per datagram), and the [`NativeDialer`] that opens one
//! per connection. The connection itself (renet over netcode) is the
//! core's [`tickforge_client_core::net::Connection`].

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

pub use tickforge_client_core::net::{NetError, read_token};
use tickforge_client_core::transport::{Dialer, Endpoint, Transport};

/// A connection over the native transports.
pub type Connection = tickforge_client_core::net::Connection<NativeLink>;

/// Opens a native connection with a connect token, at `now` on the
/// caller's clock (a bare connection, without a session around it).
pub fn connect(token: &[u8], now: std::time::Duration) -> Result<Connection, NetError> {
    Connection::dial(&mut NativeDialer::default(), token, &[], now)
}

/// A non-blocking UDP socket bound for one server.
#[derive(Debug)]
pub struct UdpLink {
    socket: UdpSocket,
}

impl UdpLink {
    /// Binds an ephemeral socket of the server's address family.
    pub fn bind_for(server: SocketAddr) -> io::Result<Self> {
        let bind: SocketAddr =
            if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        Ok(Self { socket })
    }
}

impl Transport for UdpLink {
    fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        if let Err(e) = self.socket.send_to(datagram, to) {
            tracing::debug!(addr = %to, error = %e, "send failed");
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SocketAddr>)>> {
        loop {
            return match self.socket.recv_from(buf) {
                Ok((len, from)) => Ok(Some((len, Some(from)))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                // An ICMP "port unreachable" for an earlier send: not this read's.
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused) => {
                    continue;
                }
                Err(e) => Err(e),
            };
        }
    }
}

/// How long opening a WebSocket (TCP connect and upgrade) may take (it
/// blocks the caller: a bots worker waits with all its bots).
const WS_OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// A WebSocket to a game server's `/ws`, non-blocking once open: what a
/// browser's page does, natively (for load tests and tests of that path).
#[derive(Debug)]
pub struct WsLink {
    socket: tungstenite::WebSocket<TcpStream>,
}

impl WsLink {
    /// Opens `url` (`ws://host:port/path`): connects, upgrades, then stops blocking.
    pub fn open(url: &str) -> io::Result<Self> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {why}"));
        let authority = url.strip_prefix("ws://").ok_or_else(|| bad("only ws:// URLs"))?;
        let authority = authority.split('/').next().unwrap_or_default();
        let addr = authority.to_socket_addrs()?.next().ok_or_else(|| bad("no address"))?;
        let stream = TcpStream::connect_timeout(&addr, WS_OPEN_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(WS_OPEN_TIMEOUT))?;
        let (socket, _) = tungstenite::client(url, stream).map_err(|e| io::Error::other(format!("{url}: {e}")))?;
        socket.get_ref().set_read_timeout(None)?;
        socket.get_ref().set_nonblocking(true)?;
        Ok(Self { socket })
    }
}

/// Whether a WebSocket error only means "not now".
fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

impl Transport for WsLink {
    fn send(&mut self, _to: SocketAddr, datagram: &[u8]) {
        // Queued in the socket's buffer when the kernel's is full; the next
        // send or read writes it out.
        match self.socket.send(tungstenite::Message::Binary(datagram.to_vec().into())) {
            Ok(()) => {}
            Err(e) if would_block(&e) => {}
            Err(e) => tracing::debug!(error = %e, "WebSocket send failed"),
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SocketAddr>)>> {
        match self.socket.flush() {
            Ok(()) => {}
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string())),
        }
        loop {
            return match self.socket.read() {
                Ok(tungstenite::Message::Binary(bytes)) => {
                    let len = bytes.len().min(buf.len());
                    buf[..len].copy_from_slice(&bytes[..len]);
                    Ok(Some((len, None)))
                }
                Ok(tungstenite::Message::Close(frame)) => Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("WebSocket closed: {}", frame.map_or_else(String::new, |f| f.reason.to_string())),
                )),
                Ok(_) => continue,
                Err(e) if would_block(&e) => Ok(None),
                Err(e) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string())),
            };
        }
    }
}

/// The transport a native connection uses.
#[derive(Debug)]
pub enum NativeLink {
    /// UDP, the default.
    Udp(UdpLink),
    /// WebSocket, as browsers play (boxed: its buffers are large).
    Ws(Box<WsLink>),
}

impl NativeLink {
    /// The socket under the link, for readiness polling (the bots wait on
    /// all their sockets at once rather than try each in turn).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Self::Udp(link) => link.socket.as_raw_fd(),
            Self::Ws(link) => link.socket.get_ref().as_raw_fd(),
        }
    }
}

impl Transport for NativeLink {
    fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        match self {
            Self::Udp(link) => link.send(to, datagram),
            Self::Ws(link) => link.send(to, datagram),
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SocketAddr>)>> {
        match self {
            Self::Udp(link) => link.recv(buf),
            Self::Ws(link) => link.recv(buf),
        }
    }
}

/// Which transport a native client plays over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// UDP to the address in the connect token.
    #[default]
    Udp,
    /// WebSocket to the URL the login (or transfer) lists, as a browser.
    Ws,
}

/// Opens the chosen transport for each connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeDialer {
    /// UDP or WebSocket.
    pub transport: TransportKind,
}

impl Dialer for NativeDialer {
    type Transport = NativeLink;

    fn dial(&mut self, server: &Endpoint) -> io::Result<NativeLink> {
        match self.transport {
            TransportKind::Udp => UdpLink::bind_for(server.udp).map(NativeLink::Udp),
            TransportKind::Ws => {
                let url = server.ws.first().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("the server {} lists no WebSocket URL", server.udp))
                })?;
                WsLink::open(url).map(|link| NativeLink::Ws(Box::new(link)))
            }
        }
    }
}
