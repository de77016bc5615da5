//! Snapshot size benchmark: prints bits per entity update and bytes per
//! client per second against a naive full-state encoding of the same world.
//! (Build time is measured by the `hot_paths` criterion bench.)
//!
//! Run: `cargo bench -p tickforge-server --bench snapshot`

mod common;

use common::{TICK_RATE, Viewer, WIRE_OVERHEAD_PER_PACKET, World};
use serde::Serialize;
use tickforge_arena::ArenaState;
use tickforge_server::game::replicate::ReplicationConfig;
use tickforge_shared::codec;
use tickforge_shared::protocol::{NetId, OwnState, Snapshot};
use tickforge_shared::sim::{Body, Vec2};

/// What a naive server sends: every entity's full state, bincode.
#[derive(Serialize)]
struct NaiveEntity {
    id: u32,
    kind: u8,
    pos: (f32, f32),
    vel: (f32, f32),
}

fn naive_bytes(world: &World) -> usize {
    let entities: Vec<NaiveEntity> = world
        .bodies
        .iter()
        .enumerate()
        .map(|(i, b)| NaiveEntity { id: i as u32 + 1, kind: 1, pos: (b.pos.x, b.pos.y), vel: (b.vel.x, b.vel.y) })
        .collect();
    codec::encode(&(0u32, 0u32, entities)).map(|b| b.len()).unwrap_or(0)
}

/// Runs `ticks` snapshots with acks arriving `ack_lag` ticks late; returns
/// (average payload bits, average message bytes, average wire bytes).
/// Payload bits are counted exactly (before byte padding).
fn measure(world: &mut World, ticks: u32, ack_lag: u32) -> (f64, f64, f64) {
    let mut viewer =
        Viewer::new(ReplicationConfig { view_radius: 5000.0, every_ticks: 1, budget_bytes: 4000 }, ack_lag);
    let (mut bits, mut bytes, mut wire) = (0usize, 0usize, 0usize);
    let warmup = 40;
    for _ in 1..=ticks + warmup {
        world.step();
        let near = world.items();
        let (baseline, payload) = viewer.build(&near);
        let tick = viewer.tick;
        let history = &viewer.view.history;
        let exact_bits = tickforge_shared::snapshot::encode(
            &viewer.schema,
            history.iter().find(|(t, _)| Some(*t) == baseline).map_or(&[][..], |(_, s)| s.as_slice()),
            baseline.unwrap_or(0),
            &history.back().map(|h| h.1.clone()).unwrap_or_default(),
            tick,
        )
        .1;
        let body = Body { pos: Vec2::new(1000.0, 1000.0), vel: Vec2::ZERO };
        let message = Snapshot {
            tick,
            baseline_tick: baseline,
            ack_input_seq: tick,
            own: Some(OwnState { id: NetId(0), state: ArenaState { body, score: 3 } }),
            payload,
        };
        let len = codec::encode(&message).map(|b| b.len()).unwrap_or(0);
        if tick > warmup {
            bits += exact_bits;
            bytes += len;
            wire += len + WIRE_OVERHEAD_PER_PACKET;
        }
    }
    let n = f64::from(ticks);
    (bits as f64 / n, bytes as f64 / n, wire as f64 / n)
}

fn main() {
    let entities = 100;
    println!(
        "Snapshot benchmark: {entities} visible entities at {TICK_RATE} Hz, walking like the game's NPCs (100 units/s)\n"
    );
    for ack_lag in [2, 6, 12] {
        let mut moving = World::new(entities, true);
        let (bits, bytes, wire) = measure(&mut moving, 300, ack_lag);
        let naive = naive_bytes(&moving) as f64 + 12.0;
        let mut idle = World::new(entities, false);
        let (idle_bits, _, _) = measure(&mut idle, 300, ack_lag);
        let rtt = f64::from(ack_lag) * 1000.0 / f64::from(TICK_RATE);
        let kbit = |b: f64| b * f64::from(TICK_RATE) * 8.0 / 1000.0;
        println!("acks {ack_lag} ticks late (RTT about {rtt:.0} ms):");
        println!("  moving entity update:   {:.1} bits", (bits - 8.0) / f64::from(entities));
        println!("  idle entity:            {:.2} bits", (idle_bits - 8.0) / f64::from(entities));
        println!("  snapshot message:       {bytes:.0} bytes, {:.1} kbit/s per client", kbit(bytes));
        println!("  with UDP/IP, netcode and renet headers: {wire:.0} bytes, {:.1} kbit/s", kbit(wire));
        println!(
            "  naive full state:       {naive:.0} bytes, {:.1} kbit/s; naive / delta = {:.1}x",
            kbit(naive),
            naive / bytes
        );
        println!();
    }
    println!("(snapshot build time: `cargo bench -p tickforge-server --bench hot_paths`)");
}
