//! Failed-login limits per account and per IP, with temporary lockout.
//!
//! Each key counts failures inside a window; reaching the limit locks the
//! key for the lockout time, doubled for each lockout in a row (capped at
//! 16×). A locked key is refused before any password work is done. The
//! maps are pruned so an attacker cycling names or addresses cannot grow
//! them without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept before stale ones are pruned.
const PRUNE_ABOVE: usize = 50_000;

/// Limits for failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConfig {
    /// Failures of one account before it locks.
    pub account_failures: u32,
    /// Failures from one IP before it locks.
    pub ip_failures: u32,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// First lockout length.
    pub lockout: Duration,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            account_failures: 5,
            ip_failures: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Attempts being checked right now (counted against the limit, so
    /// parallel guesses cannot all slip past the check).
    in_flight: u32,
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
    /// Lockouts in a row, for back-off.
    strikes: u32,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self { in_flight: 0, failures: 0, since: now, locked_until: None, strikes: 0 }
    }

    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until.and_then(|until| until.checked_duration_since(now)).filter(|d| !d.is_zero())
    }

    fn fail(&mut self, now: Instant, limit: u32, cfg: &LimitConfig) {
        if now.duration_since(self.since) > cfg.window {
            self.failures = 0;
            self.since = now;
        }
        self.failures += 1;
        if self.failures >= limit {
            let factor = 1u32 << self.strikes.min(4);
            let lockout = cfg.lockout.checked_mul(factor).unwrap_or(Duration::from_secs(86_400));
            self.locked_until = Some(now.checked_add(lockout).unwrap_or(now + Duration::from_secs(86_400)));
            self.strikes += 1;
            self.failures = 0;
            self.since = now;
        }
    }

    fn stale(&self, now: Instant, cfg: &LimitConfig) -> bool {
        self.in_flight == 0 && self.locked(now).is_none() && now.duration_since(self.since) > cfg.window
    }

    /// Whether one more attempt may start now.
    fn room(&self, now: Instant, limit: u32, cfg: &LimitConfig) -> bool {
        let failures = if now.duration_since(self.since) > cfg.window { 0 } else { self.failures };
        failures + self.in_flight < limit
    }
}

#[derive(Debug, Default)]
struct Tables {
    accounts: HashMap<String, Entry>,
    ips: HashMap<IpAddr, Entry>,
    /// Requests with an unguessable secret being checked, per address.
    secrets_in_flight: HashMap<IpAddr, u32>,
}

/// Why a request with a secret may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The address is locked out for this long.
    Locked(Duration),
    /// The address has as many requests being checked as it may.
    Busy,
}

/// A request with an unguessable secret being checked (see
/// [`Limiter::secret_attempt`]); its slot frees when dropped.
#[derive(Debug)]
pub struct SecretAttempt {
    limiter: std::sync::Arc<Limiter>,
    ip: IpAddr,
}

impl Drop for SecretAttempt {
    fn drop(&mut self) {
        let mut tables = self.limiter.tables();
        if let Some(n) = tables.secrets_in_flight.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                tables.secrets_in_flight.remove(&self.ip);
            }
        }
    }
}

/// The shared limiter (short critical sections; never used on the tick thread).
#[derive(Debug, Default)]
pub struct Limiter {
    cfg: LimitConfig,
    tables: Mutex<Tables>,
}

impl Limiter {
    /// A limiter with these limits.
    pub fn new(cfg: LimitConfig) -> Self {
        Self { cfg, tables: Mutex::new(Tables::default()) }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(retry_after)` if the account or the IP is locked now.
    pub fn check(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let tables = self.tables();
        let account = tables.accounts.get(&account.to_lowercase()).and_then(|e| e.locked(now));
        let ip = tables.ips.get(&ip).and_then(|e| e.locked(now));
        match account.into_iter().chain(ip).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// `Err(retry_after)` if the IP is locked now.
    pub fn check_ip(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.tables().ips.get(&ip).and_then(|e| e.locked(now)) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Starts a request with an unguessable secret (a resume token) from
    /// `ip`: refused while the address is locked out, or while `max` of its
    /// requests are being checked (they cost store work, not guesses).
    pub fn secret_attempt(
        self: &std::sync::Arc<Self>,
        ip: IpAddr,
        now: Instant,
        max: u32,
    ) -> Result<SecretAttempt, Held> {
        self.check_ip(ip, now).map_err(Held::Locked)?;
        let mut tables = self.tables();
        let n = tables.secrets_in_flight.entry(ip).or_insert(0);
        if *n >= max {
            return Err(Held::Busy);
        }
        *n += 1;
        Ok(SecretAttempt { limiter: self.clone(), ip })
    }

    /// Counts a failure against the address alone: a wrong unguessable
    /// secret (a resume token) says nothing about any account.
    pub fn ip_failure(&self, ip: IpAddr, now: Instant) {
        let cfg = self.cfg;
        let mut tables = self.tables();
        if tables.ips.len() > PRUNE_ABOVE {
            tables.ips.retain(|_, e| !e.stale(now, &cfg));
        }
        tables.ips.entry(ip).or_insert_with(|| Entry::new(now)).fail(now, cfg.ip_failures, &cfg);
    }

    /// Starts a login attempt: refused while the account or address is
    /// locked, or while the attempts already in flight would reach the limit
    /// if they all failed. The returned [`Attempt`] must be settled with
    /// [`Attempt::failed`] or [`Attempt::succeeded`]; dropped unsettled (the
    /// client hung up, the server was busy) it counts for nothing.
    pub fn attempt(self: &std::sync::Arc<Self>, account: &str, ip: IpAddr, now: Instant) -> Result<Attempt, Duration> {
        self.check(account, ip, now)?;
        let key = account.to_lowercase();
        let cfg = self.cfg;
        let mut tables = self.tables();
        let account_room = tables.accounts.get(&key).is_none_or(|e| e.room(now, cfg.account_failures, &cfg));
        let ip_room = tables.ips.get(&ip).is_none_or(|e| e.room(now, cfg.ip_failures, &cfg));
        if !account_room || !ip_room {
            return Err(Duration::from_secs(1));
        }
        tables.accounts.entry(key.clone()).or_insert_with(|| Entry::new(now)).in_flight += 1;
        tables.ips.entry(ip).or_insert_with(|| Entry::new(now)).in_flight += 1;
        Ok(Attempt { limiter: self.clone(), key, ip, settled: false })
    }

    fn release(&self, key: &str, ip: IpAddr) {
        let mut tables = self.tables();
        if let Some(e) = tables.accounts.get_mut(key) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
        if let Some(e) = tables.ips.get_mut(&ip) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
    }

    /// Counts a failed login.
    pub fn failure(&self, account: &str, ip: IpAddr, now: Instant) {
        let cfg = self.cfg;
        let mut tables = self.tables();
        if tables.accounts.len() > PRUNE_ABOVE {
            tables.accounts.retain(|_, e| !e.stale(now, &cfg));
        }
        if tables.ips.len() > PRUNE_ABOVE {
            tables.ips.retain(|_, e| !e.stale(now, &cfg));
        }
        tables.accounts.entry(account.to_lowercase()).or_insert_with(|| Entry::new(now)).fail(
            now,
            cfg.account_failures,
            &cfg,
        );
        tables.ips.entry(ip).or_insert_with(|| Entry::new(now)).fail(now, cfg.ip_failures, &cfg);
    }

    /// A successful login clears the account's failures.
    pub fn success(&self, account: &str) {
        let mut tables = self.tables();
        if let Some(e) = tables.accounts.get_mut(&account.to_lowercase()) {
            *e = Entry { in_flight: e.in_flight, ..Entry::new(e.since) };
        }
    }
}

/// A login attempt in progress (see [`Limiter::attempt`]).
#[derive(Debug)]
pub struct Attempt {
    limiter: std::sync::Arc<Limiter>,
    key: String,
    ip: IpAddr,
    settled: bool,
}

impl Attempt {
    /// The credentials were wrong: counts a failure.
    pub fn failed(mut self, now: Instant) {
        self.settled = true;
        self.limiter.release(&self.key, self.ip);
        self.limiter.failure(&self.key, self.ip, now);
    }

    /// The credentials were right: clears the account's failures.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.limiter.release(&self.key, self.ip);
        self.limiter.success(&self.key);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.limiter.release(&self.key, self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn limiter() -> std::sync::Arc<Limiter> {
        std::sync::Arc::new(Limiter::new(LimitConfig {
            account_failures: 3,
            ip_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
        }))
    }

    #[test]
    fn account_locks_after_limit_and_unlocks_after_lockout() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.check("alice", IP, t0).is_ok(), "attempt {i}");
            l.failure("Alice", IP, t0);
        }
        let wait = l.check("ALICE", IP, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        assert!(l.check("bob", std::net::Ipv4Addr::new(10, 0, 0, 1).into(), t0).is_ok(), "others unaffected");
        assert!(l.check("alice", IP, t0 + Duration::from_secs(11)).is_ok());
    }

    #[test]
    fn repeated_lockouts_back_off() {
        let l = limiter();
        let mut now = Instant::now();
        for _ in 0..3 {
            l.failure("alice", std::net::Ipv4Addr::new(10, 0, 0, 2).into(), now);
        }
        now += Duration::from_secs(11);
        for _ in 0..3 {
            l.failure("alice", std::net::Ipv4Addr::new(10, 0, 0, 3).into(), now);
        }
        assert_eq!(l.check("alice", IP, now).unwrap_err(), Duration::from_secs(20));
    }

    #[test]
    fn ip_locks_across_accounts() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..5 {
            l.failure(&format!("user{i}"), IP, t0);
        }
        assert!(l.check("someone-new", IP, t0).is_err());
    }

    #[test]
    fn address_failures_lock_the_address_and_no_account() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..4 {
            l.ip_failure(IP, t0);
        }
        assert!(l.check_ip(IP, t0).is_ok(), "below the limit");
        l.ip_failure(IP, t0);
        assert!(l.check_ip(IP, t0).is_err());
        assert!(l.check("alice", IP, t0).is_err(), "a locked address is locked for logins too");
        let elsewhere = std::net::Ipv4Addr::new(10, 0, 0, 9).into();
        assert!(l.check("alice", elsewhere, t0).is_ok(), "no account was blamed");
    }

    #[test]
    fn requests_with_a_secret_in_flight_are_bounded_per_address() {
        let l = limiter();
        let t0 = Instant::now();
        let held: Vec<SecretAttempt> = (0..3).map(|_| l.secret_attempt(IP, t0, 3).unwrap()).collect();
        assert_eq!(l.secret_attempt(IP, t0, 3).unwrap_err(), Held::Busy);
        let elsewhere = std::net::Ipv4Addr::new(10, 0, 0, 8).into();
        assert!(l.secret_attempt(elsewhere, t0, 3).is_ok(), "per address");
        drop(held);
        assert!(l.secret_attempt(IP, t0, 3).is_ok(), "slots free when done");
        assert!(l.check("alice", IP, t0).is_ok(), "in flight is not a failure");
    }

    #[test]
    fn success_resets_the_account() {
        let l = limiter();
        let t0 = Instant::now();
        l.failure("alice", IP, t0);
        l.failure("alice", IP, t0);
        l.success("alice");
        l.failure("alice", IP, t0);
        assert!(l.check("alice", IP, t0).is_ok());
    }

    #[test]
    fn parallel_attempts_count_against_the_limit_until_settled() {
        let l = limiter();
        let t0 = Instant::now();
        // Three guesses in flight at once: a fourth may not start.
        let attempts: Vec<_> = (0..3).map(|_| l.attempt("alice", IP, t0).unwrap()).collect();
        assert!(l.attempt("alice", IP, t0).is_err());
        // Abandoned attempts (busy server, client gone) count for nothing.
        drop(attempts);
        let a = l.attempt("alice", IP, t0).unwrap();
        a.succeeded();
        for _ in 0..3 {
            l.attempt("alice", IP, t0).unwrap().failed(t0);
        }
        assert!(l.check("alice", IP, t0).is_err(), "three settled failures lock");
    }

    #[test]
    fn old_failures_expire() {
        let l = limiter();
        let t0 = Instant::now();
        l.failure("alice", IP, t0);
        l.failure("alice", IP, t0);
        l.failure("alice", IP, t0 + Duration::from_secs(61));
        assert!(l.check("alice", IP, t0 + Duration::from_secs(61)).is_ok());
    }
}
