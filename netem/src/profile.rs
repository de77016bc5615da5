//! What a link does to datagrams in one direction, and the named presets.

use std::str::FromStr;
use std::time::Duration;

/// Impairments applied to one direction of the link.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Profile {
    /// Base one-way delay.
    pub delay: Duration,
    /// Uniform jitter: the delay varies by up to ± this.
    pub jitter: Duration,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is sent twice.
    pub duplicate: f64,
    /// Probability a datagram is held back so later ones overtake it.
    pub reorder: f64,
}

/// Named network conditions. Figures apply to each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// 1 ms ± 0.5 ms, no loss.
    Lan,
    /// 151 ms ± 11 ms, 4% loss.
    Regional,
    /// 201 ms ± 16 ms, 6% loss.
    International,
    /// 300 ms ± 400 ms, 30% loss.
    Unplayable,
}

impl Preset {
    /// The preset's impairments.
    pub fn profile(self) -> Profile {
        let ms = Duration::from_millis;
        match self {
            Preset::Lan => Profile { delay: ms(1), jitter: Duration::from_micros(500), ..Profile::default() },
            Preset::Regional => Profile { delay: ms(151), jitter: ms(11), loss: 0.04, duplicate: 0.005, reorder: 0.01 },
            Preset::International => {
                Profile { delay: ms(201), jitter: ms(16), loss: 0.06, duplicate: 0.005, reorder: 0.01 }
            }
            Preset::Unplayable => {
                Profile { delay: ms(300), jitter: ms(400), loss: 0.30, duplicate: 0.02, reorder: 0.05 }
            }
        }
    }
}

impl FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lan" => Ok(Preset::Lan),
            "regional" => Ok(Preset::Regional),
            "international" => Ok(Preset::International),
            "unplayable" => Ok(Preset::Unplayable),
            other => Err(format!("unknown preset '{other}' (lan, regional, international, unplayable)")),
        }
    }
}
