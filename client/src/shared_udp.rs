//! Many clients' UDP over one socket, for the load test's bots: each bot's
//! connection has a loopback address of its own (127.x.y.z, the same
//! port), and one socket bound to the wildcard sends from and hears at all
//! of them (`tickforge_udp`'s local-address calls). A bots worker reads
//! every bot's datagrams in one batch ([`SharedUdp::pump`]) and sends every
//! bot's datagrams of one round in one batch ([`SharedUdp::hold`]), where
//! one socket per bot costs a read, a send and a wake-up per bot each tick.
//! To the server each bot is still its own peer.
//!
//! Linux only (elsewhere [`SharedUdp::open`] answers `Unsupported` and the
//! bots keep a socket each), and only toward a server on loopback.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tickforge_client_core::transport::Transport;

/// Datagrams read per system call.
const BATCH: usize = 64;
/// The largest datagram kept (a netcode packet is at most 1200 bytes).
const DATAGRAM: usize = 1500;
/// The socket's receive buffer: every bot's snapshot of a tick arrives at
/// once.
const RECV_BUFFER: usize = 8 * 1024 * 1024;
/// A link that finds nothing waiting reads the socket itself when no one
/// has for this long (a session driven outside a bots worker).
const STALE: Duration = Duration::from_millis(2);

/// One socket for many links; shared by the threads that dial and play
/// them (in practice one worker at a time, so the lock is uncontended).
#[derive(Debug)]
pub struct SharedUdp {
    inner: Mutex<Inner>,
    fd: std::os::fd::RawFd,
}

#[derive(Debug)]
struct Inner {
    socket: UdpSocket,
    /// Each link's waiting datagrams, by its local address.
    links: HashMap<Ipv4Addr, Slot>,
    /// Local addresses handed out so far.
    issued: u32,
    /// Sends are queued while a worker holds the socket, else sent at once.
    held: usize,
    /// Datagrams queued: (from, to, bytes).
    outbox: Vec<(Ipv4Addr, SocketAddr, Vec<u8>)>,
    /// Byte buffers of sent and read datagrams, for reuse.
    spare: Vec<Vec<u8>>,
    /// One batch's read buffers and what they got.
    buffers: Vec<Box<[u8]>>,
    got: Vec<(usize, SocketAddr, Option<Ipv4Addr>)>,
    last_pump: Instant,
    /// The tokens of links whose queue was empty and got something, since
    /// the owner last took them.
    woken: Vec<usize>,
}

#[derive(Debug)]
struct Slot {
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Its owner's name for it (a bots worker's index of the bot).
    token: usize,
}

impl SharedUdp {
    /// Binds the wildcard socket (IPv4, an ephemeral port) and asks the
    /// kernel to report each datagram's local address.
    pub fn open() -> io::Result<Arc<Self>> {
        use std::os::fd::AsRawFd;
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        // Best effort: the kernel caps it at net.core.rmem_max.
        let _ = socket.set_recv_buffer_size(RECV_BUFFER);
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
        let socket: UdpSocket = socket.into();
        socket.set_nonblocking(true)?;
        tickforge_udp::report_local_addresses(&socket)?;
        let fd = socket.as_raw_fd();
        let inner = Inner {
            socket,
            links: HashMap::new(),
            issued: 0,
            held: 0,
            outbox: Vec::new(),
            spare: Vec::new(),
            buffers: (0..BATCH).map(|_| vec![0; DATAGRAM].into_boxed_slice()).collect(),
            got: Vec::with_capacity(BATCH),
            last_pump: Instant::now(),
            woken: Vec::new(),
        };
        Ok(Arc::new(Self { inner: Mutex::new(inner), fd }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new link with a loopback address of its own (token 0 until its
    /// owner names it: [`SharedLink::set_token`]).
    pub fn link(self: &Arc<Self>) -> SharedLink {
        let mut inner = self.lock();
        let local = loop {
            let local = nth_loopback(inner.issued);
            inner.issued = inner.issued.wrapping_add(1);
            if !inner.links.contains_key(&local) {
                break local;
            }
        };
        inner.links.insert(local, Slot { queue: VecDeque::new(), token: 0 });
        SharedLink { shared: self.clone(), local, token: 0 }
    }

    /// Reads everything waiting, each datagram into its link's queue (a
    /// datagram for no link is dropped), and appends to `woken` the token
    /// of every link that has something waiting now and had nothing when
    /// `woken` was last filled.
    pub fn pump(&self, woken: &mut Vec<usize>) {
        let mut inner = self.lock();
        inner.pump();
        woken.append(&mut inner.woken);
    }

    /// Queues every send until the returned guard drops, then sends them
    /// in one batch.
    pub fn hold(&self) -> Hold<'_> {
        self.lock().held += 1;
        Hold { shared: self }
    }

    /// The socket, for readiness polling.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd
    }
}

/// Sends queued by [`SharedUdp::hold`] go out when this drops.
#[derive(Debug)]
pub struct Hold<'a> {
    shared: &'a SharedUdp,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.held = inner.held.saturating_sub(1);
        if inner.held == 0 {
            inner.flush();
        }
    }
}

/// The `n`-th loopback address handed out: 127.1.0.1 onwards, never a
/// `.0` or `.255` last octet.
fn nth_loopback(n: u32) -> Ipv4Addr {
    let (hosts, last) = (n / 254, n % 254 + 1);
    Ipv4Addr::new(127, 1 + (hosts / 256 % 254) as u8, (hosts % 256) as u8, last as u8)
}

impl Inner {
    fn pump(&mut self) {
        self.last_pump = Instant::now();
        loop {
            self.got.clear();
            match tickforge_udp::recv_many_to(&self.socket, &mut self.buffers, &mut self.got) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error for an earlier send: not this read's.
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused) => {
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "shared socket read failed");
                    return;
                }
            }
            let full = self.got.len() == self.buffers.len();
            for (i, &(len, from, to)) in self.got.iter().enumerate() {
                let Some(slot) = to.and_then(|to| self.links.get_mut(&to)) else { continue };
                let mut bytes = self.spare.pop().unwrap_or_default();
                bytes.clear();
                bytes.extend_from_slice(&self.buffers[i][..len]);
                if slot.queue.is_empty() {
                    self.woken.push(slot.token);
                }
                slot.queue.push_back((from, bytes));
            }
            if !full {
                return;
            }
        }
    }

    fn flush(&mut self) {
        let mut sent = 0;
        while sent < self.outbox.len() {
            let batch: Vec<(Ipv4Addr, SocketAddr, &[u8])> =
                self.outbox[sent..].iter().map(|(from, to, bytes)| (*from, *to, bytes.as_slice())).collect();
            match tickforge_udp::send_many_from(&self.socket, &batch) {
                Ok(n) => sent += n.max(1),
                // A datagram the kernel refuses is dropped (netcode resends what matters).
                Err(e) => {
                    tracing::debug!(error = %e, "shared socket send failed");
                    sent += 1;
                }
            }
        }
        for (_, _, bytes) in self.outbox.drain(..) {
            self.spare.push(bytes);
        }
    }
}

/// One connection's share of a [`SharedUdp`]: its own loopback address.
#[derive(Debug)]
pub struct SharedLink {
    shared: Arc<SharedUdp>,
    local: Ipv4Addr,
    /// The token last given to the slot.
    token: usize,
}

impl SharedLink {
    /// Names the link for [`SharedUdp::pump`]'s wake list (a no-op when
    /// the name is the same).
    pub fn set_token(&mut self, token: usize) {
        if token != self.token {
            self.token = token;
            if let Some(slot) = self.shared.lock().links.get_mut(&self.local) {
                slot.token = token;
            }
        }
    }

    /// The socket it shares.
    pub fn shared(&self) -> &Arc<SharedUdp> {
        &self.shared
    }
}

impl Transport for SharedLink {
    fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        let mut inner = self.shared.lock();
        let mut bytes = inner.spare.pop().unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(datagram);
        inner.outbox.push((self.local, to, bytes));
        if inner.held == 0 {
            inner.flush();
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SocketAddr>)>> {
        let mut inner = self.shared.lock();
        let empty = inner.links.get(&self.local).is_none_or(|slot| slot.queue.is_empty());
        if empty && inner.last_pump.elapsed() >= STALE {
            inner.pump();
        }
        let Some(slot) = inner.links.get_mut(&self.local) else { return Ok(None) };
        let Some((from, bytes)) = slot.queue.pop_front() else { return Ok(None) };
        let len = bytes.len().min(buf.len());
        buf[..len].copy_from_slice(&bytes[..len]);
        inner.spare.push(bytes);
        Ok(Some((len, Some(from))))
    }
}

impl Drop for SharedLink {
    fn drop(&mut self) {
        self.shared.lock().links.remove(&self.local);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses are loopback, distinct, and never end in .0 or .255.
    #[test]
    fn loopback_addresses_are_distinct_hosts() {
        let mut seen = std::collections::HashSet::new();
        for n in (0..70_000).chain([u32::MAX - 5, u32::MAX]) {
            let a = nth_loopback(n);
            assert!(a.is_loopback() && a.octets()[3] != 0 && a.octets()[3] != 255, "{a}");
            if n < 70_000 {
                assert!(seen.insert(a), "{a} twice");
            }
        }
    }

    /// Two links on one socket talk to a peer as two addresses, each
    /// hearing only its own answers; held sends leave together.
    #[test]
    fn links_are_separate_peers_on_one_socket() {
        let shared = SharedUdp::open().unwrap();
        let (mut a, mut b) = (shared.link(), shared.link());
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let to = peer.local_addr().unwrap();
        {
            let _hold = shared.hold();
            a.send(to, b"from a");
            b.send(to, b"from b");
        }
        let mut buf = [0u8; 64];
        let mut senders = Vec::new();
        for _ in 0..2 {
            let (len, from) = peer.recv_from(&mut buf).unwrap();
            senders.push((buf[..len].to_vec(), from));
        }
        assert_ne!(senders[0].1.ip(), senders[1].1.ip(), "two peers");
        for (bytes, from) in &senders {
            peer.send_to(&[bytes.as_slice(), b" back"].concat(), from).unwrap();
        }
        a.set_token(7);
        b.set_token(9);
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut woken = Vec::new();
        while woken.len() < 2 && Instant::now() < deadline {
            shared.pump(&mut woken);
            std::thread::sleep(Duration::from_millis(1));
        }
        woken.sort_unstable();
        assert_eq!(woken, [7, 9], "each link woken once");
        for (link, want) in [(&mut a, &b"from a back"[..]), (&mut b, &b"from b back"[..])] {
            let (len, from) = link.recv(&mut buf).unwrap().expect("an answer");
            assert_eq!((&buf[..len], from), (want, Some(to)));
            assert!(link.recv(&mut buf).unwrap().is_none());
        }
    }
}
