//! Sharded keyspaces end to end: rows land on the shard their keyspace id names, point reads find every row,
//! IN lists and multi-row INSERTs split, scatter reads merge, DDL reaches every shard, unplaceable statements get
//! a clear error.

use mysql_async::prelude::*;
use shardgate_tests::{shard_of, ShardedSetup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_land_on_their_shard_and_point_reads_find_them() {
    let s = ShardedSetup::start("").await;
    let mut c = s.conn().await;
    for id in 1..=40u64 {
        c.query_drop(format!(
            "INSERT INTO orders (id, user_id, amount, note) VALUES ({id}, {id}, {id}.50, 'n{id}')"
        ))
        .await
        .unwrap();
    }
    for id in 1..=40u64 {
        let shard = shard_of(id);
        let here: Option<u64> = s
            .shard(shard)
            .query_first(&format!("SELECT user_id FROM app.orders WHERE user_id = {id}"))
            .await;
        let there: Option<u64> = s
            .shard(1 - shard)
            .query_first(&format!("SELECT user_id FROM app.orders WHERE user_id = {id}"))
            .await;
        assert_eq!((here, there), (Some(id), None), "key {id} belongs on shard {shard}");
        let note: Option<String> = c
            .query_first(format!("SELECT note FROM orders WHERE user_id = {id}"))
            .await
            .unwrap();
        assert_eq!(note, Some(format!("n{id}")));
    }
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM orders").await.unwrap();
    assert_eq!(n, Some(40));
    let ids: Vec<u64> = c
        .query("SELECT user_id FROM orders WHERE user_id IN (3, 17, 22, 39, 1000) ORDER BY user_id")
        .await
        .unwrap();
    assert_eq!(ids, vec![3, 17, 22, 39]);
    let top: Vec<(u64, String)> = c
        .query("SELECT user_id, note FROM orders ORDER BY amount DESC LIMIT 3 OFFSET 2")
        .await
        .unwrap();
    assert_eq!(top, vec![(38, "n38".into()), (37, "n37".into()), (36, "n36".into())]);
    let agg: Option<(u64, String, String, String, String)> = c
        .query_first("SELECT COUNT(*), SUM(amount), MIN(amount), MAX(amount), AVG(amount) FROM orders")
        .await
        .unwrap();
    assert_eq!(
        agg,
        Some((40, "840.00".into(), "1.50".into(), "40.50".into(), "21.000000".into()))
    );
}

/// Two keys, 1 and the first key after it that lives on the other shard.
fn keys_on_both_shards() -> (u64, u64) {
    (
        1,
        (2..100)
            .find(|i| shard_of(*i) != shard_of(1))
            .expect("keys on both shards"),
    )
}

/// BEGIN, then one order for key `a` and one for key `b` (on another shard).
async fn begin_two_shard_transaction(c: &mut mysql_async::Conn, a: u64, b: u64) {
    c.query_drop("BEGIN").await.unwrap();
    for (key, amount) in [(a, "1.00"), (b, "2.00")] {
        c.query_drop(format!(
            "INSERT INTO orders (id, user_id, amount) VALUES (1, {key}, {amount})"
        ))
        .await
        .unwrap();
    }
}

fn server_error(r: Result<(), mysql_async::Error>) -> (u16, String) {
    match r {
        Err(mysql_async::Error::Server(e)) => (e.code, e.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_row_inserts_split_and_sequences_and_lookups_follow() {
    let s = ShardedSetup::start("").await;
    let mut c = s.conn().await;
    // Explicit keys: one INSERT, rows for both shards.
    c.query_drop("INSERT INTO orders (id, user_id, amount) VALUES (1, 1, 1.00), (2, 2, 2.00), (3, 3, 3.00), (4, 4, 4.00), (5, 5, 5.00)")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 5);
    for id in 1..=5u64 {
        let n: Option<u64> = s
            .shard(shard_of(id))
            .query_first(&format!("SELECT COUNT(*) FROM app.orders WHERE user_id = {id}"))
            .await;
        assert_eq!(n, Some(1), "row {id} on its shard");
    }
    // Sequence ids: none given; ids are unique, reported as LAST_INSERT_ID, and rows land by id.
    c.query_drop("INSERT INTO users (email, name) VALUES ('a@x', 'A'), ('b@x', 'B'), ('c@x', 'C')")
        .await
        .unwrap();
    let first = c.last_insert_id().expect("last insert id");
    assert!(first >= 1);
    let lid: Option<u64> = c.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(lid, Some(first));
    let mut ids: Vec<u64> = c.query("SELECT id FROM users ORDER BY id").await.unwrap();
    assert_eq!(ids, vec![first, first + 1, first + 2]);
    for id in &ids {
        let n: Option<u64> = s
            .shard(shard_of(*id))
            .query_first(&format!("SELECT COUNT(*) FROM app.users WHERE id = {id}"))
            .await;
        assert_eq!(n, Some(1));
    }
    // More than one block (cache 5): still unique.
    for i in 0..8 {
        c.query_drop(format!("INSERT INTO users (email, name) VALUES ('m{i}@x', 'M')"))
            .await
            .unwrap();
    }
    ids = c.query("SELECT id FROM users ORDER BY id").await.unwrap();
    let mut dedup = ids.clone();
    dedup.dedup();
    assert_eq!(ids.len(), 11);
    assert_eq!(dedup, ids);
    // The lookup table has one entry per email, pointing at the row's keyspace id; lookups route reads.
    let entries: Option<u64> = s
        .unsharded()
        .query_first("SELECT COUNT(*) FROM app_seq.email_idx")
        .await;
    assert_eq!(entries, Some(11));
    let name: Option<String> = c
        .query_first("SELECT name FROM users WHERE email = 'b@x'")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("B"));
    c.query_drop("DELETE FROM users WHERE email = 'b@x'").await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    let entries: Option<u64> = s
        .unsharded()
        .query_first("SELECT COUNT(*) FROM app_seq.email_idx WHERE email = 'b@x'")
        .await;
    assert_eq!(entries, Some(0), "DELETE removed the lookup entry");
    let entries: Option<u64> = s
        .unsharded()
        .query_first("SELECT COUNT(*) FROM app_seq.email_idx")
        .await;
    assert_eq!(entries, Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_and_reference_tables_reach_every_shard_and_unplaceable_statements_are_refused() {
    let s = ShardedSetup::start("").await;
    let mut c = s.conn().await;
    c.query_drop("CREATE TABLE items (id BIGINT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    c.query_drop("CREATE INDEX v_idx ON items (v)").await.unwrap();
    for i in 0..2 {
        let t: Vec<String> = s.shard(i).query("SHOW TABLES FROM app LIKE 'items'").await;
        assert_eq!(t, vec!["items".to_string()], "shard {i}");
    }
    c.query_drop("INSERT INTO countries (code, name) VALUES ('de', 'Germany'), ('fr', 'France')")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 2, "a reference write reports one copy's count");
    for i in 0..2 {
        let n: Option<u64> = s.shard(i).query_first("SELECT COUNT(*) FROM app.countries").await;
        assert_eq!(n, Some(2), "shard {i} has the copy");
    }
    c.query_drop("INSERT INTO orders (id, user_id, amount) VALUES (1, 7, 1.00)")
        .await
        .unwrap();
    let joined: Vec<(u64, String)> = c
        .query("SELECT o.user_id, k.name FROM orders o JOIN countries k ON k.code = 'de' WHERE o.user_id = 7")
        .await
        .unwrap();
    assert_eq!(joined, vec![(7, "Germany".to_string())]);
    for (sql, needle) in [
        ("SELECT * FROM orders o JOIN users u ON u.email = o.note", "join"),
        ("SELECT * FROM nosuch", "not in the shard map"),
        ("UPDATE orders SET user_id = 3 WHERE user_id = 7", "shard-key"),
        ("INSERT INTO orders VALUES (1, 2, 3, 'x')", "column list"),
        ("SELECT COUNT(DISTINCT amount) FROM orders", "DISTINCT"),
        (
            "INSERT INTO orders (id, user_id) SELECT id, user_id FROM orders",
            "INSERT … SELECT",
        ),
        (
            "SELECT * FROM orders WHERE user_id IN (SELECT user_id FROM orders)",
            "subquery",
        ),
    ] {
        let (code, msg) = server_error(c.query_drop(sql).await);
        assert!(code == 1235 || code == 1146, "{sql}: {code} {msg}");
        assert!(msg.to_lowercase().contains(&needle.to_lowercase()), "{sql}: {msg}");
        assert!(msg.starts_with("shardgate:"), "{sql}: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_over_two_shards_commits_or_rolls_back_atomically() {
    let s = ShardedSetup::start("").await;
    let mut c = s.conn().await;
    let (a, b) = keys_on_both_shards();
    begin_two_shard_transaction(&mut c, a, b).await;
    let seen: Option<u64> = s
        .shard(shard_of(a))
        .query_first("SELECT COUNT(*) FROM app.orders")
        .await;
    assert_eq!(seen, Some(0), "uncommitted");
    c.query_drop("COMMIT").await.unwrap();
    for id in [a, b] {
        let n: Option<u64> = s
            .shard(shard_of(id))
            .query_first(&format!("SELECT COUNT(*) FROM app.orders WHERE user_id = {id}"))
            .await;
        assert_eq!(n, Some(1));
    }
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop(format!("UPDATE orders SET amount = 10 WHERE user_id = {a}"))
        .await
        .unwrap();
    c.query_drop(format!("UPDATE orders SET amount = 20 WHERE user_id = {b}"))
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    let total: Option<String> = c.query_first("SELECT SUM(amount) FROM orders").await.unwrap();
    assert_eq!(total.as_deref(), Some("3.00"));
    // A multi-shard write that fails on one shard changes nothing (implicit transaction).
    let (code, msg) = server_error(
        c.query_drop(format!(
            "INSERT INTO orders (id, user_id, amount) VALUES (2, {a}, 1.00), (1, {b}, 9.00)"
        ))
        .await,
    );
    assert_eq!(code, 1062, "{msg}");
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM orders").await.unwrap();
    assert_eq!(n, Some(2), "the row for the other shard was rolled back");
    let m = s.proxy.metrics().await;
    for want in [
        "shardgate_shard_transactions_total{outcome=\"two_phase\"} 1",
        "shardgate_shard_transactions_total{outcome=\"rollback\"} 2",
    ] {
        assert!(m.contains(want), "{want} in:\n{m}");
    }
    let hits = m
        .lines()
        .find_map(|l| l.strip_prefix("shardgate_plan_cache_hits_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(hits.is_some_and(|h| h > 0), "plan cache hits reported: {hits:?}");
    assert!(m.contains("shardgate_sharded_statements_total{route=\"multi\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_into_the_same_plans() {
    let s = ShardedSetup::start("").await;
    let mut c = s.conn().await;
    for id in 1..=20u64 {
        c.exec_drop(
            "INSERT INTO orders (id, user_id, amount, note) VALUES (?, ?, ?, ?)",
            (id, id, format!("{id}.25"), format!("n{id}")),
        )
        .await
        .unwrap();
    }
    for id in 1..=20u64 {
        let n: Option<u64> = s
            .shard(shard_of(id))
            .query_first(&format!("SELECT COUNT(*) FROM app.orders WHERE user_id = {id}"))
            .await;
        assert_eq!(n, Some(1), "row {id} on its shard");
        let row: Option<(u64, String, Option<String>)> = c
            .exec_first("SELECT user_id, amount, note FROM orders WHERE user_id = ?", (id,))
            .await
            .unwrap();
        assert_eq!(row, Some((id, format!("{id}.25"), Some(format!("n{id}")))));
    }
    // Several shards: merged rows come back in the binary protocol.
    let rows: Vec<(u64, String)> = c
        .exec(
            "SELECT user_id, note FROM orders WHERE user_id IN (?, ?, ?, ?) ORDER BY user_id DESC",
            (2, 9, 14, 20),
        )
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (20, "n20".into()),
            (14, "n14".into()),
            (9, "n9".into()),
            (2, "n2".into())
        ]
    );
    let agg: Option<(u64, String, String)> = c
        .exec_first(
            "SELECT COUNT(*), SUM(amount), MAX(note) FROM orders WHERE amount > ?",
            ("5",),
        )
        .await
        .unwrap();
    assert_eq!(agg, Some((16, "204.00".into(), "n9".into())));
    // Multi-row prepared insert with sequence ids.
    c.exec_drop(
        "INSERT INTO users (email, name) VALUES (?, ?), (?, ?)",
        ("p@x", "P", "q@x", "Q"),
    )
    .await
    .unwrap();
    let first = c.last_insert_id().unwrap();
    let names: Vec<String> = c
        .exec(
            "SELECT name FROM users WHERE id IN (?, ?) ORDER BY name",
            (first, first + 1),
        )
        .await
        .unwrap();
    assert_eq!(names, vec!["P".to_string(), "Q".to_string()]);
    let updated = c
        .exec_iter("UPDATE orders SET note = ? WHERE user_id = ?", ("changed", 3))
        .await
        .unwrap()
        .affected_rows();
    assert_eq!(updated, 1);
    let note: Option<String> = s
        .shard(shard_of(3))
        .query_first("SELECT note FROM app.orders WHERE user_id = 3")
        .await;
    assert_eq!(note.as_deref(), Some("changed"));
}

/// Two rows for different shards in one transaction, then COMMIT through a proxy that crashes at `failpoint`.
async fn crash_during_two_phase_commit(failpoint: &str) -> (ShardedSetup, u64, u64) {
    let mut s = ShardedSetup::start_with("", |c| c.env("SHARDGATE_FAILPOINT", failpoint)).await;
    let (a, b) = keys_on_both_shards();
    {
        let mut c = s.conn().await;
        begin_two_shard_transaction(&mut c, a, b).await;
        assert!(c.query_drop("COMMIT").await.is_err(), "the proxy dies during COMMIT");
    }
    assert!(
        s.proxy.wait_exit(std::time::Duration::from_secs(10)),
        "the proxy aborted at {failpoint}"
    );
    for i in 0..2 {
        let prepared: Vec<(u32, u32, u32, String)> = s.shard(i).query("XA RECOVER").await;
        assert_eq!(
            prepared.len(),
            1,
            "shard {i} holds one prepared branch after the crash: {prepared:?}"
        );
    }
    s.proxy.restart_with_env(&[]).await;
    (s, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_branches_left_by_a_crash_after_the_decision_are_committed_on_restart() {
    let (s, a, b) = crash_during_two_phase_commit("xa-after-decision").await;
    for i in 0..2 {
        let prepared: Vec<(u32, u32, u32, String)> = s.shard(i).query("XA RECOVER").await;
        assert!(prepared.is_empty(), "shard {i}: {prepared:?}");
    }
    let mut c = s.conn().await;
    let ids: Vec<u64> = c.query("SELECT user_id FROM orders ORDER BY user_id").await.unwrap();
    assert_eq!(ids, vec![a, b], "both branches committed");
    assert!(s.proxy.log().contains("resolved an in-doubt XA branch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_branches_left_by_a_crash_before_the_decision_are_rolled_back_on_restart() {
    let (s, _, _) = crash_during_two_phase_commit("xa-after-prepare").await;
    for i in 0..2 {
        let prepared: Vec<(u32, u32, u32, String)> = s.shard(i).query("XA RECOVER").await;
        assert!(prepared.is_empty(), "shard {i}: {prepared:?}");
    }
    let mut c = s.conn().await;
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM orders").await.unwrap();
    assert_eq!(n, Some(0), "neither branch committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_give_unique_ids_to_concurrent_inserters() {
    let s = ShardedSetup::start("").await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let pool = mysql_async::Pool::new(s.proxy.opts("u", "p").db_name(Some("app")));
        tasks.push(tokio::spawn(async move {
            let mut c = pool.get_conn().await.unwrap();
            let mut mine = Vec::new();
            for i in 0..25 {
                c.query_drop(format!("INSERT INTO users (email, name) VALUES ('w{w}-{i}@x', 'w{w}')"))
                    .await
                    .unwrap();
                mine.push(c.last_insert_id().unwrap());
            }
            drop(c);
            pool.disconnect().await.unwrap();
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 200, "200 inserts got 200 distinct ids");
    let mut c = s.conn().await;
    let stored: Vec<u64> = c.query("SELECT id FROM users ORDER BY id").await.unwrap();
    assert_eq!(stored, sorted, "every reported id is the stored one");
    let direct: u64 = s
        .shard(0)
        .query_first::<u64>("SELECT COUNT(*) FROM app.users")
        .await
        .unwrap()
        + s.shard(1)
            .query_first::<u64>("SELECT COUNT(*) FROM app.users")
            .await
            .unwrap();
    assert_eq!(direct, 200);
    let next: Option<u64> = s
        .unsharded()
        .query_first("SELECT next_id FROM app_seq.users_seq WHERE id = 0")
        .await;
    assert!(
        next.unwrap() > *sorted.last().unwrap(),
        "the sequence moved past every id handed out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_modes_single_and_multi() {
    let s = ShardedSetup::start("    transaction_mode: single\n").await;
    let mut c = s.conn().await;
    let (a, b) = keys_on_both_shards();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("INSERT INTO orders (id, user_id) VALUES (1, {a})"))
        .await
        .unwrap();
    let (code, msg) = server_error(
        c.query_drop(format!("INSERT INTO orders (id, user_id) VALUES (1, {b})"))
            .await,
    );
    assert_eq!(code, 1235, "{msg}");
    assert!(msg.contains("transaction_mode: single"), "{msg}");
    c.query_drop("COMMIT").await.unwrap();
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM orders").await.unwrap();
    assert_eq!(n, Some(1), "the first shard's write committed");
    drop(c);
    drop(s);

    let s = ShardedSetup::start("    transaction_mode: multi\n").await;
    let mut c = s.conn().await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("INSERT INTO orders (id, user_id) VALUES (1, {a})"))
        .await
        .unwrap();
    c.query_drop(format!("INSERT INTO orders (id, user_id) VALUES (1, {b})"))
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM orders").await.unwrap();
    assert_eq!(n, Some(2));
    for i in 0..2 {
        let prepared: Vec<(u32, u32, u32, String)> = s.shard(i).query("XA RECOVER").await;
        assert!(prepared.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lists_are_split_so_each_shard_gets_only_its_keys() {
    let s = ShardedSetup::start("").await;
    let mut c = s.conn().await;
    let keys: Vec<u64> = (1..=8).collect();
    for k in &keys {
        c.query_drop(format!(
            "INSERT INTO orders (id, user_id, note) VALUES (1, {k}, 'k{k}')"
        ))
        .await
        .unwrap();
    }
    for i in 0..2 {
        s.shard(i)
            .exec("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1")
            .await;
    }
    let got: Vec<u64> = c
        .query("SELECT user_id FROM orders WHERE user_id IN (1, 2, 3, 4, 5, 6, 7, 8) ORDER BY user_id")
        .await
        .unwrap();
    assert_eq!(got, keys);
    c.query_drop("UPDATE orders SET note = 'split' WHERE user_id IN (1, 2, 3, 4, 5, 6, 7, 8)")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 8);
    for i in 0..2 {
        s.shard(i).exec("SET GLOBAL general_log = 0").await;
        let seen: Vec<String> = s
            .shard(i)
            .query("SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log WHERE argument LIKE '%user_id IN (%'")
            .await;
        assert_eq!(seen.len(), 2, "shard {i} saw the SELECT and the UPDATE: {seen:?}");
        for stmt in &seen {
            for k in &keys {
                let mentioned = stmt.contains(&format!("{k},")) || stmt.contains(&format!("{k})"));
                assert_eq!(
                    mentioned,
                    shard_of(*k) == i,
                    "shard {i} gets key {k} only if it owns it: {stmt}"
                );
            }
        }
    }
}
