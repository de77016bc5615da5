//! Snapshot payloads against an empty and a non-empty baseline, with the
//! arena's kinds (no fields) and with kinds that carry fields: decoding
//! never panics, stays bounded, and keeps ids sorted and unique.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickforge_shared::protocol::{EntityKind, NetId};
use tickforge_shared::schema::{FieldSpec, KindSpec, Schema};
use tickforge_shared::sim::Simulation;
use tickforge_shared::snapshot::{self, Known, MAX_ENTITIES, Motion};

fuzz_target!(|data: &[u8]| {
    let baseline: Vec<Known> = (1..=40)
        .map(|i| Known {
            id: NetId(i * 3),
            kind: EntityKind(1),
            qx: (i * 97 % 8000) as u16,
            qy: (i * 31 % 8000) as u16,
            motion: Motion { dx: i as i16 - 20, dy: 5, dt: 3 },
            fields: i % 100,
        })
        .collect();
    let fielded = Schema::new(vec![
        KindSpec::new("shot"),
        KindSpec { name: "ship".into(), fields: vec![FieldSpec { name: "health".into(), bits: 7 }] },
    ])
    .unwrap();
    let arena = tickforge_arena::ArenaSim::schema();
    for schema in [&arena, &fielded] {
        for base in [&[][..], &baseline[..]] {
            if let Ok(set) = snapshot::decode(schema, base, 100, data, 104) {
                assert!(set.len() <= MAX_ENTITIES);
                assert!(set.windows(2).all(|w| w[0].id < w[1].id));
            }
        }
    }
});
