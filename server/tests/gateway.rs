//! The distributed system, from real parts: auth nodes (`--role auth`)
//! behind a real nginx gateway, app servers (`--role app`), one real
//! PostgreSQL; the unchanged client logs in through the gateway and plays
//! where the director placed it. Placement by load and capacity, one
//! player on one server, cross-server orders, and failures: an app server
//! or an auth node killed, the database restarted.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, TOKEN, server};
use common::{PASSWORD, creds, get, join, post, pump_until};
use tickforge_client::chatcheck::ChatCheck;
use tickforge_client::session::{Session, SessionError};

/// Pumps every session for `duration`, each standing still.
fn idle(sessions: &mut [&mut Session], duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        for session in sessions.iter_mut() {
            let _ = session.update();
            session.send_input(0.0, 0.0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Which app server (`app-N`) alone lists `user` in its `/admin/players`
/// (published once a second: waits up to 5 s for one answer).
fn holder(cluster: &Cluster, user: &str) -> Option<usize> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listing: Vec<usize> = cluster
            .apps
            .iter()
            .enumerate()
            .filter_map(|(i, app)| {
                let app = app.as_ref()?;
                let reply = get(&format!("{}/admin/players", app.admin_url), Some(TOKEN));
                let listed = reply.json()["players"].as_array()?.iter().any(|p| p["username"] == user);
                listed.then_some(i + 1)
            })
            .collect();
        if listing.len() == 1 || Instant::now() > deadline {
            return listing.first().copied().filter(|_| listing.len() == 1);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A counter from a node's `/metrics`.
fn metric(admin_url: &str, name: &str) -> f64 {
    let text = get(&format!("{admin_url}/metrics"), None).body;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn logins_spread_by_load_capacity_holds_and_a_full_cluster_answers_503() {
    let database = common::pg::database("gw_spread");
    let cluster = Cluster::start(&database, 2, &[&["--capacity", "2"], &["--capacity", "2"], &["--capacity", "2"]]);
    let mut sessions: Vec<Session> = Vec::new();
    for i in 0..6 {
        sessions.push(join(&cluster.gateway.url, &format!("p{i}")));
        let mut all: Vec<&mut Session> = sessions.iter_mut().collect();
        idle(&mut all, Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.players() != [("app-1".into(), 2), ("app-2".into(), 2), ("app-3".into(), 2)] {
        assert!(Instant::now() < deadline, "two players on each server: {:?}", cluster.players());
        let mut all: Vec<&mut Session> = sessions.iter_mut().collect();
        idle(&mut all, Duration::from_millis(200));
    }
    // Full everywhere: the director says so, and when to come back.
    let url = &cluster.gateway.url;
    assert_eq!(post(&format!("{url}/v1/register"), &creds("p6", PASSWORD), None).status, 201);
    let full = post(&format!("{url}/v1/login"), &creds("p6", PASSWORD), None);
    assert_eq!(full.status, 503, "{}", full.body);
    assert!(full.retry_after.is_some(), "a full cluster says when to come back");
    assert!(full.body.contains("no game server has room"), "{}", full.body);
    assert!(sessions.iter().all(|s| s.is_connected()), "nobody was dropped to make room");
    // nginx spread the requests (registrations, logins) over both auth nodes.
    for node in cluster.auth.iter().flatten() {
        let served = metric(&node.admin_url, r#"tickforge_logins_total{outcome="ok"}"#)
            + metric(&node.admin_url, "tickforge_registrations_total");
        assert!(served >= 3.0, "each auth node served its share: {served}");
    }
}

#[test]
fn a_second_login_elsewhere_moves_the_player_with_its_state_and_leaves_one_avatar() {
    let database = common::pg::database("gw_double");
    let cluster = Cluster::start(&database, 2, &[&[], &[]]);
    let mut first = join(&cluster.gateway.url, "alice");
    // Walk right for 2 s, then stand still so the position settles.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let _ = first.update();
        first.send_input(1.0, 0.0);
        std::thread::sleep(Duration::from_millis(10));
    }
    idle(&mut [&mut first], Duration::from_millis(500));
    let was_on = holder(&cluster, "alice").expect("alice plays somewhere");
    let before = first.world.own_state().expect("own avatar").pos;
    let score = first.world.own.map_or(0, |o| o.state.score);

    // The director sends the second login to the other (emptier) server.
    let second = std::thread::scope(|s| {
        let login = s.spawn(|| join(&cluster.gateway.url, "alice"));
        while !login.is_finished() {
            let _ = first.update();
            std::thread::sleep(Duration::from_millis(10));
        }
        login.join().unwrap()
    });
    let mut second = second;
    let ended = pump_until(&mut first, Duration::from_secs(5), |s| s.world.disconnect_reason.is_some());
    assert!(ended, "the first session is dropped");
    assert_eq!(first.world.disconnect_reason.as_deref(), Some("logged in elsewhere"));
    match first.update() {
        Err(SessionError::Net(e)) => assert!(e.to_string().contains("logged in elsewhere"), "{e}"),
        other => panic!("a session moved elsewhere ends for good, not rejoining: {other:?}"),
    }
    assert_eq!(first.server_addr().to_string(), cluster.app_addr(was_on));
    assert_eq!(second.server_addr().to_string(), cluster.app_addr(3 - was_on), "placed on the other server");
    let after = second.world.own_state().expect("own avatar").pos;
    assert!(after.distance(before) < 0.5, "the new server loaded the saved state: {after:?} vs {before:?}");
    assert_eq!(second.world.own.map_or(0, |o| o.state.score), score, "no score lost");
    idle(&mut [&mut second], Duration::from_secs(2));
    let players: u64 = cluster.players().iter().map(|p| p.1).sum();
    assert_eq!(players, 1, "one avatar in the whole cluster: {:?}", cluster.players());
}

/// Two logins of one account at the same moment (one reservation: a
/// re-login moves it, never takes a second slot): one session plays on,
/// the other is dropped, and the whole cluster holds one avatar.
#[test]
fn two_simultaneous_logins_of_one_account_leave_one_avatar() {
    let database = common::pg::database("gw_simultaneous");
    let cluster = Cluster::start(&database, 2, &[&[], &[]]);
    let url = &cluster.gateway.url;
    assert_eq!(post(&format!("{url}/v1/register"), &creds("dora", PASSWORD), None).status, 201);
    let mut sessions: Vec<Session> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let options = tickforge_client::session::LoginOptions {
                        server_url: url.clone(),
                        username: "dora".into(),
                        password: PASSWORD.into(),
                        register: false,
                        ca_cert: None,
                        game: None,
                    };
                    Session::login(&options).expect("login")
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        for session in &mut sessions {
            let _ = session.update();
            session.send_input(0.0, 0.0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let playing: Vec<&Session> = sessions.iter().filter(|s| s.world.own_entity.is_some() && s.is_connected()).collect();
    assert_eq!(playing.len(), 1, "one session plays on");
    let players: u64 = cluster.players().iter().map(|p| p.1).sum();
    assert_eq!(players, 1, "one avatar: {:?}", cluster.players());
}

#[test]
fn kicks_and_broadcasts_reach_the_server_holding_the_player() {
    let database = common::pg::database("gw_orders");
    let cluster = Cluster::start(&database, 2, &[&[], &[]]);
    let mut alice = join(&cluster.gateway.url, "alice");
    let mut bob = join(&cluster.gateway.url, "bob");
    idle(&mut [&mut alice, &mut bob], Duration::from_millis(500));
    let (a, b) = (holder(&cluster, "alice").unwrap(), holder(&cluster, "bob").unwrap());
    assert_ne!(a, b, "least loaded first: one player on each server");

    let admin = cluster.admin();
    let sent = post(&format!("{admin}/admin/broadcast"), r#"{"text":"hello cluster"}"#, Some(TOKEN));
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(sent.json()["servers"], 2);
    let heard = |s: &Session| s.world.chat.iter().any(|(from, text)| from == "server" && text == "hello cluster");
    assert!(pump_until(&mut alice, Duration::from_secs(5), heard), "alice got the broadcast");
    assert!(pump_until(&mut bob, Duration::from_secs(5), heard), "bob got the broadcast");

    let kick = post(&format!("{admin}/admin/kick"), r#"{"username":"BOB","reason":"testing"}"#, Some(TOKEN));
    assert_eq!(kick.status, 200, "{}", kick.body);
    assert_eq!(kick.json()["server"], format!("app-{b}"));
    assert!(pump_until(&mut bob, Duration::from_secs(5), |s| s.world.disconnect_reason.is_some()), "bob kicked");
    assert_eq!(bob.world.disconnect_reason.as_deref(), Some("testing"));
    idle(&mut [&mut alice], Duration::from_secs(1));
    assert!(alice.is_connected(), "alice plays on");
    let missing = post(&format!("{admin}/admin/kick"), r#"{"username":"nobody"}"#, Some(TOKEN));
    assert_eq!(missing.status, 404);
}

#[test]
fn a_killed_app_server_is_dropped_and_its_players_come_back_elsewhere() {
    let database = common::pg::database("gw_kill_app");
    let mut cluster = Cluster::start(&database, 2, &[&[], &[]]);
    let mut alice = join(&cluster.gateway.url, "alice");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let _ = alice.update();
        alice.send_input(0.0, 1.0);
        std::thread::sleep(Duration::from_millis(10));
    }
    let was_on = holder(&cluster, "alice").unwrap();
    let before = alice.world.own_state().unwrap().pos;
    cluster.kill_app(was_on);
    let killed = Instant::now();
    let dead = format!("app-{was_on}");
    cluster.until("the killed server goes dead", |v| server(v, &dead).is_some_and(|s| s["alive"] == false));
    assert!(killed.elapsed() < Duration::from_secs(8), "dead within about 5 s: {:?}", killed.elapsed());
    // New logins go to the live server only.
    let mut carol = join(&cluster.gateway.url, "carol");
    // Alice's client notices, logs in again by itself and plays on elsewhere.
    let back = pump_until(&mut alice, Duration::from_secs(45), |s| s.reconnects == 1 && s.world.own_state().is_some());
    assert!(back, "alice came back by herself");
    idle(&mut [&mut alice, &mut carol], Duration::from_millis(500));
    let other = 3 - was_on;
    assert_eq!(holder(&cluster, "alice"), Some(other));
    assert_eq!(holder(&cluster, "carol"), Some(other));
    let after = alice.world.own_state().unwrap().pos;
    // Saved every second at most 1 s old: at most one second of walking lost.
    let walked = tickforge_arena::sim::MAX_SPEED * 1.2;
    assert!(after.distance(before) <= walked, "state at most one save interval old: {after:?} vs {before:?}");
    let silence = tickforge_client::session::LINK_DEAD_AFTER;
    assert!(alice.longest_outage > silence, "the outage is reported: {:?}", alice.longest_outage);
}

#[test]
fn a_killed_auth_node_leaves_logins_to_the_other() {
    let database = common::pg::database("gw_kill_auth");
    let mut cluster = Cluster::start(&database, 2, &[&[]]);
    let url = cluster.gateway.url.clone();
    assert_eq!(post(&format!("{url}/v1/register"), &creds("alice", PASSWORD), None).status, 201);
    cluster.kill_auth(1);
    for attempt in 0..6 {
        let login = post(&format!("{url}/v1/login"), &creds("alice", PASSWORD), None);
        assert_eq!(login.status, 200, "login {attempt} through the gateway: {}", login.body);
    }
    let mut bob = join(&url, "bob");
    idle(&mut [&mut bob], Duration::from_millis(300));
    assert!(bob.is_connected());
}

/// PostgreSQL stops for 20 s under play: the world ticks on (no skipped
/// ticks), logins answer 503, and once it is back the save lands.
#[test]
fn a_database_restart_stalls_no_tick_and_loses_nothing() {
    let postgres = common::pg::Instance::private();
    let database = postgres.database("gw_restart");
    let cluster = Cluster::start(&database, 1, &[&[]]);
    let url = cluster.gateway.url.clone();
    let mut alice = join(&url, "alice");
    idle(&mut [&mut alice], Duration::from_secs(1));
    let app = cluster.apps[0].as_ref().unwrap().admin_url.clone();
    let status = || get(&format!("{app}/admin/status"), Some(TOKEN)).json();
    let skipped_before = status()["skipped_ticks"].as_u64().unwrap();
    assert_eq!(post(&format!("{url}/v1/register"), &creds("bob", PASSWORD), None).status, 201);

    postgres.stop();
    let snapshots = alice.world.snapshots;
    let start = Instant::now();
    let mut refused = None;
    while start.elapsed() < Duration::from_secs(20) {
        let _ = alice.update();
        alice.send_input(1.0, 0.0);
        if refused.is_none() && start.elapsed() > Duration::from_secs(3) {
            refused = Some(post(&format!("{url}/v1/login"), &creds("bob", PASSWORD), None));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = refused.unwrap();
    assert_eq!(refused.status, 503, "logins wait for the database: {}", refused.body);
    assert!(refused.retry_after.is_some());
    assert!(alice.world.snapshots - snapshots > 300, "the world ticked on: {}", alice.world.snapshots - snapshots);
    assert_eq!(status()["skipped_ticks"].as_u64().unwrap(), skipped_before, "no tick stalled");
    idle(&mut [&mut alice], Duration::from_millis(500));
    let pos = alice.world.own_state().unwrap().pos;

    postgres.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let login = post(&format!("{url}/v1/login"), &creds("bob", PASSWORD), None);
        if login.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "logins work again: {}", login.body);
        idle(&mut [&mut alice], Duration::from_millis(300));
    }
    // Standing still since before the restart: the next save is exactly there.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        idle(&mut [&mut alice], Duration::from_millis(300));
        let mut db = common::pg::connect(&database);
        let row = db
            .query_opt(
                "SELECT CAST(document ->> 'x' AS DOUBLE PRECISION), CAST(document ->> 'y' AS DOUBLE PRECISION) FROM game_state ps \
                 JOIN accounts a ON a.id = ps.account_id WHERE a.username = 'alice'",
                &[],
            )
            .unwrap();
        if let Some(row) = row
            && (row.get::<_, f64>(0) as f32, row.get::<_, f64>(1) as f32) == (pos.x, pos.y)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the state after the outage was saved");
    }
    assert!(alice.is_connected(), "alice played through it");
}

/// Blue-green: the switch sends new logins to green at once; the blue
/// server drains by moving its player live — no password, no new login —
/// onto green with exactly the state it had (position and velocity, the
/// last state seen on blue is the first on green), then exits 0. The
/// rollback is the same switch back, onto a new blue server.
#[test]
fn a_colour_switch_moves_players_live_and_the_drained_server_exits() {
    let database = common::pg::database("gw_bluegreen");
    let mut cluster = Cluster::start(&database, 1, &[&[], &["--colour", "green"]]);
    let mut alice = join(&cluster.gateway.url, "alice");
    assert_eq!(alice.server_addr().to_string(), cluster.app_addr(1), "blue is active: placed on blue");
    // (server, pos, vel) of the own avatar, per snapshot.
    let mut seen: Vec<(String, tickforge_shared::sim::Vec2, tickforge_shared::sim::Vec2)> = Vec::new();
    let play = |session: &mut Session, secs: f32, seen: &mut Vec<_>| {
        let start = Instant::now();
        let mut last = session.world.snapshots;
        while start.elapsed() < Duration::from_secs_f32(secs) {
            session.update().expect("the session lives through the move");
            session.send_input(1.0, 0.3);
            if session.world.snapshots != last {
                last = session.world.snapshots;
                if let Some(own) = session.world.own {
                    seen.push((session.server_addr().to_string(), own.state.body.pos, own.state.body.vel));
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    play(&mut alice, 1.5, &mut seen);
    cluster.deploy("green");
    let mut bob = join(&cluster.gateway.url, "bob");
    assert_eq!(bob.server_addr().to_string(), cluster.app_addr(2), "new logins go to green at once");
    // Both talk, numbering their lines, while alice moves from blue to
    // green: the cluster's chat reaches across servers and across the move.
    let mut chats = [ChatCheck::new(), ChatCheck::new()];
    let start = Instant::now();
    let mut last = alice.world.snapshots;
    while start.elapsed() < Duration::from_secs(5) {
        let talking = start.elapsed() < Duration::from_secs(4);
        for (session, chat) in [&mut alice, &mut bob].into_iter().zip(chats.iter_mut()) {
            session.update().expect("the session lives through the move");
            session.send_input(1.0, 0.3);
            if talking && let Some(line) = chat.due(start.elapsed().as_secs_f32(), 4.0) {
                session.send_chat(&line);
            }
            for (from, text) in session.world.chat_new.drain(..) {
                chat.observe(&from, &text);
            }
        }
        if alice.world.snapshots != last {
            last = alice.world.snapshots;
            if let Some(own) = alice.world.own {
                seen.push((alice.server_addr().to_string(), own.state.body.pos, own.state.body.vel));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let said = chats[0].sent + chats[1].sent;
    assert!(chats[0].sent >= 12 && chats[1].sent >= 12, "both talked: {} and {}", chats[0].sent, chats[1].sent);
    for (who, chat) in ["alice", "bob"].iter().zip(&chats) {
        assert_eq!(chat.out_of_order, 0, "{who} read every line in order, none twice");
        assert_eq!(chat.received, said, "{who} read every line said on either server");
    }
    assert_eq!((alice.transfers, alice.reconnects), (1, 0), "moved once, never logged in again");
    assert_eq!(alice.server_addr().to_string(), cluster.app_addr(2));
    let lease: Option<String> = common::pg::connect(&database)
        .query_one(
            "SELECT l.server_id FROM leases l JOIN accounts a ON a.id = l.account_id WHERE a.username = 'alice'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(lease.as_deref(), Some("app-2"), "the lease moved with her");
    let blue = cluster.app_addr(1);
    let last_blue = alice.before_move.expect("the last state on blue");
    let first_green = seen.iter().find(|s| s.0 != blue).expect("seen on green");
    assert_eq!(
        (last_blue.state.body.pos, last_blue.state.body.vel),
        (first_green.1, first_green.2),
        "exactly the state it had"
    );
    assert!(first_green.2.length() > 1.0, "it was moving when it moved: {:?}", first_green.2);
    assert!(alice.longest_transfer_pause < Duration::from_secs(2), "{:?}", alice.longest_transfer_pause);
    let exit = cluster.app_exits(1, Duration::from_secs(15));
    assert!(exit.success(), "the drained server exits 0: {exit:?}");
    let view = cluster.until("blue stopped", |v| server(v, "app-1").is_some_and(|s| s["state"] == "stopped"));
    assert_eq!(view["active_colour"], "green");

    // Rollback: a new blue server, the same switch back.
    let blue_again = cluster.start_app(&[]);
    cluster.until("green draining once blue is active", |v| {
        server(v, &format!("app-{blue_again}")).is_some_and(|s| s["state"] == "ready")
    });
    cluster.deploy("blue");
    let mut bob = bob;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let _ = bob.update();
        bob.send_input(0.0, 0.0);
        let _ = alice.update();
        alice.send_input(0.0, 0.0);
        std::thread::sleep(Duration::from_millis(10));
    }
    for session in [&alice, &bob] {
        assert_eq!(session.server_addr().to_string(), cluster.app_addr(blue_again), "back on blue");
        assert_eq!(session.reconnects, 0);
        assert!(session.is_connected());
    }
    assert!(cluster.app_exits(2, Duration::from_secs(15)).success(), "green drained and exited");
}

/// A bare connection that reads everything, walks, and never follows a
/// transfer: what a broken or hostile client does with one.
struct Stubborn {
    conn: tickforge_client::net::Connection,
    view: tickforge_client::world::ClientWorld<tickforge_arena::ArenaSim>,
    inbox: Vec<tickforge_shared::protocol::ServerMessage>,
    snapshots: Vec<renet::Bytes>,
    seq: u32,
    started: std::time::Instant,
}

impl Stubborn {
    fn join(url: &str, user: &str) -> Self {
        let auth = tickforge_client::login::AuthClient::new(url);
        auth.register(user, PASSWORD).unwrap();
        let login = auth.login(user, PASSWORD).unwrap();
        let conn = tickforge_client::net::connect(&login.connect_token, Duration::ZERO).unwrap();
        Self {
            conn,
            view: Default::default(),
            inbox: Vec::new(),
            snapshots: Vec::new(),
            seq: 1,
            started: std::time::Instant::now(),
        }
    }

    /// Reads, applies, walks up; false once the connection has ended.
    fn pump(&mut self) -> bool {
        use tickforge_shared::protocol::{Channel, InputCmd, InputMessage};
        let now = self.started.elapsed();
        let alive = self.conn.update(now, &mut self.inbox, &mut self.snapshots).is_ok();
        for message in self.inbox.drain(..) {
            self.view.apply(message);
        }
        for bytes in self.snapshots.drain(..) {
            self.view.apply_snapshot_bytes(&bytes);
        }
        if self.view.own_entity.is_some() {
            let input = tickforge_arena::Move { x: 0.0, y: 1.0 };
            let cmd = InputCmd { seq: self.seq, tick: self.view.server_tick, view_lag: 0, input };
            self.seq += 1;
            let input = InputMessage { ack_tick: self.view.acked_tick(), inputs: vec![cmd] };
            self.conn.send(Channel::Input, &input);
        }
        let _ = self.conn.flush(now);
        alive && !self.conn.is_disconnected()
    }
}

/// During a switch, a client that ignores its transfer is dropped at the
/// deadline and loses nothing: logging in again, it finds exactly the place
/// it was frozen in, at rest (a fresh login). Watching from there, a moved player's old avatar is
/// frozen from the handoff on and then gone: never two live avatars.
#[test]
fn a_client_that_ignores_its_transfer_loses_nothing_and_no_avatar_lives_twice() {
    let database = common::pg::database("gw_stubborn");
    let cluster = Cluster::start(&database, 1, &[&[], &["--colour", "green"]]);
    let url = cluster.gateway.url.clone();
    let mut alice = join(&url, "alice");
    let mut stubborn = Stubborn::join(&url, "stubborn");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        stubborn.pump();
        let _ = alice.update();
        alice.send_input(1.0, 0.0);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(stubborn.view.avatar_of("alice").is_some(), "both on blue, in sight of each other");
    cluster.deploy("green");
    // Alice's avatar on blue, as the stubborn client sees it after she moved.
    let mut old_avatar_after_move = Vec::new();
    let start = Instant::now();
    while stubborn.pump() && start.elapsed() < Duration::from_secs(20) {
        alice.update().expect("alice moves on");
        alice.send_input(1.0, 0.0);
        if alice.transfers == 1
            && let Some(seen) = stubborn.view.avatar_of("alice")
        {
            old_avatar_after_move.push(seen.pos);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(stubborn.view.transfer.is_some(), "it was asked to move");
    assert_eq!(stubborn.view.disconnect_reason.as_deref(), Some("moved to another server"), "dropped at the deadline");
    assert_eq!((alice.transfers, alice.reconnects), (1, 0));
    let frozen = alice.before_move.expect("alice's last state on blue").state.body.pos;
    assert!(
        old_avatar_after_move.iter().all(|p| *p == frozen),
        "the old avatar never moved again: {old_avatar_after_move:?}"
    );
    assert!(stubborn.view.avatar_of("alice").is_none(), "and it went once alice had left");

    let last_on_blue = stubborn.view.own.expect("its last state on blue");
    assert!(
        last_on_blue.state.body.vel.length() > 1.0,
        "it was walking when frozen: {:?}",
        last_on_blue.state.body.vel
    );
    let mut again = Session::login(&tickforge_client::session::LoginOptions {
        server_url: url.clone(),
        username: "stubborn".into(),
        password: PASSWORD.into(),
        register: false,
        ca_cert: None,
        game: None,
    })
    .expect("logs in again");
    again.wait_connected(Duration::from_secs(10)).expect("on green");
    assert_eq!(again.server_addr().to_string(), cluster.app_addr(2));
    let first_on_green = again.world.own.expect("its first state on green");
    assert_eq!(first_on_green.state.body.pos, last_on_blue.state.body.pos, "nothing lost");
    // A fresh login (not a move it followed) starts at rest where it stood.
    assert_eq!(first_on_green.state.body.vel, tickforge_shared::sim::Vec2::ZERO, "at rest");
}

/// Behind nginx every request comes from its address: the auth nodes take
/// the client's from X-Forwarded-For (`--trusted-proxy`), so a guesser
/// locks out only itself, and many clients log in at once.
#[test]
fn wrong_logins_through_the_gateway_lock_out_only_the_guesser() {
    use common::from;
    use std::net::{IpAddr, Ipv4Addr};
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let bystander = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let database = common::pg::database("gw_guesser");
    let cluster = Cluster::start(&database, 2, &[&[]]);
    let url = &cluster.gateway.url;
    for name in ["target", "another"] {
        assert_eq!(from::post(bystander, url, "/v1/register", &creds(name, PASSWORD)).unwrap().status, 201);
    }
    for i in 0..100 {
        let guess =
            from::post(attacker, url, "/v1/login", &creds(&format!("random{i}x{}", i * 7919), "wrong")).unwrap();
        assert!(matches!(guess.status, 401 | 429), "{}", guess.status);
        let guess = from::post(attacker, url, "/v1/login", &creds("target", "wrong password")).unwrap();
        assert!(matches!(guess.status, 401 | 429), "{}", guess.status);
    }
    let own = from::post(attacker, url, "/v1/login", &creds("another", PASSWORD)).unwrap();
    assert_eq!(own.status, 429, "the guessing address is locked: {}", own.body);
    for name in ["target", "another"] {
        let login = from::post(bystander, url, "/v1/login", &creds(name, PASSWORD)).unwrap();
        assert_eq!(login.status, 200, "{name} from another address: {}", login.body);
    }
    // Thirty clients at once through the one proxy: none is refused as if
    // they were one address.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..30u8)
            .map(|i| {
                s.spawn(move || {
                    let client = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 10 + i));
                    from::post(client, url, "/v1/login", &creds("another", PASSWORD)).unwrap().status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // (A full hashing queue may say 503, come back shortly; never 429.)
    assert!(statuses.iter().all(|s| matches!(s, 200 | 503)), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 200).count() > 20, "{statuses:?}");
}

/// Twelve players chat at one line a second through a blue-green switch,
/// and one green server is killed (`kill -9`) right after it took its
/// players: lines it had acknowledged but not yet stored are said again by
/// their senders after the reconnect (the store takes each once), so every
/// client reads every line of every sender, once, in order.
#[test]
fn chat_said_just_before_a_crash_during_a_rollout_is_neither_lost_nor_doubled() {
    use std::collections::HashMap;
    let database = common::pg::database("gw_chat_crash");
    let mut cluster = Cluster::start(&database, 1, &[&[], &[], &["--colour", "green"], &["--colour", "green"]]);
    let url = cluster.gateway.url.clone();
    let mut sessions: Vec<Session> = (0..12).map(|i| join(&url, &format!("talker{i}"))).collect();
    let names: Vec<String> = (0..12).map(|i| format!("talker{i}")).collect();
    let mut senders: Vec<ChatCheck> = (0..12).map(|_| ChatCheck::new()).collect();
    // Per reader: per sender, the numbers read, in the order read.
    let mut read: Vec<HashMap<String, Vec<u64>>> = vec![HashMap::new(); 12];
    let green = [cluster.app_addr(3), cluster.app_addr(4)];
    let start = Instant::now();
    let mut deployed = false;
    let mut killed: Option<Instant> = None;
    loop {
        let elapsed = start.elapsed();
        let talking = killed.is_none_or(|at| at.elapsed() < Duration::from_secs(12));
        if killed.is_some_and(|at| at.elapsed() > Duration::from_secs(20)) {
            break;
        }
        for (i, session) in sessions.iter_mut().enumerate() {
            let _ = session.update();
            session.send_input(0.0, 0.0);
            if talking && let Some(line) = senders[i].due(elapsed.as_secs_f32(), 1.0) {
                session.send_chat(&line);
            }
            for (from, text) in session.world.chat_new.drain(..) {
                if let Some(n) = text.rsplit_once(':').and_then(|(_, n)| n.parse::<u64>().ok()) {
                    read[i].entry(from).or_default().push(n);
                }
            }
        }
        if !deployed && elapsed > Duration::from_secs(3) {
            cluster.deploy("green");
            deployed = true;
        }
        // Right after the switch: the first green server that holds moved players dies.
        if deployed && killed.is_none() && sessions.iter().any(|s| s.server_addr().to_string() == green[0]) {
            cluster.kill_app(3);
            killed = Some(Instant::now());
        }
        assert!(elapsed < Duration::from_secs(60), "the switch took players to green");
        std::thread::sleep(Duration::from_millis(20));
    }
    let reconnected = sessions.iter().filter(|s| s.reconnects > 0).count();
    assert!(reconnected > 0, "some players were on the killed server and came back");
    for session in &sessions {
        assert!(session.is_connected(), "every player came back");
    }
    for (reader, seen) in read.iter().enumerate() {
        for (sender, name) in names.iter().enumerate() {
            let expected: Vec<u64> = (1..=senders[sender].sent).collect();
            let got = seen.get(name).cloned().unwrap_or_default();
            assert_eq!(got, expected, "talker{reader} read {name}'s lines once each, in order");
        }
    }
}
