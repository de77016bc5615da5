//! The client's picture of the world, built only from server messages.

use std::collections::{HashMap, VecDeque};

use tickforge_shared::protocol::{EntityState, NetId, ServerMessage, Snapshot};

/// Chat lines kept for display.
pub const CHAT_HISTORY: usize = 8;

/// Everything the client knows about the world.
#[derive(Debug, Default, Clone)]
pub struct ClientWorld {
    /// Our avatar, once welcomed.
    pub own_entity: Option<NetId>,
    /// Our account id.
    pub account_id: Option<u64>,
    /// Server simulation rate.
    pub tick_rate: u16,
    /// Tick of the newest snapshot applied.
    pub server_tick: u32,
    /// Highest input sequence the server says it applied.
    pub ack_input_seq: u32,
    /// Our score.
    pub score: u32,
    /// Entities of the newest snapshot.
    pub entities: HashMap<NetId, EntityState>,
    /// Player names by avatar.
    pub names: HashMap<NetId, String>,
    /// Recent chat lines and notices: (from, text); notices come from "server".
    pub chat: VecDeque<(String, String)>,
    /// Why the server said it is dropping us.
    pub disconnect_reason: Option<String>,
    /// Snapshots applied so far.
    pub snapshots: u64,
}

impl ClientWorld {
    /// Applies one server message.
    pub fn apply(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Welcome { your_entity, account_id, tick, tick_rate, players } => {
                self.own_entity = Some(your_entity);
                self.account_id = Some(account_id);
                self.tick_rate = tick_rate;
                self.server_tick = self.server_tick.max(tick);
                self.names = players.into_iter().map(|p| (p.id, p.name)).collect();
            }
            ServerMessage::PlayerJoined(player) => {
                self.names.insert(player.id, player.name);
            }
            ServerMessage::PlayerLeft { id } => {
                self.names.remove(&id);
                self.entities.remove(&id);
            }
            ServerMessage::Snapshot(snapshot) => self.apply_snapshot(snapshot),
            ServerMessage::Chat { from, text } => self.push_chat(from, text),
            ServerMessage::Notice { text } => self.push_chat("server".into(), text),
            ServerMessage::Disconnecting { reason } => {
                self.push_chat("server".into(), format!("disconnecting: {reason}"));
                self.disconnect_reason = Some(reason);
            }
        }
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) {
        // Unreliable channel: an older snapshot arriving late is dropped.
        if self.snapshots > 0 && snapshot.tick <= self.server_tick {
            return;
        }
        self.server_tick = snapshot.tick;
        self.ack_input_seq = snapshot.ack_input_seq;
        self.score = snapshot.your_score;
        self.entities.clear();
        self.entities.extend(snapshot.entities.into_iter().map(|e| (e.id, e)));
        self.snapshots += 1;
    }

    fn push_chat(&mut self, from: String, text: String) {
        self.chat.push_back((from, text));
        while self.chat.len() > CHAT_HISTORY {
            self.chat.pop_front();
        }
    }

    /// Our avatar's latest state.
    pub fn own_state(&self) -> Option<&EntityState> {
        self.own_entity.and_then(|id| self.entities.get(&id))
    }

    /// The avatar of the player called `name`.
    pub fn avatar_of(&self, name: &str) -> Option<&EntityState> {
        let id = self.names.iter().find(|(_, n)| n.as_str() == name).map(|(id, _)| *id)?;
        self.entities.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_shared::protocol::EntityKind;
    use tickforge_shared::sim::Vec2;

    fn snapshot(tick: u32, x: f32) -> ServerMessage {
        ServerMessage::Snapshot(Snapshot {
            tick,
            ack_input_seq: tick,
            your_score: 0,
            entities: vec![EntityState {
                id: NetId(1),
                kind: EntityKind::Npc,
                pos: Vec2::new(x, 0.0),
                vel: Vec2::ZERO,
            }],
        })
    }

    #[test]
    fn late_snapshots_are_ignored() {
        let mut world = ClientWorld::default();
        world.apply(snapshot(10, 1.0));
        world.apply(snapshot(9, 2.0));
        assert_eq!(world.server_tick, 10);
        assert_eq!(world.entities[&NetId(1)].pos.x, 1.0);
        world.apply(snapshot(11, 3.0));
        assert_eq!(world.entities[&NetId(1)].pos.x, 3.0);
        assert_eq!(world.snapshots, 2);
    }
}
