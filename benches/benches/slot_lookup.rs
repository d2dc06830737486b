//! Key hashing and the slot table lookup: the per-request routing cost.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use proxy_core::slot::{key_slot, Owner, SlotTable};

fn bench(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..1024)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let tagged: Vec<Vec<u8>> = (0..1024)
        .map(|i| format!("{{user{i}}}.following").into_bytes())
        .collect();
    let mut table = SlotTable::default();
    table.assign(0, 8191, Owner::Local(0));
    table.assign(8192, 16383, Owner::Peer(0));

    let mut g = c.benchmark_group("slot");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("key_slot_1024_keys", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| u32::from(key_slot(black_box(k))))
                .sum::<u32>()
        })
    });
    g.bench_function("key_slot_hash_tag_1024_keys", |b| {
        b.iter(|| {
            tagged
                .iter()
                .map(|k| u32::from(key_slot(black_box(k))))
                .sum::<u32>()
        })
    });
    g.bench_function("key_slot_and_owner_1024_keys", |b| {
        b.iter(|| {
            keys.iter()
                .filter(|k| matches!(table.owner(key_slot(black_box(k))), Owner::Local(_)))
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
