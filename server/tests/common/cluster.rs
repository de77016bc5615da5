//! A whole cluster of real processes for one test: auth nodes (`--role
//! auth`) behind an nginx gateway, app servers (`--role app`), all on one
//! PostgreSQL database with one shared netcode key.

use std::time::{Duration, Instant};

use serde_json::Value;
use tickforge_server::store::DatabaseUrl;

use super::nginx::Gateway;
use super::{Running, get, spawn};

/// The admin token every node of a test cluster takes.
pub const TOKEN: &str = "cluster-test-admin-token";

/// The shared netcode key (hex), the same on every node.
pub const KEY: &str = "5c6f0b3e9a1d4f27c8e5b2a0d9f3c6e1a4b7d0e3f6a9c2b5e8d1f4a7c0b3e6d9";

/// The running cluster. Nodes can be killed and started again.
pub struct Cluster {
    /// nginx in front of the auth nodes.
    pub gateway: Gateway,
    /// Auth nodes (`None` once killed).
    pub auth: Vec<Option<Running>>,
    /// App servers `app-1`… (`None` once killed).
    pub apps: Vec<Option<Running>>,
    database: String,
    app_flags: Vec<Vec<String>>,
    dirs: Vec<tempfile::TempDir>,
}

fn database_url(database: &DatabaseUrl) -> String {
    match database {
        DatabaseUrl::Postgres(url) => url.clone(),
        DatabaseUrl::Sqlite(_) => panic!("a cluster needs PostgreSQL"),
    }
}

impl Cluster {
    /// `auth` auth nodes and one app server per entry of `apps` (its extra flags).
    pub fn start(database: &DatabaseUrl, auth: usize, apps: &[&[&str]]) -> Self {
        let database = database_url(database);
        let mut dirs = Vec::new();
        let mut auth_nodes = Vec::new();
        for _ in 0..auth {
            let dir = tempfile::tempdir().unwrap();
            auth_nodes.push(Some(spawn_node(
                dir.path(),
                &database,
                &["--role", "auth", "--trusted-proxy", "127.0.0.1"],
            )));
            dirs.push(dir);
        }
        let urls: Vec<&str> = auth_nodes.iter().flatten().map(|n| n.http_url.as_str()).collect();
        let gateway = Gateway::start(&urls);
        let mut cluster = Self {
            gateway,
            auth: auth_nodes,
            apps: Vec::new(),
            database,
            app_flags: apps.iter().map(|f| f.iter().map(|s| (*s).to_owned()).collect()).collect(),
            dirs,
        };
        for index in 0..apps.len() {
            let node = cluster.spawn_app(index);
            cluster.apps.push(Some(node));
        }
        cluster.until("every app server ready", |view| {
            (1..=apps.len()).all(|i| server(view, &format!("app-{i}")).is_some_and(|s| s["state"] == "ready"))
        });
        cluster
    }

    fn spawn_app(&mut self, index: usize) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let id = format!("app-{}", index + 1);
        let mut args: Vec<&str> = vec!["--role", "app", "--server-id", &id];
        args.extend(self.app_flags[index].iter().map(String::as_str));
        let node = spawn_node(dir.path(), &self.database, &args);
        self.dirs.push(dir);
        node
    }

    /// Starts one more app server (`app-N`, the next number) with `flags`;
    /// returns N once it is registered (in any state but `starting`).
    pub fn start_app(&mut self, flags: &[&str]) -> usize {
        self.app_flags.push(flags.iter().map(|s| (*s).to_owned()).collect());
        let index = self.apps.len();
        let node = self.spawn_app(index);
        self.apps.push(Some(node));
        let id = format!("app-{}", index + 1);
        self.until("the new app server registered", |v| server(v, &id).is_some_and(|s| s["state"] != "starting"));
        index + 1
    }

    /// Waits for `app-{n}` to exit by itself; its exit status.
    pub fn app_exits(&mut self, n: usize, within: Duration) -> std::process::ExitStatus {
        let node = self.apps[n - 1].as_mut().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = node.child.try_wait().unwrap() {
                self.apps[n - 1] = None;
                return status;
            }
            assert!(Instant::now() < deadline, "app-{n} did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `POST /admin/deploy` on a live auth node.
    pub fn deploy(&self, colour: &str) {
        let body = format!(r#"{{"colour":"{colour}"}}"#);
        let reply = super::post(&format!("{}/admin/deploy", self.admin()), &body, Some(TOKEN));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["active_colour"], colour);
    }

    /// The admin URL of a live auth node.
    pub fn admin(&self) -> String {
        self.auth.iter().flatten().next().expect("a live auth node").admin_url.clone()
    }

    /// `GET /admin/cluster` from a live auth node.
    pub fn view(&self) -> Value {
        let reply = get(&format!("{}/admin/cluster", self.admin()), Some(TOKEN));
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    /// The registry once `done` holds for it (or panics after 20 s). A 503
    /// (the node's store is reconnecting to the database) is "not yet".
    pub fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let reply = get(&format!("{}/admin/cluster", self.admin()), Some(TOKEN));
            assert!(matches!(reply.status, 200 | 503), "{}: {}", reply.status, reply.body);
            let view = if reply.status == 200 { reply.json() } else { Value::Null };
            if reply.status == 200 && done(&view) {
                return view;
            }
            assert!(Instant::now() < deadline, "{what}: {view}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Players per app server id, as the registry shows them.
    pub fn players(&self) -> Vec<(String, u64)> {
        let view = self.view();
        let mut players: Vec<(String, u64)> = view["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["players"].as_u64().unwrap()))
            .collect();
        players.sort();
        players
    }

    /// kill -9 of app server `app-{n}`.
    pub fn kill_app(&mut self, n: usize) {
        self.apps[n - 1].take().expect("running").kill();
    }

    /// kill -9 of auth node `n` (from 1).
    pub fn kill_auth(&mut self, n: usize) {
        self.auth[n - 1].take().expect("running").kill();
    }

    /// The public game address of `app-{n}`.
    pub fn app_addr(&self, n: usize) -> String {
        self.apps[n - 1].as_ref().expect("running").public_addr.clone()
    }
}

/// A registry row by id.
pub fn server<'a>(view: &'a Value, id: &str) -> Option<&'a Value> {
    view["servers"].as_array().unwrap().iter().find(|s| s["id"] == id)
}

fn spawn_node(dir: &std::path::Path, database: &str, args: &[&str]) -> Running {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--database", database, "--save-interval", "1"]);
    spawn(dir, &all, &[("TICKFORGE_ADMIN_TOKEN", TOKEN), ("TICKFORGE_PRIVATE_KEY", KEY)])
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.apps.iter_mut().chain(self.auth.iter_mut()) {
            if let Some(node) = node.take() {
                node.kill();
            }
        }
    }
}
