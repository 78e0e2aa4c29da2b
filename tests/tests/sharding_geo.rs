//! Geo-sharding with the region vindex: a row's region picks the shard homed in the region's cell; reads that give
//! the region and the key go to that one shard, reads that give only the region stay within the region's shards.

use mysql_async::prelude::*;
use shardgate_tests::{Cluster, Proxy, ProxyConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_live_in_their_regions_cell() {
    let cluster = Cluster::start(2).await;
    for s in cluster.iter() {
        s.exec("CREATE DATABASE geo; CREATE TABLE geo.customers (id BIGINT NOT NULL, region VARCHAR(8) NOT NULL, name VARCHAR(40), PRIMARY KEY (region, id))")
            .await;
    }
    let map = format!(
        r#"version: 1
cells: [dc1, dc2]
keyspaces:
  geo:
    sharded: true
    vindexes:
      by_region: {{ type: region, column: region, regions: {{ eu: dc1, us: dc2 }} }}
    tables:
      customers: {{ column: id, vindex: by_region }}
    shards:
      - {{ name: "-80", cell: dc1, primary: "{}" }}
      - {{ name: "80-", cell: dc2, primary: "{}" }}
"#,
        cluster[0].addr(),
        cluster[1].addr()
    );
    let proxy = Proxy::start(ProxyConfig::new(map).user("u", "p")).await;
    let mut c = proxy.conn("u", "p", Some("geo")).await;
    c.query_drop(
        "INSERT INTO customers (id, region, name) VALUES (1, 'eu', 'Ada'), (2, 'us', 'Grace'), (3, 'EU', 'Alan'), (4, 'us', 'Margaret')",
    )
    .await
    .unwrap();
    let eu: Vec<String> = cluster[0].query("SELECT name FROM geo.customers ORDER BY id").await;
    let us: Vec<String> = cluster[1].query("SELECT name FROM geo.customers ORDER BY id").await;
    assert_eq!(eu, vec!["Ada", "Alan"], "eu rows on the dc1 shard");
    assert_eq!(us, vec!["Grace", "Margaret"], "us rows on the dc2 shard");
    let name: Option<String> = c
        .query_first("SELECT name FROM customers WHERE region = 'us' AND id = 4")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("Margaret"));
    let names: Vec<String> = c
        .query("SELECT name FROM customers WHERE region = 'eu' ORDER BY id")
        .await
        .unwrap();
    assert_eq!(names, vec!["Ada", "Alan"]);
    match c
        .query_drop("INSERT INTO customers (id, region, name) VALUES (5, 'mars', 'Nobody')")
        .await
    {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1526, "{e:?}");
            assert!(e.message.contains("mars"), "{e:?}");
        }
        other => panic!("a region no shard serves: expected 1526, got {other:?}"),
    }
}
