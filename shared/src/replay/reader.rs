//! Reading a replay: header checks, the keyframe index (or a scan when the
//! file has none), sequential playback and seeking.

use std::io::{self, Read, Seek, SeekFrom};

use super::writer::decode_index;
use super::{Event, FORMAT_VERSION, FrameBody, Header, INDEX_MAGIC, MAGIC, ReplayError, State, fnv1a, state_hash};
use crate::codec;
use crate::protocol::PROTOCOL_ID;
use crate::snapshot;

/// Frame prefix: body length and checksum.
const FRAME_PREFIX: u64 = 12;

/// An open replay, positioned at some frame.
#[derive(Debug)]
pub struct Replay<R> {
    /// The file's header.
    pub header: Header,
    input: R,
    frames_start: u64,
    frames_end: u64,
    keyframes: Vec<(u32, u64)>,
    first_tick: u32,
    last_tick: u32,
    indexed: bool,
    /// Where a scan of an unindexed file stopped, if not at a clean end.
    damage: Option<String>,
    pos: u64,
    state: Option<State>,
    body: Vec<u8>,
    /// Whether the frame read last was a keyframe (how a scan finds them).
    read_key: bool,
}

impl Replay<io::BufReader<std::fs::File>> {
    /// Opens a replay file.
    pub fn open(path: &std::path::Path) -> Result<Self, ReplayError> {
        Self::new(io::BufReader::new(std::fs::File::open(path)?))
    }
}

fn truncated(offset: u64, reason: &str) -> ReplayError {
    ReplayError::Truncated { offset, reason: reason.to_owned() }
}

fn corrupt(offset: u64, reason: impl Into<String>) -> ReplayError {
    ReplayError::Corrupt { offset, reason: reason.into() }
}

/// Reads exactly `buf.len()` bytes, or says how the file ended.
fn read_exact_or(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match input.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

impl<R: Read + Seek> Replay<R> {
    /// Reads the header and the index; a file without an index is scanned
    /// up to its last whole frame ([`Replay::damage`] says why it stopped).
    pub fn new(mut input: R) -> Result<Self, ReplayError> {
        let len = input.seek(SeekFrom::End(0))?;
        input.seek(SeekFrom::Start(0))?;
        let mut magic = [0u8; 4];
        if !read_exact_or(&mut input, &mut magic)? || magic != *MAGIC {
            return Err(ReplayError::Magic);
        }
        let mut fixed = [0u8; 6];
        if !read_exact_or(&mut input, &mut fixed)? {
            return Err(ReplayError::Header("file ends inside the header".into()));
        }
        let version = u16::from_le_bytes([fixed[0], fixed[1]]);
        if version != FORMAT_VERSION {
            return Err(ReplayError::Version { found: version });
        }
        let header_len = u32::from_le_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]) as u64;
        if header_len > codec::MAX_MESSAGE_BYTES as u64 || 10 + header_len > len {
            return Err(ReplayError::Header(format!("header length {header_len} does not fit the file")));
        }
        let mut body = vec![0u8; header_len as usize];
        input.read_exact(&mut body)?;
        let header: Header = codec::decode(&body).map_err(|e| ReplayError::Header(e.to_string()))?;
        if header.protocol_id != PROTOCOL_ID {
            return Err(ReplayError::Protocol { found: header.protocol_id, expected: PROTOCOL_ID });
        }
        let frames_start = 10 + header_len;
        let mut replay = Self {
            header,
            input,
            frames_start,
            frames_end: len,
            keyframes: Vec::new(),
            first_tick: 0,
            last_tick: 0,
            indexed: false,
            damage: None,
            pos: frames_start,
            state: None,
            body: Vec::new(),
            read_key: false,
        };
        if !replay.read_index(len)? {
            replay.scan_frames();
        }
        replay.rewind();
        Ok(replay)
    }

    /// Uses the trailing index if there is a sound one.
    fn read_index(&mut self, len: u64) -> Result<bool, ReplayError> {
        if len < self.frames_start + 8 {
            return Ok(false);
        }
        self.input.seek(SeekFrom::Start(len - 8))?;
        let mut trailer = [0u8; 8];
        self.input.read_exact(&mut trailer)?;
        if trailer[4..] != *INDEX_MAGIC {
            return Ok(false);
        }
        let index_len = u64::from(u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]));
        let Some(index_start) = (len - 8).checked_sub(index_len).filter(|&s| s >= self.frames_start) else {
            return Ok(false);
        };
        let mut bytes = vec![0u8; index_len as usize];
        self.input.seek(SeekFrom::Start(index_start))?;
        self.input.read_exact(&mut bytes)?;
        let Some((last_tick, keyframes)) = decode_index(&bytes) else { return Ok(false) };
        let sound = !keyframes.is_empty()
            && keyframes[0].1 == self.frames_start
            && keyframes.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
            && keyframes.last().is_some_and(|k| k.1 < index_start && k.0 <= last_tick);
        if !sound {
            return Ok(false);
        }
        self.first_tick = keyframes[0].0;
        self.last_tick = last_tick;
        self.keyframes = keyframes;
        self.frames_end = index_start;
        self.indexed = true;
        Ok(true)
    }

    /// Reads every frame to find keyframes and the last tick: what the
    /// index would have said, for a file that ended without one.
    fn scan_frames(&mut self) {
        self.rewind();
        let mut first = None;
        loop {
            let offset = self.pos;
            match self.next_state() {
                None => break,
                Some(Ok(state)) => {
                    first.get_or_insert(state.tick);
                    self.last_tick = state.tick;
                    if self.read_key {
                        self.keyframes.push((state.tick, offset));
                    }
                }
                Some(Err(e)) => {
                    self.frames_end = offset;
                    self.damage = Some(e.to_string());
                    break;
                }
            }
        }
        self.first_tick = first.unwrap_or(0);
    }

    /// Whether the file ended properly with its index.
    pub fn indexed(&self) -> bool {
        self.indexed
    }

    /// For a file without an index: why reading stopped before its end.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// First recorded tick.
    pub fn first_tick(&self) -> u32 {
        self.first_tick
    }

    /// Last recorded tick (of whole frames).
    pub fn last_tick(&self) -> u32 {
        self.last_tick
    }

    /// Keyframe ticks and offsets.
    pub fn keyframes(&self) -> &[(u32, u64)] {
        &self.keyframes
    }

    /// Back to the first frame.
    pub fn rewind(&mut self) {
        self.pos = self.frames_start;
        self.state = None;
    }

    /// The state at `tick`, reading from the keyframe before it; playback
    /// continues after it.
    pub fn seek(&mut self, tick: u32) -> Result<State, ReplayError> {
        if self.keyframes.is_empty() || tick < self.first_tick || tick > self.last_tick {
            return Err(ReplayError::NoSuchTick(tick));
        }
        let k = self.keyframes.partition_point(|(t, _)| *t <= tick).saturating_sub(1);
        self.pos = self.keyframes[k].1;
        self.state = None;
        loop {
            match self.next_state() {
                Some(Ok(state)) if state.tick >= tick => return Ok(state),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(ReplayError::NoSuchTick(tick)),
            }
        }
    }

    /// The next tick's state, or `None` at the end of the frames.
    pub fn next_state(&mut self) -> Option<Result<State, ReplayError>> {
        if self.pos >= self.frames_end {
            return None;
        }
        let offset = self.pos;
        let result = self.read_frame(offset);
        if result.is_err() {
            // Stay stuck on the damage rather than skipping past it.
            self.frames_end = self.pos;
        }
        Some(result)
    }

    fn read_frame(&mut self, offset: u64) -> Result<State, ReplayError> {
        self.input.seek(SeekFrom::Start(offset))?;
        let mut prefix = [0u8; FRAME_PREFIX as usize];
        if !read_exact_or(&mut self.input, &mut prefix)? {
            return Err(truncated(offset, "file ends inside a frame header"));
        }
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let checksum = u64::from_le_bytes(prefix[4..].try_into().unwrap_or_default());
        if len > codec::MAX_MESSAGE_BYTES {
            return Err(corrupt(offset, format!("frame length {len} over the limit")));
        }
        self.body.resize(len, 0);
        if !read_exact_or(&mut self.input, &mut self.body)? {
            return Err(truncated(offset, "file ends inside a frame"));
        }
        if fnv1a(&self.body) != checksum {
            return Err(corrupt(offset, "checksum mismatch"));
        }
        let frame: FrameBody = codec::decode(&self.body).map_err(|e| corrupt(offset, e.to_string()))?;
        let state = self.apply(frame).map_err(|reason| corrupt(offset, reason))?;
        self.pos = offset + FRAME_PREFIX + len as u64;
        Ok(state)
    }

    /// Advances the reconstructed state by one frame, checking it.
    fn apply(&mut self, frame: FrameBody) -> Result<State, String> {
        let prev = self.state.take();
        let chained = match (&prev, frame.base_tick) {
            (Some(prev), Some(base)) if prev.tick == base => Some(
                snapshot::decode(&self.header.schema, &prev.entities, base, &frame.delta, frame.tick)
                    .map_err(|e| format!("delta does not decode: {e}"))?,
            ),
            (Some(prev), Some(base)) => {
                return Err(format!("delta against tick {base}, but the last frame was {}", prev.tick));
            }
            (Some(_), None) => return Err("a frame without a delta in the middle of the chain".into()),
            (None, _) => None,
        };
        let mut state = State { tick: frame.tick, events: frame.events, ..State::default() };
        self.read_key = frame.key.is_some();
        match (frame.key, chained) {
            (Some(key), chained) => {
                let full = snapshot::decode(&self.header.schema, &[], 0, &key.full, frame.tick)
                    .map_err(|e| format!("keyframe does not decode: {e}"))?;
                if let Some(chained) = chained
                    && state_hash(&chained) != state_hash(&full)
                {
                    return Err(format!("the delta chain does not reproduce keyframe {}", frame.tick));
                }
                state.entities = full;
                state.players = key.players.into_iter().collect();
            }
            (None, Some(chained)) => {
                state.entities = chained;
                state.players = prev.map(|p| p.players).unwrap_or_default();
            }
            (None, None) => return Err("a delta frame with nothing to apply it to".into()),
        }
        if state_hash(&state.entities) != frame.state_hash {
            return Err(format!("reconstructed state at tick {} differs from the recorded one", frame.tick));
        }
        for event in &state.events {
            match event {
                Event::Joined { id, name } => {
                    state.players.insert(*id, name.clone());
                }
                Event::Left { id } => {
                    state.players.remove(id);
                }
                Event::Chat { .. } => {}
            }
        }
        self.state = Some(state.clone());
        Ok(state)
    }
}

impl<R: Read + Seek> Iterator for Replay<R> {
    type Item = Result<State, ReplayError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_state()
    }
}
