//! A transfer token, as a draining server seals it: the target starts the
//! player from the state the token carries — at once, without the saved
//! state (there is none here) — and the token works once.

mod common;

use std::time::Duration;

use tickforge_client::session::Session;
use tickforge_server::Config;
use tickforge_server::embedded::EmbeddedServer;
use tickforge_server::net::identity::{Carried, Identity};
use tickforge_server::net::token::TokenIssuer;
use tickforge_server::secrets::PrivateKey;
use tickforge_shared::sim::Vec2;

#[test]
fn a_transfer_token_starts_the_state_it_carries_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::from_hex(&"5b".repeat(32)).unwrap();
    let config = Config { npcs: 0, orbs: 0, private_key: Some(key.clone()), ..Config::ephemeral(dir.path()) };
    let server = EmbeddedServer::start(config).unwrap();
    let registered =
        common::post(&format!("{}/v1/register", server.http_url()), &common::creds("mover", common::PASSWORD), None);
    assert_eq!(registered.status, 201);
    let account_id = registered.json()["account_id"].as_u64().unwrap();
    let tokens = TokenIssuer::new(key, Duration::from_secs(30), 10);
    let document = r#"{"x":321.5,"y":654.25,"vx":40.0,"vy":-20.0,"score":3}"#.to_owned();
    let carried = Carried { epoch: 7, document };
    let identity = Identity { account_id, name: "mover".into() };
    let token = tokens.issue_carrying(&identity, Some(&carried), &[server.udp_addr()]).unwrap();

    let mut first = Session::connect(&token.bytes).unwrap();
    first.wait_connected(Duration::from_secs(10)).expect("the carried player is let in");
    let own = first.world.own.expect("its own state");
    assert_eq!(
        (own.state.body.pos, own.state.body.vel),
        (Vec2::new(321.5, 654.25), Vec2::new(40.0, -20.0)),
        "exactly what the token carried"
    );
    assert_eq!(first.world.state_age, Duration::ZERO, "a handed-over state is live, not a save");
    first.disconnect();
    drop(first);

    let mut again = Session::connect(&token.bytes).unwrap();
    let replay = again.wait_connected(Duration::from_secs(3));
    assert!(replay.is_err() && again.world.own.is_none(), "a used transfer token lets nobody in again");
}
