//! Protocol discipline: which client messages are allowed on which channel
//! and in which phase of a connection. A pure function, so every rule is
//! unit-tested; [`super::NetServer`] counts what it refuses.

use tickforge_shared::protocol::{Channel, ClientMessage};

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connected; the player's saved state is loading and no avatar exists.
    Joining,
    /// The avatar is in the world (the welcome was sent).
    Playing,
}

/// What to do with a decoded message.
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

/// Judges `message`, received on `channel` in `phase`.
pub fn judge(phase: Phase, channel: Channel, message: &ClientMessage) -> Verdict {
    let expected = match message {
        ClientMessage::Input { .. } => Channel::Input,
        ClientMessage::Chat { .. } | ClientMessage::ChatFrom { .. } => Channel::Reliable,
    };
    if channel != expected {
        return Verdict::Violation("message on the wrong channel");
    }
    match phase {
        Phase::Joining => Verdict::Early,
        Phase::Playing => Verdict::Deliver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_judged_by_channel_and_phase() {
        let input = ClientMessage::Input { ack_tick: 0, inputs: vec![] };
        let chat = ClientMessage::Chat { seq: 1, text: "hi".into() };
        let from = ClientMessage::ChatFrom { after: Some(7) };
        assert_eq!(judge(Phase::Playing, Channel::Reliable, &from), Verdict::Deliver);
        assert!(matches!(judge(Phase::Playing, Channel::Input, &from), Verdict::Violation(_)));
        assert_eq!(judge(Phase::Playing, Channel::Input, &input), Verdict::Deliver);
        assert_eq!(judge(Phase::Playing, Channel::Reliable, &chat), Verdict::Deliver);
        assert_eq!(judge(Phase::Joining, Channel::Input, &input), Verdict::Early);
        assert_eq!(judge(Phase::Joining, Channel::Reliable, &chat), Verdict::Early);
        assert!(matches!(judge(Phase::Playing, Channel::Reliable, &input), Verdict::Violation(_)));
        assert!(matches!(judge(Phase::Playing, Channel::Input, &chat), Verdict::Violation(_)));
        assert!(matches!(judge(Phase::Joining, Channel::Input, &chat), Verdict::Violation(_)));
    }
}
