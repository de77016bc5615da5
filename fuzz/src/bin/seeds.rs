//! Writes seed corpora of valid inputs for every fuzz target:
//! `cargo run --bin seeds` (from `fuzz/`).

use std::fs;
use std::path::Path;

use tickforge_fuzz::{PROTOCOL, sealed};
use tickforge_netcode::packet::{Kind, challenge_body, keep_alive_body};
use tickforge_shared::codec;
use tickforge_arena::{ArenaState, Move};
use tickforge_shared::protocol::{ClientMessage, InputCmd, InputMessage, NetId, OwnState, PlayerInfo, ServerMessage, Snapshot};
use tickforge_shared::sim::{Body, Simulation};
use tickforge_shared::sim::Vec2;
use tickforge_shared::snapshot::{self, Known};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let input = InputMessage { ack_tick: 9, inputs: vec![InputCmd { seq: 1, tick: 9, view_lag: 48, input: Move::new(1.0, 0.0) }; 4] };
    write("client_message", "input", &codec::encode(&input).unwrap());
    write("client_message", "chat", &codec::encode(&ClientMessage::Chat { seq: 1, text: "hello".into() }).unwrap());

    let set: Vec<Known> = (1..30)
        .map(|i| Known::new(NetId(i), tickforge_arena::NPC, Vec2::new(i as f32 * 10.0, 5.0)))
        .collect();
    let schema = tickforge_arena::ArenaSim::schema();
    let (full, _) = snapshot::encode(&schema, &[], 0, &set, 1);
    write("snapshot", "full", &full);
    let moved: Vec<Known> = set.iter().map(|k| Known { qx: k.qx + 3, ..*k }).collect();
    let (delta, _) = snapshot::encode(&schema, &set, 1, &moved, 3);
    write("snapshot", "delta", &delta);

    let snap = Snapshot {
        tick: 3,
        baseline_tick: Some(1),
        ack_input_seq: 2,
        own: Some(OwnState {
            id: NetId(99),
            state: ArenaState { body: Body { pos: Vec2::new(1.0, 2.0), vel: Vec2::ZERO }, score: 1 },
        }),
        payload: delta,
    };
    write("server_message", "snapshot", &codec::encode(&snap).unwrap());
    let welcome = ServerMessage::Welcome {
        your_entity: NetId(3),
        account_id: 1,
        tick: 5,
        tick_rate: 30,
        players: vec![PlayerInfo { id: NetId(3), name: "alice".into() }],
        state_age_ms: 0,
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

    // netcode, sealed with the fixture's keys. The first byte picks the
    // side and state: 0 server/pending, 1 server/connected, 2 client/connecting, 3 client/connected.
    let tagged = |which: u8, packet: Vec<u8>| [vec![which], packet].concat();
    let mut request = [0u8; tickforge_netcode::MAX_PACKET_BYTES];
    let token = tickforge_fuzz::token();
    let len = tickforge_netcode::packet::write_request(
        &mut request,
        PROTOCOL,
        token.expire_timestamp,
        &token.xnonce,
        &token.private_data,
    );
    write("netcode_datagram", "request", &tagged(0, request[..len].to_vec()));
    let response = challenge_body(1, &[0x5A; 300]);
    write("netcode_datagram", "response", &tagged(0, sealed(Kind::Response, 1, &response, true)));
    write("netcode_datagram", "keep_alive", &tagged(1, sealed(Kind::KeepAlive, 1, &keep_alive_body(0, 8), true)));
    write("netcode_datagram", "disconnect", &tagged(1, sealed(Kind::Disconnect, 2, &[], true)));
    write("netcode_datagram", "payload_small", &tagged(1, sealed(Kind::Payload, 3, &small, true)));
    write("netcode_datagram", "payload_full_slice", &tagged(1, sealed(Kind::Payload, 4, &slice, true)));
    write("netcode_datagram", "payload_top_sequence", &tagged(1, sealed(Kind::Payload, u64::MAX - 1, &small, true)));
    write("netcode_datagram", "challenge", &tagged(2, sealed(Kind::Challenge, 1 << 63, &response, false)));
    write("netcode_datagram", "denied", &tagged(2, sealed(Kind::Denied, (1 << 63) + 1, &[], false)));
    write("netcode_datagram", "server_payload", &tagged(3, sealed(Kind::Payload, 5, &slice, false)));
    write("netcode_datagram", "server_disconnect", &tagged(3, sealed(Kind::Disconnect, 6, &[], false)));
    write("connect_token", "token", &token.to_bytes().unwrap());
    write("connect_token", "request", &request[..len]);

    write("login_body", "ok", br#"{"username":"alice","password":"correct horse"}"#);
    write("login_body", "fullwidth", "{\"username\":\"ａｌｉｃｅ\",\"password\":\"x\"}".as_bytes());
    write("connect_token", "short", &[1, 0, 0, 0, 0, 0, 0, 0]);
    // A short replay, finished (with its index) and cut off mid-frame.
    let header = tickforge_shared::replay::Header {
        protocol_id: tickforge_shared::protocol::PROTOCOL_ID,
        game: "arena".into(),
        schema: schema.clone(),
        tick_rate: 30,
        world: (2000.0, 2000.0),
        started_unix_ms: 0,
        server_build: "seed".into(),
        keyframe_every: 10,
    };
    let mut writer = tickforge_shared::replay::Writer::new(Vec::new(), &header).unwrap();
    for tick in 1..=25u32 {
        let moved: Vec<Known> = set.iter().map(|k| Known { qx: k.qx + tick as u16, ..*k }).collect();
        let events = if tick == 3 {
            vec![tickforge_shared::replay::Event::Chat { from: "a".into(), text: "hi".into() }]
        } else {
            vec![]
        };
        writer.push(tick, moved, events).unwrap();
    }
    let replay = writer.finish().unwrap();
    write("replay", "finished", &replay);
    write("replay", "cut", &replay[..replay.len() * 2 / 3]);
    println!("seed corpora written under fuzz/corpus/");
}
