//! `scripts/loadtest.sh`, each scenario for a few seconds with a few bots,
//! on this test build's binaries: the report is complete and sane (its
//! figures are not judged; speed is for the real runs in BENCHMARKS.md).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> Value {
    run_with(args, &[])
}

fn run_with(args: &[&str], env: &[(&str, &Path)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let bin = Path::new(env!("CARGO_BIN_EXE_tickforge-server")).parent().unwrap();
    assert!(bin.join("tickforge-client").exists(), "the client binary is built by `cargo test --workspace`");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/loadtest.sh");
    let output = Command::new("bash")
        .arg(script)
        .args(args)
        .arg("--out")
        .arg(&out)
        .env("TICKFORGE_BIN_DIR", bin)
        .env("TICKFORGE_STORM_QUIET", "2")
        .envs(env.iter().copied())
        .output()
        .expect("run loadtest.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("tick ms p50 / p99 / max"), "the table is printed: {stdout}");
    serde_json::from_slice(&std::fs::read(&out).expect("JSON report written")).unwrap()
}

fn sane_common(report: &Value, players: u64) {
    assert_eq!(report["connected"], players, "{report}");
    for field in ["p50", "p99", "max"] {
        assert!(report["tick_ms"][field].as_f64().is_some_and(|v| v > 0.0), "tick {field}: {report}");
    }
    assert!(report["tick_ms"]["p50"].as_f64() <= report["tick_ms"]["max"].as_f64());
    assert!(report["server_cpu_percent"].as_f64().is_some_and(|v| v > 0.0), "{report}");
    assert!(report["bots_cpu_percent"].as_f64().is_some_and(|v| v > 0.0), "{report}");
    assert!(report["server_rss_mib"].as_f64() >= report["server_rss_idle_mib"].as_f64());
    assert!(report["rss_per_player_kib"].is_number());
    assert!(report["bytes_per_player_per_s"]["to_player"].as_f64().is_some_and(|v| v > 0.0), "{report}");
    assert!(report["bytes_per_player_per_s"]["from_player"].as_f64().is_some_and(|v| v > 0.0));
    assert!(report["rtt_ms"]["p50"].as_f64().is_some_and(|v| v > 0.0), "{report}");
    assert!(report["rtt_ms"]["p99"].as_f64() >= report["rtt_ms"]["p50"].as_f64());
    assert!(report["logins_per_s"].as_f64().is_some_and(|v| v > 0.0));
    assert!(report["overruns"].is_u64() && report["skipped_ticks"].is_u64());
    assert!(report["login_errors"].as_object().unwrap().is_empty(), "{report}");
}

#[test]
fn arena_report_is_complete() {
    let report = run(&["arena", "--players", "3", "--npcs", "20", "--duration", "3"]);
    sane_common(&report, 3);
    assert_eq!(report["scenario"], "arena");
    assert_eq!(report["npcs"], 20);
    assert!(report["entities_in_view_p50"].as_f64().is_some_and(|v| v > 0.0), "{report}");
}

#[test]
fn skirmish_report_is_complete() {
    let report = run(&["skirmish", "--players", "3", "--duration", "3"]);
    sane_common(&report, 3);
    assert_eq!((&report["scenario"], &report["game"]), (&"skirmish".into(), &"skirmish".into()), "{report}");
    // Everyone sees the other ships (and the shots in flight).
    assert!(report["entities_in_view_p50"].as_f64().is_some_and(|v| v >= 2.0), "{report}");
}

#[test]
fn the_baseline_runs_the_bare_transport_beside_the_engine_and_gives_the_ratio() {
    // `cargo test` builds the examples beside the binaries, named with a
    // hash: the newest build of this one.
    let examples = Path::new(env!("CARGO_BIN_EXE_tickforge-server")).parent().unwrap().join("examples");
    let bare = std::fs::read_dir(&examples)
        .expect("the examples are built by `cargo test --workspace`")
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("bare_renet-") && !name.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .expect("examples/bare_renet-* is built by `cargo test --workspace`")
        .path();
    let args = ["arena", "--players", "3", "--npcs", "10", "--duration", "3", "--baseline"];
    let report = run_with(&args, &[("TICKFORGE_BARE_RENET", &bare)]);
    sane_common(&report, 3);
    let bare = &report["baseline"];
    assert_eq!((&bare["scenario"], &bare["clients"], &bare["connected"]), (&"bare_renet".into(), &3.into(), &3.into()));
    // The same load: the bytes per player-tick the engine sent and received.
    let per_tick = |b: &Value| (b.as_f64().unwrap() / 30.0).round().max(1.0);
    let engine = &report["datagram_bytes_per_player_per_s"];
    assert_eq!(bare["out_bytes"].as_f64(), Some(per_tick(&engine["to_player"])), "{report}");
    assert_eq!(bare["in_bytes"].as_f64(), Some(per_tick(&engine["from_player"])), "{report}");
    // The bare server really moved them: a message from each client each tick.
    let ticks = bare["server_ticks"].as_f64().unwrap();
    assert!(ticks >= 60.0, "about 3 s at 30 Hz: {report}");
    assert!(bare["messages_received"].as_f64().unwrap() >= ticks * 3.0 * 0.8, "{report}");
    let cpu = bare["server_cpu_us_per_client_tick"].as_f64().unwrap();
    assert!(cpu > 0.0, "{report}");
    let ratio = report["baseline_ratio"].as_f64().unwrap();
    let expected = report["server_cpu_us_per_player_tick"].as_f64().unwrap() / cpu;
    assert!((ratio - expected).abs() < 0.01 + expected * 0.01, "ratio {ratio} against {expected}: {report}");
}

#[test]
fn broadcast_report_is_complete() {
    let report = run(&["broadcast", "--players", "3", "--chat-rate", "2", "--duration", "4"]);
    sane_common(&report, 3);
    // 3 senders x 2 lines/s, each line to 3 players, over a window of ~4 s.
    assert!(report["reliable_messages_received"].as_u64().is_some_and(|v| v >= 18), "{report}");
    assert!(report["reliable_messages_queued"].as_u64().is_some_and(|v| v >= 18), "{report}");
    assert!(report["server_cpu_us_per_message"].as_f64().is_some_and(|v| v > 0.0));
    assert_eq!(report["chat_out_of_order"], 0, "{report}");
}

#[test]
fn login_storm_report_is_complete() {
    let report = run(&["login-storm", "--players", "2", "--logins", "4", "--duration", "3"]);
    sane_common(&report, 2);
    assert_eq!(report["storm_answers"], "200: 4", "{report}");
    assert!(report["storm_logins_per_s"].as_f64().is_some_and(|v| v > 0.0));
    assert!(report["tick_ms_before"]["p99"].is_number() && report["tick_ms_during"]["p99"].is_number());
    assert!(report["p99_ratio"].as_f64().is_some_and(|v| v > 0.0));
}
