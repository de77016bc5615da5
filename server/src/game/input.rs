//! A game's inputs, as the engine runs them: decoded and checked by the
//! game's rule, buffered per player with sequencing and a jitter buffer,
//! and applied one per tick through the game's shared step — the same
//! step the client predicts with.

use std::collections::VecDeque;

use bevy_ecs::prelude::*;
use tickforge_shared::codec;
use tickforge_shared::protocol::{InputCmd, InputMessage, MAX_INPUTS_PER_MESSAGE};
use tickforge_shared::sim::{InputVerdict, Simulation};

use super::components::{ClientView, Conduct, Lingering, Position, Transferring};
use crate::game::roster::Roster;
use crate::net::{Inbox, NetEvent, NetServer};
use crate::tick::{Phase, TickInfo};

pub use tickforge_api::{Controlled, Viewing};

/// The inputs' sets inside [`Phase::ApplyInputs`], in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputSet {
    /// Input messages into each avatar's queue.
    Queue,
    /// This tick's slot applied to each avatar.
    Apply,
}

/// Installs the inputs of simulation `S`.
pub fn install<S: Simulation>(schedule: &mut Schedule) {
    schedule.configure_sets((InputSet::Queue, InputSet::Apply).chain().in_set(Phase::ApplyInputs));
    schedule.add_systems((queue_inputs::<S>.in_set(InputSet::Queue), apply_inputs::<S>.in_set(InputSet::Apply)));
}

/// Moves input messages from the inbox into each avatar's queue, checked
/// by the game's rule, and records which snapshot the client has (its
/// delta baseline).
pub fn queue_inputs<S: Simulation>(
    tick: Res<TickInfo>,
    inbox: Res<Inbox>,
    roster: Res<Roster>,
    mut net: ResMut<NetServer>,
    mut avatars: Query<(&mut InputQueue<S::Input>, &mut ClientView, &mut Conduct)>,
) {
    for event in &inbox.events {
        let NetEvent::Input { client, bytes } = event else {
            continue;
        };
        let message = match codec::decode::<InputMessage<S::Input>>(bytes) {
            Ok(message) => message,
            Err(e) => {
                net.malformed(*client, &e);
                continue;
            }
        };
        if message.inputs.len() > MAX_INPUTS_PER_MESSAGE {
            tracing::debug!(client = client.0, len = message.inputs.len(), "oversized input message ignored");
            continue;
        }
        let Some((mut queue, mut view, mut conduct)) = roster.entity(*client).and_then(|e| avatars.get_mut(e).ok())
        else {
            continue;
        };
        // 0 means "nothing yet"; an ack from the future is a lie; one older
        // than the last is stale.
        let ack_tick = message.ack_tick;
        if ack_tick > 0 && u64::from(ack_tick) <= tick.tick && view.acked.is_none_or(|a| ack_tick > a) {
            view.acked = Some(ack_tick);
        }
        for cmd in message.inputs {
            // The game's rule: what no device sends is replaced and flagged.
            let (input, verdict) = S::check(cmd.input);
            let before = queue.newest();
            let discarded = queue.push(InputCmd { input, ..cmd });
            // Count each refused input once (redundant copies repeat it).
            if cmd.seq > before {
                match verdict {
                    InputVerdict::Accepted => {}
                    InputVerdict::Implausible => conduct.implausible_inputs += 1,
                    InputVerdict::Invalid => conduct.invalid_inputs += 1,
                }
            }
            conduct.excess_inputs += discarded;
        }
        if conduct.invalid_inputs > Conduct::MAX_INVALID_INPUTS {
            tracing::warn!(client = client.0, "dropping client after repeated invalid inputs");
            conduct.invalid_inputs = 0;
            net.kick(*client, "invalid input");
        }
    }
}

/// Avatars their players move: not frozen for a handoff, not lingering.
type Playing = (Without<Transferring>, Without<Lingering>);

/// What applying inputs touches on an avatar.
type Driven<'a, S> =
    (&'a mut Controlled<S>, &'a mut Position, &'a mut InputQueue<<S as Simulation>::Input>, &'a mut Viewing);

/// Applies this tick's input slot(s) to each avatar with the game's step.
pub fn apply_inputs<S: Simulation>(tick: Res<TickInfo>, mut avatars: Query<Driven<S>, Playing>) {
    for (mut controlled, mut position, mut queue, mut viewing) in &mut avatars {
        let mut state = controlled.0;
        for input in queue.next_inputs() {
            state = S::step(state, input, tick.dt);
        }
        viewing.set_if_neq(Viewing { tick: queue.view_tick() });
        if state != controlled.0 {
            controlled.0 = state;
            position.0 = S::position(&state);
        }
    }
}

/// Inputs received but not yet applied, consumed one slot per tick.
///
/// Tick by tick the queue expects sequence `last_applied + 1`. If it has
/// arrived it is applied. If it is missing but later ones are here (it was
/// lost beyond the redundancy), the last input is repeated *for that slot*
/// and the input, should it still come, is ignored. If nothing has arrived
/// yet (it is only late), the avatar waits up to [`InputQueue::MAX_WAIT`]
/// ticks before repeating. Either way the server advances exactly one input
/// per slot, so the client's prediction, which replays by sequence, stays
/// in step. Play starts once two inputs are buffered (a small jitter
/// buffer). A client whose clock runs slightly fast may catch up — two
/// slots in one tick while more than [`InputQueue::CATCH_UP_ABOVE`] wait —
/// but only within a budget of [`InputQueue::RATE_ALLOWANCE`] slots per
/// tick on average, so sending inputs faster never moves an avatar faster
/// (a speed hack gains nothing).
#[derive(Debug, Clone, Default, Component)]
pub struct InputQueue<I: Copy + Default + Send + Sync + 'static> {
    pending: VecDeque<InputCmd<I>>,
    /// Highest sequence consumed (applied or repeated over); acknowledged in snapshots.
    last_applied: u32,
    /// Repeated when an input is missing.
    last_input: I,
    /// Whether the jitter buffer has filled once.
    started: bool,
    /// Slots that may still be consumed (token bucket).
    allowance: f32,
    /// Ticks waited in a row for a late input.
    waited: u32,
    /// What the player was looking at when it sent the input consumed last.
    last_view: Option<f64>,
}

impl<I: Copy + Default + Send + Sync + 'static> InputQueue<I> {
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
    pub fn push(&mut self, cmd: InputCmd<I>) -> u32 {
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

    /// The inputs for this tick's slots, in order (none before play starts).
    pub fn next_inputs(&mut self) -> impl Iterator<Item = I> + use<I> {
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
    fn consume_slot(&mut self) -> Option<I> {
        let expected = self.last_applied.wrapping_add(1);
        while self.pending.front().is_some_and(|c| c.seq < expected) {
            self.pending.pop_front();
        }
        match self.pending.front().copied() {
            Some(cmd) if cmd.seq == expected => {
                self.pending.pop_front();
                self.last_input = cmd.input;
                self.last_view = Some(cmd.view_tick());
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
        Some(self.last_input)
    }

    /// The server tick the player was looking at when it sent the input
    /// consumed last (`None` before the first).
    pub fn view_tick(&self) -> Option<f64> {
        self.last_view
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Some game's input: one number, the sequence it came with / 100.
    type Queue = InputQueue<f32>;

    fn cmd(seq: u32) -> InputCmd<f32> {
        InputCmd { seq, tick: 0, view_lag: 0, input: seq as f32 / 100.0 }
    }

    fn tick(queue: &mut Queue) -> Vec<f32> {
        queue.next_inputs().collect()
    }

    #[test]
    fn each_slot_once_in_order_waiting_when_late_repeating_when_lost() {
        let mut queue = Queue::default();
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
        // ...but seq 4 is lost (5 is here): slot 4 repeats seq 3's input.
        queue.push(cmd(5));
        assert_eq!(tick(&mut queue), [0.03]);
        assert_eq!(queue.last_applied(), 4);
        queue.push(cmd(4));
        assert_eq!(tick(&mut queue), [0.05], "the lost input, arriving after its slot, is ignored");
        // Nothing arrives for a long time: after MAX_WAIT ticks the last input repeats.
        let waited: Vec<_> = (0..Queue::MAX_WAIT + 1).map(|_| tick(&mut queue)).collect();
        assert!(waited[..Queue::MAX_WAIT as usize].iter().all(Vec::is_empty));
        assert_eq!(waited[Queue::MAX_WAIT as usize], [0.05]);
        assert_eq!(queue.last_applied(), 6);
    }

    #[test]
    fn sending_twice_as_fast_never_moves_faster() {
        let mut queue = Queue::default();
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
        let mut queue = Queue::default();
        let (mut seq, mut owed) = (0u32, 0.0f32);
        for _ in 0..600 {
            owed += 1.05;
            while owed >= 1.0 {
                owed -= 1.0;
                seq += 1;
                queue.push(cmd(seq));
            }
            let _ = tick(&mut queue);
            assert!(queue.buffered() <= Queue::CATCH_UP_ABOVE + 2, "backlog {}", queue.buffered());
        }
        assert_eq!(queue.last_applied() as usize + queue.buffered(), seq as usize, "nothing dropped");
    }

    #[test]
    fn buffer_is_bounded() {
        let mut queue = Queue::default();
        for seq in 1..=100 {
            queue.push(cmd(seq));
        }
        assert_eq!(queue.buffered(), Queue::CAPACITY);
        let _ = tick(&mut queue);
        assert_eq!(queue.last_applied(), 100 - Queue::CAPACITY as u32 + 1);
    }
}
