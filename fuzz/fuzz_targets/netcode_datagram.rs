//! A datagram from a pending address and from a connected one, through the
//! server's header guard into the netcode layer. Must never panic.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient, NetcodeServer, ServerAuthentication, ServerConfig};
use tickforge_server::net::guard;

const KEY: [u8; 32] = [7; 32];
const PROTOCOL: u64 = 42;

fn setup(connect: bool) -> (NetcodeServer, SocketAddr) {
    let server_addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let client_addr: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    let now = Duration::from_secs(1_800_000_000);
    let mut server = NetcodeServer::new(ServerConfig {
        current_time: now,
        max_clients: 8,
        protocol_id: PROTOCOL,
        public_addresses: vec![server_addr],
        authentication: ServerAuthentication::Secure { private_key: KEY },
    });
    let token = ConnectToken::generate(now, PROTOCOL, 300, 1, 15, vec![server_addr], None, &KEY).unwrap();
    let mut client = NetcodeClient::new(now, ClientAuthentication::Secure { connect_token: token }).unwrap();
    // Request: the address becomes pending.
    let mut request = client.update(Duration::ZERO).map(|(p, _)| p.to_vec()).unwrap();
    let mut reply = match server.process_packet(client_addr, &mut request) {
        renetcode::ServerResult::PacketToSend { payload, .. } => payload.to_vec(),
        _ => return (server, client_addr),
    };
    if connect {
        // Challenge → response → connected.
        client.process_packet(&mut reply);
        if let Some((response, _)) = client.update(Duration::from_millis(300)) {
            let mut response = response.to_vec();
            let _ = server.process_packet(client_addr, &mut response);
        }
    }
    (server, client_addr)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    let (mut server, addr) = setup(which & 1 == 1);
    let mut datagram = bytes.to_vec();
    if guard::datagram(&datagram).is_ok() {
        let _ = server.process_packet(addr, &mut datagram);
    }
});
