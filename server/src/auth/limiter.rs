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
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
    /// Lockouts in a row, for back-off.
    strikes: u32,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self { failures: 0, since: now, locked_until: None, strikes: 0 }
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
        self.locked(now).is_none() && now.duration_since(self.since) > cfg.window
    }
}

#[derive(Debug, Default)]
struct Tables {
    accounts: HashMap<String, Entry>,
    ips: HashMap<IpAddr, Entry>,
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

    /// Checks and, if allowed, counts this attempt as a failure *before* the
    /// password is verified, so parallel guesses cannot all slip past the
    /// check; a successful login then calls [`Limiter::success`].
    pub fn attempt(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        self.check(account, ip, now)?;
        self.failure(account, ip, now);
        Ok(())
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

    /// A successful login clears the account's failures and refunds the
    /// address the attempt [`Limiter::attempt`] counted.
    pub fn success(&self, account: &str, ip: IpAddr) {
        let mut tables = self.tables();
        tables.accounts.remove(&account.to_lowercase());
        if let Some(entry) = tables.ips.get_mut(&ip) {
            entry.failures = entry.failures.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn limiter() -> Limiter {
        Limiter::new(LimitConfig {
            account_failures: 3,
            ip_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
        })
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
    fn success_resets_the_account() {
        let l = limiter();
        let t0 = Instant::now();
        l.failure("alice", IP, t0);
        l.failure("alice", IP, t0);
        l.success("alice", IP);
        l.failure("alice", IP, t0);
        assert!(l.check("alice", IP, t0).is_ok());
    }

    #[test]
    fn parallel_attempts_are_counted_before_they_finish() {
        let l = limiter();
        let t0 = Instant::now();
        // Three guesses in flight at once: the fourth is refused at once.
        for _ in 0..3 {
            assert!(l.attempt("alice", IP, t0).is_ok());
        }
        assert!(l.attempt("alice", IP, t0).is_err());
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
