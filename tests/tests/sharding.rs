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
