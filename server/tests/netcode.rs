//! Netcode under realistic conditions: interest management, and two players
//! through the link conditioner with loss, duplication and reordering.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{join, play};
use tickforge_netem::{Profile, Proxy};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::game::replicate::ReplicationConfig;
use tickforge_server::secrets::AdminToken;

const TOKEN: &str = "netcode-test-admin-token";

#[test]
fn an_entity_is_sent_when_it_enters_range_and_removed_when_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let replication = ReplicationConfig { view_radius: 300.0, ..ReplicationConfig::default() };
    let config = Config { npcs: 0, orbs: 0, replication, ..Config::ephemeral(dir.path()) };
    let server = EmbeddedServer::start(config).unwrap();
    // Accounts 1 and 2 appear about 25 units apart.
    let mut alice = join(&server.http_url(), "alice");
    let mut bob = join(&server.http_url(), "bob");
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (0.0, 0.0))], Duration::from_millis(400));
    assert!(bob.world.avatar_of("alice").is_some(), "in range at the start");

    // Bob walks 2 s left (about 500 units): Alice leaves his view.
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (-1.0, 0.0))], Duration::from_millis(2000));
    let gap = bob.world.own_state().unwrap().pos.distance(alice.world.own_state().unwrap().pos);
    assert!(gap > 350.0, "bob walked away: {gap}");
    assert!(bob.world.avatar_of("alice").is_none(), "removed once out of range ({gap} units)");
    assert!(alice.world.avatar_of("bob").is_none(), "and the other way round");

    // And back: she enters again.
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (1.0, 0.0))], Duration::from_millis(2000));
    assert!(bob.world.avatar_of("alice").is_some(), "sent again once back in range");
    assert_eq!(bob.world.bad_snapshots, 0);
}

#[test]
fn two_players_see_each_other_move_through_a_lossy_reordering_link() {
    let dir = tempfile::tempdir().unwrap();
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = Config {
        npcs: 20,
        orbs: 0,
        public_addr: Some(listen.local_addr().unwrap()),
        // They walk apart; keep both in each other's view throughout.
        replication: ReplicationConfig { view_radius: 5000.0, ..ReplicationConfig::default() },
        admin_token: Some(AdminToken::new(TOKEN.into()).unwrap()),
        ..Config::ephemeral(dir.path())
    };
    let server = EmbeddedServer::start(config).unwrap();
    let link = Profile {
        delay: Duration::from_millis(30),
        jitter: Duration::from_millis(10),
        loss: 0.10,
        duplicate: 0.03,
        reorder: 0.05,
    };
    let mut proxy = Proxy::start(listen, server.udp_addr(), link, link, 7).unwrap();

    let mut alice = join(&server.http_url(), "alice");
    let mut bob = join(&server.http_url(), "bob");
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (0.0, 0.0))], Duration::from_millis(600));
    let alice_start = bob.world.avatar_of("alice").expect("bob sees alice").pos;
    let bob_start = alice.world.avatar_of("bob").expect("alice sees bob").pos;

    play(&mut [(&mut alice, (1.0, 0.0)), (&mut bob, (0.0, 1.0))], Duration::from_millis(2000));
    play(&mut [(&mut alice, (0.0, 0.0)), (&mut bob, (0.0, 0.0))], Duration::from_millis(600));
    let alice_now = bob.world.avatar_of("alice").unwrap().pos;
    let bob_now = alice.world.avatar_of("bob").unwrap().pos;
    assert!(alice_now.x - alice_start.x > 200.0, "bob saw alice go right: {alice_start:?} -> {alice_now:?}");
    assert!(bob_now.y - bob_start.y > 200.0, "alice saw bob go down: {bob_start:?} -> {bob_now:?}");
    // Each agrees with the other about where they stopped.
    assert!(alice_now.distance(alice.world.own_state().unwrap().pos) < 0.2);
    assert!(bob_now.distance(bob.world.own_state().unwrap().pos) < 0.2);
    let stats = proxy.stats();
    assert!(stats.lost.load(std::sync::atomic::Ordering::Relaxed) > 0, "the link did drop packets");
    // Honest players on a bad link are never flagged as cheaters.
    let players = common::get(&format!("{}/admin/players", server.admin_url()), Some(TOKEN)).json();
    let rows = players["players"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["flags"] == 0), "{players}");
    proxy.stop();
}
