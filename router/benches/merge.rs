//! Micro-benchmarks of merging multi-shard results (runs once per scatter SELECT).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use shardgate_router::merge::{merge, Aggregate, AggregateKind, ColumnInfo, KWayMerge, MergeSpec, Row, SortKey};

const LONGLONG: ColumnInfo = ColumnInfo {
    column_type: 0x08,
    flags: 0,
    collation: 63,
    decimals: 0,
};
const NEWDECIMAL: ColumnInfo = ColumnInfo {
    column_type: 0xf6,
    flags: 0,
    collation: 63,
    decimals: 2,
};
const VARCHAR: ColumnInfo = ColumnInfo {
    column_type: 0xfd,
    flags: 0,
    collation: 45,
    decimals: 0,
};

fn text(v: impl ToString) -> Option<Vec<u8>> {
    Some(v.to_string().into_bytes())
}

/// 4 shards × 10k integer rows `(id, value)`, each shard sorted by id (ids interleave across shards).
fn sorted_shards() -> Vec<Vec<Row>> {
    (0..4u64)
        .map(|s| (0..10_000u64).map(|i| vec![text(i * 4 + s), text(i % 1000)]).collect())
        .collect()
}

/// 4 shards × 1k groups `(name, COUNT, SUM)`, the same 1k names (mixed case) on every shard.
fn group_shards() -> Vec<Vec<Row>> {
    (0..4u64)
        .map(|s| {
            (0..1_000u64)
                .map(|g| {
                    let name = if s % 2 == 0 {
                        format!("user{g:04}")
                    } else {
                        format!("USER{g:04}")
                    };
                    vec![
                        text(name),
                        text(g % 7 + s),
                        text(format!("{}.{:02}", g * 3 + s, (g + s) % 100)),
                    ]
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let columns = [LONGLONG, LONGLONG];
    let keys = [SortKey {
        column: 0,
        descending: false,
    }];
    let shards = sorted_shards();
    // The merge alone: the 39,900 rows it never reaches are returned with it and freed outside the measurement.
    c.bench_function("kway_4x10k_take_100", |b| {
        b.iter_batched(
            || shards.clone(),
            |shards| {
                let mut merge = KWayMerge::new(&columns, shards, &keys, 0, Some(100)).unwrap();
                let rows: Vec<Row> = merge.by_ref().collect();
                (black_box(rows), merge)
            },
            BatchSize::LargeInput,
        )
    });
    // Through `merge`, which also checks every row's width and frees the rows it does not return.
    let spec = MergeSpec {
        order_by: keys.to_vec(),
        shards_sorted: true,
        limit: Some(100),
        ..MergeSpec::new(2)
    };
    c.bench_function("merge_order_by_limit_4x10k_take_100", |b| {
        b.iter_batched(
            || shards.clone(),
            |s| black_box(merge(&columns, s, &spec).unwrap()),
            BatchSize::LargeInput,
        )
    });
    // What the proxy sees when the shards were asked for LIMIT 100: 4 × 100 rows.
    let small: Vec<Vec<Row>> = shards.iter().map(|s| s[..100].to_vec()).collect();
    c.bench_function("merge_order_by_limit_4x100_take_100", |b| {
        b.iter_batched(
            || small.clone(),
            |s| black_box(merge(&columns, s, &spec).unwrap()),
            BatchSize::SmallInput,
        )
    });

    let columns = [VARCHAR, LONGLONG, NEWDECIMAL];
    let groups = group_shards();
    let spec = MergeSpec {
        group_by: vec![0],
        aggregates: vec![
            Aggregate {
                column: 1,
                kind: AggregateKind::Count,
            },
            Aggregate {
                column: 2,
                kind: AggregateKind::Sum,
            },
        ],
        ..MergeSpec::new(3)
    };
    c.bench_function("group_by_4x1k_groups", |b| {
        b.iter_batched(
            || groups.clone(),
            |g| black_box(merge(&columns, g, &spec).unwrap()),
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
