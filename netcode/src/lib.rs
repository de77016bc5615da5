//! Tickforge's netcode.io 1.02 layer.
//!
//! An IO-free protocol core: connect tokens, packet reading and writing,
//! encryption, replay protection and the client and server state machines.
//! Nothing here touches a socket or a clock; callers pass the time in and
//! hand every outgoing datagram to a `send` closure. The UDP drivers live
//! in the server's and client's `net` modules.
//!
//! It is wire-compatible with renetcode 2.0 (tokens and packets read by
//! either side), and hardened where that implementation is not:
//! - the prefix byte and every length are validated before use;
//! - the replay window cannot overflow and only advances after a packet
//!   decrypts;
//! - the server-wide sequence (challenge and denied packets) starts at
//!   2^63, so it never shares a nonce with a connection's own packets;
//! - half-open connections expire after the token's timeout;
//! - a reply is never larger than the request that caused it.

mod bytes;
pub mod client;
mod crypto;
pub mod packet;
pub mod replay;
pub mod server;
pub mod token;

pub use client::{Client, ClientState, DisconnectReason};
pub use crypto::random_bytes;
pub use packet::Refused;
pub use server::{Server, ServerConfig, ServerEvent};
pub use token::{ConnectToken, TokenError};

/// Protocol version string, with its terminating zero.
pub const VERSION_INFO: &[u8; 13] = b"NETCODE 1.02\0";
/// Largest datagram either side sends or accepts.
pub const MAX_PACKET_BYTES: usize = 1400;
/// Largest payload in one payload packet.
pub const MAX_PAYLOAD_BYTES: usize = 1300;
/// Bytes in a key.
pub const KEY_BYTES: usize = 32;
/// Bytes in an authentication tag.
pub const MAC_BYTES: usize = 16;
/// Bytes of application data carried by a connect token.
pub const USER_DATA_BYTES: usize = 256;
/// Bytes in the encrypted private part of a connect token.
pub const PRIVATE_TOKEN_BYTES: usize = 1024;
/// Bytes in a serialized (public) connect token.
pub const CONNECT_TOKEN_BYTES: usize = 2048;
/// Bytes in an encrypted challenge token.
pub const CHALLENGE_TOKEN_BYTES: usize = 300;
/// Bytes in the nonce that seals a private connect token.
pub const XNONCE_BYTES: usize = 24;
/// Most server addresses in a connect token.
pub const MAX_SERVER_ADDRESSES: usize = 32;
/// Exact size of a connection request packet.
pub const REQUEST_BYTES: usize = 1 + 13 + 8 + 8 + XNONCE_BYTES + PRIVATE_TOKEN_BYTES;
/// Most client slots one server endpoint offers.
pub const MAX_CLIENTS: usize = 4096;
/// Copies of a disconnect packet sent when a connection is closed.
pub const DISCONNECT_COPIES: usize = 5;

/// Interval between handshake and keep-alive packets (10 Hz).
pub const SEND_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
