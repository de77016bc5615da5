//! Several renet packets in one netcode payload.
//!
//! renet hands the transport one packet per channel that has something to
//! send and, separately, a packet of acknowledgements whenever any are
//! pending — which, with inputs arriving every tick, is every tick. Sent
//! one per datagram, that is two datagrams (two seals, two syscalls, two
//! sets of headers) where one would do. A bundle is the packets of one
//! flush, each behind its length, packed greedily into payloads of at
//! most [`MAX_BUNDLE_BYTES`]:
//!
//! ```text
//! payload = entry+        entry = len:varint(1..=2 bytes) packet:len bytes
//! ```
//!
//! The length is 7 bits per byte, low bits first, with the top bit saying
//! another byte follows; two bytes at most (lengths up to 16 383), and a
//! packet is never empty. [`unpack`] refuses anything else, so a payload is
//! either a well-formed bundle or nothing of it reaches renet.

/// The largest payload a bundle fills (the netcode layer's limit).
pub const MAX_BUNDLE_BYTES: usize = 1300;
/// The largest packet a bundle entry can hold.
pub const MAX_ENTRY_BYTES: usize = (1 << 14) - 1;

/// Why a payload is not a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// A length runs past the payload's end, is zero or too long, or the
    /// payload is empty.
    #[error("malformed bundle")]
    Malformed,
}

/// Builds bundles from packets, reusing its buffer.
#[derive(Debug, Default)]
pub struct Packer {
    buffer: Vec<u8>,
}

impl Packer {
    /// An empty packer.
    pub fn new() -> Self {
        Self { buffer: Vec::with_capacity(MAX_BUNDLE_BYTES) }
    }

    /// Packs `packets` in order, calling `emit` with each full payload;
    /// returns how many payloads it emitted. A packet too large for any
    /// bundle is skipped (renet never makes one). `emit` returning an error
    /// stops the packing and returns it.
    pub fn pack<'a, E>(
        &mut self,
        packets: impl IntoIterator<Item = &'a [u8]>,
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut emitted = 0;
        self.buffer.clear();
        for packet in packets {
            let header = if packet.len() < 0x80 { 1 } else { 2 };
            if packet.is_empty() || header + packet.len() > MAX_BUNDLE_BYTES {
                continue;
            }
            if self.buffer.len() + header + packet.len() > MAX_BUNDLE_BYTES {
                emit(&self.buffer)?;
                emitted += 1;
                self.buffer.clear();
            }
            let len = packet.len();
            if header == 1 {
                self.buffer.push(len as u8);
            } else {
                self.buffer.push(0x80 | (len & 0x7f) as u8);
                self.buffer.push((len >> 7) as u8);
            }
            self.buffer.extend_from_slice(packet);
        }
        if !self.buffer.is_empty() {
            emit(&self.buffer)?;
            emitted += 1;
        }
        Ok(emitted)
    }
}

/// The packets of a bundle, in order. The first malformed entry ends the
/// iteration with an error (and nothing after it is read).
pub fn unpack(payload: &[u8]) -> Entries<'_> {
    Entries { rest: payload, failed: payload.is_empty() }
}

/// Iterator over a bundle's packets (see [`unpack`]).
#[derive(Debug)]
pub struct Entries<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<&'a [u8], BundleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            self.failed = false;
            self.rest = &[];
            return Some(Err(BundleError::Malformed));
        }
        let (&first, after) = self.rest.split_first()?;
        let (len, after) = if first & 0x80 == 0 {
            (usize::from(first), after)
        } else {
            match after.split_first() {
                Some((&second, after)) if second & 0x80 == 0 && second != 0 => {
                    (usize::from(first & 0x7f) | usize::from(second) << 7, after)
                }
                _ => return self.fail(),
            }
        };
        if len == 0 || len > after.len() {
            return self.fail();
        }
        let (packet, rest) = after.split_at(len);
        self.rest = rest;
        Some(Ok(packet))
    }
}

impl Entries<'_> {
    fn fail<T>(&mut self) -> Option<Result<T, BundleError>> {
        self.rest = &[];
        Some(Err(BundleError::Malformed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack_all(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        Packer::new()
            .pack(packets.iter().map(Vec::as_slice), |b| {
                out.push(b.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        out
    }

    fn unpack_all(bundles: &[Vec<u8>]) -> Vec<Vec<u8>> {
        bundles.iter().flat_map(|b| unpack(b).map(|p| p.unwrap().to_vec())).collect()
    }

    #[test]
    fn packets_come_back_in_order_in_as_few_payloads_as_fit() {
        let packets: Vec<Vec<u8>> = [1usize, 127, 128, 600, 1200, 5, 1298, 16]
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|b| (b + i) as u8).collect())
            .collect();
        let bundles = pack_all(&packets);
        assert!(bundles.iter().all(|b| b.len() <= MAX_BUNDLE_BYTES));
        assert_eq!(unpack_all(&bundles), packets);
        // 1+127+128+600 fit one payload; 1200+5 the next; 1298 alone; 16 last.
        assert_eq!(bundles.len(), 4, "{:?}", bundles.iter().map(Vec::len).collect::<Vec<_>>());
    }

    #[test]
    fn a_snapshot_and_its_acknowledgements_share_one_payload() {
        let bundles = pack_all(&[vec![7; 400], vec![9; 12]]);
        assert_eq!(bundles.len(), 1);
        assert_eq!(bundles[0].len(), 2 + 400 + 1 + 12);
    }

    #[test]
    fn empty_and_oversized_packets_are_skipped() {
        let bundles = pack_all(&[vec![], vec![1; MAX_BUNDLE_BYTES], vec![2; 3]]);
        assert_eq!(unpack_all(&bundles), vec![vec![2; 3]]);
    }

    #[test]
    fn malformed_bundles_are_refused_where_they_break() {
        let cases: [&[u8]; 6] = [
            &[],              // empty
            &[0],             // zero length
            &[5, 1, 2],       // runs past the end
            &[0x80],          // a second length byte missing
            &[0x80, 0x80, 1], // a third length byte
            &[0x81, 0x00, 1], // a long form of a short length
        ];
        for bytes in cases {
            let entries: Vec<_> = unpack(bytes).collect();
            assert_eq!(entries.last(), Some(&Err(BundleError::Malformed)), "{bytes:?}");
        }
        // A good entry before a bad one still comes out first.
        let entries: Vec<_> = unpack(&[1, 42, 9, 1]).collect();
        assert_eq!(entries, vec![Ok(&[42u8][..]), Err(BundleError::Malformed)]);
    }

    #[test]
    fn any_bytes_unpack_without_panicking_and_within_bounds() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8).collect();
            let total: usize = unpack(&bytes).filter_map(Result::ok).map(<[u8]>::len).sum();
            assert!(total <= bytes.len());
        }
    }
}
