//! Micro-benchmarks of routing on a sharded keyspace: the per-statement work between reading a COM_QUERY and
//! picking the shard's connection pool (normalize, plan-cache lookup, bind), and a plan-cache miss for scale.
//!
//! The statements are sysbench's point select on keyspace `sbtest` (two shards, `sbtest1` sharded by `id` with the
//! hash vindex), with 1,024 different ids cycled through, so every iteration routes a different literal of the same
//! shape, as a real workload does.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use shardgate_router::normalize::normalize;
use shardgate_router::plan::{bind, Action, BoundShards, ParamValues, PlanCache};
use shardgate_router::{ShardMap, SqlValue};

const MAP: &str = r#"
version: 1
cells: [dc1]
keyspaces:
  sbtest:
    sharded: true
    vindexes:
      hash: { type: hash }
    tables:
      sbtest1: { column: id, vindex: hash }
      sbtest2: { column: id, vindex: hash }
    shards:
      - { name: "-80", cell: dc1, primary: "127.0.0.1:3306" }
      - { name: "80-", cell: dc1, primary: "127.0.0.1:3307" }
"#;

/// Distinct point selects cycled through.
const STATEMENTS: usize = 1024;

fn point_selects() -> Vec<Vec<u8>> {
    // Ids spread over a 10,000-row table, as sysbench's uniform distribution picks them.
    (0..STATEMENTS)
        .map(|i| format!("SELECT c FROM sbtest1 WHERE id={}", 1 + (i * 7919) % 10_000).into_bytes())
        .collect()
}

fn bench(c: &mut Criterion) {
    let map = ShardMap::from_yaml(MAP).expect("the bench's shard map is valid");
    let ks_index = map.keyspaces.iter().position(|k| k.name == "sbtest").unwrap();
    let ks = &map.keyspaces[ks_index];
    let generation = 1;
    let stmts = point_selects();
    let mut params = Vec::new();

    // The plan is what the proxy relies on: one shard by the hash of id, relayed as is. Check it before timing it,
    // and that both shards get statements.
    let cache = PlanCache::default();
    let mut per_shard = [0usize; 2];
    for sql in &stmts {
        let plan = cache.plan(sql, &mut params, &map, ks_index, generation);
        assert!(matches!(plan.action, Action::Select(_)), "{:?}", plan.action);
        match bind(ks, &plan.target, &ParamValues::text(sql, &params)) {
            Ok(BoundShards::One(s)) => per_shard[s] += 1,
            other => panic!("point select bound to {other:?}"),
        }
    }
    assert!(per_shard.iter().all(|&n| n > STATEMENTS / 4), "{per_shard:?}");
    assert_eq!(cache.stats(), (STATEMENTS as u64 - 1, 1), "one miss, then hits");

    let mut i = 0usize;
    let mut next = move || {
        i = (i + 1) % STATEMENTS;
        i
    };

    // (a) The tokenizer pass that yields the cache key and the parameters.
    c.bench_function("plan/normalize_point_select", |b| {
        b.iter(|| black_box(normalize(black_box(&stmts[next()]), &mut params)))
    });

    // (b) A plan-cache hit: normalize + read-locked lookup + Arc clone.
    c.bench_function("plan/cache_hit_point_select", |b| {
        b.iter(|| black_box(cache.plan(black_box(&stmts[next()]), &mut params, &map, ks_index, generation)))
    });

    // (c) The full routing decision: cache hit, then bind the literal through the hash vindex to a shard.
    c.bench_function("plan/cache_hit_bind_point_select", |b| {
        b.iter(|| {
            let sql = black_box(&stmts[next()]);
            let plan = cache.plan(sql, &mut params, &map, ks_index, generation);
            black_box(bind(ks, &plan.target, &ParamValues::text(sql, &params)))
        })
    });

    // (c') The same for a prepared statement: the shape `id=?` with the id bound as a value (COM_STMT_EXECUTE).
    let prepared = b"SELECT c FROM sbtest1 WHERE id=?";
    let ids: Vec<[SqlValue<'static>; 1]> = (0..STATEMENTS as i64)
        .map(|i| [SqlValue::Int(1 + (i * 7919) % 10_000)])
        .collect();
    c.bench_function("plan/cache_hit_bind_point_select_prepared", |b| {
        b.iter(|| {
            let plan = cache.plan(black_box(prepared), &mut params, &map, ks_index, generation);
            let vals = ParamValues {
                bound: &ids[next()],
                ..ParamValues::text(prepared, &params)
            };
            black_box(bind(ks, &plan.target, &vals))
        })
    });

    // (d) A miss: normalize, then sqlparser and the planner, then the insert (a new map generation every time, so
    // nothing is ever found; the cache clears itself when full).
    let cold = PlanCache::new(1024);
    let mut gen = generation;
    c.bench_function("plan/cache_miss_point_select", |b| {
        b.iter_batched(
            || {
                gen += 1;
                gen
            },
            |g| black_box(cold.plan(black_box(&stmts[next()]), &mut params, &map, ks_index, g)),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
