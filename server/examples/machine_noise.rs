//! The machine's own tick noise, as a control for the load reports: a
//! fixed piece of arithmetic (no allocation, no IO, no locks), calibrated
//! to `WORK_MS`, run at the tick's cadence (work, then sleep to the next
//! 1/30 s) for `SECONDS`, and its durations printed as the tick's are
//! (p50 / p99 / max). Whatever stretches these stretches every tick too.
//!
//! ```sh
//! cargo run --release -p tickforge-server --example machine_noise -- [WORK_MS] [SECONDS]
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

fn spin(rounds: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..rounds {
        x = x.rotate_left(7) ^ black_box(i).wrapping_mul(0x100_0000_01b3);
    }
    x
}

fn main() {
    let mut args = std::env::args().skip(1);
    let work_ms: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    // Calibrate: the fastest of several tries, so noise does not shrink the work.
    let mut rounds = 1_000_000u64;
    let best = (0..20)
        .map(|_| {
            let began = Instant::now();
            black_box(spin(rounds));
            began.elapsed()
        })
        .min()
        .unwrap_or(Duration::from_millis(1));
    rounds = (rounds as f64 * work_ms / (best.as_secs_f64() * 1000.0)).max(1.0) as u64;
    let period = Duration::from_secs(1) / 30;
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next = Instant::now();
    let mut took = Vec::new();
    while Instant::now() < end {
        let began = Instant::now();
        black_box(spin(rounds));
        took.push(began.elapsed().as_secs_f64() * 1000.0);
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    println!(
        "machine noise: a fixed {work_ms} ms of arithmetic at 30 Hz, {} runs: p50 {:.2} / p99 {:.2} / max {:.2} ms",
        took.len(),
        at(0.5),
        at(0.99),
        took[took.len() - 1]
    );
}
