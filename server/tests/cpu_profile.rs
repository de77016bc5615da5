//! `scripts/cpu-profile.sh` on this test build's binaries, with a few bots:
//! the server is sampled and the tables charge its time to owners and
//! threads (the figures are not judged; BENCHMARKS.md has the real run's).

use std::path::Path;
use std::process::Command;

/// The rows of the table titled `title` in `stdout`: `(label, share %)`.
fn rows<'a>(stdout: &'a str, title: &str) -> Vec<(&'a str, f64)> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(&format!("| {title} |")))
        .skip(2)
        .take_while(|l| l.starts_with("| ") && !l.starts_with("| **all**"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1], cells[2].trim_end_matches(" %").parse().expect("a share"))
        })
        .collect()
}

#[test]
fn the_cpu_profile_names_where_the_servers_time_goes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_tickforge-server")).parent().unwrap();
    assert!(bin.join("tickforge-client").exists(), "the client binary is built by `cargo test --workspace`");
    let output = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cpu-profile.sh"))
        .args(["--players", "6", "--seconds", "4", "--npcs", "20", "--out"])
        .arg(dir.path())
        .env("TICKFORGE_BIN_DIR", bin)
        .output()
        .expect("run cpu-profile.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let owners = rows(&stdout, "owner (self time)");
    assert!(owners.iter().any(|(o, _)| o.starts_with("ours: server::")), "our modules have a row: {stdout}");
    assert!(owners.iter().any(|(o, _)| o.starts_with("kernel: ")), "the kernel's share has a row: {stdout}");
    let shown: f64 = owners.iter().map(|(_, s)| s).sum();
    assert!((90.0..=100.5).contains(&shown), "the rows shown hold nearly all the samples ({shown} %): {stdout}");
    let threads = rows(&stdout, "thread");
    assert!(threads.iter().any(|(t, _)| t.starts_with("tickforge-")), "the server's threads by name: {stdout}");
    assert!(dir.path().join("cpu-6.data").exists(), "the samples are kept");
}
