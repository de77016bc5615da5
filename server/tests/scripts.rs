//! The benchmark scripts end by themselves when their server dies: each
//! starts a server that cannot start (its config file is missing) and
//! must exit with the server's own error within a bounded time, not wait
//! for an address line that never comes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `script args` on this test build's binaries with a server that
/// refuses to start; returns its exit code and stderr.
fn run_with_a_server_that_cannot_start(script: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_tickforge-server")).parent().unwrap();
    let stderr = dir.path().join("stderr");
    let mut child = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts").join(script))
        .args(args)
        .env("TICKFORGE_BIN_DIR", bin)
        .env("TICKFORGE_CONFIG", dir.path().join("no-such-settings.toml"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("run the script");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&stderr).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("{script} still waiting 90 s after its server died: {text}"));
    (status.code(), text)
}

fn says_why(script: &str, code: Option<i32>, stderr: &str) {
    assert_ne!(code, Some(0), "{script} failed: {stderr}");
    assert!(stderr.contains("exited before it was ready"), "{script} says its server died: {stderr}");
    assert!(stderr.contains("no-such-settings.toml"), "{script} shows the server's own error: {stderr}");
}

#[test]
fn the_soak_stops_when_its_server_dies() {
    let (code, stderr) = run_with_a_server_that_cannot_start("soak.sh", &["1", "2"]);
    says_why("soak.sh", code, &stderr);
}

#[test]
fn the_load_test_stops_when_its_server_dies() {
    let (code, stderr) =
        run_with_a_server_that_cannot_start("loadtest.sh", &["arena", "--players", "2", "--duration", "2"]);
    says_why("loadtest.sh", code, &stderr);
}
