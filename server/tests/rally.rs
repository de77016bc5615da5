//! The README's guide game, `rally` (games/rally), through a real server
//! and client: its bot reaches beacons, its score is saved with the
//! account and comes back after a restart, and the guide quotes the
//! game's code exactly as it builds.

mod common;

use std::time::{Duration, Instant};

use tickforge_client::games::{ClientGame, RallyClient};
use tickforge_client::session::GameSession;
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_shared::sim::Vec2;

type Racer = GameSession<RallyClient>;

fn start(dir: &std::path::Path) -> EmbeddedServer {
    EmbeddedServer::start(Config { game: "rally".into(), ..Config::ephemeral(dir) }).unwrap()
}

fn join(server: &EmbeddedServer) -> Racer {
    let mut racer = Racer::login(&common::login_options(&server.http_url(), "alice", true)).expect("login");
    racer.wait_connected(Duration::from_secs(10)).expect("connected");
    racer
}

#[test]
fn the_guide_game_scores_and_keeps_its_score_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut racer = join(&server);
    assert_eq!(racer.score(), 0, "a new account starts from nothing");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = Instant::now();
    while racer.score() < 2 {
        assert!(Instant::now() < deadline, "the bot reached two beacons");
        racer.update().expect("alive");
        if Instant::now() >= next {
            next += Duration::from_millis(33);
            let steer = RallyClient::bot(&mut (), Vec2::ZERO, &racer.world);
            racer.send(steer);
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    let scored = racer.score();
    server.stop().unwrap();
    drop(racer);

    let server = start(dir.path());
    let racer = join(&server);
    assert_eq!(racer.score(), scored, "the score came back with the account");
    let board = common::get(&format!("{}/v1/leaderboard?game=rally", server.http_url()), None).json();
    assert_eq!(board["leaders"][0]["username"], "alice", "{board}");
    assert_eq!(board["leaders"][0]["score"].as_u64(), Some(u64::from(scored)), "{board}");
    server.stop().unwrap();
}

#[test]
fn the_readme_guide_quotes_the_game_as_it_builds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let code = std::fs::read_to_string(root.join("games/rally/src/lib.rs")).unwrap();
    assert!(code.lines().count() < 200, "the guide's game stays under 200 lines");
    assert!(readme.contains(&format!("```rust\n{code}```")), "README.md quotes games/rally/src/lib.rs exactly");
}
