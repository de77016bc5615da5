//! Player progress survives disconnects and clean restarts, exactly; the
//! leaderboard reads saved scores.

mod common;

use std::time::Duration;

use common::{get, join, play, pump_until};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_shared::sim::Vec2;

/// Plenty of orbs so a short walk collects some; a save interval far longer
/// than the test, so only disconnects and shutdowns save.
fn config(dir: &std::path::Path) -> Config {
    Config { npcs: 0, orbs: 2000, save_interval: Duration::from_secs(3600), ..Config::ephemeral(dir) }
}

/// Walks right, then stands until the avatar is still; returns (position, score).
fn walk_and_settle(session: &mut tickforge_client::session::Session) -> (Vec2, u32) {
    play(&mut [(session, (1.0, 0.0))], Duration::from_millis(1500));
    play(&mut [(session, (0.0, 0.0))], Duration::from_millis(600));
    let own = session.world.own_state().expect("own avatar").pos;
    (own, session.world.score)
}

fn rejoin_state(http_url: &str) -> (Vec2, u32) {
    let mut again = join(http_url, "alice");
    assert!(pump_until(&mut again, Duration::from_secs(5), |s| s.world.own_state().is_some()));
    let pos = again.world.own_state().unwrap().pos;
    (pos, again.world.score)
}

#[test]
fn state_is_restored_exactly_after_a_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let mut alice = join(&server.http_url(), "alice");
    let first = alice.world.own_state().map(|e| e.pos);
    let (pos, score) = walk_and_settle(&mut alice);
    assert!(score > 0, "walking through 2000 orbs collects some");
    assert_ne!(Some(pos), first, "the avatar moved");
    alice.disconnect();
    std::thread::sleep(Duration::from_millis(300));

    assert_eq!(rejoin_state(&server.http_url()), (pos, score));

    let board = get(&format!("{}/v1/leaderboard?limit=5", server.http_url()), None);
    assert_eq!(board.status, 200);
    assert_eq!(board.json()["leaders"], serde_json::json!([{ "username": "alice", "score": score }]));
    assert_eq!(get(&format!("{}/v1/leaderboard?limit=0", server.http_url()), None).status, 400);
}

#[test]
fn state_is_restored_exactly_after_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let mut alice = join(&server.http_url(), "alice");
    let (pos, score) = walk_and_settle(&mut alice);
    // Still connected: only the shutdown save can keep this state.
    server.stop().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let saved: (f64, f64, u32) =
        db.query_row("SELECT x, y, score FROM player_state", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    assert_eq!(saved, (f64::from(pos.x), f64::from(pos.y), score));
    drop(db);

    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let (again, again_score) = rejoin_state(&server.http_url());
    assert_eq!(again, pos);
    // Orbs are placed afresh on start and may sit under the avatar: never fewer.
    assert!(again_score >= score);
}

#[test]
fn a_new_account_starts_fresh_and_a_newer_connection_replaces_the_older() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let mut alice = join(&server.http_url(), "alice");
    assert_eq!(alice.world.score, 0);
    // The same account is never in the world twice: a newer login's
    // connection replaces the older one (which the server closes), as when
    // a client comes back before its lost connection has timed out.
    let options = tickforge_client::session::LoginOptions {
        server_url: server.http_url(),
        username: "alice".into(),
        password: common::PASSWORD.into(),
        register: false,
        ca_cert: None,
    };
    let mut twin = tickforge_client::session::Session::login(&options).unwrap();
    twin.wait_connected(Duration::from_secs(10)).expect("the newer connection gets in");
    assert!(pump_until(&mut alice, Duration::from_secs(5), |s| !s.is_connected()), "the older one is closed");
    assert!(pump_until(&mut twin, Duration::from_secs(2), |s| s
        .world
        .names
        .values()
        .filter(|n| *n == "alice")
        .count()
        == 1));
    assert_eq!(twin.world.names.len(), 1, "one avatar: {:?}", twin.world.names);
}

/// Walk, quit cleanly while still moving, restart the server, log in again:
/// the avatar starts at rest exactly where it was saved and does not glide
/// on (velocity carries over only where play is continuous).
#[test]
fn a_returning_player_starts_at_rest_where_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let mut alice = join(&server.http_url(), "alice");
    play(&mut [(&mut alice, (1.0, 0.0))], Duration::from_millis(1500));
    let moving = alice.world.own.expect("own avatar").vel;
    assert!(moving.length() > 1.0, "walking when it quit: {moving:?}");
    alice.disconnect();
    std::thread::sleep(Duration::from_millis(300));
    server.stop().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let (x, y): (f64, f64) = db.query_row("SELECT x, y FROM player_state", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    drop(db);

    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let mut again = join(&server.http_url(), "alice");
    assert!(pump_until(&mut again, Duration::from_secs(5), |s| s.world.own.is_some()));
    let first = again.world.own.unwrap();
    assert_eq!((f64::from(first.pos.x), f64::from(first.pos.y)), (x, y), "where it was saved");
    assert_eq!(first.vel, Vec2::ZERO, "at rest");
    play(&mut [(&mut again, (0.0, 0.0))], Duration::from_millis(800));
    assert_eq!(again.world.own.unwrap().pos, first.pos, "standing still, it stays put");
}
