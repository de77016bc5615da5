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
    (own, session.world.own.map_or(0, |o| o.state.score))
}

fn rejoin_state(http_url: &str) -> (Vec2, u32) {
    let mut again = join(http_url, "alice");
    assert!(pump_until(&mut again, Duration::from_secs(5), |s| s.world.own_state().is_some()));
    let pos = again.world.own_state().unwrap().pos;
    (pos, again.world.own.map_or(0, |o| o.state.score))
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
    let named = get(&format!("{}/v1/leaderboard?game=arena&limit=5", server.http_url()), None);
    assert_eq!((named.status, named.json()["game"].as_str()), (200, Some("arena")));
    assert_eq!(named.json()["leaders"], board.json()["leaders"], "the arena is the default game");
    let unknown = get(&format!("{}/v1/leaderboard?game=chess", server.http_url()), None);
    assert_eq!(unknown.status, 400, "a game this server does not run: {}", unknown.body);
}

/// A saved document that no longer reads (hand-edited, or from a game that
/// changed its state incompatibly) is never replaced by a fresh one: the
/// player is told, and the row is exactly as it was.
#[test]
fn an_unreadable_saved_state_refuses_the_player_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let mut alice = join(&server.http_url(), "alice");
    walk_and_settle(&mut alice);
    alice.disconnect();
    server.stop().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let broken = r#"{"x":"far away","y":1}"#;
    // As an operator would edit it: under the lease (the fence holds for everyone).
    db.execute_batch("UPDATE leases SET server_id = 'operator'").unwrap();
    let edit = "UPDATE game_state SET document = ?1, epoch = (SELECT epoch FROM leases l WHERE l.account_id = game_state.account_id)";
    assert_eq!(db.execute(edit, [broken]).unwrap(), 1);
    db.execute_batch("UPDATE leases SET server_id = NULL").unwrap();
    drop(db);

    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let options = common::login_options(&server.http_url(), "alice", false);
    let mut again = tickforge_client::session::Session::login(&options).expect("login");
    let refused = again.wait_connected(Duration::from_secs(5)).expect_err("refused");
    assert!(again.world.own_state().is_none(), "no avatar from a blank state");
    assert!(refused.to_string().contains("saved state"), "the player is told why: {refused}");
    drop(again);
    server.stop().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let kept: String = db.query_row("SELECT document FROM game_state", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, broken, "the document is kept as it was");
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
    let sql = "SELECT CAST(document ->> 'x' AS DOUBLE PRECISION), CAST(document ->> 'y' AS DOUBLE PRECISION), CAST(document ->> 'score' AS BIGINT) FROM game_state";
    let saved: (f64, f64, u32) = db.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    assert_eq!((saved.0 as f32, saved.1 as f32, saved.2), (pos.x, pos.y, score));
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
    assert_eq!(alice.world.own.map_or(0, |o| o.state.score), 0);
    // The same account is never in the world twice: a newer login's
    // connection replaces the older one (which the server closes), as when
    // a client comes back before its lost connection has timed out.
    let options = common::login_options(&server.http_url(), "alice", false);
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
    let moving = alice.world.own.expect("own avatar").state.body.vel;
    assert!(moving.length() > 1.0, "walking when it quit: {moving:?}");
    alice.disconnect();
    std::thread::sleep(Duration::from_millis(300));
    server.stop().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let sql =
        "SELECT CAST(document ->> 'x' AS DOUBLE PRECISION), CAST(document ->> 'y' AS DOUBLE PRECISION) FROM game_state";
    let (x, y): (f64, f64) = db.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    drop(db);

    let server = EmbeddedServer::start(config(dir.path())).unwrap();
    let mut again = join(&server.http_url(), "alice");
    assert!(pump_until(&mut again, Duration::from_secs(5), |s| s.world.own.is_some()));
    let first = again.world.own.unwrap();
    assert_eq!((first.state.body.pos.x, first.state.body.pos.y), (x as f32, y as f32), "where it was saved");
    assert_eq!(first.state.body.vel, Vec2::ZERO, "at rest");
    play(&mut [(&mut again, (0.0, 0.0))], Duration::from_millis(800));
    assert_eq!(again.world.own.unwrap().state.body.pos, first.state.body.pos, "standing still, it stays put");
}
