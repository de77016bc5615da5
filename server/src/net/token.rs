//! Connect-token issuing for the auth API.
//!
//! A token is sealed with the server's private key, names the game
//! server(s) to connect to, and carries the [`Identity`] as user data.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tickforge_netcode::ConnectToken;
use tickforge_shared::protocol::PROTOCOL_ID;

use super::identity::{Carried, Identity};
use crate::secrets::PrivateKey;

/// Size of a serialized connect token, as the netcode.io standard fixes it.
pub const CONNECT_TOKEN_BYTES: usize = tickforge_netcode::CONNECT_TOKEN_BYTES;

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name does not fit the token's user data.
    #[error("account name too long for a connect token")]
    NameTooLong,
    /// netcode refused to build the token.
    #[error("cannot generate connect token: {0}")]
    Generate(String),
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The serialized netcode connect token (2048 bytes).
    pub bytes: Vec<u8>,
    /// Unix time (seconds) after which it is refused.
    pub expires_at: u64,
}

/// Seals connect tokens for game servers (every role holds the key).
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    /// Shared with the game transport.
    key: PrivateKey,
    /// Token lifetime.
    ttl: Duration,
    /// Seconds of silence before the connection is dropped.
    timeout_secs: i32,
}

impl TokenIssuer {
    /// An issuer of tokens that live `ttl`.
    pub fn new(key: PrivateKey, ttl: Duration, timeout_secs: i32) -> Self {
        Self { key, ttl, timeout_secs }
    }

    /// How long a token stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `identity`, valid on `servers` (tried in order).
    pub fn issue(&self, identity: &Identity, servers: &[SocketAddr]) -> Result<IssuedToken, TokenError> {
        self.issue_carrying(identity, None, servers)
    }

    /// Issues a token that also carries a handed-over state (see
    /// [`Carried`]) — if it fits: a longer one is left out (the target loads
    /// it from the database instead).
    pub fn issue_carrying(
        &self,
        identity: &Identity,
        carried: Option<&Carried>,
        servers: &[SocketAddr],
    ) -> Result<IssuedToken, TokenError> {
        let mut user_data = identity.to_user_data().ok_or(TokenError::NameTooLong)?;
        if let Some(carried) = carried
            && !carried.write(&mut user_data)
        {
            tracing::debug!(account = identity.account_id, "handed-over state too long to carry; the target loads it");
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let token = ConnectToken::generate(
            now,
            PROTOCOL_ID,
            self.ttl.as_secs(),
            identity.account_id,
            self.timeout_secs,
            servers.to_vec(),
            &user_data,
            &self.key.0,
        )
        .map_err(|e| TokenError::Generate(e.to_string()))?;
        let bytes = token.to_bytes().map_err(|e| TokenError::Generate(e.to_string()))?;
        Ok(IssuedToken { bytes, expires_at: now.as_secs() + self.ttl.as_secs() })
    }
}
