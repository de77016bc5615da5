//! `tickforge-netem`: run the link conditioner as a standalone proxy.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tickforge_netem::{Preset, Proxy};

/// UDP proxy adding delay, jitter, loss, duplication and reordering each way.
///
/// Point clients at --listen (start the server with --public-addr set to it)
/// and forward to the server's UDP address.
#[derive(Debug, Parser)]
#[command(name = "tickforge-netem", version)]
struct Args {
    /// Address clients send to.
    #[arg(long)]
    listen: SocketAddr,
    /// The server's UDP address.
    #[arg(long)]
    forward: SocketAddr,
    /// Start from a named condition: lan, regional, international, unplayable.
    #[arg(long)]
    preset: Option<Preset>,
    /// One-way delay in milliseconds (overrides the preset).
    #[arg(long)]
    delay_ms: Option<f64>,
    /// Jitter in milliseconds, ± around the delay (overrides the preset).
    #[arg(long)]
    jitter_ms: Option<f64>,
    /// Loss probability, 0–1 (overrides the preset).
    #[arg(long)]
    loss: Option<f64>,
    /// Duplication probability, 0–1 (overrides the preset).
    #[arg(long)]
    duplicate: Option<f64>,
    /// Reordering probability, 0–1 (overrides the preset).
    #[arg(long)]
    reorder: Option<f64>,
    /// Seed for the dice (same seed, same fate for the same traffic order).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Black the link out both ways AT seconds after the start for DURATION
    /// seconds: `--blackout 10+5` (repeatable).
    #[arg(long, value_name = "AT+DURATION")]
    blackout: Vec<tickforge_netem::Blackout>,
    /// Seconds between stats lines on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    stats_every: u64,
}

fn probability(name: &str, v: Option<f64>) -> anyhow::Result<Option<f64>> {
    match v {
        Some(p) if !(0.0..=1.0).contains(&p) => anyhow::bail!("--{name} must be between 0 and 1"),
        other => Ok(other),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut profile = args.preset.map(Preset::profile).unwrap_or_default();
    let ms = |v: f64| Duration::try_from_secs_f64(v / 1000.0);
    if let Some(v) = args.delay_ms {
        profile.delay = ms(v).context("--delay-ms")?;
    }
    if let Some(v) = args.jitter_ms {
        profile.jitter = ms(v).context("--jitter-ms")?;
    }
    profile.loss = probability("loss", args.loss)?.unwrap_or(profile.loss);
    profile.duplicate = probability("duplicate", args.duplicate)?.unwrap_or(profile.duplicate);
    profile.reorder = probability("reorder", args.reorder)?.unwrap_or(profile.reorder);
    let listen = UdpSocket::bind(args.listen).with_context(|| format!("cannot bind {}", args.listen))?;
    let proxy = Proxy::start(listen, args.forward, profile, profile, args.seed)?;
    println!("tickforge-netem listen={} forward={} profile={profile:?}", proxy.local_addr(), args.forward);
    let started = std::time::Instant::now();
    let proxy = std::sync::Arc::new(proxy);
    let mut schedule = args.blackout.clone();
    schedule.sort_by_key(|b| b.at);
    let dark = proxy.clone();
    std::thread::spawn(move || {
        for blackout in schedule {
            std::thread::sleep(blackout.at.saturating_sub(started.elapsed()));
            eprintln!("blackout for {:?}", blackout.duration);
            dark.blackout_for(blackout.duration);
            eprintln!("link restored");
        }
    });
    loop {
        std::thread::sleep(Duration::from_secs(args.stats_every.max(1)));
        if args.stats_every > 0 {
            let s = proxy.stats();
            eprintln!(
                "up {} down {} lost {} duplicated {} reordered {} overflow {}",
                s.up_in.load(Ordering::Relaxed),
                s.down_in.load(Ordering::Relaxed),
                s.lost.load(Ordering::Relaxed),
                s.duplicated.load(Ordering::Relaxed),
                s.reordered.load(Ordering::Relaxed),
                s.overflow.load(Ordering::Relaxed)
            );
        }
    }
}
