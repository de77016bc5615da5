//! Smooth remote entities: a clock that tracks the server's tick from
//! snapshot arrivals, and interpolation between buffered snapshots at a
//! delay that adapts to the measured jitter.
//!
//! Each snapshot of tick `T` arriving at local time `a` gives a sample
//! `a - T·dt`: the server's tick-0 time as seen here plus that packet's
//! delay. The smallest recent sample is the least-delayed path; the spread
//! above it is jitter. Entities are drawn at server time
//! `now - (min + delay)`, where `delay` covers one snapshot interval plus
//! twice the jitter, so the render point is normally between two received
//! snapshots. When it runs past the newest one, the entities hold there and
//! the time is counted as extrapolating.

use std::collections::{HashMap, VecDeque};

use tickforge_shared::protocol::{EntityKind, NetId};
use tickforge_shared::sim::Vec2;
use tickforge_shared::snapshot::KnownSet;

/// Samples kept for the clock estimate.
const SAMPLES: usize = 90;

/// Server-time estimate from snapshot arrivals.
#[derive(Debug, Clone, Default)]
pub struct ServerClock {
    samples: VecDeque<f64>,
    sorted: Vec<f64>,
    /// Seconds per tick.
    pub dt: f64,
}

impl ServerClock {
    /// Records a snapshot of `tick` arriving at local time `arrived` (seconds).
    pub fn observe(&mut self, tick: u32, arrived: f64) {
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(arrived - f64::from(tick) * self.dt);
    }

    /// (least delay offset, jitter) in seconds; `None` before any sample.
    pub fn offset_and_jitter(&mut self) -> Option<(f64, f64)> {
        if self.samples.is_empty() {
            return None;
        }
        self.sorted.clear();
        self.sorted.extend(self.samples.iter().copied());
        self.sorted.sort_by(f64::total_cmp);
        let min = self.sorted[0];
        let p95 = self.sorted[((self.sorted.len() - 1) as f64 * 0.95) as usize];
        Some((min, p95 - min))
    }

    /// The server tick (fractional) happening now, by the least-delay estimate.
    pub fn server_tick_now(&mut self, now: f64) -> Option<f64> {
        let (offset, _) = self.offset_and_jitter()?;
        Some((now - offset) / self.dt)
    }
}

/// An entity to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawn {
    /// Id.
    pub id: NetId,
    /// Kind.
    pub kind: EntityKind,
    /// Interpolated position.
    pub pos: Vec2,
}

/// Interpolates between the two snapshots around `render_tick`. Returns
/// whether it had to hold at the newest snapshot (extrapolating).
pub fn sample(history: &VecDeque<(u32, KnownSet)>, render_tick: f64, out: &mut Vec<Drawn>) -> bool {
    out.clear();
    let Some((newest_tick, newest)) = history.back() else { return false };
    let after = history.iter().position(|(t, _)| f64::from(*t) >= render_tick);
    let (a, b, t) = match after {
        None => {
            out.extend(newest.iter().map(|k| Drawn { id: k.id, kind: k.kind, pos: k.pos() }));
            return render_tick > f64::from(*newest_tick);
        }
        Some(0) => {
            let (_, first) = &history[0];
            out.extend(first.iter().map(|k| Drawn { id: k.id, kind: k.kind, pos: k.pos() }));
            return false;
        }
        Some(i) => {
            let (ta, a) = &history[i - 1];
            let (tb, b) = &history[i];
            let span = f64::from(tb - ta).max(1.0);
            (a, b, ((render_tick - f64::from(*ta)) / span).clamp(0.0, 1.0) as f32)
        }
    };
    let earlier: HashMap<NetId, Vec2> = a.iter().map(|k| (k.id, k.pos())).collect();
    for k in b {
        let to = k.pos();
        let pos = match earlier.get(&k.id) {
            // A long jump (a respawned orb) is not slid across the map.
            Some(from) if from.distance(to) < 100.0 => {
                Vec2::new(from.x + (to.x - from.x) * t, from.y + (to.y - from.y) * t)
            }
            _ => to,
        };
        out.push(Drawn { id: k.id, kind: k.kind, pos });
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_shared::snapshot::Known;

    fn set(x: f32) -> KnownSet {
        vec![Known::new(NetId(1), EntityKind::Npc, Vec2::new(x, 10.0))]
    }

    #[test]
    fn interpolates_between_the_surrounding_snapshots() {
        let history: VecDeque<_> = [(10, set(100.0)), (12, set(110.0)), (14, set(130.0))].into_iter().collect();
        let mut out = Vec::new();
        assert!(!sample(&history, 11.0, &mut out));
        assert_eq!(out[0].pos.x, 105.0);
        assert!(!sample(&history, 13.5, &mut out));
        assert_eq!(out[0].pos.x, 125.0);
        assert!(sample(&history, 15.0, &mut out), "past the newest: holding");
        assert_eq!(out[0].pos.x, 130.0);
    }

    #[test]
    fn clock_finds_the_least_delayed_path_and_the_jitter() {
        let mut clock = ServerClock { dt: 0.1, ..Default::default() };
        // Tick n sent at n·0.1 s, arriving after 50 ms plus 0, 7 or 14 ms of jitter.
        for n in 0..50u32 {
            let jitter = f64::from((n * 7) % 21) / 1000.0;
            clock.observe(n, f64::from(n) * 0.1 + 0.05 + jitter);
        }
        let (offset, jitter) = clock.offset_and_jitter().unwrap();
        assert!((offset - 0.05).abs() < 1e-9);
        assert!((jitter - 0.014).abs() < 1e-9, "{jitter}");
        let now = 10.0;
        assert!((clock.server_tick_now(now).unwrap() - 99.5).abs() < 1e-6);
    }
}
