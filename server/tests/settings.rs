//! Settings in layers, as an operator gives them: a flag beats its
//! `TICKFORGE_…` variable, which beats the `--config` file, which beats
//! the default; a key no flag has is refused by name; every flag has a
//! variable `--help` shows; logs come as text or JSON. (The client's
//! variables: `client/tests/settings.rs`.)

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::spawn;

const SERVER: &str = env!("CARGO_BIN_EXE_tickforge-server");

/// A binary's run with no `TICKFORGE_…` variable but `env`.
fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary);
    command.args(args);
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("TICKFORGE_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    command.output().expect("run the binary")
}

/// `--print-config` of the server with `args` and `env`: the settings lines.
fn print_config(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(SERVER, &[&["--print-config"], args].concat(), env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The line that sets `key` in a `--print-config` output.
fn line<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key}:")))
        .unwrap_or_else(|| panic!("no {key} in\n{printed}"))
}

fn config_file(dir: &Path, text: &str) -> String {
    let path = dir.join("tickforge.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_flag_beats_its_environment_variable() {
    let printed = print_config(&["--tick-rate", "20"], &[("TICKFORGE_TICK_RATE", "25")]);
    assert_eq!(line(&printed, "tick-rate"), "tick-rate = 20 # flag");
}

#[test]
fn the_environment_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), "tick-rate = 15\ntrusted-proxy = [\"10.9.9.9\"]\n");
    let env = [("TICKFORGE_TICK_RATE", "25"), ("TICKFORGE_TRUSTED_PROXY", "10.0.0.1,10.0.0.2")];
    let printed = print_config(&["--config", &file], &env);
    assert_eq!(line(&printed, "tick-rate"), "tick-rate = 25 # environment TICKFORGE_TICK_RATE");
    assert_eq!(
        line(&printed, "trusted-proxy"),
        r#"trusted-proxy = ["10.0.0.1", "10.0.0.2"] # environment TICKFORGE_TRUSTED_PROXY"#
    );
    // The file itself may come from the environment.
    let printed = print_config(&[], &[("TICKFORGE_CONFIG", &file)]);
    assert_eq!(line(&printed, "tick-rate"), "tick-rate = 15 # file");
}

#[test]
fn the_file_beats_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = print_config(&[], &[]);
    assert_eq!(line(&defaults, "tick-rate"), "tick-rate = 30 # default");
    assert_eq!(line(&defaults, "no-udp-batching"), "no-udp-batching = false # default");
    let file = config_file(
        dir.path(),
        "tick-rate = 15\nsave-interval = 2.5\nno-udp-batching = true\ngame = \"skirmish\"\nallowed-origin = [\"https://a.example\", \"https://b.example\"]\n",
    );
    let printed = print_config(&["--config", &file], &[]);
    assert_eq!(line(&printed, "tick-rate"), "tick-rate = 15 # file");
    assert_eq!(line(&printed, "save-interval"), "save-interval = 2.5 # file");
    assert_eq!(line(&printed, "no-udp-batching"), "no-udp-batching = true # file");
    assert_eq!(line(&printed, "game"), r#"game = "skirmish" # file"#);
    assert_eq!(
        line(&printed, "allowed-origin"),
        r#"allowed-origin = ["https://a.example", "https://b.example"] # file"#
    );
    // What --print-config prints is a file --config takes, to the same effect.
    let again = config_file(dir.path(), &printed);
    let reread = print_config(&["--config", &again], &[]);
    assert_eq!(line(&reread, "allowed-origin"), line(&printed, "allowed-origin"));
    assert_eq!(line(&reread, "tick-rate"), line(&printed, "tick-rate"));
}

/// The layers make one set of settings before it is judged: a flag from
/// the environment may need a partner the file gives, and a file's setting
/// that cannot go with one from the environment gives way to it.
#[test]
fn layers_combine_before_their_settings_are_judged() {
    let dir = tempfile::tempdir().unwrap();
    let file =
        config_file(dir.path(), "tls-key = \"/etc/tickforge/key.pem\"\nkey-file = \"/etc/tickforge/netcode.key\"\n");
    let key = "5e".repeat(32);
    let env = [("TICKFORGE_TLS_CERT", "/etc/tickforge/cert.pem"), ("TICKFORGE_PRIVATE_KEY", key.as_str())];
    let printed = print_config(&["--config", &file], &env);
    assert_eq!(line(&printed, "tls-cert"), r#"tls-cert = "/etc/tickforge/cert.pem" # environment TICKFORGE_TLS_CERT"#);
    assert_eq!(line(&printed, "tls-key"), r#"tls-key = "/etc/tickforge/key.pem" # file"#);
    assert_eq!(line(&printed, "private-key"), "# private-key: set (secret) # environment TICKFORGE_PRIVATE_KEY");
    assert!(!printed.contains("netcode.key"), "the file's key-file gave way to the variable: {printed}");
    // Without the file the same variable is still refused alone.
    let out = run(SERVER, &["--print-config"], &env[..1]);
    assert!(!out.status.success(), "a certificate without its key accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn unknown_keys_and_bad_values_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (text, wanted) in [
        ("tick-rat = 15\n", "unknown key `tick-rat`"),
        ("[server]\ntick-rate = 15\n", "unknown key `server`"),
        ("no-udp-batching = \"yes\"\n", "`no-udp-batching` is a switch"),
        ("tick-rate = [1, 2]\n", "`tick-rate` takes one"),
        ("tick-rate = \"fast\"\n", "--tick-rate"),
        ("tick-rate = \n", "is not TOML"),
    ] {
        let file = config_file(dir.path(), text);
        let out = run(SERVER, &["--print-config", "--config", &file], &[]);
        assert!(!out.status.success(), "{text:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(wanted), "{text:?}: {stderr}");
    }
    let out = run(SERVER, &["--config", "/nonexistent/tickforge.toml"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/tickforge.toml"));
}

#[test]
fn secrets_are_not_printed() {
    let key = "5e".repeat(32);
    let env = [("TICKFORGE_ADMIN_TOKEN", "an-admin-token-0123456789"), ("TICKFORGE_PRIVATE_KEY", key.as_str())];
    let printed = print_config(&[], &env);
    assert_eq!(line(&printed, "admin-token"), "# admin-token: set (secret) # environment TICKFORGE_ADMIN_TOKEN");
    assert_eq!(line(&printed, "private-key"), "# private-key: set (secret) # environment TICKFORGE_PRIVATE_KEY");
    assert!(!printed.contains("an-admin-token") && !printed.contains(&key), "{printed}");
}

/// The flags of `binary --help`, each with its text (help and version aside).
fn flags(binary: &str) -> Vec<(String, String)> {
    let out = run(binary, &["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut flags: Vec<(String, String)> = Vec::new();
    for l in help.lines() {
        let trimmed = l.trim_start();
        let head = trimmed.strip_prefix("-h, ").or(trimmed.strip_prefix("-V, ")).unwrap_or(trimmed);
        if l.starts_with("  ") && head.starts_with("--") && l.len() - trimmed.len() <= 6 {
            let name = head.split([' ', '=', '<']).next().unwrap().to_owned();
            flags.push((name, String::new()));
        } else if let Some((_, text)) = flags.last_mut() {
            *text += l;
        }
    }
    flags.retain(|(name, _)| !["--help", "--version", "--print-config"].contains(&name.as_str()));
    flags
}

#[test]
fn every_flag_has_an_environment_variable() {
    let server = flags(SERVER);
    assert!(server.len() > 40, "{server:?}");
    for (name, text) in &server {
        assert!(text.contains("[env: TICKFORGE_"), "tickforge-server {name} has no variable: {text}");
    }
}

#[test]
fn a_server_runs_on_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = "file-admin-token-0123456789";
    let file = config_file(dir.path(), &format!("admin-token = \"{token}\"\n"));
    let server = spawn(dir.path(), &["--config", &file], &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let status = |bearer: &str| {
        let url = format!("{}/admin/status", server.admin_url);
        agent.get(&url).header("Authorization", &format!("Bearer {bearer}")).call().unwrap().status().as_u16()
    };
    assert_eq!(status(token), 200);
    assert_eq!(status("some-other-token-0123456789"), 401);
    let logs = server.interrupt();
    assert!(!logs.contains(token), "the admin token in the log");
}

/// The server's stderr lines until one contains `wanted` (bounded).
fn log_lines(format: &str, wanted: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(SERVER)
        .args(["--data-dir", dir.path().to_str().unwrap(), "--log-format", format, "--npcs", "2"])
        .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env_remove("TICKFORGE_DATABASE_URL")
        .env_remove("TICKFORGE_PRIVATE_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let done = l.contains(wanted);
        lines.push(l);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.last().is_some_and(|l| l.contains(wanted)), "no {wanted:?} in {lines:?}");
    lines
}

/// A server that cannot start says why in its log's own format.
#[test]
fn a_fatal_error_is_a_log_line_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for format in ["json", "text"] {
        let out = run(SERVER, &["--log-format", format, "--data-dir", data, "--private-key", "not-hex"], &[]);
        assert!(!out.status.success(), "a bad key accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.contains("--private-key") && last.contains("ERROR"), "{format}: {stderr}");
        if format == "json" {
            let event: serde_json::Value = serde_json::from_str(last).expect("a JSON line");
            assert_eq!(event["level"], "ERROR");
            assert!(event["error"].as_str().is_some_and(|e| e.contains("--private-key")), "{event}");
        }
    }
}

#[test]
fn logs_come_as_text_or_json_with_the_same_fields() {
    let json = log_lines("json", "tick loop running");
    let event: serde_json::Value = serde_json::from_str(json.last().unwrap()).expect("a JSON line");
    assert_eq!(event["message"], "tick loop running");
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["tick_rate"], 30);
    assert_eq!(event["npcs"], 2);
    assert!(event["timestamp"].is_string() && event["target"].is_string(), "{event}");
    for l in &json {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}"));
    }
    let text = log_lines("text", "tick loop running");
    let last = text.last().unwrap();
    let target = event["target"].as_str().unwrap();
    for field in ["INFO", target, "tick_rate=30", "npcs=2"] {
        assert!(last.contains(field), "{field} not in {last:?}");
    }
}
