//! The netcode.io standard's rules (STANDARD.md in the reference
//! repository), one test each, plus the hardening this layer adds.
//! Everything runs in memory with an injected clock.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use tickforge_netcode::packet::{self, Kind};
use tickforge_netcode::server::{Departure, GLOBAL_SEQUENCE_START};
use tickforge_netcode::{
    Client, ClientState, ConnectToken, DISCONNECT_COPIES, DisconnectReason, REQUEST_BYTES, Refused, Server,
    ServerConfig, ServerEvent,
};

const PROTOCOL: u64 = 77;
const KEY: [u8; 32] = [3; 32];
const T0: Duration = Duration::from_secs(1_800_000_000);
const STEP: Duration = Duration::from_millis(10);

fn server_addr() -> SocketAddr {
    "10.0.0.1:4000".parse().unwrap()
}

fn addr(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, (n >> 8) as u8], 1000 + n))
}

fn token_for(client_id: u64, servers: Vec<SocketAddr>, timeout: i32, now: Duration) -> ConnectToken {
    ConnectToken::generate(now, PROTOCOL, 30, client_id, timeout, servers, &[client_id as u8; 256], &KEY).unwrap()
}

fn token(client_id: u64) -> ConnectToken {
    token_for(client_id, vec![server_addr()], 5, T0)
}

/// What the server did with one datagram, owned.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Nothing,
    Connected(u64, Option<SocketAddr>),
    Payload(u64, Vec<u8>),
    Left(u64, Departure),
}

/// Datagrams a server sent, with their destinations.
type Sent = Vec<(SocketAddr, Vec<u8>)>;

struct Rig {
    server: Server,
    now: Duration,
    /// Datagrams the server sent to others than the sender it was answering.
    elsewhere: Sent,
}

impl Rig {
    fn new(max_clients: usize) -> Self {
        let server = Server::new(ServerConfig {
            protocol_id: PROTOCOL,
            max_clients,
            public_addresses: vec![server_addr()],
            private_key: KEY,
        });
        Self { server, now: T0, elsewhere: Vec::new() }
    }

    /// Feeds one datagram; returns the outcome and the server's replies.
    fn feed(&mut self, from: SocketAddr, datagram: &[u8]) -> (Result<Seen, Refused>, Vec<Vec<u8>>) {
        let mut replies = Vec::new();
        let mut bytes = datagram.to_vec();
        let elsewhere = &mut self.elsewhere;
        let seen = self
            .server
            .process(self.now, from, &mut bytes, &mut |to, b| {
                if to == from {
                    replies.push(b.to_vec());
                } else {
                    elsewhere.push((to, b.to_vec()));
                }
            })
            .map(|event| match event {
                None => Seen::Nothing,
                Some(ServerEvent::Connected { client_id, replaced, .. }) => Seen::Connected(client_id, replaced),
                Some(ServerEvent::Payload { client_id, payload }) => Seen::Payload(client_id, payload.to_vec()),
                Some(ServerEvent::Disconnected { client_id, reason, .. }) => Seen::Left(client_id, reason),
            });
        (seen, replies)
    }

    /// Server timers; returns what it sent and who left.
    fn tick(&mut self, dt: Duration) -> (Sent, Vec<(u64, SocketAddr, Departure)>) {
        self.now += dt;
        let (mut sent, mut left) = (Vec::new(), Vec::new());
        self.server.update(self.now, &mut |to, b| sent.push((to, b.to_vec())), &mut left);
        (sent, left)
    }

    /// Runs a client through the handshake, optionally dropping server
    /// datagrams; returns every datagram the server sent it.
    fn connect(&mut self, client: &mut Client, from: SocketAddr, mut drop: impl FnMut(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for _ in 0..200 {
            if client.is_connected() {
                break;
            }
            let mut out = Vec::new();
            client.update(self.now, &mut |_, b| out.push(b.to_vec()));
            let mut replies = Vec::new();
            for d in out {
                replies.extend(self.feed(from, &d).1);
            }
            for (to, d) in self.tick(STEP).0 {
                if to == from {
                    replies.push(d);
                }
            }
            for mut d in replies {
                all.push(d.clone());
                if !drop(&d) {
                    let _ = client.process(self.now, &mut d);
                }
            }
        }
        assert!(client.is_connected(), "client connected: {:?}", client.state());
        all
    }

    /// The request a fresh client would send with `token`.
    fn request(&self, token: ConnectToken) -> Vec<u8> {
        let mut client = Client::new(token, self.now);
        let mut out = Vec::new();
        client.update(self.now, &mut |_, b| out.push(b.to_vec()));
        out.pop().unwrap()
    }
}

fn kind(datagram: &[u8]) -> Kind {
    packet::header(datagram).unwrap().kind
}

fn sequence(datagram: &[u8]) -> u64 {
    packet::header(datagram).unwrap().sequence
}

/// Asserts a request was ignored before any per-sender state was made.
fn assert_ignored(rig: &mut Rig, from: SocketAddr, request: &[u8], why: Refused) {
    let (seen, replies) = rig.feed(from, request);
    assert_eq!(seen, Err(why));
    assert!(replies.is_empty(), "no reply to an ignored request");
    assert_eq!(rig.server.pending(), 0, "no pending state");
    assert_eq!(rig.server.remembered_tokens(), 0, "no token entry");
}

// --- Server: connection request packets, in the standard's order -------

#[test]
fn a_request_of_the_wrong_size_is_ignored() {
    let mut rig = Rig::new(4);
    let request = rig.request(token(1));
    assert_eq!(request.len(), REQUEST_BYTES);
    assert_ignored(&mut rig, addr(1), &request[..REQUEST_BYTES - 1], Refused::Length);
    let mut longer = request.clone();
    longer.push(0);
    assert_ignored(&mut rig, addr(1), &longer, Refused::Length);
}

#[test]
fn a_request_with_another_version_is_ignored() {
    let mut rig = Rig::new(4);
    let mut request = rig.request(token(1));
    request[12] = b'1'; // "NETCODE 1.01"
    assert_ignored(&mut rig, addr(1), &request, Refused::Version);
}

#[test]
fn a_request_with_another_protocol_id_is_ignored() {
    let mut rig = Rig::new(4);
    let mut request = rig.request(token(1));
    request[14] ^= 1;
    assert_ignored(&mut rig, addr(1), &request, Refused::ProtocolId);
}

#[test]
fn a_request_with_an_expired_token_is_ignored() {
    let mut rig = Rig::new(4);
    let request = rig.request(token(1));
    rig.now += Duration::from_secs(30);
    assert_ignored(&mut rig, addr(1), &request, Refused::Expired);
}

#[test]
fn a_request_whose_private_token_does_not_decrypt_is_ignored() {
    let mut rig = Rig::new(4);
    let mut request = rig.request(token(1));
    request[100] ^= 0x40;
    assert_ignored(&mut rig, addr(1), &request, Refused::Forged);
    // The expiry is authenticated too: pushing it later breaks the seal.
    let mut request = rig.request(token(1));
    request[22] = request[22].wrapping_add(1);
    assert_ignored(&mut rig, addr(1), &request, Refused::Forged);
}

#[test]
fn a_request_for_another_server_is_ignored() {
    let mut rig = Rig::new(4);
    let request = rig.request(token_for(1, vec!["10.9.9.9:4000".parse().unwrap()], 5, T0));
    assert_ignored(&mut rig, addr(1), &request, Refused::NotInHostList);
}

#[test]
fn a_request_from_a_connected_address_is_ignored() {
    let mut rig = Rig::new(4);
    let mut client = Client::new(token(1), rig.now);
    rig.connect(&mut client, addr(1), |_| false);
    let same_addr = rig.request(token(2));
    let (seen, replies) = rig.feed(addr(1), &same_addr);
    assert_eq!((seen, replies.len()), (Err(Refused::AlreadyConnected), 0));
}

// Deviation from the standard, which ignores a request whose client id is
// connected: a newer token for a connected client id (a fresh login) is
// challenged, and its response replaces the older connection. A client
// that came back before its old connection timed out must get in.
#[test]
fn a_newer_token_for_a_connected_client_id_is_challenged_even_when_full() {
    let mut rig = Rig::new(1);
    let mut client = Client::new(token(1), rig.now);
    rig.connect(&mut client, addr(1), |_| false);
    let newer = rig.request(token(1));
    let (seen, replies) = rig.feed(addr(2), &newer);
    assert_eq!(seen, Ok(Seen::Nothing));
    assert_eq!(replies.iter().map(|r| kind(r)).collect::<Vec<_>>(), [Kind::Challenge], "not denied: it replaces");
    assert_eq!(rig.server.connected(), 1, "the old connection stays until the response proves the new one");
}

#[test]
fn a_response_for_a_client_id_connected_elsewhere_replaces_that_connection() {
    let mut rig = Rig::new(4);
    let mut a = Client::new(token(1), rig.now);
    let mut b = Client::new(token(1), rig.now);
    let out = challenge_both_connect_a(&mut rig, &mut a, &mut b);
    let (seen, replies) = rig.feed(addr(2), &out[0]);
    assert_eq!(seen, Ok(Seen::Connected(1, Some(addr(1)))));
    assert_eq!(replies.iter().map(|r| kind(r)).collect::<Vec<_>>(), [Kind::KeepAlive]);
    assert_eq!((rig.server.connected(), rig.server.client_addr(1)), (1, Some(addr(2))));
    // The older connection is told, with the redundant disconnect packets.
    let told: Vec<Vec<u8>> = rig.elsewhere.drain(..).filter(|(to, _)| *to == addr(1)).map(|(_, d)| d).collect();
    assert_eq!(told.len(), DISCONNECT_COPIES);
    for mut d in told {
        let _ = a.process(rig.now, &mut d);
    }
    assert_eq!(a.state(), ClientState::Disconnected(DisconnectReason::ClosedByServer));
    b.process(rig.now, &mut replies[0].clone()).unwrap();
    assert!(b.is_connected());
}

#[test]
fn a_token_first_used_from_one_address_is_ignored_from_another() {
    let mut rig = Rig::new(4);
    let request = rig.request(token(1));
    let (seen, replies) = rig.feed(addr(1), &request);
    assert_eq!((seen, replies.len()), (Ok(Seen::Nothing), 1));
    let (seen, replies) = rig.feed(addr(2), &request);
    assert_eq!((seen, replies.len()), (Err(Refused::TokenReused), 0));
    // The first address may repeat its request (its challenge was lost).
    let (seen, replies) = rig.feed(addr(1), &request);
    assert_eq!((seen, replies.len()), (Ok(Seen::Nothing), 1));
}

#[test]
fn a_full_server_answers_denied_and_the_client_gives_up() {
    let mut rig = Rig::new(1);
    let mut first = Client::new(token(1), rig.now);
    rig.connect(&mut first, addr(1), |_| false);
    let mut second = Client::new(token(2), rig.now);
    let mut out = Vec::new();
    second.update(rig.now, &mut |_, b| out.push(b.to_vec()));
    let (seen, mut replies) = rig.feed(addr(2), &out[0]);
    assert_eq!(seen, Ok(Seen::Nothing));
    assert_eq!(replies.len(), 1);
    assert_eq!(kind(&replies[0]), Kind::Denied);
    assert!(replies[0].len() < out[0].len());
    assert!(sequence(&replies[0]) >= GLOBAL_SEQUENCE_START);
    second.process(rig.now, &mut replies[0]).unwrap();
    assert_eq!(second.state(), ClientState::Disconnected(DisconnectReason::Denied));
}

#[test]
fn half_open_connections_are_bounded() {
    let mut rig = Rig::new(1); // four pending per slot
    for n in 0..4 {
        let request = rig.request(token(10 + n as u64));
        assert_eq!(rig.feed(addr(n), &request).0, Ok(Seen::Nothing));
    }
    let request = rig.request(token(20));
    let (seen, replies) = rig.feed(addr(9), &request);
    assert_eq!((seen, replies.len()), (Err(Refused::PendingFull), 0));
    assert_eq!(rig.server.pending(), 4);
}

#[test]
fn a_challenge_answers_a_valid_request_and_is_smaller_than_it() {
    let mut rig = Rig::new(4);
    let request = rig.request(token(1));
    let (seen, replies) = rig.feed(addr(1), &request);
    assert_eq!(seen, Ok(Seen::Nothing));
    assert_eq!(kind(&replies[0]), Kind::Challenge);
    assert!(replies[0].len() < request.len(), "{} < {}", replies[0].len(), request.len());
    assert!(sequence(&replies[0]) >= GLOBAL_SEQUENCE_START, "server-wide sequence starts at 2^63");
    assert_eq!(rig.server.pending(), 1);
}

#[test]
fn a_half_open_connection_expires_after_the_token_timeout() {
    let mut rig = Rig::new(4);
    let mut client = Client::new(token_for(1, vec![server_addr()], 2, T0), rig.now);
    let mut out = Vec::new();
    client.update(rig.now, &mut |_, b| out.push(b.to_vec()));
    let (_, mut replies) = rig.feed(addr(1), &out[0]);
    client.process(rig.now, &mut replies[0]).unwrap();
    let mut response = Vec::new();
    client.update(rig.now + STEP, &mut |_, b| response.push(b.to_vec()));
    assert_eq!(kind(&response[0]), Kind::Response);
    rig.tick(Duration::from_millis(1900));
    assert_eq!(rig.server.pending(), 1, "still inside the timeout");
    rig.tick(Duration::from_millis(200));
    assert_eq!(rig.server.pending(), 0, "gone after 2 s, long before the token's 30 s expiry");
    assert_eq!(rig.feed(addr(1), &response[0]).0, Err(Refused::UnknownSender));
}

// --- Server: challenge responses -----------------------------------------

#[test]
fn a_response_whose_challenge_token_does_not_decrypt_is_ignored() {
    let mut rig = Rig::new(4);
    let t = token(1);
    let request = rig.request(t.clone());
    let (_, replies) = rig.feed(addr(1), &request);
    let mut challenge = replies[0].clone();
    let h = packet::header(&challenge).unwrap();
    let body = packet::open(&mut challenge, &h, PROTOCOL, &t.server_to_client_key).unwrap();
    let (seq, sealed) = packet::read_challenge(body).unwrap();
    let mut forged = *sealed;
    forged[0] ^= 1;
    let mut out = [0u8; 1400];
    let len = packet::seal(
        &mut out,
        Kind::Response,
        0,
        &packet::challenge_body(seq, &forged),
        PROTOCOL,
        &t.client_to_server_key,
    )
    .unwrap();
    let (seen, replies) = rig.feed(addr(1), &out[..len]);
    assert_eq!((seen, replies.len()), (Err(Refused::Forged), 0));
    assert_eq!(rig.server.connected(), 0);
}

/// Both clients get challenged before either connects; then `a` connects
/// and `b`'s next response is returned.
fn challenge_both_connect_a(rig: &mut Rig, a: &mut Client, b: &mut Client) -> Vec<Vec<u8>> {
    for (client, from) in [(&mut *a, addr(1)), (&mut *b, addr(2))] {
        let mut out = Vec::new();
        client.update(rig.now, &mut |_, d| out.push(d.to_vec()));
        let (_, mut replies) = rig.feed(from, &out[0]);
        client.process(rig.now, &mut replies[0]).unwrap();
    }
    rig.connect(a, addr(1), |_| false);
    rig.now += Duration::from_millis(200);
    let mut out = Vec::new();
    b.update(rig.now, &mut |_, d| out.push(d.to_vec()));
    out
}

#[test]
fn a_response_when_the_server_filled_up_meanwhile_is_denied() {
    let mut rig = Rig::new(1);
    let mut a = Client::new(token(1), rig.now);
    let mut b = Client::new(token(2), rig.now);
    let out = challenge_both_connect_a(&mut rig, &mut a, &mut b);
    let (seen, mut replies) = rig.feed(addr(2), &out[0]);
    assert_eq!(seen, Ok(Seen::Nothing));
    assert_eq!(kind(&replies[0]), Kind::Denied);
    b.process(rig.now, &mut replies[0]).unwrap();
    assert_eq!(b.disconnect_reason(), Some(DisconnectReason::Denied));
}

#[test]
fn a_connected_client_learns_its_slot_from_the_keep_alive() {
    let mut rig = Rig::new(8);
    let mut a = Client::new(token(1), rig.now);
    let mut b = Client::new(token(2), rig.now);
    rig.connect(&mut a, addr(1), |_| false);
    rig.connect(&mut b, addr(2), |_| false);
    assert_eq!(a.slot(), (0, 8));
    assert_eq!(b.slot(), (1, 8));
}

// --- Server: connected clients ---------------------------------------------

/// A connected pair and the client's sealed payloads on demand.
fn connected(rig: &mut Rig, id: u64, from: SocketAddr) -> Client {
    let mut client = Client::new(token(id), rig.now);
    rig.connect(&mut client, from, |_| false);
    client
}

fn payload_from(client: &mut Client, now: Duration, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    client.send_payload(now, bytes, &mut |_, d| out.push(d.to_vec())).unwrap();
    out.pop().unwrap()
}

#[test]
fn a_replayed_payload_is_delivered_once() {
    let mut rig = Rig::new(4);
    let mut client = connected(&mut rig, 1, addr(1));
    let p = payload_from(&mut client, rig.now, b"hello");
    assert_eq!(rig.feed(addr(1), &p).0, Ok(Seen::Payload(1, b"hello".to_vec())));
    assert_eq!(rig.feed(addr(1), &p).0, Err(Refused::Replayed));
}

#[test]
fn packets_older_than_the_replay_window_are_refused() {
    let mut rig = Rig::new(4);
    let mut client = connected(&mut rig, 1, addr(1));
    let old = payload_from(&mut client, rig.now, b"old");
    for _ in 0..300 {
        let p = payload_from(&mut client, rig.now, b"x");
        assert!(rig.feed(addr(1), &p).0.is_ok());
    }
    assert_eq!(rig.feed(addr(1), &old).0, Err(Refused::Replayed));
}

#[test]
fn forged_packets_do_not_move_the_replay_window() {
    let mut rig = Rig::new(4);
    let mut client = connected(&mut rig, 1, addr(1));
    let honest = payload_from(&mut client, rig.now, b"honest");
    // Sequence 1000 with a wrong key: if the window moved on it, the honest
    // packet would now be "too old".
    let mut out = [0u8; 1400];
    let len = packet::seal(&mut out, Kind::Payload, 1000, b"evil", PROTOCOL, &[0xEE; 32]).unwrap();
    assert_eq!(rig.feed(addr(1), &out[..len]).0, Err(Refused::Forged));
    let len = packet::seal(&mut out, Kind::Payload, u64::MAX, b"evil", PROTOCOL, &[0xEE; 32]).unwrap();
    assert_eq!(rig.feed(addr(1), &out[..len]).0, Err(Refused::Replayed), "top sequence refused, no overflow");
    assert_eq!(rig.feed(addr(1), &honest).0, Ok(Seen::Payload(1, b"honest".to_vec())));
}

#[test]
fn a_silent_client_times_out() {
    let mut rig = Rig::new(4);
    let _client = connected(&mut rig, 1, addr(1));
    let (_, left) = rig.tick(Duration::from_millis(4900));
    assert!(left.is_empty());
    let (_, left) = rig.tick(Duration::from_millis(200));
    assert_eq!(left, vec![(1, addr(1), Departure::TimedOut)]);
    assert_eq!(rig.server.connected(), 0);
}

#[test]
fn a_disconnect_packet_frees_the_slot_at_once() {
    let mut rig = Rig::new(4);
    let mut client = connected(&mut rig, 1, addr(1));
    let mut out = Vec::new();
    client.disconnect(&mut |_, d| out.push(d.to_vec()));
    assert_eq!(out.len(), DISCONNECT_COPIES, "redundant disconnect packets");
    assert!(out.iter().all(|d| kind(d) == Kind::Disconnect));
    assert_eq!(rig.feed(addr(1), &out[0]).0, Ok(Seen::Left(1, Departure::ClientLeft)));
    assert_eq!(rig.feed(addr(1), &out[1]).0, Err(Refused::UnknownSender));
    assert_eq!(rig.server.connected(), 0);
}

#[test]
fn the_server_keeps_an_idle_connection_alive_at_ten_hertz() {
    let mut rig = Rig::new(4);
    let _client = connected(&mut rig, 1, addr(1));
    let mut keep_alives = 0;
    for _ in 0..100 {
        keep_alives += rig.tick(STEP).0.iter().filter(|(_, d)| kind(d) == Kind::KeepAlive).count();
    }
    assert!((9..=11).contains(&keep_alives), "{keep_alives} keep-alives in one second");
}

#[test]
fn until_confirmed_each_payload_is_preceded_by_a_keep_alive() {
    let mut rig = Rig::new(4);
    let mut client = Client::new(token(1), rig.now);
    // The handshake keep-alive is lost: the client stays in "sending response".
    let mut dropped = false;
    let mut out = Vec::new();
    for _ in 0..3 {
        client.update(rig.now, &mut |_, d| out.push(d.to_vec()));
        let mut replies = Vec::new();
        for d in out.drain(..) {
            replies.extend(rig.feed(addr(1), &d).1);
        }
        for mut d in replies {
            if kind(&d) == Kind::KeepAlive && !dropped {
                dropped = true;
                continue;
            }
            let _ = client.process(rig.now, &mut d);
        }
        rig.now += Duration::from_millis(150);
    }
    assert!(dropped && rig.server.connected() == 1 && !client.is_connected());
    // The server sends payloads every tick (so no idle keep-alive is due),
    // but each comes with a keep-alive while the client is unconfirmed.
    let mut sent = Vec::new();
    rig.server.send_payload(rig.now, 1, b"snapshot", &mut |_, d| sent.push(d.to_vec())).unwrap();
    assert_eq!(sent.iter().map(|d| kind(d)).collect::<Vec<_>>(), vec![Kind::KeepAlive, Kind::Payload]);
    for mut d in sent {
        let _ = client.process(rig.now, &mut d);
    }
    assert!(client.is_connected(), "recovered from the lost keep-alive");
    // Once the client speaks, the extra keep-alives stop.
    let p = payload_from(&mut client, rig.now, b"input");
    rig.feed(addr(1), &p).0.unwrap();
    let mut sent = Vec::new();
    rig.server.send_payload(rig.now, 1, b"snapshot", &mut |_, d| sent.push(d.to_vec())).unwrap();
    assert_eq!(sent.iter().map(|d| kind(d)).collect::<Vec<_>>(), vec![Kind::Payload]);
}

#[test]
fn no_nonce_is_used_twice_under_one_key() {
    // Everything the server sends one client is sealed with that client's
    // server-to-client key: challenges, keep-alives, payloads, disconnects.
    let mut rig = Rig::new(4);
    let t = token(1);
    let mut client = Client::new(t.clone(), rig.now);
    // Repeated requests and their challenges, as on a lossy link.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let request = rig.request(t.clone());
        seen.extend(rig.feed(addr(1), &request).1);
    }
    seen.extend(rig.connect(&mut client, addr(1), |_| false));
    for _ in 0..50 {
        rig.server.send_payload(rig.now, 1, b"s", &mut |_, d| seen.push(d.to_vec())).unwrap();
        seen.extend(rig.tick(Duration::from_millis(60)).0.into_iter().map(|(_, d)| d));
    }
    rig.server.disconnect(1, &mut |_, d| seen.push(d.to_vec()));
    let kinds: HashSet<Kind> = seen.iter().map(|d| kind(d)).collect();
    for k in [Kind::Challenge, Kind::KeepAlive, Kind::Payload, Kind::Disconnect] {
        assert!(kinds.contains(&k), "{k:?} sent");
    }
    let mut nonces = HashSet::new();
    for d in &seen {
        assert!(nonces.insert(sequence(d)), "nonce {} used twice", sequence(d));
    }
}

#[test]
fn a_thousand_and_twenty_four_clients_share_one_endpoint() {
    let mut rig = Rig::new(1024);
    for n in 0..1024u16 {
        // No timeout, so the first ones do not time out while the rest connect.
        let mut client = Client::new(token_for(u64::from(n) + 1, vec![server_addr()], -1, rig.now), rig.now);
        rig.connect(&mut client, addr(n), |_| false);
    }
    assert_eq!(rig.server.connected(), 1024);
}

// --- Unauthenticated junk -----------------------------------------------------

#[test]
fn junk_gets_no_reply_and_no_state() {
    let mut rig = Rig::new(4);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for n in 0..5000u16 {
        let len = (n as usize * 7) % 1500;
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let (seen, replies) = rig.feed(addr(n), &junk);
        assert!(seen.is_err());
        assert!(replies.is_empty());
    }
    assert_eq!((rig.server.pending(), rig.server.remembered_tokens()), (0, 0));
}

// --- Client ---------------------------------------------------------------------

#[test]
fn payloads_before_the_connection_is_up_are_discarded() {
    let mut rig = Rig::new(4);
    let t = token(1);
    let mut client = Client::new(t.clone(), rig.now);
    let mut out = [0u8; 1400];
    let len = packet::seal(&mut out, Kind::Payload, 5, b"early", PROTOCOL, &t.server_to_client_key).unwrap();
    assert_eq!(client.process(rig.now, &mut out[..len]), Err(Refused::OutOfPhase));
    rig.connect(&mut client, addr(1), |_| false);
    let len = packet::seal(&mut out, Kind::Payload, 6, b"later", PROTOCOL, &t.server_to_client_key).unwrap();
    assert_eq!(client.process(rig.now, &mut out[..len]), Ok(Some(&b"later"[..])));
}

#[test]
fn an_unanswered_request_times_out() {
    let mut client = Client::new(token(1), T0);
    let mut sent = 0;
    let mut now = T0;
    while client.is_connecting() && now < T0 + Duration::from_secs(10) {
        now += STEP;
        client.update(now, &mut |_, _| sent += 1);
    }
    assert_eq!(client.disconnect_reason(), Some(DisconnectReason::RequestTimedOut));
    assert!((45..=55).contains(&sent), "{sent} requests over 5 s at 10 Hz");
}

#[test]
fn an_unanswered_response_times_out() {
    let mut rig = Rig::new(4);
    let mut client = Client::new(token(1), rig.now);
    let mut out = Vec::new();
    client.update(rig.now, &mut |_, d| out.push(d.to_vec()));
    let (_, mut replies) = rig.feed(addr(1), &out[0]);
    client.process(rig.now, &mut replies[0]).unwrap();
    let mut now = rig.now;
    while client.is_connecting() && now < rig.now + Duration::from_secs(10) {
        now += STEP;
        client.update(now, &mut |_, _| {});
    }
    assert_eq!(client.disconnect_reason(), Some(DisconnectReason::ResponseTimedOut));
}

#[test]
fn a_client_tries_the_next_server_in_its_token() {
    let dead: SocketAddr = "10.0.0.9:4000".parse().unwrap();
    let mut rig = Rig::new(4);
    let mut client = Client::new(token_for(1, vec![dead, server_addr()], 1, T0), rig.now);
    assert_eq!(client.server_addr(), dead);
    let mut now = rig.now;
    for _ in 0..150 {
        now += STEP;
        client.update(now, &mut |_, _| {});
    }
    assert_eq!(client.server_addr(), server_addr());
    assert_eq!(client.state(), ClientState::SendingRequest);
    rig.now = now;
    rig.connect(&mut client, addr(1), |_| false);
}

#[test]
fn a_client_gives_up_when_its_token_expires() {
    let t = ConnectToken::generate(T0, PROTOCOL, 3, 1, -1, vec![server_addr()], &[0; 256], &KEY).unwrap();
    let mut client = Client::new(t, T0);
    let mut now = T0;
    while client.is_connecting() && now < T0 + Duration::from_secs(10) {
        now += STEP;
        client.update(now, &mut |_, _| {});
    }
    assert_eq!(client.disconnect_reason(), Some(DisconnectReason::TokenExpired));
    assert!(now >= T0 + Duration::from_secs(3));
}

#[test]
fn a_connected_client_times_out_and_obeys_a_disconnect() {
    let mut rig = Rig::new(4);
    let mut quiet = connected(&mut rig, 1, addr(1));
    quiet.update(rig.now + Duration::from_millis(5100), &mut |_, _| {});
    assert_eq!(quiet.disconnect_reason(), Some(DisconnectReason::TimedOut));
    let mut told = connected(&mut rig, 2, addr(2));
    let mut sent = Vec::new();
    rig.server.disconnect(2, &mut |_, d| sent.push(d.to_vec()));
    assert_eq!(sent.len(), DISCONNECT_COPIES);
    told.process(rig.now, &mut sent[0]).unwrap();
    assert_eq!(told.disconnect_reason(), Some(DisconnectReason::ClosedByServer));
}

#[test]
fn an_idle_connected_client_sends_keep_alives_at_ten_hertz() {
    let mut rig = Rig::new(4);
    let mut client = connected(&mut rig, 1, addr(1));
    let mut keep_alives = 0;
    let mut now = rig.now;
    for _ in 0..100 {
        now += STEP;
        client.update(now, &mut |_, d| keep_alives += usize::from(kind(d) == Kind::KeepAlive));
    }
    assert!((9..=11).contains(&keep_alives), "{keep_alives}");
}
