//! Connect tokens (public and private parts) and challenge tokens.
//!
//! The public token layout is renetcode's: the client id comes first (the
//! standard leaves it out; renetcode adds it), IPv6 addresses are written
//! as their 16 octets, address types are 1 (IPv4) and 2 (IPv6). The
//! serialized token is zero-padded to [`CONNECT_TOKEN_BYTES`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::bytes::{Reader, Writer};
use crate::crypto::{self, random_bytes};
use crate::{
    CHALLENGE_TOKEN_BYTES, CONNECT_TOKEN_BYTES, KEY_BYTES, MAC_BYTES, MAX_SERVER_ADDRESSES, PRIVATE_TOKEN_BYTES,
    USER_DATA_BYTES, VERSION_INFO, XNONCE_BYTES,
};

const ADDRESS_IPV4: u8 = 1;
const ADDRESS_IPV6: u8 = 2;

/// Why a token could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// A token names 1 to 32 server addresses.
    #[error("a connect token names 1 to {MAX_SERVER_ADDRESSES} server addresses, not {0}")]
    AddressCount(usize),
    /// An address type other than IPv4 (1) or IPv6 (2).
    #[error("unknown address type {0}")]
    AddressType(u8),
    /// The bytes end before the token does.
    #[error("connect token truncated")]
    Truncated,
    /// The version string is not netcode 1.02's.
    #[error("not a netcode 1.02 connect token")]
    Version,
    /// The private part did not decrypt.
    #[error("connect token does not decrypt with this key")]
    Forged,
    /// The token's timestamps make no sense.
    #[error("connect token expires before it is created")]
    Timestamps,
}

/// What the server learns from the private part of a connect token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateToken {
    /// The authenticated client's id.
    pub client_id: u64,
    /// Seconds of silence before the connection is dropped (≤ 0: never).
    pub timeout_seconds: i32,
    /// Servers the token may be used with.
    pub server_addresses: Vec<SocketAddr>,
    /// Key for packets from client to server.
    pub client_to_server_key: [u8; KEY_BYTES],
    /// Key for packets from server to client.
    pub server_to_client_key: [u8; KEY_BYTES],
    /// Application data, opaque to the protocol.
    pub user_data: [u8; USER_DATA_BYTES],
}

/// A connect token as the client holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectToken {
    /// The client id (also sealed in the private part, which is what the server trusts).
    pub client_id: u64,
    /// The game's protocol id.
    pub protocol_id: u64,
    /// Unix seconds when the token was made.
    pub create_timestamp: u64,
    /// Unix seconds after which servers refuse it.
    pub expire_timestamp: u64,
    /// Nonce of the private part.
    pub xnonce: [u8; XNONCE_BYTES],
    /// The encrypted private part.
    pub private_data: [u8; PRIVATE_TOKEN_BYTES],
    /// Seconds of silence before either side drops the connection.
    pub timeout_seconds: i32,
    /// Servers to try, in order.
    pub server_addresses: Vec<SocketAddr>,
    /// Key for packets from client to server.
    pub client_to_server_key: [u8; KEY_BYTES],
    /// Key for packets from server to client.
    pub server_to_client_key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for ConnectToken {
    /// Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectToken")
            .field("client_id", &self.client_id)
            .field("protocol_id", &self.protocol_id)
            .field("expire_timestamp", &self.expire_timestamp)
            .field("server_addresses", &self.server_addresses)
            .finish_non_exhaustive()
    }
}

/// Associated data sealing a private token: version, protocol id, expiry.
fn token_aad(protocol_id: u64, expire_timestamp: u64) -> [u8; 29] {
    let mut aad = [0u8; 29];
    aad[..13].copy_from_slice(VERSION_INFO);
    aad[13..21].copy_from_slice(&protocol_id.to_le_bytes());
    aad[21..].copy_from_slice(&expire_timestamp.to_le_bytes());
    aad
}

fn write_addresses(w: &mut Writer<'_>, addresses: &[SocketAddr]) -> Option<()> {
    w.put(&u32::try_from(addresses.len()).ok()?.to_le_bytes())?;
    for address in addresses {
        match address.ip() {
            IpAddr::V4(ip) => {
                w.put(&[ADDRESS_IPV4])?;
                w.put(&ip.octets())?;
            }
            IpAddr::V6(ip) => {
                w.put(&[ADDRESS_IPV6])?;
                w.put(&ip.octets())?;
            }
        }
        w.put(&address.port().to_le_bytes())?;
    }
    Some(())
}

fn read_addresses(r: &mut Reader<'_>) -> Result<Vec<SocketAddr>, TokenError> {
    let count = r.u32().ok_or(TokenError::Truncated)? as usize;
    if count == 0 || count > MAX_SERVER_ADDRESSES {
        return Err(TokenError::AddressCount(count));
    }
    let mut addresses = Vec::with_capacity(count);
    for _ in 0..count {
        let ip = match r.u8().ok_or(TokenError::Truncated)? {
            ADDRESS_IPV4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>().ok_or(TokenError::Truncated)?)),
            ADDRESS_IPV6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>().ok_or(TokenError::Truncated)?)),
            other => return Err(TokenError::AddressType(other)),
        };
        let port = r.u16().ok_or(TokenError::Truncated)?;
        addresses.push(SocketAddr::new(ip, port));
    }
    Ok(addresses)
}

fn check_count(addresses: &[SocketAddr]) -> Result<(), TokenError> {
    if addresses.is_empty() || addresses.len() > MAX_SERVER_ADDRESSES {
        return Err(TokenError::AddressCount(addresses.len()));
    }
    Ok(())
}

impl PrivateToken {
    /// Seals this token into the 1024-byte private part.
    pub fn seal(
        &self,
        protocol_id: u64,
        expire_timestamp: u64,
        xnonce: &[u8; XNONCE_BYTES],
        key: &[u8; KEY_BYTES],
    ) -> Result<[u8; PRIVATE_TOKEN_BYTES], TokenError> {
        check_count(&self.server_addresses)?;
        let mut buf = [0u8; PRIVATE_TOKEN_BYTES];
        let mut w = Writer::new(&mut buf[..PRIVATE_TOKEN_BYTES - MAC_BYTES]);
        (|| {
            w.put(&self.client_id.to_le_bytes())?;
            w.put(&self.timeout_seconds.to_le_bytes())?;
            write_addresses(&mut w, &self.server_addresses)?;
            w.put(&self.client_to_server_key)?;
            w.put(&self.server_to_client_key)?;
            w.put(&self.user_data)
        })()
        .ok_or(TokenError::Truncated)?;
        crypto::seal_x(&mut buf, xnonce, key, &token_aad(protocol_id, expire_timestamp))
            .map_err(|_| TokenError::Forged)?;
        Ok(buf)
    }

    /// Decrypts and reads a private part.
    pub fn open(
        sealed: &[u8; PRIVATE_TOKEN_BYTES],
        protocol_id: u64,
        expire_timestamp: u64,
        xnonce: &[u8; XNONCE_BYTES],
        key: &[u8; KEY_BYTES],
    ) -> Result<Self, TokenError> {
        let mut buf = *sealed;
        crypto::open_x(&mut buf, xnonce, key, &token_aad(protocol_id, expire_timestamp))
            .map_err(|_| TokenError::Forged)?;
        let mut r = Reader::new(&buf[..PRIVATE_TOKEN_BYTES - MAC_BYTES]);
        let client_id = r.u64().ok_or(TokenError::Truncated)?;
        let timeout_seconds = r.i32().ok_or(TokenError::Truncated)?;
        let server_addresses = read_addresses(&mut r)?;
        Ok(Self {
            client_id,
            timeout_seconds,
            server_addresses,
            client_to_server_key: r.array().ok_or(TokenError::Truncated)?,
            server_to_client_key: r.array().ok_or(TokenError::Truncated)?,
            user_data: r.array().ok_or(TokenError::Truncated)?,
        })
    }
}

impl ConnectToken {
    /// Makes a token for `client_id`, valid for `expire_seconds` from `now`
    /// (Unix time), sealed with the key the servers share.
    #[allow(clippy::too_many_arguments)]
    pub fn generate(
        now: Duration,
        protocol_id: u64,
        expire_seconds: u64,
        client_id: u64,
        timeout_seconds: i32,
        server_addresses: Vec<SocketAddr>,
        user_data: &[u8; USER_DATA_BYTES],
        private_key: &[u8; KEY_BYTES],
    ) -> Result<Self, TokenError> {
        check_count(&server_addresses)?;
        let create_timestamp = now.as_secs();
        let expire_timestamp = create_timestamp.saturating_add(expire_seconds);
        let private = PrivateToken {
            client_id,
            timeout_seconds,
            server_addresses,
            client_to_server_key: random_bytes(),
            server_to_client_key: random_bytes(),
            user_data: *user_data,
        };
        let xnonce = random_bytes();
        let private_data = private.seal(protocol_id, expire_timestamp, &xnonce, private_key)?;
        Ok(Self {
            client_id,
            protocol_id,
            create_timestamp,
            expire_timestamp,
            xnonce,
            private_data,
            timeout_seconds,
            server_addresses: private.server_addresses,
            client_to_server_key: private.client_to_server_key,
            server_to_client_key: private.server_to_client_key,
        })
    }

    /// Serializes to [`CONNECT_TOKEN_BYTES`] bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, TokenError> {
        check_count(&self.server_addresses)?;
        let mut buf = vec![0u8; CONNECT_TOKEN_BYTES];
        let mut w = Writer::new(&mut buf);
        (|| {
            w.put(&self.client_id.to_le_bytes())?;
            w.put(VERSION_INFO)?;
            w.put(&self.protocol_id.to_le_bytes())?;
            w.put(&self.create_timestamp.to_le_bytes())?;
            w.put(&self.expire_timestamp.to_le_bytes())?;
            w.put(&self.xnonce)?;
            w.put(&self.private_data)?;
            w.put(&self.timeout_seconds.to_le_bytes())?;
            write_addresses(&mut w, &self.server_addresses)?;
            w.put(&self.client_to_server_key)?;
            w.put(&self.server_to_client_key)
        })()
        .ok_or(TokenError::Truncated)?;
        Ok(buf)
    }

    /// Reads a serialized token (padding after it is ignored).
    pub fn read(bytes: &[u8]) -> Result<Self, TokenError> {
        let mut r = Reader::new(bytes);
        let client_id = r.u64().ok_or(TokenError::Truncated)?;
        if r.array::<13>().ok_or(TokenError::Truncated)? != *VERSION_INFO {
            return Err(TokenError::Version);
        }
        let protocol_id = r.u64().ok_or(TokenError::Truncated)?;
        let create_timestamp = r.u64().ok_or(TokenError::Truncated)?;
        let expire_timestamp = r.u64().ok_or(TokenError::Truncated)?;
        if expire_timestamp < create_timestamp {
            return Err(TokenError::Timestamps);
        }
        let xnonce = r.array().ok_or(TokenError::Truncated)?;
        let private_data = r.array().ok_or(TokenError::Truncated)?;
        let timeout_seconds = r.i32().ok_or(TokenError::Truncated)?;
        let server_addresses = read_addresses(&mut r)?;
        Ok(Self {
            client_id,
            protocol_id,
            create_timestamp,
            expire_timestamp,
            xnonce,
            private_data,
            timeout_seconds,
            server_addresses,
            client_to_server_key: r.array().ok_or(TokenError::Truncated)?,
            server_to_client_key: r.array().ok_or(TokenError::Truncated)?,
        })
    }
}

/// What a server seals into a challenge: enough to admit the client when
/// its response comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeToken {
    /// The client id from the connect token.
    pub client_id: u64,
    /// The connect token's user data.
    pub user_data: [u8; USER_DATA_BYTES],
}

impl ChallengeToken {
    /// Seals with the server's challenge key under `sequence`.
    pub fn seal(&self, sequence: u64, key: &[u8; KEY_BYTES]) -> [u8; CHALLENGE_TOKEN_BYTES] {
        let mut buf = [0u8; CHALLENGE_TOKEN_BYTES];
        buf[..8].copy_from_slice(&self.client_id.to_le_bytes());
        buf[8..8 + USER_DATA_BYTES].copy_from_slice(&self.user_data);
        // A buffer of the right length always seals.
        let _ = crypto::seal(&mut buf, sequence, key, b"");
        buf
    }

    /// Opens a challenge token this server sealed.
    pub fn open(
        sealed: &[u8; CHALLENGE_TOKEN_BYTES],
        sequence: u64,
        key: &[u8; KEY_BYTES],
    ) -> Result<Self, TokenError> {
        let mut buf = *sealed;
        crypto::open(&mut buf, sequence, key, b"").map_err(|_| TokenError::Forged)?;
        let mut r = Reader::new(&buf);
        Ok(Self {
            client_id: r.u64().ok_or(TokenError::Truncated)?,
            user_data: r.array().ok_or(TokenError::Truncated)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(addresses: Vec<SocketAddr>) -> Result<ConnectToken, TokenError> {
        ConnectToken::generate(Duration::from_secs(1000), 7, 30, 42, 5, addresses, &[3; 256], &[9; 32])
    }

    #[test]
    fn a_token_round_trips_and_its_private_part_opens_with_the_key_only() {
        let addresses = vec!["127.0.0.1:5000".parse().unwrap(), "[::1]:6000".parse().unwrap()];
        let t = token(addresses.clone()).unwrap();
        let bytes = t.to_bytes().unwrap();
        assert_eq!(bytes.len(), CONNECT_TOKEN_BYTES);
        let back = ConnectToken::read(&bytes).unwrap();
        assert!(back == t);
        let private = PrivateToken::open(&back.private_data, 7, 1030, &back.xnonce, &[9; 32]).unwrap();
        assert_eq!(private.client_id, 42);
        assert_eq!(private.server_addresses, addresses);
        assert_eq!(private.client_to_server_key, t.client_to_server_key);
        assert_eq!(private.user_data, [3; 256]);
        assert_eq!(PrivateToken::open(&back.private_data, 7, 1030, &back.xnonce, &[8; 32]), Err(TokenError::Forged));
        assert_eq!(PrivateToken::open(&back.private_data, 8, 1030, &back.xnonce, &[9; 32]), Err(TokenError::Forged));
        assert_eq!(PrivateToken::open(&back.private_data, 7, 1031, &back.xnonce, &[9; 32]), Err(TokenError::Forged));
    }

    #[test]
    fn address_counts_outside_one_to_32_are_refused() {
        assert_eq!(token(vec![]).err(), Some(TokenError::AddressCount(0)));
        let many = vec!["127.0.0.1:1".parse().unwrap(); 33];
        assert_eq!(token(many).err(), Some(TokenError::AddressCount(33)));
        let t = token(vec!["127.0.0.1:1".parse().unwrap(); 32]).unwrap();
        assert_eq!(ConnectToken::read(&t.to_bytes().unwrap()).unwrap().server_addresses.len(), 32);
    }

    #[test]
    fn damaged_tokens_are_refused_without_panicking() {
        let bytes = token(vec!["127.0.0.1:1".parse().unwrap()]).unwrap().to_bytes().unwrap();
        for cut in [0, 7, 8, 20, 60, 1100, 1124] {
            assert!(ConnectToken::read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[8 + 11] = b'1';
        assert_eq!(ConnectToken::read(&wrong_version).err(), Some(TokenError::Version));
        let mut bad_type = bytes.clone();
        bad_type[8 + 13 + 24 + 24 + 1024 + 4 + 4] = 9;
        assert_eq!(ConnectToken::read(&bad_type).err(), Some(TokenError::AddressType(9)));
    }

    #[test]
    fn challenge_tokens_open_only_under_their_sequence() {
        let token = ChallengeToken { client_id: 5, user_data: [1; 256] };
        let sealed = token.seal(77, &[4; 32]);
        assert_eq!(ChallengeToken::open(&sealed, 77, &[4; 32]).unwrap(), token);
        assert_eq!(ChallengeToken::open(&sealed, 78, &[4; 32]), Err(TokenError::Forged));
    }
}
