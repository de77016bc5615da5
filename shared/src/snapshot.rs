//! Compact snapshots: quantized positions, bit-packed, delta-encoded against
//! a baseline the client has acknowledged.
//!
//! **Precision.** Positions are quantized to 1/[`QUANT`] of a world unit
//! (0.25 units; the world is 2000 units wide, an avatar 32 across), stored
//! in [`COORD_BITS`] bits per axis. Velocities of other entities are not sent:
//! clients interpolate positions. A client's own avatar is sent exactly, in
//! full `f32`, beside the packed payload, so its prediction can reconcile
//! without quantization error.
//!
//! **Prediction.** Each entry carries its last observed motion (how far it
//! moved between its baseline and its own snapshot, over how many ticks);
//! both sides compute it the same way, from data both have. A delta is taken
//! against where the baseline entry *would be* by now if it kept that
//! motion, so an entity moving steadily costs 1 bit however old the baseline.
//!
//! **Fields.** A kind may carry fields besides its position (see
//! [`crate::schema`]): small values packed by the game's codecs, delta-coded
//! per field against the baseline. A kind without fields pays nothing for
//! them.
//!
//! **Layout** (bits, most significant first), against baseline `B` (empty
//! for a full snapshot), describing the target set `T`:
//!
//! 1. For every entity of `B` in id order: `0` = at its predicted place in
//!    `T` (and, for a kind with fields, every field as in `B`); or `1` then
//!    `1` = removed from `T`, or `0` = changed. A change of a kind without
//!    fields is a move; of a kind with fields, a bit says whether it moved
//!    (then the move), and each field in schema order is `0` = as in `B` or
//!    `1` + its bits. A move is one of
//!    `0` + two 7-bit offsets (each delta within ±64 quanta, 16 units),
//!    `10` + two 10-bit offsets (within ±512 quanta, 128 units), or
//!    `11` + two absolute 13-bit coordinates.
//! 2. The number of entities new in `T` (varint), then for each: id delta
//!    from the previous new id (varint), kind (as many bits as the schema
//!    needs to number its kinds: 2 for three or four), two absolute
//!    coordinates, and every field of its kind in full.
//!
//! So an idle entity costs 1 bit, a moving one 17 bits (24 when the
//! baseline is several ticks old, 30 for a jump), a new one about 40.
//! [`SizePlan`] gives these costs exactly, so a sender choosing what fits a
//! budget counts what [`encode`] will write, bit for bit.
//! Decoding never panics and never allocates more than [`MAX_ENTITIES`]
//! entries, whatever the input.

use crate::protocol::{EntityKind, NetId};
use crate::schema::Schema;
use crate::sim::Vec2;

/// Quanta per world unit.
pub const QUANT: f32 = 4.0;
/// Bits per absolute coordinate.
pub const COORD_BITS: u32 = 13;
/// Largest coordinate value.
pub const COORD_MAX: u16 = (1 << COORD_BITS) - 1;
/// The largest coordinate a position can have, in world units: a game's
/// world fits within `EXTENT` × `EXTENT`.
pub const EXTENT: f32 = COORD_MAX as f32 / QUANT;
/// The most entities one snapshot may describe.
pub const MAX_ENTITIES: usize = 8192;
/// Width of a small delta, per axis.
const SMALL_BITS: u32 = 7;
/// Width of a medium delta, per axis.
const MEDIUM_BITS: u32 = 10;

fn fits(delta: i32, bits: u32) -> bool {
    let bias = 1 << (bits - 1);
    (-bias..bias).contains(&delta)
}

/// How far an entity moved over how many ticks (quanta; `dt == 0`: still).
/// Small on purpose: every client remembers 16 sets of ~100 of these.
/// Coordinates have [`COORD_BITS`] bits, so even a jump across the whole
/// world (a respawn) fits an `i16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Motion {
    /// Quanta moved along x.
    pub dx: i16,
    /// Quanta moved along y.
    pub dy: i16,
    /// Over this many ticks (at most [`MAX_PREDICT_TICKS`]).
    pub dt: u8,
}

impl Motion {
    /// The motion of an entry known at `old` and, `dt` ticks later, at
    /// `now` (none beyond [`MAX_PREDICT_TICKS`]): what a target entry
    /// carries, on both sides, against its baseline entry.
    #[inline]
    pub fn between(old: &Known, now: (u16, u16), dt: u32) -> Self {
        if dt == 0 || dt > MAX_PREDICT_TICKS {
            return Self::default();
        }
        // Both within 0..=COORD_MAX (13 bits): the difference fits.
        let delta = |new: u16, old: u16| (i32::from(new) - i32::from(old)) as i16;
        Self { dx: delta(now.0, old.qx), dy: delta(now.1, old.qy), dt: dt as u8 }
    }
}

/// Baselines older than this many ticks are not extrapolated.
pub const MAX_PREDICT_TICKS: u32 = 64;

/// One entity as a client knows it: kind, quantized position, last
/// motion, packed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// Stable id.
    pub id: NetId,
    /// What it is.
    pub kind: EntityKind,
    /// Quantized x.
    pub qx: u16,
    /// Quantized y.
    pub qy: u16,
    /// Observed motion, for prediction.
    pub motion: Motion,
    /// Its kind's fields, packed where the schema's slots say (0 for a
    /// kind without fields).
    pub fields: u32,
}

impl Known {
    /// Quantizes a position (clamped to the representable range), no
    /// motion, no fields.
    pub fn new(id: NetId, kind: EntityKind, pos: Vec2) -> Self {
        Self { id, kind, qx: quantize(pos.x), qy: quantize(pos.y), motion: Motion::default(), fields: 0 }
    }

    /// Where this entry (known at tick `from`) is expected at tick `to`.
    #[inline]
    pub fn predict(&self, from: u32, to: u32) -> (u16, u16) {
        let m = self.motion;
        let ahead = to.wrapping_sub(from);
        if m.dt == 0 || ahead == 0 || ahead > MAX_PREDICT_TICKS || u32::from(m.dt) > MAX_PREDICT_TICKS {
            return (self.qx, self.qy);
        }
        // |d| ≤ 8 191 and ahead ≤ 64: the product fits an i32 (a 32-bit
        // division is several times cheaper than a 64-bit one).
        let (ahead, dt) = (ahead as i32, i32::from(m.dt));
        // The same spacing again (acks arriving at a steady lag) or a
        // one-tick motion need no division; the results are the same.
        let step = |q: u16, d: i16| {
            let d = i32::from(d);
            let moved = if ahead == dt {
                d
            } else if dt == 1 {
                d.saturating_mul(ahead)
            } else {
                d.saturating_mul(ahead) / dt
            };
            (i32::from(q).saturating_add(moved)).clamp(0, i32::from(COORD_MAX)) as u16
        };
        (step(self.qx, m.dx), step(self.qy, m.dy))
    }

    /// The position this entry stands for.
    pub fn pos(&self) -> Vec2 {
        Vec2::new(f32::from(self.qx) / QUANT, f32::from(self.qy) / QUANT)
    }
}

/// A coordinate in quanta.
pub fn quantize(v: f32) -> u16 {
    if !v.is_finite() {
        return 0;
    }
    (v * QUANT).round().clamp(0.0, f32::from(COORD_MAX)) as u16
}

/// Everything a client knows at one tick, sorted by id.
pub type KnownSet = Vec<Known>;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The payload ended early.
    #[error("snapshot payload truncated")]
    Truncated,
    /// More entities than allowed.
    #[error("snapshot describes too many entities")]
    TooMany,
    /// A kind value that does not exist.
    #[error("unknown entity kind {0}")]
    BadKind(u64),
    /// Ids of new entities overflowed or repeated one in the baseline.
    #[error("invalid entity id")]
    BadId,
    /// A coordinate outside the world.
    #[error("coordinate out of range")]
    BadCoordinate,
    /// A varint longer than 64 bits.
    #[error("malformed varint")]
    BadVarint,
    /// The snapshot refers to a baseline the client no longer has.
    #[error("baseline for tick {0} is not available")]
    MissingBaseline(u32),
}

/// Appends bits to a byte buffer, most significant first, a word at a
/// time: whole bytes go to the buffer when the accumulator fills, the rest
/// waits in it.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits not yet in `bytes`, in the low `pending` bits (the bits above
    /// them are already written).
    acc: u64,
    /// How many (at most 64).
    pending: u32,
}

impl BitWriter {
    /// Writes the low `n` bits of `value` (n ≤ 64).
    #[inline]
    pub fn write(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        if n > 32 {
            self.write(value >> 32, n - 32);
            self.write(value & 0xffff_ffff, 32);
            return;
        }
        if n == 0 {
            return;
        }
        if self.pending + n > 64 {
            self.flush_bytes();
        }
        // At most 7 + 32 bits pending after a flush: they fit.
        self.acc = (self.acc << n) | (value & (u64::MAX >> (64 - n)));
        self.pending += n;
    }

    /// Moves the whole bytes of the accumulator to the buffer (under 8
    /// bits stay).
    fn flush_bytes(&mut self) {
        while self.pending >= 8 {
            self.pending -= 8;
            self.bytes.push((self.acc >> self.pending) as u8);
        }
    }

    /// Writes a baseline entry's bits.
    #[inline]
    pub fn write_entry(&mut self, entry: EntryBits) {
        let len = u32::from(entry.len);
        if len > 64 {
            self.write(u64::from(entry.hi), len - 64);
            self.write(entry.lo, 64);
        } else {
            self.write(entry.lo, len);
        }
    }

    /// Writes an unsigned varint: 7-bit groups, each after a continuation bit.
    pub fn write_varint(&mut self, mut value: u64) {
        loop {
            let group = value & 0x7f;
            value >>= 7;
            self.write(u64::from(value != 0), 1);
            self.write(group, 7);
            if value == 0 {
                return;
            }
        }
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + self.pending as usize
    }

    /// The packed bytes (the last byte zero-padded).
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.flush_bytes();
        if self.pending > 0 {
            self.bytes.push((self.acc << (8 - self.pending)) as u8);
        }
        self.bytes
    }
}

/// Reads bits written by [`BitWriter`]; every read is bounds-checked.
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Reads `n` bits (n ≤ 64).
    #[inline]
    pub fn read(&mut self, n: u32) -> Result<u64, SnapshotError> {
        debug_assert!(n <= 64);
        if self.pos + n as usize > self.bytes.len() * 8 {
            return Err(SnapshotError::Truncated);
        }
        if n > 56 {
            let high = self.read(n - 32)?;
            return Ok((high << 32) | self.read(32)?);
        }
        if n == 0 {
            return Ok(0);
        }
        // The eight bytes from the one the read starts in (zeros past the
        // end), as one big-endian word: the bits wanted lie within it.
        let at = self.pos / 8;
        let word = match self.bytes.get(at..at + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().unwrap_or_default()),
            None => {
                let mut word = [0u8; 8];
                let tail = &self.bytes[at..];
                word[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(word)
            }
        };
        let skip = (self.pos % 8) as u32;
        self.pos += n as usize;
        Ok((word << skip) >> (64 - n))
    }

    /// Reads a varint written by [`BitWriter::write_varint`].
    pub fn read_varint(&mut self) -> Result<u64, SnapshotError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let more = self.read(1)? == 1;
            let group = self.read(7)?;
            value |= group.checked_shl(shift).ok_or(SnapshotError::BadVarint)?;
            if !more {
                return Ok(value);
            }
        }
        Err(SnapshotError::BadVarint)
    }
}

/// The bits one baseline entry takes in a payload, its flags included,
/// most significant first: exactly what [`encode`] writes for it. A sender
/// works them out once ([`entry_bits`]), prices them ([`EntryBits::bits`])
/// and copies them into the payload ([`encode_planned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryBits {
    /// The last 64 bits (all of them, for an entry of up to 64).
    lo: u64,
    /// The bits before those (a change takes at most 2 + 1 + 28 bits of
    /// move and 64 of fields: a kind's fields are at most 32 bits, each
    /// with its flag).
    hi: u32,
    len: u8,
}

impl EntryBits {
    /// A baseline entry at its predicted place (and fields unchanged).
    pub const KEPT: Self = Self { lo: 0, hi: 0, len: 1 };
    /// A baseline entry gone from the target.
    pub const REMOVED: Self = Self { lo: 0b11, hi: 0, len: 2 };

    /// Its length in bits.
    pub fn bits(self) -> usize {
        usize::from(self.len)
    }

    /// Whether the entry is anything but [`EntryBits::KEPT`]: it takes
    /// more than the one bit of an entry at its predicted place.
    pub fn is_change(self) -> bool {
        self.len > 1
    }

    /// Appends the low `n` bits of `value`.
    #[inline]
    fn push(&mut self, value: u64, n: u32) {
        debug_assert!((1..=32).contains(&n));
        self.hi = ((u64::from(self.hi) << n) | (self.lo >> (64 - n))) as u32;
        self.lo = (self.lo << n) | (value & (u64::MAX >> (64 - n)));
        self.len += n as u8;
    }
}

/// The bits of baseline entry `old`, predicted at `predicted`, when the
/// target holds it as `now`: [`EntryBits::KEPT`] where it stands where
/// predicted with the same fields; else `10` and the change. A change of a
/// kind without fields is a move; of a kind with fields, a bit says
/// whether it moved (then the move), then each field in schema order, `0`
/// as in the baseline or `1` and its bits.
#[inline]
pub fn entry_bits(schema: &Schema, predicted: (u16, u16), old: &Known, now: &Known) -> EntryBits {
    let slots = schema.slots(old.kind);
    let moved = (now.qx, now.qy) != predicted;
    if !moved && (slots.is_empty() || now.fields == old.fields) {
        return EntryBits::KEPT;
    }
    let mut bits = EntryBits { lo: 0b10, hi: 0, len: 2 };
    if !slots.is_empty() {
        bits.push(u64::from(moved), 1);
    }
    if moved {
        push_move(&mut bits, predicted, now);
    }
    for slot in slots {
        let value = slot.get(now.fields);
        if value == slot.get(old.fields) {
            bits.push(0, 1);
        } else {
            bits.push(1, 1);
            bits.push(u64::from(value), slot.bits());
        }
    }
    bits
}

/// Reads a change of a kind with fields, as [`entry_bits`] writes it
/// (after its `10`).
fn read_change(
    r: &mut BitReader<'_>,
    schema: &Schema,
    from: &Known,
    predicted: (u16, u16),
) -> Result<Known, SnapshotError> {
    let mut to = if r.read(1)? == 1 {
        read_move(r, from, predicted)?
    } else {
        Known { qx: predicted.0, qy: predicted.1, ..*from }
    };
    for slot in schema.slots(from.kind) {
        if r.read(1)? == 1 {
            to.fields = slot.set(to.fields, r.read(slot.bits())? as u32);
        }
    }
    Ok(to)
}

fn push_move(bits: &mut EntryBits, from: (u16, u16), to: &Known) {
    let dx = i32::from(to.qx) - i32::from(from.0);
    let dy = i32::from(to.qy) - i32::from(from.1);
    let offsets = |bits: &mut EntryBits, width: u32| {
        let bias = 1 << (width - 1);
        bits.push((dx + bias) as u64, width);
        bits.push((dy + bias) as u64, width);
    };
    if fits(dx, SMALL_BITS) && fits(dy, SMALL_BITS) {
        bits.push(0, 1);
        offsets(bits, SMALL_BITS);
    } else if fits(dx, MEDIUM_BITS) && fits(dy, MEDIUM_BITS) {
        bits.push(0b10, 2);
        offsets(bits, MEDIUM_BITS);
    } else {
        bits.push(0b11, 2);
        bits.push(u64::from(to.qx), COORD_BITS);
        bits.push(u64::from(to.qy), COORD_BITS);
    }
}

fn read_coord(r: &mut BitReader<'_>) -> Result<u16, SnapshotError> {
    u16::try_from(r.read(COORD_BITS)?).map_err(|_| SnapshotError::BadCoordinate)
}

fn read_move(r: &mut BitReader<'_>, from: &Known, predicted: (u16, u16)) -> Result<Known, SnapshotError> {
    let tier = if r.read(1)? == 0 {
        Some(SMALL_BITS)
    } else if r.read(1)? == 0 {
        Some(MEDIUM_BITS)
    } else {
        None
    };
    let (qx, qy) = if let Some(bits) = tier {
        let bias = 1 << (bits - 1);
        let dx = r.read(bits)? as i32 - bias;
        let dy = r.read(bits)? as i32 - bias;
        let x = i32::from(predicted.0) + dx;
        let y = i32::from(predicted.1) + dy;
        let ok = |v: i32| (0..=i32::from(COORD_MAX)).contains(&v);
        if !ok(x) || !ok(y) {
            return Err(SnapshotError::BadCoordinate);
        }
        (x as u16, y as u16)
    } else {
        (read_coord(r)?, read_coord(r)?)
    };
    Ok(Known { qx, qy, ..*from })
}

/// Bits of an unsigned varint as [`BitWriter::write_varint`] writes it:
/// 8 per started group of 7 value bits.
pub fn varint_bits(value: u64) -> usize {
    let significant = (64 - value.leading_zeros()).max(1) as usize;
    significant.div_ceil(7) * 8
}

/// The exact size of a payload being planned, entry by entry, in the
/// codec's own cost model (so the planner and [`encode`] can never
/// disagree). Start with [`SizePlan::new`], then for each baseline entry
/// call [`SizePlan::keep`], [`SizePlan::remove`] or [`SizePlan::add_move`],
/// and [`SizePlan::add_fresh`] for each new entity; [`SizePlan::bits`] is
/// then what `encode` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizePlan {
    bits: usize,
    /// Ids of the new entities so far, sorted: each is written as a delta
    /// from the one before it, so a new id's cost depends on its neighbours.
    fresh: Vec<u32>,
}

impl SizePlan {
    /// Bits of a baseline entry at its predicted place.
    pub const KEPT_BITS: usize = 1;
    /// Bits of a baseline entry gone from the target.
    pub const REMOVED_BITS: usize = 2;

    /// Bits of a new entity of `kind` besides its id delta: its kind,
    /// coordinates and fields.
    pub fn fresh_body_bits(schema: &Schema, kind: EntityKind) -> usize {
        (schema.kind_bits() + 2 * COORD_BITS + schema.field_bits(kind)) as usize
    }

    /// An empty payload: no baseline entries, an empty new-entity list.
    pub fn new() -> Self {
        Self { bits: varint_bits(0), fresh: Vec::new() }
    }

    /// Starts over, keeping the allocation.
    pub fn clear(&mut self) {
        self.bits = varint_bits(0);
        self.fresh.clear();
    }

    /// Bits planned so far.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// A baseline entry stays at its predicted place.
    pub fn keep(&mut self) {
        self.bits += Self::KEPT_BITS;
    }

    /// A baseline entry is removed.
    pub fn remove(&mut self) {
        self.bits += Self::REMOVED_BITS;
    }

    /// Extra bits for turning the kept baseline entry `old` (predicted at
    /// `predicted`) into the changed entry `to`: its move and, for a kind
    /// with fields, the moved bit and every field's.
    pub fn change_cost(schema: &Schema, predicted: (u16, u16), old: &Known, to: &Known) -> usize {
        entry_bits(schema, predicted, old, to).bits() - Self::KEPT_BITS
    }

    /// A kept entry becomes a change costing `cost` more bits.
    pub fn add_move(&mut self, cost: usize) {
        self.bits += cost;
    }

    /// What adding the new entity `id` would cost now: its id delta, its
    /// body (`body_bits`: [`SizePlan::fresh_body_bits`] of its kind), the
    /// re-written delta of the next new id after it, and a longer count
    /// when the count needs another varint group.
    pub fn fresh_cost(&self, id: NetId, body_bits: usize) -> usize {
        let at = self.fresh.partition_point(|&f| f < id.0);
        let prev = at.checked_sub(1).map_or(0, |i| u64::from(self.fresh[i]));
        let id = u64::from(id.0);
        let mut cost = varint_bits(id - prev) + body_bits;
        if let Some(&next) = self.fresh.get(at) {
            let next = u64::from(next);
            cost = cost + varint_bits(next - id) - varint_bits(next - prev);
        }
        let count = self.fresh.len() as u64;
        cost + varint_bits(count + 1) - varint_bits(count)
    }

    /// Adds the new entity `id` (not already added), at [`SizePlan::fresh_cost`].
    pub fn add_fresh(&mut self, id: NetId, body_bits: usize) {
        self.bits += self.fresh_cost(id, body_bits);
        let at = self.fresh.partition_point(|&f| f < id.0);
        self.fresh.insert(at, id.0);
    }
}

/// Fills in the motion of each `target` entry (at `tick`) from `baseline`
/// (at `baseline_tick`), exactly as [`decode`] does on the other side.
pub fn with_motion(baseline: &[Known], baseline_tick: u32, target: &mut [Known], tick: u32) {
    let dt = tick.wrapping_sub(baseline_tick);
    let mut b = 0;
    for k in target.iter_mut() {
        while b < baseline.len() && baseline[b].id < k.id {
            b += 1;
        }
        k.motion = match baseline.get(b).filter(|x| x.id == k.id) {
            Some(old) => Motion::between(old, (k.qx, k.qy), dt),
            None => Motion::default(),
        };
    }
}

/// Encodes `target` (at `tick`) against `baseline` (at `baseline_tick`),
/// both sorted by id, their kinds and fields as `schema` says. Returns the
/// payload and its length in bits.
pub fn encode(
    schema: &Schema,
    baseline: &[Known],
    baseline_tick: u32,
    target: &[Known],
    tick: u32,
) -> (Vec<u8>, usize) {
    let mut copy = target.to_vec();
    encode_with_motion(schema, baseline, baseline_tick, &mut copy, tick)
}

/// [`encode`], and each target entry's motion filled in as [`with_motion`]
/// does, in one walk over both sets.
pub fn encode_with_motion(
    schema: &Schema,
    baseline: &[Known],
    baseline_tick: u32,
    target: &mut [Known],
    tick: u32,
) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let dt = tick.wrapping_sub(baseline_tick);
    let mut w = writer(&mut out, baseline.len() / 2 + target.len() * 3 + 8);
    let (mut t, mut fresh) = (0, 0usize);
    for b in baseline {
        while t < target.len() && target[t].id < b.id {
            target[t].motion = Motion::default();
            fresh += 1;
            t += 1;
        }
        match target.get_mut(t).filter(|k| k.id == b.id) {
            Some(k) => {
                w.write_entry(entry_bits(schema, b.predict(baseline_tick, tick), b, k));
                k.motion = Motion::between(b, (k.qx, k.qy), dt);
                t += 1;
            }
            None => w.write_entry(EntryBits::REMOVED),
        }
    }
    for k in &mut target[t..] {
        k.motion = Motion::default();
        fresh += 1;
    }
    // The new entries: those of the target not in the baseline, found
    // again by id alone.
    let mut b = 0;
    let fresh_entries = target.iter().filter(|k| {
        while b < baseline.len() && baseline[b].id < k.id {
            b += 1;
        }
        baseline.get(b).is_none_or(|x| x.id != k.id)
    });
    write_fresh(&mut w, schema, fresh, fresh_entries);
    let bits = finish(w, &mut out);
    (out, bits)
}

/// Writes a payload from its parts, as a sender that planned it entry by
/// entry has them: one [`EntryBits`] per baseline entry in the baseline's
/// order, then the entities new in the target (`fresh`, in id order,
/// none of them in the baseline). The same bytes as [`encode`] writes
/// for that baseline and target. Into `out` (contents replaced,
/// allocation kept); returns the payload's length in bits.
pub fn encode_planned(schema: &Schema, entries: &[EntryBits], fresh: &[Known], out: &mut Vec<u8>) -> usize {
    let mut w = writer(out, entries.len() / 2 + fresh.len() * 6 + 8);
    // Most entries stand where predicted: their zeros go out a run at a time.
    let mut kept = 0;
    for &entry in entries {
        if entry == EntryBits::KEPT {
            kept += 1;
            if kept == 32 {
                w.write(0, 32);
                kept = 0;
            }
            continue;
        }
        w.write(0, kept);
        kept = 0;
        w.write_entry(entry);
    }
    w.write(0, kept);
    write_fresh(&mut w, schema, fresh.len(), fresh.iter());
    finish(w, out)
}

/// A writer over `out`'s allocation (cleared, with room for about
/// `expected` bytes, so the buffer rarely grows).
fn writer(out: &mut Vec<u8>, expected: usize) -> BitWriter {
    let mut bytes = std::mem::take(out);
    bytes.clear();
    bytes.reserve(expected);
    BitWriter { bytes, ..BitWriter::default() }
}

/// Puts the written bytes back into `out`; returns their length in bits.
fn finish(w: BitWriter, out: &mut Vec<u8>) -> usize {
    let bits = w.bit_len();
    *out = w.into_bytes();
    bits
}

/// The new entities' section: their count, then each one's id delta
/// from the one before, kind, coordinates and fields (`count` of them, in
/// id order).
fn write_fresh<'a>(w: &mut BitWriter, schema: &Schema, count: usize, fresh: impl Iterator<Item = &'a Known>) {
    w.write_varint(count as u64);
    let mut prev = 0u64;
    for k in fresh {
        w.write_varint(u64::from(k.id.0) - prev);
        prev = u64::from(k.id.0);
        w.write(u64::from(k.kind.0), schema.kind_bits());
        w.write(u64::from(k.qx), COORD_BITS);
        w.write(u64::from(k.qy), COORD_BITS);
        for slot in schema.slots(k.kind) {
            w.write(u64::from(slot.get(k.fields)), slot.bits());
        }
    }
}

/// Rebuilds the target set (at `tick`, motions filled in) from `baseline`
/// (at `baseline_tick`) and a payload made by [`encode`].
pub fn decode(
    schema: &Schema,
    baseline: &[Known],
    baseline_tick: u32,
    payload: &[u8],
    tick: u32,
) -> Result<KnownSet, SnapshotError> {
    let mut out = Vec::with_capacity(baseline.len());
    decode_into(schema, baseline, baseline_tick, payload, tick, &mut out)?;
    Ok(out)
}

/// [`decode`] into `out`, which is cleared first: a receiver that keeps
/// the set it is about to forget decodes into it, and a snapshot costs no
/// allocation. After an error `out` holds nothing of use.
pub fn decode_into(
    schema: &Schema,
    baseline: &[Known],
    baseline_tick: u32,
    payload: &[u8],
    tick: u32,
    out: &mut KnownSet,
) -> Result<(), SnapshotError> {
    out.clear();
    let mut r = BitReader::new(payload);
    for b in baseline {
        let predicted = b.predict(baseline_tick, tick);
        if r.read(1)? == 0 {
            out.push(Known { qx: predicted.0, qy: predicted.1, ..*b });
        } else if r.read(1)? == 0 {
            if schema.field_bits(b.kind) > 0 {
                out.push(read_change(&mut r, schema, b, predicted)?);
            } else {
                out.push(read_move(&mut r, b, predicted)?);
            }
        }
    }
    let kept = out.len();
    let fresh = r.read_varint()?;
    if fresh > (MAX_ENTITIES - kept.min(MAX_ENTITIES)) as u64 {
        return Err(SnapshotError::TooMany);
    }
    let mut prev = 0u64;
    for i in 0..fresh {
        let delta = r.read_varint()?;
        if i > 0 && delta == 0 {
            return Err(SnapshotError::BadId);
        }
        let id = prev.checked_add(delta).filter(|v| *v <= u64::from(u32::MAX)).ok_or(SnapshotError::BadId)?;
        prev = id;
        let kind = r.read(schema.kind_bits())?;
        let kind = EntityKind(u8::try_from(kind).map_err(|_| SnapshotError::BadKind(kind))?);
        if !schema.has(kind) {
            return Err(SnapshotError::BadKind(u64::from(kind.0)));
        }
        let (qx, qy) = (read_coord(&mut r)?, read_coord(&mut r)?);
        let mut fields = 0;
        for slot in schema.slots(kind) {
            fields = slot.set(fields, r.read(slot.bits())? as u32);
        }
        out.push(Known { id: NetId(id as u32), kind, qx, qy, motion: Motion::default(), fields });
    }
    if out.len() > kept {
        // Two sorted runs (the baseline's and the new ids, each strictly
        // increasing), which the stable sort merges in one pass; an id in
        // both is invalid.
        out.sort_by_key(|k| k.id);
        if out.windows(2).any(|w| w[0].id == w[1].id) {
            return Err(SnapshotError::BadId);
        }
    }
    with_motion(baseline, baseline_tick, out, tick);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldSpec, KindSpec};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    const NPC: EntityKind = EntityKind(1);

    /// Three kinds without fields (the arena's shape).
    static ARENA: LazyLock<Schema> = LazyLock::new(|| {
        Schema::new(vec![KindSpec::new("avatar"), KindSpec::new("npc"), KindSpec::new("orb")]).unwrap()
    });

    /// Three kinds, two of them with fields.
    static FIELDED: LazyLock<Schema> = LazyLock::new(|| {
        let field = |name: &str, bits: u8| FieldSpec { name: name.into(), bits };
        Schema::new(vec![
            KindSpec::new("plain"),
            KindSpec { name: "ship".into(), fields: vec![field("heading", 8), field("health", 7)] },
            KindSpec { name: "flag".into(), fields: vec![field("up", 1)] },
        ])
        .unwrap()
    });

    fn known(id: u32, qx: u16, qy: u16) -> Known {
        Known { id: NetId(id), kind: NPC, qx, qy, motion: Motion::default(), fields: 0 }
    }

    /// `set` with each entry's fields cut to what its kind has in `schema`.
    fn fit(schema: &Schema, set: &[Known]) -> KnownSet {
        set.iter()
            .map(|k| {
                let bits = schema.field_bits(k.kind);
                let mask = if bits >= 32 { u32::MAX } else { (1u32 << bits) - 1 };
                Known { fields: k.fields & mask, ..*k }
            })
            .collect()
    }

    /// Encodes at tick 20 against a baseline at tick 10 and checks the round trip.
    fn round_trip(base: &[Known], target: &[Known]) -> usize {
        round_trip_in(&ARENA, base, target)
    }

    /// [`round_trip`] with the kinds of `schema`.
    fn round_trip_in(schema: &Schema, base: &[Known], target: &[Known]) -> usize {
        let (bytes, bits) = encode(schema, base, 10, target, 20);
        let mut expected = target.to_vec();
        with_motion(base, 10, &mut expected, 20);
        assert_eq!(decode(schema, base, 10, &bytes, 20).unwrap(), expected);
        bits
    }

    #[test]
    fn an_unchanged_field_costs_a_bit_and_a_kind_without_fields_nothing() {
        let ship = EntityKind(1);
        let base: KnownSet = (1..=10).map(|i| Known { kind: ship, fields: 0x1234, ..known(i, 1000, 1000) }).collect();
        assert_eq!(round_trip_in(&FIELDED, &base, &base), 10 + 8, "idle with fields: 1 bit");
        // Moved, fields as they were: 2 + moved bit + 15 + a bit per field.
        let moved: KnownSet = base.iter().map(|k| Known { qx: k.qx + 9, ..*k }).collect();
        assert_eq!(round_trip_in(&FIELDED, &base, &moved), 10 * (2 + 1 + 15 + 2) + 8);
        // Still, one field changed (health, 7 bits): 2 + 1 + (1 + 1 + 7).
        let hurt: KnownSet = base
            .iter()
            .map(|k| {
                let slot = FIELDED.slot(ship, "health").unwrap();
                Known { fields: slot.set(k.fields, 5), ..*k }
            })
            .collect();
        assert_eq!(round_trip_in(&FIELDED, &base, &hurt), 10 * (2 + 1 + 1 + 1 + 7) + 8);
        // New ships carry every field in full: 8 id + 2 kind + 26 + 15, after the count.
        let fresh = vec![base[0]];
        assert_eq!(round_trip_in(&FIELDED, &[], &fresh), 8 + 8 + 2 + 26 + 15);
        // The same world in kinds without fields moves as before.
        let plain: KnownSet = base.iter().map(|k| Known { kind: EntityKind(0), fields: 0, ..*k }).collect();
        let plain_moved: KnownSet = plain.iter().map(|k| Known { qx: k.qx + 9, ..*k }).collect();
        assert_eq!(round_trip_in(&FIELDED, &plain, &plain_moved), 10 * 17 + 8);
    }

    #[test]
    fn a_kind_the_schema_lacks_is_refused() {
        // Three kinds: a kind takes 2 bits, and kind 3 does not exist.
        let (bytes, _) = encode(&FIELDED, &[], 0, &[Known { kind: EntityKind(2), ..known(3, 1, 1) }], 1);
        let mut w = BitWriter::default();
        w.write_varint(1);
        w.write_varint(1);
        w.write(3, 2);
        w.write(0, 26);
        assert_eq!(decode(&FIELDED, &[], 0, &w.into_bytes(), 1), Err(SnapshotError::BadKind(3)));
        assert!(decode(&FIELDED, &[], 0, &bytes, 1).is_ok());
        // A single kind takes no bits at all.
        let one = Schema::new(vec![KindSpec::new("only")]).unwrap();
        let (single, bits) = encode(&one, &[], 0, &[Known { kind: EntityKind(0), ..known(3, 1, 1) }], 1);
        assert_eq!(bits, 8 + 8 + 26, "no kind bits for a single kind");
        assert_eq!(decode(&one, &[], 0, &single, 1).unwrap()[0].kind, EntityKind(0));
    }

    #[test]
    fn idle_costs_one_bit_and_moving_seventeen() {
        let baseline: KnownSet = (1..=100).map(|i| known(i, 1000, 1000)).collect();
        assert_eq!(round_trip(&baseline, &baseline), 100 + 8, "1 bit each plus an empty new-entity count");
        let moved: KnownSet = baseline.iter().map(|k| Known { qx: k.qx + 9, ..*k }).collect();
        assert_eq!(round_trip(&baseline, &moved), 100 * 17 + 8);
        let far: KnownSet = baseline.iter().map(|k| Known { qx: k.qx + 300, qy: k.qy - 200, ..*k }).collect();
        assert_eq!(round_trip(&baseline, &far), 100 * 24 + 8, "a medium move");
    }

    #[test]
    fn steady_movers_cost_one_bit_whatever_the_baseline_age() {
        // Each entity moved +30 quanta in x over the 10 ticks before its baseline...
        let baseline: KnownSet =
            (1..=100).map(|i| Known { motion: Motion { dx: 30, dy: 0, dt: 10 }, ..known(i, 1000, 1000) }).collect();
        // ...and 10 ticks later has moved on at the same pace.
        let target: KnownSet = baseline.iter().map(|k| Known { qx: k.qx + 30, ..*k }).collect();
        assert_eq!(round_trip(&baseline, &target), 100 + 8);
        // Stopping is a small correction, not a failure.
        assert_eq!(round_trip(&baseline, &baseline), 100 * 17 + 8);
    }

    #[test]
    fn quantization_error_is_at_most_half_a_quantum() {
        for x in [0.0, 0.06, 0.0625, 123.456, 1999.99] {
            let k = Known::new(NetId(1), EntityKind(2), Vec2::new(x, x));
            assert!((k.pos().x - x).abs() <= 0.5 / QUANT + 1e-4, "{x}");
        }
        assert_eq!(quantize(f32::NAN), 0);
        assert_eq!(quantize(-5.0), 0);
        assert_eq!(quantize(1e9), COORD_MAX);
    }

    /// Decoding into a set that still holds an old snapshot (what a
    /// receiver reusing its oldest set does) gives exactly the fresh
    /// decode: new ids merged in order, motion from the baseline.
    #[test]
    fn decoding_into_a_used_set_is_decoding_afresh() {
        let base = vec![known(2, 10, 10), known(9, 20, 20), known(30, 5, 5)];
        let target = vec![known(1, 1, 1), known(2, 11, 10), known(12, 7, 7), known(30, 5, 5), known(40, 3, 3)];
        let (bytes, _) = encode(&ARENA, &base, 10, &target, 20);
        let mut used = vec![known(77, 9, 9); 50];
        decode_into(&ARENA, &base, 10, &bytes, 20, &mut used).unwrap();
        assert_eq!(used, decode(&ARENA, &base, 10, &bytes, 20).unwrap());
        assert_eq!(used.iter().map(|k| k.id.0).collect::<Vec<_>>(), [1, 2, 12, 30, 40]);
        assert_eq!(used[1].motion, Motion { dx: 1, dy: 0, dt: 10 });
    }

    #[test]
    fn hostile_payloads_are_errors() {
        // A new-entity count far beyond the limit.
        let mut w = BitWriter::default();
        w.write_varint(1 << 40);
        assert_eq!(decode(&ARENA, &[], 0, &w.into_bytes(), 1), Err(SnapshotError::TooMany));
        // A new entity repeating a baseline id.
        let base = [known(5, 1, 1)];
        let mut w = BitWriter::default();
        w.write(0, 1);
        w.write_varint(1);
        w.write_varint(5);
        w.write(1, 2);
        w.write(1, 14);
        w.write(1, 14);
        assert_eq!(decode(&ARENA, &base, 0, &w.into_bytes(), 1), Err(SnapshotError::BadId));
        // Kind 3 does not exist.
        let mut w = BitWriter::default();
        w.write_varint(1);
        w.write_varint(1);
        w.write(3, 2);
        w.write(0, 28);
        assert_eq!(decode(&ARENA, &[], 0, &w.into_bytes(), 1), Err(SnapshotError::BadKind(3)));
        // An endless varint.
        assert_eq!(decode(&ARENA, &[], 0, &[0xff; 20], 1), Err(SnapshotError::BadVarint));
    }

    fn arb_set() -> impl Strategy<Value = KnownSet> {
        prop::collection::btree_map(
            1u32..500,
            (0u8..3, 0..=COORD_MAX, 0..=COORD_MAX, (-300i16..300, -300i16..300, 0u8..20), any::<u32>()),
            0..60,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(id, (kind, qx, qy, (dx, dy, dt), fields))| Known {
                    id: NetId(id),
                    kind: EntityKind(kind),
                    qx,
                    qy,
                    motion: Motion { dx, dy, dt },
                    fields,
                })
                .collect()
        })
    }

    /// A target derived from a baseline: some moved a little, some far, some
    /// gone, some new.
    fn arb_pair() -> impl Strategy<Value = (KnownSet, KnownSet)> {
        (
            arb_set(),
            arb_set(),
            prop::collection::vec((-700i32..700, -700i32..700, any::<bool>(), prop::option::of(any::<u32>())), 60),
        )
            .prop_map(|(base, extra, moves)| {
                let mut target: KnownSet = base
                    .iter()
                    .zip(moves.iter().cycle())
                    .filter(|(_, (_, _, keep, _))| *keep)
                    .map(|(k, (dx, dy, _, fields))| Known {
                        qx: (i32::from(k.qx) + dx).clamp(0, i32::from(COORD_MAX)) as u16,
                        qy: (i32::from(k.qy) + dy).clamp(0, i32::from(COORD_MAX)) as u16,
                        fields: fields.unwrap_or(k.fields),
                        ..*k
                    })
                    .collect();
                for k in extra {
                    if !base.iter().any(|b| b.id == k.id) {
                        target.push(k);
                    }
                }
                target.sort_by_key(|k| k.id);
                (base, target)
            })
    }

    /// Plans the encoding of `target` against `baseline` the way a sender
    /// does, new entities in the order given.
    fn plan(
        schema: &Schema,
        base: &[Known],
        base_tick: u32,
        target: &[Known],
        tick: u32,
        fresh_order: &[usize],
    ) -> usize {
        let mut plan = SizePlan::new();
        for b in base {
            let predicted = b.predict(base_tick, tick);
            match target.iter().find(|k| k.id == b.id) {
                None => plan.remove(),
                Some(k) => {
                    plan.keep();
                    if (k.qx, k.qy) != predicted || k.fields != b.fields {
                        plan.add_move(SizePlan::change_cost(schema, predicted, b, k));
                    }
                }
            }
        }
        let fresh: Vec<&Known> = target.iter().filter(|k| !base.iter().any(|b| b.id == k.id)).collect();
        let mut order: Vec<usize> = (0..fresh.len()).collect();
        order.sort_by_key(|&i| fresh_order.get(i).copied().unwrap_or(i));
        for i in order {
            plan.add_fresh(fresh[i].id, SizePlan::fresh_body_bits(schema, fresh[i].kind));
        }
        plan.bits()
    }

    #[test]
    fn varints_cost_a_byte_per_seven_bits() {
        for (value, bits) in [(0u64, 8), (127, 8), (128, 16), (16_383, 16), (16_384, 24), (u64::MAX, 80)] {
            let mut w = BitWriter::default();
            w.write_varint(value);
            assert_eq!((varint_bits(value), w.bit_len()), (bits, bits), "{value}");
        }
    }

    /// Every client remembers 16 sets of these: they stay 20 bytes (16
    /// before fields).
    #[test]
    fn a_known_entry_is_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Known>(), 20);
    }

    /// A jump across the whole world (a respawn) round-trips exactly, and
    /// its motion is the exact delta on both sides.
    #[test]
    fn a_jump_across_the_world_round_trips() {
        let base = vec![known(1, 0, 0), known(2, COORD_MAX, 3)];
        let target = vec![known(1, COORD_MAX, COORD_MAX), known(2, 0, COORD_MAX)];
        round_trip(&base, &target);
        let mut with = target.clone();
        with_motion(&base, 10, &mut with, 20);
        let max = COORD_MAX as i16;
        assert_eq!((with[0].motion.dx, with[0].motion.dy), (max, max));
        assert_eq!((with[1].motion.dx, with[1].motion.dy), (-max, max - 3));
        let (bytes, _) = encode(&ARENA, &base, 10, &target, 20);
        assert_eq!(decode(&ARENA, &base, 10, &bytes, 20).unwrap(), with);
        // Predicted onwards from there, it stays inside the world.
        let (qx, qy) = with[0].predict(20, 30);
        assert!(qx <= COORD_MAX && qy <= COORD_MAX);
    }

    proptest! {
        /// Prediction is the plain linear extrapolation, clamped to the
        /// world, whatever shortcut it takes.
        #[test]
        fn prediction_is_plain_extrapolation(
            qx in 0u16..=COORD_MAX, qy in 0u16..=COORD_MAX,
            dx in -8191i16..=8191, dy in -8191i16..=8191,
            dt in 0u8..=70, ahead in 0u32..=70,
        ) {
            let k = Known { id: NetId(1), kind: NPC, qx, qy, motion: Motion { dx, dy, dt }, fields: 0 };
            let plain = |q: u16, d: i16| -> u16 {
                let moved = i64::from(d) * i64::from(ahead) / i64::from(dt);
                (i64::from(q) + moved).clamp(0, i64::from(COORD_MAX)) as u16
            };
            let expected = if dt == 0 || ahead == 0 || ahead > MAX_PREDICT_TICKS || u32::from(dt) > MAX_PREDICT_TICKS {
                (qx, qy)
            } else {
                (plain(qx, dx), plain(qy, dy))
            };
            prop_assert_eq!(k.predict(100, 100 + ahead), expected);
        }

        /// Fields of any widths (0 to 64 bits) come back as written, and
        /// the bytes are exactly the fields one bit after another, most
        /// significant first, zero-padded.
        #[test]
        fn bits_come_back_as_written(fields in prop::collection::vec((any::<u64>(), 0u32..=64), 0..60)) {
            let mut w = BitWriter::default();
            let mut expected_bits = Vec::new();
            for &(value, n) in &fields {
                w.write(value, n);
                expected_bits.extend((0..n).rev().map(|i| (value >> i) & 1 == 1));
            }
            prop_assert_eq!(w.bit_len(), expected_bits.len());
            let bytes = w.into_bytes();
            prop_assert_eq!(bytes.len(), expected_bits.len().div_ceil(8));
            for (i, bit) in expected_bits.iter().enumerate() {
                prop_assert_eq!((bytes[i / 8] >> (7 - i % 8)) & 1 == 1, *bit, "bit {}", i);
            }
            prop_assert!(bytes.len() * 8 - expected_bits.len() < 8);
            let mut r = BitReader::new(&bytes);
            for &(value, n) in &fields {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read(n).unwrap(), value & mask);
            }
            let padding = (bytes.len() * 8 - expected_bits.len()) as u32;
            prop_assert_eq!(r.read(padding).unwrap(), 0);
            prop_assert_eq!(r.read(1), Err(SnapshotError::Truncated));
        }

        /// The plan is what `encode` writes, bit for bit, whatever order
        /// the new entities were planned in; ids spread wide (deltas of
        /// several varint groups) and up to 300 new entities (a count of
        /// two groups) included.
        #[test]
        fn the_size_plan_is_exact(
            (base, target) in arb_pair(),
            wide in prop::collection::btree_set(1u32..3_000_000, 0..300),
            order in prop::collection::vec(any::<usize>(), 300),
            age in 1u32..40,
        ) {
            let mut target = target;
            for id in wide {
                if !target.iter().any(|k| k.id.0 == id) && !base.iter().any(|k| k.id.0 == id) {
                    target.push(Known { kind: EntityKind((id % 3) as u8), fields: id, ..known(id, (id % 8000) as u16, (id % 7000) as u16) });
                }
            }
            target.sort_by_key(|k| k.id);
            for schema in [&*ARENA, &*FIELDED] {
                let (base, target) = (fit(schema, &base), fit(schema, &target));
                let (_, bits) = encode(schema, &base, 100, &target, 100 + age);
                prop_assert_eq!(plan(schema, &base, 100, &target, 100 + age, &order), bits);
            }
        }

        /// Values of any widths (0 to 64 bits) read back as written, in
        /// order, and a read past the end is refused.
        #[test]
        fn bits_read_back_as_written(fields in prop::collection::vec((any::<u64>(), 0u32..=64), 0..80)) {
            let mut w = BitWriter::default();
            for &(value, n) in &fields {
                w.write(value, n);
            }
            let bits = w.bit_len();
            let bytes = w.into_bytes();
            prop_assert_eq!(bytes.len(), bits.div_ceil(8));
            let mut r = BitReader::new(&bytes);
            for &(value, n) in &fields {
                let low = if n == 64 { value } else { value & ((1u64 << n) - 1) };
                prop_assert_eq!(r.read(n), Ok(low));
            }
            let padding = bytes.len() * 8 - bits;
            prop_assert_eq!(r.read(padding as u32), Ok(0));
            prop_assert_eq!(r.read(1), Err(SnapshotError::Truncated));
        }

        /// A payload written from its planned parts (each baseline
        /// entry's bits, then the new entities) is the bytes `encode`
        /// writes for the same baseline and target.
        #[test]
        fn a_planned_payload_is_what_encode_writes((base, target) in arb_pair(), age in 1u32..40) {
            for schema in [&*ARENA, &*FIELDED] {
                let (base, target) = (fit(schema, &base), fit(schema, &target));
                let tick = 100 + age;
                let entries: Vec<EntryBits> = base
                    .iter()
                    .map(|b| match target.iter().find(|k| k.id == b.id) {
                        Some(k) => entry_bits(schema, b.predict(100, tick), b, k),
                        None => EntryBits::REMOVED,
                    })
                    .collect();
                let fresh: Vec<Known> =
                    target.iter().filter(|k| !base.iter().any(|b| b.id == k.id)).copied().collect();
                let mut planned = vec![0xee; 3];
                let bits = encode_planned(schema, &entries, &fresh, &mut planned);
                prop_assert_eq!((planned, bits), encode(schema, &base, 100, &target, tick));
            }
        }

        #[test]
        fn delta_round_trips((base, target) in arb_pair(), age in 1u32..40) {
            for schema in [&*ARENA, &*FIELDED] {
                let (base, target) = (fit(schema, &base), fit(schema, &target));
                let (bytes, _) = encode(schema, &base, 100, &target, 100 + age);
                let mut expected = target.clone();
                with_motion(&base, 100, &mut expected, 100 + age);
                prop_assert_eq!(decode(schema, &base, 100, &bytes, 100 + age).unwrap(), expected);
            }
        }

        #[test]
        fn full_snapshots_round_trip(target in arb_set()) {
            for schema in [&*ARENA, &*FIELDED] {
                let target = fit(schema, &target);
                let (bytes, _) = encode(schema, &[], 0, &target, 7);
                let still: KnownSet = target.iter().map(|k| Known { motion: Motion::default(), ..*k }).collect();
                prop_assert_eq!(decode(schema, &[], 0, &bytes, 7).unwrap(), still);
            }
        }

        #[test]
        fn decoding_against_the_wrong_baseline_never_panics((base, target) in arb_pair(), other in arb_set()) {
            // A reordered or missing baseline: the result is garbage or an
            // error, never a panic or an unbounded allocation.
            for schema in [&*ARENA, &*FIELDED] {
                let (base, target, other) = (fit(schema, &base), fit(schema, &target), fit(schema, &other));
                let (bytes, _) = encode(schema, &base, 3, &target, 9);
                let _ = decode(schema, &other, 3, &bytes, 9);
                let _ = decode(schema, &[], 0, &bytes, 9);
                let _ = decode(schema, &base, 9, &bytes, 3);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), base in arb_set()) {
            for schema in [&*ARENA, &*FIELDED] {
                if let Ok(set) = decode(schema, &fit(schema, &base), 5, &bytes, 6) {
                    prop_assert!(set.len() <= MAX_ENTITIES);
                    prop_assert!(set.windows(2).all(|w| w[0].id < w[1].id));
                }
            }
        }
    }
}
