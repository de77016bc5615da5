//! The admin surface against a real server: token gate, status, players,
//! kick, broadcast, replay recording, Prometheus metrics.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{get, join, play, post, pump_until};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::secrets::AdminToken;

const TOKEN: &str = "test-admin-token-0123456789";

fn start(token: Option<&str>) -> (tempfile::TempDir, EmbeddedServer) {
    let dir = tempfile::tempdir().unwrap();
    let admin_token = token.map(|t| AdminToken::new(t.into()).unwrap());
    let server =
        EmbeddedServer::start(Config { npcs: 3, orbs: 2, admin_token, ..Config::ephemeral(dir.path()) }).unwrap();
    (dir, server)
}

#[test]
fn without_a_token_admin_routes_are_off_and_say_so() {
    let (_dir, server) = start(None);
    let reply = get(&format!("{}/admin/status", server.admin_url()), Some("anything-at-all-long"));
    assert_eq!(reply.status, 503);
    assert!(reply.json()["error"].as_str().unwrap().contains("--admin-token"));
    assert_eq!(get(&format!("{}/metrics", server.admin_url()), None).status, 200);
}

#[test]
fn routes_need_the_right_bearer_token() {
    let (_dir, server) = start(Some(TOKEN));
    for token in [None, Some("wrong-token-wrong-token"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let reply = get(&format!("{}/admin/status", server.admin_url()), token);
        assert_eq!(reply.status, 401, "{token:?}");
    }
    let reply = post(&format!("{}/admin/broadcast", server.admin_url()), r#"{"text":"hi"}"#, None);
    assert_eq!(reply.status, 401);
}

#[test]
fn status_players_kick_and_broadcast() {
    let (_dir, server) = start(Some(TOKEN));
    let mut alice = join(&server.http_url(), "alice");
    let mut bob = join(&server.http_url(), "bob");
    play(&mut [(&mut alice, (1.0, 0.0)), (&mut bob, (0.0, 0.0))], Duration::from_millis(1300));

    let status = get(&format!("{}/admin/status", server.admin_url()), Some(TOKEN)).json();
    assert_eq!(status["tick_rate"], 30);
    assert_eq!(status["players"], 2);
    assert_eq!(status["entities"], 3 + 2 + 2);
    assert!(status["tick"].as_u64().unwrap() > 30);
    for field in ["p50", "p99", "max"] {
        assert!(status["tick_ms"][field].as_f64().unwrap() > 0.0, "{status}");
    }
    assert!(status["tick_ms"]["max"].as_f64() >= status["tick_ms"]["p99"].as_f64());
    for field in ["overruns", "skipped_ticks", "bytes_in_per_s", "bytes_out_per_s", "store_queue_depth", "uptime_s"] {
        assert!(status.get(field).is_some(), "missing {field}: {status}");
    }
    assert!(status["bytes_out_per_s"].as_u64().unwrap() > 0);

    let players = get(&format!("{}/admin/players", server.admin_url()), Some(TOKEN)).json();
    let rows = players["players"].as_array().unwrap();
    let names: HashSet<&str> = rows.iter().map(|r| r["username"].as_str().unwrap()).collect();
    assert_eq!(names, HashSet::from(["alice", "bob"]));
    for row in rows {
        assert!(row["address"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert!(row["connected_since"].as_i64().unwrap() > 1_700_000_000);
        for field in ["rtt_ms", "packet_loss", "bytes_in_per_s", "bytes_out_per_s"] {
            assert!(row[field].is_number(), "{row}");
        }
    }

    let sent = post(&format!("{}/admin/broadcast", server.admin_url()), r#"{"text":"maintenance soon"}"#, Some(TOKEN));
    assert_eq!(sent.status, 202);
    assert!(pump_until(&mut bob, Duration::from_secs(5), |b| {
        b.world.chat.iter().any(|(from, text)| from == "server" && text == "maintenance soon")
    }));

    let kicked = post(&format!("{}/admin/kick", server.admin_url()), r#"{"username":"ALICE"}"#, Some(TOKEN));
    assert_eq!(kicked.status, 200, "{}", kicked.body);
    assert!(pump_until(&mut alice, Duration::from_secs(5), |a| a.world.disconnect_reason.is_some()));
    assert_eq!(alice.world.disconnect_reason.as_deref(), Some("kicked by an operator"));
    let missing = post(&format!("{}/admin/kick", server.admin_url()), r#"{"username":"nobody"}"#, Some(TOKEN));
    assert_eq!(missing.status, 404);
    let malformed = post(&format!("{}/admin/kick", server.admin_url()), "{", Some(TOKEN));
    assert_eq!(malformed.status, 400);
}

/// Checks the text exposition format line by line; returns name → value.
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let mut samples = std::collections::HashMap::new();
    let mut typed = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad metric name in {line:?}");
        let base = ["_total", "_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(typed.contains(base) || typed.contains(name), "sample without TYPE: {line}");
        let value: f64 =
            if value == "+Inf" { f64::INFINITY } else { value.parse().unwrap_or_else(|_| panic!("{line}")) };
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let (_dir, server) = start(Some(TOKEN));
    let mut alice = join(&server.http_url(), "alice");
    play(&mut [(&mut alice, (0.0, 0.0))], Duration::from_millis(1200));
    let failed = post(&format!("{}/v1/login", server.http_url()), &common::creds("alice", "nope-nope"), None);
    assert_eq!(failed.status, 401);

    let reply = get(&format!("{}/metrics", server.admin_url()), None);
    assert_eq!(reply.status, 200);
    let samples = parse_prometheus(&reply.body);
    assert!(samples["tickforge_ticks_total"] > 30.0);
    assert_eq!(samples["tickforge_players"], 1.0);
    assert_eq!(samples[r#"tickforge_logins_total{outcome="ok"}"#], 1.0);
    assert_eq!(samples[r#"tickforge_logins_total{outcome="failed"}"#], 1.0);
    assert!(samples["tickforge_tick_duration_seconds_count"] > 30.0);
    assert_eq!(
        samples[r#"tickforge_tick_duration_seconds_bucket{le="+Inf"}"#],
        samples["tickforge_tick_duration_seconds_count"]
    );
    assert!(samples["tickforge_store_commits_total"] >= 2.0);
    for name in [
        "tickforge_entities",
        "tickforge_ticks_skipped_total",
        "tickforge_tick_overruns_total",
        "tickforge_store_queue_depth",
        r#"tickforge_logins_total{outcome="locked"}"#,
        "tickforge_store_commit_seconds_count",
        "tickforge_datagrams_sent_bytes_total",
    ] {
        assert!(samples.contains_key(name), "missing {name}");
    }
}

#[test]
fn metric_names_follow_the_conventions_and_old_names_stay_one_release() {
    let (_dir, server) = start(Some(TOKEN));
    let mut alice = join(&server.http_url(), "alice");
    play(&mut [(&mut alice, (0.0, 0.0))], Duration::from_millis(600));
    let body = get(&format!("{}/metrics", server.admin_url()), None).body;
    let samples = parse_prometheus(&body);
    let deprecated: HashSet<&str> = tickforge_server::admin::exporter::DEPRECATED.iter().map(|(old, _)| *old).collect();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            if deprecated.contains(name) || deprecated.contains(format!("{name}_total").as_str()) {
                continue;
            }
            // Base units: seconds and bytes, never milliseconds; no gauge restating a counter's rate.
            assert!(!name.ends_with("_ms") && !name.contains("_per_second"), "{line}");
            if kind == "counter" {
                assert!(body.contains(&format!("\n{name}_total")), "a counter sample without _total: {line}");
            }
        }
    }
    // Each old name is still there, its help naming the replacement.
    for (old, new) in tickforge_server::admin::exporter::DEPRECATED {
        assert!(samples.contains_key(*old), "the deprecated {old} is gone");
        let base = old.strip_suffix("_total").unwrap_or(old);
        let help = body.lines().find(|l| l.starts_with(&format!("# HELP {base} "))).unwrap();
        assert!(help.contains(&format!("Deprecated: use {new};")), "{help}");
        let series = new.split('[').next().unwrap().trim_start_matches("rate(");
        assert!(samples.contains_key(series), "the replacement {series} of {old} is missing");
    }
    assert_eq!(samples["tickforge_ws_closed_bad_total"], samples[r#"tickforge_ws_closed_total{reason="bad"}"#]);
    assert_eq!(samples["tickforge_handoff_longest_ms"], samples["tickforge_handoff_longest_seconds"] * 1000.0);
    // Which build, and the process's own figures.
    let info = samples.keys().find(|k| k.starts_with("tickforge_build_info{")).expect("tickforge_build_info");
    assert!(
        info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))) && info.contains("commit=\""),
        "{info}"
    );
    assert_eq!(samples[info.as_str()], 1.0);
    assert!(samples["process_cpu_seconds_total"] > 0.0);
    assert!(samples["process_resident_memory_bytes"] > 1e6);
    assert!(samples["process_open_fds"] >= 3.0 && samples["process_open_fds"] <= samples["process_max_fds"]);
    assert!(samples["process_threads"] >= 2.0);
    assert!(samples["process_start_time_seconds"] > 1.7e9);
}

#[test]
fn an_operator_records_a_replay_into_the_data_dir() {
    let (dir, server) = start(Some(TOKEN));
    let url = |route: &str| format!("{}/admin/record/{route}", server.admin_url());
    assert_eq!(post(&url("stop"), "", Some(TOKEN)).status, 409, "not recording yet");
    assert_eq!(post(&url("start"), r#"{"file":"../escape.replay"}"#, Some(TOKEN)).status, 400);
    assert_eq!(post(&url("start"), r#"{"file":"a/b"}"#, None).status, 401);
    let started = post(&url("start"), r#"{"file":"match-1.replay"}"#, Some(TOKEN));
    assert_eq!(started.status, 200, "{}", started.body);
    std::thread::sleep(Duration::from_millis(700));
    let stopped = post(&url("stop"), "", Some(TOKEN));
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let file = dir.path().join("replays").join("match-1.replay");
    assert!(stopped.json()["stopped"].as_str().unwrap().ends_with("match-1.replay"));
    // The writer finishes on its own thread; the index appears shortly.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut replay = loop {
        if let Ok(replay) = tickforge_shared::replay::Replay::open(&file)
            && replay.indexed()
        {
            break replay;
        }
        assert!(std::time::Instant::now() < deadline, "the replay was finished");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut frames = 0;
    for state in replay.by_ref() {
        state.expect("every frame verifies");
        frames += 1;
    }
    assert!(frames >= 5, "{frames} frames in 0.7 s at 30 Hz");
    assert!(!dir.path().join("escape.replay").exists());
    server.stop().unwrap();
}
