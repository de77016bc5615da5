//! Lock-free latency histograms: written by one thread with relaxed atomic
//! adds, read by the metrics endpoint at any time. No lock ever sits on the
//! tick thread's path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (the last bucket is +Inf).
pub const BOUNDS_US: [u64; 14] =
    [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000];

/// A fixed-bucket histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Count per bucket (not cumulative); index `BOUNDS_US.len()` is +Inf.
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// A consistent-enough copy for exporting.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, count in this bucket alone)`, the last
    /// bound being `f64::INFINITY` (the exporter accumulates).
    pub buckets: Vec<(f64, u64)>,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations in seconds.
    pub sum_secs: f64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let index = BOUNDS_US.iter().position(|&b| us <= b).unwrap_or(BOUNDS_US.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Reads the current figures.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let bounds = BOUNDS_US.iter().map(|&b| b as f64 / 1e6).chain(std::iter::once(f64::INFINITY));
        let buckets = bounds.zip(&self.buckets).map(|(bound, count)| (bound, count.load(Ordering::Relaxed))).collect();
        HistogramSnapshot {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_secs: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_observation_lands_in_one_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(40));
        h.observe(Duration::from_micros(700));
        h.observe(Duration::from_secs(5));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.00005, 1));
        assert_eq!(s.buckets[4], (0.001, 1));
        assert_eq!(*s.buckets.last().unwrap(), (f64::INFINITY, 1), "5 s lands in +Inf");
        assert_eq!(s.buckets.iter().map(|b| b.1).sum::<u64>(), s.count);
        assert!((s.sum_secs - 5.00074).abs() < 1e-9);
    }
}
