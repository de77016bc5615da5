//! Each `--cheat` mode of the headless client against a real server: the
//! server clamps it within the run, and flags the cheater, not honest players.

use std::process::Command;

use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::secrets::AdminToken;

const TOKEN: &str = "cheat-test-admin-token";

fn start() -> (tempfile::TempDir, EmbeddedServer) {
    let dir = tempfile::tempdir().unwrap();
    let admin_token = Some(AdminToken::new(TOKEN.into()).unwrap());
    let config = Config { npcs: 0, orbs: 0, admin_token, ..Config::ephemeral(dir.path()) };
    (dir, EmbeddedServer::start(config).unwrap())
}

/// Runs the headless client; returns its summary line.
fn run(server: &EmbeddedServer, user: &str, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tickforge-client"))
        .args(["--server", &server.http_url(), "--headless", "--register", "--user", user])
        .args(["--password", "correct horse", "--duration", "2.5"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("JSON summary")
}

fn moved(summary: &serde_json::Value) -> f64 {
    let p = |k: &str| (summary[k][0].as_f64().unwrap(), summary[k][1].as_f64().unwrap());
    let (a, b) = (p("start_position"), p("own_position"));
    (b.0 - a.0).hypot(b.1 - a.1)
}

/// The `flags` the server holds against `user`, read while it is connected.
fn flags_while_playing(server: &EmbeddedServer, user: &str, extra: &[&str]) -> (serde_json::Value, u64) {
    let url = format!("{}/admin/players", server.admin_url());
    std::thread::scope(|s| {
        let player = s.spawn(|| run(server, user, extra));
        let mut flags = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let body: serde_json::Value = agent
                .get(&url)
                .header("authorization", format!("Bearer {TOKEN}"))
                .call()
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            for row in body["players"].as_array().unwrap() {
                if row["username"] == user {
                    flags = flags.max(row["flags"].as_u64().unwrap());
                }
            }
        }
        (player.join().unwrap(), flags)
    })
}

#[test]
fn speed_hacks_gain_nothing() {
    let (_dir, server) = start();
    let honest = run(&server, "honest", &["--moves", "line"]);
    let (fast, flags) = flags_while_playing(&server, "fast", &["--moves", "line", "--cheat", "speed:2"]);
    let (slightly, _) = flags_while_playing(&server, "slightly", &["--moves", "line", "--cheat", "speed:1.1"]);
    let base = moved(&honest);
    assert!(base > 300.0, "the honest player walked: {base}");
    assert!(moved(&fast) <= base * 1.12 + 20.0, "speed:2 moved {} vs honest {base}", moved(&fast));
    assert!(moved(&slightly) <= base * 1.12 + 20.0, "speed:1.1 moved {} vs {base}", moved(&slightly));
    assert!(flags > 0, "sending twice as fast is flagged");
}

#[test]
fn teleport_and_nan_inputs_are_refused_and_flagged() {
    let (_dir, server) = start();
    let honest = run(&server, "honest", &["--moves", "line"]);
    let (teleport, teleport_flags) =
        flags_while_playing(&server, "jumper", &["--moves", "line", "--cheat", "teleport"]);
    let (nan, nan_flags) = flags_while_playing(&server, "nanny", &["--moves", "line", "--cheat", "nan"]);
    assert!(moved(&teleport) < 1.0, "an oversized move is refused, not clamped into a step: {}", moved(&teleport));
    assert!(moved(&nan) < 1.0, "NaN moves nothing: {}", moved(&nan));
    assert!(moved(&honest) > 300.0);
    assert!(teleport_flags > 10 && nan_flags > 10, "flagged: {teleport_flags}, {nan_flags}");
}

#[test]
fn chat_floods_are_rate_limited_and_honest_players_are_not_flagged() {
    let (_dir, server) = start();
    let (_, honest_flags) = flags_while_playing(&server, "honest", &["--moves", "random"]);
    assert_eq!(honest_flags, 0, "an honest player is never flagged");
    let (_, flood_flags) = flags_while_playing(&server, "flooder", &["--moves", "idle", "--cheat", "flood"]);
    // 30 lines a second for about 2 s against 2 a second (burst 5).
    assert!(flood_flags > 10, "dropped chat is flagged: {flood_flags}");
}
