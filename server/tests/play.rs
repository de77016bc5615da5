//! Real clients against a real server: two players see each other, and an
//! avatar moves only through its owner's inputs.

mod common;

use std::time::Duration;

use common::{join, play, pump_until};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::game::replicate::ReplicationConfig;

/// A view radius covering the whole world, so both players always see each other.
fn whole_world() -> ReplicationConfig {
    ReplicationConfig { view_radius: 5000.0, ..ReplicationConfig::default() }
}

#[test]
fn two_players_see_each_other_and_only_owners_move_avatars() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config {
        npcs: 10,
        orbs: 0,
        replication: whole_world(),
        ..Config::ephemeral(dir.path())
    })
    .unwrap();
    let mut alice = join(&server.http_url(), "alice");
    let mut bob = join(&server.http_url(), "bob");
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
    let mut alice = join(&server.http_url(), "alice");
    let mut bob = join(&server.http_url(), "bob");
    alice.send_chat("hello bob");
    alice.update().unwrap();
    let arrived = pump_until(&mut bob, Duration::from_secs(5), |b| {
        b.world.chat.iter().any(|(from, text)| from == "alice" && text == "hello bob")
    });
    assert!(arrived, "chat never arrived: {:?}", bob.world.chat);
}

#[test]
fn shutdown_tells_clients_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(Config { npcs: 0, ..Config::ephemeral(dir.path()) }).unwrap();
    let mut alice = join(&server.http_url(), "alice");
    server.stop().unwrap();
    pump_until(&mut alice, Duration::from_secs(5), |a| a.world.disconnect_reason.is_some());
    assert_eq!(alice.world.disconnect_reason.as_deref(), Some("server shutting down"));
}
