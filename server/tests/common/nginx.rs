//! A throwaway nginx (Debian's) as the cluster's gateway: one HTTP port on
//! loopback, round-robin over the auth nodes, a dead upstream skipped. It
//! runs in the foreground as a child and is stopped when dropped.
//!
//! nginx must be installed (`scripts/test.sh` installs Debian's `nginx`);
//! without it the tests fail with that instruction, never skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running gateway.
pub struct Gateway {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    _dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("nginx is not installed: run `scripts/test.sh`, which installs it, or `apt-get install nginx`")
}

impl Gateway {
    /// nginx on a free port in front of `upstreams` (`http://host:port` URLs).
    pub fn start(upstreams: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let servers: String = upstreams
            .iter()
            .map(|u| format!("        server {} max_fails=1 fail_timeout=5s;\n", u.trim_start_matches("http://")))
            .collect();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
             \x20   fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
             \x20   upstream auth {{\n{servers}    }}\n    server {{\n        listen 127.0.0.1:{port};\n\
             \x20       location / {{\n            proxy_pass http://auth;\n\
             \x20           proxy_next_upstream error timeout http_502;\n            proxy_connect_timeout 1s;\n\
             \x20           proxy_set_header X-Forwarded-For $remote_addr;\n\
             \x20       }}\n    }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(binary())
            .args(["-c", path.to_str().unwrap(), "-e", &format!("{d}/error.log"), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen: {}", Self::log(dir.path()));
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url, _dir: dir }
    }

    fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
