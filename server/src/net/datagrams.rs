//! Datagram I/O in batches, behind the transport seam: a tick's outgoing
//! datagrams are queued ([`Outbox`]) and leave in as few system calls as
//! the platform allows, and incoming ones are read a batch at a time
//! ([`Inbox`]).
//!
//! On Linux: `sendmmsg` for the queue (up to
//! [`tickforge_udp::MAX_BATCH`] datagrams a call), UDP GSO (`UDP_SEGMENT`) for a run of equal-size datagrams to one
//! peer where the kernel has it (a snapshot split into full datagrams), and
//! `recvmmsg` for up to [`RECV_BATCH`] datagrams a call. Elsewhere, or
//! with batching off ([`Batching::Off`]): one `send_to` / `recv_from` per
//! datagram. Either way the bytes on the wire are the same.
//!
//! Most ticks send each client one datagram (the transport bundles a
//! client's renet packets into one payload), so GSO applies only to large
//! snapshots and handoff transfers; `sendmmsg` is what saves the calls.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Most datagrams one `recvmmsg` call reads.
pub const RECV_BATCH: usize = 64;

/// Whether datagrams go out and come in batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Batching {
    /// `sendmmsg` / `recvmmsg` (and GSO where the kernel has it) on Linux;
    /// elsewhere the same as [`Batching::Off`].
    #[default]
    On,
    /// One system call per datagram.
    Off,
}

/// What a flush did, for metrics and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Datagrams the kernel took.
    pub datagrams: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Datagrams the kernel refused (dropped, as a lost packet).
    pub failed: u64,
    /// System calls made.
    pub calls: u64,
}

impl Flushed {
    fn took(&mut self, bytes: usize) {
        self.datagrams += 1;
        self.bytes += bytes as u64;
    }

    fn refused(&mut self, addr: SocketAddr, error: &io::Error) {
        self.failed += 1;
        tracing::debug!(%addr, %error, "send failed");
    }
}

/// One queued datagram: where to, and its bytes in the queue.
#[derive(Debug, Clone, Copy)]
struct Queued {
    addr: SocketAddr,
    start: usize,
    len: usize,
}

/// A tick's outgoing datagrams, queued until [`Outbox::flush`].
#[derive(Debug)]
pub struct Outbox {
    batching: Batching,
    bytes: Vec<u8>,
    queued: Vec<Queued>,
    /// Whether GSO is still worth trying (cleared when the kernel refuses it).
    gso: bool,
}

impl Outbox {
    /// An empty queue for `socket`, batched or not (GSO only if the
    /// socket's kernel knows UDP segmentation).
    pub fn new(socket: &UdpSocket, batching: Batching) -> Self {
        let gso = batching == Batching::On && tickforge_udp::has_gso(socket);
        Self { batching, bytes: Vec::new(), queued: Vec::new(), gso }
    }

    /// Whether GSO is in use.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Queues one datagram.
    pub fn push(&mut self, addr: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.queued.push(Queued { addr, start, len: datagram.len() });
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Sends everything queued, each peer's datagrams in order, and empties
    /// the queue. A datagram the kernel refuses is dropped, as the network
    /// would drop it.
    pub fn flush(&mut self, socket: &UdpSocket) -> Flushed {
        let mut done = Flushed::default();
        let queued = std::mem::take(&mut self.queued);
        match self.batching {
            Batching::On => {
                // Runs for GSO are sent whole; the datagrams between them in
                // batches, each batch before the run that follows it.
                let mut from = 0;
                let mut i = 0;
                while i < queued.len() {
                    let run = if self.gso { gso_run(&queued[i..]) } else { 1 };
                    if run < 2 {
                        i += 1;
                        continue;
                    }
                    self.send_batched(socket, &queued[from..i], &mut done);
                    self.send_run(socket, &queued[i..i + run], &mut done);
                    i += run;
                    from = i;
                }
                self.send_batched(socket, &queued[from..], &mut done);
            }
            Batching::Off => {
                for q in &queued {
                    done.calls += 1;
                    match socket.send_to(self.slice(q), q.addr) {
                        Ok(_) => done.took(q.len),
                        Err(e) => done.refused(q.addr, &e),
                    }
                }
            }
        }
        self.queued = queued;
        self.queued.clear();
        self.bytes.clear();
        done
    }

    fn slice(&self, q: &Queued) -> &[u8] {
        &self.bytes[q.start..q.start + q.len]
    }

    /// `queued` in as few `sendmmsg` calls as the kernel allows.
    fn send_batched(&self, socket: &UdpSocket, queued: &[Queued], done: &mut Flushed) {
        let mut rest = queued;
        while !rest.is_empty() {
            let batch: Vec<(SocketAddr, &[u8])> =
                rest.iter().take(tickforge_udp::MAX_BATCH).map(|q| (q.addr, self.slice(q))).collect();
            done.calls += 1;
            let taken = match tickforge_udp::send_many(socket, &batch) {
                Ok(0) => {
                    // Nothing taken and no error: count the first as lost, go on.
                    done.refused(rest[0].addr, &io::Error::other("no datagram taken"));
                    1
                }
                Ok(n) => {
                    rest[..n].iter().for_each(|q| done.took(q.len));
                    n
                }
                Err(e) => {
                    done.refused(rest[0].addr, &e);
                    1
                }
            };
            rest = &rest[taken.min(rest.len())..];
        }
    }

    /// One run for one peer through GSO; if the device cannot segment, GSO
    /// is off from then on and the run goes out batched.
    fn send_run(&mut self, socket: &UdpSocket, run: &[Queued], done: &mut Flushed) {
        let segments: Vec<&[u8]> = run.iter().map(|q| self.slice(q)).collect();
        done.calls += 1;
        match tickforge_udp::send_segments(socket, run[0].addr, &segments) {
            Ok(()) => run.iter().for_each(|q| done.took(q.len)),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                tracing::debug!(error = %e, "UDP segmentation refused; sending datagrams one by one");
                self.gso = false;
                self.send_batched(socket, run, done);
            }
            Err(e) => run.iter().for_each(|q| done.refused(q.addr, &e)),
        }
    }
}

/// How many datagrams from the start of `queued` form one GSO send: to one
/// peer, all as long as the first but the last (which may be shorter),
/// within the kernel's limits.
fn gso_run(queued: &[Queued]) -> usize {
    let first = queued[0];
    let (mut run, mut total) = (1, first.len);
    while run < queued.len().min(tickforge_udp::MAX_SEGMENTS) {
        let q = queued[run];
        if q.addr != first.addr || q.len > first.len || total + q.len > tickforge_udp::MAX_SEGMENTED_BYTES {
            break;
        }
        total += q.len;
        run += 1;
        if q.len < first.len {
            break; // a shorter segment ends the run
        }
    }
    run
}

/// Datagrams read from the socket and not yet handed on (`Default`: no
/// room, a placeholder while the real one is borrowed out).
#[derive(Debug, Default)]
pub struct Inbox {
    batching: Batching,
    /// One datagram's room per slot.
    buffers: Vec<Box<[u8]>>,
    /// What the last read put in each slot: length and sender.
    got: Vec<(usize, SocketAddr)>,
    /// The next slot to hand on.
    next: usize,
    /// System calls made (for the benchmark).
    calls: u64,
}

impl Inbox {
    /// Room for [`RECV_BATCH`] datagrams of up to `max_bytes` each (one if
    /// batching is off).
    pub fn new(batching: Batching, max_bytes: usize) -> Self {
        let slots = if batching == Batching::On { RECV_BATCH } else { 1 };
        Self {
            batching,
            buffers: (0..slots).map(|_| vec![0; max_bytes].into_boxed_slice()).collect(),
            got: Vec::with_capacity(slots),
            next: 0,
            calls: 0,
        }
    }

    /// System calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The next datagram (its bytes, writable, and its sender), reading a
    /// batch from `socket` when none is left; `Ok(None)` when the socket
    /// has nothing. What a read brought in stays here until taken, so a
    /// caller may stop halfway through a batch and lose nothing.
    pub fn next(&mut self, socket: &UdpSocket) -> io::Result<Option<(&mut [u8], SocketAddr)>> {
        if self.next >= self.got.len() {
            self.next = 0;
            self.got.clear();
            self.fill(socket)?;
            if self.got.is_empty() {
                return Ok(None);
            }
        }
        let slot = self.next;
        self.next += 1;
        let (len, addr) = self.got[slot];
        Ok(Some((&mut self.buffers[slot][..len], addr)))
    }

    /// One read: as many datagrams as there are slots, or fewer.
    fn fill(&mut self, socket: &UdpSocket) -> io::Result<()> {
        if self.buffers.is_empty() {
            return Ok(());
        }
        loop {
            self.calls += 1;
            let read = match self.batching {
                Batching::On => tickforge_udp::recv_many(socket, &mut self.buffers, &mut self.got),
                Batching::Off => socket.recv_from(&mut self.buffers[0]).map(|pair| self.got.push(pair)),
            };
            match read {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // A reset is an earlier send's ICMP echo: nothing was read.
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionReset) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn bound() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    /// Everything `socket` gets within two seconds, until `want` arrived.
    fn read(inbox: &mut Inbox, socket: &UdpSocket, want: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while out.len() < want && Instant::now() < deadline {
            match inbox.next(socket).unwrap() {
                Some((bytes, _)) => out.push(bytes.to_vec()),
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        out
    }

    /// Batched or not, each peer gets its datagrams whole and in order: a
    /// run of full-size ones (a GSO send where the kernel has it), singles
    /// around it, and more than one receive batch of them.
    #[test]
    fn both_ways_deliver_the_same_datagrams_in_order() {
        for batching in [Batching::On, Batching::Off] {
            let (sender, a, b) = (bound(), bound(), bound());
            let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            let mut outbox = Outbox::new(&sender, batching);
            let mut want_a = Vec::new();
            let mut want_b = Vec::new();
            for i in 0..100u8 {
                let small = vec![i; 40 + usize::from(i)];
                outbox.push(to_b, &small);
                want_b.push(small);
            }
            for i in 0..5u8 {
                let full = vec![i; if i == 4 { 300 } else { 1200 }];
                outbox.push(to_a, &full);
                want_a.push(full);
            }
            outbox.push(to_b, b"last");
            want_b.push(b"last".to_vec());
            assert_eq!(outbox.len(), 106);
            let done = outbox.flush(&sender);
            assert!(outbox.is_empty());
            assert_eq!((done.datagrams, done.failed), (106, 0), "{batching:?}");
            if batching == Batching::Off {
                assert_eq!(done.calls, 106);
            } else {
                assert!(done.calls <= 4, "{batching:?}: {} calls", done.calls);
            }
            let mut inbox = Inbox::new(batching, 1400);
            assert_eq!(read(&mut inbox, &a, want_a.len()), want_a, "{batching:?}");
            let mut inbox = Inbox::new(batching, 1400);
            assert_eq!(read(&mut inbox, &b, want_b.len()), want_b, "{batching:?}");
            if batching == Batching::On {
                assert!(inbox.calls() < 20, "{} receive calls for 101 datagrams", inbox.calls());
            }
        }
    }
}
