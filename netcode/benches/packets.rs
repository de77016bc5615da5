//! Sealing and opening payload packets (ChaCha20-Poly1305), at the sizes
//! the game sends: an input (~60 bytes), a snapshot of ~100 entities in
//! view (~200 bytes), and a full one (~1000 bytes).
#![allow(missing_docs)]
// criterion_group! generates an undocumented function.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tickforge_netcode::MAX_PACKET_BYTES;
use tickforge_netcode::packet::{self, Kind};

fn packets(c: &mut Criterion) {
    let key = [7u8; 32];
    let mut group = c.benchmark_group("payload_packet");
    for size in [60usize, 200, 1000] {
        let body = vec![0xA5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let mut out = [0u8; MAX_PACKET_BYTES];
        group.bench_with_input(BenchmarkId::new("seal", size), &body, |b, body| {
            let mut sequence = 1u64 << 40;
            b.iter(|| {
                sequence += 1;
                packet::seal(&mut out, Kind::Payload, sequence, black_box(body), 0x1234, &key)
            })
        });
        let len = packet::seal(&mut out, Kind::Payload, 99, &body, 0x1234, &key).unwrap();
        let sealed = out[..len].to_vec();
        let header = packet::header(&sealed).unwrap();
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, sealed| {
            let mut datagram = sealed.clone();
            b.iter(|| {
                datagram.copy_from_slice(sealed);
                packet::open(black_box(&mut datagram), &header, 0x1234, &key).map(<[u8]>::len)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, packets);
criterion_main!(benches);
