//! Packet reading and writing.
//!
//! A datagram is checked in this order, each step before any work that
//! depends on it: the prefix byte (type 0–6; a request's prefix is exactly
//! 0; at most 8 sequence bytes), the total length for that type, then —
//! for encrypted packets — the replay window, the tag, and only then the
//! body. renetcode writes sequence 0 with zero sequence bytes, so zero is
//! accepted on reading; this side always writes at least one.

use crate::bytes::Reader;
use crate::crypto;
use crate::{
    CHALLENGE_TOKEN_BYTES, KEY_BYTES, MAC_BYTES, MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES, PRIVATE_TOKEN_BYTES,
    REQUEST_BYTES, VERSION_INFO, XNONCE_BYTES,
};

/// Packet types, as the prefix byte's low nibble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Connection request (unencrypted).
    Request = 0,
    /// Connection denied.
    Denied = 1,
    /// Connection challenge.
    Challenge = 2,
    /// Challenge response.
    Response = 3,
    /// Keep-alive.
    KeepAlive = 4,
    /// Application payload.
    Payload = 5,
    /// Disconnect.
    Disconnect = 6,
}

impl Kind {
    fn from_nibble(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Request,
            1 => Self::Denied,
            2 => Self::Challenge,
            3 => Self::Response,
            4 => Self::KeepAlive,
            5 => Self::Payload,
            6 => Self::Disconnect,
            _ => return None,
        })
    }

    /// Keep-alive, payload and disconnect packets pass the replay window.
    pub fn replay_protected(self) -> bool {
        matches!(self, Self::KeepAlive | Self::Payload | Self::Disconnect)
    }

    /// Allowed body lengths (before the tag) of this packet type.
    fn body_len_ok(self, len: usize) -> bool {
        match self {
            Self::Request => false,
            Self::Denied | Self::Disconnect => len == 0,
            Self::Challenge | Self::Response => len == 8 + CHALLENGE_TOKEN_BYTES,
            Self::KeepAlive => len == 8,
            Self::Payload => (1..=MAX_PAYLOAD_BYTES).contains(&len),
        }
    }
}

/// Why a datagram was ignored. Every variant is a silent drop on the wire;
/// the variant says which rule caught it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Empty, or larger than any packet.
    #[error("datagram size")]
    Size,
    /// Unknown type, a request with a non-zero prefix, or more than 8 sequence bytes.
    #[error("bad prefix byte")]
    Prefix,
    /// The length does not fit the packet type.
    #[error("length does not fit the packet type")]
    Length,
    /// Wrong protocol version string.
    #[error("wrong protocol version")]
    Version,
    /// Wrong protocol id.
    #[error("wrong protocol id")]
    ProtocolId,
    /// The connect token has expired.
    #[error("connect token expired")]
    Expired,
    /// A tag or token did not verify.
    #[error("does not decrypt")]
    Forged,
    /// The sequence was seen already or is older than the replay window.
    #[error("replayed or too old")]
    Replayed,
    /// This server is not among the token's addresses.
    #[error("server not in the token's address list")]
    NotInHostList,
    /// A request or response from an address that is already connected:
    /// a repeat sent before the handshake's keep-alive reached the client.
    /// (A connected client id at another address is not refused: a newer
    /// token replaces the older connection.)
    #[error("already connected")]
    AlreadyConnected,
    /// The token was first used from another address.
    #[error("connect token used from another address")]
    TokenReused,
    /// Too many half-open connections.
    #[error("too many pending connections")]
    PendingFull,
    /// A packet type that makes no sense from this sender now.
    #[error("packet not expected in this state")]
    OutOfPhase,
    /// Nothing is known about this sender.
    #[error("unknown sender")]
    UnknownSender,
}

impl Refused {
    /// Every reason, in declaration order ([`Refused::index`] indexes it).
    pub const ALL: [Refused; 14] = [
        Refused::Size,
        Refused::Prefix,
        Refused::Length,
        Refused::Version,
        Refused::ProtocolId,
        Refused::Expired,
        Refused::Forged,
        Refused::Replayed,
        Refused::NotInHostList,
        Refused::AlreadyConnected,
        Refused::TokenReused,
        Refused::PendingFull,
        Refused::OutOfPhase,
        Refused::UnknownSender,
    ];

    /// Position in [`Refused::ALL`], for counters kept in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short snake_case name, for metric labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            Refused::Size => "size",
            Refused::Prefix => "prefix",
            Refused::Length => "length",
            Refused::Version => "version",
            Refused::ProtocolId => "protocol_id",
            Refused::Expired => "expired",
            Refused::Forged => "forged",
            Refused::Replayed => "replayed",
            Refused::NotInHostList => "not_in_host_list",
            Refused::AlreadyConnected => "already_connected",
            Refused::TokenReused => "token_reused",
            Refused::PendingFull => "pending_full",
            Refused::OutOfPhase => "out_of_phase",
            Refused::UnknownSender => "unknown_sender",
        }
    }
}

/// The readable header of an encrypted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The packet type.
    pub kind: Kind,
    /// The raw prefix byte (part of the associated data).
    pub prefix: u8,
    /// The packet sequence: the nonce under the sender's key.
    pub sequence: u64,
    /// Where the encrypted body starts.
    pub body_start: usize,
}

/// Reads and validates the prefix and length of any datagram. A request
/// comes back with sequence 0.
pub fn header(datagram: &[u8]) -> Result<Header, Refused> {
    let prefix = *datagram.first().ok_or(Refused::Size)?;
    if datagram.len() > MAX_PACKET_BYTES {
        return Err(Refused::Size);
    }
    let kind = Kind::from_nibble(prefix & 0x0F).ok_or(Refused::Prefix)?;
    if kind == Kind::Request {
        if prefix != 0 {
            return Err(Refused::Prefix);
        }
        if datagram.len() != REQUEST_BYTES {
            return Err(Refused::Length);
        }
        return Ok(Header { kind, prefix, sequence: 0, body_start: 1 });
    }
    let sequence_bytes = usize::from(prefix >> 4);
    if sequence_bytes > 8 {
        return Err(Refused::Prefix);
    }
    let body_start = 1 + sequence_bytes;
    let body_len = datagram.len().checked_sub(body_start + MAC_BYTES).ok_or(Refused::Length)?;
    if !kind.body_len_ok(body_len) {
        return Err(Refused::Length);
    }
    let mut sequence = [0u8; 8];
    sequence[..sequence_bytes].copy_from_slice(&datagram[1..body_start]);
    Ok(Header { kind, prefix, sequence: u64::from_le_bytes(sequence), body_start })
}

/// Associated data of an encrypted packet: version, protocol id, prefix.
fn packet_aad(protocol_id: u64, prefix: u8) -> [u8; 22] {
    let mut aad = [0u8; 22];
    aad[..13].copy_from_slice(VERSION_INFO);
    aad[13..21].copy_from_slice(&protocol_id.to_le_bytes());
    aad[21] = prefix;
    aad
}

/// Verifies and decrypts an encrypted packet in place; returns its body.
pub fn open<'a>(
    datagram: &'a mut [u8],
    header: &Header,
    protocol_id: u64,
    key: &[u8; KEY_BYTES],
) -> Result<&'a [u8], Refused> {
    let sealed = datagram.get_mut(header.body_start..).ok_or(Refused::Length)?;
    crypto::open(sealed, header.sequence, key, &packet_aad(protocol_id, header.prefix)).map_err(|_| Refused::Forged)?;
    let end = sealed.len() - MAC_BYTES;
    Ok(&sealed[..end])
}

/// Bytes needed to write `sequence` (at least one).
fn sequence_bytes(sequence: u64) -> usize {
    (8 - sequence.leading_zeros() as usize / 8).max(1)
}

/// Writes an encrypted packet of `kind` carrying `body` into `out`; returns its length.
pub fn seal(
    out: &mut [u8; MAX_PACKET_BYTES],
    kind: Kind,
    sequence: u64,
    body: &[u8],
    protocol_id: u64,
    key: &[u8; KEY_BYTES],
) -> Option<usize> {
    if kind == Kind::Request || !kind.body_len_ok(body.len()) {
        return None;
    }
    let n = sequence_bytes(sequence);
    let prefix = kind as u8 | (n as u8) << 4;
    let body_start = 1 + n;
    let end = body_start + body.len() + MAC_BYTES;
    if end > MAX_PACKET_BYTES {
        return None;
    }
    out[0] = prefix;
    out[1..body_start].copy_from_slice(&sequence.to_le_bytes()[..n]);
    out[body_start..body_start + body.len()].copy_from_slice(body);
    crypto::seal(&mut out[body_start..end], sequence, key, &packet_aad(protocol_id, prefix)).ok()?;
    Some(end)
}

/// The fields of a connection request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Version string.
    pub version: &'a [u8],
    /// Protocol id.
    pub protocol_id: u64,
    /// Token expiry (Unix seconds).
    pub expire_timestamp: u64,
    /// Nonce of the private token.
    pub xnonce: [u8; XNONCE_BYTES],
    /// The sealed private token.
    pub private_data: &'a [u8; PRIVATE_TOKEN_BYTES],
}

/// Reads a request whose [`header`] has been checked.
pub fn read_request(datagram: &[u8]) -> Result<Request<'_>, Refused> {
    let mut r = Reader::new(datagram.get(1..).ok_or(Refused::Length)?);
    let version = r.take(13).ok_or(Refused::Length)?;
    let protocol_id = r.u64().ok_or(Refused::Length)?;
    let expire_timestamp = r.u64().ok_or(Refused::Length)?;
    let xnonce = r.array().ok_or(Refused::Length)?;
    let private_data = r.take(PRIVATE_TOKEN_BYTES).and_then(|s| s.try_into().ok()).ok_or(Refused::Length)?;
    if r.remaining() != 0 {
        return Err(Refused::Length);
    }
    Ok(Request { version, protocol_id, expire_timestamp, xnonce, private_data })
}

/// Writes a connection request; returns its length.
pub fn write_request(
    out: &mut [u8; MAX_PACKET_BYTES],
    protocol_id: u64,
    expire_timestamp: u64,
    xnonce: &[u8; XNONCE_BYTES],
    private_data: &[u8; PRIVATE_TOKEN_BYTES],
) -> usize {
    out[0] = 0;
    out[1..14].copy_from_slice(VERSION_INFO);
    out[14..22].copy_from_slice(&protocol_id.to_le_bytes());
    out[22..30].copy_from_slice(&expire_timestamp.to_le_bytes());
    out[30..54].copy_from_slice(xnonce);
    out[54..REQUEST_BYTES].copy_from_slice(private_data);
    REQUEST_BYTES
}

/// A challenge or response body: token sequence and sealed token.
pub fn read_challenge(body: &[u8]) -> Option<(u64, &[u8; CHALLENGE_TOKEN_BYTES])> {
    let mut r = Reader::new(body);
    let sequence = r.u64()?;
    let token = r.take(CHALLENGE_TOKEN_BYTES)?.try_into().ok()?;
    Some((sequence, token))
}

/// Builds a challenge or response body.
pub fn challenge_body(sequence: u64, token: &[u8; CHALLENGE_TOKEN_BYTES]) -> [u8; 8 + CHALLENGE_TOKEN_BYTES] {
    let mut body = [0u8; 8 + CHALLENGE_TOKEN_BYTES];
    body[..8].copy_from_slice(&sequence.to_le_bytes());
    body[8..].copy_from_slice(token);
    body
}

/// A keep-alive body: client index, max clients.
pub fn keep_alive_body(client_index: u32, max_clients: u32) -> [u8; 8] {
    let mut body = [0u8; 8];
    body[..4].copy_from_slice(&client_index.to_le_bytes());
    body[4..].copy_from_slice(&max_clients.to_le_bytes());
    body
}

/// Reads a keep-alive body.
pub fn read_keep_alive(body: &[u8]) -> Option<(u32, u32)> {
    let mut r = Reader::new(body);
    Some((r.u32()?, r.u32()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_its_own_index_and_name() {
        for (i, refused) in Refused::ALL.iter().enumerate() {
            assert_eq!(refused.index(), i, "{refused:?}");
        }
        let names: std::collections::HashSet<_> = Refused::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), Refused::ALL.len());
    }

    #[test]
    fn every_prefix_byte_is_classified_without_panicking() {
        for prefix in 0..=255u8 {
            let mut datagram = [0u8; 64];
            datagram[0] = prefix;
            // At 64 bytes only a payload with 0..=8 sequence bytes fits.
            let fits = prefix & 0x0F == Kind::Payload as u8 && prefix >> 4 <= 8;
            assert_eq!(header(&datagram).is_ok(), fits, "prefix {prefix:#04x}");
        }
        assert_eq!(header(&[0x94; 61]), Err(Refused::Prefix), "9 sequence bytes");
        assert_eq!(header(&[]), Err(Refused::Size));
    }

    #[test]
    fn sealed_packets_read_back_and_sequence_bytes_are_minimal() {
        let mut out = [0u8; MAX_PACKET_BYTES];
        for (sequence, bytes) in [(0u64, 1usize), (255, 1), (256, 2), (1 << 63, 8), (u64::MAX, 8)] {
            let len = seal(&mut out, Kind::KeepAlive, sequence, &keep_alive_body(3, 9), 11, &[5; 32]).unwrap();
            assert_eq!(len, 1 + bytes + 8 + MAC_BYTES);
            let mut datagram = out[..len].to_vec();
            let h = header(&datagram).unwrap();
            assert_eq!((h.kind, h.sequence), (Kind::KeepAlive, sequence));
            assert!(open(&mut datagram.clone(), &h, 12, &[5; 32]).is_err(), "protocol id is authenticated");
            let body = open(&mut datagram, &h, 11, &[5; 32]).unwrap();
            assert_eq!(read_keep_alive(body), Some((3, 9)));
        }
    }

    #[test]
    fn a_flipped_prefix_type_fails_the_tag() {
        let mut out = [0u8; MAX_PACKET_BYTES];
        let len = seal(&mut out, Kind::Payload, 1, &[1; 8], 0, &[5; 32]).unwrap();
        let mut datagram = out[..len].to_vec();
        datagram[0] = (datagram[0] & 0xF0) | Kind::KeepAlive as u8;
        let h = header(&datagram).unwrap();
        assert_eq!(open(&mut datagram, &h, 0, &[5; 32]), Err(Refused::Forged));
    }

    #[test]
    fn lengths_that_do_not_fit_the_type_are_refused() {
        let mut out = [0u8; MAX_PACKET_BYTES];
        assert!(seal(&mut out, Kind::Payload, 1, &[], 0, &[5; 32]).is_none(), "empty payload");
        assert!(seal(&mut out, Kind::Payload, 1, &[0; MAX_PAYLOAD_BYTES + 1], 0, &[5; 32]).is_none());
        let len = seal(&mut out, Kind::Disconnect, 1, &[], 0, &[5; 32]).unwrap();
        let mut longer = out[..len].to_vec();
        longer.push(0);
        assert_eq!(header(&longer), Err(Refused::Length));
        assert_eq!(header(&[0u8; REQUEST_BYTES - 1]), Err(Refused::Length));
        assert!(header(&[0u8; REQUEST_BYTES]).is_ok());
    }
}
