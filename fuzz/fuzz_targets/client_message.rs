//! What a client sends: its chat messages (reliable) and the arena's
//! input messages (unreliable). Decode never panics, and what decodes
//! re-encodes to something that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tickforge_arena::Move;
use tickforge_shared::codec;
use tickforge_shared::protocol::{ClientMessage, InputMessage};

fn round_trip<M: Serialize + DeserializeOwned>(data: &[u8]) {
    if let Ok(message) = codec::decode::<M>(data) {
        let bytes = codec::encode(&message).expect("a decoded message re-encodes");
        let again: M = codec::decode(&bytes).expect("and decodes again");
        // NaN != NaN: compare the encodings instead of the values.
        assert_eq!(codec::encode(&again).unwrap(), bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ClientMessage>(data);
    round_trip::<InputMessage<Move>>(data);
});
