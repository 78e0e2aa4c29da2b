//! Micro-benchmarks of per-statement classification (runs on every COM_QUERY).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shardgate_router::classify;

fn bench(c: &mut Criterion) {
    let point = b"SELECT c FROM sbtest1 WHERE id=5012";
    c.bench_function("classify_point_select", |b| {
        b.iter(|| black_box(classify(black_box(point))))
    });
    let set = b"SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE', time_zone = '+00:00'";
    c.bench_function("classify_set", |b| b.iter(|| black_box(classify(black_box(set)))));
    let update = b"UPDATE sbtest1 SET c='28566954758-35283452734-82623432412-67234789567' /* x */ WHERE id=4993";
    c.bench_function("classify_update", |b| b.iter(|| black_box(classify(black_box(update)))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
