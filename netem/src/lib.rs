//! # tickforge-netem
//!
//! A UDP proxy that makes loopback feel like a real network: every datagram
//! is delayed (with jitter), and may be lost, duplicated or held back so it
//! arrives out of order — independently in each direction.
//!
//! Each client address gets its own upstream socket, so the server sees one
//! peer per client. Everything runs on a few named threads with bounded
//! queues and read timeouts; [`Proxy::stop`] (or drop) ends them.

pub mod profile;

use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use profile::{Preset, Profile};

/// Datagrams waiting at once before new ones are dropped (and counted).
const MAX_IN_FLIGHT: usize = 65_536;
/// Clients tracked at once.
const MAX_CLIENTS: usize = 4096;
/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// A client's upstream socket (and its thread) goes after the server has
/// sent it nothing for this long: that client has left. A client that
/// speaks again gets a new one.
const IDLE: Duration = Duration::from_secs(30);

/// Counters, readable while the proxy runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Datagrams received from clients.
    pub up_in: AtomicU64,
    /// Datagrams received from the server.
    pub down_in: AtomicU64,
    /// Datagrams dropped on purpose.
    pub lost: AtomicU64,
    /// Extra copies sent.
    pub duplicated: AtomicU64,
    /// Datagrams held back to arrive out of order.
    pub reordered: AtomicU64,
    /// Datagrams dropped because the queue was full.
    pub overflow: AtomicU64,
}

/// One scheduled datagram.
#[derive(Debug, PartialEq, Eq)]
struct Pending {
    due: Instant,
    order: u64,
    bytes: Vec<u8>,
    /// `None`: to the server through the client's upstream socket.
    to_client: Option<SocketAddr>,
    from_client: SocketAddr,
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A min-heap on due time.
        other.due.cmp(&self.due).then(other.order.cmp(&self.order))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A tiny xorshift stream: the proxy's dice.
#[derive(Debug)]
struct Dice(u64);

impl Dice {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    listen: UdpSocket,
    forward: SocketAddr,
    up: Profile,
    down: Profile,
    queue: Mutex<(BinaryHeap<Pending>, u64)>,
    wake: Condvar,
    dice: Mutex<Dice>,
    upstreams: Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>,
    stop: AtomicBool,
    /// Every datagram toward the server is lost while set.
    blackout_up: AtomicBool,
    /// Every datagram toward the clients is lost while set.
    blackout_down: AtomicBool,
    stats: Stats,
}

impl Shared {
    /// Decides the fate of one datagram and queues its copies.
    fn schedule(&self, bytes: &[u8], from_client: SocketAddr, to_client: Option<SocketAddr>) {
        let (profile, blackout) =
            if to_client.is_some() { (&self.down, &self.blackout_down) } else { (&self.up, &self.blackout_up) };
        if blackout.load(Ordering::Relaxed) {
            self.stats.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let now = Instant::now();
        let mut dice = self.dice.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if dice.unit() < profile.loss {
            self.stats.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let copies = if dice.unit() < profile.duplicate { 2 } else { 1 };
        let mut delays = Vec::with_capacity(copies);
        for _ in 0..copies {
            let jitter = profile.jitter.as_secs_f64() * (2.0 * dice.unit() - 1.0);
            let mut delay = (profile.delay.as_secs_f64() + jitter).max(0.0);
            if dice.unit() < profile.reorder {
                // Held back past the packets behind it.
                delay += profile.jitter.as_secs_f64() * 2.0 + 0.02;
                self.stats.reordered.fetch_add(1, Ordering::Relaxed);
            }
            delays.push(Duration::from_secs_f64(delay));
        }
        drop(dice);
        if copies == 2 {
            self.stats.duplicated.fetch_add(1, Ordering::Relaxed);
        }
        let mut queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for delay in delays {
            if queue.0.len() >= MAX_IN_FLIGHT {
                self.stats.overflow.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            queue.1 += 1;
            let order = queue.1;
            queue.0.push(Pending { due: now + delay, order, bytes: bytes.to_vec(), to_client, from_client });
        }
        drop(queue);
        self.wake.notify_one();
    }

    fn upstream(self: &Arc<Self>, client: SocketAddr, threads: &Mutex<Vec<JoinHandle<()>>>) -> Option<Arc<UdpSocket>> {
        let mut upstreams = self.upstreams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(socket) = upstreams.get(&client) {
            return Some(socket.clone());
        }
        if upstreams.len() >= MAX_CLIENTS {
            return None;
        }
        let bind: SocketAddr =
            if self.forward.is_ipv4() { ([127, 0, 0, 1], 0).into() } else { "[::1]:0".parse().ok()? };
        let socket = Arc::new(UdpSocket::bind(bind).ok()?);
        socket.set_read_timeout(Some(POLL)).ok()?;
        upstreams.insert(client, socket.clone());
        let shared = self.clone();
        let reader = socket.clone();
        let handle = std::thread::Builder::new()
            .name("netem-down".into())
            .spawn(move || {
                let mut buf = [0u8; 2048];
                let mut last = Instant::now();
                while !shared.stop.load(Ordering::Relaxed) {
                    if let Ok((len, from)) = reader.recv_from(&mut buf)
                        && from == shared.forward
                    {
                        last = Instant::now();
                        shared.stats.down_in.fetch_add(1, Ordering::Relaxed);
                        shared.schedule(&buf[..len], client, Some(client));
                    } else if last.elapsed() > IDLE {
                        let mut upstreams = shared.upstreams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        if upstreams.get(&client).is_some_and(|s| Arc::ptr_eq(s, &reader)) {
                            upstreams.remove(&client);
                        }
                        return;
                    }
                }
            })
            .ok()?;
        let mut threads = threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
        Some(socket)
    }
}

/// A running proxy.
pub struct Proxy {
    shared: Arc<Shared>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    local: SocketAddr,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("local", &self.local).field("forward", &self.shared.forward).finish()
    }
}

impl Proxy {
    /// Binds `listen` and forwards to `forward` with the given profiles
    /// (`up`: client → server, `down`: server → client).
    pub fn start(
        listen: UdpSocket,
        forward: SocketAddr,
        up: Profile,
        down: Profile,
        seed: u64,
    ) -> std::io::Result<Self> {
        listen.set_read_timeout(Some(POLL))?;
        let local = listen.local_addr()?;
        let shared = Arc::new(Shared {
            listen,
            forward,
            up,
            down,
            queue: Mutex::new((BinaryHeap::new(), 0)),
            wake: Condvar::new(),
            dice: Mutex::new(Dice(seed | 1)),
            upstreams: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            blackout_up: AtomicBool::new(false),
            blackout_down: AtomicBool::new(false),
            stats: Stats::default(),
        });
        let threads = Arc::new(Mutex::new(Vec::new()));

        let up_shared = shared.clone();
        let up_threads = threads.clone();
        let up = std::thread::Builder::new().name("netem-up".into()).spawn(move || {
            let mut buf = [0u8; 2048];
            while !up_shared.stop.load(Ordering::Relaxed) {
                if let Ok((len, from)) = up_shared.listen.recv_from(&mut buf) {
                    up_shared.stats.up_in.fetch_add(1, Ordering::Relaxed);
                    // Make sure the reply path exists before the server answers.
                    if up_shared.upstream(from, &up_threads).is_some() {
                        up_shared.schedule(&buf[..len], from, None);
                    }
                }
            }
        })?;
        let send_shared = shared.clone();
        let sender = std::thread::Builder::new().name("netem-send".into()).spawn(move || send_loop(&send_shared))?;
        threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend([up, sender]);
        Ok(Self { shared, threads, local })
    }

    /// The address clients should send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts or ends a blackout: while on, every datagram in that
    /// direction (`up`: toward the server) is lost, as when a link goes
    /// down for a while.
    pub fn blackout(&self, up: bool, down: bool) {
        self.shared.blackout_up.store(up, Ordering::Relaxed);
        self.shared.blackout_down.store(down, Ordering::Relaxed);
    }

    /// Blacks the link out both ways for `duration`, then restores it
    /// (blocks the calling thread meanwhile).
    pub fn blackout_for(&self, duration: Duration) {
        self.blackout(true, true);
        std::thread::sleep(duration);
        self.blackout(false, false);
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Stops every thread and waits for them.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        let handles: Vec<_> =
            self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..).collect();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends each datagram when it falls due.
fn send_loop(shared: &Shared) {
    let mut queue = shared.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = match queue.0.peek() {
            Some(next) if next.due <= now => None,
            Some(next) => Some((next.due - now).min(POLL)),
            None => Some(POLL),
        };
        if let Some(wait) = wait {
            queue = shared.wake.wait_timeout(queue, wait).map(|(q, _)| q).unwrap_or_else(|e| e.into_inner().0);
            continue;
        }
        let Some(packet) = queue.0.pop() else { continue };
        drop(queue);
        match packet.to_client {
            Some(client) => {
                let _ = shared.listen.send_to(&packet.bytes, client);
            }
            None => {
                let socket = shared
                    .upstreams
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(&packet.from_client)
                    .cloned();
                if let Some(socket) = socket {
                    let _ = socket.send_to(&packet.bytes, shared.forward);
                }
            }
        }
        queue = shared.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> (SocketAddr, Arc<AtomicBool>, JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((len, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..len], from);
                }
            }
        });
        (addr, stop, handle)
    }

    fn round_trip(up: Profile, down: Profile, count: u32) -> (Vec<u32>, Proxy) {
        let (server, stop, handle) = echo_server();
        let proxy = Proxy::start(UdpSocket::bind("127.0.0.1:0").unwrap(), server, up, down, 42).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        for i in 0..count {
            client.send_to(&i.to_le_bytes(), proxy.local_addr()).unwrap();
            std::thread::sleep(Duration::from_micros(500));
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok(len) = client.recv(&mut buf) {
            if len == 4 {
                got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
            }
        }
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
        (got, proxy)
    }

    #[test]
    fn a_clean_link_delivers_everything_in_order() {
        let (got, _proxy) = round_trip(Profile::default(), Profile::default(), 200);
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn loss_duplication_and_reordering_happen_at_the_configured_rates() {
        let lossy =
            Profile { loss: 0.2, duplicate: 0.1, reorder: 0.1, jitter: Duration::from_millis(2), ..Profile::default() };
        let (got, proxy) = round_trip(lossy, Profile::default(), 1000);
        let lost = proxy.stats().lost.load(Ordering::Relaxed);
        assert!((120..=280).contains(&lost), "lost {lost} of 1000 at 20%");
        assert!(proxy.stats().duplicated.load(Ordering::Relaxed) > 30);
        let mut unique = got.clone();
        unique.sort_unstable();
        unique.dedup();
        assert!(got.len() > unique.len(), "duplicates arrive");
        assert!(got.windows(2).any(|w| w[1] < w[0]), "some arrive out of order");
    }

    #[test]
    fn delay_is_applied_each_way() {
        let slow = Profile { delay: Duration::from_millis(40), ..Profile::default() };
        let (server, stop, handle) = echo_server();
        let proxy = Proxy::start(UdpSocket::bind("127.0.0.1:0").unwrap(), server, slow, slow, 1).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let sent = Instant::now();
        client.send_to(b"ping", proxy.local_addr()).unwrap();
        let mut buf = [0u8; 8];
        client.recv(&mut buf).unwrap();
        assert!(sent.elapsed() >= Duration::from_millis(80), "two 40 ms legs");
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }
}

/// A scheduled blackout: both directions dark from `at` after the start, for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blackout {
    /// When it begins, from the proxy's start.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

impl std::str::FromStr for Blackout {
    type Err = String;

    /// `AT+DURATION` in seconds, e.g. `10+5` (dark from 10 s to 15 s).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected AT+DURATION in seconds (e.g. 10+5), got {s:?}");
        let (at, duration) = s.split_once('+').ok_or_else(bad)?;
        let secs = |v: &str| v.trim().parse::<f64>().ok().and_then(|v| Duration::try_from_secs_f64(v).ok());
        Ok(Self { at: secs(at).ok_or_else(bad)?, duration: secs(duration).ok_or_else(bad)? })
    }
}

#[cfg(test)]
mod blackout_tests {
    use super::*;

    #[test]
    fn blackouts_parse_as_at_plus_duration() {
        let b: Blackout = "10+5".parse().unwrap();
        assert_eq!(b, Blackout { at: Duration::from_secs(10), duration: Duration::from_secs(5) });
        assert_eq!("0.5+1.5".parse::<Blackout>().unwrap().duration, Duration::from_millis(1500));
        for bad in ["10", "+5", "a+b", "-1+2", "3+-1"] {
            assert!(bad.parse::<Blackout>().is_err(), "{bad}");
        }
    }
}
