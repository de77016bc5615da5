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
//! snapshots. When it runs past the newest one (snapshots lost or late),
//! entities carry on along their last known motion for up to
//! [`MAX_EXTRAPOLATION_TICKS`], then hold; both times are counted.

use std::collections::{HashMap, VecDeque};

use tickforge_shared::protocol::{EntityKind, NetId};
use tickforge_shared::sim::Vec2;
use tickforge_shared::snapshot::{KnownSet, QUANT};

/// Samples kept for the clock estimate.
const SAMPLES: usize = 90;

/// How far past the newest snapshot entities are extrapolated (about 250 ms at 30 Hz).
pub const MAX_EXTRAPOLATION_TICKS: f64 = 8.0;

/// How the drawn positions were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampled {
    /// Between two received snapshots.
    Interpolated,
    /// Past the newest snapshot, carried along the last motion.
    Extrapolated,
    /// Past the extrapolation limit: entities held still (frozen).
    Held,
}

/// Server-time estimate from snapshot arrivals.
#[derive(Debug, Clone, Default)]
pub struct ServerClock {
    samples: VecDeque<f64>,
    sorted: Vec<f64>,
    /// The last answer of `offset_and_jitter`, until a sample comes.
    summary: Option<(f64, f64)>,
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
        self.summary = None;
    }

    /// (least delay offset, jitter) in seconds; `None` before any sample.
    pub fn offset_and_jitter(&mut self) -> Option<(f64, f64)> {
        if self.samples.is_empty() {
            return None;
        }
        if let Some(summary) = self.summary {
            return Some(summary);
        }
        // The minimum and one order statistic: a selection, not a sort.
        self.sorted.clear();
        self.sorted.extend(self.samples.iter().copied());
        let min = self.sorted.iter().copied().fold(f64::INFINITY, f64::min);
        let at = ((self.sorted.len() - 1) as f64 * 0.95) as usize;
        let (_, &mut p95, _) = self.sorted.select_nth_unstable_by(at, f64::total_cmp);
        self.summary = Some((min, p95 - min));
        self.summary
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
    /// Its kind's packed fields, from the newer snapshot.
    pub fields: u32,
}

/// Positions at `render_tick`: interpolated between the two snapshots
/// around it, or extrapolated past the newest.
pub fn sample(history: &VecDeque<(u32, KnownSet)>, render_tick: f64, out: &mut Vec<Drawn>) -> Sampled {
    out.clear();
    let Some((newest_tick, newest)) = history.back() else { return Sampled::Interpolated };
    let after = history.iter().position(|(t, _)| f64::from(*t) >= render_tick);
    let (a, b, t) = match after {
        None => {
            let ahead = render_tick - f64::from(*newest_tick);
            let carried = ahead.min(MAX_EXTRAPOLATION_TICKS) as f32;
            out.extend(newest.iter().map(|k| {
                let m = k.motion;
                let pos = k.pos();
                let pos = if m.dt > 0 {
                    let per_tick = |d: i16| f32::from(d) / f32::from(m.dt) / QUANT;
                    Vec2::new(pos.x + per_tick(m.dx) * carried, pos.y + per_tick(m.dy) * carried)
                } else {
                    pos
                };
                Drawn { id: k.id, kind: k.kind, pos, fields: k.fields }
            }));
            return if ahead > MAX_EXTRAPOLATION_TICKS { Sampled::Held } else { Sampled::Extrapolated };
        }
        Some(0) => {
            let (_, first) = &history[0];
            out.extend(first.iter().map(|k| Drawn { id: k.id, kind: k.kind, pos: k.pos(), fields: k.fields }));
            return Sampled::Interpolated;
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
        out.push(Drawn { id: k.id, kind: k.kind, pos, fields: k.fields });
    }
    Sampled::Interpolated
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_shared::snapshot::Known;

    fn set(x: f32) -> KnownSet {
        vec![Known::new(NetId(1), EntityKind(1), Vec2::new(x, 10.0))]
    }

    #[test]
    fn interpolates_between_the_surrounding_snapshots() {
        let history: VecDeque<_> = [(10, set(100.0)), (12, set(110.0)), (14, set(130.0))].into_iter().collect();
        let mut out = Vec::new();
        assert_eq!(sample(&history, 11.0, &mut out), Sampled::Interpolated);
        assert_eq!(out[0].pos.x, 105.0);
        assert_eq!(sample(&history, 13.5, &mut out), Sampled::Interpolated);
        assert_eq!(out[0].pos.x, 125.0);
        // The newest entry has no motion: past it, it stays put.
        assert_eq!(sample(&history, 15.0, &mut out), Sampled::Extrapolated);
        assert_eq!(out[0].pos.x, 130.0);
        assert_eq!(sample(&history, 14.0 + MAX_EXTRAPOLATION_TICKS + 1.0, &mut out), Sampled::Held);
    }

    #[test]
    fn past_the_newest_snapshot_entities_carry_on_then_hold() {
        use tickforge_shared::snapshot::Motion;
        let mut moving = set(130.0);
        // 8 quanta (2 units) per tick along x.
        moving[0].motion = Motion { dx: 16, dy: 0, dt: 2 };
        let history: VecDeque<_> = [(12, set(110.0)), (14, moving)].into_iter().collect();
        let mut out = Vec::new();
        assert_eq!(sample(&history, 17.0, &mut out), Sampled::Extrapolated);
        assert_eq!(out[0].pos.x, 136.0);
        assert_eq!(sample(&history, 40.0, &mut out), Sampled::Held);
        assert_eq!(out[0].pos.x, 130.0 + 2.0 * MAX_EXTRAPOLATION_TICKS as f32, "stops at the limit");
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
