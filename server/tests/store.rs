//! The store against both backends — embedded SQLite and a real
//! PostgreSQL server — through its public handle, as the auth API and the
//! tick loop use it: accounts (case-insensitive names), a failing write
//! that fails alone, the access log, saved state and the leaderboard,
//! migrations run again on an existing database, a newer schema refused.

mod common;

use std::time::Duration;

use tickforge_server::store::{
    AccessEvent, AccessKind, ChatLine, ChatNews, Claim, DatabaseUrl, PlayerSave, PlayerState, Polled, ServerCommand,
    ServerRow, ServerState, Store, StoreCommand, StoreError, StoreOptions, unix_millis,
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

/// Claims the player's lease for `server` (as an app server does on connect).
fn claim_on(store: &Store, account_id: u64, server: &str) -> Result<Claim, String> {
    let (reply, rx) = crossbeam_channel::unbounded();
    let server_id = server.to_owned();
    store.handle().try_send(StoreCommand::ClaimPlayer { account_id, server_id, game: "arena", reply }).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap().result
}

/// Claims for the test's one server; the new epoch and the saved state.
fn load(store: &Store, account_id: u64) -> Result<(i64, Option<PlayerState>), String> {
    match claim_on(store, account_id, "app-test")? {
        Claim::Granted { epoch, saved } => Ok((epoch, saved)),
        Claim::Held { by } => Err(format!("held by {by}")),
    }
}

fn state(account_id: u64, x: f32, score: u32, epoch: i64) -> PlayerSave {
    let document = serde_json::json!({ "x": x, "y": 2.5, "score": score }).to_string();
    let rank = i64::from(score);
    PlayerSave {
        state: PlayerState { account_id, game: "arena", document, rank, last_seen_ms: unix_millis() },
        epoch,
        release: false,
    }
}

/// `(x, y, score)` of a saved document made by [`state`].
fn fields(saved: &PlayerState) -> (f32, f32, u32) {
    let value: serde_json::Value = serde_json::from_str(&saved.document).expect("a JSON document");
    let number = |key: &str| value[key].as_f64().expect(key);
    (number("x") as f32, number("y") as f32, number("score") as u32)
}

/// The server's orders, as its poll takes them.
fn poll(store: &Store, server: &str) -> Polled {
    let (reply, rx) = crossbeam_channel::unbounded();
    store.handle().try_send(StoreCommand::PollCommands { server_id: server.to_owned(), reply }).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// A registry row heartbeat now, of an arena server.
fn heartbeat(store: &Store, id: &str, colour: &str, capacity: u32, state: ServerState) {
    heartbeat_of(store, id, "arena", colour, capacity, state);
}

/// A registry row heartbeat now, of a server running `game`.
fn heartbeat_of(store: &Store, id: &str, game: &str, colour: &str, capacity: u32, state: ServerState) {
    let row = ServerRow {
        id: id.into(),
        colour: colour.into(),
        build: "test".into(),
        public_addr: format!("127.0.0.{}:7001", id.len()),
        ws_url: format!("ws://gateway/ws/{id}"),
        game: game.into(),
        capacity,
        players: 0,
        state,
    };
    store.handle().try_send(StoreCommand::Heartbeat(row)).unwrap();
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(future)
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
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
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
        // Account 999 does not exist, nor its lease: its save is refused.
        handle.try_send(StoreCommand::SavePlayers(vec![state(999, 5.0, 1, 1)])).unwrap();
        let id = create(&store, "alice").unwrap();
        handle.try_send(StoreCommand::LogAccess(AccessEvent::now(AccessKind::Connect, Some(id), None, None))).unwrap();
        let (epoch, saved) = load(&store, id).unwrap();
        assert_eq!(saved, None, "{backend}: a first visit has no state");
        handle.try_send(StoreCommand::SavePlayers(vec![state(id, 7.0, 3, epoch)])).unwrap();
        let loaded = load(&store, id).unwrap().1.expect("saved");
        assert_eq!(fields(&loaded), (7.0, 2.5, 3), "{backend}");
        assert!(load(&store, 12345).is_err(), "{backend}: no lease for an account that does not exist");
        let metrics = store.metrics();
        store.shutdown();
        assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log"), 1, "{backend}");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM game_state"), 1, "{backend}: only the valid save");
        assert_eq!(metrics.fenced.load(std::sync::atomic::Ordering::Relaxed), 1, "{backend}: refused for good");
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
fn access_log_rows_past_the_retention_are_deleted_in_batches() {
    use std::sync::atomic::Ordering;
    for (backend, url, _dir) in backends("retention") {
        // A backlog written without a retention, then opened with one.
        let store = Store::open(&url).unwrap();
        let old = unix_millis() - 40 * 86_400_000;
        let peer = Some("127.0.0.1:4567".parse().unwrap());
        for i in 0..2500 {
            let mut event = AccessEvent::now(AccessKind::LoginFailed, None, Some("old"), peer);
            event.at_ms = old + i;
            store.handle().try_send(StoreCommand::LogAccess(event)).unwrap();
        }
        for _ in 0..3 {
            let event = AccessEvent::now(AccessKind::LoginOk, None, Some("new"), peer);
            store.handle().try_send(StoreCommand::LogAccess(event)).unwrap();
        }
        store.shutdown();
        let options = StoreOptions { access_log_retention: Some(Duration::from_secs(86_400)), ..Default::default() };
        let store = Store::open_with(&url, options).unwrap();
        let metrics = store.metrics();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while metrics.access_log_pruned.load(Ordering::Relaxed) < 2500 {
            assert!(std::time::Instant::now() < deadline, "{backend}: pruned {:?}", metrics.access_log_pruned);
            std::thread::sleep(Duration::from_millis(100));
        }
        store.shutdown();
        assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log WHERE username = 'old'"), 0, "{backend}");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log WHERE username = 'new'"), 3, "{backend}: kept");
        assert_eq!(metrics.access_log_pruned.load(Ordering::Relaxed), 2500, "{backend}");
    }
}

#[test]
fn the_leaderboard_orders_saved_scores_and_states_survive_a_reopen() {
    for (backend, url, _dir) in backends("leaderboard") {
        let store = Store::open(&url).unwrap();
        let ids: Vec<u64> = ["carol", "alice", "bob"].iter().map(|n| create(&store, n).unwrap()).collect();
        let epochs: Vec<i64> = ids.iter().map(|&id| load(&store, id).unwrap().0).collect();
        let states =
            vec![state(ids[0], 1.0, 5, epochs[0]), state(ids[1], 2.0, 9, epochs[1]), state(ids[2], 3.0, 5, epochs[2])];
        store.handle().try_send(StoreCommand::SavePlayers(states)).unwrap();
        // Newest wins within a batch and across batches.
        store.handle().try_send(StoreCommand::SavePlayers(vec![state(ids[1], 4.0, 11, epochs[1])])).unwrap();
        store.shutdown();

        // Migrations run again on an existing database and change nothing.
        let store = Store::open(&url).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let leaders = rt.block_on(store.handle().leaderboard("arena", 2)).unwrap();
        let shown: Vec<(&str, i64)> = leaders.iter().map(|l| (l.username.as_str(), l.score)).collect();
        assert_eq!(shown, [("alice", 11), ("bob", 5)], "{backend}: best first, ties by name");
        assert_eq!(load(&store, ids[1]).unwrap().1.map(|s| fields(&s).0), Some(4.0), "{backend}");
        let other = rt.block_on(store.handle().leaderboard("skirmish", 2)).unwrap();
        assert!(other.is_empty(), "{backend}: a leaderboard is its game's");
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
    let (epoch, _) = load(&store, id).unwrap();
    postgres.stop();
    store.handle().try_send(StoreCommand::SavePlayers(vec![state(id, 9.0, 4, epoch)])).unwrap();
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
        if let Ok((_, Some(saved))) = load(&store, id) {
            break saved;
        }
        assert!(std::time::Instant::now() < deadline, "the queued save never landed");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (x, _, score) = fields(&saved);
    assert_eq!((x, score), (9.0, 4));
    assert!(create(&store, "bob").is_ok(), "registrations work again");
    store.shutdown();
    assert_eq!(count(&url, "SELECT COUNT(*) FROM access_log"), 3, "every access-log row of the outage landed");
}

/// One player, one server: a claim while a live server holds the player
/// orders that server to let go and is refused until it has; a release
/// writes the last state with it; a server that lost the lease cannot
/// overwrite the new holder's state — the database refuses the stale
/// epoch; a dead holder's lease is taken over.
#[test]
fn leases_move_only_after_the_holder_saves_and_stale_writes_are_refused() {
    for (backend, url, _dir) in backends("leases") {
        let store = Store::open(&url).unwrap();
        let id = create(&store, "alice").unwrap();
        heartbeat(&store, "app-a", "blue", 10, ServerState::Ready);
        heartbeat(&store, "app-b", "blue", 10, ServerState::Ready);
        let Ok(Claim::Granted { epoch: first, saved: None }) = claim_on(&store, id, "app-a") else {
            panic!("{backend}")
        };
        store.handle().try_send(StoreCommand::SavePlayers(vec![state(id, 3.0, 7, first)])).unwrap();

        // app-b's claim: app-a is alive, so it is held and app-a is told (once).
        assert_eq!(claim_on(&store, id, "app-b"), Ok(Claim::Held { by: "app-a".into() }), "{backend}");
        assert_eq!(claim_on(&store, id, "app-b"), Ok(Claim::Held { by: "app-a".into() }), "{backend}");
        let orders = poll(&store, "app-a").commands;
        assert_eq!(orders, [ServerCommand::Release { account_id: id }], "{backend}");
        assert!(poll(&store, "app-a").commands.is_empty(), "{backend}: orders are taken once");

        // app-a saves and lets go in one write; app-b then loads exactly that.
        let last = PlayerSave { release: true, ..state(id, 4.0, 8, first) };
        store.handle().try_send(StoreCommand::SavePlayers(vec![last])).unwrap();
        let Ok(Claim::Granted { epoch: second, saved }) = claim_on(&store, id, "app-b") else { panic!("{backend}") };
        assert!(second > first, "{backend}");
        let shown = saved.map(|s| fields(&s)).map(|(x, _, score)| (x, score));
        assert_eq!(shown, Some((4.0, 8)), "{backend}: the released state");

        // A late write from app-a (the old epoch) is refused by the database.
        store.handle().try_send(StoreCommand::SavePlayers(vec![state(id, 99.0, 0, first)])).unwrap();
        store.handle().try_send(StoreCommand::SavePlayers(vec![state(id, 5.0, 9, second)])).unwrap();
        let fenced = poll(&store, "app-a").fenced;
        assert_eq!(fenced, [(id, first)], "{backend}: the refused write is reported");
        // app-b dies (its heartbeat stops being fresh): app-a may take over.
        heartbeat(&store, "app-b", "blue", 10, ServerState::Stopped);
        let Ok(Claim::Granted { epoch: third, saved }) = claim_on(&store, id, "app-a") else { panic!("{backend}") };
        assert!(third > second, "{backend}");
        let shown = saved.map(|s| fields(&s)).map(|(x, _, score)| (x, score));
        assert_eq!(shown, Some((5.0, 9)), "{backend}: the stale write never landed");
        let metrics = store.metrics();
        store.shutdown();
        assert_eq!(metrics.fenced.load(std::sync::atomic::Ordering::Relaxed), 1, "{backend}");
    }
}

/// The director: least loaded first, only fresh `ready` servers of the
/// active colour with room, a reservation holding a slot, no room → empty.
#[test]
fn the_director_places_on_the_least_loaded_live_server_with_room() {
    for (backend, url, _dir) in backends("director") {
        let store = Store::open(&url).unwrap();
        let ids: Vec<u64> = (0..5).map(|i| create(&store, &format!("p{i}")).unwrap()).collect();
        heartbeat(&store, "app-a", "blue", 2, ServerState::Ready);
        heartbeat(&store, "app-bb", "blue", 2, ServerState::Ready);
        heartbeat(&store, "app-ccc", "green", 5, ServerState::Ready);
        heartbeat(&store, "app-dddd", "blue", 5, ServerState::Draining);
        heartbeat(&store, "app-eeeee", "blue", 5, ServerState::Starting);
        // Another game's server, empty: never chosen for an arena login.
        heartbeat_of(&store, "app-s", "skirmish", "blue", 5, ServerState::Ready);
        let ttl = Duration::from_secs(30);
        let place = |account: u64| block_on(store.handle().place(account, "arena", ttl, None)).unwrap();
        let place_avoiding = |account: u64, addr: &str| {
            block_on(store.handle().place(account, "arena", ttl, Some(addr.into()))).unwrap()
        };
        let names = |placed: Vec<tickforge_server::store::Placement>| -> Vec<String> {
            placed.into_iter().map(|p| p.server_id).collect()
        };
        // Empty servers tie; the id breaks it. Each login reserves a slot.
        let first = place(ids[0]);
        assert_eq!(first[0].ws_url, "ws://gateway/ws/app-a", "{backend}: where browsers reach it");
        assert_eq!(names(first), ["app-a", "app-bb"], "{backend}");
        assert_eq!(names(place(ids[1])), ["app-bb", "app-a"], "{backend}");
        // Logging in again moves the same reservation, never a second slot.
        assert_eq!(names(place(ids[1])), ["app-bb", "app-a"], "{backend}");
        // A server the client could not reach comes last, however empty.
        assert_eq!(names(place_avoiding(ids[1], "127.0.0.6:7001")), ["app-a", "app-bb"], "{backend}");
        assert_eq!(names(place(ids[1])), ["app-bb", "app-a"], "{backend}");
        // A player on app-a (a lease) counts as load.
        assert!(matches!(claim_on(&store, ids[0], "app-a"), Ok(Claim::Granted { .. })), "{backend}");
        assert_eq!(names(place(ids[2])), ["app-a", "app-bb"], "{backend}");
        assert_eq!(names(place(ids[3])), ["app-bb"], "{backend}: app-a is full");
        assert!(place(ids[4]).is_empty(), "{backend}: no room anywhere");
        let skirmish = block_on(store.handle().place(ids[4], "skirmish", ttl, None)).unwrap();
        assert_eq!(names(skirmish), ["app-s"], "{backend}: a login names its game; only that game's servers");
        let view = block_on(store.handle().cluster()).unwrap();
        let games: Vec<(&str, &str)> = view.servers.iter().map(|s| (s.row.id.as_str(), s.row.game.as_str())).collect();
        assert!(games.contains(&("app-s", "skirmish")) && games.contains(&("app-a", "arena")), "{backend}: {games:?}");
        // Other colours, draining and starting servers are never chosen;
        // a stopped one neither.
        heartbeat(&store, "app-a", "blue", 2, ServerState::Stopped);
        assert!(place(ids[4]).is_empty(), "{backend}");
        store.shutdown();
    }
}

/// Orders by name reach the lease holder; a broadcast reaches every live server.
#[test]
fn kicks_reach_the_holder_and_broadcasts_every_live_server() {
    for (backend, url, _dir) in backends("orders") {
        let store = Store::open(&url).unwrap();
        let id = create(&store, "Alice").unwrap();
        heartbeat(&store, "app-a", "blue", 10, ServerState::Ready);
        heartbeat(&store, "app-b", "green", 10, ServerState::Ready);
        heartbeat(&store, "app-c", "blue", 10, ServerState::Stopped);
        let handle = store.handle();
        assert_eq!(block_on(handle.kick("alice", "bye")).unwrap(), None, "{backend}: not playing");
        assert!(matches!(claim_on(&store, id, "app-b"), Ok(Claim::Granted { .. })), "{backend}");
        assert_eq!(block_on(handle.kick("ALICE", "bye")).unwrap(), Some("app-b".into()), "{backend}");
        assert_eq!(block_on(handle.broadcast("hello all")).unwrap(), 2, "{backend}: the stopped server is skipped");
        let orders = poll(&store, "app-b").commands;
        let expected = [
            ServerCommand::Kick { account_id: id, reason: "bye".into() },
            ServerCommand::Broadcast { text: "hello all".into() },
        ];
        assert_eq!(orders, expected, "{backend}: oldest first");
        assert_eq!(
            poll(&store, "app-a").commands,
            [ServerCommand::Broadcast { text: "hello all".into() }],
            "{backend}"
        );
        assert!(poll(&store, "app-c").commands.is_empty(), "{backend}");
        store.shutdown();
    }
}

/// Sends `command` (built around a chat reply channel) and waits for the news.
fn chat(store: &Store, command: impl FnOnce(crossbeam_channel::Sender<ChatNews>) -> StoreCommand) -> ChatNews {
    let (reply, rx) = crossbeam_channel::unbounded();
    store.handle().try_send(command(reply)).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// The cluster's chat: posts from two servers share one gapless sequence
/// of ids, a read returns the lines after a position in order, a relay
/// that starts learns only where the chat stands, and a line said again
/// (same sender, same number: after a reconnect, to another server) is
/// taken once.
#[test]
fn chat_lines_of_every_server_share_one_gapless_sequence() {
    for (backend, url, _dir) in backends("chat") {
        let a = Store::open(&url).unwrap();
        let b = Store::open(&url).unwrap();
        let seq = std::cell::Cell::new(0);
        let line = |account_id: u64, text: &str| {
            seq.set(seq.get() + 1);
            ChatLine { account_id, from: format!("p{account_id}"), text: text.into(), client_seq: seq.get() }
        };
        let ChatNews::Read { lines, head: start } = chat(&a, |reply| StoreCommand::ReadChat { after: None, reply })
        else {
            panic!("{backend}: read failed")
        };
        assert!(lines.is_empty(), "{backend}: a fresh relay gets no history");
        let post =
            |store: &Store, lines: Vec<ChatLine>| match chat(store, |reply| StoreCommand::PostChat { lines, reply }) {
                ChatNews::Posted { first, lines, duplicates } => (first, lines.len() as u64, duplicates.len()),
                other => panic!("{backend}: {other:?}"),
            };
        let (one, two) = (line(1, "one"), line(1, "two"));
        assert_eq!(post(&a, vec![one, two.clone()]), (start + 1, 2, 0), "{backend}");
        let three = line(2, "three");
        // "two" again, to the other server (its sender came back there), before "three".
        assert_eq!(post(&b, vec![two, three]), (start + 3, 1, 1), "{backend}: the other server goes on after");
        assert_eq!(post(&a, vec![line(1, "four")]), (start + 4, 1, 0), "{backend}");
        let ChatNews::Read { lines, head } = chat(&b, |reply| StoreCommand::ReadChat { after: Some(start + 1), reply })
        else {
            panic!("{backend}: read failed")
        };
        let read: Vec<(u64, &str)> = lines.iter().map(|(id, l)| (*id, l.text.as_str())).collect();
        assert_eq!(read, [(start + 2, "two"), (start + 3, "three"), (start + 4, "four")], "{backend}");
        assert_eq!(head, start + 4, "{backend}");
        a.shutdown();
        b.shutdown();
    }
}
