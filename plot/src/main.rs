//! `tickforge-plot`: the benchmark reports (JSON) drawn as SVG charts.
//! `scripts/plot.sh` runs it; see [`charts`] for what each chart shows.

mod chart;
mod charts;
mod report;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Draws the load, soak, rollout and browser reports as SVG charts.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The directory the charts go to (created if missing).
    #[arg(long, default_value = "target/plots")]
    out: PathBuf,
    /// The reports (JSON from scripts/loadtest.sh, soak.sh,
    /// cluster-bench.sh rollout, web-bench.sh).
    #[arg(required = true)]
    reports: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let reports = args
        .reports
        .iter()
        .map(|path| Ok((path.clone(), report::read(path)?)))
        .collect::<Result<Vec<_>, report::ReportError>>()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    for path in charts::draw_all(&reports, &args.out)? {
        println!("{}", path.display());
    }
    Ok(())
}
