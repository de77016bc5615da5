//! PostgreSQL goes away while a player plays: the tick goes on (snapshots
//! keep coming, the session lives), logins answer 503 with `Retry-After`,
//! writes wait; once the database is back they land, and a clean shutdown
//! saves the exact state.

mod common;

use std::time::Duration;

use common::{PASSWORD, creds, join, play, post, spawn};
use tickforge_server::store::DatabaseUrl;

#[test]
fn a_postgresql_outage_never_stops_play_and_loses_nothing() {
    let postgres = common::pg::Instance::private();
    let url = match postgres.database("outage") {
        DatabaseUrl::Postgres(url) => url,
        DatabaseUrl::Sqlite(_) => unreachable!(),
    };
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), &["--database", &url, "--save-interval", "1", "--orbs", "0"], &[]);
    let mut alice = join(&server.http_url, "alice");
    play(&mut [(&mut alice, (1.0, 0.0))], Duration::from_secs(1));

    postgres.stop();
    let login = post(&format!("{}/v1/login", server.http_url), &creds("alice", PASSWORD), None);
    assert_eq!(login.status, 503, "logins wait for the database: {}", login.body);
    assert!(login.retry_after.is_some(), "and say when to come back");
    // Eight seconds of play with the database gone: `play` fails on a
    // dead session, and the snapshots show the tick went on.
    let before = alice.world.snapshots;
    play(&mut [(&mut alice, (0.0, 1.0))], Duration::from_secs(8));
    assert!(alice.world.snapshots - before > 100, "snapshots kept coming: {}", alice.world.snapshots - before);

    postgres.start();
    play(&mut [(&mut alice, (0.0, 0.0))], Duration::from_secs(3));
    let pos = alice.world.own_state().unwrap().pos;
    let reply = post(&format!("{}/v1/login", server.http_url), &creds("alice", PASSWORD), None);
    assert_eq!(reply.status, 200, "logins work again: {}", reply.body);
    drop(alice);
    server.interrupt();
    let row = common::pg::connect(&DatabaseUrl::parse(&url).unwrap())
        .query_one("SELECT CAST(document ->> 'x' AS DOUBLE PRECISION), CAST(document ->> 'y' AS DOUBLE PRECISION) FROM game_state", &[])
        .unwrap();
    assert_eq!((row.get::<_, f64>(0) as f32, row.get::<_, f64>(1) as f32), (pos.x, pos.y), "the exact state is saved");
}
