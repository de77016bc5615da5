//! Fixed-rate deadline arithmetic, separate from any real clock so it can be
//! tested over millions of ticks in microseconds.
//!
//! Tick `n` is due at `start + n·dt` (never `previous + dt`, which drifts).
//! When a tick overruns, the next one runs at once to catch up; when the loop
//! falls more than [`TickTimer::max_catch_up`] ticks behind, the missed ticks
//! are skipped (counted, never run) and the schedule resumes from now.

use std::time::Duration;

/// What the loop should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sleep this long, then ask again.
    Wait(Duration),
    /// Run the tick with this number now.
    Run(u64),
}

/// Counters the timer keeps about lateness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Ticks whose work ran past the next tick's deadline.
    pub overruns: u64,
    /// Ticks that were never run because the loop fell too far behind.
    pub skipped: u64,
}

/// Deadline bookkeeping for a fixed-rate loop.
#[derive(Debug, Clone)]
pub struct TickTimer {
    /// Time of tick 0's deadline; all deadlines derive from it.
    origin: Duration,
    /// Tick period.
    dt: Duration,
    /// The tick to run next.
    next_tick: u64,
    /// Deadlines are `origin + (next_tick - tick_offset)·dt`; the offset
    /// moves when ticks are skipped so the tick number stays contiguous.
    tick_offset: u64,
    /// How many ticks behind the loop may fall before skipping.
    max_catch_up: u64,
    stats: TimerStats,
}

impl TickTimer {
    /// A timer whose first tick is due at `now`.
    pub fn new(now: Duration, dt: Duration, max_catch_up: u64) -> Self {
        assert!(!dt.is_zero(), "tick period must be positive");
        Self { origin: now, dt, next_tick: 0, tick_offset: 0, max_catch_up, stats: TimerStats::default() }
    }

    /// The tick period.
    pub fn dt(&self) -> Duration {
        self.dt
    }

    /// The largest lag, in ticks, the loop catches up on before skipping.
    pub fn max_catch_up(&self) -> u64 {
        self.max_catch_up
    }

    /// Lateness counters so far.
    pub fn stats(&self) -> TimerStats {
        self.stats
    }

    /// The deadline of the next tick to run.
    pub fn next_deadline(&self) -> Duration {
        self.deadline_of(self.next_tick)
    }

    fn deadline_of(&self, tick: u64) -> Duration {
        let nanos = self.dt.as_nanos() * u128::from(tick - self.tick_offset);
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        self.origin + Duration::new(secs, (nanos % 1_000_000_000) as u32)
    }

    /// Decides, at time `now`, whether to run the next tick or wait.
    pub fn poll(&mut self, now: Duration) -> Next {
        let deadline = self.next_deadline();
        if now < deadline {
            return Next::Wait(deadline - now);
        }
        let late = now - deadline;
        let behind = (late.as_nanos() / self.dt.as_nanos()) as u64;
        if behind > self.max_catch_up {
            // Too far behind: drop the missed ticks and restart the schedule now.
            self.stats.skipped += behind;
            self.origin = now;
            self.tick_offset = self.next_tick;
        }
        let tick = self.next_tick;
        self.next_tick += 1;
        Next::Run(tick)
    }

    /// Reports that the tick returned by the last [`Next::Run`] finished at
    /// `now`. A tick that ends past the next tick's deadline is an overrun.
    /// Returns whether it was one.
    pub fn finished(&mut self, now: Duration) -> bool {
        let overrun = now > self.next_deadline();
        if overrun {
            self.stats.overruns += 1;
        }
        overrun
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: Duration = Duration::from_nanos(33_333_333);

    /// Drives the timer with a manual clock: each tick "takes" `work(tick)`.
    fn simulate(ticks: u64, work: impl Fn(u64) -> Duration) -> (TickTimer, Duration) {
        let mut now = Duration::from_secs(5);
        let mut timer = TickTimer::new(now, DT, 3);
        let mut ran = 0;
        while ran < ticks {
            match timer.poll(now) {
                Next::Wait(d) => now += d,
                Next::Run(tick) => {
                    assert_eq!(tick, ran, "tick numbers are contiguous");
                    ran += 1;
                    now += work(tick);
                    timer.finished(now);
                }
            }
        }
        (timer, now)
    }

    #[test]
    fn no_drift_over_a_million_ticks() {
        let ticks = 1_000_000;
        let (timer, _) = simulate(ticks, |_| Duration::from_micros(1500));
        // The million-th deadline is exactly start + n·dt, to the nanosecond.
        assert_eq!(timer.next_deadline(), Duration::from_secs(5) + DT * ticks as u32);
        assert_eq!(timer.stats(), TimerStats::default());
    }

    #[test]
    fn an_overrun_is_caught_up_without_losing_the_schedule() {
        // Tick 10 takes 2.5 periods; the following ticks run at once, then the
        // loop is back on the original grid.
        let (timer, _) = simulate(100, |t| if t == 10 { DT * 5 / 2 } else { Duration::from_micros(100) });
        assert_eq!(timer.stats().skipped, 0);
        assert_eq!(timer.stats().overruns, 2, "tick 10 ends past 11's deadline, and 11 (started late) past 12's");
        assert_eq!(timer.next_deadline(), Duration::from_secs(5) + DT * 100);
    }

    #[test]
    fn a_long_stall_skips_ticks_and_counts_them() {
        // Tick 10 stalls for 20 periods; max catch-up is 3.
        let (timer, now) = simulate(50, |t| if t == 10 { DT * 20 } else { Duration::from_micros(100) });
        assert_eq!(timer.stats().skipped, 19);
        // After the skip the schedule is anchored at the moment of recovery:
        // deadlines stay in the future of the last run, never in the past.
        assert!(timer.next_deadline() + DT >= now);
    }

    #[test]
    fn a_late_first_poll_waits_for_nothing() {
        let mut timer = TickTimer::new(Duration::ZERO, DT, 3);
        assert_eq!(timer.poll(Duration::ZERO), Next::Run(0));
        assert_eq!(timer.poll(Duration::from_millis(1)), Next::Wait(DT - Duration::from_millis(1)));
    }
}
