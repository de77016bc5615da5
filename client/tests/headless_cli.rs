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

/// `--register` on every run, as the README shows it, keeps working after
/// the address has made its accounts for the hour: an existing account
/// logs in; a new name is told why it was not made.
#[test]
fn register_on_every_run_survives_the_registration_limit() {
    use tickforge_server::auth::limiter::LimitConfig;
    let dir = tempfile::tempdir().unwrap();
    let limits = LimitConfig { registrations_per_hour: 1, ..LimitConfig::default() };
    let server =
        EmbeddedServer::start(Config { npcs: 0, login_limits: limits, ..Config::ephemeral(dir.path()) }).unwrap();
    let run = |user: &str| {
        client(&server, &["--register", "--user", user, "--password", "correct horse", "--duration", "0.5"])
    };
    assert!(run("d").status.success(), "the first account is made");
    let again = run("d");
    assert!(again.status.success(), "and logs in again with --register: {}", String::from_utf8_lossy(&again.stderr));
    let new = run("e");
    assert!(!new.status.success());
    let stderr = String::from_utf8_lossy(&new.stderr);
    assert!(stderr.contains("too many accounts"), "{stderr}");
    assert!(!stderr.contains("invalid credentials"), "{stderr}");
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

#[test]
fn numbered_chat_arrives_in_order_through_a_lossy_link() {
    use std::net::UdpSocket;
    use std::time::Duration;
    use tickforge_netem::{Profile, Proxy};

    let dir = tempfile::tempdir().unwrap();
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = Config { npcs: 5, public_addr: Some(listen.local_addr().unwrap()), ..Config::ephemeral(dir.path()) };
    let server = EmbeddedServer::start(config).unwrap();
    let link = Profile {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
        loss: 0.10,
        duplicate: 0.03,
        reorder: 0.05,
    };
    let _proxy = Proxy::start(listen, server.udp_addr(), link, link, 3).unwrap();
    let summaries: Vec<serde_json::Value> = std::thread::scope(|s| {
        let runs: Vec<_> = ["talker1", "talker2"]
            .into_iter()
            .map(|user| {
                let server = &server;
                s.spawn(move || {
                    let out = client(
                        server,
                        &[
                            "--register",
                            "--user",
                            user,
                            "--password",
                            "correct horse",
                            "--chat-rate",
                            "1.8",
                            "--duration",
                            "7",
                        ],
                    );
                    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                    serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap()).unwrap()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for summary in &summaries {
        // Within the server's chat rate limit (2 lines/s), so none is dropped.
        assert!(summary["chat_received"].as_u64().unwrap() >= 8, "{summary}");
        assert_eq!(summary["chat_out_of_order"], 0, "reliable lines arrive once each, in order: {summary}");
    }
}

/// A sender's link goes down for 7 s (under the 10-s timeout) while it
/// keeps chatting at an honest 1 line/s: the reliable channel resends the
/// held-back lines together when the link returns, and the server must take
/// that burst as what it is — lines sent at an honest rate — not drop them
/// as a flood.
#[test]
fn numbered_chat_survives_a_blackout_of_the_senders_link() {
    use std::net::UdpSocket;
    use std::time::Duration;
    use tickforge_netem::{Preset, Proxy};

    let dir = tempfile::tempdir().unwrap();
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = Config { npcs: 5, public_addr: Some(listen.local_addr().unwrap()), ..Config::ephemeral(dir.path()) };
    let server = EmbeddedServer::start(config).unwrap();
    let lan = Preset::Lan.profile();
    let proxy = Proxy::start(listen, server.udp_addr(), lan, lan, 5).unwrap();
    let summaries: Vec<serde_json::Value> = std::thread::scope(|s| {
        let runs: Vec<_> = ["steady1", "steady2"]
            .into_iter()
            .map(|user| {
                let server = &server;
                s.spawn(move || {
                    let args = ["--register", "--user", user, "--password", "correct horse", "--moves", "idle"];
                    let out = client(server, &[&args[..], &["--chat-rate", "1", "--duration", "15"]].concat());
                    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                    serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap()).unwrap()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        proxy.blackout(true, false);
        std::thread::sleep(Duration::from_secs(7));
        proxy.blackout(false, false);
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let metrics =
        ureq::get(&format!("{}/metrics", server.admin_url())).call().unwrap().body_mut().read_to_string().unwrap();
    let dropped =
        metrics.lines().find(|l| l.starts_with("tickforge_chat_dropped_total")).unwrap_or_default().to_owned();
    for summary in &summaries {
        assert_eq!(summary["error"], serde_json::Value::Null, "the session lived through the blackout: {summary}");
        assert_eq!(summary["chat_out_of_order"], 0, "no line lost to the burst: {summary}\n{dropped}");
        assert!(summary["chat_received"].as_u64().unwrap() >= 12, "{summary}");
    }
    assert_eq!(dropped, "tickforge_chat_dropped_total 0", "the server dropped none");
}

/// The link goes dark for longer than the 10-s timeout: the headless
/// client gives the connection up, logs in again by itself (the token again
/// names the server behind the dark link, so the first tries fail too),
/// and plays on once the link is back — one reconnect, the outage
/// reported, no error.
#[test]
fn a_blackout_longer_than_the_timeout_brings_the_client_back_by_itself() {
    use std::net::UdpSocket;
    use std::time::Duration;
    use tickforge_netem::{Preset, Proxy};

    let dir = tempfile::tempdir().unwrap();
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = Config { npcs: 5, public_addr: Some(listen.local_addr().unwrap()), ..Config::ephemeral(dir.path()) };
    let server = EmbeddedServer::start(config).unwrap();
    let lan = Preset::Lan.profile();
    let proxy = Proxy::start(listen, server.udp_addr(), lan, lan, 9).unwrap();
    let summary = std::thread::scope(|s| {
        let run = s.spawn(|| {
            let args = ["--register", "--user", "lid", "--password", "correct horse", "--moves", "circle"];
            let out = client(&server, &[&args[..], &["--duration", "32"]].concat());
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap()).unwrap()
        });
        std::thread::sleep(Duration::from_secs(3));
        proxy.blackout(true, true);
        std::thread::sleep(Duration::from_secs(14));
        proxy.blackout(false, false);
        run.join().unwrap()
    });
    assert_eq!(summary["error"], serde_json::Value::Null, "{summary}");
    assert_eq!(summary["reconnects"], 1, "{summary}");
    let outage = summary["longest_outage_ms"].as_f64().unwrap();
    assert!((14_000.0..30_000.0).contains(&outage), "the outage spans the blackout: {summary}");
    assert!(summary["snapshots"].as_u64().unwrap() > 200, "snapshots before and after: {summary}");
    drop(server);
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let resumed: i64 =
        db.query_row("SELECT COUNT(*) FROM access_log WHERE event = 'resume'", [], |r| r.get(0)).unwrap();
    assert!(resumed >= 1, "it came back with its resume token, not the password");
}

#[test]
fn bots_mode_reports_each_second_and_a_complete_summary() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 20, orbs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickforge-client"))
        .args(["--server", &server.http_url(), "--bots", "4", "--bot-prefix", "smoke", "--chat-rate", "1"])
        .args(["--duration", "5", "--login-threads", "2", "--workers", "1"])
        .env_remove("TICKFORGE_PASSWORD")
        .output()
        .expect("run bots");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(lines.len() >= 4, "per-second lines and a summary: {stdout}");
    let last_second = &lines[lines.len() - 2];
    for field in [
        "connected",
        "rtt_p50_ms",
        "rtt_p99_ms",
        "snapshots_per_s_p50",
        "bytes_in_per_client",
        "bytes_out_per_client",
        "mispredictions",
    ] {
        assert!(last_second.get(field).is_some(), "missing {field}: {last_second}");
    }
    assert_eq!(last_second["connected"], 4, "{last_second}");
    assert!(last_second["snapshots_per_s_p50"].as_f64().unwrap() > 0.0, "snapshots keep coming: {last_second}");
    assert!(last_second["bytes_in_per_client"].as_f64().unwrap() > 0.0);
    assert!(last_second["bytes_out_per_client"].as_f64().unwrap() > 0.0);
    let summary = lines.last().unwrap();
    assert_eq!(summary["summary"], true);
    assert_eq!(summary["logins"], 4, "{summary}");
    assert_eq!(summary["connected_peak"], 4);
    assert!(summary["login_errors"].as_object().unwrap().is_empty(), "{summary}");
    assert!(summary["rtt_p50_ms"].as_f64().unwrap() > 0.0, "{summary}");
    assert!(summary["rtt_p99_ms"].as_f64().unwrap() >= summary["rtt_p50_ms"].as_f64().unwrap());
    assert!(summary["logins_per_s"].as_f64().unwrap() > 0.0);
    // Every bot hears the others' numbered lines, in order.
    assert!(summary["chat_sent"].as_u64().unwrap() >= 4, "{summary}");
    assert!(summary["chat_received"].as_u64().unwrap() >= 4, "{summary}");
    assert_eq!(summary["chat_out_of_order"], 0);
    // The accounts were registered under the prefix: a second run logs them in again.
    let again = Command::new(env!("CARGO_BIN_EXE_tickforge-client"))
        .args(["--server", &server.http_url(), "--bots", "2", "--bot-prefix", "smoke", "--duration", "2"])
        .env_remove("TICKFORGE_PASSWORD")
        .output()
        .expect("run bots");
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&again.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(summary["logins"], 2, "{summary}");
}
