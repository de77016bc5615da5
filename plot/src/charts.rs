//! Which charts the reports make, and what each shows.
//!
//! | chart | from | shows |
//! |---|---|---|
//! | `tick-vs-players.svg` | load reports at the script's view (~100 in view) | tick p50 and p99 per scenario, against the 30 Hz budget |
//! | `cpu-vs-players.svg` | the same, where they have the figures | server CPU per player-tick, and the bare transport's per client-tick |
//! | `bandwidth-vs-view.svg` | every load report | kbit/s to each player against entities in view, against the 80 kbit/s target |
//! | `STEM.svg` (per soak report) | a soak | server memory over the soak |
//! | `STEM.svg` (per rollout report) | a rollout under load | each moved player's longest pause |
//! | `STEM.svg` (per browser report) | the browser bench | the page's frame cost beside the control's |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::chart::{self, Bars, ChartError, Histogram, Lines, Series};
use crate::report::{Browser, Load, Report, Rollout, Soak};

/// The tick's budget at 30 Hz, ms.
const TICK_BUDGET_MS: f64 = 1000.0 / 30.0;
/// The bandwidth target at ~100 in view, kbit/s.
const BANDWIDTH_TARGET_KBIT: f64 = 80.0;

/// Draws every chart `reports` (each with the path it came from) make into
/// `out`; returns the files written, in order.
pub fn draw_all(reports: &[(PathBuf, Report)], out: &Path) -> Result<Vec<PathBuf>, ChartError> {
    let mut written = Vec::new();
    let loads: Vec<&Load> =
        reports.iter().filter_map(|(_, r)| if let Report::Load(l) = r { Some(l) } else { None }).collect();
    if !loads.is_empty() {
        for (name, lines) in load_charts(&loads) {
            let path = out.join(name);
            chart::lines(&path, &lines)?;
            written.push(path);
        }
    }
    for (from, report) in reports {
        let stem = from.file_stem().map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
        let path = out.join(format!("{stem}.svg"));
        match report {
            Report::Load(_) => continue,
            Report::Soak(s) => chart::lines(&path, &soak_chart(s))?,
            Report::Rollout(r) => chart::histogram(&path, &rollout_chart(r))?,
            Report::Browser(b) => chart::bars(&path, &browser_chart(b))?,
        }
        written.push(path);
    }
    Ok(written)
}

/// The load charts, by file name (empty series left out; a chart with no
/// series at all is not drawn).
pub fn load_charts(loads: &[&Load]) -> Vec<(&'static str, Lines)> {
    let mut by_scenario: BTreeMap<&str, Vec<&Load>> = BTreeMap::new();
    for l in loads {
        by_scenario.entry(l.scenario.as_str()).or_default().push(l);
    }
    let series =
        |name: String, points: Vec<(f64, f64)>| (!points.is_empty()).then_some(Series { name, points, joined: true });
    let scatter =
        |name: String, points: Vec<(f64, f64)>| (!points.is_empty()).then_some(Series { name, points, joined: false });
    let mut tick = Vec::new();
    let mut cpu = Vec::new();
    let mut bandwidth = Vec::new();
    for (scenario, runs) in &by_scenario {
        let auto: Vec<&&Load> = runs.iter().filter(|l| l.view_auto).collect();
        tick.extend(series(format!("{scenario} p50"), auto.iter().map(|l| (l.players, l.tick_p50_ms)).collect()));
        tick.extend(series(format!("{scenario} p99"), auto.iter().map(|l| (l.players, l.tick_p99_ms)).collect()));
        cpu.extend(series(
            format!("{scenario}: server per player-tick"),
            auto.iter().filter_map(|l| Some((l.players, l.server_us?))).collect(),
        ));
        cpu.extend(series(
            format!("{scenario}: bare renet per client-tick"),
            auto.iter().filter_map(|l| Some((l.players, l.bare_us?))).collect(),
        ));
        bandwidth.extend(scatter(
            format!("{scenario} ({} runs)", runs.len()),
            runs.iter().filter_map(|l| Some((l.in_view?, l.kbit_to_player))).collect(),
        ));
    }
    let mut charts = Vec::new();
    if !tick.is_empty() {
        charts.push((
            "tick-vs-players.svg",
            Lines {
                title: "Tick time against players (~100 in view each)".into(),
                x_label: "players".into(),
                y_label: "tick time, ms".into(),
                series: tick,
                references: vec![(format!("the tick at 30 Hz ({TICK_BUDGET_MS:.1} ms)"), TICK_BUDGET_MS)],
            },
        ));
    }
    if !cpu.is_empty() {
        charts.push((
            "cpu-vs-players.svg",
            Lines {
                title: "Server CPU per player-tick against players".into(),
                x_label: "players".into(),
                y_label: "CPU per player-tick, µs".into(),
                series: cpu,
                references: vec![],
            },
        ));
    }
    if !bandwidth.is_empty() {
        charts.push((
            "bandwidth-vs-view.svg",
            Lines {
                title: "Bandwidth to each player against entities in view".into(),
                x_label: "entities in view (median)".into(),
                y_label: "to each player, kbit/s".into(),
                series: bandwidth,
                references: vec![(format!("target ({BANDWIDTH_TARGET_KBIT} kbit/s)"), BANDWIDTH_TARGET_KBIT)],
            },
        ));
    }
    charts
}

/// Server memory over a soak.
pub fn soak_chart(s: &Soak) -> Lines {
    let points = s.rss_kib.iter().enumerate().map(|(i, kib)| (i as f64 * s.sample_s / 60.0, kib / 1024.0)).collect();
    Lines {
        title: format!("Server memory over a {}-minute soak ({}% of runs connected)", s.minutes, s.connected_percent),
        x_label: "minutes".into(),
        y_label: "server RSS, MiB".into(),
        series: vec![Series { name: "RSS".into(), points, joined: true }],
        references: vec![],
    }
}

/// Each moved player's longest pause in a rollout.
pub fn rollout_chart(r: &Rollout) -> Histogram {
    let mut sorted = r.pauses_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted.get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize).copied();
    let markers = [("p50", 0.5), ("p99", 0.99)]
        .into_iter()
        .filter_map(|(name, q)| Some((format!("{name} {:.0} ms", at(q)?), at(q)?)))
        .collect();
    Histogram {
        title: format!("Rollout: each moved player's longest pause ({} of {} bots moved)", sorted.len(), r.bots),
        x_label: "pause, ms (last snapshot from the old server to the first from the new)".into(),
        values: sorted,
        markers,
    }
}

/// The page's frame cost beside the control's.
pub fn browser_chart(b: &Browser) -> Bars {
    let q = |q: &crate::report::Quantiles| vec![q.p50, q.p99, q.max];
    Bars {
        title: format!("Browser client: frame time at {} entities in view", b.entities),
        y_label: "ms".into(),
        measures: vec!["p50".into(), "p99".into(), "max".into()],
        categories: vec![("game frame".into(), q(&b.frame)), ("control".into(), q(&b.control))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(scenario: &str, players: f64, auto: bool) -> Load {
        Load {
            scenario: scenario.into(),
            players,
            tick_p50_ms: players / 50.0,
            tick_p99_ms: players / 20.0,
            view_auto: auto,
            in_view: Some(if auto { 100.0 } else { players / 4.0 }),
            kbit_to_player: 40.0,
            server_us: Some(28.0),
            bare_us: None,
        }
    }

    #[test]
    fn only_runs_at_the_scripts_view_are_compared_across_players() {
        let runs = [load("arena", 100.0, true), load("arena", 200.0, true), load("arena", 200.0, false)];
        let refs: Vec<&Load> = runs.iter().collect();
        let charts = load_charts(&refs);
        let names: Vec<_> = charts.iter().map(|c| c.0).collect();
        assert_eq!(names, ["tick-vs-players.svg", "cpu-vs-players.svg", "bandwidth-vs-view.svg"]);
        let tick = &charts[0].1;
        assert_eq!(tick.series.len(), 2, "p50 and p99");
        assert_eq!(tick.series[0].points, [(100.0, 2.0), (200.0, 4.0)], "the fixed-view run is left out");
        assert_eq!(charts[1].1.series.len(), 1, "no bare figures, no bare series");
        assert_eq!(charts[2].1.series[0].points.len(), 3, "every run is a point of bandwidth against view");
    }

    #[test]
    fn a_rollout_marks_its_median_and_p99() {
        let pauses_ms = (1..=100).map(f64::from).collect();
        let h = rollout_chart(&Rollout { pauses_ms, bots: 120.0 });
        assert_eq!(h.markers, [("p50 51 ms".to_string(), 51.0), ("p99 99 ms".to_string(), 99.0)]);
        assert!(h.title.contains("100 of 120"));
    }
}
