//! The single encode/decode path for wire messages.
//!
//! bincode's decoder trusts length prefixes; without a byte limit a ten-byte
//! datagram claiming a huge `Vec` makes it try to allocate terabytes. Every
//! decode here therefore runs with [`MAX_MESSAGE_BYTES`] as a hard limit, and
//! rejects trailing bytes so one message is exactly one payload.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest encoded message either side accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a payload could not be turned into a message (or back).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The payload is larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// The bytes are not a valid encoding of the expected message.
    #[error("malformed message: {0}")]
    Malformed(#[from] bincode::error::DecodeError),
    /// The message decoded but left unread bytes behind.
    #[error("{0} trailing bytes after message")]
    TrailingBytes(usize),
    /// Encoding failed (only possible for values over the size limit).
    #[error("cannot encode message: {0}")]
    Encode(#[from] bincode::error::EncodeError),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encodes a message for the wire.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(message, config())?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Appends `message` to `out` (a pooled buffer, say), returning the bytes
/// written; the same bytes as [`encode`]. On an error `out` may hold part
/// of the message: the caller discards it.
pub fn encode_into<T: Serialize, W: std::io::Write>(message: &T, out: &mut W) -> Result<usize, CodecError> {
    let written = bincode::serde::encode_into_std_write(message, out, config())?;
    if written > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge(written));
    }
    Ok(written)
}

/// Decodes one message from a whole payload, with the size limit enforced.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    let (message, read) = bincode::serde::decode_from_slice(bytes, config())?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientMessage, InputCmd, InputMessage, NetId, OwnState, Snapshot};

    /// Some game's input, for the generic messages.
    type Input = (f32, f32);

    #[test]
    fn round_trips_a_message() {
        let msg: InputMessage<Input> =
            InputMessage { ack_tick: 3, inputs: vec![InputCmd { seq: 7, tick: 9, view_lag: 40, input: (1.0, -0.5) }] };
        let bytes = encode(&msg).unwrap();
        let back: InputMessage<Input> = decode(&bytes).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn a_snapshot_from_borrowed_parts_is_the_same_bytes() {
        let state = (3u8, -2.5f32);
        let payload = vec![1u8, 2, 3, 250, 0, 7];
        let owned = Snapshot {
            tick: 900,
            baseline_tick: Some(897),
            ack_input_seq: 41,
            own: Some(OwnState { id: NetId(12), state }),
            payload: payload.clone(),
        };
        let borrowed = Snapshot {
            tick: 900,
            baseline_tick: Some(897),
            ack_input_seq: 41,
            own: Some(OwnState { id: NetId(12), state: &state }),
            payload: payload.as_slice(),
        };
        let mut out = b"kept".to_vec();
        let written = encode_into(&borrowed, &mut out).unwrap();
        assert_eq!(&out[..4], b"kept", "appended, not overwritten");
        assert_eq!(out[4..], encode(&owned).unwrap()[..], "the same bytes as the owned message");
        assert_eq!(written, out.len() - 4);
        let back: Snapshot<(u8, f32)> = decode(&out[4..]).unwrap();
        assert_eq!(back, owned);
    }

    #[test]
    fn huge_length_prefix_is_an_error_not_an_allocation() {
        // ack_tick 0, then a varint length of 2^40 inputs.
        let bytes = [0u8, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(decode::<InputMessage<Input>>(&bytes).is_err());
        // A snapshot: tick, no baseline, ack, no own, then a 2^40-byte payload.
        let bytes = [0u8, 0, 0, 0, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(decode::<Snapshot<Input>>(&bytes).is_err());
    }

    #[test]
    fn huge_string_length_is_an_error_not_an_allocation() {
        // Variant 0 (Chat), seq 1, claiming a 2^40-byte string: the byte limit refuses it.
        let bytes = [0u8, 1, 0xFD, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(decode::<ClientMessage>(&bytes).is_err());
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&ClientMessage::Chat { seq: 1, text: "hi".into() }).unwrap();
        bytes.push(0);
        assert!(matches!(decode::<ClientMessage>(&bytes), Err(CodecError::TrailingBytes(1))));
    }

    #[test]
    fn oversized_payload_is_rejected_before_decoding() {
        let bytes = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(decode::<ClientMessage>(&bytes), Err(CodecError::TooLarge(_))));
    }

    #[test]
    fn every_truncation_of_a_valid_message_is_an_error() {
        let bytes = encode(&ClientMessage::Chat { seq: 1, text: "hello world".into() }).unwrap();
        for len in 0..bytes.len() {
            assert!(decode::<ClientMessage>(&bytes[..len]).is_err(), "prefix of {len} bytes decoded");
        }
    }
}
