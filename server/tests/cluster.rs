//! The registry: each server upserts its row every second (`starting`
//! when bound, `ready` while ticking, with its players), a clean stop marks
//! it `stopped`, a row older than 5 s is dead; `GET /admin/cluster` shows
//! them all. On SQLite (one server) and on a PostgreSQL database shared by
//! two servers.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Running, get, join, spawn};
use serde_json::Value;
use tickforge_server::store::DatabaseUrl;

const TOKEN: &str = "cluster-test-admin-token";

fn start(dir: &Path, database: Option<&DatabaseUrl>, extra: &[&str]) -> Running {
    let url = database.map(|db| match db {
        DatabaseUrl::Postgres(url) => url.clone(),
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
    });
    let mut args: Vec<&str> = extra.to_vec();
    if let Some(url) = &url {
        args.extend(["--database", url.as_str()]);
    }
    spawn(dir, &args, &[("TICKFORGE_ADMIN_TOKEN", TOKEN)])
}

/// `/admin/cluster` once `done` holds for it (or panics after 10 s).
fn cluster_until(server: &Running, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = get(&format!("{}/admin/cluster", server.admin_url), Some(TOKEN));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let view = reply.json();
        if done(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "{what}: {view}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn server<'a>(view: &'a Value, id: &str) -> Option<&'a Value> {
    view["servers"].as_array().unwrap().iter().find(|s| s["id"] == id)
}

#[test]
fn a_server_registers_ready_with_its_players_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), None, &["--server-id", "solo", "--capacity", "50", "--game", "arena"]);
    let view =
        cluster_until(&running, "registered ready", |v| server(v, "solo").is_some_and(|s| s["state"] == "ready"));
    assert_eq!(view["active_colour"], "blue");
    let solo = server(&view, "solo").unwrap();
    assert_eq!((solo["colour"].as_str(), solo["capacity"].as_u64()), (Some("blue"), Some(50)));
    assert_eq!(solo["alive"], true);
    assert_eq!(solo["game"], "arena", "the game it registered");
    assert!(solo["heartbeat_age_ms"].as_i64().unwrap() < 5_000, "{solo}");
    let alice = join(&running.http_url, "alice");
    cluster_until(&running, "one player", |v| server(v, "solo").is_some_and(|s| s["players"] == 1));
    drop(alice);
    running.interrupt();
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let state: String = db.query_row("SELECT state FROM servers WHERE id = 'solo'", [], |r| r.get(0)).unwrap();
    assert_eq!(state, "stopped", "a clean stop says so");
}

#[test]
fn servers_sharing_postgresql_see_each_other_and_a_killed_one_goes_dead() {
    let database = common::pg::database("registry");
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(a_dir.path(), Some(&database), &["--server-id", "app-a"]);
    let b = start(b_dir.path(), Some(&database), &["--server-id", "app-b", "--colour", "green"]);
    let both = |v: &Value| ["app-a", "app-b"].iter().all(|id| server(v, id).is_some_and(|s| s["state"] == "ready"));
    let view = cluster_until(&a, "both ready, seen from a", both);
    assert_eq!(server(&view, "app-b").unwrap()["colour"], "green");
    cluster_until(&b, "both ready, seen from b", both);
    b.kill();
    // No heartbeat for more than 5 s: dead, though its last word was `ready`.
    let view = cluster_until(&a, "app-b dead", |v| server(v, "app-b").is_some_and(|s| s["alive"] == false));
    let dead = server(&view, "app-b").unwrap();
    assert_eq!(dead["state"], "ready");
    assert!(dead["heartbeat_age_ms"].as_i64().unwrap() > 5_000, "{dead}");
    assert_eq!(server(&view, "app-a").unwrap()["alive"], true);
    a.interrupt();
}
