//! `tickforge-plot` as scripts/plot.sh runs it: real reports in, SVG out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plot(out: &Path, reports: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickforge-plot"))
        .arg("--out")
        .arg(out)
        .args(reports)
        .output()
        .expect("run tickforge-plot")
}

fn svgs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".svg"));
    names.sort();
    names
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load(players: u32, p50: f64, in_view: u32, view: &str) -> String {
    format!(
        r#"{{"report": "load", "scenario": "arena", "players": {players}, "view": "{view}",
            "tick_ms": {{"p50": {p50}, "p99": {}}}, "bytes_per_player_per_s": {{"to_player": 5200}},
            "entities_in_view_p50": {in_view}, "server_cpu_us_per_player_tick": 27.5}}"#,
        p50 * 2.5
    )
}

#[test]
fn the_committed_charts_are_what_the_committed_reports_draw() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut reports: Vec<PathBuf> = std::fs::read_dir(repo.join("docs/reports"))
        .expect("docs/reports holds the reports BENCHMARKS.md charts")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    reports.sort();
    assert!(!reports.is_empty());
    let out = tempfile::tempdir().unwrap();
    let run = plot(out.path(), &reports);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let committed = repo.join("docs/plots");
    assert_eq!(svgs(out.path()), svgs(&committed), "docs/plots is what scripts/plot.sh draws (run it and commit)");
    for name in svgs(&committed) {
        let drawn = std::fs::read(out.path().join(&name)).unwrap();
        let kept = std::fs::read(committed.join(&name)).unwrap();
        assert!(drawn == kept, "docs/plots/{name} is stale: scripts/plot.sh redraws it from docs/reports");
    }
}

#[test]
fn every_point_of_every_report_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let reports = vec![
        write(dir.path(), "a.json", &load(100, 2.0, 98, "auto")),
        write(dir.path(), "b.json", &load(400, 5.0, 104, "auto")),
        write(dir.path(), "c.json", &load(1000, 9.5, 101, "auto")),
        write(dir.path(), "d.json", &load(200, 3.0, 40, "fixed")),
        write(
            dir.path(),
            "roll.json",
            r#"{"report": "rollout", "bots": 5, "transfer_pauses_ms": [41.0, 44.5, 52, 60, 130]}"#,
        ),
        write(
            dir.path(),
            "soak.json",
            r#"{"report": "soak", "minutes": 2, "rss_every_s": 30, "rss_kib": [51200, 52000, 52100, 52050], "connected_percent": 99.1}"#,
        ),
        write(
            dir.path(),
            "page.json",
            r#"{"report": "browser", "entities": 150, "frame_ms": {"p50": 0.6, "p99": 2.1, "max": 9},
                "control_ms": {"p50": 0.6, "p99": 1.4, "max": 7.5}}"#,
        ),
    ];
    let out = dir.path().join("plots");
    let run = plot(&out, &reports);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(
        svgs(&out),
        ["bandwidth-vs-view.svg", "cpu-vs-players.svg", "page.svg", "roll.svg", "soak.svg", "tick-vs-players.svg"]
    );
    let svg = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let circles = |name: &str| svg(name).matches("<circle").count();
    assert_eq!(circles("tick-vs-players.svg"), 6, "p50 and p99 of the three runs at the script's view");
    assert_eq!(circles("cpu-vs-players.svg"), 3);
    assert_eq!(circles("bandwidth-vs-view.svg"), 4 + 1, "every run, the fixed view too, and the legend's dot");
    assert_eq!(circles("soak.svg"), 4, "a point per memory sample");
    for (name, words) in [
        ("tick-vs-players.svg", &["Tick time against players", "arena p99", "the tick at 30 Hz"][..]),
        ("bandwidth-vs-view.svg", &["entities in view", "target (80 kbit/s)"][..]),
        ("roll.svg", &["5 of 5 bots moved", "p50 52 ms", "p99 130 ms"][..]),
        ("page.svg", &["150 entities in view", "game frame p99", "control max", "2.10"][..]),
        ("soak.svg", &["2-minute soak", "99.1%"][..]),
    ] {
        let text = svg(name);
        assert!(text.starts_with("<svg"), "{name} is an SVG");
        for w in words {
            assert!(text.contains(w), "{name} shows {w:?}");
        }
    }
}

#[test]
fn a_bad_report_is_refused_by_name_and_nothing_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.json", &load(100, 2.0, 98, "auto"));
    for (name, text, says) in [
        ("cut.json", r#"{"report": "rollout", "bots": 5, "transfer_pa"#, "not JSON"),
        ("empty.json", "", "not JSON"),
        ("weather.json", r#"{"report": "weather", "rain_mm": 3}"#, "not a load, soak, rollout or browser report"),
        (
            "half.json",
            r#"{"scenario": "arena", "players": 3, "tick_ms": {"p50": 1}}"#,
            "a load report without tick_ms.p99",
        ),
        (
            "nan.json",
            r#"{"report": "soak", "minutes": 1, "rss_every_s": 30, "rss_kib": [1, "x"], "connected_percent": 1}"#,
            "rss_kib",
        ),
    ] {
        let bad = write(dir.path(), name, text);
        let out = dir.path().join(format!("out-{name}"));
        let run = plot(&out, &[good.clone(), bad]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains(says), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(svgs(&out).is_empty(), "{name}: no chart from a half-read set");
    }
    let run = plot(&dir.path().join("none"), &[dir.path().join("missing.json")]);
    assert!(!run.status.success() && String::from_utf8_lossy(&run.stderr).contains("missing.json"));
}
