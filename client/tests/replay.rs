//! Replays end to end: a real server records while a real client plays;
//! the file verifies, exports the very states the client received, plays
//! headless, and survives being cut off.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use tickforge_client::session::{LoginOptions, Session};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::game::replicate::ReplicationConfig;
use tickforge_shared::snapshot::KnownSet;

fn tool(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tickforge-replay")).args(args).output().expect("run tickforge-replay")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Records a session; returns the file and what the client decoded per tick.
fn record(dir: &std::path::Path) -> (std::path::PathBuf, Vec<(u32, KnownSet)>, Option<u32>) {
    let file = dir.join("session.replay");
    let server = EmbeddedServer::start(Config {
        npcs: 30,
        orbs: 5,
        replication: ReplicationConfig { view_radius: 5000.0, ..ReplicationConfig::default() },
        record: Some(file.clone()),
        ..Config::ephemeral(dir.join("data"))
    })
    .unwrap();
    let options = LoginOptions {
        server_url: server.http_url(),
        username: "alice".into(),
        password: "correct horse".into(),
        register: true,
        ca_cert: None,
        game: None,
    };
    let mut alice = Session::login(&options).unwrap();
    alice.wait_connected(Duration::from_secs(10)).unwrap();
    alice.send_chat("recorded line");
    let mut seen = Vec::new();
    let start = Instant::now();
    let mut next_input = start;
    while start.elapsed() < Duration::from_secs(3) {
        alice.update().unwrap();
        if Instant::now() >= next_input {
            next_input += Duration::from_millis(33);
            alice.send_input(0.7, 0.3);
        }
        if let Some((tick, set)) = alice.world.history.back()
            && seen.last().is_none_or(|(t, _): &(u32, KnownSet)| t != tick)
        {
            seen.push((*tick, set.clone()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let own = alice.world.own_entity.map(|id| id.0);
    alice.disconnect();
    server.stop().unwrap();
    (file, seen, own)
}

#[test]
fn a_recorded_session_verifies_exports_what_the_client_saw_and_plays_headless() {
    let dir = tempfile::tempdir().unwrap();
    let (file, seen, own) = record(dir.path());
    let path = file.to_str().unwrap();
    assert!(seen.len() > 10, "the client decoded snapshots: {}", seen.len());

    let verify = tool(&["verify", path]);
    assert!(verify.status.success(), "{}{}", text(&verify.stdout), text(&verify.stderr));
    assert!(text(&verify.stdout).starts_with("ok: "));

    let info = tool(&["info", path]);
    assert!(info.status.success());
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["players"], serde_json::json!(["alice"]), "{info}");
    assert_eq!(info["tick_rate"], 30);
    assert!(info["frames"].as_u64().unwrap() >= 30, "{info}");
    assert!(info["size_bytes"].as_u64().unwrap() > 1000);
    assert_eq!(info["indexed"], true);
    assert_eq!(info["max_entities"], 36, "30 NPCs, 5 orbs and alice: {info}");

    // Every state the client decoded is in the export, position for position.
    let export = tool(&["export", path, "--format", "jsonl"]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let mut by_tick: HashMap<u64, serde_json::Value> = HashMap::new();
    for line in text(&export.stdout).lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        by_tick.insert(line["tick"].as_u64().unwrap(), line);
    }
    let mut compared = 0;
    for (tick, set) in &seen {
        let Some(line) = by_tick.get(&u64::from(*tick)) else { continue };
        let recorded: HashMap<u64, (f64, f64)> = line["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["id"].as_u64().unwrap(), (e["x"].as_f64().unwrap(), e["y"].as_f64().unwrap())))
            .collect();
        for k in set.iter().filter(|k| Some(k.id.0) != own) {
            let p = k.pos();
            assert_eq!(
                recorded.get(&u64::from(k.id.0)),
                Some(&(f64::from(p.x), f64::from(p.y))),
                "tick {tick}, entity {:?}",
                k.id
            );
        }
        compared += 1;
    }
    assert!(compared * 10 >= seen.len() * 9, "the export covers what the client saw: {compared} of {}", seen.len());
    let chat = text(&export.stdout).contains(r#"{"Chat":{"from":"alice","text":"recorded line"}}"#);
    assert!(chat, "the chat line is an event of the replay");

    // Headless playback of a range, one line a second.
    let first = info["ticks"][0].as_u64().unwrap();
    let (from, to) = ((first + 10).to_string(), (first + 70).to_string());
    let out = Command::new(env!("CARGO_BIN_EXE_tickforge-client"))
        .args(["--replay", path, "--headless", "--from", &from, "--to", &to])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "ticks first+30 and first+60: {lines:?}");
    assert!((first + 30..first + 60).contains(&lines[0]["tick"].as_u64().unwrap()), "{lines:?}");
    assert_eq!(lines[0]["entities"], 36);
    assert_eq!(lines[0]["players"], 1);

    // Cut off mid-frame: verify names the damage, playback goes up to it.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.replay");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let cut = cut.to_str().unwrap();
    let verify = tool(&["verify", cut]);
    assert!(!verify.status.success());
    assert!(text(&verify.stderr).contains("truncated at byte"), "{}", text(&verify.stderr));
    let out =
        Command::new(env!("CARGO_BIN_EXE_tickforge-client")).args(["--replay", cut, "--headless"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).lines().count() >= 2);
    assert!(text(&out.stderr).contains("plays up to the damage"));

    // Not a replay at all: a clear error.
    let junk = dir.path().join("junk.replay");
    std::fs::write(&junk, b"hello").unwrap();
    let info = tool(&["info", junk.to_str().unwrap()]);
    assert!(!info.status.success());
    assert!(text(&info.stderr).contains("not a Tickforge replay"), "{}", text(&info.stderr));
}
