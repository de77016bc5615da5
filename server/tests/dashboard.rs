//! The Grafana dashboard (`deploy/grafana/tickforge.json`) asks only for
//! what a live server exports: every metric its queries name is in the
//! `/metrics` of a server on PostgreSQL (where the database figures are),
//! and none of them is a deprecated name.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::spawn;

const DASHBOARD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/tickforge.json"));

/// Every metric name in a PromQL expression (`tickforge_…`, `process_…`).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts =
            (i == 0 || !word(bytes[i - 1])) && ["tickforge_", "process_"].iter().any(|p| expr[i..].starts_with(p));
        if starts {
            let end = (i..bytes.len()).find(|&j| !word(bytes[j])).unwrap_or(bytes.len());
            names.push(expr[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_expression_scan_finds_each_metric_once_per_use() {
    let names = metric_names(r#"sum(rate(tickforge_a_total{x="tickforge_b"}[1m])) / process_c + my_process_d"#);
    assert_eq!(names, ["tickforge_a_total", "tickforge_b", "process_c"]);
}

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus", "importable: it asks for a Prometheus source");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queried = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap_or_else(|| panel_error(panel, "no targets"));
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_else(|| panel_error(panel, "a target without expr"));
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{}: {expr} names no metric", panel["title"]);
            queried.extend(names);
        }
    }
    for wanted in [
        "tickforge_players",
        "tickforge_tick_duration_seconds_bucket",
        "tickforge_ticks_skipped_total",
        "tickforge_datagrams_sent_bytes_total",
        "tickforge_logins_total",
        "tickforge_handoffs_total",
        "tickforge_store_queue_depth",
        "tickforge_store_outages_total",
        "tickforge_database_replication_lag_bytes",
    ] {
        assert!(queried.contains(wanted), "the dashboard does not show {wanted}");
    }
    let deprecated: Vec<&str> = tickforge_server::admin::exporter::DEPRECATED.iter().map(|(old, _)| *old).collect();
    for name in &queried {
        assert!(!deprecated.contains(&name.as_str()), "the dashboard queries the deprecated {name}");
    }

    let tickforge_server::store::DatabaseUrl::Postgres(database) = common::pg::database("dashboard") else {
        unreachable!("the test database is PostgreSQL")
    };
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), &["--database", &database], &[]);
    let url = format!("{}/metrics", server.admin_url);
    // The database figures come with the watch's first look.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let body = ureq::get(&url).call().unwrap().into_body().read_to_string().unwrap();
        if body.contains("\ntickforge_database_reachable ") || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let exported: BTreeSet<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    let missing: Vec<&String> = queried.iter().filter(|name| !exported.contains(name.as_str())).collect();
    assert!(missing.is_empty(), "the dashboard queries what /metrics lacks: {missing:?}");
    server.interrupt();
}

fn panel_error(panel: &serde_json::Value, what: &str) -> ! {
    panic!("panel {}: {what}", panel["title"])
}
