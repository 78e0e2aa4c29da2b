//! Micro-benchmarks of vindex mapping (runs once per shard-key value of every routed statement).

use std::borrow::Cow;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_yaml_ng::Mapping;
use shardgate_router::vindex::{self, hash_bytes, hash_u64};
use shardgate_router::SqlValue;

fn spec(yaml: &str) -> Mapping {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn bench(c: &mut Criterion) {
    c.bench_function("hash_u64", |b| b.iter(|| black_box(hash_u64(black_box(5012)))));
    let email = b"someone@example.com!";
    c.bench_function("hash_bytes_20", |b| b.iter(|| black_box(hash_bytes(black_box(email)))));

    let hash = vindex::build(&spec("type: hash")).unwrap();
    let int = [SqlValue::Int(5012)];
    c.bench_function("hash_map_int", |b| b.iter(|| black_box(hash.map(black_box(&int)))));
    let string = [SqlValue::Bytes(Cow::Borrowed(email))];
    c.bench_function("hash_map_str20", |b| b.iter(|| black_box(hash.map(black_box(&string)))));

    let region = vindex::build(&spec(
        "{ type: region, column: region, regions: { eu: dc1, us: dc2, apac: dc3 } }",
    ))
    .unwrap();
    let values = [SqlValue::Bytes(Cow::Borrowed(b"us")), SqlValue::Int(5012)];
    c.bench_function("region_map", |b| b.iter(|| black_box(region.map(black_box(&values)))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
