//! The game over WebSocket, against a real server: a native client plays
//! over `/ws` as the page does, beside a UDP player, each seeing the other;
//! and the path holds against hostile input — text frames, oversized and
//! fragmented messages, junk before and instead of the handshake, random
//! frames, a flood of connections — with the honest players served on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{PASSWORD, metric_reaches, play};
use tickforge_client::net::TransportKind;
use tickforge_client::session::{LoginOptions, Session};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::game::replicate::ReplicationConfig;
use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

fn server(dir: &std::path::Path, max_players: usize) -> EmbeddedServer {
    EmbeddedServer::start(Config {
        npcs: 5,
        orbs: 0,
        max_players,
        replication: ReplicationConfig { view_radius: 5000.0, ..ReplicationConfig::default() },
        ..Config::ephemeral(dir)
    })
    .unwrap()
}

fn join_over(server: &EmbeddedServer, user: &str, transport: TransportKind) -> Session {
    let options = LoginOptions {
        server_url: server.http_url(),
        username: user.into(),
        password: PASSWORD.into(),
        register: true,
        ca_cert: None,
        game: None,
    };
    let mut session = Session::login_over(&options, transport).expect("login");
    session.wait_connected(Duration::from_secs(10)).expect("connected");
    session
}

/// A raw WebSocket client to the game socket (no netcode).
fn raw(server: &EmbeddedServer) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(server.ws_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tungstenite::client(format!("ws://{}/ws", server.ws_addr()), stream).expect("upgrade").0
}

/// Reads until the server closes; the close code it sent, if any.
fn close_code(socket: &mut tungstenite::WebSocket<TcpStream>) -> Option<CloseCode> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Close(frame)) => return frame.map(|f: CloseFrame| f.code),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    panic!("the server kept the link open");
}

#[test]
fn a_websocket_player_and_a_udp_player_see_each_other_move() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 64);
    let mut web = join_over(&server, "webby", TransportKind::Ws);
    let mut udp = join_over(&server, "udpy", TransportKind::Udp);
    let start_web = web.world.own.unwrap().state.body.pos;
    let start_udp = udp.world.own.unwrap().state.body.pos;
    play(&mut [(&mut web, (1.0, 0.0)), (&mut udp, (0.0, 1.0))], Duration::from_millis(1500));
    let moved_web = web.world.own.unwrap().state.body.pos;
    let moved_udp = udp.world.own.unwrap().state.body.pos;
    assert!(moved_web.x - start_web.x > 100.0, "the WebSocket player walked right: {start_web:?} → {moved_web:?}");
    assert!(moved_udp.y - start_udp.y > 100.0, "the UDP player walked down: {start_udp:?} → {moved_udp:?}");
    // Each sees the other where the other's own state says it is.
    let seen = |viewer: &Session, name: &str| {
        let id = viewer.world.names.iter().find(|(_, n)| n.as_str() == name).map(|(id, _)| *id).expect(name);
        viewer.world.entities.get(&id).map(|e| e.pos).expect("in view")
    };
    let web_seen_by_udp = seen(&udp, "webby");
    let udp_seen_by_web = seen(&web, "udpy");
    assert!((web_seen_by_udp.x - moved_web.x).abs() < 20.0, "{web_seen_by_udp:?} vs {moved_web:?}");
    assert!((udp_seen_by_web.y - moved_udp.y).abs() < 20.0, "{udp_seen_by_web:?} vs {moved_udp:?}");
    assert!(metric_reaches(&server.admin_url(), "tickforge_ws_players", 1.0));
    assert!(web.rtt_ms() < 100.0, "no Nagle delay on loopback: rtt {} ms", web.rtt_ms());
}

#[test]
fn text_oversized_and_junk_messages_close_the_link_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 64);
    let mut alice = join_over(&server, "alice", TransportKind::Ws);

    // A text message: closed as unsupported data.
    let mut text = raw(&server);
    text.send(Message::text("hello")).unwrap();
    assert_eq!(close_code(&mut text), Some(CloseCode::Unsupported));
    // Bigger than any datagram: closed before it is read whole.
    let mut big = raw(&server);
    let _ = big.send(Message::binary(vec![7u8; 64 * 1024]));
    assert!(matches!(close_code(&mut big), None | Some(CloseCode::Size | CloseCode::Protocol)));
    // Junk before the handshake, fragmented or not: netcode ignores it,
    // the link stays (it could still say something valid).
    let mut junk = raw(&server);
    for len in [1usize, 2, 13, 200, 1199, 1200] {
        junk.send(Message::binary(vec![0xA5; len])).unwrap();
    }
    junk.write(Message::Frame(tungstenite::protocol::frame::Frame::message(
        vec![1u8; 300],
        tungstenite::protocol::frame::coding::OpCode::Data(tungstenite::protocol::frame::coding::Data::Binary),
        false,
    )))
    .unwrap();
    junk.write(Message::Frame(tungstenite::protocol::frame::Frame::message(
        vec![2u8; 300],
        tungstenite::protocol::frame::coding::OpCode::Data(tungstenite::protocol::frame::coding::Data::Continue),
        true,
    )))
    .unwrap();
    junk.flush().unwrap();
    assert!(metric_reaches(&server.admin_url(), "tickforge_bad_datagrams_total", 7.0), "junk counted as bad datagrams");
    assert!(metric_reaches(&server.admin_url(), r#"tickforge_ws_closed_total{reason="bad"}"#, 2.0));
    // More messages in a second than any client sends: closed.
    let mut flood = raw(&server);
    for _ in 0..400 {
        if flood.send(Message::binary(vec![0x5A; 8])).is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut flood), Some(CloseCode::Policy));
    assert!(metric_reaches(&server.admin_url(), r#"tickforge_ws_closed_total{reason="flood"}"#, 1.0));
    // Not a WebSocket at all.
    let mut garbage = TcpStream::connect(server.ws_addr()).unwrap();
    garbage.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    garbage.write_all(b"\x16\x03\x01\x00\xa5 not http at all\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 101"), "no upgrade for garbage");

    // The honest WebSocket player plays on.
    let before = alice.world.snapshots;
    play(&mut [(&mut alice, (1.0, 0.0))], Duration::from_millis(600));
    assert!(alice.world.snapshots > before + 5, "the honest player is still served");
}

/// Random frames — any opcode, length, fragmentation, masking — written
/// raw: the server never falls over, and an honest player plays through.
#[test]
fn random_frames_on_the_game_socket_harm_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 64);
    let mut alice = join_over(&server, "alice", TransportKind::Ws);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..40 {
        let mut socket = raw(&server);
        for _ in 0..(next() % 8 + 1) {
            let opcode = (next() % 16) as u8;
            let fin = next() % 4 != 0;
            let len = match next() % 4 {
                0 => next() % 126,
                1 => next() % 2000,
                2 => 1200,
                _ => next() % 70_000,
            } as usize;
            let masked = next() % 8 != 0;
            let mut frame = vec![(u8::from(fin) << 7) | opcode];
            let mask_bit = if masked { 0x80 } else { 0 };
            if len < 126 {
                frame.push(mask_bit | len as u8);
            } else if len < 65536 {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
            let mask = next().to_be_bytes();
            if masked {
                frame.extend_from_slice(&mask[..4]);
            }
            frame.extend((0..len).map(|i| (next() as u8) ^ if masked { mask[i % 4] } else { 0 }));
            if socket.get_mut().write_all(&frame).is_err() {
                break;
            }
        }
        drop(socket);
        let _ = alice.update();
    }
    let before = alice.world.snapshots;
    play(&mut [(&mut alice, (0.0, 1.0))], Duration::from_millis(600));
    assert!(alice.world.snapshots > before + 5, "the honest player is still served");
    assert!(join_over(&server, "bob", TransportKind::Ws).is_connected(), "and a newcomer gets in");
}

#[test]
fn a_flood_of_connections_is_bounded_and_the_slots_come_back() {
    let dir = tempfile::tempdir().unwrap();
    // 8 players: room for 64 links in all.
    let server = server(dir.path(), 8);
    let flood: Vec<_> = (0..64).map(|_| raw(&server)).collect();
    let refused =
        tungstenite::client(format!("ws://{}/ws", server.ws_addr()), TcpStream::connect(server.ws_addr()).unwrap());
    match refused {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("the 65th link was not refused: {:?}", other.map(|_| ())),
    }
    assert!(metric_reaches(&server.admin_url(), r#"tickforge_ws_refused_total{reason="busy"}"#, 1.0));
    drop(flood);
    // Closed links give their slots back: a player gets in.
    let deadline = Instant::now() + Duration::from_secs(5);
    let options = LoginOptions {
        server_url: server.http_url(),
        username: "latecomer".into(),
        password: PASSWORD.into(),
        register: true,
        ca_cert: None,
        game: None,
    };
    loop {
        let played = Session::login_over(&options, TransportKind::Ws)
            .and_then(|mut session| session.wait_connected(Duration::from_secs(5)));
        match played {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => panic!("no slot came back: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn the_login_names_the_websocket_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 8);
    let auth = tickforge_client::login::AuthClient::new(&server.http_url());
    let login = auth.register_and_login("named", PASSWORD).unwrap();
    assert_eq!(login.ws, vec![format!("ws://{}/ws", server.ws_addr())]);
}
