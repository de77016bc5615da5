//! A throwaway PostgreSQL server for one test binary: `initdb` into a
//! temporary directory, `postgres` on a free loopback port (as the
//! `postgres` user when the tests run as root: PostgreSQL refuses root),
//! stopped and removed by a watchdog once the test binary has exited. Each
//! test gets a database of its own from [`database`].
//!
//! A pair for the database-cluster tests: [`Instance::primary`] and
//! [`Instance::standby_of`] it (PostgreSQL's own streaming replication from
//! `pg_basebackup`, commits waiting for the standby), which a test can
//! [`Instance::crash`] and [`Instance::promote`].
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
        let dir = Self::new_dir();
        Self::initdb(&dir);
        Self::launch(dir, "private")
    }

    /// A primary whose commits wait for a standby named `standby` while
    /// one streams (`tickforge.synchronous_standby`; the servers' watch
    /// keeps `synchronous_standby_names` to it, empty while none streams).
    /// It starts with `synchronous_standby_names` already set: start its
    /// [`Instance::standby_of`] before writing to it.
    pub fn primary() -> Self {
        let dir = Self::new_dir();
        Self::initdb(&dir);
        let conf = dir.join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nsynchronous_standby_names = 'standby'\ntickforge.synchronous_standby = 'standby'\n");
        std::fs::write(&conf, text).unwrap();
        Self::launch(dir, "primary")
    }

    /// A hot standby of `primary`, streaming from it (`pg_basebackup -R`).
    pub fn standby_of(primary: &Instance) -> Self {
        let bin = bin_dir();
        let dir = Self::new_dir();
        let data = dir.join("data");
        let out = as_owner(&bin.join("pg_basebackup"))
            .args(["-h", "127.0.0.1", "-p", &primary.port.to_string(), "-U", "postgres", "-D"])
            .arg(&data)
            .args(["-X", "stream", "-R", "--no-sync"])
            .output()
            .expect("run pg_basebackup");
        assert!(out.status.success(), "pg_basebackup failed: {}", String::from_utf8_lossy(&out.stderr));
        Self::launch(dir, "standby")
    }

    fn new_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tickforge-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        if running_as_root() {
            let status = Command::new("chown").args(["postgres:", dir.to_str().unwrap()]).status().unwrap();
            assert!(status.success(), "chown {} to postgres", dir.display());
        }
        dir
    }

    fn initdb(dir: &Path) {
        let out = as_owner(&bin_dir().join("initdb"))
            .args([
                "-D",
                dir.join("data").to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs `postgres` on the files in `dir` under a watchdog, as
    /// `cluster_name` `name` (a standby's name on its primary).
    fn launch(dir: PathBuf, name: &str) -> Self {
        let bin = bin_dir();
        let data = dir.join("data");
        let port = free_port();
        // `crash`: kill -9 the postmaster and its backends, and stay down.
        let script = format!(
            "pg=; while [ -d /proc/{parent} ]; do \
               if [ -e {dir}/crash ]; then \
                 if [ -n \"$pg\" ]; then pkill -KILL -P $pg; kill -KILL $pg; wait $pg; pg=; fi; \
               elif [ -e {dir}/down ]; then \
                 if [ -n \"$pg\" ]; then kill -INT $pg; wait $pg; pg=; fi; \
               elif [ -z \"$pg\" ] || ! kill -0 $pg 2>/dev/null; then \
                 {postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=200 \
                   -c shared_buffers=16MB -c cluster_name={name} >>{dir}/log 2>&1 & pg=$!; \
               fi; sleep 0.1; \
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

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it as a power cut would (`kill -9`, its backends too) and
    /// keeps it down; waits until it refuses connections.
    pub fn crash(&self) {
        std::fs::write(self.dir.join("crash"), b"").unwrap();
        self.wait_until(false);
    }

    /// Promotes a standby to primary (`pg_promote`, waiting for it).
    pub fn promote(&self) {
        let mut client = postgres::Client::connect(&self.admin_url(), postgres::NoTls).expect("connect to the standby");
        let promoted: bool = client.query_one("SELECT pg_promote(true, 60)", &[]).expect("pg_promote").get(0);
        assert!(promoted, "the standby was promoted");
    }

    /// A fresh, empty database on this primary, reached through a URL
    /// listing this primary and `standby` (`target_session_attrs=read-write`:
    /// whichever is primary now).
    pub fn pair_database(&self, standby: &Instance, name: &str) -> DatabaseUrl {
        let DatabaseUrl::Postgres(single) = self.database(name) else { unreachable!() };
        let db = single.rsplit('/').next().unwrap().to_owned();
        DatabaseUrl::parse(&format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{db}?target_session_attrs=read-write",
            self.port, standby.port
        ))
        .unwrap()
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

    /// Starts it again on the same port and files (after [`Instance::stop`]
    /// or [`Instance::crash`]), and waits until it is up.
    pub fn start(&self) {
        let _ = std::fs::remove_file(self.dir.join("crash"));
        let _ = std::fs::remove_file(self.dir.join("down"));
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
