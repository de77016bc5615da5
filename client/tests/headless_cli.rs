//! The `tickforge-client --headless` binary against a real server.

use std::process::Command;

use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::game::replicate::ReplicationConfig;

fn client(server: &EmbeddedServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tickforge-client"))
        .args(["--server", &server.http_url(), "--headless"])
        .args(args)
        .env_remove("TICKFORGE_PASSWORD")
        .output()
        .expect("run client")
}

#[test]
fn headless_client_connects_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config {
        npcs: 50,
        orbs: 0,
        replication: ReplicationConfig { view_radius: 5000.0, ..ReplicationConfig::default() },
        ..Config::ephemeral(dir.path())
    })
    .unwrap();
    let out = client(
        &server,
        &["--register", "--user", "a", "--password", "correct horse", "--moves", "circle", "--duration", "2.5"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(lines.len() >= 3, "two stats lines and a summary: {stdout}");
    let second = &lines[1];
    for field in ["connected", "server_tick", "rtt_ms", "entities", "snapshots_per_s", "bytes_in_per_s", "own_position"]
    {
        assert!(second.get(field).is_some(), "missing {field}: {second}");
    }
    assert_eq!(second["connected"], true);
    assert_eq!(second["entities"], 51, "50 NPCs and our avatar");
    assert!(second["snapshots_per_s"].as_u64().unwrap() > 0, "{second}");
    assert!(second["bytes_in_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(second["mispredictions"]["count"], 0, "an honest client on loopback predicts exactly: {second}");
    assert!(second["interp_delay_ms"].as_f64().unwrap() > 0.0);
    let summary = lines.last().unwrap();
    assert_eq!(summary["summary"], true);
    assert_eq!(summary["connected"], true);
    assert!(summary["snapshots"].as_u64().unwrap() > 0, "{summary}");
}

#[test]
fn wrong_password_exits_non_zero_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let ok = client(&server, &["--register", "--user", "b", "--password", "correct horse", "--duration", "0.5"]);
    assert!(ok.status.success());
    let out = client(&server, &["--user", "b", "--password", "wrong horse", "--duration", "0.5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid credentials"));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a summary line");
    assert_eq!(summary["connected"], false);
}

#[test]
fn unreachable_server_exits_non_zero() {
    // Bind and drop a listener to get a port with nothing on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_tickforge-client"))
        .args(["--server", &format!("http://127.0.0.1:{port}"), "--headless", "--user", "c", "--password", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot talk to auth server"));
}
