//! Writes seed corpora of valid inputs for every fuzz target:
//! `cargo run --bin seeds` (from `fuzz/`).

use std::fs;
use std::path::Path;

use tickforge_shared::codec;
use tickforge_shared::protocol::{ClientMessage, InputCmd, NetId, OwnState, PlayerInfo, ServerMessage, Snapshot};
use tickforge_shared::sim::Vec2;
use tickforge_shared::snapshot::{self, Known};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let input =
        ClientMessage::Input { ack_tick: 9, inputs: vec![InputCmd { seq: 1, tick: 9, move_x: 1.0, move_y: 0.0 }; 4] };
    write("client_message", "input", &codec::encode(&input).unwrap());
    write("client_message", "chat", &codec::encode(&ClientMessage::Chat { text: "hello".into() }).unwrap());

    let set: Vec<Known> = (1..30)
        .map(|i| Known::new(NetId(i), tickforge_shared::protocol::EntityKind::Npc, Vec2::new(i as f32 * 10.0, 5.0)))
        .collect();
    let (full, _) = snapshot::encode(&[], 0, &set, 1);
    write("snapshot", "full", &full);
    let moved: Vec<Known> = set.iter().map(|k| Known { qx: k.qx + 3, ..*k }).collect();
    let (delta, _) = snapshot::encode(&set, 1, &moved, 3);
    write("snapshot", "delta", &delta);

    let snap = ServerMessage::Snapshot(Snapshot {
        tick: 3,
        baseline_tick: Some(1),
        ack_input_seq: 2,
        your_score: 1,
        own: Some(OwnState { id: NetId(99), pos: Vec2::new(1.0, 2.0), vel: Vec2::ZERO }),
        payload: delta,
    });
    write("server_message", "snapshot", &codec::encode(&snap).unwrap());
    let welcome = ServerMessage::Welcome {
        your_entity: NetId(3),
        account_id: 1,
        tick: 5,
        tick_rate: 30,
        players: vec![PlayerInfo { id: NetId(3), name: "alice".into() }],
    };
    write("server_message", "welcome", &codec::encode(&welcome).unwrap());

    // renet packets: a full-size reliable slice, a small unreliable input packet, an ack.
    let mut slice = vec![2, 1, 0, 0, 0, 2, 0x44, 0xB0];
    slice.extend_from_slice(&[0xAB; 1200]);
    write("payload_guard", "full_slice", &slice);
    let mut small = vec![1, 5, 2, 0, 1];
    let body = codec::encode(&input).unwrap();
    small.push(body.len() as u8);
    small.extend_from_slice(&body);
    write("payload_guard", "small_unreliable", &small);
    write("payload_guard", "ack", &[4, 3, 2, 1, 0]);

    // netcode: the first byte picks pending (even) or connected (odd).
    let mut payload_packet = vec![1u8, 0x15, 7];
    payload_packet.extend_from_slice(&[0; 40]);
    write("netcode_datagram", "payload_connected", &payload_packet);
    let mut keep_alive = vec![0u8, 0x14, 1];
    keep_alive.extend_from_slice(&[0; 24]);
    write("netcode_datagram", "keep_alive_pending", &keep_alive);

    write("login_body", "ok", br#"{"username":"alice","password":"correct horse"}"#);
    write("login_body", "fullwidth", "{\"username\":\"ａｌｉｃｅ\",\"password\":\"x\"}".as_bytes());
    write("connect_token", "short", &[1, 0, 0, 0, 0, 0, 0, 0]);
    println!("seed corpora written under fuzz/corpus/");
}
