//! Client-side prediction of the own avatar, with reconciliation.
//!
//! Every input is applied locally at once with the shared `sim::step`, and
//! kept until the server acknowledges its sequence. Each snapshot carries the
//! server's exact state after the acknowledged input: the predictor rewinds
//! to it and replays the inputs still in flight. If the replayed state
//! differs from what was shown, the difference becomes a visual offset that
//! decays over [`SMOOTHING_SECS`], so corrections glide instead of snapping.

use std::collections::VecDeque;

use tickforge_shared::sim::{self, Body, Intent, Vec2};
use tickforge_shared::snapshot::QUANT;

/// Time constant of the correction smoothing.
pub const SMOOTHING_SECS: f32 = 0.1;

/// Corrections at or below one quantization step are not mispredictions.
pub const MISPREDICTION_THRESHOLD: f32 = 1.0 / QUANT;

/// The own avatar's predicted state.
#[derive(Debug, Clone, Default)]
pub struct Predictor {
    /// Predicted authoritative state (before smoothing).
    body: Option<Body>,
    /// Inputs sent but not yet acknowledged: (seq, intent).
    pending: VecDeque<(u32, Intent)>,
    /// Added to the predicted position when drawing; decays to zero.
    offset: Vec2,
    /// Corrections larger than [`MISPREDICTION_THRESHOLD`].
    pub mispredictions: u64,
    /// Largest correction seen, in world units.
    pub max_correction: f32,
    /// Sum of all correction distances, in world units.
    pub correction_total: f32,
}

impl Predictor {
    /// Most unacknowledged inputs kept (older ones are dropped).
    pub const MAX_PENDING: usize = 256;

    /// Applies an input locally, at once.
    pub fn input(&mut self, seq: u32, intent: Intent, dt: f32) {
        if self.pending.len() == Self::MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((seq, intent));
        if let Some(body) = self.body {
            self.body = Some(sim::step(body, intent, dt));
        }
    }

    /// Reconciles with the server's state after input `ack_seq`.
    pub fn reconcile(&mut self, server: Body, ack_seq: u32, dt: f32) {
        while self.pending.front().is_some_and(|(seq, _)| *seq <= ack_seq) {
            self.pending.pop_front();
        }
        let replayed = self.pending.iter().fold(server, |body, (_, intent)| sim::step(body, *intent, dt));
        if let Some(shown) = self.body {
            let error = shown.pos.distance(replayed.pos);
            if error > 0.0 {
                self.correction_total += error;
                self.max_correction = self.max_correction.max(error);
                if error > MISPREDICTION_THRESHOLD {
                    self.mispredictions += 1;
                }
                self.offset = Vec2::new(
                    self.offset.x + shown.pos.x - replayed.pos.x,
                    self.offset.y + shown.pos.y - replayed.pos.y,
                );
            }
        }
        self.body = Some(replayed);
    }

    /// Lets the visual offset decay over `frame_dt` seconds.
    pub fn smooth(&mut self, frame_dt: f32) {
        let k = (-frame_dt / SMOOTHING_SECS).exp();
        self.offset = Vec2::new(self.offset.x * k, self.offset.y * k);
        if self.offset.length() < 0.01 {
            self.offset = Vec2::ZERO;
        }
    }

    /// Where to draw the own avatar.
    pub fn display_pos(&self) -> Option<Vec2> {
        self.body.map(|b| Vec2::new(b.pos.x + self.offset.x, b.pos.y + self.offset.y))
    }

    /// The predicted state, unsmoothed.
    pub fn body(&self) -> Option<Body> {
        self.body
    }

    /// Inputs in flight.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f32 = 1.0 / 30.0;

    /// Runs the server's side: the same inputs, one per tick.
    fn server_after(start: Body, intents: &[Intent]) -> Body {
        intents.iter().fold(start, |b, i| sim::step(b, *i, DT))
    }

    #[test]
    fn agreeing_server_means_no_correction() {
        let start = Body { pos: Vec2::new(500.0, 500.0), vel: Vec2::ZERO };
        let mut p = Predictor::default();
        p.reconcile(start, 0, DT);
        let intents: Vec<Intent> = (0..20).map(|i| Intent::new((i as f32 * 0.3).cos(), 1.0)).collect();
        for (i, intent) in intents.iter().enumerate() {
            p.input(i as u32 + 1, *intent, DT);
        }
        // The server has applied 12 of the 20 so far.
        p.reconcile(server_after(start, &intents[..12]), 12, DT);
        assert_eq!(p.mispredictions, 0);
        assert_eq!(p.correction_total, 0.0);
        assert_eq!(p.body(), Some(server_after(start, &intents)));
        assert_eq!(p.pending(), 8);
    }

    #[test]
    fn injected_disagreement_converges_smoothly() {
        let start = Body { pos: Vec2::new(500.0, 500.0), vel: Vec2::ZERO };
        let mut p = Predictor::default();
        p.reconcile(start, 0, DT);
        for seq in 1..=10 {
            p.input(seq, Intent::new(1.0, 0.0), DT);
        }
        // The server says inputs 1..=5 were applied but from a spot 20 units up.
        let shifted = Body { pos: Vec2::new(500.0, 480.0), vel: Vec2::ZERO };
        let truth = server_after(shifted, &[Intent::new(1.0, 0.0); 10]);
        p.reconcile(server_after(shifted, &[Intent::new(1.0, 0.0); 5]), 5, DT);
        assert_eq!(p.mispredictions, 1);
        assert!((p.max_correction - 20.0).abs() < 0.01);
        // The authoritative prediction is right at once...
        assert_eq!(p.body(), Some(truth));
        // ...while the drawn position glides there.
        let drawn = p.display_pos().unwrap();
        assert!((drawn.y - 500.0).abs() < 0.01, "no visible snap: {drawn:?}");
        for _ in 0..60 {
            p.smooth(1.0 / 60.0);
        }
        assert_eq!(p.display_pos(), Some(truth.pos), "converged after a second");
    }
}
