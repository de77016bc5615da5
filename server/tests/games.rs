//! Several games in one cluster, from real parts (auth node behind nginx,
//! app servers, one PostgreSQL): each app server registers its game, and
//! the director places a login only on a server of the game it names; a
//! skirmish player's kills and deaths go with it through a blue-green
//! handoff.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, server};
use tickforge_client::games::{ArenaClient, ClientGame, SkirmishClient};
use tickforge_client::session::GameSession;
use tickforge_shared::sim::Vec2;
use tickforge_skirmish::{Command, ShipState};

type Ship = GameSession<SkirmishClient>;

/// Registers and logs `user` in to `game` through the gateway, connected.
fn join<G: ClientGame>(url: &str, user: &str, game: &str) -> GameSession<G> {
    let options = tickforge_client::session::LoginOptions {
        game: Some(game.to_owned()),
        ..common::login_options(url, user, true)
    };
    let mut session = GameSession::<G>::login(&options).expect("login");
    session.wait_connected(Duration::from_secs(10)).expect("connected");
    session
}

/// The ship as its server last said.
fn own(ship: &Ship) -> ShipState {
    ship.world.own.expect("welcomed, with a snapshot").state
}

#[test]
fn a_skirmish_and_an_arena_app_server_each_get_only_their_games_players() {
    let database = common::pg::database("gm_mixed");
    let cluster = Cluster::start(&database, 1, &[&["--game", "skirmish"], &["--game", "arena"]]);
    let view = cluster.view();
    assert_eq!(server(&view, "app-1").unwrap()["game"], "skirmish", "{view}");
    assert_eq!(server(&view, "app-2").unwrap()["game"], "arena", "{view}");
    let url = cluster.gateway.url.clone();
    let mut ships: Vec<Ship> = (0..3).map(|i| join(&url, &format!("pilot{i}"), "skirmish")).collect();
    let mut walkers: Vec<GameSession<ArenaClient>> =
        (0..3).map(|i| join(&url, &format!("walker{i}"), "arena")).collect();
    for ship in &ships {
        assert_eq!(ship.server_addr().to_string(), cluster.app_addr(1), "a skirmish login goes to the skirmish server");
    }
    for walker in &walkers {
        assert_eq!(walker.server_addr().to_string(), cluster.app_addr(2), "an arena login goes to the arena server");
    }
    // Each server's world holds its own game's players only.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        for ship in &mut ships {
            ship.update().expect("ship alive");
            ship.send(Command::IDLE);
        }
        for walker in &mut walkers {
            walker.update().expect("walker alive");
            walker.send_input(0.0, 0.0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for ship in &ships {
        let names: Vec<&String> = ship.world.names.values().collect();
        assert!(names.iter().all(|n| n.starts_with("pilot")), "a ship sees only ships: {names:?}");
    }
    for walker in &walkers {
        let names: Vec<&String> = walker.world.names.values().collect();
        assert!(names.iter().all(|n| n.starts_with("walker")), "a walker sees only walkers: {names:?}");
    }
    cluster.until("the registry counts each server's players", |v| {
        server(v, "app-1").is_some_and(|s| s["players"] == 3) && server(v, "app-2").is_some_and(|s| s["players"] == 3)
    });
    // A game no server runs is refused with a clear answer.
    let body = serde_json::json!({"username": "pilot0", "password": common::PASSWORD, "game": "chess"});
    let reply = common::post(&format!("{url}/v1/login"), &body.to_string(), None);
    assert!(reply.status >= 400 && reply.body.contains("chess"), "{}: {}", reply.status, reply.body);
}

/// Pumps both ships until `done` or `limit`: the target idles, the shooter
/// closes in (to 300 units) and plays as the skirmish's bot does — aims
/// at the nearest ship with lead and fires in range.
fn hunt(shooter: &mut Ship, target: &mut Ship, limit: Duration, done: impl Fn(&Ship, &Ship) -> bool) -> bool {
    let mut brain = <SkirmishClient as ClientGame>::Bot::default();
    let hunter = |who: usize, ships: &mut [&mut Ship]| {
        if who == 1 {
            return Command::IDLE;
        }
        let (from, to) = (own(ships[0]).body.pos, own(ships[1]).body.pos);
        let d = from.distance(to).max(1e-3);
        let steer = if d > 300.0 { (to - from) * (1.0 / d) } else { Vec2::ZERO };
        SkirmishClient::bot(&mut brain, steer, &ships[0].world)
    };
    common::drive(&mut [shooter, target], limit, hunter, |ships| done(ships[0], ships[1]))
}

#[test]
fn kills_and_deaths_survive_a_blue_green_handoff() {
    let database = common::pg::database("gm_handoff");
    let cluster =
        Cluster::start(&database, 1, &[&["--game", "skirmish"], &["--game", "skirmish", "--colour", "green"]]);
    let url = cluster.gateway.url.clone();
    let mut shooter = join(&url, "shooter", "skirmish");
    let mut target = join(&url, "target", "skirmish");
    for ship in [&shooter, &target] {
        assert_eq!(ship.server_addr().to_string(), cluster.app_addr(1), "blue is active");
    }
    let destroyed = |s: &Ship, t: &Ship| own(s).kills == 1 && own(t).deaths == 1;
    assert!(hunt(&mut shooter, &mut target, Duration::from_secs(40), destroyed), "the bot destroyed its target");
    cluster.deploy("green");
    let moved =
        |s: &Ship, t: &Ship| s.transfers == 1 && t.transfers == 1 && s.world.own.is_some() && t.world.own.is_some();
    let idle = |ship: &mut Ship| ship.send(Command::IDLE);
    let start = Instant::now();
    while !moved(&shooter, &target) {
        assert!(start.elapsed() < Duration::from_secs(15), "both moved to green");
        for ship in [&mut shooter, &mut target] {
            ship.update().expect("alive through the move");
            idle(ship);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for ship in [&shooter, &target] {
        assert_eq!(ship.server_addr().to_string(), cluster.app_addr(2), "now on green");
        assert_eq!(ship.reconnects, 0, "moved live, not logged in again");
    }
    let (s, t) = (own(&shooter), own(&target));
    assert_eq!((s.kills, s.deaths), (1, 0), "the shooter's tally came along");
    assert_eq!((t.kills, t.deaths), (0, 1), "the target's tally came along");
    // And green goes on counting from there.
    let again = |s: &Ship, t: &Ship| own(s).kills == 2 && own(t).deaths == 2;
    assert!(hunt(&mut shooter, &mut target, Duration::from_secs(40), again), "a second kill on green");
    // Saved from green (periodically): the leaderboard ranks the shooter first with both kills.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for ship in [&mut shooter, &mut target] {
            let _ = ship.update();
            ship.send(Command::IDLE);
        }
        let board = common::get(&format!("{url}/v1/leaderboard?game=skirmish"), None).json();
        let first = &board["leaders"][0];
        if (first["username"].as_str(), first["score"].as_u64()) == (Some("shooter"), Some(2)) {
            break;
        }
        assert!(Instant::now() < deadline, "the leaderboard shows both kills: {board}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
