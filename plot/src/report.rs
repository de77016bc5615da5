//! The reports the benchmark scripts write, read into what the charts need.
//!
//! | report | written by | told apart by |
//! |---|---|---|
//! | load | `scripts/loadtest.sh` | `scenario` and `tick_ms` |
//! | soak | `scripts/soak.sh` | `"report": "soak"` |
//! | rollout | `scripts/cluster-bench.sh rollout` | `"report": "rollout"` |
//! | browser | `scripts/web-bench.sh` | `"report": "browser"` |

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why a report could not be read; names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The report.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not JSON ({source})")]
    Json {
        /// The report.
        path: PathBuf,
        /// Where the parse stopped.
        source: serde_json::Error,
    },
    /// JSON, but not a report this tool knows.
    #[error(
        "{path}: not a load, soak, rollout or browser report (no scenario and tick_ms, and no \"report\" field naming one)"
    )]
    Unknown {
        /// The report.
        path: PathBuf,
    },
    /// A report of a known kind that lacks a figure its charts need.
    #[error("{path}: a {kind} report without {field} (a number)")]
    Missing {
        /// The report.
        path: PathBuf,
        /// Its kind.
        kind: &'static str,
        /// The field, as a dotted path.
        field: String,
    },
}

/// One run of the load test: a point on the load charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The scenario (arena, skirmish, broadcast, login-storm).
    pub scenario: String,
    /// Players connected.
    pub players: f64,
    /// Tick time, median of the 10-s windows, ms.
    pub tick_p50_ms: f64,
    /// Tick time, worst window's p99, ms.
    pub tick_p99_ms: f64,
    /// Whether the view radius was the script's choice (about 100 in view)
    /// rather than given: only those runs are compared across player counts.
    pub view_auto: bool,
    /// Entities in each player's view, median.
    pub in_view: Option<f64>,
    /// Bandwidth to each player, kbit/s.
    pub kbit_to_player: f64,
    /// Server CPU per player-tick, µs.
    pub server_us: Option<f64>,
    /// The bare transport's CPU per client-tick in the same sitting, µs.
    pub bare_us: Option<f64>,
}

/// A soak run: the server's memory over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Soak {
    /// Server RSS, KiB, every `sample_s` seconds.
    pub rss_kib: Vec<f64>,
    /// Seconds between samples.
    pub sample_s: f64,
    /// Runs that connected, % of all.
    pub connected_percent: f64,
    /// Minutes soaked.
    pub minutes: f64,
}

/// A blue-green rollout under load: each moved bot's longest pause.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Per bot that moved, its longest pause (last snapshot on the old
    /// server to the first on the new), ms.
    pub pauses_ms: Vec<f64>,
    /// Bots playing.
    pub bots: f64,
}

/// Low, typical and worst of a distribution, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Worst.
    pub max: f64,
}

/// The browser client's page: frame cost beside a fixed control.
#[derive(Debug, Clone, PartialEq)]
pub struct Browser {
    /// The game's frame (update + draw).
    pub frame: Quantiles,
    /// A fixed piece of arithmetic timed on every frame meanwhile.
    pub control: Quantiles,
    /// Entities in view while measured.
    pub entities: f64,
}

/// A report of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// From the load test.
    Load(Load),
    /// From the soak.
    Soak(Soak),
    /// From a rollout under load.
    Rollout(Rollout),
    /// From the browser bench.
    Browser(Browser),
}

/// Reads the report at `path`.
pub fn read(path: &Path) -> Result<Report, ReportError> {
    let text = std::fs::read(path).map_err(|source| ReportError::Io { path: path.into(), source })?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|source| ReportError::Json { path: path.into(), source })?;
    parse(path, &value)
}

/// Reads a report already parsed as JSON (`path` names it in errors).
pub fn parse(path: &Path, v: &Value) -> Result<Report, ReportError> {
    let kind = v.get("report").and_then(Value::as_str);
    let fields = Fields { path, v };
    match kind {
        Some("soak") => fields.soak().map(Report::Soak),
        Some("rollout") => fields.rollout().map(Report::Rollout),
        Some("browser") => fields.browser().map(Report::Browser),
        None | Some("load") if v.get("scenario").is_some_and(Value::is_string) && v.get("tick_ms").is_some() => {
            fields.load().map(Report::Load)
        }
        _ => Err(ReportError::Unknown { path: path.into() }),
    }
}

/// A report's JSON, with errors that name it.
struct Fields<'a> {
    path: &'a Path,
    v: &'a Value,
}

impl Fields<'_> {
    /// The number at `field` (dotted), if there is one.
    fn opt(&self, field: &str) -> Option<f64> {
        field.split('.').try_fold(self.v, |v, key| v.get(key)).and_then(Value::as_f64).filter(|n| n.is_finite())
    }

    /// The number at `field`, or an error naming it.
    fn num(&self, kind: &'static str, field: &str) -> Result<f64, ReportError> {
        self.opt(field).ok_or_else(|| self.missing(kind, field))
    }

    /// The array of numbers at `field`, or an error naming it.
    fn nums(&self, kind: &'static str, field: &str) -> Result<Vec<f64>, ReportError> {
        let array = self.v.get(field).and_then(Value::as_array).ok_or_else(|| self.missing(kind, field))?;
        array.iter().map(|n| n.as_f64().filter(|n| n.is_finite()).ok_or_else(|| self.missing(kind, field))).collect()
    }

    fn missing(&self, kind: &'static str, field: &str) -> ReportError {
        ReportError::Missing { path: self.path.into(), kind, field: field.into() }
    }

    fn load(&self) -> Result<Load, ReportError> {
        const K: &str = "load";
        let players = self.num(K, "players")?;
        let tick_p50_ms = self.num(K, "tick_ms.p50")?;
        let tick_p99_ms = self.num(K, "tick_ms.p99")?;
        let bytes = self.num(K, "bytes_per_player_per_s.to_player")?;
        Ok(Load {
            scenario: self.v["scenario"].as_str().unwrap_or_default().to_owned(),
            players,
            tick_p50_ms,
            tick_p99_ms,
            view_auto: self.v.get("view").and_then(Value::as_str) != Some("fixed"),
            in_view: self.opt("entities_in_view_p50"),
            kbit_to_player: bytes * 8.0 / 1000.0,
            server_us: self.opt("server_cpu_us_per_player_tick"),
            bare_us: self.opt("baseline.server_cpu_us_per_client_tick"),
        })
    }

    fn soak(&self) -> Result<Soak, ReportError> {
        const K: &str = "soak";
        Ok(Soak {
            rss_kib: self.nums(K, "rss_kib")?,
            sample_s: self.num(K, "rss_every_s")?,
            connected_percent: self.num(K, "connected_percent")?,
            minutes: self.num(K, "minutes")?,
        })
    }

    fn rollout(&self) -> Result<Rollout, ReportError> {
        const K: &str = "rollout";
        Ok(Rollout { pauses_ms: self.nums(K, "transfer_pauses_ms")?, bots: self.num(K, "bots")? })
    }

    fn browser(&self) -> Result<Browser, ReportError> {
        const K: &str = "browser";
        let q = |at: &str| -> Result<Quantiles, ReportError> {
            Ok(Quantiles {
                p50: self.num(K, &format!("{at}.p50"))?,
                p99: self.num(K, &format!("{at}.p99"))?,
                max: self.num(K, &format!("{at}.max"))?,
            })
        };
        Ok(Browser { frame: q("frame_ms")?, control: q("control_ms")?, entities: self.num(K, "entities")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(v: Value) -> Result<Report, ReportError> {
        parse(Path::new("r.json"), &v)
    }

    #[test]
    fn each_kind_is_told_apart_and_read() {
        let load = json!({"scenario": "arena", "players": 200, "tick_ms": {"p50": 6.4, "p99": 17.2},
            "bytes_per_player_per_s": {"to_player": 5000}, "entities_in_view_p50": 98,
            "server_cpu_us_per_player_tick": 28.0, "baseline": {"server_cpu_us_per_client_tick": 31.0}});
        let Report::Load(l) = at(load).unwrap() else { panic!("a load report") };
        assert_eq!((l.players, l.tick_p99_ms, l.kbit_to_player, l.bare_us), (200.0, 17.2, 40.0, Some(31.0)));
        assert!(l.view_auto);
        let soak = json!({"report": "soak", "rss_kib": [100, 110], "rss_every_s": 30, "connected_percent": 99.5, "minutes": 1});
        assert!(matches!(at(soak), Ok(Report::Soak(s)) if s.rss_kib == [100.0, 110.0]));
        let rollout = json!({"report": "rollout", "bots": 3, "transfer_pauses_ms": [40.5, 61]});
        assert!(matches!(at(rollout), Ok(Report::Rollout(r)) if r.pauses_ms == [40.5, 61.0]));
    }

    #[test]
    fn what_is_missing_or_unknown_is_named() {
        let err = at(json!({"scenario": "arena", "tick_ms": {"p50": 1}})).unwrap_err().to_string();
        assert!(err.contains("r.json") && err.contains("load report without"), "{err}");
        let err = at(json!({"report": "rollout", "bots": 1, "transfer_pauses_ms": [1, "x"]})).unwrap_err().to_string();
        assert!(err.contains("transfer_pauses_ms"), "{err}");
        let err = at(json!({"report": "weather"})).unwrap_err().to_string();
        assert!(err.contains("not a load, soak, rollout or browser report"), "{err}");
        assert!(matches!(at(json!([1, 2])), Err(ReportError::Unknown { .. })));
    }
}
