//! Tick figures, shared lock-free with the HTTP side.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bevy_ecs::resource::Resource;

use super::timer::TimerStats;
use crate::metrics::Histogram;

/// The tick's figures as a resource: systems write them, the HTTP side reads them.
#[derive(Debug, Clone, Resource)]
pub struct SharedMetrics(pub Arc<TickMetrics>);

/// Counters the tick loop writes and other threads read.
#[derive(Debug, Default)]
pub struct TickMetrics {
    /// Last tick number run.
    pub tick: AtomicU64,
    /// Ticks run.
    pub ticks: AtomicU64,
    /// Every tick's duration.
    pub durations: Histogram,
    /// Median tick duration over the last minute, in microseconds.
    pub window_p50_us: AtomicU64,
    /// 99th percentile over the last minute, in microseconds.
    pub window_p99_us: AtomicU64,
    /// Longest tick over the last minute, in microseconds.
    pub window_max_us: AtomicU64,
    /// Median tick duration over the last 10 seconds, in microseconds.
    pub recent_p50_us: AtomicU64,
    /// 99th percentile over the last 10 seconds, in microseconds.
    pub recent_p99_us: AtomicU64,
    /// Longest tick over the last 10 seconds, in microseconds.
    pub recent_max_us: AtomicU64,
    /// Ticks whose work ran past the next deadline.
    pub overruns: AtomicU64,
    /// Ticks skipped after falling too far behind.
    pub skipped: AtomicU64,
    /// Connected players.
    pub players: AtomicU64,
    /// Entities in the world.
    pub entities: AtomicU64,
    /// Bytes per second received from all players.
    pub bytes_in_per_s: AtomicU64,
    /// Bytes per second sent to all players.
    pub bytes_out_per_s: AtomicU64,
    /// Client messages that failed to decode.
    pub malformed: AtomicU64,
    /// Reliable messages queued, once per recipient (chat relays, notices, joins).
    pub reliable_sent: AtomicU64,
    /// Client messages refused for their channel or connection phase.
    pub out_of_phase: AtomicU64,
    /// Inputs and chat lines refused, summed over connected players.
    pub player_flags: AtomicU64,
    /// Datagrams refused by the netcode header check.
    pub bad_datagrams: AtomicU64,
    /// Decrypted payloads refused by the payload check.
    pub bad_payloads: AtomicU64,
    /// Datagrams skipped by the per-tick receive budget.
    pub over_budget: AtomicU64,
    /// Datagrams read from players (UDP and WebSocket).
    pub datagrams_in: AtomicU64,
    /// Bytes of the datagrams read.
    pub datagram_bytes_in: AtomicU64,
    /// Datagrams sent to players.
    pub datagrams_out: AtomicU64,
    /// Bytes of the datagrams sent.
    pub datagram_bytes_out: AtomicU64,
    /// Players connected over WebSocket now.
    pub ws_players: AtomicU64,
    /// Connection requests and responses left unanswered, by netcode
    /// refusal reason (indexed by `tickforge_netcode::Refused::index`).
    pub handshake_refused: [AtomicU64; tickforge_netcode::Refused::ALL.len()],
    /// Connections replaced by a newer one of the same account.
    pub connections_replaced: AtomicU64,
    /// Chat lines dropped by the per-player chat limit.
    pub chat_dropped: AtomicU64,
    /// Cluster chat lines delivered to this server's players.
    pub chat_relayed: AtomicU64,
    /// Cluster chat lines gone from the database before this server read them.
    pub chat_skipped: AtomicU64,
    /// Chat lines a client said again (after a reconnect) that the
    /// database already had: taken once, not doubled.
    pub chat_resent: AtomicU64,
    /// Players this server handed over to another (blue-green).
    pub handoffs: AtomicU64,
    /// Handed-over players whose client never left (dropped at the deadline).
    pub handoffs_abandoned: AtomicU64,
    /// The longest handoff so far, from the freeze to the client leaving, in ms.
    pub handoff_longest_ms: AtomicU64,
    /// Times the store queue was full and writes waited in the tick's outbox.
    pub store_backpressure: AtomicU64,
    /// Writes waiting in the tick's outbox.
    pub outbox_len: AtomicU64,
}

impl TickMetrics {
    /// Records one finished tick.
    pub fn record(&self, tick: u64, took: Duration, stats: TimerStats) {
        self.tick.store(tick, Ordering::Relaxed);
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.durations.observe(took);
        self.overruns.store(stats.overruns, Ordering::Relaxed);
        self.skipped.store(stats.skipped, Ordering::Relaxed);
    }

    fn publish_window(&self, minute: (u64, u64, u64), recent: (u64, u64, u64)) {
        self.window_p50_us.store(minute.0, Ordering::Relaxed);
        self.window_p99_us.store(minute.1, Ordering::Relaxed);
        self.window_max_us.store(minute.2, Ordering::Relaxed);
        self.recent_p50_us.store(recent.0, Ordering::Relaxed);
        self.recent_p99_us.store(recent.1, Ordering::Relaxed);
        self.recent_max_us.store(recent.2, Ordering::Relaxed);
    }
}

/// The last minute of tick durations, summarised once a second.
#[derive(Debug)]
pub struct TickWindow {
    durations_us: VecDeque<u32>,
    capacity: usize,
    publish_every: u64,
    scratch: Vec<u32>,
}

impl TickWindow {
    /// A window for `tick_rate` ticks per second.
    pub fn new(tick_rate: u16) -> Self {
        let capacity = usize::from(tick_rate.max(1)) * 60;
        Self {
            durations_us: VecDeque::with_capacity(capacity),
            capacity,
            publish_every: u64::from(tick_rate.max(1)),
            scratch: Vec::with_capacity(capacity),
        }
    }

    /// Adds a tick; once a second, publishes p50/p99/max into `metrics`.
    pub fn push(&mut self, tick: u64, took: Duration, metrics: &TickMetrics) {
        if self.durations_us.len() == self.capacity {
            self.durations_us.pop_front();
        }
        self.durations_us.push_back(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        if tick.is_multiple_of(self.publish_every) {
            let minute = self.summary(self.capacity);
            let recent = self.summary(self.publish_every as usize * 10);
            metrics.publish_window(minute, recent);
        }
    }

    /// (p50, p99, max) in microseconds over the last `ticks` ticks.
    pub fn summary(&mut self, ticks: usize) -> (u64, u64, u64) {
        self.scratch.clear();
        let skip = self.durations_us.len().saturating_sub(ticks);
        self.scratch.extend(self.durations_us.iter().skip(skip).copied());
        self.scratch.sort_unstable();
        let n = self.scratch.len();
        if n == 0 {
            return (0, 0, 0);
        }
        let at = |q: f64| u64::from(self.scratch[((n as f64 * q).ceil() as usize).clamp(1, n) - 1]);
        (at(0.50), at(0.99), u64::from(self.scratch[n - 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_percentiles_cover_the_last_minute_only() {
        let metrics = TickMetrics::default();
        let mut window = TickWindow::new(10);
        // One minute of 1 ms ticks with one 50 ms spike...
        for tick in 1..=600 {
            let took = if tick == 300 { Duration::from_millis(50) } else { Duration::from_millis(1) };
            window.push(tick, took, &metrics);
        }
        assert_eq!(window.summary(600), (1000, 1000, 50_000));
        assert_eq!(metrics.window_max_us.load(Ordering::Relaxed), 50_000);
        assert_eq!(metrics.recent_max_us.load(Ordering::Relaxed), 1000, "the spike is older than 10 s");
        // ...then another minute of 2 ms ticks pushes the spike out.
        for tick in 601..=1200 {
            window.push(tick, Duration::from_millis(2), &metrics);
        }
        assert_eq!(window.summary(600), (2000, 2000, 2000));
    }
}
