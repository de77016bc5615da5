//! A walking world shared by the benchmarks: entities moving like the
//! game's NPCs (straight lines at 100 units/s, a new heading every 1–4 s)
//! or standing still, and one client's snapshot built from it.
#![allow(dead_code)]

use tickforge_arena::Move;
use tickforge_arena::sim;
use tickforge_server::game::components::ClientView;
use tickforge_server::game::replicate::{BuildScratch, Item, ReplicationConfig, build_for_client};
use tickforge_shared::protocol::NetId;
use tickforge_shared::schema::Schema;
use tickforge_shared::sim::Simulation;
use tickforge_shared::sim::{Body, Vec2};
use tickforge_shared::snapshot::Known;

pub const TICK_RATE: f32 = 30.0;
pub const DT: f32 = 1.0 / TICK_RATE;
/// UDP + IPv4 headers, netcode header and MAC, renet packet header.
pub const WIRE_OVERHEAD_PER_PACKET: usize = 28 + 25 + 6;

/// Entities walking or standing.
pub struct World {
    pub bodies: Vec<Body>,
    headings: Vec<(f32, u32)>,
    moving: bool,
    /// Walk off one side of the arena, come back in on the other (so a
    /// scattered world stays evenly spread rather than piling up on the
    /// walls).
    wrap: bool,
    t: u32,
    rng: u64,
}

impl World {
    pub fn new(n: u32, moving: bool) -> Self {
        let bodies = (0..n)
            .map(|i| Body {
                pos: Vec2::new(700.0 + (i % 30) as f32 * 20.0, 700.0 + (i / 30) as f32 * 20.0),
                vel: Vec2::ZERO,
            })
            .collect();
        Self { bodies, headings: vec![(0.0, 0); n as usize], moving, wrap: false, t: 0, rng: 0x9E37_79B9_7F4A_7C15 }
    }

    /// `n` entities walking, scattered over the arena's whole 2000 × 2000
    /// (so the density, and the count in a view, holds as they walk).
    pub fn scattered(n: u32) -> Self {
        let mut world = Self { wrap: true, ..Self::new(n, true) };
        for i in 0..world.bodies.len() {
            world.bodies[i].pos = Vec2::new(world.random() * 2000.0, world.random() * 2000.0);
        }
        world
    }

    fn random(&mut self) -> f32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn step(&mut self) {
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
            self.bodies[i] = sim::step(self.bodies[i], Move::new(angle.cos() * 0.4, angle.sin() * 0.4), DT);
            if self.wrap {
                let pos = &mut self.bodies[i].pos;
                (pos.x, pos.y) = ((pos.x - 10.0).rem_euclid(1980.0) + 10.0, (pos.y - 10.0).rem_euclid(1980.0) + 10.0);
            }
        }
    }

    pub fn items(&self) -> Vec<Item> {
        self.bodies
            .iter()
            .enumerate()
            .map(|(i, b)| Item { known: Known::new(NetId(i as u32 + 1), tickforge_arena::NPC, b.pos), pos: b.pos })
            .collect()
    }
}

/// One client's view of a [`World`], snapshot after snapshot, with acks
/// arriving a few ticks late.
pub struct Viewer {
    pub schema: Schema,
    pub view: ClientView,
    pub config: ReplicationConfig,
    scratch: BuildScratch,
    pub tick: u32,
    pub ack_lag: u32,
}

impl Viewer {
    pub fn new(config: ReplicationConfig, ack_lag: u32) -> Self {
        Self {
            schema: tickforge_arena::ArenaSim::schema(),
            view: ClientView::default(),
            config,
            scratch: BuildScratch::default(),
            tick: 0,
            ack_lag,
        }
    }

    /// Builds the next snapshot from `near`; returns (baseline tick, payload).
    pub fn build(&mut self, near: &[Item]) -> (Option<u32>, Vec<u8>) {
        self.tick += 1;
        let (baseline, target, payload) = build_for_client(
            &self.schema,
            &mut self.view,
            self.tick,
            NetId(0),
            Vec2::new(1000.0, 1000.0),
            near,
            &mut self.scratch,
            &self.config,
        );
        self.view.remember(self.tick, target);
        if self.tick > self.ack_lag {
            self.view.acked = Some(self.tick - self.ack_lag);
        }
        (baseline, payload)
    }
}
