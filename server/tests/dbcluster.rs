//! The database cluster, from real parts: a PostgreSQL primary and a hot
//! standby streaming from it (commits wait for the standby), servers given
//! both hosts (`target_session_attrs=read-write`). The primary is killed
//! (`kill -9`, its backends too) and the standby promoted while accounts
//! are registered, while players play, and while a blue-green handoff is
//! under way: what was acknowledged survives, the tick never stalls, the
//! store follows the new primary. Without a standby the primary keeps
//! serving and says it is degraded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::cluster::{Cluster, TOKEN, server};
use common::pg::Instance;
use common::{PASSWORD, Running, creds, get, join, play, post, spawn};
use serde_json::Value;
use tickforge_server::store::DatabaseUrl;

fn url_text(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Postgres(url) => url.clone(),
        DatabaseUrl::Sqlite(_) => unreachable!(),
    }
}

/// The `database` part of a node's `/admin/cluster`.
fn database_view(admin_url: &str) -> Value {
    get(&format!("{admin_url}/admin/cluster"), Some(TOKEN)).json()["database"].clone()
}

/// Waits (up to 20 s) until the node's database view satisfies `done`.
fn until_database(admin_url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = database_view(admin_url);
        if done(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "{what}: {view}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A figure from a node's `/metrics`.
fn metric(admin_url: &str, name: &str) -> f64 {
    let text = get(&format!("{admin_url}/metrics"), None).body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A primary with a synchronous standby, and a database on it.
fn pair(name: &str) -> (Instance, Instance, DatabaseUrl) {
    let primary = Instance::primary();
    let standby = Instance::standby_of(&primary);
    let url = primary.pair_database(&standby, name);
    (primary, standby, url)
}

fn start_server(url: &DatabaseUrl, extra: &[&str]) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = url_text(url);
    let mut flags = vec!["--database", &url];
    flags.extend_from_slice(extra);
    (spawn(dir.path(), &flags, &[("TICKFORGE_ADMIN_TOKEN", TOKEN)]), dir)
}

#[test]
fn acknowledged_registrations_survive_the_primary_killed_mid_storm() {
    let (primary, standby, url) = pair("storm");
    let (server, _dir) = start_server(&url, &["--orbs", "0"]);
    let view = until_database(&server.admin_url, "synchronous with the standby", |v| v["synchronous"] == true);
    assert_eq!(view["degraded"], false);
    assert_eq!(view["standbys"][0]["name"], "standby", "{view}");
    assert_eq!(metric(&server.admin_url, "tickforge_database_degraded"), 0.0);

    // Four registrants, each its own names, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let registrants: Vec<_> = (0..4)
        .map(|t| {
            let stop = stop.clone();
            let http = server.http_url.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("storm{t}n{n}");
                    let reply = post(&format!("{http}/v1/register"), &creds(&name, PASSWORD), None);
                    answers.push((name, reply.status, Instant::now()));
                    n += 1;
                }
                answers
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let crashed = Instant::now();
    primary.crash();
    std::thread::sleep(Duration::from_millis(300));
    standby.promote();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    let answers: Vec<(String, u16, Instant)> = registrants.into_iter().flat_map(|t| t.join().unwrap()).collect();

    let created = |before: bool| answers.iter().filter(|a| a.1 == 201 && (a.2 < crashed) == before).count();
    assert!(created(true) >= 4, "registrations went through before the crash: {}", created(true));
    assert!(created(false) >= 4, "and on the new primary after it: {}", created(false));
    let failed: Vec<&(String, u16, Instant)> = answers.iter().filter(|a| a.1 != 201).collect();
    for (name, status, _) in &failed {
        assert_eq!(*status, 503, "a registration the failover interrupted says to come back: {name}");
    }
    let http = &server.http_url;
    for (name, status, _) in &answers {
        if *status == 201 {
            let login = post(&format!("{http}/v1/login"), &creds(name, PASSWORD), None);
            assert_eq!(login.status, 200, "acknowledged account {name} logs in: {}", login.body);
        } else {
            // Either it was never written (the name is free) or it was
            // written whole (the answer was lost): never half an account.
            let again = post(&format!("{http}/v1/register"), &creds(name, PASSWORD), None);
            assert!(matches!(again.status, 201 | 409), "{name}: {}", again.status);
            let login = post(&format!("{http}/v1/login"), &creds(name, PASSWORD), None);
            assert_eq!(login.status, 200, "{name} exists whole or not at all: {}", login.body);
        }
    }
    let view = until_database(&server.admin_url, "degraded without a standby", |v| v["degraded"] == true);
    assert_eq!(view["reachable"], true, "the new primary serves: {view}");
    assert_eq!(view["primary"], format!("127.0.0.1:{}", standby.port()));
    assert_eq!(metric(&server.admin_url, "tickforge_database_degraded"), 1.0);
    assert!(metric(&server.admin_url, "tickforge_store_outages_total") >= 1.0);
    let outage = metric(&server.admin_url, "tickforge_store_last_outage_seconds");
    println!(
        "failover seen by the store: {outage:.3} s from the first failed write to the first committed one \
         ({} registrations acknowledged, {} failed)",
        answers.len() - failed.len(),
        failed.len()
    );
    assert!(outage > 0.0);
}

#[test]
fn without_its_standby_the_primary_keeps_serving_and_says_it_is_degraded() {
    let (_primary, standby, url) = pair("degraded");
    let (server, _dir) = start_server(&url, &["--orbs", "0"]);
    until_database(&server.admin_url, "synchronous", |v| v["synchronous"] == true);
    let register = |name: &str| post(&format!("{}/v1/register", server.http_url), &creds(name, PASSWORD), None).status;
    assert_eq!(register("before"), 201);

    // The standby dies: commits would wait for it forever; the watch lets
    // them go on the primary alone, and says so.
    standby.crash();
    let started = Instant::now();
    assert_eq!(register("during"), 201, "the primary keeps serving");
    println!("a registration as the standby died took {:?}", started.elapsed());
    let view = until_database(&server.admin_url, "degraded", |v| v["degraded"] == true);
    assert_eq!(view["synchronous"], false);
    assert_eq!(view["synchronous_standby_names"], "", "{view}");
    assert_eq!(metric(&server.admin_url, "tickforge_database_degraded"), 1.0);
    assert_eq!(metric(&server.admin_url, "tickforge_database_standbys"), 0.0);
    assert_eq!(register("alone"), 201);

    // Back, caught up: commits wait for it again.
    standby.start();
    let view = until_database(&server.admin_url, "synchronous again", |v| v["synchronous"] == true);
    assert_eq!(view["degraded"], false);
    assert_eq!(view["synchronous_standby_names"], "standby");
    assert_eq!(metric(&server.admin_url, "tickforge_database_degraded"), 0.0);
    assert_eq!(register("after"), 201);
    for name in ["before", "during", "alone", "after"] {
        assert_eq!(post(&format!("{}/v1/login", server.http_url), &creds(name, PASSWORD), None).status, 200);
    }
}

#[test]
fn players_play_through_a_failover_and_lose_nothing() {
    let (primary, standby, url) = pair("play");
    let (server, _dir) = start_server(&url, &["--orbs", "2000", "--save-interval", "1"]);
    until_database(&server.admin_url, "synchronous", |v| v["synchronous"] == true);
    let mut alice = join(&server.http_url, "alice");
    let mut bob = join(&server.http_url, "bob");
    play(&mut [(&mut alice, (1.0, 0.2)), (&mut bob, (-1.0, 0.3))], Duration::from_secs(2));
    let status = || get(&format!("{}/admin/status", server.admin_url), Some(TOKEN)).json();
    let skipped = status()["skipped_ticks"].as_u64().unwrap();

    let crashed_ms = unix_ms();
    primary.crash();
    play(&mut [(&mut alice, (1.0, -0.2)), (&mut bob, (-1.0, -0.3))], Duration::from_millis(500));
    standby.promote();
    // What the new primary has from before the crash: saves at most one
    // interval (1 s) old, plus the time a save takes to be committed.
    let mut db = common::pg::connect(&url);
    for row in db
        .query("SELECT a.username, ps.last_seen FROM game_state ps JOIN accounts a ON a.id = ps.account_id", &[])
        .unwrap()
    {
        let (name, last_seen): (String, i64) = (row.get(0), row.get(1));
        assert!(last_seen >= crashed_ms - 1000 - 250, "{name}'s saved state is {} ms old", crashed_ms - last_seen);
    }
    drop(db);
    let snapshots = alice.world.snapshots;
    play(&mut [(&mut alice, (0.3, 1.0)), (&mut bob, (-0.3, -1.0))], Duration::from_secs(5));
    assert!(alice.world.snapshots - snapshots > 100, "the world ticked on: {}", alice.world.snapshots - snapshots);
    assert_eq!(status()["skipped_ticks"].as_u64().unwrap(), skipped, "no tick stalled through the failover");
    assert!(alice.is_connected() && bob.is_connected(), "no session ended");
    assert_eq!((alice.reconnects, bob.reconnects), (0, 0));
    until_database(&server.admin_url, "writes on the new primary", |v| v["reachable"] == true);

    // Standing still, then a clean shutdown: the new primary has exactly it.
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (0.0, 0.0))], Duration::from_millis(800));
    let expected: Vec<(String, f32, f32, u32)> = [("alice", &alice), ("bob", &bob)]
        .iter()
        .map(|(name, s)| {
            let pos = s.world.own_state().unwrap().pos;
            ((*name).to_owned(), pos.x, pos.y, s.world.own.map_or(0, |o| o.state.score))
        })
        .collect();
    assert!(expected.iter().any(|e| e.3 > 0), "walking through 2000 orbs collects some: {expected:?}");
    server.interrupt();
    drop((alice, bob));
    let mut db = common::pg::connect(&url);
    let saved: Vec<(String, f32, f32, u32)> = db
        .query(
            "SELECT a.username, CAST(ps.document ->> 'x' AS DOUBLE PRECISION), CAST(ps.document ->> 'y' AS DOUBLE PRECISION), \
             CAST(ps.document ->> 'score' AS BIGINT) FROM game_state ps JOIN accounts a ON a.id = ps.account_id \
             ORDER BY a.username",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get::<_, f64>(1) as f32, r.get::<_, f64>(2) as f32, r.get::<_, i64>(3) as u32))
        .collect();
    assert_eq!(saved, expected, "positions and scores exact on the new primary");
}

#[test]
fn a_handoff_under_way_during_a_failover_completes_with_nothing_lost() {
    let (primary, standby, database) = pair("handoff");
    let mut cluster = Cluster::start(&database, 1, &[&[], &["--colour", "green"]]);
    let mut alice = join(&cluster.gateway.url, "alice");
    let mut bob = join(&cluster.gateway.url, "bob");
    assert_eq!(alice.server_addr().to_string(), cluster.app_addr(1));
    play(&mut [(&mut alice, (1.0, 0.3)), (&mut bob, (-1.0, 0.3))], Duration::from_secs(1));

    // Hold the players' lease rows (shared, as a save does): the handoff's
    // lease move has to wait for them, so it is in flight when the
    // primary dies.
    let mut locker = common::pg::connect(&database);
    let mut held = locker.transaction().unwrap();
    assert_eq!(held.query("SELECT 1 FROM leases FOR SHARE", &[]).unwrap().len(), 2);
    cluster.deploy("green");
    let mut watcher = common::pg::connect(&database);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = watcher
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'", &[])
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "blue starts handing its players over");
        for session in [&mut alice, &mut bob] {
            session.update().expect("alive");
            session.send_input(1.0, 0.3);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(alice.transfers + bob.transfers, 0, "no handoff went through yet");
    primary.crash();
    drop((held.rollback(), watcher));
    let crashed = Instant::now();
    let mut promoted = false;
    let mut seen: Vec<(String, String, tickforge_shared::sim::Vec2, tickforge_shared::sim::Vec2)> = Vec::new();
    let mut last = [0u64; 2];
    let deadline = Instant::now() + Duration::from_secs(25);
    let green = cluster.app_addr(2);
    while Instant::now() < deadline
        && !([&alice, &bob]
            .iter()
            .all(|s| s.transfers == 1 && s.is_connected() && s.server_addr().to_string() == green)
            && promoted)
    {
        if !promoted && crashed.elapsed() > Duration::from_millis(300) {
            standby.promote();
            promoted = true;
        }
        for (i, (name, session)) in [("alice", &mut alice), ("bob", &mut bob)].into_iter().enumerate() {
            session.update().expect("the session lives through the move and the failover");
            session.send_input(1.0, 0.3);
            if session.world.snapshots != last[i] {
                last[i] = session.world.snapshots;
                if let Some(own) = session.world.own {
                    seen.push((
                        name.to_owned(),
                        session.server_addr().to_string(),
                        own.state.body.pos,
                        own.state.body.vel,
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (name, session) in [("alice", &alice), ("bob", &bob)] {
        assert_eq!(session.server_addr().to_string(), green, "{name} ended on green");
        assert_eq!((session.transfers, session.reconnects), (1, 0), "{name} moved once, never logged in again");
        let before = session.before_move.expect("the last state on blue");
        let first_green = seen.iter().find(|s| s.0 == name && s.1 == green).expect("seen on green");
        assert_eq!(
            (before.state.body.pos, before.state.body.vel),
            (first_green.2, first_green.3),
            "{name} kept exactly its state"
        );
    }
    let leases: Vec<(String, Option<String>)> = common::pg::connect(&database)
        .query("SELECT a.username, l.server_id FROM leases l JOIN accounts a ON a.id = l.account_id ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        leases,
        vec![("alice".to_owned(), Some("app-2".to_owned())), ("bob".to_owned(), Some("app-2".to_owned()))],
        "one lease each, on green"
    );
    assert!(cluster.app_exits(1, Duration::from_secs(20)).success(), "the drained blue server exits 0");
    let view = cluster.until("blue stopped", |v| server(v, "app-1").is_some_and(|s| s["state"] == "stopped"));
    assert_eq!(view["active_colour"], "green");
    assert_eq!(view["database"]["primary"], format!("127.0.0.1:{}", standby.port()));
}

/// A single database wants no standby: not replicated, not degraded. When
/// the operator sets `synchronous_standby_names` with no standby to
/// answer, every commit waits: a registration answers 503 after the store
/// deadline instead of never, and the database view says `stalled`.
#[test]
fn a_single_database_is_not_degraded_and_a_stalled_commit_answers_503_within_the_deadline() {
    let instance = Instance::private();
    let url = instance.database("stall");
    let (server, _dir) = start_server(&url, &["--orbs", "0", "--store-deadline", "2"]);
    let view = until_database(&server.admin_url, "a plain database, seen", |v| v["replicated"] == false);
    assert_eq!(view["degraded"], false, "{view}");
    assert_eq!(view["stalled"], false, "{view}");
    assert_eq!(metric(&server.admin_url, "tickforge_database_degraded"), 0.0);
    let http = &server.http_url;
    assert_eq!(post(&format!("{http}/v1/register"), &creds("before", PASSWORD), None).status, 201);

    let mut admin = common::pg::connect(&url);
    admin.batch_execute("ALTER SYSTEM SET synchronous_standby_names = '*'").unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stalled =
        common::from::post(common::from::addr_of(http).ip(), http, "/v1/register", &creds("during", PASSWORD))
            .expect("a registration answers although its commit cannot finish");
    assert_eq!(stalled.status, 503, "{}", stalled.body);
    assert!(stalled.retry_after.is_some(), "says when to come back");
    assert!(stalled.json()["error"].as_str().unwrap().contains("database"), "{}", stalled.body);
    let view = until_database(&server.admin_url, "the stall is shown", |v| v["stalled"] == true);
    assert!(view["commits_waiting"].as_u64().unwrap() >= 1, "{view}");
    assert_eq!(metric(&server.admin_url, "tickforge_database_stalled"), 1.0);
    assert!(metric(&server.admin_url, "tickforge_store_deadline_exceeded_total") >= 1.0);

    // The operator undoes it: the waiting commit finishes, all is well.
    admin.batch_execute("ALTER SYSTEM RESET synchronous_standby_names").unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    until_database(&server.admin_url, "the stall is over", |v| v["stalled"] == false);
    assert_eq!(post(&format!("{http}/v1/register"), &creds("after", PASSWORD), None).status, 201);
    let during = post(&format!("{http}/v1/login"), &creds("during", PASSWORD), None);
    assert!(matches!(during.status, 200 | 401), "the interrupted one exists whole or not at all: {}", during.body);
}
