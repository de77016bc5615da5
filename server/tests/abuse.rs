//! Login that resists abuse: lockout and its expiry, a bounded hashing
//! queue, username normalization, HTTPS.

mod common;

use std::time::Duration;

use common::{PASSWORD, creds, post};
use tickforge_server::Config;
use tickforge_server::auth::limiter::LimitConfig;
use tickforge_server::embedded::EmbeddedServer;

fn login(server: &EmbeddedServer, user: &str, password: &str) -> common::Reply {
    post(&format!("{}/v1/login", server.http_url()), &creds(user, password), None)
}

fn register(server: &EmbeddedServer, user: &str) -> common::Reply {
    post(&format!("{}/v1/register", server.http_url()), &creds(user, PASSWORD), None)
}

#[test]
fn repeated_failures_lock_the_account_until_the_lockout_expires() {
    let dir = tempfile::tempdir().unwrap();
    let limits =
        LimitConfig { account_failures: 3, ip_failures: 100, lockout: Duration::from_secs(2), ..Default::default() };
    let server =
        EmbeddedServer::start(Config { npcs: 0, login_limits: limits, ..Config::ephemeral(dir.path()) }).unwrap();
    assert_eq!(register(&server, "alice").status, 201);
    for _ in 0..3 {
        assert_eq!(login(&server, "alice", "wrong password").status, 401);
    }
    // Locked: even the right password is refused, without saying why beyond "later".
    let locked = login(&server, "alice", PASSWORD);
    assert_eq!(locked.status, 429);
    assert_eq!(locked.body, r#"{"error":"too many attempts, try again later"}"#);
    let wait: u64 = locked.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // An unknown account locks the same way (no account enumeration).
    for _ in 0..3 {
        assert_eq!(login(&server, "nobody", "wrong password").status, 401);
    }
    assert_eq!(login(&server, "nobody", "wrong password").body, locked.body);

    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(login(&server, "alice", PASSWORD).status, 200, "the lockout expired");
}

#[test]
fn a_full_hashing_queue_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { npcs: 0, hash_workers: 1, hash_queue: 1, ..Config::ephemeral(dir.path()) };
    let server = EmbeddedServer::start(config).unwrap();
    let url = format!("{}/v1/register", server.http_url());
    let replies: Vec<common::Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                s.spawn({
                    let url = &url;
                    move || post(url, &creds(&format!("user{i}"), PASSWORD), None)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert!(!busy.is_empty(), "12 parallel hashes with 1 worker and 1 queue place: some must be refused");
    assert!(busy.iter().all(|r| r.retry_after.as_deref() == Some("1")));
    assert!(replies.iter().all(|r| r.status == 201 || r.status == 503), "{replies:?}");
    // The server is fine afterwards.
    assert_eq!(register(&server, "later").status, 201);
}

#[test]
fn usernames_are_normalized() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let created = register(&server, "ａｌｉｃｅ");
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["username"], "alice");
    assert_eq!(register(&server, "alice").status, 409);
    assert_eq!(login(&server, "ＡＬＩＣＥ", PASSWORD).status, 200);
    let bad = register(&server, "bad/name");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("letters, digits"));
}

#[test]
fn the_auth_api_serves_https_when_given_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let tls = tickforge_server::auth::tls::TlsFiles { cert: cert_path, key: key_path };
    let config = Config { npcs: 0, tls: Some(tls), ..Config::ephemeral(dir.path().join("data")) };
    let server = EmbeddedServer::start(config).unwrap();
    let https = format!("https://{}", server.http_addr());

    let client = tickforge_client::login::AuthClient::with_ca_pem(&https, cert.cert.pem().as_bytes()).unwrap();
    client.register("alice", PASSWORD).unwrap();
    let login = client.login("alice", PASSWORD).unwrap();
    assert_eq!(login.connect_token.len(), 2048);
    // A client that does not trust the certificate refuses to talk.
    assert!(tickforge_client::login::AuthClient::new(&https).login("alice", PASSWORD).is_err());
    // Plain HTTP to the TLS port gets nowhere.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    assert!(agent.get(format!("http://{}/healthz", server.http_addr())).call().is_err());
}

/// New players arriving at once at a server whose hashing queue holds one:
/// a registration refused as busy is tried again as a registration (never
/// taken for done), so every one of them gets in with its password.
#[test]
fn new_players_arriving_at_once_all_get_in_when_registration_is_busy() {
    use tickforge_client::session::{LoginOptions, Session};
    let dir = tempfile::tempdir().unwrap();
    let config = Config { npcs: 0, hash_workers: 1, hash_queue: 1, ..Config::ephemeral(dir.path()) };
    let server = EmbeddedServer::start(config).unwrap();
    let url = server.http_url();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    let options = LoginOptions {
                        server_url: url,
                        username: format!("newcomer{i}"),
                        password: PASSWORD.into(),
                        register: true,
                        ca_cert: None,
                        game: None,
                    };
                    Session::login(&options).map(|_| ()).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(
        common::metric_reaches(&server.admin_url(), "tickforge_http_busy_total", 1.0),
        "the queue was full at least once"
    );
}
