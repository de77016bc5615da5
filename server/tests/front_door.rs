//! The front door under attack, with real sockets from distinct loopback
//! addresses: a half-open flood from 127.0.0.2 (and from 127.0.0.1 itself)
//! does not shut out 127.0.0.3; wrong passwords from one address lock
//! that address, not the account; a refused login never spends a resume
//! token; account creation is limited per address; every error is JSON;
//! `/healthz` and `/readyz` on every role.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use common::from;
use common::{PASSWORD, Running, creds, spawn};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const BYSTANDER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One `/metrics` figure, matched by its whole name and labels.
fn figure(admin_url: &str, series: &str) -> f64 {
    let text = from::get(BYSTANDER, admin_url, "/metrics").expect("/metrics answers").body;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

/// Opens `count` connections from `from` to `base` that each send half a
/// request head and then nothing; returns those the server did not close
/// at once (still open after a moment).
fn half_open(from: IpAddr, base: &str, count: usize) -> Vec<TcpStream> {
    let to = from::addr_of(base);
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        // The listener's backlog may be full for a moment: that is a
        // refusal too, not a test failure.
        if let Ok(mut stream) = from::connect(from, to) {
            let _ = stream.write_all(b"POST /v1/login HTTP/1.1\r\nHost: x\r\n");
            held.push(stream);
        }
    }
    held
}

/// Every probe of a bystander answers (within the client's 5-s timeout)
/// with the expected status.
fn probe(server: &Running) {
    let health = from::get(BYSTANDER, &server.http_url, "/healthz").expect("/healthz answers during the flood");
    assert_eq!(health.status, 200, "{}", health.body);
    let login = from::post(BYSTANDER, &server.http_url, "/v1/login", &creds("bystander", PASSWORD))
        .expect("/v1/login answers during the flood");
    assert_eq!(login.status, 200, "{}", login.body);
    let metrics = from::get(BYSTANDER, &server.admin_url, "/metrics").expect("/metrics answers during the flood");
    assert_eq!(metrics.status, 200);
}

fn start(extra: &[&str]) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), extra, &[]);
    (server, dir)
}

#[test]
fn a_half_open_flood_neither_shuts_out_others_nor_stops_the_tick() {
    // Room for the test's own sockets (the server raises its own limit).
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let (server, _dir) = start(&["--http-header-timeout", "3", "--http-max-per-address", "64"]);
    let registered = from::post(BYSTANDER, &server.http_url, "/v1/register", &creds("bystander", PASSWORD)).unwrap();
    assert_eq!(registered.status, 201, "{}", registered.body);
    let ticks_before = figure(&server.admin_url, "tickforge_ticks_total");

    let mut held = half_open(ATTACKER, &server.http_url, 3000);
    held.extend(half_open(LOCAL, &server.http_url, 1000));
    let reached_auth = held.len() as f64;
    assert!(reached_auth > 2000.0, "the flood got through to the listener: {reached_auth}");
    held.extend(half_open(ATTACKER, &server.admin_url, 500));
    let flood_end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < flood_end {
        probe(&server);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Each address got its share and no more; the rest was closed as soon
    // as the listener took it from the kernel's queue.
    let settled = Instant::now() + Duration::from_secs(5);
    while figure(&server.admin_url, r#"tickforge_http_connections_accepted_total{listener="auth"}"#)
        + figure(&server.admin_url, r#"tickforge_http_connections_refused_total{listener="auth",reason="address"}"#)
        < reached_auth
        && Instant::now() < settled
    {
        probe(&server);
    }
    let refused =
        figure(&server.admin_url, r#"tickforge_http_connections_refused_total{listener="auth",reason="address"}"#);
    assert!(refused >= reached_auth - 2.0 * 64.0, "refused per address: {refused} of {reached_auth}");
    assert!(
        figure(&server.admin_url, r#"tickforge_http_connections_refused_total{listener="admin",reason="address"}"#)
            > 0.0
    );
    let open = figure(&server.admin_url, r#"tickforge_http_connections{listener="auth"}"#);
    assert!(open <= 2.0 * 64.0 + 2.0, "open connections held to the per-address bound: {open}");

    // The half-sent heads are closed by the header timeout.
    std::thread::sleep(Duration::from_secs(4));
    probe(&server);
    let timed_out = figure(
        &server.admin_url,
        r#"tickforge_http_connections_closed_total{listener="auth",reason="header_timeout"}"#,
    );
    assert!(timed_out >= 2.0 * 64.0, "half-sent heads closed by the header timeout: {timed_out}");
    let open = figure(&server.admin_url, r#"tickforge_http_connections{listener="auth"}"#);
    assert!(open <= 2.0, "the flood's connections are gone: {open}");
    drop(held);

    assert!(figure(&server.admin_url, "tickforge_ticks_total") > ticks_before, "the tick kept running");
    assert_eq!(figure(&server.admin_url, "tickforge_ticks_skipped_total"), 0.0, "no tick was skipped");
    let logs = server.interrupt();
    let reports = logs.matches("connections refused since the last report").count();
    assert!((1..=4).contains(&reports), "refusals are reported once per interval, not per connection: {reports}");
    assert!(logs.contains("open-file limit"), "the descriptor limit is logged at start");
}

#[test]
fn wrong_passwords_lock_the_guessing_address_not_the_account() {
    let (server, dir) = start(&[]);
    let url = &server.http_url;
    for name in ["victim", "other"] {
        assert_eq!(from::post(BYSTANDER, url, "/v1/register", &creds(name, PASSWORD)).unwrap().status, 201);
    }
    // The victim, at the attacker's address (a shared NAT), holds a resume token.
    let session = from::post(ATTACKER, url, "/v1/login", &creds("victim", PASSWORD)).unwrap();
    assert_eq!(session.status, 200, "{}", session.body);
    let resume = session.json()["resume_token"].as_str().unwrap().to_owned();
    let resume_body = serde_json::json!({ "resume_token": resume }).to_string();

    for _ in 0..5 {
        assert_eq!(from::post(ATTACKER, url, "/v1/login", &creds("victim", "wrong password")).unwrap().status, 401);
    }
    // That pair is locked: even the right password, even a resume token.
    let locked = from::post(ATTACKER, url, "/v1/login", &creds("victim", PASSWORD)).unwrap();
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.retry_after.is_some());
    assert_eq!(from::post(ATTACKER, url, "/v1/resume", &resume_body).unwrap().status, 429);
    // The address may still log in to an account it has not failed.
    assert_eq!(from::post(ATTACKER, url, "/v1/login", &creds("other", PASSWORD)).unwrap().status, 200);
    // The victim elsewhere logs in at once, and the refused resume did not spend the token.
    assert_eq!(from::post(BYSTANDER, url, "/v1/login", &creds("victim", PASSWORD)).unwrap().status, 200);
    let resumed = from::post(BYSTANDER, url, "/v1/resume", &resume_body).unwrap();
    assert_eq!(resumed.status, 200, "a refused resume leaves the token good: {}", resumed.body);

    // Random names from the attacker: after the address's limit, the whole
    // address is locked — and still no one else is.
    let mut statuses = Vec::new();
    for i in 0..40 {
        statuses.push(
            from::post(ATTACKER, url, "/v1/login", &creds(&format!("guess{i}"), "wrong password")).unwrap().status,
        );
    }
    assert!(statuses.iter().all(|s| matches!(s, 401 | 429)), "{statuses:?}");
    assert!(statuses.contains(&429), "the guessing address is locked: {statuses:?}");
    assert_eq!(from::post(ATTACKER, url, "/v1/login", &creds("other", PASSWORD)).unwrap().status, 429);
    for name in ["victim", "other"] {
        assert_eq!(from::post(BYSTANDER, url, "/v1/login", &creds(name, PASSWORD)).unwrap().status, 200, "{name}");
    }

    // The access log names the real addresses; the refusals are summed
    // (written at shutdown at the latest), not one row each.
    let refused = 3 + statuses.iter().filter(|s| **s == 429).count() as i64;
    server.interrupt();
    let db = rusqlite::Connection::open(dir.path().join("tickforge.db")).unwrap();
    let (rows, repeats): (i64, i64) = db
        .query_row(
            "SELECT count(*), sum(repeats) FROM access_log WHERE event = 'login_locked' AND peer LIKE '127.0.0.2:%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(repeats, refused, "every refusal counted");
    assert!(rows <= 3, "summed into a few rows, not {rows}");
    let failed: i64 = db
        .query_row(
            "SELECT count(*) FROM access_log WHERE event = 'login_failed' AND peer LIKE '127.0.0.2:%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(failed >= 5, "the failures are each written, with the guesser's address: {failed}");
}

#[test]
fn account_creation_is_limited_per_address() {
    let (server, _dir) = start(&["--max-registrations-per-hour", "3"]);
    let url = &server.http_url;
    for i in 0..3 {
        assert_eq!(
            from::post(ATTACKER, url, "/v1/register", &creds(&format!("made{i}"), PASSWORD)).unwrap().status,
            201
        );
    }
    let refused = from::post(ATTACKER, url, "/v1/register", &creds("made3", PASSWORD)).unwrap();
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.content_type.starts_with("application/json"));
    let wait: u64 = refused.retry_after.expect("Retry-After").parse().unwrap();
    assert!(wait > 0);
    // Another address is not held back, and the refused name was not taken.
    assert_eq!(from::post(BYSTANDER, url, "/v1/register", &creds("made3", PASSWORD)).unwrap().status, 201);
    assert!(figure(&server.admin_url, "tickforge_registrations_limited_total") >= 1.0);
}

#[test]
fn every_error_is_json_and_every_role_answers_healthz_and_readyz() {
    let (server, _dir) = start(&[]);
    let url = &server.http_url;
    let missing = from::get(BYSTANDER, url, "/no/such/path").unwrap();
    assert_eq!(missing.status, 404);
    let method = from::get(BYSTANDER, url, "/v1/login").unwrap();
    assert_eq!(method.status, 405);
    let big = format!("{{\"username\":\"x\",\"password\":\"{}\"}}", "p".repeat(200_000));
    let too_big = from::post(BYSTANDER, url, "/v1/login", &big).unwrap();
    assert_eq!(too_big.status, 413);
    for reply in [&missing, &method, &too_big] {
        assert!(reply.content_type.starts_with("application/json"), "{reply:?}");
        assert!(reply.json()["error"].is_string(), "{reply:?}");
    }
    for base in [url, &server.admin_url] {
        assert_eq!(from::get(BYSTANDER, base, "/healthz").unwrap().status, 200);
        let ready = from::get(BYSTANDER, base, "/readyz").unwrap();
        assert_eq!(ready.status, 200, "{base}: {}", ready.body);
        assert_eq!(ready.json()["status"], "ready");
    }
    let logs = server.interrupt();
    assert!(!logs.contains("panicked"));
}
