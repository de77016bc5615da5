//! The `tickforge-server` binary as an operator runs it: flags, printed
//! addresses, data dir contents, logs, restart and SIGINT.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{PASSWORD, spawn};
use tickforge_client::login::{AuthClient, LoginError};
use tickforge_client::session::Session;

fn play_briefly(http_url: &str, user: &str) {
    let login = AuthClient::new(http_url).login(user, PASSWORD).expect("login");
    let mut session = Session::connect(&login.connect_token).unwrap();
    session.wait_connected(Duration::from_secs(10)).expect("connect");
    for _ in 0..20 {
        session.update().unwrap();
        session.send_input(1.0, 0.0);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(session.world.snapshots > 0);
    session.disconnect();
}

#[test]
fn access_log_hashes_logs_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), &[], &[]);
    let auth = AuthClient::new(&server.http_url);
    auth.register("alice", PASSWORD).unwrap();
    assert!(matches!(auth.login("alice", "wrong-password"), Err(LoginError::InvalidCredentials)));
    play_briefly(&server.http_url, "alice");
    std::thread::sleep(Duration::from_millis(300)); // let the disconnect reach the server
    let logs = server.interrupt();
    for secret in [PASSWORD, "wrong-password"] {
        assert!(!logs.contains(secret), "a password in the server log");
    }
    let key_before = std::fs::read(dir.path().join("private.key")).unwrap();
    let key_hex = std::str::from_utf8(&key_before).unwrap();
    let key_bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    assert!(!logs.contains(key_hex), "private key in the server log");
    assert!(!logs.contains(&format!("{key_bytes:?}")[1..40]), "private key bytes in the server log");

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
    let server = spawn(dir.path(), &[], &[]);
    play_briefly(&server.http_url, "alice");
    server.interrupt();
    assert_eq!(std::fs::read(dir.path().join("private.key")).unwrap(), key_before);
}

#[test]
fn secrets_from_environment_are_used_and_never_written_or_logged() {
    let dir = tempfile::tempdir().unwrap();
    let key = "0f".repeat(32);
    let admin_token = "an-admin-token-of-some-length";
    let env = [("TICKFORGE_PRIVATE_KEY", key.as_str()), ("TICKFORGE_ADMIN_TOKEN", admin_token), ("RUST_LOG", "trace")];
    let server = spawn(dir.path(), &[], &env);
    AuthClient::new(&server.http_url).register("bob", PASSWORD).unwrap();
    play_briefly(&server.http_url, "bob");
    assert_eq!(common::get(&format!("{}/admin/status", server.admin_url), Some(admin_token)).status, 200);
    let logs = server.interrupt();
    assert!(!dir.path().join("private.key").exists(), "an env key is never written to disk");
    assert!(!logs.contains(&key), "key in the log");
    assert!(!logs.contains(admin_token), "admin token in the log");
}

#[test]
fn a_shared_key_file_is_used_and_never_copied_and_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("cluster.key");
    std::fs::write(&key_file, "1e".repeat(32)).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = spawn(dir.path(), &["--key-file", key_file.to_str().unwrap()], &[]);
    AuthClient::new(&server.http_url).register("carol", PASSWORD).unwrap();
    play_briefly(&server.http_url, "carol");
    let logs = server.interrupt();
    assert!(!dir.path().join("private.key").exists(), "the shared key is not copied into the data dir");
    assert!(!logs.contains(&"1e".repeat(32)), "key in the log");

    let refused = |args: &[&str], env: Option<(&str, &str)>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickforge-server"));
        command.args(["--data-dir", dir.path().to_str().unwrap()]).args(args).env_remove("TICKFORGE_PRIVATE_KEY");
        if let Some((k, v)) = env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let path = key_file.to_str().unwrap();
    let both = refused(&["--key-file", path], Some(("TICKFORGE_PRIVATE_KEY", &"1e".repeat(32))));
    assert!(both.contains("cannot be used with"), "{both}");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(refused(&["--key-file", path], None).contains("chmod 600"));
}

#[test]
fn bad_flags_fail_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tickforge-server"))
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .args(args)
            .env_remove("TICKFORGE_ADMIN_TOKEN")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&["--argon2-m-kib", "1024"]).contains("below the minimum"));
    assert!(run(&["--admin-token", "short"]).contains("at least 16 characters"));
    assert!(run(&["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"]).contains("nonexistent"));
    let unknown = run(&["--game", "chess"]);
    assert!(unknown.contains("chess") && unknown.contains("arena"), "names the games it runs: {unknown}");
}

/// Split roles share one database and one key: on embedded SQLite, or
/// without the shared key, they refuse to start and say what is missing.
#[test]
fn split_roles_refuse_sqlite_and_a_missing_shared_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], key: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickforge-server"));
        command
            .args([
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--http",
                "127.0.0.1:0",
                "--udp",
                "127.0.0.1:0",
                "--ws",
                "127.0.0.1:0",
            ])
            .args(["--admin", "127.0.0.1:0"])
            .args(args)
            .env_remove("TICKFORGE_DATABASE_URL")
            .env_remove("TICKFORGE_PRIVATE_KEY");
        if let Some(key) = key {
            command.env("TICKFORGE_PRIVATE_KEY", key);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let key = "ab".repeat(32);
    for role in ["auth", "app"] {
        let on_sqlite = run(&["--role", role], Some(&key));
        assert!(on_sqlite.contains("--database postgres://"), "{on_sqlite}");
        let url = match common::pg::database(&format!("roles_{role}")) {
            tickforge_server::store::DatabaseUrl::Postgres(url) => url,
            other => panic!("{other}"),
        };
        let keyless = run(&["--role", role, "--database", &url], None);
        assert!(keyless.contains("TICKFORGE_PRIVATE_KEY or --key-file"), "{keyless}");
    }
    assert!(!dir.path().join("private.key").exists(), "a split role never makes a key of its own");
}
