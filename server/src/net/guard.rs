//! The check on a decrypted payload before renet sees it (a pure function
//! of the bytes). renet 2.0.1 panics on a slice whose index is not below
//! its count; here every field is bounds-checked and only the channels
//! clients may use are let through. (Datagram headers are validated by
//! the netcode layer itself, `tickforge_netcode::packet::header`.)

use tickforge_shared::codec::MAX_MESSAGE_BYTES;
use tickforge_shared::protocol::Channel;

/// Largest slice renet sends.
const SLICE_BYTES: usize = 1200;
/// Most slices one of our messages can need.
const MAX_SLICES: u64 = (MAX_MESSAGE_BYTES / SLICE_BYTES + 1) as u64;

/// Why bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
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
