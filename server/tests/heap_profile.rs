//! `scripts/heap-profile.sh` on this test build's binaries, with a few bots:
//! both profiles are taken and the table names the owners a player's memory
//! goes to (its figures are not judged; BENCHMARKS.md has the real run's).

use std::path::Path;
use std::process::Command;

#[test]
fn the_heap_profile_names_where_a_players_memory_goes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_tickforge-server")).parent().unwrap();
    assert!(bin.join("tickforge-client").exists(), "the client binary is built by `cargo test --workspace`");
    let output = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/heap-profile.sh"))
        .args(["--players", "2,8", "--seconds", "3", "--npcs", "20", "--out"])
        .arg(dir.path())
        .env("TICKFORGE_BIN_DIR", bin)
        .output()
        .expect("run heap-profile.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for row in
        ["| renet |", "| server/src/game/replicate.rs |", "| netcode/src/server.rs |", "| **heap at its peak** |"]
    {
        assert!(stdout.contains(row), "the table has a row {row}: {stdout}");
    }
    let total = stdout.lines().find(|l| l.starts_with("| **heap at its peak** |")).unwrap();
    let per_player: f64 = total.rsplit('|').nth(1).unwrap().trim().trim_matches('*').replace(',', "").parse().unwrap();
    assert!(per_player > 0.0, "each added player adds to the heap: {total}");
    for n in [2, 8] {
        assert!(dir.path().join(format!("heap-{n}.zst")).exists(), "the raw profile at {n} players is kept");
    }
}
