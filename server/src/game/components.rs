//! ECS components of the reference game. None of these cross the wire; the
//! replication system copies them into `tickforge_shared::protocol` types.

use std::collections::VecDeque;

use bevy_ecs::component::Component;
use tickforge_shared::protocol::{InputCmd, NetId};
use tickforge_shared::sim::{Body, Intent};

use super::rng::SplitMix64;
use crate::net::ClientKey;

/// Stable network id of a replicated entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct NetEntity(pub NetId);

/// Position and velocity, moved only by `tickforge_shared::sim::step`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Component)]
pub struct Kinematics(pub Body);

/// A player's avatar: who controls it.
#[derive(Debug, Clone, PartialEq, Eq, Component)]
pub struct Avatar {
    /// The connection whose inputs move it.
    pub client: ClientKey,
    /// Account id from the connect token.
    pub account_id: u64,
    /// Account name from the connect token.
    pub name: String,
    /// Unix milliseconds when the connection was made.
    pub connected_at_ms: i64,
    /// The lease epoch this server holds the player under; every save
    /// carries it, and the database refuses it once the lease moves on.
    pub epoch: i64,
}

/// Inputs received but not yet applied, consumed one slot per tick.
///
/// Tick by tick the queue expects sequence `last_applied + 1`. If it has
/// arrived it is applied. If it is missing but later ones are here (it was
/// lost beyond the redundancy), the last intent is repeated *for that slot*
/// and the input, should it still come, is ignored. If nothing has arrived
/// yet (it is only late), the avatar waits up to [`InputQueue::MAX_WAIT`]
/// ticks before repeating. Either way the server advances exactly one input
/// per slot, so the client's prediction, which replays by sequence, stays
/// in step. Play starts once two inputs are buffered (a small jitter buffer). A client whose clock runs slightly
/// fast may catch up — two slots in one tick while more than
/// [`InputQueue::CATCH_UP_ABOVE`] wait — but only within a budget of
/// [`InputQueue::RATE_ALLOWANCE`] slots per tick on average, so sending
/// inputs faster never moves an avatar faster (a speed hack gains nothing).
#[derive(Debug, Clone, Default, Component)]
pub struct InputQueue {
    pending: VecDeque<InputCmd>,
    /// Highest sequence consumed (applied or repeated over); acknowledged in snapshots.
    last_applied: u32,
    /// Repeated when an input is missing.
    last_intent: Intent,
    /// Whether the jitter buffer has filled once.
    started: bool,
    /// Slots that may still be consumed (token bucket).
    allowance: f32,
    /// Ticks waited in a row for a late input.
    waited: u32,
}

impl InputQueue {
    /// Inputs buffered beyond this are too old to matter; the oldest go.
    pub const CAPACITY: usize = 8;
    /// Above this many waiting inputs, two slots are consumed in one tick.
    pub const CATCH_UP_ABOVE: usize = 3;
    /// Average slots per tick a client may use: 10% above real time.
    pub const RATE_ALLOWANCE: f32 = 1.1;
    /// Most slots saved up in the bucket.
    const BURST: f32 = 2.0;
    /// Ticks to wait for a late input before repeating the last one.
    pub const MAX_WAIT: u32 = 3;

    /// Buffers one input if it is newer than anything seen. Returns how many
    /// buffered inputs had to be discarded (the client is running ahead).
    pub fn push(&mut self, cmd: InputCmd) -> u32 {
        let newest = self.pending.back().map_or(self.last_applied, |c| c.seq);
        if cmd.seq <= newest {
            return 0;
        }
        self.pending.push_back(cmd);
        let mut discarded = 0;
        while self.pending.len() > Self::CAPACITY {
            if let Some(dropped) = self.pending.pop_front() {
                self.last_applied = dropped.seq;
                discarded += 1;
            }
        }
        discarded
    }

    /// The intents for this tick's slots, in order (none before play starts).
    pub fn next_intents(&mut self) -> impl Iterator<Item = Intent> + use<> {
        if !self.started && self.pending.len() >= 2 {
            self.started = true;
            // Start right before the first buffered input.
            if let Some(first) = self.pending.front() {
                self.last_applied = first.seq.saturating_sub(1);
            }
        }
        if !self.started {
            return None.into_iter().chain(None);
        }
        self.allowance = (self.allowance + Self::RATE_ALLOWANCE).min(Self::BURST);
        let wanted = if self.pending.len() > Self::CATCH_UP_ABOVE { 2 } else { 1 };
        let slots = wanted.min(self.allowance as usize);
        self.allowance -= slots as f32;
        let first = if slots >= 1 { self.consume_slot() } else { None };
        let second = if slots >= 2 && first.is_some() { self.consume_slot() } else { None };
        // A slot not consumed (waiting for a late input) gives its allowance back.
        self.allowance += (slots - usize::from(first.is_some()) - usize::from(second.is_some())) as f32;
        first.into_iter().chain(second)
    }

    /// Consumes the next slot, or `None` to wait a tick for a late input.
    fn consume_slot(&mut self) -> Option<Intent> {
        let expected = self.last_applied.wrapping_add(1);
        while self.pending.front().is_some_and(|c| c.seq < expected) {
            self.pending.pop_front();
        }
        match self.pending.front().copied() {
            Some(cmd) if cmd.seq == expected => {
                self.pending.pop_front();
                self.last_intent = Intent::new(cmd.move_x, cmd.move_y);
            }
            // Later inputs are here: this one was lost. Repeat for its slot.
            Some(_) => {}
            None if self.waited < Self::MAX_WAIT => {
                self.waited += 1;
                return None;
            }
            // Waited long enough: keep moving as before.
            None => {}
        }
        self.waited = 0;
        self.last_applied = expected;
        Some(self.last_intent)
    }

    /// Newest sequence seen (buffered or consumed).
    pub fn newest(&self) -> u32 {
        self.pending.back().map_or(self.last_applied, |c| c.seq)
    }

    /// Highest input sequence consumed so far.
    pub fn last_applied(&self) -> u32 {
        self.last_applied
    }

    /// Inputs waiting.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }
}

/// How a player has behaved: inputs and chat the server had to refuse.
#[derive(Debug, Clone, Component)]
pub struct Conduct {
    /// Inputs with NaN or infinite values (replaced by "stand still";
    /// past [`Conduct::MAX_INVALID_INPUTS`] the client is dropped).
    pub invalid_inputs: u32,
    /// Finite inputs longer than any device sends (replaced by "stand
    /// still" and flagged, never a reason to drop the client).
    pub implausible_inputs: u32,
    /// Inputs discarded because the client sent faster than real time.
    pub excess_inputs: u32,
    /// Chat lines dropped by the rate limit.
    pub chat_dropped: u32,
    /// Chat lines that may still be sent now (token bucket).
    pub chat_tokens: f32,
}

impl Default for Conduct {
    fn default() -> Self {
        Self {
            invalid_inputs: 0,
            implausible_inputs: 0,
            excess_inputs: 0,
            chat_dropped: 0,
            chat_tokens: Self::CHAT_BURST,
        }
    }
}

impl Conduct {
    /// Chat lines per second allowed on average.
    pub const CHAT_RATE: f32 = 2.0;
    /// Chat lines allowed in a burst: ten seconds at [`Conduct::CHAT_RATE`].
    /// When a link goes quiet for a while (a blackout, a lossy stretch), the
    /// reliable channel delivers the lines held back all at once when it
    /// recovers; an honest sender's backlog is at most what it sent in the
    /// connection timeout (10 s), so it passes whole, while a sustained
    /// flood is still held to the rate.
    pub const CHAT_BURST: f32 = 20.0;
    /// Non-finite inputs tolerated before the client is dropped.
    pub const MAX_INVALID_INPUTS: u32 = 300;

    /// Everything refused so far.
    pub fn flags(&self) -> u32 {
        self.invalid_inputs + self.implausible_inputs + self.excess_inputs + self.chat_dropped
    }
}

/// Per-client replication state: what was sent, what was acknowledged, and
/// how long each entity has waited for bandwidth.
#[derive(Debug, Default, Component)]
pub struct ClientView {
    /// Recently sent entity sets, oldest first (bounded).
    pub history: VecDeque<(u32, tickforge_shared::snapshot::KnownSet)>,
    /// Newest snapshot tick the client acknowledged.
    pub acked: Option<u32>,
    /// Priority accumulators of entities waiting to be sent.
    pub priority: tickforge_shared::protocol::IdMap<f32>,
    /// The set last dropped from `history`, whose allocation the next
    /// snapshot reuses.
    pub spare: Option<tickforge_shared::snapshot::KnownSet>,
}

impl ClientView {
    /// Sent sets kept as possible baselines: half a second at 30 Hz, more
    /// than a round trip and its jitter (an acknowledgement older than
    /// that gets a full snapshot).
    pub const HISTORY: usize = 16;

    /// Remembers the set sent at `tick` as a possible baseline, dropping
    /// the oldest past [`ClientView::HISTORY`].
    pub fn remember(&mut self, tick: u32, set: tickforge_shared::snapshot::KnownSet) {
        if self.history.len() >= Self::HISTORY {
            self.spare = self.history.pop_front().map(|(_, set)| set);
        }
        self.history.push_back((tick, set));
    }
}

/// An avatar being handed to another server: frozen (no input moves it, no
/// save is written — its lease has moved or is moving) until its client
/// leaves for the target or `deadline` (a tick) passes.
#[derive(Debug, Clone, PartialEq, Component)]
pub struct Transferring {
    /// The tick it was frozen.
    pub frozen_at: u64,
    /// When the avatar is dropped if the client has not left (tick number).
    pub deadline: u64,
    /// Whether the client has been sent its token for the target.
    pub sent: bool,
    /// The state frozen and handed over (the transfer token carries it).
    pub save: crate::store::PlayerState,
}

/// The avatar of a player whose connection timed out: it stays in the
/// world, still, for the grace period (others see it idle), so a player who
/// comes back in time gets exactly this state. At `until` (a tick) it is
/// saved, its lease released, and it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct Lingering {
    /// The tick its grace period ends.
    pub until: u64,
}

/// Orbs an avatar has collected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Component)]
pub struct Score(pub u32);

/// A collectible orb (static until collected, then it reappears elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Component)]
pub struct Orb;

/// A wandering non-player entity.
#[derive(Debug, Clone, Component)]
pub struct Npc {
    /// Its own random stream, so NPCs are independent and reproducible.
    pub rng: SplitMix64,
    /// Where it is heading.
    pub intent: Intent,
    /// Ticks until it picks a new heading.
    pub ticks_left: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(seq: u32) -> InputCmd {
        InputCmd { seq, tick: 0, move_x: seq as f32 / 100.0, move_y: 0.0 }
    }

    fn tick(queue: &mut InputQueue) -> Vec<f32> {
        queue.next_intents().map(|i| i.vector().x).collect()
    }

    #[test]
    fn each_slot_once_in_order_waiting_when_late_repeating_when_lost() {
        let mut queue = InputQueue::default();
        queue.push(cmd(1));
        assert!(tick(&mut queue).is_empty(), "waits for the jitter buffer");
        for seq in [2, 2, 1] {
            queue.push(cmd(seq));
        }
        assert_eq!(tick(&mut queue), [0.01]);
        assert_eq!(tick(&mut queue), [0.02]);
        // Seq 3 is late: the avatar waits for it rather than guessing...
        assert!(tick(&mut queue).is_empty());
        queue.push(cmd(3));
        assert_eq!(tick(&mut queue), [0.03]);
        // ...but seq 4 is lost (5 is here): slot 4 repeats seq 3's intent.
        queue.push(cmd(5));
        assert_eq!(tick(&mut queue), [0.03]);
        assert_eq!(queue.last_applied(), 4);
        queue.push(cmd(4));
        assert_eq!(tick(&mut queue), [0.05], "the lost input, arriving after its slot, is ignored");
        // Nothing arrives for a long time: after MAX_WAIT ticks the last intent repeats.
        let waited: Vec<_> = (0..InputQueue::MAX_WAIT + 1).map(|_| tick(&mut queue)).collect();
        assert!(waited[..InputQueue::MAX_WAIT as usize].iter().all(Vec::is_empty));
        assert_eq!(waited[InputQueue::MAX_WAIT as usize], [0.05]);
        assert_eq!(queue.last_applied(), 6);
    }

    #[test]
    fn sending_twice_as_fast_never_moves_faster() {
        let mut queue = InputQueue::default();
        let (mut seq, mut slots) = (0, 0);
        for _ in 0..300 {
            for _ in 0..2 {
                seq += 1;
                queue.push(cmd(seq));
            }
            slots += tick(&mut queue).len();
        }
        assert!((300..=332).contains(&slots), "{slots} slots in 300 ticks");
    }

    #[test]
    fn a_slightly_fast_client_is_caught_up_without_losing_inputs() {
        let mut queue = InputQueue::default();
        let (mut seq, mut owed) = (0u32, 0.0f32);
        for _ in 0..600 {
            owed += 1.05;
            while owed >= 1.0 {
                owed -= 1.0;
                seq += 1;
                queue.push(cmd(seq));
            }
            let _ = tick(&mut queue);
            assert!(queue.buffered() <= InputQueue::CATCH_UP_ABOVE + 2, "backlog {}", queue.buffered());
        }
        assert_eq!(queue.last_applied() as usize + queue.buffered(), seq as usize, "nothing dropped");
    }

    #[test]
    fn buffer_is_bounded() {
        let mut queue = InputQueue::default();
        for seq in 1..=100 {
            queue.push(cmd(seq));
        }
        assert_eq!(queue.buffered(), InputQueue::CAPACITY);
        let _ = tick(&mut queue);
        assert_eq!(queue.last_applied(), 100 - InputQueue::CAPACITY as u32 + 1);
    }
}
