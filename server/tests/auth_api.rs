//! The auth API over real HTTP against a real server on loopback.

mod common;

use common::{Reply, creds};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;

fn post(server: &EmbeddedServer, path: &str, body: &str) -> Reply {
    common::post(&format!("{}{path}", server.http_url()), body, None)
}

fn start() -> (tempfile::TempDir, EmbeddedServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 5, ..Config::ephemeral(dir.path()) }).unwrap();
    (dir, server)
}

#[test]
fn unknown_user_and_wrong_password_get_identical_401s() {
    let (_dir, server) = start();
    assert_eq!(post(&server, "/v1/register", &creds("alice", "correct horse")).status, 201);

    let unknown = post(&server, "/v1/login", &creds("nobody", "correct horse"));
    let wrong = post(&server, "/v1/login", &creds("alice", "wrong password"));
    let malformed_name = post(&server, "/v1/login", &creds("no such user!", "x"));
    for reply in [&unknown, &wrong, &malformed_name] {
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body, r#"{"error":"invalid credentials"}"#);
        assert_eq!(reply.content_type, unknown.content_type);
    }
    assert_eq!(unknown.body.as_bytes(), wrong.body.as_bytes());
}

#[test]
fn login_answers_a_token_for_the_servers() {
    let (_dir, server) = start();
    assert_eq!(post(&server, "/v1/register", &creds("alice", "correct horse")).status, 201);
    let ok = post(&server, "/v1/login", &creds("alice", "correct horse"));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let body: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.decode(body["connect_token"].as_str().unwrap()).unwrap();
    assert_eq!(token.len(), 2048, "a netcode connect token");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expires = body["expires_at"].as_u64().unwrap();
    assert!(expires > now && expires <= now + 31, "short expiry, got {expires} at {now}");
    assert_eq!(body["servers"], serde_json::json!([server.udp_addr().to_string()]));
    assert_eq!(body["game"], "arena", "the server's one game");
}

/// A login may name its game: the one this server runs, or a clear 400 —
/// before any password is checked.
#[test]
fn a_login_names_a_game_this_server_runs_or_is_refused() {
    let (_dir, server) = start();
    assert_eq!(post(&server, "/v1/register", &creds("alice", "correct horse")).status, 201);
    let named = post(&server, "/v1/login", r#"{"username":"alice","password":"correct horse","game":"arena"}"#);
    assert_eq!(named.status, 200, "{}", named.body);
    assert_eq!(named.json()["game"], "arena");
    let other = post(&server, "/v1/login", r#"{"username":"alice","password":"wrong","game":"chess"}"#);
    assert_eq!(other.status, 400, "{}", other.body);
    let message = other.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("chess") && message.contains("arena"), "says which games it runs: {message}");
}

#[test]
fn duplicate_registration_is_409_whatever_the_case() {
    let (_dir, server) = start();
    assert_eq!(post(&server, "/v1/register", &creds("alice", "correct horse")).status, 201);
    let again = post(&server, "/v1/register", &creds("alice", "other password"));
    assert_eq!(again.status, 409);
    assert_eq!(again.body, r#"{"error":"username taken"}"#);
    assert_eq!(post(&server, "/v1/register", &creds("ALICE", "other password")).status, 409);
    // The first password still works: the duplicate changed nothing.
    assert_eq!(post(&server, "/v1/login", &creds("alice", "correct horse")).status, 200);
}

#[test]
fn malformed_bodies_are_400_with_a_json_error() {
    let (_dir, server) = start();
    for body in ["{bad", "", "[]", r#"{"username":"alice"}"#, r#"{"username":1,"password":"x"}"#] {
        for path in ["/v1/register", "/v1/login"] {
            let reply = post(&server, path, body);
            assert_eq!(reply.status, 400, "{path} with {body:?}: {}", reply.body);
            let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON error body");
            assert!(json["error"].is_string(), "{}", reply.body);
        }
    }
}

#[test]
fn invalid_names_and_passwords_are_400() {
    let (_dir, server) = start();
    for (user, password) in
        [("", "long enough"), ("bad name", "long enough"), (&"x".repeat(33), "long enough"), ("carol", "short")]
    {
        let reply = post(&server, "/v1/register", &creds(user, password));
        assert_eq!(reply.status, 400, "{user}/{password}: {}", reply.body);
    }
}

#[test]
fn oversized_bodies_are_refused() {
    let (_dir, server) = start();
    let huge = creds("alice", &"x".repeat(64 * 1024));
    assert_eq!(post(&server, "/v1/register", &huge).status, 413);
}

fn resume(server: &EmbeddedServer, token: &str) -> Reply {
    post(server, "/v1/resume", &serde_json::json!({ "resume_token": token }).to_string())
}

fn resume_token(reply: &Reply) -> String {
    reply.json()["resume_token"].as_str().expect("a resume token").to_owned()
}

/// A login answers a resume token; it logs in once without the password
/// (the answer carries the next one), is stored only hashed, and is refused
/// once spent, expired, made up, or logged out.
#[test]
fn a_resume_token_works_once_is_stored_hashed_and_is_refused_spent_expired_or_stolen() {
    let (dir, server) = start();
    assert_eq!(post(&server, "/v1/register", &creds("alice", "correct horse")).status, 201);
    let login = post(&server, "/v1/login", &creds("alice", "correct horse"));
    let first = resume_token(&login);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expires = login.json()["resume_expires_at"].as_u64().unwrap();
    assert!(expires > now + 60 && expires <= now + 601, "short-lived: {expires} at {now}");

    let again = resume(&server, &first);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["connect_token"].as_str().unwrap().len(), 2732, "a connect token, base64");
    let second = resume_token(&again);
    assert_ne!(first, second, "a new token each time");
    assert_eq!(resume(&server, &first).status, 401, "a spent token is refused");
    assert_eq!(resume(&server, "made-up-token").status, 401);

    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let stored: Vec<String> = db
        .prepare("SELECT token_hash FROM resume_tokens")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!stored.is_empty() && stored.iter().all(|h| h.len() == 128 && *h != second), "hashed: {stored:?}");

    // Expired: the same token, its expiry moved into the past.
    db.execute("UPDATE resume_tokens SET expires_ms = 1", []).unwrap();
    assert_eq!(resume(&server, &second).status, 401, "an expired token is refused");

    // Logout revokes every token of the account.
    let a = resume_token(&post(&server, "/v1/login", &creds("alice", "correct horse")));
    let b = resume_token(&post(&server, "/v1/login", &creds("alice", "correct horse")));
    let out = post(&server, "/v1/logout", &serde_json::json!({ "resume_token": a }).to_string());
    assert_eq!(out.status, 204);
    assert_eq!(resume(&server, &b).status, 401, "logout revoked the others too");
    let rows: i64 = db.query_row("SELECT COUNT(*) FROM access_log WHERE event = 'resume'", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1, "the resume is in the access log as such");
}

/// Resume never gets around a lockout or a kick.
#[test]
fn a_resume_token_does_not_bypass_a_lockout_or_a_kick() {
    let dir = tempfile::tempdir().unwrap();
    let token = "resume-test-admin-token";
    let config = Config {
        npcs: 0,
        admin_token: Some(tickforge_server::secrets::AdminToken::new(token.into()).unwrap()),
        ..Config::ephemeral(dir.path())
    };
    let server = EmbeddedServer::start(config).unwrap();
    assert_eq!(post(&server, "/v1/register", &creds("alice", "correct horse")).status, 201);
    assert_eq!(post(&server, "/v1/register", &creds("bob", common::PASSWORD)).status, 201);
    let alice = resume_token(&post(&server, "/v1/login", &creds("alice", "correct horse")));
    for _ in 0..5 {
        assert_eq!(post(&server, "/v1/login", &creds("alice", "wrong horse")).status, 401);
    }
    let locked = resume(&server, &alice);
    assert_eq!(locked.status, 429, "a locked-out account stays locked out: {}", locked.body);

    let login = post(&server, "/v1/login", &creds("bob", common::PASSWORD));
    let bob = resume_token(&login);
    let mut session = common::join(&server.http_url(), "bob");
    let _ = session.update();
    let kick = common::post(&format!("{}/admin/kick", server.admin_url()), r#"{"username":"bob"}"#, Some(token));
    assert_eq!(kick.status, 200, "{}", kick.body);
    assert_eq!(resume(&server, &bob).status, 401, "a kick revokes the player's resume tokens");
}

/// A new password works, the old one no longer does, and every resume
/// token issued before is revoked; a wrong old password changes nothing.
#[test]
fn a_password_change_revokes_resume_tokens() {
    let (_dir, server) = start();
    assert_eq!(post(&server, "/v1/register", &creds("alice", "correct horse")).status, 201);
    let token = resume_token(&post(&server, "/v1/login", &creds("alice", "correct horse")));
    let change = |old: &str, new: &str| {
        let body = serde_json::json!({ "username": "alice", "password": old, "new_password": new }).to_string();
        post(&server, "/v1/password", &body)
    };
    assert_eq!(change("wrong horse", "battery staple").status, 401);
    assert_eq!(change("correct horse", "short").status, 400, "the new password follows the rules");
    assert_eq!(change("correct horse", "battery staple").status, 204);
    assert_eq!(post(&server, "/v1/login", &creds("alice", "correct horse")).status, 401, "the old one is gone");
    assert_eq!(post(&server, "/v1/login", &creds("alice", "battery staple")).status, 200);
    assert_eq!(resume(&server, &token).status, 401, "tokens from before the change are revoked");
}
