//! sysbench's own OLTP workload on a sharded keyspace, entirely through the proxy.
//!
//! Keyspace `sbtest` has two shards (`-80`, `80-`) on two MariaDB servers; its tables `sbtest1` and `sbtest2` are
//! sharded by `id` with the `hash` vindex. sysbench creates and fills them through the proxy (`oltp_read_write
//! prepare --auto-inc=off`: CREATE TABLE and CREATE INDEX go to both shards, the multi-row INSERTs are split row by
//! row), then runs `oltp_read_write` (point and range selects, SUM, ORDER BY, DISTINCT, updates, delete + insert of
//! the same id, in BEGIN/COMMIT transactions that span shards) and `oltp_point_select` through it. The 30 s
//! `oltp_read_write` run (one client, server-side prepared statements) must end with 0 ignored errors and 0
//! reconnects; afterwards each shard must hold exactly the ids the hash vindex assigns to it (sysbench's delete +
//! insert keeps the set of ids 1..=2000), and counts through the proxy must equal the sum of the direct counts.
//!
//! A second run has 4 clients (text protocol): lock conflicts do happen on 2 x 2,000 rows. A deadlock inside one
//! shard is detected by that server (error 1213: the proxy ends the shard transaction on every shard, sysbench
//! retries it, starting with BEGIN); a deadlock across two shards is seen by neither and lasts
//! `innodb_lock_wait_timeout` (then 1205). The shards run with `innodb_lock_wait_timeout = 5` so such a wait cannot
//! stretch the test; those ignored errors are allowed there, reconnects and fatal errors are not.
//! [`deadlock_victim_starts_a_new_transaction`] is the deterministic reduction of the single-shard deadlock.
//!
//! On failure the message has sysbench's output and the proxy log's tail. `SHARDGATE_KEEP_LOGS=<dir>` copies the
//! whole proxy log there.

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
/// `innodb_lock_wait_timeout` of the shards (seconds): how long a deadlock across shards lasts.
const LOCK_WAIT_TIMEOUT: u64 = 5;
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

/// A `run`: parses the summary, requires work done, 0 reconnects and 0 ignored errors (unless `lock_conflicts`
/// are expected: concurrent transactions across shards, whose deadlocks and lock waits sysbench retries).
async fn sysbench_run(label: &str, sb: Sysbench, secs: u64, proxy: &Proxy, lock_conflicts: bool) -> SysbenchSummary {
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
    if (s.ignored_errors != 0 && !lock_conflicts) || s.reconnects != 0 {
        let max_ms = max_latency_ms(&out.stdout).unwrap_or(0.0);
        let hint = if max_ms >= (LOCK_WAIT_TIMEOUT * 1000) as f64 {
            format!(
                "; the slowest transaction took {max_ms:.0} ms, at least innodb_lock_wait_timeout ({LOCK_WAIT_TIMEOUT} s): \
                 a deadlock across shards, resolved by lock wait timeouts (error 1205)"
            )
        } else {
            String::new()
        };
        fail(
            &format!(
                "sysbench {label}: {} ignored errors and {} reconnects (want 0 and 0){hint}",
                s.ignored_errors, s.reconnects
            ),
            &out,
            proxy,
        );
    }
    s
}

/// sysbench's `max:` latency in ms.
fn max_latency_ms(stdout: &str) -> Option<f64> {
    let line = stdout.lines().find(|l| l.trim_start().starts_with("max:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Two servers with database `sbtest` and a proxy serving it as the sharded keyspace.
async fn start() -> (Cluster, Proxy) {
    let cluster = Cluster::start(2).await;
    for s in cluster.iter() {
        // Global, before the proxy opens its backend connections.
        s.exec(&format!(
            "CREATE DATABASE {KEYSPACE}; SET GLOBAL innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT}"
        ))
        .await;
    }
    let map = shardmap(&cluster[0].addr(), &cluster[1].addr());
    let proxy = Proxy::start(ProxyConfig::new(map).user(USER, PASSWORD)).await;
    (cluster, proxy)
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
    let (cluster, proxy) = start().await;
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

    // 30 s of sysbench's default (server-side prepared statements), one client: no lock conflicts are possible,
    // so every error would be the proxy's.
    let rw = sysbench_run(
        "oltp_read_write run, 1 thread, 30 s, prepared statements",
        sb("oltp_read_write").args(["--threads=1", "--time=30", "--report-interval=0", "run"]),
        30,
        &proxy,
        false,
    )
    .await;
    // 14 reads, 4 writes, BEGIN and COMMIT per transaction.
    assert_eq!(rw.reads, rw.transactions * 14, "reads per transaction");
    assert_eq!(rw.writes, rw.transactions * 4, "writes per transaction");
    check_placement("after oltp_read_write", [&cluster[0], &cluster[1]], &proxy).await;

    // Concurrent clients, text protocol: transactions conflict. A deadlock on one shard (1213) ends the shard
    // transaction everywhere and sysbench retries it; one across shards ends by lock wait timeout (1205). Both are
    // sysbench's ignored errors; anything else (a FATAL error, a reconnect) fails the run.
    let rw4 = sysbench_run(
        "oltp_read_write run, 4 threads, 10 s, text protocol",
        sb("oltp_read_write").args([
            "--threads=4",
            "--time=10",
            "--db-ps-mode=disable",
            "--report-interval=0",
            "run",
        ]),
        10,
        &proxy,
        true,
    )
    .await;
    assert!(rw4.transactions > 0 && rw4.writes > 0, "the concurrent run did work");
    check_placement("after concurrent oltp_read_write", [&cluster[0], &cluster[1]], &proxy).await;

    let ps = sysbench_run(
        "oltp_point_select run, 4 threads, 5 s, prepared statements",
        sb("oltp_point_select").args(["--threads=4", "--time=5", "--report-interval=0", "run"]),
        5,
        &proxy,
        false,
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

/// The server error code of a failed statement.
fn error_code(r: &Result<(), mysql_async::Error>) -> Option<u16> {
    match r {
        Err(mysql_async::Error::Server(e)) => Some(e.code),
        _ => None,
    }
}

/// What sysbench does after a deadlock, reduced: two transactions spanning both shards deadlock on shard `-80`;
/// MariaDB rolls the victim's branch back (1213). As on one MySQL server, the victim's whole transaction is then
/// over: its next BEGIN, statements and COMMIT succeed, and nothing of it stays behind on any backend connection
/// (its row locks on the other shard are released, no pooled connection keeps its XA transaction).
#[tokio::test]
async fn deadlock_victim_starts_a_new_transaction() {
    let (cluster, proxy) = start().await;
    let _keep = KeepLog(&proxy);
    let conn = || proxy.conn(USER, PASSWORD, Some(KEYSPACE));
    let mut setup = conn().await;
    setup
        .query_drop("CREATE TABLE sbtest1 (id INT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0)")
        .await
        .expect("CREATE TABLE through the proxy");
    let values: Vec<String> = (1..=20).map(|i| format!("({i}, 0)")).collect();
    setup
        .query_drop(format!("INSERT INTO sbtest1 (id, k) VALUES {}", values.join(", ")))
        .await
        .expect("INSERT through the proxy");
    let on = |shard: usize| -> Vec<u64> { (1..=20).filter(|&id| shard_of(id) == shard).take(2).collect() };
    let ([a, b], [c, d]) = (
        <[u64; 2]>::try_from(on(0)).unwrap(),
        <[u64; 2]>::try_from(on(1)).unwrap(),
    );
    let update = |id: u64| format!("UPDATE sbtest1 SET k = k + 1 WHERE id = {id}");

    // T1 holds c (80-) and a (-80); T2 holds d (80-) and b (-80); then each wants the other's row on -80.
    let mut t1 = conn().await;
    let mut t2 = conn().await;
    for (t, rows) in [(&mut t1, [c, a]), (&mut t2, [d, b])] {
        t.query_drop("BEGIN").await.expect("BEGIN");
        for id in rows {
            t.query_drop(update(id))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", update(id)));
        }
    }
    let stmt_b = update(b);
    let blocked = tokio::spawn(async move {
        let r = t1.query_drop(stmt_b).await;
        (t1, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r2 = t2.query_drop(update(a)).await;
    let (t1, r1) = tokio::time::timeout(Duration::from_secs(30), blocked)
        .await
        .expect("the deadlock resolves")
        .expect("T1's task");
    let (mut victim, mut survivor) = match (error_code(&r1), error_code(&r2)) {
        (None, Some(1213)) => (t2, t1),
        (Some(1213), None) => (t1, t2),
        _ => panic!("want one deadlock victim (1213) and one success; got T1 {r1:?}, T2 {r2:?}"),
    };
    survivor.query_drop("COMMIT").await.expect("the survivor commits");

    // sysbench's next event on the victim's connection.
    let mut log = Vec::new();
    for sql in [
        "BEGIN".to_string(),
        format!("SELECT k FROM sbtest1 WHERE id = {a}"),
        update(d),
        "COMMIT".into(),
    ] {
        let r = victim.query_drop(&sql).await;
        log.push(format!("{sql} -> {r:?}"));
    }
    // New sessions, autocommit, every row: no backend connection kept the victim's XA transaction or its locks.
    let mut errors: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for _ in 0..5 {
        let mut s = conn().await;
        for id in 1..=20u64 {
            for sql in [format!("SELECT k FROM sbtest1 WHERE id = {id}"), update(id)] {
                if let Err(e) = s.query_drop(&sql).await {
                    errors.entry(e.to_string()).or_default().push(sql);
                }
            }
        }
        s.disconnect().await.expect("disconnect");
    }
    let victim_ok = log.iter().all(|l| l.ends_with("-> Ok(())"));
    let failed: usize = errors.values().map(Vec::len).sum();
    let errors: Vec<String> = errors
        .iter()
        .map(|(e, sqls)| format!("{} x {e}, e.g. {:?}", sqls.len(), &sqls[..sqls.len().min(3)]))
        .collect();
    assert!(
        victim_ok && errors.is_empty(),
        "after a deadlock (1213) the victim's transaction is over and a new one works, as on MySQL; and no backend \
         connection keeps anything of it.\n--- the victim's next statements ---\n{}\n--- {} of 200 autocommit \
         statements in 5 new sessions failed ---\n{}\n--- proxy log ---\n{}",
        log.join("\n"),
        failed,
        errors.join("\n"),
        proxy.log_tail(LOG_LINES)
    );
    for (i, s) in cluster.iter().enumerate() {
        let xa: Vec<(i64, i64, i64, String)> = s.query("XA RECOVER").await;
        assert!(xa.is_empty(), "shard {i} has prepared XA transactions left: {xa:?}");
    }
}
