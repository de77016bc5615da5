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
