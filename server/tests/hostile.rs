//! Hostile datagrams against a live server: each input that panics the
//! released dependencies is sent for real, and the server must keep
//! serving its honest players.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{PASSWORD, join, play};
use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};
use tickforge_client::login::AuthClient;
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// A netcode client driven by hand over its own socket, so the test can
/// also send arbitrary bytes from the very same address.
struct Raw {
    socket: UdpSocket,
    client: NetcodeClient,
    server: SocketAddr,
    /// The packet sequence (the nonce) of every datagram received.
    nonces: Vec<u64>,
}

impl Raw {
    fn new(server: &EmbeddedServer, user: &str) -> Self {
        let auth = AuthClient::new(&server.http_url());
        auth.register(user, PASSWORD).unwrap();
        let login = auth.login(user, PASSWORD).unwrap();
        let token = ConnectToken::read(&mut &login.connect_token[..]).unwrap();
        let client = NetcodeClient::new(now(), ClientAuthentication::Secure { connect_token: token }).unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        Self { socket, client, server: server.udp_addr(), nonces: Vec::new() }
    }

    /// One step: send what netcode wants to send, read what arrived.
    fn pump(&mut self, dt: Duration) {
        if let Some((packet, addr)) = self.client.update(dt) {
            self.socket.send_to(packet, addr).unwrap();
        }
        let mut buf = [0u8; 1500];
        while let Ok(len) = self.socket.recv(&mut buf) {
            self.nonces
                .push(tickforge_netcode::packet::header(&buf[..len]).expect("server packets are well formed").sequence);
            let _ = self.client.process_packet(&mut buf[..len]);
        }
    }

    fn connect(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.client.is_connected() {
            assert!(Instant::now() < deadline, "handshake did not finish");
            self.pump(Duration::from_millis(10));
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn send_raw(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).unwrap();
    }

    /// Seals the renet packet `packet` in a bundle, as this client's next
    /// payload packet, and sends it.
    fn send_payload(&mut self, packet: &[u8]) {
        let mut bundled = Vec::new();
        tickforge_shared::bundle::Packer::new()
            .pack([packet], |b| {
                bundled = b.to_vec();
                Ok::<(), ()>(())
            })
            .unwrap();
        self.send_sealed(&bundled);
    }

    /// Seals `payload` as it is (no bundle around it) and sends it.
    fn send_sealed(&mut self, payload: &[u8]) {
        let (addr, packet) = self.client.generate_payload_packet(payload).unwrap();
        self.socket.send_to(packet, addr).unwrap();
    }
}

fn server() -> (tempfile::TempDir, EmbeddedServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 5, orbs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    (dir, server)
}

fn metric_reaches(server: &EmbeddedServer, name: &str, at_least: f64) -> bool {
    common::metric_reaches(&server.admin_url(), name, at_least)
}

/// An honest player keeps getting snapshots for a while.
fn still_served(alice: &mut tickforge_client::session::Session) {
    let before = alice.world.snapshots;
    play(&mut [(alice, (1.0, 0.0))], Duration::from_millis(600));
    assert!(alice.world.snapshots > before + 5, "the honest player stopped receiving snapshots");
}

#[test]
fn bad_netcode_headers_from_a_pending_address_are_dropped() {
    let (_dir, server) = server();
    let mut alice = join(&server.http_url(), "alice");
    let mut mallory = Raw::new(&server, "mallory");
    // The connection request makes mallory's address pending...
    mallory.pump(Duration::ZERO);
    // ...then a prefix claiming 9 sequence bytes (renetcode 2.0.0 panics on
    // it), and a sequence at the top of the range (its replay window overflows).
    let mut nine = vec![0x94];
    nine.extend_from_slice(&[0xAA; 60]);
    let mut top = vec![0x85];
    top.extend_from_slice(&[0xff; 8]);
    top.extend_from_slice(&[0; 30]);
    for _ in 0..5 {
        mallory.send_raw(&nine);
        mallory.send_raw(&top);
        mallory.send_raw(&[]);
        mallory.send_raw(&[0x15]);
    }
    still_served(&mut alice);
    assert!(metric_reaches(&server, "tickforge_bad_datagrams_total", 10.0), "refusals are counted");
    server.stop().expect("the tick thread is alive and stops cleanly");
}

#[test]
fn payloads_that_are_no_bundle_are_refused_and_the_sender_dropped() {
    let (_dir, server) = server();
    let mut alice = join(&server.http_url(), "alice");
    let mut mallory = Raw::new(&server, "mallory");
    mallory.connect();
    // Sealed properly, but not bundles: a length past the end, a zero
    // length, a long form of a short length, and a valid small-unreliable
    // renet packet without its length in front.
    let bare_input = [1u8, 0, 1, 0, 0];
    for _ in 0..4 {
        mallory.send_sealed(&[9, 1, 2]);
        mallory.send_sealed(&[0]);
        mallory.send_sealed(&[0x85, 0x00, 1, 2, 3, 4, 5]);
        mallory.send_sealed(&bare_input);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mallory.client.is_disconnected() && Instant::now() < deadline {
        mallory.pump(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(mallory.client.is_disconnected(), "the offender was not dropped");
    assert!(metric_reaches(&server, "tickforge_bad_payloads_total", 10.0), "refused payloads are counted");
    still_served(&mut alice);
    server.stop().expect("the tick thread is alive and stops cleanly");
}

#[test]
fn impossible_slices_from_an_authenticated_client_are_refused_and_it_is_dropped() {
    let (_dir, server) = server();
    let mut alice = join(&server.http_url(), "alice");
    let mut mallory = Raw::new(&server, "mallory");
    mallory.connect();
    // A full-size reliable slice with index 5 of 5 (renet 2.0.1 panics in
    // its slice constructor), then one on a channel clients may not use.
    // The slice length 1200 is the two-byte varint 0x44B0.
    let mut slice = vec![2, 1, 0, 0, 5, 5, 0x44, 0xB0];
    slice.extend_from_slice(&[0xAB; 1200]);
    let mut wrong_channel = vec![3, 2, 1, 0, 0, 1, 10];
    wrong_channel.extend_from_slice(&[0xAB; 10]);
    for _ in 0..8 {
        mallory.send_payload(&slice);
        mallory.send_payload(&wrong_channel);
    }
    still_served(&mut alice);
    // Past the malformed-message threshold the offender is disconnected.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mallory.client.is_disconnected() && Instant::now() < deadline {
        mallory.pump(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(mallory.client.is_disconnected(), "the offender was not dropped");
    still_served(&mut alice);
    server.stop().expect("the tick thread is alive and stops cleanly");
}

#[test]
fn random_junk_never_gets_a_reply_or_stops_the_server() {
    let (_dir, server) = server();
    let mut alice = join(&server.http_url(), "alice");
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    junk.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut state = 0x1234_5678_9abc_def0u64;
    for i in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 1 + (state % 1400) as usize;
        let bytes: Vec<u8> = (0..len).map(|j| (state >> (j % 56)) as u8 ^ i as u8).collect();
        junk.send_to(&bytes, server.udp_addr()).unwrap();
    }
    let mut buf = [0u8; 2048];
    assert!(junk.recv(&mut buf).is_err(), "junk got an answer");
    still_served(&mut alice);
    server.stop().unwrap();
}

#[test]
fn handshake_replies_are_never_larger_than_requests_and_truncations_get_none() {
    let (_dir, server) = server();
    let mut mallory = Raw::new(&server, "mallory");
    let (request, addr) = mallory.client.update(Duration::ZERO).map(|(p, a)| (p.to_vec(), a)).unwrap();
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 2048];
    // Truncated or padded requests get nothing back.
    for len in [1, 13, 500, request.len() - 1] {
        probe.send_to(&request[..len], addr).unwrap();
    }
    let mut padded = request.clone();
    padded.push(0);
    probe.send_to(&padded, addr).unwrap();
    assert!(probe.recv(&mut buf).is_err(), "a malformed request was answered");
    // A whole request (here replayed from another address) is answered
    // with a challenge no larger than itself: no amplification.
    for _ in 0..3 {
        probe.send_to(&request, addr).unwrap();
    }
    let mut replies = 0;
    while let Ok(len) = probe.recv(&mut buf) {
        assert!(len <= request.len(), "reply of {len} bytes to a {}-byte request", request.len());
        replies += 1;
    }
    assert!((1..=3).contains(&replies), "{replies} challenges");
    // The token is now bound to the address that used it first: the same
    // request from its owner's socket is ignored.
    mallory.send_raw(&request);
    mallory.socket.set_nonblocking(false).unwrap();
    mallory.socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert!(mallory.socket.recv(&mut buf).is_err(), "a token was accepted from a second address");
    server.stop().unwrap();
}

#[test]
fn no_nonce_is_used_twice_across_challenges_and_payloads() {
    let (_dir, server) = server();
    let mut mallory = Raw::new(&server, "mallory");
    // Requests repeated as on a lossy link: a challenge for each.
    let (request, _) = mallory.client.update(Duration::ZERO).map(|(p, a)| (p.to_vec(), a)).unwrap();
    for _ in 0..3 {
        mallory.send_raw(&request);
    }
    std::thread::sleep(Duration::from_millis(100));
    mallory.connect();
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        mallory.pump(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut unique = mallory.nonces.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), mallory.nonces.len(), "a nonce was used twice under the server-to-client key");
    let server_wide = mallory.nonces.iter().filter(|&&n| n >= 1 << 63).count();
    let per_connection = mallory.nonces.len() - server_wide;
    assert!(server_wide >= 3, "challenges seen: {server_wide}");
    assert!(per_connection >= 20, "snapshots and keep-alives seen: {per_connection}");
    server.stop().unwrap();
}

#[test]
fn messages_on_the_wrong_channel_are_counted_and_the_sender_dropped() {
    let (_dir, server) = server();
    let mut alice = join(&server.http_url(), "alice");
    let mut mallory = Raw::new(&server, "mallory");
    mallory.connect();
    // Playing (in the roster beside alice), so its messages are delivered
    // rather than held as early.
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::metric_value(&server.admin_url(), "tickforge_players") < 2.0 && Instant::now() < deadline {
        mallory.pump(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    // An input message on the reliable channel: well formed as an input,
    // but the reliable channel carries chat, and there it does not decode.
    // A renet small-reliable packet: type 0, sequence, channel 0, one
    // message (id, length, bytes).
    let input = tickforge_shared::codec::encode(&tickforge_shared::protocol::InputMessage::<tickforge_arena::Move> {
        ack_tick: 0,
        inputs: vec![tickforge_shared::protocol::InputCmd {
            seq: 1,
            tick: 1,
            view_lag: 0,
            input: tickforge_arena::Move::new(1.0, 0.0),
        }],
    })
    .unwrap();
    for id in 0..12u8 {
        let mut packet = vec![0, id, 0, 0, 1, id, input.len() as u8];
        packet.extend_from_slice(&input);
        mallory.send_payload(&packet);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mallory.client.is_disconnected() && Instant::now() < deadline {
        mallory.pump(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(mallory.client.is_disconnected(), "the offender was not dropped");
    still_served(&mut alice);
    assert!(
        metric_reaches(&server, "tickforge_malformed_messages_total", 11.0),
        "messages on the wrong channel are counted in /metrics"
    );
    server.stop().unwrap();
}

/// A client asking for the chat history again and again in one tick gets
/// it once: `ChatFrom` starts a connection's chat, it is no amplifier.
#[test]
fn repeated_chat_from_in_one_tick_catches_up_once() {
    use tickforge_shared::protocol::{Channel, ClientMessage, ServerMessage};
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let mut alice = join(&server.http_url(), "alice");
    for i in 0..5 {
        alice.send_chat(&format!("line {i}"));
    }
    let said = common::pump_until(&mut alice, Duration::from_secs(5), |s| s.chat_unconfirmed() == 0);
    assert!(said, "alice's lines were numbered");

    let auth = AuthClient::new(&server.http_url());
    auth.register("greedy", PASSWORD).unwrap();
    let login = auth.login("greedy", PASSWORD).unwrap();
    let mut conn = tickforge_client::net::connect(&login.connect_token, Duration::ZERO).unwrap();
    let start = Instant::now();
    let (mut inbox, mut snapshots) = (Vec::new(), Vec::new());
    let (mut welcomed, mut asked, mut lines) = (false, false, Vec::new());
    while start.elapsed() < Duration::from_secs(4) {
        let now = start.elapsed();
        conn.update(now, &mut inbox, &mut snapshots).expect("the connection lives");
        snapshots.clear();
        for message in inbox.drain(..) {
            match message {
                ServerMessage::Welcome { .. } => welcomed = true,
                ServerMessage::Chat { id, .. } => lines.push(id),
                _ => {}
            }
        }
        if welcomed && !asked {
            for _ in 0..50 {
                conn.send(Channel::Reliable, &ClientMessage::ChatFrom { after: Some(0) });
            }
            asked = true;
        }
        let _ = conn.flush(now);
        play(&mut [(&mut alice, (0.0, 0.0))], Duration::from_millis(10));
    }
    assert!(welcomed);
    assert_eq!(lines.len(), 5, "each line once, not once per request: {lines:?}");
}
