//! A throwaway PostgreSQL server for one test binary: `initdb` into a
//! temporary directory, `postgres` on a free loopback port (as the
//! `postgres` user when the tests run as root: PostgreSQL refuses root),
//! stopped and removed by a watchdog once the test binary has exited. Each
//! test gets a database of its own from [`database`].
//!
//! PostgreSQL must be installed (`scripts/test.sh` installs Debian's
//! `postgresql`); without it the tests fail with that instruction, never
//! skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tickforge_server::store::DatabaseUrl;

/// A PostgreSQL server of the tests: its port and files. A watchdog shell
/// keeps it running while `<dir>/down` is absent (so a test can take the
/// database away and bring it back), and stops it and removes its files
/// once the test binary has exited, however it exits.
pub struct Instance {
    port: u16,
    dir: PathBuf,
    /// Kept, never waited for: it outlives the test binary on purpose.
    _watchdog: std::process::Child,
}

static SERVER: OnceLock<Instance> = OnceLock::new();

/// The directory holding `initdb` and `postgres`.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TICKFORGE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `scripts/test.sh`, which \
             installs it, or `apt-get install postgresql`, or set TICKFORGE_PG_BIN"
        )
    })
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// A command run as the `postgres` user when we are root.
fn as_owner(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Instance {
    /// A server of its own, for a test that stops and starts it.
    pub fn private() -> Self {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("tickforge-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        if running_as_root() {
            let status = Command::new("chown").args(["postgres:", dir.to_str().unwrap()]).status().unwrap();
            assert!(status.success(), "chown {} to postgres", dir.display());
        }
        let data = dir.join("data");
        let out = as_owner(&bin.join("initdb"))
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let script = format!(
            "pg=; while [ -d /proc/{parent} ]; do \
               if [ -e {dir}/down ]; then \
                 if [ -n \"$pg\" ]; then kill -INT $pg; wait $pg; pg=; fi; \
               elif [ -z \"$pg\" ] || ! kill -0 $pg 2>/dev/null; then \
                 {postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=200 \
                   -c shared_buffers=16MB >>{dir}/log 2>&1 & pg=$!; \
               fi; sleep 0.2; \
             done; \
             if [ -n \"$pg\" ]; then kill -INT $pg; wait $pg; fi; rm -rf {dir}",
            postgres = bin.join("postgres").display(),
            data = data.display(),
            dir = dir.display(),
            parent = std::process::id(),
        );
        #[allow(clippy::zombie_processes)]
        let watchdog = as_owner(Path::new("/bin/sh"))
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let instance = Self { port, dir, _watchdog: watchdog };
        instance.wait_until(true);
        instance
    }

    fn admin_url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=1", self.port)
    }

    /// Waits until the server accepts connections (`up`) or refuses them.
    fn wait_until(&self, up: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while postgres::Client::connect(&self.admin_url(), postgres::NoTls).is_ok() != up {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not {}: {}",
                if up { "start" } else { "stop" },
                self.dir.join("log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A fresh, empty database on this server.
    pub fn database(&self, name: &str) -> DatabaseUrl {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let db = format!("{name}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut client =
            postgres::Client::connect(&self.admin_url(), postgres::NoTls).expect("connect to the test PostgreSQL");
        client.batch_execute(&format!("CREATE DATABASE {db}")).expect("create test database");
        DatabaseUrl::parse(&format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)).unwrap()
    }

    /// Stops the server (a fast shutdown: clients are disconnected) and
    /// waits until it refuses connections.
    pub fn stop(&self) {
        std::fs::write(self.dir.join("down"), b"").unwrap();
        self.wait_until(false);
    }

    /// Starts it again on the same port and files, and waits until it is up.
    pub fn start(&self) {
        std::fs::remove_file(self.dir.join("down")).unwrap();
        self.wait_until(true);
    }
}

/// A fresh, empty database on the throwaway server this test binary shares.
pub fn database(name: &str) -> DatabaseUrl {
    SERVER.get_or_init(Instance::private).database(name)
}

/// A connection to a test database, for checking what was written.
pub fn connect(url: &DatabaseUrl) -> postgres::Client {
    let DatabaseUrl::Postgres(url) = url else { panic!("not a PostgreSQL URL: {url}") };
    postgres::Client::connect(url, postgres::NoTls).expect("connect to the test database")
}
