//! Commit latency through the store, as its callers see it: one account,
//! then `COUNT` transactions one after another (each claims the account's
//! lease: an update and a read, committed, then answered), each timed from
//! the request to the answer. Prints p50 / p99 / mean / max, and, if the
//! database went away meanwhile (a failover), how long requests failed and
//! what the store measured (first failed write to first committed one).
//!
//! ```sh
//! cargo run --release -p tickforge-server --example commit_latency -- postgres://… [COUNT]
//! ```
//!
//! `scripts/db-bench.sh` runs it against a primary with a synchronous
//! standby, against the primary alone, and through a failover.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tickforge_server::store::{DatabaseUrl, Store, StoreCommand, StoreError};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = DatabaseUrl::parse(&args.next().ok_or_else(|| anyhow::anyhow!("usage: commit_latency URL [COUNT]"))?)?;
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let store = Store::open(&url)?;
    let handle = store.handle();
    let name = format!("bench{}", std::process::id());
    let (reply, created) = tokio::sync::oneshot::channel();
    let command = StoreCommand::CreateAccount { username: name, password_hash: "$argon2id$bench".into(), reply };
    handle.try_send(command).map_err(|_| anyhow::anyhow!("store queue full"))?;
    let account_id = match created.blocking_recv()? {
        Ok(id) => id,
        Err(StoreError::UsernameTaken) => anyhow::bail!("the bench account exists already"),
        Err(e) => return Err(e.into()),
    };
    let mut times = Vec::with_capacity(count);
    let (mut failed, mut first_failure, mut longest_gap) = (0u64, None::<Instant>, Duration::ZERO);
    while times.len() < count {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let started = Instant::now();
        handle
            .try_send(StoreCommand::ClaimPlayer { account_id, server_id: "bench".into(), game: "arena", reply })
            .map_err(|_| anyhow::anyhow!("store queue full"))?;
        let claimed = answer.recv_timeout(Duration::from_secs(60))?;
        match claimed.result {
            Ok(_) => {
                times.push(started.elapsed());
                if let Some(since) = first_failure.take() {
                    longest_gap = longest_gap.max(since.elapsed());
                }
            }
            Err(_) => {
                failed += 1;
                first_failure.get_or_insert(started);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    times.sort_unstable();
    let mean = times.iter().sum::<Duration>().as_secs_f64() * 1e3 / times.len() as f64;
    println!(
        "{count} commits: p50 {:.3} ms, p99 {:.3} ms, mean {mean:.3} ms, max {:.3} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
    let metrics = store.metrics();
    if failed > 0 {
        println!(
            "{failed} requests failed over {:.3} s; the store saw writes fail for {:.3} s (first failed write to first committed one)",
            longest_gap.as_secs_f64(),
            metrics.last_outage_ms.load(Ordering::Relaxed) as f64 / 1e3
        );
    }
    if let Some(health) = handle.database_health() {
        println!(
            "database: primary {}, synchronous {}, degraded {}, standbys {}",
            health.primary.as_deref().unwrap_or("?"),
            health.synchronous,
            health.degraded,
            health.standbys.len()
        );
    }
    store.shutdown();
    Ok(())
}
