//! Connect tokens (public and private parts), challenge tokens, connection
//! requests and the identity in token user data: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickforge_netcode::token::{ChallengeToken, PrivateToken};
use tickforge_netcode::{CHALLENGE_TOKEN_BYTES, ConnectToken, PRIVATE_TOKEN_BYTES};
use tickforge_server::net::identity::Identity;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = ConnectToken::read(data) {
        // What reads must write back the same.
        let bytes = token.to_bytes().expect("a token that reads writes");
        assert!(ConnectToken::read(&bytes).expect("re-read") == token);
    }
    if let Some(private) = data.get(..PRIVATE_TOKEN_BYTES).and_then(|d| <&[u8; PRIVATE_TOKEN_BYTES]>::try_from(d).ok())
    {
        let _ = PrivateToken::open(private, 42, 1, &[0; 24], &tickforge_fuzz::KEY);
    }
    if let Some(challenge) =
        data.get(..CHALLENGE_TOKEN_BYTES).and_then(|d| <&[u8; CHALLENGE_TOKEN_BYTES]>::try_from(d).ok())
    {
        let _ = ChallengeToken::open(challenge, 1, &tickforge_fuzz::KEY);
    }
    let _ = tickforge_netcode::packet::read_request(data);
    if let Ok(user_data) = <[u8; 256]>::try_from(data.get(..256).unwrap_or_default()) {
        if let Some(identity) = Identity::from_user_data(&user_data) {
            assert_eq!(Identity::from_user_data(&identity.to_user_data().unwrap()), Some(identity));
        }
    }
});
