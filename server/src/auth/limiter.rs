//! Failed-login limits that nobody can aim at someone else, and a limit on
//! account creation, per client address ([`AddrKey`]: an IPv4 address, an
//! IPv6 /64).
//!
//! Failures count against the (account, address) pair and against the
//! address. Reaching a pair's limit locks that pair: the address may not
//! try that account for the lockout time (doubled for each lockout in a
//! row, up to 16×). Reaching the address's limit (more, across accounts)
//! locks the address. Nothing locks an account as such: a client that has
//! not failed logs in with the right password at once, however many
//! addresses are guessing that account's password meanwhile — each of
//! their guesses costs them a full argon2id hash, and each address only
//! gets its pair's few guesses per lockout.
//!
//! What is left against a distributed guesser, and why it is enough: each
//! address gets [`LimitConfig::account_failures`] guesses at one account
//! per lockout period, and the periods double (1, 2, 4, 8, 16, 16… min), so
//! an address gets about 5 guesses at first and then about 5 per 16 min —
//! some 450 a day; and every guess from anywhere waits its turn for one of
//! the few hashing threads, so the whole server checks a few dozen
//! passwords a second at most. Against the 8-character minimum and the
//! breached-password lists a guesser starts from, that takes a botnet of
//! real addresses (not an IPv6 range: a /64 is one address here) a long
//! time for each account — while a lockout per account would let one
//! client lock out anyone, at no cost, which is the attack this prevents.
//!
//! A locked key is refused before any password work. Refusals are not each
//! written to the access log: they are summed per (address, name) and
//! taken with [`Limiter::take_refusals`]. The maps are pruned so cycling
//! names or addresses cannot grow them without bound.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::net::forwarded::AddrKey;

/// Keys kept before stale ones are pruned.
const PRUNE_ABOVE: usize = 50_000;

/// (Address, name) pairs whose refusals are summed at most; past it they
/// are summed per address alone.
const REFUSALS_KEPT: usize = 10_000;

/// Limits for failed logins and account creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConfig {
    /// Failures of one account from one address before that pair locks.
    pub account_failures: u32,
    /// Failures from one address (any accounts) before it locks.
    pub ip_failures: u32,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// First lockout length.
    pub lockout: Duration,
    /// Accounts one address may create per hour (and at once); 0: no limit.
    pub registrations_per_hour: u32,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            account_failures: 5,
            ip_failures: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(60),
            registrations_per_hour: 30,
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

/// Account creations one address has left: a bucket that refills by the hour.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Refused attempts summed for one access-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusals {
    /// The last client address refused (the address's port is the last one seen).
    pub peer: SocketAddr,
    /// The name tried (`None`: several, summed per address).
    pub username: Option<String>,
    /// How many were refused.
    pub count: u32,
}

#[derive(Debug, Default)]
struct Tables {
    /// Per (lower-case account name, address).
    pairs: HashMap<(String, AddrKey), Entry>,
    addrs: HashMap<AddrKey, Entry>,
    /// Requests with an unguessable secret being checked, per address.
    secrets_in_flight: HashMap<AddrKey, u32>,
    registrations: HashMap<AddrKey, Bucket>,
    /// Refusals not yet written to the access log.
    refused: HashMap<(AddrKey, Option<String>), Refusals>,
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
    key: AddrKey,
}

impl Drop for SecretAttempt {
    fn drop(&mut self) {
        let mut tables = self.limiter.tables();
        if let Some(n) = tables.secrets_in_flight.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                tables.secrets_in_flight.remove(&self.key);
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

    /// `Err(retry_after)` if `account` may not be tried from `ip` now: the
    /// pair or the address is locked.
    pub fn check(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = AddrKey::of(ip);
        let tables = self.tables();
        let pair = tables.pairs.get(&(account.to_lowercase(), key)).and_then(|e| e.locked(now));
        let addr = tables.addrs.get(&key).and_then(|e| e.locked(now));
        match pair.into_iter().chain(addr).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// `Err(retry_after)` if the address is locked now.
    pub fn check_ip(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.tables().addrs.get(&AddrKey::of(ip)).and_then(|e| e.locked(now)) {
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
        let key = AddrKey::of(ip);
        let mut tables = self.tables();
        let n = tables.secrets_in_flight.entry(key).or_insert(0);
        if *n >= max {
            return Err(Held::Busy);
        }
        *n += 1;
        Ok(SecretAttempt { limiter: self.clone(), key })
    }

    /// Counts a failure against the address alone: a wrong unguessable
    /// secret (a resume token) says nothing about any account.
    pub fn ip_failure(&self, ip: IpAddr, now: Instant) {
        let cfg = self.cfg;
        let mut tables = self.tables();
        if tables.addrs.len() > PRUNE_ABOVE {
            tables.addrs.retain(|_, e| !e.stale(now, &cfg));
        }
        tables.addrs.entry(AddrKey::of(ip)).or_insert_with(|| Entry::new(now)).fail(now, cfg.ip_failures, &cfg);
    }

    /// Starts a login attempt at `account` from `ip`: refused while the
    /// pair or the address is locked, or while the attempts already in
    /// flight would reach either limit if they all failed. The returned
    /// [`Attempt`] must be settled with [`Attempt::failed`] or
    /// [`Attempt::succeeded`]; dropped unsettled (the client hung up, the
    /// server was busy) it counts for nothing.
    pub fn attempt(self: &std::sync::Arc<Self>, account: &str, ip: IpAddr, now: Instant) -> Result<Attempt, Duration> {
        self.check(account, ip, now)?;
        let pair = (account.to_lowercase(), AddrKey::of(ip));
        let cfg = self.cfg;
        let mut tables = self.tables();
        let pair_room = tables.pairs.get(&pair).is_none_or(|e| e.room(now, cfg.account_failures, &cfg));
        let addr_room = tables.addrs.get(&pair.1).is_none_or(|e| e.room(now, cfg.ip_failures, &cfg));
        if !pair_room || !addr_room {
            return Err(Duration::from_secs(1));
        }
        tables.pairs.entry(pair.clone()).or_insert_with(|| Entry::new(now)).in_flight += 1;
        tables.addrs.entry(pair.1).or_insert_with(|| Entry::new(now)).in_flight += 1;
        Ok(Attempt { limiter: self.clone(), pair, settled: false })
    }

    fn release(&self, pair: &(String, AddrKey)) {
        let mut tables = self.tables();
        if let Some(e) = tables.pairs.get_mut(pair) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
        if let Some(e) = tables.addrs.get_mut(&pair.1) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
    }

    /// Counts a failed login of `account` from `ip`.
    pub fn failure(&self, account: &str, ip: IpAddr, now: Instant) {
        self.pair_failure(&(account.to_lowercase(), AddrKey::of(ip)), now);
    }

    fn pair_failure(&self, pair: &(String, AddrKey), now: Instant) {
        let cfg = self.cfg;
        let mut tables = self.tables();
        if tables.pairs.len() > PRUNE_ABOVE {
            tables.pairs.retain(|_, e| !e.stale(now, &cfg));
        }
        if tables.addrs.len() > PRUNE_ABOVE {
            tables.addrs.retain(|_, e| !e.stale(now, &cfg));
        }
        tables.pairs.entry(pair.clone()).or_insert_with(|| Entry::new(now)).fail(now, cfg.account_failures, &cfg);
        tables.addrs.entry(pair.1).or_insert_with(|| Entry::new(now)).fail(now, cfg.ip_failures, &cfg);
    }

    /// A successful login clears the pair's failures (the address's stay:
    /// they may be other accounts').
    pub fn success(&self, account: &str, ip: IpAddr) {
        self.pair_success(&(account.to_lowercase(), AddrKey::of(ip)));
    }

    fn pair_success(&self, pair: &(String, AddrKey)) {
        let mut tables = self.tables();
        if let Some(e) = tables.pairs.get_mut(pair) {
            *e = Entry { in_flight: e.in_flight, ..Entry::new(e.since) };
        }
    }

    /// Takes one account creation from `ip`'s allowance, or says how long
    /// until there is one.
    pub fn register(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let per_hour = self.cfg.registrations_per_hour;
        if per_hour == 0 {
            return Ok(());
        }
        let burst = f64::from(per_hour);
        let per_sec = burst / 3600.0;
        let mut tables = self.tables();
        if tables.registrations.len() > PRUNE_ABOVE {
            tables.registrations.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let bucket = tables.registrations.entry(AddrKey::of(ip)).or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_sec).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_sec))
        }
    }

    /// Counts a refused attempt (of `username`, if the attempt named one)
    /// from `peer` for the access log: per (address, name) while only that
    /// pair is locked, per address alone while the whole address is (a
    /// guesser cycling names gets one row, not one per name).
    pub fn refused(&self, peer: SocketAddr, username: Option<&str>, now: Instant) {
        let mut tables = self.tables();
        let key = AddrKey::of(peer.ip());
        let address_locked = tables.addrs.get(&key).is_some_and(|e| e.locked(now).is_some());
        let mut slot = (key, username.filter(|_| !address_locked).map(str::to_owned));
        if tables.refused.len() >= REFUSALS_KEPT && !tables.refused.contains_key(&slot) {
            slot.1 = None;
        }
        let entry = tables.refused.entry(slot).or_insert_with_key(|(_, name)| Refusals {
            peer,
            username: name.clone(),
            count: 0,
        });
        entry.peer = peer;
        entry.count = entry.count.saturating_add(1);
    }

    /// The refusals counted since the last call, one entry per (address, name).
    pub fn take_refusals(&self) -> Vec<Refusals> {
        std::mem::take(&mut self.tables().refused).into_values().collect()
    }
}

/// A login attempt in progress (see [`Limiter::attempt`]).
#[derive(Debug)]
pub struct Attempt {
    limiter: std::sync::Arc<Limiter>,
    pair: (String, AddrKey),
    settled: bool,
}

impl Attempt {
    /// The credentials were wrong: counts a failure.
    pub fn failed(mut self, now: Instant) {
        self.settled = true;
        self.limiter.release(&self.pair);
        self.limiter.pair_failure(&self.pair, now);
    }

    /// The credentials were right: clears the pair's failures.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.limiter.release(&self.pair);
        self.limiter.pair_success(&self.pair);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.limiter.release(&self.pair);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn addr(last: u8) -> IpAddr {
        std::net::Ipv4Addr::new(10, 0, 0, last).into()
    }

    fn limiter() -> std::sync::Arc<Limiter> {
        std::sync::Arc::new(Limiter::new(LimitConfig {
            account_failures: 3,
            ip_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
            registrations_per_hour: 3,
        }))
    }

    #[test]
    fn a_pair_locks_after_its_limit_and_unlocks_after_the_lockout() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.check("alice", IP, t0).is_ok(), "attempt {i}");
            l.failure("Alice", IP, t0);
        }
        let wait = l.check("ALICE", IP, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        assert!(l.check("bob", IP, t0).is_ok(), "the address may try other accounts");
        assert!(l.check("alice", addr(1), t0).is_ok(), "and alice may log in from anywhere else");
        assert!(l.check("alice", IP, t0 + Duration::from_secs(11)).is_ok());
    }

    #[test]
    fn nobody_can_lock_out_an_account_for_others() {
        let l = limiter();
        let t0 = Instant::now();
        // Fifty addresses each guess alice's password until they are locked.
        for a in 1..=50 {
            for _ in 0..3 {
                if let Ok(attempt) = l.attempt("alice", addr(a), t0) {
                    attempt.failed(t0);
                }
            }
            assert!(l.check("alice", addr(a), t0).is_err(), "each guessing address is locked out of alice");
        }
        let mine = l.attempt("alice", addr(200), t0).expect("a client that has not failed tries at once");
        mine.succeeded();
        // IPv6: one /64 is one address, whatever host in it.
        let v6 = |host: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0, 0, 0, host));
        for host in 1..=3 {
            l.failure("alice", v6(host), t0);
        }
        assert!(l.check("alice", v6(999), t0).is_err(), "another host of the same /64 is the same guesser");
    }

    #[test]
    fn repeated_lockouts_back_off() {
        let l = limiter();
        let mut now = Instant::now();
        for _ in 0..3 {
            l.failure("alice", addr(2), now);
        }
        now += Duration::from_secs(11);
        for _ in 0..3 {
            l.failure("alice", addr(2), now);
        }
        assert_eq!(l.check("alice", addr(2), now).unwrap_err(), Duration::from_secs(20));
    }

    #[test]
    fn ip_locks_across_accounts() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..5 {
            l.failure(&format!("user{i}"), IP, t0);
        }
        assert!(l.check("someone-new", IP, t0).is_err());
        assert!(l.check("someone-new", addr(3), t0).is_ok());
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
        assert!(l.check("alice", addr(9), t0).is_ok(), "no account was blamed");
    }

    #[test]
    fn requests_with_a_secret_in_flight_are_bounded_per_address() {
        let l = limiter();
        let t0 = Instant::now();
        let held: Vec<SecretAttempt> = (0..3).map(|_| l.secret_attempt(IP, t0, 3).unwrap()).collect();
        assert_eq!(l.secret_attempt(IP, t0, 3).unwrap_err(), Held::Busy);
        assert!(l.secret_attempt(addr(8), t0, 3).is_ok(), "per address");
        drop(held);
        assert!(l.secret_attempt(IP, t0, 3).is_ok(), "slots free when done");
        assert!(l.check("alice", IP, t0).is_ok(), "in flight is not a failure");
    }

    #[test]
    fn success_resets_the_pair() {
        let l = limiter();
        let t0 = Instant::now();
        l.failure("alice", IP, t0);
        l.failure("alice", IP, t0);
        l.success("alice", IP);
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
        assert!(l.attempt("alice", addr(4), t0).is_ok(), "another address is not held back");
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

    #[test]
    fn account_creation_is_limited_per_address_and_refills() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..3 {
            l.register(IP, t0).unwrap();
        }
        let wait = l.register(IP, t0).unwrap_err();
        assert_eq!(wait.as_secs(), 1200, "one more an hour / 3");
        assert!(l.register(addr(5), t0).is_ok(), "per address");
        assert!(l.register(IP, t0 + Duration::from_secs(1200)).is_ok(), "refilled");
        let unlimited = Limiter::new(LimitConfig { registrations_per_hour: 0, ..LimitConfig::default() });
        assert!((0..1000).all(|_| unlimited.register(IP, t0).is_ok()));
    }

    #[test]
    fn refusals_are_summed_per_address_and_name() {
        let l = limiter();
        let now = Instant::now();
        let peer = |port| SocketAddr::new(IP, port);
        for port in 0..100 {
            l.refused(peer(port), Some("alice"), now);
        }
        l.refused(peer(7), Some("bob"), now);
        l.refused(SocketAddr::new(addr(6), 1), None, now);
        let mut rows = l.take_refusals();
        rows.sort_by_key(|r| r.count);
        let counts: Vec<u32> = rows.iter().map(|r| r.count).collect();
        assert_eq!(counts, [1, 1, 100]);
        assert_eq!(rows[2].username.as_deref(), Some("alice"));
        assert!(l.take_refusals().is_empty(), "taken once");

        // A locked address cycling names: one row for the address.
        for _ in 0..5 {
            l.ip_failure(IP, now);
        }
        for i in 0..50 {
            l.refused(peer(1), Some(&format!("guess{i}")), now);
        }
        let rows = l.take_refusals();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].username.as_deref(), rows[0].count), (None, 50));
    }
}
