//! Replay figures: file size per hour at 200 moving entities and 30 Hz,
//! write throughput, and seek time to random ticks in a one-hour file.
//!
//! Run: `cargo bench -p tickforge-server --bench replay`

mod common;

use std::time::{Duration, Instant};

use common::World;
use tickforge_shared::replay::{DEFAULT_KEYFRAME_EVERY, Header, Replay, Writer};
use tickforge_shared::snapshot::KnownSet;

const TICKS_PER_HOUR: u32 = 30 * 3600;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hour.replay");
    let header = Header {
        protocol_id: tickforge_shared::protocol::PROTOCOL_ID,
        game: "arena".into(),
        schema: <tickforge_arena::ArenaSim as tickforge_shared::sim::Simulation>::schema(),
        tick_rate: 30,
        world: (2000.0, 2000.0),
        started_unix_ms: 0,
        server_build: "bench".into(),
        keyframe_every: DEFAULT_KEYFRAME_EVERY,
    };
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("create"));
    let mut writer = Writer::new(file, &header).expect("header");
    let mut world = World::new(200, true);
    let mut encode = Duration::ZERO;
    for tick in 1..=TICKS_PER_HOUR {
        world.step();
        let set: KnownSet = world.items().into_iter().map(|item| item.known).collect();
        let started = Instant::now();
        writer.push(tick, set, Vec::new()).expect("write");
        encode += started.elapsed();
    }
    writer.finish().expect("finish");
    let size = std::fs::metadata(&path).expect("size").len();
    println!("one hour, 200 moving entities, 30 Hz, keyframe every {DEFAULT_KEYFRAME_EVERY} ticks:");
    println!(
        "  file size:           {:.1} MiB ({:.0} bytes per tick)",
        size as f64 / 1048576.0,
        size as f64 / f64::from(TICKS_PER_HOUR)
    );
    println!(
        "  writer time:         {:.1} µs per frame (delta encode + write, on the writer thread)",
        encode.as_secs_f64() * 1e6 / f64::from(TICKS_PER_HOUR)
    );

    let started = Instant::now();
    let mut replay = Replay::open(&path).expect("open");
    let open = started.elapsed();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let seeks = 50;
    for _ in 0..seeks {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let tick = 1 + (rng % u64::from(TICKS_PER_HOUR)) as u32;
        let started = Instant::now();
        let state = replay.seek(tick).expect("seek");
        let took = started.elapsed();
        assert_eq!(state.tick, tick);
        worst = worst.max(took);
        total += took;
    }
    println!("  open (header, index): {:.2} ms", open.as_secs_f64() * 1e3);
    println!(
        "  seek to a random tick: mean {:.2} ms, worst {:.2} ms over {seeks} seeks",
        total.as_secs_f64() * 1e3 / f64::from(seeks),
        worst.as_secs_f64() * 1e3
    );
}
