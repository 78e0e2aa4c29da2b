//! sysbench's own OLTP workload on a sharded keyspace, entirely through the proxy.
//!
//! Keyspace `sbtest` has two shards (`-80`, `80-`) on two MariaDB servers; its tables `sbtest1` and `sbtest2` are
//! sharded by `id` with the `hash` vindex. sysbench creates and fills them through the proxy (`oltp_read_write
//! prepare --auto-inc=off`: CREATE TABLE and CREATE INDEX go to both shards, the multi-row INSERTs are split row by
//! row), then runs `oltp_read_write` (point and range selects, SUM, ORDER BY, DISTINCT, updates, delete + insert of
//! the same id, in BEGIN/COMMIT transactions that span shards) and `oltp_point_select` through it with text queries
//! (`--db-ps-mode=disable`). Every run must end with 0 ignored errors and 0 reconnects; afterwards each shard must
//! hold exactly the ids the hash vindex assigns to it (sysbench's delete + insert keeps the set of ids 1..=2000),
//! and counts through the proxy must equal the sum of the direct counts.
//!
//! On failure the message has sysbench's output and the proxy log's tail. `SHARDGATE_KEEP_LOGS=<dir>` copies the
//! whole proxy log there (run with `RUST_LOG=debug` to see every statement).

use std::collections::BTreeSet;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_tests::sysbench::{Sysbench, SysbenchOutput, SysbenchSummary};
use shardgate_tests::{shard_of, Cluster, MariaDb, Proxy, ProxyConfig};

const KEYSPACE: &str = "sbtest";
const USER: &str = "sb";
const PASSWORD: &str = "sb-secret";
const TABLES: usize = 2;
const TABLE_SIZE: u64 = 2000;
/// Log lines shown in failure messages.
const LOG_LINES: usize = 80;

/// The shard map: keyspace `sbtest`, shards `-80` on `a` and `80-` on `b`, tables sharded by `id` with `hash`.
fn shardmap(a: &str, b: &str) -> String {
    let tables: String = (1..=TABLES)
        .map(|i| format!("      sbtest{i}: {{ column: id, vindex: hash }}\n"))
        .collect();
    format!(
        r#"version: 1
cells: [dc1]
keyspaces:
  {KEYSPACE}:
    sharded: true
    vindexes:
      hash: {{ type: hash }}
    tables:
{tables}    shards:
      - {{ name: "-80", cell: dc1, primary: "{a}" }}
      - {{ name: "80-", cell: dc1, primary: "{b}" }}
"#
    )
}

/// Copies the proxy log to `$SHARDGATE_KEEP_LOGS` (if set) when the test ends, passed or failed.
struct KeepLog<'a>(&'a Proxy);

impl Drop for KeepLog<'_> {
    fn drop(&mut self) {
        let Some(dir) = std::env::var_os("SHARDGATE_KEEP_LOGS") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        let dest = dir.join(format!("sysbench_sharded-proxy-{}.log", std::process::id()));
        match std::fs::create_dir_all(&dir).and_then(|()| std::fs::copy(self.0.log_path(), &dest)) {
            Ok(_) => eprintln!("[sysbench_sharded] proxy log kept at {}", dest.display()),
            Err(e) => eprintln!(
                "[sysbench_sharded] could not keep the proxy log in {}: {e}",
                dir.display()
            ),
        }
    }
}

/// Panics with what sysbench printed and the proxy log's tail.
fn fail(what: &str, out: &SysbenchOutput, proxy: &Proxy) -> ! {
    let problems = out.problems().join("\n");
    panic!(
        "{what}\n--- sysbench's FATAL/ALERT/WARNING lines ---\n{problems}\n--- sysbench ---\n{}\n--- last {LOG_LINES} lines of the proxy log ---\n{}",
        out.dump(),
        proxy.log_tail(LOG_LINES)
    )
}

/// Runs sysbench to completion; fails the test unless it exits 0 without FATAL.
async fn sysbench_ok(label: &str, sb: Sysbench, timeout: Duration, proxy: &Proxy) -> SysbenchOutput {
    let out = sb.run(timeout).await;
    eprintln!("[sysbench_sharded] {label}: {} in {:.1?}", out.status, out.elapsed);
    if !out.ok() {
        fail(&format!("sysbench {label} failed"), &out, proxy);
    }
    out
}

/// A `run`: parses the summary, requires work done, 0 ignored errors and 0 reconnects.
async fn sysbench_run(label: &str, sb: Sysbench, secs: u64, proxy: &Proxy) -> SysbenchSummary {
    let out = sysbench_ok(label, sb, Duration::from_secs(secs + 60), proxy).await;
    let s = out.summary().unwrap_or_else(|e| fail(&e, &out, proxy));
    eprintln!(
        "[sysbench_sharded] {label}: {} transactions ({:.1}/s), {} queries ({:.1}/s: {} reads, {} writes, {} other), \
         {} ignored errors, {} reconnects",
        s.transactions, s.tps, s.queries, s.qps, s.reads, s.writes, s.other, s.ignored_errors, s.reconnects
    );
    if s.transactions == 0 {
        fail(&format!("sysbench {label} completed no transaction"), &out, proxy);
    }
    if s.ignored_errors != 0 || s.reconnects != 0 {
        fail(
            &format!(
                "sysbench {label}: {} ignored errors and {} reconnects (want 0 and 0)",
                s.ignored_errors, s.reconnects
            ),
            &out,
            proxy,
        );
    }
    s
}

/// The ids of `sbtest.<table>` on one shard, read directly.
async fn ids_on(server: &MariaDb, table: &str) -> BTreeSet<u64> {
    server
        .query::<u64>(&format!("SELECT id FROM {KEYSPACE}.{table}"))
        .await
        .into_iter()
        .collect()
}

/// Each shard holds exactly the ids 1..=TABLE_SIZE the hash vindex assigns to it, and COUNT(*) through the proxy
/// equals the sum of the shards' counts.
async fn check_placement(when: &str, shards: [&MariaDb; 2], proxy: &Proxy) {
    let mut conn = proxy.conn(USER, PASSWORD, Some(KEYSPACE)).await;
    for t in 1..=TABLES {
        let table = format!("sbtest{t}");
        let mut direct_total = 0;
        for (i, shard) in shards.iter().enumerate() {
            let have = ids_on(shard, &table).await;
            let want: BTreeSet<u64> = (1..=TABLE_SIZE).filter(|&id| shard_of(id) == i).collect();
            let stray: Vec<_> = have.difference(&want).take(10).collect();
            let missing: Vec<_> = want.difference(&have).take(10).collect();
            assert!(
                stray.is_empty() && missing.is_empty(),
                "{when}: shard {i} of {table} holds {} ids, the hash vindex assigns it {}; \
                 first ids it should not hold: {stray:?}; first ids it lacks: {missing:?}",
                have.len(),
                want.len()
            );
            // The hash spreads 2000 ids evenly: each shard has a substantial share.
            assert!(
                have.len() as u64 > TABLE_SIZE / 3,
                "{when}: shard {i} of {table} holds only {} of {TABLE_SIZE} rows",
                have.len()
            );
            direct_total += have.len() as u64;
            eprintln!("[sysbench_sharded] {when}: {table} shard {i}: {} rows", have.len());
        }
        let via_proxy: Option<u64> = conn
            .query_first(format!("SELECT COUNT(*) FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("{when}: SELECT COUNT(*) FROM {table} through the proxy: {e}"));
        assert_eq!(
            via_proxy,
            Some(direct_total),
            "{when}: COUNT(*) of {table} through the proxy vs the sum of the shards"
        );
        assert_eq!(direct_total, TABLE_SIZE, "{when}: rows in {table}");
    }
    conn.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn sysbench_oltp_on_a_sharded_keyspace() {
    let cluster = Cluster::start(2).await;
    for s in cluster.iter() {
        s.exec(&format!("CREATE DATABASE {KEYSPACE}")).await;
    }
    let map = shardmap(&cluster[0].addr(), &cluster[1].addr());
    let proxy = Proxy::start(ProxyConfig::new(map).user(USER, PASSWORD)).await;
    let _keep = KeepLog(&proxy);
    let sb = |test: &str| {
        Sysbench::new(test, proxy.port(), USER, PASSWORD, KEYSPACE).args([
            format!("--tables={TABLES}"),
            format!("--table-size={TABLE_SIZE}"),
            "--auto-inc=off".to_string(),
        ])
    };

    // Tables, rows and the secondary index, all through the proxy.
    sysbench_ok(
        "oltp_read_write prepare",
        sb("oltp_read_write").args(["prepare"]),
        Duration::from_secs(120),
        &proxy,
    )
    .await;
    for (i, s) in cluster.iter().enumerate() {
        for t in 1..=TABLES {
            let indexes: Vec<String> = s
                .query(&format!(
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = '{KEYSPACE}' AND TABLE_NAME = 'sbtest{t}' ORDER BY INDEX_NAME"
                ))
                .await;
            assert_eq!(
                indexes,
                vec![format!("k_{t}"), "PRIMARY".to_string()],
                "indexes of sbtest{t} on shard {i}"
            );
        }
    }
    check_placement("after prepare", [&cluster[0], &cluster[1]], &proxy).await;

    let rw = sysbench_run(
        "oltp_read_write run, 4 threads, 30 s, text protocol",
        sb("oltp_read_write").args([
            "--threads=4",
            "--time=30",
            "--db-ps-mode=disable",
            "--report-interval=0",
            "run",
        ]),
        30,
        &proxy,
    )
    .await;
    // 14 reads, 4 writes, BEGIN and COMMIT per transaction.
    assert_eq!(rw.reads, rw.transactions * 14, "reads per transaction");
    assert_eq!(rw.writes, rw.transactions * 4, "writes per transaction");
    check_placement("after oltp_read_write", [&cluster[0], &cluster[1]], &proxy).await;

    let ps = sysbench_run(
        "oltp_point_select run, 4 threads, 5 s, text protocol",
        sb("oltp_point_select").args([
            "--threads=4",
            "--time=5",
            "--db-ps-mode=disable",
            "--report-interval=0",
            "run",
        ]),
        5,
        &proxy,
    )
    .await;
    assert_eq!(ps.reads, ps.transactions, "one point select per event");

    // Both shards served the point selects.
    for (i, s) in cluster.iter().enumerate() {
        let selects: Vec<(String, u64)> = s.query("SHOW GLOBAL STATUS LIKE 'Com_select'").await;
        eprintln!("[sysbench_sharded] shard {i}: {selects:?}");
        assert!(
            selects.first().is_some_and(|(_, n)| *n > ps.transactions / 4),
            "shard {i} ran few SELECTs ({selects:?}) of {} point selects",
            ps.transactions
        );
    }
}
