//! A decrypted payload from a connected client, through the payload guard
//! into renet. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renet::RenetServer;
use tickforge_server::net::guard;
use tickforge_shared::protocol::connection_config;

fuzz_target!(|data: &[u8]| {
    if guard::payload(data).is_err() {
        return;
    }
    let mut server = RenetServer::new(connection_config());
    server.add_connection(1);
    let _ = server.process_packet_from(data, 1);
    server.update(std::time::Duration::from_millis(33));
    let _ = server.get_packets_to_send(1);
});
