//! Who a connection belongs to, as sealed in the connect token's user data.
//!
//! Layout of the 256-byte user data: account id (u64 little-endian), name
//! length (u8), name (UTF-8, up to [`MAX_NAME_BYTES`]), zero padding; from
//! byte [`CARRIED_AT`], what a handoff carries ([`Carried`]), if anything.
//! The auth API and draining servers write it; the game reads it after the
//! handshake. Nothing a client sends later can change it.

use tickforge_netcode::USER_DATA_BYTES;

/// Longest account name that fits the token.
pub const MAX_NAME_BYTES: usize = 64;

/// Where the handed-over state starts in the user data (after the longest name).
pub const CARRIED_AT: usize = 9 + MAX_NAME_BYTES;

/// Marks user data that carries a handed-over state: epoch, length, the
/// game's document. (0xC5 marked the arena's fixed fields before: such a
/// token, sealed by a server of the previous build during a deploy, reads
/// as carrying nothing, and the target loads the state the handoff wrote.)
const CARRIED_TAG: u8 = 0xC6;

/// Bytes of a [`Carried`] block before the document: tag, epoch, length.
const CARRIED_HEADER: usize = 1 + 8 + 1;

/// The longest game document a transfer token carries; a longer one stays
/// in the database, where the handoff wrote it, and the target loads it.
pub const MAX_CARRIED_DOCUMENT: usize = USER_DATA_BYTES - CARRIED_AT - CARRIED_HEADER;

/// A player's exact state, sealed into a transfer token by the draining
/// server that moved its lease to the token's server: the target starts
/// the avatar from it at once, without a round trip to the database (which
/// holds the same state, written by the handoff). The epoch is the moved
/// lease's, so a replayed token can never outlive a later write: the
/// database fences every save under an old epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The lease epoch the handoff gave the target.
    pub epoch: i64,
    /// The game's state document (JSON), as the store would keep it.
    pub document: String,
}

impl Carried {
    /// Writes the block into user data made by [`Identity::to_user_data`];
    /// `false` (and nothing written) if the document is longer than
    /// [`MAX_CARRIED_DOCUMENT`].
    pub fn write(&self, data: &mut [u8; USER_DATA_BYTES]) -> bool {
        let document = self.document.as_bytes();
        if document.len() > MAX_CARRIED_DOCUMENT {
            return false;
        }
        let mut at = CARRIED_AT;
        let mut put = |bytes: &[u8]| {
            data[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&[CARRIED_TAG]);
        put(&self.epoch.to_le_bytes());
        put(&[document.len() as u8]);
        put(document);
        true
    }

    /// Reads the block, if the user data carries one (UTF-8 within bounds only).
    pub fn read(data: &[u8; USER_DATA_BYTES]) -> Option<Self> {
        let block = &data[CARRIED_AT..];
        if block[0] != CARRIED_TAG {
            return None;
        }
        let epoch = i64::from_le_bytes(block[1..9].try_into().ok()?);
        let len = usize::from(block[9]);
        let document = block.get(CARRIED_HEADER..CARRIED_HEADER + len)?;
        Some(Self { epoch, document: std::str::from_utf8(document).ok()?.to_owned() })
    }
}

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
    fn a_carried_state_round_trips_beside_the_longest_name() {
        let id = Identity { account_id: 7, name: "n".repeat(MAX_NAME_BYTES) };
        let mut data = id.to_user_data().unwrap();
        assert_eq!(Carried::read(&data), None, "a login token carries nothing");
        let carried = Carried { epoch: 9, document: "é".repeat(MAX_CARRIED_DOCUMENT / 2) };
        assert!(carried.write(&mut data));
        assert_eq!(Identity::from_user_data(&data), Some(id.clone()), "the name is untouched");
        assert_eq!(Carried::read(&data), Some(carried));
        data[CARRIED_AT + CARRIED_HEADER] = 0xff;
        assert_eq!(Carried::read(&data), None, "not UTF-8 is refused");
        let mut data = id.to_user_data().unwrap();
        let long = Carried { epoch: 9, document: "x".repeat(MAX_CARRIED_DOCUMENT + 1) };
        assert!(!long.write(&mut data), "too long to carry");
        assert_eq!(Carried::read(&data), None, "and nothing was written");
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
