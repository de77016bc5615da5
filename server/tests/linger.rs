//! A player whose link goes dark for longer than the timeout: its avatar
//! stays in the world, idle, for the grace period (`linger`), and the
//! client — coming back by itself with its resume token — gets exactly
//! that avatar back; after the grace period the avatar goes and the saved
//! state loads. A second player on a link of its own watches.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tickforge_client::session::{LoginOptions, Session};
use tickforge_netem::{Preset, Proxy};
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::net::identity::Identity;
use tickforge_server::net::token::TokenIssuer;
use tickforge_server::secrets::PrivateKey;
use tickforge_shared::sim::Vec2;

struct Setup {
    server: EmbeddedServer,
    proxy: Proxy,
    _watcher_link: Proxy,
    _dir: tempfile::TempDir,
    /// Plays through the proxy (the link that goes dark).
    player: Session,
    /// Watches on a direct link.
    watcher: Session,
}

fn setup(linger: Duration) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::from_hex(&"7a".repeat(32)).unwrap();
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = Config {
        npcs: 0,
        orbs: 0,
        linger,
        // The watcher sees the whole world.
        replication: tickforge_server::game::replicate::ReplicationConfig { view_radius: 5000.0, ..Default::default() },
        public_addr: Some(listen.local_addr().unwrap()),
        private_key: Some(key.clone()),
        ..Config::ephemeral(dir.path())
    };
    let server = EmbeddedServer::start(config).unwrap();
    let lan = Preset::Lan.profile();
    let proxy = Proxy::start(listen, server.udp_addr(), lan, lan, 3).unwrap();
    let options = LoginOptions {
        server_url: server.http_url(),
        username: "walker".into(),
        password: common::PASSWORD.into(),
        register: true,
        ca_cert: None,
        game: None,
    };
    let mut player = Session::login(&options).unwrap();
    player.wait_connected(Duration::from_secs(10)).unwrap();
    // The watcher has a link of its own: a second proxy, first in its token
    // (the server's public address must be in the list too).
    let listen2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let watcher_addr = listen2.local_addr().unwrap();
    let watcher_link = Proxy::start(listen2, server.udp_addr(), lan, lan, 4).unwrap();
    let registered =
        common::post(&format!("{}/v1/register", server.http_url()), &common::creds("watcher", common::PASSWORD), None);
    assert_eq!(registered.status, 201);
    let account_id = registered.json()["account_id"].as_u64().unwrap();
    let tokens = TokenIssuer::new(key, Duration::from_secs(30), 10);
    let token =
        tokens.issue(&Identity { account_id, name: "watcher".into() }, &[watcher_addr, proxy.local_addr()]).unwrap();
    let mut watcher = Session::connect(&token.bytes).unwrap();
    watcher.wait_connected(Duration::from_secs(10)).unwrap();
    Setup { server, proxy, _watcher_link: watcher_link, _dir: dir, player, watcher }
}

/// Pumps both for `secs`, the player walking right; returns where the
/// watcher saw the walker each time it looked.
fn pump(s: &mut Setup, secs: f32, walk: bool) -> Vec<Option<Vec2>> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs_f32(secs) {
        let _ = s.player.update();
        s.player.send_input(if walk { 1.0 } else { 0.0 }, 0.0);
        let _ = s.watcher.update();
        s.watcher.send_input(0.0, 0.0);
        seen.push(s.watcher.world.avatar_of("walker").map(|e| e.pos));
        std::thread::sleep(Duration::from_millis(10));
    }
    seen
}

/// Pumps until the player has come back by itself (once); its own position then.
fn come_back(s: &mut Setup) -> Vec2 {
    let start = Instant::now();
    while !(s.player.reconnects == 1 && s.player.world.own.is_some()) {
        assert!(start.elapsed() < Duration::from_secs(20), "the player came back by itself");
        pump(s, 0.1, false);
    }
    s.player.world.own.unwrap().state.body.pos
}

#[test]
fn back_within_the_grace_period_the_avatar_that_waited_is_exactly_as_it_was() {
    let mut s = setup(Duration::from_secs(15));
    pump(&mut s, 1.0, true);
    pump(&mut s, 0.5, false);
    s.proxy.blackout(true, true);
    // 13 s dark: the server gives the connection up after 10 s.
    let dark = pump(&mut s, 13.0, false);
    assert!(dark.iter().all(Option::is_some), "the watcher never saw the walker leave");
    let waited = dark.last().copied().flatten().unwrap();
    s.proxy.blackout(false, false);
    let back = come_back(&mut s);
    // The watcher sees positions on the snapshot grid (0.25 units).
    assert!(back.distance(waited) < 0.18, "exactly the avatar that waited: {back:?} vs {waited:?}");
    let still = pump(&mut s, 1.0, false);
    assert!(still.iter().all(Option::is_some));
    drop(s.server);
}

#[test]
fn after_the_grace_period_the_avatar_goes_and_the_saved_state_loads() {
    let mut s = setup(Duration::from_secs(2));
    pump(&mut s, 1.0, true);
    pump(&mut s, 0.5, false);
    s.proxy.blackout(true, true);
    // 10-s timeout + 2-s grace, then some.
    let dark = pump(&mut s, 15.0, false);
    assert!(dark.last().unwrap().is_none(), "the avatar left once the grace period was over");
    let last_seen = dark.iter().rev().find_map(|p| *p).unwrap();
    s.proxy.blackout(false, false);
    let back = come_back(&mut s);
    assert!(back.distance(last_seen) < 0.18, "the state saved when it left: {back:?} vs {last_seen:?}");
}

/// Five seconds dark — less than the server's timeout: the client gives the
/// silent link up by itself, resumes, and its new connection replaces the
/// old one, so it gets back the very avatar it left (same id, same place),
/// which the watcher never saw go. One reconnect.
#[test]
fn a_blackout_shorter_than_the_timeout_is_one_reconnect_onto_the_same_avatar() {
    let mut s = setup(Duration::from_secs(15));
    pump(&mut s, 1.0, true);
    pump(&mut s, 0.5, false);
    let avatar = s.player.world.own_entity;
    s.proxy.blackout(true, true);
    let dark = pump(&mut s, 5.0, false);
    assert!(dark.iter().all(Option::is_some), "the watcher never saw the walker leave");
    let waited = dark.last().copied().flatten().unwrap();
    s.proxy.blackout(false, false);
    let back = come_back(&mut s);
    // The watcher sees positions on the snapshot grid (0.25 units): within
    // half its diagonal of the exact one.
    assert!(back.distance(waited) < 0.18, "exactly the avatar that waited: {back:?} vs {waited:?}");
    assert_eq!(s.player.world.own_entity, avatar, "the same avatar, not a new one");
    let still = pump(&mut s, 1.0, false);
    assert!(still.iter().all(Option::is_some));
    assert_eq!(s.player.reconnects, 1);
    drop(s.server);
}
