//! The login/register body and the username rules: never a panic, and a
//! normalized name normalizes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickforge_server::auth::Credentials;
use tickforge_server::auth::validate;

fuzz_target!(|data: &[u8]| {
    if let Ok(creds) = serde_json::from_slice::<Credentials>(data) {
        if let Ok(name) = validate::normalize_username(&creds.username) {
            assert_eq!(validate::normalize_username(&name).as_deref(), Ok(name.as_str()));
        }
        let _ = validate::password(&creds.password);
    }
});
