//! Statements that name a keyspace explicitly (`ks.table`) when keyspaces live on different servers: a keyspace on
//! the session's backend works, one on another backend is refused with a clear error — never read or written on the
//! wrong server.

use mysql_async::prelude::*;
use shardgate_tests::{keyspaces_map, Cluster, Proxy, ProxyConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_a_keyspace_on_another_backend_is_refused_not_misrouted() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (&cluster[0], &cluster[1]);
    a.exec("CREATE DATABASE app; CREATE TABLE app.t (v VARCHAR(20)); INSERT INTO app.t VALUES ('app on A')")
        .await;
    a.exec("CREATE DATABASE app2; CREATE TABLE app2.t (v VARCHAR(20)); INSERT INTO app2.t VALUES ('app2 on A')")
        .await;
    b.exec("CREATE DATABASE extra; CREATE TABLE extra.t (v VARCHAR(20)); INSERT INTO extra.t VALUES ('extra on B')")
        .await;
    // A stale copy of `extra` on server A: a misrouted statement would silently read it.
    a.exec("CREATE DATABASE extra; CREATE TABLE extra.t (v VARCHAR(20)); INSERT INTO extra.t VALUES ('STALE on A')")
        .await;
    let map = keyspaces_map(1, &[("app", &a.addr()), ("app2", &a.addr()), ("extra", &b.addr())]);
    let proxy = Proxy::start(ProxyConfig::new(map).user("u", "p")).await;
    let mut c = proxy.conn("u", "p", Some("app")).await;

    let v: Option<String> = c.query_first("SELECT v FROM app2.t").await.unwrap();
    assert_eq!(v.as_deref(), Some("app2 on A"), "a keyspace on the same backend");
    let v: Option<String> = c.query_first("SELECT x.v FROM t AS x").await.unwrap();
    assert_eq!(v.as_deref(), Some("app on A"), "a table alias is not a keyspace");

    for sql in [
        "SELECT v FROM extra.t",
        "SELECT v FROM `extra`.`t`",
        "INSERT INTO extra.t VALUES ('written on the wrong server')",
        "SELECT a.v FROM app.t a JOIN extra.t b ON 1 = 1",
    ] {
        match c.query_drop(sql).await {
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 1235, "{sql}: {e:?}");
                assert!(e.message.contains("keyspace extra"), "{sql}: {e:?}");
            }
            other => panic!("{sql}: expected error 1235, got {other:?}"),
        }
    }
    match c.exec_drop("SELECT v FROM extra.t WHERE v = ?", ("x",)).await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1235, "prepared: {e:?}"),
        other => panic!("prepared statement naming keyspace extra: expected error 1235, got {other:?}"),
    }
    let stale: Vec<String> = a.query("SELECT v FROM extra.t").await;
    assert_eq!(
        stale,
        vec!["STALE on A".to_string()],
        "nothing was written on the wrong server"
    );

    c.query_drop("USE extra").await.unwrap();
    let v: Option<String> = c.query_first("SELECT v FROM extra.t").await.unwrap();
    assert_eq!(v.as_deref(), Some("extra on B"));
}
