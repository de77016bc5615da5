//! Snapshot cost benchmark: prints bits per entity update, bytes per client
//! per second against a naive full-state encoding of the same world, and
//! the CPU time to build one client's snapshot.
//!
//! Run: `cargo bench -p tickforge-server --bench snapshot`

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;
use tickforge_server::game::components::ClientView;
use tickforge_server::game::replicate::{Item, ReplicationConfig, build_for_client};
use tickforge_shared::codec;
use tickforge_shared::protocol::{EntityKind, NetId, OwnState, ServerMessage, Snapshot};
use tickforge_shared::sim::{self, Body, Intent, Vec2};
use tickforge_shared::snapshot::Known;

const TICK_RATE: f32 = 30.0;
const DT: f32 = 1.0 / TICK_RATE;
/// UDP + IPv4 headers, netcode header and MAC, renet packet header.
const WIRE_OVERHEAD_PER_PACKET: usize = 28 + 25 + 6;

/// Entities walking like the game's NPCs (straight lines at 100 units/s,
/// a new heading every 1–4 s) or standing still.
struct World {
    bodies: Vec<Body>,
    headings: Vec<(f32, u32)>,
    moving: bool,
    t: u32,
    rng: u64,
}

impl World {
    fn new(n: u32, moving: bool) -> Self {
        let bodies = (0..n)
            .map(|i| Body {
                pos: Vec2::new(700.0 + (i % 30) as f32 * 20.0, 700.0 + (i / 30) as f32 * 20.0),
                vel: Vec2::ZERO,
            })
            .collect();
        Self { bodies, headings: vec![(0.0, 0); n as usize], moving, t: 0, rng: 0x9E37_79B9_7F4A_7C15 }
    }

    fn random(&mut self) -> f32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 40) as f32 / (1u64 << 24) as f32
    }

    fn step(&mut self) {
        self.t += 1;
        if !self.moving {
            return;
        }
        for i in 0..self.bodies.len() {
            if self.headings[i].1 == 0 {
                let angle = self.random() * std::f32::consts::TAU;
                let ticks = 30 + (self.random() * 90.0) as u32;
                self.headings[i] = (angle, ticks);
            }
            let (angle, left) = self.headings[i];
            self.headings[i].1 = left - 1;
            self.bodies[i] = sim::step(self.bodies[i], Intent::new(angle.cos() * 0.4, angle.sin() * 0.4), DT);
        }
    }

    fn items(&self) -> Vec<Item> {
        self.bodies
            .iter()
            .enumerate()
            .map(|(i, b)| Item { known: Known::new(NetId(i as u32 + 1), EntityKind::Npc, b.pos), pos: b.pos })
            .collect()
    }
}

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
    let config = ReplicationConfig { view_radius: 5000.0, every_ticks: 1, budget_bytes: 4000 };
    let mut view = ClientView::default();
    let mut contenders = Vec::new();
    let (mut bits, mut bytes, mut wire) = (0usize, 0usize, 0usize);
    let warmup = 40;
    for tick in 1..=ticks + warmup {
        world.step();
        let mut near = world.items();
        let (baseline, target, payload) =
            build_for_client(&mut view, tick, NetId(0), Vec2::new(1000.0, 1000.0), &mut near, &mut contenders, &config);
        view.history.push_back((tick, target));
        if view.history.len() > ClientView::HISTORY {
            view.history.pop_front();
        }
        if tick > ack_lag {
            view.acked = Some(tick - ack_lag);
        }
        let exact_bits = tickforge_shared::snapshot::encode(
            view.history.iter().find(|(t, _)| Some(*t) == baseline).map_or(&[][..], |(_, s)| s.as_slice()),
            baseline.unwrap_or(0),
            &view.history.back().map(|h| h.1.clone()).unwrap_or_default(),
            tick,
        )
        .1;
        let message = ServerMessage::Snapshot(Snapshot {
            tick,
            baseline_tick: baseline,
            ack_input_seq: tick,
            your_score: 3,
            own: Some(OwnState { id: NetId(0), pos: Vec2::new(1000.0, 1000.0), vel: Vec2::ZERO }),
            payload: payload.clone(),
        });
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

fn time_build(n: u32) -> Duration {
    let mut world = World::new(n, true);
    let config = ReplicationConfig { view_radius: 5000.0, every_ticks: 1, budget_bytes: 1_000_000 };
    let mut view = ClientView::default();
    let mut contenders = Vec::new();
    let iterations = if n > 500 { 400 } else { 2000 };
    let mut total = Duration::ZERO;
    for tick in 1..=iterations + 20 {
        world.step();
        let mut near = world.items();
        let started = Instant::now();
        let (_, target, payload) =
            build_for_client(&mut view, tick, NetId(0), Vec2::new(1000.0, 1000.0), &mut near, &mut contenders, &config);
        let took = started.elapsed();
        black_box(&payload);
        view.history.push_back((tick, target));
        if view.history.len() > ClientView::HISTORY {
            view.history.pop_front();
        }
        view.acked = Some(tick.saturating_sub(3).max(1));
        if tick > 20 {
            total += took;
        }
    }
    total / iterations
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
    for n in [100, 1000] {
        let t = time_build(n);
        println!("build one client's snapshot, {n:>4} visible moving: {:.1} µs", t.as_secs_f64() * 1e6);
    }
}
