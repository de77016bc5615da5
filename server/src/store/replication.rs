//! The database cluster as this server sees it, and the one policy we keep
//! on top of PostgreSQL's own replication: synchronous while a standby is
//! there, degraded (not stopped) while none is.
//!
//! PostgreSQL waits for a standby on every commit once
//! `synchronous_standby_names` names one — and waits forever when that
//! standby is gone. So a watch thread, on a connection of its own to the
//! primary, looks once per [`CHECK_EVERY`] at `pg_stat_replication` and at
//! `tickforge.synchronous_standby` (the standby names the operator wants,
//! a custom setting in `postgresql.conf`): while a wanted standby streams,
//! `synchronous_standby_names` is set to them; while none does, it is
//! cleared (`ALTER SYSTEM`, `pg_reload_conf()`), which also releases
//! commits already waiting. Each server's watch does the same, so it holds
//! with any of them alive; the change is idempotent.
//!
//! What the watch saw is [`Health`]: `/admin/cluster` shows it and
//! `/metrics` exports it. `replicated`: a standby streams. `degraded`:
//! standbys are wanted (ours, or `synchronous_standby_names` set by
//! whoever) and none streams synchronously — commits are acknowledged by
//! the primary alone and would not survive its loss; a single database
//! that wants none is not degraded. `stalled`: `synchronous_standby_names`
//! names standbys and none of them streams, so every commit waits (for
//! ever, unless one comes back) — whatever set it; we only clear what we
//! set ourselves, so this is for the operator, and requests waiting on
//! such a commit get their deadline's 503 meanwhile. Clearing and restoring the setting needs `ALTER SYSTEM` on it and
//! `pg_reload_conf()` (a superuser, or `GRANT ALTER SYSTEM ON PARAMETER
//! synchronous_standby_names` and `GRANT EXECUTE ON FUNCTION
//! pg_reload_conf()`); without them the watch only reports.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use postgres::{Client, Config, NoTls};

use super::StoreError;
use super::postgres::connection_config;

/// How often the watch looks.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// One standby, as the primary lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Standby {
    /// Its `application_name` (its `cluster_name`, by default).
    pub name: String,
    /// `streaming`, `catchup`, `startup`…
    pub state: String,
    /// `sync`, `quorum`, `potential` or `async`.
    pub sync_state: String,
    /// WAL the primary has written that the standby has not replayed, in bytes.
    pub lag_bytes: i64,
}

/// What the last look found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Health {
    /// Whether the primary answered at all (the writer waits out an outage).
    pub reachable: bool,
    /// The primary's address, as it reports it (`host:port`).
    pub primary: Option<String>,
    /// Its standbys.
    pub standbys: Vec<Standby>,
    /// The standby names wanted (`tickforge.synchronous_standby`), if any.
    pub wanted: String,
    /// `synchronous_standby_names` as the watch left it.
    pub synchronous_standby_names: String,
    /// A commit waits for a standby: a synchronous standby streams.
    pub synchronous: bool,
    /// A standby streams (synchronously or not).
    pub replicated: bool,
    /// Standbys are wanted and none streams synchronously: commits live on
    /// the primary alone.
    pub degraded: bool,
    /// `synchronous_standby_names` names standbys and none streams: every
    /// commit waits until one does.
    pub stalled: bool,
    /// Commits waiting on the primary for a standby now.
    pub commits_waiting: i64,
}

impl Health {
    fn unreachable() -> Self {
        Self {
            reachable: false,
            primary: None,
            standbys: Vec::new(),
            wanted: String::new(),
            synchronous_standby_names: String::new(),
            synchronous: false,
            replicated: false,
            degraded: false,
            stalled: false,
            commits_waiting: 0,
        }
    }

    /// Derives what the readings mean (after a look, and after the watch
    /// changed `synchronous_standby_names`).
    fn judge(&mut self) {
        let streaming = |s: &&Standby| s.state == "streaming";
        let sync = self.standbys.iter().filter(streaming).any(|s| matches!(s.sync_state.as_str(), "sync" | "quorum"));
        let names_some = !self.synchronous_standby_names.is_empty();
        self.replicated = self.standbys.iter().any(|s| streaming(&s));
        self.synchronous = names_some && sync;
        self.stalled = names_some && !sync;
        self.degraded = (names_some || !self.wanted.is_empty()) && !self.synchronous;
    }

    /// The largest replay lag among the standbys, in bytes.
    pub fn max_lag_bytes(&self) -> i64 {
        self.standbys.iter().map(|s| s.lag_bytes).max().unwrap_or(0)
    }
}

/// The latest [`Health`], shared with the admin surface.
#[derive(Debug, Default)]
pub struct Watched {
    latest: Mutex<Option<Health>>,
}

impl Watched {
    /// What the last look found (`None`: no look yet, or no PostgreSQL).
    pub fn latest(&self) -> Option<Health> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, health: Health) {
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(health);
    }
}

/// The running watch thread; it stops when this is dropped.
#[derive(Debug)]
pub struct Watch {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching the primary `url` leads to.
    pub fn start(url: &str, into: Arc<Watched>) -> Result<Self, StoreError> {
        let config = connection_config(url, "tickforge-watch").map_err(StoreError::Database)?;
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("tickforge-dbwatch".into())
            .spawn(move || run(config, &into, &stopped))
            .map_err(StoreError::Spawn)?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(config: Config, into: &Watched, stopped: &Receiver<()>) {
    let mut client: Option<Client> = None;
    let mut last_complaint = String::new();
    loop {
        if client.as_ref().is_none_or(Client::is_closed) {
            client = config.connect(NoTls).ok();
        }
        let health = match client.as_mut().map(look) {
            Some(Ok(health)) => health,
            Some(Err(e)) => {
                client = None;
                tracing::debug!(error = %e, "database watch lost its connection");
                Health::unreachable()
            }
            None => Health::unreachable(),
        };
        let health = match (client.as_mut(), health.reachable) {
            (Some(c), true) => enforce(c, health, &mut last_complaint),
            _ => health,
        };
        into.set(health);
        match stopped.recv_timeout(CHECK_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

/// Reads the primary's view of replication.
fn look(client: &mut Client) -> Result<Health, postgres::Error> {
    let row = client.query_one(
        "SELECT coalesce(host(inet_server_addr()), 'local') || ':' || current_setting('port'),
                current_setting('synchronous_standby_names'),
                coalesce(current_setting('tickforge.synchronous_standby', true), '')",
        &[],
    )?;
    let standbys = client
        .query(
            "SELECT coalesce(application_name, ''), coalesce(state, ''), coalesce(sync_state, ''),
                    coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint
             FROM pg_stat_replication ORDER BY application_name",
            &[],
        )?
        .iter()
        .map(|r| Standby { name: r.get(0), state: r.get(1), sync_state: r.get(2), lag_bytes: r.get(3) })
        .collect();
    let waiting: i64 =
        client.query_one("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'", &[])?.get(0);
    let mut health = Health {
        reachable: true,
        primary: Some(row.get(0)),
        standbys,
        wanted: row.get::<_, String>(2).trim().to_owned(),
        synchronous_standby_names: row.get::<_, String>(1).trim().to_owned(),
        commits_waiting: waiting,
        ..Health::unreachable()
    };
    health.judge();
    Ok(health)
}

/// The names a `synchronous_standby_names` value lists (lower case), and
/// whether it says `*` (any standby).
fn listed(value: &str) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut star = false;
    for token in value.split(|c: char| c == ',' || c == '(' || c == ')' || c.is_whitespace()) {
        let token = token.trim_matches('"');
        match token.to_ascii_uppercase().as_str() {
            "" | "ANY" | "FIRST" => {}
            "*" => star = true,
            t if t.chars().all(|c| c.is_ascii_digit()) => {}
            _ => names.push(token.to_ascii_lowercase()),
        }
    }
    (names, star)
}

/// The value `synchronous_standby_names` should have now: the wanted
/// names while one of them streams, empty while none does.
fn target(health: &Health) -> &str {
    let (names, star) = listed(&health.wanted);
    let streaming = health
        .standbys
        .iter()
        .any(|s| s.state == "streaming" && (star || names.contains(&s.name.to_ascii_lowercase())));
    if streaming { &health.wanted } else { "" }
}

/// Sets `synchronous_standby_names` to [`target`] where it differs.
fn enforce(client: &mut Client, mut health: Health, last_complaint: &mut String) -> Health {
    if health.wanted.is_empty() {
        return health;
    }
    let target = target(&health).to_owned();
    if target == health.synchronous_standby_names {
        return health;
    }
    let sql = format!("ALTER SYSTEM SET synchronous_standby_names = '{}'", target.replace('\'', "''"));
    match client.batch_execute(&sql).and_then(|()| client.batch_execute("SELECT pg_reload_conf()")) {
        Ok(()) => {
            if target.is_empty() {
                tracing::warn!(
                    wanted = %health.wanted,
                    "no synchronous standby streams: commits no longer wait for one (degraded)"
                );
            } else {
                tracing::info!(standby = %target, "a standby streams: commits wait for it again");
            }
            last_complaint.clear();
            health.synchronous_standby_names = target;
            health.judge();
        }
        Err(e) => {
            let complaint = e.to_string();
            if *last_complaint != complaint {
                tracing::warn!(
                    error = %complaint,
                    "cannot change synchronous_standby_names (needs ALTER SYSTEM on it and pg_reload_conf)"
                );
                *last_complaint = complaint;
            }
        }
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(wanted: &str, standbys: &[(&str, &str)]) -> Health {
        Health {
            reachable: true,
            primary: Some("127.0.0.1:5432".into()),
            standbys: standbys
                .iter()
                .map(|(name, state)| Standby {
                    name: (*name).into(),
                    state: (*state).into(),
                    sync_state: "async".into(),
                    lag_bytes: 0,
                })
                .collect(),
            wanted: wanted.into(),
            ..Health::unreachable()
        }
    }

    #[test]
    fn the_names_of_every_form_are_read() {
        assert_eq!(listed("db2"), (vec!["db2".to_owned()], false));
        assert_eq!(listed("ANY 1 (db1, \"DB2\")"), (vec!["db1".to_owned(), "db2".to_owned()], false));
        assert_eq!(listed("FIRST 2 (a,b,c)").0.len(), 3);
        assert_eq!(listed("*"), (Vec::new(), true));
    }

    #[test]
    fn commits_wait_only_for_a_wanted_standby_that_streams() {
        assert_eq!(target(&health("ANY 1 (db1, db2)", &[("db2", "streaming")])), "ANY 1 (db1, db2)");
        assert_eq!(target(&health("ANY 1 (db1, db2)", &[("db2", "catchup")])), "", "not caught up yet");
        assert_eq!(target(&health("ANY 1 (db1, db2)", &[("other", "streaming")])), "", "not one of the wanted");
        assert_eq!(target(&health("ANY 1 (db1, db2)", &[])), "", "none at all");
        assert_eq!(target(&health("*", &[("x", "streaming")])), "*");
    }

    fn judged(wanted: &str, names: &str, standbys: &[(&str, &str, &str)]) -> Health {
        let mut h = health(wanted, &[]);
        h.synchronous_standby_names = names.into();
        h.standbys = standbys
            .iter()
            .map(|(name, state, sync)| Standby {
                name: (*name).into(),
                state: (*state).into(),
                sync_state: (*sync).into(),
                lag_bytes: 0,
            })
            .collect();
        h.judge();
        h
    }

    #[test]
    fn degraded_only_when_standbys_are_wanted_and_stalled_when_commits_wait_for_none() {
        let flags = |h: Health| (h.replicated, h.synchronous, h.degraded, h.stalled);
        // A single database that wants no standby: nothing lost, nothing waits.
        assert_eq!(flags(judged("", "", &[])), (false, false, false, false));
        // An async standby nobody asked to be synchronous: replicated, fine.
        assert_eq!(flags(judged("", "", &[("db2", "streaming", "async")])), (true, false, false, false));
        // Ours wanted, none streams, the watch cleared the names: degraded, not stalled.
        assert_eq!(flags(judged("db2", "", &[])), (false, false, true, false));
        // Set by the operator, its standby gone (a promoted standby): every commit waits.
        assert_eq!(flags(judged("", "*", &[])), (false, false, true, true));
        assert_eq!(flags(judged("", "db2", &[("db2", "catchup", "potential")])), (false, false, true, true));
        // All well.
        assert_eq!(flags(judged("db2", "db2", &[("db2", "streaming", "sync")])), (true, true, false, false));
    }
}
