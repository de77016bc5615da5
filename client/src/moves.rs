//! Scripted movement for the headless client and bots.

use std::str::FromStr;

/// A movement pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moves {
    /// A new random heading every second or so.
    Random,
    /// A steady circle.
    Circle,
    /// Stand still.
    Idle,
    /// Walk right in a straight line.
    Line,
    /// Back and forth along the down-right diagonal, 2 s each way, as raw
    /// (±1, ±1): two keys held, as a keyboard gives it.
    Diagonal,
}

impl FromStr for Moves {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "random" => Ok(Moves::Random),
            "circle" => Ok(Moves::Circle),
            "idle" => Ok(Moves::Idle),
            "line" => Ok(Moves::Line),
            "diagonal" => Ok(Moves::Diagonal),
            other => Err(format!("unknown movement '{other}' (expected random, circle, line, diagonal or idle)")),
        }
    }
}

/// A deliberate misbehaviour, to check the server holds the line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cheat {
    /// Send inputs this many times faster than the tick rate.
    Speed(f32),
    /// Ask for a move far longer than one step.
    Teleport,
    /// Send NaN as the movement.
    Nan,
    /// Send a chat line every tick.
    Flood,
}

impl FromStr for Cheat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "teleport" => Ok(Cheat::Teleport),
            "nan" => Ok(Cheat::Nan),
            "flood" => Ok(Cheat::Flood),
            other => match other.strip_prefix("speed:").map(str::parse::<f32>) {
                Some(Ok(factor)) if factor.is_finite() && (0.1..=100.0).contains(&factor) => Ok(Cheat::Speed(factor)),
                _ => Err(format!("unknown cheat '{other}' (speed:FACTOR, teleport, nan or flood)")),
            },
        }
    }
}

/// Produces one intent per client tick.
#[derive(Debug, Clone)]
pub struct Mover {
    moves: Moves,
    /// xorshift state for `Random`.
    state: u64,
    heading: (f32, f32),
    tick: u64,
}

impl Mover {
    /// A mover; `seed` varies the random pattern between clients.
    pub fn new(moves: Moves, seed: u64) -> Self {
        Self { moves, state: seed | 1, heading: (1.0, 0.0), tick: 0 }
    }

    fn next_random(&mut self) -> f32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 40) as f32 / (1u64 << 24) as f32
    }

    /// The intent for the next tick; `tick_rate` sets the pattern's pace.
    pub fn next(&mut self, tick_rate: u16) -> (f32, f32) {
        let rate = u64::from(tick_rate.max(1));
        let t = self.tick as f32 / rate as f32;
        self.tick += 1;
        match self.moves {
            Moves::Idle => (0.0, 0.0),
            Moves::Line => (1.0, 0.0),
            Moves::Diagonal if ((t / 2.0) as u64).is_multiple_of(2) => (1.0, 1.0),
            Moves::Diagonal => (-1.0, -1.0),
            Moves::Circle => (t.cos(), t.sin()),
            Moves::Random => {
                if self.tick % rate == 1 {
                    let angle = self.next_random() * std::f32::consts::TAU;
                    self.heading = (angle.cos(), angle.sin());
                }
                self.heading
            }
        }
    }
}
