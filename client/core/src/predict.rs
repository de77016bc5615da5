//! Client-side prediction of the own avatar, with reconciliation.
//!
//! Every input is applied locally at once with the game's shared
//! [`Simulation::step`], and
//! kept until the server acknowledges its sequence. Each snapshot carries the
//! server's exact state after the acknowledged input: the predictor rewinds
//! to it and replays the inputs still in flight. If the replayed state
//! differs from what was shown, the difference becomes a visual offset that
//! decays over [`SMOOTHING_SECS`], so corrections glide instead of snapping.

use std::collections::VecDeque;

use tickforge_shared::sim::{Simulation, Vec2};
use tickforge_shared::snapshot::QUANT;

/// Time constant of the correction smoothing.
pub const SMOOTHING_SECS: f32 = 0.1;

/// Corrections at or below one quantization step are not mispredictions.
pub const MISPREDICTION_THRESHOLD: f32 = 1.0 / QUANT;

/// The own player's predicted state in simulation `S`.
#[derive(Debug, Clone, Default)]
pub struct Predictor<S: Simulation> {
    /// Predicted authoritative state (before smoothing).
    state: Option<S::State>,
    /// Inputs sent but not yet acknowledged: (seq, checked input).
    pending: VecDeque<(u32, S::Input)>,
    /// Added to the predicted position when drawing; decays to zero.
    offset: Vec2,
    /// Corrections larger than [`MISPREDICTION_THRESHOLD`].
    pub mispredictions: u64,
    /// Largest correction seen, in world units.
    pub max_correction: f32,
    /// Sum of all correction distances, in world units.
    pub correction_total: f32,
}

impl<S: Simulation> Predictor<S> {
    /// Most unacknowledged inputs kept (older ones are dropped).
    pub const MAX_PENDING: usize = 256;

    /// Applies a checked input locally, at once.
    pub fn input(&mut self, seq: u32, input: S::Input, dt: f32) {
        if self.pending.len() == Self::MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((seq, input));
        if let Some(state) = self.state {
            self.state = Some(S::step(state, input, dt));
        }
    }

    /// Reconciles with the server's state after input `ack_seq`.
    pub fn reconcile(&mut self, server: S::State, ack_seq: u32, dt: f32) {
        while self.pending.front().is_some_and(|(seq, _)| *seq <= ack_seq) {
            self.pending.pop_front();
        }
        let replayed = self.pending.iter().fold(server, |state, (_, input)| S::step(state, *input, dt));
        if let Some(shown) = self.state {
            let (shown, replayed) = (S::position(&shown), S::position(&replayed));
            let error = shown.distance(replayed);
            if error > 0.0 {
                self.correction_total += error;
                self.max_correction = self.max_correction.max(error);
                if error > MISPREDICTION_THRESHOLD {
                    self.mispredictions += 1;
                }
                self.offset = Vec2::new(self.offset.x + shown.x - replayed.x, self.offset.y + shown.y - replayed.y);
            }
        }
        self.state = Some(replayed);
    }

    /// Lets the visual offset decay over `frame_dt` seconds.
    pub fn smooth(&mut self, frame_dt: f32) {
        let k = (-frame_dt / SMOOTHING_SECS).exp();
        self.offset = Vec2::new(self.offset.x * k, self.offset.y * k);
        if self.offset.length() < 0.01 {
            self.offset = Vec2::ZERO;
        }
    }

    /// Where to draw the own player.
    pub fn display_pos(&self) -> Option<Vec2> {
        self.state.map(|s| {
            let pos = S::position(&s);
            Vec2::new(pos.x + self.offset.x, pos.y + self.offset.y)
        })
    }

    /// The predicted state, unsmoothed.
    pub fn state(&self) -> Option<S::State> {
        self.state
    }

    /// Inputs in flight.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_shared::sim::{Body, InputVerdict};

    const DT: f32 = 1.0 / 30.0;

    /// A game whose input is a velocity, taken as it is.
    #[derive(Debug, Clone, Copy, Default)]
    struct Glide;

    impl Simulation for Glide {
        type Input = Vec2;
        type State = Body;
        const WORLD: Vec2 = Vec2::new(2000.0, 2000.0);

        fn check(input: Vec2) -> (Vec2, InputVerdict) {
            (input, InputVerdict::Accepted)
        }

        fn step(body: Body, vel: Vec2, dt: f32) -> Body {
            Body { pos: Vec2::new(body.pos.x + vel.x * dt, body.pos.y + vel.y * dt), vel }
        }

        fn position(body: &Body) -> Vec2 {
            body.pos
        }

        fn schema() -> tickforge_shared::schema::Schema {
            tickforge_shared::schema::Schema::new(vec![tickforge_shared::schema::KindSpec::new("body")]).unwrap()
        }

        const PLAYER_KIND: tickforge_shared::protocol::EntityKind = tickforge_shared::protocol::EntityKind(0);
    }

    /// Runs the server's side: the same inputs, one per tick.
    fn server_after(start: Body, inputs: &[Vec2]) -> Body {
        inputs.iter().fold(start, |b, i| Glide::step(b, *i, DT))
    }

    #[test]
    fn agreeing_server_means_no_correction() {
        let start = Body { pos: Vec2::new(500.0, 500.0), vel: Vec2::ZERO };
        let mut p = Predictor::<Glide>::default();
        p.reconcile(start, 0, DT);
        let inputs: Vec<Vec2> = (0..20).map(|i| Vec2::new((i as f32 * 0.3).cos() * 200.0, 200.0)).collect();
        for (i, input) in inputs.iter().enumerate() {
            p.input(i as u32 + 1, *input, DT);
        }
        // The server has applied 12 of the 20 so far.
        p.reconcile(server_after(start, &inputs[..12]), 12, DT);
        assert_eq!(p.mispredictions, 0);
        assert_eq!(p.correction_total, 0.0);
        assert_eq!(p.state(), Some(server_after(start, &inputs)));
        assert_eq!(p.pending(), 8);
    }

    #[test]
    fn injected_disagreement_converges_smoothly() {
        let start = Body { pos: Vec2::new(500.0, 500.0), vel: Vec2::ZERO };
        let east = Vec2::new(250.0, 0.0);
        let mut p = Predictor::<Glide>::default();
        p.reconcile(start, 0, DT);
        for seq in 1..=10 {
            p.input(seq, east, DT);
        }
        // The server says inputs 1..=5 were applied but from a spot 20 units up.
        let shifted = Body { pos: Vec2::new(500.0, 480.0), vel: Vec2::ZERO };
        let truth = server_after(shifted, &[east; 10]);
        p.reconcile(server_after(shifted, &[east; 5]), 5, DT);
        assert_eq!(p.mispredictions, 1);
        assert!((p.max_correction - 20.0).abs() < 0.01);
        // The authoritative prediction is right at once...
        assert_eq!(p.state(), Some(truth));
        // ...while the drawn position glides there.
        let drawn = p.display_pos().unwrap();
        assert!((drawn.y - 500.0).abs() < 0.01, "no visible snap: {drawn:?}");
        for _ in 0..60 {
            p.smooth(1.0 / 60.0);
        }
        assert_eq!(p.display_pos(), Some(truth.pos), "converged after a second");
    }
}
