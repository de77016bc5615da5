//! The `tickforge-server` binary as an operator runs it: flags, printed
//! addresses, data dir contents, logs, restart and SIGINT.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickforge_client::login::{AuthClient, LoginError};
use tickforge_client::session::Session;

const PASSWORD: &str = "s3cret-Passw0rd-XYZ";

struct Running {
    child: Child,
    http_url: String,
}

fn spawn(data_dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickforge-server"))
        .args(["--data-dir", data_dir.to_str().unwrap(), "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .args(["--npcs", "5"])
        .env("RUST_LOG", "debug")
        .env_remove("TICKFORGE_PRIVATE_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let http = line.split_whitespace().find_map(|w| w.strip_prefix("http=")).expect("address line").to_owned();
    Running { child, http_url: format!("http://{http}") }
}

/// SIGINT, wait for exit 0, return everything it logged.
fn interrupt(mut running: Running) -> String {
    let status = Command::new("kill").args(["-INT", &running.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = running.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "clean shutdown exits 0, got {exit:?}");
    let mut logs = String::new();
    running.child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    logs
}

fn play_briefly(http_url: &str, user: &str) {
    let login = AuthClient::new(http_url).login(user, PASSWORD).expect("login");
    let mut session = Session::connect(&login.connect_token).unwrap();
    session.wait_connected(Duration::from_secs(10)).expect("connect");
    for _ in 0..20 {
        session.update(Duration::from_millis(10)).unwrap();
        session.send_input(1.0, 0.0).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(session.world.snapshots > 0);
    session.disconnect();
}

#[test]
fn access_log_hashes_logs_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path());
    let auth = AuthClient::new(&server.http_url);
    auth.register("alice", PASSWORD).unwrap();
    assert!(matches!(auth.login("alice", "wrong-password"), Err(LoginError::InvalidCredentials)));
    play_briefly(&server.http_url, "alice");
    std::thread::sleep(Duration::from_millis(300)); // let the disconnect reach the server
    let logs = interrupt(server);
    assert!(!logs.contains(PASSWORD), "password in the server log");
    let key_before = std::fs::read(dir.path().join("private.key")).unwrap();
    assert!(!logs.contains(std::str::from_utf8(&key_before).unwrap()), "private key in the server log");

    // The database: a PHC argon2id hash, no plain password, one row per event.
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let hash: String =
        db.query_row("SELECT password_hash FROM accounts WHERE username='alice'", [], |r| r.get(0)).unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let events: Vec<(String, Option<i64>, Option<String>)> = db
        .prepare("SELECT event, account_id, peer FROM access_log ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["register", "login_failed", "login_ok", "connect", "disconnect"], "{events:?}");
    assert!(events.iter().all(|e| e.1 == Some(1)), "every row names account 1: {events:?}");
    assert!(events[..4].iter().all(|e| e.2.as_deref().is_some_and(|p| p.starts_with("127.0.0.1:"))));
    drop(db);
    for file in ["tickforge.db", "tickforge.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert!(!bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()), "password bytes in {file}");
        }
    }

    // Restart on the same data dir: the account and the key survive.
    let server = spawn(dir.path());
    play_briefly(&server.http_url, "alice");
    interrupt(server);
    assert_eq!(std::fs::read(dir.path().join("private.key")).unwrap(), key_before);
}

#[test]
fn key_from_environment_is_used_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let key = "0f".repeat(32);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickforge-server"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .env("TICKFORGE_PRIVATE_KEY", &key)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let http = line.split_whitespace().find_map(|w| w.strip_prefix("http=")).unwrap().to_owned();
    let running = Running { child, http_url: format!("http://{http}") };
    AuthClient::new(&running.http_url).register("bob", PASSWORD).unwrap();
    play_briefly(&running.http_url, "bob");
    let logs = interrupt(running);
    assert!(!dir.path().join("private.key").exists(), "an env key is never written to disk");
    assert!(!logs.contains(&key), "key in the log");
}

#[test]
fn bad_flags_fail_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickforge-server"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "--argon2-m-kib", "1024"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("below the minimum"), "{stderr}");
}
