//! What a server sends: its reliable messages and the arena's
//! snapshots (unreliable). Decode never panics, and what decodes
//! re-encodes to something that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tickforge_arena::ArenaState;
use tickforge_shared::codec;
use tickforge_shared::protocol::{ServerMessage, Snapshot};

fn round_trip<M: Serialize + DeserializeOwned>(data: &[u8]) {
    if let Ok(message) = codec::decode::<M>(data) {
        let bytes = codec::encode(&message).expect("a decoded message re-encodes");
        let again: M = codec::decode(&bytes).expect("and decodes again");
        // NaN != NaN: compare the encodings instead of the values.
        assert_eq!(codec::encode(&again).unwrap(), bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ServerMessage>(data);
    round_trip::<Snapshot<ArenaState>>(data);
});
