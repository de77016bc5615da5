//! Recording replays off the tick thread.
//!
//! Each tick the [`record`] system gathers the replicated entities and the
//! tick's broadcast events (joins, leaves, chat) into a frame and hands it
//! to the writer thread over a bounded channel with `try_send`: the tick
//! never waits. A full channel (a slow disk) drops the frame — its events
//! ride along with the next one — and counts it. The writer thread opens
//! the file, delta-encodes frames (`tickforge_shared::replay::Writer`), and
//! on a write error (a full disk) logs one clear line and stops recording;
//! the server keeps running. Stopping writes the keyframe index and syncs.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use bevy_ecs::prelude::*;
use crossbeam_channel::{Sender, TrySendError};
use tickforge_shared::protocol::{EntityKind, NetId, PROTOCOL_ID, ServerMessage};
use tickforge_shared::replay::{DEFAULT_KEYFRAME_EVERY, Event, Header, Writer};
use tickforge_shared::schema::Schema;
use tickforge_shared::sim::Vec2;
use tickforge_shared::snapshot::{Known, KnownSet};

use crate::game::components::{Fields, Kind, NetEntity, Position};
use crate::net::NetServer;
use crate::tick::{Phase, TickInfo};

/// Frames that may wait for the writer (about 8 s at 30 Hz).
pub const QUEUE_FRAMES: usize = 256;

/// Recording figures, shared with the admin surface.
#[derive(Debug, Default)]
pub struct RecordStats {
    /// Frames written to disk.
    pub frames_written: AtomicU64,
    /// Frames dropped because the writer fell behind.
    pub frames_dropped: AtomicU64,
    /// Bytes written.
    pub bytes: AtomicU64,
    /// Whether the last recording failed (cannot open, write error).
    pub failed: AtomicBool,
}

/// One tick as the tick thread hands it over: raw positions (quantizing
/// and sorting happen on the writer thread).
struct Frame {
    tick: u32,
    entities: Vec<(NetId, EntityKind, Vec2, u32)>,
    events: Vec<Event>,
}

/// The recorder (an ECS resource of the tick loop).
#[derive(Resource)]
pub struct Recorder {
    /// The game's name, for the header.
    game: String,
    /// The game's kinds, for the header.
    schema: Schema,
    /// The game's world size, for the header.
    world: (f32, f32),
    tx: Option<Sender<Frame>>,
    writers: Vec<JoinHandle<()>>,
    path: Option<PathBuf>,
    /// Events of frames that could not be queued, sent with the next one.
    held: Vec<Event>,
    /// Entities in the last frame (the next one's capacity).
    last_len: usize,
    /// Figures for metrics.
    pub stats: Arc<RecordStats>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder of the game `game`, whose world is `world` units wide
    /// and high and whose entities are as `schema` says.
    pub fn new(game: &str, world: Vec2, schema: Schema) -> Self {
        Self {
            game: game.to_owned(),
            schema,
            world: (world.x, world.y),
            tx: None,
            writers: Vec::new(),
            path: None,
            held: Vec::new(),
            last_len: 0,
            stats: Arc::default(),
        }
    }

    /// Starts recording to `path` (ending any recording under way). The
    /// file is created by the writer thread, never on the tick thread.
    pub fn start(&mut self, path: PathBuf, tick_rate: u16) -> std::io::Result<()> {
        self.stop();
        let header = Header {
            protocol_id: PROTOCOL_ID,
            game: self.game.clone(),
            schema: self.schema.clone(),
            tick_rate,
            world: self.world,
            started_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            server_build: concat!("tickforge-server ", env!("CARGO_PKG_VERSION")).into(),
            keyframe_every: DEFAULT_KEYFRAME_EVERY,
        };
        let (tx, rx) = crossbeam_channel::bounded::<Frame>(QUEUE_FRAMES);
        let stats = self.stats.clone();
        stats.failed.store(false, Ordering::Relaxed);
        let target = path.clone();
        let handle = std::thread::Builder::new().name("tickforge-replay".into()).spawn(move || {
            let file = match File::create(&target) {
                Ok(file) => file,
                Err(error) => {
                    tracing::error!(path = %target.display(), %error, "cannot create the replay file; not recording");
                    stats.failed.store(true, Ordering::Relaxed);
                    return;
                }
            };
            let sync = file.try_clone();
            let mut writer = match Writer::new(BufWriter::with_capacity(1 << 20, file), &header) {
                Ok(writer) => writer,
                Err(error) => {
                    tracing::error!(path = %target.display(), %error, "cannot write the replay header; not recording");
                    stats.failed.store(true, Ordering::Relaxed);
                    return;
                }
            };
            for frame in rx {
                let mut set: KnownSet =
                    frame.entities.into_iter().map(|(id, kind, pos, fields)| Known { fields, ..Known::new(id, kind, pos) }).collect();
                set.sort_unstable_by_key(|k| k.id);
                if let Err(error) = writer.push(frame.tick, set, frame.events) {
                    tracing::error!(path = %target.display(), %error, "replay write failed (disk full?); recording stopped, the file plays up to here");
                    stats.failed.store(true, Ordering::Relaxed);
                    return;
                }
                stats.frames_written.fetch_add(1, Ordering::Relaxed);
                stats.bytes.store(writer.bytes_written(), Ordering::Relaxed);
            }
            match writer.finish().and_then(|out| out.into_inner().map_err(|e| e.into_error())) {
                Ok(_) => {
                    if let Ok(file) = sync {
                        let _ = file.sync_all();
                    }
                    tracing::info!(path = %target.display(), frames = stats.frames_written.load(Ordering::Relaxed), "replay saved");
                }
                Err(error) => {
                    tracing::error!(path = %target.display(), %error, "cannot finish the replay; it plays without its index");
                    stats.failed.store(true, Ordering::Relaxed);
                }
            }
        })?;
        self.writers.push(handle);
        self.tx = Some(tx);
        self.path = Some(path);
        self.held.clear();
        Ok(())
    }

    /// Stops recording: the writer drains its queue, writes the index and
    /// exits on its own (nothing here waits).
    pub fn stop(&mut self) -> Option<PathBuf> {
        self.tx = None;
        self.writers.retain(|h| !h.is_finished());
        self.path.take()
    }

    /// Stops and waits for every writer to finish (at shutdown).
    pub fn finish(&mut self) {
        self.stop();
        for handle in self.writers.drain(..) {
            let _ = handle.join();
        }
    }
}

/// The recorder's sets.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordSet {
    /// The tick's frame handed to the writer ([`Phase::Persist`]).
    Record,
}

/// Installs `recorder` (started or not) and its system.
pub fn install(world: &mut World, schedule: &mut Schedule, recorder: Recorder) {
    world.insert_resource(recorder);
    schedule.add_systems(record.in_set(RecordSet::Record).in_set(Phase::Persist));
}

/// The replay event a broadcast message stands for, if any.
fn event_of(message: &ServerMessage) -> Option<Event> {
    match message {
        ServerMessage::PlayerJoined(info) => Some(Event::Joined { id: info.id, name: info.name.clone() }),
        ServerMessage::PlayerLeft { id } => Some(Event::Left { id: *id }),
        ServerMessage::Chat { from, text, .. } => Some(Event::Chat { from: from.clone(), text: text.clone() }),
        _ => None,
    }
}

/// Hands this tick's frame to the writer (runs last in the tick).
pub fn record(
    tick: Res<TickInfo>,
    mut recorder: ResMut<Recorder>,
    mut net: ResMut<NetServer>,
    entities: Query<(&NetEntity, &Position, &Kind, Option<&Fields>)>,
) {
    let broadcasts = net.take_broadcasts();
    let Some(tx) = recorder.tx.clone() else { return };
    let mut events = std::mem::take(&mut recorder.held);
    events.extend(broadcasts.iter().filter_map(event_of));
    let mut set = Vec::with_capacity(recorder.last_len + 16);
    set.extend(entities.iter().map(|(id, pos, kind, fields)| (id.0, kind.0, pos.0, fields.map_or(0, |f| f.0))));
    recorder.last_len = set.len();
    match tx.try_send(Frame { tick: tick.tick as u32, entities: set, events }) {
        Ok(()) => {}
        Err(TrySendError::Full(frame)) => {
            recorder.held = frame.events;
            let dropped = recorder.stats.frames_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped == 1 || dropped.is_multiple_of(300) {
                tracing::warn!(dropped, "replay writer is behind (slow disk); frames dropped");
            }
        }
        Err(TrySendError::Disconnected(_)) => {
            // The writer stopped on an error it has logged.
            recorder.stop();
        }
    }
}
