//! Client messages: decode never panics, and what decodes re-encodes to
//! something that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickforge_shared::codec;
use tickforge_shared::protocol::ClientMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = codec::decode::<ClientMessage>(data) {
        let bytes = codec::encode(&message).expect("a decoded message re-encodes");
        let again: ClientMessage = codec::decode(&bytes).expect("and decodes again");
        // NaN != NaN: compare the encodings instead of the values.
        assert_eq!(codec::encode(&again).unwrap(), bytes);
    }
});
