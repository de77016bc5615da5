//! Writing a replay: header, then one frame per tick, then the index.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{Event, FORMAT_VERSION, FrameBody, Header, INDEX_MAGIC, Keyframe, MAGIC, fnv1a, state_hash};
use crate::codec;
use crate::protocol::NetId;
use crate::schema::Schema;
use crate::snapshot::{self, KnownSet, Motion};

/// Writes frames to `W`, delta-encoding each against the previous one.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    offset: u64,
    /// The recorded game's kinds (from the header).
    schema: Schema,
    keyframe_every: u32,
    /// The previous frame's set as a reader reconstructs it.
    prev: Option<(u32, KnownSet)>,
    /// Ticks written since the last keyframe.
    since_key: u32,
    /// Keyframe ticks and offsets.
    index: Vec<(u32, u64)>,
    /// Players in the world, kept from join and leave events.
    roster: BTreeMap<NetId, String>,
}

fn encode_err(e: codec::CodecError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl<W: Write> Writer<W> {
    /// Writes the header.
    pub fn new(mut out: W, header: &Header) -> io::Result<Self> {
        let body = codec::encode(header).map_err(encode_err)?;
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&(body.len() as u32).to_le_bytes())?;
        out.write_all(&body)?;
        Ok(Self {
            out,
            offset: (4 + 2 + 4 + body.len()) as u64,
            schema: header.schema.clone(),
            keyframe_every: header.keyframe_every.max(1),
            prev: None,
            since_key: 0,
            index: Vec::new(),
            roster: BTreeMap::new(),
        })
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Appends the world at `tick`: `entities` sorted by id (motion is
    /// ignored), and the tick's events.
    pub fn push(&mut self, tick: u32, mut entities: KnownSet, events: Vec<Event>) -> io::Result<()> {
        for k in &mut entities {
            k.motion = Motion::default();
        }
        for event in &events {
            match event {
                Event::Joined { id, name } => {
                    self.roster.insert(*id, name.clone());
                }
                Event::Left { id } => {
                    self.roster.remove(id);
                }
                Event::Chat { .. } => {}
            }
        }
        let (base_tick, delta) = match &self.prev {
            Some((prev_tick, prev)) => {
                // And what a reader holds after decoding: positions plus motion.
                let (payload, _) = snapshot::encode_with_motion(&self.schema, prev, *prev_tick, &mut entities, tick);
                (Some(*prev_tick), payload)
            }
            None => (None, Vec::new()),
        };
        let is_key = self.prev.is_none() || self.since_key + 1 >= self.keyframe_every;
        let key = is_key.then(|| {
            // After a keyframe both the chain and a seek start from the
            // full set, which carries no motion.
            for k in &mut entities {
                k.motion = Motion::default();
            }
            Keyframe {
                full: snapshot::encode(&self.schema, &[], 0, &entities, tick).0,
                players: self.roster.iter().map(|(id, name)| (*id, name.clone())).collect(),
            }
        });
        let body = FrameBody { tick, base_tick, delta, key, state_hash: state_hash(&entities), events };
        let bytes = codec::encode(&body).map_err(encode_err)?;
        if is_key {
            self.index.push((tick, self.offset));
            self.since_key = 0;
        } else {
            self.since_key += 1;
        }
        self.out.write_all(&(bytes.len() as u32).to_le_bytes())?;
        self.out.write_all(&fnv1a(&bytes).to_le_bytes())?;
        self.out.write_all(&bytes)?;
        self.offset += (4 + 8 + bytes.len()) as u64;
        self.prev = Some((tick, entities));
        Ok(())
    }

    /// Writes the keyframe index and flushes; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let last_tick = self.prev.as_ref().map_or(0, |(t, _)| *t);
        let index = encode_index(&self.index, last_tick);
        self.out.write_all(&index)?;
        self.out.write_all(&(index.len() as u32).to_le_bytes())?;
        self.out.write_all(INDEX_MAGIC)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// The output, without an index (as after a crash).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The index: last tick, count, then (tick, offset) pairs.
fn encode_index(index: &[(u32, u64)], last_tick: u32) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + index.len() * 12);
    bytes.extend_from_slice(&last_tick.to_le_bytes());
    bytes.extend_from_slice(&(index.len() as u32).to_le_bytes());
    for (tick, offset) in index {
        bytes.extend_from_slice(&tick.to_le_bytes());
        bytes.extend_from_slice(&offset.to_le_bytes());
    }
    bytes
}

/// Reads an index written by [`encode_index`]: (last tick, keyframes).
pub(super) fn decode_index(bytes: &[u8]) -> Option<(u32, Vec<(u32, u64)>)> {
    let last_tick = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let count = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    let rest = bytes.get(8..)?;
    if rest.len() != count.checked_mul(12)? {
        return None;
    }
    Some((
        last_tick,
        rest.chunks_exact(12)
            .map(|c| {
                let tick = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let offset = u64::from_le_bytes([c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]]);
                (tick, offset)
            })
            .collect(),
    ))
}
