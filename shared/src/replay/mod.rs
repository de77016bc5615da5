//! Replay files: what the server decided, tick by tick.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! "TFRP" | format version u16 | header length u32 | header (codec)
//! frame*   where frame = body length u32 | FNV-1a 64 of body u64 | body (codec)
//! index (codec: keyframe ticks and offsets) | index length u32 | "TFIX"
//! ```
//!
//! The header names the game and carries its [`Schema`] (kinds and their
//! fields), so a replay decodes without the game's code. Every frame holds
//! the entity set as a delta against the previous frame (the snapshot
//! codec); every `keyframe_every` ticks a frame also holds the
//! full set and the player roster, so a player can seek to the keyframe
//! before any tick and read forward from there. Each frame carries a hash of
//! the state it stands for, so a reader checks every step it reconstructs.
//! The index at the end lists the keyframes; a file without one (cut off
//! by a crash or a full disk) is scanned instead and plays up to its last
//! whole frame.

mod reader;
mod writer;

pub use reader::Replay;
pub use writer::Writer;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::NetId;
use crate::schema::Schema;
use crate::snapshot::{Known, KnownSet};

/// File magic.
pub const MAGIC: &[u8; 4] = b"TFRP";
/// Index trailer magic.
pub const INDEX_MAGIC: &[u8; 4] = b"TFIX";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 2;
/// Default ticks between keyframes (10 s at 30 Hz).
pub const DEFAULT_KEYFRAME_EVERY: u32 = 300;

/// What a replay file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The game protocol id of the server that recorded it.
    pub protocol_id: u64,
    /// The game that was played (`--game`).
    pub game: String,
    /// The game's entity kinds and their fields.
    pub schema: Schema,
    /// Server ticks per second.
    pub tick_rate: u16,
    /// World width and height in units.
    pub world: (f32, f32),
    /// Unix time in milliseconds when recording started.
    pub started_unix_ms: u64,
    /// Build of the recording server.
    pub server_build: String,
    /// Ticks between keyframes.
    pub keyframe_every: u32,
}

/// Something that happened in a tick besides movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A player's avatar entered the world.
    Joined {
        /// Its entity.
        id: NetId,
        /// Account name.
        name: String,
    },
    /// A player left.
    Left {
        /// Its entity.
        id: NetId,
    },
    /// A chat line as relayed.
    Chat {
        /// Sender's name.
        from: String,
        /// The line.
        text: String,
    },
}

/// One frame's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FrameBody {
    tick: u32,
    /// The tick the delta is against (`None`: the first frame, no delta).
    base_tick: Option<u32>,
    /// The delta payload (snapshot codec) against `base_tick`.
    delta: Vec<u8>,
    /// Keyframes: the full set (snapshot codec against nothing) and roster.
    key: Option<Keyframe>,
    /// [`state_hash`] of the set this frame stands for.
    state_hash: u64,
    /// Events of this tick.
    events: Vec<Event>,
}

/// The full state in a keyframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Keyframe {
    full: Vec<u8>,
    players: Vec<(NetId, String)>,
}

/// One entity as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    /// Its id.
    pub id: u32,
    /// What it is: its kind's name in the schema.
    pub kind: String,
    /// Position (quantized to the snapshot grid).
    pub x: f32,
    /// Position.
    pub y: f32,
    /// Its kind's fields by name, as packed bits.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, u32>,
}

/// The recorded world at one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Server tick.
    pub tick: u32,
    /// Entities, sorted by id.
    pub entities: KnownSet,
    /// Players in the world: entity and name.
    pub players: BTreeMap<NetId, String>,
    /// Events of this tick.
    pub events: Vec<Event>,
}

impl State {
    /// The entities as plain positions and named fields, their kinds named
    /// by `schema` (the replay's).
    pub fn entities<'a>(&'a self, schema: &'a Schema) -> impl Iterator<Item = Entity> + 'a {
        self.entities.iter().map(move |k| {
            let p = k.pos();
            let spec = schema.kind(k.kind);
            let kind = spec.map_or_else(|| format!("kind {}", k.kind.0), |s| s.name.clone());
            let fields = spec
                .map(|s| {
                    s.fields
                        .iter()
                        .zip(schema.slots(k.kind))
                        .map(|(f, slot)| (f.name.clone(), slot.get(k.fields)))
                        .collect()
                })
                .unwrap_or_default();
            Entity { id: k.id.0, kind, x: p.x, y: p.y, fields }
        })
    }

    /// [`state_hash`] of this state's entities.
    pub fn hash(&self) -> u64 {
        state_hash(&self.entities)
    }
}

/// FNV-1a over bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// A hash of an entity set: ids, kinds, quantized positions and fields
/// (motion is a decoding aid, not state).
pub fn state_hash(set: &[Known]) -> u64 {
    let mut bytes = Vec::with_capacity(set.len() * 13);
    for k in set {
        bytes.extend_from_slice(&k.id.0.to_le_bytes());
        bytes.push(k.kind.0);
        bytes.extend_from_slice(&k.qx.to_le_bytes());
        bytes.extend_from_slice(&k.qy.to_le_bytes());
        bytes.extend_from_slice(&k.fields.to_le_bytes());
    }
    fnv1a(&bytes)
}

/// Why a replay cannot be read (further).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// File trouble.
    #[error("cannot read replay: {0}")]
    Io(#[from] std::io::Error),
    /// Not a replay file.
    #[error("not a Tickforge replay (bad magic)")]
    Magic,
    /// Written by another format version.
    #[error("replay format version {found}, this build reads version {FORMAT_VERSION}")]
    Version {
        /// The file's version.
        found: u16,
    },
    /// Recorded by a server speaking another game protocol.
    #[error("replay recorded with protocol id {found:#x}, this build speaks {expected:#x}")]
    Protocol {
        /// The file's protocol id.
        found: u64,
        /// Ours.
        expected: u64,
    },
    /// The header does not decode.
    #[error("corrupt replay header: {0}")]
    Header(String),
    /// The file ends inside a frame.
    #[error("replay truncated at byte {offset}: {reason}")]
    Truncated {
        /// Where the incomplete frame starts.
        offset: u64,
        /// What is missing.
        reason: String,
    },
    /// A frame's bytes are damaged or inconsistent.
    #[error("corrupt frame at byte {offset}: {reason}")]
    Corrupt {
        /// Where the frame starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A tick outside the recording.
    #[error("tick {0} is not in this replay")]
    NoSuchTick(u32),
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::protocol::EntityKind;
    use crate::schema::{FieldSpec, KindSpec};
    use crate::sim::Vec2;

    fn schema() -> Schema {
        let health = FieldSpec { name: "health".into(), bits: 7 };
        Schema::new(vec![KindSpec::new("avatar"), KindSpec { name: "npc".into(), fields: vec![health] }]).unwrap()
    }

    fn header() -> Header {
        Header {
            protocol_id: crate::protocol::PROTOCOL_ID,
            game: "test".into(),
            schema: schema(),
            tick_rate: 30,
            world: (2000.0, 2000.0),
            started_unix_ms: 1_800_000_000_000,
            server_build: "test".into(),
            keyframe_every: 50,
        }
    }

    /// A world of walkers (some leaving and arriving) and its events.
    fn world(tick: u32) -> (KnownSet, Vec<Event>) {
        let mut set: KnownSet = (1..=40u32)
            .filter(|i| !(i % 7 == 0 && (tick / 60) % 2 == 1))
            .map(|i| {
                let t = tick as f32;
                let pos = Vec2::new(100.0 + i as f32 * 30.0 + (t * 0.05 * i as f32).sin() * 80.0, 500.0 + t * 0.3);
                // NPCs carry a field that changes now and then.
                if i <= 3 {
                    Known::new(NetId(i), EntityKind(0), pos)
                } else {
                    Known { fields: (tick / 17 + i) % 100, ..Known::new(NetId(i), EntityKind(1), pos) }
                }
            })
            .collect();
        set.sort_by_key(|k| k.id);
        let mut events = Vec::new();
        if tick == 1 {
            events.push(Event::Joined { id: NetId(1), name: "alice".into() });
            events.push(Event::Joined { id: NetId(2), name: "bob".into() });
        }
        if tick == 130 {
            events.push(Event::Chat { from: "alice".into(), text: "hi".into() });
            events.push(Event::Left { id: NetId(2) });
        }
        (set, events)
    }

    const TICKS: u32 = 400;

    fn recording(finish: bool) -> Vec<u8> {
        let mut writer = Writer::new(Cursor::new(Vec::new()), &header()).unwrap();
        for tick in 1..=TICKS {
            let (set, events) = world(tick);
            writer.push(tick, set, events).unwrap();
        }
        if finish { writer.finish().unwrap().into_inner() } else { writer.into_inner().into_inner() }
    }

    fn same(state: &State, tick: u32) {
        let (set, events) = world(tick);
        assert_eq!(state.tick, tick);
        assert_eq!(state_hash(&state.entities), state_hash(&set), "tick {tick}");
        assert_eq!(state.events, events, "tick {tick}");
    }

    #[test]
    fn every_tick_plays_back_exactly() {
        let mut replay = Replay::new(Cursor::new(recording(true))).unwrap();
        assert!(replay.indexed());
        assert_eq!((replay.first_tick(), replay.last_tick()), (1, TICKS));
        assert_eq!(replay.keyframes().len(), 8);
        let mut tick = 0;
        for state in replay.by_ref() {
            tick += 1;
            let state = state.unwrap();
            same(&state, tick);
            let expected_players: Vec<&str> = match tick {
                1..130 => vec!["alice", "bob"],
                _ => vec!["alice"],
            };
            assert_eq!(state.players.values().map(String::as_str).collect::<Vec<_>>(), expected_players, "tick {tick}");
        }
        assert_eq!(tick, TICKS);
    }

    #[test]
    fn seeking_lands_on_the_same_states_as_playing() {
        let mut replay = Replay::new(Cursor::new(recording(true))).unwrap();
        for tick in [1, 2, 49, 50, 51, 129, 130, 131, 250, 399, 400] {
            let state = replay.seek(tick).unwrap();
            same(&state, tick);
            // Playback continues from there.
            if tick < TICKS {
                same(&replay.next_state().unwrap().unwrap(), tick + 1);
            }
        }
        // The roster survives a seek past the joins.
        assert_eq!(replay.seek(120).unwrap().players.len(), 2);
        assert!(matches!(replay.seek(0), Err(ReplayError::NoSuchTick(0))));
        assert!(matches!(replay.seek(TICKS + 1), Err(ReplayError::NoSuchTick(_))));
    }

    #[test]
    fn without_its_index_a_file_has_the_same_keyframes_and_seeks_the_same() {
        let indexed = Replay::new(Cursor::new(recording(true))).unwrap();
        let mut scanned = Replay::new(Cursor::new(recording(false))).unwrap();
        assert!(!scanned.indexed());
        assert_eq!(scanned.keyframes(), indexed.keyframes());
        assert_eq!((scanned.first_tick(), scanned.last_tick()), (1, TICKS));
        for tick in [1, 50, 131, 399, 400] {
            same(&scanned.seek(tick).unwrap(), tick);
        }
    }

    #[test]
    fn a_file_cut_anywhere_plays_up_to_its_last_whole_frame() {
        let full = recording(false);
        let mut last_playable = 0;
        for cut in (0..full.len()).step_by(251).chain([full.len() - 1, full.len()]) {
            let bytes = full[..cut].to_vec();
            match Replay::new(Cursor::new(bytes)) {
                Err(ReplayError::Magic | ReplayError::Header(_)) => assert!(cut < 200, "header error at {cut}"),
                Err(e) => panic!("cut at {cut}: {e}"),
                Ok(mut replay) => {
                    assert!(!replay.indexed());
                    let mut tick = 0;
                    for state in replay.by_ref() {
                        tick += 1;
                        same(&state.expect("only whole frames are played"), tick);
                    }
                    assert!(tick >= last_playable, "cutting later never plays less");
                    last_playable = tick;
                    // A cut inside a frame is reported; one between frames is a clean end.
                    assert!(replay.damage().is_none_or(|d| d.contains("truncated")), "cut at {cut}");
                }
            }
        }
        assert_eq!(last_playable, TICKS);
    }

    #[test]
    fn damaged_frames_and_headers_are_clear_errors() {
        let good = recording(true);
        let mut flipped = good.clone();
        let middle = good.len() / 2;
        flipped[middle] ^= 0x10;
        let mut replay = Replay::new(Cursor::new(flipped)).unwrap();
        let results: Vec<_> = replay.by_ref().collect();
        let bad = results.iter().position(Result::is_err).expect("the damage is found");
        assert!(bad > 0 && results[..bad].iter().all(Result::is_ok));
        assert!(matches!(results[bad], Err(ReplayError::Corrupt { .. })));
        assert_eq!(results.len(), bad + 1, "reading stops at the damage");

        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(matches!(Replay::new(Cursor::new(magic)), Err(ReplayError::Magic)));
        let mut version = good.clone();
        version[4] = 9;
        assert!(matches!(Replay::new(Cursor::new(version)), Err(ReplayError::Version { found: 9 })));
        let other = Header { protocol_id: 1, ..header() };
        let bytes = Writer::new(Cursor::new(Vec::new()), &other).unwrap().finish().unwrap().into_inner();
        let err = Replay::new(Cursor::new(bytes)).unwrap_err();
        assert!(matches!(err, ReplayError::Protocol { found: 1, .. }), "{err}");
        let mut header_len = good.clone();
        header_len[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Replay::new(Cursor::new(header_len)), Err(ReplayError::Header(_))));
        assert!(matches!(Replay::new(Cursor::new(Vec::new())), Err(ReplayError::Magic)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let good = recording(true);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for round in 0..300 {
            let mut bytes = good.clone();
            for _ in 0..(1 + round % 5) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize) % bytes.len();
                bytes[at] = (state >> 32) as u8;
            }
            if let Ok(mut replay) = Replay::new(Cursor::new(bytes)) {
                for _ in replay.by_ref() {}
                let _ = replay.seek(replay.last_tick() / 2);
            }
        }
    }
}
