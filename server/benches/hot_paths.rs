//! Criterion benchmarks of the hot paths: one server tick at 1k, 10k and
//! 100k entities (and at 1k while recording a replay), one client's snapshot build at 100 and 1000 visible
//! entities, a whole tick's snapshots for 1000 clients on one and on two
//! threads, a client's decode of it, the interest grid (rebuild, and 1000
//! queries), and message
//! encode/decode.
//!
//! Run: `cargo bench -p tickforge-server --bench hot_paths`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{Viewer, World};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tickforge_arena::{ArenaState, Move};
use tickforge_server::game::replicate::ReplicationConfig;
use tickforge_server::{Config, Server};
use tickforge_shared::codec;
use tickforge_shared::protocol::{InputCmd, InputMessage, NetId, OwnState, Snapshot};
use tickforge_shared::sim::{Body, Vec2};

/// A whole tick of a real server (sockets bound, store running, no
/// players): input, simulation, replication, metrics.
fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick");
    for npcs in [1_000u32, 10_000, 100_000] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server::bind(Config { npcs, orbs: 0, ..Config::ephemeral(dir.path()) }, false).expect("bind");
        group.bench_with_input(BenchmarkId::from_parameter(npcs), &npcs, |b, _| b.iter(|| server.step()));
    }
    group.finish();
    // The same 1000-entity tick while recording a replay.
    let dir = tempfile::tempdir().expect("temp dir");
    let record = Some(dir.path().join("bench.replay"));
    let mut server =
        Server::bind(Config { npcs: 1000, orbs: 0, record, ..Config::ephemeral(dir.path()) }, false).expect("bind");
    c.bench_function("tick_recording/1000", |b| b.iter(|| server.step()));
}

/// `visible` entities walking and one client that has seen twenty
/// snapshots of them (everything in view, no budget limit, acks 3 ticks late).
fn warmed(visible: u32) -> (World, Viewer) {
    let mut world = World::new(visible, true);
    let config = ReplicationConfig { view_radius: 5000.0, every_ticks: 1, budget_bytes: 1_000_000 };
    let mut viewer = Viewer::new(config, 3);
    for _ in 0..20 {
        world.step();
        viewer.build(&world.items());
    }
    (world, viewer)
}

/// One client's snapshot: interest set, priorities, delta against an
/// acknowledged baseline (acks 3 ticks late), entities walking.
fn snapshot_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_build");
    for visible in [100u32, 1000] {
        let (mut world, mut viewer) = warmed(visible);
        group.bench_with_input(BenchmarkId::from_parameter(visible), &visible, |b, _| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    world.step();
                    let near = world.items();
                    let started = Instant::now();
                    black_box(viewer.build(&near));
                    total += started.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

/// A whole snapshot tick as the load test plays it: players and 200 NPCs
/// walking over the arena's 2000 × 2000, one client on each player, the
/// view radius holding ~100 entities (as `scripts/loadtest.sh` picks it),
/// acks 3 ticks late; the grid rebuilt and every client's snapshot built,
/// on one thread and on two ([`build_all`]'s split). Wall time per tick.
fn snapshot_tick(c: &mut Criterion) {
    use tickforge_server::game::components::ClientView;
    use tickforge_server::game::replicate::{Grid, SnapshotJob, WorkerScratch, build_all};
    let schema = <tickforge_arena::ArenaSim as tickforge_shared::sim::Simulation>::schema();
    let mut group = c.benchmark_group("snapshot_tick");
    for (clients, radius) in [(200usize, 564.0f32), (1000, 326.0)] {
        let config = ReplicationConfig { view_radius: radius, every_ticks: 1, budget_bytes: 1000 };
        for threads in [1usize, 2] {
            let mut world = World::scattered(clients as u32 + 200);
            let mut views: Vec<ClientView> = (0..clients).map(|_| ClientView::default()).collect();
            let mut workers: [WorkerScratch; 2] = Default::default();
            let mut grid = Grid::default();
            let mut tick = 0u32;
            let mut run = |world: &mut World, tick: &mut u32| {
                world.step();
                *tick += 1;
                grid.rebuild(config.view_radius, world.items().into_iter());
                let mut jobs: Vec<SnapshotJob<'_, ()>> = views
                    .iter_mut()
                    .enumerate()
                    .map(|(c, view)| SnapshotJob {
                        own_id: NetId(c as u32 + 1),
                        own_pos: world.bodies[c].pos,
                        view,
                        tag: (),
                        out: None,
                    })
                    .collect();
                build_all(&schema, &grid, *tick, &mut jobs, &mut workers, threads, &config);
                black_box(&jobs);
                // Each payload's buffer back to its client, as the server does.
                for job in jobs {
                    if let Some((_, payload)) = job.out {
                        job.view.payload = payload;
                    }
                }
                for view in &mut views {
                    view.acked = tick.checked_sub(3).filter(|t| *t > 0);
                }
            };
            for _ in 0..20 {
                run(&mut world, &mut tick);
            }
            let id = BenchmarkId::new(format!("{clients}_clients"), format!("{threads}_threads"));
            group.bench_with_input(id, &threads, |b, _| b.iter(|| run(&mut world, &mut tick)));
        }
    }
    group.finish();
}

/// What a client does with each snapshot: decode it against its baseline
/// into the set it is about to forget (the bots' and every client's
/// hottest path), at 100 and 1000 entities in view.
fn snapshot_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_decode");
    for visible in [100u32, 1000] {
        let (mut world, mut viewer) = warmed(visible);
        let mut out = Vec::new();
        group.bench_with_input(BenchmarkId::from_parameter(visible), &visible, |b, _| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    world.step();
                    let (baseline, payload) = viewer.build(&world.items());
                    let base_tick = baseline.expect("acks arrive: a delta");
                    let (_, base) = viewer.view.history.iter().find(|(t, _)| *t == base_tick).expect("baseline kept");
                    let started = Instant::now();
                    tickforge_shared::snapshot::decode_into(
                        &viewer.schema,
                        base,
                        base_tick,
                        &payload,
                        viewer.tick,
                        &mut out,
                    )
                    .expect("decodes");
                    total += started.elapsed();
                    black_box(&out);
                }
                total
            })
        });
    }
    group.finish();
}

/// The interest query, as the 1000-player arena runs it: 1200 entities
/// spread over the world, the grid rebuilt once per tick, then one query
/// per player at the view radius the load test uses (326).
fn grid(c: &mut Criterion) {
    use tickforge_server::game::replicate::{Grid, Item};
    use tickforge_shared::snapshot::Known;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 * 2000.0
    };
    let items: Vec<Item> = (1..=1200u32)
        .map(|i| {
            let pos = Vec2::new(next(), next());
            Item { known: Known::new(NetId(i), tickforge_arena::AVATAR, pos), pos }
        })
        .collect();
    let centers: Vec<Vec2> = items.iter().take(1000).map(|i| i.pos).collect();
    let mut grid = Grid::default();
    let mut out = Vec::with_capacity(256);
    c.bench_function("grid/rebuild_1200", |b| b.iter(|| grid.rebuild(326.0, items.iter().copied())));
    grid.rebuild(326.0, items.iter().copied());
    c.bench_function("grid/1000_queries", |b| {
        b.iter(|| {
            for center in &centers {
                out.clear();
                grid.near(*center, 326.0, &mut out);
                black_box(&out);
            }
        })
    });
}

/// The messages sent every tick, through the one codec.
fn messages(c: &mut Criterion) {
    let input = InputMessage {
        ack_tick: 1000,
        inputs: (0..4)
            .map(|i| InputCmd { seq: 500 + i, tick: 1000 + i, view_lag: 100, input: Move { x: 0.6, y: -0.8 } })
            .collect(),
    };
    let body = Body { pos: Vec2::new(10.0, 20.0), vel: Vec2::new(1.0, 0.0) };
    let snapshot = Snapshot {
        tick: 1000,
        baseline_tick: Some(997),
        ack_input_seq: 500,
        own: Some(OwnState { id: NetId(3), state: ArenaState { body, score: 7 } }),
        payload: vec![0x5A; 900],
    };
    let input_bytes = codec::encode(&input).expect("encode");
    let snapshot_bytes = codec::encode(&snapshot).expect("encode");
    let mut group = c.benchmark_group("codec");
    group.bench_function("encode_input", |b| b.iter(|| codec::encode(black_box(&input))));
    group.bench_function("decode_input", |b| b.iter(|| codec::decode::<InputMessage<Move>>(black_box(&input_bytes))));
    group.bench_function("encode_snapshot", |b| b.iter(|| codec::encode(black_box(&snapshot))));
    group.bench_function("decode_snapshot", |b| {
        b.iter(|| codec::decode::<Snapshot<ArenaState>>(black_box(&snapshot_bytes)))
    });
    group.finish();
}

criterion_group!(benches, tick, snapshot_build, snapshot_tick, snapshot_decode, grid, messages);
criterion_main!(benches);
