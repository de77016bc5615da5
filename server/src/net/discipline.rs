//! Protocol discipline: which client messages are allowed in which phase
//! of a connection. A pure function, so every rule is unit-tested;
//! [`super::NetServer`] counts what it refuses.
//!
//! A channel's bytes have one type: [`Channel::Reliable`] carries
//! `ClientMessage`s, [`Channel::Input`] the game's `InputMessage`s (decoded
//! by the game's input feature). Bytes of one sent on the other do not
//! decode, and count as malformed.

use tickforge_shared::protocol::Channel;

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connected; the player's saved state is loading and no avatar exists.
    Joining,
    /// The avatar is in the world (the welcome was sent).
    Playing,
}

/// What to do with a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the game.
    Deliver,
    /// Drop it: sent before the welcome. Honest clients do this for a few
    /// ticks while their state loads, so it only counts against the
    /// client past a grace allowance.
    Early,
    /// Drop it and count it: a message no honest client sends this way.
    Violation(&'static str),
}

/// Judges a message received on `channel` in `phase`.
pub fn judge(phase: Phase, channel: Channel) -> Verdict {
    match (phase, channel) {
        (_, Channel::Snapshot) => Verdict::Violation("message on the server's snapshot channel"),
        (Phase::Joining, _) => Verdict::Early,
        (Phase::Playing, _) => Verdict::Deliver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_judged_by_channel_and_phase() {
        assert_eq!(judge(Phase::Playing, Channel::Reliable), Verdict::Deliver);
        assert_eq!(judge(Phase::Playing, Channel::Input), Verdict::Deliver);
        assert_eq!(judge(Phase::Joining, Channel::Input), Verdict::Early);
        assert_eq!(judge(Phase::Joining, Channel::Reliable), Verdict::Early);
        assert!(matches!(judge(Phase::Playing, Channel::Snapshot), Verdict::Violation(_)));
    }
}
