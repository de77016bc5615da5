//! A datagram into our netcode layer: the server with the sender pending or
//! connected, or the client connecting or connected. The first byte picks
//! which (bit 0: connected, bit 1: client side). Must never panic; the
//! server must never answer with more bytes than it was sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickforge_fuzz::{NOW, client_addr, setup};

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    let (mut server, mut client) = setup(which & 1 == 1);
    let mut datagram = bytes.to_vec();
    if which & 2 == 0 {
        let mut answered = 0usize;
        let _ = server.process(NOW, client_addr(), &mut datagram, &mut |_, reply| answered = answered.max(reply.len()));
        // A payload may be answered by renet later, never here; handshake
        // replies are smaller than what caused them.
        assert!(answered <= bytes.len(), "reply of {answered} bytes to {}", bytes.len());
    } else {
        let _ = client.process(NOW, &mut datagram);
    }
});
