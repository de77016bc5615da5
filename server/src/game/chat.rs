//! The cluster's chat. Every line goes through the database, which numbers
//! the lines of all servers in one gapless sequence (in commit order); each
//! server delivers that sequence, in order, to its players. So everyone in
//! the cluster reads the same chat in the same order, and a player moved to
//! another server — or back after a lost link — picks up right after the
//! last line it got (a [`ChatCursor`] per player; a transfer token carries
//! it). On one server with embedded SQLite it is the same path: the line
//! is back from the store within a tick.
//!
//! A server learns of its own lines when the store has committed them, and
//! of other servers' lines by reading every [`READ_EVERY_MS`]; a line is
//! delivered once every line before it has been.
//!
//! End to end: each line carries its id and its sender's own number for it
//! (`seq`). A client keeps what it said until the line comes back numbered
//! and says it again on its next connection (after a crash, a move), and
//! the database takes each (account, `seq`) once — so a line the transport
//! acknowledged to a server that then died is neither lost nor doubled. A
//! connection's chat starts where its client says it got to
//! (`ClientMessage::ChatFrom`), so a client that lost lines in flight gets
//! them again, and one that got them gets none twice.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;

use bevy_ecs::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use tickforge_shared::protocol::{Channel, ServerMessage};

use tickforge_shared::protocol::{ClientMessage, MAX_CHAT_CHARS};

use super::components::{Avatar, Conduct, Lingering};
use super::input::InputSet;
use super::roster::Roster;
use crate::net::{ClientKey, Inbox, NetEvent, NetServer};
use crate::store::{ChatLine, ChatNews, StoreCommand, StoreOutbox};
use crate::tick::{Phase, SharedMetrics, TickInfo};

/// How often the relay reads the other servers' lines, in milliseconds.
pub const READ_EVERY_MS: u64 = 100;

/// Delivered lines kept for players who arrive behind (moved, or back
/// from a lost link).
pub const RECENT: usize = 1024;

/// Lines waiting to be posted, at most (a database outage).
pub const OUTGOING_LIMIT: usize = 4096;

/// The last chat line (id) a player has been sent. An avatar without one
/// gets no chat (it is leaving for another server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct ChatCursor(pub u64);

/// Lines on their way through the database, and the ones delivered.
#[derive(Debug, Resource)]
pub struct ChatRelay {
    /// The last line delivered; `None` until the first read says where the
    /// cluster's chat stands.
    head: Option<u64>,
    /// Lines known, waiting for the ones before them.
    waiting: BTreeMap<u64, ChatLine>,
    /// This server's players' lines not yet handed to the store.
    outgoing: Vec<ChatLine>,
    /// Lines per sender handed to the store and not yet committed.
    posting: HashMap<u64, u32>,
    /// The last [`RECENT`] lines delivered.
    recent: VecDeque<(u64, ChatLine)>,
    /// Whether a read is with the store.
    reading: bool,
    /// Whether a post is with the store (one at a time: a failed one goes
    /// again before anything said after it).
    posting_batch: bool,
    /// Tick of the next read.
    next_read: u64,
    tx: Sender<ChatNews>,
    rx: Receiver<ChatNews>,
}

impl Default for ChatRelay {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self {
            head: None,
            waiting: BTreeMap::new(),
            outgoing: Vec::new(),
            posting: HashMap::new(),
            recent: VecDeque::with_capacity(RECENT),
            reading: false,
            posting_batch: false,
            next_read: 0,
            tx,
            rx,
        }
    }
}

impl ChatRelay {
    /// Queues a checked line from a player of this server. While the
    /// database is unreachable at most [`OUTGOING_LIMIT`] wait; older ones
    /// go first (counted).
    pub fn say(&mut self, line: ChatLine, metrics: &SharedMetrics) {
        if self.outgoing.len() >= OUTGOING_LIMIT {
            let dropped = self.outgoing.remove(0);
            self.unpost(dropped.account_id);
            metrics.0.chat_dropped.fetch_add(1, Ordering::Relaxed);
        }
        *self.posting.entry(line.account_id).or_default() += 1;
        self.outgoing.push(line);
    }

    /// One line of `account_id` is no longer on its way.
    fn unpost(&mut self, account_id: u64) {
        if let Some(n) = self.posting.get_mut(&account_id) {
            *n -= 1;
            if *n == 0 {
                self.posting.remove(&account_id);
            }
        }
    }

    /// Whether lines of `account_id` are still on their way to the
    /// database (a player is moved only once they are numbered, so its
    /// next line, said on the new server, comes after them).
    pub fn is_posting(&self, account_id: u64) -> bool {
        // Counted from `say` until committed (or dropped): waiting lines too.
        self.posting.contains_key(&account_id)
    }

    /// Where a player who arrives now starts: after the last line delivered.
    pub fn position(&self) -> u64 {
        self.head.unwrap_or(0)
    }

    /// Sends `client` the delivered lines after `cursor` it missed (those
    /// still kept); answers its new cursor.
    pub fn catch_up(&self, net: &mut NetServer, client: ClientKey, cursor: u64) -> u64 {
        for (id, line) in self.recent.iter().filter(|(id, _)| *id > cursor) {
            net.send(client, Channel::Reliable, &message(*id, line));
        }
        cursor.max(self.position())
    }

    /// Takes in what the store said.
    fn absorb(&mut self, news: ChatNews, metrics: &SharedMetrics) {
        match news {
            ChatNews::Posted { first, lines, duplicates } => {
                self.posting_batch = false;
                for line in duplicates {
                    // Said again after a reconnect: the database has it,
                    // and every server delivers it under its first id.
                    self.unpost(line.account_id);
                    metrics.0.chat_resent.fetch_add(1, Ordering::Relaxed);
                }
                for (id, line) in (first..).zip(lines) {
                    self.unpost(line.account_id);
                    self.waiting.insert(id, line);
                }
            }
            ChatNews::NotPosted { mut lines, error } => {
                self.posting_batch = false;
                tracing::warn!(%error, lines = lines.len(), "chat lines not posted; trying again");
                // Before anything said since, to keep each sender's order.
                lines.append(&mut self.outgoing);
                self.outgoing = lines;
            }
            ChatNews::Read { lines, head } => {
                self.reading = false;
                let start = match self.head {
                    Some(start) => start,
                    // The first read: start at the newest line, or before the
                    // first own line already numbered.
                    None => {
                        let own = self.waiting.keys().next().map_or(head, |first| first.saturating_sub(1));
                        *self.head.insert(head.min(own))
                    }
                };
                // Ids are gapless and commit in order: a read that sees a
                // line sees every line before it, so a hole before the first
                // one read is lines the database no longer keeps.
                if let Some(&(first, _)) = lines.first()
                    && first > start + 1
                    && !self.waiting.contains_key(&(start + 1))
                {
                    tracing::warn!(from = start + 1, to = first - 1, "chat lines gone before they were read; skipping");
                    metrics.0.chat_skipped.fetch_add(first - start - 1, Ordering::Relaxed);
                    self.head = Some(first - 1);
                }
                for (id, line) in lines {
                    self.waiting.insert(id, line);
                }
            }
            ChatNews::ReadFailed(error) => {
                self.reading = false;
                tracing::debug!(%error, "chat read failed; the next one catches up");
            }
        }
    }

    /// The next line in order, if it is known.
    fn next_line(&mut self) -> Option<(u64, ChatLine)> {
        let head = self.head?;
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() <= head {
                entry.remove();
                continue;
            }
            if *entry.key() != head + 1 {
                return None;
            }
            let line = entry.remove();
            self.head = Some(head + 1);
            return Some((head + 1, line));
        }
        None
    }
}

/// The chat's sets inside [`Phase::ApplyInputs`], after the inputs.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatSet {
    /// Players' lines taken in, connections' chat started.
    Intake,
    /// Lines posted, read and delivered (after `Intake`).
    Relay,
}

/// Installs the relay and its systems.
pub fn install(world: &mut World, schedule: &mut Schedule) {
    world.init_resource::<ChatRelay>();
    schedule
        .configure_sets((ChatSet::Intake, ChatSet::Relay).chain().in_set(Phase::ApplyInputs).after(InputSet::Apply));
    schedule.add_systems((intake.in_set(ChatSet::Intake), relay_chat.in_set(ChatSet::Relay)));
}

/// Hands valid chat lines to the cluster's relay, with
/// the sender's name from the token, and starts each connection's chat
/// where its client says it got to.
///
/// Each player may send [`Conduct::CHAT_RATE`] lines a second on average
/// (bursts of [`Conduct::CHAT_BURST`]); lines beyond that are dropped,
/// counted, and the sender told once per burst.
#[allow(clippy::too_many_arguments)]
pub fn intake(
    mut commands: Commands,
    tick: Res<TickInfo>,
    inbox: Res<Inbox>,
    roster: Res<Roster>,
    metrics: Res<SharedMetrics>,
    mut net: ResMut<NetServer>,
    mut relay: ResMut<ChatRelay>,
    mut avatars: Query<(&Avatar, &mut Conduct, Option<&ChatCursor>), Without<Lingering>>,
    lingering: Query<Entity, (With<Lingering>, With<ChatCursor>)>,
    mut last_refill: Local<Option<std::time::Duration>>,
) {
    // A lingering avatar's chat stops; back, its client says where it got to.
    for entity in &lingering {
        commands.entity(entity).remove::<ChatCursor>();
    }
    // Refill by real time, not by ticks run: skipped ticks (an overloaded
    // server) must not make the limit stricter than its stated rate.
    let since = tick.elapsed.saturating_sub(last_refill.replace(tick.elapsed).unwrap_or(tick.elapsed));
    let refill = Conduct::CHAT_RATE * since.as_secs_f32();
    for (_, mut conduct, _) in &mut avatars {
        conduct.chat_tokens = (conduct.chat_tokens + refill).min(Conduct::CHAT_BURST);
    }
    // Connections given their cursor this tick (the component lands after
    // the system, so a second `ChatFrom` in one tick must not catch up again).
    let mut started: Vec<Entity> = Vec::new();
    for event in &inbox.events {
        let NetEvent::Message { client, message, .. } = event else { continue };
        let (seq, text) = match message {
            ClientMessage::Chat { seq, text } => (*seq, text),
            ClientMessage::ChatFrom { after } => {
                let Some(entity) = roster.entity(*client) else { continue };
                // Once per connection: the lines after the last one the
                // client has, then the rest as they come.
                if let Ok((_, _, None)) = avatars.get(entity)
                    && !started.contains(&entity)
                {
                    started.push(entity);
                    let cursor = match after {
                        Some(after) => relay.catch_up(&mut net, *client, *after),
                        None => relay.position(),
                    };
                    commands.entity(entity).insert(ChatCursor(cursor));
                }
                continue;
            }
        };
        let Some((avatar, mut conduct, _)) = roster.entity(*client).and_then(|e| avatars.get_mut(e).ok()) else {
            continue;
        };
        if conduct.chat_tokens < 1.0 {
            if conduct.chat_dropped % 20 == 0 {
                net.send(*client, Channel::Reliable, &ServerMessage::Notice { text: "slow down: chat dropped".into() });
            }
            conduct.chat_dropped += 1;
            metrics.0.chat_dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        conduct.chat_tokens -= 1.0;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS || text.chars().any(char::is_control) {
            net.send(*client, Channel::Reliable, &ServerMessage::Notice { text: "chat line rejected".into() });
            continue;
        }
        let line = ChatLine {
            account_id: avatar.account_id,
            from: avatar.name.clone(),
            text: text.to_owned(),
            client_seq: seq,
        };
        relay.say(line, &metrics);
    }
}

fn message(id: u64, line: &ChatLine) -> ServerMessage {
    ServerMessage::Chat { id, from: line.from.clone(), seq: line.client_seq, text: line.text.clone() }
}

/// Posts this tick's lines, reads the other servers' now and then, and
/// delivers every line now in order to each player that has not had it.
pub fn relay_chat(
    tick: Res<TickInfo>,
    mut relay: ResMut<ChatRelay>,
    mut net: ResMut<NetServer>,
    mut outbox: ResMut<StoreOutbox>,
    metrics: Res<SharedMetrics>,
    mut players: Query<(&Avatar, &mut ChatCursor), Without<Lingering>>,
) {
    while let Ok(news) = relay.rx.try_recv() {
        relay.absorb(news, &metrics);
    }
    while let Some((id, line)) = relay.next_line() {
        let chat = message(id, &line);
        let to: Vec<ClientKey> = players
            .iter_mut()
            .filter(|(_, cursor)| cursor.0 < id)
            .map(|(avatar, mut cursor)| {
                cursor.0 = id;
                avatar.client
            })
            .collect();
        net.multicast(Channel::Reliable, &chat, &to);
        metrics.0.chat_relayed.fetch_add(1, Ordering::Relaxed);
        if relay.recent.len() == RECENT {
            relay.recent.pop_front();
        }
        relay.recent.push_back((id, line));
    }
    if !relay.outgoing.is_empty() && !relay.posting_batch {
        relay.posting_batch = true;
        let lines = std::mem::take(&mut relay.outgoing);
        outbox.push(StoreCommand::PostChat { lines, reply: relay.tx.clone() });
    }
    if !relay.reading && tick.tick >= relay.next_read {
        let every = ((READ_EVERY_MS as f32 / 1000.0) / tick.dt).round().max(1.0) as u64;
        relay.next_read = tick.tick + every;
        relay.reading = true;
        outbox.push(StoreCommand::ReadChat { after: relay.head, reply: relay.tx.clone() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(account_id: u64, text: &str) -> ChatLine {
        ChatLine { account_id, from: format!("p{account_id}"), text: text.into(), client_seq: 0 }
    }

    fn drain(relay: &mut ChatRelay) -> Vec<u64> {
        std::iter::from_fn(|| relay.next_line()).map(|(id, _)| id).collect()
    }

    #[test]
    fn lines_go_out_in_order_once_every_earlier_one_is_known() {
        let metrics = SharedMetrics(std::sync::Arc::default());
        let mut relay = ChatRelay::default();
        relay.say(line(1, "a"), &metrics);
        assert!(relay.is_posting(1));
        relay.outgoing.clear();
        // Own line 12 committed before the first read said where chat stands.
        relay.absorb(ChatNews::Posted { first: 12, lines: vec![line(1, "a")], duplicates: vec![] }, &metrics);
        assert!(!relay.is_posting(1));
        assert_eq!(drain(&mut relay), Vec::<u64>::new(), "nothing before the first read");
        relay.absorb(ChatNews::Read { lines: vec![], head: 13 }, &metrics);
        assert_eq!(relay.position(), 11, "starts before its own first line");
        assert_eq!(drain(&mut relay), vec![12]);
        // 14 is known before 13: it waits.
        relay.absorb(ChatNews::Posted { first: 14, lines: vec![line(1, "c")], duplicates: vec![] }, &metrics);
        assert_eq!(drain(&mut relay), Vec::<u64>::new());
        relay.absorb(ChatNews::Read { lines: vec![(13, line(2, "b")), (14, line(1, "c"))], head: 14 }, &metrics);
        assert_eq!(drain(&mut relay), vec![13, 14], "each line once");
        // Lines the database no longer has are skipped, and counted.
        relay.absorb(ChatNews::Read { lines: vec![(20, line(2, "x"))], head: 20 }, &metrics);
        assert_eq!(drain(&mut relay), vec![20]);
        assert_eq!(metrics.0.chat_skipped.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn lines_the_store_could_not_post_go_again_before_newer_ones() {
        let metrics = SharedMetrics(std::sync::Arc::default());
        let mut relay = ChatRelay::default();
        relay.say(line(1, "first"), &metrics);
        let lines = std::mem::take(&mut relay.outgoing);
        relay.say(line(1, "second"), &metrics);
        relay.absorb(ChatNews::NotPosted { lines, error: "down".into() }, &metrics);
        let texts: Vec<&str> = relay.outgoing.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["first", "second"]);
        assert!(relay.is_posting(1));
    }
}
