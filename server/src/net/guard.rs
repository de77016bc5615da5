//! Checks on bytes from the network before any dependency parses them.
//!
//! Two layers, both pure functions of the bytes:
//!
//! - [`datagram`]: the netcode.io prefix byte and sequence, before the
//!   netcode layer sees the datagram. renetcode 2.0.0 trusts the prefix's
//!   sequence-byte count (a first byte of `0x94` makes it slice past its
//!   buffer and panic) and computes `sequence + 256` (overflowing near
//!   `u64::MAX`); both are refused here. (renetcode itself writes sequence
//!   0 with zero sequence bytes, so 0–8 are accepted.)
//! - [`payload`]: a decrypted payload, before renet sees it. renet 2.0.1
//!   panics on a slice whose index is not below its count; here every
//!   field is bounds-checked and only the channels clients may use are let
//!   through.

use tickforge_shared::codec::MAX_MESSAGE_BYTES;
use tickforge_shared::protocol::Channel;

/// netcode.io packet types.
const CONNECTION_REQUEST: u8 = 0;
const LAST_PACKET_TYPE: u8 = 6;
/// netcode.io connection requests are exactly this long.
const CONNECTION_REQUEST_BYTES: usize = 1078;
/// Poly1305 tag on every encrypted packet.
const MAC_BYTES: usize = 16;
/// Largest datagram netcode.io sends.
pub const MAX_DATAGRAM_BYTES: usize = 1400;
/// Largest slice renet sends.
const SLICE_BYTES: usize = 1200;
/// Most slices one of our messages can need.
const MAX_SLICES: u64 = (MAX_MESSAGE_BYTES / SLICE_BYTES + 1) as u64;
/// Sequences this close to `u64::MAX` are refused (no honest peer gets there).
const SEQUENCE_HEADROOM: u64 = 1 << 16;

/// Why bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Empty, or longer than any netcode.io datagram.
    #[error("datagram length")]
    Length,
    /// An unknown netcode.io packet type.
    #[error("unknown packet type")]
    PacketType,
    /// The prefix's sequence-byte count is over 8.
    #[error("bad sequence length")]
    SequenceLength,
    /// A sequence number near the top of the range.
    #[error("sequence out of range")]
    Sequence,
    /// A renet packet that does not parse.
    #[error("malformed payload")]
    Malformed,
    /// A renet packet for a channel clients may not use.
    #[error("channel not allowed")]
    Channel,
    /// A slice whose index, count or size is impossible.
    #[error("bad slice")]
    Slice,
}

/// Checks a raw datagram's netcode.io header.
pub fn datagram(bytes: &[u8]) -> Result<(), Refusal> {
    let Some(&prefix) = bytes.first() else { return Err(Refusal::Length) };
    if bytes.len() > MAX_DATAGRAM_BYTES {
        return Err(Refusal::Length);
    }
    let kind = prefix & 0x0f;
    if kind > LAST_PACKET_TYPE {
        return Err(Refusal::PacketType);
    }
    if kind == CONNECTION_REQUEST {
        return if prefix == 0 && bytes.len() == CONNECTION_REQUEST_BYTES { Ok(()) } else { Err(Refusal::Length) };
    }
    // renetcode writes sequence 0 with no sequence bytes (the standard says
    // 1–8); accept 0–8 so its clients keep working, refuse anything longer.
    let sequence_bytes = usize::from(prefix >> 4);
    if sequence_bytes > 8 {
        return Err(Refusal::SequenceLength);
    }
    if bytes.len() < 1 + sequence_bytes + MAC_BYTES {
        return Err(Refusal::Length);
    }
    let mut sequence = 0u64;
    for (i, byte) in bytes[1..1 + sequence_bytes].iter().enumerate() {
        sequence |= u64::from(*byte) << (8 * i);
    }
    if sequence > u64::MAX - SEQUENCE_HEADROOM {
        return Err(Refusal::Sequence);
    }
    Ok(())
}

/// A cursor over a renet packet (the `octets` wire format).
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, Refusal> {
        let (&first, rest) = self.bytes.split_first().ok_or(Refusal::Malformed)?;
        self.bytes = rest;
        Ok(first)
    }

    fn u16(&mut self) -> Result<u16, Refusal> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    /// A QUIC-style varint: the top two bits of the first byte give its length.
    fn varint(&mut self) -> Result<u64, Refusal> {
        let first = self.u8()?;
        let len = 1usize << (first >> 6);
        let mut value = u64::from(first & 0x3f);
        for _ in 1..len {
            value = (value << 8) | u64::from(self.u8()?);
        }
        Ok(value)
    }

    fn skip_bytes(&mut self, len: u64) -> Result<usize, Refusal> {
        let len = usize::try_from(len).map_err(|_| Refusal::Malformed)?;
        if len > self.bytes.len() {
            return Err(Refusal::Malformed);
        }
        self.bytes = &self.bytes[len..];
        Ok(len)
    }
}

/// Checks a decrypted client payload (one renet packet).
pub fn payload(bytes: &[u8]) -> Result<(), Refusal> {
    let mut r = Reader { bytes };
    let reliable = u8::from(Channel::Reliable);
    let input = u8::from(Channel::Input);
    match r.u8()? {
        // Small reliable / small unreliable messages.
        kind @ (0 | 1) => {
            r.varint()?;
            let channel = r.u8()?;
            if channel != if kind == 0 { reliable } else { input } {
                return Err(Refusal::Channel);
            }
            let count = r.u16()?;
            for _ in 0..count {
                if kind == 0 {
                    r.varint()?;
                }
                let len = r.varint()?;
                if len as usize > MAX_MESSAGE_BYTES {
                    return Err(Refusal::Malformed);
                }
                r.skip_bytes(len)?;
            }
        }
        // Reliable / unreliable slices.
        kind @ (2 | 3) => {
            r.varint()?;
            let channel = r.u8()?;
            if channel != if kind == 2 { reliable } else { input } {
                return Err(Refusal::Channel);
            }
            r.varint()?;
            let index = r.varint()?;
            let count = r.varint()?;
            if count == 0 || count > MAX_SLICES || index >= count {
                return Err(Refusal::Slice);
            }
            let len = r.varint()?;
            if len == 0 || len as usize > SLICE_BYTES {
                return Err(Refusal::Slice);
            }
            r.skip_bytes(len)?;
        }
        // Acks: renet validates their ranges itself.
        4 => {}
        _ => return Err(Refusal::Malformed),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(prefix: u8, sequence: &[u8]) -> Vec<u8> {
        let mut p = vec![prefix];
        p.extend_from_slice(sequence);
        p.extend_from_slice(&[0u8; 40]);
        p
    }

    #[test]
    fn datagram_headers() {
        let cases: &[(Vec<u8>, Result<(), Refusal>)] = &[
            (vec![], Err(Refusal::Length)),
            (packet(0x94, &[1, 2, 3, 4, 5, 6, 7, 8, 9]), Err(Refusal::SequenceLength)),
            (packet(0x03, &[]), Ok(())),
            (packet(0xa5, &[1; 10]), Err(Refusal::SequenceLength)),
            (packet(0x15, &[7]), Ok(())),
            (packet(0x85, &[0xff; 8]), Err(Refusal::Sequence)),
            (packet(0x85, &[1, 0, 0, 0, 0, 0, 0, 0]), Ok(())),
            (packet(0x17, &[1]), Err(Refusal::PacketType)),
            (vec![0x15, 1, 2], Err(Refusal::Length)),
            (vec![0; CONNECTION_REQUEST_BYTES], Ok(())),
            (vec![0; 40], Err(Refusal::Length)),
            (vec![0x15; MAX_DATAGRAM_BYTES + 1], Err(Refusal::Length)),
        ];
        for (bytes, expected) in cases {
            assert_eq!(datagram(bytes), *expected, "{:02x?}", &bytes[..bytes.len().min(4)]);
        }
    }

    /// A slice packet: type, sequence, channel, message id, index, count, payload.
    fn slice(kind: u8, channel: u8, index: u8, count: u8, len: u8) -> Vec<u8> {
        let mut p = vec![kind, 1, channel, 0, index, count, len];
        p.extend(std::iter::repeat_n(0xAB, usize::from(len)));
        p
    }

    #[test]
    fn payloads() {
        assert_eq!(payload(&slice(2, 0, 0, 1, 10)), Ok(()));
        assert_eq!(payload(&slice(3, 2, 2, 3, 10)), Ok(()));
        assert_eq!(payload(&slice(2, 0, 5, 5, 10)), Err(Refusal::Slice), "index past the count");
        assert_eq!(payload(&slice(3, 2, 0, 0, 10)), Err(Refusal::Slice), "no slices");
        assert_eq!(payload(&slice(3, 2, 0, 60, 10)), Err(Refusal::Slice), "more slices than any message");
        assert_eq!(payload(&slice(2, 0, 0, 1, 0)), Err(Refusal::Slice), "empty slice");
        assert_eq!(payload(&slice(2, 1, 0, 1, 10)), Err(Refusal::Channel), "server-only channel");
        assert_eq!(payload(&slice(2, 2, 0, 1, 10)), Err(Refusal::Channel), "input is not reliable");
        // Small unreliable on the input channel, one 3-byte message.
        assert_eq!(payload(&[1, 5, 2, 0, 1, 3, 9, 9, 9]), Ok(()));
        assert_eq!(payload(&[1, 5, 2, 0, 2, 3, 9, 9, 9]), Err(Refusal::Malformed), "second message missing");
        assert_eq!(payload(&[1, 5, 2, 0, 1, 0x43, 0xff]), Err(Refusal::Malformed), "length past the end");
        assert_eq!(payload(&[9]), Err(Refusal::Malformed));
        assert_eq!(payload(&[]), Err(Refusal::Malformed));
        // Every truncation of a valid packet is refused, never a panic.
        let valid = slice(2, 0, 0, 1, 10);
        for len in 0..valid.len() {
            assert!(payload(&valid[..len]).is_err(), "{len}");
        }
    }
}
