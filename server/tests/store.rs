//! The store against both backends — embedded SQLite and a real
//! PostgreSQL server — through its public handle, as the auth API and the
//! tick loop use it: accounts (case-insensitive names), a failing write
//! that fails alone, the access log, saved state and the leaderboard,
//! migrations run again on an existing database, a newer schema refused.

mod common;

use std::time::Duration;

use tickforge_server::store::{
    AccessEvent, AccessKind, DatabaseUrl, LoadedPlayer, PlayerState, Store, StoreCommand, StoreError, unix_millis,
};
use tokio::sync::oneshot;

/// Each backend, fresh: (name, URL, what keeps a SQLite file alive).
fn backends(test: &str) -> Vec<(&'static str, DatabaseUrl, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = DatabaseUrl::in_data_dir(dir.path());
    vec![("sqlite", sqlite, Some(dir)), ("postgres", common::pg::database(test), None)]
}

fn create(store: &Store, name: &str) -> Result<u64, StoreError> {
    let (reply, rx) = oneshot::channel();
    let command = StoreCommand::CreateAccount { username: name.into(), password_hash: "$argon2id$x".into(), reply };
    store.handle().try_send(command).unwrap();
    rx.blocking_recv().unwrap()
}

fn load(store: &Store, account_id: u64) -> LoadedPlayer {
    let (reply, rx) = crossbeam_channel::unbounded();
    store.handle().try_send(StoreCommand::LoadPlayer { account_id, reply }).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn state(account_id: u64, x: f32, score: u32) -> PlayerState {
    PlayerState { account_id, x, y: 2.5, score, last_seen_ms: unix_millis() }
}

/// A count from either database.
fn count(url: &DatabaseUrl, sql: &str) -> i64 {
    match url {
        DatabaseUrl::Sqlite(path) => {
            rusqlite::Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
        }
        DatabaseUrl::Postgres(_) => common::pg::connect(url).query_one(sql, &[]).unwrap().get(0),
    }
}

#[test]
fn accounts_are_unique_case_insensitively_and_found_by_any_case() {
    for (backend, url, _dir) in backends("accounts") {
        let store = Store::open(&url).unwrap();
        let id = create(&store, "Alice").unwrap();
        assert!(matches!(create(&store, "aLICE"), Err(StoreError::UsernameTaken)), "{backend}");
        let bob = create(&store, "bob").unwrap();
        assert_ne!(id, bob, "{backend}");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let found = rt.block_on(store.handle().find_account("ALICE")).unwrap().expect("found");
        assert_eq!((found.id, found.username.as_str()), (id, "Alice"), "{backend}");
        assert!(rt.block_on(store.handle().find_account("carol")).unwrap().is_none(), "{backend}");
        store.shutdown();
        assert_eq!(count(&url, "SELECT COUNT(*) FROM accounts"), 2, "{backend}");
    }
}

#[test]
fn a_failing_write_fails_alone_and_everything_else_commits() {
    for (backend, url, _dir) in backends("fails_alone") {
        let store = Store::open(&url).unwrap();
        let handle = store.handle();
        // Account 999 does not exist: its save breaks the foreign key.
        handle.try_send(StoreCommand::SavePlayers(vec![state(999, 5.0, 1)])).unwrap();
        let id = create(&store, "alice").unwrap();
        handle.try_send(StoreCommand::LogAccess(AccessEvent::now(AccessKind::Connect, Some(id), None, None))).unwrap();
        handle.try_send(StoreCommand::SavePlayers(vec![state(id, 7.0, 3)])).unwrap();
        let loaded = load(&store, id).state.unwrap().expect("saved");
        assert_eq!((loaded.x, loaded.y, loaded.score), (7.0, 2.5, 3), "{backend}");
        assert_eq!(load(&store, 12345).state, Ok(None), "{backend}: a first visit has no state");
        let metrics = store.metrics();
        store.shutdown();
        assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log"), 1, "{backend}");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM player_state"), 1, "{backend}: only the valid save");
        assert!(
            metrics.retries.load(std::sync::atomic::Ordering::Relaxed) >= 1,
            "{backend}: the bad save kept for retry"
        );
    }
}

#[test]
fn the_access_log_keeps_every_row_with_its_peer() {
    for (backend, url, _dir) in backends("access_log") {
        let store = Store::open(&url).unwrap();
        let peer = Some("127.0.0.1:4567".parse().unwrap());
        for kind in [AccessKind::Register, AccessKind::LoginOk, AccessKind::LoginFailed, AccessKind::Connect] {
            store
                .handle()
                .try_send(StoreCommand::LogAccess(AccessEvent::now(kind, None, Some("alice"), peer)))
                .unwrap();
        }
        store.shutdown();
        assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log WHERE peer = '127.0.0.1:4567'"), 4, "{backend}");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log WHERE event = 'login_failed'"), 1, "{backend}");
    }
}

#[test]
fn the_leaderboard_orders_saved_scores_and_states_survive_a_reopen() {
    for (backend, url, _dir) in backends("leaderboard") {
        let store = Store::open(&url).unwrap();
        let ids: Vec<u64> = ["carol", "alice", "bob"].iter().map(|n| create(&store, n).unwrap()).collect();
        let states = vec![state(ids[0], 1.0, 5), state(ids[1], 2.0, 9), state(ids[2], 3.0, 5)];
        store.handle().try_send(StoreCommand::SavePlayers(states)).unwrap();
        // Newest wins within a batch and across batches.
        store.handle().try_send(StoreCommand::SavePlayers(vec![state(ids[1], 4.0, 11)])).unwrap();
        store.shutdown();

        // Migrations run again on an existing database and change nothing.
        let store = Store::open(&url).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let leaders = rt.block_on(store.handle().leaderboard(2)).unwrap();
        let shown: Vec<(&str, u32)> = leaders.iter().map(|l| (l.username.as_str(), l.score)).collect();
        assert_eq!(shown, [("alice", 11), ("bob", 5)], "{backend}: best first, ties by name");
        assert_eq!(load(&store, ids[1]).state.unwrap().map(|s| s.x), Some(4.0), "{backend}");
        store.shutdown();
    }
}

#[test]
fn a_database_newer_than_this_binary_is_refused() {
    for (backend, url, _dir) in backends("too_new") {
        Store::open(&url).unwrap().shutdown();
        match &url {
            DatabaseUrl::Sqlite(path) => {
                rusqlite::Connection::open(path).unwrap().pragma_update(None, "user_version", 999).unwrap()
            }
            DatabaseUrl::Postgres(_) => {
                common::pg::connect(&url).batch_execute("INSERT INTO tickforge_schema (version) VALUES (999)").unwrap()
            }
        }
        let refused = Store::open(&url).unwrap_err();
        assert!(matches!(refused, StoreError::TooNew { found: 999, .. }), "{backend}: {refused}");
    }
}

/// PostgreSQL stops while the store has writes to make: they wait (no
/// attempt counts while the database is unreachable), a caller waiting for
/// an answer hears "unavailable" rather than hanging, and once the database
/// is back every queued write lands.
#[test]
fn writes_wait_out_a_database_outage_and_land_when_it_is_back() {
    let postgres = common::pg::Instance::private();
    let url = postgres.database("outage");
    let store = Store::open(&url).unwrap();
    let id = create(&store, "alice").unwrap();
    postgres.stop();
    store.handle().try_send(StoreCommand::SavePlayers(vec![state(id, 9.0, 4)])).unwrap();
    for kind in [AccessKind::Connect, AccessKind::Disconnect, AccessKind::Connect] {
        store.handle().try_send(StoreCommand::LogAccess(AccessEvent::now(kind, Some(id), None, None))).unwrap();
    }
    let refused = create(&store, "bob").unwrap_err();
    assert!(refused.is_unavailable(), "a registration during the outage is refused as unavailable: {refused}");
    // Several reconnection attempts fail meanwhile.
    std::thread::sleep(Duration::from_secs(12));
    postgres.start();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let saved = loop {
        if let Ok(Some(saved)) = load(&store, id).state {
            break saved;
        }
        assert!(std::time::Instant::now() < deadline, "the queued save never landed");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!((saved.x, saved.score), (9.0, 4));
    assert!(create(&store, "bob").is_ok(), "registrations work again");
    store.shutdown();
    assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log"), 3, "every access-log row of the outage landed");
}
