//! Real clients against a real server: two players see each other, and an
//! avatar moves only through its owner's inputs.

use std::time::{Duration, Instant};

use tickforge_client::session::{LoginOptions, Session};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;

fn join(server: &EmbeddedServer, user: &str) -> Session {
    let options = LoginOptions {
        server_url: server.http_url(),
        username: user.into(),
        password: "correct horse".into(),
        register: true,
    };
    let mut session = Session::login(&options).expect("login");
    session.wait_connected(Duration::from_secs(10)).expect("connected");
    session
}

/// Pumps both sessions for `duration`, sending the given intents every tick.
fn play(sessions: &mut [(&mut Session, (f32, f32))], duration: Duration) {
    let start = Instant::now();
    let tick = Duration::from_millis(33);
    let mut next = start;
    while start.elapsed() < duration {
        for (session, _) in sessions.iter_mut() {
            session.update(Duration::from_millis(5)).expect("session alive");
        }
        if Instant::now() >= next {
            next += tick;
            for (session, (x, y)) in sessions.iter_mut() {
                session.send_input(*x, *y).expect("send input");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn two_players_see_each_other_and_only_owners_move_avatars() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 10, orbs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (0.0, 0.0))], Duration::from_millis(500));

    let alice_start = bob.world.avatar_of("alice").expect("bob sees alice").pos;
    let bob_start = alice.world.avatar_of("bob").expect("alice sees bob").pos;
    assert_eq!(alice.world.entities.len(), 12, "10 NPCs and 2 avatars");

    // Alice walks right; Bob stands still.
    play(&mut [(&mut alice, (1.0, 0.0)), (&mut bob, (0.0, 0.0))], Duration::from_millis(1500));
    let alice_now = bob.world.avatar_of("alice").unwrap().pos;
    let bob_now = alice.world.avatar_of("bob").unwrap().pos;
    assert!(alice_now.x - alice_start.x > 150.0, "bob saw alice move right: {alice_start:?} -> {alice_now:?}");
    assert!((alice_now.y - alice_start.y).abs() < 0.01);
    assert_eq!(bob_now, bob_start, "bob's avatar moved without bob's input");

    // Now Bob walks down; Alice's own view agrees with Bob's view of her.
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (0.0, 1.0))], Duration::from_millis(1000));
    let bob_later = alice.world.avatar_of("bob").unwrap().pos;
    assert!(bob_later.y - bob_now.y > 100.0, "alice saw bob move down");
    assert!(alice.world.ack_input_seq > 0, "server acknowledges applied inputs");
    server.stop().unwrap();
}

#[test]
fn chat_is_relayed_under_the_token_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");
    alice.send_chat("hello bob");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !bob.world.chat.iter().any(|(from, text)| from == "alice" && text == "hello bob") {
        assert!(Instant::now() < deadline, "chat never arrived: {:?}", bob.world.chat);
        bob.update(Duration::from_millis(10)).unwrap();
        alice.update(Duration::from_millis(10)).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn shutdown_tells_clients_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let mut alice = join(&server, "alice");
    server.stop().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alice.world.disconnect_reason.is_none() && Instant::now() < deadline {
        let _ = alice.update(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(alice.world.disconnect_reason.as_deref(), Some("server shutting down"));
}
