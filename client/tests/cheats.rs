//! Each `--cheat` mode of the headless client against a real server: the
//! server clamps it within the run, and flags the cheater, not honest
//! players — among them players holding two movement keys at once.

use std::process::Command;
use std::time::{Duration, Instant};

use tickforge_arena::sim::MAX_SPEED;
use tickforge_client::session::{LoginOptions, Session};

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

/// The `flags` the server holds against `user` now (`None`: not playing).
fn flags_of(server: &EmbeddedServer, user: &str) -> Option<u64> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let body: serde_json::Value = agent
        .get(&format!("{}/admin/players", server.admin_url()))
        .header("authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    body["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["username"] == user)
        .map(|row| row["flags"].as_u64().unwrap())
}

/// Runs `play` while sampling the `flags` the server holds against `user`
/// every 200 ms for as long as it runs (at most `watch`; however slowly a
/// loaded machine starts the client, its whole session is watched);
/// returns its result and the most flags seen.
fn flagged_while<T: Send>(
    server: &EmbeddedServer,
    user: &str,
    watch: Duration,
    play: impl FnOnce() -> T + Send,
) -> (T, u64) {
    std::thread::scope(|s| {
        let player = s.spawn(play);
        let mut flags = 0;
        let deadline = Instant::now() + watch;
        while !player.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            flags = flags.max(flags_of(server, user).unwrap_or(0));
        }
        (player.join().unwrap(), flags)
    })
}

/// The `flags` the server holds against `user`, read while it is connected.
fn flags_while_playing(server: &EmbeddedServer, user: &str, extra: &[&str]) -> (serde_json::Value, u64) {
    flagged_while(server, user, Duration::from_secs(30), || run(server, user, extra))
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
    // 30 lines a second for about 2 s against 2 a second (burst 20).
    assert!(flood_flags > 10, "dropped chat is flagged: {flood_flags}");
}

/// Diagonal play lasts this long: long enough for a kick (300 refused
/// inputs at 30 Hz is 10 s) to have happened under the old rule.
const DIAGONAL_SECS: f64 = 15.0;

/// Most of the time at full speed: 2-s legs lose about 0.25 s each to turning.
fn assert_full_speed(path: f64, secs: f64, who: &str) {
    let full = f64::from(MAX_SPEED) * secs;
    assert!(path >= 0.85 * full, "{who} travelled {path:.0} units in {secs} s (full speed: {full:.0})");
}

#[test]
fn two_keys_held_move_diagonally_at_full_speed_and_are_never_flagged() {
    let (_dir, server) = start();
    let duration = DIAGONAL_SECS.to_string();
    let watch = Duration::from_secs_f64(DIAGONAL_SECS - 1.0);
    let (out, flags) = flagged_while(&server, "twokeys", watch, || {
        Command::new(env!("CARGO_BIN_EXE_tickforge-client"))
            .args(["--server", &server.http_url(), "--headless", "--register", "--user", "twokeys"])
            .args(["--password", "correct horse", "--moves", "diagonal", "--duration", &duration])
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["error"], serde_json::Value::Null, "never dropped: {summary}");
    assert_eq!(flags, 0, "holding two keys is not cheating");
    assert_eq!(summary["mispredictions"]["count"], 0, "prediction applies what the server applies: {summary}");
    assert_full_speed(summary["path_length"].as_f64().unwrap(), DIAGONAL_SECS - 0.5, "the headless client");
    // Every second, the avatar is somewhere on its diagonal through the start.
    let start: Vec<f64> = summary["start_position"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let mut off_start = 0.0f64;
    for line in &lines[..lines.len() - 1] {
        let p: Vec<f64> = line["own_position"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let (dx, dy) = (p[0] - start[0], p[1] - start[1]);
        assert!((dx - dy).abs() < 0.5, "off the diagonal: moved ({dx}, {dy}) at t={}", line["t"]);
        off_start = off_start.max(dx.abs());
    }
    assert!(off_start > 200.0, "it went somewhere: {off_start}");
}

/// Plays a session for [`DIAGONAL_SECS`], sending `input(second)` every
/// tick through `send`; returns the distance the server moved the avatar
/// and whether the direction held (x and y moved alike).
fn play_diagonal(server: &EmbeddedServer, user: &str, send: fn(&mut Session, f32, f32), raw: f32) -> (f64, u64) {
    let options = LoginOptions {
        server_url: server.http_url(),
        username: user.into(),
        password: "correct horse".into(),
        register: true,
        ca_cert: None,
        game: None,
    };
    let mut session = Session::login(&options).unwrap();
    session.wait_connected(Duration::from_secs(10)).unwrap();
    let dt = Duration::from_secs_f32(session.tick_dt());
    let start = Instant::now();
    let mut next = start;
    let mut path = 0.0f64;
    let mut previous = session.world.own_state().map(|e| e.pos);
    let mut seen_tick = session.world.server_tick;
    while start.elapsed().as_secs_f64() < DIAGONAL_SECS {
        let now = Instant::now();
        session.update().expect("still connected");
        if now >= next {
            let sign = if (start.elapsed().as_secs() / 2).is_multiple_of(2) { 1.0 } else { -1.0 };
            send(&mut session, sign * raw, sign * raw);
            next += dt;
        }
        if session.world.server_tick != seen_tick {
            seen_tick = session.world.server_tick;
            let pos = session.world.own_state().map(|e| e.pos);
            if let (Some(a), Some(b)) = (previous, pos) {
                path += f64::from(a.distance(b));
                assert!(((b.x - a.x) - (b.y - a.y)).abs() < 0.01, "{user}: off the diagonal from {a:?} to {b:?}");
            }
            previous = pos;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mispredictions = session.predictor.mispredictions;
    session.disconnect();
    (path, mispredictions)
}

#[test]
fn raw_diagonal_input_through_the_client_path_is_clamped_not_flagged() {
    let (_dir, server) = start();
    // Keyboard-style (1, 1) and a stick's (0.9, 0.9) through the path the
    // window uses (checked before sending), and (0.9, 0.9) sent unchecked,
    // so the server itself must clamp it.
    let watch = Duration::from_secs_f64(DIAGONAL_SECS - 1.0);
    std::thread::scope(|s| {
        let players = [
            ("keys", Session::send_input as fn(&mut Session, f32, f32), 1.0f32),
            ("stick", Session::send_input, 0.9),
            ("unchecked", Session::send_raw_input, 0.9),
        ];
        let runs: Vec<_> = players
            .into_iter()
            .map(|(user, send, raw)| {
                let server = &server;
                s.spawn(move || flagged_while(server, user, watch, || play_diagonal(server, user, send, raw)))
            })
            .collect();
        for (run, (user, _, _)) in runs.into_iter().zip(players) {
            let ((path, mispredictions), flags) = run.join().unwrap();
            assert_eq!(flags, 0, "{user} was flagged");
            assert_eq!(mispredictions, 0, "{user}: prediction and server disagreed");
            assert_full_speed(path, DIAGONAL_SECS - 0.5, user);
        }
    });
}
