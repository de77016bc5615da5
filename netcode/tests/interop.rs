//! Wire compatibility with renetcode 2.0, the netcode.io layer renet ships
//! with: its client connects to our server, our client connects to its
//! server, and tokens made by either side work with both. Both sides are
//! IO-free, so the "network" here is a pair of queues.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tickforge_netcode::server::Departure;
use tickforge_netcode::{Client, ConnectToken, Server, ServerConfig, ServerEvent};

const PROTOCOL: u64 = 0x7469_636b;
const KEY: [u8; 32] = [7; 32];
const CLIENT_ID: u64 = 4242;
const USER_DATA: [u8; 256] = [9; 256];
const STEP: Duration = Duration::from_millis(10);

fn server_addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn client_addr() -> SocketAddr {
    "127.0.0.1:50000".parse().unwrap()
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// Token bytes made by renetcode.
fn their_token(now: Duration) -> Vec<u8> {
    let token =
        renetcode::ConnectToken::generate(now, PROTOCOL, 30, CLIENT_ID, 5, vec![server_addr()], Some(&USER_DATA), &KEY)
            .unwrap();
    let mut bytes = Vec::new();
    token.write(&mut bytes).unwrap();
    bytes
}

/// Token bytes made by us.
fn our_token(now: Duration) -> Vec<u8> {
    ConnectToken::generate(now, PROTOCOL, 30, CLIENT_ID, 5, vec![server_addr()], &USER_DATA, &KEY)
        .unwrap()
        .to_bytes()
        .unwrap()
}

/// What one run of a pairing saw.
#[derive(Debug, Default)]
struct Outcome {
    connected: bool,
    server_saw_id: Option<u64>,
    server_saw_user_data: Option<Vec<u8>>,
    server_got: Vec<Vec<u8>>,
    client_got: Vec<Vec<u8>>,
    goodbye_seen: bool,
}

/// renetcode's client against our server.
fn their_client_our_server(token: &[u8]) -> Outcome {
    let now0 = unix_now();
    let token = renetcode::ConnectToken::read(&mut &token[..]).unwrap();
    let mut client =
        renetcode::NetcodeClient::new(now0, renetcode::ClientAuthentication::Secure { connect_token: token }).unwrap();
    let mut server = Server::new(ServerConfig {
        protocol_id: PROTOCOL,
        max_clients: 8,
        public_addresses: vec![server_addr()],
        private_key: KEY,
    });
    let mut out = Outcome::default();
    let mut now = now0;
    let mut departed = Vec::new();
    for step in 0..300 {
        now += STEP;
        let mut to_server: Vec<Vec<u8>> = Vec::new();
        let mut to_client: Vec<Vec<u8>> = Vec::new();
        if let Some((packet, _)) = client.update(STEP) {
            to_server.push(packet.to_vec());
        }
        if client.is_connected() && out.server_got.len() < 3 {
            let (_, packet) = client.generate_payload_packet(format!("up {step}").as_bytes()).unwrap();
            to_server.push(packet.to_vec());
        }
        if step == 200 {
            let (_, packet) = client.disconnect().unwrap();
            to_server.push(packet.to_vec());
        }
        let mut sink = |_: SocketAddr, bytes: &[u8]| to_client.push(bytes.to_vec());
        for mut datagram in to_server {
            match server.process(now, client_addr(), &mut datagram, &mut sink) {
                Ok(Some(ServerEvent::Connected { client_id, user_data, .. })) => {
                    out.server_saw_id = Some(client_id);
                    out.server_saw_user_data = Some(user_data.to_vec());
                }
                Ok(Some(ServerEvent::Payload { payload, .. })) => out.server_got.push(payload.to_vec()),
                Ok(Some(ServerEvent::Disconnected { reason, .. })) => {
                    out.goodbye_seen = reason == Departure::ClientLeft
                }
                Ok(None) | Err(_) => {}
            }
        }
        if server.connected() == 1 && out.client_got.len() < 3 {
            server.send_payload(now, CLIENT_ID, format!("down {step}").as_bytes(), &mut sink).unwrap();
        }
        server.update(now, &mut sink, &mut departed);
        for mut datagram in to_client {
            if let Some(payload) = client.process_packet(&mut datagram) {
                out.client_got.push(payload.to_vec());
            }
        }
        out.connected |= client.is_connected();
    }
    out
}

/// Our client against renetcode's server.
fn our_client_their_server(token: &[u8]) -> Outcome {
    let now0 = unix_now();
    let token = ConnectToken::read(token).unwrap();
    let mut client = Client::new(token, now0);
    let mut server = renetcode::NetcodeServer::new(renetcode::ServerConfig {
        current_time: now0,
        max_clients: 8,
        protocol_id: PROTOCOL,
        public_addresses: vec![server_addr()],
        authentication: renetcode::ServerAuthentication::Secure { private_key: KEY },
    });
    let mut out = Outcome::default();
    let mut now = now0;
    for step in 0..300 {
        now += STEP;
        let mut to_server: Vec<Vec<u8>> = Vec::new();
        let mut to_client: Vec<Vec<u8>> = Vec::new();
        {
            let mut sink = |_: SocketAddr, bytes: &[u8]| to_server.push(bytes.to_vec());
            client.update(now, &mut sink);
            if client.is_connected() && out.server_got.len() < 3 {
                client.send_payload(now, format!("up {step}").as_bytes(), &mut sink).unwrap();
            }
            if step == 200 {
                client.disconnect(&mut sink);
            }
        }
        server.update(STEP);
        for mut datagram in to_server {
            match server.process_packet(client_addr(), &mut datagram) {
                renetcode::ServerResult::PacketToSend { payload, .. } => to_client.push(payload.to_vec()),
                renetcode::ServerResult::ClientConnected { client_id, user_data, payload, .. } => {
                    out.server_saw_id = Some(client_id);
                    out.server_saw_user_data = Some(user_data.to_vec());
                    to_client.push(payload.to_vec());
                }
                renetcode::ServerResult::Payload { payload, .. } => out.server_got.push(payload.to_vec()),
                renetcode::ServerResult::ClientDisconnected { .. } => out.goodbye_seen = true,
                renetcode::ServerResult::None => {}
            }
        }
        if server.is_client_connected(CLIENT_ID) && out.client_got.len() < 3 {
            let (_, packet) = server.generate_payload_packet(CLIENT_ID, format!("down {step}").as_bytes()).unwrap();
            to_client.push(packet.to_vec());
        }
        if let renetcode::ServerResult::PacketToSend { payload, .. } = server.update_client(CLIENT_ID) {
            to_client.push(payload.to_vec());
        }
        for mut datagram in to_client {
            if let Ok(Some(payload)) = client.process(now, &mut datagram) {
                out.client_got.push(payload.to_vec());
            }
        }
        out.connected |= client.is_connected();
    }
    out
}

fn assert_full_session(out: &Outcome) {
    assert!(out.connected, "handshake finished: {out:?}");
    assert_eq!(out.server_saw_id, Some(CLIENT_ID));
    assert_eq!(out.server_saw_user_data.as_deref(), Some(&USER_DATA[..]));
    assert_eq!(out.server_got.len(), 3, "payloads up");
    assert!(out.server_got[0].starts_with(b"up "));
    assert_eq!(out.client_got.len(), 3, "payloads down");
    assert!(out.client_got[0].starts_with(b"down "));
    assert!(out.goodbye_seen, "the disconnect packet was understood");
}

#[test]
fn their_client_connects_to_our_server_with_their_token() {
    assert_full_session(&their_client_our_server(&their_token(unix_now())));
}

#[test]
fn their_client_connects_to_our_server_with_our_token() {
    assert_full_session(&their_client_our_server(&our_token(unix_now())));
}

#[test]
fn our_client_connects_to_their_server_with_their_token() {
    assert_full_session(&our_client_their_server(&their_token(unix_now())));
}

#[test]
fn our_client_connects_to_their_server_with_our_token() {
    assert_full_session(&our_client_their_server(&our_token(unix_now())));
}

#[test]
fn tokens_read_identically_on_both_sides() {
    let now = unix_now();
    let ours = ConnectToken::read(&their_token(now)).unwrap();
    assert_eq!((ours.client_id, ours.protocol_id, ours.timeout_seconds), (CLIENT_ID, PROTOCOL, 5));
    assert_eq!(ours.server_addresses, vec![server_addr()]);
    let bytes = our_token(now);
    let theirs = renetcode::ConnectToken::read(&mut &bytes[..]).unwrap();
    let back = ConnectToken::read(&bytes).unwrap();
    assert_eq!(theirs.client_id, back.client_id);
    assert_eq!(theirs.expire_timestamp, back.expire_timestamp);
    assert_eq!(theirs.xnonce, back.xnonce);
    assert_eq!(theirs.private_data, back.private_data);
    assert_eq!(theirs.client_to_server_key, back.client_to_server_key);
    assert_eq!(theirs.server_to_client_key, back.server_to_client_key);
    assert_eq!(theirs.server_addresses[0], Some(server_addr()));
    assert_eq!(theirs.server_addresses[1], None);
    // Re-serialized by renetcode, then read by us: the same token.
    let mut again = Vec::new();
    theirs.write(&mut again).unwrap();
    assert!(ConnectToken::read(&again).unwrap() == back);
}
