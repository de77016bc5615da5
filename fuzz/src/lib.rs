//! A fixed netcode setup shared by the netcode fuzz target and the seed
//! writer: known keys and token, so seed packets stay valid across runs.

use std::net::SocketAddr;
use std::time::Duration;

use tickforge_netcode::packet::{self, Kind};
use tickforge_netcode::token::PrivateToken;
use tickforge_netcode::{Client, ConnectToken, MAX_PACKET_BYTES, Server, ServerConfig};

/// Server private key.
pub const KEY: [u8; 32] = [7; 32];
/// Protocol id.
pub const PROTOCOL: u64 = 42;
/// Client-to-server key in the token.
pub const C2S: [u8; 32] = [1; 32];
/// Server-to-client key in the token.
pub const S2C: [u8; 32] = [2; 32];
/// The fixed "now" (Unix time).
pub const NOW: Duration = Duration::from_secs(1_800_000_000);

/// The server's address.
pub fn server_addr() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
}

/// The client's address.
pub fn client_addr() -> SocketAddr {
    "127.0.0.1:6000".parse().unwrap()
}

/// A token with fixed keys and nonce.
pub fn token() -> ConnectToken {
    let expire = NOW.as_secs() + 300;
    let xnonce = [3; 24];
    let private = PrivateToken {
        client_id: 1,
        timeout_seconds: 15,
        server_addresses: vec![server_addr()],
        client_to_server_key: C2S,
        server_to_client_key: S2C,
        user_data: [0; 256],
    };
    ConnectToken {
        client_id: 1,
        protocol_id: PROTOCOL,
        create_timestamp: NOW.as_secs(),
        expire_timestamp: expire,
        xnonce,
        private_data: private.seal(PROTOCOL, expire, &xnonce, &KEY).unwrap(),
        timeout_seconds: 15,
        server_addresses: vec![server_addr()],
        client_to_server_key: C2S,
        server_to_client_key: S2C,
    }
}

/// A server with the fixture client pending (challenged) or connected,
/// and that client.
pub fn setup(connect: bool) -> (Server, Client) {
    let mut server = Server::new(ServerConfig {
        protocol_id: PROTOCOL,
        max_clients: 8,
        public_addresses: vec![server_addr()],
        private_key: KEY,
    });
    let mut client = Client::new(token(), NOW);
    let mut to_server = Vec::new();
    let mut to_client = Vec::new();
    client.update(NOW, &mut |_, b| to_server.push(b.to_vec()));
    for mut d in to_server.drain(..) {
        let _ = server.process(NOW, client_addr(), &mut d, &mut |_, b| to_client.push(b.to_vec()));
    }
    for mut d in to_client.drain(..) {
        let _ = client.process(NOW, &mut d);
    }
    if connect {
        let later = NOW + Duration::from_millis(200);
        client.update(later, &mut |_, b| to_server.push(b.to_vec()));
        for mut d in to_server.drain(..) {
            let _ = server.process(later, client_addr(), &mut d, &mut |_, b| to_client.push(b.to_vec()));
        }
        for mut d in to_client.drain(..) {
            let _ = client.process(later, &mut d);
        }
        assert!(client.is_connected() && server.connected() == 1, "fixture handshake");
    }
    (server, client)
}

/// A packet sealed as if by the fixture client (`to_server`) or server.
pub fn sealed(kind: Kind, sequence: u64, body: &[u8], to_server: bool) -> Vec<u8> {
    let mut out = [0u8; MAX_PACKET_BYTES];
    let key = if to_server { &C2S } else { &S2C };
    let len = packet::seal(&mut out, kind, sequence, body, PROTOCOL, key).expect("valid seed packet");
    out[..len].to_vec()
}
