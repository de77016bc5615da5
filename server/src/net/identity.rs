//! Who a connection belongs to, as sealed in the connect token's user data.
//!
//! Layout of the 256-byte user data: account id (u64 little-endian), name
//! length (u8), name (UTF-8), zero padding. The auth API writes it; the game
//! reads it after the handshake. Nothing a client sends later can change it.

use tickforge_netcode::USER_DATA_BYTES;

/// Longest account name that fits the token.
pub const MAX_NAME_BYTES: usize = 64;

/// An authenticated player identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Account id; also the netcode client id.
    pub account_id: u64,
    /// Account name.
    pub name: String,
}

impl Identity {
    /// Encodes into token user data. Names longer than [`MAX_NAME_BYTES`] are refused.
    pub fn to_user_data(&self) -> Option<[u8; USER_DATA_BYTES]> {
        let name = self.name.as_bytes();
        if name.len() > MAX_NAME_BYTES {
            return None;
        }
        let mut data = [0u8; USER_DATA_BYTES];
        data[..8].copy_from_slice(&self.account_id.to_le_bytes());
        data[8] = name.len() as u8;
        data[9..9 + name.len()].copy_from_slice(name);
        Some(data)
    }

    /// Decodes token user data; `None` if it is not a valid identity.
    pub fn from_user_data(data: &[u8; USER_DATA_BYTES]) -> Option<Self> {
        let account_id = u64::from_le_bytes(data[..8].try_into().ok()?);
        let len = usize::from(data[8]);
        if len == 0 || len > MAX_NAME_BYTES {
            return None;
        }
        let name = std::str::from_utf8(&data[9..9 + len]).ok()?.to_owned();
        Some(Self { account_id, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = Identity { account_id: 42, name: "zoë".into() };
        assert_eq!(Identity::from_user_data(&id.to_user_data().unwrap()), Some(id));
    }

    #[test]
    fn rejects_garbage() {
        let mut data = [0u8; USER_DATA_BYTES];
        assert_eq!(Identity::from_user_data(&data), None, "empty name");
        data[8] = 200;
        assert_eq!(Identity::from_user_data(&data), None, "length past the limit");
        data[8] = 2;
        data[9] = 0xff;
        data[10] = 0xfe;
        assert_eq!(Identity::from_user_data(&data), None, "invalid UTF-8");
    }
}
