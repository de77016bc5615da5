//! Bounds on the TCP connections one listener holds: in all, and per
//! client address ([`AddrKey`]: an IPv4 address, an IPv6 /64). A
//! connection beyond either bound is closed as soon as it is accepted,
//! before a byte of it is read, and counted; refusals are logged once per
//! [`LOG_EVERY`], not once each, so a flood cannot flood the log.
//!
//! The listeners' bounds together are what HTTP clients can ever hold of
//! the process's descriptors (the side thread's descriptor budget); the tick, the
//! game socket and the database keep the rest. A trusted proxy's
//! connections are not counted per address (each carries many clients):
//! behind it, the HTTP layer bounds requests in flight per forwarded
//! address instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::forwarded::{AddrKey, TrustedProxies};

/// Refusals are summed and logged at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How many connections a listener holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open at once, in all.
    pub total: usize,
    /// Open at once from one client address.
    pub per_addr: usize,
}

/// A listener's connection figures, for `/metrics`.
#[derive(Debug, Default)]
pub struct ListenerMetrics {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections taken.
    pub accepted: AtomicU64,
    /// Closed at once: the listener was full.
    pub refused_full: AtomicU64,
    /// Closed at once: their address had as many open as it may.
    pub refused_address: AtomicU64,
    /// Closed because a request's head did not arrive in time.
    pub closed_header_timeout: AtomicU64,
    /// Closed after sitting idle between requests.
    pub closed_idle: AtomicU64,
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds its bound in all.
    Full,
    /// The address holds its bound.
    Address,
}

/// What the refusal log has summed since it last spoke.
#[derive(Debug, Default)]
struct Unlogged {
    full: u64,
    address: u64,
    /// Refusals per address, to name the busiest.
    by_addr: HashMap<AddrKey, u64>,
    next_log: Option<Instant>,
}

#[derive(Debug, Default)]
struct Counts {
    per_addr: HashMap<AddrKey, usize>,
    unlogged: Unlogged,
}

/// One listener's bounds and counts (shared by its accept loop and the
/// permits of its open connections).
#[derive(Debug)]
pub struct ConnGate {
    name: &'static str,
    limits: ConnLimits,
    proxies: TrustedProxies,
    counts: Mutex<Counts>,
    metrics: Arc<ListenerMetrics>,
}

/// A connection's place in its listener's counts; given back when dropped.
#[derive(Debug)]
pub struct ConnPermit {
    gate: Arc<ConnGate>,
    key: Option<AddrKey>,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.gate.metrics.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.key {
            let mut counts = self.gate.counts();
            if let Some(n) = counts.per_addr.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    counts.per_addr.remove(&key);
                }
            }
        }
    }
}

impl ConnGate {
    /// A gate for the listener `name` (in logs and metrics).
    pub fn new(name: &'static str, limits: ConnLimits, proxies: TrustedProxies) -> Arc<Self> {
        Arc::new(Self { name, limits, proxies, counts: Mutex::default(), metrics: Arc::default() })
    }

    /// The listener's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its bounds.
    pub fn limits(&self) -> ConnLimits {
        self.limits
    }

    /// Its figures.
    pub fn metrics(&self) -> &Arc<ListenerMetrics> {
        &self.metrics
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a connection from `peer`, or why there is none (the
    /// caller closes the connection at once).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnPermit, Refusal> {
        self.admit_at(peer, Instant::now())
    }

    fn admit_at(self: &Arc<Self>, peer: IpAddr, now: Instant) -> Result<ConnPermit, Refusal> {
        let key = (!self.proxies.contains(peer)).then(|| AddrKey::of(peer));
        let mut counts = self.counts();
        let refusal = if self.metrics.open.load(Ordering::Relaxed) as usize >= self.limits.total {
            Some(Refusal::Full)
        } else if key.is_some_and(|k| counts.per_addr.get(&k).copied().unwrap_or(0) >= self.limits.per_addr) {
            Some(Refusal::Address)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let (counter, summed) = match refusal {
                Refusal::Full => (&self.metrics.refused_full, &mut counts.unlogged.full),
                Refusal::Address => (&self.metrics.refused_address, &mut counts.unlogged.address),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            *summed += 1;
            let unlogged = &mut counts.unlogged;
            if let Some(k) = key
                && (unlogged.by_addr.len() < 4096 || unlogged.by_addr.contains_key(&k))
            {
                *unlogged.by_addr.entry(k).or_default() += 1;
            }
            self.log_refusals(unlogged, now);
            return Err(refusal);
        }
        if let Some(k) = key {
            *counts.per_addr.entry(k).or_default() += 1;
        }
        self.metrics.open.fetch_add(1, Ordering::Relaxed);
        self.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(ConnPermit { gate: self.clone(), key })
    }

    /// Logs what was refused since the last line, at most once per [`LOG_EVERY`].
    fn log_refusals(&self, unlogged: &mut Unlogged, now: Instant) {
        if unlogged.next_log.is_some_and(|at| now < at) {
            return;
        }
        let busiest = unlogged.by_addr.iter().max_by_key(|(_, n)| **n).map(|(k, n)| (k.to_string(), *n));
        tracing::warn!(
            listener = self.name,
            listener_full = unlogged.full,
            address_full = unlogged.address,
            busiest = ?busiest,
            limit = self.limits.total,
            per_address = self.limits.per_addr,
            "connections refused since the last report (closed at once)"
        );
        *unlogged = Unlogged { next_log: Some(now + LOG_EVERY), ..Unlogged::default() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per_addr: usize, proxies: &[&str]) -> Arc<ConnGate> {
        let proxies =
            TrustedProxies { addrs: proxies.iter().map(|p| p.parse().unwrap()).collect(), ..Default::default() };
        ConnGate::new("test", ConnLimits { total, per_addr }, proxies)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_address_and_in_all() {
        let g = gate(4, 2, &[]);
        let a1 = g.admit(ip("10.0.0.1")).unwrap();
        let _a2 = g.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(g.admit(ip("10.0.0.1")).unwrap_err(), Refusal::Address);
        // An IPv6 /64 is one address.
        let _b1 = g.admit(ip("2001:db8::1")).unwrap();
        let _b2 = g.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(g.admit(ip("2001:db8::ffff")).unwrap_err(), Refusal::Full, "four in all");
        drop(a1);
        assert_eq!(g.admit(ip("2001:db8::3")).unwrap_err(), Refusal::Address);
        let _a3 = g.admit(ip("10.0.0.1")).expect("a closed connection's place is free again");
        let m = g.metrics();
        assert_eq!(
            (m.open.load(Ordering::Relaxed), m.refused_full.load(Ordering::Relaxed)),
            (4, 1),
            "open and refused are counted"
        );
        assert_eq!(m.refused_address.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_trusted_proxy_is_bounded_only_in_all() {
        let g = gate(5, 1, &["10.0.0.9"]);
        let held: Vec<_> = (0..5).map(|_| g.admit(ip("10.0.0.9")).unwrap()).collect();
        assert_eq!(g.admit(ip("10.0.0.9")).unwrap_err(), Refusal::Full);
        drop(held);
        assert_eq!(g.counts().per_addr.len(), 0, "nothing left counted");
    }

    #[test]
    fn refusals_are_summed_between_log_lines() {
        let g = gate(1, 1, &[]);
        let _held = g.admit(ip("10.0.0.1")).unwrap();
        let t0 = Instant::now();
        for _ in 0..100 {
            let _ = g.admit_at(ip("10.0.0.1"), t0);
        }
        // The first refusal logged at once; the other 99 wait for the next line.
        assert_eq!(g.counts().unlogged.full, 99);
        let _ = g.admit_at(ip("10.0.0.2"), t0 + LOG_EVERY);
        assert_eq!(g.counts().unlogged.full, 0, "logged and cleared after the interval");
    }
}
