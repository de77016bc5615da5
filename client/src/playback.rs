//! Replay playback without a window, for `tickforge-client --replay FILE
//! --headless` and the `tickforge-replay` inspector: per-second JSON lines,
//! JSONL export, file info and verification.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use serde::Serialize;
use tickforge_shared::replay::{Entity, Event, Replay, ReplayError, State};

/// A replay file opened for reading.
pub type ReplayFile = Replay<BufReader<File>>;

/// Opens a replay file.
pub fn open(path: &Path) -> Result<ReplayFile, ReplayError> {
    Replay::open(path)
}

/// One line a second of replay time.
#[derive(Debug, Serialize)]
pub struct SecondLine {
    /// Server tick.
    pub tick: u32,
    /// Seconds since the recording started.
    pub t_s: f64,
    /// Entities in the world.
    pub entities: usize,
    /// Players in the world.
    pub players: usize,
}

/// One line per tick of an export.
#[derive(Debug, Serialize)]
pub struct TickLine<'a> {
    /// Server tick.
    pub tick: u32,
    /// Every entity.
    pub entities: Vec<Entity>,
    /// Players: entity id and name.
    pub players: Vec<(u32, &'a str)>,
    /// What happened this tick.
    pub events: &'a [Event],
}

/// The states from `from` (default: the first tick) to `to` (default: the
/// last), each passed to `visit`.
pub fn play(
    replay: &mut ReplayFile,
    from: Option<u32>,
    to: Option<u32>,
    mut visit: impl FnMut(&State) -> std::io::Result<()>,
) -> Result<u64, ReplayError> {
    let to = to.unwrap_or(u32::MAX);
    let mut count = 0;
    let first = match from {
        Some(tick) => replay.seek(tick.max(replay.first_tick()))?,
        None => {
            replay.rewind();
            match replay.next_state() {
                Some(state) => state?,
                None => return Ok(0),
            }
        }
    };
    let mut state = first;
    loop {
        if state.tick > to {
            break;
        }
        visit(&state)?;
        count += 1;
        match replay.next_state() {
            Some(next) => state = next?,
            None => break,
        }
    }
    Ok(count)
}

/// Prints a [`SecondLine`] for every second of replay time in the range
/// (the first recorded tick at or after each whole second: a server that
/// skipped ticks has no frame for some ticks).
pub fn headless(
    replay: &mut ReplayFile,
    from: Option<u32>,
    to: Option<u32>,
    out: &mut impl Write,
) -> Result<u64, ReplayError> {
    let rate = u32::from(replay.header.tick_rate.max(1));
    let first = replay.first_tick();
    let mut next_second = from.map_or(0, |f| f.saturating_sub(first).div_ceil(rate));
    play(replay, from, to, |state| {
        let since = state.tick - first;
        if since >= next_second * rate {
            next_second = since / rate + 1;
            let line = SecondLine {
                tick: state.tick,
                t_s: f64::from(since) / f64::from(rate),
                entities: state.entities.len(),
                players: state.players.len(),
            };
            writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default())?;
        }
        Ok(())
    })
}

/// Writes one [`TickLine`] per tick in the range.
pub fn export(
    replay: &mut ReplayFile,
    from: Option<u32>,
    to: Option<u32>,
    out: &mut impl Write,
) -> Result<u64, ReplayError> {
    let schema = replay.header.schema.clone();
    play(replay, from, to, |state| {
        let line = TickLine {
            tick: state.tick,
            entities: state.entities(&schema).collect(),
            players: state.players.iter().map(|(id, name)| (id.0, name.as_str())).collect(),
            events: &state.events,
        };
        writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default())
    })
}

/// What `tickforge-replay info` prints.
#[derive(Debug, Serialize)]
pub struct Info {
    /// Format version.
    pub format_version: u16,
    /// Protocol id of the recording server.
    pub protocol_id: String,
    /// The game that was played.
    pub game: String,
    /// Its entity kinds, by name.
    pub kinds: Vec<String>,
    /// Ticks per second.
    pub tick_rate: u16,
    /// World size.
    pub world: (f32, f32),
    /// Recording start, Unix milliseconds.
    pub started_unix_ms: u64,
    /// Recording server's build.
    pub server_build: String,
    /// First and last tick.
    pub ticks: (u32, u32),
    /// Frames recorded.
    pub frames: u64,
    /// Seconds of play.
    pub duration_s: f64,
    /// Distinct player names.
    pub players: Vec<String>,
    /// Most entities at once.
    pub max_entities: usize,
    /// Keyframes.
    pub keyframes: usize,
    /// File size in bytes.
    pub size_bytes: u64,
    /// Whether the file ended with its index.
    pub indexed: bool,
    /// Why an unindexed file's reading stopped early, if it did.
    pub damage: Option<String>,
}

/// Reads every frame and describes the file.
pub fn info(replay: &mut ReplayFile, size_bytes: u64) -> Result<Info, ReplayError> {
    let (mut frames, mut max_entities) = (0u64, 0usize);
    let mut players = BTreeSet::new();
    play(replay, None, None, |state| {
        frames += 1;
        max_entities = max_entities.max(state.entities.len());
        players.extend(state.players.values().cloned());
        Ok(())
    })?;
    let h = &replay.header;
    let rate = f64::from(h.tick_rate.max(1));
    Ok(Info {
        format_version: tickforge_shared::replay::FORMAT_VERSION,
        protocol_id: format!("{:#x}", h.protocol_id),
        game: h.game.clone(),
        kinds: h.schema.kinds().iter().map(|k| k.name.clone()).collect(),
        tick_rate: h.tick_rate,
        world: h.world,
        started_unix_ms: h.started_unix_ms,
        server_build: h.server_build.clone(),
        ticks: (replay.first_tick(), replay.last_tick()),
        frames,
        duration_s: (f64::from(replay.last_tick().saturating_sub(replay.first_tick()) + 1) / rate * 100.0).round()
            / 100.0,
        players: players.into_iter().collect(),
        max_entities,
        keyframes: replay.keyframes().len(),
        size_bytes,
        indexed: replay.indexed(),
        damage: replay.damage().map(str::to_owned),
    })
}

/// Reads every frame, checking each checksum, each reconstructed state
/// against its recorded hash and each delta chain against the keyframe it
/// reaches, and the index against the keyframes found. Returns the frame count.
pub fn verify(replay: &mut ReplayFile) -> Result<u64, ReplayError> {
    if let Some(damage) = replay.damage() {
        return Err(ReplayError::Corrupt { offset: 0, reason: format!("no index, and {damage}") });
    }
    let keyframes: Vec<u32> = replay.keyframes().iter().map(|(t, _)| *t).collect();
    let mut previous = None;
    let frames = play(replay, None, None, |state| {
        if previous.is_some_and(|p: u32| state.tick <= p) {
            return Err(std::io::Error::other(format!("tick {} after tick {:?}", state.tick, previous)));
        }
        previous = Some(state.tick);
        Ok(())
    })?;
    if previous != Some(replay.last_tick()) {
        return Err(ReplayError::Corrupt { offset: 0, reason: "the index's last tick is not the last frame's".into() });
    }
    for tick in keyframes {
        replay.seek(tick)?;
    }
    Ok(frames)
}
