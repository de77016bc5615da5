//! Tick timing figures, shared lock-free with the admin/HTTP side.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::timer::TimerStats;

/// Counters the tick loop writes and other threads read.
#[derive(Debug, Default)]
pub struct TickMetrics {
    /// Last tick number run.
    pub tick: AtomicU64,
    /// Duration of the last tick, in microseconds.
    pub last_tick_us: AtomicU64,
    /// Longest tick so far, in microseconds.
    pub max_tick_us: AtomicU64,
    /// Ticks whose work ran past the next deadline.
    pub overruns: AtomicU64,
    /// Ticks skipped after falling too far behind.
    pub skipped: AtomicU64,
    /// Connected players.
    pub players: AtomicU64,
    /// Entities in the world.
    pub entities: AtomicU64,
}

impl TickMetrics {
    /// Records one finished tick.
    pub fn record(&self, tick: u64, took: Duration, stats: TimerStats) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.tick.store(tick, Ordering::Relaxed);
        self.last_tick_us.store(us, Ordering::Relaxed);
        self.max_tick_us.fetch_max(us, Ordering::Relaxed);
        self.overruns.store(stats.overruns, Ordering::Relaxed);
        self.skipped.store(stats.skipped, Ordering::Relaxed);
    }
}
