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

/// Marks user data that carries a handed-over state.
const CARRIED_TAG: u8 = 0xC5;

/// Bytes of a [`Carried`] block: tag, epoch, four f32, score, chat position.
const CARRIED_BYTES: usize = 1 + 8 + 4 * 4 + 4;

/// A player's exact state, sealed into a transfer token by the draining
/// server that moved its lease to the token's server: the target starts
/// the avatar from it at once, without a round trip to the database (which
/// holds the same state, written by the handoff). The epoch is the moved
/// lease's, so a replayed token can never outlive a later write: the
/// database fences every save under an old epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Carried {
    /// The lease epoch the handoff gave the target.
    pub epoch: i64,
    /// Position x.
    pub x: f32,
    /// Position y.
    pub y: f32,
    /// Velocity x.
    pub vx: f32,
    /// Velocity y.
    pub vy: f32,
    /// Score.
    pub score: u32,
}

impl Carried {
    /// Writes the block into user data made by [`Identity::to_user_data`].
    pub fn write(&self, data: &mut [u8; USER_DATA_BYTES]) {
        let mut at = CARRIED_AT;
        let mut put = |bytes: &[u8]| {
            data[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&[CARRIED_TAG]);
        put(&self.epoch.to_le_bytes());
        for v in [self.x, self.y, self.vx, self.vy] {
            put(&v.to_le_bytes());
        }
        put(&self.score.to_le_bytes());
    }

    /// Reads the block, if the user data carries one (finite numbers only).
    pub fn read(data: &[u8; USER_DATA_BYTES]) -> Option<Self> {
        let block = &data[CARRIED_AT..CARRIED_AT + CARRIED_BYTES];
        if block[0] != CARRIED_TAG {
            return None;
        }
        let f = |at: usize| f32::from_le_bytes(block[at..at + 4].try_into().unwrap_or_default());
        let carried = Self {
            epoch: i64::from_le_bytes(block[1..9].try_into().ok()?),
            x: f(9),
            y: f(13),
            vx: f(17),
            vy: f(21),
            score: u32::from_le_bytes(block[25..29].try_into().ok()?),
        };
        [carried.x, carried.y, carried.vx, carried.vy].iter().all(|v| v.is_finite()).then_some(carried)
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
        let carried = Carried { epoch: 9, x: 1.5, y: -2.0, vx: 0.25, vy: 3.0, score: 41 };
        carried.write(&mut data);
        assert_eq!(Identity::from_user_data(&data), Some(id), "the name is untouched");
        assert_eq!(Carried::read(&data), Some(carried));
        data[CARRIED_AT + 9..CARRIED_AT + 13].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(Carried::read(&data), None, "not a number is refused");
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
