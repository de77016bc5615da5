//! Helpers shared by the integration tests: HTTP calls, real clients, and
//! the server binary as a child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickforge_client::games::{ArenaClient, ClientGame};
use tickforge_client::session::{GameSession, LoginOptions, Session};
use tickforge_shared::sim::{Simulation, Vec2};

pub mod cluster;
pub mod from;
pub mod nginx;
pub mod pg;

/// The password every test account uses.
pub const PASSWORD: &str = "s3cret-Passw0rd-XYZ";

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap_or_default().to_owned());
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    Reply {
        status: response.status().as_u16(),
        content_type,
        retry_after,
        body: response.body_mut().read_to_string().unwrap(),
    }
}

/// POSTs a raw body, with an optional bearer token.
pub fn post(url: &str, body: &str, bearer: Option<&str>) -> Reply {
    let mut request = agent().post(url).header("content-type", "application/json");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    reply(request.send(body).expect("HTTP request"))
}

/// GETs a URL, with an optional bearer token.
pub fn get(url: &str, bearer: Option<&str>) -> Reply {
    let mut request = agent().get(url);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    reply(request.call().expect("HTTP request"))
}

/// A credentials body.
pub fn creds(user: &str, password: &str) -> String {
    serde_json::json!({ "username": user, "password": password }).to_string()
}

/// Whether the `/metrics` figure `name` reaches `at_least` within 5 s
/// (figures are published once a second).
pub fn metric_reaches(admin_url: &str, name: &str, at_least: f64) -> bool {
    let value = || metric_value(admin_url, name);
    let deadline = Instant::now() + Duration::from_secs(5);
    while value() < at_least && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    value() >= at_least
}

/// The unlabelled metric `name` in the server's `/metrics` now (0 when absent).
pub fn metric_value(admin_url: &str, name: &str) -> f64 {
    let metrics = get(&format!("{admin_url}/metrics"), None).body;
    let line = metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned));
    line.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
}

/// How a test client logs `user` in (with [`PASSWORD`]), registering first if `register`.
pub fn login_options(http_url: &str, user: &str, register: bool) -> LoginOptions {
    LoginOptions {
        server_url: http_url.to_owned(),
        username: user.into(),
        password: PASSWORD.into(),
        register,
        ca_cert: None,
        game: None,
    }
}

/// Registers (if needed), logs in and connects a real client.
pub fn join(http_url: &str, user: &str) -> Session {
    let options = login_options(http_url, user, true);
    let mut session = Session::login(&options).expect("login");
    session.wait_connected(Duration::from_secs(10)).expect("connected");
    session
}

/// Pumps the sessions for `duration`, each sending its intent every 33 ms.
pub fn play(sessions: &mut [(&mut Session, (f32, f32))], duration: Duration) {
    let steers: Vec<Vec2> = sessions.iter().map(|(_, (x, y))| Vec2::new(*x, *y)).collect();
    let mut sessions: Vec<&mut Session> = sessions.iter_mut().map(|(session, _)| &mut **session).collect();
    drive(&mut sessions, duration, |i, _| ArenaClient::steer(steers[i]), |_| false);
}

/// Plays `sessions` as their clients would: reads every one continuously
/// and, each tick (33 ms), sends each the input `input` gives for it (by
/// its index, with all the sessions at hand). Stops when `done` holds
/// (`true`) or after `limit` (whether `done` holds then). A session that
/// ends fails the test.
pub fn drive<G: ClientGame>(
    sessions: &mut [&mut GameSession<G>],
    limit: Duration,
    mut input: impl FnMut(usize, &mut [&mut GameSession<G>]) -> <G::Sim as Simulation>::Input,
    mut done: impl FnMut(&[&mut GameSession<G>]) -> bool,
) -> bool {
    let start = Instant::now();
    let tick = Duration::from_millis(33);
    let mut next = start;
    while start.elapsed() < limit {
        for (i, session) in sessions.iter_mut().enumerate() {
            session.update().unwrap_or_else(|e| panic!("session {i} ended: {e}"));
        }
        if done(sessions) {
            return true;
        }
        if Instant::now() >= next {
            next += tick;
            for i in 0..sessions.len() {
                let command = input(i, sessions);
                sessions[i].send(command);
            }
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    done(sessions)
}

/// Pumps a session until `done` holds or `timeout` passes; returns whether it held.
pub fn pump_until(session: &mut Session, timeout: Duration, mut done: impl FnMut(&Session) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done(session) {
            return true;
        }
        let _ = session.update();
        std::thread::sleep(Duration::from_millis(10));
    }
    done(session)
}

/// The server binary running as a child process.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Auth API base URL (empty for `--role app`).
    pub http_url: String,
    /// Admin API base URL.
    pub admin_url: String,
    /// The game address tokens name (empty for `--role auth`).
    pub public_addr: String,
}

/// Starts the server binary on free loopback ports with `extra` flags and `env`.
pub fn spawn(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickforge-server"));
    command
        .args([
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
        ])
        .args(["--admin", "127.0.0.1:0", "--npcs", "5"])
        .args(extra)
        // Tests register many accounts from one loopback address; the
        // registration limit is tested where a test names it.
        .args(if extra.contains(&"--max-registrations-per-hour") {
            &[][..]
        } else {
            &["--max-registrations-per-hour", "0"][..]
        })
        .env("RUST_LOG", "debug")
        .env_remove("TICKFORGE_PRIVATE_KEY")
        .env_remove("TICKFORGE_DATABASE_URL")
        .env_remove("TICKFORGE_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let field = |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_owned);
    let admin = field("admin=").unwrap_or_else(|| panic!("no admin= in {line:?}"));
    Running {
        http_url: field("http=").map(|h| format!("http://{h}")).unwrap_or_default(),
        admin_url: format!("http://{admin}"),
        public_addr: field("public=").unwrap_or_default(),
        child,
    }
}

impl Running {
    /// Sends a signal by name (`INT`, `KILL`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end; returns its exit status and everything it logged.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut logs = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
        (exit, logs)
    }

    /// SIGINT, expect exit 0, return the logs.
    pub fn interrupt(self) -> String {
        self.signal("INT");
        let (exit, logs) = self.wait();
        assert!(exit.success(), "clean shutdown exits 0, got {exit:?}\n{logs}");
        logs
    }

    /// SIGKILL: no goodbye, no flush.
    pub fn kill(self) {
        self.signal("KILL");
        let _ = self.wait();
    }
}
