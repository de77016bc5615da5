//! Durability under SIGKILL: acknowledged registrations survive, player
//! state is at most one save interval old, the database stays intact; and
//! under SIGTERM, a registration in flight is answered only after it
//! committed. Every test runs on both backends: embedded SQLite and a real
//! PostgreSQL server.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{PASSWORD, Running, creds, join, play, post, pump_until, spawn};
use tickforge_server::store::DatabaseUrl;

/// The database a test's server writes to.
enum Db {
    /// `<data-dir>/tickforge.db`, the default.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres(DatabaseUrl),
}

/// Both backends, for a test named `test`.
fn backends(test: &str) -> [Db; 2] {
    [Db::Sqlite, Db::Postgres(common::pg::database(test))]
}

impl Db {
    fn name(&self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Starts the server binary on `dir` with this database and `extra` flags.
    fn spawn(&self, dir: &Path, extra: &[&str]) -> Running {
        match self {
            Db::Sqlite => spawn(dir, extra, &[]),
            Db::Postgres(url) => {
                let url = match url {
                    DatabaseUrl::Postgres(url) => url.clone(),
                    DatabaseUrl::Sqlite(_) => unreachable!(),
                };
                let args: Vec<&str> = extra.iter().copied().chain(["--database", url.as_str()]).collect();
                spawn(dir, &args, &[])
            }
        }
    }

    /// Whether the stored data is intact (SQLite's own check; PostgreSQL
    /// keeps its files itself).
    fn integrity_ok(&self, dir: &Path) {
        if let Db::Sqlite = self {
            let db = rusqlite::Connection::open(dir.join("tickforge.db")).unwrap();
            let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
            assert_eq!(check, "ok");
        }
    }

    /// A count from `sql`, which may take one text parameter (`$1`).
    fn count(&self, dir: &Path, sql: &str, param: &str) -> i64 {
        match self {
            Db::Sqlite => {
                let db = rusqlite::Connection::open(dir.join("tickforge.db")).unwrap();
                let sql = sql.replace("$1", "?1");
                let mut stmt = db.prepare(&sql).unwrap();
                if sql.contains("?1") {
                    stmt.query_row([param], |r| r.get(0))
                } else {
                    stmt.query_row([], |r| r.get(0))
                }
                .unwrap()
            }
            Db::Postgres(url) => {
                let mut db = common::pg::connect(url);
                if sql.contains("$1") { db.query_one(sql, &[&param]) } else { db.query_one(sql, &[]) }.unwrap().get(0)
            }
        }
    }

    /// The saved (x, y, score) of the only player.
    fn saved_state(&self, dir: &Path) -> (f32, f32, u32) {
        let sql = "SELECT CAST(document ->> 'x' AS DOUBLE PRECISION), CAST(document ->> 'y' AS DOUBLE PRECISION), CAST(document ->> 'score' AS BIGINT) FROM game_state";
        match self {
            Db::Sqlite => rusqlite::Connection::open(dir.join("tickforge.db"))
                .unwrap()
                .query_row(sql, [], |r| Ok((r.get::<_, f64>(0)? as f32, r.get::<_, f64>(1)? as f32, r.get(2)?)))
                .unwrap(),
            Db::Postgres(url) => {
                let row = common::pg::connect(url).query_one(sql, &[]).unwrap();
                (row.get::<_, f64>(0) as f32, row.get::<_, f64>(1) as f32, row.get::<_, i64>(2) as u32)
            }
        }
    }

    /// Restarts the server on `dir` and checks Alice reappears at `pos`.
    fn rejoin_finds_alice_at(&self, dir: &Path, pos: tickforge_shared::sim::Vec2) {
        let server = self.spawn(dir, &[]);
        let mut again = join(&server.http_url, "alice");
        assert!(pump_until(&mut again, Duration::from_secs(5), |s| s.world.own_state().is_some()));
        assert_eq!(again.world.own_state().unwrap().pos, pos, "{}", self.name());
        drop(again);
        server.interrupt();
    }
}

#[test]
fn sigkill_during_a_registration_burst_loses_no_acknowledged_account() {
    for db in backends("sigkill_burst") {
        sigkill_during_a_registration_burst(&db);
    }
}

fn sigkill_during_a_registration_burst(db: &Db) {
    let dir = tempfile::tempdir().unwrap();
    let server = db.spawn(dir.path(), &["--hash-workers", "2", "--hash-queue", "64"]);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (url, acknowledged, stop) = (server.http_url.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0..500 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("burst{w}x{i}");
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let result = agent.post(format!("{url}/v1/register")).send(creds(&name, PASSWORD));
                    match result {
                        Ok(r) if r.status() == 201 => acknowledged.lock().unwrap().push(name),
                        Ok(_) => {}
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Kill once some registrations are acknowledged (and more are in flight).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty(), "{}: the burst registered nothing before the kill", db.name());

    db.integrity_ok(dir.path());
    let stored = db.count(dir.path(), "SELECT COUNT(*) FROM accounts", "");
    eprintln!("{}: acknowledged before SIGKILL: {}, accounts stored after: {stored}", db.name(), acknowledged.len());
    for name in &acknowledged {
        let found = db.count(dir.path(), "SELECT COUNT(*) FROM accounts WHERE username = $1", name);
        assert_eq!(found, 1, "{}: acknowledged account {name} lost", db.name());
    }

    // The restarted server serves them.
    let server = db.spawn(dir.path(), &[]);
    let reply = post(&format!("{}/v1/login", server.http_url), &creds(&acknowledged[0], PASSWORD), None);
    assert_eq!(reply.status, 200, "{}", db.name());
    server.interrupt();
}

#[test]
fn after_sigkill_player_state_is_at_most_one_save_interval_old() {
    for db in backends("sigkill_state") {
        let dir = tempfile::tempdir().unwrap();
        let server = db.spawn(dir.path(), &["--save-interval", "0.5", "--orbs", "2000"]);
        let mut alice = join(&server.http_url, "alice");
        play(&mut [(&mut alice, (1.0, 0.0))], Duration::from_millis(1500));
        // Stand still for several save intervals: the saved state is the final one.
        play(&mut [(&mut alice, (0.0, 0.0))], Duration::from_millis(1500));
        let pos = alice.world.own_state().unwrap().pos;
        let score = alice.world.own.map_or(0, |o| o.state.score);
        assert!(score > 0);
        server.kill();
        db.integrity_ok(dir.path());
        assert_eq!(db.saved_state(dir.path()), (pos.x, pos.y, score), "{}", db.name());

        db.rejoin_finds_alice_at(dir.path(), pos);
    }
}

#[test]
fn after_sigint_player_state_is_exact_without_any_periodic_save() {
    for db in backends("sigint_state") {
        let dir = tempfile::tempdir().unwrap();
        let server = db.spawn(dir.path(), &["--save-interval", "3600"]);
        let mut alice = join(&server.http_url, "alice");
        play(&mut [(&mut alice, (0.0, 1.0))], Duration::from_millis(1000));
        play(&mut [(&mut alice, (0.0, 0.0))], Duration::from_millis(500));
        let pos = alice.world.own_state().unwrap().pos;
        let score = alice.world.own.map_or(0, |o| o.state.score);
        server.interrupt();
        assert_eq!(db.saved_state(dir.path()), (pos.x, pos.y, score), "{}", db.name());

        db.rejoin_finds_alice_at(dir.path(), pos);
    }
}

#[test]
fn sigterm_during_a_registration_burst_answers_each_after_it_committed() {
    for db in backends("sigterm_burst") {
        sigterm_during_a_registration_burst(&db);
    }
}

fn sigterm_during_a_registration_burst(db: &Db) {
    let dir = tempfile::tempdir().unwrap();
    // One hash worker: the burst takes about a second to work through, so
    // most of it is in flight when the signal comes.
    let server = db.spawn(dir.path(), &["--hash-workers", "1", "--hash-queue", "64"]);
    let url = server.http_url.clone();
    let burst: Vec<_> = (0..24)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let name = format!("late{i}");
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let answer = agent.post(format!("{url}/v1/register")).send(creds(&name, PASSWORD));
                (name, answer.map(|mut r| (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let answers: Vec<_> = burst.into_iter().map(|t| t.join().unwrap()).collect();
    let (exit, logs) = server.wait();
    assert!(exit.success(), "{}: SIGTERM exits 0: {exit:?}", db.name());
    assert!(!logs.contains("row lost"), "{}: no access-log row lost: {logs}", db.name());

    // Every request was in flight when the signal came (sent 300 ms
    // before): each is finished — committed, then answered — before the
    // store closes, never refused half-way.
    for (name, answer) in &answers {
        match answer {
            Ok((201, _)) => {}
            Ok((status, body)) => panic!("{}: {name} in flight at SIGTERM got {status} {body}", db.name()),
            Err(e) => panic!("{}: {name} in flight at SIGTERM got no answer: {e}", db.name()),
        }
        let accounts = db.count(dir.path(), "SELECT COUNT(*) FROM accounts WHERE username = $1", name);
        let logged =
            db.count(dir.path(), "SELECT COUNT(*) FROM access_log WHERE username = $1 AND event = 'register'", name);
        assert_eq!(
            (accounts, logged),
            (1, 1),
            "{}: {name} was acknowledged: account and its access-log row",
            db.name()
        );
    }
}
