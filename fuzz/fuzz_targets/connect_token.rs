//! Connect tokens and the identity in their user data: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickforge_server::net::identity::Identity;

fuzz_target!(|data: &[u8]| {
    let _ = renetcode::ConnectToken::read(&mut &data[..]);
    if let Ok(user_data) = <[u8; 256]>::try_from(data.get(..256).unwrap_or_default()) {
        if let Some(identity) = Identity::from_user_data(&user_data) {
            assert_eq!(Identity::from_user_data(&identity.to_user_data().unwrap()), Some(identity));
        }
    }
});
